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
15-minute floor holds across worker processes: a poll is claimed in SQLite before it is made.
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

from service.fhir import urls
from service.fhir.errors import FhirError
from service.referrals.bundle import recipient_of
from service.storage import SQLiteFile

if TYPE_CHECKING:
    from service.mirror.events import EventStore

log = logging.getLogger(__name__)

MIN_INTERVAL = 15 * 60  # never more often per destination (Gravity)
MAX_INTERVAL = 60 * 60  # at least this often (Gravity)
OVERLAP = 60  # seconds the next search reaches back before the previous one (clock skew, commits in flight)
KEEP_DAYS = 3 * 365  # as the form's referral log (service/web/store.py)
PAGES_MAX = 50  # searchset pages per poll (100 Tasks each)
FINAL = ("cancelled", "completed", "rejected", "failed", "entered-in-error")

SCHEMA = """
CREATE TABLE IF NOT EXISTS referral_feedback (
    submission TEXT NOT NULL, recipient TEXT NOT NULL, destination TEXT NOT NULL, practice TEXT,
    sent REAL NOT NULL, task_id TEXT, status TEXT, business TEXT, business_text TEXT, reason TEXT, reason_text TEXT,
    outcome TEXT, outcome_text TEXT, message TEXT, worked_by TEXT, last_modified TEXT, polled_at REAL,
    changed_at REAL, PRIMARY KEY (submission, recipient));
CREATE INDEX IF NOT EXISTS referral_feedback_practice ON referral_feedback (practice, changed_at);
CREATE TABLE IF NOT EXISTS feedback_poll (
    destination TEXT PRIMARY KEY, polled_at REAL NOT NULL DEFAULT 0, since TEXT, wanted REAL,
    failed INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS feedback_cursor (id INTEGER PRIMARY KEY CHECK (id = 1), delivered_after TEXT);
"""
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
        "business": _code(business, urls.CS_TASK_BUSINESS_STATUS),
        "business_text": business.get("text"),
        "reason": _code(reason, urls.CS_DECLINE_REASON),
        "reason_text": reason.get("text"),
        "outcome": None,
        "outcome_text": None,
        "message_ref": None,
        "worked_by": None,
        "last_modified": task.get("lastModified") or (task.get("meta") or {}).get("lastUpdated"),
    }
    for out in task.get("output") or ():
        kind = _code(out.get("type"), urls.CS_TASK_OUTPUT)
        if kind == "outcome" and isinstance(out.get("valueCodeableConcept"), dict):
            facts["outcome"] = _code(out["valueCodeableConcept"], urls.CS_TASK_OUTCOME)
            facts["outcome_text"] = out["valueCodeableConcept"].get("text")
        elif kind == "message" and isinstance(out.get("valueReference"), dict):
            facts["message_ref"] = out["valueReference"].get("reference")
    for ext in task.get("extension") or ():
        if ext.get("url") == urls.EXT_TASK_ASSIGNEE and isinstance(ext.get("valueReference"), dict):
            facts["worked_by"] = ext["valueReference"].get("display")
    return facts


