"""The mirror figures as FHIR R4 MeasureReports (https://hl7.org/fhir/R4/measurereport.html), one per figure, period
and subject (a practice or a region), against the published Measure of each figure (service/data/measures/, one
file per figure, served at /fhir/Measure).

A report is `status` complete and `type` summary (R4 §"MeasureReport.type": "summary — A summary report that returns
the number of members in each population criteria"), names its Measure by canonical `url|version`, the period as
dates, the practice (by its AGB-Z code) or the region as `reporter`. Its one group has the figure's population counts
(cohort: initial-population; proportion: numerator and denominator with the share as measureScore; continuous
variable: measure-population with the median days as measureScore), and a stratifier for the figure's dimension with
one stratum per key, its value coded in the dimension's CodeSystem (ks-phase, ks-referral, ks-signal).

A suppressed cell says nothing about its size: its `count` is absent and carries the data-absent-reason extension
with `masked` (https://hl7.org/fhir/R4/extension-data-absent-reason.html, code system
http://terminology.hl7.org/CodeSystem/data-absent-reason: "masked — The information is not available due to
security, privacy or related reasons"), on the primitive's own element (`_count`, R4 json.html#primitive: a
primitive with an extension and no value), and its measureScore is left out. Pure: no Flask, no I/O beyond the
Measure files.
"""

from __future__ import annotations

import calendar
import functools
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.fhir import urls
from service.mirror.figures import Period

if TYPE_CHECKING:
    from service.mirror.figures import Cell, Report

MEASURES_DIR = Path(__file__).resolve().parent.parent / "data" / "measures"
MEASURE_BASE = f"{urls.BASE}/Measure"
REGION_SYSTEM = f"{urls.BASE}/NamingSystem/region"
PRACTICE_SYSTEM = f"{urls.BASE}/NamingSystem/practice"  # a practice by its registry id, where no AGB-Z is at hand
POPULATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/measure-population"
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
DIMENSION_SYSTEMS = {"phase": urls.CS_PHASE, "recipient": urls.CS_REFERRAL, "signal": urls.CS_SIGNAL}
MASKED = {"extension": [{"url": DATA_ABSENT_REASON, "valueCode": "masked"}]}


@dataclass(frozen=True)
class Measure:
    """A published Measure: its figure, canonical url and version, scoring, dimension (None: no stratifier)."""

    figure: str
    resource: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.resource["id"])

    @property
    def url(self) -> str:
        return str(self.resource["url"])

    @property
    def canonical(self) -> str:
        return f"{self.url}|{self.resource['version']}"

    @property
    def scoring(self) -> str:
        return str(self.resource["scoring"]["coding"][0]["code"])

    @property
    def dimension(self) -> str | None:
        found = self.resource["group"][0].get("stratifier") or ()
        return str(found[0]["code"]["text"]) if found else None


@dataclass(frozen=True)
class Subject:
    """Whom a report is about: a practice (id, name, AGB-Z code) or a region (its rule set's id and title)."""

    kind: str  # "practice" | "region"
    id: str
    name: str
    agb: str | None = None

    def reporter(self) -> dict[str, Any]:
        if self.kind == "practice" and self.agb:
            return {"identifier": {"system": urls.AGB_Z, "value": self.agb}, "display": self.name}
        if self.kind == "practice":
            return {"identifier": {"system": PRACTICE_SYSTEM, "value": self.id}, "display": self.name}
        return {"identifier": {"system": REGION_SYSTEM, "value": self.id}, "display": self.name}


@functools.cache
def measures() -> dict[str, Measure]:
    """The published Measures by figure id (the file Measure-ks-<figure>.json)."""
    found = {}
    for path in sorted(MEASURES_DIR.glob("Measure-*.json")):
        resource = json.loads(path.read_text(encoding="utf-8"))
        figure = str(resource["id"]).removeprefix("ks-")
        found[figure] = Measure(figure, resource)
    return found


def measure_by_canonical(value: str) -> Measure | None:
    """The Measure a `measure` search value names: its url, or url|version (the version must then match)."""
    url, _, version = value.partition("|")
    for measure in measures().values():
        if measure.url == url and (not version or measure.resource.get("version") == version):
            return measure
    return None


def period_dates(label: str) -> dict[str, str]:
    """A period label ("2026", "2026Q4", figures.Period) as MeasureReport.period: its first and last day.
    ValueError otherwise."""
    period = Period.parse(label)
    first, last = ((period.quarter - 1) * 3 + 1, period.quarter * 3) if period.quarter else (1, 12)
    end_day = calendar.monthrange(period.year, last)[1]
    return {"start": f"{period.year}-{first:02d}-01", "end": f"{period.year}-{last:02d}-{end_day:02d}"}


