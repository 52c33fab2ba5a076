"""The practice's pages, assembled: the blueprint `web` with every step's routes, and `init_app`.

The steps, each its own module: the signalling form pre-filled by $populate and its live panel
(form_page.py), the Meldcode step (meldcode_page.py), review with consent per recipient (review_page.py),
the send (send.py) and the confirmation with a summary for the HIS (confirmation.py); the error pages
(error_pages.py); one guard for every route (guard.py).

Every page works without JavaScript (POST, then redirect to a GET page); app.js adds the live panel
and shows or hides items as their enableWhen says. Nothing about the patient goes into a URL, a
cookie or a log line: the form's state lives server-side (service/web/store.py) under the launch
session's opaque id.
"""

from __future__ import annotations

from flask import Flask, current_app

from service.db import database_for
from service.rules.meldcode import load_meldcode
from service.services import services
from service.smart.session import current_launch
from service.texts import bilingual, language, other_language, pick
from service.web import (  # noqa: F401 - their routes
    cancel,
    confirmation,
    error_pages,
    form_page,
    meldcode_page,
    mirror,
    overview,
    review_page,
    security,
    send,
)
from service.web.common import page_text, web
from service.web.store import FormStore

__all__ = ["init_app", "web"]


def init_app(app: Flask) -> None:
    """The form store, the Meldcode steps (checked: a mistake stops start-up), security headers on every response,
    t() and pick() for templates (service/texts.py)."""
    settings = app.config["KS_SETTINGS"]
    services(app).forms = FormStore(database_for(settings, "forms"))
    services(app).meldcode = load_meldcode(settings.mappings_dir)
    security.install(app)
    app.context_processor(_template_helpers)


def _template_helpers() -> dict:
    try:
        ctx = current_launch()
    except Exception:  # outside a request with a session store (e.g. an error page)
        ctx = None
    lang = language(ctx.language if ctx is not None else None)

    def pick_data(nl: str, en: str | None) -> str:
        """A data text (the Meldcode steps' file) in the page's language."""
        return pick(lang, nl, en)

    practice = services().registry.practice(ctx.ehr_id, ctx.practice_id) if ctx else None
    return {
        "t": page_text(lang),
        "pick": pick_data,
        "both": bilingual,  # "Dutch / English", for the launch pages
        "ui_lang": lang,
        "other_lang": other_language(lang),  # what the language switch offers
        "csrf": security.csrf_token(ctx.session_id) if ctx else None,
        "practice_name": practice.name if practice else None,
        "aandachtsfunctionaris": current_app.config["KS_SETTINGS"].aandachtsfunctionaris,
    }
