"""The inbox's routes (blueprint `inbox`, /inbox): sign-in with OpenID Connect at a registered identity
provider, the callback, sign-out (a POST with the CSRF token); the worklist (GET /inbox), a referral's detail
(GET /inbox/referral/<task id>) and the steps on it (POST /inbox/referral/<task id>/<action>), the language
switch (POST /inbox/language). The OpenID Connect work is in oidc.py; sessions are server-side (store.py); what
the worklist pages share (the user's desk, language, token, audit rows) is in pages.py, their view models in
views_model.py.

Only providers in the deployment's registry (service/registry.py) sign anyone in, and only a user whom the
registry's mapping gives exactly one of the region's external recipients. Every sign-in, refused or not, and
every sign-out is a row in the audit log (service/audit.py), naming the provider, the user and the recipient;
every worklist page, detail and step is audited too (pages.py: one row per patient shown or changed).
The recipient's Tasks are read and written on its destination with the destination's own credentials
(service/referrals/wiring.py `Delivery.status_clients`), only those whose owner is the user's recipient.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime

from flask import Blueprint, Flask, current_app, redirect, render_template, request, url_for

from service import browser_flow
from service.audit import ANONYMOUS, AuditEntry
from service.db import database_for
from service.errors import InputInvalid, KsError, NotFound
from service.errors_render import register_way_back
from service.fhir import urls
from service.fhir.errors import FhirError, FhirNotFound
from service.inbox import pages
from service.inbox.auth import (
    COOKIE_NAME,
    EXPIRED,
    InboxUser,
    current_user,
    inbox_store,
    recipient_known,
    signed_in,
)
from service.inbox.oidc import InboxLoginError, ProviderConfig, authorization, discover, exchange, id_token_claims
from service.inbox.store import PENDING_LIFETIME, SESSION_LIFETIME, InboxStore
from service.inbox.views_model import day, detail_view, work_line
from service.referrals.taskflow import MESSAGE_MAX, TaskConflict, TransitionRefused, apply_change
from service.referrals.worklist import PRACTICE_ZONE, open_page, referral_detail, response_times
from service.registry import ROLE_REGIO, IdentityProvider
from service.services import services
from service.texts import Text, texts

log = logging.getLogger(__name__)
inbox = Blueprint("inbox", __name__, url_prefix="/inbox")


def init_app(app: Flask) -> None:
    services(app).inbox = InboxStore(database_for(app.config["KS_SETTINGS"], "inbox"))
    register_way_back(app, "/inbox", _lost_way_back)


def _lost_way_back() -> tuple[str, tuple[str, str]]:
    """A lost page under /inbox: back to the worklist; the region's programme manager has none: to her figures."""
    user = current_user()
    if user is not None and user.regio:
        return "page.lost.figures", ("mirror.region", "inbox.to_region_figures")
    return "page.lost.inbox", ("inbox.index", "inbox.back_to_worklist")


def _public_url() -> str:
    return current_app.config["KS_SETTINGS"].public_url.rstrip("/")


CALLBACK_PATH = "/inbox/callback"


def _redirect_uri() -> str:
    return _public_url() + CALLBACK_PATH


def _secure() -> bool:
    return current_app.config["KS_SETTINGS"].secure_cookies


def _providers() -> list[IdentityProvider]:
    return sorted(services().registry.providers.values(), key=lambda p: p.name)


def _recipient_name(provider_id: str, recipient: str) -> str:
    provider = services().registry.provider(provider_id)
    ruleset = services().engine.rulesets.get(provider.region) if provider else None
    item = ruleset.recipients.get(recipient) if ruleset else None
    return item.name.nl if item else recipient


def _audit(outcome: str, obj: str, who: str | None = None, event: str = "inbox-login") -> None:
    """One row per sign-in or sign-out (no patient: nothing about one is read)."""
    services().delivery.audit.record(
        AuditEntry(
            event=event,
            action="E",
            outcome=outcome,
            who=who or ANONYMOUS,
            patient=None,
            object=obj,
            access_point=f"inbox:{request.remote_addr or '-'}",
        )
    )


