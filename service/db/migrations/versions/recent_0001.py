"""recent: the record of referrals made, whichever way they came (service/referrals/recent.py).

Revision ID: recent_0001
Revises: (a branch's base)

A file from before the storage layer (referrals.sqlite3) gets the column `ordinal`, a referral's place among those
of its submission, which the store read from SQLite's rowid before (PostgreSQL has none): the rowid is copied into
it, so "Eerder verwezen" keeps listing an old submission's referrals in the order they were made.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Column, Float, Index, Integer, MetaData, Table, Text, inspect

from service.db.migrations.helpers import create_missing

revision = "recent_0001"
down_revision = None
branch_labels = ("recent",)
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    older = inspect(bind).has_table("recent_referral")
    if older and "ordinal" not in {c["name"] for c in inspect(bind).get_columns("recent_referral")}:
        op.add_column("recent_referral", Column("ordinal", Integer, nullable=False, server_default="0"))
        if bind.dialect.name == "sqlite":
            bind.exec_driver_sql("UPDATE recent_referral SET ordinal = rowid")
    create_missing(
        Table(
            "recent_referral",
            MetaData(),
            Column("patient_key", Text, primary_key=True),
            Column("submission", Text, primary_key=True),
            Column("recipient", Text, primary_key=True),
            Column("names", Text, nullable=False),
            Column("via", Text, nullable=False),
            Column("sent", Float, nullable=False),
            Column("ordinal", Integer, nullable=False, server_default="0"),
            Index("recent_referral_sent", "patient_key", "sent"),
        )
    )


def downgrade() -> None:
    raise NotImplementedError("the storage layer does not downgrade (restore a backup instead)")
