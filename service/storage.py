"""ExpiringRecords: small expiring records (grants, tokens, seen assertion ids) on the storage layer (service/db:
SQLite or PostgreSQL), shared by the stores that keep such records. Every store is on the storage layer now."""

from __future__ import annotations

import json
import time

from sqlalchemy import delete

from service.db import Database
from service.db.schema import EXPIRING


class ExpiringRecords:
    """Small JSON records by (kind, key) that expire: grants, tokens, seen assertion ids. One table (of
    service/db/schema.py EXPIRING), on the storage layer: shared by every worker process and every instance."""

    def __init__(self, db: Database, table: str):
        if table not in EXPIRING:
            raise ValueError(f"not a table of expiring records: {table!r}")
        self._db, self.table = db, table
        self._t = EXPIRING[table]

    def put(self, kind: str, key: str, data: dict, lifetime: float) -> None:
        values = {"kind": kind, "key": key, "data": json.dumps(data), "expires": time.time() + lifetime}
        with self._db.begin() as conn:
            conn.execute(self._db.upsert(self._t, values))

    def add_once(self, kind: str, key: str, lifetime: float) -> bool:
        """Record `key` unless a live record has it: False when it was already there (a replay)."""
        t, now = self._t, time.time()
        with self._db.begin(write=True) as conn:
            conn.execute(delete(t).where(t.c.kind == kind, t.c.key == key, t.c.expires <= now))
            added = conn.execute(
                self._db.insert(t)
                .values(kind=kind, key=key, data="{}", expires=now + lifetime)
                .on_conflict_do_nothing(index_elements=["kind", "key"])
                .returning(t.c.key)  # a row back: inserted (an INSERT's rowcount is not every driver's to give)
            )
            return added.first() is not None

    def get(self, kind: str, key: str | None) -> dict | None:
        if not key:
            return None
        row = self._db.read_one(
            f"SELECT data FROM {self.table} WHERE kind = :kind AND key = :key AND expires > :now",
            {"kind": kind, "key": key, "now": time.time()},
        )
        return json.loads(row[0]) if row is not None else None

    def take(self, kind: str, key: str | None) -> dict | None:
        """The live record, once: taken and deleted in one statement, so two at once (a replay) find it once."""
        if not key:
            return None
        t = self._t
        with self._db.begin() as conn:
            found = conn.execute(
                delete(t).where(t.c.kind == kind, t.c.key == key, t.c.expires > time.time()).returning(t.c.data)
            ).scalar()
        return json.loads(found) if found is not None else None

    def delete(self, kind: str, key: str | None) -> None:
        with self._db.begin() as conn:
            conn.execute(delete(self._t).where(self._t.c.kind == kind, self._t.c.key == key))

    def purge(self, now: float | None = None) -> int:
        with self._db.begin() as conn:
            return conn.execute(delete(self._t).where(self._t.c.expires <= (now or time.time()))).rowcount
