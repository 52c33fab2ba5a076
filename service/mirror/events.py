"""The de-identified event record behind the mirror figures (issue 14 point 1; docs/mirror-events.md, field by field).

One event per questionnaire recorded or sent (the web form and the API alike: Submitter.submit), updated from the
recipients' Tasks (the practice's copy, service/referrals/feedback.py). An event holds the practice (registry id),
the region, the quarter, the phase, the level, the ticked signals (linkIds), per recipient suggested the consent,
whether it was sent and what came back, whether the level was overridden and whether the Meldcode panel showed.
No patient identifier, no date finer than the quarter, no free text: only codes and counts.

The event's key is random (`secrets`), so it cannot be derived from anything about the patient. To update an event
from a Task the service keeps a *link* from the referral to the event, in its own file (mirror-links.sqlite3, never
in the event file): the SHA-256 of the submission id (itself a UUID derived from the response's business identifier
or a hash of its content, service/referrals/bundle.py) with the recipient, and the event id. The link names no
patient; joining it to one needs the practice's own record (which carries the submission id), and it is deleted
when that recipient's loop closes (a final Task) or after LOOP_DAYS, the submission's own link after RESUBMIT_DAYS.

This module imports nothing of service.referrals (which imports it): no cycle between the packages.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from service.questionnaires.linkids import CONSENT_GIVEN, PHASE, SIGNAL_GROUPS
from service.storage import SQLiteFile

log = logging.getLogger(__name__)

ZONE = ZoneInfo("Europe/Amsterdam")  # the practices' time zone: a quarter is a Dutch calendar quarter
CONSENT = ("given", "declined", "not-asked")
RESPONSE = ("accepted", "declined", "cancelled")  # what came back of a recipient; None: nothing yet
ACCEPTED = frozenset({"accepted", "in-progress", "on-hold", "completed", "failed"})  # the recipient took it up
FINAL = frozenset({"cancelled", "completed", "rejected", "failed", "entered-in-error"})  # the loop is closed
LOOP_DAYS = 365  # a link of a referral whose Task never closes goes after a year
RESUBMIT_DAYS = 7  # a resubmission within a week updates the same event (e.g. consent asked again)
KEEP_YEARS = 5  # events of quarters older than this are purged

# Clustered by region, quarter and practice (WITHOUT ROWID: the primary key is the table's order), so the figures'
# GROUP BY reads one region's quarters in order, from the table alone (benchmarks/report.py).
SCHEMA = """
CREATE TABLE IF NOT EXISTS event (
    region TEXT NOT NULL, quarter TEXT NOT NULL, practice TEXT NOT NULL, phase TEXT NOT NULL, id TEXT NOT NULL,
    level TEXT NOT NULL, overridden INTEGER NOT NULL, meldcode INTEGER NOT NULL, referred INTEGER NOT NULL,
    invented INTEGER NOT NULL DEFAULT 0, vulnerable INTEGER NOT NULL, urgent INTEGER NOT NULL,
    PRIMARY KEY (region, quarter, practice, phase, id)) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS event_id ON event (id);
