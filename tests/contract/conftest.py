"""Real FHIR servers on loopback for the contract tests: sekmet-fhir (PyPI), Medplum's engine (npm) and the HAPI
FHIR JPA server (Maven Central, tests/contract/hapi; README.md says how they differ).

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
import requests

from service.config import QUESTIONNAIRES

MEDPLUM_DIR = Path(__file__).parent / "medplum"
HAPI_DIR = Path(__file__).parent / "hapi"
STARTUP_TIMEOUT = 30.0
HAPI_STARTUP_TIMEOUT = 300.0  # a JVM with Spring, Hibernate and HAPI on 2 shared cores: 30-60 s, more under load
HAPI_JAVA_OPTIONS = ["-Xmx1g", "-XX:+UseSerialGC"]
SERVERS = ["sekmet", "medplum", "hapi"]


@pytest.fixture(scope="session", params=SERVERS)
def fhir_base_url(request, tmp_path_factory) -> Iterator[str]:
    """Base URL of a freshly started FHIR server; the tests using it run once per server."""
    if request.param == "sekmet":
        yield from _sekmet(request)
    elif request.param == "hapi":
        yield request.getfixturevalue("hapi_base_url")
    else:
        yield from _medplum(tmp_path_factory)


@pytest.fixture(scope="session")
def hapi_base_url(tmp_path_factory) -> Iterator[str]:
    """The HAPI FHIR JPA server (tests/contract/hapi), started once per session, whoever asks first: the contract
    tests through `fhir_base_url`, or those that need HAPI alone (its on-write validation, the compose loader)."""
    java = shutil.which("java")
    if java is None:
        pytest.fail("the HAPI FHIR contract server needs Java 17 (`java` is not on PATH)", pytrace=False)
    _ensure_hapi_built()
    log_path = tmp_path_factory.mktemp("hapi") / "hapi.log"
    command = [java, *HAPI_JAVA_OPTIONS, "-cp", "target/classes:target/lib/*", "nl.kansrijkestart.hapi.HapiTestServer"]
    with open(log_path, "wb") as stderr:
        process = subprocess.Popen(
            [*command, "0", str(QUESTIONNAIRES)],  # port 0: Jetty takes a free one and says which
            cwd=HAPI_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    try:
        base = _wait_for_ready_line(process, log_path, "hapi-fhir ready ", HAPI_STARTUP_TIMEOUT, "HAPI FHIR")
        _wait_for_metadata(base, process, log_path)
        yield base
    finally:
        _stop(process)
        if process.stdout:
            process.stdout.close()


def _ensure_hapi_built() -> None:
    """The Makefile's `hapi-deps` when target/ is missing: Maven fetches into ~/.m2 once, then builds offline."""
    if (HAPI_DIR / "target" / "classes" / "nl" / "kansrijkestart" / "hapi" / "HapiTestServer.class").exists() and (
        HAPI_DIR / "target" / "lib"
    ).is_dir():
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        pytest.fail(
            "the HAPI FHIR contract server is not built and Maven (`mvn`) is not on PATH: install Maven 3 "
            "and run `make hapi-deps`",
            pytrace=False,
        )
    for args in (["-q", "dependency:resolve-plugins", "dependency:resolve"], ["-q", "-o", "package"]):
        result = subprocess.run([mvn, *args], cwd=HAPI_DIR, capture_output=True, text=True, timeout=1200)
        if result.returncode != 0:
            pytest.fail(
                f"`mvn {' '.join(args)}` in {HAPI_DIR} failed ({result.returncode}):\n{result.stdout[-3000:]}",
                pytrace=False,
            )


def _wait_for_metadata(base: str, process: subprocess.Popen, log_path: Path) -> None:
    """The ready line comes once Jetty listens; the tests start once /fhir/metadata answers 200."""
    deadline = time.monotonic() + HAPI_STARTUP_TIMEOUT
    last = ""
    while time.monotonic() < deadline and process.poll() is None:
        try:
            response = requests.get(f"{base}/metadata", timeout=30)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            last = repr(exc)
        time.sleep(0.5)
    _stop(process)
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
    pytest.fail(f"HAPI FHIR at {base} never answered /metadata ({last}).\nstderr:\n{tail}", pytrace=False)


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
        yield _wait_for_ready_line(process, log_path, "medplum-fhir ready ", STARTUP_TIMEOUT, "Medplum")
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


def _wait_for_ready_line(process: subprocess.Popen, log_path: Path, prefix: str, timeout: float, name: str) -> str:
    """Read stdout until '<prefix><url>'; fail with the stderr tail otherwise."""
    deadline = time.monotonic() + timeout
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
                    if line.startswith(prefix):
                        return line.removeprefix(prefix).split()[0]
            elif process.poll() is not None:
                break
    finally:
        selector.close()
    process.poll()
    _stop(process)
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
    state = f"exited with code {process.returncode}" if process.returncode is not None else "timed out"
    pytest.fail(
        f"{name} contract server did not become ready within "
        f"{timeout:.0f} s ({state}). stdout: {buffer.decode(errors='replace')[-500:]!r}\nstderr:\n{tail}",
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
