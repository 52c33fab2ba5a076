"""Back to the practice (issue 13 point 4): the practice's copy of where each referral stands at its recipient,
kept fresh by polling the destinations, so the pages read it and never wait on a recipient's server.

Per referral (submission + recipient) the copy holds the recipient's Task as last seen: status, businessStatus,
statusReason (a decline's coded reason, or the practice's own cancel), the coded outcome and the message for the
GP (the Communication Task.output names: service/referrals/taskflow.py), lastModified, who works it, and when the
destination was last polled. No names or birth dates of patients: the overview takes those from the practice's
own outbox item (the Bundle that went out), so there is one copy of who the patient is, purged with the outbox.

Polling follows Gravity SDOH Clinical Care's rules for a requester without subscriptions (ANCHORS.md §3.3: "poll
at least hourly, no more than every 15 minutes"): per destination, a search for the Tasks of our referrals
changed since the last poll, `Task?identifier=<ID_TASK>|&_lastUpdated=gt<since>`
(https://hl7.org/fhir/R4/search.html#lastUpdated, token search on a system only:
https://hl7.org/fhir/R4/search.html#token). `since` is the server's own time of the previous search
(Bundle.meta.lastUpdated) less a minute, so a skewed clock loses nothing; a Task seen twice is harmless. The
15-minute floor holds across worker processes and instances: a poll is claimed in the store (SQLite or
PostgreSQL, service/db) before it is made.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, or_, select, update

from service.db import Database, as_database
from service.db.schema import feedback_cursor as CURSOR  # the store's three tables
from service.db.schema import feedback_poll as POLL
from service.db.schema import referral_feedback as COPY
from service.fhir import urls
from service.fhir.errors import FhirError
from service.referrals.bundle import recipient_of
from service.referrals.taskflow import FINAL, assignee_of, code_of, message_text

if TYPE_CHECKING:
    from service.mirror.events import EventStore

log = logging.getLogger(__name__)

MIN_INTERVAL = 15 * 60  # never more often per destination (Gravity)
MAX_INTERVAL = 60 * 60  # at least this often (Gravity)
OVERLAP = 60  # seconds the next search reaches back before the previous one (clock skew, commits in flight)
KEEP_DAYS = 3 * 365  # as the form's referral log (service/web/store.py), and the outbox's delivered items
PAGES_MAX = 50  # searchset pages per poll (100 Tasks each)

TASK_FIELDS = (
    "task_id",
    "status",
    "business",
    "business_text",
    "reason",
    "reason_text",
    "outcome",
    "outcome_text",
    "message",
    "worked_by",
    "last_modified",
)


@dataclass(frozen=True, kw_only=True)
class ReferralFeedback:
    """The practice's copy of one referral at its recipient: as delivered (`status` "requested", `polled_at` None)
    until a poll of its destination has seen its Task; `status` None: delivered without a Task."""

    submission: str
    recipient: str
    destination: str
    sent: float
    practice: str | None = None  # the requesting practice ('system|value' of its AGB-Z code: practice_key)
    task_id: str | None = None
    status: str | None = None
    business: str | None = None  # a ks-task-business-status code
    business_text: str | None = None
    reason: str | None = None  # a ks-decline-reason code
    reason_text: str | None = None
    outcome: str | None = None  # a ks-task-outcome code
    outcome_text: str | None = None
    message: str | None = None  # the recipient's message for the GP
    worked_by: str | None = None  # the colleague at the recipient who works it (their name)
    last_modified: str | None = None  # the Task's lastModified (ISO)
    polled_at: float | None = None  # when its destination was last polled successfully
    changed_at: float | None = None  # when the copy last changed
    poll_failed: bool = False  # the last poll of its destination failed

    @property
    def open(self) -> bool:
        return self.status not in FINAL

    @property
    def unsent(self) -> bool:
        """Taken back from the outbox before it went (record_unsent): cancelled, and no recipient ever had a Task."""
        return self.status == "cancelled" and self.task_id is None


def task_facts(task: dict[str, Any]) -> dict[str, Any]:
    """What the practice keeps of a recipient's Task (the message: its reference, read by the poll)."""
    business, reason = task.get("businessStatus") or {}, task.get("statusReason") or {}
    facts: dict[str, Any] = {
        "task_id": task.get("id"),
        "status": task.get("status"),
        "business": code_of(business, urls.CS_TASK_BUSINESS_STATUS),
        "business_text": business.get("text"),
        "reason": code_of(reason, urls.CS_DECLINE_REASON),
        "reason_text": reason.get("text"),
        "outcome": None,
        "outcome_text": None,
        "message_ref": None,
        "worked_by": (assignee_of(task) or {}).get("display"),
        "last_modified": task.get("lastModified") or (task.get("meta") or {}).get("lastUpdated"),
    }
    for out in task.get("output") or ():
        kind = code_of(out.get("type"), urls.CS_TASK_OUTPUT)
        if kind == "outcome" and isinstance(out.get("valueCodeableConcept"), dict):
            facts["outcome"] = code_of(out["valueCodeableConcept"], urls.CS_TASK_OUTCOME)
            facts["outcome_text"] = out["valueCodeableConcept"].get("text")
        elif kind == "message" and isinstance(out.get("valueReference"), dict):
            facts["message_ref"] = out["valueReference"].get("reference")
    return facts


