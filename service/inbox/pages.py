"""What the inbox's worklist pages share (the routes are in views.py): the signed-in user's desk — their recipient,
its destination's FHIR client with the destination's own credentials, the owner reference its Tasks carry —, the
page language (the inbox's own, kept in its server-side session), the CSRF token, the template context, the
change a posted form asks for, and the audit rows.

Who sees what: a referral is the recipient's when its Task's owner is the recipient's organisation (bundle.py
`_recipient_ref`: a logical reference by URA/AGB identifier); every read and change passes that owner to the
engine (service/referrals/worklist.py, taskflow.py), which answers NotFound for anyone else's Task: a 404 with
the same words whether it does not exist or is another recipient's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app, render_template, request

from service.audit import AuditEntry, identifier_of
from service.csrf import session_token, token_sent_ok
from service.errors import InputInvalid, KsError, NotFound
from service.fhir import urls
from service.inbox.auth import COOKIE_NAME, InboxUser, inbox_store
from service.referrals import taskflow
from service.referrals.status import task_status_words
from service.referrals.taskflow import Actor, Change
from service.referrals.worklist import WorkItem
from service.registry import IdentityProvider
from service.rules.loader import Recipient
from service.services import services
from service.texts import Text, language, other_language, text, texts

if TYPE_CHECKING:
    from service.fhir.client import FhirClient

CSRF_PURPOSE = "inbox-csrf"  # the inbox's tokens differ from the practice's pages' for the same id
PAGE_SIZE = 50  # the worklist shows this many at a time, with a link to the next ones
TASK_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # https://hl7.org/fhir/R4/datatypes.html#id
ACTIONS = ("accept", "decline", "first-contact", "close", "assign")


class InboxUnavailable(KsError):
    """The recipient's server is not set up or does not answer: the page says so (503), in Dutch and English."""

    status_code, issue_code = 503, "transient"


@dataclass(frozen=True, kw_only=True)
class Desk:
    """Where a signed-in user works: their recipient, its Tasks' owner ("system|value"), its server's client."""

    user: InboxUser
    provider: IdentityProvider
    recipient: Recipient
    owner: str
    client: FhirClient

    @property
    def actor(self) -> Actor:
        """The user as the Task names who took a step: their name and the provider's subject."""
        return Actor(display=self.user.name, identifier={"system": self.provider.issuer, "value": self.user.sub})

    def colleagues(self) -> list[tuple[str, str]]:
        """(sub, name) of the people the registry maps one by one (claim `sub`) to the same recipient, by name;
        the user first."""
        found = {
            m.value: m.name
            for m in self.provider.users
            if m.recipient == self.user.recipient and m.claim == "sub" and m.name
        }
        found.setdefault(self.user.sub, self.user.name)
        mine = [(self.user.sub, found.pop(self.user.sub) or self.user.name)]
        return mine + sorted(((s, n) for s, n in found.items() if n), key=lambda p: p[1])

    def where(self, task_id: str) -> str:
        """The Task as the audit log names it: on which destination, for which recipient."""
        return f"Task/{task_id} at {self.recipient.destination} for {self.recipient.id}"


class NotForRegio(KsError):
    """The region's programme manager asked for a worklist or a referral: she sees the mirror figures only (403)."""

    status_code, issue_code = 403, "forbidden"


def desk_of(user: InboxUser) -> Desk:
    """The user's desk; InboxUnavailable when their recipient has no server (or no organisation) configured;
    NotForRegio for the region's programme manager, who has no desk: no patient-level access anywhere."""
    if user.regio:
        raise NotForRegio(texts("inbox.regio_no_patients"))
    provider = services().registry.provider(user.provider)
    ruleset = services().engine.rulesets.get(provider.region) if provider else None
    recipient = ruleset.recipients.get(user.recipient) if ruleset else None
    ident = recipient.organization_identifier if recipient else None
    client = services().delivery.status_clients.get(recipient.destination) if recipient else None
    if provider is None or recipient is None or ident is None or client is None:
        raise InboxUnavailable(texts("inbox.no_server"))
    return Desk(
        user=user, provider=provider, recipient=recipient, owner=f"{ident['system']}|{ident['value']}", client=client
    )


# ---------------------------------------------------------------------------------------------------- the page


def session_id() -> str:
    return request.cookies.get(COOKIE_NAME) or ""


def page_lang() -> str:
    """The session's language (the switch on every inbox page), Dutch until it is switched."""
    return language(inbox_store().language(session_id()) if session_id() else None)


def csrf_token() -> str:
    return session_token(session_id(), CSRF_PURPOSE)


def check_csrf() -> None:
    """Every POST of the inbox carries the session's token (a 400 with the reason otherwise)."""
    if not session_id() or not token_sent_ok(session_id(), CSRF_PURPOSE):
        raise InputInvalid(texts("inbox.csrf"))


