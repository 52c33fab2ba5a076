"""The practice's pages: the signalling form (pre-filled by $populate), its live panel, the Meldcode step,
review with consent per recipient, send, and the confirmation with a summary for the HIS.

Every page works without JavaScript (POST, then redirect to a GET page); app.js adds the live panel
and shows or hides items as their enableWhen says. Nothing about the patient goes into a URL, a
cookie or a log line: the form's state lives server-side (service/web/store.py) under the launch
session's opaque id.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path

from flask import Blueprint, Flask, abort, current_app, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from service.audit import AuditEntry
from service.errors import KsError, ResponseInvalid
from service.questionnaires.form import (
    FieldError, build_response, check_fields, parse_date_field, response_and_errors, response_to_fields,
)
from service.questionnaires.populate import TEENAGE, populate, record_facts, suggestions, teenage_suggestion
from service.referrals.bundle import contain_patient, evaluation_signals
from service.referrals.pipeline import PRACTICE_ZONE
from service.referrals.status import TASK_STATUS_TEXT, recipient_of, referral_status, service_requests_by_recipient
from service.smart.session import current_launch, current_practice, launch_required, session_store
from service.web import security
from service.web.consent import submitter_for
from service.ehr import RecordRead, ehr_client, read_patient, read_record, write_back
from service.web.formview import item_views
from service.web.panel import (
    MELDCODE_STEPS, STATE_TEXT, his_summary_parts, join_summary, panel_model, recipients, share_details, shares_view,
)
from service.web.store import FormStore, WorkState
from service.services import services

log = logging.getLogger(__name__)
web = Blueprint("web", __name__)

FORM_ID_SYSTEM = "https://kansrijke-start.github.io/fhir/NamingSystem/form-response"
CONTROL_FIELDS = {"csrf_token", "_form", "lang", "next"}
CONSENT_GIVEN, CONSENT_METHOD, NOTE, CHILDREN = "consent-given", "consent-method", "note", "children-in-household"
PAGES = {"form", "meldcode", "review", "sent"}
MAX_FACTS = 2000


def init_app(app: Flask) -> None:
    """The form store, security headers on every response, T() for templates."""
    settings = app.config["KS_SETTINGS"]
    services(app).forms = FormStore(Path(settings.data_dir) / "forms.sqlite3")
    security.install(app)
    app.context_processor(_template_helpers)


# ---------------------------------------------------------------------------------------------- helpers


def _template_helpers() -> dict:
    try:
        ctx = current_launch()
    except Exception:  # outside a request with a session store (e.g. an error page)
        ctx = None
    lang = "en" if ctx is not None and ctx.language == "en" else "nl"

    def T(nl: str, en: str) -> str:  # noqa: N802 - short on purpose: every text in the templates
        return en if lang == "en" else nl

    practice = services().registry.practice(ctx.ehr_id, ctx.practice_id) if ctx else None
    return {"T": T, "ui_lang": lang, "csrf": security.csrf_token(ctx.session_id) if ctx else None,
            "practice_name": practice.name if practice else None,
            "aandachtsfunctionaris": current_app.config["KS_SETTINGS"].aandachtsfunctionaris}


def _engine():
    return services().engine


def _region() -> str:
    """The rule set of the practice this session speaks for (from the registry, never from the launch)."""
    return current_practice().region


def _qdef():
    engine = _engine()
    return engine.catalog.find(engine.ruleset(_region()).questionnaire)


def _store() -> FormStore:
    return services().forms


def _lang(ctx) -> str:
    return "en" if ctx.language == "en" else "nl"


def _now() -> datetime:
    return datetime.now(PRACTICE_ZONE).replace(microsecond=0)


def _subject(ctx) -> str | None:
    return f"Patient/{ctx.patient}" if ctx.patient else None


def _audit(ctx, event: str, action: str, outcome: str, obj: str | None = None) -> None:
    services().delivery.audit.record(AuditEntry(
        event=event, action=action, outcome=outcome, who=ctx.fhir_user, patient=_subject(ctx), object=obj,
        access_point=f"web:{request.remote_addr or '-'}",
    ))


def _posted_fields(qdef) -> dict[str, list[str]]:
    """The form's answer fields (linkIds of the Questionnaire only)."""
    return {k: v for k, v in request.form.to_dict(flat=False).items() if k in qdef.items and k not in CONTROL_FIELDS}


