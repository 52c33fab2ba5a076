"""Every SQLite file under KS_DATA_DIR holds patient data or tokens: readable by the service's own user only."""

from __future__ import annotations

import stat

from sqlalchemy import text

from service import create_app
from service.db import Database


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_and_existing_files_and_their_wal_are_private(tmp_path):
    old = tmp_path / "old.sqlite3"
    old.touch(mode=0o644)
    old.chmod(0o644)  # as an earlier version left it
    for path in (tmp_path / "new.sqlite3", old):
        db = Database.sqlite(path)
        with db.begin() as conn:
            conn.execute(text("CREATE TABLE t (x)"))
        assert _mode(path) == 0o600
        assert _mode(path.with_name(path.name + "-wal")) == 0o600  # SQLite copies the database file's mode


def test_every_store_of_the_app_is_private(tmp_path):
    create_app({"TESTING": True, "data_dir": tmp_path, "sandbox": "on"})
    files = sorted(tmp_path.glob("*.sqlite3"))
    assert {f.name for f in files} >= {
        "audit.sqlite3",
        "outbox.sqlite3",
        "sessions.sqlite3",
        "forms.sqlite3",
        "sandbox.sqlite3",
    }
    assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
