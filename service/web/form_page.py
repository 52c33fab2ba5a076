"""The form step: the signalling form pre-filled from the record ($populate), its live panel, and the form's own
posts (check and go on, keep without JavaScript, save as a draft, switch the language).

The form's state lives server-side (service/web/store.py) under the launch session's opaque id; a draft is
kept for the patient so the next launch reopens it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from datetime import date, datetime

from flask import redirect, render_template, request, url_for

from service.audit import identifier_of
from service.ehr import RecordRead, ehr_client, read_record
from service.errors import required
from service.fhir.urls import BSN
from service.questionnaires.catalog import QuestionnaireDef
from service.questionnaires.form import (
    FieldError,
    check_fields,
    date_errors,
    index_fields,
    parse_date_field,
    response_to_fields,
)
from service.questionnaires.linkids import CHILD_BIRTH_DATE, DUE_DATE, TEENAGE
from service.questionnaires.populate import populate, record_facts, suggestions, teenage_suggestion
from service.referrals.feedback import copy_of
from service.referrals.pipeline import PRACTICE_ZONE
from service.referrals.recent import KEEP_DAYS, VIA_TEXT, patient_keys
from service.referrals.status import referral_status
from service.rules.evaluate import evaluate_index
from service.services import services
from service.smart.session import current_launch, current_practice, session_store
from service.texts import Text, pick, text, texts
from service.texts import language as known_language
from service.web import security
from service.web.common import (
    CONSENT_GIVEN,
    CONSENT_METHOD,
    audit,
    banner_for,
    engine,
    evaluate_fields,
    first_value,
    forms,
    json_answer,
    meldcode_steps,
    needs_meldcode,
    page_lang,
    patient_record_keys,
    posted_fields,
    practice_now,
    questionnaire,
    questionnaire_of,
    region,
    render_fragments,
    save_work,
    subject_of,
    task_view,
    unfinished_work,
    web,
)
from service.web.formview import ItemView, item_views
from service.web.guard import panel_step, step, work_or_new
from service.web.panel import panel_model, state_text
from service.web.security import PanelSession
from service.web.store import PanelFacts, WorkState
from service.web.user import display_name, named

# where a language switch may return to
PAGES = {"form", "meldcode", "review", "sent", "practice_referrals", "practice_mirror"}


def open_work(ctx) -> WorkState:
    """This session's form; else the patient's saved draft; else a new form pre-filled from the record."""
    work = unfinished_work(ctx)
    if work is not None:
        return work
    draft = forms().draft(ctx.iss, ctx.patient)
    if draft is not None:
        # consent is asked by whoever sends, at review: never taken over from a draft (nor from an old one that
        # still carries it)
        work = without_consent(draft)
        work.result, work.reviewed, work.notice = None, False, "draft-opened"
        audit(ctx, "draft-open", "R", "0", "draft")
    else:
        work = _populated(ctx)
    save_work(ctx, work)
    return work


CONSENT_FIELDS = (CONSENT_GIVEN, CONSENT_METHOD)


def without_consent(work: WorkState) -> WorkState:
    """A copy of `work` without any consent: neither the review's ticks and method nor the Questionnaire's consent
    fields (the send fills those from the sender's own choices at review: service/web/send.py)."""
    fields = {k: v for k, v in work.fields.items() if k not in CONSENT_FIELDS}
    return replace(work, fields=fields, consent=None, consent_method=None)


def without_consent_items(views: list[ItemView]) -> list[ItemView]:
    """The form's items without the consent questions (asked per recipient at review, by the sender), and
    without a group left empty by that."""
    out = []
    for v in views:
        if v.link_id in CONSENT_FIELDS:
            continue
        children = tuple(without_consent_items(list(v.children)))
        if v.control == "group" and v.children and not children:
            continue
        out.append(replace(v, children=children) if children != v.children else v)
    return out


def draft_opened(work: WorkState, lang: str) -> str:
    """The draft notice: "Concept opgeslagen door … op dd-mm-jjjj om hh:mm." (in the practice's time zone)."""
    if work.draft_saved_at is None:  # every draft saved here has its time; this is for a row from elsewhere
        return text("form.draft_opened_undated", lang)
    saved = datetime.fromtimestamp(work.draft_saved_at, PRACTICE_ZONE)
    return text(
        "form.draft_opened",
        lang,
        name=named(work.draft_by_name, work.draft_by_role),
        date=saved.strftime("%d-%m-%Y"),
        time=saved.strftime("%H:%M"),
    )


@web.get("/form")
@step(work=open_work)
def form(ctx, work: WorkState):
    return render_form(ctx, work, [], earlier=_earlier_referrals(ctx, work))


@web.post("/form/panel")
@panel_step
def panel(who: PanelSession, practice, renew: bool):
    """The live panel: the posted fields, evaluated; JSON with its HTML and what app.js does besides: the
    suggestions next to the items, the step indicator (Meldcode due). app.js fills the narrow screens' summary bar
    from the panel's HTML (the page without JavaScript renders _panel_bar.html). With `renew` (the full guard ran:
    guard.panel_step) a new panel token comes with it.

    It evaluates the fields in the request with the facts this session's opening of the form read from the record
    (the suggestions, the mother's birth date; that read is the form's audit row): not an access of its own. A row
    per refresh (one a second while the clinician ticks) would bury the log's real accesses (benchmarks/form.py)."""
    lang, qdef = known_language(who.language), questionnaire_of(practice.region)
    facts = forms().panel_facts(who.session_id, who.form_id)
    data = live_panel(facts, posted_fields(qdef), qdef, practice.region, lang)
    [html] = render_fragments(lang, "_panel.html", panel=data)
    sugg = [{"link_id": s["link_id"], "text": s["text"]} for s in data["suggestions"]]
    answer = {"panel": {"suggestions": sugg, "meldcode": data.get("meldcode", False)}, "html": html}
    if renew:
        answer["token"] = security.panel_token(current_launch(), max_age=session_store().max_age, form_id=facts.form_id)
    return json_answer(answer)


@web.post("/form/review")
@step(work=work_or_new)
def to_review(ctx, work: WorkState):
    """Check the form; with mistakes: the form again with every one of them; else the Meldcode step or review."""
    qdef = questionnaire()
    work.fields = posted_fields(qdef)
    work.consent, work.consent_method, work.reviewed = None, None, False
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
    work.draft_by_name, work.draft_by_role = display_name(ctx), ctx.role
    work.notice = None
    forms().save_draft(ctx.iss, ctx.patient, without_consent(work))  # consent ticks are never part of a draft
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
    # consent is asked at review, per recipient, by who sends
    views = without_consent_items(item_views(qdef, work.fields, lang, errors=err_map, suggestions=sugg))
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
        # the live panel's (guard.panel_step), naming this form: its facts are kept by it (FormStore.panel_facts)
        panel_token=security.panel_token(ctx, max_age=session_store().max_age, form_id=work.identifier),
        steps=meldcode_steps(),
        banner=banner_for(ctx, work),
        can_send=ctx.can_send,
        notice=notice,
        draft_opened=draft_opened(work, lang) if notice == "draft-opened" else None,
        work=work,
        page="form",
        earlier=earlier or [],
        record_problem=Text(*work.record_problem).in_lang(lang) if work.record_problem else None,
    ), status


