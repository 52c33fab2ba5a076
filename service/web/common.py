"""What every step of the practice's pages shares: the blueprint, the form's control fields, the engine and
the form store of this request, the practice's clock, the audit line, the patient banner.

The steps (form_page, meldcode_page, review_page, send, confirmation) put their routes on `web`; guard.py
is the one decorator every route goes through, and `web` takes no route without it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from flask import Blueprint, Response, current_app, request
from markupsafe import escape

from service.audit import AuditEntry, identifier_of
from service.errors import required
from service.fhir.urls import BSN
from service.questionnaires.form import build_response
from service.referrals.pipeline import PRACTICE_ZONE
from service.referrals.recent import patient_keys
from service.referrals.status import task_status_text
from service.rules.meldcode import MeldcodeStep
from service.services import services
from service.smart.session import current_practice
from service.texts import STATUS_REASONS, language, ours_in_lang, text
from service.web.store import FormStore, WorkState

GUARDED = "ks_guarded"  # set by guard.step on the views it guards


class PagesBlueprint(Blueprint):
    """A blueprint that takes only guarded routes (guard.py): the guard is where a POST's CSRF token is checked."""

    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: Callable[..., Any] | None = None,
        provide_automatic_options: bool | None = None,
        **options: Any,
    ) -> None:
        if view_func is not None and not getattr(view_func, GUARDED, False):
            raise TypeError(f"{rule}: every route of the practice's pages goes through service.web.guard.step")
        super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)


web = PagesBlueprint("web", __name__)

FORM_ID_SYSTEM = "https://kansrijke-start.github.io/fhir/NamingSystem/form-response"
CONTROL_FIELDS = {"csrf_token", "_form", "lang", "next"}
CONSENT_GIVEN, CONSENT_METHOD, NOTE, CHILDREN = "consent-given", "consent-method", "note", "children-in-household"


def engine():
    return services().engine


def region() -> str:
    """The rule set of the practice this session speaks for (from the registry, never from the launch)."""
    return current_practice().region


def questionnaire():
    """The Questionnaire of the practice's rule set (service/questionnaires/catalog.py QuestionnaireDef)."""
    return questionnaire_of(region())


def questionnaire_of(region: str):
    """The Questionnaire of the rule set `region`."""
    eng = engine()
    return eng.catalog.find(eng.ruleset(region).questionnaire)


def forms() -> FormStore:
    return required(services().forms, "the practice's form store")


def meldcode_steps() -> tuple[MeldcodeStep, ...]:
    """The Meldcode's steps, in their order (mappings/meldcode.yaml, loaded and checked at start-up by init_app)."""
    steps = services().meldcode
    if not steps:
        raise RuntimeError("the Meldcode steps are loaded by service.web.views.init_app")
    return steps


def page_lang(ctx) -> str:
    return language(ctx.language)


def page_text(lang: str) -> Callable[..., str]:
    """The templates' t(): the catalogue's text (service/texts.py) in the page's language `lang`, or in the
    language given first (the bilingual pages)."""

    def t(key: str, in_lang: str | None = lang, /, **values: object) -> str:
        return text(key, in_lang, **values)

    return t


# What the fragments a page and the live panel share (_panel.html, _panel_bar.html) may use of the template context,
# besides what the view passes: tests/web/test_pages.py checks the templates use nothing else.
FRAGMENT_HELPERS = ("t", "aandachtsfunctionaris")


