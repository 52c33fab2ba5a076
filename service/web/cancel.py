"""The GP's cancel of a referral (issue 13 point 3: "the GP's cancel ... shows as cancelled and stops the work"), from
the confirmation page and the practice's overview: a "Verwijzing intrekken" button per open external referral posts
here; this page reads where the referral stands at its recipient now and asks "Weet u het zeker?"; only the second
post ("Ja, verwijzing intrekken", with the Task's version the page showed) cancels it at its destination
(service/referrals/withdraw.py cancel_referral) and tells the practice's copy at once, then goes back to the page the
GP came from, which shows it as ingetrokken.

A referral still waiting in the outbox (or refused by its server) has no Task anywhere: the page reads none, asks
whether to take it out of the queue, and the second post takes it back (cancel_referral; should the push have
arrived meanwhile, it is cancelled at its destination instead, against the Task as it is then). The practice's copy
holds it from then on as "ingetrokken, nooit verstuurd" (feedback.py record_unsent); asked again, it is refused.

Who may: whoever may send (the GP, the POH Jeugd); the doktersassistent sees no button, and her post is refused with
a 403 page. Which referrals: only the launch's practice's own, by the requester's AGB-Z code on the referral (as the
overview lists them). Audit (NEN 7513): one row per post, naming the referral's patient by the BSN that went out,
never tied to the launch's own patient (the overview may be opened from another patient's launch): the row is
written once the page is made, as the overview's are.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import after_this_request, redirect, render_template, request, url_for

from service.audit import AuditEntry
from service.errors import KsError, NotFound, ResponseInvalid, required
from service.fhir.errors import FhirError
from service.fhir.urls import AGB_Z
from service.outbox.store import item_id
from service.referrals.feedback import ReferralFeedback, referrals_of_bundle
from service.referrals.submit import patient_in_bundle
from service.referrals.taskflow import FINAL, TaskConflict, TransitionRefused
from service.referrals.withdraw import CancelRefused, cancel_referral, referral_task, refused_if_final, waiting_item
from service.services import services
from service.smart.session import current_practice
from service.texts import pick, text, texts
from service.web.common import access_point, forms, page_lang, web
from service.web.guard import step
from service.web.overview import patient_of, referral_row

log = logging.getLogger(__name__)

BACK = ("sent", "practice_referrals")  # the pages with the button: where the GP goes back to


@web.post("/practice/referrals/cancel")
@step()
def cancel_referral_page(ctx):
    """The first post asks (the confirmation page, with the Task's version now); the second, `confirm=yes`, cancels."""
    form = request.form
    back = form.get("back") if form.get("back") in BACK else "practice_referrals"
    if not ctx.can_send:
        log.info("cancel refused: role %s may not cancel", ctx.role)
        return _page(ctx, back, 403, title="cancel.forbidden_title", problem=text("cancel.forbidden_text"))
    found = _own_referral(form.get("submission") or _sent_submission(ctx), form.get("recipient", ""))
    if found is None:
        return _page(ctx, back, 404, title="cancel.refused_title", problem=text("cancel.not_found", page_lang(ctx)))
    entries: list[AuditEntry] = []

    @after_this_request
    def audited(response):
        for entry in entries:
            services().delivery.audit.record(entry)
        return response

    if found.unsent:  # taken back from the outbox before: nothing left to cancel
        entries.append(_entry(ctx, found, "referral-cancel-read", "R", "4", f"{found.submission}:{found.recipient}"))
        return _page(
            ctx,
            back,
            409,
            found=found,
            title="cancel.refused_title",
            problem=text("cancel.already_unsent", page_lang(ctx)),
        )
    if form.get("confirm") == "yes":
        return _cancel(ctx, found, back, form.get("version") or None, entries)
    return _ask(ctx, found, back, entries)


def _sent_submission(ctx) -> str:
    """The submission this session sent (the confirmation page's button names only the recipient: no ids on that
    page outside its "Technische gegevens"). Only its id is taken from the stored form: no audit row of its own."""
    work = forms().work(ctx.session_id)
    return str((work.result or {}).get("submission") or "") if work is not None else ""


def _own_referral(submission: str, recipient: str) -> ReferralFeedback | None:
    """The referral in the practice's copy (or, not delivered yet, in the outbox: _waiting), when it is the launch's
    practice's (the requester's AGB-Z code)."""
    practice = required(current_practice(), "the launch's registered practice")
    store = required(services().feedback, "the practice's copy")
    store.track(services().delivery.outbox)
    found = store.for_submission(submission).get(recipient) if submission and recipient else None
    if found is None and submission and recipient:
        found = _waiting(submission, recipient)
    return found if found is not None and found.practice == f"{AGB_Z}|{practice.agb}" else None


def _waiting(submission: str, recipient: str) -> ReferralFeedback | None:
    """A referral still in the outbox (waiting, or refused by its server) as the copy will hold it once it went: no
    Task yet; `sent` is when it was queued. Never stored from here (the copy holds only what was delivered)."""
    item = waiting_item(services().delivery, submission, recipient)
    if item is None:
        return None
    practice = next((p for r, p, _ in referrals_of_bundle(item.bundle) if r == recipient), None)
    queued = datetime.fromisoformat(item.created_at).timestamp()  # the outbox's own ISO instant (UTC)
    return ReferralFeedback(
        submission=submission, recipient=recipient, destination=item.destination or "", sent=queued, practice=practice
    )


def _ask(ctx, found: ReferralFeedback, back: str, entries: list[AuditEntry]):
    """Where the referral stands at the recipient now, and "Weet u het zeker?" while it is open."""
    delivery, store = services().delivery, required(services().feedback, "the practice's copy")
    key = f"{found.submission}:{found.recipient}"
    waiting = waiting_item(delivery, found.submission, found.recipient)
    if waiting is not None:  # no Task anywhere to read: what the page shows is the practice's own outbox item
        entries.append(_entry(ctx, found, "referral-cancel-read", "R", "0", key, "; outbox"))
        return _page(ctx, back, 200, found=found, waiting=waiting.state)
    outcome = "4"
    try:
        task = referral_task(delivery, found.submission, found.recipient)
        outcome = "0"
    except (NotFound, ResponseInvalid) as exc:
        return _page(ctx, back, 409, found=found, title="cancel.refused_title", problem=_words(exc, ctx))
    except (FhirError, OSError) as exc:
        log.info("reading the Task to cancel failed: %s", type(exc).__name__)
        return _unreachable(ctx, found, back)
    finally:
        entries.append(_entry(ctx, found, "referral-cancel-read", "R", outcome, key))
    store.record_task(key, task)
    found = store.for_submission(found.submission)[found.recipient]
    try:
        refused_if_final(task)
    except CancelRefused as exc:
        return _page(ctx, back, 409, found=found, title="cancel.refused_title", problem=_words(exc, ctx))
    return _page(ctx, back, 200, found=found, version=(task.get("meta") or {}).get("versionId") or "")


def _cancel(ctx, found: ReferralFeedback, back: str, version: str | None, entries: list[AuditEntry]):
    """The cancel against `version`; on a change meanwhile the page again, with the new stand (and its version while
    the referral is still open)."""
    store = required(services().feedback, "the practice's copy")
    reason = text("cancel.status_reason_poh" if ctx.role == "poh-jeugd" else "cancel.status_reason")
    lang = page_lang(ctx)
    try:
        cancel_referral(
            services().delivery,
            found.submission,
            found.recipient,
            ctx.fhir_user,
            reason,
            version=version,
            access_point=access_point(),
            copy=store,
            record=entries.append,
        )
    except TaskConflict as exc:
        now = store.for_submission(found.submission).get(found.recipient, found)
        row = _view(now, lang)
        problem = texts(
            "cancel.conflict", recipient=row["recipient"], status=row["task"]["text"] if row["task"] else ""
        )
        open_version = (exc.task.get("meta") or {}).get("versionId") if exc.status not in FINAL else None
        return _page(ctx, back, 409, found=now, version=open_version, problem=problem.in_lang(lang))
    except (TransitionRefused, NotFound, ResponseInvalid) as exc:  # ResponseInvalid too: a push outlasted the wait
        now = store.for_submission(found.submission).get(found.recipient, found)
        return _page(ctx, back, 409, found=now, title="cancel.refused_title", problem=_words(exc, ctx))
    except (FhirError, OSError) as exc:
        log.info("cancelling at the recipient failed: %s", type(exc).__name__)
        return _unreachable(ctx, found, back)
    return redirect(url_for(f".{back}"), 303)


def _entry(
    ctx, found: ReferralFeedback, event: str, action: str, outcome: str, obj: str, where: str = ""
) -> AuditEntry:
    """An audit row about the referral's patient as the practice sent her (the outbox item's Bundle); `where`:
    "; outbox" for a referral read there (not delivered yet), as cancel_referral's take-back row says."""
    item = services().delivery.outbox.get(item_id(found.submission, found.destination))
    return AuditEntry(
        event=event,
        action=action,
        outcome=outcome,
        who=ctx.fhir_user,
        patient=patient_in_bundle(item.bundle) if item else f"submission:{found.submission}",
        object=f"{obj} → {found.destination}{where}",
        access_point=access_point(),
    )


def _words(exc: KsError, ctx) -> str:
    """A refusal's text in the page's language (a KsError's issue carries Dutch and English)."""
    issue = exc.issues[0]
    return pick(page_lang(ctx), issue.text, issue.english)


def _view(found: ReferralFeedback, lang: str) -> dict[str, Any]:
    region = required(current_practice(), "the launch's registered practice").region
    return referral_row(found, lang, patient_of(services().delivery.outbox, found, {}), region)


def _unreachable(ctx, found: ReferralFeedback, back: str):
    lang = page_lang(ctx)
    problem = text("cancel.unreachable", lang, recipient=_view(found, lang)["recipient"])
    return _page(ctx, back, 503, found=found, title="cancel.refused_title", problem=problem)


def _page(
    ctx,
    back: str,
    status: int,
    *,
    found: ReferralFeedback | None = None,
    title: str = "cancel.title",
    problem: str | None = None,
    version: str | None = None,
    waiting: str | None = None,
):
    """The cancel page: the referral (patient, recipient, sent, where it stands) and, with `version` (or `waiting`:
    the outbox state of a referral not delivered yet, queued or dead), the question and the button that cancels;
    else why not, and the way back."""
    referral = _view(found, page_lang(ctx)) if found is not None else None
    html = render_template(
        "cancel.html",
        title=title,
        problem=problem,
        referral=referral,
        submission=found.submission if found else "",
        recipient=found.recipient if found else "",
        version=version,
        waiting=waiting,
        back=back,
        banner=None,  # the page is about the referral's patient, shown with it, not the launch's
        page=back,
    )
    return html, status
