"""Real FHIR servers on loopback for the contract tests: sekmet-fhir (PyPI) and Medplum's engine (npm).

Each is started once per session by the fixture and stopped at the end. A server that cannot start
fails the tests that need it, with the reason: these tests exist to talk to real servers, so they
never skip.
"""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

MEDPLUM_DIR = Path(__file__).parent / "medplum"
STARTUP_TIMEOUT = 30.0
SERVERS = ["sekmet", "medplum"]


@pytest.fixture(scope="session", params=SERVERS)
def fhir_base_url(request, tmp_path_factory) -> Iterator[str]:
    """Base URL of a freshly started FHIR server; the tests using it run once per server."""
    if request.param == "sekmet":
        yield from _sekmet(request)
    else:
        yield from _medplum(tmp_path_factory)


@pytest.fixture
def fhir_server_name(request, fhir_base_url) -> str:
    """Which server `fhir_base_url` is, for the few explicit per-server branches."""
    return request.node.callspec.params["fhir_base_url"]


def _sekmet(request) -> Iterator[str]:
    yield request.getfixturevalue("sekmet_servers").get("contract").base_url


def _medplum(tmp_path_factory) -> Iterator[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Medplum contract server needs Node.js >= 20 (`node` is not on PATH)", pytrace=False)
    _ensure_medplum_installed()
    log_path = tmp_path_factory.mktemp("medplum") / "medplum.log"
    with open(log_path, "wb") as stderr:
        process = subprocess.Popen(
            [node, "server.mjs", "0"],
            cwd=MEDPLUM_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    try:
        yield _wait_for_ready_line(process, log_path)
    finally:
        _stop(process)
        if process.stdout:
            process.stdout.close()


def _ensure_medplum_installed() -> None:
    """`npm ci` from the committed package-lock.json when node_modules is missing (about 2 s)."""
    if (MEDPLUM_DIR / "node_modules" / "@medplum" / "fhir-router" / "package.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail(
            "Medplum packages are not installed and `npm` is not on PATH: run `npm ci --prefix tests/contract/medplum`",
            pytrace=False,
        )
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=MEDPLUM_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NODE_ENV": "production"},
    )
    if result.returncode != 0:
        pytest.fail(f"`npm ci` in {MEDPLUM_DIR} failed ({result.returncode}):\n{result.stderr[-3000:]}", pytrace=False)


def _wait_for_ready_line(process: subprocess.Popen, log_path: Path) -> str:
    """Read stdout until 'medplum-fhir ready <url>'; fail with the stderr tail otherwise."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    buffer = b""
    try:
        while time.monotonic() < deadline:
            if selector.select(timeout=0.2):
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:  # stdout closed: the process is gone
                    break
                buffer += chunk
                for line in buffer.decode(errors="replace").splitlines():
                    if line.startswith("medplum-fhir ready "):
                        return line.split(" ", 2)[2].strip()
            elif process.poll() is not None:
                break
    finally:
        selector.close()
    process.poll()
    _stop(process)
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
    state = f"exited with code {process.returncode}" if process.returncode is not None else "timed out"
    pytest.fail(
        f"Medplum contract server (node {MEDPLUM_DIR / 'server.mjs'}) did not become ready within "
        f"{STARTUP_TIMEOUT:.0f} s ({state}). stdout: {buffer.decode(errors='replace')[-500:]!r}\nstderr:\n{tail}",
        pytrace=False,
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