def render_fragments(lang: str, *names: str, **context: Any) -> list[str]:
    """Fragments of a page rendered on their own, for one answer made of several (the live panel), with one
    template context: what the view passes and FRAGMENT_HELPERS in `lang`, the same values a whole page's context
    processors (views.py `_template_helpers`) give them. Not those processors themselves: they work out what only
    whole pages show (the CSRF token, the practice's name, the language switch), and flask's default one adds
    request, session and g; at every tick that was a tenth of the live panel's time (benchmarks/form.py).
    Flask's template signals are not sent for these (nothing in the service listens to them)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    context.update(t=page_text(lang), aandachtsfunctionaris=app.config["KS_SETTINGS"].aandachtsfunctionaris)
    return [_fragment(app.jinja_env, name, lang).render(context) for name in names]


# A text said as it is, `{{ t('key') }}`: written into a fragment's source once per language (_fragment).
PLAIN_TEXT = re.compile(r"\{\{ t\('([a-z0-9_.-]+)'\) \}\}")
_FRAGMENTS: dict[tuple[str, str], tuple[Any, Any]] = {}


def _fragment(env, name: str, lang: str):
    """The template `name` with each of its plain texts (`{{ t('key') }}`, no values) written in, escaped, for
    `lang`: the same output as the template (tests/web/test_pages.py compares the live panel with the page's,
    which includes the template itself), without a call per text at every tick (issue 12 point 8). Templates that
    reload (debug) are used as they are."""
    if env.auto_reload:
        return env.get_template(name)
    entry = _FRAGMENTS.get((name, lang))
    if entry is None or entry[0] is not env:
        source = env.loader.get_source(env, name)[0]
        written = PLAIN_TEXT.sub(lambda m: "{% raw %}" + str(escape(text(m.group(1), lang))) + "{% endraw %}", source)
        entry = _FRAGMENTS[(name, lang)] = (env, env.from_string(written))
    return entry[1]


def json_answer(body: dict) -> Response:
    """A JSON answer of a page's script (the live panel), compact and as is (UTF-8, no key sorting, no indent
    whatever the app's debug mode): jsonify's work without its per-call provider lookups."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return app.response_class(data, mimetype="application/json")


def practice_now() -> datetime:
    return datetime.now(PRACTICE_ZONE).replace(microsecond=0)


def subject_of(ctx) -> str | None:
    return f"Patient/{ctx.patient}" if ctx.patient else None


def patient_record_keys(ctx, work: WorkState) -> tuple[str, ...]:
    """The keys the record of referrals made knows this patient by (service/referrals/recent.py): her EHR
    reference, and her BSN as read at launch, which an HIS's referral through the API names her by."""
    return (*patient_keys(current_practice(), subject_of(ctx), None), *work.patient_keys)  # find() takes each once


def access_point() -> str:
    return f"web:{request.remote_addr or '-'}"


def audit(ctx, event: str, action: str, outcome: str, obj: str | None = None, *, patient: dict | None = None) -> None:
    """A part of this request's access (guard.step opens it; service/audit.py): one row per request. `patient`:
    the Patient resource read, whose BSN the row then names too."""
    services().delivery.audit.record(
        AuditEntry(
            event=event,
            action=action,
            outcome=outcome,
            who=ctx.fhir_user,
            patient=subject_of(ctx),
            patient_identifier=identifier_of(patient, BSN),
            object=obj,
            access_point=access_point(),
        )
    )


def audited_access(ctx, event: str):
    """The access one page request is (service/audit.py): written as one row when the request touched the
    patient's data (the record, the stored form, the draft, the referral), and not at all when it did not."""
    return services().delivery.audit.access(
        event, who=ctx.fhir_user, access_point=access_point(), patient=subject_of(ctx)
    )


def posted_fields(qdef) -> dict[str, list[str]]:
    """The form's answer fields (linkIds of the Questionnaire only)."""
    return {k: v for k, v in request.form.to_dict(flat=False).items() if k in qdef.items and k not in CONTROL_FIELDS}


def first_value(fields, link_id: str) -> str:
    return next((v.strip() for v in fields.get(link_id, ()) if isinstance(v, str) and v.strip()), "")


def stored_work(ctx) -> WorkState | None:
    """This session's stored form, sent or not (a read of the patient's data: audited)."""
    work = forms().work(ctx.session_id)
    if work is not None:
        audit(ctx, "form-read", "R", "0", "stored form")
    return work


