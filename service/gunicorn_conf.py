"""gunicorn's configuration for this service, wherever gunicorn runs it (the Dockerfile, docker-compose.yml, the
benchmarks, the browser tests): `gunicorn -c python:service.gunicorn_conf "service:create_app()"`.

A request gunicorn's own HTTP parser refuses (a malformed request line, method or HTTP version, an invalid
header name or value, headers or a request line too long, a bad chunk, an unknown Transfer-Encoding, ...)
never reaches the app: gunicorn answers it itself, with an HTML page. Here every worker answers it as the app
answers its own errors (service/errors_render.py): an OperationOutcome, `application/fhir+json`, Dutch
`diagnostics`, `details.text` in English when the request's Accept-Language asks for it first.

gunicorn still chooses the status and logs the request as before (its `handle_error` runs, writing to a stand-in
socket); only the answer written to the client is ours. One status is changed: an unknown Transfer-Encoding is
400 (not-supported), not 501 — it is the client's request that cannot be read, and a 5xx would say the service
failed. A genuine server-side failure stays 500, as an OperationOutcome without details.

A request path outside SCRIPT_NAME (set by a trusted proxy) is 404, not gunicorn's 500: the path is not the app's.

A chunked body gunicorn cannot parse (a bad chunk size, a missing terminator) is found only while the app reads
it: the app's `wsgi.input` turns those errors into InputInvalid, so the app answers them as a 400 like any
other unreadable body (gunicorn's own, unexpected error, rendered as a 500, otherwise).

The hook (`post_worker_init`) mixes `OperationOutcomeErrors` into whatever worker class gunicorn picked (sync,
gthread with --threads, or -k ...), so no command line has to name a worker class, and wraps the app.
"""

from __future__ import annotations

import json
import re

from gunicorn import util
from gunicorn.http.errors import ConfigurationProblem, ParseException

from service.errors import InputInvalid, Issue, operation_outcome
from service.errors_render import accept_language
from service.texts import texts

FHIR_JSON = "application/fhir+json"
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) ([^\r\n]*)\r\n")
# gunicorn's status -> (issue code, text); 400 and 403 name gunicorn's reason (the exception's class).
_ISSUES = {
    400: ("structure", "http.400"),
    403: ("security", "http.403"),
    414: ("too-long", "http.414"),
    417: ("not-supported", "http.417"),
    431: ("too-long", "http.431"),
}


class _Recorder:
    """Stands in for the client's socket while gunicorn handles the error: keeps what gunicorn would send."""

    def __init__(self) -> None:
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0

    def setblocking(self, flag: bool) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        self.data += data

    def send(self, data: bytes) -> int:
        self.data += data
        return len(data)


def _lang(req) -> str:
    """The language of the answer, as the app's own errors choose it; Dutch when gunicorn did not get as far as
    the headers."""
    headers = getattr(req, "headers", None) or ()
    return accept_language(next((v for name, v in headers if name == "ACCEPT-LANGUAGE"), None))


def error_answer(status: int, exc: BaseException, req=None) -> tuple[int, bytes]:
    """The status and the HTTP/1.1 answer (an OperationOutcome) for a request gunicorn answered with `status`."""
    kind = type(exc).__name__
    if isinstance(exc, ConfigurationProblem):  # the path is outside SCRIPT_NAME: not the app's
        status, code, text = 404, "not-found", texts("http.404")
    elif status == 501:  # UnsupportedTransferCoding
        status, code, text = 400, "not-supported", texts("http.transfer_coding")
    elif status in _ISSUES:
        code, key = _ISSUES[status]
        text = texts(key, kind=kind) if status in (400, 403) else texts(key)
    elif 400 <= status < 500:
        code, text = "invalid", texts("http.400", kind=kind)
    else:
        code, text = "exception", texts("http.unexpected")
    lang = _lang(req or getattr(exc, "req", None))  # gunicorn keeps the request read so far on some errors
    body = json.dumps(operation_outcome([Issue.of(text, code=code)], lang), ensure_ascii=False).encode()
    reason = _REASONS.get(status, "Error")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: {FHIR_JSON}\r\n"
        f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n\r\n"
    )
    return status, head.encode("latin-1") + body


_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    414: "URI Too Long",
    417: "Expectation Failed",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}


class OperationOutcomeErrors:
    """A gunicorn worker mixin: the errors gunicorn answers itself, as OperationOutcomes."""

    def handle_error(self, req, client, addr, exc):
        recorder = _Recorder()
        super().handle_error(req, recorder, addr, exc)  # gunicorn's status, logging, access log
        found = _STATUS_LINE.match(recorder.data)
        if not found:
            return
        _, answer = error_answer(int(found.group(1)), exc, req)
        try:
            util.write_nonblock(client, answer)
        except Exception:  # the client has gone: as gunicorn's own handle_error
            self.log.debug("Failed to send error message.")


class _GuardedInput:
    """`wsgi.input`: gunicorn's body reader, a body it cannot parse (a bad chunk) as InputInvalid (400)."""

    def __init__(self, body) -> None:
        self._body = body

    def _guarded(self, read, *args):
        try:
            return read(*args)
        except ParseException as exc:
            raise InputInvalid(texts("http.400", kind=type(exc).__name__)) from None

    def read(self, size=None) -> bytes:
        return self._guarded(self._body.read, size)

    def readline(self, size=None) -> bytes:
        return self._guarded(self._body.readline, size)

    def readlines(self, size=None) -> list[bytes]:
        return self._guarded(self._body.readlines, size)

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        return self._guarded(self._body.__next__)


def guarded_input(app):
    """The WSGI app, reading its request body through _GuardedInput."""

    def wsgi(environ, start_response):
        environ["wsgi.input"] = _GuardedInput(environ["wsgi.input"])
        return app(environ, start_response)

    return wsgi


def post_worker_init(worker) -> None:
    """gunicorn's hook, in each worker once the app is loaded: its class, with OperationOutcomeErrors mixed in, and
    the app reading its body through _GuardedInput."""
    cls = type(worker)
    if not issubclass(cls, OperationOutcomeErrors):
        worker.__class__ = type(f"OperationOutcome{cls.__name__}", (OperationOutcomeErrors, cls), {})
    worker.wsgi = guarded_input(worker.wsgi)