def _task_key(task: dict[str, Any]) -> str | None:
    """`<submission>:<recipient>`: the Task's business identifier (service/referrals/bundle.py _task)."""
    for ident in task.get("identifier") or ():
        if isinstance(ident, dict) and ident.get("system") == urls.ID_TASK and isinstance(ident.get("value"), str):
            return ident["value"]
    return None


def practice_key(organization: dict[str, Any] | None) -> str | None:
    """A practice as 'system|value' of its AGB-Z code (the requester's organisation in what was sent)."""
    ident = (organization or {}).get("identifier") or {}
    return f"{ident['system']}|{ident['value']}" if ident.get("system") and ident.get("value") else None


def referrals_of_bundle(bundle: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """(recipient, practice, Task status) of each referral in a destination's Bundle: the practice is the requester's
    organisation of its Task (bundle.py _requester: a contained PractitionerRole), None for an API caller without a
    practice; the status is the one the Task was delivered with ("requested"), until a poll says more."""
    out: list[tuple[str, str | None, str | None]] = []
    for entry in bundle.get("entry") or ():
        resource = entry.get("resource") or {}
        if resource.get("resourceType") != "Task" or not (key := _task_key(resource)):
            continue
        ref = (resource.get("requester") or {}).get("reference")
        role = next((c for c in resource.get("contained") or () if f"#{c.get('id')}" == ref), None)
        organization = (role or {}).get("organization")
        out.append((key.rsplit(":", 1)[1], practice_key(organization), resource.get("status")))
    if not out:  # a Bundle without Tasks: its ServiceRequests still name the recipients
        out = [(r, None, None) for e in bundle.get("entry") or () if (r := recipient_of(e.get("resource") or {}))]
    return out


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).replace(microsecond=0).isoformat()


def _epoch(iso: str | None) -> float | None:
    try:
        return datetime.fromisoformat(str(iso)).timestamp() if iso else None
    except ValueError:
        return None


