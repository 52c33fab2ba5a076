"""A Report (service/mirror/figures.py) as a file: CSV, JSON or FHIR MeasureReports (`kansrijk report --format`);
the pages' CSV downloads are the same CSV (to_csv).

FORMATS is the hook for every output format: name -> function(Report) -> text; the MeasureReport output
(service/mirror/measurereport.py as_bundle) is "measurereport". A suppressed cell has no count,
denominator or value in any format: only `suppressed` says it is there.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict

from service.mirror.figures import FIGURES, Report
from service.mirror.measurereport import as_bundle

# One column set for every CSV: the CLI's (`kansrijk report --format csv`) and the pages' downloads
# (service/web/mirror.py, service/inbox/region.py). `scope`: practice (its own, unsuppressed) or region; `dimension`:
# what `key` is a value of (phase, recipient, signal), empty for a figure's total; `key`: its parts joined by "|".
COLUMNS = (
    "scope",
    "figure",
    "period",
    "practice",
    "dimension",
    "key",
    "count",
    "denominator",
    "value",
    "suppressed",
    "invented",
)
DIMENSIONS = {f.id: f.dimension for f in FIGURES if f.dimension}


def rows(report: Report) -> list[dict]:
    """One plain row per cell, as every format shows it (never `people`: internal; a suppressed cell has no count,
    denominator or value)."""
    return [
        {
            "scope": report.scope,
            "figure": c.figure,
            "period": c.period,
            "practice": c.practice,
            "dimension": DIMENSIONS.get(c.figure) if c.key else None,
            "key": "|".join(c.key),
            "count": None if c.suppressed else c.count,
            "denominator": None if c.suppressed else c.denominator,
            "value": None if c.suppressed or c.value is None else round(c.value, 4),
            "suppressed": c.suppressed,
            "invented": report.invented,
        }
        for c in report.cells
    ]


def to_csv(reports: Report | Iterable[Report]) -> str:
    """The cells of one report or several (the practice's page: its own and the region's) as CSV (RFC 4180: a
    header line, CRLF); empty fields for what is absent (practice: the region's total), true/false."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for report in (reports,) if isinstance(reports, Report) else reports:
        for row in rows(report):
            writer.writerow({k: _field(v) for k, v in row.items()})
    return out.getvalue()


def _field(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def to_json(report: Report) -> str:
    """The report's header fields and its cells (the same rows as the CSV)."""
    head = {k: v for k, v in asdict(report).items() if k != "cells"}
    return json.dumps({**head, "cells": rows(report)}, ensure_ascii=False, indent=2) + "\n"


FORMATS: dict[str, Callable[[Report], str]] = {"csv": to_csv, "json": to_json}
FORMATS["measurereport"] = as_bundle  # FHIR R4 MeasureReports, a collection Bundle
