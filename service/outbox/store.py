"""The outbox: one row per (submission, destination), committed before anything is sent, on the storage layer
(service/db: its own SQLite file outbox.sqlite3 under KS_DATA_DIR, synchronous=FULL, or the region's PostgreSQL,
shared by every instance of the service: issue 16 point 2).

States: `pending` (waiting, possibly with a next attempt time) → `delivered` (the server answered the transaction
with 2xx; its response is kept) or `dead` (the server refused it with a 4xx: kept with the server's
OperationOutcome, visible and retryable after a fix, never dropped).

**Claims.** A worker claims a row with a lease: `claimed_by` (host:pid) until `lease_until`. On PostgreSQL the due
rows are taken with `SELECT … FOR UPDATE SKIP LOCKED` (https://www.postgresql.org/docs/current/sql-select.html,
"The Locking Clause"): instances claiming at once each get other rows, none waits for another; on SQLite the claim
is one BEGIN IMMEDIATE transaction (the file's write lock). A lease is renewed before each push of a batch
(`renew`): one that ran out meanwhile may be another instance's now and is left to it. A lease left by an instance
that died expires and another instance takes the row over (on the same host at once: `release_orphans`); the row
is then pushed again, which is harmless: every entry of the Bundle is a conditional create or update
(service/referrals/bundle.py), so the destination holds it once. What a worker records after its lease was taken
over is ignored (`mark_delivered`, `mark_failed` change only a pending row it still holds): exactly once per
destination, as the destination's server counts it, with any number of instances.

Leases are compared with the instances' own clocks (time.time()): hosts keep them in sync (NTP), far closer than a
lease (KS_OUTBOX_LEASE, service/config.py), which must outlast the longest push (the client's retries included).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.engine import make_url

from service.db import Database, as_database
from service.db.schema import outbox as t

log = logging.getLogger(__name__)
LEASE_SECONDS = 120.0
# How long a delivered item is kept: as long as the practice's copy of its recipient's Task, which names the patient
# from it (service/referrals/feedback.py KEEP_DAYS: the first 1000 days, and some). Then the housekeeper purges it.
DELIVERED_KEEP_DAYS = 3 * 365
PUSH_GRACE = 2.0  # seconds a new item waits for the submitting request's own push before a worker may (enqueue)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"  # per call: a forked worker has its own pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _free(now: float) -> ColumnElement[bool]:
    """No worker holds the row: never claimed, or its lease has run out."""
    return or_(t.c.lease_until.is_(None), t.c.lease_until < now)


def item_id(submission: str, destination: str) -> str:
    return f"{submission}:{destination}"


@dataclass(frozen=True, kw_only=True)
class OutboxItem:
    id: str
    submission: str
    destination: str | None  # None: an item from before destinations (pushed to the default server)
    bundle: dict
    state: str
    attempts: int
    next_attempt: float
    last_status: int | None
    last_error: dict | None
    response: dict | None
    created_at: str
    delivered_at: str | None
    claimed_by: str | None = None  # host:pid of the worker that claimed it last (delivered it, once delivered)

    @classmethod
    def from_row(cls, row: Any) -> OutboxItem:
        """From a row of the outbox table (a SQLAlchemy Row, or any mapping of its columns)."""
        row = getattr(row, "_mapping", row)
        return cls(
            id=row["id"],
            submission=row["submission"] or row["id"],
            destination=row["destination"],
            bundle=json.loads(row["bundle"]),
            state=row["state"],
            attempts=row["attempts"],
            next_attempt=row["next_attempt"],
            last_status=row["last_status"],
            last_error=json.loads(row["last_error"]) if row["last_error"] else None,
            response=json.loads(row["response"]) if row["response"] else None,
            created_at=row["created_at"],
            delivered_at=row["delivered_at"],
            claimed_by=row["claimed_by"],
        )


class Outbox:
    """The outbox on its Database (`where`: a Database, or the path of its SQLite file); safe to share between
    threads, processes and instances."""

    def __init__(self, where: Path | str | Database, lease_seconds: float = LEASE_SECONDS):
        # SQLite with synchronous=FULL: committed means on disk, surviving SIGKILL and power loss.
        self._db = as_database(where, synchronous="FULL")
        self._db.upgrade("outbox")
        self.path = self._db.path  # None on PostgreSQL
        self.lease_seconds = lease_seconds
        self.release_orphans()

    @property
    def where(self) -> str:
        """Where the items are kept, for people (the SQLite file, or the PostgreSQL database without password)."""
        if self.path is not None:
            return str(Path(self.path).resolve())
        return make_url(self._db.url).set(password=None).render_as_string(hide_password=True)

    def enqueue(
        self,
        submission: str,
        bundles: list[tuple[str, dict]],
        now: float | None = None,
        *,
        pushing: Callable[[str], bool] = lambda destination: False,
    ) -> list[tuple[OutboxItem, bool]]:
        """Store a submission's Bundles, one item per destination, durably and together (one transaction, before
        any send). Returns (item, created) per destination. A new item for a destination the caller is `pushing`
        to at once is due for the background workers only PUSH_GRACE seconds later: a worker, here or at another
        instance, does not take it between the store and the request's own claim (benchmarks/scale.py saw one in
        six sends answered "queued" with the server up), yet still takes it when that push does not come (the
        request died) or waits behind a slow push to another destination.

        A submission seen before (the same response again, or amended) replaces what has not gone yet: a waiting
        or dead item gets the new Bundle, and an item for a destination the new Bundles no longer name (consent
        withdrawn, a referral dropped) is deleted, so nothing goes out that the last submission did not say.
        A delivered item, and one a worker is pushing right now (its lease), is left as it is."""
        now = time.time() if now is None else now
        wanted = {destination for destination, _ in bundles}
        created = []
        with self._db.begin(write=True) as conn:
            self._db.lock(conn, f"outbox|{submission}")  # the same submission at two instances: one after the other
            seq = conn.execute(select(func.coalesce(func.max(t.c.seq), 0))).scalar_one()
            for n, (destination, bundle) in enumerate(bundles, start=1):
                iid, body = item_id(submission, destination), _json(bundle)
                values = {
                    "id": iid,
                    "submission": submission,
                    "destination": destination,
                    "bundle": body,
                    "state": "pending",
                    "next_attempt": now + PUSH_GRACE if pushing(destination) else now,
                    "created_at": _now_iso(),
                    "seq": seq + n,
                }
                # a row back: inserted (an INSERT's rowcount is not every driver's to give)
                insert = self._db.insert(t).values(values).on_conflict_do_nothing(index_elements=["id"])
                added = conn.execute(insert.returning(t.c.id)).first() is not None
                if not added:
                    conn.execute(
                        update(t).where(t.c.id == iid, t.c.state != "delivered", _free(now)).values(bundle=body)
                    )
                created.append((iid, added))
            left = conn.execute(
                select(t.c.id, t.c.destination).where(
                    t.c.submission == submission, t.c.state != "delivered", _free(now)
                )
            ).all()
            gone = [r.id for r in left if r.destination not in wanted]
            if gone:
                conn.execute(delete(t).where(t.c.id.in_(gone)))
        return [(self.require(i), c) for i, c in created]

    def take_back(self, item_id: str, without: Callable[[dict], dict | None], now: float | None = None) -> str:
        """Take part of a waiting item back before it goes (the GP's cancel of a referral still in the outbox), in one
        transaction with the claim's check, so a push and this never both happen: `without(bundle)` is the Bundle
        without it, or None when nothing would be left (the row is deleted). What came of it: `taken` (rewritten
        or deleted), `in-flight` (a worker holds the lease: it is being pushed now, nothing changed), `delivered`
        (it went already, nothing changed) or `gone` (no such item)."""
        now = time.time() if now is None else now
        with self._db.begin(write=True) as conn:
            # FOR UPDATE (PostgreSQL): a claim of this row in another transaction goes first, or after this one
            row = conn.execute(
                select(t.c.state, t.c.bundle, t.c.lease_until).where(t.c.id == item_id).with_for_update()
            ).first()
            if row is None:
                return "gone"
            if row.state == "delivered":
                return "delivered"
            if row.lease_until is not None and row.lease_until >= now:
                return "in-flight"
            left = without(json.loads(row.bundle))
            if left is None:
                conn.execute(delete(t).where(t.c.id == item_id))
            else:
                conn.execute(update(t).where(t.c.id == item_id).values(bundle=_json(left)))
        return "taken"

    def _items(self, statement) -> list[OutboxItem]:
        with self._db.begin() as conn:
            return [OutboxItem.from_row(r) for r in conn.execute(statement).all()]

    def for_submission(self, submission: str) -> list[OutboxItem]:
        """Every destination's item of one submission, in the order they were enqueued."""
        mine = or_(t.c.submission == submission, and_(t.c.submission.is_(None), t.c.id == submission))
        return self._items(select(t).where(mine).order_by(t.c.seq, t.c.id))

    def get(self, item_id: str) -> OutboxItem | None:
        found = self._items(select(t).where(t.c.id == item_id))
        return found[0] if found else None

    def require(self, item_id: str) -> OutboxItem:
        """An item that must exist (one this process wrote or claimed: rows are never deleted under a lease)."""
        item = self.get(item_id)
        if item is None:
            raise KeyError(f"outbox item {item_id} vanished")
        return item

    def claim(self, item_id: str, now: float | None = None) -> bool:
        """Take the lease on one pending row (for an immediate push); False if another worker has it. One UPDATE:
        on PostgreSQL a concurrent claim waits for this one's row lock, then finds the row taken."""
        now = time.time() if now is None else now
        with self._db.begin(write=True) as conn:
            claimed = conn.execute(
                update(t)
                .where(t.c.id == item_id, t.c.state == "pending", _free(now))
                .values(lease_until=now + self.lease_seconds, claimed_by=_owner())
            )
            return claimed.rowcount == 1

    def renew(self, item_id: str, now: float | None = None) -> bool:
        """Extend this worker's lease on a row it claimed, before it pushes it: False when the lease has run out
        (another instance may hold it now, or a cancel may have changed it) or the row is no longer pending."""
        now = time.time() if now is None else now
        with self._db.begin(write=True) as conn:
            renewed = conn.execute(
                update(t)
                .where(t.c.id == item_id, t.c.state == "pending", t.c.claimed_by == _owner(), t.c.lease_until >= now)
                .values(lease_until=now + self.lease_seconds)
            )
            return renewed.rowcount == 1

    def release_orphans(self) -> int:
        """Free leases held by processes on this host that no longer run (killed mid-push): due at once. Those of
        other hosts expire with their lease."""
        host = socket.gethostname()
        with self._db.begin(write=True) as conn:
            rows = conn.execute(
                select(t.c.id, t.c.claimed_by)
                .where(t.c.state == "pending", t.c.lease_until.is_not(None), t.c.claimed_by.like(f"{host}:%"))
                .with_for_update(skip_locked=True)
            ).all()
            orphans = [r.id for r in rows if _dead(r.claimed_by, host)]
            if orphans:
                conn.execute(update(t).where(t.c.id.in_(orphans)).values(lease_until=None, claimed_by=None))
        return len(orphans)

    def claim_due(
        self, limit: int = 10, now: float | None = None, destinations: list[str] | None = None
    ) -> list[OutboxItem]:
        """Take the lease on pending rows whose next attempt is due (only for `destinations`, when given: those
        with a server to push to; `""` stands for items made before destinations). On PostgreSQL the rows another
        instance is claiming at this moment are skipped (FOR UPDATE SKIP LOCKED), not waited for."""
        now = time.time() if now is None else now
        if destinations is not None and not destinations:
            return []
        due = select(t).where(t.c.state == "pending", t.c.next_attempt <= now, _free(now))
        if destinations is not None:
            due = due.where(func.coalesce(t.c.destination, "").in_(destinations))
        owner, until = _owner(), now + self.lease_seconds
        with self._db.begin(write=True) as conn:
            rows = conn.execute(due.order_by(t.c.next_attempt).limit(limit).with_for_update(skip_locked=True)).all()
            if rows:
                ids = [r.id for r in rows]
                conn.execute(update(t).where(t.c.id.in_(ids)).values(lease_until=until, claimed_by=owner))
        return [OutboxItem.from_row({**r._mapping, "claimed_by": owner}) for r in rows]

    def _record(self, item_id: str, values: dict[str, Any]) -> bool:
        """Record an attempt's outcome on a pending row this worker holds (or nobody: an item pushed without a claim);
        False, and nothing changed, when another worker took the row over after this one's lease ran out."""
        mine = or_(t.c.claimed_by.is_(None), t.c.claimed_by == _owner())
        with self._db.begin(write=True) as conn:
            done = conn.execute(
                update(t)
                .where(t.c.id == item_id, t.c.state == "pending", mine)
                .values(attempts=t.c.attempts + 1, lease_until=None, **values)
            )
        if done.rowcount != 1:
            log.warning(
                "outbox %s: taken over by another worker meanwhile: this attempt's outcome not recorded", item_id
            )
        return done.rowcount == 1

    def mark_delivered(self, item_id: str, status: int, response: dict) -> bool:
        values = {"state": "delivered", "last_status": status, "last_error": None, "response": _json(response)}
        return self._record(item_id, {**values, "delivered_at": _now_iso()})

    def mark_failed(self, item_id: str, *, status: int | None, error: dict, retry_at: float | None) -> bool:
        """A failed attempt: back to pending with a next attempt time, or dead when retry_at is None."""
        state = "pending" if retry_at is not None else "dead"
        values: dict[str, Any] = {"state": state, "last_status": status, "last_error": json.dumps(error)}
        if retry_at is not None:
            values["next_attempt"] = retry_at
        return self._record(item_id, values)

    def retry(self, item_id: str | None = None, *, queued: bool = False) -> int:
        """Put dead rows back to pending, due now; with `queued`, pending rows waiting for their backoff are due now
        too. `item_id`: one item, or every item of a submission. Rows a worker holds a lease on are left to it.
        Returns how many."""
        states = ("dead", "pending") if queued else ("dead",)
        now = time.time()
        which = update(t).where(t.c.state.in_(states), _free(now))
        if item_id:
            which = which.where(or_(t.c.id == item_id, t.c.submission == item_id))
        with self._db.begin(write=True) as conn:
            return conn.execute(which.values(state="pending", next_attempt=now)).rowcount

    def delivered_since(self, after: str | None, limit: int = 200) -> list[OutboxItem]:
        """Delivered items whose delivered_at (ISO, UTC) is `after` or later, oldest first (the practice's copy of
        the recipients' Tasks tracks each delivered referral: service/referrals/feedback.py)."""
        since = select(t).where(t.c.state == "delivered", t.c.delivered_at >= (after or ""))
        return self._items(since.order_by(t.c.delivered_at).limit(limit))

    def list(self, state: str | None = None, limit: int = 100) -> list[OutboxItem]:
        listed = select(t) if not state else select(t).where(t.c.state == state)
        return self._items(listed.order_by(t.c.created_at.desc(), t.c.seq.desc()).limit(limit))

    def purge(self, now: float | None = None) -> int:
        """Forget delivered items older than DELIVERED_KEEP_DAYS (data minimisation: the Bundle that went out holds
        the patient's identity, her signals and the note); the number deleted. Pending and dead items stay: they
        have not reached their recipient."""
        when = datetime.fromtimestamp(time.time() if now is None else now, UTC) - timedelta(days=DELIVERED_KEEP_DAYS)
        cutoff = when.replace(microsecond=0).isoformat()
        with self._db.begin() as conn:
            return conn.execute(delete(t).where(t.c.state == "delivered", t.c.delivered_at < cutoff)).rowcount

    def counts(self) -> dict[str, int]:
        with self._db.begin() as conn:
            rows = conn.execute(select(t.c.state, func.count()).group_by(t.c.state)).all()
        return {row[0]: int(row[1]) for row in rows}


def _dead(claimed_by: str | None, host: str) -> bool:
    """A claim (host:pid) of a process on `host` that no longer runs."""
    owner_host, _, pid = (claimed_by or "").rpartition(":")
    return owner_host == host and pid.isdigit() and not _alive(int(pid))
