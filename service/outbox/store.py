"""The outbox: one SQLite row per (submission, destination), committed to disk before anything is sent.

States: `pending` (waiting, possibly with a next attempt time) → `delivered` (the server answered the
transaction with 2xx; its response is kept) or `dead` (the server refused it with a 4xx: kept with the
server's OperationOutcome, visible and retryable after a fix, never dropped). A worker claims a row
with a lease, so two workers never push the same row at once; a lease left by a killed process
expires and the row is pushed again — harmless, because the Bundle itself is idempotent.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from service.storage import SQLiteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id            TEXT PRIMARY KEY,          -- <submission>:<destination>
    submission    TEXT,                      -- submission id (derived from the response)
    destination   TEXT,                      -- the destination's name (service/referrals/destinations.py)
    bundle        TEXT NOT NULL,             -- the transaction Bundle for that destination (JSON)
    state         TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  REAL NOT NULL,             -- unix time
    lease_until   REAL,                      -- unix time; a worker owns the row until then
    lease_owner   TEXT,                      -- host:pid of that worker
    last_status   INTEGER,                   -- HTTP status of the last attempt (NULL: not reached)
    last_error    TEXT,                      -- error class name and the server's OperationOutcome (JSON)
    response      TEXT,                      -- the transaction-response Bundle once delivered
    created_at    TEXT NOT NULL,
    delivered_at  TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt);
"""
INDEXES = "CREATE INDEX IF NOT EXISTS outbox_submission ON outbox (submission);"

LEASE_SECONDS = 120.0


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

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> OutboxItem:
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
        )


