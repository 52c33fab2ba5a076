"""Schema migrations, versioned with Alembic (service/db/migrations, shipped in the package): one branch per store
(service/db/schema.py BRANCHES), so an SQLite file holds only its own store's tables and version, and a PostgreSQL
database holds every branch's head in one `alembic_version` table.

Applied at start-up (each store upgrades its own branch when it is made) and by `kansrijk db upgrade` (every
branch). Concurrent start-ups are serialised: on PostgreSQL by an advisory lock held by the migrating transaction
(DDL is transactional there), on SQLite by BEGIN IMMEDIATE on the file. A branch already at its head costs one
SELECT and loads no Alembic.

**Files from before the storage layer** (tables made by CREATE TABLE IF NOT EXISTS, no `alembic_version`) are
adopted by migrations written to be idempotent: each first revision creates only the tables, columns, indexes and
triggers that are missing, then Alembic stamps the file. Nothing that was there is changed, except the audit
log's triggers, replaced by the retention-aware ones (service/db/migrations/versions/audit_0001.py).

**Owner and service roles on PostgreSQL.** With KS_DATABASE_OWNER_URL the migrations run as that role (the
schema's owner), and afterwards the service's role (KS_DATABASE_URL's user) is granted what it needs on every
table: SELECT, INSERT, UPDATE, DELETE, but on the audit log SELECT and INSERT only (plus EXECUTE on
`audit_purge()`, the SECURITY DEFINER function that deletes what is past retention). Without it the service's
own role owns its tables: then the audit log's triggers alone keep it append-only (an owner could drop them).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect
from sqlalchemy import text as sql_text  # not service.texts' text(): SQL
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from service.db import Database, immediate, make_engine
from service.db.schema import APPEND_ONLY, BRANCHES, metadata
from service.errors import StartupError

if TYPE_CHECKING:
    from service.config import Settings

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
LOCK_KEY = 0x4B53_0016  # "KS", issue 16: the advisory lock migrations hold on PostgreSQL

# Alembic says at INFO what it sets up and each step it takes: the service says one line per store instead (upgrade).
logging.getLogger("alembic").setLevel(logging.WARNING)


class SchemaBehind(StartupError):
    """The database's schema is older than this version of the service, and the service's role may not migrate."""


def current_heads(conn: Connection) -> set[str]:
    if not inspect(conn).has_table(VERSION_TABLE):
        return set()
    return {r[0] for r in conn.execute(sql_text(f"SELECT version_num FROM {VERSION_TABLE}"))}


def upgrade(db: Database, branches: Iterable[str]) -> list[str]:
    """Bring `branches` to their heads; the branches that needed a migration."""
    wanted = {b: BRANCHES[b] for b in branches}
    with db.begin() as conn:
        heads = current_heads(conn)
    behind = [b for b, head in wanted.items() if head not in heads]
    if not behind:
        return []
    engine = make_engine(db.owner_url, db.synchronous) if db.owner_url else db.engine
    try:
        with _migrating(engine, db) as conn:
            _run_alembic(conn, behind)
            if db.is_postgresql and db.owner_url:
                grant(conn, make_url(db.url).username)
    except SQLAlchemyError as exc:
        if db.is_postgresql and ("permission denied" in str(exc) or "must be owner" in str(exc)):
            raise SchemaBehind(
                f"the database's schema is older than this service ({', '.join(behind)}) and the service's role may "
                "not migrate it: run `kansrijk db upgrade` with KS_DATABASE_OWNER_URL set"
            ) from None
        raise
    finally:
        if engine is not db.engine:
            engine.dispose()
    log.info("storage layer: %s migrated to %s", ", ".join(behind), ", ".join(wanted[b] for b in behind))
    return behind


@contextmanager
def _migrating(engine: Engine, db: Database) -> Iterator[Connection]:
    """One transaction that holds the migration lock (PostgreSQL: advisory; SQLite: BEGIN IMMEDIATE)."""
    with immediate(engine) as conn:
        if db.is_postgresql:
            conn.execute(sql_text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        yield conn


@functools.cache
def _script():
    """The migrations (Alembic's ScriptDirectory), read once per process."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def _run_alembic(conn: Connection, branches: list[str]) -> None:
    """Alembic's `upgrade <branch>@head` for each branch, on `conn` in its transaction (what `alembic upgrade`
    does through an env.py, without one: the service has no alembic.ini)."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    script = _script()
    for branch in branches:
        ctx = MigrationContext.configure(
            connection=conn,
            opts={
                "fn": lambda rev, _ctx, target=f"{branch}@head": script._upgrade_revs(target, rev),
                "transactional_ddl": True,  # SQLite too: the whole upgrade is _migrating's one transaction
            },
        )
        with Operations.context(ctx):
            ctx.run_migrations()


def grant(conn: Connection, role: str | None) -> None:
    """What the service's role may do on the tables there are (module docstring); nothing when it is the owner."""
    owner = conn.execute(sql_text("SELECT current_user")).scalar()
    if not role or role == owner:
        return
    quoted = conn.dialect.identifier_preparer.quote(role)
    conn.execute(sql_text(f"GRANT USAGE ON SCHEMA {_schema(conn)} TO {quoted}"))
    there = set(inspect(conn).get_table_names())
    for table in sorted(there & set(metadata.tables)):
        rights = "SELECT, INSERT" if table in APPEND_ONLY else "SELECT, INSERT, UPDATE, DELETE"
        conn.execute(sql_text(f"GRANT {rights} ON {table} TO {quoted}"))
        conn.execute(sql_text(f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON {table} FROM {quoted}"))
        if table in APPEND_ONLY:
            conn.execute(sql_text(f"REVOKE UPDATE, DELETE ON {table} FROM {quoted}"))
    conn.execute(sql_text(f"GRANT SELECT ON {VERSION_TABLE} TO {quoted}"))
    conn.execute(sql_text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {_schema(conn)} TO {quoted}"))
    if "audit" in there:
        conn.execute(sql_text(f"GRANT EXECUTE ON FUNCTION audit_purge() TO {quoted}"))


def _schema(conn: Connection) -> str:
    return conn.dialect.identifier_preparer.quote(
        conn.execute(sql_text("SELECT current_schema()")).scalar() or "public"
    )


def upgrade_all(db: Database) -> list[str]:
    """Every branch on one database; the branches that needed a migration."""
    return upgrade(db, BRANCHES)


def upgrade_service(settings: Settings) -> list[str]:
    """`kansrijk db upgrade`: every store's branch, in KS_DATABASE_URL's database or each in its SQLite file under
    KS_DATA_DIR; the branches that needed a migration."""
    from service.db import database_for

    if settings.database_url:
        return upgrade_all(database_for(settings, "sessions"))
    return [m for b in BRANCHES for m in upgrade(database_for(settings, b), [b])]
