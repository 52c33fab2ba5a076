"""The FHIR-style API under /fhir: metadata, Questionnaires, and the QuestionnaireResponse operations."""

from __future__ import annotations

import logging
import re

from flask import current_app, request
from werkzeug.datastructures import CombinedMultiDict

# The mirror figures' Measures and MeasureReports (issue 14), on the same blueprint.
from service.api import measures  # its routes, and the CapabilityStatement of its searches
from service.api.auth import audit_read, caller, caller_practice, caller_region, require
from service.api.base import (
    QR_PARAM_NAMES,
    api,
    base_url,
    engine,
    fhir_response,
    read_body,
    read_fhir_body,
    screened,
    searchset,
    strict_search,
)
from service.api.fhirjson import unwrap_parameter

# The QuestionnaireResponse resource (create, read, vread, $referral-status, $submit), on the same blueprint.
from service.api.submissions import recent_issues, stored_response, with_issues
from service.errors import InputInvalid, Issue, NotFound, ResponseInvalid, operation_outcome
from service.errors_render import FHIR_JSON, response_lang
from service.fhir import urls
from service.referrals.explain import to_parameters
from service.referrals.recent import patient_keys, patient_of_response
from service.services import services
from service.texts import texts

log = logging.getLogger(__name__)
CATALOG_TYPES = ("Questionnaire", "CodeSystem", "ValueSet", "ConceptMap", "OperationDefinition", "StructureDefinition")
SEARCH_PARAMS = ("url", "version")  # what the catalog's searches apply (CapabilityStatement searchParam)


@api.get("/metadata")
def metadata():
    """CapabilityStatement (https://hl7.org/fhir/R4/capabilitystatement.html) of what this service offers."""
    from service.version import __version__

    resources = [
        {
            "type": rtype,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [
                {"name": name, "definition": _search_param(rtype, name), "type": kind}
                for name, kind in (("url", "uri"), ("version", "token"))
            ],
        }
        for rtype in CATALOG_TYPES
    ]
    resources[0]["operation"] = [_operation("Questionnaire", "populate")]
    resources.append(
        {
            "type": "QuestionnaireResponse",
            "interaction": [{"code": "create"}, {"code": "read"}, {"code": "vread"}],
            "versioning": "versioned",
            "readHistory": False,
            "operation": [
                _operation("QuestionnaireResponse", code)
                for code in ("validate", "evaluate", "extract", "submit", "referral-status")
            ],
        }
    )
    resources += _mirror_resources()
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


def _mirror_resources() -> list[dict]:
    """The mirror figures (issue 14 point 5, service/api/measures.py): Measure read and search by url, MeasureReport
    search only (measure, period, subject), each search parameter with its R4 SearchParameter and how it is read
    here (CapabilityStatement.rest.resource.searchParam.documentation)."""
    interactions = {"Measure": ("read", "search-type"), "MeasureReport": ("search-type",)}
    return [
        {
            "type": rtype,
            "interaction": [{"code": code} for code in interactions[rtype]],
            "searchParam": [
                {"name": p.name, "definition": p.definition, "type": p.type, "documentation": p.documentation}
                for p in measures.CAPABILITIES[rtype]
            ],
        }
        for rtype in ("Measure", "MeasureReport")
    ]


def _operation(rtype: str, code: str) -> dict:
    """An operation as the CapabilityStatement lists it: by our own OperationDefinition (served at
    /fhir/OperationDefinition/{id}), whose `base` names SDC's or the core one where we implement a subset."""
    return {"name": code, "definition": urls.OPERATION_DEFINITIONS[(rtype, code)]}


def _search_param(rtype: str, name: str) -> str:
    """The R4 SearchParameter the catalog's `url` and `version` are (Questionnaire has its own)."""
    family = "Questionnaire" if rtype == "Questionnaire" else "conformance"
    return f"http://hl7.org/fhir/SearchParameter/{family}-{name}"


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


def _matches(resource: dict, name: str, value: str) -> bool:
    """One parameter's value: a comma between values is an OR, `\\,` a comma in a value
    (https://hl7.org/fhir/R4/search.html#escaping)."""
    values = [v.replace("\\,", ",") for v in re.split(r"(?<!\\),", value)]
    return any(_matches_one(resource, name, v) for v in values)


def _matches_one(resource: dict, name: str, value: str) -> bool:
    if name == "url":
        url, _, version = value.partition("|")  # the canonical|version form of the url parameter
        return resource.get("url") == url and (not version or resource.get("version") == version)
    return resource.get("version") == value


CATALOG_ROUTE = f"<any({', '.join(CATALOG_TYPES)}):rtype>"  # the definitions' types, as a route's part


