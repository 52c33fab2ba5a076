"""A real PostgreSQL for the tests (issue 16): Debian's `postgresql` package (the Makefile installs it), a cluster made
by `initdb` in a temporary folder, the server on a free loopback port with its socket in that folder, a fresh
database per test that asks, stopped at the end of the run.

PostgreSQL refuses to run as root; as root (CI, this machine) the cluster belongs to `nobody` and `initdb` and
`postgres` run through `runuser -u nobody` (the folder is made outside pytest's own 0700 tmp folders, so that
user can reach it). Missing binaries fail the test that wanted the server, saying so: never a skip.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from service.embedded.sekmet import free_port

SUPERUSER = "postgres"


def binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        pytest.fail(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): `make test` installs Debian's "
            "postgresql package (apt-get install postgresql)",
            pytrace=False,
        )
    return Path(found[-1]).parent


class PostgresServer:
    def __init__(self) -> None:
        self.bin = binaries()
        self.root = Path(tempfile.mkdtemp(prefix="ks-postgres-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._names = itertools.count(1)
        self._proc: subprocess.Popen | None = None
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "nobody", "--"]
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
        self.root.chmod(0o700)

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=120, cwd=self.root)

    def start(self) -> PostgresServer:
        made = self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
            "--no-sync", "--locale=C.UTF-8",
        )  # fmt: skip
        if made.returncode:
            pytest.fail(f"initdb failed: {made.stderr.strip()[-800:]}", pytrace=False)
        return self._launch()

    def restart(self, down: float = 0.0) -> PostgresServer:
        """A fast shutdown (every client disconnected), `down` seconds with no server, then the same cluster again
        on the same port (the fault tests of tests/test_multi_instance.py)."""
        self.stop()
        time.sleep(down)
        return self._launch()

    def _launch(self) -> PostgresServer:
        with open(self.root / "server.log", "ab") as log:  # the child keeps its own copy of the descriptor
            self._proc = subprocess.Popen(
                [*self._as, str(self.bin / "postgres"), "-D", str(self.data), "-k", str(self.root),
                 "-p", str(self.port), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200"],
                stdout=subprocess.DEVNULL, stderr=log, cwd=self.root,
            )  # fmt: skip
        self._wait()
        return self

    def _wait(self, timeout: float = 30) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.dsn("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self._proc is None or self._proc.poll() is not None or time.monotonic() > deadline:
                    log = (self.root / "server.log").read_text(errors="replace")[-800:]
                    pytest.fail(f"PostgreSQL did not start: {log}", pytrace=False)
                time.sleep(0.1)

    def dsn(self, database: str, user: str = SUPERUSER, password: str | None = None) -> str:
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> None:
        """One statement as the superuser, in autocommit (CREATE DATABASE, CREATE ROLE, ...)."""
        import psycopg

        with psycopg.connect(self.dsn(database), autocommit=True) as conn:
            conn.execute(statement)

    def new_database(self, owner: str = SUPERUSER) -> str:
        """A fresh, empty database; its name."""
        name = f"ks_test_{next(self._names)}"
        self.sql(f'CREATE DATABASE {name} OWNER "{owner}"')
        return name

    def stop(self) -> None:
        """A fast shutdown (pg_ctl -m fast: clients are disconnected), then the process is gone."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._run(str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w")
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
