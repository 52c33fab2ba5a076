"""Server-side launch sessions: tokens and launch context live here; the cookie carries only an opaque id.

One launch per session (a new launch replaces the old one). Nothing in the cookie, the URL or the logs
identifies the patient.
"""

from __future__ import annotations

import functools
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from flask import g, render_template, request
from sqlalchemy import delete

from service.db import Database, as_database
from service.db.schema import launch_session, pending_launch
from service.services import services

COOKIE_NAME = "ks_session"
ROLES = ("huisarts", "poh-jeugd", "doktersassistent", "onbekend")
# SNOMED CT role codes on PractitionerRole.code -> our roles (DOMAIN.md §6).
ROLE_BY_SNOMED = {"62247001": "huisarts", "224565004": "poh-jeugd", "309390008": "doktersassistent"}


@dataclass(frozen=True, kw_only=True)
class LaunchContext:
    """Everything a launched session knows. Stored server-side only."""

    session_id: str
    iss: str  # the EHR's FHIR base URL (the `aud` of the launch)
    client_id: str
    ehr_id: str | None = None  # the EHR's entry in the registry (service/registry.py)
    practice_id: str | None = None  # the registered practice this session speaks for, chosen at launch
    token_endpoint: str
    access_token: str
    expires_at: float  # unix time
    scope: str
    refresh_token: str | None = None
    patient: str | None = None  # Patient id in the EHR
    encounter: str | None = None
    fhir_user: str | None = None  # e.g. "PractitionerRole/demo-gp" (relative to iss)
    user_name: str | None = None  # e.g. "Anna Jansen": the user's Practitioner's name, for the pages (never the id)
    role: str = "onbekend"  # huisarts | poh-jeugd | doktersassistent | onbekend
    need_patient_banner: bool = False
    patient_banner: dict = field(default_factory=dict)  # {"name": ..., "birthDate": ...} when the banner is needed
    smart_style_url: str | None = None
    language: str = "nl"
    created_at: float = field(default_factory=time.time)

    @property
    def can_send(self) -> bool:
        """A doktersassistent may save a draft but not send (DOMAIN.md §6)."""
        return self.role in ("huisarts", "poh-jeugd")

    def expired(self, now: float | None = None, margin: float = 30.0) -> bool:
        return (now or time.time()) >= self.expires_at - margin


class SessionStore:
    """Launch sessions, one row per opaque session id, on the storage layer (service/db: an SQLite file under
    KS_DATA_DIR, or the region's PostgreSQL, where a launch started on one instance finishes on another)."""

    def __init__(self, where: Path | Database, max_age: float = 8 * 3600):
        self._db = as_database(where)
        self.path = self._db.path
        self.max_age = max_age
        self._db.upgrade("sessions")

    @staticmethod
    def new_id() -> str:
        return secrets.token_urlsafe(32)

    def save(self, ctx: LaunchContext) -> None:
        values = {"id": ctx.session_id, "data": json.dumps(asdict(ctx)), "created": ctx.created_at}
        with self._db.begin() as conn:
            conn.execute(self._db.upsert(launch_session, values))

    def load(self, session_id: str | None) -> LaunchContext | None:
        if not session_id:
            return None
        row = self._db.read_one("SELECT data, created FROM launch_session WHERE id = :id", {"id": session_id})
        if row is None or time.time() - row[1] > self.max_age:
            return None
        return LaunchContext(**json.loads(row[0]))

    def update(self, ctx: LaunchContext, **changes) -> LaunchContext:
        new = replace(ctx, **changes)
        self.save(new)
        return new

    def delete(self, session_id: str) -> None:
        with self._db.begin() as conn:
            conn.execute(delete(launch_session).where(launch_session.c.id == session_id))

    def purge(self, now: float | None = None, pending_max_age: float = 600) -> int:
        """Forget expired sessions (their tokens) and launches never completed; the number of rows deleted."""
        now = now or time.time()
        with self._db.begin() as conn:
            return (
                conn.execute(delete(launch_session).where(launch_session.c.created < now - self.max_age)).rowcount
                + conn.execute(delete(pending_launch).where(pending_launch.c.created < now - pending_max_age)).rowcount
            )

    # Pending launches: between the redirect to authorize and the callback, keyed by `state`.
    def save_pending(self, state: str, data: dict) -> None:
        values = {"state": state, "data": json.dumps(data), "created": time.time()}
        with self._db.begin() as conn:
            conn.execute(self._db.upsert(pending_launch, values))

    def pop_pending(self, state: str, max_age: float = 600) -> dict | None:
        """The launch this `state` belongs to, once: taken and deleted in one statement (a replayed callback, or
        two at once on two instances, finds nothing)."""
        t = pending_launch
        with self._db.begin() as conn:
            row = conn.execute(delete(t).where(t.c.state == state).returning(t.c.data, t.c.created)).first()
        if row is None or time.time() - row[1] > max_age:
            return None
        return json.loads(row[0])


def session_store() -> SessionStore:
    return services().sessions


_UNREAD = object()


def current_launch() -> LaunchContext | None:
    """The launch of this request's session (cookie -> server-side row), or None. Read once per request; asked
    for several times (the guard, the practice, the templates), so one look at `g` (a proxy) per ask."""
    ctx = g.get("ks_launch", _UNREAD)
    if ctx is _UNREAD:
        ctx = g.ks_launch = session_store().load(request.cookies.get(COOKIE_NAME))
    return ctx


def current_practice():
    """The registered practice (service/registry.py Practice) the current session speaks for, or None. Looked up
    once per request and launch (a page asks for it several times: the guard, the rule set, the templates)."""
    ctx = current_launch()
    if ctx is None:
        return None
    known = g.get("ks_practice")
    if known is None or known[0] is not ctx:  # a refreshed launch (launch_required) is another context
        known = g.ks_practice = (ctx, services().registry.practice(ctx.ehr_id, ctx.practice_id))
    return known[1]


def launch_required(view: Callable) -> Callable:
    """Views that need a launched session: without one (or when its token cannot be refreshed, or its EHR or
    practice is no longer registered) the user sees, in Dutch, that the app must be opened again from the EPD."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        ctx = current_launch()
        if ctx is not None and current_practice() is None:
            ctx = g.ks_launch = None
        if ctx is not None and ctx.expired():
            refresh = services().refresh_launch
            ctx = refresh(ctx) if refresh else None
            g.ks_launch = ctx
        if ctx is None:
            return render_template("launch_again.html"), 401
        return view(*args, **kwargs)

    return wrapped
