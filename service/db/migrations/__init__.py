"""Alembic migrations of the storage layer (service/db/migrate.py): one branch per store, in versions/."""
