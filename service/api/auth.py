"""Who may call the API: SMART Backend Services (https://hl7.org/fhir/smart-app-launch/backend-services.html).

An HIS or an SDC form filler is registered in KS_API_CLIENTS_FILE with its public keys (JWKS) and the
scopes it may have. It asks POST {KS_PUBLIC_URL}/auth/token for an access token with the
client_credentials grant, authenticated by a JWT it signs (RS384 or ES384); it then sends that token as
`Authorization: Bearer …` to the /fhir operations that carry patient data. Discovery:
GET /fhir/.well-known/smart-configuration.

Public without a token: the CapabilityStatement and the Questionnaires, CodeSystems, ValueSets and
ConceptMaps (the form definitions). Everything that reads or writes patient data needs a token with a
matching scope (SMART v2 `system/<Type>.<cruds>`; v1 `.read`/`.write`/`.*` accepted):

  POST /fhir/QuestionnaireResponse               system/QuestionnaireResponse.c
  $validate, $evaluate, $extract                 system/QuestionnaireResponse.c or .r
  Questionnaire/$populate                        system/Questionnaire.r; with local=true also system/Patient.r

With KS_API_AUTH=none (the default in development) the API is open, as for `make run` on loopback;
production defaults to backend-services and refuses to start without a clients file.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from flask import Blueprint, current_app, g, jsonify, request

from service.audit import ANONYMOUS, AuditEntry
from service.config import SettingsInvalid
from service.db import Database, as_database, database_for
from service.db.schema import STORE_FILES
from service.errors import KsError, NotFound, required
from service.services import services
from service.storage import ExpiringRecords
from service.texts import texts

if TYPE_CHECKING:
    from joserfc.jwk import KeySet  # joserfc is imported where a key or a token is read (start-up time)

auth_api = Blueprint("auth_api", __name__)
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS384", "ES384")  # the two SMART Backend Services servers SHALL support
MAX_ASSERTION_LIFETIME = 300  # "exp … no more than five minutes in the future"
CLOCK_SKEW = 60
SCOPE_ACTIONS = {"read": "rs", "write": "cud", "*": "cruds"}  # SMART v1 -> v2 letters


class ApiClientsInvalid(SettingsInvalid):
    """The clients file: every problem in one message (a settings problem: the service does not start)."""


@dataclass(frozen=True)
class ApiClient:
    client_id: str
    name: str
    keys: KeySet
    scopes: frozenset[str]
    practice: str | None = None  # the practice (in KS_EHR_REGISTRY) its referrals speak for: an HIS of one practice


CLIENTS_SCHEMA = {
    "type": "object",
    "required": ["clients"],
    "additionalProperties": False,
    "properties": {
        "clients": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["client_id", "scope"],
                "additionalProperties": False,
                "properties": {
                    "client_id": {"type": "string", "pattern": "^[A-Za-z0-9._~-]{1,128}$"},
                    "name": {"type": "string"},
                    "scope": {"type": "string", "minLength": 1},
                    "jwks": {"type": "object", "required": ["keys"]},
                    "jwks_file": {"type": "string"},
                    "practice": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
                },
                "oneOf": [{"required": ["jwks"]}, {"required": ["jwks_file"]}],
            },
        }
    },
}


def load_clients(path: Path) -> dict[str, ApiClient]:
    """The registered API clients; ApiClientsInvalid naming every problem."""
    import jsonschema
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ApiClientsInvalid(f"{path}: cannot be read: {exc}") from None
    problems = [
        f"{path}: /{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft202012Validator(CLIENTS_SCHEMA).iter_errors(data)
    ]
    if problems:
        raise ApiClientsInvalid("\n".join(problems))
    clients: dict[str, ApiClient] = {}
    for i, entry in enumerate(data["clients"]):
        where = f"{path}: /clients/{i}"
        if entry["client_id"] in clients:
            problems.append(f"{where}/client_id: {entry['client_id']!r} is registered twice")
            continue
        try:
            jwks = entry.get("jwks") or json.loads((Path(path).parent / entry["jwks_file"]).read_text(encoding="utf-8"))
            keys = KeySet.import_key_set(jwks)
        except (OSError, ValueError, JoseError) as exc:
            problems.append(f"{where}: its keys cannot be read: {exc}")
            continue
        if any(k.is_private for k in keys.keys):
            problems.append(f"{where}: the JWKS holds a private key; register only the public keys")
            continue
        clients[entry["client_id"]] = ApiClient(
            entry["client_id"],
            entry.get("name") or entry["client_id"],
            keys,
            frozenset(entry["scope"].split()),
            entry.get("practice"),
        )
    if problems:
        raise ApiClientsInvalid("\n".join(problems))
    return clients


class ApiAuth:
    """Registered clients, and the tokens and assertion ids seen, on the storage layer (service/db; shared by
    every worker and instance). `where`: its Database, or the folder of its SQLite file."""

    def __init__(self, clients: dict[str, ApiClient], where: Path | Database, token_lifetime: int = 300):
        self.clients = clients
        self.token_lifetime = token_lifetime
        db = where if isinstance(where, Database) else as_database(Path(where) / STORE_FILES["api_auth"][0])
        db.upgrade("api_auth")
        self._records = ExpiringRecords(db, "api_grant")

    def issue(self, client: ApiClient, scope: str) -> dict:
        token = secrets.token_urlsafe(32)
        self._records.put("token", token, {"client_id": client.client_id, "scope": scope}, self.token_lifetime)
        return {"access_token": token, "token_type": "bearer", "expires_in": self.token_lifetime, "scope": scope}

    def token(self, token: str | None) -> dict | None:
        return self._records.get("token", token)

    def first_use(self, client_id: str, jti: str, lifetime: float) -> bool:
        return self._records.add_once("jti", f"{client_id}|{jti}", lifetime)

    def purge(self, now: float | None = None) -> int:
        return self._records.purge(now)


def token_endpoint_url() -> str:
    return current_app.config["KS_SETTINGS"].public_url.rstrip("/") + "/auth/token"


def _oauth_error(error: str, description: str, status: int = 400):
    """RFC 6749 §5.2."""
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _granted(scopes: frozenset[str], resource: str, letters: str) -> bool:
    """Whether any scope grants one of `letters` (c, r, u, d, s) on `resource`."""
    for scope in scopes:
        context, _, rest = scope.partition("/")
        rtype, _, perms = rest.partition(".")
        if context != "system" or rtype not in (resource, "*") or "?" in perms:
            continue  # only system scopes here; constrained v2 scopes (…?category=…) grant nothing wider
        allowed = SCOPE_ACTIONS.get(perms, perms if set(perms) <= set("cruds") else "")
        if any(letter in allowed for letter in letters):
            return True
    return False


@auth_api.post("/auth/token")
def token():
    """SMART Backend Services token request (client_credentials, private_key_jwt)."""
    from joserfc import jwt
    from joserfc.errors import JoseError

    auth: ApiAuth | None = services().api_auth
    if auth is None:
        return _oauth_error("invalid_request", "This service does not issue tokens (KS_API_AUTH=none).", 404)
    form = request.form
    if form.get("grant_type") != "client_credentials":
        return _oauth_error("unsupported_grant_type", "Only grant_type=client_credentials is supported.")
    if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE or not form.get("client_assertion"):
        return _oauth_error(
            "invalid_request", f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}, with a client_assertion."
        )
    if not form.get("scope"):
        return _oauth_error("invalid_request", "scope is required.")
    assertion = form["client_assertion"]
    try:
        unverified = json.loads(_b64(assertion.split(".")[1]))
        client = auth.clients.get(unverified.get("iss")) if isinstance(unverified, dict) else None
    except (IndexError, ValueError):
        client = None
    if client is None:
        return _oauth_error("invalid_client", "Unknown client or unreadable client_assertion.", 401)
    try:
        header = json.loads(_b64(assertion.split(".")[0]))
        if header.get("alg") not in ALGORITHMS:
            raise JoseError(f"alg must be one of {', '.join(ALGORITHMS)}")
        if not isinstance(header.get("kid"), str) or not header["kid"]:
            # SMART Backend Services, "Authentication JWT Header Values": kid is required
            raise JoseError("the header's kid is required")
        claims = dict(jwt.decode(assertion, client.keys, algorithms=list(ALGORITHMS)).claims)
        jwt.JWTClaimsRegistry(
            leeway=CLOCK_SKEW,
            iss={"essential": True, "value": client.client_id},
            sub={"essential": True, "value": client.client_id},
            aud={"essential": True, "value": token_endpoint_url()},
            exp={"essential": True},
            jti={"essential": True},
        ).validate(claims)
        if claims["exp"] > time.time() + MAX_ASSERTION_LIFETIME + CLOCK_SKEW:
            raise JoseError("exp is more than five minutes ahead")
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        return _oauth_error("invalid_client", f"The client_assertion was not accepted: {exc}", 401)
    if not auth.first_use(client.client_id, str(claims["jti"]), MAX_ASSERTION_LIFETIME + 2 * CLOCK_SKEW):
        return _oauth_error("invalid_client", "This client_assertion (jti) was used before.", 401)
    asked = form["scope"].split()
    scope = " ".join(s for s in asked if s in client.scopes)
    if not scope:
        return _oauth_error("invalid_scope", "None of the requested scopes is allowed for this client.")
    answer = jsonify(auth.issue(client, scope))
    answer.headers["Cache-Control"] = "no-store"
    return answer


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@auth_api.get("/fhir/.well-known/smart-configuration")
def smart_configuration():
    if services().api_auth is None:  # under /fhir: a FHIR error, an OperationOutcome (not RFC 6749's JSON)
        raise NotFound(texts("api.open"))
    scopes = [
        "system/Patient.r",
        "system/Questionnaire.r",
        "system/QuestionnaireResponse.c",
        "system/QuestionnaireResponse.r",
        "system/MeasureReport.r",  # the mirror figures (service/api/measures.py)
    ]
    return jsonify(
        {
            "token_endpoint": token_endpoint_url(),
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
            "grant_types_supported": ["client_credentials"],
            "scopes_supported": scopes,
            # REQUIRED by SMART App Launch 2.x (conformance.html#metadata), S256 included and never plain; this
            # server has no authorization endpoint (Backend Services only), so no code grant uses it.
            "code_challenge_methods_supported": ["S256"],
            "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
        }
    )


class Unauthorized(KsError):
    status_code, issue_code = 401, "login"

    def response_headers(self) -> dict[str, str]:  # RFC 6750 §3
        return {"WWW-Authenticate": 'Bearer realm="kansrijke-start", error="invalid_token"'}


class Forbidden(KsError):
    status_code, issue_code = 403, "forbidden"

    def response_headers(self) -> dict[str, str]:  # RFC 6750 §3
        return {"WWW-Authenticate": 'Bearer realm="kansrijke-start", error="insufficient_scope"'}


def require(resource: str, letters: str) -> None:
    """In a /fhir view: the caller's token must grant one of `letters` on `resource` (no-op when the API is open)."""
    auth: ApiAuth | None = services().api_auth
    if auth is None:
        return
    grant = authenticated()
    scopes = frozenset(grant["scope"].split())
    if not _granted(scopes, resource, letters):
        wanted = " or ".join(f"system/{resource}.{letter}" for letter in letters)
        raise Forbidden(texts("api.forbidden_scope", wanted=wanted))