def _first(fields, link_id: str) -> str:
    return next((v.strip() for v in fields.get(link_id, ()) if isinstance(v, str) and v.strip()), "")


def _work(ctx) -> WorkState | None:
    work = _store().work(ctx.session_id)
    return work if work is not None and work.result is None else None


def _save(ctx, work: WorkState) -> None:
    _store().save_work(ctx.session_id, work)


def _error(text: tuple[str, str] | FieldError, lang: str) -> str:
    if isinstance(text, FieldError):
        return text.english if lang == "en" else text.text
    return text[1] if lang == "en" else text[0]


def _evaluate(ctx, fields, *, status: str, consent_for_all: bool = False, authored: str | None = None):
    """(validation, evaluation) of the fields; with `consent_for_all` as if consent were given, so the review
    sees every recipient that consent would allow."""
    qdef = _qdef()
    if consent_for_all:
        fields = {**fields, CONSENT_GIVEN: ["true"]}
    qr = build_response(qdef, fields, subject=_subject(ctx), author=ctx.fhir_user,
                        authored=authored or _now().isoformat(), identifier=None, status=status)
    return qr, *_engine().evaluate(qr, _region())


def _live_suggestions(work: WorkState, fields, today: date) -> list[dict]:
    """Stored suggestions, with teenage pregnancy recomputed from the due date now in the form."""
    out = [s for s in work.suggestions if s.get("link_id") != TEENAGE]
    if _first(fields, "phase") == "pregnant" and "true" not in fields.get(TEENAGE, ()) and work.mother_birth_date:
        due = parse_date_field(_first(fields, "due-date")) if _first(fields, "due-date") else None
        teen = teenage_suggestion(date.fromisoformat(work.mother_birth_date), due, today)
        if teen:
            out.append(asdict(teen))
    return out


def _panel(ctx, work: WorkState, fields) -> dict:
    qdef, lang = _qdef(), _lang(ctx)
    qr, parse_errors = response_and_errors(qdef, fields, subject=_subject(ctx), author=ctx.fhir_user,
                                           authored=_now().isoformat(), identifier=None, status="in-progress")
    sugg = [{**s, "text": s["english"] if lang == "en" else s["text"]} for s in _live_suggestions(work, fields, _now().date())]
    errors = [{"linkId": e.link_id, "text": _error(e, lang)} for e in parse_errors]
    try:
        evaluation = _engine().evaluate_built(qr, _region())
    except ResponseInvalid:
        return {"unavailable": True, "errors": errors, "suggestions": sugg, "safety": [], "recipients": [], "advice": []}
    return panel_model(evaluation, qdef, lang, suggestions=sugg, errors=errors)


def _banner(ctx, work: WorkState | None) -> dict | None:
    if not ctx.need_patient_banner:
        return None
    banner = ctx.patient_banner or (work.banner if work else {}) or {}
    birth = banner.get("birthDate")
    try:
        shown = date.fromisoformat(birth).strftime("%d-%m-%Y") if birth else ""
    except ValueError:
        shown = birth
    return {"name": banner.get("name") or "", "birthDate": shown}


def _banner_from(patient: dict | None) -> dict:
    if not patient:
        return {}
    names = patient.get("name") or [{}]
    name = names[0].get("text") or " ".join([*names[0].get("given", ()), names[0].get("family", "")]).strip()
    return {"name": name, "birthDate": patient.get("birthDate")}


