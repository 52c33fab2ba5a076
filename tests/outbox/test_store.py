"""The outbox on both engines of the storage layer (SQLite and a real PostgreSQL, tests/postgres.py): one item per
(submission, destination), written together; retry; take_back against a claim; claims that never hand one row to
two workers, leases that expire and are taken over, orphans of a dead process freed; an outbox.sqlite3 from before
the storage layer adopted with its rows."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from service.db import Database, postgresql_url
from service.outbox import store
from service.outbox.store import Outbox

BUNDLE = {"resourceType": "Bundle", "type": "transaction", "entry": []}
RESPONSE = {"resourceType": "Bundle", "type": "transaction-response"}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def outbox(database) -> Outbox:
    return Outbox(database, lease_seconds=60)


def test_items_per_destination_written_together(outbox):
    first = outbox.enqueue("sub-1", [("ggd", BUNDLE), ("midwives", BUNDLE)])
    assert [(i.id, i.destination, c) for i, c in first] == [
        ("sub-1:ggd", "ggd", True),
        ("sub-1:midwives", "midwives", True),
    ]
    outbox.enqueue("sub-0", [("zz", BUNDLE)])
    outbox.enqueue("sub-1", [("ggd", BUNDLE), ("midwives", BUNDLE), ("aa", BUNDLE)])  # one more, enqueued last
    assert [i.destination for i in outbox.for_submission("sub-1")] == ["ggd", "midwives", "aa"]
    assert outbox.for_submission("sub-2") == []
    assert outbox.counts() == {"pending": 4}


def test_a_new_item_the_request_pushes_itself_waits_for_that_push_before_a_worker_takes_it(outbox):
    """The submitting request claims its new items itself, at once; a background worker (here or at another
    instance) takes one only PUSH_GRACE later: when that push never came, or waits behind a slow one."""
    now = time.time()
    [(mine, _), (other, _)] = outbox.enqueue(
        "sub-1", [("ggd", BUNDLE), ("midwives", BUNDLE)], now=now, pushing=lambda d: d == "ggd"
    )
    assert [i.id for i in outbox.claim_due(10, now=now + 0.1)] == [other.id]  # not the request's own
    assert outbox.claim(mine.id, now=now + 0.1)  # the request's claim
    [(late, _)] = outbox.enqueue("sub-2", [("ggd", BUNDLE)], now=now, pushing=lambda d: True)
    assert outbox.claim_due(10, now=now + store.PUSH_GRACE - 0.1) == []
    assert [i.id for i in outbox.claim_due(10, now=now + store.PUSH_GRACE + 0.1)] == [late.id]  # its push never came


def test_a_resubmission_replaces_what_has_not_gone_and_takes_back_what_it_no_longer_names(outbox):
    """Amended, or consent withdrawn before delivery: only what the last submission says may still go out."""
    [(ggd, _), (midwives, _), (jong, _)] = outbox.enqueue(
        "sub-1", [("ggd", BUNDLE), ("midwives", BUNDLE), ("jong", BUNDLE)]
    )
    assert outbox.mark_delivered(jong.id, 200, RESPONSE)
    amended = {**BUNDLE, "id": "amended"}
    [(again, created)] = outbox.enqueue("sub-1", [("ggd", amended)])
    assert created is False and again.bundle == amended  # waiting: replaced
    assert outbox.get(midwives.id) is None  # no longer named (no consent now): never goes
    delivered = outbox.get(jong.id)
    assert delivered.state == "delivered" and "id" not in delivered.bundle  # gone already: left as it was
    assert outbox.claim(ggd.id)  # a worker pushing it holds the lease: a resubmission meanwhile leaves it alone
    outbox.enqueue("sub-1", [])
    assert outbox.get(ggd.id).bundle == amended


def test_claim_due_only_for_destinations_with_a_server(outbox):
    outbox.enqueue("sub-1", [("ggd", BUNDLE), ("midwives", BUNDLE)])
    assert [i.destination for i in outbox.claim_due(destinations=["midwives"])] == ["midwives"]
    assert outbox.claim_due(destinations=[]) == []
    assert [i.destination for i in outbox.claim_due()] == ["ggd"]  # the other one is leased
    assert outbox.claim_due() == []


def test_retry_revives_dead_letters_and_with_queued_also_waiting_items(outbox):
    [(dead, _), (waiting, _)] = outbox.enqueue("sub-1", [("ggd", BUNDLE), ("midwives", BUNDLE)])
    later = time.time() + 3600
    outbox.mark_failed(dead.id, status=400, error={"error": "FhirRequestRejected"}, retry_at=None)
    outbox.mark_failed(waiting.id, status=503, error={"error": "FhirServerError"}, retry_at=later)
    assert outbox.get(dead.id).state == "dead" and outbox.get(dead.id).last_error == {"error": "FhirRequestRejected"}
    assert outbox.retry() == 1 and outbox.get(dead.id).state == "pending"
    assert outbox.get(waiting.id).next_attempt == later  # a plain retry leaves the backoff alone
    assert outbox.retry("sub-1", queued=True) == 2  # by submission: both of its items
    assert all(i.next_attempt <= time.time() for i in outbox.for_submission("sub-1"))
    assert [i.attempts for i in outbox.for_submission("sub-1")] == [1, 1]


def test_take_back_never_races_a_push(outbox):
    """The GP's cancel of a queued referral (service/referrals/withdraw.py): taken while nobody pushes it, refused
    while a worker holds the lease, too late once delivered."""
    [(a, _), (b, _), (c, _)] = outbox.enqueue("sub-1", [("ggd", BUNDLE), ("midwives", BUNDLE), ("jong", BUNDLE)])
    smaller = {**BUNDLE, "id": "without-one"}
    assert outbox.take_back(a.id, lambda bundle: smaller) == "taken" and outbox.get(a.id).bundle == smaller
    assert outbox.take_back(b.id, lambda bundle: None) == "taken" and outbox.get(b.id) is None
    assert outbox.take_back(b.id, lambda bundle: None) == "gone"
    assert outbox.claim(c.id)
    assert outbox.take_back(c.id, lambda bundle: None) == "in-flight" and outbox.get(c.id).bundle == BUNDLE
    assert outbox.take_back(c.id, lambda bundle: None, now=time.time() + 120) == "taken"  # its lease ran out
    [(d, _)] = outbox.enqueue("sub-2", [("ggd", BUNDLE)])
    outbox.mark_delivered(d.id, 200, RESPONSE)
    assert outbox.take_back(d.id, lambda bundle: None) == "delivered" and outbox.get(d.id).state == "delivered"


def test_a_lease_that_ran_out_is_taken_over_and_the_late_worker_records_nothing(outbox, monkeypatch):
    """Instance A claims and stalls past its lease; instance B takes the row over and delivers it; what A then
    reports changes nothing, and A may not renew (push) it."""
    [(item, _)] = outbox.enqueue("sub-1", [("ggd", BUNDLE)])
    monkeypatch.setattr(store, "_owner", lambda: "host-a:1")
    start = time.time()
    assert [i.id for i in outbox.claim_due(now=start)] == [item.id]
    assert outbox.renew(item.id, now=start + 30)  # within its lease: renewed (until start + 90)
    assert outbox.claim_due(now=start + 80) == []  # renewed: not yet free
    monkeypatch.setattr(store, "_owner", lambda: "host-b:2")
    [taken] = outbox.claim_due(now=start + 91)
    assert taken.claimed_by == "host-b:2"
    monkeypatch.setattr(store, "_owner", lambda: "host-a:1")
    assert not outbox.renew(item.id, now=start + 92)
    assert not outbox.mark_failed(item.id, status=None, error={"error": "FhirUnavailable"}, retry_at=start + 200)
    monkeypatch.setattr(store, "_owner", lambda: "host-b:2")
    assert outbox.mark_delivered(item.id, 200, RESPONSE)
    monkeypatch.setattr(store, "_owner", lambda: "host-a:1")
    assert not outbox.mark_failed(item.id, status=None, error={"error": "FhirUnavailable"}, retry_at=start + 200)
    final = outbox.get(item.id)
    assert (final.state, final.attempts, final.claimed_by) == ("delivered", 1, "host-b:2")


def test_workers_claiming_at_once_never_get_the_same_item(outbox):
    outbox.enqueue("sub-1", [(f"d{n}", BUNDLE) for n in range(40)])
    claimed: list[list[str]] = []
    barrier = threading.Barrier(6)

    def worker() -> None:
        barrier.wait()
        mine: list[str] = []
        while items := outbox.claim_due(limit=3):
            mine += [i.id for i in items]
        claimed.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    every = [i for mine in claimed for i in mine]
    assert len(claimed) == 6 and sorted(every) == sorted(f"sub-1:d{n}" for n in range(40))  # each once


def test_the_leases_of_a_process_that_died_are_freed_at_start_up(database_url):
    """A real process claims and dies without releasing (as a SIGKILLed worker would): the next Outbox made on this
    host finds the claims of a pid that no longer runs and makes their rows due at once."""
    first = Outbox(_database(database_url))
    first.enqueue("sub-1", [("ggd", BUNDLE), ("midwives", BUNDLE)])
    claim = (
        "import sys; from service.db import Database, postgresql_url; from service.outbox.store import Outbox; "
        "url = sys.argv[1]; db = Database.sqlite(url[10:]) if url.startswith('sqlite') else "
        "Database(postgresql_url(url)); print(*[i.destination for i in Outbox(db).claim_due(limit=1)])"
    )
    done = subprocess.run([sys.executable, "-c", claim, database_url], cwd=ROOT, capture_output=True, text=True)
    dead_ones = done.stdout.split()
    assert len(dead_ones) == 1 and dead_ones[0] in ("ggd", "midwives"), done.stderr
    [other] = first.claim_due()  # the dead process's claim still holds for this running one
    assert other.destination != dead_ones[0]
    again = Outbox(_database(database_url))  # a start-up: frees it
    assert [i.destination for i in again.claim_due()] == dead_ones
    assert again.claim_due() == []


def _database(url: str) -> Database:
    return (
        Database.sqlite(Path(url.removeprefix("sqlite:///")))
        if url.startswith("sqlite")
        else Database(postgresql_url(url))
    )


def test_on_postgresql_a_claim_skips_rows_another_instance_is_claiming(postgres_server):
    """FOR UPDATE SKIP LOCKED: a row locked by another transaction (an instance in the middle of its claim) is
    passed over at once, not waited for, and its claim goes on undisturbed."""
    db = Database(postgresql_url(postgres_server.dsn(postgres_server.new_database())))
    outbox = Outbox(db)
    outbox.enqueue("sub-1", [("ggd", BUNDLE), ("midwives", BUNDLE)])
    other = db.engine.connect()
    try:
        other.begin()
        other.execute(text("SELECT id FROM outbox WHERE id = 'sub-1:ggd' FOR UPDATE"))
        start = time.monotonic()
        assert [i.destination for i in outbox.claim_due()] == ["midwives"]
        assert time.monotonic() - start < 5  # not blocked by the lock held
        other.rollback()
        assert [i.destination for i in outbox.claim_due()] == ["ggd"]
    finally:
        other.close()
        db.dispose()


def test_an_outbox_from_before_destinations_is_migrated(tmp_path):
    path = tmp_path / "outbox.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE outbox (id TEXT PRIMARY KEY, bundle TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL "
        "DEFAULT 0, next_attempt REAL NOT NULL, lease_until REAL, last_status INTEGER, last_error TEXT, response TEXT, "
        "created_at TEXT NOT NULL, delivered_at TEXT)"
    )
    conn.execute(
        "INSERT INTO outbox (id, bundle, state, next_attempt, created_at) VALUES ('old-sub', ?, 'pending', 0, 'x')",
        (json.dumps(BUNDLE),),
    )
    conn.commit()
    conn.close()
    outbox = Outbox(path)
    [item] = outbox.for_submission("old-sub")
    assert (item.submission, item.destination) == ("old-sub", None)
    assert [i.id for i in outbox.claim_due(destinations=[""])] == ["old-sub"]  # pushed to the default server


def test_an_outbox_sqlite3_from_before_the_storage_layer_is_adopted_with_its_rows_and_claims(tmp_path):
    """The table the store made itself (CREATE TABLE IF NOT EXISTS, `lease_owner`, no alembic_version): kept,
    `lease_owner` now `claimed_by`, the order of its rows kept (their rowid), and stamped."""
    path = tmp_path / "outbox.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE outbox (id TEXT PRIMARY KEY, submission TEXT, destination TEXT, bundle TEXT NOT NULL, "
        "state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')), attempts INTEGER NOT NULL DEFAULT 0, "
        "next_attempt REAL NOT NULL, lease_until REAL, lease_owner TEXT, last_status INTEGER, last_error TEXT, "
        "response TEXT, created_at TEXT NOT NULL, delivered_at TEXT);"
        "CREATE INDEX outbox_due ON outbox (state, next_attempt);"
        "CREATE INDEX outbox_submission ON outbox (submission);"
    )
    far = time.time() + 3600
    for destination, lease, owner in (("zz", far, "elsewhere:1"), ("aa", None, None)):
        conn.execute(
            "INSERT INTO outbox (id, submission, destination, bundle, state, next_attempt, lease_until, lease_owner, "
            "created_at) VALUES (?, 'sub', ?, ?, 'pending', 0, ?, ?, 'x')",
            (f"sub:{destination}", destination, json.dumps(BUNDLE), lease, owner),
        )
    conn.commit()
    outbox = Outbox(path)
    assert [(i.destination, i.claimed_by) for i in outbox.for_submission("sub")] == [
        ("zz", "elsewhere:1"),
        ("aa", None),
    ]
    assert [i.destination for i in outbox.claim_due()] == ["aa"]  # the other's lease (another host) still holds
    assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("outbox_0001",)]
    conn.close()
