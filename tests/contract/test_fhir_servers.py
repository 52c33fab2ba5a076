"""Contract tests: what the referral push relies on, against real FHIR servers through FhirClient.

Every test runs against sekmet-fhir, Medplum's engine and HAPI FHIR (conftest.py). Where a server lacks a
feature or answers differently the test says so in a comment and branches on `fhir_server_name` explicitly
(README.md lists the differences).
"""

from __future__ import annotations

import random
import uuid

import pytest

from service.fhir.client import FhirClient
from service.fhir.errors import FhirConflict, FhirNotFound, FhirRequestRejected
from service.fhir.urls import BSN, ID_REFERRAL, ID_TASK


@pytest.fixture
def client(fhir_base_url):
    with FhirClient(fhir_base_url, sleep=lambda _: None) as fhir:
        yield fhir


def invented_bsn() -> str:
    """A made-up 9-digit number in the 999… range used for Dutch test BSNs: never a real person's."""
    return f"999{random.randrange(10**6):06d}"


def urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def referral_bundle(bsn: str, submission: str) -> dict:
    """Patient (conditional on BSN), ServiceRequest → Patient, Task → ServiceRequest, by urn:uuid."""
    patient, service_request, task = urn(), urn(), urn()
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": patient,
                "resource": {"resourceType": "Patient", "identifier": [{"system": BSN, "value": bsn}]},
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={BSN}|{bsn}"},
            },
            {
                "fullUrl": service_request,
                "resource": {
                    "resourceType": "ServiceRequest",
                    "identifier": [{"system": ID_REFERRAL, "value": submission}],
                    "status": "active",
                    "intent": "order",
                    "subject": {"reference": patient},
                },
                "request": {
                    "method": "POST",
                    "url": "ServiceRequest",
                    "ifNoneExist": f"identifier={ID_REFERRAL}|{submission}",
                },
            },
            {
                "fullUrl": task,
                "resource": {
                    "resourceType": "Task",
                    "identifier": [{"system": ID_TASK, "value": submission}],
                    "status": "requested",
                    "intent": "order",
                    "focus": {"reference": service_request},
                    "for": {"reference": patient},
                },
                "request": {"method": "POST", "url": "Task", "ifNoneExist": f"identifier={ID_TASK}|{submission}"},
            },
        ],
    }


def entry_id(entry: dict) -> str:
    """The server id of a transaction-response entry: from its resource, else from response.location.

    sekmet answers absolute locations with /_history/n; Medplum relative 'Type/id' without history.
    """
    if entry.get("resource", {}).get("id"):
        return entry["resource"]["id"]
    location = entry["response"]["location"].split("/_history")[0]
    return location.rstrip("/").rsplit("/", 1)[-1]


def status_code(entry: dict) -> int:
    """'201 Created' (sekmet, as the spec shows) or '201' (Medplum): both start with the code."""
    return int(entry["response"]["status"].split()[0])


def matches(bundle: dict, resource_type: str) -> list[dict]:
    """Search matches of one type (Medplum sets no search.mode, so a missing mode counts as match)."""
    return [
        e["resource"]
        for e in bundle.get("entry", [])
        if e.get("resource", {}).get("resourceType") == resource_type
        and e.get("search", {}).get("mode", "match") == "match"
    ]


def push_referral(client: FhirClient) -> tuple[str, str, str, dict]:
    bundle = referral_bundle(invented_bsn(), f"sub-{uuid.uuid4()}")
    response = client.transaction(bundle)
    patient_id, sr_id, task_id = (entry_id(e) for e in response["entry"])
    return patient_id, sr_id, task_id, bundle


def test_capability_statement_is_r4(client):
    capabilities = client.capabilities()
    assert capabilities["fhirVersion"] == "4.0.1"


def test_transaction_resolves_urn_uuid_references_to_real_ids(client):
    bundle = referral_bundle(invented_bsn(), f"sub-{uuid.uuid4()}")

    response = client.transaction(bundle)

    assert response["type"] == "transaction-response"
    assert [status_code(e) for e in response["entry"]] == [201, 201, 201]
    patient_id, sr_id, task_id = (entry_id(e) for e in response["entry"])
    service_request = client.read("ServiceRequest", sr_id)
    task = client.read("Task", task_id)
    assert service_request["subject"]["reference"] == f"Patient/{patient_id}"
    assert task["focus"]["reference"] == f"ServiceRequest/{sr_id}"
    assert task["for"]["reference"] == f"Patient/{patient_id}"
    assert client.read("Patient", patient_id)["identifier"] == bundle["entry"][0]["resource"]["identifier"]


