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