class Outbox:
    """SQLite-backed outbox; safe to share between threads (one connection per thread)."""

    def __init__(self, path: Path, lease_seconds: float = LEASE_SECONDS):
        # synchronous=FULL: committed means on disk, surviving SIGKILL and power loss.
        self._db = SQLiteFile(path, synchronous="FULL")
        self.path = self._db.path
        self._conn = self._db.conn
        self.lease_seconds = lease_seconds
        conn = self._conn()
        conn.executescript(SCHEMA)
        columns = {row["name"] for row in conn.execute("PRAGMA table_info(outbox)")}
        for column in ("lease_owner", "submission", "destination"):  # outboxes made before these columns
            if column not in columns:
                conn.execute(f"ALTER TABLE outbox ADD COLUMN {column} TEXT")
        conn.executescript(INDEXES)
        self.release_orphans()

    @contextmanager
    def _tx(self):
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def enqueue(
        self, submission: str, bundles: list[tuple[str, dict]], now: float | None = None
    ) -> list[tuple[OutboxItem, bool]]:
        """Store a submission's Bundles, one item per destination, durably and together (one transaction, before
        any send). Returns (item, created) per destination.

        A submission seen before (the same response again, or amended) replaces what has not gone yet: a waiting
        or dead item gets the new Bundle, and an item for a destination the new Bundles no longer name (consent
        withdrawn, a referral dropped) is deleted, so nothing goes out that the last submission did not say.
        A delivered item, and one a worker is pushing right now (its lease), is left as it is."""
        now = time.time() if now is None else now
        ids = []
        wanted = {destination for destination, _ in bundles}
        with self._tx() as db:
            created = []
            for destination, bundle in bundles:
                iid = item_id(submission, destination)
                body = json.dumps(bundle, separators=(",", ":"))
                cur = db.execute(
                    "INSERT OR IGNORE INTO outbox (id, submission, destination, bundle, state, next_attempt, created_at) "
                    "VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                    (iid, submission, destination, body, now, _now_iso()),
                )
                if cur.rowcount == 0:
                    db.execute(
                        "UPDATE outbox SET bundle = ? WHERE id = ? AND state != 'delivered' "
                        "AND (lease_until IS NULL OR lease_until < ?)",
                        (body, iid, now),
                    )
                ids.append(iid)
                created.append(cur.rowcount == 1)
            for row in db.execute(
                "SELECT id, destination FROM outbox WHERE submission = ? AND state != 'delivered' "
                "AND (lease_until IS NULL OR lease_until < ?)",
                (submission, now),
            ).fetchall():
                if row["destination"] not in wanted:
                    db.execute("DELETE FROM outbox WHERE id = ?", (row["id"],))
        return [(self.require(i), c) for i, c in zip(ids, created, strict=True)]

    def take_back(self, item_id: str, without: Callable[[dict], dict | None], now: float | None = None) -> str:
        """Take part of a waiting item back before it goes (the GP's cancel of a referral still in the outbox), in one
        transaction with the claim's check, so a push and this never both happen: `without(bundle)` is the Bundle
        without it, or None when nothing would be left (the row is deleted). What came of it: `taken` (rewritten
        or deleted), `in-flight` (a worker holds the lease: it is being pushed now, nothing changed), `delivered`
        (it went already, nothing changed) or `gone` (no such item)."""
        now = time.time() if now is None else now
        with self._tx() as db:
            row = db.execute("SELECT state, bundle, lease_until FROM outbox WHERE id = ?", (item_id,)).fetchone()
            if row is None:
                return "gone"
            if row["state"] == "delivered":
                return "delivered"
            if row["lease_until"] is not None and row["lease_until"] >= now:
                return "in-flight"
            left = without(json.loads(row["bundle"]))
            if left is None:
                db.execute("DELETE FROM outbox WHERE id = ?", (item_id,))
            else:
                db.execute(
                    "UPDATE outbox SET bundle = ? WHERE id = ?", (json.dumps(left, separators=(",", ":")), item_id)
                )
        return "taken"

    def for_submission(self, submission: str) -> list[OutboxItem]:
        """Every destination's item of one submission, in the order they were enqueued."""
        rows = (
            self._conn()
            .execute(
                "SELECT * FROM outbox WHERE submission = ? OR (submission IS NULL AND id = ?) ORDER BY rowid",
                (submission, submission),
            )
            .fetchall()
        )
        return [OutboxItem.from_row(r) for r in rows]

    def get(self, item_id: str) -> OutboxItem | None:
        row = self._conn().execute("SELECT * FROM outbox WHERE id = ?", (item_id,)).fetchone()
        return OutboxItem.from_row(row) if row else None

    def require(self, item_id: str) -> OutboxItem:
        """An item that must exist (one this process wrote or claimed: rows are never deleted under a lease)."""
        item = self.get(item_id)
        if item is None:
            raise KeyError(f"outbox item {item_id} vanished")
        return item

    def claim(self, item_id: str, now: float | None = None) -> bool:
        """Take the lease on one pending row (for an immediate push); False if another worker has it."""
        now = time.time() if now is None else now
        with self._tx() as db:
            cur = db.execute(
                "UPDATE outbox SET lease_until = ?, lease_owner = ? WHERE id = ? AND state = 'pending' "
                "AND (lease_until IS NULL OR lease_until < ?)",
                (now + self.lease_seconds, _owner(), item_id, now),
            )
            return cur.rowcount == 1

    def release_orphans(self) -> int:
        """Free leases held by processes on this host that no longer run (killed mid-push): due at once."""
        host = socket.gethostname()
        freed = 0
        with self._tx() as db:
            rows = db.execute(
                "SELECT id, lease_owner FROM outbox WHERE state = 'pending' AND lease_until IS NOT NULL"
            ).fetchall()
            for row in rows:
                owner_host, _, pid = (row["lease_owner"] or "").rpartition(":")
                if owner_host == host and pid.isdigit() and not _alive(int(pid)):
                    db.execute("UPDATE outbox SET lease_until = NULL, lease_owner = NULL WHERE id = ?", (row["id"],))
                    freed += 1
        return freed

    def claim_due(
        self, limit: int = 10, now: float | None = None, destinations: list[str] | None = None
    ) -> list[OutboxItem]:
        """Take the lease on pending rows whose next attempt is due (only for `destinations`, when given: those
        with a server to push to; `""` stands for items made before destinations)."""
        now = time.time() if now is None else now
        where, args = "", []
        if destinations is not None:
            where = f" AND COALESCE(destination, '') IN ({', '.join('?' for _ in destinations) or 'NULL'})"
            args = list(destinations)
        with self._tx() as db:
            rows = db.execute(
                "SELECT id FROM outbox WHERE state = 'pending' AND next_attempt <= ? AND (lease_until IS NULL OR lease_until < ?)"
                f"{where} ORDER BY next_attempt LIMIT ?",
                (now, now, *args, limit),
            ).fetchall()
            ids = [r["id"] for r in rows]
            db.executemany(
                "UPDATE outbox SET lease_until = ?, lease_owner = ? WHERE id = ?",
                [(now + self.lease_seconds, _owner(), i) for i in ids],
            )
        return [self.require(i) for i in ids]

    def mark_delivered(self, item_id: str, status: int, response: dict) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, lease_until = NULL, last_status = ?, "
                "last_error = NULL, response = ?, delivered_at = ? WHERE id = ?",
                (status, json.dumps(response, separators=(",", ":")), _now_iso(), item_id),
            )

    def mark_failed(self, item_id: str, *, status: int | None, error: dict, retry_at: float | None) -> None:
        """A failed attempt: back to pending with a next attempt time, or dead when retry_at is None."""
        state = "pending" if retry_at is not None else "dead"
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET state = ?, attempts = attempts + 1, lease_until = NULL, last_status = ?, "
                "last_error = ?, next_attempt = COALESCE(?, next_attempt) WHERE id = ?",
                (state, status, json.dumps(error), retry_at, item_id),
            )

    def retry(self, item_id: str | None = None, *, queued: bool = False) -> int:
        """Put dead rows back to pending, due now; with `queued`, pending rows waiting for their backoff are due now
        too. `item_id`: one item, or every item of a submission. Rows a worker holds a lease on are left to it.
        Returns how many."""
        states = ("dead", "pending") if queued else ("dead",)
        now = time.time()
        sql = (
            f"UPDATE outbox SET state = 'pending', next_attempt = ? WHERE state IN ({', '.join('?' for _ in states)}) "
            "AND (lease_until IS NULL OR lease_until < ?)"
        )
        args: list = [now, *states, now]
        if item_id:
            sql += " AND (id = ? OR submission = ?)"
            args += [item_id, item_id]
        with self._tx() as db:
            return db.execute(sql, args).rowcount

    def delivered_since(self, after: str | None, limit: int = 200) -> list[OutboxItem]:
        """Delivered items whose delivered_at (ISO, UTC) is `after` or later, oldest first (the practice's copy of
        the recipients' Tasks tracks each delivered referral: service/referrals/feedback.py)."""
        rows = (
            self._conn()
            .execute(
                "SELECT * FROM outbox WHERE state = 'delivered' AND delivered_at >= ? ORDER BY delivered_at LIMIT ?",
                (after or "", limit),
            )
            .fetchall()
        )
        return [OutboxItem.from_row(r) for r in rows]

    def list(self, state: str | None = None, limit: int = 100) -> list[OutboxItem]:
        sql, args = "SELECT * FROM outbox", list[object]()
        if state:
            sql += " WHERE state = ?"
            args.append(state)
        sql += " ORDER BY created_at DESC LIMIT ?"
        args.append(limit)
        return [OutboxItem.from_row(r) for r in self._conn().execute(sql, args).fetchall()]

    def counts(self) -> dict[str, int]:
        rows = self._conn().execute("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state").fetchall()
        return {r["state"]: r["n"] for r in rows}
