"""The practice's copy of the recipients' Tasks (service/referrals/feedback.py FeedbackStore) on both engines of the
storage layer (service/db: an SQLite file, a real PostgreSQL): tracking what was delivered, a poll claimed once
however many instances race for it, the copy's changes, and the adoption of a feedback.sqlite3 from before."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from service.db import Database
from service.fhir import urls
from service.referrals.feedback import KEEP_DAYS, MAX_INTERVAL, FeedbackStore

AGB = "http://fhir.nl/fhir/NamingSystem/agb-z"
PRACTICE = f"{AGB}|01001234"


def _bundle(submission: str, *recipients: str) -> dict:
    """A destination's Bundle as the Submitter makes it, as far as the copy reads it: a Task per referral, its
    requester a contained PractitionerRole of the practice."""
    role = {"resourceType": "PractitionerRole", "id": "requester",
            "organization": {"identifier": {"system": AGB, "value": "01001234"}}}  # fmt: skip
    tasks = [
        {
            "resourceType": "Task",
            "status": "requested",
            "contained": [role],
            "requester": {"reference": "#requester"},
            "identifier": [{"system": urls.ID_TASK, "value": f"{submission}:{r}"}],
        }
        for r in recipients
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": t} for t in tasks]}


@dataclass
class Delivered:
    """An outbox item as delivered (service/outbox/store.py OutboxItem: the fields the copy reads)."""

    submission: str
    destination: str
    delivered_at: str
    bundle: dict


@dataclass
class DeliveredItems:
    """What an outbox answers to `delivered_since` (its items from `after` on, oldest first, 200 at most)."""

    items: list[Delivered] = field(default_factory=list)

    def delivered_since(self, after: str | None, limit: int = 200) -> list[Delivered]:
        return [i for i in sorted(self.items, key=lambda i: i.delivered_at) if i.delivered_at >= (after or "")][:limit]


def test_what_was_delivered_is_tracked_once(database):
    copy, outbox = FeedbackStore(database), DeliveredItems()
    outbox.items.append(Delivered("s1", "ggd", "2026-11-20T10:00:00+00:00", _bundle("s1", "jgz", "vk")))
    assert copy.track(outbox) == 2 and copy.track(outbox) == 0  # the cursor moved on; a row is never added twice
    outbox.items.append(Delivered("s2", "ggd", "2026-11-21T10:00:00+00:00", _bundle("s2", "jgz")))
    assert copy.track(outbox) == 1
    assert copy.keys("ggd") == {"s1:jgz", "s1:vk", "s2:jgz"} and copy.keys("other") == set()
    assert (
        copy.first_sent("ggd") == datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp()
        and copy.first_sent("other") is None
    )
    found = copy.for_submission("s1")
    assert set(found) == {"jgz", "vk"} and found["jgz"].status == "requested" and found["jgz"].practice == PRACTICE
    assert found["jgz"].polled_at is None and not found["jgz"].poll_failed and found["jgz"].open


def test_a_poll_is_claimed_once_whichever_instance_races(database):
    """Two instances (two stores, one database), four threads each: one claim wins the 15 minutes."""
    stores = [FeedbackStore(database), FeedbackStore(Database(database.url))]
    now = time.time()
    answers: list = []
    threads = [
        threading.Thread(target=lambda s=s: answers.append(s.claim("ggd", now))) for s in stores for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers, key=str) == [False] * 7 + [None]  # None: the winner's `since` (its first poll)
    stores[0].polled("ggd", now, since="2026-11-20T10:00:00+00:00", ok=True)
    assert stores[1].claim("ggd", now + 60) is False
    assert stores[1].claim("ggd", now + 16 * 60) == "2026-11-20T10:00:00+00:00"
    stores[1].polled("ggd", now + 16 * 60, since=None, ok=False)
    assert stores[0].poll_state("ggd")["failed"] == 1
    stores[1].db.dispose()


def test_the_polls_that_are_due_and_those_a_page_asks_for(database):
    copy, outbox = FeedbackStore(database), DeliveredItems()
    outbox.items.append(Delivered("s1", "ggd", "2026-11-20T10:00:00+00:00", _bundle("s1", "jgz")))
    copy.track(outbox)
    now = time.time()
    assert copy.due(["ggd", "empty"], now) == ["ggd"]  # never polled; "empty" has no referrals to ask about
    copy.claim("ggd", now)
    copy.polled("ggd", now, since="x", ok=True)
    assert copy.due(["ggd"], now + 16 * 60) == []  # polled a quarter of an hour ago, and nobody asked
    copy.want(["ggd", "ggd"], now=now + 60)
    assert copy.poll_state("ggd")["wanted"] == now + 60
    assert copy.due(["ggd"], now + 10 * 60) == [] and copy.due(["ggd"], now + 16 * 60) == ["ggd"]
    assert copy.due(["ggd"], now + MAX_INTERVAL) == ["ggd"]
    assert copy.for_submission("s1")["jgz"].polled_at == now


def test_a_saved_task_changes_the_copy_once_and_the_practice_sees_it(database):
    copy, outbox = FeedbackStore(database), DeliveredItems()
    outbox.items.append(Delivered("s1", "ggd", "2026-11-20T10:00:00+00:00", _bundle("s1", "jgz", "vk")))
    copy.track(outbox)
    facts = {"task_id": "t1", "status": "accepted", "message": "Wij bellen haar", "worked_by": "M. Jansen"}
    assert copy.save("s1:jgz", facts, 1_800_000_000) and not copy.save("s1:jgz", facts, 1_800_000_100)
    assert not copy.save("nope:jgz", facts, 1_800_000_000)
    task = {"resourceType": "Task", "id": "t1", "status": "completed", "lastModified": "2027-01-15T10:00:00+00:00"}
    assert copy.record_task("s1:jgz", task, now=1_800_000_200)  # without a client: the message it had is kept
    jgz = copy.for_submission("s1")["jgz"]
    assert (jgz.status, jgz.message, jgz.worked_by, jgz.changed_at) == (
        "completed",
        "Wij bellen haar",
        None,
        1_800_000_200,
    )
    assert not jgz.open
    item = Delivered("s1", "ggd", "", _bundle("s1", "jgz", "vk"))
    copy.record_unsent(item, "vk", "Dubbel aangemeld", now=1_800_000_300)
    vk = copy.for_submission("s1")["vk"]
    assert vk.unsent and vk.reason_text == "Dubbel aangemeld" and vk.practice == PRACTICE
    listed = copy.for_practice(PRACTICE, now=1_800_000_400)
    assert [f.recipient for f in listed] == ["vk", "jgz"]  # the latest change first
    assert copy.for_practice(PRACTICE, days=0.0001, now=1_800_100_000) == []  # both closed, and long ago
    assert copy.for_practice("other|1", now=1_800_000_400) == []


def test_what_is_older_than_the_form_lists_is_purged(database):
    copy, outbox = FeedbackStore(database), DeliveredItems()
    now = time.time()
    old = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - (KEEP_DAYS + 1) * 86400))
    outbox.items.append(Delivered("old", "ggd", old, _bundle("old", "jgz")))
    outbox.items.append(Delivered("new", "ggd", "2999-01-01T00:00:00+00:00", _bundle("new", "jgz")))
    copy.track(outbox)
    assert copy.purge(now=now) == 1 and copy.purge(now=now) == 0
    assert copy.keys("ggd") == {"new:jgz"}


def test_a_file_from_before_the_storage_layer_is_adopted_with_its_rows(tmp_path):
    path = tmp_path / "feedback.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        """