def measure_reports(
    report: Report, subject: Subject, period: str, wanted: Iterable[Measure] | None = None
) -> list[dict[str, Any]]:
    """One MeasureReport per Measure (all of them, or `wanted`) for `period`, from the cells of `report` that are
    the subject's: the practice's own (scope practice), or the region's totals (practice None)."""
    own = report.practice if report.scope == "practice" else None
    cells = [c for c in report.cells if c.period == period and c.practice == own]
    return [
        _measure_report(m, [c for c in cells if c.figure == m.figure], subject, period)
        for m in wanted or measures().values()
    ]


def _measure_report(measure: Measure, cells: list[Cell], subject: Subject, period: str) -> dict[str, Any]:
    total = next((c for c in cells if not c.key), None)
    group: dict[str, Any] = {"population": _populations(measure, total) if total else []}
    if total is not None and not total.suppressed and measure.scoring != "cohort" and total.value is not None:
        group["measureScore"] = _score(measure, total.value)
    strata = [c for c in cells if c.key]
    if measure.dimension and strata:
        group["stratifier"] = [
            {
                "code": [{"text": measure.dimension}],
                "stratum": [_stratum(measure, c) for c in sorted(strata, key=lambda c: c.key)],
            }
        ]
    if not group["population"]:
        del group["population"]
    if not group:  # nothing recorded in the period: every population is empty (a group needs content, ele-1)
        group["population"] = [_population(code, 0) for code in _population_codes(measure)]
    resource: dict[str, Any] = {
        "resourceType": "MeasureReport",
        "id": _report_id(measure, subject, period),
        "status": "complete",
        "type": "summary",
        "measure": measure.canonical,
        "period": period_dates(period),
        "reporter": subject.reporter(),
    }
    if "improvementNotation" in measure.resource:
        resource["improvementNotation"] = measure.resource["improvementNotation"]
    return resource | {"group": [group]}


def _report_id(measure: Measure, subject: Subject, period: str) -> str:
    """Deterministic, within FHIR's id (64 of [A-Za-z0-9-.]): the same figures always give the same id."""
    return f"{measure.figure}-{period}-{subject.id}"[:64]


def _populations(measure: Measure, cell: Cell) -> list[dict[str, Any]]:
    """The population counts of a cell in the Measure's terms; a suppressed cell's counts masked."""
    # the median's population: the referrals with feedback it is the median of (shown only when not suppressed)
    counts = {"numerator": cell.count, "denominator": cell.denominator, "measure-population": cell.people}
    return [
        _population(code, None if cell.suppressed else counts.get(code, cell.count))
        for code in _population_codes(measure)
    ]


def _population_codes(measure: Measure) -> tuple[str, ...]:
    if measure.scoring == "proportion":
        return ("numerator", "denominator")
    return ("measure-population",) if measure.scoring == "continuous-variable" else ("initial-population",)


def _population(code: str, count: int | None) -> dict[str, Any]:
    item: dict[str, Any] = {"code": {"coding": [{"system": POPULATION_SYSTEM, "code": code}]}}
    if count is None:
        item["_count"] = MASKED
    else:
        item["count"] = count
    return item


def _score(measure: Measure, value: float) -> dict[str, Any]:
    if measure.scoring == "continuous-variable":
        return {"value": round(value, 1), "unit": "d", "system": "http://unitsofmeasure.org", "code": "d"}
    return {"value": round(value, 4)}


def _stratum(measure: Measure, cell: Cell) -> dict[str, Any]:
    system = DIMENSION_SYSTEMS.get(measure.dimension or "")
    code = cell.key[0]
    value: dict[str, Any] = {"coding": [{"system": system, "code": code}]} if system else {}
    value["text"] = code
    stratum: dict[str, Any] = {"value": value, "population": _populations(measure, cell)}
    if not cell.suppressed and measure.scoring != "cohort" and cell.value is not None:
        stratum["measureScore"] = _score(measure, cell.value)
    return stratum


def as_bundle(report: Report) -> str:
    """`kansrijk report --format measurereport` (service/mirror/export.py FORMATS): a collection Bundle of the
    MeasureReports of every period of the report, the subject named by its ids (no registry at hand here)."""
    ident = (report.practice if report.scope == "practice" else report.region) or ""
    subject = Subject(report.scope, ident, ident)
    resources = [r for period in report.periods for r in measure_reports(report, subject, period)]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{_uuid(r['id'])}", "resource": r} for r in resources],
    }
    return json.dumps(bundle, ensure_ascii=False, indent=2) + "\n"


def _uuid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{MEASURE_BASE}Report/{name}"))
