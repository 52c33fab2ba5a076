"""Web security for the pages: a per-session CSRF token on every form POST, and response headers.

The token is an HMAC of the launch session's opaque id under the app's secret key: nothing to
store, a different token per session, and useless to anyone without the session cookie
(https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html,
"HMAC based token"). Forms send it as the field `csrf_token`, scripts as the header X-CSRF-Token.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Flask, Response, current_app, request

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# No inline script or style anywhere: app.js and app.css are files. form-action 'self': every form posts
# here (the SMART launch's redirects to an authorization server are navigations, not form posts).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'self'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


def csrf_token(session_id: str) -> str:
    key = current_app.config["SECRET_KEY"]
    key = key.encode() if isinstance(key, str) else key
    return hmac.new(key, b"csrf:" + session_id.encode(), hashlib.sha256).hexdigest()


def csrf_ok(session_id: str) -> bool:
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD) or ""
    return hmac.compare_digest(sent.encode(), csrf_token(session_id).encode())


def security_headers(response: Response) -> Response:
    """On every response (pages, API, static): what may run, be framed, leak in a Referer, be sniffed."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def no_store(response: Response) -> Response:
    """Pages with patient data: never kept by the browser or a proxy."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def install(app: Flask) -> None:
    app.after_request(security_headers)
