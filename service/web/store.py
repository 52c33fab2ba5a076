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

from sqlalchemy import delete, select

from service.db import Database, as_database
from service.db.schema import form_draft, form_work

DRAFT_DAYS = 14
WORK_MAX_AGE = 8 * 3600  # as long as a launch session lives


@dataclass
class WorkState:
    """One form being filled in: the fields as the browser sent them, and what the steps recorded."""

    identifier: str = field(default_factory=lambda: str(uuid.uuid4()))  # the response's business identifier
    fields: dict[str, list[str]] = field(default_factory=dict)
    suggestions: list[dict] = field(default_factory=list)
    mother_birth_date: str | None = None  # for the live teenage-pregnancy suggestion
    banner: dict = field(default_factory=dict)  # name + birth date, when the EHR asks the app to show them
    record_problem: list[str] | None = None  # [nl, en] when the record could not be read
    patient_keys: list[str] = field(default_factory=list)  # her BSN's key in the record of referrals (hashed)
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
    form_id: str | None = None  # the form they are of (WorkState.identifier)


# Per worker, the facts of the forms the live panel was asked about lately, by session and form id: a form's facts
# are set when it is made ($populate, or the draft it is opened from: form_page.open_work) and never change after,
# so a tick names its form (the panel token's form id) and is answered without reading the database. Reading it
# was a tenth of a tick's CPU under gunicorn (two workers sharing an SQLite file; benchmarks/form.py).
FACTS_KEPT = 4096


def patient_key(iss: str, patient: str | None) -> str:
    return hashlib.sha256(f"{iss}|{patient}".encode()).hexdigest()


class FormStore:
    """Work in progress and drafts on the storage layer (service/db: forms.sqlite3 under KS_DATA_DIR, or the
    region's PostgreSQL)."""

    def __init__(self, where: Path | Database):
        self._db = as_database(where)
        self._db.upgrade("forms")
        self._facts = _panel_facts_query(self._db)
        self._kept: dict[tuple[str, str], tuple[PanelFacts, float]] = {}

    def work(self, session_id: str) -> WorkState | None:
        t = form_work
        with self._db.begin() as conn:
            row = conn.execute(select(t.c.data, t.c.updated).where(t.c.session_id == session_id)).first()
        if row is None or time.time() - row[1] > WORK_MAX_AGE:
            return None
        return WorkState.from_json(row[0])

    def panel_facts(self, session_id: str, form_id: str | None = None) -> PanelFacts:
        """What the live panel takes from this session's stored form (sent or not; nothing stored: none), read
        without parsing the rest of it: the panel is asked at every tick (benchmarks/form.py). Asked for the form
        `form_id` (the page's), the facts this worker read of that form before (FACTS_KEPT); else the stored
        form's, whichever form that is now."""
        now = time.time()
        kept = self._kept.get((session_id, form_id)) if form_id else None
        if kept is not None and now - kept[1] <= WORK_MAX_AGE:
            return kept[0]
        row = self._db.read_one(self._facts, {"sid": session_id})
        if row is None or now - row[2] > WORK_MAX_AGE:
            return PanelFacts()
        suggestions, born, stored_id = row[0], row[1], row[3]
        facts = PanelFacts(
            json.loads(suggestions or "null") or [],
            born if isinstance(born, str) else None,
            stored_id if isinstance(stored_id, str) else None,
        )
        if facts.form_id:
            if len(self._kept) >= FACTS_KEPT:
                self._kept.clear()
            self._kept[(session_id, facts.form_id)] = (facts, row[2])
        return facts

    def save_work(self, session_id: str, work: WorkState) -> None:
        values = {"session_id": session_id, "data": work.to_json(), "updated": time.time()}
        with self._db.begin() as conn:
            conn.execute(self._db.upsert(form_work, values))

    def drop_work(self, session_id: str) -> None:
        with self._db.begin() as conn:
            conn.execute(delete(form_work).where(form_work.c.session_id == session_id))

    def draft(self, iss: str, patient: str | None) -> WorkState | None:
        t = form_draft
        with self._db.begin() as conn:
            row = conn.execute(
                select(t.c.data, t.c.updated).where(t.c.patient_key == patient_key(iss, patient))
            ).first()
        if row is None or time.time() - row[1] > DRAFT_DAYS * 86400:
            return None
        return WorkState.from_json(row[0])

    def save_draft(self, iss: str, patient: str | None, work: WorkState) -> None:
        values = {"patient_key": patient_key(iss, patient), "data": work.to_json(), "updated": time.time()}
        with self._db.begin() as conn:
            conn.execute(self._db.upsert(form_draft, values))

    def drop_draft(self, iss: str, patient: str | None) -> None:
        with self._db.begin() as conn:
            conn.execute(delete(form_draft).where(form_draft.c.patient_key == patient_key(iss, patient)))

    def purge(self, now: float | None = None) -> int:
        """Forget expired work and drafts (data minimisation); the number of rows deleted."""
        now = now or time.time()
        with self._db.begin() as conn:
            return (
                conn.execute(delete(form_work).where(form_work.c.updated < now - WORK_MAX_AGE)).rowcount
                + conn.execute(delete(form_draft).where(form_draft.c.updated < now - DRAFT_DAYS * 86400)).rowcount
            )


def _panel_facts_query(db: Database) -> str:
    """The suggestions (JSON text) and the mother's birth date of a session's work, when it was saved and its id: read
    out of the stored JSON by the database (SQLite's json_extract, PostgreSQL's jsonb operators), for
    Database.read_one: the live panel's hot path."""
    if db.is_postgresql:
        return (
            "SELECT (data::jsonb -> 'suggestions')::text, data::jsonb ->> 'mother_birth_date', updated,"
            " data::jsonb ->> 'identifier' FROM form_work WHERE session_id = :sid"
        )
    return (
        "SELECT json_extract(data, '$.suggestions'), json_extract(data, '$.mother_birth_date'), updated,"
        " json_extract(data, '$.identifier') FROM form_work WHERE session_id = :sid"
    )
