"""The service's own destination Bundles (one per external destination) against every real server: accepted,
idempotent, workable, and within Medplum's limit for transactions with conditional creates.

The recipient works the Task (requested → accepted → in-progress → completed) and the practice finds the
status through the ServiceRequest's Task. Here one server plays every destination and, for a response whose
patient does not travel with it (`subject` a plain `Patient/<id>`), the practice's record too: the patient is
there before the push, as HAPI's referential integrity requires of every reference (README.md).
"""

from __future__ import annotations

import shutil

import pytest

from service.config import MAPPINGS, QUESTIONNAIRES
from service.fhir.client import FhirClient
from service.fhir.urls import BSN, ID_REFERRAL
from service.referrals.pipeline import Engine
from tests.factories import make_qr, with_patient

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


def _known_patient(client: FhirClient, patient_id: str) -> None:
    """The practice's patient on the server the Bundle's plain `Patient/<id>` references point at."""
    client.update({"resourceType": "Patient", "id": patient_id})


@pytest.mark.parametrize(
    "region, patient", [("maastricht-heuvelland", "demo-contract-a"), ("voorbeeldstad", "demo-contract-b")]
)
def test_destination_bundles_accepted_twice_one_of_each(client, engine, region, patient):
    signals, priorities = CASES[region]
    _known_patient(client, patient)
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
    found = client.search("ServiceRequest", {"subject": f"Patient/{patient}"})
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
    _known_patient(client, "demo-contract-task")
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