def _code(concept: Any, system: str) -> str | None:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    return next((c.get("code") for c in codings or () if isinstance(c, dict) and c.get("system") == system), None)


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
    """The copy (one SQLite file under KS_DATA_DIR). `wake`: set by a running poller, so a page can ask for a poll."""

    def __init__(self, path: Path):
        self._db = SQLiteFile(path)
        self._db.conn().executescript(SCHEMA)
        self.wake: threading.Event | None = None
        self.mirror: EventStore | None = None  # the mirror events (service/mirror/events.py): told of changes
        # the floor between two polls of a destination: Gravity's 15 minutes (KS_FEEDBACK_MIN_INTERVAL, which only
        # development and tests may lower: service/config.py)
        self.min_interval: float = MIN_INTERVAL

    # ------------------------------------------------------------------ what was sent

    def track(self, outbox, now: float | None = None) -> int:
        """Every referral delivered since the last call becomes a row, with the status its Task was delivered with;
        the number of rows added."""
        conn = self._db.conn()
        row = conn.execute("SELECT delivered_after FROM feedback_cursor WHERE id = 1").fetchone()
        cursor, added = row[0] if row else None, 0
        while True:
            items = outbox.delivered_since(cursor)
            for item in items:
                sent = _epoch(item.delivered_at) or (time.time() if now is None else now)
                rows = [
                    (item.submission, recipient, item.destination or "", practice, sent, status)
                    for recipient, practice, status in referrals_of_bundle(item.bundle)
                ]
                added += conn.executemany(
                    "INSERT OR IGNORE INTO referral_feedback (submission, recipient, destination, practice, sent, "
                    "status) VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                ).rowcount
            last = items[-1].delivered_at if items else cursor
            if last == cursor or len(items) < 200:
                cursor = last
                break
            cursor = last
        conn.execute("INSERT OR REPLACE INTO feedback_cursor (id, delivered_after) VALUES (1, ?)", (cursor,))
        return added

    def keys(self, destination: str) -> set[str]:
        rows = self._db.conn().execute(
            "SELECT submission, recipient FROM referral_feedback WHERE destination = ?", (destination,)
        )
        return {f"{r[0]}:{r[1]}" for r in rows}

    def first_sent(self, destination: str) -> float | None:
        return (
            self._db.conn()
            .execute("SELECT min(sent) FROM referral_feedback WHERE destination = ?", (destination,))
            .fetchone()[0]
        )

    # ------------------------------------------------------------------ the polls

    def poll_state(self, destination: str) -> dict[str, Any]:
        row = (
            self._db.conn()
            .execute("SELECT polled_at, since, wanted, failed FROM feedback_poll WHERE destination = ?", (destination,))
            .fetchone()
        )
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
        """Take the poll of `destination` (False when polled within 15 minutes, by any process); its `since`."""
        conn = self._db.conn()
        conn.execute("INSERT OR IGNORE INTO feedback_poll (destination) VALUES (?)", (destination,))
        taken = conn.execute(
            "UPDATE feedback_poll SET polled_at = ?, wanted = NULL WHERE destination = ? AND polled_at <= ?",
            (now, destination, now - self.min_interval),
        ).rowcount
        if not taken:
            return False
        return self.poll_state(destination)["since"]

    def polled(self, destination: str, now: float, *, since: str | None, ok: bool) -> None:
        """The poll's end: on success the next `since` and every row of the destination marked as checked."""
        conn = self._db.conn()
        if ok:
            conn.execute("UPDATE feedback_poll SET since = ?, failed = 0 WHERE destination = ?", (since, destination))
            conn.execute("UPDATE referral_feedback SET polled_at = ? WHERE destination = ?", (now, destination))
        else:
            conn.execute("UPDATE feedback_poll SET failed = 1 WHERE destination = ?", (destination,))

    def want(self, destinations: Iterable[str], now: float | None = None) -> None:
        """A page found the copy older than 15 minutes: poll these soon (in the background; never now)."""
        when = time.time() if now is None else now
        conn = self._db.conn()
        for d in set(destinations):
            conn.execute("INSERT OR IGNORE INTO feedback_poll (destination) VALUES (?)", (d,))
            conn.execute("UPDATE feedback_poll SET wanted = ? WHERE destination = ?", (when, d))
        if self.wake is not None:
            self.wake.set()

    def save(self, key: str, facts: dict[str, Any], now: float) -> bool:
        """The Task of referral `key` as just read (`facts`: task_facts, with its `message`); whether it changed."""
        submission, _, recipient = key.rpartition(":")
        conn = self._db.conn()
        row = conn.execute(
            f"SELECT {', '.join(TASK_FIELDS)}, sent FROM referral_feedback WHERE submission = ? AND recipient = ?",
            (submission, recipient),
        ).fetchone()
        if row is None:
            return False
        values = [facts.get(f) for f in TASK_FIELDS]
        if list(row)[: len(TASK_FIELDS)] == values:
            return False
        conn.execute(
            f"UPDATE referral_feedback SET {', '.join(f'{f} = ?' for f in TASK_FIELDS)}, changed_at = ? "
            "WHERE submission = ? AND recipient = ?",
            (*values, now, submission, recipient),
        )
        if self.mirror is not None:  # the loop's status, outcome code and days to first feedback; never free text
            self.mirror.record_feedback(
                submission,
                recipient,
                status=facts.get("status"),
                outcome=facts.get("outcome"),
                sent=row["sent"],
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
        row = (
            self._db.conn()
            .execute(
                "SELECT message FROM referral_feedback WHERE submission = ? AND recipient = ?", (submission, recipient)
            )
            .fetchone()
        )
        facts["message"] = row[0] if row else None
        return self.save(key, facts, when)

    def record_unsent(self, item, recipient: str, reason: str, now: float | None = None) -> None:
        """A referral the practice took back from the outbox before it went (withdraw.py cancel_referral): in the
        copy as cancelled with `reason`, without a Task (the recipient never had it)."""
        when = time.time() if now is None else now
        practice = next((p for r, p, _ in referrals_of_bundle(item.bundle) if r == recipient), None)
        self._db.conn().execute(
            "INSERT OR REPLACE INTO referral_feedback (submission, recipient, destination, practice, sent, status, "
            "reason_text, changed_at) VALUES (?, ?, ?, ?, ?, 'cancelled', ?, ?)",
            (item.submission, recipient, item.destination or "", practice, when, reason, when),
        )

    # ------------------------------------------------------------------ what the pages read

    def _rows(self, where: str, args: tuple) -> list[ReferralFeedback]:
        rows = (
            self._db.conn()
            .execute(
                "SELECT f.*, COALESCE(p.failed, 0) AS poll_failed FROM referral_feedback f "
                f"LEFT JOIN feedback_poll p ON p.destination = f.destination WHERE {where}",
                args,
            )
            .fetchall()
        )
        known = set(ReferralFeedback.__dataclass_fields__)
        out = []
        for r in rows:
            values: dict[str, Any] = {k: r[k] for k in known if k in r.keys()}  # noqa: SIM118 - a sqlite3.Row
            out.append(ReferralFeedback(**{**values, "poll_failed": bool(values.get("poll_failed"))}))
        return out

    def for_submission(self, submission: str) -> dict[str, ReferralFeedback]:
        """The copy of each referral of one submission, by recipient."""
        return {f.recipient: f for f in self._rows("f.submission = ?", (submission,))}

    def for_practice(self, practice: str, *, days: float = 30, now: float | None = None) -> list[ReferralFeedback]:
        """The practice's open referrals and those changed (or sent) in the last `days`, the latest change first."""
        since = (time.time() if now is None else now) - days * 86400
        marks = ", ".join("?" * len(FINAL))
        found = self._rows(
            f"f.practice = ? AND (f.status IS NULL OR f.status NOT IN ({marks}) OR COALESCE(f.changed_at, f.sent) >= ?)",
            (practice, *FINAL, since),
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
        return self._db.conn().execute("DELETE FROM referral_feedback WHERE sent < ?", (cutoff,)).rowcount


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
        comm = client.read("Communication", parts[1])
        texts = [p.get("contentString") for p in comm.get("payload") or () if isinstance(p, dict)]
        facts["message"] = "\n".join(t for t in texts if isinstance(t, str)) or None
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
