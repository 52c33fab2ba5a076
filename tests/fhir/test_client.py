"""FhirClient failure modes no real server produces on demand (timeouts, 503s, garbled bodies), and the
SMART Backend Services token handling, with `responses` standing in for the network."""

from __future__ import annotations

import logging
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
import responses
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from service.embedded.sekmet import free_port
from service.fhir.auth import CLIENT_ASSERTION_TYPE, BackendServicesAuth, BearerTokenAuth
from service.fhir.client import FhirClient, parse_retry_after
from service.fhir.errors import (
    FhirAuthError,
    FhirBadResponse,
    FhirConflict,
    FhirNotFound,
    FhirRequestRejected,
    FhirServerError,
    FhirServerUnreachable,
)

BASE = "https://fhir.example.test/fhir"
TOKEN_URL = "https://auth.example.test/token"
FHIR_JSON = "application/fhir+json"
OUTCOME = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "structure", "diagnostics": "Patient.birthDate: not a date"}],
}
TASK = {"resourceType": "Task", "id": "t1", "status": "requested", "intent": "order"}


class UpperBound:
    """A stand-in for random.Random whose jitter always picks the ceiling, so backoff is predictable."""

    def uniform(self, low: float, high: float) -> float:
        return high


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps):
    with FhirClient(BASE, sleep=sleeps.append, rng=UpperBound()) as fhir:
        yield fhir


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


# ---------------------------------------------------------------------------- retries


def test_read_timeout_then_success_retries_once(client, sleeps, mocked):
    mocked.get(f"{BASE}/Task/t1", body=requests.ReadTimeout("read timed out"))
    mocked.get(f"{BASE}/Task/t1", json=TASK, content_type=FHIR_JSON)

    assert client.read("Task", "t1") == TASK
    assert len(mocked.calls) == 2
    assert sleeps == [0.5]


def test_two_503_then_201_is_one_success_after_two_backoffs(client, sleeps, mocked):
    mocked.post(f"{BASE}/Task", status=503)
    mocked.post(f"{BASE}/Task", status=503)
    mocked.post(f"{BASE}/Task", status=201, json=TASK, headers={"Location": f"{BASE}/Task/t1/_history/1"})

    written = client.create({k: v for k, v in TASK.items() if k != "id"})

    assert written.created and written.resource == TASK and written.location.endswith("/Task/t1/_history/1")
    assert len(mocked.calls) == 3
    assert sleeps == [0.5, 1.0]  # base 0.5 s doubling, at the jitter's upper bound


def test_backoff_is_full_jitter_below_a_cap(sleeps, mocked):
    client = FhirClient(BASE, sleep=sleeps.append, retries=6, backoff_base=0.5, backoff_max=4.0)
    for _ in range(7):
        mocked.get(f"{BASE}/Task/t1", status=502)

    with pytest.raises(FhirServerError):
        client.read("Task", "t1")

    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(sleeps) == len(ceilings)
    assert all(0 <= s <= c for s, c in zip(sleeps, ceilings, strict=False))


def test_retry_after_seconds_is_honoured(client, sleeps, mocked):
    mocked.get(f"{BASE}/Task/t1", status=429, headers={"Retry-After": "7"})
    mocked.get(f"{BASE}/Task/t1", json=TASK)

    assert client.read("Task", "t1") == TASK
    assert sleeps == [7.0]


def test_retry_after_http_date_is_honoured():
    now = time.time()
    when = format_datetime(datetime.fromtimestamp(now, UTC) + timedelta(seconds=12), usegmt=True)

    assert parse_retry_after(when, now=lambda: now) == pytest.approx(12, abs=1)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: go now
    assert parse_retry_after("soon") is None


def test_retry_after_beyond_patience_gives_up_and_passes_it_on(client, sleeps, mocked):
    mocked.post(BASE, status=503, headers={"Retry-After": "3600"})

    with pytest.raises(FhirServerError) as caught:
        client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": []})

    assert caught.value.retryable and caught.value.retry_after == 3600
    assert len(mocked.calls) == 1 and sleeps == []


def test_server_error_after_all_retries(client, sleeps, mocked):
    for _ in range(4):
        mocked.get(f"{BASE}/Task/t1", status=500, json=OUTCOME)

    with pytest.raises(FhirServerError) as caught:
        client.read("Task", "t1")

    assert caught.value.status == 500 and caught.value.retryable
    assert caught.value.operation_outcome == OUTCOME
    assert len(mocked.calls) == 4 and len(sleeps) == 3


