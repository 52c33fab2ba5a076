"""FhirClient: FHIR R4 REST calls over one requests.Session, with timeouts, retries and named errors.

Every call has an explicit (connect, read) timeout. Connection errors, timeouts, 429 and 5xx are
retried with exponential backoff and full jitter (honouring Retry-After); 4xx never is. Every HTTP status
is turned into a result or a named exception in one place, `_raise_for_status`. Logs carry method,
path without query string, status and duration only: bodies and query strings hold health data (BSNs).

Authentication plugs in as a requests AuthBase (service/fhir/auth.py).
"""

from __future__ import annotations

import email.utils
import itertools
import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import NoReturn
from urllib.parse import quote

import requests
import urllib3
from requests.auth import AuthBase

from service.fhir.errors import (
    FhirAuthError,
    FhirBadResponse,
    FhirConflict,
    FhirErrorDetails,
    FhirNotFound,
    FhirRequestRejected,
    FhirServerError,
    FhirServerUnreachable,
)
from service.texts import texts

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# 429 and 503 say "not processed, come back later": safe to repeat even a non-idempotent request.
# After 500/502/504 or a read timeout the server may have acted, so only idempotent requests are repeated.
NOT_PROCESSED_STATUSES = frozenset({429, 503})

SearchParams = Mapping[str, str | Sequence[str]] | Sequence[tuple[str, str]]


@dataclass(frozen=True)
class FhirWrite:
    """The answer to a create or update: HTTP status, the resource as stored (if returned), Location."""

    status: int
    resource: dict | None
    location: str | None

    @property
    def created(self) -> bool:
        """False when a conditional create found an existing match (200) or an update replaced one."""
        return self.status == 201


def location_id(location: str | None) -> tuple[str | None, str | None]:
    """(type, id) from a Location or response.location: `http://x/fhir/Task/7/_history/1` -> ("Task", "7")."""
    parts = (location or "").split("/_history")[0].rstrip("/").split("/")
    return (parts[-2], parts[-1]) if len(parts) >= 2 and parts[-1] else (None, None)


