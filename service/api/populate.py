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

from flask import Blueprint, request

from service.api.auth import caller, require
from service.api.views import fhir_response, read_fhir_body
from service.audit import AuditEntry
from service.errors import InputInvalid, Issue, NotFound, operation_outcome
from service.errors_render import response_lang
from service.fhir.errors import FhirError
from service.questionnaires.catalog import QuestionnaireDef
from service.questionnaires.populate import facts_of, population, response, suggestions_for
from service.questionnaires.sdc import Fetch, Population, QueryNotSupported, client_fetch, declarations, record_fetch
from service.referrals.pipeline import PRACTICE_ZONE
from service.referrals.wiring import fhir_client
from service.services import services

log = logging.getLogger(__name__)
populate_api = Blueprint("populate_api", __name__, url_prefix="/fhir")
LAUNCH_TYPES = {"patient": ("Patient",), "encounter": ("Encounter",), "user": ("Practitioner", "PractitionerRole")}
EMPTY = Population(answers={}, variables={})


def _params(body: dict) -> list[dict]:
    if body.get("resourceType") != "Parameters":
        raise InputInvalid(
            f"Verwacht Parameters, kreeg {body.get('resourceType')!r}.",
            english=f"Expected Parameters, got {body.get('resourceType')!r}.",
        )
    return [p for p in body.get("parameter") or () if isinstance(p, dict)]


def _value(param: dict):
    for key, value in param.items():
        if key.startswith("value") or key == "resource":
            return key, value
    return None, None


def _resources(value) -> list[dict]:
    """A resource, or the resources of a Bundle (searchset, collection, ...)."""
    if not isinstance(value, dict) or not value.get("resourceType"):
        return []
    if value.get("resourceType") == "Bundle":
        return [r for e in value.get("entry") or () if isinstance(e, dict) for r in _resources(e.get("resource"))]
    return [value]


def _questionnaire(engine, qid: str | None, params: list[dict], issues: list[Issue]):
    catalog = engine.catalog
    if qid:
        resource = catalog.resources.get(("Questionnaire", qid))
        if resource is None:
            raise NotFound(f"Questionnaire/{qid} bestaat niet.", english=f"Questionnaire/{qid} does not exist.")
        return catalog.find(f"{resource['url']}|{resource['version']}")
    for p in params:
        if p.get("name") != "questionnaire":
            continue
        key, value = _value(p)
        canonical = None
        if key in ("valueUri", "valueCanonical", "valueString"):
            canonical = value
        elif key == "valueReference" and isinstance(value, dict):
            ref = value.get("reference", "")
            if ref.startswith("Questionnaire/") and ("Questionnaire", ref.split("/", 1)[1]) in catalog.resources:
                r = catalog.resources[("Questionnaire", ref.split("/", 1)[1])]
                canonical = f"{r['url']}|{r['version']}"
            else:
                canonical = ref
        elif key == "resource" and isinstance(value, dict):
            canonical = f"{value.get('url')}|{value.get('version')}" if value.get("version") else value.get("url")
        qdef = catalog.find(canonical)
        if qdef is None:
            raise NotFound(
                f"Onbekende vragenlijst {canonical!r}: deze service vult alleen haar eigen vragenlijsten in.",
                english=f"Unknown questionnaire {canonical!r}: this service populates its own questionnaires only.",
            )
        return qdef
    # SDC asks for exactly one of identifier/questionnaire at type level; without one, the region's own.
    qdef = catalog.find(engine.ruleset().questionnaire)
    issues.append(
        Issue(
            severity="information",
            code="informational",
            text=f"Geen vragenlijst opgegeven: {qdef.canonical} gebruikt.",
            english=f"No questionnaire given: used {qdef.canonical}.",
        )
    )
    return qdef


