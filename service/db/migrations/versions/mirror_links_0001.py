"""mirror_links: the links from a referral to its mirror event (service/mirror/events.py), never in the events' own
file on SQLite (mirror-links.sqlite3).

Revision ID: mirror_links_0001
Revises: (a branch's base)
"""

from __future__ import annotations

from sqlalchemy import Column, Float, MetaData, Table, Text

from service.db.migrations.helpers import create_missing

revision = "mirror_links_0001"
down_revision = None
branch_labels = ("mirror_links",)
depends_on = None


def upgrade() -> None:
    create_missing(
        Table(
            "mirror_link",
            MetaData(),
            Column("submission", Text, primary_key=True),
            Column("recipient", Text, primary_key=True),
            Column("event", Text, nullable=False),
            Column("expires", Float, nullable=False),
        )
    )


def downgrade() -> None:
    raise NotImplementedError("the storage layer does not downgrade (restore a backup instead)")
