"""The send step: one press of Versturen as one orchestration, `send_referral`, with a typed result, `SendResult`.

The form's fields become the QuestionnaireResponse once and the rules run over it once: that one evaluation
says whether the Meldcode step is still due and for whom consent is asked, and the Submitter gets it with the
response (consent.py EvaluatedEngine) instead of evaluating again. Then the patient is read from the EHR and
contained, the referral goes through the outbox to the recipients, the practice's record is written back to
the EHR, and the confirmation is fixed (confirmation.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from flask import redirect, request, url_for

from service.ehr import WriteBack, ehr_client, read_patient, write_back
from service.errors import ResponseInvalid, required
from service.questionnaires.form import FieldError, build_response, check_fields
from service.referrals.bundle import contain_patient
from service.referrals.submit import SubmitResult, Submitter
from service.services import services
from service.smart.session import current_practice
from service.texts import Text, texts
from service.web.common import (
    CONSENT_GIVEN,
    CONSENT_METHOD,
    FORM_ID_SYSTEM,
    access_point,
    audit,
    engine,
    forms,
    needs_meldcode,
    page_lang,
    practice_now,
    questionnaire,
    region,
    save_work,
    subject_of,
    web,
)
from service.web.confirmation import confirmation
from service.web.consent import consent_asked, restrict_to_consented, submitter_for
from service.web.form_page import render_form
from service.web.guard import reviewed_or_done, step
from service.web.review_page import consent_choices, render_review
from service.web.store import WorkState


@dataclass(frozen=True, kw_only=True)
class SendResult:
    """Where one send ended. `step` is the page that comes next: "sent" (then `response`, `submitted` and
    `written` say what went where), or back to "meldcode", to "review" with `problem` (Dutch, English), or to
    "form" with `errors`; `status` is the HTTP status of that answer."""

    step: Literal["sent", "meldcode", "review", "form"]
    status: int = 303
    problem: tuple[str, str] | None = None
    unconfirmed: bool = False  # back to review: nothing would leave the practice and that was not confirmed
    errors: tuple[FieldError, ...] = ()
    response: dict | None = None  # the QuestionnaireResponse as submitted (the patient contained)
    submitted: SubmitResult | None = None
    written: WriteBack | None = None


@dataclass(frozen=True, kw_only=True)
class ConsentAnswer:
    """The consent the response carries: as the sender ticked it per recipient at review (none when nobody was
    asked: the form does not ask it, and a draft never carries it)."""

    asked: frozenset[str]
    consented: frozenset[str]
    given: bool
    method: str | None


@web.post("/form/send")
@step(work=reviewed_or_done, may_send=True)
def send(ctx, work: WorkState):
    """Record consent, submit through the outbox to the recipients, write back to the EHR, confirm.

    A send that would make nothing leave the practice (only the record, internal referrals) goes only when the
    review's "Alleen vastleggen, niets versturen" posted `confirm-record-only=yes`; and that button never sends."""
    work.consent, work.consent_method = consent_choices(request.form)
    result = send_referral(ctx, work, record_only=request.form.get(RECORD_ONLY) == "yes")
    if result.step == "form":
        return render_form(ctx, work, list(result.errors), result.status)
    if result.step == "review":
        problem = Text(*required(result.problem, "the send's problem")).in_lang(page_lang(ctx))
        if result.unconfirmed:
            return render_review(ctx, work, None, result.status, confirm_error=problem)
        return render_review(ctx, work, problem, result.status)
    return redirect(url_for(f".{result.step}"), result.status)


RECORD_ONLY = "confirm-record-only"  # the review's confirmation that nothing leaves the practice


def send_referral(ctx, work: WorkState, *, record_only: bool) -> SendResult:
    """The send of `work` (its consent choices recorded), saving the form's state at every outcome.

    The response is built once, with consent given when a box ticked at review says so, and the
    rules run over it once: that evaluation says whether the Meldcode step is due and whom consent is asked
    for (neither depends on the consent answer, which only blocks recipients: service/rules/evaluate.py), and
    the Submitter reuses it.
    `record_only`: whether the sender confirmed that nothing leaves the practice (True) or pressed the button
    that sends (False); a send whose outcome does not match is refused before anything is written.
    One case needs a second: a box was ticked, but for no recipient the rules ask consent for (a stale tick).
    The response that goes then answers `consent-given` no, so it is built again and the Submitter evaluates
    it: what a missing consent blocks (and that no Consent resource is made) is the engine's decision, not the
    page's."""
    qdef, now = questionnaire(), practice_now()
    made: dict[str, Any] = {
        "subject": subject_of(ctx),
        # the author as the EHR knows them, with their name: what the referral names at the recipient (bundle.py)
        "author": {"reference": ctx.fhir_user, "display": ctx.user_name}
        if ctx.user_name and ctx.fhir_user
        else ctx.fhir_user,
        "authored": now.isoformat(),
        "identifier": {"system": FORM_ID_SYSTEM, "value": work.identifier},
    }
    # consent as the sender ticked it at review, and nothing else (the form does not ask it)
    as_given = any((work.consent or {}).values())
    qr = build_response(qdef, _with_consent(work.fields, as_given, work.consent_method), status="in-progress", **made)
    _, evaluation = engine().evaluate(qr, region())
    if needs_meldcode(evaluation) and not work.meldcode.get("seen"):
        save_work(ctx, work)
        return SendResult(step="meldcode")
    consent = _consent_answer(work, evaluation)
    if consent.given and not consent.method:
        save_work(ctx, work)
        return SendResult(step="review", status=422, problem=texts("send.choose_method"))
    fields = _with_consent(work.fields, consent.given, consent.method)
    errors = check_fields(qdef, fields, today=now.date())
    if errors:
        work.reviewed = False
        save_work(ctx, work)
        return SendResult(step="form", status=422, errors=tuple(errors))
    unconfirmed = _unconfirmed(evaluation, consent, record_only)
    if unconfirmed:
        save_work(ctx, work)
        return SendResult(step="review", status=422, problem=unconfirmed, unconfirmed=True)
    if consent.given == as_given:  # the fields are those built (a consent given has the method chosen)
        qr, evaluated = {**qr, "status": "completed"}, (qr, evaluation)
    else:  # consent refused at review: nobody who needs it gets anything
        qr, evaluated = build_response(qdef, fields, status="completed", **made), None
    submitter = submitter_for(services().delivery.submitter, engine(), consent.consented, consent.asked, evaluated)
    result = _submit(ctx, work, qr, submitter, consent)
    if result.step == "sent":
        _record_sent(ctx, work, fields, result)
    return result


