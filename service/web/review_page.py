"""The review step: safety, level and per recipient where its referral goes (the destination's name, or the
practice's own EHR), exactly what it receives and does not, and consent asked per recipient (DOMAIN.md §4.2)."""

from __future__ import annotations

from collections.abc import Mapping

from flask import redirect, render_template, request, url_for

from service.services import services
from service.web.common import (
    CONSENT_GIVEN,
    CONSENT_METHOD,
    NOTE,
    banner_for,
    evaluate_fields,
    first_value,
    meldcode_steps,
    needs_meldcode,
    page_lang,
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
    """Without JavaScript: record the consent choices and show the review with exactly what will go."""
    work.consent, work.consent_method = consent_choices(request.form)
    save_work(ctx, work)
    return redirect(url_for(".review") + "#consent", 303)


def consent_choices(form: Mapping[str, str]) -> tuple[dict[str, bool], str | None]:
    """Per-recipient consent and method as posted from the review page."""
    consent = {k[len("consent-for-") :]: True for k in form if k.startswith("consent-for-")}
    method = form.get(CONSENT_METHOD) or None
    return consent, method if method in ("verbal", "written") else None


def render_review(ctx, work: WorkState, error: str | None, status: int = 200):
    """The review (also the send's answer to a problem it can name); the Meldcode step first when it is due."""
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
        can_send=ctx.can_send,
        banner=banner_for(ctx, work),
        page="review",
        notice=notice,
    ), status


def review_model(ctx, work: WorkState) -> dict:
    """Everything the review shows: safety, level, and per recipient where its referral goes (the destination's
    name, or the practice's own EHR), exactly what it receives and does not, and whether consent is asked."""
    qdef, lang = questionnaire(), page_lang(ctx)
    qr, _, evaluation = evaluate_fields(ctx, work.fields, status="in-progress", consent_for_all=True)
    panel = panel_model(evaluation, qdef, lang)
    form_consent = "true" in work.fields.get(CONSENT_GIVEN, ())
    method = work.consent_method if work.consent is not None else (first_value(work.fields, CONSENT_METHOD) or None)
    details = share_details(evaluation, qdef, qr, lang, method)
    delivery = services().delivery
    for r in panel["recipients"]:
        r["consented"] = (work.consent or {}).get(r["id"], False) if work.consent is not None else form_consent
        r["sent"] = (not r["needsConsent"]) or r["consented"]
        r["destinationName"] = None if r["internal"] else delivery.name(r["destination"])
        r["gets"], r["withheld"] = shares_view(r["shares"], details, lang)
    return {
        "panel": panel,
        "signals": panel["signals"],
        "note": first_value(work.fields, NOTE),
        "method": method,
        "asks_consent": any(r["needsConsent"] for r in panel["recipients"]),
        "evaluation": evaluation,
        "nothing_external": not any(r["sent"] and not r["internal"] for r in panel["recipients"]),
        "overridden": evaluation.overridden,
    }
