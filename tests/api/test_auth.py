"""Who may call the API: SMART Backend Services over real HTTP. The HIS side is this service's own
BackendServicesAuth (the client it uses to push referrals, tested against sekmet-fhir's token endpoint)."""

from __future__ import annotations

import json
import secrets
import threading
import time

import pytest
import requests
import yaml
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from werkzeug.serving import make_server

from service import create_app
from service.api.auth import ApiClientsInvalid, load_clients
from service.config import SettingsInvalid
from service.embedded.sekmet import free_port
from service.fhir.auth import BackendServicesAuth
from service.fhir.client import FhirClient
from service.fhir.errors import FhirAuthError
from tests.factories import make_qr

RSA = RSAKey.generate_key(2048, parameters={"kid": "his-rsa"})
EC = ECKey.generate_key("P-384", parameters={"kid": "his-ec"})
STRANGER = RSAKey.generate_key(2048, parameters={"kid": "his-rsa"})  # same kid, another key
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def _public(key) -> dict:
    return {"keys": [key.as_dict(private=False)]}


@pytest.fixture(scope="module")
def live(tmp_path_factory, sekmet_demo):
    """The app with KS_API_AUTH=backend-services on a loopback port; four registered clients."""
    tmp = tmp_path_factory.mktemp("api-auth")
    (tmp / "ec.jwks.json").write_text(json.dumps(_public(EC)))
    (tmp / "clients.yaml").write_text(
        yaml.safe_dump(
            {
                "clients": [
                    {
                        "client_id": "his-demo",
                        "name": "Demo HIS",
                        "jwks": _public(RSA),
                        "scope": "system/QuestionnaireResponse.c system/QuestionnaireResponse.r system/Questionnaire.r system/Patient.r",
                    },
                    {
                        "client_id": "form-filler",
                        "jwks_file": "ec.jwks.json",
                        "scope": "system/QuestionnaireResponse.read system/Questionnaire.read",
                    },  # SMART v1 scopes
                    {
                        "client_id": "his-other",  # another HIS, no practice either
                        "jwks": _public(RSA),
                        "scope": "system/QuestionnaireResponse.c system/QuestionnaireResponse.r",
                    },
                ]
            }
        )
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(
        {
            "TESTING": True,
            "data_dir": tmp / "data",
            "fhir_base_url": sekmet_demo.base_url,
            "public_url": base,
            "api_auth": "backend-services",
            "api_clients_file": tmp / "clients.yaml",
        }
    )
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app.base = base
    yield app
    server.shutdown()


def his(
    live,
    client_id="his-demo",
    key=RSA,
    alg="RS384",
    scope="system/QuestionnaireResponse.c system/Patient.r system/Questionnaire.r",
):
    pem = key.as_pem(private=True)
    return BackendServicesAuth(f"{live.base}/auth/token", client_id, pem, key.kid, alg=alg, scope=scope)


def assertion(live, key=RSA, kid="his-rsa", **claims) -> str:
    now = int(time.time())
    body = {
        "iss": "his-demo",
        "sub": "his-demo",
        "aud": f"{live.base}/auth/token",
        "exp": now + 240,
        "jti": secrets.token_urlsafe(12),
        **claims,
    }
    return jwt.encode(
        {"alg": "RS384", "typ": "JWT", **({"kid": kid} if kid else {})},
        {k: v for k, v in body.items() if v is not None},
        key,
        algorithms=["RS384"],
    )


def token_request(live, client_assertion: str, **form):
    data = {
        "grant_type": "client_credentials",
        "scope": "system/QuestionnaireResponse.c",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": client_assertion,
        **form,
    }
    return requests.post(f"{live.base}/auth/token", data=data, timeout=10)


def test_discovery_and_the_public_parts(live):
    config = requests.get(f"{live.base}/fhir/.well-known/smart-configuration", timeout=10).json()
    assert config["token_endpoint"] == f"{live.base}/auth/token"
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert set(config["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384", "ES384"}
    metadata = requests.get(f"{live.base}/fhir/metadata", timeout=10).json()
    assert metadata["rest"][0]["security"]["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    assert requests.get(f"{live.base}/fhir/Questionnaire", timeout=10).status_code == 200  # form definitions: public


def test_discovery_is_complete_and_the_capability_statement_claims_no_half_oauth_uris(live):
    config = requests.get(f"{live.base}/fhir/.well-known/smart-configuration", timeout=10).json()
    assert config["code_challenge_methods_supported"] == ["S256"]  # REQUIRED in SMART 2.x; never "plain"
    security = requests.get(f"{live.base}/fhir/metadata", timeout=10).json()["rest"][0]["security"]
    for ext in security.get("extension", []):  # oauth-uris needs authorize and token (SMART 1.0: both 1..1)
        assert {e["url"] for e in ext["extension"]} >= {"authorize", "token"}


@pytest.mark.parametrize(
    "path",
    [
        "/fhir/QuestionnaireResponse",
        "/fhir/QuestionnaireResponse/$evaluate",
        "/fhir/QuestionnaireResponse/$validate",
        "/fhir/QuestionnaireResponse/$extract",
        "/fhir/QuestionnaireResponse/$submit",
        "/fhir/Questionnaire/$populate",
    ],
)
def test_patient_data_needs_a_token(live, path):
    r = requests.post(f"{live.base}{path}", json=make_qr(), headers=FHIR_JSON, timeout=10)
    assert r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome"
    assert r.json()["issue"][0]["code"] == "login" and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    r = requests.post(
        f"{live.base}{path}", json=make_qr(), headers={**FHIR_JSON, "Authorization": "Bearer made-up"}, timeout=10
    )
    assert r.status_code == 401


def test_an_his_submits_a_referral_and_the_audit_names_it(live):
    qr = make_qr(signals=("homeless",))
    qr["identifier"] = {"system": "https://his.example.invalid/ks", "value": "auth-1"}
    with FhirClient(f"{live.base}/fhir", auth=his(live)) as client:
        answer = client.session.post(f"{live.base}/fhir/QuestionnaireResponse", json=qr, headers=FHIR_JSON, timeout=30)
    assert answer.status_code == 201, answer.text
    [entry] = [a for a in live.extensions["ks"].delivery.audit.entries() if a["event"] == "submit" and a["object"]]
    assert entry["who"] == "api-client/his-demo" and entry["responsible"] == "PractitionerRole/demo-gp"


def test_an_es384_client_with_v1_scopes_may_evaluate_but_not_submit(live):
    auth = his(live, "form-filler", EC, "ES384", scope="system/QuestionnaireResponse.read system/Questionnaire.read")
    with FhirClient(f"{live.base}/fhir", auth=auth) as client:
        evaluated = client.session.post(
            f"{live.base}/fhir/QuestionnaireResponse/$evaluate", json=make_qr(), headers=FHIR_JSON, timeout=10
        )
        submitted = client.session.post(
            f"{live.base}/fhir/QuestionnaireResponse", json=make_qr(), headers=FHIR_JSON, timeout=10
        )
        populate = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "subject", "valueReference": {"reference": "Patient/demo-pregnant"}},
                {"name": "local", "valueBoolean": True},
            ],
        }
        populated = client.session.post(
            f"{live.base}/fhir/Questionnaire/kansrijke-start-signalering/$populate",
            json=populate,
            headers=FHIR_JSON,
            timeout=10,
        )
    assert evaluated.status_code == 200
    assert submitted.status_code == 403 and 'error="insufficient_scope"' in submitted.headers["WWW-Authenticate"]
    assert "system/QuestionnaireResponse.c" in submitted.json()["issue"][0]["diagnostics"]
    assert populated.status_code == 403  # local=true reads the record: system/Patient.r


