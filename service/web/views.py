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

from pathlib import Path

from flask import Flask, current_app

from service.services import services
from service.smart.session import current_launch
from service.web import confirmation, error_pages, form_page, meldcode_page, review_page, security, send  # noqa: F401 - their routes
from service.web.common import web
from service.web.store import FormStore

__all__ = ["init_app", "web"]


def init_app(app: Flask) -> None:
    """The form store, security headers on every response, T() for templates."""
    settings = app.config["KS_SETTINGS"]
    services(app).forms = FormStore(Path(settings.data_dir) / "forms.sqlite3")
    security.install(app)
    app.context_processor(_template_helpers)


def _template_helpers() -> dict:
    try:
        ctx = current_launch()
    except Exception:  # outside a request with a session store (e.g. an error page)
        ctx = None
    lang = "en" if ctx is not None and ctx.language == "en" else "nl"

    def T(nl: str, en: str) -> str:
        return en if lang == "en" else nl

    practice = services().registry.practice(ctx.ehr_id, ctx.practice_id) if ctx else None
    return {
        "T": T,
        "ui_lang": lang,
        "csrf": security.csrf_token(ctx.session_id) if ctx else None,
        "practice_name": practice.name if practice else None,
        "aandachtsfunctionaris": current_app.config["KS_SETTINGS"].aandachtsfunctionaris,
    }
