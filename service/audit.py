"""Append-only audit log of every access to patient data (NEN 7513: who, which patient, what, when, outcome).

Kept apart from the application log, in its own SQLite table under KS_DATA_DIR; rows are only ever
inserted (a trigger refuses UPDATE and DELETE). It records references and ids, never answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from service.storage import SQLiteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded    TEXT NOT NULL,      -- when (UTC)
    action      TEXT NOT NULL,      -- C/R/U/D/E (FHIR AuditEvent.action)
    event       TEXT NOT NULL,      -- what: submit, push, evaluate, read, ...
    outcome     TEXT NOT NULL,      -- 0 success, 4 minor failure, 8 serious failure (AuditEvent.outcome)
    who         TEXT,               -- the user or system (reference), on whose behalf: responsible
    responsible TEXT,
    patient     TEXT,               -- the patient reference
    object      TEXT,               -- the record touched (e.g. submission id)
    access_point TEXT               -- where from (client address or 'cli')
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
"""


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    event: str
    action: str
    outcome: str
    who: str | None
    patient: str | None
    object: str | None
    access_point: str | None
    responsible: str | None = None


class AuditLog:
    def __init__(self, path: Path):
        self._db = SQLiteFile(path, synchronous="FULL")
        self.path = self._db.path
        self._conn = self._db.conn
        self._conn().executescript(SCHEMA)

    def record(self, entry: AuditEntry) -> None:
        self._conn().execute(
            "INSERT INTO audit (recorded, action, event, outcome, who, responsible, patient, object, access_point) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                datetime.now(UTC).isoformat(),
                entry.action,
                entry.event,
                entry.outcome,
                entry.who,
                entry.responsible,
                entry.patient,
                entry.object,
                entry.access_point,
            ),
        )

    def entries(self, patient: str | None = None) -> list[dict]:
        sql, args = "SELECT * FROM audit", ()
        if patient:
            sql, args = sql + " WHERE patient = ?", (patient,)
        return [dict(r) for r in self._conn().execute(sql + " ORDER BY seq", args).fetchall()]


def reference_of(value) -> str | None:
    """A Reference as a short string for the log: 'Patient/123' or 'system|value'."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("reference"), str):
        return value["reference"]
    ident = value.get("identifier")
    if isinstance(ident, dict):
        return f"{ident.get('system', '')}|{ident.get('value', '')}"
    return None
