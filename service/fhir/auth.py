"""How a FhirClient authenticates, as requests AuthBase plug-ins: `BearerTokenAuth` for a fixed token, and
`BackendServicesAuth` for SMART Backend Services (client_credentials grant with a private_key_jwt client
assertion, https://hl7.org/fhir/smart-app-launch/backend-services.html); `sign_client_assertion` is shared
with the SMART app's confidential-asymmetric token requests (service/smart/oauth.py)."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable

import requests
from requests.auth import AuthBase

from service.fhir.errors import FhirAuthError, FhirErrorDetails, FhirServerError
from service.texts import texts

log = logging.getLogger("service.fhir.client")  # one logger for the client and its token requests


class BearerTokenAuth(AuthBase):
    """A fixed bearer token (e.g. a static token configured for a FHIR server)."""

    def __init__(self, token: str):
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def sign_client_assertion(
    *,
    client_id: str,
    token_url: str,
    private_key_pem,
    key_id: str,
    alg: str = "RS384",
    now: float | None = None,
    lifetime: int = 240,
) -> str:
    """A JWT client assertion for one token request (RFC 7523; SMART client-confidential-asymmetric and Backend
    Services): iss = sub = client_id, aud = the token endpoint, exp at most five minutes ahead, a unique jti;
    header alg (RS384 or ES384), kid, typ JWT. `private_key_pem`: PEM text or an imported joserfc key."""
    from joserfc import jwt
    from joserfc.jwk import ECKey, RSAKey

    key = (
        private_key_pem
        if hasattr(private_key_pem, "as_dict")
        else (RSAKey if alg == "RS384" else ECKey).import_key(private_key_pem)
    )
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": issued + lifetime,
        "jti": secrets.token_urlsafe(24),
    }
    return jwt.encode({"alg": alg, "kid": key_id, "typ": "JWT"}, claims, key, algorithms=[alg])


class BackendServicesAuth(AuthBase):
    """SMART Backend Services: an access token from the client_credentials grant, authenticated with a
    JWT client assertion signed by our private key (RS384 or ES384), cached until shortly before it expires.

    https://hl7.org/fhir/smart-app-launch/backend-services.html#obtain-access-token: assertion claims
    iss = sub = client_id, aud = token endpoint, exp no more than five minutes ahead, unique jti; header
    alg, kid, typ JWT. On a 401 from the FHIR server the token is refreshed and the request re-sent once.

    JWT signing uses joserfc, the JOSE library authlib itself now builds on (authlib.jose is deprecated
    in favour of it and warns on import).
    """

    ALGORITHMS = ("RS384", "ES384")
    ASSERTION_LIFETIME = 240  # seconds; the spec's ceiling is 300, leave room for clock skew
    REFRESH_MARGIN = 30  # seconds before expires_in at which we fetch a fresh token

    def __init__(
        self,
        token_url: str,
        client_id: str,
        private_key_pem: str | bytes,
        key_id: str,
        *,
        alg: str = "RS384",
        scope: str,
        timeout: tuple[float, float] = (3.05, 10),
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ):
        from joserfc.jwk import ECKey, RSAKey

        if alg not in self.ALGORITHMS:
            raise ValueError(f"alg must be one of {self.ALGORITHMS}, not {alg!r}")
        self.token_url = token_url
        self.client_id = client_id
        self.key_id = key_id
        self.alg = alg
        self.scope = scope
        self.timeout = timeout
        self._key = (RSAKey if alg == "RS384" else ECKey).import_key(private_key_pem)
        self._session = session or requests.Session()
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.access_token()}"
        request.register_hook("response", self._refresh_on_401)
        return request

    def access_token(self, *, force: bool = False) -> str:
        with self._lock:
            if force or self._token is None or self._clock() >= self._refresh_at:
                self._token, lifetime = self._fetch_token()
                self._refresh_at = self._clock() + max(0.0, lifetime - min(self.REFRESH_MARGIN, lifetime / 10))
            return self._token

    def client_assertion(self) -> str:
        """A freshly signed JWT for one token request."""
        return sign_client_assertion(
            client_id=self.client_id,
            token_url=self.token_url,
            private_key_pem=self._key,
            key_id=self.key_id,
            alg=self.alg,
            now=self._clock(),
            lifetime=self.ASSERTION_LIFETIME,
        )

    def _fetch_token(self) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "scope": self.scope,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": self.client_assertion(),
        }
        started = time.monotonic()
        # Connection errors and timeouts propagate as requests exceptions: FhirClient retries those.
        response = self._session.post(
            self.token_url, data=form, headers={"Accept": "application/json"}, timeout=self.timeout
        )
        log.info(
            "SMART token POST %s -> %d in %.0f ms",
            self.token_url.split("?", 1)[0],
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        details: FhirErrorDetails = {
            "status": response.status_code,
            "method": "POST",
            "path": self.token_url.split("?", 1)[0],
        }
        if response.status_code >= 500 or response.status_code == 429:
            raise FhirServerError(texts("fhir.token_endpoint_error"), **details)
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            error = body.get("error") if isinstance(body, dict) else None
            raise FhirAuthError(
                texts("fhir.no_token", error=error) if error else texts("fhir.no_token_unreadable"), **details
            )
        # expires_in is required by SMART Backend Services; 300 s is its recommended value.
        lifetime = float(body.get("expires_in") or 300)
        return body["access_token"], lifetime

    def _refresh_on_401(self, response: requests.Response, **kwargs) -> requests.Response:
        request = response.request
        if response.status_code != 401 or getattr(request, "_ks_token_refreshed", False):
            return response
        sent = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        with self._lock:
            if self._token == sent:  # not already replaced by another thread
                self._token = None
        response.content  # noqa: B018 - drain so the connection can be reused
        response.close()
        retry = request.copy()
        retry.headers["Authorization"] = f"Bearer {self.access_token()}"
        retry._ks_token_refreshed = True  # type: ignore[attr-defined]
        new = response.connection.send(retry, **kwargs)
        new.history.append(response)
        new.request = retry
        return new