def _populated(ctx) -> WorkState:
    """A new form, pre-filled from the EHR's record ($populate) read with the launch's token."""
    qdef, today = _qdef(), _now().date()
    if not ctx.patient:
        record = RecordRead(problem=("Er is geen patiënt meegegeven bij het openen.", "No patient came with the launch."))
    else:
        with ehr_client(ctx) as client:
            record = read_record(client, ctx.patient)
        _audit(ctx, "populate", "R", "0" if record.problem is None else "4", f"Patient/{ctx.patient}")
    qr = populate(qdef, record.patient, record.observations, record.conditions, today)
    facts = record_facts(record.patient, record.observations, record.conditions, today)
    return WorkState(
        fields=response_to_fields(qr),
        suggestions=[asdict(s) for s in suggestions(qdef, record.patient, record.observations, record.conditions, today)
                     if s.link_id != TEENAGE],
        mother_birth_date=facts.mother_birth_date.isoformat() if facts.mother_birth_date else None,
        banner=_banner_from(record.patient) if ctx.need_patient_banner and not ctx.patient_banner else {},
        record_problem=list(record.problem) if record.problem else None,
    )


def _open_work(ctx) -> WorkState:
    """This session's form; else the patient's saved draft; else a new form pre-filled from the record."""
    work = _work(ctx)
    if work is not None:
        return work
    draft = _store().draft(ctx.iss, ctx.patient)
    if draft is not None:
        draft.result, draft.reviewed, draft.notice = None, False, "draft-opened"
        _audit(ctx, "draft-open", "R", "0", "draft")
        work = draft
    else:
        work = _populated(ctx)
    _save(ctx, work)
    return work


def _render_form(ctx, work: WorkState, errors: list[FieldError], status: int = 200, earlier: list[dict] | None = None):
    qdef, lang = _qdef(), _lang(ctx)
    sugg = {s["link_id"]: {**s, "text": s["english"] if lang == "en" else s["text"]}
            for s in _live_suggestions(work, work.fields, _now().date())}
    err_map: dict[str, str] = {}
    for e in errors:
        err_map.setdefault(e.link_id, _error(e, lang))
    views = item_views(qdef, work.fields, lang, errors=err_map, suggestions=sugg)
    field_ids = {}

    def collect(vs):
        for v in vs:
            field_ids[v.link_id] = v.field_id
            collect(v.children)

    collect(views)
    summary = [{"href": "#" + field_ids.get(e.link_id, "main"), "text": _error(e, lang)} for e in errors]
    notice, work.notice = work.notice, None
    if notice:
        _save(ctx, work)
    return render_template(
        "form.html", items=views, errors=summary, panel=_panel(ctx, work, work.fields), steps=MELDCODE_STEPS,
        banner=_banner(ctx, work), can_send=ctx.can_send, notice=notice, work=work, page="form", earlier=earlier or [],
        record_problem=_error(tuple(work.record_problem), lang) if work.record_problem else None,
    ), status


def _needs_meldcode(evaluation) -> bool:
    return any(f.panel == "meldcode" for f in evaluation.safety)


def _consent_choices(work: WorkState) -> tuple[dict[str, bool] | None, str | None]:
    """Per-recipient consent and method as posted from the review page."""
    consent = {k[len("consent-for-"):]: True for k in request.form if k.startswith("consent-for-")}
    method = request.form.get(CONSENT_METHOD) or None
    return consent, method if method in ("verbal", "written") else None


def _review_model(ctx, work: WorkState) -> dict:
    """Everything the review shows: safety, level, and per recipient where its referral goes (the destination's
    name, or the practice's own EHR), exactly what it receives and does not, and whether consent is asked."""
    qdef, lang = _qdef(), _lang(ctx)
    qr, _, evaluation = _evaluate(ctx, work.fields, status="in-progress", consent_for_all=True)
    panel = panel_model(evaluation, qdef, lang)
    form_consent = "true" in work.fields.get(CONSENT_GIVEN, ())
    method = work.consent_method if work.consent is not None else (_first(work.fields, CONSENT_METHOD) or None)
    details = share_details(evaluation, qdef, qr, lang, method)
    delivery = services().delivery
    for r in panel["recipients"]:
        r["consented"] = (work.consent or {}).get(r["id"], False) if work.consent is not None else form_consent
        r["sent"] = (not r["needsConsent"]) or r["consented"]
        r["destinationName"] = None if r["internal"] else delivery.name(r["destination"])
        r["gets"], r["withheld"] = shares_view(r["shares"], details, lang)
    note = _first(work.fields, NOTE)
    return {"panel": panel, "signals": panel["signals"], "note": note, "method": method,
            "asks_consent": any(r["needsConsent"] for r in panel["recipients"]), "evaluation": evaluation,
            "nothing_external": not any(r["sent"] and not r["internal"] for r in panel["recipients"]),
            "overridden": evaluation.overridden}


