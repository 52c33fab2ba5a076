"""The practice's form under load: the live panel (POST /form/panel) A/B against a bare Flask endpoint, and the
page render (GET /form).

Against the production server — gunicorn with 2 sync workers and the service's own configuration
(`gunicorn -c python:service.gunicorn_conf -w 2 "service:create_app()"`), KS_SANDBOX off — on a free loopback
port, with sekmet-fhir (demo data) as the EHR. One launch session per client is written straight into the
service's sessions SQLite (what the SMART callback stores); each session opens the form once first ($populate
reads the EHR then), so the figures are for a form in use; each panel request sends the CSRF header and the panel
token that page gave (data-panel-token), as app.js does. Every panel request ticks a different random set of
signals (no two alike), so nothing is served from a cache. Clients are asyncio connections (one request per
connection, as gunicorn's sync workers close them), run in the benchmark's own process on the same machine.

The A/B: `bare_app` (below) under a second gunicorn with the same configuration and worker count gets the very
same requests (path, cookie, CSRF header, body) at the same 32 clients; the two are run in alternate rounds
(5 each unless told), so a change in the machine's load falls on both. `--compare DIR` (again for more) adds,
interleaved in the same rounds, the live panel of another checkout (e.g. `git worktree add /tmp/ab-old HEAD`),
for a before/after in one run. `--floor` adds the service with a live panel that does no work (`floor_app`: its
guard, an answer of the same size): what a live panel asked at every tick costs at the least here. Prints p50/p99/req/s and the workers' CPU per request of each, the ratios to bare
Flask, the machine's load (os.getloadavg) before and after, and whether the target is met: live panel p99
≤ 1.5 × bare Flask's (the median of the rounds' ratios, each round's p99 against bare Flask's in the same round)
and < 50 ms at 32 clients. `--table` adds the older table: page render and live panel
at 1, 8 and 32 clients. `--one-client` repeats the A/B at 1 client (no verdict): the workers' CPU per request with
no queue and the second core idle, so the ratio says what the panel's own work costs, apart from the machine.
Run: .venv/bin/python benchmarks/form.py [--requests 400] [--rounds 5] [--compare DIR]... [--floor] [--table]
[--one-client]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.embedded import start_sekmet  # noqa: E402
from service.embedded.sekmet import free_port  # noqa: E402
from service.run import load_demo  # noqa: E402
from service.smart.session import COOKIE_NAME, LaunchContext, SessionStore  # noqa: E402
from tests.factories import OTHER, URGENT  # noqa: E402
from tests.web.helpers import TEST_EHR, TEST_PRACTICE, registry_file  # noqa: E402

CONCURRENCY = (1, 8, 32)
AB_CLIENTS = 32
PATIENTS = ("demo-pregnant", "demo-child-1y", "demo-preconception")
TARGET_RATIO, TARGET_P99 = 1.5, 0.050


def bare_app():
    """A bare Flask endpoint, for the A/B: what any Flask endpoint of the app does at the least — it parses the
    same form post as the live panel (the same request: path, cookie, CSRF header, body) and answers JSON of
    the live panel's size (KS_BENCH_BARE_BYTES: the benchmark measures a panel answer first) — and nothing
    else: no session, no CSRF check, no evaluation, no template. Run by gunicorn as
    `benchmarks.form:bare_app()`, with the service's gunicorn configuration."""
    from flask import Flask, jsonify

    app = Flask("bare")

    @app.post("/form/panel")
    def panel():
        return jsonify(sized_answer())

    @app.get("/fhir/metadata")
    def up():
        return jsonify({"status": "up"})

    return app


def floor_app():
    """The service with its live panel doing no work, for `--floor`: the same route, the same guard
    (guard.panel_step: the panel token, the registry; the full guard when the token does not do) and an answer
    of the live panel's size, as the bare endpoint gives — no facts, no answer index, no rules, no template. What
    any live panel asked at every tick costs at the least in this service; the live panel's work is what it costs
    above this. Run by gunicorn as `benchmarks.form:floor_app()`, with the service's environment."""
    from service import create_app
    from service.web.common import json_answer
    from service.web.guard import panel_step

    app = create_app()

    @panel_step
    def no_work(who, practice, renew: bool):
        return json_answer(sized_answer())

    app.view_functions["web.panel"] = no_work
    return app


