"""One storage layer on two engines (issue 16): SQLAlchemy Core 2.x over SQLite (the embedded default, one file per
store under KS_DATA_DIR, mode 0600) or PostgreSQL (KS_DATABASE_URL, psycopg 3; every store in one database, shared
by every instance of the service).

A store asks `database_for(settings, "sessions.sqlite3")` for its Database, declares its tables in
service/db/schema.py and brings its schema up to date with `Database.upgrade("<branch>")` (Alembic, one branch per
store: service/db/migrate.py). Statements are SQLAlchemy Core, the same on both engines; where the engines differ
(an upsert, a lock) the Database says which: `insert` is the dialect's own insert (`on_conflict_do_update`).

Transactions: every unit of work is `with db.begin() as conn:` (one statement or several). On SQLite the service
emits BEGIN itself (the pysqlite driver's own transaction control is off, as SQLAlchemy's SQLite docs recommend,
"Enabling Non-Legacy SQLite Transactional Modes"), BEGIN IMMEDIATE for `begin(write=True)`: a read-then-write takes
the file's write lock first, so two processes never deadlock upgrading a read lock. On PostgreSQL it is READ
COMMITTED; a read-then-write takes `lock(conn, key)` (a transaction-level advisory lock).

Processes: the engine (its connection pool) is made lazily in the process that first uses it; a process forked
after that (gunicorn with --preload) makes its own and leaves the parent's connections alone
(`Engine.dispose(close=False)`, SQLAlchemy's "Using Connection Pools with Multiprocessing or os.fork()").
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
import weakref
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Table, TextClause, create_engine, event
from sqlalchemy import text as sql_text  # not service.texts' text(): SQL
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from service.db.schema import STORE_FILES

if TYPE_CHECKING:
    from service.config import Settings

POSTGRESQL_SCHEMES = ("postgresql", "postgresql+psycopg")


def private_file(path: Path) -> Path:
    """The SQLite file at `path`, created readable by the service's user only (mode 0600) before SQLite opens it
    (SQLite gives its -wal and -shm files the database file's mode): every file holds patient data or tokens."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)  # also a file an older version created with the umask's mode
    except OSError:
        pass  # e.g. a read-only mount: SQLite reports what matters when it opens the file
    return path


def postgresql_url(url: str) -> str:
    """`postgresql://…` as SQLAlchemy's psycopg 3 URL (`postgresql+psycopg://…`); ValueError for another scheme."""
    parsed = make_url(url)
    if parsed.drivername not in POSTGRESQL_SCHEMES:
        raise ValueError(f"not a postgresql:// URL (scheme {parsed.drivername!r})")
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


class Database:
    """One database: an SQLite file, or a PostgreSQL database (with, optionally, the owner's URL migrations run
    with: service/db/migrate.py)."""

    def __init__(self, url: str, *, owner_url: str | None = None, synchronous: str = "NORMAL"):
        self.url = url
        self.owner_url = owner_url
        self.synchronous = synchronous
        self.is_postgresql = url.startswith("postgresql")
        self.path = None if self.is_postgresql else Path(make_url(url).database or "")
        self._engine: Engine | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self.upgraded: set[str] = set()  # the branches brought up to date by this process
        self._local = threading.local()  # read_one's SQLite connection of each thread

    @classmethod
    def sqlite(cls, path: Path, synchronous: str = "NORMAL") -> Database:
        return cls(f"sqlite:///{private_file(path)}", synchronous=synchronous)

    def __repr__(self) -> str:  # never the password
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"

    @property
    def engine(self) -> Engine:
        engine = self._engine
        if engine is None or self._pid != os.getpid():
            with self._lock:
                if self._engine is None or self._pid != os.getpid():
                    if self._engine is not None:  # made by the parent of this forked process: its connections
                        self._engine.dispose(close=False)
                    self._engine, self._pid = make_engine(self.url, self.synchronous), os.getpid()
                    # a Database no longer used (an app gone) closes its connections, in its own process only
                    weakref.finalize(self, _dispose_in, self._engine, self._pid)
                engine = self._engine
        return engine

    def begin(self, *, write: bool = False):
        """A transaction (a context manager giving its Connection): committed at the end, rolled back on an
        exception. `write`: a read-then-write (BEGIN IMMEDIATE on SQLite)."""
        if write and not self.is_postgresql:
            return immediate(self.engine)
        return self.engine.begin()

    def insert(self, table: Table) -> Any:
        """The dialect's INSERT, with `on_conflict_do_update` / `on_conflict_do_nothing`."""
        return (postgresql.insert if self.is_postgresql else sqlite.insert)(table)

    def upsert(self, table: Table, values: dict[str, Any]) -> Any:
        """INSERT, or UPDATE of every other column when a row with the same primary key is there."""
        keys = [c.name for c in table.primary_key.columns]
        stmt = self.insert(table).values(**values)
        changed = {k: stmt.excluded[k] for k in values if k not in keys}
        return stmt.on_conflict_do_update(index_elements=keys, set_=changed)

    def lock(self, conn: Connection, key: str) -> None:
        """Serialise the transactions that read-then-write `key` (PostgreSQL: an advisory lock held until the
        transaction ends; SQLite: BEGIN IMMEDIATE already holds the file's write lock)."""
        if self.is_postgresql:
            conn.execute(sql_text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(key.encode()) - 2**31})

    def upgrade(self, branch: str) -> None:
        """Bring `branch` (a store's tables) up to date, once per process (service/db/migrate.py)."""
        if branch in self.upgraded:
            return
        from service.db.migrate import upgrade

        upgrade(self, [branch])
        self.upgraded.add(branch)

    def read_one(self, sql: str, params: dict[str, Any]) -> Any:
        """The first row of a read on a hot path (a request's session, the live panel's facts), `sql` with
        `:name` parameters: on SQLite through this thread's own driver connection (no pool, no transaction of
        SQLAlchemy's: as cheap as the stores were before the storage layer, benchmarks/form.py), on PostgreSQL
        through the pool."""
        if self.is_postgresql:
            with self.engine.connect() as conn:
                return conn.execute(_text(sql), params).first()
        local = self._local
        raw: sqlite3.Connection | None = getattr(local, "conn", None)
        if raw is None or local.pid != os.getpid():
            raw = local.conn = sqlite3.connect(self.path or "", timeout=30, isolation_level=None)
            local.pid = os.getpid()
            raw.execute("PRAGMA journal_mode=WAL")
        return raw.execute(sql, params).fetchone()

    def dispose(self) -> None:
        """Close this process's connections (e.g. before a fork, or at the end of a test)."""
        if self._engine is not None and self._pid == os.getpid():
            self._engine.dispose()
        self._engine = None


