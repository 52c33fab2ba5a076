"""The confirmation step: what a send came to, fixed at the moment of sending (per referral where it went and how
it stands, to whom nothing was sent, what was recorded in the EHR, the summary for the HIS), shown with how each
referral stands now; and starting again after it.

In the words of DOMAIN.md: organisations and people by name. The FHIR ids (the submission, the ServiceRequests,
the references written to the EHR) are kept for the page's folded "Technische gegevens" only, never in the
sentences nor in the summary for the HIS."""

from __future__ import annotations

from flask import redirect, render_template, url_for

from service.errors import required
from service.referrals.bundle import evaluation_signals, referrals_in_record
from service.referrals.feedback import copy_of
from service.referrals.status import referral_status, service_requests_by_recipient
from service.services import services
from service.texts import Text, pick, text
from service.web.common import (
    audit,
    banner_for,
    forms,
    meldcode_steps,
    page_lang,
    questionnaire,
    task_view,
    web,
)
from service.web.form_page import draft_opened
from service.web.guard import sent_work, step
from service.web.panel import WITHDRAWN_AFTER, his_summary_parts, join_summary, recipients, state_text
from service.web.store import WorkState
from service.web.user import display_name, named


@web.get("/form/sent")
@step(work=sent_work)
def sent(ctx, work: WorkState):
    result = _with_live_status(ctx, required(work.result, "the sent form's result"))
    return render_template(
        "sent.html",
        r=result,
        heading=_heading(result, page_lang(ctx)),
        banner=banner_for(ctx, work),
        page="sent",
        may_cancel=ctx.can_send,
    )


def _cancelled(task: dict | None) -> bool:
    """Whether the recipient's Task (task_view) was cancelled: by the practice, the only one that cancels."""
    return task is not None and task.get("status") == "cancelled"


def _heading(result: dict, lang: str) -> str:
    """What the send came to, in one heading: recorded (and sent, once a referral has arrived somewhere); when
    the EHR refused the record, sent or not recorded at all."""
    delivered = any(not s["internal"] and s.get("state") == "delivered" for s in result.get("sent", []))
    if result["ehr"]["ok"]:
        return text("sent.recorded_and_sent" if delivered else "sent.recorded", lang)
    return text("sent.sent" if delivered else "sent.not_recorded", lang)


@web.post("/form/new")
@step()
def new_form(ctx):
    """After sending: start again, pre-filled from the record."""
    forms().drop_work(ctx.session_id)
    audit(ctx, "form-drop", "D", "0", "stored form")
    return redirect(url_for(".form"), 303)


def referrals_of(result) -> list[dict]:
    """Each referral of the submission, in order: the recipient's id and names, its priority, and whether it
    stays in the practice or the destination it goes to."""
    return [
        {
            "recipient": rec.id,
            "nl": rec.name.nl,
            "en": rec.name.en,
            "priority": sr.get("priority"),
            "internal": rec.internal,
            "destination": None if rec.internal else rec.destination,
        }
        for rec, sr in referrals_in_record(result.extraction.evaluation, result.extraction.bundles.record)
    ]


def confirmation(ctx, work: WorkState, qr: dict, result, written, lang: str) -> dict:
    """What the confirmation page shows, fixed at the moment of sending: per referral where it went and how it
    stands, and to whom nothing was sent."""
    qdef = questionnaire()
    evaluation = result.extraction.evaluation
    delivery = services().delivery
    states = {d.destination: d for d in result.destinations}
    sent = []
    for r in referrals_of(result):
        d = states.get(r["destination"] or "")
        ids = service_requests_by_recipient(d.item.bundle, d.item.response) if d else {}
        # An internal referral lives only in the EHR: "recorded" says whether the write-back put it there.
        sent.append(
            {
                "recipient": r["recipient"],
                "name": pick(lang, r["nl"], r["en"]),
                "priority": r["priority"],
                "internal": r["internal"],
                "destination": delivery.name(r["destination"]) if r["destination"] else None,
                "state": d.state if d else "recorded",
                "id": ids.get(r["recipient"]),
                "recorded": written.ok if r["internal"] else None,
            }
        )
    not_sent = [{"name": r["name"]} for r in recipients(evaluation, qdef, lang) if r["blocked"]]
    head, tail = his_summary_parts(
        evaluation=evaluation,
        qdef=qdef,
        qr=qr,
        lang=lang,
        meldcode=work.meldcode,
        steps=meldcode_steps(),
        author=named(display_name(ctx), ctx.role).in_lang(lang),
        authored=qr["authored"],
        prepared=draft_opened(work, lang) if work.draft_by and work.draft_by != ctx.fhir_user else None,
    )
    return {
        "submission": result.submission_id,
        "state": result.state,
        "stateText": state_text(result.state, lang),
        "sent": sent,
        "external": any(not s["internal"] for s in sent),
        "notSent": not_sent,
        "summary": join_summary(head, tail, sent, not_sent, lang),
        "summaryParts": [head, tail, lang],
        "ehr": {
            "ok": written.ok,
            "written": list(written.written),
            "problem": Text(*written.problem).in_lang(lang) if written.problem else None,
            "recorded": _recorded(sent, written, lang),
        },
        "signals": list(evaluation_signals(evaluation, qdef)),
    }


