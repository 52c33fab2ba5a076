"""An OpenAPI 3.0 document of the /fhir API, generated from the app's own route table (Flask's url_map: every rule
under /fhir, each method) and the small table below of what each endpoint is and answers, as HAPI FHIR publishes
one from its resource providers. A route without a description here is still listed (with a generic one); a
description without a route is left out, so the document never names what the service does not serve.

The FHIR resources are described loosely (an object with a `resourceType`): their structure is FHIR's, published
in the CapabilityStatement (/fhir/metadata) and the OperationDefinitions; every error is an OperationOutcome.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FHIR_JSON = "application/fhir+json"
FHIR_ID = r"^[A-Za-z0-9\-\.]{1,64}$"
SKIPPED_METHODS = {"HEAD", "OPTIONS"}
_ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")


@dataclass(frozen=True)
class Endpoint:
    summary: str
    returns: tuple[str, ...] = ("Resource",)  # the success body: a component schema per success status below
    success: tuple[int, ...] = (200,)
    query: tuple[str, ...] = ()  # query parameters (strings)
    searches: str | None = None  # a resource type of service/api/measures.py CAPABILITIES: its query's documentation
    body: bool = False  # takes a FHIR resource (or a Parameters) as its body
    prefer: bool = False  # reads the Prefer header
    public: bool = False  # no bearer token needed
    description: str = ""
    tags: tuple[str, ...] = field(default=("FHIR",))


QR = "QuestionnaireResponse"
# What Engine.extract refuses of every call that makes referrals (service/referrals/pipeline.py).
PATIENT_NEEDED = (
    " A referral that leaves the practice needs the patient: a contained Patient as `subject` (`#patient`) or the BSN "
    "as `subject.identifier`; a plain `Patient/<id>` is a 422 at `QuestionnaireResponse.subject`."
)
ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    ("api.metadata", "GET"): Endpoint(
        "CapabilityStatement: what this service offers", ("CapabilityStatement",), public=True
    ),
    ("api.openapi_document", "GET"): Endpoint("This OpenAPI document", ("OpenApi",), public=True),
    ("api.search_catalog", "GET"): Endpoint(
        "Search the service's conformance resources by url (also url|version) and version",
        ("Bundle",),
        query=("url", "version"),
        prefer=True,
        public=True,
        description="Unknown parameters are ignored and left out of the self link; with `Prefer: handling=strict` "
        "they are a 400.",
    ),
    ("api.read_catalog", "GET"): Endpoint("Read a conformance resource", ("Resource",), public=True),
    ("api.validate_qr", "POST"): Endpoint(
        "$validate (OperationDefinition QuestionnaireResponse-validate)",
        ("OperationOutcome",),
        query=("mode", "profile", "region"),
        body=True,
        description="200 with an OperationOutcome whether or not the response is valid; a profile or mode it "
        "cannot check is a 400.",
    ),
    ("api.validate_qr", "GET"): Endpoint(
        "$validate of a submitted response", ("OperationOutcome",), query=("mode", "profile", "region")
    ),
    ("api.evaluate_qr", "POST"): Endpoint(
        "$evaluate (OperationDefinition QuestionnaireResponse-evaluate): level, safety, recommendations",
        ("Parameters",),
        query=("region",),
        body=True,
    ),
    ("api.extract_qr", "POST"): Endpoint(
        "SDC $extract (OperationDefinition QuestionnaireResponse-extract): the referral Bundles, nothing written",
        ("Bundle",),
        query=("region",),
        body=True,
        description="The Bundle itself, or a Parameters with `return` and `issues` when there are issues."
        + PATIENT_NEEDED,
    ),
    ("api.extract_qr", "GET"): Endpoint("SDC $extract of a submitted response", ("Bundle",), query=("region",)),
    ("api.create_qr", "POST"): Endpoint(
        "Create (submit) a QuestionnaireResponse: validate, evaluate, store in the outbox, push",
        (QR, QR),
        success=(201, 200),
        query=("region",),
        body=True,
        prefer=True,
        description="201 with Location [base]/QuestionnaireResponse/[id]/_history/[vid] (200: submitted before); "
        "the body as `Prefer: return=minimal|representation|OperationOutcome` asks. The referral outcome: "
        "$referral-status." + PATIENT_NEEDED,
    ),
    ("api.read_qr", "GET"): Endpoint("Read (or vread) a QuestionnaireResponse this caller submitted", (QR,)),
    ("api.referral_status", "GET"): Endpoint(
        "$referral-status (OperationDefinition QuestionnaireResponse-referral-status): where the referrals stand",
        ("Parameters",),
    ),
    ("api.referral_status", "POST"): Endpoint("$referral-status (POST form)", ("Parameters",)),
    ("api.submit_qr", "POST"): Endpoint(
        "$submit (OperationDefinition QuestionnaireResponse-submit): create and the referral outcome in one call",
        ("Parameters", "Parameters"),
        success=(201, 202),
        query=("region",),
        body=True,
        description="502 with an OperationOutcome when every destination refused." + PATIENT_NEEDED,
    ),
    ("api.search_measures", "GET"): Endpoint(
        "The published Measures, one per mirror figure", ("Bundle",), query=("url",), searches="Measure", public=True
    ),
    ("api.read_measure", "GET"): Endpoint("Read a Measure", ("Resource",), public=True),
    ("api.search_measure_reports", "GET"): Endpoint(
        "The mirror figures as summary MeasureReports (system/MeasureReport.r)",
        ("Bundle",),
        query=("measure", "period", "subject"),
        searches="MeasureReport",
        prefer=True,
        description="`period` 2026 or 2026Q4 and `subject` (a practice id, or a region id) are required; a cell "
        "based on fewer people than the threshold has no count (data-absent-reason masked).",
    ),
    ("populate_api.populate_questionnaire", "POST"): Endpoint(
        "SDC $populate (OperationDefinition Questionnaire-populate): a pre-filled QuestionnaireResponse",
        ("Parameters",),
        body=True,
    ),
    ("auth_api.smart_configuration", "GET"): Endpoint(
        "SMART Backend Services discovery (404 OperationOutcome when the API is open)",
        ("SmartConfiguration",),
        public=True,
        tags=("SMART",),
    ),
}


def _response_in(questionnaires: dict[str, list[str]]) -> dict:
    """A QuestionnaireResponse body in the shape our Questionnaires take (their canonicals and linkIds): what a
    form filler sends. Looser than FHIR's (the validator says what is wrong), stricter than "any object", so a
    generated request reaches the validator's and the rules' depths and not only the JSON reader's."""
    link_ids = sorted({lid for ids in questionnaires.values() for lid in ids}) or ["x"]
    answer = {
        "type": "object",
        "properties": {
            "valueBoolean": {"type": "boolean"},
            "valueString": {"type": "string"},
            "valueDate": {"type": "string", "format": "date"},
            "valueInteger": {"type": "integer"},
            "valueCoding": {"type": "object", "properties": {"system": {"type": "string"}, "code": {"type": "string"}}},
        },
        "maxProperties": 1,
    }
    item = {
        "type": "object",
        "required": ["linkId"],
        "properties": {
            "linkId": {"type": "string", "enum": link_ids},
            "answer": {"type": "array", "maxItems": 2, "items": answer},
            "item": {"type": "array", "maxItems": 3, "items": {"type": "object"}},
        },
    }
    return {
        "type": "object",
        "required": ["resourceType", "status", "questionnaire"],
        "properties": {
            "resourceType": {"type": "string", "enum": [QR]},
            "status": {"type": "string", "enum": ["completed", "amended", "in-progress"]},
            "questionnaire": {"type": "string", "enum": sorted(questionnaires) or ["x"]},
            "subject": {"type": "object", "properties": {"reference": {"type": "string"}}},
            "authored": {"type": "string", "format": "date-time"},
            "item": {"type": "array", "maxItems": 8, "items": item},
        },
    }