# ---------------------------------------------------------------------------------------------- hooks


@web.before_request
def _check_csrf():
    """Every form POST carries the session's CSRF token (field or header); without a session,
    launch_required answers."""
    if request.method != "POST":
        return None
    ctx = current_launch()
    if ctx is not None and not security.csrf_ok(ctx.session_id):
        log.info("form POST refused: CSRF token missing or wrong")
        abort(400, description="csrf")
    return None


@web.after_request
def _no_store(response):
    return security.no_store(response)


ERROR_TEXT = {
    400: (("Dit formulier is verlopen of ongeldig", "This form has expired or is not valid"),
          ("Ga terug, laad de pagina opnieuw en probeer het nog eens. Uw ingevulde gegevens zijn bewaard tot de laatste keer opslaan of controleren.",
           "Go back, reload the page and try again. What you filled in is kept up to the last save or check.")),
    403: (("Versturen mag alleen de huisarts of de POH Jeugd", "Only the GP or the POH Jeugd may send"),
          ("U kunt het formulier invullen en als concept opslaan; de huisarts of POH Jeugd kan het daarna controleren en versturen.",
           "You can fill in the form and save it as a draft; the GP or POH Jeugd can then check and send it.")),
    404: (("Deze pagina bestaat niet", "This page does not exist"), ("Ga terug naar het formulier.", "Go back to the form.")),
    405: (("Dat kan zo niet", "That is not possible like this"), ("Ga terug naar het formulier.", "Go back to the form.")),
    500: (("Er ging iets mis", "Something went wrong"),
          ("Er ging iets mis in de service. Uw laatst opgeslagen gegevens zijn bewaard. Probeer het opnieuw of neem contact op met de beheerder.",
           "Something went wrong in the service. Your last saved data are kept. Try again or contact the administrator.")),
}


def _error_page(status: int):
    title, text = ERROR_TEXT.get(status, ERROR_TEXT[500])
    return render_template("error.html", title=title, text=text, status=status), status


@web.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return security.no_store(current_app.make_response(_error_page(exc.code or 500)))


@web.errorhandler(KsError)
def _ks_error(exc: KsError):
    log.info("page refused: %s %s", exc.status_code, type(exc).__name__)
    return security.no_store(current_app.make_response(_error_page(500 if exc.status_code >= 500 else 400)))


@web.errorhandler(Exception)
def _unexpected(exc: Exception):
    import traceback

    # The traceback's frames, not the message: messages can quote health data.
    log.error("unexpected error on a page: %s\n%s", type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))
    return security.no_store(current_app.make_response(_error_page(500)))


# ---------------------------------------------------------------------------------------------- pages


@web.get("/form")
@launch_required
def form():
    ctx = current_launch()
    return _render_form(ctx, _open_work(ctx), [], earlier=_earlier_referrals(ctx))


def _task_view(status, sr_id: str | None, lang: str) -> dict | None:
    """The recipient's Task of one ServiceRequest for a page: status, its words, the recipient's own note."""
    task = status.tasks.get(sr_id) if sr_id else None
    return None if task is None else {**task, "text": TASK_STATUS_TEXT[lang].get(task["status"], task["status"])}


