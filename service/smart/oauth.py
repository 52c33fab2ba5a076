"""SMART App Launch 2.x, the OAuth work of the app's side, as plain functions over a registered EHR (no Flask).

https://hl7.org/fhir/smart-app-launch/app-launch.html: discovery at {iss}/.well-known/smart-configuration,
authorize with PKCE S256, `state` and `aud`, the code exchanged at the token endpoint, refresh, and the
id_token checked as OpenID Connect Core 1.0 §3.1.3.7 asks.

Every call goes to a registered EHR only, and only to endpoints on the origins registered for it
(§"App protection": "Apps SHALL ensure that sensitive information (authentication secrets, authorization
codes, tokens) is transmitted ONLY to authenticated servers, over TLS-secured channels"). Redirects are
never followed: a discovery document, token or key set that moves elsewhere is refused, not chased. What
goes wrong on the network is logged for the operator and never shown to the user (an error page that
tells a closed port from an open one helps an attacker map the network).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from service.errors import Issue, KsError
from service.registry import RegisteredEhr, transport_ok
from service.texts import texts
from service.wellknown import TIMEOUT, DocumentUnavailable, TimedCache, get_json

log = logging.getLogger(__name__)
# JWS algorithms an id_token may be signed with: asymmetric only, verified against the EHR's published keys.
# `none` and the HMAC family (HS*) are refused: an HS256 token "signed" with a value the app also knows
# (its client_id, a secret) proves nothing about the EHR (RFC 8725 §3.1, §3.2).
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
CLOCK_SKEW = 60

# OAuth 2.0 / SMART error codes (RFC 6749 §4.1.2.1, §5.2) in plain words: their keys in service/texts.py.
OAUTH_ERRORS = {
    "access_denied": "smart.oauth.access_denied",
    "invalid_scope": "smart.oauth.invalid_scope",
    "invalid_request": "smart.oauth.invalid_request",
    "unauthorized_client": "smart.oauth.unauthorized_client",
    "unsupported_response_type": "smart.oauth.unsupported_response_type",
    "server_error": "smart.oauth.server_error",
    "temporarily_unavailable": "smart.oauth.temporarily_unavailable",
    "invalid_grant": "smart.oauth.invalid_grant",
    "invalid_client": "smart.oauth.invalid_client",
}


class LaunchError(KsError):
    """A launch that cannot go on: Dutch and English texts for the user, an HTTP status, and optionally the
    authorization server's own words (never anything about our network). Rendered as smart_error.html."""

    issue_code = "processing"
    page = "smart_error.html"

    def __init__(self, nl: str, en: str, status: int = 400, detail: str | None = None):
        super().__init__(en, issues=[Issue(code=self.issue_code, text=nl, english=en)])
        self.text = nl
        self.nl, self.en, self.status, self.detail = nl, en, status, detail
        self.status_code = status

    def page_context(self) -> dict:
        return {"nl": self.nl, "en": self.en, "detail": self.detail}


@dataclass(frozen=True)
class SmartConfiguration:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str | None


_discovery: TimedCache[SmartConfiguration] = TimedCache()


def _get_json(url: str, what: str, ehr: RegisteredEhr) -> dict:
    """GET a JSON document from a registered EHR (wellknown.get_json); failures logged, not shown."""
    try:
        return get_json(url)
    except DocumentUnavailable as exc:
        log.warning("SMART %s of EHR %s failed: %s", what, ehr.id, exc)
        raise LaunchError(*texts("smart.unreachable"), status=502) from exc


def discover(ehr: RegisteredEhr, *, require_https: bool) -> SmartConfiguration:
    """{iss}/.well-known/smart-configuration of a registered EHR, its endpoints checked against the
    registration, cached a few minutes per EHR."""
    hit = _discovery.get((ehr.id, ehr.iss))
    if hit is not None:
        return hit
    body = _get_json(ehr.iss + "/.well-known/smart-configuration", "discovery", ehr)
    endpoints = {name: body.get(name) for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")}
    for name, url in endpoints.items():
        if url is None and name == "jwks_uri":
            continue
        if not isinstance(url, str) or not ehr.allows(url) or not transport_ok(url, require_https=require_https):
            log.warning("SMART discovery of EHR %s: %s is not on a registered origin (or not https)", ehr.id, name)
            raise LaunchError(*texts("smart.misconfigured"), status=502)
    if "S256" not in body.get("code_challenge_methods_supported", ["S256"]):
        raise LaunchError(*texts("smart.no_pkce"), status=502)
    config = SmartConfiguration(
        str(endpoints["authorization_endpoint"]), str(endpoints["token_endpoint"]), endpoints["jwks_uri"]
    )
    return _discovery.put((ehr.id, ehr.iss), config)


def forget_discovery() -> None:
    """Drop cached discovery documents (tests; a deployment whose EHR moved its endpoints)."""
    _discovery.clear()


def pkce_pair() -> tuple[str, str]:
    """RFC 7636 §4.1-4.2: a high-entropy verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(
    config: SmartConfiguration,
    ehr: RegisteredEhr,
    *,
    redirect_uri: str,
    scope: str,
    state: str,
    code_challenge: str,
    launch: str | None,
) -> str:
    """The authorization request (app-launch.html §"Obtain authorization code"); `aud` is the EHR's FHIR base."""
    params = {
        "response_type": "code",
        "client_id": ehr.client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "aud": ehr.iss,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    }
    if launch:
        params["launch"] = launch
    endpoint = config.authorization_endpoint
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)


