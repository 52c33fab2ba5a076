"""The patient in the referral: a Patient contained in the response becomes its own entry, minimised, found
again by BSN; everything in the Bundle points at it."""

from __future__ import annotations

from service.fhir import models, urls
from tests.factories import make_qr, with_patient

TWO_RECIPIENTS = dict(signals=("domestic-violence", "homeless", "substance-addiction"))


def _by_type(bundle: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for entry in bundle["entry"]:
        out.setdefault(entry["resource"]["resourceType"], []).append(entry)
    return out


def test_contained_patient_becomes_one_minimal_entry_that_everything_points_at(engine):
    qr = with_patient(make_qr(**TWO_RECIPIENTS), generalPractitioner=[{"reference": "Practitioner/x"}],
                      extension=[{"url": "https://his.example.invalid/religion", "valueString": "geheim"}])
    assert engine.validate(qr, structural=True).ok
    bundle = engine.extract(qr).bundle
    by_type = _by_type(bundle)
    [patient_entry] = by_type["Patient"]
    patient = patient_entry["resource"]
    assert set(patient) == {"resourceType", "identifier", "name", "gender", "birthDate", "telecom", "address", "communication"}
    assert patient_entry["request"] == {"method": "POST", "url": "Patient",
                                        "ifNoneExist": f"identifier={urls.BSN}|999990020"}
    ref = {"reference": patient_entry["fullUrl"]}
    [qr_entry] = by_type["QuestionnaireResponse"]
    assert qr_entry["resource"]["subject"] == ref and "contained" not in qr_entry["resource"]
    assert len(by_type["ServiceRequest"]) == 2
    assert all(e["resource"]["subject"] == ref for e in by_type["ServiceRequest"])
    assert all(e["resource"]["for"] == ref for e in by_type["Task"])
    [consent] = by_type["Consent"]
    assert consent["resource"]["patient"] == ref and len(consent["resource"]["provision"]["actor"]) == 2
    assert len(bundle["entry"]) <= 8  # Medplum's limit for transactions with conditional creates
    for entry in bundle["entry"]:
        models.parse_resource(entry["resource"])


def test_a_patient_without_identifiers_gets_one_per_submission(engine):
    bundle = engine.extract(with_patient(make_qr(signals=("homeless",)), bsn=None)).bundle
    [patient_entry] = _by_type(bundle)["Patient"]
    [ident] = patient_entry["resource"]["identifier"]
    assert ident["system"] == urls.ID_PATIENT and patient_entry["request"]["ifNoneExist"] == f"identifier={urls.ID_PATIENT}|{ident['value']}"


def test_a_literal_subject_stays_as_it_is(engine):
    bundle = engine.extract(make_qr(signals=("homeless",))).bundle
    assert "Patient" not in _by_type(bundle)
    assert _by_type(bundle)["ServiceRequest"][0]["resource"]["subject"] == {"reference": "Patient/demo-pregnant"}