def _earlier_referrals(ctx) -> list[dict]:
    """Referrals sent for this patient from the form before (newest three), each as it stands now: so the
    practice sees what became of them and does not refer twice by accident."""
    logged = _store().referrals(ctx.iss, ctx.patient)
    if not logged:
        return []
    lang = "en" if _lang(ctx) == "en" else "nl"
    delivery = services().delivery
    out: list[dict] = []
    for item in logged:
        # After one failed read of the recipients' server, not again for the older ones: the form must not wait.
        status = referral_status(delivery, item["submission"], with_tasks=not any(o["problem"] for o in out))
        recipients_now = []
        for names in item.get("recipients", []):
            where, sr_id = status.for_recipient(names.get("recipient", ""))
            recipients_now.append({"name": names.get(lang) or names.get("nl"), "internal": names.get("internal", False),
                                   "task": _task_view(where, sr_id, lang) if where else None})
        authored = str(item.get("authored") or "")[:10]
        state = status.state or "recorded"
        out.append({"date": f"{authored[8:10]}-{authored[5:7]}-{authored[:4]}" if len(authored) == 10 else authored,
                    "state": STATE_TEXT[lang].get(state, state), "recipients": recipients_now, "problem": status.problem})
    _audit(ctx, "status-read", "R", "4" if any(o["problem"] for o in out) else "0", "referral-log")
    return out


@web.post("/form/panel")
@launch_required
def panel():
    """The live panel: the posted fields as a response, evaluated; JSON with the data and its HTML."""
    ctx = current_launch()
    qdef = _qdef()
    work = _store().work(ctx.session_id) or WorkState()
    data = _panel(ctx, work, _posted_fields(qdef))
    html = render_template("_panel.html", panel=data, steps=MELDCODE_STEPS)
    return jsonify({"panel": data, "html": html})


@web.post("/form/review")
@launch_required
def to_review():
    """Check the form; with mistakes: the form again with every one of them; else the Meldcode step or review."""
    ctx = current_launch()
    qdef = _qdef()
    work = _work(ctx) or WorkState()
    work.fields = _posted_fields(qdef)
    work.consent, work.reviewed = None, False
    work.meldcode = {**work.meldcode, "seen": False}
    errors = check_fields(qdef, work.fields, today=_now().date())
    if errors:
        _save(ctx, work)
        return _render_form(ctx, work, errors, 422)
    work.reviewed = True
    _save(ctx, work)
    _, _, evaluation = _evaluate(ctx, work.fields, status="in-progress")
    return redirect(url_for(".meldcode" if _needs_meldcode(evaluation) else ".review"), 303)


@web.post("/form/update")
@launch_required
def update():
    """Without JavaScript: keep what was filled in and show the panel for it."""
    ctx = current_launch()
    work = _work(ctx) or WorkState()
    work.fields, work.reviewed = _posted_fields(_qdef()), False
    _save(ctx, work)
    return redirect(url_for(".form") + "#panel", 303)


@web.post("/form/draft")
@launch_required
def save_draft():
    """Save as a draft for this patient (the next launch for the patient reopens it), e.g. for the GP."""
    ctx = current_launch()
    work = _work(ctx) or WorkState()
    if request.form.get("_form") == "main":
        work.fields, work.reviewed = _posted_fields(_qdef()), False
    work.draft_saved_at, work.draft_by = time.time(), ctx.fhir_user
    work.notice = None
    _store().save_draft(ctx.iss, ctx.patient, work)
    _audit(ctx, "draft-save", "U", "0", "draft")
    work.notice = "draft-saved"
    _save(ctx, work)
    return redirect(url_for(".form"), 303)


@web.post("/form/language")
@launch_required
def language():
    ctx = current_launch()
    lang = request.form.get("lang")
    if lang in ("nl", "en"):
        session_store().update(ctx, language=lang)
    if request.form.get("_form") == "main" and (work := _work(ctx)) is not None:
        work.fields, work.reviewed = _posted_fields(_qdef()), False
        _save(ctx, work)
    page = request.form.get("next")
    return redirect(url_for(f".{page if page in PAGES else 'form'}"), 303)


@web.get("/form/meldcode")
@launch_required
def meldcode():
    ctx = current_launch()
    work = _work(ctx)
    if work is None or not work.reviewed:
        return redirect(url_for(".form"), 303)
    _, _, evaluation = _evaluate(ctx, work.fields, status="in-progress")
    if not _needs_meldcode(evaluation):
        return redirect(url_for(".review"), 303)
    return _render_meldcode(ctx, work, None)