def leaves_the_practice(evaluation, consented: frozenset[str]) -> bool:
    """Whether anything goes outside the practice: a referral to an external recipient that is not blocked
    (by the form's consent answer, or, when it needs consent, for want of a tick at review)."""
    scoped = restrict_to_consented(evaluation, consented)
    return any(
        d.recipient is not None and not d.recipient.internal and not d.blocked_by_consent for d in scoped.decisions
    )


def _unconfirmed(evaluation, consent: ConsentAnswer, record_only: bool) -> tuple[str, str] | None:
    """Why the send cannot go as pressed: nothing would leave and that was not confirmed, or the confirmation
    that nothing leaves was pressed while a consent box makes a referral leave; None when it can go."""
    leaves = leaves_the_practice(evaluation, consent.consented if consent.given else frozenset())
    if not leaves and not record_only:
        return texts("send.confirm_record_only")
    if leaves and record_only:
        return texts("send.record_only_but_consent")
    return None


def _with_consent(fields: dict[str, list[str]], given: bool, method: str | None) -> dict[str, list[str]]:
    return {**fields, CONSENT_GIVEN: ["true"] if given else [], CONSENT_METHOD: [method] if given and method else []}


def _consent_answer(work: WorkState, evaluation) -> ConsentAnswer:
    asked = consent_asked(evaluation)
    consented = frozenset(rid for rid, ticked in (work.consent or {}).items() if ticked and rid in asked)
    # Nobody to ask (internal referrals only, or none): consent is not given, and the engine needs none.
    given = bool(consented)
    return ConsentAnswer(asked=asked, consented=consented, given=given, method=work.consent_method if given else None)


def _submit(ctx, work: WorkState, qr: dict, submitter: Submitter, consent: ConsentAnswer) -> SendResult:
    """Over one connection to the EHR: read the patient now, submit, write the practice's record back."""
    # The recipients' server does not know the practice's patients: the referral carries the patient's
    # identity and contact details (DOMAIN.md §3.1), read from the EHR now.
    with ehr_client(ctx) as ehr:
        patient = read_patient(ehr, ctx.patient)
        audit(ctx, "patient-read", "R", "0" if patient else "4", subject_of(ctx), patient=patient)
        if patient:
            qr = contain_patient(qr, patient)
        elif (
            consent.consented
        ):  # the recipients would get the EHR's own Patient/<id>, which means nothing (or someone else) there
            save_work(ctx, work)
            return SendResult(step="review", status=503, problem=texts("send.no_patient"))
        try:
            result = submitter.submit(
                qr,
                who=ctx.fhir_user,
                access_point=access_point(),
                patient=subject_of(ctx),
                practice=current_practice(),
                via="form",
            )
        except ResponseInvalid as exc:
            work.reviewed = False
            save_work(ctx, work)
            issues = tuple(FieldError(link_id="main", text=i.text, english=i.english or i.text) for i in exc.issues)
            return SendResult(step="form", status=422, errors=issues)

        def audited(ref: str, ok: bool, status: int | None) -> None:
            audit(ctx, "ehr-write", "U" if ref.startswith("QuestionnaireResponse") else "C", "0" if ok else "4", ref)

        written = write_back(ehr, result.extraction.bundles.record, on_write=audited, subject=subject_of(ctx))
    return SendResult(step="sent", response=qr, submitted=result, written=written)


def _record_sent(ctx, work: WorkState, fields: dict[str, list[str]], sent: SendResult) -> None:
    """The form as sent, with its confirmation; the patient's draft dropped. (The Submitter recorded the
    referrals for the next launch for the patient: service/referrals/recent.py.)"""
    response, submitted = required(sent.response, "the sent response"), required(sent.submitted, "the submission")
    work.fields = fields
    work.result = confirmation(ctx, work, response, submitted, sent.written, page_lang(ctx))
    save_work(ctx, work)
    forms().drop_draft(ctx.iss, ctx.patient)
