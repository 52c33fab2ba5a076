"""The FHIR-style API under /fhir: metadata, Questionnaires, and the QuestionnaireResponse operations."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from service.api.auth import caller, caller_practice, require
from service.api.fhirjson import parse_fhir_json, unwrap_parameter
from service.errors import Issue, NotFound, PayloadTooLarge, operation_outcome
from service.errors_render import FHIR_JSON, fhir_json, response_lang
from service.referrals.explain import to_parameters
from service.referrals.pipeline import Engine
from service.services import services

log = logging.getLogger(__name__)
api = Blueprint("api", __name__, url_prefix="/fhir")
CATALOG_TYPES = ("Questionnaire", "CodeSystem", "ValueSet", "ConceptMap")


def engine() -> Engine:
    return services().engine


def fhir_response(resource: dict, status: int = 200):
    return fhir_json(resource, status)


def read_fhir_body() -> dict:
    """The request body as FHIR JSON within the size, depth and content-type limits, or a 4xx KsError."""
    settings = current_app.config["KS_SETTINGS"]
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise PayloadTooLarge(
            f"Het verzoek is groter dan {settings.max_body_bytes} bytes.",
            english=f"The request body is larger than {settings.max_body_bytes} bytes.",
        ) from None
    return parse_fhir_json(body, request.content_type, max_depth=settings.max_json_depth)


def read_body(expected: str, names: tuple[str, ...]) -> dict:
    return unwrap_parameter(read_fhir_body(), names, expected)


@api.get("/metadata")
def metadata():
    """CapabilityStatement (https://hl7.org/fhir/R4/capabilitystatement.html) of what this service offers."""
    from service.version import __version__

    op = f"{request.url_root}fhir/OperationDefinition"
    resources = [
        {
            "type": rtype,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": "url", "type": "uri"}, {"name": "version", "type": "token"}],
        }
        for rtype in CATALOG_TYPES
    ]
    resources[0]["operation"] = [
        {"name": "populate", "definition": "http://hl7.org/fhir/uv/sdc/OperationDefinition/Questionnaire-populate"}
    ]
    resources.append(
        {
            "type": "QuestionnaireResponse",
            "operation": [
                {"name": "validate", "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"},
                {"name": "evaluate", "definition": f"{op}/QuestionnaireResponse-evaluate"},
                {
                    "name": "extract",
                    "definition": "http://hl7.org/fhir/uv/sdc/OperationDefinition/QuestionnaireResponse-extract",
                },
            ],
            "interaction": [{"code": "create"}],
        }
    )
    return fhir_response(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-11-23",
            "kind": "instance",
            "software": {"name": "Kansrijke Start FHIR service", "version": __version__},
            "implementation": {
                "description": "Kansrijke Start: signalering en verwijzing",
                "url": f"{request.url_root}fhir",
            },
            "fhirVersion": "4.0.1",
            "format": [FHIR_JSON, "json"],
            "rest": [{"mode": "server", "resource": resources, **_security()}],
        }
    )


def _security() -> dict:
    """rest.security when the API asks for tokens: SMART Backend Services, the token endpoint in the
    oauth-uris extension as well as in .well-known/smart-configuration."""
    if services().api_auth is None:
        return {}
    from service.api.auth import token_endpoint_url
    from service.fhir.urls import smart_security

    return {
        "security": smart_security(
            token=token_endpoint_url(),
            description="SMART Backend Services: a bearer token for every operation on patient data; "
            "the CapabilityStatement and the form definitions are public.",
        )
    }


