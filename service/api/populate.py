"""SDC $populate: POST /fhir/Questionnaire/$populate (and /fhir/Questionnaire/{id}/$populate).

https://hl7.org/fhir/uv/sdc/OperationDefinition/Questionnaire-populate. In: `questionnaire` (a canonical
uri, a Reference or the resource) or `identifier`, `subject` (a Patient reference), `context` parts
(`name` + `content`), `data` (a Bundle), and `local` (true: read the subject's record from the FHIR server
this service is configured with). Out: `response` (an in-progress QuestionnaireResponse) and `issues` (an
OperationOutcome: suggestions the form shows beside items, such as teenage pregnancy — never ticked — and
warnings).

The answers are what the Questionnaire declares (launchContext, x-fhir-query and FHIRPath variables,
initialExpressions), evaluated by the generic SDC evaluator (service/questionnaires/sdc.py). A `context`
named as one of its launch contexts (`patient`, `encounter`, `user`) or variables is used as that; every
other resource given (`context` under another name, `data`) is the record the x-fhir-queries search, and
with `local` they are also run against the configured server.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from flask import Blueprint

from service.api.auth import audit_read, require
from service.api.base import json_only, no_store
from service.api.fhirjson import json_type, objects
from service.api.views import fhir_response, read_fhir_body
from service.audit import identifier_of
from service.errors import InputInvalid, Issue, NotFound, operation_outcome
from service.errors_render import response_lang
from service.fhir.errors import FhirError
from service.fhir.models import dump_resource, parse_resource, validation_issues
from service.fhir.urls import BSN
from service.questionnaires.catalog import QuestionnaireDef
from service.questionnaires.populate import facts_of, population, response, suggestions_for
from service.questionnaires.sdc import Fetch, Population, QueryNotSupported, client_fetch, declarations, record_fetch
from service.questionnaires.validate import item_location
from service.referrals.bundle import contain_patient
from service.referrals.pipeline import PRACTICE_ZONE
from service.referrals.wiring import fhir_client
from service.services import services
from service.texts import texts

log = logging.getLogger(__name__)
populate_api = Blueprint("populate_api", __name__, url_prefix="/fhir")
populate_api.after_request(no_store)
populate_api.before_request(json_only)
LAUNCH_TYPES = {"patient": ("Patient",), "encounter": ("Encounter",), "user": ("Practitioner", "PractitionerRole")}
EMPTY = Population(answers={}, variables={})


def _params(body: dict) -> list[dict]:
    if body.get("resourceType") != "Parameters":
        raise InputInvalid(texts("api.populate.not_parameters", got=body.get("resourceType")))
    return objects(body, "parameter", "Parameters")


def _value(param: dict):
    for key, value in param.items():
        if key.startswith("value") or key == "resource":
            return key, value
    return None, None


def _resources(value, where: str) -> list[dict]:
    """A resource, or the resources of a Bundle (searchset, collection, ...); `where` its location, for a 400."""
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str) or not value["resourceType"]:
        return []
    if value["resourceType"] == "Bundle":
        entries = enumerate(objects(value, "entry", where))
        return [r for i, e in entries for r in _resources(e.get("resource"), f"{where}.entry[{i}].resource")]
    return [value]


def _questionnaire(engine, qid: str | None, params: list[dict], issues: list[Issue]):
    catalog = engine.catalog
    if qid:
        resource = catalog.resources.get(("Questionnaire", qid))
        if resource is None:
            raise NotFound(texts("api.not_found", reference=f"Questionnaire/{qid}"))
        return catalog.find(f"{resource['url']}|{resource['version']}")
    for p in params:
        if p.get("name") == "identifier":
            return _by_identifier(catalog, p)
        if p.get("name") not in ("questionnaire", "canonical"):  # SDC 4.0 `canonical`; `questionnaire` as well
            continue
        key, value = _value(p)
        canonical = None
        if key in ("valueUri", "valueCanonical", "valueString"):
            canonical = value
        elif key == "valueReference" and isinstance(value, dict):
            ref = value.get("reference", "")
            if not isinstance(ref, str):
                raise InputInvalid(texts("api.populate.questionnaire_reference", got=json_type(ref)))
            if ref.startswith("Questionnaire/") and ("Questionnaire", ref.split("/", 1)[1]) in catalog.resources:
                r = catalog.resources[("Questionnaire", ref.split("/", 1)[1])]
                canonical = f"{r['url']}|{r['version']}"
            else:
                canonical = ref
        elif key == "resource" and isinstance(value, dict):
            canonical = f"{value.get('url')}|{value.get('version')}" if value.get("version") else value.get("url")
        if not isinstance(canonical, str):
            raise InputInvalid(texts("api.populate.questionnaire_canonical", got=json_type(canonical)))
        qdef = catalog.find(canonical)
        if qdef is None:
            raise NotFound(texts("api.populate.unknown_questionnaire", canonical=canonical))
        return qdef
    # SDC asks for exactly one of identifier/questionnaire at type level; without one, the region's own.
    qdef = catalog.find(engine.ruleset().questionnaire)
    issues.append(
        Issue.of(
            texts("api.populate.default_questionnaire", canonical=qdef.canonical),
            severity="information",
            code="informational",
        )
    )
    return qdef


def _by_identifier(catalog, param: dict):
    """SDC's `identifier` (Questionnaire.identifier; as a valueUri, SDC 3.0's form, the Questionnaire's url). One
    this service does not know is a 404, never the region's questionnaire in its place."""
    key, value = _value(param)
    if key in ("valueUri", "valueString", "valueCanonical") and isinstance(value, str):
        qdef = catalog.find(value)
        if qdef is None:
            raise NotFound(texts("api.populate.unknown_identifier", identifier=value))
        return qdef
    wanted = value if key == "valueIdentifier" and isinstance(value, dict) else {}
    for qdef in catalog.questionnaires.values():
        for ident in qdef.resource.get("identifier") or ():
            if (
                isinstance(ident, dict)
                and wanted.get("value")
                and ident.get("value") == wanted.get("value")
                and (not wanted.get("system") or ident.get("system") == wanted.get("system"))
            ):
                return qdef
    shown = "|".join(str(wanted.get(k) or "") for k in ("system", "value")) if wanted else json_type(value)
    raise NotFound(texts("api.populate.unknown_identifier", identifier=shown))


