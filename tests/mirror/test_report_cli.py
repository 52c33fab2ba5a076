"""`kansrijk report` (service/cli.py, service/mirror/export.py) and the invented demo history (history.py)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from service.cli import main
from service.mirror.events import EventStore
from service.mirror.export import COLUMNS, FORMATS
from service.mirror.history import DEMO_PRACTICES, fill_demo_history, last_quarters
from tests import sql

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC).timestamp()
RECIPIENTS = [("regiocoordinator-jgz", True), ("nu-niet-zwanger", True), ("poh-jeugd", False)]
SIGNALS = ["domestic-violence", "financial-problems", "language-barrier", "homeless"]


@pytest.fixture()
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("KS_DATA_DIR", str(tmp_path))
    store = EventStore(tmp_path / "mirror.sqlite3", tmp_path / "mirror-links.sqlite3")
    assert fill_demo_history(store, "maastricht-heuvelland", RECIPIENTS, SIGNALS, now=NOW) > 0
    return store


def test_the_history_is_a_year_marked_invented_and_written_once(data):
    assert last_quarters(NOW) == ["2026Q1", "2026Q2", "2026Q3", "2026Q4"]
    rows = sql.rows(data.db, "SELECT DISTINCT practice, quarter, invented FROM event")
    assert {r["practice"] for r in rows} == set(DEMO_PRACTICES)
    assert {r["quarter"] for r in rows} == set(last_quarters(NOW)) and {r["invented"] for r in rows} == {1}
    count = sql.value(data.db, "SELECT count(*) FROM event")
    assert fill_demo_history(data, "maastricht-heuvelland", RECIPIENTS, SIGNALS, now=NOW) == 0  # a restart
    assert sql.value(data.db, "SELECT count(*) FROM event") == count


def test_the_practice_report_as_csv_is_its_own_unsuppressed(data, capsys):
    assert main(["report", "--period", "2026Q4", "--practice", "demo-practice", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows and {r["practice"] for r in rows} == {"demo-practice"}
    assert {r["suppressed"] for r in rows} == {"false"} and {r["invented"] for r in rows} == {"true"}
    assert {r["period"] for r in rows} == {"2026Q4"} and {r["scope"] for r in rows} == {"practice"}
    assert list(rows[0]) == list(COLUMNS)  # the pages' downloads have the same columns (tests/mirror/test_dashboard.py)
    by_recipient = [r for r in rows if r["figure"] == "referrals-by-recipient" and r["key"]]
    assert by_recipient and {r["dimension"] for r in by_recipient} == {"recipient"}
    counted = sql.value(data.db, "SELECT count(*) FROM event WHERE practice = 'demo-practice' AND quarter = '2026Q4'")
    total = next(r for r in rows if r["figure"] == "questionnaires-by-phase" and r["key"] == "")
    assert int(total["count"]) == counted


def test_the_region_report_as_json_suppresses(data, capsys, monkeypatch):
    monkeypatch.setenv("KS_SUPPRESS_BELOW", "30")  # the demo practices' quarters are about 12 to 40
    assert main(["report", "--period", "2026", "--region", "maastricht-heuvelland", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["scope"], report["suppress_below"], report["invented"]) == ("region", 30, True)
    hidden = [c for c in report["cells"] if c["suppressed"]]
    assert hidden and all(c["count"] is None and c["value"] is None for c in hidden)
    assert all("people" not in c for c in report["cells"])  # internal: in no output
    assert {c["practice"] for c in report["cells"]} == {*DEMO_PRACTICES, None}


def test_the_region_report_as_csv_leaves_hidden_cells_empty(data, capsys, monkeypatch):
    monkeypatch.setenv("KS_SUPPRESS_BELOW", "30")
    assert main(["report", "--period", "2026", "--region", "maastricht-heuvelland", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    hidden = [r for r in rows if r["suppressed"] == "true"]
    assert hidden and all(r["count"] == r["denominator"] == r["value"] == "" for r in hidden)
    assert {r["scope"] for r in rows} == {"region"} and "" in {r["practice"] for r in rows}  # the region's total


def test_the_measurereport_format_end_to_end_validates_independently(data, capsys, monkeypatch):
    """`kansrijk report --format measurereport`: a collection Bundle of summary MeasureReports, one per Measure
    and period, the region's with its hidden cells masked, through @medplum/core's validateResource."""
    from tests.contract.test_independent_validation import errors_of, medplum_validate

    assert main(["report", "--period", "2026Q4", "--practice", "demo-practice", "--format", "measurereport"]) == 0
    practice = json.loads(capsys.readouterr().out)
    monkeypatch.setenv("KS_SUPPRESS_BELOW", "30")
    assert main(["report", "--period", "2026", "--region", "maastricht-heuvelland", "--format", "measurereport"]) == 0
    region = json.loads(capsys.readouterr().out)
    for bundle, subject in ((practice, "demo-practice"), (region, "maastricht-heuvelland")):
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection" and len(bundle["entry"]) == 9
        reports = [e["resource"] for e in bundle["entry"]]
        assert {(r["resourceType"], r["type"], r["status"]) for r in reports} == {
            ("MeasureReport", "summary", "complete")
        }
        assert all(subject in json.dumps(r.get("subject") or r.get("reporter")) for r in reports)
    assert {r["resource"]["period"]["start"] for r in practice["entry"]} == {"2026-10-01"}
    assert "masked" in json.dumps(region) and "masked" not in json.dumps(practice)  # the practice's own: all shown
    items = [("practice", practice), ("region", region)]
    items += [(f"{name}/{e['resource']['id']}", e["resource"]) for name, b in items for e in b["entry"]]
    results = medplum_validate(items)
    assert len(results) == len(items) == 2 + 2 * 9
    assert {label: issues for label, issues in errors_of(results).items() if issues} == {}


def test_a_bad_period_is_said_in_words(data, capsys):
    assert main(["report", "--period", "2026Q7", "--format", "csv"]) == 2
    assert "2026Q7" in capsys.readouterr().err


def test_the_formats_are_a_hook():
    assert {"csv", "json", "measurereport"} <= set(FORMATS)