def _render_meldcode(ctx, work: WorkState, error: str | None, status: int = 200):
    item = _qdef().items.get(CHILDREN)
    lang = _lang(ctx)
    return render_template(
        "meldcode.html", steps=MELDCODE_STEPS, done=set(work.meldcode.get("steps", ())), facts=work.meldcode.get("facts", ""),
        informed=work.meldcode.get("informed", ""), not_informed_reason=work.meldcode.get("not_informed_reason", ""),
        children=_first(work.fields, CHILDREN), children_label=(item.text_en if lang == "en" and item.text_en else item.text) if item else "",
        error=error, banner=_banner(ctx, work), page="meldcode", max_facts=MAX_FACTS,
    ), status


@web.post("/form/meldcode")
@launch_required
def meldcode_done():
    ctx = current_launch()
    work = _work(ctx)
    if work is None or not work.reviewed:
        return redirect(url_for(".form"), 303)
    known = {sid for sid, _, _ in MELDCODE_STEPS}
    steps = [s for s in request.form.getlist("meldcode-step") if s in known]
    # DOMAIN.md §3.3: each step with date and user; whether the patient was informed, and if not, why.
    earlier = work.meldcode.get("done_by", {})
    stamp = {"date": _now().date().isoformat(), "user": ctx.fhir_user or ctx.role}
    informed = request.form.get("meldcode-informed", "")
    work.meldcode = {"seen": True, "steps": steps,
                     "done_by": {sid: earlier.get(sid, stamp) for sid in steps},
                     "informed": informed if informed in ("yes", "no") else "",
                     "not_informed_reason": request.form.get("meldcode-not-informed-reason", "").strip()[:MAX_FACTS],
                     "facts": request.form.get("meldcode-facts", "").strip()[:MAX_FACTS]}
    children = request.form.get(CHILDREN, "").strip()
    work.fields = {**work.fields, CHILDREN: [children] if children else []}
    errors = [e for e in check_fields(_qdef(), work.fields, today=_now().date()) if e.link_id == CHILDREN]
    if errors:
        work.meldcode["seen"] = False
        _save(ctx, work)
        return _render_meldcode(ctx, work, _error(errors[0], _lang(ctx)), 422)
    _save(ctx, work)
    return redirect(url_for(".review"), 303)


@web.get("/form/review")
@launch_required
def review():
    ctx = current_launch()
    work = _work(ctx)
    if work is None or not work.reviewed:
        return redirect(url_for(".form"), 303)
    return _render_review(ctx, work, None)


def _render_review(ctx, work: WorkState, error: str | None, status: int = 200):
    model = _review_model(ctx, work)
    if _needs_meldcode(model["evaluation"]) and not work.meldcode.get("seen"):
        return redirect(url_for(".meldcode"), 303)
    notice, work.notice = work.notice, None
    if notice:
        _save(ctx, work)
    return render_template("review.html", m=model, panel=model["panel"], steps=MELDCODE_STEPS, work=work,
                           error=error, can_send=ctx.can_send, banner=_banner(ctx, work), page="review", notice=notice), status


@web.post("/form/consent")
@launch_required
def record_consent():
    """Without JavaScript: record the consent choices and show the review with exactly what will go."""
    ctx = current_launch()
    work = _work(ctx)
    if work is None or not work.reviewed:
        return redirect(url_for(".form"), 303)
    work.consent, work.consent_method = _consent_choices(work)
    _save(ctx, work)
    return redirect(url_for(".review") + "#consent", 303)