def sized_answer() -> dict:
    """What bare_app and floor_app answer: the posted form's fields (parsed, as the live panel parses them), padded
    to the live panel's answer size (KS_BENCH_BARE_BYTES)."""
    from flask import request

    fields = request.form.to_dict(flat=False)
    pad = int(os.environ.get("KS_BENCH_BARE_BYTES", "4000")) - len(json.dumps(fields)) - 30
    return {"panel": {"fields": fields}, "html": "x" * max(0, pad)}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else 0.0


async def http(
    port: int, method: str, path: str, cookie: str, body: bytes = b"", headers: dict | None = None
) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", f"Cookie: {COOKIE_NAME}={cookie}"]
    for k, v in (headers or {}).items():
        head.append(f"{k}: {v}")
    if body:
        head += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    await writer.drain()
    data = await reader.read()
    writer.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data


def panel_body(rng: random.Random, token: str) -> bytes:
    phase = rng.choice(("pregnant", "postpartum", "preconception"))
    fields: list[tuple[str, str]] = [("csrf_token", token), ("phase", phase)]
    if phase == "pregnant":
        fields.append(("due-date", "2027-03-01"))
    elif phase == "postpartum":
        fields.append(("child-birth-date", "2026-01-10"))
    else:
        fields.append(("pregnancy-intention", rng.choice(("LA26438-4", "LA26440-0", "LA14072-5"))))
    for link_id in rng.sample(URGENT, rng.randint(0, 2)) + rng.sample(OTHER, rng.randint(0, 4)):
        fields.append((link_id, "true"))
    if rng.random() < 0.3:
        fields += [("consent-given", "true"), ("consent-method", "verbal")]
    if rng.random() < 0.2:
        fields.append(("note", "Wil graag hulp " + secrets.token_hex(4)))
    return urlencode(fields).encode()


@dataclass
class Server:
    """One gunicorn (2 sync workers, the service's configuration) and the launch sessions it knows."""

    name: str
    process: subprocess.Popen
    port: int
    # (session id, CSRF token, panel token: the form page's data-panel-token, "" from a checkout without one)
    sessions: list[tuple[str, str, str]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    round_p99: list[float] = field(default_factory=list)
    judged: bool = True  # a live panel, which the targets are for (not bare Flask, not the floor)


async def run_scenario(
    server: Server, sessions: list[tuple[str, str, str]], concurrency: int, total: int, kind: str, seed: int
) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))

    async def client(i: int) -> None:
        nonlocal errors
        rng = random.Random(seed * 1000 + i)
        sid, token, panel_token = sessions[i % len(sessions)]
        headers = {"X-CSRF-Token": token, "X-Panel-Token": panel_token}  # what app.js sends
        for _ in counter:
            if kind == "render":
                t0 = time.perf_counter()
                status, _ = await http(server.port, "GET", "/form", sid)
            else:
                body = panel_body(rng, token)
                t0 = time.perf_counter()
                status, _ = await http(server.port, "POST", "/form/panel", sid, body, headers)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                errors += 1

    await asyncio.gather(*(client(i) for i in range(concurrency)))
    return latencies, errors


def machine_speed() -> float:
    """ms for a fixed pure-Python loop (best of 5): this VM's speed varies by half from hour to hour, and every
    figure below scales with it, so each run prints it for comparing runs."""
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        total = 0
        for i in range(300_000):
            total += i % 7
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by gunicorn's workers (the children of `pid`)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            parts = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(parts[11]) + int(parts[12])) / tick  # utime, stime
    return total


def wait_up(base: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/fhir/metadata", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not start")


