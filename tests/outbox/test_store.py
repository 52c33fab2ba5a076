"""The outbox keeps one item per (submission, destination), written together; retry makes dead letters and,
asked to, waiting items due now; an outbox from before destinations is migrated in place."""

from __future__ import annotations

import json
import sqlite3
import time

from service.outbox.store import Outbox

BUNDLE = {"resourceType": "Bundle", "type": "transaction", "entry": []}


def test_items_per_destination_written_together(tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    first = outbox.enqueue("sub-1", [("ggd", BUNDLE), ("midwives", BUNDLE)])
    assert [(i.id, i.destination, c) for i, c in first] == [
        ("sub-1:ggd", "ggd", True),
        ("sub-1:midwives", "midwives", True),
    ]
    assert [i.destination for i in outbox.for_submission("sub-1")] == ["ggd", "midwives"]
    assert outbox.for_submission("sub-2") == []


def test_a_resubmission_replaces_what_has_not_gone_and_takes_back_what_it_no_longer_names(tmp_path):
    """Amended, or consent withdrawn before delivery: only what the last submission says may still go out."""
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    [(ggd, _), (midwives, _), (jong, _)] = outbox.enqueue(
        "sub-1", [("ggd", BUNDLE), ("midwives", BUNDLE), ("jong", BUNDLE)]
    )
    outbox.mark_delivered(jong.id, 200, {"resourceType": "Bundle", "type": "transaction-response"})
    amended = {**BUNDLE, "id": "amended"}
    [(again, created)] = outbox.enqueue("sub-1", [("ggd", amended)])
    assert created is False and again.bundle == amended  # waiting: replaced
    assert outbox.get(midwives.id) is None  # no longer named (no consent now): never goes
    assert (
        outbox.get(jong.id).state == "delivered" and "id" not in outbox.get(jong.id).bundle
    )  # gone already: left as it was
    assert outbox.claim(ggd.id)  # a worker pushing it holds the lease: a resubmission meanwhile leaves it alone
    outbox.enqueue("sub-1", [])
    assert outbox.get(ggd.id).bundle == amended


def test_claim_due_only_for_destinations_with_a_server(tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.enqueue("sub-1", [("ggd", BUNDLE), ("midwives", BUNDLE)])
    assert [i.destination for i in outbox.claim_due(destinations=["midwives"])] == ["midwives"]
    assert outbox.claim_due(destinations=[]) == []


def test_retry_revives_dead_letters_and_with_queued_also_waiting_items(tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    [(dead, _), (waiting, _)] = outbox.enqueue("sub-1", [("ggd", BUNDLE), ("midwives", BUNDLE)])
    later = time.time() + 3600
    outbox.mark_failed(dead.id, status=400, error={"error": "FhirRequestRejected"}, retry_at=None)
    outbox.mark_failed(waiting.id, status=503, error={"error": "FhirServerError"}, retry_at=later)
    assert outbox.retry() == 1 and outbox.get(dead.id).state == "pending"
    assert outbox.get(waiting.id).next_attempt == later  # a plain retry leaves the backoff alone
    assert outbox.retry("sub-1", queued=True) == 2  # by submission: both of its items
    assert all(i.next_attempt <= time.time() for i in outbox.for_submission("sub-1"))


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