def loggable_path(path: str) -> str:
    """The request path for logs and errors, without ids: `Patient/123/_history/2` -> `/Patient/{id}/_history/{id}`.

    Query strings never appear (they carry BSNs); resource ids neither, since some systems use a patient
    number or even the BSN as the logical id."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    return "/" + "/".join(p if i == 0 or p.startswith(("$", "_")) else "{id}" for i, p in enumerate(parts))


class FhirClient:
    """A FHIR R4 server at `base_url` (e.g. http://127.0.0.1:8090/fhir).

    `timeout` is (connect, read) seconds for every call; `retries` is how many times a failed attempt is
    repeated (so at most retries + 1 attempts), waiting a full-jitter backoff of up to
    min(backoff_max, backoff_base * 2**n) seconds, or the server's Retry-After when it gives one (up to
    `max_retry_after`; beyond that we give up at once and pass `retry_after` on to the outbox). `sleep` and
    `rng` are injectable for tests.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: AuthBase | None = None,
        timeout: tuple[float, float] = (3.05, 10),
        retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        max_retry_after: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.session = session or requests.Session()
        self.session.auth = auth
        self.session.headers.update({"Accept": FHIR_JSON})

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ------------------------------------------------------------------ interactions

    def capabilities(self) -> dict:
        """GET [base]/metadata: the server's CapabilityStatement."""
        return self._resource(self._request("GET", "metadata"), "metadata", expect="CapabilityStatement")

    def read(self, resource_type: str, resource_id: str) -> dict:
        path = f"{_segment(resource_type)}/{_segment(resource_id)}"
        return self._resource(self._request("GET", path), path, expect=resource_type)

    def search(self, resource_type: str, params: SearchParams | None = None) -> dict:
        """GET [base]/[type]?params: the searchset Bundle (first page only).

        Sends `Prefer: handling=strict` (https://hl7.org/fhir/R4/search.html#errors): a server that does not
        know a parameter must refuse the search rather than drop the filter and return everything.
        """
        path = _segment(resource_type)
        response = self._request("GET", path, params=params, headers={"Prefer": "handling=strict"})
        return self._resource(response, path, expect="Bundle")

    def next_page(self, bundle: dict) -> dict | None:
        """The searchset's next page (its `next` link, https://hl7.org/fhir/R4/http.html#paging), or None after the
        last. A link to anywhere but this server is not followed (SMART: never blindly follow a server's URLs)."""
        url = next((link.get("url") for link in bundle.get("link") or () if link.get("relation") == "next"), None)
        if not isinstance(url, str) or not url.startswith(self.base_url + "/"):
            return None
        path = url[len(self.base_url) + 1 :]
        response = self._request("GET", path, headers={"Prefer": "handling=strict"})
        return self._resource(response, path.split("?", 1)[0], expect="Bundle")

    def create(self, resource: dict, if_none_exist: str | None = None) -> FhirWrite:
        """POST [base]/[type]; with `if_none_exist` (a query such as "identifier=sys|val") a conditional create."""
        path = _segment(_resource_type(resource))
        headers = {"Content-Type": FHIR_JSON, "Prefer": "return=representation"}
        if if_none_exist:
            headers["If-None-Exist"] = if_none_exist
        response = self._request("POST", path, json_body=resource, headers=headers, idempotent=bool(if_none_exist))
        return self._write(response, path)

    def update(self, resource: dict, *, if_match: str | None = None) -> FhirWrite:
        """PUT [base]/[type]/[id]: create-or-replace with the client's id (idempotent). `if_match` (a versionId):
        only if the server's version is still that one (https://hl7.org/fhir/R4/http.html#concurrency; 412 else)."""
        if not resource.get("id"):
            raise ValueError("update() needs a resource with an id")
        path = f"{_segment(_resource_type(resource))}/{_segment(resource['id'])}"
        headers = {"Content-Type": FHIR_JSON, "Prefer": "return=representation"}
        if if_match:
            headers["If-Match"] = f'W/"{if_match}"'
        return self._write(self._request("PUT", path, json_body=resource, headers=headers), path)

    def transaction(self, bundle: dict) -> dict:
        """POST [base] with a transaction (or batch) Bundle; returns the response Bundle."""
        if bundle.get("resourceType") != "Bundle":
            raise ValueError("transaction() needs a Bundle")
        response = self._request(
            "POST",
            "",
            json_body=bundle,
            headers={"Content-Type": FHIR_JSON, "Prefer": "return=representation"},
            idempotent=_bundle_is_idempotent(bundle),
        )
        return self._resource(response, "", expect="Bundle")

    # ------------------------------------------------------------------ plumbing

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: SearchParams | None = None,
        json_body: dict | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> requests.Response:
        """Send with retries; returns a 2xx response or raises a FhirError subclass."""
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE")
        url = f"{self.base_url}/{path}" if path else self.base_url
        data = json.dumps(json_body, ensure_ascii=False).encode() if json_body is not None else None
        log_path = loggable_path(path)
        for attempt in itertools.count():
            started = time.monotonic()
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                if self._retry_after_network_error(exc, method, log_path, started, attempt, idempotent=idempotent):
                    continue
                raise FhirServerUnreachable(
                    texts("fhir.unreachable", error=type(exc).__name__),
                    method=method,
                    path=log_path,
                ) from exc
            status = response.status_code
            log.info("FHIR %s %s -> %d in %.0f ms", method, log_path, status, (time.monotonic() - started) * 1000)
            if 200 <= status < 300:
                return response
            if self._retry_after_status(response, attempt, idempotent=idempotent):
                continue
            self._raise_for_status(response, method, log_path)
        raise AssertionError("unreachable")  # itertools.count() never ends

    def _retry_after_network_error(
        self, exc: Exception, method: str, log_path: str, started: float, attempt: int, *, idempotent: bool
    ) -> bool:
        """Log a failed attempt; True after sleeping when another attempt may be made.

        A failed connect never reached the server; after a read timeout or a connection broken mid-answer the
        server may have acted, so only idempotent requests are repeated then."""
        sent = not _never_sent(exc)
        log.warning(
            "FHIR %s %s failed after %.0f ms (attempt %d): %s",
            method,
            log_path,
            (time.monotonic() - started) * 1000,
            attempt + 1,
            type(exc).__name__,
        )
        if attempt < self.retries and (idempotent or not sent):
            self._sleep(self._backoff(attempt))
            return True
        return False

    def _retry_after_status(self, response: requests.Response, attempt: int, *, idempotent: bool) -> bool:
        """True after sleeping when a 429/5xx answer may be retried (Retry-After within our patience)."""
        status = response.status_code
        if status in RETRY_STATUSES and attempt < self.retries and (idempotent or status in NOT_PROCESSED_STATUSES):
            delay = self._delay_for(response, attempt)
            if delay is not None:
                response.close()
                self._sleep(delay)
                return True
        return False

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)] (AWS architecture blog, 'Exponential
        Backoff And Jitter')."""
        return self._rng.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt))

    def _delay_for(self, response: requests.Response, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None to give up (Retry-After beyond our patience)."""
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is None:
            return self._backoff(attempt)
        if retry_after > self.max_retry_after:
            return None
        return retry_after

    @staticmethod
    def _raise_for_status(response: requests.Response, method: str, path: str) -> NoReturn:
        """The one place that maps a non-2xx HTTP status to a named exception."""
        status = response.status_code
        outcome = _operation_outcome(response)
        details: FhirErrorDetails = {"status": status, "operation_outcome": outcome, "method": method, "path": path}
        if status in (401, 403):
            raise FhirAuthError(texts("fhir.auth"), **details)
        if status in (404, 410):
            raise FhirNotFound(texts("fhir.not_found"), **details)
        if status in (409, 412):
            raise FhirConflict(texts("fhir.conflict"), **details)
        if status in RETRY_STATUSES:
            raise FhirServerError(
                texts("fhir.server_error_retried"),
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                **details,
            )
        if 400 <= status < 500:
            raise FhirRequestRejected(texts("fhir.rejected"), **details)
        if status >= 500:
            raise FhirServerError(texts("fhir.server_error"), **details)
        raise FhirBadResponse(texts("fhir.unexpected_status", status=status), **details)

    @staticmethod
    def _json(response: requests.Response, path: str) -> dict | None:
        """The body as a JSON object; None when empty; FhirBadResponse when garbled."""
        if not response.content or not response.content.strip():
            return None
        try:
            body = response.json()
        except ValueError as exc:
            raise FhirBadResponse(
                texts("fhir.not_json"),
                status=response.status_code,
                method=response.request.method if response.request else None,
                path=loggable_path(path),
            ) from exc
        if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
            raise FhirBadResponse(
                texts("fhir.not_a_resource"),
                status=response.status_code,
                method=response.request.method if response.request else None,
                path=loggable_path(path),
            )
        return body

    def _resource(self, response: requests.Response, path: str, *, expect: str) -> dict:
        body = self._json(response, path)
        if body is None or body.get("resourceType") != expect:
            raise FhirBadResponse(
                texts("fhir.wrong_type", expected=expect),
                status=response.status_code,
                method=response.request.method if response.request else None,
                path=loggable_path(path),
            )
        return body

    def _write(self, response: requests.Response, path: str) -> FhirWrite:
        return FhirWrite(
            status=response.status_code,
            resource=self._json(response, path),
            location=response.headers.get("Location") or response.headers.get("Content-Location"),
        )


# ---------------------------------------------------------------------- authentication


# ---------------------------------------------------------------------- helpers


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP-date (RFC 9110 §10.2.3); None if absent
    or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now())


def _never_sent(exc: Exception) -> bool:
    """True when the request certainly did not reach the server: connect timeout, refused, DNS failure."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)  # includes NameResolutionError


def _operation_outcome(response: requests.Response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome" else None


def _bundle_is_idempotent(bundle: dict) -> bool:
    """True when repeating the Bundle cannot create duplicates: every entry is a read, a PUT, a DELETE or
    a conditional create (ifNoneExist) - the shape of every referral Bundle this service builds."""
    for entry in bundle.get("entry") or []:
        request = entry.get("request") or {}
        method = str(request.get("method", "")).upper()
        if method == "POST" and not request.get("ifNoneExist"):
            return False
        if method == "PATCH":
            return False
    return True


def _resource_type(resource: dict) -> str:
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise ValueError("resource has no resourceType")
    return rtype


def _segment(value: str) -> str:
    """One URL path segment; ids with '/' or '?' cannot smuggle in another path or a query."""
    return quote(str(value), safe="")


__all__ = [
    "FhirClient",
    "FhirWrite",
    "parse_retry_after",
]
