"""Requests gunicorn's own HTTP parser refuses are answered as the app answers its errors: a 4xx with an
OperationOutcome (application/fhir+json), never gunicorn's HTML page (service/gunicorn_conf.py), under the
configuration every gunicorn of this project runs with, sync and threaded workers alike."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gunicorn.http.errors import ConfigurationProblem, InvalidRequestLine, UnsupportedTransferCoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.gunicorn_conf import _lang, error_answer

ROOT = Path(__file__).resolve().parents[2]
CONFIG = "python:service.gunicorn_conf"
VALIDATE = b"POST /fhir/QuestionnaireResponse/$validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n"

# What gunicorn refuses, as raw bytes, with the status it answers.
REFUSED = {
    "request line": (b"GARBAGE\r\n\r\n", 400),
    "method": (b"G@T /fhir/metadata HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "HTTP version": (b"GET /fhir/metadata HTTP/9.9\r\nHost: x\r\n\r\n", 400),
    "NUL in the request line": (b"GET /fhir/\x00 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "header name": (b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n", 400),
    "obsolete folding": (b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400),
    "content length": (b"POST /fhir/metadata HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
    "length and chunked": (
        b"POST /fhir/metadata HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "transfer coding": (b"POST /fhir/metadata HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: br, chunked\r\n\r\n", 400),
    "request line too long": (b"GET /fhir/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "header too large": (b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 9000 + b"\r\n\r\n", 431),
    "too many headers": (
        b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120)) + b"\r\n",
        431,
    ),
    "expectation": (b"POST /fhir/metadata HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 0\r\n\r\n", 417),
    "outside SCRIPT_NAME": (b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nSCRIPT_NAME: /elders\r\n\r\n", 404),
    # Found only when the app reads the body: the app answers it (InputInvalid), not gunicorn.
    "chunk size": (VALIDATE + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _exchange(port: int, raw: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_WR)  # the request ends here: gunicorn sees no more data, waits for none
        answer = b""
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return answer


def _parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    headers = {k.lower(): v for k, v in headers.items()}
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return int(lines[0].split()[1]), headers, body


def _outcome(answer: bytes, status: int) -> dict:
    got, headers, body = _parse(answer)
    assert got == status, answer[:300]
    assert headers["content-type"].split(";")[0] == "application/fhir+json", answer[:300]
    outcome = json.loads(body)
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"], outcome
    return outcome


@pytest.fixture(scope="module", params=["sync", "gthread"])
def server(request, tmp_path_factory):
    """gunicorn with the project's configuration, on a free loopback port."""
    port = _free_port()
    data = tmp_path_factory.mktemp(f"gunicorn-{request.param}")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KS_")},
        "KS_DATA_DIR": str(data),
        "KS_OUTBOX_WORKER": "off",
        "KS_LOG_LEVEL": "WARNING",
    }
    threads = ["--threads", "2"] if request.param == "gthread" else []
    command = [sys.executable, "-m", "gunicorn", "-c", CONFIG, "-w", "1", *threads, "-b", f"127.0.0.1:{port}"]
    log_path = data / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*command, "service:create_app()"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 60
        while b"200 OK" not in _try(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start:\n{log_path.read_text(errors='replace')[-3000:]}", pytrace=False)
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _try(port: int) -> bytes:
    try:
        return _exchange(port, b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n\r\n", timeout=1)
    except OSError:
        return b""


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_gunicorn_refuses_is_a_4xx_operation_outcome(server, case):
    raw, status = REFUSED[case]
    _outcome(_exchange(server, raw), status)


def test_the_answer_is_english_when_the_request_asks_for_it(server):
    """When gunicorn got as far as the headers (a bad Content-Length is found after them)."""
    raw = b"POST /fhir/metadata HTTP/1.1\r\nHost: x\r\nAccept-Language: en-GB, nl;q=0.5\r\nContent-Length: x\r\n\r\n"
    issue = _outcome(_exchange(server, raw), 400)["issue"][0]
    assert issue["details"]["text"] == "The HTTP request is malformed (InvalidHeader)."
    assert issue["diagnostics"] == "Het HTTP-verzoek is ongeldig (InvalidHeader)."


def test_a_valid_request_still_reaches_the_app(server):
    body = b'{"resourceType": "QuestionnaireResponse", "status": "completed"}'
    raw = VALIDATE + b"Content-Length: %d\r\n\r\n" % len(body) + body
    status, headers, _ = _parse(_exchange(server, raw))
    assert status == 200 and headers["content-type"].startswith("application/fhir+json")
    chunked = VALIDATE + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    assert _parse(_exchange(server, chunked))[0] == 200


# Mutations of a valid request: a byte replaced, inserted or removed anywhere in its head.
_HEAD = VALIDATE + b"Accept: application/fhir+json\r\nContent-Length: 2\r\n\r\n{}"


@settings(derandomize=True, database=None, deadline=None, max_examples=150, suppress_health_check=list(HealthCheck))
@given(
    edits=st.lists(
        st.tuples(
            st.integers(0, len(_HEAD) - 3),
            st.sampled_from(["replace", "insert", "delete"]),
            st.binary(min_size=1, max_size=3),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_mutated_requests_never_get_a_5xx_or_an_html_error_page(server, edits):
    raw = bytearray(_HEAD)
    for at, how, data in edits:
        at = min(at, len(raw) - 1)
        if how == "replace":
            raw[at : at + len(data)] = data
        elif how == "insert":
            raw[at:at] = data
        else:
            del raw[at : at + len(data)]
    answer = _exchange(server, bytes(raw), timeout=3)
    if not answer:
        return  # gunicorn closed the connection without an answer (a request that never ended)
    status, headers, _ = _parse(answer)
    assert status < 500, answer[:300]
    if "server" not in headers:  # gunicorn's own answer (the app's carry Server and Date)
        assert headers["content-type"] == "application/fhir+json", answer[:300]


# ── the answer itself, without a server ───────────────────────────────────────────────────────────────────


def test_an_unknown_transfer_coding_is_400_not_501():
    status, answer = error_answer(501, UnsupportedTransferCoding("gzip"))
    assert status == 400 and answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b'"code": "not-supported"' in answer


def test_a_path_outside_script_name_is_404_and_a_server_failure_stays_500():
    assert error_answer(500, ConfigurationProblem("path"))[0] == 404
    status, answer = error_answer(500, RuntimeError("secret detail"))
    assert status == 500 and b"secret" not in answer and b'"code": "exception"' in answer


def test_the_answer_never_quotes_the_request():
    _, answer = error_answer(400, InvalidRequestLine("GET /fhir/Patient?bsn=999990020"))
    assert b"999990020" not in answer and b"InvalidRequestLine" in answer


class _Req:
    def __init__(self, value):
        self.headers = [("HOST", "x"), ("ACCEPT-LANGUAGE", value)]


@pytest.mark.parametrize(
    "value,lang", [("en", "en"), ("en-US,nl;q=0.9", "en"), ("nl, en", "nl"), ("nl;q=0.1, en;q=0.8", "en"), ("", "nl")]
)
def test_the_language_is_the_first_preference(value, lang):
    assert _lang(_Req(value)) == lang
    assert _lang(None) == "nl"


def test_every_gunicorn_of_the_project_runs_with_the_configuration():
    """The Dockerfile, the compose files, the benchmarks and the tests that run gunicorn: each command line that
    starts gunicorn ("gunicorn", or str(BIN / "gunicorn"), as its first word) names this configuration."""
    files = [ROOT / "Dockerfile", ROOT / "docker-compose.yml", ROOT / "docker-compose.region.yml"]
    files += [*sorted((ROOT / "benchmarks").glob("*.py"))]
    files += [ROOT / "tests" / "browser" / "conftest.py", ROOT / "tests" / "test_region_proxy.py"]
    started = 0
    for path in files:
        text = path.read_text()
        starts = len(re.findall(r'"gunicorn"\)?,', text))
        started += starts
        assert text.count(f'"{CONFIG}"') >= starts, path  # a test may name it once more, in an assertion
    assert started >= 5