def _dispose_in(engine: Engine, pid: int) -> None:
    if os.getpid() == pid:
        engine.dispose()


@functools.lru_cache(maxsize=64)
def _text(sql: str) -> TextClause:
    return sql_text(sql)


@contextmanager
def immediate(engine: Engine) -> Iterator[Connection]:
    """A read-then-write transaction on `engine`: BEGIN IMMEDIATE on SQLite (make_engine's `_begin`)."""
    with engine.connect() as conn:
        conn.execution_options(ks_write=True)
        with conn.begin():
            yield conn


def make_engine(url: str, synchronous: str = "NORMAL") -> Engine:
    """The engine of `url`, set up for this service (see the module's docstring)."""
    if url.startswith("postgresql"):
        # pre_ping: a connection the server closed (a restart, an idle timeout) is replaced, not handed out
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, record) -> None:
        dbapi_conn.isolation_level = None  # the driver emits no BEGIN of its own: _begin below does
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("ks_write") else "BEGIN")

    return engine


_shared: weakref.WeakValueDictionary[tuple[str, str | None, str], Database] = weakref.WeakValueDictionary()
_shared_lock = threading.Lock()


def database_for(settings: Settings, branch: str) -> Database:
    """The database the store of `branch` (service/db/schema.py STORE_FILES) keeps its tables in: KS_DATABASE_URL
    (one PostgreSQL database for every store, one engine per process), or unset, the store's own SQLite file
    under KS_DATA_DIR, as before the storage layer."""
    if settings.database_url:
        url = postgresql_url(settings.database_url)
        owner = postgresql_url(settings.database_owner_url) if settings.database_owner_url else None
        return shared_database(url, owner)
    filename, synchronous = STORE_FILES[branch]
    return shared_database(f"sqlite:///{private_file(Path(settings.data_dir) / filename)}", None, synchronous)


def shared_database(url: str, owner_url: str | None = None, synchronous: str = "NORMAL") -> Database:
    """One Database per URL while anything uses it (the stores of one app share their engine)."""
    key = (url, owner_url, synchronous)
    with _shared_lock:
        found = _shared.get(key)
        if found is None:
            found = _shared[key] = Database(url, owner_url=owner_url, synchronous=synchronous)
        return found


def as_database(where: Path | str | Database, synchronous: str = "NORMAL") -> Database:
    """A store's argument: a Database, or the path of its SQLite file (tests, the benchmarks, older callers)."""
    if isinstance(where, Database):
        return where
    return shared_database(f"sqlite:///{private_file(Path(where))}", None, synchronous)
