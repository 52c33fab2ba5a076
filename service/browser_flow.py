"""A redirect sign-in bound to the browser that started it: the SMART launch (service/smart/views.py) and the
inbox's OpenID Connect sign-in (service/inbox/views.py).

`state` alone does not do: it travels in URLs (the authorization request, the redirect back), so whoever holds a
callback URL — from a browser's history, a proxy's log, or an attacker who started a sign-in himself and sends
the victim the link — could finish the sign-in in another browser and get its session (or sign the victim into
the attacker's). RFC 6749 §10.12 asks for a value "used to bind the request to the user-agent's authenticated
state"; RFC 9700 §2.1 and §4.7.1 (OAuth 2.0 Security BCP) bind it with a cookie. So the start sets a secret in a
cookie of its own (HttpOnly, SameSite=Lax: a top-level redirect back still carries it; only sent to the callback's
path; gone after the pending sign-in's lifetime) and keeps only its SHA-256 with the pending sign-in; the callback
goes on only when the browser's cookie matches, and removes it. One cookie per sign-in (named after its state), so
two launches in two tabs of one browser do not undo each other.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import request
from werkzeug.wrappers import Response

COOKIE_PREFIX = "ks_flow_"
PENDING_KEY = "browser"  # the secret's digest, in the pending sign-in kept under its state


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _cookie_name(state: str) -> str:
    return COOKIE_PREFIX + _digest(state)[:16]


def start(pending: dict) -> str:
    """A new secret for a sign-in about to start, its digest put in `pending` (before that is saved)."""
    secret = secrets.token_urlsafe(32)
    pending[PENDING_KEY] = _digest(secret)
    return secret


def set_cookie(response: Response, state: str, secret: str, *, path: str, secure: bool, max_age: int) -> Response:
    """The start's answer (the redirect to the authorization server), carrying the secret for this `state`."""
    response.set_cookie(
        _cookie_name(state), secret, max_age=max_age, httponly=True, samesite="Lax", secure=secure, path=path
    )
    return response


def started_here(state: str, pending: dict) -> bool:
    """Whether this request's browser started the sign-in `pending` (kept under `state`): its cookie's secret
    matches the digest kept. A pending sign-in without one (never made so) is refused too."""
    secret = request.cookies.get(_cookie_name(state))
    kept = pending.get(PENDING_KEY)
    return bool(secret) and isinstance(kept, str) and hmac.compare_digest(_digest(secret or ""), kept)


def clear_cookie(response: Response, state: str, *, path: str) -> Response:
    """The callback's answer, without the sign-in's cookie (used once)."""
    response.delete_cookie(_cookie_name(state), path=path)
    return response