@api.get(f"/{CATALOG_ROUTE}")
@api.post(f"/{CATALOG_ROUTE}/_search")
def search_catalog(rtype: str):
    """Search by `url` (also `url|version`) and `version`; every parameter given must match (FHIR's AND), each of
    its comma-separated values may (OR). By GET, or by POST to `_search` with the parameters in a form body too
    (https://hl7.org/fhir/R4/http.html#search: a server SHALL support both). Other parameters are ignored and left
    out of the self link, or, with `Prefer: handling=strict`, refused with a 400 (search.html#errors)."""
    params = CombinedMultiDict([request.args, request.form]) if request.method == "POST" else request.args
    strict_search(SEARCH_PARAMS, params)
    applied = [(name, value) for name in SEARCH_PARAMS for value in params.getlist(name) if value]
    found = [r for r in engine().catalog.by_type(rtype) if all(_matches(r, name, value) for name, value in applied)]
    return fhir_response(searchset(rtype, found, applied))


@api.get(f"/{CATALOG_ROUTE}/<rid>")
def read_catalog(rtype: str, rid: str):
    resource = engine().catalog.resources.get((rtype, rid))
    if resource is None:
        raise NotFound(texts("api.not_found", reference=f"{rtype}/{rid}"))
    return fhir_response(resource)


BASE_PROFILE = "http://hl7.org/fhir/StructureDefinition/QuestionnaireResponse"
VALIDATE_MODES = ("create", "update", "delete", "profile")  # http://hl7.org/fhir/ValueSet/resource-validation-mode


def _has_body() -> bool:
    return bool(request.content_length) or bool(request.headers.get("Transfer-Encoding"))


def operation_input(rid: str | None) -> tuple[dict, dict[str, str]]:
    """An operation's QuestionnaireResponse and its primitive parameters (from the query, or the Parameters body's
    value[x]): on the type level the body's; on the instance level the body's if it has one, else the stored one
    (404 unless this caller submitted it)."""
    body = read_fhir_body() if rid is None or _has_body() else None
    params = {k: v for k, v in request.args.items() if v}
    if body is not None and body.get("resourceType") == "Parameters":
        for p in body.get("parameter") or ():
            if isinstance(p, dict) and isinstance(p.get("name"), str):
                value = next((v for k, v in p.items() if k.startswith("value") and isinstance(v, str)), None)
                if value:
                    params.setdefault(p["name"], value)
        if rid is not None and not any(
            isinstance(p, dict) and p.get("name") in QR_PARAM_NAMES for p in body.get("parameter") or ()
        ):
            body = None  # the instance's operation on the stored response, with parameters
    if body is None:
        from service.api.submissions import _audit_read, stored_response

        stored = stored_response(rid)
        _audit_read(stored, f"QuestionnaireResponse/{rid}/{request.path.rsplit('/', 1)[-1]}")  # a read: one row
        return stored.resource, params
    return screened(unwrap_parameter(body, QR_PARAM_NAMES, "QuestionnaireResponse")), params


@api.post("/QuestionnaireResponse/$validate")
@api.route("/QuestionnaireResponse/<fhirid:rid>/$validate", methods=["GET", "POST"])
def validate_qr(rid: str | None = None):
    """FHIR $validate (https://hl7.org/fhir/R4/resource-operation-validate.html), the subset our OperationDefinition
    QuestionnaireResponse-validate publishes: 200 with an OperationOutcome whether or not the response is valid;
    `mode` create (what a create checks) or profile; `profile` only the base QuestionnaireResponse profile. What
    it cannot check (another profile, mode update or delete: no such interactions here) is a 400, never "no
    problems found"."""
    require("QuestionnaireResponse", "cr")
    qr, params = operation_input(rid)
    mode, profile = params.get("mode"), params.get("profile")
    if mode is not None and mode not in VALIDATE_MODES:
        raise InputInvalid(texts("api.validate.mode_unknown", mode=mode, modes=", ".join(VALIDATE_MODES)))
    if mode in ("update", "delete"):
        raise InputInvalid(
            texts("api.validate.mode_unsupported", mode=mode),
            issues=[Issue.of(texts("api.validate.mode_unsupported", mode=mode), code="not-supported")],
        )
    if mode == "profile" and not profile:
        raise InputInvalid(texts("api.validate.profile_missing"))
    if profile and profile.split("|")[0] != BASE_PROFILE:
        # "If a profile is nominated, and the server cannot validate against the nominated profile, it SHALL
        # return an error" (Resource-validate, `profile`).
        raise InputInvalid(
            texts("api.validate.profile", profile=profile, base=BASE_PROFILE),
            issues=[Issue.of(texts("api.validate.profile", profile=profile, base=BASE_PROFILE), code="not-supported")],
        )
    result = engine().validate(qr)
    issues = list(result.issues)
    if mode == "create" and result.ok:
        try:  # what POST /QuestionnaireResponse refuses besides: status, the region's rules, the practice
            engine().extract(
                qr,
                caller_region(params.get("region")),
                structural=True,
                practice=caller_practice(),
                owner=caller() or "",
            )
        except ResponseInvalid as exc:
            issues += [i for i in exc.issues if i not in issues]
    claimed = ((qr.get("meta") or {}).get("profile") or []) if isinstance(qr.get("meta"), dict) else []
    for other in claimed:
        if isinstance(other, str) and other.split("|")[0] != BASE_PROFILE:
            issues.append(
                Issue.of(
                    texts("api.validate.meta_profile", profile=other),
                    severity="warning",
                    code="not-supported",
                    expression=("QuestionnaireResponse.meta.profile",),
                )
            )
    issues = issues or [Issue.of(texts("api.valid"), severity="information", code="informational")]
    return fhir_response(operation_outcome(issues, response_lang()))


