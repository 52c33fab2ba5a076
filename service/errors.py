"""One exception family for problems we can explain, rendered as a FHIR OperationOutcome.

KsError
├── InputInvalid          400  structure  (malformed JSON, wrong resourceType, absurd nesting)
│   └── PayloadTooLarge   413  too-long
│   └── UnsupportedMedia  415  not-supported
├── ResponseInvalid       422  invalid    (a QuestionnaireResponse that breaks its Questionnaire)
├── NotFound              404  not-found
└── ConfigurationInvalid  (start-up) mapping or questionnaire files with mistakes
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class Issue:
    """One OperationOutcome.issue: severity, FHIR issue-type code, Dutch text, FHIRPath locations."""

    severity: str = "error"
    code: str = "invalid"
    text: str
    expression: tuple[str, ...] = ()
    english: str | None = None

    def to_fhir(self) -> dict:
        issue: dict = {"severity": self.severity, "code": self.code, "diagnostics": self.text}
        if self.english:
            issue["details"] = {"text": self.english}
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


def operation_outcome(issues: list[Issue] | tuple[Issue, ...]) -> dict:
    """Render issues as an OperationOutcome (https://hl7.org/fhir/R4/operationoutcome.html)."""
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]}


class KsError(Exception):
    """Base class for problems we can explain; each maps to an HTTP status and an issue code."""

    status_code = 500
    issue_code = "exception"

    def __init__(self, text: str, *, issues: list[Issue] | None = None, english: str | None = None):
        super().__init__(text)
        self.text = text
        self.issues = issues or [Issue(code=self.issue_code, text=text, english=english)]

    def to_operation_outcome(self) -> dict:
        return operation_outcome(self.issues)


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


@dataclass
class ConfigurationInvalid(Exception):
    """Raised at start-up with every mistake in every declarative file at once."""

    problems: list[ConfigProblem] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{len(self.problems)} mistake(s) in configuration files:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)
