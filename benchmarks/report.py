"""Time the region's mirror figures over 1,000,000 events (issue 14 point 6): build_report with suppression, for
a year and its quarters, every practice of the region. Prints the time and "met" / "NOT met" (target < 2 s).

The events are invented (service/mirror/history.py's generator, 50 practices) and written once into a temporary
SQLite file; only build_report is timed: SQL GROUP BY over the event tables, then Python over the aggregates.

A/B, interleaved in each round (issue 16: the store on the storage layer): the figures' three GROUP BY queries as
they were before it (A: raw sqlite3, the SQL text kept below) and as they are now (B: SQLAlchemy Core through the
store's Database, service/mirror/figures.py _queries), on the same file; the ratio B/A of the best rounds and the
load (os.getloadavg) before and after, since this machine is shared.
Run: .venv/bin/python benchmarks/report.py [--events 1000000] [--practices 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.mirror.events import EventStore  # noqa: E402
from service.mirror.figures import _queries, _Scope, build_report  # noqa: E402
from service.mirror.history import invented_events  # noqa: E402

TARGET_SECONDS = 2.0
REGION = "maastricht-heuvelland"
RECIPIENTS = [
    ("regiocoordinator-jgz", True),
    ("nu-niet-zwanger", True),
    ("poh-jeugd", False),
    ("preconceptie-consult", False),
]
SIGNALS = ["domestic-violence", "financial-problems", "language-barrier", "homeless", "substance-addiction",
           "partner-problems", "teenage-pregnancy", "single-mother", "low-literacy-health-literacy"]  # fmt: skip
QUARTERS = ["2026Q1", "2026Q2", "2026Q3", "2026Q4"]
WHERE = "region = ? AND quarter IN (?, ?, ?, ?)"
BEFORE = (  # A: the figures' queries before the storage layer (sqlite3, flags tested as truth values)
    (
        "SELECT practice, quarter, phase, count(*), sum(overridden), sum(meldcode), sum(referred), "
        "sum(referred AND urgent), sum(vulnerable), sum(vulnerable AND NOT referred), max(invented) "
        f"FROM event WHERE {WHERE} GROUP BY quarter, practice, phase"
    ),
    (
        f"SELECT practice, quarter, signal, count(*) FROM event_signal WHERE {WHERE} AND referred "
        "GROUP BY quarter, practice, signal"
    ),
    (
        "SELECT practice, quarter, recipient, max(external), sum(sent), "
        "sum(sent AND external AND response IS NOT NULL AND response IN ('accepted', 'declined')), "
        f"CASE WHEN sent AND external THEN feedback_days END AS days FROM event_recipient WHERE {WHERE} "
        "GROUP BY quarter, practice, recipient, days"
    ),
)


def sql_before(path: Path) -> float:
    with contextlib.closing(sqlite3.connect(path)) as raw:
        started = time.perf_counter()
        for query in BEFORE:
            raw.execute(query, (REGION, *QUARTERS)).fetchall()
        return time.perf_counter() - started


def sql_now(store: EventStore) -> float:
    started = time.perf_counter()
    with store.db.begin() as conn:
        for query in _queries(_Scope(tuple(QUARTERS), REGION)):
            conn.execute(query).all()
    return time.perf_counter() - started


def fill(store: EventStore, events: int, practices: int) -> int:
    """About `events` invented events over `practices` practices and the four quarters of 2026."""
    names = [f"bench-practice-{i:03d}" for i in range(practices)]
    added, seed = 0, 0
    while added < events:
        batch = invented_events(REGION, RECIPIENTS, SIGNALS, practices=names, quarters=QUARTERS, seed=seed)
        batch = batch[: events - added]
        store.add(batch)
        added += len(batch)
        seed += 1
    return added


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--practices", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore(Path(tmp) / "mirror.sqlite3")
        started = time.perf_counter()
        n = fill(store, args.events, args.practices)
        print(f"{n} events written in {time.perf_counter() - started:.1f} s (not timed)")
        times: list[float] = []
        before: list[float] = []
        now: list[float] = []
        load = os.getloadavg()
        for _ in range(args.rounds):
            before.append(sql_before(Path(tmp) / "mirror.sqlite3"))
            now.append(sql_now(store))
            started = time.perf_counter()
            report = build_report(store, scope="region", region=REGION, periods=(*QUARTERS, "2026"))
            times.append(time.perf_counter() - started)
        best = min(times)
        hidden = sum(c.suppressed for c in report.cells)
        print(f"the figures' SQL, best of {args.rounds}: A (before the storage layer, sqlite3) {min(before):.2f} s, "
              f"B (now, SQLAlchemy Core) {min(now):.2f} s, B/A {min(now) / min(before):.2f}")  # fmt: skip
        print(f"load average (1, 5, 15 min) before {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, after "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")  # fmt: skip
        print(f"region report: {len(report.cells)} cells ({hidden} suppressed), best of {args.rounds}: {best:.2f} s")
        print(f"target < {TARGET_SECONDS:.0f} s: {'met' if best < TARGET_SECONDS else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
