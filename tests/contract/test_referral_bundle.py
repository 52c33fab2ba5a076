"""The service's own destination Bundles (one per external destination) against every real server: accepted,
idempotent, workable, and within Medplum's limit for transactions with conditional creates.

The recipient works the Task (requested → accepted → in-progress → completed) and the practice finds the
status through the ServiceRequest's Task. Here one server plays every destination. The patient travels in every
Bundle (contained in the response, created once on her BSN): the service refuses an external referral that names
her only by the practice's `Patient/<id>` (tests/referrals/test_bundle_patient.py), which HAPI's referential
integrity would refuse too.
"""

from __future__ import annotations

import shutil

import pytest

from service.config import MAPPINGS, QUESTIONNAIRES
from service.fhir.client import FhirClient
from service.fhir.urls import BSN, ID_REFERRAL
from service.referrals.pipeline import Engine
from tests.factories import invented_bsn, make_qr, patient_ref, with_patient

MEDPLUM_MAX_ENTRIES = 8  # Medplum refuses transactions with conditional creates of more entries
# Per region: signals giving two referrals, and the external recipients they reach (each at its own destination).
CASES = {
    "maastricht-heuvelland": (
        ("homeless", "substance-addiction"),
        {"regiocoordinator-jgz": "urgent"},
    ),  # + POH Jeugd (internal)
    "voorbeeldstad": (("homeless",), {"centrum-jong": "asap", "verloskundige": "routine"}),
}


@pytest.fixture
def client(fhir_base_url):
    with FhirClient(fhir_base_url, sleep=lambda _: None) as fhir:
        yield fhir


def _ids(response: dict, bundle: dict, rtype: str) -> list[str]:
    out = []
    for sent, got in zip(bundle["entry"], response["entry"], strict=False):
        if sent["resource"]["resourceType"] == rtype:
            out.append(got["response"]["location"].split("/_history")[0].rstrip("/").split("/")[-1])
    return out