def _subject(params: list[dict]) -> str:
    subject = next((p.get("valueReference") for p in params if p.get("name") == "subject"), None)
    ref = subject.get("reference") if isinstance(subject, dict) else None
    if not isinstance(ref, str) or not ref.startswith("Patient/") or len(ref) <= len("Patient/"):
        raise InputInvalid(
            "Parameter 'subject' moet een verwijzing naar een Patient zijn (Patient/<id>).",
            english="Parameter 'subject' must reference a Patient (Patient/<id>).",
        )
    return ref.split("/", 1)[1].split("/_history")[0]


def _given(params: list[dict]) -> tuple[dict[str, list], list[dict]]:
    """The `context` parts by name (SDC: a launch context or variable of the Questionnaire), and every
    resource given (all `context` contents and `data`): the record the x-fhir-queries search."""
    named: dict[str, list] = {}
    pooled: list[dict] = []
    for p in params:
        if p.get("name") == "context":
            parts = [part for part in p.get("part") or () if isinstance(part, dict)]
            name = next((part.get("valueString") for part in parts if part.get("name") == "name"), None)
            for part in parts:
                if part.get("name") == "content" and isinstance(_value(part)[1], dict):
                    named.setdefault(str(name), []).append(_value(part)[1])
                    pooled += _resources(_value(part)[1])
        elif p.get("name") == "data":
            pooled += _resources(p.get("resource"))
    return named, pooled


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
            Issue(
                severity="warning",
                code="not-supported",
                text=f"Niet ingevuld: {exc}.",
                english=f"Not populated: {exc}.",
            )
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
) -> Population:
    """The declarations evaluated: x-fhir-queries over the resources given and, with `local`, the configured
    server (that server unreadable: a warning, and the resources given alone)."""
    settings = services().settings
    if local and not settings.fhir_base_url:
        issues.append(
            Issue(
                severity="warning",
                code="not-supported",
                text="Deze service heeft geen FHIR-server om uit te lezen (local).",
                english="This service has no FHIR server to read from (local).",
            )
        )
    elif local:
        try:
            with fhir_client(settings, retries=1) as client:
                patient = launch["patient"] or client.read("Patient", patient_id)
                return _evaluate(
                    qdef, patient, _combined(record_fetch(pooled), client_fetch(client)), launch, given, today, issues
                )
        except FhirError as exc:
            log.info("reading the record for $populate failed: %s (HTTP %s)", type(exc).__name__, exc.status)
            status = f" (HTTP {exc.status})" if exc.status else ""
            issues.append(
                Issue(
                    severity="warning",
                    code="transient",
                    text=f"Het dossier kon niet van de FHIR-server worden gelezen{status}.",
                    english=f"The record could not be read from the FHIR server{status}.",
                )
            )
    patient = launch["patient"] or {"resourceType": "Patient", "id": patient_id}
    return _evaluate(qdef, patient, record_fetch(pooled), launch, given, today, issues)


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
        issues.append(
            Issue(
                severity="information",
                code="informational",
                text="Geen gegevens om mee in te vullen: geef resources mee (context) of local=true.",
                english="No data to populate from: pass resources (context) or local=true.",
            )
        )
    today = datetime.now(PRACTICE_ZONE).date()
    result = _populate(qdef, launch, given, pooled, patient_id, local, today, issues)
    qr = response(qdef, result, {"id": patient_id})
    for s in suggestions_for(qdef, facts_of(result, today), today):
        issues.append(
            Issue(
                severity="information",
                code="informational",
                text=s.text,
                english=s.english,
                expression=(f"QuestionnaireResponse.repeat(item).where(linkId = '{s.link_id}')",),
            )
        )
    ks.delivery.audit.record(
        AuditEntry(
            event="populate",
            action="R",
            outcome="0",
            who=caller(),
            patient=f"Patient/{patient_id}",
            object=qdef.canonical,
            access_point=request.remote_addr or "api",
        )
    )
    out = [{"name": "response", "resource": qr}]
    if issues:
        out.append({"name": "issues", "resource": operation_outcome(issues, response_lang())})
    http = fhir_response({"resourceType": "Parameters", "parameter": out})
    http.headers["Cache-Control"] = "no-store"
    return http
