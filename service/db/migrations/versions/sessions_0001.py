"""sessions: launch sessions and pending launches (service/smart/session.py).

Revision ID: sessions_0001
Revises: (a branch's base)
"""

from __future__ import annotations

from sqlalchemy import MetaData

from service.db.migrations.helpers import create_missing, record_table

revision = "sessions_0001"
down_revision = None
branch_labels = ("sessions",)
depends_on = None


def upgrade() -> None:
    metadata = MetaData()
    create_missing(
        record_table(metadata, "launch_session", "id", "created"),
        record_table(metadata, "pending_launch", "state", "created"),
    )


def downgrade() -> None:
    raise NotImplementedError("the storage layer does not downgrade (restore a backup instead)")
