"""CSRF tokens for the pages' form POSTs, shared by the blueprints that have pages (the practice's, service/web;
the recipients' inbox, service/inbox): an HMAC of the session's opaque id under the app's secret key, per purpose
— nothing to store, a different token per session, useless without the session cookie
(https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html,
"HMAC based token")."""

from __future__ import annotations

import hmac

from flask import current_app, request

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def session_token(session_id: str, purpose: str = "csrf") -> str:
    """The token for `session_id`; `purpose` keeps the tokens of different sessions kinds apart."""
    key = current_app.config["SECRET_KEY"]
    key = key.encode() if isinstance(key, str) else key
    return hmac.digest(key, purpose.encode() + b":" + session_id.encode(), "sha256").hex()


def token_sent() -> bool:
    """Whether this request carries a token at all (right or wrong)."""
    return bool(request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD))


def token_sent_ok(session_id: str, purpose: str = "csrf") -> bool:
    """Whether this request carries the token (form field `csrf_token` or header X-CSRF-Token)."""
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD) or ""
    return hmac.compare_digest(sent.encode(), session_token(session_id, purpose).encode())