def test_plain_create_is_not_repeated_when_the_server_may_have_acted(client, sleeps, mocked):
    # After a 500 or a read timeout the POST may have been stored: repeating it could duplicate.
    mocked.post(f"{BASE}/Task", status=500)
    with pytest.raises(FhirServerError):
        client.create({"resourceType": "Task"})
    mocked.post(f"{BASE}/Task", body=requests.ReadTimeout())
    with pytest.raises(FhirServerUnreachable):
        client.create({"resourceType": "Task"})
    assert len(mocked.calls) == 2 and sleeps == []


def test_plain_create_is_repeated_when_it_never_reached_the_server(client, sleeps, mocked):
    mocked.post(f"{BASE}/Task", body=requests.ConnectTimeout("connect timed out"))
    mocked.post(f"{BASE}/Task", status=201, json=TASK)
    assert client.create({"resourceType": "Task"}).created

    mocked.post(f"{BASE}/Task", body=requests.ConnectionError("Connection aborted: reset by peer"))
    with pytest.raises(FhirServerUnreachable):  # broken mid-answer: it may have been stored
        client.create({"resourceType": "Task"})
    assert len(mocked.calls) == 3 and sleeps == [0.5]


def test_conditional_create_and_idempotent_transaction_are_repeated_after_500(client, sleeps, mocked):
    mocked.post(f"{BASE}/Task", status=500)
    mocked.post(f"{BASE}/Task", status=200, json=TASK)
    assert not client.create({"resourceType": "Task"}, if_none_exist="identifier=s|v").created

    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"request": {"method": "PUT", "url": "QuestionnaireResponse/q1"}},
            {"request": {"method": "POST", "url": "Task", "ifNoneExist": "identifier=s|v"}},
        ],
    }
    mocked.post(BASE, status=504)
    mocked.post(BASE, json={"resourceType": "Bundle", "type": "transaction-response"})
    assert client.transaction(bundle)["type"] == "transaction-response"
    assert len(sleeps) == 2


def test_connection_refused_is_unreachable_after_retries(sleeps):
    port = free_port()  # nothing listens there any more
    client = FhirClient(f"http://127.0.0.1:{port}/fhir", sleep=sleeps.append, timeout=(0.5, 0.5))

    with pytest.raises(FhirServerUnreachable) as caught:
        client.read("Patient", "p1")

    assert len(sleeps) == 3
    assert caught.value.retryable
    assert isinstance(caught.value.__cause__, requests.ConnectionError)


# ---------------------------------------------------------------------------- status mapping


@pytest.mark.parametrize(
    "status, error",
    [
        (400, FhirRequestRejected),
        (422, FhirRequestRejected),
        (401, FhirAuthError),
        (403, FhirAuthError),
        (404, FhirNotFound),
        (410, FhirNotFound),
        (409, FhirConflict),
        (412, FhirConflict),
    ],
)
def test_4xx_is_not_retried_and_keeps_the_operation_outcome(client, sleeps, mocked, status, error):
    mocked.put(f"{BASE}/Task/t1", status=status, json=OUTCOME, content_type=FHIR_JSON)

    with pytest.raises(error) as caught:
        client.update(TASK)

    assert isinstance(caught.value, FhirRequestRejected)
    assert caught.value.status == status and not caught.value.retryable
    assert caught.value.operation_outcome == OUTCOME
    assert caught.value.server_issues()[0]["code"] == "structure"
    assert len(mocked.calls) == 1 and sleeps == []
    # The rendered outcome is ours (Dutch text + method/path), not the server's diagnostics.
    assert (
        "PUT /Task/{id}" in caught.value.to_operation_outcome()["issue"][0]["diagnostics"]
    )  # no ids: see loggable_path


def test_4xx_without_outcome_body(client, mocked):
    mocked.get(f"{BASE}/Task/t1", status=400, body="<html>Bad Request</html>", content_type="text/html")

    with pytest.raises(FhirRequestRejected) as caught:
        client.read("Task", "t1")

    assert caught.value.operation_outcome is None


def test_garbled_json_on_200_is_a_bad_response(client, mocked):
    mocked.get(f"{BASE}/Task/t1", status=200, body='{"resourceType": "Task", "id": ', content_type=FHIR_JSON)

    with pytest.raises(FhirBadResponse) as caught:
        client.read("Task", "t1")

    assert caught.value.status == 200
    assert isinstance(caught.value.__cause__, ValueError)


@pytest.mark.parametrize("body", ['["a", "list"]', '{"no": "resourceType"}', '{"resourceType": "Patient", "id": "p1"}'])
def test_json_that_is_not_the_expected_resource_is_a_bad_response(client, mocked, body):
    mocked.get(f"{BASE}/Task/t1", status=200, body=body, content_type=FHIR_JSON)

    with pytest.raises(FhirBadResponse):
        client.read("Task", "t1")


def test_redirect_is_not_followed(client, mocked):
    mocked.post(f"{BASE}/Task", status=302, headers={"Location": "https://elsewhere.test/"})

    with pytest.raises(FhirBadResponse) as caught:
        client.create({"resourceType": "Task"})

    assert caught.value.status == 302 and len(mocked.calls) == 1