def _page(template: str, user: InboxUser, status: int = 200, **context):
    """An inbox page in the session's language, never kept by the browser (patient data)."""
    response = current_app.make_response(
        (
            render_template(
                template,
                **pages.template_context(user=user, recipient_name=_recipient_name(user.provider, user.recipient)),
                **context,
            ),
            status,
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _signed_in_user() -> InboxUser:
    user = current_user()
    assert user is not None  # @signed_in
    return user


@inbox.errorhandler(KsError)
def _problem(exc: KsError):
    """The inbox's own error page (an unknown or another recipient's referral, a server that does not answer, a
    refused form), in the page's language; the sign-in's errors keep their page (inbox_error.html)."""
    if exc.page:
        return render_template(exc.page, **exc.page_context()), exc.status_code
    if isinstance(exc, FhirError) and not isinstance(exc, FhirNotFound):
        log.warning("inbox: the recipient's server: %s (HTTP %s)", type(exc).__name__, exc.status)
        exc = pages.InboxUnavailable(texts("inbox.server_unreachable"))
    elif isinstance(exc, FhirNotFound):
        exc = NotFound(texts("worklist.not_found"))
    return pages.problem_page(exc, current_user())


@inbox.get("")
@signed_in
def index():
    """The worklist: the recipient's open referrals, most urgent and oldest first, PAGE_SIZE at a time."""
    user = _signed_in_user()
    desk = pages.desk_of(user)
    now = datetime.now(UTC)
    page = max(1, request.args.get("page", 1, type=int) or 1)
    start = (page - 1) * pages.PAGE_SIZE
    found = open_page(desk.client, desk.owner, now, response_times(desk.recipient), start=start, size=pages.PAGE_SIZE)
    items, shown = found.every, found.lines
    pages.audit_each(desk, "inbox-worklist", shown)
    lang = pages.page_lang()
    return _page(
        "inbox.html",
        user,
        items=[work_line(i, lang) for i in shown],
        total=len(items),
        overdue=sum(1 for i in items if i.overdue),
        first=start + 1,
        last=start + len(shown),
        page=page,
        more=start + pages.PAGE_SIZE < len(items),
        today=day(now.astimezone(PRACTICE_ZONE).date()),
    )


@inbox.get("/referral/<task_id>")
@signed_in
def referral(task_id: str):
    """One referral, exactly as the recipient received it (404 when it is not there, or not this recipient's)."""
    user = _signed_in_user()
    desk = pages.desk_of(user)
    done = request.args.get("done") or (EXPIRED if request.args.get(EXPIRED) else None)
    return _referral_page(desk, pages.task_id_ok(task_id), done)


def _referral_page(desk: pages.Desk, task_id: str, done: str | None, problem: Text | None = None, status: int = 200):
    try:
        detail = referral_detail(desk.client, task_id, owner=desk.owner)
    except NotFound:
        pages.audit_one(desk, "inbox-referral", "R", "4", f"{desk.where(task_id)}: not this recipient's", None)
        raise
    pages.audit_one(desk, "inbox-referral", "R", "0" if status < 400 else "4", desk.where(task_id), detail.patient)
    lang = pages.page_lang()
    return _page(
        "inbox_referral.html",
        desk.user,
        status,
        r=detail_view(detail, lang),
        done=done if done in (*pages.ACTIONS, EXPIRED) else None,
        problem=problem.in_lang(lang) if problem else None,
        reasons=pages.code_words(urls.CS_DECLINE_REASON, lang),
        outcomes=pages.code_words(urls.CS_TASK_OUTCOME, lang),
        colleagues=desk.colleagues(),
        message_max=MESSAGE_MAX,
    )


@inbox.post("/referral/<task_id>/<action>")
@signed_in
def act(task_id: str, action: str):
    """A step on the referral (accept, decline, first contact, close, assign), made on the version the page showed:
    when someone else changed it since, the page says who and shows it as it is now (409), never a lost update."""
    pages.check_csrf()
    user = _signed_in_user()
    desk = pages.desk_of(user)
    task_id = pages.task_id_ok(task_id)
    version = request.form.get("version", "")
    if action not in pages.ACTIONS:
        raise NotFound(texts("worklist.not_found"))
    if not version:
        raise InputInvalid(texts("inbox.no_version"))
    try:
        change = pages.change_from(action, desk, request.form)
        stored = apply_change(desk.client, task_id, change, datetime.now(UTC), version=version, owner=desk.owner)
    except TaskConflict as exc:
        pages.audit_one(desk, f"inbox-{action}", "U", "4", f"{desk.where(task_id)}: conflict", None)
        return _referral_page(desk, task_id, None, pages.conflict_text(exc), 409)
    except (TransitionRefused, InputInvalid) as exc:
        pages.audit_one(desk, f"inbox-{action}", "U", "4", f"{desk.where(task_id)}: refused", None)
        issue = exc.issues[0]
        return _referral_page(desk, task_id, None, Text(issue.text, issue.english or issue.text), exc.status_code)
    except NotFound:
        pages.audit_one(desk, f"inbox-{action}", "U", "4", f"{desk.where(task_id)}: not this recipient's", None)
        raise
    patient = pages.patient_of(desk, stored)
    pages.audit_one(desk, f"inbox-{action}", "U", "0", f"{desk.where(task_id)}: {stored.get('status')}", patient)
    return redirect(url_for("inbox.referral", task_id=task_id, done=action), 303)


@inbox.post("/language")
@signed_in
def language():
    """The inbox's language switch: kept in the session, back to the page it was on."""
    pages.check_csrf()
    inbox_store().save_language(pages.session_id(), "en" if request.form.get("lang") == "en" else "nl")
    return redirect(pages.safe_next(request.form.get("next")), 303)


@inbox.get("/login")
def login():
    """Sign in at the provider named (?provider=id), the only one registered, or a pick among them."""
    wanted = request.args.get("provider")
    providers = _providers()
    back = {k: request.args[k] for k in ("next", EXPIRED) if request.args.get(k)}  # where to after signing in
    if wanted is None and len(providers) != 1:
        if not providers:
            raise InboxLoginError("inbox.no_provider", "no-provider", 404)
        return render_template("inbox_pick.html", providers=providers, back=back)
    provider = services().registry.provider(wanted) if wanted is not None else providers[0]
    if provider is None:
        _audit("4", "inbox-login refused: unregistered provider")
        raise InboxLoginError("inbox.unknown_provider", "unregistered-provider", 400)
    config = discover(provider, require_https=current_app.config["KS_SETTINGS"].env != "development")
    url, state, pending = authorization(provider, config, _redirect_uri())
    if back.get("next"):
        pending["next"] = pages.safe_next(back["next"])  # an inbox page only
        pending[EXPIRED] = bool(back.get(EXPIRED))
    secret = browser_flow.start(pending)  # the callback only in this browser
    inbox_store().save_pending(state, pending)
    return browser_flow.set_cookie(
        redirect(url), state, secret, path=CALLBACK_PATH, secure=_secure(), max_age=PENDING_LIFETIME
    )


@inbox.get("/callback")
def callback():
    """The provider's answer (Core §3.1.2.5): the code for tokens, the id_token checked, the user mapped to their
    recipient, a server-side session started."""
    state = request.args.get("state") or ""
    pending = inbox_store().take_pending(state)
    provider = services().registry.provider(pending["provider"]) if pending else None
    try:
        if pending is None:
            raise InboxLoginError("inbox.unknown_state", "state")
        if not browser_flow.started_here(state, pending):  # a callback URL opened elsewhere (browser_flow.py)
            raise InboxLoginError("inbox.other_browser", "other-browser")
        if provider is None:  # the registration was withdrawn while the user was signing in
            raise InboxLoginError("inbox.unknown_provider", "unregistered-provider")
        user = _sign_in(provider, pending)
    except InboxLoginError as exc:
        where = f"provider {provider.id}" if provider else "unknown provider"
        _audit("4", f"inbox-login refused ({exc.reason}) at {where}", exc.who)
        raise
    session_id = inbox_store().new_id()
    inbox_store().save_session(session_id, asdict(user))
    inbox_store().end_session(request.cookies.get(COOKIE_NAME))  # one session per browser
    _audit("0", f"inbox-login at provider {provider.id} {_for(user)}", user.who)
    log.info("inbox sign-in: session %s…, provider %s, %s", session_id[:6], provider.id, _for(user))
    response = redirect(_after_sign_in(user, pending))
    response.set_cookie(
        COOKIE_NAME,
        session_id,
        max_age=SESSION_LIFETIME,
        httponly=True,
        samesite="Lax",
        secure=_secure(),
        path="/inbox",
    )
    return browser_flow.clear_cookie(response, state, path=CALLBACK_PATH)


def _after_sign_in(user: InboxUser, pending: dict) -> str:
    """The page the user was sent to sign in from (a referral's, when the session had ended under a step: it says
    so), else their start page: the worklist, or the region's figures for its programme manager."""
    start = url_for("mirror.region" if user.regio else "inbox.index")
    page = pending.get("next")
    if user.regio or not page or page == "/inbox":
        return start
    return page + ("?" + EXPIRED + "=1" if pending.get(EXPIRED) else "")


def _sign_in(provider: IdentityProvider, pending: dict) -> InboxUser:
    """The user of this answer, or InboxLoginError: the provider's refusal, a mix-up (RFC 9207 §2.4: an `iss`
    that is not the provider's), a bad id_token, a user who maps to no recipient (or to more than one)."""
    if request.args.get("error"):
        raise InboxLoginError("inbox.refused_by_provider", "provider-error", 400, request.args["error"][:100])
    if "iss" in request.args and request.args["iss"] != provider.issuer:
        raise InboxLoginError("inbox.identity", "issuer")
    code = request.args.get("code")
    if not code:
        raise InboxLoginError("inbox.no_code", "no-code")
    config = ProviderConfig(**pending["config"])
    token = exchange(provider, config, code, pending["verifier"], _redirect_uri())
    claims = id_token_claims(provider, config, token.get("id_token"), pending["nonce"])
    recipient = provider.recipient_for(claims)
    regio = provider.regio_for(claims)  # the region's programme manager: the mirror figures, never a worklist
    if (regio and recipient is not None) or (
        not regio and (recipient is None or not recipient_known(provider.id, recipient))
    ):
        refused = InboxLoginError("inbox.unknown_user", "unknown-user", 403)
        refused.who = f"{provider.id}:{claims['sub']}"
        raise refused
    name = claims.get("name") if isinstance(claims.get("name"), str) else None
    if regio:
        return InboxUser(
            provider=provider.id, sub=claims["sub"], name=name or claims["sub"], recipient="", role=ROLE_REGIO
        )
    return InboxUser(provider=provider.id, sub=claims["sub"], name=name or claims["sub"], recipient=recipient or "")


def _for(user: InboxUser) -> str:
    """Whom the user works for, as the audit rows and the log name it."""
    return "as the region's programme manager (regio)" if user.regio else f"for recipient {user.recipient}"


@inbox.post("/logout")
def logout():
    """Sign out (a POST with the session's token: a link elsewhere cannot sign anyone out): the session ended here
    (the provider's own session is the provider's)."""
    user = current_user()
    if user is not None:
        pages.check_csrf()
    inbox_store().end_session(request.cookies.get(COOKIE_NAME))
    if user is not None:
        _audit("0", f"inbox-logout at provider {user.provider} {_for(user)}", user.who, "inbox-logout")
    response = current_app.make_response(render_template("inbox_logged_out.html"))
    response.delete_cookie(COOKIE_NAME, path="/inbox")
    return response
