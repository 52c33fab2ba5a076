"""Pure: SDC expression-based population — what a Questionnaire declares, evaluated generically.

https://hl7.org/fhir/uv/sdc/populate.html#expression-based-population. The Questionnaire names its launch
contexts (`sdc-questionnaire-launchContext`: %patient, %encounter, %user), its `variable`s (an
`application/x-fhir-query` is run as a FHIR search, a `text/fhirpath` one evaluated, in document order, each
seeing those before it) and per item an `sdc-questionnaire-initialExpression`. Nothing here knows a linkId:
the same declarations pre-fill the form in any SDC tool (CSIRO's Smart Forms / `@aehrc/sdc-populate`
gives the same answers; tests/questionnaires/test_sdc_populate.py checks it).

The searches go to a `Fetch`: a callable from an x-fhir-query (its `{{...}}` already replaced) to a
searchset Bundle — a FHIR server's (`client_fetch`) or an in-memory record's (`record_fetch`). FHIRPath is
fhirpathpy with the R4 model; `today()` is the practice's day given by the caller, not the server clock.
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote

from service.errors import KsError
from service.questionnaires.catalog import ItemDef, QuestionnaireDef

log = logging.getLogger(__name__)

LAUNCH_CONTEXT = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-launchContext"
LAUNCH_CONTEXT_SYSTEM = "http://hl7.org/fhir/uv/sdc/CodeSystem/launchContext"
VARIABLE = "http://hl7.org/fhir/StructureDefinition/variable"
INITIAL_EXPRESSION = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-initialExpression"
FHIRPATH = "text/fhirpath"
X_FHIR_QUERY = "application/x-fhir-query"

Resource = dict[str, Any]  # a FHIR resource (or element) as JSON
Fetch = Callable[[str], Resource]  # x-fhir-query (embedded expressions resolved) -> searchset Bundle


class QueryNotSupported(KsError, ValueError):
    """An x-fhir-query the in-memory record cannot answer (a search parameter it does not know)."""

    status_code, issue_code = 400, "not-supported"


@dataclass(frozen=True, kw_only=True)
class LaunchContext:
    name: str
    types: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Variable:
    name: str
    language: str
    expression: str


@dataclass(frozen=True, kw_only=True)
class Declarations:
    """What a Questionnaire declares for population, in document order."""

    launch_contexts: tuple[LaunchContext, ...] = ()
    variables: tuple[Variable, ...] = ()
    initial_expressions: tuple[tuple[str, str], ...] = ()  # (linkId, FHIRPath)

    def expressions(self) -> list[str]:
        """Every FHIRPath expression declared (variables, initialExpressions, those embedded in queries)."""
        out = [v.expression for v in self.variables if v.language == FHIRPATH]
        out += [e for v in self.variables if v.language == X_FHIR_QUERY for e in EMBEDDED_RE.findall(v.expression)]
        return out + [e for _, e in self.initial_expressions]


@dataclass(frozen=True, kw_only=True)
class Population:
    """The answers the declarations gave (by linkId, as QuestionnaireResponse answers) and every variable's value."""

    answers: dict[str, list[Resource]]
    variables: dict[str, list[Any]] = field(repr=False)


def _expression(ext: Resource) -> Resource:
    value = ext.get("valueExpression")
    return value if isinstance(value, dict) else {}


def _variables(extensions: Iterable[Resource]) -> list[Variable]:
    out = []
    for ext in extensions:
        expr = _expression(ext)
        if ext.get("url") == VARIABLE and expr.get("name") and expr.get("expression"):
            out.append(Variable(name=expr["name"], language=expr.get("language", ""), expression=expr["expression"]))
    return out


def declarations(questionnaire: Resource) -> Declarations:
    """The launch contexts, variables (Questionnaire level, then item level, in order) and initialExpressions."""
    contexts: list[LaunchContext] = []
    for ext in questionnaire.get("extension") or ():
        if ext.get("url") != LAUNCH_CONTEXT:
            continue
        parts = ext.get("extension") or ()
        name = next(
            (p.get("valueCoding", {}).get("code") or p.get("valueId") for p in parts if p.get("url") == "name"), None
        )
        if name:
            contexts.append(
                LaunchContext(
                    name=name,
                    types=tuple(p["valueCode"] for p in parts if p.get("url") == "type" and p.get("valueCode")),
                )
            )
    variables = _variables(questionnaire.get("extension") or ())
    initial: list[tuple[str, str]] = []

    def walk(items: Iterable[Resource]) -> None:
        for item in items:
            variables.extend(_variables(item.get("extension") or ()))
            for ext in item.get("extension") or ():
                expr = _expression(ext)
                if ext.get("url") == INITIAL_EXPRESSION and expr.get("language") == FHIRPATH and expr.get("expression"):
                    initial.append((item["linkId"], expr["expression"]))
            walk(item.get("item") or ())

    walk(questionnaire.get("item") or ())
    return Declarations(launch_contexts=tuple(contexts), variables=tuple(variables), initial_expressions=tuple(initial))


