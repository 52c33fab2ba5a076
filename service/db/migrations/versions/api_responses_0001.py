"""api_responses: the QuestionnaireResponses submitted through the API, each version (service/api/responses.py).

Revision ID: api_responses_0001
Revises: (a branch's base)
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, Table, Text

from service.db.migrations.helpers import create_missing

revision = "api_responses_0001"
down_revision = None
branch_labels = ("api_responses",)
depends_on = None


def upgrade() -> None:
    metadata = MetaData()
    create_missing(
        Table(
            "api_response",
            metadata,
            Column("id", Text, primary_key=True),
            Column("version", Integer, nullable=False),
            Column("callers", Text, nullable=False),
            Column("data", Text, nullable=False),
            Column("expires", Float, nullable=False),
        ),
        Table(
            "api_response_version",
            metadata,
            Column("id", Text, primary_key=True),
            Column("version", Integer, primary_key=True),
            Column("resource", Text, nullable=False),
        ),
    )


def downgrade() -> None:
    raise NotImplementedError("the storage layer does not downgrade (restore a backup instead)")