@pytest.mark.parametrize(
    ("case", "make", "status", "error"),
    [
        ("unknown client", lambda live: assertion(live, iss="nobody", sub="nobody"), 401, "invalid_client"),
        ("signed by another key", lambda live: assertion(live, key=STRANGER), 401, "invalid_client"),
        (
            "meant for another server",
            lambda live: assertion(live, aud="https://elsewhere.invalid/token"),
            401,
            "invalid_client",
        ),
        ("sub is not the client", lambda live: assertion(live, sub="someone-else"), 401, "invalid_client"),
        ("expired", lambda live: assertion(live, exp=int(time.time()) - 600), 401, "invalid_client"),
        ("valid for an hour", lambda live: assertion(live, exp=int(time.time()) + 3600), 401, "invalid_client"),
        ("no jti", lambda live: assertion(live, jti=None), 401, "invalid_client"),
        ("no kid in its header", lambda live: assertion(live, kid=None), 401, "invalid_client"),
        ("not a JWT", lambda live: "not-a-jwt", 401, "invalid_client"),
    ],
)
def test_bad_client_assertions_are_refused(live, case, make, status, error):
    r = token_request(live, make(live))
    assert (r.status_code, r.json()["error"]) == (status, error), case
    assert r.headers["Cache-Control"] == "no-store"


