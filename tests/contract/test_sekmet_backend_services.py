"""BackendServicesAuth against a real SMART Backend Services token endpoint: sekmet-fhir's.

Only sekmet here: Medplum's engine runs without its server, so it has no authorization server at all.
"""

from __future__ import annotations

import pytest
from joserfc.jwk import ECKey, RSAKey

from service.embedded import EmbeddedServerFailed, start_sekmet
from service.fhir.auth import BackendServicesAuth, BearerTokenAuth
from service.fhir.client import FhirClient
from service.fhir.errors import FhirAuthError

CLIENT_ID = "kansrijke-start-test"


def client_id(alg: str) -> str:
    # One client per key type: sekmet 0.1.1 tries every key of a client (it ignores kid) and its token
    # endpoint answers 500 (pyjwt TypeError) when it meets a key of another type than the JWT's alg.
    return f"{CLIENT_ID}-{alg.lower()}"


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[str, dict]]:
    """alg -> (private PEM, public JWK as registered at the server)."""
    out = {}
    for alg, key in (("RS384", RSAKey.generate_key(2048)), ("ES384", ECKey.generate_key("P-384"))):
        public = key.as_dict(private=False)
        public.update({"alg": alg, "kid": f"key-{alg.lower()}", "use": "sig"})
        out[alg] = (key.as_pem(private=True).decode(), public)
    return out


@pytest.fixture(scope="module")
def smart_sekmet(tmp_path_factory, keys):
    settings = {
        "server_auth": {
            "types": ["smart"],
            "smart_clients": [
                {"client_id": client_id(alg), "jwks": {"keys": [jwk]}, "scopes": "system/*.*"}
                for alg, (_, jwk) in keys.items()
            ],
            "token_lifetime": 300,
        }
    }
    try:
        server = start_sekmet(tmp_path_factory.mktemp("sekmet-smart"), settings=settings)
    except EmbeddedServerFailed as exc:
        pytest.fail(f"sekmet-fhir with SMART auth could not be started: {exc}", pytrace=False)
    yield server
    server.stop()


def token_url(server) -> str:
    return server.base_url.removesuffix("/fhir") + "/auth/token"


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_backend_services_token_lets_us_write_and_read(smart_sekmet, keys, alg):
    private_pem, jwk = keys[alg]
    auth = BackendServicesAuth(
        token_url(smart_sekmet), client_id(alg), private_pem, jwk["kid"], alg=alg, scope="system/Task.cruds"
    )
    with FhirClient(smart_sekmet.base_url, auth=auth, sleep=lambda _: None) as client:
        written = client.create({"resourceType": "Task", "status": "requested", "intent": "order"})
        task = client.read("Task", written.resource["id"])

    assert task["status"] == "requested"


def test_scope_too_narrow_is_an_auth_error(smart_sekmet, keys):
    private_pem, jwk = keys["RS384"]
    auth = BackendServicesAuth(
        token_url(smart_sekmet), client_id("RS384"), private_pem, jwk["kid"], alg="RS384", scope="system/Task.rs"
    )
    with (
        FhirClient(smart_sekmet.base_url, auth=auth, sleep=lambda _: None) as client,
        pytest.raises(FhirAuthError) as caught,
    ):
        client.create({"resourceType": "Task", "status": "requested", "intent": "order"})

    assert caught.value.status == 403
    assert caught.value.operation_outcome["resourceType"] == "OperationOutcome"


def test_unknown_key_is_refused_by_the_token_endpoint(smart_sekmet):
    stranger = RSAKey.generate_key(2048).as_pem(private=True).decode()
    auth = BackendServicesAuth(token_url(smart_sekmet), client_id("RS384"), stranger, "other", scope="system/Task.rs")
    with (
        FhirClient(smart_sekmet.base_url, auth=auth, sleep=lambda _: None) as client,
        pytest.raises(FhirAuthError, match="invalid_client"),
    ):
        client.read("Task", "anything")


def test_no_or_wrong_token_is_401(smart_sekmet):
    with (
        FhirClient(smart_sekmet.base_url, auth=BearerTokenAuth("not-a-token"), sleep=lambda _: None) as client,
        pytest.raises(FhirAuthError) as caught,
    ):
        client.read("Task", "anything")

    assert caught.value.status == 401