@web.post("/form/send")
@launch_required
def send():
    """Record consent, submit through the outbox to the recipients, write back to the EHR, confirm."""
    ctx = current_launch()
    if not ctx.can_send:
        log.info("send refused: role %s may not send", ctx.role)
        abort(403)
    work = _work(ctx)
    if work is None or not work.reviewed:
        done = _store().work(ctx.session_id)
        return redirect(url_for(".sent" if done is not None and done.result else ".form"), 303)
    work.consent, work.consent_method = _consent_choices(work)
    model = _review_model(ctx, work)
    if _needs_meldcode(model["evaluation"]) and not work.meldcode.get("seen"):
        _save(ctx, work)
        return redirect(url_for(".meldcode"), 303)
    lang = _lang(ctx)
    asked = frozenset(r["id"] for r in model["panel"]["recipients"] if r["needsConsent"])
    consented = frozenset(rid for rid, ticked in work.consent.items() if ticked and rid in asked)
    if asked:
        consent_given, method = bool(consented), work.consent_method
    else:  # nobody to ask: the form's own answer stands
        consent_given = "true" in work.fields.get(CONSENT_GIVEN, ())
        method = work.consent_method or _first(work.fields, CONSENT_METHOD) or None
    if consent_given and not method:
        _save(ctx, work)
        return _render_review(ctx, work, _error(("Kies hoe de toestemming is gegeven (mondeling of schriftelijk).",
                                                 "Choose how consent was given (verbal or written)."), lang), 422)
    fields = {**work.fields, CONSENT_GIVEN: ["true"] if consent_given else [], CONSENT_METHOD: [method] if consent_given else []}
    qdef, now = _qdef(), _now()
    errors = check_fields(qdef, fields, today=now.date())
    if errors:
        work.reviewed = False
        _save(ctx, work)
        return _render_form(ctx, work, errors, 422)
    qr = build_response(qdef, fields, subject=_subject(ctx), author=ctx.fhir_user, authored=now.isoformat(),
                        identifier={"system": FORM_ID_SYSTEM, "value": work.identifier}, status="completed")
    # The recipients' server does not know the practice's patients: the referral carries the patient's
    # identity and contact details (DOMAIN.md §3.1), read from the EHR now.
    with ehr_client(ctx) as ehr:  # one connection to the EHR: read the patient now, write the referral back after
        patient = read_patient(ehr, ctx.patient)
        _audit(ctx, "patient-read", "R", "0" if patient else "4", _subject(ctx))
        if patient:
            qr = contain_patient(qr, patient)
        elif consented:  # the recipients would get the EHR's own Patient/<id>, which means nothing (or someone else) there
            _save(ctx, work)
            return _render_review(ctx, work, _error((
                "Het EPD gaf de gegevens van de patiënt nu niet. Er is niets verstuurd en niets vastgelegd; probeer het zo opnieuw.",
                "The EHR did not give the patient's details just now. Nothing was sent or recorded; try again shortly."), lang), 503)
        delivery = services().delivery
        submitter = submitter_for(delivery.submitter, _engine(), consented, asked)
        try:
            result = submitter.submit(qr, who=ctx.fhir_user, access_point=f"web:{request.remote_addr or '-'}",
                                      patient=_subject(ctx), practice=current_practice())
        except ResponseInvalid as exc:
            work.reviewed = False
            _save(ctx, work)
            issues = [FieldError(link_id="main", text=i.text, english=i.english or i.text) for i in exc.issues]
            return _render_form(ctx, work, issues, 422)

        def audited(ref: str, ok: bool, status: int | None) -> None:
            _audit(ctx, "ehr-write", "U" if ref.startswith("QuestionnaireResponse") else "C", "0" if ok else "4", ref)

        written = write_back(ehr, result.extraction.bundles.record, on_write=audited, subject=_subject(ctx))
    work.fields = fields
    work.result = _confirmation(ctx, work, qr, result, written, lang)
    _save(ctx, work)
    _store().drop_draft(ctx.iss, ctx.patient)
    if work.result["sent"]:
        _store().log_referral(ctx.iss, ctx.patient, result.submission_id,
                              {"authored": qr["authored"], "recipients": _referrals_of(result)})
    return redirect(url_for(".sent"), 303)


def _referrals_of(result) -> list[dict]:
    """Each referral of the submission, in order: the recipient's id and names, its priority, and whether it
    stays in the practice or the destination it goes to."""
    by_id = {d.recipient.id: d.recipient for d in result.extraction.evaluation.decisions if d.recipient}
    out = []
    for entry in result.extraction.bundles.record["entry"]:
        sr = entry["resource"]
        rec = by_id.get(recipient_of(sr) or "") if sr["resourceType"] == "ServiceRequest" else None
        if rec is not None:
            out.append({"recipient": rec.id, "nl": rec.name.nl, "en": rec.name.en, "priority": sr.get("priority"),
                        "internal": rec.internal, "destination": None if rec.internal else rec.destination})
    return out


