"""What the first revisions share: create what is missing, so a store's file from before the storage layer (made by
CREATE TABLE IF NOT EXISTS) is adopted as it is. A revision's tables are its own (frozen here, not imported from
service/db/schema.py, which follows the latest revision)."""

from __future__ import annotations

from alembic import op
from sqlalchemy import Column, Float, MetaData, Table, Text, inspect


def create_missing(*tables: Table) -> None:
    """Each table (and its indexes) unless it is there."""
    bind = op.get_bind()
    for table in tables:
        table.create(bind, checkfirst=True)
        for index in table.indexes:
            index.create(bind, checkfirst=True)


def add_missing_column(table: str, column: Column) -> None:
    if column.name not in {c["name"] for c in inspect(op.get_bind()).get_columns(table)}:
        op.add_column(table, column)


def expiring(metadata: MetaData, name: str) -> Table:
    """service/storage.py ExpiringRecords' table."""
    return Table(
        name,
        metadata,
        Column("kind", Text, primary_key=True),
        Column("key", Text, primary_key=True),
        Column("data", Text, nullable=False),
        Column("expires", Float, nullable=False),
    )


def record_table(metadata: MetaData, name: str, key: str, stamp: str) -> Table:
    """A JSON record by one key, with when it was written (sessions, forms)."""
    return Table(
        name,
        metadata,
        Column(key, Text, primary_key=True),
        Column("data", Text, nullable=False),
        Column(stamp, Float, nullable=False),
    )
