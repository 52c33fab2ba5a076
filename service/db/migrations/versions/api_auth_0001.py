"""api_auth: the API's access tokens and the client assertion ids seen (service/api/auth.py).

Revision ID: api_auth_0001
Revises: (a branch's base)
"""

from __future__ import annotations

from sqlalchemy import MetaData

from service.db.migrations.helpers import create_missing, expiring

revision = "api_auth_0001"
down_revision = None
branch_labels = ("api_auth",)
depends_on = None


def upgrade() -> None:
    create_missing(expiring(MetaData(), "api_grant"))


def downgrade() -> None:
    raise NotImplementedError("the storage layer does not downgrade (restore a backup instead)")