def start_gunicorn(name: str, root: Path, app: str, env: dict[str, str]) -> Server:
    """gunicorn with the service's configuration and 2 sync workers, serving `app` from the checkout `root`."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:service.gunicorn_conf", "-w", "2"]
        + ["-b", f"127.0.0.1:{port}", app],
        cwd=root,
        env={**env, "PYTHONPATH": str(root)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Server(name, process, port)
    try:
        wait_up(f"http://127.0.0.1:{port}", process)
    except BaseException:
        stop(server)
        raise
    return server


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()


def service_env(ehr_base_url: str, data: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("KS_")},
        "KS_ENV": "production",
        "KS_API_AUTH": "none",
        "KS_SECRET_KEY": secrets.token_urlsafe(48),
        "KS_DATA_DIR": str(data / "data"),
        "KS_FHIR_BASE_URL": ehr_base_url,
        "KS_SANDBOX": "0",
        "KS_OUTBOX_WORKER": "off",
        "KS_LOG_LEVEL": "WARNING",
        "KS_EHR_REGISTRY": str(registry_file(data / "deploy", ehr_base_url)),
    }


def open_sessions(server: Server, data_dir: Path, ehr_base_url: str) -> None:
    """One launch session per client, as the SMART callback stores it, each with the form opened once. Written
    as a plain row (the fields that are set), so a `--compare` checkout with fewer LaunchContext fields reads
    them too."""
    SessionStore(data_dir / "sessions.sqlite3")  # the table
    conn = sqlite3.connect(data_dir / "sessions.sqlite3", isolation_level=None)
    for i in range(AB_CLIENTS):
        ctx = LaunchContext(
            session_id=SessionStore.new_id(),
            iss=ehr_base_url,
            client_id="kansrijke-start",
            ehr_id=TEST_EHR,
            practice_id=TEST_PRACTICE,
            token_endpoint=f"{ehr_base_url}/token",
            access_token="bench",
            expires_at=time.time() + 8 * 3600,
            scope="launch patient/*.rs",
            patient=PATIENTS[i % len(PATIENTS)],
            fhir_user="PractitionerRole/demo-gp",
            role="huisarts",
            need_patient_banner=True,
        )
        row = {k: v for k, v in asdict(ctx).items() if v is not None}
        conn.execute(
            "INSERT INTO launch_session (id, data, created) VALUES (?, ?, ?)",
            (ctx.session_id, json.dumps(row), ctx.created_at),
        )
        status, page = asyncio.run(http(server.port, "GET", "/form", ctx.session_id))  # opens the form: $populate
        token = re.search(rb'name="csrf-token" content="([^"]+)"', page)
        if status != 200 or not token:
            raise SystemExit(f"{server.name}: GET /form answered {status}")
        panel_token = re.search(rb'data-panel-token="([^"]+)"', page)
        server.sessions.append(
            (ctx.session_id, token.group(1).decode(), panel_token.group(1).decode() if panel_token else "")
        )
    conn.close()


def panel_size(server: Server) -> int:
    """The median size of a live panel's answer body (bytes), for the bare endpoint to answer as much."""
    sizes = []
    for seed in range(15):
        sid, token, panel_token = server.sessions[seed % len(server.sessions)]
        body = panel_body(random.Random(seed), token)
        headers = {"X-CSRF-Token": token, "X-Panel-Token": panel_token}
        status, data = asyncio.run(http(server.port, "POST", "/form/panel", sid, body, headers))
        if status != 200:
            raise SystemExit(f"{server.name}: POST /form/panel answered {status}")
        sizes.append(len(data.split(b"\r\n\r\n", 1)[1]))
    return sorted(sizes)[len(sizes) // 2]


def ab_rounds(servers: list[Server], rounds: int, requests: int, clients: int = AB_CLIENTS) -> None:
    """`rounds` rounds of `requests` panel requests at `clients` clients on each server in turn (the order rotating
    round by round, so each server comes first, second, ... equally often), the same request mix for each in a
    round."""
    bare_sessions = next(s.sessions for s in servers if s.sessions)  # the bare app checks none: any session's
    for server in servers:  # warm both workers
        asyncio.run(run_scenario(server, server.sessions or bare_sessions, 4, 50, "panel", 0))
    for r in range(rounds):
        for server in servers[r % len(servers) :] + servers[: r % len(servers)]:  # each first in turn
            t0, cpu0 = time.perf_counter(), server_cpu(server.process.pid)
            lat, errors = asyncio.run(
                run_scenario(server, server.sessions or bare_sessions, clients, requests, "panel", 100 + r)
            )
            server.wall += time.perf_counter() - t0
            server.cpu += server_cpu(server.process.pid) - cpu0
            server.latencies += lat
            server.errors += errors
            server.round_p99.append(pct(lat, 99))


def print_ab(
    servers: list[Server], rounds: int, requests: int, load: tuple, speed: tuple, clients: int = AB_CLIENTS
) -> None:
    bare = servers[0]
    print(
        f"A/B at {clients} client{'s' if clients != 1 else ''}, gunicorn -w 2 (sync workers, service/gunicorn_conf.py), {os.cpu_count()} CPU(s),"
        f" clients on the same machine: {rounds} interleaved rounds × {requests} requests per server; ms per request"
    )
    print(
        f"machine load (1/5/15 min): {' '.join(f'{x:.2f}' for x in load[0])} before, "
        f"{' '.join(f'{x:.2f}' for x in load[1])} after"
    )
    print(
        f"machine speed: a fixed Python loop took {speed[0]:.1f} ms before, {speed[1]:.1f} ms after (lower is faster)"
    )
    print(
        f"{'server':34} {'n':>6} {'errors':>6} {'p50':>7} {'p99':>7} {'req/s':>7} {'cpu/req':>8}"
        f" {'p50 ×':>6} {'p99 ×':>6} {'cpu ×':>6}  p99 per round"
    )
    base = (pct(bare.latencies, 50), pct(bare.latencies, 99), bare.cpu / max(1, len(bare.latencies)))
    for s in servers:
        n = len(s.latencies)
        p50, p99, cpu = pct(s.latencies, 50), pct(s.latencies, 99), s.cpu / max(1, n)
        print(
            f"{s.name:34} {n:>6} {s.errors:>6} {p50 * 1000:>7.1f} {p99 * 1000:>7.1f} {n / s.wall:>7.0f}"
            f" {cpu * 1000:>8.2f} {p50 / base[0]:>6.2f} {p99 / base[1]:>6.2f} {cpu / base[2]:>6.2f}"
            f"  {' '.join(f'{x * 1000:.0f}' for x in s.round_p99)}"
        )
    if clients != AB_CLIENTS:  # the targets are for 32 clients: this run says what the work costs without a queue
        return
    for s in servers[1:]:
        # The verdict on the ratio: the median over rounds of this round's p99 against bare Flask's in the same
        # round (paired, so a hiccup of the machine in one round does not decide it either way).
        ratio = statistics.median(p / b for p, b in zip(s.round_p99, bare.round_p99, strict=True))
        if not s.judged:
            print(f"{s.name}: p99 {ratio:.2f} × bare Flask (median of the rounds' ratios; no target)")
            continue
        p99 = pct(s.latencies, 99)
        ratio_ok, abs_ok = ratio <= TARGET_RATIO, p99 < TARGET_P99
        print(
            f"{s.name}: p99 ≤ {TARGET_RATIO} × bare Flask (median of the rounds' ratios {ratio:.2f}):"
            f" {'met' if ratio_ok else 'NOT met'}; p99 < {TARGET_P99 * 1000:.0f} ms ({p99 * 1000:.1f}):"
            f" {'met' if abs_ok else 'NOT met'}; both: {'met' if ratio_ok and abs_ok else 'NOT met'}"
        )


def table(server: Server, requests: int) -> None:
    """The older table: page render and live panel at 1, 8 and 32 clients, on the service's server."""
    rows = []
    for kind in ("render", "panel"):
        asyncio.run(run_scenario(server, server.sessions, 4, 50, kind, 0))
        for c in CONCURRENCY:
            t0, srv0 = time.perf_counter(), server_cpu(server.process.pid)
            lat, errors = asyncio.run(run_scenario(server, server.sessions, c, requests, kind, c))
            wall, srv_cpu = time.perf_counter() - t0, server_cpu(server.process.pid) - srv0
            rows.append(
                (
                    kind,
                    c,
                    len(lat),
                    errors,
                    pct(lat, 50),
                    pct(lat, 95),
                    pct(lat, 99),
                    len(lat) / wall,
                    srv_cpu / len(lat),
                )
            )
    names = {"render": "GET /form (page render)", "panel": "POST /form/panel (live panel)"}
    print(
        f"\n{'scenario':32} {'clients':>7} {'n':>6} {'errors':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'req/s':>8} {'cpu/req':>8}"
    )
    for kind, c, n, errors, p50, p95, p99, rps, scpu in rows:
        print(
            f"{names[kind]:32} {c:>7} {n:>6} {errors:>6} {p50 * 1000:>8.1f} {p95 * 1000:>8.1f} {p99 * 1000:>8.1f}"
            f" {rps:>8.0f} {scpu * 1000:>8.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400, help="requests per round and server")
    parser.add_argument("--rounds", type=int, default=5, help="A/B rounds per server, interleaved")
    parser.add_argument(
        "--compare", type=Path, action="append", default=[], help="another checkout whose live panel joins the A/B"
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also the service with a live panel that does no work (its guard only): the floor under the panel",
    )
    parser.add_argument("--table", action="store_true", help="also page render and live panel at 1, 8, 32 clients")
    parser.add_argument(
        "--one-client",
        action="store_true",
        help="also the A/B at 1 client: the workers' CPU per request without a queue or a busy second core",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ks-form-bench-"))
    ehr = start_sekmet(tmp / "fhir")
    load_demo(ehr.base_url, "maastricht-heuvelland")
    servers: list[Server] = []
    try:
        checkouts = [("live panel (this checkout)", ROOT)]
        checkouts += [(f"live panel ({other})", other.resolve()) for other in args.compare]
        for i, (name, root) in enumerate(checkouts):
            env = service_env(ehr.base_url, tmp / f"service-{i}")
            servers.append(start_gunicorn(name, root, "service:create_app()", env))
            open_sessions(servers[-1], Path(env["KS_DATA_DIR"]), ehr.base_url)
        size = panel_size(servers[0])
        bare_env = {**os.environ, "KS_BENCH_BARE_BYTES": str(size)}
        if args.floor:
            env = {**service_env(ehr.base_url, tmp / "service-floor"), "KS_BENCH_BARE_BYTES": str(size)}
            servers.insert(
                0, start_gunicorn("service floor (guard, no work)", ROOT, "benchmarks.form:floor_app()", env)
            )
            open_sessions(servers[0], Path(env["KS_DATA_DIR"]), ehr.base_url)
            servers[0].judged = False
        servers.insert(
            0, start_gunicorn(f"bare Flask ({size} B answers)", ROOT, "benchmarks.form:bare_app()", bare_env)
        )
        servers[0].judged = False
        load0, speed0 = os.getloadavg(), machine_speed()
        ab_rounds(servers, args.rounds, args.requests)
        load1, speed1 = os.getloadavg(), machine_speed()
        print_ab(servers, args.rounds, args.requests, (load0, load1), (speed0, speed1))
        if args.one_client:
            for server in servers:
                server.latencies, server.round_p99, server.errors, server.wall, server.cpu = [], [], 0, 0.0, 0.0
            load0, speed0 = os.getloadavg(), machine_speed()
            ab_rounds(servers, args.rounds, args.requests, clients=1)
            load1, speed1 = os.getloadavg(), machine_speed()
            print()
            print_ab(servers, args.rounds, args.requests, (load0, load1), (speed0, speed1), clients=1)
        if args.table:
            table(next(s for s in servers if s.judged), args.requests)
    finally:
        for server in servers:
            stop(server)
        ehr.stop()


if __name__ == "__main__":
    main()