def _searchset(resources: list[dict]) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {
                "fullUrl": f"{request.url_root}fhir/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


@api.get("/<any(Questionnaire, CodeSystem, ValueSet, ConceptMap):rtype>")
def search_catalog(rtype: str):
    url, version = request.args.get("url"), request.args.get("version")
    if url and "|" in url:  # canonical|version form of the url parameter
        url, version = url.split("|", 1)
    found = [
        r
        for r in engine().catalog.by_type(rtype)
        if (not url or r.get("url") == url) and (not version or r.get("version") == version)
    ]
    return fhir_response(_searchset(found))


@api.get("/<any(Questionnaire, CodeSystem, ValueSet, ConceptMap):rtype>/<rid>")
def read_catalog(rtype: str, rid: str):
    resource = engine().catalog.resources.get((rtype, rid))
    if resource is None:
        raise NotFound(f"{rtype}/{rid} bestaat niet.", english=f"{rtype}/{rid} does not exist.")
    return fhir_response(resource)


QR_PARAM_NAMES = ("questionnaire-response", "questionnaireResponse", "resource")


@api.post("/QuestionnaireResponse/$validate")
def validate_qr():
    """FHIR $validate: 200 with an OperationOutcome whether or not the response is valid
    (https://hl7.org/fhir/R4/resource-operation-validate.html); 4xx only when it cannot be read."""
    require("QuestionnaireResponse", "cr")
    qr = read_body("QuestionnaireResponse", QR_PARAM_NAMES)
    result = engine().validate(qr)
    issues = list(result.issues) or [
        Issue(
            severity="information", code="informational", text="Geen problemen gevonden.", english="No problems found."
        )
    ]
    return fhir_response(operation_outcome(issues, response_lang()))


@api.post("/QuestionnaireResponse/$evaluate")
def evaluate_qr():
    """Level, safety flag, recipients with priority, rules and reasons: what the form's live panel shows."""
    require("QuestionnaireResponse", "cr")
    qr = read_body("QuestionnaireResponse", QR_PARAM_NAMES)
    result, evaluation = engine().evaluate(qr, request.args.get("region"))
    log.debug(
        "evaluated response with rule set %s: %d decision(s)", evaluation.ruleset.label, len(evaluation.decisions)
    )
    return fhir_response(to_parameters(evaluation, result.questionnaire))


@api.post("/QuestionnaireResponse/$extract")
def extract_qr():
    """SDC $extract: the referral transaction Bundle; nothing is written anywhere."""
    require("QuestionnaireResponse", "cr")
    qr = read_body("QuestionnaireResponse", QR_PARAM_NAMES)
    extraction = engine().extract(qr, request.args.get("region"))
    return fhir_response(extraction.bundle)


STATE_CODES = {"dead": "dead-letter"}


def submit_result_parameters(result, qdef, names) -> dict:
    """What POST /fhir/QuestionnaireResponse answers: the overall state; per destination its state, recipients
    and the ids on its server; the practice's own record (the complete response and the internal referrals,
    for the HIS to store: nothing of it went anywhere else); the decision."""
    params = [
        {"name": "submission", "valueString": result.submission_id},
        {"name": "state", "valueCode": STATE_CODES.get(result.state, result.state)},
    ]
    for d in result.destinations:
        parts = [
            {"name": "name", "valueString": d.destination},
            {"name": "display", "valueString": names(d.destination)},
            {"name": "state", "valueCode": STATE_CODES.get(d.state, d.state)},
        ]
        parts += [{"name": "recipient", "valueString": r} for r in d.recipients]
        for rtype, name in (("ServiceRequest", "serviceRequest"), ("Task", "task"), ("Consent", "consent")):
            parts += [
                {"name": name, "valueReference": {"reference": f"{rtype}/{rid}"}}
                for rid in d.delivered.ids.get(rtype, [])
            ]
        if d.state == "dead":
            parts.append({"name": "outcome", "resource": _refusal(d, names)})
        params.append({"name": "destination", "part": parts})
    params.append({"name": "record", "resource": result.extraction.bundles.record})
    params.append({"name": "evaluation", "part": to_parameters(result.extraction.evaluation, qdef)["parameter"]})
    return {"resourceType": "Parameters", "parameter": params}


@api.post("/QuestionnaireResponse")
def submit_qr():
    """Automatic referral creation: validate, evaluate, store in the outbox (one item per destination), push.

    201 when every destination took its Bundle (or nothing had to leave the practice); 202 when some wait in
    the outbox (a server not reachable: they go out later, once) or were refused while others took theirs (each
    refused one with its `outcome`, kept as a dead letter); 502 with an OperationOutcome when every destination
    refused."""
    require("QuestionnaireResponse", "c")
    qr = read_body("QuestionnaireResponse", QR_PARAM_NAMES)
    delivery = services().delivery
    result = delivery.submitter.submit(
        qr,
        region=request.args.get("region"),
        who=caller(),
        access_point=request.remote_addr or "api",
        practice=caller_practice(),
    )
    if result.state == "dead" and not any(d.state == "delivered" for d in result.destinations):
        # Every destination refused: nothing went and nothing will by itself. An OperationOutcome (what the HIS
        # must act on), as for any failed operation; the referral stays in the outbox for a retry after a fix.
        outcome = operation_outcome([], response_lang())
        for d in result.destinations:
            outcome["issue"] += _refusal(d, delivery.name)["issue"]
        return fhir_response(outcome, 502)
    body = submit_result_parameters(result, result.extraction.validation.questionnaire, delivery.name)
    return fhir_response(body, 201 if result.state in ("delivered", "recorded") else 202)


def _refusal(d, names) -> dict:
    """A destination's refusal as an OperationOutcome: ours, then the server's own issues."""
    outcome = operation_outcome(
        [
            Issue(
                code="processing",
                text=f"{names(d.destination)} weigerde de verwijzing; ze staat als 'dead letter' in de outbox.",
                english=f"Destination {d.destination} refused the referral (HTTP {d.item.last_status}); it is kept as a dead letter "
                f"in the outbox (item {d.item.id}).",
            )
        ],
        response_lang(),
    )
    outcome["issue"] += ((d.item.last_error or {}).get("operationOutcome") or {}).get("issue", [])
    return outcome
