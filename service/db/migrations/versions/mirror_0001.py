"""mirror: the de-identified events behind the mirror figures (service/mirror/events.py, docs/mirror-events.md).

Revision ID: mirror_0001
Revises: (a branch's base)

On SQLite the tables are WITHOUT ROWID, clustered by region, quarter and practice (their primary keys), as the
store made them before the storage layer: the figures' GROUP BY reads one region's quarters in order from the table
alone (benchmarks/report.py). On PostgreSQL the primary key's index serves the same reads.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, Table, Text

from service.db.migrations.helpers import create_missing

revision = "mirror_0001"
down_revision = None
branch_labels = ("mirror",)
depends_on = None


def _keys(*names: str) -> list[Column]:
    return [Column(name, Text, primary_key=True) for name in names]


def _flags(*names: str) -> list[Column]:
    return [Column(name, Integer, nullable=False) for name in names]


def upgrade() -> None:
    metadata = MetaData()
    create_missing(
        Table(
            "event",
            metadata,
            *_keys("region", "quarter", "practice", "phase", "id"),
            Column("level", Text, nullable=False),
            *_flags("overridden", "meldcode", "referred"),
            Column("invented", Integer, nullable=False, server_default="0"),
            *_flags("vulnerable", "urgent"),
            Index("event_id", "id", unique=True),
            sqlite_with_rowid=False,
        ),
        Table(
            "event_signal",
            metadata,
            *_keys("region", "quarter", "practice", "signal", "event"),
            *_flags("referred"),
            Index("event_signal_event", "event"),
            sqlite_with_rowid=False,
        ),
        Table(
            "event_recipient",
            metadata,
            *_keys("region", "quarter", "practice", "recipient", "event"),
            *_flags("external"),
            Column("consent", Text, nullable=False),
            *_flags("sent"),
            Column("response", Text),
            Column("outcome", Text),
            Column("feedback_days", Integer),
            Index("event_recipient_event", "event", "recipient"),
            sqlite_with_rowid=False,
        ),
    )


def downgrade() -> None:
    raise NotImplementedError("the storage layer does not downgrade (restore a backup instead)")
