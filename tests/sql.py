"""Straight SQL on a store's Database (service/db), either engine: what a test reads behind a store's back, or a row
it makes older. `:name` parameters."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from service.db import Database


def rows(db: Database, sql: str, **params: Any) -> list[dict[str, Any]]:
    with db.begin() as conn:
        return [dict(r) for r in conn.execute(text(sql), params).mappings()]


def value(db: Database, sql: str, **params: Any) -> Any:
    with db.begin() as conn:
        return conn.execute(text(sql), params).scalar()


def execute(db: Database, sql: str, **params: Any) -> int:
    with db.begin() as conn:
        return conn.execute(text(sql), params).rowcount