# ------------------------------------------------------------------------------------------------ FHIRPath

_TODAY: contextvars.ContextVar[str] = contextvars.ContextVar("ks_populate_today")
_OPTIONS = {"userInvocationTable": {"today": {"fn": lambda inputs: [_TODAY.get()], "arity": {0: []}}}}


@lru_cache(maxsize=256)
def _compiled(expression: str) -> Callable[[Resource, dict[str, Any]], list[Any]]:
    import fhirpathpy  # here, on the first $populate, not at start-up (~20 ms with ANTLR)
    from fhirpathpy.models import models

    return fhirpathpy.compile(expression, models["r4"], _OPTIONS)


def _plain(value: Any) -> Any:
    """fhirpathpy's typed values (Date, DateTime, Quantity) as their FHIR JSON string, as fhirpath.js gives them."""
    from fhirpathpy.engine.nodes import FP_Type

    return str(value) if isinstance(value, FP_Type) else value


def evaluate(expression: str, env: Mapping[str, Any], today: date) -> list[Any]:
    """A FHIRPath expression over nothing but the environment (%patient, the variables), with today() = `today`."""
    token = _TODAY.set(today.isoformat())  # what fhirpathpy's own today() gives, for the practice's day
    try:
        return [_plain(v) for v in _compiled(expression)({}, dict(env))]
    except Exception as exc:  # fhirpathpy raises bare Exceptions on odd record data (a birthDate that is a number)
        # A pre-fill that cannot be computed from the record is no pre-fill: the clinician answers it. Logged by
        # the expression and the error's type only, never its message (it quotes the record's values).
        log.warning("SDC expression %r could not be evaluated over the record (%s)", expression, type(exc).__name__)
        return []
    finally:
        _TODAY.reset(token)


EMBEDDED_RE = re.compile(r"\{\{(.+?)\}\}")


def resolve_query(query: str, env: Mapping[str, Any], today: date) -> str:
    """An x-fhir-query with each `{{expression}}` replaced by its (URL-escaped) value; empty when it has none."""

    def value(match: re.Match[str]) -> str:
        result = evaluate(match.group(1), env, today)
        return quote(str(result[0]), safe="-._~:/") if result else ""

    return EMBEDDED_RE.sub(value, query)


# ------------------------------------------------------------------------------------------------ population


def populate_declared(
    qdef: QuestionnaireDef,
    fetch: Fetch,
    today: date,
    *,
    contexts: Mapping[str, Resource | None],
    given: Mapping[str, Any] | None = None,
) -> Population:
    """Evaluate the Questionnaire's declarations: launch `contexts` by name (a missing one is empty), then each
    variable in order (a value in `given`, named as the variable, is used as it is — SDC's `context` parameter;
    else an x-fhir-query goes to `fetch`), then every initialExpression, as answers of its item's type."""
    decl = declarations(qdef.resource)
    env: dict[str, Any] = {c.name: [contexts[c.name]] if contexts.get(c.name) else [] for c in decl.launch_contexts}
    given = given or {}
    for var in decl.variables:
        if var.name in given:
            env[var.name] = given[var.name]
        elif var.language == X_FHIR_QUERY:
            env[var.name] = [fetch(resolve_query(var.expression, env, today))]
        elif var.language == FHIRPATH:
            env[var.name] = evaluate(var.expression, env, today)
    answers: dict[str, list[Resource]] = {}
    for link_id, expression in decl.initial_expressions:
        if link_id in qdef.items and (values := answers_for(qdef, link_id, evaluate(expression, env, today))):
            answers[link_id] = values
    return Population(answers=answers, variables=env)


def answers_for(qdef: QuestionnaireDef, link_id: str, values: list[Any]) -> list[Resource]:
    """FHIRPath results as answers of the item's type. For a choice a Coding, or a string naming an
    answerOption's code (as Smart Forms reads it), becomes that answerOption; anything else is left out."""
    item = qdef.items[link_id]
    out: list[Resource] = []
    for value in values:
        answer = _answer(item, value)
        if answer is not None:
            out.append(answer)
    return out if item.repeats else out[:1]


