"""forms: the form's work in progress and the drafts (service/web/store.py); the form's own log of referrals from
before the record of referrals made (service/referrals/recent.py) is dropped, as the store did.

Revision ID: forms_0001
Revises: (a branch's base)
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import MetaData, inspect

from service.db.migrations.helpers import create_missing, record_table

revision = "forms_0001"
down_revision = None
branch_labels = ("forms",)
depends_on = None


def upgrade() -> None:
    metadata = MetaData()
    create_missing(
        record_table(metadata, "form_work", "session_id", "updated"),
        record_table(metadata, "form_draft", "patient_key", "updated"),
    )
    if inspect(op.get_bind()).has_table("referral_log"):
        op.drop_table("referral_log")


def downgrade() -> None:
    raise NotImplementedError("the storage layer does not downgrade (restore a backup instead)")
