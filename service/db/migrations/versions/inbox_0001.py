"""inbox: the recipients' inbox sessions and pending sign-ins (service/inbox/store.py).

Revision ID: inbox_0001
Revises: (a branch's base)
"""

from __future__ import annotations

from sqlalchemy import MetaData

from service.db.migrations.helpers import create_missing, expiring

revision = "inbox_0001"
down_revision = None
branch_labels = ("inbox",)
depends_on = None


def upgrade() -> None:
    create_missing(expiring(MetaData(), "inbox_record"))


def downgrade() -> None:
    raise NotImplementedError("the storage layer does not downgrade (restore a backup instead)")
