"""Exactly once, whatever the network and the server do: real sekmet-fhir on loopback, and `responses`
only for what a real server cannot be made to do on demand (503 on cue, a garbled body)."""

from __future__ import annotations

import time

import pytest
import responses

from service import create_app
from service.embedded import EmbeddedServerFailed, start_sekmet
from service.embedded.sekmet import free_port
from service.fhir.client import FhirClient
from service.outbox.store import Outbox
from service.referrals.submit import Pusher, Submitter
from tests.factories import make_qr, patient_ref
from tests.faultproxy import FaultProxy

COMPLEX = dict(signals=("homeless", "substance-addiction"))  # two recipients: JGZ coordinator and POH Jeugd (internal)
GGD = "ggd-zuid-limburg"  # the JGZ coordinator's destination; with only KS_FHIR_BASE_URL it is that server


def start(tmp_path, port=None):
    try:
        return start_sekmet(tmp_path / "fhir", port)
    except EmbeddedServerFailed as exc:
        pytest.fail(f"sekmet-fhir could not be started: {exc}", pytrace=False)


def count(base_url: str, rtype: str, **params) -> int:
    """How many `rtype` match; a value "patient" stands for the demo patient as the referral created it there."""
    with FhirClient(base_url) as client:
        params = {k: patient_ref(client) if v == "patient" else v for k, v in params.items()}
        bundle = client.search(rtype, params)
    return len(bundle.get("entry", []))


def app_for(tmp_path, base_url, **extra):
    return create_app(
        {
            "TESTING": True,
            "data_dir": tmp_path / "data",
            "fhir_base_url": base_url,
            "fhir_connect_timeout": 0.5,
            "fhir_read_timeout": 2.0,
            **extra,
        }
    )


def post_qr(app, qr):
    return app.test_client().post("/fhir/QuestionnaireResponse/$submit", json=qr)


def parameter(response, name: str) -> dict:
    return next(p for p in response.get_json()["parameter"] if p["name"] == name)


def destination_parts(response) -> list[dict]:
    """Each `destination` part of the answer as {part name: value(s)}."""
    out = []
    for p in response.get_json()["parameter"]:
        if p["name"] == "destination":
            parts: dict = {}
            for part in p["part"]:
                value = (
                    part.get("valueString") or part.get("valueCode") or part.get("valueReference", {}).get("reference")
                )
                parts.setdefault(part["name"], []).append(value)
            out.append(parts)
    return out


def test_server_down_at_submit_is_queued_then_delivered_once(tmp_path):
    port = free_port()
    app = app_for(tmp_path, f"http://127.0.0.1:{port}/fhir")
    response = post_qr(app, make_qr(**COMPLEX))
    assert response.status_code == 202
    assert parameter(response, "state")["valueCode"] == "queued"
    [part] = destination_parts(response)  # the POH Jeugd is internal: one destination only
    assert part["name"] == [GGD] and part["state"] == ["queued"] and part["recipient"] == ["regiocoordinator-jgz"]
    delivery = app.extensions["ks"].delivery
    [item] = delivery.outbox.list()
    assert item.destination == GGD and item.state == "pending" and item.attempts == 1 and item.last_status is None

    server = start(tmp_path, port)  # the server comes back
    try:
        later = Pusher(delivery.outbox, delivery.pusher.clients, delivery.audit, clock=lambda: time.time() + 3600)
        assert later.push_due() == 1
        assert delivery.outbox.get(item.id).state == "delivered"
        assert later.push_due() == 0  # nothing left: it went out once
        assert count(server.base_url, "ServiceRequest", subject="patient") == 1  # the JGZ coordinator's
        assert count(server.base_url, "Task", patient="patient") == 1
        # The same QuestionnaireResponse submitted again: nothing new anywhere.
        again = post_qr(app, make_qr(**COMPLEX))
        assert again.status_code == 201 and parameter(again, "state")["valueCode"] == "delivered"
        assert count(server.base_url, "ServiceRequest", subject="patient") == 1
        assert delivery.outbox.get(item.id).attempts == 2  # the resubmission found it delivered: not pushed again
    finally:
        server.stop()


def test_same_bundle_pushed_twice_leaves_one_of_each(tmp_path):
    server = start(tmp_path)
    try:
        app = app_for(tmp_path, server.base_url)
        assert post_qr(app, make_qr(**COMPLEX)).status_code == 201
        delivery = app.extensions["ks"].delivery
        [item] = delivery.outbox.list()
        delivery.pusher.push(item)  # a second push of the very same Bundle (as after a lost answer)
        assert delivery.outbox.get(item.id).state == "delivered"
        for rtype, param in (("ServiceRequest", "subject"), ("Task", "patient"), ("Consent", "patient")):
            # one of each for the one external recipient; nothing of the internal POH Jeugd
            assert count(server.base_url, rtype, **{param: "patient"}) == 1, rtype
        [provenance] = [e["resource"] for e in item.bundle["entry"] if e["resource"]["resourceType"] == "Provenance"]
        with FhirClient(server.base_url) as client:
            assert client.read("Provenance", provenance["id"])["id"] == provenance["id"]  # PUT: updated, never copied
            assert len(client.search("Provenance", {}).get("entry", [])) == 1
    finally:
        server.stop()