def _schemas() -> dict:
    resource = {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"type": "string"}},
        "additionalProperties": True,
    }

    def of(rtype: str) -> dict:
        return {**resource, "properties": {"resourceType": {"type": "string", "enum": [rtype]}}}

    schemas = {name: of(name) for name in ("CapabilityStatement", "Bundle", "Parameters", QR, "OperationOutcome")}
    schemas["OperationOutcome"]["required"] = ["resourceType", "issue"]
    schemas["OperationOutcome"]["properties"]["issue"] = {"type": "array", "minItems": 1, "items": {"type": "object"}}
    schemas["Resource"] = resource
    schemas["OpenApi"] = {"type": "object", "required": ["openapi", "paths"]}
    schemas["SmartConfiguration"] = {"type": "object", "required": ["token_endpoint"]}
    return schemas


def _paths_of(rule) -> list[tuple[str, list[dict]]]:
    """The OpenAPI path(s) of a Werkzeug rule with its path parameters; an `any(...)` argument gives one path per
    choice (each a resource type of its own)."""
    paths: list[tuple[str, list[dict]]] = [(rule.rule, [])]
    for match in _ARGUMENT.finditer(rule.rule):
        converter, args, name = match.group("converter") or "default", match.group("args"), match.group("name")
        expanded = []
        for path, params in paths:
            if converter == "any":
                for choice in sorted(a.strip() for a in (args or "").split(",") if a.strip()):
                    expanded.append((path.replace(match.group(0), choice), params))
            else:
                pattern = FHIR_ID if converter == "fhirid" else r"^[^/]+$"
                param = {"name": name, "in": "path", "required": True, "schema": {"type": "string", "pattern": pattern}}
                expanded.append((path.replace(match.group(0), "{" + name + "}"), [*params, param]))
        paths = expanded
    return paths