def token_request(ehr: RegisteredEhr, token_endpoint: str, data: dict) -> dict:
    """POST to the EHR's token endpoint (found by discovery and checked against the registration), with the
    client authentication registered for this EHR: none (client_id in the body), client_secret_basic
    (client-confidential-symmetric) or private_key_jwt (client-confidential-asymmetric,
    https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html)."""
    import requests  # here, not at start-up

    from service.fhir.auth import CLIENT_ASSERTION_TYPE, sign_client_assertion

    if not ehr.allows(token_endpoint):  # never: discovery checked it; a second lock on the door with the secret
        raise LaunchError(*texts("smart.misconfigured"), status=502)
    auth = None
    form = dict(data)
    if ehr.auth.method == "client_secret_basic":
        auth = (ehr.client_id, ehr.auth.secret or "")
    elif ehr.auth.method == "private_key_jwt":
        form.update(
            client_assertion_type=CLIENT_ASSERTION_TYPE,
            client_assertion=sign_client_assertion(
                client_id=ehr.client_id,
                token_url=token_endpoint,
                private_key_pem=ehr.auth.private_key_pem or "",
                key_id=ehr.auth.key_id or "",
                alg=ehr.auth.alg,
            ),
        )
    else:
        form["client_id"] = ehr.client_id
    try:
        response = requests.post(
            token_endpoint,
            data=form,
            auth=auth,
            headers={"Accept": "application/json"},
            timeout=TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        log.warning("SMART token request to EHR %s failed: %s", ehr.id, type(exc).__name__)
        raise LaunchError(*texts("smart.token_unreachable"), status=502) from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status_code != 200 or not isinstance(body.get("access_token"), str):
        error, description = body.get("error"), body.get("error_description")
        code = error if isinstance(error, str) else "server_error"
        nl, en = texts(OAUTH_ERRORS.get(code, OAUTH_ERRORS["server_error"]))
        shown = description if isinstance(description, str) and description else code
        raise LaunchError(nl, en, 502 if response.status_code >= 500 else 400, shown[:300])
    return body


def id_token_claims(id_token: object, ehr: RegisteredEhr, jwks_uri: str | None, *, required: bool) -> dict:
    """The id_token's claims, checked as OpenID Connect Core 1.0 §3.1.3.7 asks: signed with an asymmetric
    algorithm by a key from the EHR's JWKS, `iss` the issuer registered for the EHR, `aud` naming our
    client_id, `exp` not passed and `iat` present (60 s leeway for clock skew). `required`: the app asked
    for `openid fhirUser`, so a token answer without an id_token is refused too."""
    if id_token is None and not required:
        return {}
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    if not isinstance(id_token, str) or not jwks_uri:
        log.warning(
            "SMART launch from EHR %s: %s", ehr.id, "no id_token" if not id_token else "no jwks_uri to verify it"
        )
        raise LaunchError(*texts("smart.identity"))
    try:
        keys = KeySet.import_key_set(_get_json(jwks_uri, "key set", ehr))  # type: ignore[arg-type]  # checked by joserfc
        token = jwt.decode(id_token, keys, algorithms=list(ID_TOKEN_ALGORITHMS))
        claims = dict(token.claims)
        jwt.JWTClaimsRegistry(
            leeway=CLOCK_SKEW,
            iss={"essential": True, "value": ehr.id_token_issuer},
            aud={"essential": True, "value": ehr.client_id},
            exp={"essential": True},
            iat={"essential": True},
        ).validate(claims)
        return claims
    except LaunchError:
        raise
    except (JoseError, ValueError, TypeError, KeyError) as exc:  # unreadable, unsigned, wrong key or claim: refuse
        log.warning("SMART launch from EHR %s: id_token refused (%s)", ehr.id, type(exc).__name__)
        raise LaunchError(*texts("smart.identity")) from exc