def _subject(params: list[dict]) -> str:
    subject = next((p.get("valueReference") for p in params if p.get("name") == "subject"), None)
    ref = subject.get("reference") if isinstance(subject, dict) else None
    if not isinstance(ref, str) or not ref.startswith("Patient/") or len(ref) <= len("Patient/"):
        raise InputInvalid(texts("api.populate.subject"))
    return ref.split("/", 1)[1].split("/_history")[0]


def _given(params: list[dict]) -> tuple[dict[str, list], list[dict]]:
    """The `context` parts by name (SDC: a launch context or variable of the Questionnaire), and every
    resource given (all `context` contents and `data`): the record the x-fhir-queries search."""
    named: dict[str, list] = {}
    pooled: list[dict] = []
    for i, p in enumerate(params):
        where = f"Parameters.parameter[{i}]"
        if p.get("name") == "context":
            parts = objects(p, "part", where)
            name = next((part.get("valueString") for part in parts if part.get("name") == "name"), None)
            if not isinstance(name, str) or not name:  # SDC $populate: context.name 1..1 (a string)
                words = texts("api.populate.context_name")
                raise InputInvalid(words, issues=[Issue.of(words, code="required", expression=(f"{where}.part",))])
            for j, part in enumerate(parts):
                key, value = _value(part)
                if part.get("name") == "content" and isinstance(value, dict):
                    if key == "resource":
                        _check_resource(value, f"{where}.part[{j}].resource")
                    named.setdefault(str(name), []).append(value)
                    pooled += _resources(value, f"{where}.part[{j}].{key}")
        elif p.get("name") == "data":
            if isinstance(p.get("resource"), dict):
                _check_resource(p["resource"], f"{where}.resource")
            pooled += _resources(p.get("resource"), f"{where}.resource")
    return named, pooled