def _panel(ctx, work: WorkState | PanelFacts, fields, qdef: QuestionnaireDef | None = None) -> dict:
    """The live panel's model for the fields as they stand in the session `ctx` (the form page; POST /form/panel
    is `live_panel` without a session read)."""
    qdef = qdef or questionnaire()
    return live_panel(work, fields, qdef, region(), page_lang(ctx), subject=subject_of(ctx), author=ctx.fhir_user)


def _day(value) -> date | None:
    """An answer's date (an index value: ISO text), or None."""
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def live_panel(
    work: WorkState | PanelFacts,
    fields,
    qdef: QuestionnaireDef,
    region: str,
    lang: str,
    *,
    subject: str | None = None,
    author: str | None = None,
) -> dict:
    """The live panel's model for the fields as they stand (their answer index, the response not built unless
    a rule expression needs it: rules/evaluate.py evaluate_index; not validated again), as if consent were
    given: the form does not ask it (the review does), so the panel shows every recipient that consent would
    allow. `subject` and `author` are the response's (no rule reads them: tests/rules/test_evaluate_index.py)."""
    now = practice_now()
    indexed = index_fields(
        qdef,
        {**fields, CONSENT_GIVEN: ["true"]},
        subject=subject,
        author=author,
        authored=now.isoformat(),
        status="in-progress",
    )
    sugg = [{**s, "text": pick(lang, s["text"], s["english"])} for s in _live_suggestions(work, fields, now.date())]
    dated = date_errors(
        _day(indexed.index.first(DUE_DATE)), _day(indexed.index.first(CHILD_BIRTH_DATE)), today=now.date()
    )
    errors = [{"linkId": e.link_id, "text": pick(lang, e.text, e.english)} for e in (*indexed.errors, *dated)]
    ruleset = engine().ruleset(region)
    if engine().catalog.find(ruleset.questionnaire) is not qdef:  # the rule set is for another Questionnaire
        return {
            "unavailable": True,
            "errors": errors,
            "suggestions": sugg,
            "safety": [],
            "recipients": [],
            "advice": [],
        }
    evaluation = evaluate_index(indexed.index, ruleset, qdef, today=now.date(), response=indexed.response)
    return panel_model(evaluation, qdef, lang, suggestions=sugg, errors=errors)