def _recorded(sent: list[dict], written, lang: str) -> list[str]:
    """What the write-back put in the EHR, in words: the questionnaire, and per referral the practice's copy
    (with its Task for an internal one); nothing when the write-back stopped (the page says why)."""
    if not written.ok:
        return []
    done = (
        [text("sent.ehr_questionnaire", lang)]
        if any(w.startswith("QuestionnaireResponse") for w in written.written)
        else []
    )
    return done + [
        text("sent.ehr_internal" if s["internal"] else "sent.ehr_referral", lang, name=s["name"]) for s in sent
    ]


def _with_live_status(ctx, result: dict) -> dict:
    """The confirmation as it stands now: a queued referral may have gone out since, or have been taken back by the
    practice before it went (never sent), and a delivered one shows what the recipient did with it (the page is the
    practice's view of the closed loop). The recipients' side comes from the practice's copy
    (service/referrals/feedback.py): the page never waits on a recipient's server."""
    if not result.get("external"):
        # nothing went out of the practice: the page as it was. What the outbox may know of such a submission is
        # the practice's own record, never a referral "afgeleverd" anywhere.
        return result
    delivery = services().delivery
    status = referral_status(delivery, result["submission"], with_tasks=False)
    copies = copy_of(required(services().feedback, "the practice's copy"), delivery, result["submission"])
    if status.state is None and not any(c.unsent for c in copies.values()):
        return result
    lang = page_lang(ctx)
    state = status.state or "withdrawn"  # no outbox item left: every referral was taken back before it went
    live = {**result, "state": state, "stateText": state_text(state, lang)}
    sent = []
    for s in result.get("sent", []):
        copy = copies.get(s.get("recipient", ""))
        where, sr_id = status.for_recipient(s.get("recipient", ""))
        if copy is not None and copy.unsent:
            sent.append({**s, "state": "withdrawn", "task": task_view(copy, lang, s.get("name"))})
        elif where is None:
            sent.append(s)
        else:
            task = task_view(copy, lang, s.get("name"))
            state = WITHDRAWN_AFTER if where.state == "delivered" and _cancelled(task) else where.state
            sent.append({**s, "state": state, "id": s.get("id") or sr_id, "task": task})
    out = [s for s in sent if not s.get("internal")]
    if any(s["state"] == WITHDRAWN_AFTER for s in out) and all(
        s["state"] in ("withdrawn", WITHDRAWN_AFTER) for s in out
    ):
        live["state"], live["stateText"] = WITHDRAWN_AFTER, state_text(WITHDRAWN_AFTER, lang)
    live["sent"] = sent
    live["statusProblem"] = any(c.poll_failed for c in copies.values())
    if result.get("summaryParts"):  # the HIS summary says how each referral stands now, in the language it was made in
        head, tail, made_in = result["summaryParts"]
        his = [{**s, "task": task_view(copies.get(s.get("recipient", "")), made_in, s.get("name"))} for s in sent]
        live["summary"] = join_summary(head, tail, his, result.get("notSent", []), made_in)
    if any(d.state == "delivered" for d in status.destinations):
        audit(ctx, "status-read", "R", "4" if live["statusProblem"] else "0", f"submission:{result['submission']}")
    return live