def unfinished_work(ctx) -> WorkState | None:
    """This session's form while it has not been sent."""
    work = stored_work(ctx)
    return work if work is not None and work.result is None else None


def save_work(ctx, work: WorkState) -> None:
    forms().save_work(ctx.session_id, work)
    audit(ctx, "form-save", "U", "0", "stored form")


def evaluate_fields(ctx, fields, *, status: str, consent_for_all: bool = False, authored: str | None = None):
    """(response, validation, evaluation) of the fields; with `consent_for_all` as if consent were given, so the
    review sees every recipient that consent would allow."""
    qdef = questionnaire()
    if consent_for_all:
        fields = {**fields, CONSENT_GIVEN: ["true"]}
    qr = build_response(
        qdef,
        fields,
        subject=subject_of(ctx),
        author=ctx.fhir_user,
        authored=authored or practice_now().isoformat(),
        identifier=None,
        status=status,
    )
    return qr, *engine().evaluate(qr, region())


def needs_meldcode(evaluation) -> bool:
    return any(f.panel == "meldcode" for f in evaluation.safety)


def banner_for(ctx, work: WorkState | None) -> dict | None:
    """The patient banner (name, birth date) when the EHR asked the app to show one."""
    if not ctx.need_patient_banner:
        return None
    banner = ctx.patient_banner or (work.banner if work else {}) or {}
    birth = banner.get("birthDate")
    try:
        shown = date.fromisoformat(birth).strftime("%d-%m-%Y") if birth else ""
    except ValueError:
        shown = str(birth)
    return {"name": banner.get("name") or "", "birthDate": shown}


def task_view(found, lang: str, name: str | None = None) -> dict | None:
    """The practice's copy of one referral at its recipient (service/referrals/feedback.py ReferralFeedback) for a
    page, in the GP's words: the status, what it came to (the outcome, a decline's reason, or "contact opgenomen"),
    since when, the recipient's message for the GP and who sent it (`name`: the recipient's, when nobody is named on
    the Task), and when the copy was last brought up to date. None before the recipient's Task has been seen."""
    if found is None or found.status is None:
        return None
    from service.fhir import urls
    from service.referrals.taskflow import concepts

    def words(system: str, code: str | None, fallback: str | None) -> str | None:
        known = concepts(system).get(code or "")
        return known.in_lang(lang) if known else fallback

    detail = words(urls.CS_TASK_OUTCOME, found.outcome, found.outcome_text) or words(
        urls.CS_DECLINE_REASON, found.reason, ours_in_lang(found.reason_text, lang, STATUS_REASONS)
    )
    if not detail and found.business == "contact-made":
        detail = words(urls.CS_TASK_BUSINESS_STATUS, found.business, found.business_text)
    elif not detail and found.business is None:  # a recipient's own words for where it stands (another system's)
        detail = found.business_text
    return {
        "status": found.status,
        # taken back from the outbox (withdraw.py cancel_referral): cancelled by the practice, never at a recipient
        "text": text("feedback.unsent", lang) if found.unsent else task_status_text(found.status, lang),
        "detail": detail,
        "final": not found.open,
        "unsent": found.unsent,
        "when": practice_time(found.changed_at if found.unsent else found.last_modified),
        "message": found.message,
        "by": found.worked_by or name or "",
        "checked": practice_time(found.polled_at),
        "problem": found.poll_failed,
    }


def practice_time(when: str | float | None) -> str:
    """An instant (ISO or epoch seconds) as dd-mm-jjjj hh:mm in the practice's time zone; '' when unknown."""
    if not when:
        return ""
    try:
        if isinstance(when, str):
            moment = datetime.fromisoformat(when).astimezone(PRACTICE_ZONE)
        else:
            moment = datetime.fromtimestamp(when, PRACTICE_ZONE)
    except (ValueError, OSError, OverflowError):
        return ""
    return moment.strftime("%d-%m-%Y %H:%M")