def _live_suggestions(work: WorkState | PanelFacts, fields, today: date) -> list[dict]:
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
        patient_keys=list(patient_keys(current_practice(), None, identifier_of(record.patient, BSN))),
    )


def _banner_from(patient: dict | None) -> dict:
    if not patient:
        return {}
    names = patient.get("name") or [{}]
    name = names[0].get("text") or " ".join([*names[0].get("given", ()), names[0].get("family", "")]).strip()
    return {"name": name, "birthDate": patient.get("birthDate")}


def _earlier_referrals(ctx, work: WorkState) -> list[dict]:
    """Referrals sent for this patient from the form before (newest three), each as it stands now: so the
    practice sees what became of them and does not refer twice by accident. The recipients' side is the practice's
    copy (service/referrals/feedback.py): the form never waits on a recipient's server."""
    logged = _logged_referrals(ctx, work)
    if not logged:
        return []
    lang = page_lang(ctx)
    delivery = services().delivery
    store = required(services().feedback, "the practice's copy")
    out: list[dict] = []
    for item in logged:
        status = referral_status(delivery, item["submission"], with_tasks=False)
        copies = copy_of(store, delivery, item["submission"])
        recipients_now = []
        for names in item.get("recipients", []):
            rid = names.get("recipient", "")
            name = names.get(lang) or names.get("nl")
            where, _ = status.for_recipient(rid)
            recipients_now.append(
                {
                    "name": name,
                    "internal": names.get("internal", False),
                    "task": task_view(copies.get(rid), lang, name) if where else None,
                }
            )
        authored = str(item.get("authored") or "")[:10]
        # no outbox item left: recorded only, or every referral taken back before it went (cancel_referral)
        state = status.state or ("withdrawn" if any(c.unsent for c in copies.values()) else "recorded")
        out.append(
            {
                "date": f"{authored[8:10]}-{authored[5:7]}-{authored[:4]}" if len(authored) == 10 else authored,
                "state": state_text(state, lang),
                "recipients": recipients_now,
                "problem": any(c.poll_failed for c in copies.values()),
                "via": text(VIA_TEXT["api"], lang) if item.get("via") == "api" else None,
            }
        )
    audit(ctx, "status-read", "R", "4" if any(o["problem"] for o in out) else "0", "referral-log")
    return out


def _logged_referrals(ctx, work: WorkState, limit: int = 3) -> list[dict]:
    """The newest `limit` submissions that made referrals for the patient, from the form or through the API (the
    record of referrals made, service/referrals/recent.py), newest first, each with its recipients in the order
    they were made. Reading the record is an access to the patient's data: a part of this request's audit row."""
    record = services().delivery.recent
    if record is None or not ctx.patient:
        return []
    found = record.find(patient_record_keys(ctx, work), days=KEEP_DAYS)
    audit(ctx, "recent-read", "R", "0", "referral record")
    made: dict[str, dict] = {}
    for r in found:  # newest first
        if r.submission not in made and len(made) == limit:
            continue
        authored = datetime.fromtimestamp(r.sent, PRACTICE_ZONE).isoformat()
        item = made.setdefault(
            r.submission, {"submission": r.submission, "authored": authored, "recipients": [], "via": r.via}
        )
        item["recipients"].append({"recipient": r.recipient, **r.names})
    return list(made.values())
