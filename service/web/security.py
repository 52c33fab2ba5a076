"""Web security for the pages: a per-session CSRF token on every form POST, and response headers.

The token is an HMAC of the launch session's opaque id under the app's secret key: nothing to
store, a different token per session, and useless to anyone without the session cookie
(https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html,
"HMAC based token"). Forms send it as the field `csrf_token`, scripts as the header X-CSRF-Token.

The live panel's token (issue 12 point 8: the panel is asked at every tick) is short-lived and says what the panel
needs of the launch — its language and the registered practice — under an HMAC bound to the session's opaque id:
verified without a database read. See `panel_token` for what it carries and the window it leaves open.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from dataclasses import dataclass

from flask import Flask, Response, current_app

from service.csrf import CSRF_FIELD, CSRF_HEADER, session_token, token_sent_ok

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "csrf_ok", "csrf_token"]
# No inline script or style anywhere: app.js and app.css are files. form-action 'self': every form posts
# here (the SMART launch's redirects to an authorization server are navigations, not form posts).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'self'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


def csrf_token(session_id: str) -> str:
    return session_token(session_id)  # the generic part: service/csrf.py, shared with the inbox


def csrf_ok(session_id: str) -> bool:
    return token_sent_ok(session_id)


PANEL_TOKEN_HEADER = "X-Panel-Token"
PANEL_TOKEN_SECONDS = 600  # the window: see panel_token


@dataclass(frozen=True)
class PanelSession:
    """What the live panel knows of the launch: the session's opaque id (its cookie), the page's language, the
    registry's keys of the practice the launch speaks for (service/registry.py), and the id of the form the page
    shows (WorkState.identifier, a random UUID: which stored facts the panel may keep, FormStore.panel_facts)."""

    session_id: str
    language: str
    ehr_id: str | None
    practice_id: str | None
    form_id: str | None = None


def _panel_mac(session_id: str, payload: bytes) -> str:
    key = current_app.config["SECRET_KEY"]
    key = key.encode() if isinstance(key, str) else key
    return hmac.digest(key, b"panel:" + session_id.encode() + b":" + payload, "sha256").hex()


def panel_token(ctx, *, now: float | None = None, max_age: float, form_id: str | None = None) -> str:
    """The live panel's token for the launch `ctx` (smart/session.py LaunchContext), issued with the form page and
    renewed by every answer of the full guard (guard.panel_step). It carries the expiry, the language, the
    practice's registry keys and the form's id (`form_id`) — no health data, no patient — and its HMAC binds it
    to the session id, which the cookie carries (so it is no use without the cookie, and a cross-site page cannot
    read it: a CSRF token too).

    The window: a panel request with a valid token is answered without reading the session, so for at most
    PANEL_TOKEN_SECONDS after the token was issued a session that ended on the server (its row deleted) still gets
    panels — of the fields it posts itself, with the facts its form had when it was opened (FormStore.panel_facts
    keeps them by form id in each worker); no other page and no send. The expiry never passes the session's own
    end (created + `max_age`, SessionStore) nor the moment its access token needs a refresh (LaunchContext.expired):
    after those the full guard answers (the "open again" page, or the refresh). A deregistered practice is refused
    at once (the registry is read)."""
    now = time.time() if now is None else now
    expires = int(min(now + PANEL_TOKEN_SECONDS, ctx.created_at + max_age, ctx.expires_at - 30))
    claims = [expires, ctx.language, ctx.ehr_id, ctx.practice_id, form_id]
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode())
    return payload.decode() + "." + _panel_mac(ctx.session_id, payload)


def panel_session(session_id: str | None, token: str | None, *, now: float | None = None) -> PanelSession | None:
    """The panel's session when `token` is this session's and has not expired; else None (the full guard then)."""
    if not session_id or not token or "." not in token:
        return None
    payload, mac = token.rsplit(".", 1)
    if not hmac.compare_digest(mac.encode(), _panel_mac(session_id, payload.encode()).encode()):
        return None
    try:  # signed by this service, so well formed, unless it is of an earlier version (a token lives 600 s)
        expires, language, ehr_id, practice_id, form_id = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return None
    if (time.time() if now is None else now) >= expires:
        return None
    return PanelSession(session_id, language, ehr_id, practice_id, form_id)


SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)


def security_headers(response: Response) -> Response:
    """On every response (pages, API, static): what may run, be framed, leak in a Referer, be sniffed; each unless
    the response set its own. (One look at the headers there are: `setdefault` each time searched them again.)"""
    headers = response.headers
    present = {name.lower() for name, _ in headers}
    for name, value in SECURITY_HEADERS:
        if name.lower() not in present:
            headers.add(name, value)
    return response


def no_store(response: Response) -> Response:
    """Pages with patient data: never kept by the browser or a proxy."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def install(app: Flask) -> None:
    app.after_request(security_headers)