def authenticated() -> dict:
    """The bearer token's grant ({client_id, scope}); Unauthorized (401) without a valid one."""
    if "ks_api_grant" in g:
        return g.ks_api_grant
    auth = required(services().api_auth, "API authentication")  # set by init_app whenever the API requires it
    header = request.headers.get("Authorization", "")
    grant = auth.token(header[7:].strip()) if header[:7].lower() == "bearer " else None
    if grant is None:
        raise Unauthorized(texts("api.unauthorized", token_endpoint=token_endpoint_url()))
    g.ks_api_grant = grant
    return grant


def caller() -> str | None:
    """The authenticated API client ('api-client/<id>'), or None when the API is open."""
    if services().api_auth is None:
        return None
    return f"api-client/{authenticated()['client_id']}"


def audit_who() -> str:
    """For the audit log: the caller, or, when the API is open (KS_API_AUTH=none), 'anonymous': NEN 7513 asks
    who, and when nobody is authenticated the row says so (never the response's author, which is only claimed)."""
    return caller() or ANONYMOUS


def access_point() -> str:
    """For the audit log: where the call came from."""
    return f"api:{request.remote_addr or '-'}"


def audit_read(event: str, patient: str | None, identifier: str | None, what: str, outcome: str = "0") -> None:
    """One audit row for an API call that read patient data (`patient` by reference, `identifier` the BSN), or
    was refused it (`outcome` "4"): the caller as audit_who() says, from where access_point() says."""
    audit = services().delivery.audit
    if audit is None:
        return
    audit.record(
        AuditEntry(
            event=event,
            action="R",
            outcome=outcome,
            who=audit_who(),
            patient=patient,
            patient_identifier=identifier,
            object=what,
            access_point=access_point(),
        )
    )