def _check_resource(resource: dict, where: str) -> None:
    """A resource given must be valid FHIR (its R4 model), or the whole request is a 400 with every problem: the
    SDC evaluator's FHIRPath and searches read it as FHIR. The model is lax where FHIR JSON is not (it reads the
    number 0 as the date 1970-01-01): an element whose JSON type the model changed is refused too."""
    prefix = str(resource.get("resourceType"))
    try:
        issues = [
            Issue.of(
                texts("api.populate.invalid_element", error=i.text),
                code="structure",
                expression=tuple(_located(e, prefix, where) for e in i.expression) or (where,),
            )
            for i in validation_issues(resource)
        ] or _retyped(resource, dump_resource(parse_resource(resource)), where)
    except Exception:  # fhir.resources itself fails on some invalid input (a contained resourceType {}): invalid
        issues = [
            Issue.of(texts("api.populate.invalid_resource", location=where), code="structure", expression=(where,))
        ]
    if issues:
        raise InputInvalid(texts("api.populate.invalid_resource", location=where), issues=issues)


def _retyped(given, read, where: str) -> list[Issue]:
    """Where the model's reading of a resource (`read`, dumped) has another JSON type than what was `given`."""
    if isinstance(given, dict) and isinstance(read, dict):
        return [i for key in given.keys() & read.keys() for i in _retyped(given[key], read[key], f"{where}.{key}")]
    if isinstance(given, list) and isinstance(read, list) and len(given) == len(read):
        return [i for n, (g, r) in enumerate(zip(given, read, strict=True)) for i in _retyped(g, r, f"{where}[{n}]")]
    if json_type(given) == json_type(read) or {json_type(given), json_type(read)} <= {"object", "array"}:
        return []
    refusal = texts("api.populate.element_type", location=where, expected=json_type(read), got=json_type(given))
    return [Issue.of(refusal, code="structure", expression=(where,))]


def _located(expression: str, rtype: str, where: str) -> str:
    """A model issue's location (Patient.birthDate) where it is in the request (Parameters.parameter[2]....birthDate);
    pydantic's `root` steps left out."""
    if not expression.startswith(rtype):
        return where
    return (where + expression[len(rtype) :]).replace(".root.", ".").removesuffix(".root")


def _launch(named: dict[str, list], pooled: list[dict], patient_id: str) -> dict[str, dict | None]:
    """%patient (the subject: given, else the record's, else just its reference), %encounter, %user."""
    out: dict[str, dict | None] = {}
    for name, types in LAUNCH_TYPES.items():
        out[name] = next((r for r in named.get(name, ()) if r.get("resourceType") in types), None)
    patient = out["patient"] if (out["patient"] or {}).get("id") == patient_id else None
    out["patient"] = patient or next(
        (r for r in pooled if r.get("resourceType") == "Patient" and r.get("id") == patient_id), None
    )
    return out


def _combined(*fetches: Fetch) -> Fetch:
    """One search answered by several sources: the entries of each (a resource once)."""

    def fetch(query: str) -> dict:
        entries, seen = [], set()
        for one in fetches:
            for entry in one(query).get("entry") or ():
                resource = entry.get("resource") or {}
                key = (resource.get("resourceType"), resource.get("id"))
                if key not in seen:
                    seen.add(key)
                    entries.append(entry)
        return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}

    return fetch


