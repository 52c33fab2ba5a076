"""The de-identified event record behind the mirror figures (issue 14 point 1; docs/mirror-events.md, field by field).

One event per questionnaire recorded or sent (the web form and the API alike: Submitter.submit), updated from the
recipients' Tasks (the practice's copy, service/referrals/feedback.py). An event holds the practice (registry id),
the region, the quarter, the phase, the level, the ticked signals (linkIds), per recipient suggested the consent,
whether it was sent and what came back, whether the level was overridden and whether the Meldcode panel showed.
No patient identifier, no date finer than the quarter, no free text: only codes and counts.

The event's key is random (`secrets`), so it cannot be derived from anything about the patient. To update an event
from a Task the service keeps a *link* from the referral to the event, in its own file (mirror-links.sqlite3, never
in the event file; on PostgreSQL its own table, mirror_link): the SHA-256 of the submission id (itself a UUID derived from the response's business identifier
or a hash of its content, service/referrals/bundle.py) with the recipient, and the event id. The link names no
patient; joining it to one needs the practice's own record (which carries the submission id), and it is deleted
when that recipient's loop closes (a final Task) or after LOOP_DAYS, the submission's own link after RESUBMIT_DAYS.

This module imports nothing of service.referrals (which imports it): no cycle between the packages.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update

from service.db import Database, as_database
from service.db.schema import event as EVENT  # the store's tables (service/db/schema.py)
from service.db.schema import event_recipient as RECIPIENT
from service.db.schema import event_signal as SIGNAL
from service.db.schema import mirror_link as LINK
from service.questionnaires.linkids import CONSENT_GIVEN, PHASE, SIGNAL_GROUPS

ZONE = ZoneInfo("Europe/Amsterdam")  # the practices' time zone: a quarter is a Dutch calendar quarter
CONSENT = ("given", "declined", "not-asked")
RESPONSE = ("accepted", "declined", "cancelled")  # what came back of a recipient; None: nothing yet
ACCEPTED = frozenset({"accepted", "in-progress", "on-hold", "completed", "failed"})  # the recipient took it up
FINAL = frozenset({"cancelled", "completed", "rejected", "failed", "entered-in-error"})  # the loop is closed
LOOP_DAYS = 365  # a link of a referral whose Task never closes goes after a year
RESUBMIT_DAYS = 7  # a resubmission within a week updates the same event (e.g. consent asked again)
KEEP_YEARS = 5  # events of quarters older than this are purged


@dataclass(frozen=True, kw_only=True)
class RecipientEvent:
    """One recipient a rule suggested: consent (given / declined / not-asked), sent, and from the loop the
    response (accepted / declined / cancelled, None: none yet), the outcome code and the days to first feedback."""

    recipient: str
    external: bool
    consent: str
    sent: bool
    response: str | None = None
    outcome: str | None = None
    feedback_days: int | None = None


@dataclass(frozen=True, kw_only=True)
class MirrorEvent:
    practice: str
    region: str
    quarter: str  # "2026Q4"
    phase: str  # a ks-phase code, "unknown" when not answered
    level: str  # a ks-level code
    signals: tuple[str, ...]  # linkIds of the ticked signals
    recipients: tuple[RecipientEvent, ...]
    overridden: bool
    meldcode: bool  # the Meldcode panel was shown (not an outcome of the Meldcode)
    invented: bool = False  # demo history (make run)

    @property
    def referred(self) -> bool:
        return any(r.sent for r in self.recipients)


def quarter_of(day: date | datetime | float) -> str:
    """The Dutch calendar quarter of a day, an aware datetime or an epoch: "2026Q4"."""
    if isinstance(day, int | float):
        day = datetime.fromtimestamp(day, ZONE)
    elif isinstance(day, datetime):
        day = day.astimezone(ZONE) if day.tzinfo else day
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def event_of(extraction: Any, *, practice: str, region: str, now: float | None = None) -> MirrorEvent:
    """The event of one evaluated submission (service.referrals.pipeline.Extraction: its validation's answer index
    and Questionnaire, its evaluation): codes and linkIds only; the quarter of `now`."""
    evaluation, validation = extraction.evaluation, extraction.validation
    index, qdef = validation.index, validation.questionnaire
    answered = index.values.get(CONSENT_GIVEN) if index is not None else None
    recipients: dict[str, RecipientEvent] = {}
    for decision in evaluation.decisions:
        rec = decision.recipient
        if rec is None:
            continue
        consent = "not-asked"
        if rec.needs_consent and (answered or decision.blocked_by_consent is False):
            consent = "declined" if decision.blocked_by_consent else "given"
        found = recipients.get(rec.id)
        sent = decision.sends or bool(found and found.sent)
        recipients[rec.id] = RecipientEvent(recipient=rec.id, external=not rec.internal, consent=consent, sent=sent)
    ticked = set(evaluation.ticked)
    signals = [
        lid for g in SIGNAL_GROUPS if qdef and g in qdef.items for lid in qdef.items[g].children if lid in ticked
    ]
    phase = index.code(PHASE) if index is not None else None
    return MirrorEvent(
        practice=practice,
        region=region,
        quarter=quarter_of(time.time() if now is None else now),
        phase=phase if isinstance(phase, str) and phase else "unknown",
        level=evaluation.level,
        signals=tuple(signals),
        recipients=tuple(recipients.values()),
        overridden=evaluation.overridden,
        meldcode=any(flag.panel == "meldcode" for flag in evaluation.safety),
    )


def response_of(status: str | None) -> str | None:
    """What a recipient's Task status says came back: accepted, declined, cancelled (the practice's own), None."""
    if status in ACCEPTED:
        return "accepted"
    return {"rejected": "declined", "cancelled": "cancelled"}.get(status or "")


def _link_key(submission: str) -> str:
    return hashlib.sha256(f"ks-mirror|{submission}".encode()).hexdigest()


class EventStore:
    """The event record and its links to the referrals, on the storage layer (service/db): under KS_DATA_DIR two
    files, mirror.sqlite3 and mirror-links.sqlite3 (the links never in the events' file), or the region's
    PostgreSQL (two tables of its one database; `links` omitted: the events' database)."""

    def __init__(self, where: Path | Database, links: Path | Database | None = None):
        self.db = as_database(where)
        if links is None:
            links = self.db if self.db.is_postgresql else Path(self.db.path or "").with_name("mirror-links.sqlite3")
        self.links = as_database(links)
        self.db.upgrade("mirror")
        self.links.upgrade("mirror_links")

    # ------------------------------------------------------------------ writing

    def add(self, events: Iterable[MirrorEvent]) -> list[str]:
        """New events (demo history, the benchmark, a submission): their random ids, written in one transaction."""
        ids: list[str] = []
        rows: tuple[list, list, list] = ([], [], [])
        for event in events:
            ids.append(secrets.token_hex(16))
            for found, more in zip(rows, _rows(ids[-1], event), strict=True):
                found.extend(more)
        with self.db.begin() as conn:
            self._insert(conn, *rows)
        return ids

    def _insert(self, conn, events: list[dict], signals: list[dict], recipients: list[dict]) -> None:
        if events:
            conn.execute(EVENT.insert(), events)
        if signals:
            conn.execute(self.db.insert(SIGNAL).on_conflict_do_nothing(), signals)
        if recipients:
            stmt = self.db.insert(RECIPIENT)
            keys = {c.name for c in RECIPIENT.primary_key.columns}
            replaced = {c.name: stmt.excluded[c.name] for c in RECIPIENT.columns if c.name not in keys}
            conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=replaced), recipients)

    def _write(self, conn, event_id: str, event: MirrorEvent) -> None:
        """One event, in place of what was there under its id (a resubmission's)."""
        conn.execute(delete(EVENT).where(EVENT.c.id == event_id))
        conn.execute(delete(SIGNAL).where(SIGNAL.c.event == event_id))
        conn.execute(delete(RECIPIENT).where(RECIPIENT.c.event == event_id))
        self._insert(conn, *_rows(event_id, event))

    def record_submission(self, submission: str, event: MirrorEvent, now: float | None = None) -> str:
        """The event of a submission: a new one, or the same one again for a resubmission within RESUBMIT_DAYS
        (what came back of a recipient so far is kept). Links each external recipient sent to for the loop."""
        when = time.time() if now is None else now
        key = _link_key(submission)
        with self.links.begin() as conn:
            found = conn.execute(
                select(LINK.c.event).where(LINK.c.submission == key, LINK.c.recipient == "", LINK.c.expires > when)
            ).scalar()
        event_id = found or secrets.token_hex(16)
        with self.db.begin(write=True) as conn:
            self.db.lock(conn, f"mirror|{event_id}")
            if found:
                rows = conn.execute(select(RECIPIENT).where(RECIPIENT.c.event == event_id)).mappings()
                known = {r["recipient"]: r for r in rows}
                kept = tuple(_keep_loop(r, known.get(r.recipient)) for r in event.recipients)
                event = replace(event, recipients=kept)
            self._write(conn, event_id, event)
        links = [{"submission": key, "recipient": "", "event": event_id, "expires": when + RESUBMIT_DAYS * 86400}]
        links += [
            {"submission": key, "recipient": r.recipient, "event": event_id, "expires": when + LOOP_DAYS * 86400}
            for r in event.recipients
            if r.sent and r.external
        ]
        with self.links.begin() as conn:
            stmt = self.links.insert(LINK)
            changed = {"event": stmt.excluded.event, "expires": stmt.excluded.expires}
            conn.execute(stmt.on_conflict_do_update(index_elements=["submission", "recipient"], set_=changed), links)
        return event_id

    def record_extraction(self, extraction: Any, *, practice: str, region: str, now: float | None = None) -> str:
        """The event of one evaluated submission (Submitter.submit: the form and the API alike): event_of, then
        record_submission under its submission id."""
        event = event_of(extraction, practice=practice, region=region, now=now)
        return self.record_submission(extraction.bundles.submission, event, now)

    def record_feedback(
        self,
        submission: str,
        recipient: str,
        *,
        status: str | None,
        outcome: str | None,
        sent: float | None,
        changed: float | None = None,
        now: float | None = None,
    ) -> bool:
        """A recipient's Task as the practice's copy just saw it: the response, the outcome code, and the whole days
        from sending to the first feedback (`changed`: the Task's lastModified, else now). When the loop closes the
        link goes. Whether an event was updated (False: no link, e.g. expired)."""
        when = time.time() if now is None else now
        at = (LINK.c.submission == _link_key(submission), LINK.c.recipient == recipient)
        with self.links.begin() as conn:
            event_id = conn.execute(select(LINK.c.event).where(*at, LINK.c.expires > when)).scalar()
        if event_id is None:
            return False
        response = response_of(status)
        days = None
        if response in ("accepted", "declined") and sent is not None:
            days = max(0, int(((changed or when) - sent) // 86400))
        r = RECIPIENT.c
        with self.db.begin() as conn:
            conn.execute(
                update(RECIPIENT)
                .where(r.event == event_id, r.recipient == recipient)
                .values(
                    response=func.coalesce(response, r.response),
                    outcome=func.coalesce(outcome, r.outcome),
                    feedback_days=func.coalesce(r.feedback_days, days),
                )
            )
        if status in FINAL:
            with self.links.begin() as conn:
                conn.execute(delete(LINK).where(*at))
        return True

    # ------------------------------------------------------------------ reading and forgetting

    def region_of(self, practice: str) -> str | None:
        """The region of a practice's latest events (the CLI's --practice)."""
        query = select(EVENT.c.region).where(EVENT.c.practice == practice).order_by(EVENT.c.quarter.desc()).limit(1)
        with self.db.begin() as conn:
            return conn.execute(query).scalar()

    def has_invented(self, practices: Iterable[str]) -> bool:
        wanted = list(practices)
        if not wanted:
            return False
        query = select(EVENT.c.id).where(EVENT.c.invented == 1, EVENT.c.practice.in_(wanted)).limit(1)
        with self.db.begin() as conn:
            return conn.execute(query).first() is not None

    def purge(self, now: float | None = None) -> int:
        """Links past their time, and events of quarters older than KEEP_YEARS: the number of rows deleted."""
        when = time.time() if now is None else now
        with self.links.begin() as conn:
            gone = conn.execute(delete(LINK).where(LINK.c.expires <= when)).rowcount
        oldest = f"{datetime.fromtimestamp(when, UTC).year - KEEP_YEARS}Q1"
        with self.db.begin() as conn:
            for table in (SIGNAL, RECIPIENT, EVENT):
                gone += conn.execute(delete(table).where(table.c.quarter < oldest)).rowcount
        return gone


def _rows(event_id: str, e: MirrorEvent) -> tuple[list[dict], list[dict], list[dict]]:
    """The rows of one event in its three tables; flags as 0/1 (INTEGER columns, summed by the figures)."""
    where = {"region": e.region, "quarter": e.quarter, "practice": e.practice}
    referred = int(e.referred)
    event = {
        **where,
        "phase": e.phase,
        "id": event_id,
        "level": e.level,
        "overridden": int(e.overridden),
        "meldcode": int(e.meldcode),
        "referred": referred,
        "invented": int(e.invented),
        "vulnerable": int(e.level in ("vulnerable", "urgent")),  # derived from the level, for the figures
        "urgent": int(e.level == "urgent"),
    }
    signals = [{**where, "signal": s, "event": event_id, "referred": referred} for s in dict.fromkeys(e.signals)]
    recipients = {  # one row per recipient (the last one given, as INSERT OR REPLACE had it)
        r.recipient: {
            **where,
            "recipient": r.recipient,
            "event": event_id,
            "external": int(r.external),
            "consent": r.consent,
            "sent": int(r.sent),
            "response": r.response,
            "outcome": r.outcome,
            "feedback_days": r.feedback_days,
        }
        for r in e.recipients
    }
    return [event], signals, list(recipients.values())


def _keep_loop(new: RecipientEvent, old: Any) -> RecipientEvent:
    """A resubmission's recipient with what its loop said so far."""
    if old is None:
        return new
    return replace(new, response=old["response"], outcome=old["outcome"], feedback_days=old["feedback_days"])
