"""The QuestionnaireResponses submitted through the API (POST /fhir/QuestionnaireResponse), each version readable
at the `Location` its create answered (`[base]/QuestionnaireResponse/[id]/_history/[vid]`) by the caller that
submitted it, and what `$referral-status` reports from besides the outbox: the practice's record, the evaluation,
the recipients per destination.

The id is the submission id (service/referrals/bundle.py: from the response's business identifier, else its
content), so a resubmission of the same response is the same resource: unchanged, the same version; amended, a
new version. Rows hold patient data, in their own SQLite file under KS_DATA_DIR (mode 0600, service/storage.py),
and expire after RETENTION_DAYS (the housekeeper purges them): the referrals themselves live on at their
destinations, the record in the practice's HIS.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from service.storage import SQLiteFile

RETENTION_DAYS = 90
OPEN = ""  # the caller of an open API (KS_API_AUTH=none): anyone may read what it submitted

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_response (
    id        TEXT PRIMARY KEY,      -- the submission id = QuestionnaireResponse.id
    version   INTEGER NOT NULL,      -- the current versionId
    callers   TEXT NOT NULL,         -- JSON list of the API clients that submitted it (OPEN: an open API)
    data      TEXT NOT NULL,         -- JSON: region, patient keys, recipients per destination, record, evaluation
    expires   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS api_response_version (
    id        TEXT NOT NULL,
    version   INTEGER NOT NULL,
    resource  TEXT NOT NULL,         -- the QuestionnaireResponse as stored (id, meta.versionId, meta.lastUpdated)
    PRIMARY KEY (id, version)
);
"""


@dataclass(frozen=True, kw_only=True)
class Stored:
    id: str
    version: int
    resource: dict
    callers: tuple[str, ...]
    data: dict
    created: bool = False  # this call made the resource (no earlier version)
    changed: bool = False  # this call made a new version

    @property
    def last_updated(self) -> str:
        return self.resource["meta"]["lastUpdated"]


def _content(qr: dict) -> dict:
    return {k: v for k, v in qr.items() if k not in ("id", "meta")}


class ResponseStore:
    def __init__(self, data_dir: Path, retention_days: float = RETENTION_DAYS):
        self._db = SQLiteFile(Path(data_dir) / "api-responses.sqlite3")
        self.lifetime = retention_days * 86400
        self._db.conn().executescript(SCHEMA)

    def put(self, rid: str, qr: dict, caller: str | None, data: dict, now: float | None = None) -> Stored:
        """Store a submitted response under `rid`: a new version when its content changed."""
        now = time.time() if now is None else now
        who = caller or OPEN
        conn = self._db.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT version, callers FROM api_response WHERE id = ?", (rid,)).fetchone()
            version, callers = (row["version"], json.loads(row["callers"])) if row else (0, [])
            current = None
            if row:
                text = conn.execute(
                    "SELECT resource FROM api_response_version WHERE id = ? AND version = ?", (rid, version)
                ).fetchone()
                current = json.loads(text["resource"]) if text else None
            changed = current is None or _content(current) != _content(qr)
            if changed:
                version += 1
                stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                current = {
                    "resourceType": "QuestionnaireResponse",
                    "id": rid,
                    "meta": {**(qr.get("meta") or {}), "versionId": str(version), "lastUpdated": stamp},
                    **{k: v for k, v in _content(qr).items() if k != "resourceType"},
                }
                conn.execute(
                    "INSERT OR REPLACE INTO api_response_version (id, version, resource) VALUES (?, ?, ?)",
                    (rid, version, json.dumps(current, ensure_ascii=False)),
                )
            if who not in callers:
                callers.append(who)
            conn.execute(
                "INSERT OR REPLACE INTO api_response (id, version, callers, data, expires) VALUES (?, ?, ?, ?, ?)",
                (rid, version, json.dumps(callers), json.dumps(data, ensure_ascii=False), now + self.lifetime),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        assert current is not None  # stored above, or the current version read
        return Stored(
            id=rid,
            version=version,
            resource=current,
            callers=tuple(callers),
            data=data,
            created=row is None,
            changed=changed,
        )

    def get(self, rid: str, caller: str | None, version: int | None = None) -> Stored | None:
        """The response (its current version, or `version`) when `caller` submitted it; None otherwise (also when
        it does not exist or has expired: a caller learns nothing of other callers' responses)."""
        conn = self._db.conn()
        row = conn.execute(
            "SELECT version, callers, data FROM api_response WHERE id = ? AND expires > ?", (rid, time.time())
        ).fetchone()
        if row is None:
            return None
        callers = tuple(json.loads(row["callers"]))
        if OPEN not in callers and (caller or OPEN) not in callers:
            return None
        wanted = row["version"] if version is None else version
        text = conn.execute(
            "SELECT resource FROM api_response_version WHERE id = ? AND version = ?", (rid, wanted)
        ).fetchone()
        if text is None:
            return None
        return Stored(
            id=rid, version=wanted, resource=json.loads(text["resource"]), callers=callers, data=json.loads(row["data"])
        )

    def purge(self, now: float | None = None) -> int:
        conn = self._db.conn()
        now = time.time() if now is None else now
        gone = [r["id"] for r in conn.execute("SELECT id FROM api_response WHERE expires <= ?", (now,)).fetchall()]
        for rid in gone:
            conn.execute("DELETE FROM api_response_version WHERE id = ?", (rid,))
            conn.execute("DELETE FROM api_response WHERE id = ?", (rid,))
        return len(gone)