_SCALAR: dict[str, tuple[str, type | tuple[type, ...]]] = {
    "boolean": ("valueBoolean", bool),
    "integer": ("valueInteger", int),
    "decimal": ("valueDecimal", (int, float)),
    "string": ("valueString", str),
    "text": ("valueString", str),
    "url": ("valueUri", str),
}


def _answer(item: ItemDef, value: Any) -> Resource | None:
    if item.type in ("choice", "open-choice"):
        system, code = (value.get("system"), value.get("code")) if isinstance(value, dict) else (None, value)
        option = item.option(system, code) if isinstance(code, str) else None
        if option is None:
            return {"valueString": value} if item.type == "open-choice" and isinstance(value, str) else None
        return {"valueCoding": {k: option[k] for k in ("system", "code", "display") if k in option}}
    if item.type in ("date", "dateTime", "time"):
        if not isinstance(value, str):
            return None
        text = value.removeprefix("@")
        if item.type == "date":
            return {"valueDate": text[:10]}
        return {f"value{item.type[0].upper()}{item.type[1:]}": text}
    if item.type in _SCALAR:
        key, kind = _SCALAR[item.type]
        ok = isinstance(value, kind) and not (item.type != "boolean" and isinstance(value, bool))
        return {key: value} if ok else None
    return None


# ------------------------------------------------------------------------------------------------ searches


class SearchClient(Protocol):
    def search(self, resource_type: str, params: list[tuple[str, str]]) -> Resource: ...


def split_query(query: str) -> tuple[str, list[tuple[str, str]]]:
    """'Observation?patient=1&code=a|b' -> ('Observation', [('patient', '1'), ('code', 'a|b')])."""
    rtype, _, qs = query.partition("?")
    return rtype.strip("/"), parse_qsl(qs, keep_blank_values=True)


def client_fetch(client: SearchClient) -> Fetch:
    """x-fhir-queries as searches on a FHIR server (service.fhir.client.FhirClient; its errors propagate)."""
    return lambda query: client.search(*split_query(query))


def _reference_matches(ref: object, value: str, resource_type: str | None) -> bool:
    if not isinstance(ref, str):
        return False
    ref = ref.split("/_history")[0].rstrip("/")
    wanted = value if "/" in value or resource_type is None else f"{resource_type}/{value}"
    return ref == wanted or ref.endswith("/" + wanted)


def _token_matches(concept: object, value: str) -> bool:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    for coding in codings if isinstance(codings, list) else ():
        if not isinstance(coding, dict):
            continue
        for token in value.split(","):
            system, bar, code = token.rpartition("|") if "|" in token else (None, "", token)
            if bar and system == "" and coding.get("system") is None and coding.get("code") == code:
                return True
            if system and coding.get("system") == system and (code == "" or coding.get("code") == code):
                return True
            if system is None and coding.get("code") == code:
                return True
    return False


def _matches(resource: Resource, name: str, value: str) -> bool:
    if value == "":
        return True  # FHIR search: a parameter without a value is ignored
    if name == "_id":
        return resource.get("id") in value.split(",")
    if name in ("patient", "subject"):
        subject = resource.get("subject") or resource.get("patient")
        ref = subject.get("reference") if isinstance(subject, dict) else None
        return _reference_matches(ref, value, "Patient" if name == "patient" else None)
    if name == "code":
        return _token_matches(resource.get("code"), value)
    raise QueryNotSupported(f"search parameter {name!r} is not supported on the in-memory record")


def search_record(resources: Iterable[Resource], query: str) -> Resource:
    """A FHIR search (`_id`, `patient`, `subject`, `code`) over a list of resources: the searchset Bundle."""
    rtype, params = split_query(query)
    found = [
        r
        for r in resources
        if isinstance(r, dict)
        and r.get("resourceType") == rtype
        and all(_matches(r, name, value) for name, value in params)
    ]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "entry": [
            {"fullUrl": f"{r['resourceType']}/{r.get('id')}", "resource": r, "search": {"mode": "match"}} for r in found
        ],
    }


def record_fetch(resources: Iterable[Resource]) -> Fetch:
    """x-fhir-queries answered from resources already read (a record, or $populate's `context` resources);
    a resource given twice (same type and id) is searched once."""
    pool = list({(r.get("resourceType"), r.get("id") or id(r)): r for r in resources if isinstance(r, dict)}.values())
    return lambda query: search_record(pool, query)
