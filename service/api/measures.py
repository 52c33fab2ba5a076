"""The mirror figures in the API (issue 14 point 5): the published Measures (GET /fhir/Measure, /fhir/Measure/{id}) and
GET /fhir/MeasureReport?measure=<canonical>&period=2026Q4&subject=<practice or region>, a searchset Bundle of
summary MeasureReports (service/mirror/measurereport.py).

Who sees what, as the other reads of the API (SMART Backend Services, service/api/auth.py): the scope
system/MeasureReport.r (or .s); a client registered for a practice gets that practice's own figures (unsuppressed)
and its region's (suppressed), nothing of another practice or region; a client of no practice (a region's or the
programme's) the regions' suppressed figures only. With the API open (KS_API_AUTH=none, development) anyone.
No patient data is read: one audit row is not due (tests/test_audit_completeness.py classifies the routes).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import request

from service.api.auth import Forbidden, caller_practice, require
from service.api.base import api, fhir_response, searchset, strict_search
from service.errors import InputInvalid, Issue, NotFound
from service.mirror.dashboard import report_for
from service.mirror.figures import Period
from service.mirror.measurereport import Subject, measure_by_canonical, measure_reports, measures
from service.services import services
from service.texts import texts

CORE = "http://hl7.org/fhir/SearchParameter/"


@dataclass(frozen=True)
class SearchParam:
    """A search parameter as the CapabilityStatement (service/api/views.py metadata) and the OpenAPI document
    (service/api/openapi.py) describe it: its R4 SearchParameter and how this server reads it
    (CapabilityStatement.rest.resource.searchParam.documentation "may include specific expectations": here where
    the value differs from the core parameter's, period and subject)."""

    name: str
    type: str
    definition: str
    documentation: str
    required: bool = False


CAPABILITIES = {
    "Measure": (SearchParam("url", "uri", CORE + "Measure-url", "The Measure's canonical url, also url|version."),),
    "MeasureReport": (
        SearchParam(
            "measure",
            "reference",
            CORE + "MeasureReport-measure",
            "The Measure's canonical url (also url|version); without it, a report per published Measure.",
        ),
        SearchParam(
            "period",
            "date",
            CORE + "MeasureReport-period",
            "One year (2026) or one quarter (2026Q4), not a date prefix; the reports' period is that year's or quarter's first and last day.",
            required=True,
        ),
        SearchParam(
            "subject",
            "reference",
            CORE + "MeasureReport-subject",
            "A registered practice (its registry id, or Organization/<id>), whose own figures are unsuppressed, or a region (its rule set's id), whose figures hide cells based on fewer people than the threshold.",
            required=True,
        ),
    ),
}
SEARCH_PARAMS = tuple(p.name for p in CAPABILITIES["MeasureReport"])  # measure, period, subject


@api.get("/Measure")
def search_measures():
    """Every published Measure (one per mirror figure), searchable by `url` (also url|version)."""
    wanted = request.args.get("url")
    found = [m for m in measures().values() if not wanted or m is measure_by_canonical(wanted)]
    return fhir_response(searchset("Measure", [m.resource for m in found], [("url", wanted)] if wanted else []))


@api.get("/Measure/<fhirid:rid>")
def read_measure(rid: str):
    found = next((m for m in measures().values() if m.id == rid), None)
    if found is None:
        raise NotFound(texts("api.not_found", reference=f"Measure/{rid}"))
    return fhir_response(found.resource)


@api.get("/MeasureReport")
def search_measure_reports():
    """The figures of one period for one subject, as summary MeasureReports (all Measures, or the one named)."""
    require("MeasureReport", "rs")
    strict_search(SEARCH_PARAMS)
    period = _period(request.args.get("period", ""))
    subject, region = _subject(request.args.get("subject", ""))
    wanted = None
    if request.args.get("measure"):
        measure = measure_by_canonical(request.args["measure"])
        if measure is None:
            raise _refusal("api.measurereport.unknown_measure", "measure")
        wanted = [measure]
    _allowed(subject)
    scope = "practice" if subject.kind == "practice" else "region"
    practice = subject.id if subject.kind == "practice" else None
    report = report_for(scope, region=region, practice=practice, periods=(period,))
    resources = measure_reports(report, subject, period, wanted)
    applied = [(name, request.args[name]) for name in SEARCH_PARAMS if request.args.get(name)]
    return fhir_response(searchset("MeasureReport", resources, applied))


def _refusal(key: str, param: str) -> InputInvalid:
    words = texts(key)
    return InputInvalid(words, issues=[Issue.of(words, code="value", expression=(param,))])


def _period(value: str) -> str:
    try:
        label = Period.parse(value).label
    except ValueError:
        raise _refusal("api.measurereport.period", "period") from None
    return label


def _subject(value: str) -> tuple[Subject, str]:
    """A practice of the registry (its id, or Organization/<id>) or a region (its rule set's id), with its region."""
    ident = value.removeprefix("Organization/")
    practice = services().registry.find_practice(ident) if ident else None
    if practice is not None:
        return Subject("practice", practice.id, practice.name, practice.agb), practice.region
    ruleset = services().engine.rulesets.get(value)
    if ruleset is not None:
        return Subject("region", ruleset.id, ruleset.title), ruleset.id
    raise _refusal("api.measurereport.subject", "subject")


def _allowed(subject: Subject) -> None:
    """A practice's client: its own practice and its region; a client of no practice: regions only."""
    if services().api_auth is None:
        return
    own = caller_practice()
    if subject.kind == "practice" and (own is None or subject.id != own.id):
        raise Forbidden(texts("api.measurereport.not_yours"))
    if subject.kind == "region" and own is not None and own.region != subject.id:
        raise Forbidden(texts("api.measurereport.not_yours"))
