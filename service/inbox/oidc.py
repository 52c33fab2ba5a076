"""OpenID Connect sign-in at a registered identity provider, as plain functions (no Flask).

OpenID Connect Core 1.0 §3.1 (the authorization code flow) with PKCE S256 (RFC 7636), `state` and `nonce`;
the provider found by OpenID Connect Discovery 1.0 §4 at {issuer}/.well-known/openid-configuration, its
`issuer` the registered one exactly (§4.3); the authorization request and the code exchange by authlib's
client; the id_token checked as Core §3.1.3.7 asks (signature by a key of the provider's JWKS, `iss`, `aud`,
`azp`, `exp`, `iat`, `nonce`). As with the EHRs (service/smart/oauth.py), only registered providers are
contacted, only on their registered origins, redirects are never followed, and what goes wrong on the
network is logged for the operator, never shown to the user.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import asdict, dataclass

from service.errors import Issue, KsError
from service.registry import IdentityProvider, transport_ok
from service.texts import texts
from service.wellknown import TIMEOUT, DocumentUnavailable, TimedCache, get_json

log = logging.getLogger(__name__)
CLOCK_SKEW = 60
# Asymmetric only: `none` and HS* prove nothing about the provider (RFC 8725 §3.1, §3.2).
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


class InboxLoginError(KsError):
    """A refused sign-in: the catalogue's key (Dutch and English), an HTTP status, the reason for the audit log
    (a short code, never a claim's value), optionally the provider's own words. Rendered as inbox_error.html."""

    issue_code = "login"
    page = "inbox_error.html"
    who: str | None = None  # the user, when the provider said who they are (a refused unknown user)

    def __init__(self, key: str, reason: str, status: int = 400, detail: str | None = None):
        nl, en = texts(key)
        super().__init__(en, issues=[Issue(code=self.issue_code, text=nl, english=en)])
        self.nl, self.en, self.reason, self.detail = nl, en, reason, detail
        self.status_code = status

    def page_context(self) -> dict:
        return {"nl": self.nl, "en": self.en, "detail": self.detail}


@dataclass(frozen=True)
class ProviderConfig:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


_discovery: TimedCache[ProviderConfig] = TimedCache()


def _get_json(url: str, what: str, provider: IdentityProvider) -> dict:
    """GET a JSON document from a registered provider (wellknown.get_json); failures logged, not shown."""
    try:
        return get_json(url)
    except DocumentUnavailable as exc:
        log.warning("OIDC %s of provider %s failed: %s", what, provider.id, exc)
        raise InboxLoginError("inbox.unreachable", "unreachable", 502) from exc


def discover(provider: IdentityProvider, *, require_https: bool) -> ProviderConfig:
    """The provider's discovery document, its issuer and endpoints checked against the registration; cached a
    few minutes per provider."""
    hit = _discovery.get((provider.id, provider.issuer))
    if hit is not None:
        return hit
    body = _get_json(provider.issuer.rstrip("/") + "/.well-known/openid-configuration", "discovery", provider)
    endpoints = {name: body.get(name) for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")}
    wrong = [
        name
        for name, url in endpoints.items()
        if not provider.allows(url) or not transport_ok(str(url), require_https=require_https)
    ]
    if body.get("issuer") != provider.issuer or wrong:  # Discovery §4.3: "MUST be identical"
        log.warning("OIDC discovery of provider %s: issuer or %s not as registered", provider.id, wrong or "-")
        raise InboxLoginError("inbox.misconfigured", "discovery", 502)
    if "S256" not in body.get("code_challenge_methods_supported", ["S256"]):
        raise InboxLoginError("inbox.misconfigured", "no-pkce", 502)
    config = ProviderConfig(*(str(endpoints[n]) for n in ("authorization_endpoint", "token_endpoint", "jwks_uri")))
    return _discovery.put((provider.id, provider.issuer), config)


def forget_discovery() -> None:
    """Drop cached discovery documents (tests; a provider that moved its endpoints)."""
    _discovery.clear()


def _client(provider: IdentityProvider, redirect_uri: str):
    from authlib.integrations.requests_client import OAuth2Session

    method = "client_secret_basic" if provider.auth.method == "client_secret_basic" else "none"
    return OAuth2Session(
        provider.client_id,
        provider.auth.secret if method == "client_secret_basic" else None,
        scope=provider.scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=method,
    )


def authorization(provider: IdentityProvider, config: ProviderConfig, redirect_uri: str) -> tuple[str, str, dict]:
    """(the authorization request's URL, its state, what the callback needs: kept server-side under the state)
    — Core §3.1.2.1 with `nonce` (§15.5.2) and PKCE S256 (RFC 7636 §4.1-4.3)."""
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    with _client(provider, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            config.authorization_endpoint, state=state, nonce=nonce, code_verifier=verifier
        )
    pending = {"provider": provider.id, "nonce": nonce, "verifier": verifier, "config": asdict(config)}
    return url, state, pending


def exchange(provider: IdentityProvider, config: ProviderConfig, code: str, verifier: str, redirect_uri: str) -> dict:
    """The code for tokens at the provider's token endpoint (Core §3.1.3.1), with the registered client
    authentication (none, client_secret_basic, or a private_key_jwt assertion, RFC 7523 §2.2)."""
    import requests
    from authlib.integrations.base_client import OAuthError

    extra: dict[str, str] = {}
    if provider.auth.method == "private_key_jwt":
        from service.fhir.auth import CLIENT_ASSERTION_TYPE, sign_client_assertion

        extra = {
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": sign_client_assertion(
                client_id=provider.client_id,
                token_url=config.token_endpoint,
                private_key_pem=provider.auth.private_key_pem or "",
                key_id=provider.auth.key_id or "",
                alg=provider.auth.alg,
            ),
        }
    try:
        with _client(provider, redirect_uri) as client:
            token = client.fetch_token(
                config.token_endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=verifier,
                timeout=TIMEOUT,
                allow_redirects=False,
                **extra,
            )
    except OAuthError as exc:
        log.warning("OIDC token request to provider %s refused: %s", provider.id, exc.error)
        raise InboxLoginError("inbox.refused_by_provider", "token-refused", 400, str(exc.error)[:100]) from exc
    except (requests.RequestException, ValueError) as exc:
        log.warning("OIDC token request to provider %s failed: %s", provider.id, type(exc).__name__)
        raise InboxLoginError("inbox.unreachable", "unreachable", 502) from exc
    return dict(token)


def id_token_claims(provider: IdentityProvider, config: ProviderConfig, id_token: object, nonce: str) -> dict:
    """The id_token's claims, checked as Core §3.1.3.7 asks, with the `nonce` of this sign-in (§3.1.3.7 item 11);
    InboxLoginError naming what was wrong (audience, expired, nonce, signature) otherwise."""
    from joserfc import jwt
    from joserfc.errors import ClaimError, ExpiredTokenError, JoseError
    from joserfc.jwk import KeySet

    if not isinstance(id_token, str):
        raise InboxLoginError("inbox.identity", "no-id-token")
    keys = KeySet.import_key_set(_get_json(config.jwks_uri, "key set", provider))  # type: ignore[arg-type]
    try:
        claims = dict(jwt.decode(id_token, keys, algorithms=list(ID_TOKEN_ALGORITHMS)).claims)
    except (JoseError, ValueError, TypeError, KeyError) as exc:  # unreadable, unsigned, another key
        log.warning("OIDC sign-in at provider %s: id_token signature refused (%s)", provider.id, type(exc).__name__)
        raise InboxLoginError("inbox.identity", "signature") from exc
    checks = jwt.JWTClaimsRegistry(
        leeway=CLOCK_SKEW,
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": provider.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        checks.validate(claims)
    except ExpiredTokenError as exc:
        raise InboxLoginError("inbox.expired", "expired") from exc
    except ClaimError as exc:
        reason = {"aud": "audience", "nonce": "nonce", "iss": "issuer"}.get(exc.claim, f"claim-{exc.claim}")
        log.warning("OIDC sign-in at provider %s: id_token refused (%s)", provider.id, reason)
        raise InboxLoginError("inbox.nonce" if reason == "nonce" else "inbox.identity", reason) from exc
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != provider.client_id:  # Core §3.1.3.7 items 4-5
        raise InboxLoginError("inbox.identity", "audience")
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise InboxLoginError("inbox.identity", "claim-sub")
    return claims
