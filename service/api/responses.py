"""The QuestionnaireResponses submitted through the API (POST /fhir/QuestionnaireResponse), each version readable
at the `Location` its create answered (`[base]/QuestionnaireResponse/[id]/_history/[vid]`) by the caller that
submitted it, and what `$referral-status` reports from besides the outbox: the practice's record, the evaluation,
the recipients per destination.

The id is the submission id (service/referrals/bundle.py: from the response's business identifier, else its
content), so a resubmission of the same response is the same resource: unchanged, the same version; amended, a
new version. Rows hold patient data, on the storage layer (service/db: their own SQLite file under KS_DATA_DIR,
mode 0600, or the region's PostgreSQL), and expire after RETENTION_DAYS (the housekeeper purges them): the
referrals themselves live on at their destinations, the record in the practice's HIS.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, select

from service.db import Database, as_database
from service.db.schema import STORE_FILES, api_response, api_response_version

RETENTION_DAYS = 90
OPEN = ""  # the caller of an open API (KS_API_AUTH=none): anyone may read what it submitted


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


def _submitted_by(callers: tuple[str, ...], caller: str | None) -> bool:
    """Whether `caller` may read a response these callers submitted (an open API's: anyone)."""
    return OPEN in callers or (caller or OPEN) in callers


class ResponseStore:
    """`where`: its Database (service/db), or the folder of its SQLite file."""

    def __init__(self, where: Path | Database, retention_days: float = RETENTION_DAYS):
        self._db = where if isinstance(where, Database) else as_database(Path(where) / STORE_FILES["api_responses"][0])
        self._db.upgrade("api_responses")
        self.lifetime = retention_days * 86400

    def put(self, rid: str, qr: dict, caller: str | None, data: dict, now: float | None = None) -> Stored:
        """Store a submitted response under `rid`: a new version when its content changed. One transaction that
        holds `rid` (two submissions of one response at once, on two instances, make one version each in turn)."""
        now = time.time() if now is None else now
        who = caller or OPEN
        r, v = api_response, api_response_version
        with self._db.begin(write=True) as conn:
            self._db.lock(conn, f"api_response|{rid}")
            row = conn.execute(select(r.c.version, r.c.callers).where(r.c.id == rid)).first()
            version, callers = (row[0], json.loads(row[1])) if row else (0, [])
            current = None
            if row:
                text = conn.execute(select(v.c.resource).where(v.c.id == rid, v.c.version == version)).scalar()
                current = json.loads(text) if text is not None else None
            changed = current is None or _content(current) != _content(qr)
            if changed:
                version += 1
                current = _versioned(rid, qr, version, now)
                resource = json.dumps(current, ensure_ascii=False)
                conn.execute(self._db.upsert(v, {"id": rid, "version": version, "resource": resource}))
            if who not in callers:
                callers.append(who)
            values = {
                "id": rid,
                "version": version,
                "callers": json.dumps(callers),
                "data": json.dumps(data, ensure_ascii=False),
                "expires": now + self.lifetime,
            }
            conn.execute(self._db.upsert(r, values))
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
        r, v = api_response, api_response_version
        with self._db.begin() as conn:
            row = conn.execute(
                select(r.c.version, r.c.callers, r.c.data).where(r.c.id == rid, r.c.expires > time.time())
            ).first()
            if row is None:
                return None
            callers = tuple(json.loads(row[1]))
            if not _submitted_by(callers, caller):
                return None
            wanted = row[0] if version is None else version
            text = conn.execute(select(v.c.resource).where(v.c.id == rid, v.c.version == wanted)).scalar()
        if text is None:
            return None
        return Stored(id=rid, version=wanted, resource=json.loads(text), callers=callers, data=json.loads(row[2]))

    def patient_of_others(self, rid: str, caller: str | None) -> str | None:
        """The patient (the stored `data["patient"]`) of a response that exists but another caller submitted: for
        the audit log's row of the refused access, never for the caller."""
        r = api_response
        with self._db.begin() as conn:
            row = conn.execute(select(r.c.callers, r.c.data).where(r.c.id == rid, r.c.expires > time.time())).first()
        if row is None or _submitted_by(tuple(json.loads(row[0])), caller):
            return None
        return json.loads(row[1]).get("patient") or ""

    def purge(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        r, v = api_response, api_response_version
        with self._db.begin(write=True) as conn:
            gone = conn.execute(delete(r).where(r.c.expires <= now).returning(r.c.id)).scalars().all()
            if gone:
                conn.execute(delete(v).where(v.c.id.in_(gone)))
        return len(gone)


def _versioned(rid: str, qr: dict, version: int, now: float) -> dict:
    """The response as stored for `version`: its id, versionId and lastUpdated set."""
    stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "resourceType": "QuestionnaireResponse",
        "id": rid,
        "meta": {**(qr.get("meta") or {}), "versionId": str(version), "lastUpdated": stamp},
        **{k: v for k, v in _content(qr).items() if k != "resourceType"},
    }
