"""Where every error leaves the service: one error handler on the app (registered by the factory) for the
KsError family (service/errors.py), HTTP errors and anything unexpected.

- On the practice's pages (the `web` blueprint): a Dutch/English page per status (templates/error.html),
  no-store; a KsError with its own page (LaunchError: templates/smart_error.html) gets that page wherever it
  is raised.
- Everywhere else (the FHIR API under /fhir, the sandbox, unknown URLs): an OperationOutcome, Dutch
  `diagnostics`, `details.text` in the response's language (`response_lang`: Dutch unless the first
  preference of Accept-Language is English). /auth/token answers RFC 6749 errors itself; they are not raised.

Never a stack trace, never an exception's message in a log line (messages can quote health data).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable

from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from service.errors import Issue, KsError, operation_outcome

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
PAGES = frozenset({"web"})  # the blueprints whose errors are pages

# The practice's error page per HTTP status: (title, text), each (Dutch, English).
ERROR_TEXT = {
    400: (
        ("Dit formulier is verlopen of ongeldig", "This form has expired or is not valid"),
        (
            "Ga terug, laad de pagina opnieuw en probeer het nog eens. Uw ingevulde gegevens zijn bewaard tot de laatste keer opslaan of controleren.",
            "Go back, reload the page and try again. What you filled in is kept up to the last save or check.",
        ),
    ),
    403: (
        ("Versturen mag alleen de huisarts of de POH Jeugd", "Only the GP or the POH Jeugd may send"),
        (
            "U kunt het formulier invullen en als concept opslaan; de huisarts of POH Jeugd kan het daarna controleren en versturen.",
            "You can fill in the form and save it as a draft; the GP or POH Jeugd can then check and send it.",
        ),
    ),
    404: (
        ("Deze pagina bestaat niet", "This page does not exist"),
        ("Ga terug naar het formulier.", "Go back to the form."),
    ),
    405: (
        ("Dat kan zo niet", "That is not possible like this"),
        ("Ga terug naar het formulier.", "Go back to the form."),
    ),
    500: (
        ("Er ging iets mis", "Something went wrong"),
        (
            "Er ging iets mis in de service. Uw laatst opgeslagen gegevens zijn bewaard. Probeer het opnieuw of neem contact op met de beheerder.",
            "Something went wrong in the service. Your last saved data are kept. Try again or contact the administrator.",
        ),
    ),
}

# OperationOutcome texts for HTTP errors: status -> (issue code, Dutch, English); others: "processing", the name.
HTTP_TEXT = {
    404: ("not-found", "Niet gevonden.", "Not found."),
    405: ("not-supported", "Deze methode wordt hier niet ondersteund.", "Method not allowed."),
    413: ("too-long", "Het verzoek is te groot.", "The request body is too large."),
}
UNEXPECTED = Issue(code="exception", text="Er ging iets mis in de service.", english="Internal error.")


def register_error_handlers(app: Flask, pages: Iterable[str] = PAGES) -> None:
    """The one error handler, for KsError, HTTPException and Exception."""
    page_blueprints = frozenset(pages)

    def handle(exc: Exception):
        on_page = not page_blueprints.isdisjoint(request.blueprints)
        if isinstance(exc, KsError) and exc.page:
            return render_template(exc.page, **exc.page_context()), exc.status_code
        if on_page:
            return _page(exc)
        return _operation_outcome(exc)

    for kind in (KsError, HTTPException, Exception):
        app.register_error_handler(kind, handle)


def response_lang() -> str:
    """The language of this response's texts: "en" when the first preference of Accept-Language is English,
    "nl" otherwise (and without the header)."""
    first = next(iter(request.accept_languages.values()), "")
    return "en" if first.lower().split("-")[0] == "en" else "nl"


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
        code, nl, en = HTTP_TEXT.get(status, ("processing", exc.name, exc.name))
        response = fhir_json(operation_outcome([Issue(code=code, text=nl, english=en)], lang), status)
        if exc.code == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response
    # The traceback's frames, not the exception's message: messages can quote health data.
    log.error("unexpected error %s\n%s", type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))
    return fhir_json(operation_outcome([UNEXPECTED], lang), 500)


def _page(exc: Exception):
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
    response = current_app.make_response((render_template("error.html", title=title, text=text, status=status), status))
    response.headers["Cache-Control"] = "no-store"  # pages with patient data (service/web/security.py no_store)
    response.headers["Pragma"] = "no-cache"
    return response