def test_same_transaction_twice_leaves_one_of_each(client):
    bsn, submission = invented_bsn(), f"sub-{uuid.uuid4()}"
    bundle = referral_bundle(bsn, submission)

    first = client.transaction(bundle)
    second = client.transaction(bundle)  # a retry after a lost response: the very same Bundle

    assert [status_code(e) for e in first["entry"]] == [201, 201, 201]
    assert [status_code(e) for e in second["entry"]] == [200, 200, 200]
    assert [entry_id(e) for e in second["entry"]] == [entry_id(e) for e in first["entry"]]
    assert len(matches(client.search("Patient", {"identifier": f"{BSN}|{bsn}"}), "Patient")) == 1
    assert (
        len(matches(client.search("ServiceRequest", {"identifier": f"{ID_REFERRAL}|{submission}"}), "ServiceRequest"))
        == 1
    )
    assert len(matches(client.search("Task", {"identifier": f"{ID_TASK}|{submission}"}), "Task")) == 1


def test_conditional_create_returns_the_existing_resource(client):
    bsn = invented_bsn()
    patient = {"resourceType": "Patient", "identifier": [{"system": BSN, "value": bsn}]}

    first = client.create(patient, if_none_exist=f"identifier={BSN}|{bsn}")
    second = client.create(patient, if_none_exist=f"identifier={BSN}|{bsn}")

    assert first.created and first.status == 201
    assert not second.created and second.status == 200
    assert second.resource["id"] == first.resource["id"]


def test_conditional_create_with_several_matches_is_a_conflict(client, fhir_server_name):
    bsn = invented_bsn()
    patient = {"resourceType": "Patient", "identifier": [{"system": BSN, "value": bsn}]}
    client.create(patient)
    client.create(patient)

    with pytest.raises(FhirConflict) as caught:
        client.create(patient, if_none_exist=f"identifier={BSN}|{bsn}")

    assert caught.value.status == 412
    assert caught.value.operation_outcome["resourceType"] == "OperationOutcome"
    # R4 http.html#ccreate asks for a 412 and names no issue code: HAPI says `processing` (README.md).
    expected = "processing" if fhir_server_name == "hapi" else "multiple-matches"
    assert caught.value.server_issues()[0]["code"] == expected


def test_search_by_identifier_patient_subject_and_focus(client):
    patient_id, sr_id, task_id, bundle = push_referral(client)
    submission = bundle["entry"][1]["resource"]["identifier"][0]["value"]
    patient_ref = f"Patient/{patient_id}"

    # Reference search values in the 'Type/id' form: Medplum matches no bare ids (sekmet does).
    searches = {
        ("ServiceRequest", "identifier", f"{ID_REFERRAL}|{submission}"): sr_id,
        ("ServiceRequest", "patient", patient_ref): sr_id,
        ("ServiceRequest", "subject", patient_ref): sr_id,
        ("Task", "identifier", f"{ID_TASK}|{submission}"): task_id,
        ("Task", "patient", patient_ref): task_id,
        ("Task", "subject", patient_ref): task_id,
        ("Task", "focus", f"ServiceRequest/{sr_id}"): task_id,
    }
    for (resource_type, param, value), expected_id in searches.items():
        found = matches(client.search(resource_type, {param: value}), resource_type)
        assert [r["id"] for r in found] == [expected_id], f"{resource_type}?{param}"


def test_unknown_search_parameter_is_never_silently_dropped(client, fhir_server_name):
    push_referral(client)

    if fhir_server_name == "medplum":
        # Medplum matches nothing for a parameter it does not know (and ignores Prefer: handling=strict).
        assert matches(client.search("Task", {"not-a-parameter": "x"}), "Task") == []
        return
    # sekmet drops unknown parameters and returns every resource unless asked for strict handling,
    # which FhirClient.search always does; it also knows no parameter on QuestionnaireResponse at all.
    # HAPI refuses an unknown parameter whatever the handling, with the issue code `processing`, and knows every
    # R4 parameter (QuestionnaireResponse?identifier included).
    unknown = [("Task", "not-a-parameter")]
    if fhir_server_name == "sekmet":
        unknown.append(("QuestionnaireResponse", "identifier"))
    for resource_type, param in unknown:
        with pytest.raises(FhirRequestRejected) as caught:
            client.search(resource_type, {param: "x"})
        assert caught.value.status == 400
        assert caught.value.server_issues()[0]["code"] == (
            "processing" if fhir_server_name == "hapi" else "not-supported"
        )


