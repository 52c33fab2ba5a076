"""Shared fixtures: the engine over the real questionnaires/ and mappings/, and the Flask app."""

from __future__ import annotations

from pathlib import Path

import pytest

from service import create_app
from service.config import MAPPINGS, QUESTIONNAIRES
from service.referrals.pipeline import Engine


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine.from_folders(QUESTIONNAIRES, MAPPINGS, "maastricht-heuvelland", "test")


@pytest.fixture()
def app(tmp_path):
    return create_app({"TESTING": True, "data_dir": tmp_path})


@pytest.fixture()
def client(app):
    return app.test_client()


class SekmetServers:
    """The one place the tests start sekmet-fhir: each named server once per test run (with the demo data when
    asked), stopped at the end. A server that cannot start fails the test that wanted it, saying why."""

    def __init__(self, tmp_path_factory):
        self._tmp = tmp_path_factory
        self._running: dict[str, object] = {}

    def get(self, name: str, *, demo: bool = False, settings: dict | None = None):
        """The running server `name` (an EmbeddedServer: `.base_url`), started on first use."""
        from service.embedded import EmbeddedServerFailed, start_sekmet
        from service.run import load_demo

        if name not in self._running:
            try:
                server = start_sekmet(self._tmp.mktemp(f"sekmet-{name}"), settings=settings)
            except EmbeddedServerFailed as exc:
                pytest.fail(f"sekmet-fhir ({name}) could not be started: {exc}", pytrace=False)
            self._running[name] = server
            if demo:
                load_demo(server.base_url, "maastricht-heuvelland")
        return self._running[name]

    def stop_all(self) -> None:
        for server in self._running.values():
            server.stop()


@pytest.fixture(scope="session")
def sekmet_servers(tmp_path_factory):
    servers = SekmetServers(tmp_path_factory)
    yield servers
    servers.stop_all()


@pytest.fixture(scope="session")
def sekmet_demo(sekmet_servers):
    """A real sekmet-fhir on loopback with the demo practice, staff, patients and recipients."""
    return sekmet_servers.get("demo", demo=True)


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL for the run (tests/postgres.py), started when a test first asks for it."""
    from tests.postgres import PostgresServer

    server = PostgresServer().start()
    yield server
    server.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """The two engines of the storage layer (service/db): an SQLite file in tmp_path, or a fresh database on the
    run's PostgreSQL. A store test that takes this fixture runs on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    server = request.getfixturevalue("postgres_server")
    return server.dsn(server.new_database())


@pytest.fixture()
def database(database_url):
    """The Database of `database_url` (one per test), its connections closed at the end."""
    from service.db import Database, postgresql_url

    if database_url.startswith("sqlite"):
        db = Database.sqlite(Path(database_url.removeprefix("sqlite:///")))
    else:
        db = Database(postgresql_url(database_url))
    yield db
    db.dispose()
