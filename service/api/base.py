"""What the /fhir blueprint's modules share: the blueprint itself (with the `fhirid` converter), reading FHIR JSON
bodies, the Prefer header, the base URL. service/api/views.py and service/api/submissions.py add its routes."""

from __future__ import annotations

from flask import Blueprint, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import BaseConverter

from service.api.fhirjson import parse_fhir_json, unwrap_parameter
from service.errors import InputInvalid, Issue, KsError, PayloadTooLarge
from service.errors_render import fhir_json
from service.fhir import urls
from service.referrals.pipeline import Engine
from service.services import services
from service.texts import texts

api = Blueprint("api", __name__, url_prefix="/fhir")


class FhirIdConverter(BaseConverter):
    """A FHIR id (https://hl7.org/fhir/R4/datatypes.html#id), so `/QuestionnaireResponse/$validate` is never read
    as the id "$validate" (a GET there stays a 405)."""

    regex = r"[A-Za-z0-9\-\.]{1,64}"


# Recorded first, so the converter is there before the rules that use it are added.
@api.record_once
def _converter(state) -> None:
    state.app.url_map.converters.setdefault("fhirid", FhirIdConverter)


# The definitions any client may read (no patient in them): a plain GET of these may be kept by a cache.
PUBLIC_READS = frozenset(
    {
        "metadata",
        "openapi.json",
        "Questionnaire",
        "ValueSet",
        "CodeSystem",
        "OperationDefinition",
        "StructureDefinition",
        "Measure",
    }
)


def no_store(response):
    """Every /fhir answer but a plain GET of a definition (PUBLIC_READS, no operation) is `Cache-Control: no-store`
    (RFC 9111 §5.2.2.5): an operation's answer, a response read back, an error may name a patient. A view that set
    Cache-Control itself keeps it. Run after every request of the /fhir blueprints (api, populate_api)."""
    first = request.path.removeprefix("/fhir/").split("/", 1)[0]
    public = request.method in ("GET", "HEAD") and first in PUBLIC_READS and "$" not in request.path
    if not public:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


api.after_request(no_store)

JSON_FORMATS = ("json", "application/json", "application/fhir+json")  # `_format` values meaning JSON


class NotAcceptable(KsError):
    status_code, issue_code = 406, "not-supported"


def json_only() -> None:
    """This service speaks FHIR JSON only: a request asking for another format (`_format`, or an Accept header no
    JSON type satisfies) gets 406 Not Acceptable, an OperationOutcome in JSON (https://hl7.org/fhir/R4/formats.html:
    "406 is the appropriate response when the Accept header requests a format that the server does not support").
    Run before every request of the /fhir blueprints (api, populate_api)."""
    asked = request.args.get("_format")
    if asked is not None and asked.split(";")[0].strip().lower() not in JSON_FORMATS:
        raise NotAcceptable(texts("api.not_acceptable", asked=asked[:80]))
    accept = request.headers.get("Accept")
    if accept and request.accept_mimetypes.best_match(("application/fhir+json", "application/json")) is None:
        raise NotAcceptable(texts("api.not_acceptable", asked=accept[:80]))


api.before_request(json_only)


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
        raise PayloadTooLarge(texts("api.too_large", limit=settings.max_body_bytes)) from None
    return parse_fhir_json(body, request.content_type, max_depth=settings.max_json_depth)


def read_body(expected: str, names: tuple[str, ...]) -> dict:
    resource = unwrap_parameter(read_fhir_body(), names, expected)
    return screened(resource) if expected == "QuestionnaireResponse" else resource


QR_STRINGS = ("id", "status", "questionnaire", "authored", "language", "implicitRules")
QR_OBJECTS = ("meta", "identifier", "subject", "author", "encounter", "source", "text")
QR_ARRAYS = ("item", "contained", "basedOn", "partOf", "extension")
QR_REFERENCES = ("subject", "author", "encounter", "source", "basedOn", "partOf")