def test_task_read_then_update_status(client):
    _, _, task_id, _ = push_referral(client)
    task = client.read("Task", task_id)
    assert task["status"] == "requested"

    written = client.update({**task, "status": "accepted"})

    assert written.status == 200
    assert written.resource["status"] == "accepted"
    assert written.resource["meta"]["versionId"] != task["meta"]["versionId"]
    assert client.read("Task", task_id)["status"] == "accepted"


def test_put_with_client_assigned_id_creates_then_replaces(client, fhir_server_name):
    resource_id = f"ks-{uuid.uuid4().hex[:24]}"
    qr = {"resourceType": "QuestionnaireResponse", "id": resource_id, "status": "in-progress"}

    first = client.update(qr)
    second = client.update({**qr, "status": "completed"})

    # Medplum answers a create-by-PUT with 200, not the 201 the spec asks for (http.html#update).
    assert first.status == (200 if fhir_server_name == "medplum" else 201)
    assert second.status == 200
    assert client.read("QuestionnaireResponse", resource_id)["status"] == "completed"


def test_missing_resource_is_not_found_with_outcome(client):
    with pytest.raises(FhirNotFound) as caught:
        client.read("Task", f"missing-{uuid.uuid4().hex[:20]}")

    assert caught.value.status == 404
    assert caught.value.operation_outcome["resourceType"] == "OperationOutcome"


def test_invalid_resource_is_rejected_with_outcome(client, fhir_server_name):
    invalid = {"resourceType": "Patient", "gender": 12, "birthDate": "not-a-date"}

    if fhir_server_name == "medplum":
        # Medplum's router does no validation (that lives in the Medplum server): it stores anything.
        assert client.create(invalid).status == 201
        return
    with pytest.raises(FhirRequestRejected) as caught:
        client.create(invalid)
    assert caught.value.status == 400
    assert caught.value.operation_outcome["resourceType"] == "OperationOutcome"
    if fhir_server_name == "hapi":
        # HAPI's parser stops at the first bad element and names it in the diagnostics, with no expression.
        [issue] = caught.value.server_issues()
        assert issue["severity"] == "error" and 'element="gender"' in issue["diagnostics"]
        return
    expressions = {x for issue in caught.value.server_issues() for x in issue.get("expression", [])}
    assert {"Patient.gender", "Patient.birthDate"} <= expressions


def test_unknown_resource_type_is_rejected(client, fhir_server_name):
    if fhir_server_name == "medplum":
        # Medplum's router accepts any resourceType name and stores it: no type check without the server.
        assert client.create({"resourceType": "Referral"}).status == 201
        return
    with pytest.raises(FhirRequestRejected) as caught:
        client.create({"resourceType": "Referral"})
    # Both answer 404 for an unknown type (POST /Referral): sekmet's issue code is `not-supported`, HAPI's `processing`.
    assert caught.value.status == 404
    assert caught.value.server_issues()[0]["code"] == ("processing" if fhir_server_name == "hapi" else "not-supported")


def test_transaction_with_a_dangling_reference(client, fhir_server_name):
    bundle = referral_bundle(invented_bsn(), f"sub-{uuid.uuid4()}")
    bundle["entry"][2]["resource"]["focus"] = {"reference": urn()}  # points at no entry
    submission = bundle["entry"][1]["resource"]["identifier"][0]["value"]

    if fhir_server_name == "medplum":
        # Medplum keeps an unresolvable urn:uuid reference as it is and commits the transaction, and its
        # MemoryRepository has no rollback at all (withTransaction just runs the callback).
        response = client.transaction(bundle)
        assert [status_code(e) for e in response["entry"]] == [201, 201, 201]
        return
    with pytest.raises(FhirRequestRejected) as caught:
        client.transaction(bundle)
    assert caught.value.status == 400
    assert caught.value.operation_outcome["resourceType"] == "OperationOutcome"
    # Atomic: the ServiceRequest before the bad Task was rolled back too.
    found = client.search("ServiceRequest", {"identifier": f"{ID_REFERRAL}|{submission}"})
    assert matches(found, "ServiceRequest") == []