def _evaluate(
    qdef: QuestionnaireDef,
    patient: dict,
    fetch: Fetch,
    launch: dict[str, dict | None],
    given: dict[str, list],
    today: date,
    issues: list[Issue],
) -> Population:
    try:
        return population(qdef, patient, fetch, today, encounter=launch["encounter"], user=launch["user"], given=given)
    except QueryNotSupported as exc:
        issues.append(
            Issue.of(texts("api.populate.not_populated", reason=exc), severity="warning", code="not-supported")
        )
        return EMPTY


def _populate(
    qdef: QuestionnaireDef,
    launch: dict[str, dict | None],
    given: dict[str, list],
    pooled: list[dict],
    patient_id: str,
    local: bool,
    today: date,
    issues: list[Issue],
) -> tuple[Population, dict | None]:
    """The declarations evaluated: x-fhir-queries over the resources given and, with `local`, the configured
    server (that server unreadable: a warning, and the resources given alone); and the subject's Patient
    when it was given or read (None when only its reference is known)."""
    settings = services().settings
    if local and not settings.fhir_base_url:
        issues.append(Issue.of(texts("api.populate.no_server"), severity="warning", code="not-supported"))
    elif local:
        try:
            with fhir_client(settings, retries=1) as client:
                patient = launch["patient"] or client.read("Patient", patient_id)
                fetch = _combined(record_fetch(pooled), client_fetch(client))
                return _evaluate(qdef, patient, fetch, launch, given, today, issues), patient
        except FhirError as exc:
            log.info("reading the record for $populate failed: %s (HTTP %s)", type(exc).__name__, exc.status)
            status = f" (HTTP {exc.status})" if exc.status else ""
            issues.append(
                Issue.of(texts("api.populate.unreadable", status=status), severity="warning", code="transient")
            )
    patient = launch["patient"] or {"resourceType": "Patient", "id": patient_id}
    return _evaluate(qdef, patient, record_fetch(pooled), launch, given, today, issues), launch["patient"]


@populate_api.post("/Questionnaire/$populate")
@populate_api.post("/Questionnaire/<qid>/$populate")
def populate_questionnaire(qid: str | None = None):
    require("Questionnaire", "r")
    ks = services()
    params = _params(read_fhir_body())
    issues: list[Issue] = []
    qdef = _questionnaire(ks.engine, qid, params, issues)
    patient_id = _subject(params)
    named, pooled = _given(params)
    declared = {v.name for v in declarations(qdef.resource).variables}
    given = {name: values for name, values in named.items() if name in declared}
    launch = _launch(named, pooled, patient_id)
    local = any(p.get("name") == "local" and p.get("valueBoolean") is True for p in params)
    if local:
        require("Patient", "r")  # reads the record from the FHIR server with this service's own access
    elif not pooled:
        issues.append(Issue.of(texts("api.populate.no_data"), severity="information", code="informational"))
    today = datetime.now(PRACTICE_ZONE).date()
    result, known = _populate(qdef, launch, given, pooled, patient_id, local, today, issues)
    qr = response(qdef, result, {"id": patient_id})
    if known:
        # The patient's identity and contact details travel with the response, contained as its subject
        # (https://hl7.org/fhir/R4/references.html#contained): a referral outside the practice needs them, and
        # the recipient's server does not know the practice's Patient/<id> (Engine.extract refuses it without).
        qr = contain_patient(qr, known)
    for s in suggestions_for(qdef, facts_of(result, today), today):
        issues.append(
            Issue(
                severity="information",
                code="informational",
                text=s.text,
                english=s.english,
                expression=(item_location(qr, qdef.items[s.link_id].path if s.link_id in qdef.items else ()),),
            )
        )
    audit_read("populate", f"Patient/{patient_id}", identifier_of(known, BSN), qdef.canonical)
    out = [{"name": "response", "resource": qr}]
    if issues:
        out.append({"name": "issues", "resource": operation_outcome(issues, response_lang())})
    http = fhir_response({"resourceType": "Parameters", "parameter": out})
    http.headers["Cache-Control"] = "no-store"
    return http
