"""SQLite files under KS_DATA_DIR: one connection per thread, WAL, autocommit unless a transaction is opened.

Every file holds patient data or tokens, so each is readable by the service's own user only: created with
mode 0600 before SQLite opens it (SQLite gives its -wal and -shm files the database file's mode)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path


class SQLiteFile:
    def __init__(self, path: Path, *, synchronous: str = "NORMAL"):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            os.chmod(self.path, 0o600)  # also a file an older version created with the umask's mode
        except OSError:
            pass  # e.g. a read-only mount: SQLite reports what matters when it opens the file
        self.synchronous = synchronous
        self._local = threading.local()

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            self._local.conn = conn
        return conn


class ExpiringRecords:
    """Small JSON records by (kind, key) that expire: grants, tokens, seen assertion ids. One table, shared by
    every worker process through the SQLite file."""

    def __init__(self, db: SQLiteFile, table: str):
        if not table.isidentifier():
            raise ValueError(f"not a table name: {table!r}")
        self._db, self.table = db, table
        db.conn().execute(
            f"CREATE TABLE IF NOT EXISTS {table} (kind TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, "
            "expires REAL NOT NULL, PRIMARY KEY (kind, key))"
        )

    def put(self, kind: str, key: str, data: dict, lifetime: float) -> None:
        self._db.conn().execute(
            f"INSERT OR REPLACE INTO {self.table} (kind, key, data, expires) VALUES (?, ?, ?, ?)",
            (kind, key, json.dumps(data), time.time() + lifetime),
        )

    def add_once(self, kind: str, key: str, lifetime: float) -> bool:
        """Record `key` unless a live record has it: False when it was already there (a replay)."""
        conn = self._db.conn()
        conn.execute(f"DELETE FROM {self.table} WHERE kind = ? AND key = ? AND expires <= ?", (kind, key, time.time()))
        return (
            conn.execute(
                f"INSERT OR IGNORE INTO {self.table} (kind, key, data, expires) VALUES (?, ?, '{{}}', ?)",
                (kind, key, time.time() + lifetime),
            ).rowcount
            == 1
        )

    def get(self, kind: str, key: str | None) -> dict | None:
        if not key:
            return None
        row = (
            self._db.conn()
            .execute(
                f"SELECT data FROM {self.table} WHERE kind = ? AND key = ? AND expires > ?", (kind, key, time.time())
            )
            .fetchone()
        )
        return json.loads(row["data"]) if row else None

    def delete(self, kind: str, key: str | None) -> None:
        self._db.conn().execute(f"DELETE FROM {self.table} WHERE kind = ? AND key = ?", (kind, key))

    def purge(self, now: float | None = None) -> int:
        return self._db.conn().execute(f"DELETE FROM {self.table} WHERE expires <= ?", (now or time.time(),)).rowcount
