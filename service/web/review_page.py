"""The review step: safety, level and per recipient where its referral goes (the destination's name, or the
practice's own EHR), exactly what it receives and does not, and consent asked per recipient (DOMAIN.md §4.2)."""

from __future__ import annotations

from collections.abc import Mapping

from flask import redirect, render_template, request, url_for

from service.services import services
from service.texts import text
from service.web.common import (
    CONSENT_METHOD,
    NOTE,
    audit,
    banner_for,
    evaluate_fields,
    first_value,
    meldcode_steps,
    needs_meldcode,
    page_lang,
    patient_record_keys,
    questionnaire,
    save_work,
    web,
)
from service.web.guard import reviewed, step
from service.web.panel import panel_model, share_details, shares_view
from service.web.store import WorkState


@web.get("/form/review")
@step(work=reviewed)
def review(ctx, work: WorkState):
    return render_review(ctx, work, None)


@web.post("/form/consent")
@step(work=reviewed)
def record_consent(ctx, work: WorkState):
    """Without JavaScript: record the consent choices and show the review with exactly what will go (only
    of who sends: the review asks nobody else)."""
    if ctx.can_send:
        work.consent, work.consent_method = consent_choices(request.form)
        save_work(ctx, work)
    return redirect(url_for(".review") + "#consent", 303)


def consent_choices(form: Mapping[str, str]) -> tuple[dict[str, bool], str | None]:
    """Per-recipient consent and method as posted from the review page."""
    consent = {k[len("consent-for-") :]: True for k in form if k.startswith("consent-for-")}
    method = form.get(CONSENT_METHOD) or None
    return consent, method if method in ("verbal", "written") else None


def render_review(ctx, work: WorkState, error: str | None, status: int = 200, *, confirm_error: str | None = None):
    """The review (also the send's answer to a problem it can name); the Meldcode step first when it is due.
    `confirm_error`: a send that would make nothing leave the practice was not confirmed as such (or the
    confirmation was pressed while a referral would leave): said at the buttons."""
    model = review_model(ctx, work)
    if needs_meldcode(model["evaluation"]) and not work.meldcode.get("seen"):
        return redirect(url_for(".meldcode"), 303)
    notice, work.notice = work.notice, None
    if notice:
        save_work(ctx, work)
    return render_template(
        "review.html",
        m=model,
        panel=model["panel"],
        steps=meldcode_steps(),
        work=work,
        error=error,
        confirm_error=confirm_error,
        can_send=ctx.can_send,
        banner=banner_for(ctx, work),
        page="review",
        notice=notice,
    ), status


def review_model(ctx, work: WorkState) -> dict:
    """Everything the review shows: safety, level, and per recipient where its referral goes (the destination's
    name, or the practice's own EHR), exactly what it receives and does not, and whether consent is asked.

    Consent is asked here only, per recipient, of the person who sends: nothing is ticked but what they ticked
    (the form does not ask it; a draft never carries it). Who cannot send (the doktersassistent) is asked
    nothing: she sees what each recipient gets when the GP or POH Jeugd sends it with consent."""
    qdef, lang = questionnaire(), page_lang(ctx)
    qr, _, evaluation = evaluate_fields(ctx, work.fields, status="in-progress", consent_for_all=True)
    panel = panel_model(evaluation, qdef, lang)
    sender = ctx.can_send
    ticked = (work.consent or {}) if sender else {}
    method = work.consent_method if sender else None
    details = share_details(evaluation, qdef, qr, lang, method)
    delivery = services().delivery
    for r in panel["recipients"]:
        r["consented"] = bool(ticked.get(r["id"], False))
        # for who cannot send: what goes once the sender has the patient's consent
        r["sent"] = (not r["needsConsent"]) or r["consented"] or not sender
        r["destinationName"] = None if r["internal"] else delivery.name(r["destination"])
        r["gets"], r["withheld"] = shares_view(r["shares"], details, lang)
    recent = recent_referrals(ctx, work, [r["id"] for r in panel["recipients"]], lang)
    for r in panel["recipients"]:
        r["recent"] = recent.get(r["id"])
    return {
        "panel": panel,
        "signals": panel["signals"],
        "note": first_value(work.fields, NOTE),
        "method": method,
        "asks_consent": sender and any(r["needsConsent"] for r in panel["recipients"]),
        "evaluation": evaluation,
        "nothing_external": not any(r["sent"] and not r["internal"] for r in panel["recipients"]),
        "overridden": evaluation.overridden,
    }


def recent_referrals(ctx, work: WorkState, recipients: list[str], lang: str) -> dict[str, str]:
    """Per recipient the warning that it had a referral for this patient within KS_RECENT_REFERRAL_DAYS, from
    the form or the API (service/referrals/recent.py): a flag, the send is not blocked. Reading the record
    is an access to the patient's data: a part of this request's audit row."""
    record = services().delivery.recent
    if record is None or record.window_days <= 0 or not recipients or not ctx.patient:
        return {}
    found = record.latest_per_recipient(patient_record_keys(ctx, work), recipients)
    audit(ctx, "recent-read", "R", "0", "referral record")
    return {
        rid: text(
            "review.recent_referral",
            lang,
            name=r.name(lang),
            date=r.date(),
            via=r.via_text(lang),
        )
        for rid, r in found.items()
    }
