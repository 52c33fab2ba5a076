"""The sandbox's OpenID Connect provider (KS_SANDBOX=1) for the inbox's sign-in in `make run` and the tests:
demo coordinators (service/demo DEMO_COORDINATORS) sign in to /inbox as a recipient's own identity provider
would let them. Under /sandbox/idp (the issuer):

- /.well-known/openid-configuration: OpenID Connect Discovery 1.0 §4;
- /authorize: a pick-a-user page, then the authorization code (authlib's authorization server, PKCE S256
  required, as the sandbox EHR's);
- /token: the code for an access token and an id_token (Core §2: iss, sub, aud = client_id, exp, iat, nonce,
  name, email), RS256-signed with the sandbox's key (service/sandbox/views.py State.key);
- /jwks: that key's public half.
Codes are kept in the sandbox's store (service/db); for demos and tests, not for production.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, field

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from flask import Blueprint, Flask, current_app, jsonify, render_template, request, url_for
from joserfc import jwt

from service.db import database_for
from service.demo import DEMO_COORDINATORS
from service.registry import SANDBOX_INBOX_CLIENT_ID
from service.sandbox.views import AuthorizationCodeMixin, CodeGrant, S256Challenge, SandboxClient, _state
from service.services import services
from service.storage import ExpiringRecords
from service.texts import text

sandbox_idp = Blueprint("sandbox_idp", __name__, url_prefix="/sandbox/idp")
ID_TOKEN_LIFETIME = 600


@dataclass
class IdpUser:
    sub: str
    nonce: str | None = None

    def get_user_id(self) -> str:
        return self.sub


@dataclass
class IdpCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    sub: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float = field(default_factory=lambda: time.time() + 300)


@dataclass(eq=False)
class Idp:
    server: AuthorizationServer
    codes: ExpiringRecords
    client: SandboxClient

    def purge(self, now: float | None = None) -> int:
        return self.codes.purge(now)


def _idp() -> Idp:
    idp = services().sandbox_idp
    assert isinstance(idp, Idp)  # init_app sets it before any route runs
    return idp


def issuer() -> str:
    return current_app.config["KS_SETTINGS"].public_url.rstrip("/") + "/sandbox/idp"


class IdpCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CodeGrant.TOKEN_ENDPOINT_AUTH_METHODS

    def save_authorization_code(self, code, req):
        data = req.payload.data
        record = IdpCode(
            code=code,
            client_id=req.client.get_client_id(),
            redirect_uri=req.payload.redirect_uri,
            scope=req.payload.scope or "",
            sub=req.user.sub,
            nonce=req.user.nonce,
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        )
        _idp().codes.put("code", code, asdict(record), record.expires_at - time.time())

    def query_authorization_code(self, code, client):
        data = _idp().codes.get("code", code)
        item = IdpCode(**data) if data else None
        return item if item and item.client_id == client.get_client_id() and not item.is_expired() else None

    def delete_authorization_code(self, authorization_code):
        _idp().codes.delete("code", authorization_code.code)

    def authenticate_user(self, authorization_code):
        return IdpUser(sub=authorization_code.sub, nonce=authorization_code.nonce)


def _generate_token(grant_type, client, user=None, scope=None, expires_in=None, include_refresh_token=True):
    """An access token (for nothing: the provider has no userinfo endpoint) and the id_token."""
    person = DEMO_COORDINATORS[user.sub]
    now = int(time.time())
    claims = {
        "iss": issuer(),
        "sub": user.sub,
        "aud": client.get_client_id(),
        "iat": now,
        "exp": now + ID_TOKEN_LIFETIME,
        "name": person["name"],
        "email": person["email"],
    }
    if user.nonce:
        claims["nonce"] = user.nonce
    id_token = jwt.encode({"alg": "RS256", "kid": "sandbox-1", "typ": "JWT"}, claims, _state().key)
    return {
        "access_token": secrets.token_urlsafe(32),
        "token_type": "Bearer",
        "expires_in": ID_TOKEN_LIFETIME,
        "scope": scope or "",
        "id_token": id_token,
    }


def init_app(app: Flask) -> None:
    settings = app.config["KS_SETTINGS"]
    client = SandboxClient(SANDBOX_INBOX_CLIENT_ID, None, [settings.public_url.rstrip("/") + "/inbox/callback"])
    server = AuthorizationServer(
        app,
        query_client=lambda cid: client if cid == client.client_id else None,
        save_token=lambda token, req: None,  # nothing to keep: no userinfo, no refresh
    )
    server.register_token_generator("default", _generate_token)
    server.register_grant(IdpCodeGrant, [S256Challenge(required=True)])
    db = database_for(settings, "sandbox")
    db.upgrade("sandbox")
    codes = ExpiringRecords(db, "sandbox_idp_grant")
    services(app).sandbox_idp = Idp(server=server, codes=codes, client=client)


@sandbox_idp.get("/.well-known/openid-configuration")
def openid_configuration():
    base = issuer()
    return jsonify(
        {
            "issuer": base,
            "authorization_endpoint": base + "/authorize",
            "token_endpoint": base + "/token",
            "jwks_uri": base + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": ["none"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["iss", "sub", "aud", "iat", "exp", "nonce", "name", "email"],
        }
    )


@sandbox_idp.get("/authorize")
def authorize():
    """The request checked first (client, redirect_uri, PKCE challenge); then who signs in, picked by hand."""
    server = _idp().server
    try:
        server.get_consent_grant(end_user=None)
    except OAuth2Error as error:
        return server.handle_error_response(None, error)
    sub = request.args.get("user")
    if sub is None or sub not in DEMO_COORDINATORS:
        args = {k: v for k, v in request.args.items() if k != "user"}
        return render_template(
            "sandbox_idp_pick.html",
            users=DEMO_COORDINATORS,
            pick_url=lambda s: url_for("sandbox_idp.authorize", **args, user=s),
            error=text("sandbox.idp.unknown_user") if sub is not None else None,
        ), (400 if sub is not None else 200)
    user = IdpUser(sub=sub, nonce=request.args.get("nonce"))
    grant = server.get_consent_grant(end_user=user)
    return server.create_authorization_response(grant_user=user, grant=grant)


@sandbox_idp.post("/token")
def token():
    return _idp().server.create_token_response()


@sandbox_idp.get("/jwks")
def jwks():
    return jsonify({"keys": [_state().key.as_dict(private=False)]})
