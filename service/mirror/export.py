"""A Report (service/mirror/figures.py) as a file: CSV or JSON (`kansrijk report --format`, the dashboard's download).

FORMATS is the hook for every output format: name -> function(Report) -> text. The MeasureReport output (engineer
D, service/mirror/measurereport.py) registers itself here as "measurereport". A suppressed cell has no count,
denominator or value in any format: only `suppressed` says it is there.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import asdict

from service.mirror.figures import Report
from service.mirror.measurereport import as_bundle

COLUMNS = ("figure", "key", "period", "practice", "count", "denominator", "value", "suppressed", "invented")


def rows(report: Report) -> list[dict]:
    """One plain row per cell, as every format shows it (never `people`: internal)."""
    return [
        {
            "figure": c.figure,
            "key": "/".join(c.key),
            "period": c.period,
            "practice": c.practice,
            "count": c.count,
            "denominator": c.denominator,
            "value": None if c.value is None else round(c.value, 4),
            "suppressed": c.suppressed,
            "invented": report.invented,
        }
        for c in report.cells
    ]


def to_csv(report: Report) -> str:
    """Comma-separated, a header line; empty fields for what is absent; practice empty for the region's total."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows(report):
        writer.writerow({k: ("" if v is None else int(v) if isinstance(v, bool) else v) for k, v in row.items()})
    return out.getvalue()


def to_json(report: Report) -> str:
    """The report's header fields and its cells (the same rows as the CSV)."""
    head = {k: v for k, v in asdict(report).items() if k != "cells"}
    return json.dumps({**head, "cells": rows(report)}, ensure_ascii=False, indent=2) + "\n"


FORMATS: dict[str, Callable[[Report], str]] = {"csv": to_csv, "json": to_json}
FORMATS["measurereport"] = as_bundle  # FHIR R4 MeasureReports (engineer D)
