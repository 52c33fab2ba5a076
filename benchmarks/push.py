"""Submissions end to end, each destination its own embedded FHIR server (sekmet-fhir on loopback).

Each submission: POST /fhir/QuestionnaireResponse (in-process Flask) → validate → evaluate → one Bundle per
destination → outbox (SQLite, fsync, one item each) → one transaction to each destination's server. The mix
alternates the two regions, so both of voorbeeldstad's destinations (Centrum Jong, the midwives) and
Maastricht-Heuvelland's GGD get traffic. Prints throughput, latency percentiles, per destination the pushes
and their latency, and how the time splits between waiting on the servers and the service itself.
Run: .venv/bin/python benchmarks/push.py [--n 500]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.extract import realistic_mix  # noqa: E402
from service import create_app  # noqa: E402
from service.embedded import start_sekmet  # noqa: E402

DESTINATIONS = ("ggd-zuid-limburg", "centrum-jong-voorbeeldstad", "verloskundigen-voorbeeldstad")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ks-push-bench-"))
    servers = {name: start_sekmet(tmp / name) for name in DESTINATIONS}
    try:
        file = tmp / "destinations.yaml"
        file.write_text(
            yaml.safe_dump({"destinations": [{"id": n, "name": n, "base_url": s.base_url} for n, s in servers.items()]})
        )
        app = create_app({"TESTING": True, "data_dir": tmp / "data", "destinations": file, "log_level": "WARNING"})
        delivery = app.extensions["ks"].delivery
        waited: dict[str, list[float]] = {name: [] for name in DESTINATIONS}
        for name, client in delivery.submitter.pusher.clients.items():
            original = client.transaction

            def timed_transaction(bundle, _original=original, _name=name):
                t0 = time.perf_counter()
                try:
                    return _original(bundle)
                finally:
                    waited[_name].append(time.perf_counter() - t0)

            client.transaction = timed_transaction
        docs = list(realistic_mix(args.n, seed=23))
        http = app.test_client()
        headers = {"Content-Type": "application/fhir+json"}
        latencies: list[float] = []
        states: dict[int, int] = {}
        t_start = time.perf_counter()
        for i, doc in enumerate(docs):
            region = "voorbeeldstad" if i % 2 else "maastricht-heuvelland"
            t0 = time.perf_counter()
            response = http.post(f"/fhir/QuestionnaireResponse/$submit?region={region}", data=doc, headers=headers)
            latencies.append(time.perf_counter() - t0)
            states[response.status_code] = states.get(response.status_code, 0) + 1
        total = time.perf_counter() - t_start
        server_time = sum(sum(w) for w in waited.values())
        print(
            f"submissions: {len(docs)} (half per region), one client, in-process API; each destination its own "
            f"sekmet-fhir 0.1.1 on loopback"
        )
        print(f"HTTP statuses: {json.dumps(states)}; outbox: {json.dumps(delivery.outbox.counts())}")
        print(f"throughput: {len(docs) / total:.1f} submissions/s ({total:.1f} s)")
        print(
            "latency ms per submission: p50 {:.1f}  p95 {:.1f}  p99 {:.1f}  max {:.1f}  mean {:.1f}".format(
                *(1000 * pct(latencies, p) for p in (50, 95, 99, 100)), 1000 * statistics.mean(latencies)
            )
        )
        for name, times in waited.items():
            print(
                f"  {name:30s} pushes {len(times):4d}  {len(times) / total:5.1f}/s  push ms p50 {1000 * pct(times, 50):.1f} "
                f"p95 {1000 * pct(times, 95):.1f} p99 {1000 * pct(times, 99):.1f}"
            )
        print(
            f"time waiting on the FHIR servers: {server_time / total:.0%}; in the service (validate, evaluate, "
            f"Bundles, outbox fsync, HTTP): {1 - server_time / total:.0%}"
        )
    finally:
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    main()
