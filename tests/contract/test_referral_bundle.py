"""The service's own referral Bundle against both real servers: accepted, idempotent, and workable.

The recipient works the Task (requested → accepted → in-progress → completed) and the practice
finds the status through the ServiceRequest's Task.
"""

from __future__ import annotations

import pytest

from service.fhir.client import FhirClient
from service.fhir.urls import ID_REFERRAL
from tests.factories import make_qr


@pytest.fixture
def client(fhir_base_url):
    with FhirClient(fhir_base_url, sleep=lambda _: None) as fhir:
        yield fhir


def _ids(response: dict, bundle: dict, rtype: str) -> list[str]:
    out = []
    for sent, got in zip(bundle["entry"], response["entry"]):
        if sent["resource"]["resourceType"] == rtype:
            out.append(got["response"]["location"].split("/_history")[0].rstrip("/").split("/")[-1])
    return out


@pytest.mark.parametrize("patient", ["demo-contract-a", "demo-contract-b"])
def test_referral_bundle_accepted_twice_one_of_each(client, engine, patient):
    qr = make_qr(signals=("homeless", "substance-addiction"), subject=f"Patient/{patient}", identifier=f"contract-{patient}")
    bundle = engine.extract(qr).bundle
    first = client.transaction(bundle)
    second = client.transaction(bundle)  # a retry after a lost answer
    assert _ids(first, bundle, "ServiceRequest") == _ids(second, bundle, "ServiceRequest")
    assert _ids(first, bundle, "Task") == _ids(second, bundle, "Task")
    found = client.search("ServiceRequest", {"subject": f"Patient/{patient}"})
    assert len(found.get("entry", [])) == 2
    sub = bundle["identifier"]["value"]
    by_ident = client.search("ServiceRequest", {"identifier": f"{ID_REFERRAL}|{sub}:regiocoordinator-jgz"})
    [entry] = by_ident["entry"]
    assert entry["resource"]["priority"] == "urgent"
    qr_id = bundle["entry"][0]["resource"]["id"]
    assert client.read("QuestionnaireResponse", qr_id)["id"] == qr_id


def test_recipient_works_the_task_and_the_practice_sees_it(client, engine):
    qr = make_qr(signals=("homeless",), subject="Patient/demo-contract-task", identifier="contract-task")
    bundle = engine.extract(qr).bundle
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
    """A response carrying its patient (contained): both servers create the Patient once (by BSN), resolve every
    reference to it, and find it again for a later referral of the same patient."""
    from service.fhir.urls import BSN
    from tests.factories import with_patient

    bsn = "999990032"
    bundle = engine.extract(with_patient(make_qr(signals=("domestic-violence", "homeless", "substance-addiction"),
                                                 identifier="contract-patient-1"), bsn=bsn)).bundle
    first = client.transaction(bundle)
    client.transaction(bundle)  # a retry after a lost answer
    later = engine.extract(with_patient(make_qr(signals=("homeless",), identifier="contract-patient-2"), bsn=bsn)).bundle
    client.transaction(later)
    [patient] = [e["resource"] for e in client.search("Patient", {"identifier": f"{BSN}|{bsn}"})["entry"]]
    assert patient["telecom"][0]["value"] == "+31 6 0000 0001" and "generalPractitioner" not in patient
    srs = client.search("ServiceRequest", {"subject": f"Patient/{patient['id']}"}).get("entry", [])
    assert len(srs) == 3  # two from the first referral (pushed twice), one from the later one
    [sr_id, *_] = _ids(first, bundle, "ServiceRequest")
    [task] = [e["resource"] for e in client.search("Task", {"focus": f"ServiceRequest/{sr_id}"})["entry"]]
    assert task["for"]["reference"].endswith(f"Patient/{patient['id']}")