# ---------------------------------------------------------------------------- request shape


def test_requests_carry_fhir_media_types_timeout_and_conditional_header(client, mocked):
    mocked.post(f"{BASE}/Patient", status=201, json={"resourceType": "Patient", "id": "p1"})

    client.create(
        {"resourceType": "Patient"}, if_none_exist="identifier=http://fhir.nl/fhir/NamingSystem/bsn|999000001"
    )

    sent = mocked.calls[0].request
    assert sent.headers["Accept"] == FHIR_JSON
    assert sent.headers["Content-Type"] == FHIR_JSON
    assert sent.headers["If-None-Exist"] == "identifier=http://fhir.nl/fhir/NamingSystem/bsn|999000001"
    assert mocked.calls[0].request.req_kwargs["timeout"] == (3.05, 10)


def test_search_sends_params_and_ids_cannot_escape_their_segment(client, mocked):
    mocked.get(f"{BASE}/Task", json={"resourceType": "Bundle", "type": "searchset"})
    mocked.get(f"{BASE}/Task/a%2Fb%3Fc", json={"resourceType": "Task", "id": "a/b?c"})

    client.search("Task", {"identifier": "s|v", "_include": "Task:focus"})
    client.read("Task", "a/b?c")

    query = urllib.parse.parse_qs(urllib.parse.urlsplit(mocked.calls[0].request.url).query)
    assert query == {"identifier": ["s|v"], "_include": ["Task:focus"]}
    assert mocked.calls[0].request.headers["Prefer"] == "handling=strict"


def test_logs_hold_no_query_strings_or_bodies(client, mocked, caplog):
    bsn = "999000001"
    mocked.get(f"{BASE}/Patient", status=400, json=OUTCOME)
    caplog.set_level(logging.DEBUG, logger="service.fhir.client")

    with pytest.raises(FhirRequestRejected) as caught:
        client.search("Patient", {"identifier": f"http://fhir.nl/fhir/NamingSystem/bsn|{bsn}"})

    assert "GET /Patient -> 400" in caplog.text
    assert bsn not in caplog.text and "birthDate" not in caplog.text
    assert bsn not in str(caught.value)


def test_logs_hold_no_resource_ids(client, mocked, caplog):
    """Some systems use a patient number, or the BSN itself, as the logical id."""
    mocked.get(f"{BASE}/Patient/999000001", status=404, json=OUTCOME)
    caplog.set_level(logging.DEBUG, logger="service.fhir.client")
    with pytest.raises(FhirRequestRejected) as caught:
        client.read("Patient", "999000001")
    assert "GET /Patient/{id} -> 404" in caplog.text and "999000001" not in caplog.text
    assert caught.value.path == "/Patient/{id}"


def test_bearer_token_is_sent(sleeps, mocked):
    mocked.get(f"{BASE}/metadata", json={"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"})
    client = FhirClient(BASE, auth=BearerTokenAuth("s3cret"), sleep=sleeps.append)

    client.capabilities()

    assert mocked.calls[0].request.headers["Authorization"] == "Bearer s3cret"


# ---------------------------------------------------------------------------- SMART Backend Services


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def key_pair(alg: str) -> tuple[str, object]:
    key = RSAKey.generate_key(2048) if alg == "RS384" else ECKey.generate_key("P-384")
    public = (RSAKey if alg == "RS384" else ECKey).import_key(key.as_pem(private=False))
    return key.as_pem(private=True).decode(), public


@pytest.fixture(scope="module")
def rsa_keys():
    return key_pair("RS384")


def backend_auth(private_pem: str, alg: str = "RS384", clock=time.time) -> BackendServicesAuth:
    return BackendServicesAuth(
        TOKEN_URL,
        "ks-client",
        private_pem,
        "key-1",
        alg=alg,
        scope="system/Task.cru system/ServiceRequest.cru",
        clock=clock,
    )


def token_response(token: str, expires_in: int = 300) -> dict:
    return {"access_token": token, "token_type": "bearer", "expires_in": expires_in, "scope": "system/Task.cru"}


def token_calls(mocked) -> list:
    return [c for c in mocked.calls if c.request.url == TOKEN_URL]


