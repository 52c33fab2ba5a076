"""Server-side form state: the work in progress of a launch session, and drafts kept for the patient's record.

Neither ever reaches a cookie or a URL. The work state is keyed by the session's opaque id; a draft
(saved explicitly, e.g. by a doktersassistent for the GP) by a hash of the EHR and the patient id,
so the next launch for the same patient reopens it, whoever opens it. Drafts are removed when the
referral is sent, and expire after DRAFT_DAYS.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from service.storage import SQLiteFile

DRAFT_DAYS = 14
WORK_MAX_AGE = 8 * 3600  # as long as a launch session lives

SCHEMA = """
CREATE TABLE IF NOT EXISTS form_work (session_id TEXT PRIMARY KEY, data TEXT NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS form_draft (patient_key TEXT PRIMARY KEY, data TEXT NOT NULL, updated REAL NOT NULL);
-- the form's own log of referrals, before the record of referrals made (service/referrals/recent.py) held them
DROP TABLE IF EXISTS referral_log;
"""


@dataclass
class WorkState:
    """One form being filled in: the fields as the browser sent them, and what the steps recorded."""

    identifier: str = field(default_factory=lambda: str(uuid.uuid4()))  # the response's business identifier
    fields: dict[str, list[str]] = field(default_factory=dict)
    suggestions: list[dict] = field(default_factory=list)
    mother_birth_date: str | None = None  # for the live teenage-pregnancy suggestion
    banner: dict = field(default_factory=dict)  # name + birth date, when the EHR asks the app to show them
    record_problem: list[str] | None = None  # [nl, en] when the record could not be read
    reviewed: bool = False  # the fields passed the checks; review may be shown
    meldcode: dict = field(default_factory=dict)  # {"seen": bool, "steps": [...], "facts": str}
    # Consent as the sender asked it at review (never the form's fields, never from someone else's draft):
    consent: dict[str, bool] | None = None  # recipient id -> consent ticked at review
    consent_method: str | None = None
    notice: str | None = None  # one-shot message for the next page
    draft_saved_at: float | None = None  # epoch seconds
    draft_by: str | None = None  # the fhirUser reference of who saved the draft (never shown)
    draft_by_name: str | None = None  # their name as the EHR gave it at save time, when it did
    draft_by_role: str | None = None  # their role (service/smart/session.py ROLES), for when there is no name
    result: dict | None = None  # after sending: what the confirmation page shows

    @classmethod
    def from_json(cls, text: str) -> WorkState:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


@dataclass(frozen=True)
class PanelFacts:
    """What the live panel needs of the stored form: the suggestions $populate made from the record, and the
    mother's birth date (for the teenage-pregnancy suggestion, worked out again from the due date in the form)."""

    suggestions: list[dict] = field(default_factory=list)
    mother_birth_date: str | None = None


def patient_key(iss: str, patient: str | None) -> str:
    return hashlib.sha256(f"{iss}|{patient}".encode()).hexdigest()


class FormStore:
    def __init__(self, path: Path):
        self._db = SQLiteFile(path)
        self._db.conn().executescript(SCHEMA)

    def work(self, session_id: str) -> WorkState | None:
        row = (
            self._db.conn()
            .execute("SELECT data, updated FROM form_work WHERE session_id = ?", (session_id,))
            .fetchone()
        )
        if row is None or time.time() - row["updated"] > WORK_MAX_AGE:
            return None
        return WorkState.from_json(row["data"])

    def panel_facts(self, session_id: str) -> PanelFacts:
        """What the live panel takes from this session's stored form (sent or not; nothing stored: none), read
        without parsing the rest of it: the panel is asked at every tick (benchmarks/form.py)."""
        row = (
            self._db.conn()
            .execute(
                "SELECT json_extract(data, '$.suggestions'), json_extract(data, '$.mother_birth_date'), updated"
                " FROM form_work WHERE session_id = ?",
                (session_id,),
            )
            .fetchone()
        )
        if row is None or time.time() - row[2] > WORK_MAX_AGE:
            return PanelFacts()
        suggestions, born = row[0], row[1]
        return PanelFacts(json.loads(suggestions) if suggestions else [], born if isinstance(born, str) else None)

    def save_work(self, session_id: str, work: WorkState) -> None:
        self._db.conn().execute(
            "INSERT OR REPLACE INTO form_work (session_id, data, updated) VALUES (?, ?, ?)",
            (session_id, work.to_json(), time.time()),
        )

    def drop_work(self, session_id: str) -> None:
        self._db.conn().execute("DELETE FROM form_work WHERE session_id = ?", (session_id,))

    def draft(self, iss: str, patient: str | None) -> WorkState | None:
        row = (
            self._db.conn()
            .execute("SELECT data, updated FROM form_draft WHERE patient_key = ?", (patient_key(iss, patient),))
            .fetchone()
        )
        if row is None or time.time() - row["updated"] > DRAFT_DAYS * 86400:
            return None
        return WorkState.from_json(row["data"])

    def save_draft(self, iss: str, patient: str | None, work: WorkState) -> None:
        self._db.conn().execute(
            "INSERT OR REPLACE INTO form_draft (patient_key, data, updated) VALUES (?, ?, ?)",
            (patient_key(iss, patient), work.to_json(), time.time()),
        )

    def drop_draft(self, iss: str, patient: str | None) -> None:
        self._db.conn().execute("DELETE FROM form_draft WHERE patient_key = ?", (patient_key(iss, patient),))

    def purge(self, now: float | None = None) -> int:
        """Forget expired work and drafts (data minimisation); the number of rows deleted."""
        now = now or time.time()
        conn = self._db.conn()
        return (
            conn.execute("DELETE FROM form_work WHERE updated < ?", (now - WORK_MAX_AGE,)).rowcount
            + conn.execute("DELETE FROM form_draft WHERE updated < ?", (now - DRAFT_DAYS * 86400,)).rowcount
        )
