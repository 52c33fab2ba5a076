"""feedback: the practice's copy of where each referral stands at its recipient, and the polls of the destinations
(service/referrals/feedback.py).

Revision ID: feedback_0001
Revises: (a branch's base)
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Float, Index, Integer, MetaData, Table, Text

from service.db.migrations.helpers import create_missing

revision = "feedback_0001"
down_revision = None
branch_labels = ("feedback",)
depends_on = None

TASK_TEXTS = ("task_id", "status", "business", "business_text", "reason", "reason_text", "outcome", "outcome_text")


def upgrade() -> None:
    metadata = MetaData()
    create_missing(
        Table(
            "referral_feedback",
            metadata,
            Column("submission", Text, primary_key=True),
            Column("recipient", Text, primary_key=True),
            Column("destination", Text, nullable=False),
            Column("practice", Text),
            Column("sent", Float, nullable=False),
            *(Column(name, Text) for name in (*TASK_TEXTS, "message", "worked_by", "last_modified")),
            Column("polled_at", Float),
            Column("changed_at", Float),
            Index("referral_feedback_practice", "practice", "changed_at"),
        ),
        Table(
            "feedback_poll",
            metadata,
            Column("destination", Text, primary_key=True),
            Column("polled_at", Float, nullable=False, server_default="0"),
            Column("since", Text),
            Column("wanted", Float),
            Column("failed", Integer, nullable=False, server_default="0"),
        ),
        Table(
            "feedback_cursor",
            metadata,
            Column("id", Integer, primary_key=True, autoincrement=False),
            Column("delivered_after", Text),
            CheckConstraint("id = 1"),
        ),
    )


def downgrade() -> None:
    raise NotImplementedError("the storage layer does not downgrade (restore a backup instead)")
