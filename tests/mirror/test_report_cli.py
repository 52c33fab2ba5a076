"""`kansrijk report` (service/cli.py, service/mirror/export.py) and the invented demo history (history.py)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from service.cli import main
from service.mirror.events import EventStore
from service.mirror.export import FORMATS
from service.mirror.history import DEMO_PRACTICES, fill_demo_history, last_quarters

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
    rows = data.conn().execute("SELECT DISTINCT practice, quarter, invented FROM event").fetchall()
    assert {r["practice"] for r in rows} == set(DEMO_PRACTICES)
    assert {r["quarter"] for r in rows} == set(last_quarters(NOW)) and {r["invented"] for r in rows} == {1}
    count = data.conn().execute("SELECT count(*) FROM event").fetchone()[0]
    assert fill_demo_history(data, "maastricht-heuvelland", RECIPIENTS, SIGNALS, now=NOW) == 0  # a restart
    assert data.conn().execute("SELECT count(*) FROM event").fetchone()[0] == count


def test_the_practice_report_as_csv_is_its_own_unsuppressed(data, capsys):
    assert main(["report", "--period", "2026Q4", "--practice", "demo-practice", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows and {r["practice"] for r in rows} == {"demo-practice"}
    assert {r["suppressed"] for r in rows} == {"0"} and {r["invented"] for r in rows} == {"1"}
    assert {r["period"] for r in rows} == {"2026Q4"}
    counted = (
        data.conn()
        .execute("SELECT count(*) FROM event WHERE practice = 'demo-practice' AND quarter = '2026Q4'")
        .fetchone()[0]
    )
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


def test_a_bad_period_is_said_in_words(data, capsys):
    assert main(["report", "--period", "2026Q7", "--format", "csv"]) == 2
    assert "2026Q7" in capsys.readouterr().err


def test_the_formats_are_a_hook():
    assert {"csv", "json"} <= set(FORMATS)