class FeedbackStore:
    """The copy, on the storage layer (service/db: feedback.sqlite3 under KS_DATA_DIR, or the region's PostgreSQL,
    shared by every instance). `wake`: set by a running poller, so a page can ask for a poll."""

    def __init__(self, where: Path | Database):
        self.db = as_database(where)
        self.db.upgrade("feedback")
        self.wake: threading.Event | None = None
        self.mirror: EventStore | None = None  # the mirror events (service/mirror/events.py): told of changes
        # the floor between two polls of a destination: Gravity's 15 minutes (KS_FEEDBACK_MIN_INTERVAL, which only
        # development and tests may lower: service/config.py)
        self.min_interval: float = MIN_INTERVAL

    # ------------------------------------------------------------------ what was sent

    def track(self, outbox, now: float | None = None) -> int:
        """Every referral delivered since the last call becomes a row, with the status its Task was delivered with;
        the number of rows added. Two processes at once add each row once (a row already there is left alone) and
        at worst move the cursor back to where one of them started: the next call reads those items again."""
        with self.db.begin() as conn:
            cursor = conn.execute(select(CURSOR.c.delivered_after).where(CURSOR.c.id == 1)).scalar()
        added = 0
        while True:
            items = outbox.delivered_since(cursor)
            rows = [
                {
                    "submission": item.submission,
                    "recipient": recipient,
                    "destination": item.destination or "",
                    "practice": practice,
                    "sent": _epoch(item.delivered_at) or (time.time() if now is None else now),
                    "status": status,
                }
                for item in items
                for recipient, practice, status in referrals_of_bundle(item.bundle)
            ]
            if rows:
                with self.db.begin() as conn:  # RETURNING: the rows inserted, on both engines
                    insert = self.db.insert(COPY).on_conflict_do_nothing().returning(COPY.c.recipient)
                    added += len(conn.execute(insert, rows).all())
            last = items[-1].delivered_at if items else cursor
            if last == cursor or len(items) < 200:
                cursor = last
                break
            cursor = last
        with self.db.begin() as conn:
            conn.execute(self.db.upsert(CURSOR, {"id": 1, "delivered_after": cursor}))
        return added

    def keys(self, destination: str) -> set[str]:
        with self.db.begin() as conn:
            rows = conn.execute(select(COPY.c.submission, COPY.c.recipient).where(COPY.c.destination == destination))
            return {f"{r[0]}:{r[1]}" for r in rows}

    def first_sent(self, destination: str) -> float | None:
        with self.db.begin() as conn:
            return conn.execute(select(func.min(COPY.c.sent)).where(COPY.c.destination == destination)).scalar()

    # ------------------------------------------------------------------ the polls

    def poll_state(self, destination: str) -> dict[str, Any]:
        query = select(POLL.c.polled_at, POLL.c.since, POLL.c.wanted, POLL.c.failed)
        with self.db.begin() as conn:
            row = conn.execute(query.where(POLL.c.destination == destination)).mappings().first()
        return dict(row) if row else {"polled_at": 0.0, "since": None, "wanted": None, "failed": 0}

    def due(self, destinations: Iterable[str], now: float) -> list[str]:
        """The destinations to poll now: not polled for an hour, or asked for by a page and not polled for 15
        minutes; only those with referrals to ask about."""
        out = []
        for d in destinations:
            state = self.poll_state(d)
            age = now - float(state["polled_at"] or 0)
            if age >= self.min_interval and (age >= MAX_INTERVAL or state["wanted"]) and self.keys(d):
                out.append(d)
        return out

    def claim(self, destination: str, now: float) -> str | bool | None:
        """Take the poll of `destination` (False when polled within 15 minutes, by any process or instance: one
        conditional UPDATE, which PostgreSQL re-checks once a concurrent one has committed); its `since`."""
        with self.db.begin() as conn:
            conn.execute(self.db.insert(POLL).values(destination=destination).on_conflict_do_nothing())
            taken = conn.execute(
                update(POLL)
                .where(POLL.c.destination == destination, POLL.c.polled_at <= now - self.min_interval)
                .values(polled_at=now, wanted=None)
                .returning(POLL.c.since)
            ).first()
        return False if taken is None else taken[0]

    def polled(self, destination: str, now: float, *, since: str | None, ok: bool) -> None:
        """The poll's end: on success the next `since` and every row of the destination marked as checked."""
        at = POLL.c.destination == destination
        with self.db.begin() as conn:
            if ok:
                conn.execute(update(POLL).where(at).values(since=since, failed=0))
                conn.execute(update(COPY).where(COPY.c.destination == destination).values(polled_at=now))
            else:
                conn.execute(update(POLL).where(at).values(failed=1))

    def want(self, destinations: Iterable[str], now: float | None = None) -> None:
        """A page found the copy older than 15 minutes: poll these soon (in the background; never now)."""
        when = time.time() if now is None else now
        with self.db.begin() as conn:
            for d in sorted(set(destinations)):
                conn.execute(self.db.insert(POLL).values(destination=d).on_conflict_do_nothing())
                conn.execute(update(POLL).where(POLL.c.destination == d).values(wanted=when))
        if self.wake is not None:
            self.wake.set()

    def save(self, key: str, facts: dict[str, Any], now: float) -> bool:
        """The Task of referral `key` as just read (`facts`: task_facts, with its `message`); whether it changed.
        Read and written under the referral's lock, so two processes saving it at once tell the mirror once."""
        submission, _, recipient = key.rpartition(":")
        at = (COPY.c.submission == submission, COPY.c.recipient == recipient)
        values = {f: facts.get(f) for f in TASK_FIELDS}
        with self.db.begin(write=True) as conn:
            self.db.lock(conn, f"feedback|{key}")
            row = conn.execute(select(*(COPY.c[f] for f in TASK_FIELDS), COPY.c.sent).where(*at)).first()
            if row is None or list(row)[: len(TASK_FIELDS)] == list(values.values()):
                return False
            conn.execute(update(COPY).where(*at).values(**values, changed_at=now))
        if self.mirror is not None:  # the loop's status, outcome code and days to first feedback; never free text
            self.mirror.record_feedback(
                submission,
                recipient,
                status=facts.get("status"),
                outcome=facts.get("outcome"),
                sent=row.sent,
                changed=_epoch(facts.get("last_modified")),
                now=now,
            )
        return True

    def record_task(self, key: str, task: dict[str, Any], *, client=None, now: float | None = None) -> bool:
        """A Task this service just read or changed itself (the practice's cancel, service/referrals/withdraw.py):
        the copy says so at once, not at the next poll. With `client` (its server) the message its output names is
        read; without it, or when that read fails, the message the copy has is kept. Whether the copy changed."""
        when = time.time() if now is None else now
        facts = task_facts(task)
        if client is not None:
            try:
                return self.save(key, _with_message(client, dict(facts)), when)
            except (FhirError, OSError) as exc:  # the change is made; its message comes with the next poll
                log.info("reading a Task's message failed: %s", type(exc).__name__)
        facts.pop("message_ref", None)
        submission, _, recipient = key.rpartition(":")
        with self.db.begin() as conn:
            facts["message"] = conn.execute(
                select(COPY.c.message).where(COPY.c.submission == submission, COPY.c.recipient == recipient)
            ).scalar()
        return self.save(key, facts, when)

    def record_unsent(self, item, recipient: str, reason: str, now: float | None = None) -> None:
        """A referral the practice took back from the outbox before it went (withdraw.py cancel_referral): in the
        copy as cancelled with `reason`, without a Task (the recipient never had it); a row there is replaced."""
        when = time.time() if now is None else now
        practice = next((p for r, p, _ in referrals_of_bundle(item.bundle) if r == recipient), None)
        values: dict[str, Any] = dict.fromkeys((*TASK_FIELDS, "polled_at"))
        values.update(submission=item.submission, recipient=recipient, destination=item.destination or "")
        values.update(practice=practice, sent=when, status="cancelled", reason_text=reason, changed_at=when)
        with self.db.begin() as conn:
            conn.execute(self.db.upsert(COPY, values))
        if self.mirror is not None:  # the event's referral was made and cancelled (docs/mirror-events.md `response`)
            self.mirror.record_feedback(
                item.submission, recipient, status="cancelled", outcome=None, sent=None, now=when
            )

    # ------------------------------------------------------------------ what the pages read

    def _rows(self, *where: Any) -> list[ReferralFeedback]:
        failed = func.coalesce(POLL.c.failed, 0).label("poll_failed")
        joined = COPY.outerjoin(POLL, POLL.c.destination == COPY.c.destination)
        with self.db.begin() as conn:
            rows = conn.execute(select(COPY, failed).select_from(joined).where(*where)).mappings().all()
        known = set(ReferralFeedback.__dataclass_fields__)
        return [
            ReferralFeedback(**{**{k: r[k] for k in known if k in r}, "poll_failed": bool(r["poll_failed"])})
            for r in rows
        ]

    def for_submission(self, submission: str) -> dict[str, ReferralFeedback]:
        """The copy of each referral of one submission, by recipient."""
        return {f.recipient: f for f in self._rows(COPY.c.submission == submission)}

    def for_practice(self, practice: str, *, days: float = 30, now: float | None = None) -> list[ReferralFeedback]:
        """The practice's open referrals and those changed (or sent) in the last `days`, the latest change first."""
        since = (time.time() if now is None else now) - days * 86400
        found = self._rows(
            COPY.c.practice == practice,
            or_(
                COPY.c.status.is_(None),
                COPY.c.status.not_in(sorted(FINAL)),
                func.coalesce(COPY.c.changed_at, COPY.c.sent) >= since,
            ),
        )
        return sorted(found, key=lambda f: f.changed_at or f.sent, reverse=True)

    def stale(self, found: Iterable[ReferralFeedback], now: float | None = None) -> list[str]:
        """The destinations of `found` whose copy is older than 15 minutes (a page asks for their poll)."""
        when = time.time() if now is None else now
        floor = self.min_interval
        return sorted({f.destination for f in found if f.open and when - float(f.polled_at or 0) >= floor})

    def purge(self, now: float | None = None) -> int:
        """Forget referrals older than the form lists them (data minimisation); the number of rows deleted."""
        cutoff = (time.time() if now is None else now) - KEEP_DAYS * 86400
        with self.db.begin() as conn:
            return conn.execute(delete(COPY).where(COPY.c.sent < cutoff)).rowcount


