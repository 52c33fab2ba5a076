"""SDC $populate: POST /fhir/Questionnaire/$populate (and /fhir/Questionnaire/{id}/$populate).

https://hl7.org/fhir/uv/sdc/OperationDefinition/Questionnaire-populate. In: `questionnaire` (a canonical
uri, a Reference or the resource) or `identifier`, `subject` (a Patient reference), `context` parts
(`name` + `content`: the resources to populate from, or a Bundle of them), `data` (a Bundle), and
`local` (true: read the subject's record from the FHIR server this service is configured with). Out:
`response` (an in-progress QuestionnaireResponse) and `issues` (an OperationOutcome: suggestions the
form shows beside items, such as teenage pregnancy — never ticked — and warnings).
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Blueprint, current_app, request

from service.api.auth import caller, require
from service.api.views import fhir_response, read_fhir_body
from service.audit import AuditEntry
from service.ehr import read_record
from service.errors import InputInvalid, Issue, NotFound, operation_outcome
from service.questionnaires.populate import populate, suggestions
from service.referrals.pipeline import PRACTICE_ZONE
from service.referrals.wiring import fhir_client
from service.services import services

log = logging.getLogger(__name__)
populate_api = Blueprint("populate_api", __name__, url_prefix="/fhir")
USED_TYPES = ("Patient", "Observation", "Condition")


def _params(body: dict) -> list[dict]:
    if body.get("resourceType") != "Parameters":
        raise InputInvalid(f"Verwacht Parameters, kreeg {body.get('resourceType')!r}.",
                           english=f"Expected Parameters, got {body.get('resourceType')!r}.")
    return [p for p in body.get("parameter") or () if isinstance(p, dict)]


def _value(param: dict):
    for key, value in param.items():
        if key.startswith("value") or key == "resource":
            return key, value
    return None, None


def _resources(value) -> list[dict]:
    """A resource, or the resources of a Bundle, keeping only those $populate reads."""
    if not isinstance(value, dict):
        return []
    if value.get("resourceType") == "Bundle":
        return [r for e in value.get("entry") or () if isinstance(e, dict)
                for r in _resources(e.get("resource"))]
    return [value] if value.get("resourceType") in USED_TYPES else []


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
            raise NotFound(f"Onbekende vragenlijst {canonical!r}: deze service vult alleen haar eigen vragenlijsten in.",
                           english=f"Unknown questionnaire {canonical!r}: this service populates its own questionnaires only.")
        return qdef
    # SDC asks for exactly one of identifier/questionnaire at type level; without one, the region's own.
    qdef = catalog.find(engine.ruleset().questionnaire)
    issues.append(Issue(severity="information", code="informational",
                        text=f"Geen vragenlijst opgegeven: {qdef.canonical} gebruikt.",
                        english=f"No questionnaire given: used {qdef.canonical}."))
    return qdef


def _read_locally(patient_id: str, issues: list[Issue]) -> list[dict]:
    settings = current_app.config["KS_SETTINGS"]
    if not settings.fhir_base_url:
        issues.append(Issue(severity="warning", code="not-supported", text="Deze service heeft geen FHIR-server om uit te lezen (local).",
                            english="This service has no FHIR server to read from (local)."))
        return []
    with fhir_client(settings, retries=1) as client:
        record = read_record(client, patient_id)
    if record.problem:
        issues.append(Issue(severity="warning", code="transient", text=record.problem[0], english=record.problem[1]))
        return []
    return [r for r in (record.patient, *record.observations, *record.conditions) if r]


@populate_api.post("/Questionnaire/$populate")
@populate_api.post("/Questionnaire/<qid>/$populate")
def populate_questionnaire(qid: str | None = None):
    require("Questionnaire", "r")
    engine = services().engine
    params = _params(read_fhir_body())
    issues: list[Issue] = []
    qdef = _questionnaire(engine, qid, params, issues)

    subject = next((p.get("valueReference") for p in params if p.get("name") == "subject"), None)
    ref = subject.get("reference") if isinstance(subject, dict) else None
    if not isinstance(ref, str) or not ref.startswith("Patient/") or len(ref) <= len("Patient/"):
        raise InputInvalid("Parameter 'subject' moet een verwijzing naar een Patient zijn (Patient/<id>).",
                           english="Parameter 'subject' must reference a Patient (Patient/<id>).")
    patient_id = ref.split("/", 1)[1].split("/_history")[0]

    resources: list[dict] = []
    for p in params:
        if p.get("name") == "context":
            for part in p.get("part") or ():
                if isinstance(part, dict) and part.get("name") == "content":
                    resources += _resources(_value(part)[1])
        elif p.get("name") == "data":
            resources += _resources(p.get("resource"))
    local = any(p.get("name") == "local" and p.get("valueBoolean") is True for p in params)
    if local:
        require("Patient", "r")  # reads the record from the FHIR server with this service's own access
        resources += _read_locally(patient_id, issues)

    patient = next((r for r in resources if r.get("resourceType") == "Patient" and r.get("id") == patient_id), None)
    observations = [r for r in resources if r.get("resourceType") == "Observation"]
    conditions = [r for r in resources if r.get("resourceType") == "Condition"]
    if not resources:
        issues.append(Issue(severity="information", code="informational",
                            text="Geen gegevens om mee in te vullen: geef resources mee (context) of local=true.",
                            english="No data to populate from: pass resources (context) or local=true."))
    today = datetime.now(PRACTICE_ZONE).date()
    qr = populate(qdef, patient or {"resourceType": "Patient", "id": patient_id}, observations, conditions, today)
    qr["subject"] = {"reference": f"Patient/{patient_id}"}
    for s in suggestions(qdef, patient, observations, conditions, today):
        issues.append(Issue(severity="information", code="informational", text=s.text, english=s.english,
                            expression=(f"QuestionnaireResponse.repeat(item).where(linkId = '{s.link_id}')",)))
    services().delivery.audit.record(AuditEntry(
        event="populate", action="R", outcome="0", who=caller(), patient=f"Patient/{patient_id}",
        object=qdef.canonical, access_point=request.remote_addr or "api"))
    out = [{"name": "response", "resource": qr}]
    if issues:
        out.append({"name": "issues", "resource": operation_outcome(issues)})
    response = fhir_response({"resourceType": "Parameters", "parameter": out})
    response.headers["Cache-Control"] = "no-store"
    return response