def _query_param(endpoint: Endpoint, name: str) -> dict:
    """A query parameter (a string); as the CapabilityStatement documents it when the endpoint `searches` a type."""
    from service.api.measures import CAPABILITIES

    documented = next((p for p in CAPABILITIES.get(endpoint.searches or "", ()) if p.name == name), None)
    param = {"name": name, "in": "query", "required": bool(documented and documented.required)}
    if documented is not None:
        param["description"] = f"{documented.documentation} ({documented.definition})"
    return param | {"schema": {"type": "string"}}


def _operation(endpoint: Endpoint, method: str, path_params: list[dict]) -> dict:
    def body(schema: str, *, json_too: bool = False) -> dict:
        ref = {"schema": {"$ref": f"#/components/schemas/{schema}"}}
        if schema in ("OpenApi", "SmartConfiguration"):
            return {"application/json": ref}
        return {FHIR_JSON: ref, **({"application/json": ref} if json_too else {})}

    responses = {
        str(status): {"description": "Success", "content": body(schema)}
        for status, schema in zip(endpoint.success, endpoint.returns, strict=False)
    }
    responses["default"] = {"description": "An error: always an OperationOutcome", "content": body("OperationOutcome")}
    params = list(path_params) + [_query_param(endpoint, q) for q in endpoint.query]
    if endpoint.prefer:
        params.append({"name": "Prefer", "in": "header", "required": False, "schema": {"type": "string"}})
    operation: dict = {
        "summary": endpoint.summary,
        "tags": list(endpoint.tags),
        "parameters": params,
        "responses": responses,
    }
    if endpoint.description:
        operation["description"] = endpoint.description
    if endpoint.body and method in ("POST", "PUT"):
        takes = "Resource" if endpoint.summary.startswith("SDC $populate") else "QuestionnaireResponseIn"
        operation["requestBody"] = {"required": True, "content": body(takes, json_too=True)}
    if endpoint.public:
        operation["security"] = []
    return operation


def document(url_map, base: str, version: str, questionnaires: dict[str, list[str]] | None = None) -> dict:
    """The OpenAPI document of every /fhir route in `url_map`, served from `base` (…/fhir); `questionnaires`
    (canonical url|version -> linkIds) shape the QuestionnaireResponse bodies."""
    paths: dict[str, dict] = {}
    for rule in sorted(url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/fhir"):
            continue
        for method in sorted((rule.methods or set()) - SKIPPED_METHODS):
            endpoint = ENDPOINTS.get((rule.endpoint, method)) or Endpoint(f"{method} {rule.rule}")
            for path, params in _paths_of(rule):
                paths.setdefault(path.removeprefix("/fhir") or "/", {})[method.lower()] = _operation(
                    endpoint, method, params
                )
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Kansrijke Start FHIR API",
            "version": version,
            "description": "FHIR R4 (4.0.1) JSON. The CapabilityStatement (/metadata) and the OperationDefinitions "
            "it names are the authority; this document is generated from the same routes.",
        },
        "servers": [{"url": base}],
        "paths": paths,
        "components": {
            "schemas": {**_schemas(), "QuestionnaireResponseIn": _response_in(questionnaires or {})},
            "securitySchemes": {
                "smartBackendServices": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "SMART Backend Services (discovery: /.well-known/smart-configuration); "
                    "only when the deployment asks for tokens (KS_API_AUTH=backend-services).",
                }
            },
        },
        "security": [{"smartBackendServices": []}],
    }
