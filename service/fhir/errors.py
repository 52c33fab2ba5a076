"""Named failures of calls to a FHIR server, in the service.errors family (one per status family).

KsError
└── FhirError                 base: .status, .operation_outcome, .method, .path, .retryable
    ├── FhirServerUnreachable   503  connection refused/reset, DNS, connect or read timeout (retryable)
    ├── FhirServerError         502  5xx or 429 still failing after the client's retries (retryable)
    ├── FhirBadResponse         502  a 2xx (or 1xx/3xx) answer we cannot use: body not FHIR JSON (retryable)
    └── FhirRequestRejected     422  4xx: the server refused this request; retrying it unchanged won't help
        ├── FhirNotFound        404  404 Not Found, 410 Gone
        ├── FhirAuthError       502  401/403 from the FHIR server or its token endpoint: our credentials
        └── FhirConflict        409  409 Conflict (version clash), 412 Precondition Failed (multiple matches)

`status_code`/`issue_code` are what *our* API answers when such an error reaches it; `status` is what the
FHIR server answered. `operation_outcome` keeps the server's OperationOutcome (when its body was one) for
callers and audit; it is never logged because its diagnostics may echo health data.
"""

from __future__ import annotations

from typing import TypedDict

from service.errors import KsError
from service.texts import Text


class FhirErrorDetails(TypedDict, total=False):
    """Where a failed FHIR call went and what came back: the keyword arguments every FhirError takes."""

    status: int | None
    operation_outcome: dict | None
    method: str | None
    path: str | None


class FhirError(KsError):
    """Base class: a call to a FHIR server did not give a usable answer."""

    status_code, issue_code = 502, "exception"
    retryable = False

    def __init__(
        self,
        text: str | Text,
        *,
        english: str | None = None,
        status: int | None = None,
        operation_outcome: dict | None = None,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ):
        if isinstance(text, Text):  # the catalogue's texts (service/texts.py texts())
            text, english = text
        where = f" ({method} {path}{f' -> {status}' if status else ''})" if method else ""
        super().__init__(f"{text}{where}", english=f"{english}{where}" if english else None)
        self.status = status
        self.operation_outcome = operation_outcome
        self.method = method
        self.path = path
        self.retry_after = retry_after

    def server_issues(self) -> list[dict]:
        """The issues of the server's OperationOutcome, or [] when it sent none."""
        return list((self.operation_outcome or {}).get("issue") or [])


class FhirServerUnreachable(FhirError):
    status_code, issue_code = 503, "transient"
    retryable = True


class FhirServerError(FhirError):
    status_code, issue_code = 502, "transient"
    retryable = True


class FhirBadResponse(FhirError):
    """The server answered but not with FHIR JSON: a proxy's HTML page, a truncated body, ...

    Retryable because every push this service makes is idempotent (PUT, conditional create): repeating
    it later is how to find out what happened.
    """

    status_code, issue_code = 502, "exception"
    retryable = True


class FhirRequestRejected(FhirError):
    status_code, issue_code = 422, "processing"


class FhirNotFound(FhirRequestRejected):
    status_code, issue_code = 404, "not-found"


class FhirAuthError(FhirRequestRejected):
    """Our credentials for the FHIR server were refused: a configuration problem, not the caller's."""

    status_code, issue_code = 502, "security"


class FhirConflict(FhirRequestRejected):
    status_code, issue_code = 409, "conflict"
