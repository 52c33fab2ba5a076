"""Web security for the pages: a per-session CSRF token on every form POST, and response headers.

The token is an HMAC of the launch session's opaque id under the app's secret key: nothing to
store, a different token per session, and useless to anyone without the session cookie
(https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html,
"HMAC based token"). Forms send it as the field `csrf_token`, scripts as the header X-CSRF-Token.
"""

from __future__ import annotations

from flask import Flask, Response

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
