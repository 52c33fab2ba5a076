"""Writing the practice's record of a referral back to the EHR: one transaction where the EHR declares it, one
call each where not; an internal referral's Task (the POH Jeugd's worklist) goes with it."""

from __future__ import annotations

import json

import responses

from service.ehr import write_back
from service.fhir.client import FhirClient
from tests.factories import make_qr


def _bundle(engine, identifier: str, signals=("homeless", "domestic-violence")) -> dict:
    """The practice's record (two urgent signals: the GGD's JGZ and, complex, the practice's own POH Jeugd)."""
    qr = make_qr(signals=signals)
    qr["identifier"] = {"system": "https://his.example.invalid/ks", "value": identifier}
    return engine.extract(qr).bundles.record


class Spy(FhirClient):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.calls: list[str] = []

    def transaction(self, bundle):
        self.calls.append("transaction")
        return super().transaction(bundle)

    def update(self, resource):
        self.calls.append("update")
        return super().update(resource)

    def create(self, resource, if_none_exist=None):
        self.calls.append("create")
        return super().create(resource, if_none_exist)


def test_one_transaction_when_the_ehr_declares_it_and_again_changes_nothing(engine, ehr_server):
    bundle = _bundle(engine, "wb-transaction-1")
    audited = []
    with Spy(ehr_server) as ehr:
        first = write_back(ehr, bundle, on_write=lambda ref, ok, status: audited.append((ref, ok, status)))
        assert ehr.calls == ["transaction"] and first.ok
        qr_ref = next(r for r in first.written if r.startswith("QuestionnaireResponse/"))
        srs = [r for r in first.written if r.startswith("ServiceRequest/")]
        assert len(srs) == len([e for e in bundle["entry"] if e["resource"]["resourceType"] == "ServiceRequest"]) >= 1
        for ref in srs:  # in the EHR, pointing at the response and at nothing the EHR cannot resolve
            sr = ehr.read(*ref.split("/"))
            assert sr["supportingInfo"] == [{"reference": qr_ref}]
        # the internal referral's Task, owned by the role that works it, on its ServiceRequest in the EHR
        [task_ref] = [r for r in first.written if r.startswith("Task/")]
        task = ehr.read(*task_ref.split("/"))
        assert task["owner"] == {"display": "POH Jeugd (eigen praktijk)"} and task["status"] == "requested"
        [poh] = [ref for ref in srs if ehr.read(*ref.split("/"))["code"]["coding"][0]["code"] == "poh-jeugd"]
        assert task["basedOn"] == [{"reference": poh}] and task["focus"] == {"reference": poh}
        assert [ok for _, ok, _ in audited] == [True] * len(first.written) and {s for _, _, s in audited} <= {200, 201}
        again = write_back(ehr, bundle)
        assert sorted(again.written) == sorted(first.written)  # the same resources, not new ones


@responses.activate
def test_one_call_each_when_the_ehr_does_not_declare_transactions_stopping_at_a_refusal(engine):
    base, bundle, qr_id = _ehr_without_transactions(engine, "wb-each-1")
    responses.post(
        f"{base}/ServiceRequest",
        status=403,
        json={"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "forbidden"}]},
    )
    audited = []
    with FhirClient(base, retries=0) as ehr:
        result = write_back(ehr, bundle, on_write=lambda ref, ok, status: audited.append((ref, ok, status)))
    assert [c.request.method for c in responses.calls] == ["GET", "PUT", "POST"]
    assert result.written == (f"QuestionnaireResponse/{qr_id}",) and result.status == 403
    assert result.problem[0] == "Het EPD gaf geen toestemming om terug te schrijven (HTTP 403)."
    assert audited == [(f"QuestionnaireResponse/{qr_id}", True, 201), ("ServiceRequest", False, 403)]


@responses.activate
def test_one_call_each_links_the_internal_task_to_its_service_request_in_the_ehr(engine):
    """Without a transaction the urn:uuid references cannot resolve on the server: the Task must point at the id
    the EHR gave the POH Jeugd's ServiceRequest, and at nothing the EHR does not hold."""
    base, bundle, qr_id = _ehr_without_transactions(engine, "wb-each-2")
    made = iter(["sr-jgz", "sr-poh"])

    def created(request):
        body = json.loads(request.body)
        body["id"] = next(made) if body["resourceType"] == "ServiceRequest" else "task-1"
        return 201, {"Location": f"{base}/{body['resourceType']}/{body['id']}/_history/1"}, json.dumps(body)

    responses.add_callback(
        responses.POST, f"{base}/ServiceRequest", callback=created, content_type="application/fhir+json"
    )
    responses.add_callback(responses.POST, f"{base}/Task", callback=created, content_type="application/fhir+json")
    with FhirClient(base, retries=0) as ehr:
        result = write_back(ehr, bundle)
    assert result.ok and result.written == (
        f"QuestionnaireResponse/{qr_id}",
        "ServiceRequest/sr-jgz",
        "ServiceRequest/sr-poh",
        "Task/task-1",
    )
    posted = [json.loads(c.request.body) for c in responses.calls if c.request.method == "POST"]
    srs, [task] = posted[:2], posted[2:]
    # each names the response by the id the EHR holds; the Consent is not written there, so no reference to it
    assert [sr["supportingInfo"] for sr in srs] == [[{"reference": f"QuestionnaireResponse/{qr_id}"}]] * 2
    assert task["basedOn"] == [{"reference": "ServiceRequest/sr-poh"}] and task["focus"] == {
        "reference": "ServiceRequest/sr-poh"
    }
    assert task["owner"] == {"display": "POH Jeugd (eigen praktijk)"}


def _ehr_without_transactions(engine, name: str) -> tuple[str, dict, str]:
    """An EHR whose CapabilityStatement declares no transaction, accepting the response's PUT; the record
    Bundle of case `name` and its response's id."""
    base = "https://ehr.invalid/fhir"
    responses.get(
        f"{base}/metadata",
        json={
            "resourceType": "CapabilityStatement",
            "status": "active",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [{"mode": "server"}],
        },
    )
    bundle = _bundle(engine, name)
    qr_id = next(
        e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"
    )
    responses.put(
        f"{base}/QuestionnaireResponse/{qr_id}", status=201, json={"resourceType": "QuestionnaireResponse", "id": qr_id}
    )
    return base, bundle, qr_id