def test_timeout_after_commit_no_duplicate(tmp_path):
    server = start(tmp_path)
    proxy = FaultProxy(int(server.base_url.split(":")[2].split("/")[0]), mode="drop-response", faults=1)
    try:
        app = app_for(tmp_path, proxy.base_url)
        delivery = app.extensions["ks"].delivery
        # The immediate attempt loses the server's answer; the worker's client retries.
        response = post_qr(app, make_qr(**COMPLEX))
        assert proxy.faulted == 1
        assert count(server.base_url, "ServiceRequest", subject="patient") == 1  # the server did commit
        if response.status_code == 202:
            later = Pusher(delivery.outbox, delivery.pusher.clients, delivery.audit, clock=lambda: time.time() + 3600)
            later.push_due()
        [item] = delivery.outbox.list()
        assert item.state == "delivered"
        assert count(server.base_url, "ServiceRequest", subject="patient") == 1
        assert count(server.base_url, "Task", patient="patient") == 1
    finally:
        proxy.close()
        server.stop()


TRANSACTION_RESPONSE = {
    "resourceType": "Bundle",
    "type": "transaction-response",
    "entry": [{"response": {"status": "201 Created", "location": f"X/{i}/_history/1"}} for i in range(8)],
}


@responses.activate
def test_503_503_201_gives_one_referral(tmp_path, engine):
    base = "https://fhir.example.test/fhir"
    responses.post(base, status=503, json={"resourceType": "OperationOutcome", "issue": []})
    responses.post(base, status=503)
    responses.post(base, status=200, json=TRANSACTION_RESPONSE)
    sleeps: list[float] = []
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    client = FhirClient(base, retries=3, sleep=sleeps.append)
    submitter = Submitter(engine, outbox, Pusher(outbox, {GGD: client}))
    result = submitter.submit(make_qr(**COMPLEX))
    assert result.state == "delivered"
    [state] = result.destinations
    assert state.destination == GGD and state.recipients == ("regiocoordinator-jgz",) and state.state == "delivered"
    assert len(responses.calls) == 3 and len(sleeps) == 2
    assert [i.state for i in outbox.list()] == ["delivered"]


@responses.activate
def test_garbled_body_stays_pending_for_a_later_attempt(tmp_path, engine):
    base = "https://fhir.example.test/fhir"
    responses.post(base, status=200, body="<html>proxy error</html>", content_type="text/html")
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    submitter = Submitter(engine, outbox, Pusher(outbox, {GGD: FhirClient(base, retries=0, sleep=lambda s: None)}))
    result = submitter.submit(make_qr(**COMPLEX))
    assert result.state == "queued"
    [item] = outbox.list()
    assert item.state == "pending" and item.last_error["error"] == "FhirBadResponse" and item.next_attempt > time.time()


@responses.activate
def test_400_goes_to_dead_letter_with_the_servers_reason(tmp_path, engine):
    base = "https://fhir.example.test/fhir"
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": "processing", "diagnostics": "Resource Patient/demo-pregnant not found"}
        ],
    }
    responses.post(base, status=400, json=outcome)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    submitter = Submitter(engine, outbox, Pusher(outbox, {GGD: FhirClient(base, retries=3, sleep=lambda s: None)}))
    result = submitter.submit(make_qr(**COMPLEX))
    assert result.state == "dead" and len(responses.calls) == 1  # never retried
    [item] = outbox.list("dead")
    assert item.last_status == 400 and item.last_error["operationOutcome"] == outcome
    # Visible and retryable after a fix: the server now accepts it.
    responses.replace(responses.POST, base, status=200, json=TRANSACTION_RESPONSE)
    assert outbox.retry(item.id) == 1
    submitter.pusher.push_due()
    assert outbox.get(item.id).state == "delivered"


def test_refused_by_a_real_server_is_a_dead_letter_then_retried_after_the_fix(tmp_path):
    """sekmet-fhir with SMART Backend Services on: a wrong bearer token is refused (401) -> dead letter;
    after fixing the credentials `outbox retry` delivers it."""
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048)
    jwk = {**key.as_dict(private=False), "alg": "RS384", "kid": "k1", "use": "sig"}
    settings = {
        "server_auth": {
            "types": ["smart"],
            "token_lifetime": 300,
            "smart_clients": [{"client_id": "ks-test", "jwks": {"keys": [jwk]}, "scopes": "system/*.*"}],
        }
    }
    try:
        server = start_sekmet(tmp_path / "fhir", settings=settings)
    except EmbeddedServerFailed as exc:
        pytest.fail(f"sekmet-fhir could not be started: {exc}", pytrace=False)
    try:
        app = app_for(tmp_path, server.base_url, fhir_auth="bearer", fhir_bearer_token="not-a-valid-token")
        response = post_qr(app, make_qr(**COMPLEX))
        assert response.status_code == 502 and response.get_json()["resourceType"] == "OperationOutcome"
        outbox = app.extensions["ks"].delivery.outbox
        [item] = outbox.list("dead")
        assert item.destination == GGD and item.last_status == 401
        key_file = tmp_path / "key.pem"
        key_file.write_bytes(key.as_pem(private=True))
        fixed = app_for(
            tmp_path,
            server.base_url,
            fhir_auth="backend-services",
            fhir_token_url=server.base_url.removesuffix("/fhir") + "/auth/token",
            fhir_client_id="ks-test",
            fhir_private_key_file=key_file,
            fhir_key_id="k1",
            fhir_scope="system/*.*",
        )
        delivery = fixed.extensions["ks"].delivery
        assert delivery.outbox.retry(item.id) == 1
        delivery.pusher.push_due()
        assert delivery.outbox.get(item.id).state == "delivered"
    finally:
        server.stop()