@api.post("/QuestionnaireResponse/$evaluate")
def evaluate_qr():
    """Level, safety flag, recipients with priority, rules and reasons: what the form's live panel shows."""
    require("QuestionnaireResponse", "cr")
    qr = read_body("QuestionnaireResponse", QR_PARAM_NAMES)
    result, evaluation = engine().evaluate(qr, caller_region(request.args.get("region")))
    log.debug(
        "evaluated response with rule set %s: %d decision(s)", evaluation.ruleset.label, len(evaluation.decisions)
    )
    recipients = [d.recipient.id for d in evaluation.decisions if d.recipient]
    issues = recent_issues(_recent_for(qr, recipients))
    return fhir_response(with_issues(to_parameters(evaluation, result.questionnaire), issues))


def _recent_for(qr: dict, recipients: list[str]) -> list:
    """The referrals to these recipients for the response's patient within KS_RECENT_REFERRAL_DAYS (the record
    of referrals made, service/referrals/recent.py), newest per recipient. Reading the record is an access to
    the patient's data: one audit row."""
    ks = services()
    ref, bsn = patient_of_response(qr)
    if ks.delivery.recent is None or ks.delivery.recent.window_days <= 0 or not recipients or not (ref or bsn):
        return []
    practice = caller_practice()
    found = ks.delivery.recent.latest_per_recipient(patient_keys(practice, ref, bsn, caller() or ""), recipients)
    audit_read("recent-read", ref, bsn, "referral record")
    return list(found.values())


@api.post("/QuestionnaireResponse/$extract")
@api.route("/QuestionnaireResponse/<fhirid:rid>/$extract", methods=["GET", "POST"])
def extract_qr(rid: str | None = None):
    """SDC $extract (our OperationDefinition QuestionnaireResponse-extract, base SDC 4.0's): the referral Bundles;
    nothing is written anywhere. On the instance level, of the stored response (the caller's own).

    SDC 4.0 has two out parameters, `return` (the Bundle) and `issues` (an OperationOutcome of warnings and
    information). FHIR R4 operations.html, "Output Parameters": "If there is only one out parameter, which is a
    Resource with the parameter name `return`, then the parameter format is not used, and the response is simply
    the resource itself." So: without issues the answer is the Bundle itself (as before, what SDC clients such as
    Smart Forms read), with issues a Parameters holding both. Errors are a 4xx OperationOutcome, as for every
    operation."""
    require("QuestionnaireResponse", "cr")
    qr, params = operation_input(rid)
    region = params.get("region")
    if rid is not None and region is None:
        region = stored_response(rid).data.get("region")
    # the Bundles a submission by this caller would send: its practice's, its region's, its submission's ids
    extraction = engine().extract(qr, caller_region(region), practice=caller_practice(), owner=caller() or "")
    issues = [i for i in extraction.validation.issues if i.severity not in ("error", "fatal")]
    if not issues:
        return fhir_response(extraction.bundle)
    return fhir_response(
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "return", "resource": extraction.bundle},
                {"name": "issues", "resource": operation_outcome(issues, response_lang())},
            ],
        }
    )


@api.get("/openapi.json")
def openapi_document():
    """OpenAPI 3 of the /fhir API, from the routes themselves (service/api/openapi.py)."""
    from flask import jsonify

    from service.api.openapi import document
    from service.version import __version__

    shapes = {canonical: list(q.items) for canonical, q in engine().catalog.questionnaires.items()}
    return jsonify(document(current_app.url_map, base_url(), __version__, shapes))
