"""The one guard every route of the practice's pages goes through, instead of a copy in each.

In this order, as before the split: a POST carries the session's CSRF token (else 400, the Dutch "Dit
formulier is verlopen" page); the session is launched (else the "open again from the EPD" page, 401);
a step that sends is the GP's or the POH Jeugd's (else 403); the form's state the step needs is there (else
the redirect to the page where the user can go on). The view gets the launch and that state as arguments.
The blueprint (common.py) takes no route without this guard.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from flask import abort, redirect, request, url_for
from werkzeug.wrappers import Response

from service.csrf import token_sent
from service.errors import Issue, KsError
from service.services import services
from service.smart.session import COOKIE_NAME, current_launch, current_practice, launch_required
from service.texts import texts
from service.web import security
from service.web.common import GUARDED, audited_access, stored_work, unfinished_work
from service.web.store import WorkState

log = logging.getLogger(__name__)

WorkLoader = Callable[..., WorkState | Response]  # (launch) -> the step's state, or where to go instead


def step(*, work: WorkLoader | None = None, may_send: bool = False) -> Callable:
    """The guard of one route: CSRF on POST, launched session, `may_send` (the role may send), then `work`
    loads the form's state the step needs, or answers with a redirect. The view is called as view(ctx) or,
    with `work`, view(ctx, work)."""

    def decorate(view: Callable) -> Callable:
        event = view.__name__.replace("_", "-")  # the audit row's event: the step, e.g. save-draft, send

        @launch_required
        def launched(**kwargs):
            ctx = current_launch()
            if may_send and not ctx.can_send:
                log.info("send refused: role %s may not send", ctx.role)
                abort(403)
            with audited_access(ctx, event):  # the request is one access: one audit row, if it touches the patient
                if work is None:
                    return view(ctx, **kwargs)
                state = work(ctx)
                return view(ctx, state, **kwargs) if isinstance(state, WorkState) else state

        @functools.wraps(view)
        def guarded(**kwargs):
            if request.method == "POST":
                require_csrf()
            return launched(**kwargs)

        setattr(guarded, GUARDED, True)
        return guarded

    return decorate


PanelView = Callable[[security.PanelSession, object, bool], Response | tuple]


def panel_step(view: PanelView) -> Callable:
    """The live panel's guard (issue 12 point 8: asked at every tick). With this session's valid panel token
    (security.panel_token, header X-Panel-Token) the view is called at once — no session read: the token is
    bound to the cookie's session id, so it is the CSRF check too — for the practice the token names, while the
    registry still has it. Without one (missing, expired, another session's, a practice gone) the full guard
    (`step`: CSRF, launched session, its audit context) runs, and the view renews the token (`renew`).
    The view is called as view(panel_session, practice, renew)."""

    def full(ctx):
        renewed = security.PanelSession(ctx.session_id, ctx.language, ctx.ehr_id, ctx.practice_id)
        return view(renewed, current_practice(), True)

    full.__name__ = view.__name__  # the audit context's event (step)
    full = step()(full)

    @functools.wraps(view)
    def guarded():
        who = security.panel_session(request.cookies.get(COOKIE_NAME), request.headers.get(security.PANEL_TOKEN_HEADER))
        practice = services().registry.practice(who.ehr_id, who.practice_id) if who is not None else None
        if who is None or practice is None:
            return full()
        return view(who, practice, False)

    setattr(guarded, GUARDED, True)
    return guarded


def require_csrf() -> None:
    """Every form POST carries the session's CSRF token (field or header); without a session, launch_required
    answers."""
    ctx = current_launch()
    if ctx is not None and not security.csrf_ok(ctx.session_id):
        if token_sent():  # another session's token: this window is of an earlier launch in this browser
            log.info("form POST refused: the window belongs to an earlier launch in this browser")
            raise OtherWindow()
        log.info("form POST refused: CSRF token missing or wrong")
        abort(400, description="csrf")


class OtherWindow(KsError):
    """A page of an earlier launch posted in a browser where the app has been launched again since (one session
    cookie per browser: the newer launch's, perhaps for another patient). Nothing is done: not its post, and not
    the newer launch's form in its place — the page says so and offers no way into the other form (a wrong-patient
    hazard). 409; rendered as other_window.html (app.js says it in the live panel)."""

    issue_code = "conflict"
    page = "other_window.html"
    status_code = 409

    def __init__(self) -> None:
        nl, en = texts("page.other_window.text")
        super().__init__(en, issues=[Issue(code=self.issue_code, text=nl, english=en)])


# ------------------------------------------------------------------------ what a step needs of the form


def work_or_new(ctx) -> WorkState:
    """This session's unsent form, or an empty one (the form's own posts)."""
    return unfinished_work(ctx) or WorkState()


def reviewed(ctx) -> WorkState | Response:
    """The unsent form that passed the checks (the Meldcode step, review, consent); else back to the form."""
    work = unfinished_work(ctx)
    if work is None or not work.reviewed:
        return redirect(url_for(".form"), 303)
    return work


def reviewed_or_done(ctx) -> WorkState | Response:
    """As `reviewed`, for the send: a form sent already (a second press, another tab) goes to its confirmation."""
    work = unfinished_work(ctx)
    if work is None or not work.reviewed:
        done = stored_work(ctx)
        return redirect(url_for(".sent" if done is not None and done.result else ".form"), 303)
    return work


def sent_work(ctx) -> WorkState | Response:
    """The form this session sent (the confirmation); else back to the form."""
    work = stored_work(ctx)
    if work is None or not work.result:
        return redirect(url_for(".form"), 303)
    return work