# ---------------------------------------------------------------------------------------------------- polling


def poll_destination(store: FeedbackStore, destination: str, client, now: float | None = None) -> int | None:
    """One poll of one destination, if it may be polled now (None when not: within 15 minutes of the last); the
    number of referrals whose copy changed. A failing server leaves `since` where it was: the next poll asks again."""
    now = time.time() if now is None else now
    since = store.claim(destination, now)
    if since is False:
        return None
    keys = store.keys(destination)
    if since is None:  # the first poll: from the first referral sent there
        since = _iso((store.first_sent(destination) or now) - OVERLAP)
    params = {"identifier": f"{urls.ID_TASK}|", "_lastUpdated": f"gt{since}", "_count": "100"}
    changed = 0
    try:
        page: dict | None = client.search("Task", params)
        server_time = _epoch(((page or {}).get("meta") or {}).get("lastUpdated")) or now
        for _ in range(PAGES_MAX):
            if page is None:
                break
            for entry in page.get("entry") or ():
                task = entry.get("resource") or {}
                key = _task_key(task) if task.get("resourceType") == "Task" else None
                if key in keys:
                    changed += store.save(str(key), _with_message(client, task_facts(task)), now)
            page = client.next_page(page)
    except (FhirError, OSError) as exc:
        log.info("polling the Tasks at %s failed: %s", destination or "default", type(exc).__name__)
        store.polled(destination, now, since=None, ok=False)
        return changed
    store.polled(destination, now, since=_iso(server_time - OVERLAP), ok=True)
    return changed