def problem_page(exc: KsError, user: InboxUser | None):
    """The inbox's problem page (inbox_problem.html) for `exc`, in the page's language, never stored by a browser."""
    issue = exc.issues[0]
    words = Text(issue.text, issue.english or issue.text)
    context = template_context(user=user, recipient_name=None, problem=words.in_lang(page_lang()))
    response = current_app.make_response((render_template("inbox_problem.html", **context), exc.status_code))
    response.headers["Cache-Control"] = "no-store"
    return response


def template_context(lang: str | None = None, **extra: object) -> dict:
    """What every inbox template gets: t() in the page's language, the switch's other language, the token."""
    lang = language(lang or page_lang())

    def t(key: str, in_lang: str | None = lang, /, **values: object) -> str:
        return text(key, in_lang, **values)

    return {"t": t, "ui_lang": lang, "other_lang": other_language(lang), "csrf": csrf_token(), **extra}


def code_words(system: str, lang: str) -> dict[str, str]:
    """The codes of one of our CodeSystems in the page's language (the Dutch display where no English is given)."""
    return {code: words.in_lang(lang) for code, words in taskflow.concepts(system).items()}


def safe_next(value: str | None) -> str:
    """Where the language switch returns to: an inbox page only (never another site)."""
    if value and value.startswith("/inbox") and not value.startswith("//") and "\\" not in value:
        return value
    return "/inbox"


def task_id_ok(task_id: str) -> str:
    if not TASK_ID.fullmatch(task_id):
        raise NotFound(texts("worklist.not_found"))
    return task_id


# ---------------------------------------------------------------------------------------------------- a change


def change_from(action: str, desk: Desk, form: Mapping[str, str]) -> Change:
    """The step a posted form asks for, in the engine's terms (its codes checked there: taskflow._check)."""
    actor = desk.actor
    if action == "accept":
        return taskflow.accept(actor)
    if action == "decline":
        return taskflow.decline(actor, form.get("reason", ""))
    if action == "first-contact":
        return taskflow.first_contact(actor)
    if action == "close":
        return taskflow.close(actor, form.get("outcome", ""), form.get("message", ""))
    if action == "assign":
        names = dict(desk.colleagues())
        sub = form.get("assignee", "")
        if sub not in names:
            raise InputInvalid(texts("taskflow.no_assignee"))
        colleague = Actor(display=names[sub], identifier={"system": desk.provider.issuer, "value": sub})
        return taskflow.assign(actor, colleague)
    raise NotFound(texts("worklist.not_found"))


def conflict_text(exc: taskflow.TaskConflict) -> Text:
    """ "Al opgepakt door {naam} ({status})": who holds the Task now, in words."""
    if exc.by:
        return texts("inbox.conflict_by", who=exc.by, status=task_status_words(exc.status))
    return texts("inbox.conflict", status=task_status_words(exc.status))


# ---------------------------------------------------------------------------------------------------- audit


def _access_point() -> str:
    return f"inbox:{request.remote_addr or '-'}"


def audit_each(desk: Desk, event: str, items: Iterable[WorkItem]) -> None:
    """A worklist page lists several patients: one row per patient shown (by BSN, naming their Tasks on it), so
    each patient's export finds that they were on it; one row per line without a BSN; one row naming only the
    recipient when the page shows nobody."""
    by_patient: dict[str, list[str]] = {}
    for item in items:
        key = item.patient_identifier or f"task:{item.task_id}"
        by_patient.setdefault(key, []).append(desk.where(item.task_id))
    services().delivery.audit.record_all(
        AuditEntry(
            event=event,
            action="R",
            outcome="0",
            who=desk.user.who,
            patient=None,
            patient_identifier=None if key.startswith("task:") or not key else key,
            object=f"worklist of {desk.recipient.id}: " + ("; ".join(tasks) or "empty"),
            access_point=_access_point(),
        )
        for key, tasks in by_patient.items() or [("", [])]
    )


def audit_one(desk: Desk, event: str, action: str, outcome: str, obj: str, patient: dict | None) -> None:
    """One row for one referral read or changed, naming its patient by the BSN the recipient's server holds (the
    Patient's id there is not the EHR's, so `patient` stays empty)."""
    services().delivery.audit.record(
        AuditEntry(
            event=event,
            action=action,
            outcome=outcome,
            who=desk.user.who,
            patient=None,
            patient_identifier=identifier_of(patient, urls.BSN),
            object=obj,
            access_point=_access_point(),
        )
    )


def patient_of(desk: Desk, task: Mapping) -> dict | None:
    """The Task's patient at the recipient's server, for the audit row (None when it is not there)."""
    ref = (task.get("for") or {}).get("reference")
    if not isinstance(ref, str) or ref.count("/") != 1 or not ref.startswith("Patient/"):
        return None
    from service.fhir.errors import FhirError

    try:
        return desk.client.read("Patient", ref.split("/")[1])
    except FhirError:
        return None
