"""The patient in the referral: a Patient contained in the response becomes one minimised entry in each
destination's Bundle, found again there by BSN; everything in that Bundle points at it. The practice's own
record keeps the response as the form filler sent it (the patient contained) and names the patient by BSN."""

from __future__ import annotations

import json

import pytest

from service.errors import ResponseInvalid
from service.fhir import models, urls
from tests.factories import make_qr, with_patient

TWO_RECIPIENTS = dict(signals=("domestic-violence", "homeless", "substance-addiction"))  # JGZ coordinator and POH Jeugd


def _by_type(bundle: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for entry in bundle["entry"]:
        out.setdefault(entry["resource"]["resourceType"], []).append(entry)
    return out


def _patient_extras(**extra) -> dict:
    return with_patient(
        make_qr(**TWO_RECIPIENTS),
        generalPractitioner=[{"reference": "Practitioner/x"}],
        extension=[{"url": "https://his.example.invalid/religion", "valueString": "geheim"}],
        **extra,
    )


def test_contained_patient_becomes_one_minimal_entry_that_everything_points_at(engine):
    qr = _patient_extras()
    assert engine.validate(qr, structural=True).ok
    bundles = engine.extract(qr).bundles
    [delivery] = bundles.deliveries  # the POH Jeugd is internal: only the GGD's Bundle leaves the practice
    assert delivery.destination == "ggd-zuid-limburg" and delivery.recipients == ("regiocoordinator-jgz",)
    bundle = delivery.bundle
    by_type = _by_type(bundle)
    [patient_entry] = by_type["Patient"]
    patient = patient_entry["resource"]
    assert set(patient) == {
        "resourceType",
        "identifier",
        "name",
        "gender",
        "birthDate",
        "telecom",
        "address",
        "communication",
    }
    assert patient_entry["request"] == {
        "method": "POST",
        "url": "Patient",
        "ifNoneExist": f"identifier={urls.BSN}|999990020",
    }
    ref = {"reference": patient_entry["fullUrl"]}
    assert "QuestionnaireResponse" not in by_type  # the complete response stays in the practice
    [sr] = [e["resource"] for e in by_type["ServiceRequest"]]
    assert sr["subject"] == ref
    [answers] = sr["contained"]  # what this recipient shares, reduced, without the patient or the author
    assert answers["resourceType"] == "QuestionnaireResponse" and not {"subject", "author", "contained"} & set(answers)
    assert [e["resource"]["for"] for e in by_type["Task"]] == [ref]
    [consent] = by_type["Consent"]
    assert consent["resource"]["patient"] == ref
    [actor] = consent["resource"]["provision"]["actor"]  # this recipient alone
    assert actor["reference"]["identifier"]["value"] == "90000101"
    text = json.dumps(bundle)
    assert "geheim" not in text and "Practitioner/x" not in text and "#patient" not in text
    assert len(bundle["entry"]) <= 8  # Medplum's limit for transactions with conditional creates
    for entry in bundle["entry"]:
        models.parse_resource(entry["resource"])


def test_each_destination_gets_its_own_patient_entry_found_by_the_same_bsn(engine):
    bundles = engine.extract(_patient_extras(), "voorbeeldstad").bundles
    assert [d.destination for d in bundles.deliveries] == ["centrum-jong-voorbeeldstad", "verloskundigen-voorbeeldstad"]
    patients = [_by_type(d.bundle)["Patient"] for d in bundles.deliveries]
    assert all(len(p) == 1 for p in patients)
    [[first], [second]] = patients
    assert first["fullUrl"] != second["fullUrl"]  # one per Bundle: nothing refers across destinations
    assert first["request"]["ifNoneExist"] == second["request"]["ifNoneExist"] == f"identifier={urls.BSN}|999990020"
    for delivery in bundles.deliveries:
        [patient] = _by_type(delivery.bundle)["Patient"]
        for entry in delivery.bundle["entry"]:
            resource = entry["resource"]
            for key in ("subject", "for", "patient"):
                if key in resource and resource["resourceType"] != "Provenance":
                    assert resource[key] == {"reference": patient["fullUrl"]}, (
                        delivery.destination,
                        resource["resourceType"],
                    )


def test_the_record_keeps_the_contained_patient_and_names_it_by_bsn(engine):
    qr = _patient_extras()
    record = engine.extract(qr).bundles.record
    by_type = _by_type(record)
    assert "Patient" not in by_type  # the EHR has its own Patient; the record does not create one
    [qr_entry] = by_type["QuestionnaireResponse"]
    assert qr_entry["resource"]["subject"] == {"reference": "#patient"}
    assert qr_entry["resource"]["contained"] == qr["contained"]  # as the form filler sent it
    by_bsn = {"type": "Patient", "identifier": {"system": urls.BSN, "value": "999990020"}}
    assert len(by_type["ServiceRequest"]) == 2  # the practice's own record holds both referrals
    assert all(e["resource"]["subject"] == by_bsn for e in by_type["ServiceRequest"])
    assert [e["resource"]["for"] for e in by_type["Task"]] == [by_bsn]  # the internal POH Jeugd's Task


def test_a_patient_without_identifiers_gets_one_per_submission(engine):
    [delivery] = engine.extract(with_patient(make_qr(signals=("homeless",)), bsn=None)).bundles.deliveries
    [patient_entry] = _by_type(delivery.bundle)["Patient"]
    [ident] = patient_entry["resource"]["identifier"]
    assert (
        ident["system"] == urls.ID_PATIENT
        and patient_entry["request"]["ifNoneExist"] == f"identifier={urls.ID_PATIENT}|{ident['value']}"
    )


def test_an_external_referral_with_only_the_practices_patient_reference_is_refused(engine):
    """`Patient/<id>` names the practice's record, which the recipient's server does not hold (HAPI refuses such a
    Bundle on referential integrity): the response is refused, pointing at its subject, and nothing is built."""
    with pytest.raises(ResponseInvalid) as refused:
        engine.extract(make_qr(signals=("homeless",), contained=False))
    [issue] = refused.value.issues
    assert issue.code == "required" and issue.expression == ("QuestionnaireResponse.subject",)
    assert "contain the patient" in (issue.english or "").lower() and "#patient" in issue.text


def test_a_patient_named_by_bsn_goes_as_a_logical_reference_without_the_practices_id(engine):
    """`subject` with the BSN (a logical reference): each destination gets that, never the practice's `Patient/<id>`
    beside it, which means nothing there."""
    bsn = {"system": urls.BSN, "value": "999990020"}
    qr = {
        **make_qr(signals=("homeless",), contained=False),
        "subject": {"reference": "Patient/demo-pregnant", "identifier": bsn},
    }
    [delivery] = engine.extract(qr).bundles.deliveries
    by_type = _by_type(delivery.bundle)
    assert "Patient" not in by_type
    for rtype, element in (("ServiceRequest", "subject"), ("Task", "for"), ("Consent", "patient")):
        assert by_type[rtype][0]["resource"][element] == {"type": "Patient", "identifier": bsn}, rtype


def test_an_internal_referral_keeps_the_practices_patient_reference(engine):
    """The POH Jeugd works in the practice, on its own record: a literal subject is all it needs."""
    qr = make_qr(signals=("homeless", "substance-addiction"), consent=False, contained=False)
    bundles = engine.extract(qr).bundles
    assert bundles.deliveries == ()
    [sr] = _by_type(bundles.record)["ServiceRequest"]
    assert sr["resource"]["subject"] == {"reference": "Patient/demo-pregnant"}
    assert "Patient" not in _by_type(bundles.record)


@pytest.mark.parametrize("bad", [7, [7], ["999990020"]])
def test_a_malformed_contained_patient_is_refused_where_it_is(engine, bad):
    qr = make_qr(signals=("homeless",))
    qr["contained"][0]["identifier"] = bad
    with pytest.raises(ResponseInvalid) as refused:
        engine.extract(qr)
    assert refused.value.issues
    assert all(
        e.startswith("QuestionnaireResponse.contained[0].identifier")
        for i in refused.value.issues
        for e in i.expression
    )


def test_the_audit_log_names_a_contained_patient_by_bsn(tmp_path, engine):
    """An inspection request (NEN 7513) finds the submission by the patient's BSN, not by "#patient"."""
    from service.audit import AuditLog
    from service.outbox.store import Outbox
    from service.referrals.submit import Submitter

    audit = AuditLog(tmp_path / "audit.sqlite3")
    submitter = Submitter(engine, Outbox(tmp_path / "outbox.sqlite3"), None, audit)
    submitter.submit(with_patient(make_qr(signals=("homeless",), identifier="audit-1")))
    submitter.submit(with_patient(make_qr(signals=(), identifier="audit-2")))  # nothing to refer: still logged by BSN
    assert [r["event"] for r in audit.entries(f"{urls.BSN}|999990020")] == ["submit", "submit"]
    assert audit.entries("#patient") == []