def _of_type(bundle: dict, rtype: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


@pytest.mark.parametrize(
    "region, patient", [("maastricht-heuvelland", "demo-contract-a"), ("voorbeeldstad", "demo-contract-b")]
)
def test_destination_bundles_accepted_twice_one_of_each(client, engine, region, patient):
    signals, priorities = CASES[region]
    qr = make_qr(signals=signals, subject=f"Patient/{patient}", identifier=f"contract-{patient}")
    bundles = engine.extract(qr, region).bundles
    assert [r for d in bundles.deliveries for r in d.recipients] == list(priorities)  # one Bundle per destination
    sub = bundles.submission
    for delivery in bundles.deliveries:
        bundle = delivery.bundle
        first = client.transaction(bundle)
        second = client.transaction(bundle)  # a retry after a lost answer
        assert _ids(first, bundle, "ServiceRequest") == _ids(second, bundle, "ServiceRequest")
        assert _ids(first, bundle, "Task") == _ids(second, bundle, "Task")
        assert _ids(first, bundle, "Consent") == _ids(second, bundle, "Consent")
        [provenance] = _of_type(bundle, "Provenance")
        assert client.read("Provenance", provenance["id"])["id"] == provenance["id"]
    # The patient travels contained and is created once on her BSN: every referral points at that Patient.
    found = client.search("ServiceRequest", {"subject": patient_ref(client, invented_bsn(patient))})
    assert len(found.get("entry", [])) == len(priorities)  # one per external recipient; none for the POH Jeugd
    for recipient, priority in priorities.items():
        [entry] = client.search("ServiceRequest", {"identifier": f"{ID_REFERRAL}|{sub}:{recipient}"})["entry"]
        stored = entry["resource"]
        assert stored["priority"] == priority
        # The shared answers travel contained, marked as reduced, and the server keeps them with the referral.
        [answers] = [r for r in stored.get("contained", ()) if r["resourceType"] == "QuestionnaireResponse"]
        assert answers["id"] == "answers" and stored["meta"]["security"][0]["code"] == "REDACTED"
        assert {"reference": "#answers"} in stored["supportingInfo"]


def test_recipient_works_the_task_and_the_practice_sees_it(client, engine):
    qr = make_qr(signals=("homeless",), subject="Patient/demo-contract-task", identifier="contract-task")
    [delivery] = engine.extract(qr).bundles.deliveries
    bundle = delivery.bundle
    response = client.transaction(bundle)
    [sr_id] = _ids(response, bundle, "ServiceRequest")
    [task_id] = _ids(response, bundle, "Task")
    task = client.read("Task", task_id)
    assert task["status"] == "requested" and task["focus"]["reference"].endswith(f"ServiceRequest/{sr_id}")
    for status in ("accepted", "in-progress", "completed"):  # the recipient's side
        task = {**client.read("Task", task_id), "status": status}
        client.update(task)
    # The practice's side: the Task of its ServiceRequest, by focus.
    found = client.search("Task", {"focus": f"ServiceRequest/{sr_id}"})
    assert [e["resource"]["status"] for e in found["entry"]] == ["completed"]
    # A retried push of the same Bundle does not reset the recipient's work.
    client.transaction(bundle)
    assert client.read("Task", task_id)["status"] == "completed"


def test_the_patient_travels_with_the_referral_and_is_created_once(client, engine):
    """A response carrying its patient (contained): each destination Bundle creates the Patient only when the server
    does not know it (by BSN), so one server receiving two destinations' Bundles, each twice, and a later referral
    of the same patient, holds her once, with every reference resolved to her."""
    bsn = "999990032"
    first = engine.extract(
        with_patient(
            make_qr(signals=("homeless",), identifier="contract-patient-1"),
            bsn=bsn,
            generalPractitioner=[{"reference": "Practitioner/x"}],
        ),
        "voorbeeldstad",
    ).bundles
    assert len(first.deliveries) == 2
    responses = []
    for delivery in first.deliveries:
        responses.append(client.transaction(delivery.bundle))
        client.transaction(delivery.bundle)  # a retry after a lost answer
    [later] = engine.extract(
        with_patient(make_qr(signals=("homeless",), identifier="contract-patient-2"), bsn=bsn)
    ).bundles.deliveries
    client.transaction(later.bundle)
    [patient] = [e["resource"] for e in client.search("Patient", {"identifier": f"{BSN}|{bsn}"})["entry"]]
    assert patient["telecom"][0]["value"] == "+31 6 0000 0001" and "generalPractitioner" not in patient
    srs = client.search("ServiceRequest", {"subject": f"Patient/{patient['id']}"}).get("entry", [])
    assert len(srs) == 3  # Centrum Jong's and the midwife's (each pushed twice), and the later JGZ referral
    for delivery, response in zip(first.deliveries, responses, strict=False):
        [sr_id] = _ids(response, delivery.bundle, "ServiceRequest")
        [task] = [e["resource"] for e in client.search("Task", {"focus": f"ServiceRequest/{sr_id}"})["entry"]]
        assert task["for"]["reference"].endswith(f"Patient/{patient['id']}")


def test_a_patient_named_only_by_bsn_is_a_logical_reference_every_server_takes(client, engine):
    """A response naming the patient by BSN alone (no contained Patient): HAPI's referential integrity does not
    apply to a logical reference, and no server is asked to resolve the practice's own Patient/<id>."""
    bsn = {"system": BSN, "value": invented_bsn("contract-logical")}
    qr = make_qr(signals=("homeless",), identifier="contract-logical", contained=False)
    qr["subject"] = {"reference": "Patient/only-in-the-practice", "identifier": bsn}
    [delivery] = engine.extract(qr).bundles.deliveries
    first = client.transaction(delivery.bundle)
    assert _ids(first, delivery.bundle, "Task") == _ids(client.transaction(delivery.bundle), delivery.bundle, "Task")
    [sr_id] = _ids(first, delivery.bundle, "ServiceRequest")
    assert client.read("ServiceRequest", sr_id)["subject"]["identifier"] == bsn


@pytest.fixture(scope="module")
def shared_destination_engine(tmp_path_factory) -> Engine:
    """Voorbeeldstad with both its recipients at one destination: the largest destination Bundle the mappings
    allow (2 + 3 per recipient entries)."""
    mappings = tmp_path_factory.mktemp("mappings") / "mappings"
    shutil.copytree(MAPPINGS, mappings)
    path = mappings / "regions" / "voorbeeldstad.recipients.yaml"
    text = path.read_text(encoding="utf-8")
    assert "destination: verloskundigen-voorbeeldstad" in text
    path.write_text(
        text.replace("destination: verloskundigen-voorbeeldstad", "destination: centrum-jong-voorbeeldstad"),
        encoding="utf-8",
    )
    return Engine.from_folders(QUESTIONNAIRES, mappings, "voorbeeldstad", "test")


def test_a_destination_bundle_for_two_recipients_is_within_medplums_limit(client, shared_destination_engine):
    qr = with_patient(make_qr(signals=("homeless",), identifier="contract-two-recipients"), bsn="999990080")
    [delivery] = shared_destination_engine.extract(qr).bundles.deliveries
    assert delivery.recipients == ("centrum-jong", "verloskundige")
    bundle = delivery.bundle
    assert (
        len(bundle["entry"]) == MEDPLUM_MAX_ENTRIES
    )  # Patient, Provenance, and a ServiceRequest, Task and Consent each
    first = client.transaction(bundle)
    second = client.transaction(bundle)
    for rtype in ("ServiceRequest", "Task", "Consent", "Patient"):
        assert _ids(first, bundle, rtype) == _ids(second, bundle, rtype), rtype
    [patient] = [e["resource"] for e in client.search("Patient", {"identifier": f"{BSN}|999990080"})["entry"]]
    srs = client.search("ServiceRequest", {"subject": f"Patient/{patient['id']}"}).get("entry", [])
    assert sorted(e["resource"]["identifier"][0]["value"].rsplit(":", 1)[1] for e in srs) == [
        "centrum-jong",
        "verloskundige",
    ]
