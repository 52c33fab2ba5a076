"""The practice's pages' answers when something goes wrong: a Dutch (or English) page per HTTP status, never a
stack trace, never health data in a log line; and no-store on every response of the blueprint."""

from __future__ import annotations

import logging
import traceback

from flask import current_app, render_template
from werkzeug.exceptions import HTTPException

from service.errors import KsError
from service.web import security
from service.web.common import web

log = logging.getLogger(__name__)


@web.after_request
def _no_store(response):
    return security.no_store(response)


ERROR_TEXT = {
    400: (("Dit formulier is verlopen of ongeldig", "This form has expired or is not valid"),
          ("Ga terug, laad de pagina opnieuw en probeer het nog eens. Uw ingevulde gegevens zijn bewaard tot de laatste keer opslaan of controleren.",
           "Go back, reload the page and try again. What you filled in is kept up to the last save or check.")),
    403: (("Versturen mag alleen de huisarts of de POH Jeugd", "Only the GP or the POH Jeugd may send"),
          ("U kunt het formulier invullen en als concept opslaan; de huisarts of POH Jeugd kan het daarna controleren en versturen.",
           "You can fill in the form and save it as a draft; the GP or POH Jeugd can then check and send it.")),
    404: (("Deze pagina bestaat niet", "This page does not exist"), ("Ga terug naar het formulier.", "Go back to the form.")),
    405: (("Dat kan zo niet", "That is not possible like this"), ("Ga terug naar het formulier.", "Go back to the form.")),
    500: (("Er ging iets mis", "Something went wrong"),
          ("Er ging iets mis in de service. Uw laatst opgeslagen gegevens zijn bewaard. Probeer het opnieuw of neem contact op met de beheerder.",
           "Something went wrong in the service. Your last saved data are kept. Try again or contact the administrator.")),
}


def _error_page(status: int):
    title, text = ERROR_TEXT.get(status, ERROR_TEXT[500])
    return render_template("error.html", title=title, text=text, status=status), status


@web.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return security.no_store(current_app.make_response(_error_page(exc.code or 500)))


@web.errorhandler(KsError)
def _ks_error(exc: KsError):
    log.info("page refused: %s %s", exc.status_code, type(exc).__name__)
    return security.no_store(current_app.make_response(_error_page(500 if exc.status_code >= 500 else 400)))


@web.errorhandler(Exception)
def _unexpected(exc: Exception):
    # The traceback's frames, not the message: messages can quote health data.
    log.error("unexpected error on a page: %s\n%s", type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))
    return security.no_store(current_app.make_response(_error_page(500)))
