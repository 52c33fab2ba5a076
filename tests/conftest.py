"""Shared fixtures: the engine over the real questionnaires/ and mappings/, and the Flask app."""

from __future__ import annotations

from pathlib import Path

import pytest

from service import create_app
from service.referrals.pipeline import Engine

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine.from_folders(ROOT / "questionnaires", ROOT / "mappings", "maastricht-heuvelland", "test")


@pytest.fixture()
def app(tmp_path):
    return create_app({"TESTING": True, "data_dir": tmp_path})


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def sekmet_demo(tmp_path_factory):
    """A real sekmet-fhir on loopback with the demo practice, staff, patients and recipients."""
    from service.embedded import EmbeddedServerFailed, start_sekmet
    from service.run import load_demo

    try:
        server = start_sekmet(tmp_path_factory.mktemp("sekmet-demo"))
    except EmbeddedServerFailed as exc:
        pytest.fail(f"sekmet-fhir could not be started: {exc}", pytrace=False)
    load_demo(server.base_url, "maastricht-heuvelland")
    yield server
    server.stop()