def screened(qr: dict) -> dict:
    """The top-level elements of a QuestionnaireResponse of the JSON type R4 gives them, before the engine reads
    them: a 400 naming the element, never a 500 (a `status` that is an object crashed the validator's set lookup:
    found by tests/api/test_openapi.py)."""
    from service.api.fhirjson import json_type

    for names, kind, ok in (
        (QR_STRINGS, "string", lambda v: isinstance(v, str)),
        (QR_OBJECTS, "object", lambda v: isinstance(v, dict)),
        (QR_ARRAYS, "array", lambda v: isinstance(v, list)),
    ):
        for name in names:
            if name in qr and not ok(qr[name]):
                location = f"QuestionnaireResponse.{name}"
                refusal = texts("api.qr.element_type", location=location, expected=kind, got=json_type(qr[name]))
                raise InputInvalid(refusal, issues=[Issue.of(refusal, code="structure", expression=(location,))])
    # What the engine reads one level down (found by tests/api/test_fuzz_properties.py: a contained resource of
    # no known type crashed the model check, a non-string `subject.reference` the Bundle builder).
    for i, contained in enumerate(qr.get("contained") or ()):
        rtype = contained.get("resourceType") if isinstance(contained, dict) else None
        if not isinstance(rtype, str) or not _known_type(rtype):
            location = f"QuestionnaireResponse.contained[{i}]"
            got = repr(rtype) if isinstance(rtype, str) else json_type(rtype)
            refusal = texts("api.qr.contained_type", location=f"{location}.resourceType", got=got)
            raise InputInvalid(refusal, issues=[Issue.of(refusal, code="structure", expression=(location,))])
    for name in QR_REFERENCES:
        values = qr.get(name)
        for i, ref in enumerate(values if isinstance(values, list) else [values] if values is not None else []):
            if not isinstance(ref, dict) or ("reference" in ref and not isinstance(ref["reference"], str)):
                location = f"QuestionnaireResponse.{name}" + (f"[{i}]" if isinstance(values, list) else "")
                got = json_type(ref.get("reference") if isinstance(ref, dict) else ref)
                refusal = texts("api.qr.element_type", location=f"{location}.reference", expected="string", got=got)
                raise InputInvalid(refusal, issues=[Issue.of(refusal, code="structure", expression=(location,))])
    return with_uri_systems(qr)


def with_uri_systems(qr: dict) -> dict:
    """The response with the Dutch identifiers in OID form (urn:oid:2.16.840.1.113883.2.4.6.3 for the BSN, …:
    urls.OID_TO_URI) in their URI form, in the contained Patient and in `subject.identifier`: accepted in either,
    emitted in one (DESIGN.md "Standards"), so one patient is one conditional create and one key in the record of
    referrals made, whichever form the HIS sends."""

    def uri(ident):
        if isinstance(ident, dict) and "system" in ident:
            return {**ident, "system": urls.uri_system(ident["system"])}
        return ident

    def patient(resource):
        if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
            return resource
        idents = resource.get("identifier")
        return {**resource, "identifier": [uri(i) for i in idents]} if isinstance(idents, list) else resource

    out = dict(qr)
    if isinstance(qr.get("contained"), list):
        out["contained"] = [patient(c) for c in qr["contained"]]
    subject = qr.get("subject")
    if isinstance(subject, dict) and isinstance(subject.get("identifier"), dict):
        out["subject"] = {**subject, "identifier": uri(subject["identifier"])}
    return out


def _known_type(rtype: str) -> bool:
    from service.fhir import models

    try:
        models.model_class(rtype)
    except ValueError:
        return False
    return rtype not in ("Resource", "DomainResource")


def prefer(name: str) -> str | None:
    """One preference of the Prefer header (RFC 7240; FHIR http.html#ops `return=…`, search.html `handling=…`)."""
    for token in request.headers.get("Prefer", "").replace(";", ",").split(","):
        key, _, value = token.strip().partition("=")
        if key.strip().lower() == name:
            return value.strip().strip('"') or None
    return None


def base_url() -> str:
    return f"{request.url_root}fhir"


def strict_search(known: tuple[str, ...], params=None) -> None:
    """Unknown search parameters (of `params`, the query's by default): ignored (and left out of the self link), or
    with `Prefer: handling=strict` a 400 naming them (https://hl7.org/fhir/R4/search.html#errors)."""
    unknown = sorted(
        set(request.args if params is None else params) - set(known) - {"_format"}
    )  # _format: every interaction's (json_only)
    if unknown and (prefer("handling") or "").lower() == "strict":
        words = texts("api.search.unknown", names=", ".join(unknown), known=", ".join(known))
        raise InputInvalid(words, issues=[Issue.of(words, code="not-supported")])


def searchset(rtype: str, resources: list[dict], applied: list[tuple[str, str]]) -> dict:
    """A searchset with its `self` link: the search as it was applied (search.html#errors: "the self link SHALL
    only include the parameters that were used"), so a client sees what was ignored."""
    from urllib.parse import urlencode

    query = urlencode(applied)
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": [{"relation": "self", "url": f"{base_url()}/{rtype}" + (f"?{query}" if query else "")}],
        "entry": [
            {"fullUrl": f"{base_url()}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in resources
        ],
    }


QR_PARAM_NAMES = ("questionnaire-response", "questionnaireResponse", "resource")