CREATE TABLE referral_feedback (
    submission TEXT NOT NULL, recipient TEXT NOT NULL, destination TEXT NOT NULL, practice TEXT,
    sent REAL NOT NULL, task_id TEXT, status TEXT, business TEXT, business_text TEXT, reason TEXT, reason_text TEXT,
    outcome TEXT, outcome_text TEXT, message TEXT, worked_by TEXT, last_modified TEXT, polled_at REAL,
    changed_at REAL, PRIMARY KEY (submission, recipient));
CREATE TABLE feedback_poll (destination TEXT PRIMARY KEY, polled_at REAL NOT NULL DEFAULT 0, since TEXT, wanted REAL,
    failed INTEGER NOT NULL DEFAULT 0);
CREATE TABLE feedback_cursor (id INTEGER PRIMARY KEY CHECK (id = 1), delivered_after TEXT);
INSERT INTO referral_feedback (submission, recipient, destination, sent, status) VALUES ('s1', 'jgz', 'ggd', 1, 'rejected');
INSERT INTO feedback_poll (destination, polled_at, since) VALUES ('ggd', 5, '2026-01-01T00:00:00+00:00');
INSERT INTO feedback_cursor VALUES (1, '2026-11-20T10:00:00+00:00');
"""
    )
    old.commit()
    copy = FeedbackStore(path)
    assert copy.for_submission("s1")["jgz"].status == "rejected"
    assert copy.poll_state("ggd")["since"] == "2026-01-01T00:00:00+00:00"
    outbox = DeliveredItems([Delivered("s0", "ggd", "2026-11-19T10:00:00+00:00", _bundle("s0", "jgz"))])
    assert copy.track(outbox) == 0  # delivered before the file's cursor: tracked then
    assert old.execute("SELECT version_num FROM alembic_version").fetchall() == [("feedback_0001",)]
    old.close()
