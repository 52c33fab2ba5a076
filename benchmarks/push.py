"""500 submissions end to end against the embedded FHIR server (sekmet-fhir on loopback).

Each submission: POST /fhir/QuestionnaireResponse (in-process Flask) → validate → evaluate → Bundle →
outbox (SQLite, fsync) → transaction to the FHIR server. Prints throughput, latency percentiles and how
the time splits between waiting on the FHIR server and the service itself.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.extract import realistic_mix  # noqa: E402
from service import create_app  # noqa: E402
from service.embedded import start_sekmet  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ks-push-bench-"))
    server = start_sekmet(tmp / "fhir")
    try:
        app = create_app({"TESTING": True, "data_dir": tmp / "data", "fhir_base_url": server.base_url, "log_level": "WARNING"})
        delivery = app.extensions["ks_delivery"]
        client = delivery.submitter.pusher.client
        waited: list[float] = []
        original = client.transaction

        def timed_transaction(bundle):
            t0 = time.perf_counter()
            try:
                return original(bundle)
            finally:
                waited.append(time.perf_counter() - t0)

        client.transaction = timed_transaction
        docs = [d for d in realistic_mix(args.n, seed=23)]
        http = app.test_client()
        headers = {"Content-Type": "application/fhir+json"}
        latencies: list[float] = []
        states: dict[int, int] = {}
        t_start = time.perf_counter()
        for doc in docs:
            t0 = time.perf_counter()
            response = http.post("/fhir/QuestionnaireResponse", data=doc, headers=headers)
            latencies.append(time.perf_counter() - t0)
            states[response.status_code] = states.get(response.status_code, 0) + 1
        total = time.perf_counter() - t_start
        server_time = sum(waited)
        counts = delivery.outbox.counts()
        print(f"submissions: {len(docs)} against sekmet-fhir 0.1.1 on loopback, one client, in-process API")
        print(f"HTTP statuses: {json.dumps(states)}; outbox: {json.dumps(counts)}")
        print(f"throughput: {len(docs) / total:.1f} submissions/s ({total:.1f} s)")
        print("latency ms: p50 {:.1f}  p95 {:.1f}  p99 {:.1f}  max {:.1f}  mean {:.1f}".format(
            *(1000 * pct(latencies, p) for p in (50, 95, 99, 100)), 1000 * statistics.mean(latencies)))
        print(f"time waiting on the FHIR server: {server_time / total:.0%}; in the service (validate, evaluate, "
              f"Bundle, outbox fsync, HTTP): {1 - server_time / total:.0%}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