def test_a_replayed_assertion_is_refused(live):
    signed = assertion(live)
    assert token_request(live, signed).status_code == 200
    r = token_request(live, signed)
    assert r.status_code == 401 and "used before" in r.json()["error_description"]


def test_wrong_grant_or_scope(live):
    assert (
        token_request(live, assertion(live), grant_type="authorization_code").json()["error"]
        == "unsupported_grant_type"
    )
    r = token_request(live, assertion(live), scope="system/Patient.cruds")  # not registered for this client
    assert (r.status_code, r.json()["error"]) == (400, "invalid_scope")
    r = token_request(live, assertion(live), scope="system/QuestionnaireResponse.c system/*.*")
    assert r.status_code == 200 and r.json()["scope"] == "system/QuestionnaireResponse.c"  # only what is registered


def test_an_expired_access_token_is_refused(live):
    token = token_request(live, assertion(live)).json()["access_token"]
    headers = {**FHIR_JSON, "Authorization": f"Bearer {token}"}
    assert (
        requests.post(
            f"{live.base}/fhir/QuestionnaireResponse/$extract", json=make_qr(), headers=headers, timeout=10
        ).status_code
        == 200
    )
    live.extensions["ks"].api_auth.purge(now=time.time() + 301)  # the token's 300 s are over
    r = requests.post(f"{live.base}/fhir/QuestionnaireResponse/$validate", json=make_qr(), headers=headers, timeout=10)
    assert r.status_code == 401


def test_wrong_credentials_fail_at_the_client_with_a_clear_error(live):
    with pytest.raises(FhirAuthError, match="invalid_client"):
        his(live, key=STRANGER).access_token()


def test_production_needs_a_clients_file_or_an_explicit_open_api(tmp_path):
    secret = secrets.token_urlsafe(48)
    with pytest.raises(SettingsInvalid, match="KS_API_CLIENTS_FILE"):
        create_app({"env": "production", "secret_key": secret, "data_dir": tmp_path})
    registry = tmp_path / "ehr-registry.yaml"
    registry.write_text(
        yaml.safe_dump(
            {
                "ehrs": [
                    {
                        "id": "his",
                        "name": "HIS",
                        "iss": "https://his.example/fhir",
                        "client_id": "ks",
                        "client_auth": {"method": "public"},
                        "id_token_issuer": "https://his.example/auth",
                        "practices": [
                            {
                                "id": "p",
                                "name": "P",
                                "agb": "01000001",
                                "ura": "90000001",
                                "region": "maastricht-heuvelland",
                            }
                        ],
                    }
                ]
            }
        )
    )
    create_app(
        {
            "env": "production",
            "secret_key": secret,
            "data_dir": tmp_path,
            "api_auth": "none",
            "TESTING": True,
            "ehr_registry": registry,
        }
    )


def test_a_broken_clients_file_names_every_problem(tmp_path):
    path = tmp_path / "clients.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "clients": [
                    {"client_id": "a", "scope": "system/QuestionnaireResponse.c"},  # no keys
                    {
                        "client_id": "b",
                        "scope": "system/QuestionnaireResponse.c",
                        "jwks": {"keys": [RSA.as_dict(private=True)]},
                    },
                ]
            }
        )
    )
    with pytest.raises(ApiClientsInvalid) as caught:
        load_clients(path)
    assert "/clients/0" in str(caught.value)
    path.write_text(
        yaml.safe_dump(
            {
                "clients": [
                    {
                        "client_id": "b",
                        "scope": "system/QuestionnaireResponse.c",
                        "jwks": {"keys": [RSA.as_dict(private=True)]},
                    }
                ]
            }
        )
    )
    with pytest.raises(ApiClientsInvalid, match="private key"):
        load_clients(path)


