"""Several instances on one PostgreSQL (issue 16 point 5), through the service's real entry points: gunicorn
instances (`-c python:service.gunicorn_conf`, 2 sync workers each, as the Dockerfile) on one PostgreSQL
(tests/postgres.py: Debian's, a cluster in a temporary folder), pushing to a real FHIR server (sekmet-fhir on
loopback; every destination of both regions on it).

1. Submissions per second and p99 latency of POST /fhir/QuestionnaireResponse/$submit with one and with three
   instances, side by side: interleaved rounds (1, 3, 3, 1, ...), the same concurrent clients spread over the
   instances by the client (as the proxy's round-robin does), the ratio of the two.
2. The outbox's drain after an outage of the FHIR server: the server stopped, submissions made through the three
   instances until `--queued` referrals (outbox items, default 10,000) wait in the shared outbox (each answered
   202, or 201 when it makes no external referral), the server
   down for `--outage-seconds` in all (default 600), then back on the same port; the operator's `kansrijk outbox
   retry` step (queued items due now: Outbox.retry(queued=True), what the command does first) and the three
   instances' background workers (KS_OUTBOX_WORKER=on) push everything; drained items per second until none is
   pending, 0 dead and every item delivered once (the outbox's own count).

Criteria: three instances keep at least 0.9 of one instance's throughput (sharing one database costs nothing;
on this 2-core machine more instances cannot add cores), p99 with three at most 2x that with one, and the drain
of the queue at 10 items/s or more (10,000 referrals within ~17 minutes of the server's return).
Run: .venv/bin/python benchmarks/scale.py [--rounds 4 --per-round 60 --clients 6 --queued 10000 --outage-seconds 600]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.extract import realistic_mix  # noqa: E402
from service.db import Database, postgresql_url  # noqa: E402
from service.embedded import start_sekmet  # noqa: E402
from service.embedded.sekmet import free_port  # noqa: E402
from service.outbox.store import Outbox  # noqa: E402
from tests.postgres import PostgresServer  # noqa: E402

DESTINATIONS = ("ggd-zuid-limburg", "centrum-jong-voorbeeldstad", "verloskundigen-voorbeeldstad")
HEADERS = {"Content-Type": "application/fhir+json"}
BIN = Path(sys.executable).parent


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else 0.0


def documents(n: int, seed: int):
    """`n` submissions of the realistic mix, each its own identifier (a submission again would be the same one)."""
    for i, raw in enumerate(realistic_mix(n, seed=seed)):
        doc = json.loads(raw)
        doc["identifier"]["value"] = f"scale-{uuid.uuid4()}"
        yield ("voorbeeldstad" if i % 2 else "maastricht-heuvelland"), json.dumps(doc).encode()


class Instances:
    def __init__(self, tmp: Path, env: dict[str, str], n: int = 3):
        self.tmp, self.env = tmp, env
        self.ports = [free_port() for _ in range(n)]
        self.procs: list[subprocess.Popen] = []
        for i, port in enumerate(self.ports):
            log = open(tmp / f"gunicorn{i}.log", "ab")  # noqa: SIM115 - the child keeps its own descriptor
            self.procs.append(
                subprocess.Popen(
                    [
                        str(BIN / "gunicorn"),
                        "-c",
                        "python:service.gunicorn_conf",
                        "--workers",
                        "2",
                        "--timeout",
                        "120",
                        "--bind",
                        f"127.0.0.1:{port}",
                        "service:create_app()",
                    ],
                    env={**env, "KS_DATA_DIR": str(tmp / f"instance{i}")},
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                    cwd=tmp,
                )
            )
            log.close()
            self._wait(i)  # one after the other: the first migrates the schema

    def _wait(self, i: int) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.ports[i]}/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.procs[i].poll() is not None:
                break
            time.sleep(0.3)
        sys.exit(f"instance {i} did not start: {(self.tmp / f'gunicorn{i}.log').read_text()[-2000:]}")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)


def submit_all(
    ports: list[int], docs: list[tuple[str, bytes]], clients: int
) -> tuple[list[float], dict[int, int], float]:
    """Every document through `clients` concurrent clients, request i to ports[i % len]; latencies, statuses, wall."""
    turn = itertools.count()
    sessions = [requests.Session() for _ in range(clients)]

    def one(job: tuple[int, tuple[str, bytes]]) -> tuple[float, int]:
        i, (region, body) = job
        port = ports[next(turn) % len(ports)]
        t0 = time.perf_counter()
        r = sessions[i % clients].post(
            f"http://127.0.0.1:{port}/fhir/QuestionnaireResponse/$submit?region={region}",
            data=body, headers=HEADERS, timeout=300,
        )  # fmt: skip
        return time.perf_counter() - t0, r.status_code

    t_start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, enumerate(docs)))
    wall = time.perf_counter() - t_start
    statuses: dict[int, int] = {}
    for _, status in results:
        statuses[status] = statuses.get(status, 0) + 1
    return [lat for lat, _ in results], statuses, wall


def throughput(instances: Instances, args) -> None:
    """Part 1: one against three instances, interleaved rounds."""
    seen: dict[int, dict] = {
        1: {"lat": [], "wall": 0.0, "n": 0, "st": {}},
        3: {"lat": [], "wall": 0.0, "n": 0, "st": {}},
    }
    seeds = itertools.count(100)
    submit_all(instances.ports, list(documents(12, next(seeds))), args.clients)  # warm-up: every worker's first
    for r in range(args.rounds):
        for count in (1, 3) if r % 2 == 0 else (3, 1):
            docs = list(documents(args.per_round, next(seeds)))
            lat, statuses, wall = submit_all(instances.ports[:count], docs, args.clients)
            s = seen[count]
            s["lat"] += lat
            s["wall"] += wall
            s["n"] += len(docs)
            for k, v in statuses.items():
                s["st"][k] = s["st"].get(k, 0) + v
            print(f"  round {r + 1} {count} instance(s): {len(docs) / wall:6.1f}/s  statuses {json.dumps(statuses)}")
    rate = {c: s["n"] / s["wall"] for c, s in seen.items()}
    p99 = {c: 1000 * pct(s["lat"], 99) for c, s in seen.items()}
    for c in (1, 3):
        s = seen[c]
        print(
            f"{c} instance(s): {rate[c]:6.1f} submissions/s  p50 {1000 * pct(s['lat'], 50):7.1f} ms  "
            f"p99 {p99[c]:7.1f} ms  ({s['n']} submissions, statuses {json.dumps(s['st'])})"
        )
    ratio, p99_ratio = rate[3] / rate[1], p99[3] / p99[1]
    print(f"ratio 3/1: throughput {ratio:.2f} (target >= 0.90: {'met' if ratio >= 0.9 else 'NOT met'}), "
          f"p99 {p99_ratio:.2f} (target <= 2.00: {'met' if p99_ratio <= 2 else 'NOT met'})")  # fmt: skip


def queue_referrals(instances: Instances, outbox: Outbox, args, pending_before: int):
    """Submissions of the realistic mix while the server is down until `--queued` outbox items (referrals to an
    external destination; a submission makes none, one or several) wait: latencies, statuses, wall time, count."""
    lat: list[float] = []
    statuses: dict = {}
    wall, made, seed = 0.0, 0, 7
    while outbox.counts().get("pending", 0) - pending_before < args.queued:
        batch = max(100, min(2000, args.queued - outbox.counts().get("pending", 0) + pending_before))
        more, got, took = submit_all(instances.ports, list(documents(batch, seed)), args.clients)
        lat += more
        wall, made, seed = wall + took, made + batch, seed + 1
        for status, n in got.items():
            statuses[status] = statuses.get(status, 0) + n
    return lat, statuses, wall, made


def drain(instances: Instances, fhir, fhir_dir: Path, outbox: Outbox, args) -> None:
    """Part 2: the FHIR server down, `--queued` referrals queued, then back: the drain rate."""
    before = outbox.counts()
    print(f"outbox after part 1: {json.dumps(before)} (a 202: queued, not delivered within the request)")
    port = int(fhir.base_url.split(":")[2].split("/")[0])
    fhir.stop()
    t_down = time.monotonic()
    print(f"FHIR server stopped; submissions through 3 instances until {args.queued} referrals wait ...")
    lat, statuses, wall, made = queue_referrals(instances, outbox, args, before.get("pending", 0))
    print(f"  {made} submissions in {wall:.0f} s ({made / wall:.1f}/s, p99 {1000 * pct(lat, 99):.0f} ms), statuses "
          f"{json.dumps(statuses)}")  # fmt: skip
    rest = args.outage_seconds - (time.monotonic() - t_down)
    if rest > 0:
        print(f"  the outage goes on for {rest:.0f} s more")
        time.sleep(rest)
    outage = time.monotonic() - t_down
    counts = outbox.counts()
    queued = counts.get("pending", 0)
    fhir = start_sekmet(fhir_dir, port)
    t_back = time.monotonic()
    made_due = outbox.retry(queued=True)  # `kansrijk outbox retry`'s first step: what waits for its backoff is due now
    print(f"FHIR server back after {outage:.0f} s; pending {queued}, made due {made_due}; draining ...")
    deadline = t_back + max(900, args.queued)
    last = (t_back, counts.get("delivered", 0))
    while (counts := outbox.counts()).get("pending", 0) and time.monotonic() < deadline:
        time.sleep(1)
        now = time.monotonic()
        if now - last[0] >= 30:
            print(f"  {now - t_back:5.0f} s: pending {counts.get('pending', 0)}, "
                  f"{(counts.get('delivered', 0) - last[1]) / (now - last[0]):.1f} delivered/s")  # fmt: skip
            last = (now, counts.get("delivered", 0))
    took = time.monotonic() - t_back
    delivered = counts.get("delivered", 0) - before.get("delivered", 0)
    dead = counts.get("dead", 0) - before.get("dead", 0)
    rate = queued / took if not counts.get("pending", 0) else 0.0
    print(f"drain: {queued} items in {took:.0f} s = {rate:.1f} items/s (target >= 10/s: "
          f"{'met' if rate >= 10 else 'NOT met'}); delivered {delivered}, dead {dead}, still pending "
          f"{counts.get('pending', 0)}")  # fmt: skip
    fhir.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--per-round", type=int, default=60)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--queued", type=int, default=10_000)
    parser.add_argument("--outage-seconds", type=float, default=600.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ks-scale-bench-"))
    postgres = PostgresServer().start()
    fhir = start_sekmet(tmp / "fhir")
    instances = None
    try:
        url = postgres.dsn(postgres.new_database())
        destinations = tmp / "destinations.yaml"
        destinations.write_text(
            yaml.safe_dump({"destinations": [{"id": n, "name": n, "base_url": fhir.base_url} for n in DESTINATIONS]})
        )
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("KS_")},
            "KS_DATABASE_URL": url, "KS_DESTINATIONS": str(destinations), "KS_FHIR_BASE_URL": fhir.base_url,
            "KS_OUTBOX_INTERVAL": "1", "KS_FEEDBACK_POLLER": "off", "KS_LOG_LEVEL": "WARNING",
        }  # fmt: skip
        instances = Instances(tmp, env)
        print(f"load before: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores; PostgreSQL "
              f"{postgres.bin.parent.name}, sekmet-fhir on loopback, instances: gunicorn 2 sync workers each")  # fmt: skip
        throughput(instances, args)
        print(f"load after part 1: {os.getloadavg()[0]:.2f}")
        drain(instances, fhir, tmp / "fhir", Outbox(Database(postgresql_url(url))), args)
        print(f"load after part 2: {os.getloadavg()[0]:.2f}")
    finally:
        if instances:
            instances.stop()
        fhir.stop()
        postgres.remove()


if __name__ == "__main__":
    main()