def caller_practice():
    """The registered practice (service/registry.py) the authenticated API client speaks for, or None (an open API,
    or a client not tied to one practice: its referrals then name the response's author as requester)."""
    auth: ApiAuth | None = services().api_auth
    if auth is None:
        return None
    client = auth.clients.get(authenticated()["client_id"])
    return services().registry.find_practice(client.practice) if client and client.practice else None


def caller_region(asked: str | None) -> str | None:
    """The region whose rules apply to this call: for a client tied to a practice always its practice's, whatever
    the request asks (DESIGN.md "Trust": the practice a referral speaks for comes from the registry); else the
    request's `region` (None: the default region)."""
    practice = caller_practice()
    return practice.region if practice is not None else asked


def init_app(app) -> None:
    settings = app.config["KS_SETTINGS"]
    if settings.api_auth == "backend-services":
        clients = load_clients(settings.api_clients_file)
        registry = services(app).registry
        unknown = [
            f"{settings.api_clients_file}: client {c.client_id}: practice {c.practice!r} is not (once) in KS_EHR_REGISTRY"
            for c in clients.values()
            if c.practice and registry.find_practice(c.practice) is None
        ]
        if unknown:
            raise ApiClientsInvalid("\n".join(unknown))
        services(app).api_auth = ApiAuth(clients, database_for(settings, "api_auth"), settings.api_token_lifetime)
    # What the API's callers submitted, readable by them alone (the factory calls this init for the API).
    from service.api.responses import ResponseStore

    services(app).responses = ResponseStore(database_for(settings, "api_responses"))
    app.register_blueprint(auth_api)