def _with_message(client, facts: dict[str, Any]) -> dict[str, Any]:
    """The facts with the text of the message the Task's output names (a Communication on the same server)."""
    ref = facts.pop("message_ref", None)
    facts["message"] = None
    parts = ref.split("/") if isinstance(ref, str) else []
    if len(parts) == 2 and parts[0] == "Communication":
        facts["message"] = message_text(client.read("Communication", parts[1]))
    return facts


def poll_due(store: FeedbackStore, delivery, now: float | None = None) -> dict[str, int | None]:
    """Track what was delivered, then poll each destination that is due (FeedbackStore.due): changes per poll."""
    now = time.time() if now is None else now
    store.track(delivery.outbox, now)
    clients = delivery.status_clients
    return {d: poll_destination(store, d, clients[d], now) for d in store.due(clients, now)}


class FeedbackPoller(threading.Thread):
    """The background poll: every `interval` seconds, or at once when a page asks (FeedbackStore.want), it polls
    what is due. A failing round is logged by its exception type only (no health data in logs)."""

    def __init__(self, store: FeedbackStore, delivery, interval: float = 60.0):
        super().__init__(name="ks-feedback-poller", daemon=True)
        self.store, self.delivery, self.interval = store, delivery, interval
        self._stop_event = threading.Event()
        store.wake = self._wake = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                poll_due(self.store, self.delivery)
            except Exception as exc:  # keep the thread alive; the next round tries again
                log.error("feedback poll failed: %s", type(exc).__name__)
            self._wake.wait(self.interval)
            self._wake.clear()

    def start(self) -> FeedbackPoller:  # type: ignore[override]
        super().start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop_event.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout)


def copy_of(store: FeedbackStore, delivery, submission: str) -> dict[str, ReferralFeedback]:
    """What a page shows of one submission, by recipient: the copy (with what was delivered since the poller last
    looked), never a call to a recipient's server; a poll is asked for in the background when it is older than 15
    minutes."""
    store.track(delivery.outbox)
    found = store.for_submission(submission)
    stale = store.stale(found.values())
    if stale:
        store.want(stale)
    return found