def test_the_example_clients_file_loads():
    from pathlib import Path

    clients = load_clients(Path(__file__).resolve().parents[2] / "examples" / "api-clients.yaml")
    assert set(clients) == {"example-his", "example-form-filler"}


def test_an_his_client_speaks_for_the_practice_the_registry_names(tmp_path):
    """An HIS registered for one practice: its referrals name that practice as requester and follow its region's
    rules, whatever the request says; a client naming a practice the registry does not hold stops start-up."""
    from service.demo import PRACTICE_NAME
    from tests.web.helpers import registry_file

    registry = registry_file(tmp_path / "deploy", "http://127.0.0.1:9/fhir", region="voorbeeldstad")
    clients = tmp_path / "clients.yaml"
    clients.write_text(
        yaml.safe_dump(
            {
                "clients": [
                    {
                        "client_id": "his-demo",
                        "jwks": _public(RSA),
                        "practice": "demo-practice",
                        "scope": "system/QuestionnaireResponse.c",
                    }
                ]
            }
        )
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(
        {
            "TESTING": True,
            "data_dir": tmp_path / "data",
            "public_url": base,
            "api_auth": "backend-services",
            "api_clients_file": clients,
            "ehr_registry": registry,
        }
    )
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        app.base = base
        qr = make_qr(signals=("homeless", "single-mother", "financial-problems"), identifier="his-practice-1")
        r = requests.post(
            f"{base}/fhir/QuestionnaireResponse/$submit?region=maastricht-heuvelland",
            json=qr,
            auth=his(app),
            timeout=10,
        )
        params = r.json()["parameter"]
        names = [
            next(x["valueString"] for x in p["part"] if x["name"] == "name")
            for p in params
            if p["name"] == "destination"
        ]
        assert (
            set(names) <= {"centrum-jong-voorbeeldstad", "verloskundigen-voorbeeldstad"} and names
        )  # the practice's region
        [record] = [p["resource"] for p in params if p["name"] == "record"]
        srs = [e["resource"] for e in record["entry"] if e["resource"]["resourceType"] == "ServiceRequest"]
        assert srs and all(sr["requester"] == {"reference": "#requester", "display": PRACTICE_NAME} for sr in srs)
        # the dry runs too: the practice's region's rules and Bundles, whatever the request asks
        evaluated = requests.post(
            f"{base}/fhir/QuestionnaireResponse/$evaluate?region=maastricht-heuvelland",
            json=qr,
            auth=his(app),
            timeout=10,
        ).json()
        [ruleset] = [p["valueString"] for p in evaluated["parameter"] if p["name"] == "ruleset"]
        assert ruleset.startswith("voorbeeldstad|")
        extracted = requests.post(
            f"{base}/fhir/QuestionnaireResponse/$extract?region=maastricht-heuvelland",
            json=qr,
            auth=his(app),
            timeout=10,
        ).json()
        tags = {t["code"] for e in extracted["entry"] for t in e["resource"].get("meta", {}).get("tag", [])}
        assert tags and tags <= {"centrum-jong-voorbeeldstad", "verloskundigen-voorbeeldstad"}
    finally:
        server.shutdown()
    clients.write_text(
        yaml.safe_dump(
            {
                "clients": [
                    {
                        "client_id": "his-demo",
                        "jwks": _public(RSA),
                        "practice": "elsewhere",
                        "scope": "system/QuestionnaireResponse.c",
                    }
                ]
            }
        )
    )
    with pytest.raises(SettingsInvalid, match="practice 'elsewhere' is not"):
        create_app(
            {
                "TESTING": True,
                "data_dir": tmp_path / "data2",
                "api_auth": "backend-services",
                "api_clients_file": clients,
                "ehr_registry": registry,
            }
        )


def test_a_submitted_response_is_readable_by_its_submitter_only(live):
    """Last in this module: its submission would be one more in the audit the tests above count."""
    qr = make_qr(signals=("homeless",), identifier="auth-read-1")
    with FhirClient(f"{live.base}/fhir", auth=his(live)) as client:
        created = client.session.post(f"{live.base}/fhir/QuestionnaireResponse", json=qr, headers=FHIR_JSON, timeout=30)
        assert created.status_code == 201, created.text
        location = created.headers["Location"]
        read = client.session.get(location, timeout=10)
        status = client.session.get(created.headers["Link"].split(">")[0][1:], timeout=10)
    assert read.status_code == 200 and read.json() == created.json()
    assert status.status_code == 200 and status.json()["resourceType"] == "Parameters"
    other = his(live, "form-filler", EC, "ES384", scope="system/QuestionnaireResponse.read")
    with FhirClient(f"{live.base}/fhir", auth=other) as client:
        assert client.session.get(location, timeout=10).status_code == 404  # another client's: not there for it
        rid = created.json()["id"]
        assert client.session.get(f"{live.base}/fhir/QuestionnaireResponse/{rid}/$referral-status").status_code == 404
    assert requests.get(location, timeout=10).status_code == 401


def test_another_client_with_the_same_identifier_makes_its_own_submission_and_learns_nothing(live):
    """The submission is the caller's: the same QuestionnaireResponse.identifier from another client is a new
    submission, not a resubmission of one it did not make — no version of the first's response, none of its ids, and
    no flag of its referral (each client without a practice has its own scope in the record of referrals made)."""
    qr = make_qr(signals=("homeless",), identifier="shared-identifier-1")
    first = requests.post(f"{live.base}/fhir/QuestionnaireResponse/$submit", json=qr, auth=his(live), timeout=30)
    assert first.status_code == 201, first.text
    other = his(live, "his-other", scope="system/QuestionnaireResponse.c system/QuestionnaireResponse.r")
    looked = requests.post(f"{live.base}/fhir/QuestionnaireResponse/$evaluate", json=qr, auth=other, timeout=30)
    assert looked.status_code == 200 and "al een verwijzing" not in looked.text
    second = requests.post(f"{live.base}/fhir/QuestionnaireResponse/$submit", json=qr, auth=other, timeout=30)
    assert second.status_code == 201, second.text

    def submission(r):
        return next(p["valueString"] for p in r.json()["parameter"] if p["name"] == "submission")

    assert submission(second) != submission(first) and submission(first) not in second.text
    mine = requests.get(first.headers["Location"], auth=his(live), timeout=10)
    assert mine.status_code == 200 and mine.json()["meta"]["versionId"] == "1"
    # the other client's read of the first's response: a 404, and a refused access in the audit log (NEN 7513)
    before = len(live.extensions["ks"].delivery.audit.entries())
    assert requests.get(first.headers["Location"], auth=other, timeout=10).status_code == 404
    [refused] = live.extensions["ks"].delivery.audit.entries()[before:]
    assert (
        refused["outcome"] == "4"
        and refused["who"] == "api-client/his-other"
        and "not this caller's" in refused["object"]
    )
    assert refused["patient"] or refused["patient_identifier"]


def test_a_response_a_client_submitted_before_submissions_were_its_own_stays_the_same_submission(live):
    """Upgrading: what a client submitted under the id made from the response alone (before this version) is
    still that submission when it submits the response again (no second referral); new ones are its own."""
    from service.referrals.bundle import submission_id

    qr = make_qr(signals=("homeless",), identifier="from-before-1")
    legacy = submission_id(qr)
    live.extensions["ks"].responses.put(legacy, qr, "api-client/his-demo", {"region": None})
    r = requests.post(f"{live.base}/fhir/QuestionnaireResponse/$submit", json=qr, auth=his(live), timeout=30)
    assert r.status_code in (200, 201), r.text
    assert next(p["valueString"] for p in r.json()["parameter"] if p["name"] == "submission") == legacy
    fresh = make_qr(signals=("homeless",), identifier="from-now-1")
    r = requests.post(f"{live.base}/fhir/QuestionnaireResponse/$submit", json=fresh, auth=his(live), timeout=30)
    assert next(p["valueString"] for p in r.json()["parameter"] if p["name"] == "submission") != submission_id(fresh)
