"""Start sekmet-fhir (PyPI, FHIR R4 on FastAPI + SQLite) as a subprocess on 127.0.0.1.

`sekmet serve -c settings.yaml` is `uvicorn.run("sekmet.main:app_factory", factory=True, ...)` after
exporting SEKMET_CONFIG (sekmet/cli.py, 0.1.1). We run that same uvicorn command ourselves so we can pass
`--no-access-log`: uvicorn's access log prints query strings, and searches carry BSNs (DESIGN.md house
rule 7). Settings (sekmet/config.py): base_url, host, port, data_dir (SQLite file data_dir/sekmet.db);
`simulator.enabled: false`, or it completes ServiceRequests and Tasks by itself after two seconds;
`log_inbound: false`, or it stores every request and response body in its traffic log.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from service.errors import StartupError

STARTUP_TIMEOUT = 30.0
LOG_FILE = "sekmet.log"
PRIVATE_UMASK = 0o077  # the server's files: its data are patient data (files 0600, folders 0700)


class EmbeddedServerFailed(StartupError, RuntimeError):
    """The embedded FHIR server could not be started; the message says why (with its stderr tail)."""


@dataclass(frozen=True)
class EmbeddedServer:
    """A FHIR server subprocess we started; `stop()` ends it."""

    base_url: str
    process: subprocess.Popen
    data_dir: Path

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)

    def log_tail(self, lines: int = 30) -> str:
        return _tail(self.data_dir / LOG_FILE, lines)

    def __enter__(self) -> EmbeddedServer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


PORT_ATTEMPTS = 3  # a port of our choosing taken before the server bound it: a new one, this often


def start_sekmet(
    data_dir: Path,
    port: int | None = None,
    *,
    settings: Mapping | None = None,
    timeout: float = STARTUP_TIMEOUT,
) -> EmbeddedServer:
    """Start sekmet-fhir on 127.0.0.1 (a free port unless given: another when it is taken before sekmet binds it)
    with its data in `data_dir`; returns once GET /fhir/metadata answers 200. `settings` adds to or overrides the
    generated settings.yaml (e.g. `server_auth` for SMART Backend Services)."""
    if importlib.util.find_spec("sekmet") is None:
        raise EmbeddedServerFailed(
            "sekmet-fhir is not installed: pip install -e '.[embedded]' (or pip install sekmet-fhir==0.1.1)"
        )
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    restrict(data_dir)  # what an earlier run (or an older version) left readable to others
    if port is not None:
        return _start_on(data_dir, port, settings, timeout)
    for _ in range(PORT_ATTEMPTS - 1):
        # a free port found here can be taken before sekmet binds it (by any socket's ephemeral port): then another
        try:
            return _start_on(data_dir, free_port(), settings, timeout)
        except EmbeddedServerFailed as exc:
            if "address already in use" not in str(exc):
                raise
    return _start_on(data_dir, free_port(), settings, timeout)


def _start_on(data_dir: Path, port: int, settings: Mapping | None, timeout: float) -> EmbeddedServer:
    base_url = f"http://127.0.0.1:{port}/fhir"
    config_path = _write_settings(data_dir, base_url, port, settings)
    process = _spawn(data_dir, port, config_path)
    server = EmbeddedServer(base_url, process, data_dir)
    try:
        _wait_for_metadata(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _write_settings(data_dir: Path, base_url: str, port: int, settings: Mapping | None) -> Path:
    """sekmet's settings.yaml (0600): loopback, no simulator, no inbound logging, plus `settings`."""
    config = {
        "base_url": base_url,
        "host": "127.0.0.1",
        "port": port,
        "data_dir": str(data_dir),
        "simulator": {"enabled": False},
        "log_inbound": False,
        **dict(settings or {}),
    }
    config_path = data_dir / "settings.yaml"
    with os.fdopen(os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as f:
        f.write(yaml.safe_dump(config, sort_keys=False))
    return config_path


def _spawn(data_dir: Path, port: int, config_path: Path) -> subprocess.Popen:
    """uvicorn serving sekmet on 127.0.0.1:`port`, without access log (query strings name patients)."""
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "sekmet.main:app_factory",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    env = {**_inherited_env(), "SEKMET_CONFIG": str(config_path)}
    with os.fdopen(os.open(data_dir / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as log_file:
        # cwd = data_dir: sekmet resolves keys/, reports/ and scenarios/ relative to the working directory.
        # umask 077: the patient data it writes (sekmet.db and its -wal/-shm, keys, reports) is the service
        # user's only, files 0600 and folders 0700.
        return subprocess.Popen(
            command,
            cwd=data_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            umask=PRIVATE_UMASK,
        )


def restrict(folder: Path) -> None:
    """`folder` and everything in it readable by the service's user only: folders 0700, files 0600 (symbolic
    links are left alone, not followed)."""
    os.chmod(folder, 0o700)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o700)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o600)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_metadata(server: EmbeddedServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_problem = "no answer yet"
    with requests.Session() as session:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise EmbeddedServerFailed(
                    f"sekmet-fhir exited with code {server.process.returncode} before answering "
                    f"{server.base_url}/metadata. Its output:\n{server.log_tail()}"
                )
            try:
                response = session.get(f"{server.base_url}/metadata", timeout=(0.5, 2))
                if response.status_code == 200:
                    return
                last_problem = f"HTTP {response.status_code}"
            except requests.RequestException as exc:
                last_problem = type(exc).__name__
            time.sleep(0.1)
    raise EmbeddedServerFailed(
        f"sekmet-fhir did not answer {server.base_url}/metadata within {timeout:.0f} s "
        f"(last: {last_problem}). Its output:\n{server.log_tail()}"
    )


def _inherited_env() -> dict[str, str]:
    # No SEKMET_* from the caller's environment: they override settings.yaml (sekmet/config.py).
    return {k: v for k, v in os.environ.items() if not k.startswith("SEKMET_")}


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no output captured)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"
