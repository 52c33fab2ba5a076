"""The tables of the stores on the storage layer (service/db), as they are after the latest migration; the stores'
statements are written against these. Each store's migrations are one Alembic branch (service/db/migrations,
BRANCHES below: the branch and its head revision, checked against the migrations by tests/test_db.py).

Column types are those the SQLite files had before the storage layer came (TEXT, REAL, INTEGER), so an existing
file is adopted as it is: JSON is kept as text (SQLite's json_extract and PostgreSQL's ::jsonb read into it), times
as epoch seconds (REAL: double precision on PostgreSQL), the audit's `recorded` as ISO 8601 text.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, Float, Index, Integer, MetaData, Table, Text

metadata = MetaData()

# branch -> its head revision (a new migration of a branch moves its head here too)
BRANCHES = {
    "sessions": "sessions_0001",
    "forms": "forms_0001",
    "audit": "audit_0001",
    "api_auth": "api_auth_0001",
    "api_responses": "api_responses_0001",
    "inbox": "inbox_0001",
    "sandbox": "sandbox_0001",
    "outbox": "outbox_0001",
    "recent": "recent_0001",
    "feedback": "feedback_0001",
    "mirror": "mirror_0001",
    "mirror_links": "mirror_links_0001",
}

# branch -> its SQLite file under KS_DATA_DIR (without KS_DATABASE_URL) and the file's synchronous mode: the audit
# log's rows are on disk when an access ends
STORE_FILES = {
    "sessions": ("sessions.sqlite3", "NORMAL"),
    "forms": ("forms.sqlite3", "NORMAL"),
    "audit": ("audit.sqlite3", "FULL"),
    "api_auth": ("api-auth.sqlite3", "NORMAL"),
    "api_responses": ("api-responses.sqlite3", "NORMAL"),
    "inbox": ("inbox.sqlite3", "NORMAL"),
    "sandbox": ("sandbox.sqlite3", "NORMAL"),
    "outbox": ("outbox.sqlite3", "FULL"),  # committed means on disk before anything is sent: SIGKILL, power loss
    "recent": ("referrals.sqlite3", "NORMAL"),
    "feedback": ("feedback.sqlite3", "NORMAL"),
    "mirror": ("mirror.sqlite3", "NORMAL"),
    "mirror_links": ("mirror-links.sqlite3", "NORMAL"),  # never in the events' file (service/mirror/events.py)
}


def _expiring(name: str) -> Table:
    """Small JSON records by (kind, key) that expire (service/storage.py ExpiringRecords)."""
    return Table(
        name,
        metadata,
        Column("kind", Text, primary_key=True),
        Column("key", Text, primary_key=True),
        Column("data", Text, nullable=False),
        Column("expires", Float, nullable=False),
    )


# sessions (service/smart/session.py)
launch_session = Table(
    "launch_session",
    metadata,
    Column("id", Text, primary_key=True),
    Column("data", Text, nullable=False),
    Column("created", Float, nullable=False),
)
pending_launch = Table(
    "pending_launch",
    metadata,
    Column("state", Text, primary_key=True),
    Column("data", Text, nullable=False),
    Column("created", Float, nullable=False),
)

# forms (service/web/store.py)
form_work = Table(
    "form_work",
    metadata,
    Column("session_id", Text, primary_key=True),
    Column("data", Text, nullable=False),
    Column("updated", Float, nullable=False),
)
form_draft = Table(
    "form_draft",
    metadata,
    Column("patient_key", Text, primary_key=True),
    Column("data", Text, nullable=False),
    Column("updated", Float, nullable=False),
)

# audit (service/audit.py): append-only, see the audit branch's migration
audit = Table(
    "audit",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("recorded", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("event", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("who", Text),
    Column("responsible", Text),
    Column("patient", Text),
    Column("object", Text),
    Column("access_point", Text),
    Column("patient_identifier", Text),
    Index("audit_patient", "patient"),
    Index("audit_patient_identifier", "patient_identifier"),
    sqlite_autoincrement=True,
)

# api_auth (service/api/auth.py)
api_grant = _expiring("api_grant")

# api_responses (service/api/responses.py)
api_response = Table(
    "api_response",
    metadata,
    Column("id", Text, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("callers", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("expires", Float, nullable=False),
)
api_response_version = Table(
    "api_response_version",
    metadata,
    Column("id", Text, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("resource", Text, nullable=False),
)

# inbox (service/inbox/store.py)
inbox_record = _expiring("inbox_record")

# sandbox (service/sandbox/views.py, idp.py)
sandbox_grant = _expiring("sandbox_grant")
sandbox_idp_grant = _expiring("sandbox_idp_grant")
sandbox_key = Table(
    "sandbox_key",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("jwk", Text, nullable=False),
)

# recent (service/referrals/recent.py): `ordinal`, a referral's place in its submission (the file's rowid before)
recent_referral = Table(
    "recent_referral",
    metadata,
    Column("patient_key", Text, primary_key=True),
    Column("submission", Text, primary_key=True),
    Column("recipient", Text, primary_key=True),
    Column("names", Text, nullable=False),
    Column("via", Text, nullable=False),
    Column("sent", Float, nullable=False),
    Column("ordinal", Integer, nullable=False, server_default="0"),
    Index("recent_referral_sent", "patient_key", "sent"),
)

# feedback (service/referrals/feedback.py)
referral_feedback = Table(
    "referral_feedback",
    metadata,
    Column("submission", Text, primary_key=True),
    Column("recipient", Text, primary_key=True),
    Column("destination", Text, nullable=False),
    Column("practice", Text),
    Column("sent", Float, nullable=False),
    *(Column(name, Text) for name in ("task_id", "status", "business", "business_text", "reason", "reason_text")),
    *(Column(name, Text) for name in ("outcome", "outcome_text", "message", "worked_by", "last_modified")),
    Column("polled_at", Float),
    Column("changed_at", Float),
    Index("referral_feedback_practice", "practice", "changed_at"),
)
feedback_poll = Table(
    "feedback_poll",
    metadata,
    Column("destination", Text, primary_key=True),
    Column("polled_at", Float, nullable=False, server_default="0"),
    Column("since", Text),
    Column("wanted", Float),
    Column("failed", Integer, nullable=False, server_default="0"),
)
feedback_cursor = Table(
    "feedback_cursor",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("delivered_after", Text),
)

# mirror (service/mirror/events.py): flags as INTEGER 0/1 (the figures sum them). On SQLite clustered by region,
# quarter and practice (WITHOUT ROWID), so the figures' GROUP BY reads a region's quarters from the table alone.
event = Table(
    "event",
    metadata,
    *(Column(name, Text, primary_key=True) for name in ("region", "quarter", "practice", "phase", "id")),
    Column("level", Text, nullable=False),
    *(Column(name, Integer, nullable=False) for name in ("overridden", "meldcode", "referred")),
    Column("invented", Integer, nullable=False, server_default="0"),
    *(Column(name, Integer, nullable=False) for name in ("vulnerable", "urgent")),
    Index("event_id", "id", unique=True),
    sqlite_with_rowid=False,
)
event_signal = Table(
    "event_signal",
    metadata,
    *(Column(name, Text, primary_key=True) for name in ("region", "quarter", "practice", "signal", "event")),
    Column("referred", Integer, nullable=False),
    Index("event_signal_event", "event"),
    sqlite_with_rowid=False,
)
event_recipient = Table(
    "event_recipient",
    metadata,
    *(Column(name, Text, primary_key=True) for name in ("region", "quarter", "practice", "recipient", "event")),
    Column("external", Integer, nullable=False),
    Column("consent", Text, nullable=False),
    Column("sent", Integer, nullable=False),
    Column("response", Text),
    Column("outcome", Text),
    Column("feedback_days", Integer),
    Index("event_recipient_event", "event", "recipient"),
    sqlite_with_rowid=False,
)

# mirror_links (service/mirror/events.py): the link from a referral to its event, never in the events' file
mirror_link = Table(
    "mirror_link",
    metadata,
    Column("submission", Text, primary_key=True),
    Column("recipient", Text, primary_key=True),
    Column("event", Text, nullable=False),
    Column("expires", Float, nullable=False),
)

# outbox (service/outbox/store.py): one row per (submission, destination); a worker's claim is `claimed_by`
# (host:pid) until `lease_until`; `seq` keeps the order items were enqueued in
outbox = Table(
    "outbox",
    metadata,
    Column("id", Text, primary_key=True),
    Column("submission", Text),
    Column("destination", Text),
    Column("bundle", Text, nullable=False),
    Column("state", Text, CheckConstraint("state IN ('pending', 'delivered', 'dead')"), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt", Float, nullable=False),
    Column("lease_until", Float),
    Column("claimed_by", Text),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("response", Text),
    Column("created_at", Text, nullable=False),
    Column("delivered_at", Text),
    Column("seq", BigInteger),
    Index("outbox_due", "state", "next_attempt"),
    Index("outbox_submission", "submission"),
    Index("outbox_delivered", "state", "delivered_at"),
    Index("outbox_seq", "seq"),
)

EXPIRING = {t.name: t for t in (api_grant, inbox_record, sandbox_grant, sandbox_idp_grant)}
# What the service's role may do on PostgreSQL when the schema has another owner (service/db/migrate.py grants)
APPEND_ONLY = frozenset({"audit"})