def _confirmation(ctx, work: WorkState, qr: dict, result, written, lang: str) -> dict:
    """What the confirmation page shows, fixed at the moment of sending: per referral where it went and how it
    stands, and to whom nothing was sent."""
    qdef = _qdef()
    evaluation = result.extraction.evaluation
    delivery = services().delivery
    states = {d.destination: d for d in result.destinations}
    sent = []
    for r in _referrals_of(result):
        d = states.get(r["destination"] or "")
        ids = service_requests_by_recipient(d.item.bundle, d.item.response) if d else {}
        # An internal referral lives only in the EHR: "recorded" says whether the write-back put it there.
        sent.append({"recipient": r["recipient"], "name": r["en"] if lang == "en" else r["nl"], "priority": r["priority"],
                     "internal": r["internal"], "destination": delivery.name(r["destination"]) if r["destination"] else None,
                     "state": d.state if d else "recorded", "id": ids.get(r["recipient"]),
                     "recorded": written.ok if r["internal"] else None})
    not_sent = [{"name": r["name"]} for r in recipients(evaluation, qdef, lang) if r["blocked"]]
    head, tail = his_summary_parts(evaluation=evaluation, qdef=qdef, qr=qr, lang=lang, meldcode=work.meldcode,
                                   author=ctx.fhir_user, authored=qr["authored"])
    return {
        "submission": result.submission_id, "state": result.state,
        "stateText": STATE_TEXT["en" if lang == "en" else "nl"].get(result.state, result.state),
        "sent": sent, "external": any(not s["internal"] for s in sent), "notSent": not_sent,
        "summary": join_summary(head, tail, sent, not_sent, lang), "summaryParts": [head, tail, lang],
        "ehr": {"ok": written.ok, "written": list(written.written),
                "problem": _error(written.problem, lang) if written.problem else None},
        "signals": [s for s in evaluation_signals(evaluation, qdef)],
    }


@web.get("/form/sent")
@launch_required
def sent():
    ctx = current_launch()
    work = _store().work(ctx.session_id)
    if work is None or not work.result:
        return redirect(url_for(".form"), 303)
    return render_template("sent.html", r=_with_live_status(ctx, work.result), banner=_banner(ctx, work), page="sent")


def _with_live_status(ctx, result: dict) -> dict:
    """The confirmation as it stands now: a queued referral may have gone out since, and a delivered one shows
    what the recipient did with its Task (the page is the practice's view of the closed loop)."""
    status = referral_status(services().delivery, result["submission"])
    if status.state is None:  # nothing went out of the practice: the page as it was
        return result
    lang = "en" if _lang(ctx) == "en" else "nl"
    live = {**result, "state": status.state, "stateText": STATE_TEXT[lang].get(status.state, status.state),
            "statusProblem": status.problem}
    sent = []
    for s in result.get("sent", []):
        where, sr_id = status.for_recipient(s.get("recipient", ""))
        if where is None:
            sent.append(s)
            continue
        sent.append({**s, "state": where.state, "id": s.get("id") or sr_id, "task": _task_view(where, s.get("id") or sr_id, lang)})
    live["sent"] = sent
    if result.get("summaryParts"):  # the HIS summary says how each referral stands now, in the language it was made in
        head, tail, made_in = result["summaryParts"]
        live["summary"] = join_summary(head, tail, sent, result.get("notSent", []), made_in)
    if any(d.state == "delivered" for d in status.destinations):
        _audit(ctx, "status-read", "R", "4" if status.problem else "0", f"submission:{result['submission']}")
    return live


@web.post("/form/new")
@launch_required
def new_form():
    """After sending: start again, pre-filled from the record."""
    ctx = current_launch()
    _store().drop_work(ctx.session_id)
    return redirect(url_for(".form"), 303)

