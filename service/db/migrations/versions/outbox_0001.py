"""outbox: one row per (submission, destination) to push, with its claim (service/outbox/store.py).

Revision ID: outbox_0001
Revises: (a branch's base)

Adopts an outbox.sqlite3 from before the storage layer as it is (its rows kept): the columns added to it over time
(submission, destination) and those of this revision are added when missing; its `lease_owner` is renamed
`claimed_by` (ALTER TABLE … RENAME COLUMN: SQLite 3.25+ and PostgreSQL); `seq`, the order items were enqueued in
(SQLite's rowid before), is filled from the rowid of the rows already there.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import BigInteger, CheckConstraint, Column, Float, Index, Integer, MetaData, Table, Text, inspect

from service.db.migrations.helpers import add_missing_column

revision = "outbox_0001"
down_revision = None
branch_labels = ("outbox",)
depends_on = None


def _table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", Text, primary_key=True),  # <submission>:<destination>
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


def upgrade() -> None:
    bind = op.get_bind()
    table = _table(MetaData())
    table.create(bind, checkfirst=True)  # a new file or database: all of it; an outbox from before: as it is
    columns = {c["name"] for c in inspect(bind).get_columns("outbox")}
    if "lease_owner" in columns and "claimed_by" not in columns:
        op.execute("ALTER TABLE outbox RENAME COLUMN lease_owner TO claimed_by")
    for added in (Column("submission", Text), Column("destination", Text), Column("claimed_by", Text)):
        add_missing_column("outbox", added)
    add_missing_column("outbox", Column("seq", BigInteger))
    if bind.dialect.name == "sqlite":
        op.execute("UPDATE outbox SET seq = rowid WHERE seq IS NULL")
    for index in table.indexes:  # after the columns they are on
        index.create(bind, checkfirst=True)


def downgrade() -> None:
    raise NotImplementedError("the storage layer does not downgrade (restore a backup instead)")
