"""The tables of the stores on the storage layer (service/db), as they are after the latest migration; the stores'
statements are written against these. Each store's migrations are one Alembic branch (service/db/migrations,
BRANCHES below: the branch and its head revision, checked against the migrations by tests/test_db.py).

Column types are those the SQLite files had before the storage layer came (TEXT, REAL, INTEGER), so an existing
file is adopted as it is: JSON is kept as text (SQLite's json_extract and PostgreSQL's ::jsonb read into it), times
as epoch seconds (REAL: double precision on PostgreSQL), the audit's `recorded` as ISO 8601 text.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, MetaData, Table, Text

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

EXPIRING = {t.name: t for t in (api_grant, inbox_record, sandbox_grant, sandbox_idp_grant)}
# What the service's role may do on PostgreSQL when the schema has another owner (service/db/migrate.py grants)
APPEND_ONLY = frozenset({"audit"})
