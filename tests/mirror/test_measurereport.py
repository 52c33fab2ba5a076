"""The mirror figures as FHIR R4 MeasureReports (service/mirror/measurereport.py) and the published Measures: one
per figure, every report a summary against its Measure's canonical, a suppressed cell's count absent and masked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from service.mirror.figures import FIGURES
from service.mirror.measurereport import (
    DATA_ABSENT_REASON,
    MEASURES_DIR,
    Subject,
    measure_by_canonical,
    measure_reports,
    measures,
    period_dates,
)
from tests.mirror import factories

PRACTICE = Subject("practice", "demo-practice", "Huisartsenpraktijk De Linde (demo)", "01999999")
REGION = Subject("region", "maastricht-heuvelland", "Maastricht-Heuvelland")


@pytest.mark.parametrize("path", sorted(MEASURES_DIR.glob("*.json")), ids=lambda p: p.name)
def test_every_measure_file_is_a_published_measure_of_one_figure(path: Path):
    measure = json.loads(path.read_text(encoding="utf-8"))
    assert path.name == f"Measure-{measure['id']}.json"
    assert measure["resourceType"] == "Measure" and measure["status"] == "active"
    assert measure["url"] == f"https://kansrijke-start.github.io/fhir/Measure/{measure['id']}"
    assert measure["version"] == "1.0.0" and measure["title"] and measure["_title"]["extension"]
    figure = next(f for f in FIGURES if f"ks-{f.id}" == measure["id"])
    scoring = {"count": "cohort", "share": "proportion", "days": "continuous-variable"}[figure.unit]
    assert measure["scoring"]["coding"][0]["code"] == scoring
    stratifiers = measure["group"][0].get("stratifier") or []
    assert [s["code"]["text"] for s in stratifiers] == ([figure.dimension] if figure.dimension else [])


def test_every_figure_has_its_measure():
    assert set(measures()) == {f.id for f in FIGURES}


def test_the_practices_report_counts_by_recipient_with_its_total():
    [report] = measure_reports(factories.practice_report(), PRACTICE, "2026", [measures()["referrals-by-recipient"]])
    assert report["resourceType"] == "MeasureReport" and report["status"] == "complete" and report["type"] == "summary"
    assert report["measure"] == "https://kansrijke-start.github.io/fhir/Measure/ks-referrals-by-recipient|1.0.0"
    assert report["period"] == {"start": "2026-01-01", "end": "2026-12-31"}
    assert report["reporter"]["identifier"] == {"system": "http://fhir.nl/fhir/NamingSystem/agb-z", "value": "01999999"}
    [group] = report["group"]
    assert group["population"] == [
        {
            "code": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/measure-population", "code": "initial-population"}
                ]
            },
            "count": 20,
        }
    ]
    [stratifier] = group["stratifier"]
    counts = {s["value"]["coding"][0]["code"]: s["population"][0]["count"] for s in stratifier["stratum"]}
    assert counts == {"regiocoordinator-jgz": 14, "poh-jeugd": 4, "nu-niet-zwanger": 2}
    assert stratifier["stratum"][0]["value"]["coding"][0]["system"].endswith("/CodeSystem/ks-referral")


def test_a_suppressed_cell_has_no_count_and_is_masked():
    reports = {
        r["measure"].split("/ks-")[1].split("|")[0]: r
        for r in measure_reports(factories.region_report(), REGION, "2026")
    }
    assert reports.keys() == set(measures())
    strata = reports["referrals-by-recipient"]["group"][0]["stratifier"][0]["stratum"]
    nnz = next(s for s in strata if s["value"]["coding"][0]["code"] == "nu-niet-zwanger")
    [population] = nnz["population"]
    assert "count" not in population
    assert population["_count"] == {"extension": [{"url": DATA_ABSENT_REASON, "valueCode": "masked"}]}
    meldcode = reports["meldcode-share"]["group"][0]
    assert all(
        "count" not in p and p["_count"]["extension"][0]["valueCode"] == "masked" for p in meldcode["population"]
    )
    assert "measureScore" not in meldcode
    urgent = reports["urgent-share"]["group"][0]
    assert [p["count"] for p in urgent["population"]] == [21, 94] and urgent["measureScore"] == {"value": 0.2234}
    days = reports["feedback-median-days"]["group"][0]
    assert days["measureScore"]["value"] == 5.0 and days["measureScore"]["code"] == "d"
    assert reports["urgent-share"]["reporter"]["identifier"]["value"] == "maastricht-heuvelland"
    assert not re.search(r"[:\[ ]7[,}\]]", json.dumps(nnz))  # the hidden cell's people (7) is nowhere in it


def test_the_region_report_has_the_region_totals_only():
    [report] = measure_reports(factories.region_report(), REGION, "2026", [measures()["referrals-by-recipient"]])
    assert report["group"][0]["population"][0]["count"] == 94  # not a practice's 20


def test_quarter_periods_and_canonicals():
    assert period_dates("2026Q4") == {"start": "2026-10-01", "end": "2026-12-31"}
    assert period_dates("2026Q2") == {"start": "2026-04-01", "end": "2026-06-30"}
    with pytest.raises(ValueError):
        period_dates("2026Q5")
    url = "https://kansrijke-start.github.io/fhir/Measure/ks-overrides"
    assert measure_by_canonical(url).figure == "overrides"
    assert measure_by_canonical(url + "|1.0.0").figure == "overrides"
    assert measure_by_canonical(url + "|9.9.9") is None
    assert measure_by_canonical("https://example.org/Measure/x") is None


def test_the_report_command_has_the_measurereport_format():
    from service.mirror.export import FORMATS

    bundle = json.loads(FORMATS["measurereport"](factories.region_report()))
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    periods = {e["resource"]["period"]["start"] for e in bundle["entry"]}
    assert periods == {"2026-01-01", "2026-04-01", "2026-07-01", "2026-10-01"}  # the year and its quarters
    assert len(bundle["entry"]) == 5 * len(measures())
    assert len({e["fullUrl"] for e in bundle["entry"]}) == len(bundle["entry"])
    masked = json.dumps(bundle).count('"valueCode": "masked"')
    assert masked > 0
