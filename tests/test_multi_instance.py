"""Several instances of the service on one PostgreSQL (issue 16 points 2 and 3): three real service processes
(`python -m service.run`, each with its own data folder, nothing shared but KS_DATABASE_URL) drain one outbox
into a real FHIR server (sekmet-fhir), and what arrived is counted there: every referral's ServiceRequest and Task
exactly once. With a fault each time: none; one instance SIGKILLed in the middle of a push (the server committed,
the answer never came back: its lease runs out, another instance pushes it again, and the conditional creates keep
it once); the database restarted while they push; the FHIR server down, then back."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from service.audit import AuditLog
from service.db import Database, postgresql_url
from service.embedded.sekmet import free_port
from service.fhir import urls
from service.outbox.store import Outbox
from tests.factories import make_qr
from tests.faultproxy import FaultProxy, wait_for
from tests.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[1]
LEASE = 8.0  # KS_OUTBOX_LEASE here: longer than one push with this client's timeouts and retries, short to wait for
INSTANCES = 3


@dataclass
class Instance:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def owner(self) -> str:  # what the outbox's claimed_by says of this instance (service/outbox/store.py)
        return f"{socket.gethostname()}:{self.process.pid}"

    def text(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def start_instances(tmp_path: Path, database_url: str, fhir_base_url: str) -> list[Instance]:
    """Three services started at once (their start-ups also race to migrate the one database), each up."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("KS_")}
    instances = []
    for n in range(INSTANCES):
        port, log = free_port(), tmp_path / f"instance-{n}.log"
        env = {
            **base,
            "KS_DATABASE_URL": database_url,
            "KS_FHIR_BASE_URL": fhir_base_url,
            "KS_DATA_DIR": str(tmp_path / f"instance-{n}"),
            "KS_PORT": str(port),
            "KS_OUTBOX_INTERVAL": "0.2",
            "KS_OUTBOX_LEASE": str(LEASE),
            "KS_FEEDBACK_POLLER": "off",
            "KS_SANDBOX": "0",
            "KS_FHIR_CONNECT_TIMEOUT": "1",
            "KS_FHIR_READ_TIMEOUT": "1.5",
        }
        with open(log, "ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "service.run"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        instances.append(Instance(process, port, log))
    for instance in instances:
        if not wait_for(lambda i=instance: _up(i), timeout=90):
            stop_instances(instances)
            pytest.fail(f"an instance did not start: {instance.text()}", pytrace=False)
    return instances


def _up(instance: Instance) -> bool:
    if instance.process.poll() is not None:
        raise AssertionError(f"an instance ended: {instance.text()}")
    try:
        return requests.get(f"http://127.0.0.1:{instance.port}/fhir/metadata", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def stop_instances(instances: list[Instance]) -> None:
    for instance in instances:
        if instance.process.poll() is None:
            instance.process.terminate()
    for instance in instances:
        try:
            instance.process.wait(15)
        except subprocess.TimeoutExpired:
            instance.process.kill()
            instance.process.wait()


def referrals(engine, prefix: str, count: int) -> list:
    """The Bundles of `count` submissions, as a submission makes them (service/referrals/submit.py)."""
    return [
        engine.extract(make_qr(signals=("homeless",), identifier=f"{prefix}-{n}"), structural=True).bundles
        for n in range(count)
    ]


def queue(outbox: Outbox, made: list, due: float) -> list[str]:
    """Submissions in the outbox as a submission stores them, every one due at `due` (at once, for whichever
    instance claims first); their recipients' keys (<submission>:<recipient>)."""
    for bundles in made:
        outbox.enqueue(bundles.submission, [(d.destination, d.bundle) for d in bundles.deliveries], now=due)
    return [f"{b.submission}:{r}" for b in made for d in b.deliveries for r in d.recipients]


def arrived(base_url: str, resource_type: str, system: str) -> Counter:
    """How many of each business identifier (of `system`) the FHIR server holds, every page of the search read."""
    found: Counter = Counter()
    url: str | None = f"{base_url}/{resource_type}?_count=200"
    while url:
        page = requests.get(url, headers={"Accept": "application/fhir+json"}, timeout=30)
        page.raise_for_status()
        bundle = page.json()
        for entry in bundle.get("entry", []):
            found.update(i["value"] for i in entry["resource"].get("identifier", []) if i.get("system") == system)
        url = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)
    return found


def assert_each_once(base_url: str, keys: list[str]) -> None:
    """0 lost, 0 duplicate, counted on the server: one Task and one ServiceRequest per recipient's referral."""
    assert arrived(base_url, "Task", urls.ID_TASK) == Counter(keys)
    assert arrived(base_url, "ServiceRequest", urls.ID_REFERRAL) == Counter(keys)


def pushes(database_url: str) -> Counter:
    """The push attempts the instances made, per (submission → destination), as their shared audit log has them
    (service/referrals/submit.py Pusher: one row per attempt, whatever came of it)."""
    log = AuditLog(Database(postgresql_url(database_url)))
    return Counter((e["object"], e["outcome"]) for e in log.entries() if e["event"] == "push")


def delivered(outbox: Outbox) -> int:
    return outbox.counts().get("delivered", 0)


@pytest.fixture()
def database_url(postgres_server) -> str:
    return postgres_server.dsn(postgres_server.new_database())


@pytest.fixture()
def fhir(sekmet_servers, request):
    """A real sekmet-fhir of this test's own (what arrived is counted there)."""
    return sekmet_servers.get(f"multi-instance-{request.node.name}").base_url


def _outbox(url: str) -> Outbox:
    return Outbox(Database(postgresql_url(url)), lease_seconds=LEASE)


def test_three_instances_drain_one_outbox_each_referral_once(tmp_path, engine, database_url, fhir):
    instances = start_instances(tmp_path, database_url, fhir)
    try:
        outbox = _outbox(database_url)
        count = 45
        keys = queue(outbox, referrals(engine, "drain", count), due=time.time() + 1)
        assert wait_for(lambda: delivered(outbox) == count, 120), [i.text() for i in instances]
        assert_each_once(fhir, keys)
        by = Counter(i.claimed_by for i in outbox.list(state="delivered", limit=count))
        assert set(by) <= {i.owner for i in instances} and len(by) >= 2, by  # the work shared, never twice
        assert all(i.attempts == 1 for i in outbox.list(limit=count))
        sent = {f"{i.submission} → {i.destination}" for i in outbox.list(limit=count)}
        assert pushes(database_url) == Counter({(o, "0"): 1 for o in sent})  # no row pushed twice, by anyone
    finally:
        stop_instances(instances)


def test_an_instance_killed_mid_push_its_lease_runs_out_and_another_finishes(tmp_path, engine, database_url, fhir):
    """The first push (one referral due before the rest) reaches the server, which commits it; its answer is held
    back and that instance is SIGKILLed. The queue behind it is drained by the other two; once the dead one's lease
    has run out, one of them pushes the held referral again: the server keeps it once."""
    proxy = FaultProxy(int(fhir.rsplit(":", 1)[1].split("/")[0]), mode="hold-response", faults=1)
    instances = start_instances(tmp_path, database_url, proxy.base_url)
    try:
        assert proxy.connections == 0  # nothing reached the FHIR server yet: the first connection is the first push
        outbox = _outbox(database_url)
        [one], behind = referrals(engine, "killed", 1), referrals(engine, "behind", 20)
        now = time.time()
        [first] = queue(outbox, [one], due=now)
        keys = [first, *queue(outbox, behind, due=now + 4)]
        assert wait_for(lambda: proxy.faulted == 1 and arrived(fhir, "Task", urls.ID_TASK)[first] == 1, 30)
        [held] = outbox.for_submission(one.submission)  # claimed and pushed before the rest was due
        assert held.state == "pending" and held.claimed_by is not None  # the server committed; no answer came
        [killed] = [i for i in instances if i.owner == held.claimed_by]
        killed.process.send_signal(signal.SIGKILL)
        killed.process.wait(10)
        assert wait_for(lambda: delivered(outbox) == len(keys), 120), [i.text() for i in instances]
        again = outbox.get(held.id)
        assert again.claimed_by != killed.owner and again.claimed_by in {i.owner for i in instances}
        assert again.attempts == 1  # the killed push recorded nothing: one attempt, its successor's
        assert_each_once(fhir, keys)
        sent = {f"{i.submission} → {i.destination}" for i in outbox.list(limit=50)}
        assert pushes(database_url) == Counter({(o, "0"): 1 for o in sent})  # the killed one's: never audited
    finally:
        proxy.close()
        stop_instances(instances)


def test_the_database_restarted_mid_push_the_instances_reconnect_and_finish(tmp_path, engine, fhir):
    """A fast shutdown of PostgreSQL (every connection cut, as a failover does) while the instances push, two
    seconds without a database, then back: the pools reconnect (pool_pre_ping), a push whose outcome could not be
    recorded is pushed again after its lease, and every referral arrives once."""
    server = PostgresServer().start()
    url = server.dsn(server.new_database())
    instances = start_instances(tmp_path, url, fhir)
    try:
        outbox = _outbox(url)
        count = 90
        keys = queue(outbox, referrals(engine, "restart", count), due=time.time() + 1)
        assert wait_for(lambda: delivered(outbox) >= 10, 60)
        server.restart(down=2.0)
        before = delivered(outbox)
        assert before < count  # restarted mid-drain
        assert wait_for(lambda: delivered(outbox) == count, 120), [i.text() for i in instances]
        assert all(i.process.poll() is None for i in instances)  # none died of it
        assert_each_once(fhir, keys)
    finally:
        stop_instances(instances)
        server.remove()


def test_the_fhir_server_down_then_back_every_referral_delivered_once(tmp_path, engine, database_url, fhir):
    """Every connection to the FHIR server refused while the instances try (each attempt a failure with a next
    attempt later: 15 s backoff, service/referrals/submit.py), then the server is back: all delivered, once."""
    proxy = FaultProxy(int(fhir.rsplit(":", 1)[1].split("/")[0]), mode="refuse", faults=10**9)
    instances = start_instances(tmp_path, database_url, proxy.base_url)
    try:
        outbox = _outbox(database_url)
        count = 12
        keys = queue(outbox, referrals(engine, "outage", count), due=time.time())
        assert wait_for(lambda: all(i.attempts >= 1 for i in outbox.list(limit=count)), 90)  # each tried, failed
        assert delivered(outbox) == 0 and arrived(fhir, "Task", urls.ID_TASK) == Counter()
        assert all(i.last_error and i.state == "pending" for i in outbox.list(limit=count))  # waiting, not dead
        proxy.faults = proxy.faulted  # the server is back
        assert wait_for(lambda: delivered(outbox) == count, 150), [i.text() for i in instances]
        assert_each_once(fhir, keys)
        sent = {f"{i.submission} → {i.destination}" for i in outbox.list(limit=count)}
        attempts = pushes(database_url)
        assert {o for o, outcome in attempts if outcome == "4"} == sent  # each failed while the server was down
        assert {(o, n) for (o, outcome), n in attempts.items() if outcome == "0"} == {(o, 1) for o in sent}
    finally:
        proxy.close()
        stop_instances(instances)