CREATE TABLE IF NOT EXISTS event_signal (
    region TEXT NOT NULL, quarter TEXT NOT NULL, practice TEXT NOT NULL, signal TEXT NOT NULL, event TEXT NOT NULL,
    referred INTEGER NOT NULL, PRIMARY KEY (region, quarter, practice, signal, event)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS event_signal_event ON event_signal (event);
CREATE TABLE IF NOT EXISTS event_recipient (
    region TEXT NOT NULL, quarter TEXT NOT NULL, practice TEXT NOT NULL, recipient TEXT NOT NULL, event TEXT NOT NULL,
    external INTEGER NOT NULL, consent TEXT NOT NULL, sent INTEGER NOT NULL, response TEXT, outcome TEXT,
    feedback_days INTEGER, PRIMARY KEY (region, quarter, practice, recipient, event)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS event_recipient_event ON event_recipient (event, recipient);
"""
LINKS = """
CREATE TABLE IF NOT EXISTS mirror_link (
    submission TEXT NOT NULL, recipient TEXT NOT NULL, event TEXT NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (submission, recipient));
"""


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
    """The event record (mirror.sqlite3) and its links to the referrals (mirror-links.sqlite3), under KS_DATA_DIR."""

    def __init__(self, path: Path, links: Path | None = None):
        self._db = SQLiteFile(path)
        self._db.conn().executescript(SCHEMA)
        self._links = SQLiteFile(links or Path(path).with_name("mirror-links.sqlite3"))
        self._links.conn().executescript(LINKS)

    def conn(self):
        """The event file's connection, for the figures' aggregation queries (service/mirror/figures.py)."""
        return self._db.conn()

    # ------------------------------------------------------------------ writing

    def add(self, events: Iterable[MirrorEvent]) -> list[str]:
        """New events (demo history, the benchmark, a submission): their random ids."""
        conn, ids = self._db.conn(), []
        conn.execute("BEGIN")
        try:
            for event in events:
                ids.append(secrets.token_hex(16))
                self._write(conn, ids[-1], event)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return ids

    def _write(self, conn, event_id: str, e: MirrorEvent) -> None:
        where = (e.region, e.quarter, e.practice)
        for table, column in (("event", "id"), ("event_signal", "event"), ("event_recipient", "event")):
            conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (event_id,))
        conn.execute(
            "INSERT INTO event (region, quarter, practice, phase, id, level, overridden, meldcode, referred, invented, "
            "vulnerable, urgent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*where, e.phase, event_id, e.level, e.overridden, e.meldcode, e.referred, e.invented)
            + (e.level in ("vulnerable", "urgent"), e.level == "urgent"),  # derived from the level, for the figures
        )
        conn.executemany(
            "INSERT OR IGNORE INTO event_signal (region, quarter, practice, signal, event, referred) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(*where, s, event_id, e.referred) for s in e.signals],
        )
        conn.executemany(
            "INSERT OR REPLACE INTO event_recipient (region, quarter, practice, recipient, event, external, consent, "
            "sent, response, outcome, feedback_days) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (*where, r.recipient, event_id, r.external, r.consent, r.sent, r.response, r.outcome, r.feedback_days)
                for r in e.recipients
            ],
        )

    def record_submission(self, submission: str, event: MirrorEvent, now: float | None = None) -> str:
        """The event of a submission: a new one, or the same one again for a resubmission within RESUBMIT_DAYS
        (what came back of a recipient so far is kept). Links each external recipient sent to for the loop."""
        when = time.time() if now is None else now
        links, key = self._links.conn(), _link_key(submission)
        row = links.execute(
            "SELECT event FROM mirror_link WHERE submission = ? AND recipient = '' AND expires > ?", (key, when)
        ).fetchone()
        event_id = row[0] if row else secrets.token_hex(16)
        conn = self._db.conn()
        if row:
            known = {
                r["recipient"]: r for r in conn.execute("SELECT * FROM event_recipient WHERE event = ?", (event_id,))
            }
            event = replace(event, recipients=tuple(_keep_loop(r, known.get(r.recipient)) for r in event.recipients))
        conn.execute("BEGIN")
        try:
            self._write(conn, event_id, event)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        rows = [(key, "", event_id, when + RESUBMIT_DAYS * 86400)]
        rows += [
            (key, r.recipient, event_id, when + LOOP_DAYS * 86400) for r in event.recipients if r.sent and r.external
        ]
        links.executemany("INSERT OR REPLACE INTO mirror_link VALUES (?, ?, ?, ?)", rows)
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
        links, key = self._links.conn(), _link_key(submission)
        row = links.execute(
            "SELECT event FROM mirror_link WHERE submission = ? AND recipient = ? AND expires > ?",
            (key, recipient, when),
        ).fetchone()
        if row is None:
            return False
        response = response_of(status)
        days = None
        if response in ("accepted", "declined") and sent is not None:
            days = max(0, int(((changed or when) - sent) // 86400))
        self._db.conn().execute(
            "UPDATE event_recipient SET response = COALESCE(?, response), outcome = COALESCE(?, outcome), "
            "feedback_days = COALESCE(feedback_days, ?) WHERE event = ? AND recipient = ?",
            (response, outcome, days, row[0], recipient),
        )
        if status in FINAL:
            links.execute("DELETE FROM mirror_link WHERE submission = ? AND recipient = ?", (key, recipient))
        return True

    # ------------------------------------------------------------------ reading and forgetting

    def region_of(self, practice: str) -> str | None:
        """The region of a practice's latest events (the CLI's --practice)."""
        row = (
            self._db.conn()
            .execute("SELECT region FROM event WHERE practice = ? ORDER BY quarter DESC LIMIT 1", (practice,))
            .fetchone()
        )
        return row[0] if row else None

    def has_invented(self, practices: Iterable[str]) -> bool:
        wanted = list(practices)
        marks = ",".join("?" * len(wanted))
        return bool(
            wanted
            and self._db.conn()
            .execute(f"SELECT 1 FROM event WHERE invented = 1 AND practice IN ({marks}) LIMIT 1", wanted)
            .fetchone()
        )

    def purge(self, now: float | None = None) -> int:
        """Links past their time, and events of quarters older than KEEP_YEARS: the number of rows deleted."""
        when = time.time() if now is None else now
        gone = self._links.conn().execute("DELETE FROM mirror_link WHERE expires <= ?", (when,)).rowcount
        oldest = f"{datetime.fromtimestamp(when, UTC).year - KEEP_YEARS}Q1"
        conn = self._db.conn()
        for table in ("event_signal", "event_recipient", "event"):
            gone += conn.execute(f"DELETE FROM {table} WHERE quarter < ?", (oldest,)).rowcount
        return gone


def _keep_loop(new: RecipientEvent, old: Any) -> RecipientEvent:
    """A resubmission's recipient with what its loop said so far."""
    if old is None:
        return new
    return replace(new, response=old["response"], outcome=old["outcome"], feedback_days=old["feedback_days"])
