"""Demo EHR for demos and tests, following the recorded launch in SMART-LAUNCH.md.

- /sandbox/launch: a picker (demo patient × user); ?patient=ID&user=ID EHR-launches the app exactly as
  an EHR does: GET {app}/launch?iss={sandbox FHIR base}&launch={opaque}.
- /sandbox/auth/authorize, /sandbox/auth/token, /sandbox/auth/jwks: an OAuth 2.0 authorization server
  built on authlib (authorization code with PKCE S256 required, refresh tokens), auto-approving like
  the official launcher and answering with the SMART launch context (patient, encounter,
  need_patient_banner, id_token with fhirUser).
- /sandbox/fhir: the FHIR base the app talks to; checks the bearer token and passes calls on to the
  configured FHIR server.
Launches, codes, tokens and the signing key are kept in a SQLite file under KS_DATA_DIR, so it also works
under a multi-process server; it is for demos and tests, not for production.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlencode

import requests
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Blueprint, Flask, Response, current_app, jsonify, redirect, render_template, request
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select

from service.db import Database, as_database, database_for
from service.db.schema import sandbox_key
from service.demo import DEMO_PATIENTS, DEMO_USERS
from service.errors import required
from service.fhir import urls
from service.services import services
from service.storage import ExpiringRecords
from service.texts import text

sandbox = Blueprint("sandbox", __name__, url_prefix="/sandbox")
ACCESS_TOKEN_LIFETIME = 3600
SCOPES = (
    "launch launch/patient openid fhirUser offline_access online_access patient/*.* patient/*.read patient/*.rs "
    "patient/*.cruds user/*.* user/*.read user/*.rs patient/Patient.r patient/Observation.rs patient/Condition.rs "
    "patient/QuestionnaireResponse.cu patient/ServiceRequest.cu user/PractitionerRole.r user/Practitioner.r"
)


@dataclass
class SandboxUser:
    user_id: str  # PractitionerRole id
    patient: str
    encounter: str | None = None

    def get_user_id(self) -> str:
        return self.user_id


@dataclass
class SandboxClient:
    client_id: str
    client_secret: str | None
    redirect_uris: list[str]

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope):
        return scope  # like the official launcher: whatever the app asks for

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return self.client_secret is not None and secrets.compare_digest(self.client_secret, client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        if self.client_secret:
            return method in ("client_secret_basic", "client_secret_post")
        return method == "none"

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in ("authorization_code", "refresh_token")


class AuthorizationCodeMixin:
    """What authlib asks of an authorization code (rfc6749 AuthorizationCodeMixin, PKCE's challenge): the SMART
    sandbox's codes and its OpenID provider's (idp.py) alike."""

    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_code_challenge(self):
        return self.code_challenge

    def get_code_challenge_method(self):
        return self.code_challenge_method

    def is_expired(self):
        return time.time() > self.expires_at


@dataclass
class AuthCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: SandboxUser
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float = field(default_factory=lambda: time.time() + 300)


@dataclass
class Token:
    client_id: str
    scope: str
    user: SandboxUser
    access_token: str
    refresh_token: str | None
    expires_at: float

    def check_client(self, client):
        return client.get_client_id() == self.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return int(self.expires_at - time.time())

    def is_expired(self):
        return time.time() >= self.expires_at

    def is_revoked(self):
        return False  # a revoked token is deleted (RefreshGrant.revoke_old_credential), so never found


class State:
    """The sandbox's memory: launches, codes, tokens and its id_token key, on the storage layer (service/db:
    sandbox.sqlite3 under KS_DATA_DIR, or the region's PostgreSQL), so that every worker of a multi-process server
    (gunicorn -w 2), and every instance, sees the same grants."""

    def __init__(self, where: Path | Database, clients: dict[str, SandboxClient], token_lifetime: int):
        self.clients = clients
        self.token_lifetime = token_lifetime
        db = as_database(where)
        db.upgrade("sandbox")
        self._records = ExpiringRecords(db, "sandbox_grant")
        # One key for all workers: the first to start stores it, the others read that one.
        fresh = RSAKey.generate_key(2048, parameters={"kid": "sandbox-1", "alg": "RS256", "use": "sig"})
        with db.begin() as conn:
            conn.execute(
                db.insert(sandbox_key)
                .values(id=1, jwk=json.dumps(fresh.as_dict(private=True)))
                .on_conflict_do_nothing(index_elements=["id"])
            )
            jwk = conn.execute(select(sandbox_key.c.jwk).where(sandbox_key.c.id == 1)).scalar_one()
        self.key = RSAKey.import_key(json.loads(jwk))

    def put(self, kind: str, key: str, record, lifetime: float) -> None:
        self._records.put(kind, key, asdict(record), lifetime)

    def get(self, kind: str, key: str | None):
        data = self._records.get(kind, key)
        return _RECORDS[kind](data) if data is not None else None

    def delete(self, kind: str, key: str | None) -> None:
        self._records.delete(kind, key)

    def purge(self, now: float | None = None) -> int:
        return self._records.purge(now)


def _user(data: dict) -> SandboxUser:
    return SandboxUser(**data)


_RECORDS = {
    "launch": _user,
    "code": lambda d: AuthCode(**{**d, "user": _user(d["user"])}),
    "access": lambda d: Token(**{**d, "user": _user(d["user"])}),
    "refresh": lambda d: Token(**{**d, "user": _user(d["user"])}),
}
LAUNCH_LIFETIME = 600
REFRESH_LIFETIME = 8 * 3600


def _state() -> State:
    return required(services().sandbox, "the sandbox EHR's state")  # init_app sets it before any route runs


def _public_url() -> str:
    """Where browsers and the app reach this service (KS_PUBLIC_URL), whichever worker or proxy answers."""
    return current_app.config["KS_SETTINGS"].public_url.rstrip("/")


def fhir_base() -> str:
    return _public_url() + "/sandbox/fhir"


def auth_base() -> str:
    return _public_url() + "/sandbox/auth"


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post", "none"]

    def save_authorization_code(self, code, req):
        data = req.payload.data
        record = AuthCode(
            code=code,
            client_id=req.client.get_client_id(),
            redirect_uri=req.payload.redirect_uri,
            scope=req.payload.scope or "",
            user=req.user,
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        )
        _state().put("code", code, record, record.expires_at - time.time())

    def query_authorization_code(self, code, client):
        item = _state().get("code", code)
        if item and item.client_id == client.get_client_id() and not item.is_expired():
            return item
        return None

    def delete_authorization_code(self, authorization_code):
        _state().delete("code", authorization_code.code)

    def authenticate_user(self, authorization_code):
        return authorization_code.user


class S256Challenge(CodeChallenge):
    """PKCE with S256 only (SMART App Launch v2), and a code that is burnt by a failed verifier."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"  # never reached: a challenge without a method is refused below

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        # RFC 7636 §4.3: a missing code_challenge_method means "plain", which the sandbox does not accept.
        if data.get("code_challenge") and not data.get("code_challenge_method"):
            raise InvalidRequestError("Unsupported 'code_challenge_method': only S256 is accepted")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        # authlib checks PKCE before it deletes the code, so a failed check would leave the code usable for
        # another guess. RFC 7636 §4.6 answers a wrong verifier with invalid_grant, and RFC 6749 §4.1.2 says
        # "the authorization code MUST NOT be used more than once": any redemption attempt, failed or not, burns it.
        try:
            super().validate_code_verifier(grant, result)
        except OAuth2Error:
            grant.delete_authorization_code(grant.request.authorization_code)
            raise


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        return _state().get("refresh", refresh_token)

    def authenticate_user(self, refresh_token):
        return refresh_token.user

    def revoke_old_credential(self, refresh_token):
        state = _state()  # a refresh token is used once; its access token ends with it
        state.delete("refresh", refresh_token.refresh_token)
        state.delete("access", refresh_token.access_token)


def _generate_token(grant_type, client, user=None, scope=None, expires_in=None, include_refresh_token=True):
    """Bearer token plus the SMART launch context (SMART-LAUNCH.md step 4)."""
    state = _state()
    scope = scope or ""
    token = {
        "access_token": secrets.token_urlsafe(32),
        "token_type": "Bearer",
        "expires_in": state.token_lifetime,
        "scope": scope,
        "patient": user.patient,
        "need_patient_banner": True,
        "smart_style_url": _public_url() + "/static/app.css",
    }
    if user.encounter:
        token["encounter"] = user.encounter
    if include_refresh_token and "offline_access" in scope.split():
        token["refresh_token"] = secrets.token_urlsafe(32)
    if "openid" in scope.split():
        now = int(time.time())
        claims = {
            "iss": auth_base(),
            "sub": user.user_id,
            "aud": client.get_client_id(),
            "iat": now,
            "exp": now + 3600,
            "fhirUser": f"{fhir_base()}/PractitionerRole/{user.user_id}",
        }
        token["id_token"] = jwt.encode({"alg": "RS256", "kid": "sandbox-1", "typ": "JWT"}, claims, state.key)
    return token


def _save_token(token: dict, req) -> None:
    state = _state()
    record = Token(
        client_id=req.client.get_client_id(),
        scope=token.get("scope", ""),
        user=req.user,
        access_token=token["access_token"],
        refresh_token=token.get("refresh_token"),
        expires_at=time.time() + token["expires_in"],
    )
    state.put("access", record.access_token, record, token["expires_in"])
    if record.refresh_token:
        state.put("refresh", record.refresh_token, record, REFRESH_LIFETIME)


def init_app(app: Flask) -> None:
    settings = app.config["KS_SETTINGS"]
    # authlib refuses plain http unless told otherwise: the sandbox runs on loopback for demos and tests.
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
    client = SandboxClient(
        settings.smart_client_id, settings.smart_client_secret, [settings.public_url.rstrip("/") + "/callback"]
    )
    services(app).sandbox = State(
        database_for(settings, "sandbox"),
        {client.client_id: client},
        int(app.config.get("SANDBOX_TOKEN_LIFETIME", ACCESS_TOKEN_LIFETIME)),
    )
    # the lambda defers: the state is per app and read inside a request
    server = AuthorizationServer(app, query_client=lambda cid: _state().clients.get(cid), save_token=_save_token)  # noqa: PLW0108
    server.register_token_generator("default", _generate_token)
    server.register_grant(CodeGrant, [S256Challenge(required=True)])
    server.register_grant(RefreshGrant)
    services(app).sandbox_server = server


# ------------------------------------------------------------------------------------------ the picker


@sandbox.get("/launch")
def launch_picker():
    patient, user = request.args.get("patient"), request.args.get("user")
    if patient and user:
        if patient not in DEMO_PATIENTS or user not in DEMO_USERS:
            return render_template(
                "sandbox_launch.html",
                patients=DEMO_PATIENTS,
                users=DEMO_USERS,
                error=text("sandbox.unknown_pick"),
            ), 400
        launch_id = secrets.token_urlsafe(16)
        _state().put(
            "launch",
            launch_id,
            SandboxUser(user_id=user, patient=patient, encounter=f"{patient}-consult"),
            LAUNCH_LIFETIME,
        )
        app_launch = current_app.config["KS_SETTINGS"].public_url.rstrip("/") + "/launch"
        return redirect(f"{app_launch}?{urlencode({'iss': fhir_base(), 'launch': launch_id})}")
    return render_template("sandbox_launch.html", patients=DEMO_PATIENTS, users=DEMO_USERS, error=None)


# --------------------------------------------------------------------------- the authorization server


def _oauth_error_redirect(error: str, description: str):
    uri, state = request.args.get("redirect_uri"), request.args.get("state")
    client = _state().clients.get(request.args.get("client_id", ""))
    if client and uri and client.check_redirect_uri(uri):
        return redirect(f"{uri}?{urlencode({'error': error, 'error_description': description, 'state': state or ''})}")
    return jsonify({"error": error, "error_description": description}), 400


@sandbox.get("/auth/authorize")
def authorize():
    if request.args.get("aud", "").rstrip("/") != fhir_base():
        return _oauth_error_redirect("invalid_request", "aud must be the FHIR base URL the app was launched with")
    launch_id = request.args.get("launch")
    if launch_id:
        user = _state().get("launch", launch_id)
        if user is None:
            return _oauth_error_redirect("invalid_request", "unknown launch")
    else:  # standalone launch: the demo GP with the first demo patient (the launcher would show a picker)
        user = SandboxUser(user_id="demo-gp", patient=next(iter(DEMO_PATIENTS)))
    server = services().sandbox_server
    try:
        grant = server.get_consent_grant(end_user=user)  # validates client, redirect_uri, scope, PKCE challenge
    except OAuth2Error as error:
        return server.handle_error_response(None, error)
    return server.create_authorization_response(grant_user=user, grant=grant)


@sandbox.post("/auth/token")
def token():
    return services().sandbox_server.create_token_response()


@sandbox.get("/auth/jwks")
def jwks():
    return jsonify({"keys": [_state().key.as_dict(private=False)]})


@sandbox.get("/auth/.well-known/openid-configuration")
def openid_configuration():
    """OpenID Connect Discovery 1.0 §4 at {issuer}/.well-known/openid-configuration: the id_token's `iss` is
    auth_base(), so this is where a client that relies on `sso-openid-connect` (SMART: "OpenID Connect …
    Discovery") finds the key the id_token is signed with."""
    return jsonify(
        {
            "issuer": auth_base(),
            "authorization_endpoint": auth_base() + "/authorize",
            "token_endpoint": auth_base() + "/token",
            "jwks_uri": auth_base() + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": SCOPES.split(),
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["iss", "sub", "aud", "iat", "exp", "fhirUser"],
        }
    )


# ------------------------------------------------------------------------------------ the FHIR base


@sandbox.get("/fhir/.well-known/smart-configuration")
def smart_configuration():
    return jsonify(
        {
            "issuer": auth_base(),
            "authorization_endpoint": auth_base() + "/authorize",
            "token_endpoint": auth_base() + "/token",
            "jwks_uri": auth_base() + "/jwks",
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "scopes_supported": SCOPES.split(),
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "capabilities": [
                "launch-ehr",
                "launch-standalone",
                "client-public",
                "client-confidential-symmetric",
                "context-ehr-patient",
                "context-ehr-encounter",
                "context-banner",
                "context-style",
                "permission-offline",
                "permission-patient",
                "permission-user",
                "permission-v1",
                "permission-v2",
                "sso-openid-connect",
            ],
        }
    )


def _outcome(status: int, code: str, text: str):
    response = jsonify(
        {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}
    )
    response.status_code = status
    response.mimetype = "application/fhir+json"
    return response


@sandbox.get("/fhir/metadata")
def metadata():
    upstream = current_app.config["KS_SETTINGS"].fhir_base_url
    try:
        body = requests.get(upstream.rstrip("/") + "/metadata", timeout=(3.05, 10)).json()
    except (requests.RequestException, ValueError):
        body = {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "date": "2026-11-23",
        }
    body.setdefault("rest", [{"mode": "server"}])
    body["rest"][0]["security"] = urls.smart_security(
        authorize=auth_base() + "/authorize", token=auth_base() + "/token"
    )
    response = jsonify(body)
    response.mimetype = "application/fhir+json"
    return response


@sandbox.post("/fhir", defaults={"path": ""})  # transactions and batches: POST [base]
@sandbox.route("/fhir/<path:path>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def fhir_proxy(path: str):
    header = request.headers.get("Authorization", "")
    token = _state().get("access", header[7:]) if header.startswith("Bearer ") else None
    if token is None or token.is_expired():
        response = _outcome(401, "login", "Missing, unknown or expired access token.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="sandbox", error="invalid_token"'
        return response
    upstream = current_app.config["KS_SETTINGS"].fhir_base_url.rstrip("/")
    try:
        answer = requests.request(
            request.method,
            f"{upstream}/{path}" if path else upstream,
            params=list(request.args.items(multi=True)),
            data=request.get_data(),
            headers={
                k: v
                for k, v in request.headers.items()
                if k.lower() in ("content-type", "accept", "prefer", "if-none-exist", "if-match")
            },
            timeout=(3.05, 30),
        )
    except requests.RequestException:
        return _outcome(502, "transient", "The FHIR server behind the sandbox is not reachable.")
    body = answer.content.replace(upstream.encode(), fhir_base().encode())
    return Response(
        body, status=answer.status_code, content_type=answer.headers.get("Content-Type", "application/fhir+json")
    )
