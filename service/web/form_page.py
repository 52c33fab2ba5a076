"""The form step: the signalling form pre-filled from the record ($populate), its live panel, and the form's own
posts (check and go on, keep without JavaScript, save as a draft, switch the language).

The form's state lives server-side (service/web/store.py) under the launch session's opaque id; a draft is
kept for the patient so the next launch reopens it.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import date

from flask import jsonify, redirect, render_template, request, url_for

from service.ehr import RecordRead, ehr_client, read_record
from service.errors import ResponseInvalid
from service.questionnaires.form import (
    FieldError,
    check_fields,
    parse_date_field,
    response_and_errors,
    response_to_fields,
)
from service.questionnaires.linkids import TEENAGE
from service.questionnaires.populate import populate, record_facts, suggestions, teenage_suggestion
from service.referrals.status import referral_status
from service.services import services
from service.smart.session import session_store
from service.texts import Text, pick, texts
from service.web.common import (
    audit,
    banner_for,
    engine,
    evaluate_fields,
    first_value,
    forms,
    meldcode_steps,
    needs_meldcode,
    page_lang,
    posted_fields,
    practice_now,
    questionnaire,
    region,
    save_work,
    subject_of,
    task_view,
    unfinished_work,
    web,
)
from service.web.formview import item_views
from service.web.guard import step, stored_or_new, work_or_new
from service.web.panel import panel_model, state_text
from service.web.store import WorkState

PAGES = {"form", "meldcode", "review", "sent"}  # where a language switch may return to


def open_work(ctx) -> WorkState:
    """This session's form; else the patient's saved draft; else a new form pre-filled from the record."""
    work = unfinished_work(ctx)
    if work is not None:
        return work
    draft = forms().draft(ctx.iss, ctx.patient)
    if draft is not None:
        draft.result, draft.reviewed, draft.notice = None, False, "draft-opened"
        audit(ctx, "draft-open", "R", "0", "draft")
        work = draft
    else:
        work = _populated(ctx)
    save_work(ctx, work)
    return work


@web.get("/form")
@step(work=open_work)
def form(ctx, work: WorkState):
    return render_form(ctx, work, [], earlier=_earlier_referrals(ctx))


@web.post("/form/panel")
@step(work=stored_or_new)
def panel(ctx, work: WorkState):
    """The live panel: the posted fields as a response, evaluated; JSON with the data and its HTML."""
    data = _panel(ctx, work, posted_fields(questionnaire()))
    html = render_template("_panel.html", panel=data, steps=meldcode_steps())
    return jsonify({"panel": data, "html": html})


@web.post("/form/review")
@step(work=work_or_new)
def to_review(ctx, work: WorkState):
    """Check the form; with mistakes: the form again with every one of them; else the Meldcode step or review."""
    qdef = questionnaire()
    work.fields = posted_fields(qdef)
    work.consent, work.reviewed = None, False
    work.meldcode = {**work.meldcode, "seen": False}
    errors = check_fields(qdef, work.fields, today=practice_now().date())
    if errors:
        save_work(ctx, work)
        return render_form(ctx, work, errors, 422)
    work.reviewed = True
    save_work(ctx, work)
    _, _, evaluation = evaluate_fields(ctx, work.fields, status="in-progress")
    return redirect(url_for(".meldcode" if needs_meldcode(evaluation) else ".review"), 303)


@web.post("/form/update")
@step(work=work_or_new)
def update(ctx, work: WorkState):
    """Without JavaScript: keep what was filled in and show the panel for it."""
    work.fields, work.reviewed = posted_fields(questionnaire()), False
    save_work(ctx, work)
    return redirect(url_for(".form") + "#panel", 303)


@web.post("/form/draft")
@step(work=work_or_new)
def save_draft(ctx, work: WorkState):
    """Save as a draft for this patient (the next launch for the patient reopens it), e.g. for the GP."""
    if request.form.get("_form") == "main":
        work.fields, work.reviewed = posted_fields(questionnaire()), False
    work.draft_saved_at, work.draft_by = time.time(), ctx.fhir_user
    work.notice = None
    forms().save_draft(ctx.iss, ctx.patient, work)
    audit(ctx, "draft-save", "U", "0", "draft")
    work.notice = "draft-saved"
    save_work(ctx, work)
    return redirect(url_for(".form"), 303)


@web.post("/form/language")
@step()
def language(ctx):
    lang = request.form.get("lang")
    if lang in ("nl", "en"):
        session_store().update(ctx, language=lang)
    if request.form.get("_form") == "main" and (work := unfinished_work(ctx)) is not None:
        work.fields, work.reviewed = posted_fields(questionnaire()), False
        save_work(ctx, work)
    page = request.form.get("next")
    return redirect(url_for(f".{page if page in PAGES else 'form'}"), 303)


def render_form(ctx, work: WorkState, errors: list[FieldError], status: int = 200, earlier: list[dict] | None = None):
    """The form with `errors` at their items and in the summary on top (also the send's answer to problems)."""
    qdef, lang = questionnaire(), page_lang(ctx)
    sugg = {
        s["link_id"]: {**s, "text": pick(lang, s["text"], s["english"])}
        for s in _live_suggestions(work, work.fields, practice_now().date())
    }
    err_map: dict[str, str] = {}
    for e in errors:
        err_map.setdefault(e.link_id, pick(lang, e.text, e.english))
    views = item_views(qdef, work.fields, lang, errors=err_map, suggestions=sugg)
    field_ids = {}

    def collect(vs):
        for v in vs:
            field_ids[v.link_id] = v.field_id
            collect(v.children)

    collect(views)
    summary = [{"href": "#" + field_ids.get(e.link_id, "main"), "text": pick(lang, e.text, e.english)} for e in errors]
    notice, work.notice = work.notice, None
    if notice:
        save_work(ctx, work)
    return render_template(
        "form.html",
        items=views,
        errors=summary,
        panel=_panel(ctx, work, work.fields),
        steps=meldcode_steps(),
        banner=banner_for(ctx, work),
        can_send=ctx.can_send,
        notice=notice,
        work=work,
        page="form",
        earlier=earlier or [],
        record_problem=Text(*work.record_problem).in_lang(lang) if work.record_problem else None,
    ), status


def _panel(ctx, work: WorkState, fields) -> dict:
    """The live panel's model for the fields as they stand (the built response, not validated again)."""
    qdef, lang = questionnaire(), page_lang(ctx)
    qr, parse_errors = response_and_errors(
        qdef,
        fields,
        subject=subject_of(ctx),
        author=ctx.fhir_user,
        authored=practice_now().isoformat(),
        identifier=None,
        status="in-progress",
    )
    sugg = [
        {**s, "text": pick(lang, s["text"], s["english"])}
        for s in _live_suggestions(work, fields, practice_now().date())
    ]
    errors = [{"linkId": e.link_id, "text": pick(lang, e.text, e.english)} for e in parse_errors]
    try:
        evaluation = engine().evaluate_built(qr, region())
    except ResponseInvalid:
        return {
            "unavailable": True,
            "errors": errors,
            "suggestions": sugg,
            "safety": [],
            "recipients": [],
            "advice": [],
        }
    return panel_model(evaluation, qdef, lang, suggestions=sugg, errors=errors)


def _live_suggestions(work: WorkState, fields, today: date) -> list[dict]:
    """Stored suggestions, with teenage pregnancy recomputed from the due date now in the form."""
    out = [s for s in work.suggestions if s.get("link_id") != TEENAGE]
    if first_value(fields, "phase") == "pregnant" and "true" not in fields.get(TEENAGE, ()) and work.mother_birth_date:
        due = parse_date_field(first_value(fields, "due-date")) if first_value(fields, "due-date") else None
        teen = teenage_suggestion(date.fromisoformat(work.mother_birth_date), due, today)
        if teen:
            out.append(asdict(teen))
    return out


def _populated(ctx) -> WorkState:
    """A new form, pre-filled from the EHR's record ($populate) read with the launch's token."""
    qdef, today = questionnaire(), practice_now().date()
    if not ctx.patient:
        record = RecordRead(problem=texts("form.no_patient_in_launch"))
    else:
        with ehr_client(ctx) as client:
            record = read_record(client, ctx.patient)
        outcome = "0" if record.problem is None else "4"
        audit(ctx, "populate", "R", outcome, f"Patient/{ctx.patient}", patient=record.patient)
    qr = populate(qdef, record.patient, record.observations, record.conditions, today)
    facts = record_facts(record.patient, record.observations, record.conditions, today, qdef)
    return WorkState(
        fields=response_to_fields(qr),
        suggestions=[
            asdict(s)
            for s in suggestions(qdef, record.patient, record.observations, record.conditions, today)
            if s.link_id != TEENAGE
        ],
        mother_birth_date=facts.mother_birth_date.isoformat() if facts.mother_birth_date else None,
        banner=_banner_from(record.patient) if ctx.need_patient_banner and not ctx.patient_banner else {},
        record_problem=list(record.problem) if record.problem else None,
    )


def _banner_from(patient: dict | None) -> dict:
    if not patient:
        return {}
    names = patient.get("name") or [{}]
    name = names[0].get("text") or " ".join([*names[0].get("given", ()), names[0].get("family", "")]).strip()
    return {"name": name, "birthDate": patient.get("birthDate")}


def _earlier_referrals(ctx) -> list[dict]:
    """Referrals sent for this patient from the form before (newest three), each as it stands now: so the
    practice sees what became of them and does not refer twice by accident."""
    logged = forms().referrals(ctx.iss, ctx.patient)
    if not logged:
        return []
    lang = page_lang(ctx)
    delivery = services().delivery
    out: list[dict] = []
    for item in logged:
        # After one failed read of the recipients' server, not again for the older ones: the form must not wait.
        status = referral_status(delivery, item["submission"], with_tasks=not any(o["problem"] for o in out))
        recipients_now = []
        for names in item.get("recipients", []):
            where, sr_id = status.for_recipient(names.get("recipient", ""))
            recipients_now.append(
                {
                    "name": names.get(lang) or names.get("nl"),
                    "internal": names.get("internal", False),
                    "task": task_view(where, sr_id, lang) if where else None,
                }
            )
        authored = str(item.get("authored") or "")[:10]
        state = status.state or "recorded"
        out.append(
            {
                "date": f"{authored[8:10]}-{authored[5:7]}-{authored[:4]}" if len(authored) == 10 else authored,
                "state": state_text(state, lang),
                "recipients": recipients_now,
                "problem": status.problem,
            }
        )
    audit(ctx, "status-read", "R", "4" if any(o["problem"] for o in out) else "0", "referral-log")
    return out
