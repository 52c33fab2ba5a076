"""One exception family: every error the service raises derives from KsError, and is rendered in one place
(service/errors_render.py: an OperationOutcome under /fhir, a page on the practice's pages).

KsError
├── InputInvalid          400  structure  (malformed JSON, wrong resourceType, absurd nesting)
│   ├── PayloadTooLarge   413  too-long
│   └── UnsupportedMedia  415  not-supported
├── ResponseInvalid       422  invalid    (a QuestionnaireResponse that breaks its Questionnaire)
├── NotFound              404  not-found
├── Unauthorized, Forbidden        401/403  (service/api/auth.py)
├── FhirError and its family       502/503/422/404/409  (service/fhir/errors.py)
├── LaunchError                    400/403/502  a SMART launch that cannot go on, as a page (service/smart/oauth.py)
├── QueryNotSupported              400  an x-fhir-query the in-memory record cannot answer (service/questionnaires/sdc.py)
└── StartupError          500  the service does not start
    ├── ConfigurationInvalid       mapping, questionnaire, registry or destination files with mistakes
    ├── SettingsInvalid            KS_* settings (service/config.py)
    │   └── ApiClientsInvalid      the API clients file (service/api/auth.py)
    └── EmbeddedServerFailed       the embedded FHIR server of `make run` (service/embedded/sekmet.py)

An issue's text is Dutch (`diagnostics`, always); `details.text` is the text in the response's language:
Dutch by default, English when asked for (`lang="en"`) and there is an English text. The texts come from the
catalogue (service/texts.py): `raise NotFound(texts("api.not_found", reference=ref))`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from service.texts import Text, pick


@dataclass(frozen=True, kw_only=True)
class Issue:
    """One OperationOutcome.issue: severity, FHIR issue-type code, Dutch text, FHIRPath locations."""

    severity: str = "error"
    code: str = "invalid"
    text: str
    expression: tuple[str, ...] = ()
    english: str | None = None

    @classmethod
    def of(cls, text: Text, **fields) -> Issue:
        """An issue with the catalogue's Dutch and English texts (service/texts.py texts())."""
        return cls(text=text.nl, english=text.en, **fields)

    def to_fhir(self, lang: str = "nl") -> dict:
        """The issue as FHIR JSON; `details.text` in `lang` ("nl" or "en"; Dutch when there is no English)."""
        issue: dict = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.text,
            "details": {"text": pick(lang, self.text, self.english)},
        }
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


def operation_outcome(issues: list[Issue] | tuple[Issue, ...], lang: str = "nl") -> dict:
    """Render issues as an OperationOutcome (https://hl7.org/fhir/R4/operationoutcome.html), texts in `lang`."""
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir(lang) for i in issues]}


class KsError(Exception):
    """Base class for problems we can explain; each maps to an HTTP status and an issue code.

    `page` names the template a page is rendered with instead of the practice's error page (LaunchError's
    smart_error.html, with `page_context()`); `response_headers()` are added to the answer (RFC 6750's
    WWW-Authenticate for Unauthorized and Forbidden)."""

    status_code = 500
    issue_code = "exception"
    page: str | None = None

    def __init__(self, text: str | Text, *, issues: list[Issue] | None = None, english: str | None = None):
        if isinstance(text, Text):  # the catalogue's texts (service/texts.py texts())
            text, english = text
        super().__init__(text)
        self.text = text
        self.issues = issues or [Issue(code=self.issue_code, text=text, english=english)]

    def to_operation_outcome(self, lang: str = "nl") -> dict:
        return operation_outcome(self.issues, lang)

    def response_headers(self) -> dict[str, str]:
        return {}

    def page_context(self) -> dict:
        return {}


class InputInvalid(KsError):
    status_code, issue_code = 400, "structure"


class PayloadTooLarge(InputInvalid):
    status_code, issue_code = 413, "too-long"


class UnsupportedMediaType(InputInvalid):
    status_code, issue_code = 415, "not-supported"


class ResponseInvalid(KsError):
    status_code, issue_code = 422, "invalid"


class NotFound(KsError):
    status_code, issue_code = 404, "not-found"


@dataclass(frozen=True)
class ConfigProblem:
    """A mistake in a declarative file: which file, where (JSON pointer), what."""

    file: str
    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.pointer or '/'}: {self.message}"


class StartupError(KsError):
    """The service cannot start: settings or declarative files with mistakes. Raised by the factory, not by requests."""

    status_code, issue_code = 500, "exception"


@dataclass
class ConfigurationInvalid(StartupError):
    """Raised at start-up with every mistake in every declarative file at once."""

    problems: list[ConfigProblem] = field(default_factory=list)

    @property
    def text(self) -> str:  # type: ignore[override]
        return str(self)

    @property
    def issues(self) -> list[Issue]:  # type: ignore[override]
        return [Issue(code=self.issue_code, text=str(self))]

    def __str__(self) -> str:
        lines = [f"{len(self.problems)} mistake(s) in configuration files:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


T = TypeVar("T")


def required(value: T | None, what: str) -> T:
    """A value the wiring guarantees (start-up checked it, or set it before any use): never None here. A None is
    a programming error, reported as such instead of an AttributeError further on."""
    if value is None:
        raise RuntimeError(f"{what} is not set: start-up should have provided it")
    return value