def fhir_calls(mocked) -> list:
    return [c for c in mocked.calls if c.request.url.startswith(BASE)]


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_client_assertion_is_a_jwt_signed_per_smart_backend_services(mocked, sleeps, alg):
    private_pem, public_key = key_pair(alg)
    mocked.post(TOKEN_URL, json=token_response("tok-1"))
    mocked.get(f"{BASE}/Task/t1", json=TASK)
    client = FhirClient(BASE, auth=backend_auth(private_pem, alg), sleep=sleeps.append)

    client.read("Task", "t1")

    form = urllib.parse.parse_qs(token_calls(mocked)[0].request.body)
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_assertion_type"] == [CLIENT_ASSERTION_TYPE]
    assert form["scope"] == ["system/Task.cru system/ServiceRequest.cru"]
    token = jwt.decode(form["client_assertion"][0], public_key, algorithms=[alg])
    assert token.header == {"alg": alg, "kid": "key-1", "typ": "JWT"}
    assert token.claims["iss"] == token.claims["sub"] == "ks-client"
    assert token.claims["aud"] == TOKEN_URL
    assert 0 < token.claims["exp"] - time.time() <= 300
    assert token.claims["jti"]
    assert fhir_calls(mocked)[0].request.headers["Authorization"] == "Bearer tok-1"


def test_access_token_is_cached_across_requests(mocked, sleeps, rsa_keys):
    mocked.post(TOKEN_URL, json=token_response("tok-1"))
    mocked.get(f"{BASE}/Task/t1", json=TASK)
    client = FhirClient(BASE, auth=backend_auth(rsa_keys[0]), sleep=sleeps.append)

    client.read("Task", "t1")
    client.read("Task", "t1")

    assert len(token_calls(mocked)) == 1
    assert [c.request.headers["Authorization"] for c in fhir_calls(mocked)] == ["Bearer tok-1"] * 2


def test_access_token_is_refreshed_shortly_before_it_expires_with_a_new_jti(mocked, sleeps, rsa_keys):
    clock = Clock()
    mocked.post(TOKEN_URL, json=token_response("tok-1", expires_in=300))
    mocked.post(TOKEN_URL, json=token_response("tok-2", expires_in=300))
    mocked.get(f"{BASE}/Task/t1", json=TASK)
    client = FhirClient(BASE, auth=backend_auth(rsa_keys[0], clock=clock), sleep=sleeps.append)

    client.read("Task", "t1")
    clock.now += 250  # well inside the lifetime: cached
    client.read("Task", "t1")
    clock.now += 30  # 280 s: within the refresh margin before expires_in
    client.read("Task", "t1")

    assert [c.request.headers["Authorization"] for c in fhir_calls(mocked)] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]
    jtis = [
        jwt.decode(
            urllib.parse.parse_qs(c.request.body)["client_assertion"][0], rsa_keys[1], algorithms=["RS384"]
        ).claims["jti"]
        for c in token_calls(mocked)
    ]
    assert len(jtis) == 2 and jtis[0] != jtis[1]


def test_401_from_the_fhir_server_refreshes_the_token_once(mocked, sleeps, rsa_keys):
    mocked.post(TOKEN_URL, json=token_response("tok-revoked"))
    mocked.post(TOKEN_URL, json=token_response("tok-2"))
    mocked.get(f"{BASE}/Task/t1", status=401, json=OUTCOME)
    mocked.get(f"{BASE}/Task/t1", json=TASK)
    client = FhirClient(BASE, auth=backend_auth(rsa_keys[0]), sleep=sleeps.append)

    assert client.read("Task", "t1") == TASK

    assert len(token_calls(mocked)) == 2
    assert [c.request.headers["Authorization"] for c in fhir_calls(mocked)] == ["Bearer tok-revoked", "Bearer tok-2"]


def test_a_second_401_is_an_auth_error_without_a_third_token(mocked, sleeps, rsa_keys):
    mocked.post(TOKEN_URL, json=token_response("tok-1"))
    mocked.post(TOKEN_URL, json=token_response("tok-2"))
    mocked.get(f"{BASE}/Task/t1", status=401, json=OUTCOME)
    mocked.get(f"{BASE}/Task/t1", status=401, json=OUTCOME)
    client = FhirClient(BASE, auth=backend_auth(rsa_keys[0]), sleep=sleeps.append)

    with pytest.raises(FhirAuthError) as caught:
        client.read("Task", "t1")

    assert caught.value.status == 401
    assert len(token_calls(mocked)) == 2 and len(fhir_calls(mocked)) == 2 and sleeps == []


def test_token_endpoint_refusal_is_an_auth_error(mocked, sleeps, rsa_keys):
    mocked.post(TOKEN_URL, status=401, json={"error": "invalid_client", "error_description": "unknown key"})
    client = FhirClient(BASE, auth=backend_auth(rsa_keys[0]), sleep=sleeps.append)

    with pytest.raises(FhirAuthError) as caught:
        client.read("Task", "t1")

    assert "invalid_client" in str(caught.value)
    assert fhir_calls(mocked) == []


def test_backend_services_rejects_other_algorithms(rsa_keys):
    with pytest.raises(ValueError):
        backend_auth(rsa_keys[0], alg="HS256")
