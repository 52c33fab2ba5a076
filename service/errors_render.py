"""Where every error leaves the service: one error handler on the app (registered by the factory) for the
KsError family (service/errors.py), HTTP errors and anything unexpected.

- On the practice's pages (the `web` blueprint): a Dutch/English page per status (templates/error.html),
  no-store; a KsError with its own page (LaunchError: templates/smart_error.html) gets that page wherever it
  is raised.
- A browser at a URL no route has, or with a method its route does not take (a typo, an old bookmark): that
  page too, outside the API's paths (`lost_browser`), so a person reads what happened.
- Everywhere else (the FHIR API under /fhir, the sandbox, unknown URLs asked by anything but a browser): an
  OperationOutcome, Dutch `diagnostics`, `details.text` in the response's language (`response_lang`: Dutch
  unless the first preference of Accept-Language is English). /auth/token answers RFC 6749 errors itself; they
  are not raised.

Never a stack trace, never an exception's message in a log line (messages can quote health data).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable

from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.datastructures import LanguageAccept
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.http import parse_accept_header

from service.errors import Issue, KsError, operation_outcome
from service.texts import language, texts

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
PAGES = frozenset({"web"})  # the blueprints whose errors are pages
# Where every answer is FHIR JSON (or OAuth's), whoever asks: a lost browser there gets the OperationOutcome too.
API_PATHS = ("/fhir", "/auth", "/sandbox/fhir")

# The practice's error page per HTTP status: the catalogue's keys (service/texts.py) of its title and text.
ERROR_TEXT = {
    400: ("page.400.title", "page.400.text"),
    403: ("page.403.title", "page.403.text"),
    404: ("page.404.title", "page.back_to_form"),
    405: ("page.405.title", "page.back_to_form"),
    500: ("page.500.title", "page.500.text"),
}

# OperationOutcome texts for HTTP errors: status -> (issue code, key); others: "processing", the name.
HTTP_TEXT = {404: ("not-found", "http.404"), 405: ("not-supported", "http.405"), 413: ("too-long", "http.413")}
UNEXPECTED = Issue.of(texts("http.unexpected"), code="exception")


def register_error_handlers(app: Flask, pages: Iterable[str] = PAGES) -> None:
    """The one error handler, for KsError, HTTPException and Exception."""
    page_blueprints = frozenset(pages)

    def handle(exc: Exception):
        on_page = not page_blueprints.isdisjoint(request.blueprints)
        if isinstance(exc, KsError) and exc.page:
            return render_template(exc.page, **exc.page_context()), exc.status_code
        if on_page:
            return _page(exc)
        if lost_browser(exc):
            return _page(exc, lost=True)
        return _operation_outcome(exc)

    for kind in (KsError, HTTPException, Exception):
        app.register_error_handler(kind, handle)


def lost_browser(exc: Exception) -> bool:
    """A browser (HTML before JSON in its Accept) at a URL no route has, or with a method its route does not take,
    outside API_PATHS. A FHIR client, curl (*/*) and the API's paths get the OperationOutcome."""
    if not isinstance(exc, NotFound | MethodNotAllowed) or request.blueprints:
        return False
    path = request.path
    if any(path == p or path.startswith(p + "/") for p in API_PATHS):
        return False
    return request.accept_mimetypes.best_match((FHIR_JSON, "application/json", "text/html")) == "text/html"


def response_lang() -> str:
    """The language of this response's texts: "en" when the first preference of Accept-Language is English,
    "nl" otherwise (and without the header)."""
    return accept_language(request.headers.get("Accept-Language"))


def accept_language(header: str | None) -> str:
    """The catalogue's language for an Accept-Language header: its first preference (by quality, RFC 9110
    §12.5.4) when that is English, else Dutch. Also what gunicorn's own error answers use (gunicorn_conf.py)."""
    first = next(iter(parse_accept_header(header or "", LanguageAccept).values()), "")
    return language(first.lower().split("-")[0])


def fhir_json(resource: dict, status: int = 200):
    response = jsonify(resource)
    response.status_code = status
    response.mimetype = FHIR_JSON
    return response


def _operation_outcome(exc: Exception):
    lang = response_lang()
    if isinstance(exc, KsError):
        log.info("request refused: %s %s", exc.status_code, type(exc).__name__)
        response = fhir_json(exc.to_operation_outcome(lang), exc.status_code)
        response.headers.update(exc.response_headers())
        return response
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        if status in HTTP_TEXT:
            code, key = HTTP_TEXT[status]
            nl, en = texts(key)
        else:
            code, nl, en = "processing", exc.name, exc.name
        response = fhir_json(operation_outcome([Issue(code=code, text=nl, english=en)], lang), status)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response
    # The traceback's frames, not the exception's message: messages can quote health data.
    log.error("unexpected error %s\n%s", type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))
    return fhir_json(operation_outcome([UNEXPECTED], lang), 500)


WayBack = Callable[[], tuple[str, tuple[str, str] | None]]


def register_way_back(app: Flask, prefix: str, way: WayBack) -> None:
    """A blueprint's way back from a lost page under `prefix` (a path such as "/inbox"): `way()` gives the page's
    text key and its link (endpoint, link text key), or None for the form's. Registered by the blueprint's
    init_app, so this module imports no blueprint."""
    app.extensions.setdefault("ks_way_back", {})[prefix] = way


def _way_back() -> tuple[str, tuple[str, str] | None]:
    """The lost page's text and link: the registered way back of the path's part, else back to the form."""
    path = request.path
    for prefix, way in current_app.extensions.get("ks_way_back", {}).items():
        if path == prefix or path.startswith(prefix + "/"):
            return way()
    return "page.lost.form", None


def _page(exc: Exception, *, lost: bool = False):
    """The practice's error page for `exc`; `lost`: a browser at an address no route has (lost_browser), told to
    check it, with the way back to the form, or in the inbox's part to the worklist."""
    if isinstance(exc, KsError):
        log.info("page refused: %s %s", exc.status_code, type(exc).__name__)
        status = 500 if exc.status_code >= 500 else 400
    elif isinstance(exc, HTTPException):
        status = exc.code or 500
    else:
        log.error(
            "unexpected error on a page: %s\n%s", type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__))
        )
        status = 500
    title, text = ERROR_TEXT.get(status, ERROR_TEXT[500])
    back = None  # the form
    if lost:
        text, back = _way_back()
    page = render_template("error.html", title=title, text=text, status=status, back=back)
    response = current_app.make_response((page, status))
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)  # RFC 9110 §15.5.6: a 405 says which methods
    response.headers["Cache-Control"] = "no-store"  # pages with patient data (service/web/security.py no_store)
    response.headers["Pragma"] = "no-cache"
    return response
