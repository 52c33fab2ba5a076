"""Time the region's mirror figures over 1,000,000 events (issue 14 point 6): build_report with suppression, for
a year and its quarters, every practice of the region. Prints the time and "met" / "NOT met" (target < 2 s).

The events are invented (service/mirror/history.py's generator, 50 practices) and written once into a temporary
SQLite file; only build_report is timed: SQL GROUP BY over the event tables, then Python over the aggregates.
Run: .venv/bin/python benchmarks/report.py [--events 1000000] [--practices 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.mirror.events import EventStore  # noqa: E402
from service.mirror.figures import build_report  # noqa: E402
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
        times = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            report = build_report(store, scope="region", region=REGION, periods=(*QUARTERS, "2026"))
            times.append(time.perf_counter() - started)
        best = min(times)
        hidden = sum(c.suppressed for c in report.cells)
        print(f"region report: {len(report.cells)} cells ({hidden} suppressed), best of {args.rounds}: {best:.2f} s")
        print(f"target < {TARGET_SECONDS:.0f} s: {'met' if best < TARGET_SECONDS else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
