"""sandbox: the sandbox EHR's grants and id_token key, its identity provider's codes (service/sandbox).

Revision ID: sandbox_0001
Revises: (a branch's base)
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Integer, MetaData, Table, Text

from service.db.migrations.helpers import create_missing, expiring

revision = "sandbox_0001"
down_revision = None
branch_labels = ("sandbox",)
depends_on = None


def upgrade() -> None:
    metadata = MetaData()
    key = Table(
        "sandbox_key",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("jwk", Text, nullable=False),
        CheckConstraint("id = 1"),
    )
    create_missing(expiring(metadata, "sandbox_grant"), expiring(metadata, "sandbox_idp_grant"), key)


def downgrade() -> None:
    raise NotImplementedError("the storage layer does not downgrade (restore a backup instead)")
