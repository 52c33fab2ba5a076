"""The worklist's lines and a referral's detail as the inbox's templates show them, in the page's language: names,
dates as dd-mm-jjjj, codes in words. Only what the recipient's own server holds (worklist.py) is shown; nothing is
looked up elsewhere."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from service.fhir import urls
from service.referrals import taskflow
from service.referrals.worklist import PRACTICE_ZONE, ReferralDetail, WorkItem
from service.texts import STATUS_REASONS, language, ours_in_lang, text, texts

DATE_FIELDS = {"due-date": "inbox.detail.due_date", "child-birth-date": "inbox.detail.child_birth_date"}


def day(value: date | datetime | str | None) -> str | None:
    """A date as the practice writes it (dd-mm-jjjj); a moment in the practice's zone with its time."""
    if value is None or value == "":
        return None
    found: date | datetime
    if isinstance(value, str):
        try:
            found = datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return value
    else:
        found = value
    if isinstance(found, datetime):
        moment = found.astimezone(PRACTICE_ZONE) if found.tzinfo else found
        return moment.strftime("%d-%m-%Y %H:%M")
    return found.strftime("%d-%m-%Y")


def _words(system: str, code: str | None, lang: str) -> str | None:
    if not code:
        return None
    found = taskflow.concepts(system).get(code)
    return found.in_lang(lang) if found else code


def _priority(priority: str, lang: str) -> str:
    key = f"explain.priority.{priority}"
    return text(key, lang) if priority in ("stat", "asap", "urgent", "routine") else priority


def _business(task: dict, lang: str) -> str | None:
    """Where the work stands (Task.businessStatus) in the page's language; none once the practice cancelled it or
    it was entered in error: "geannuleerd (Aangenomen)" said two things at once."""
    if task.get("status") in ("cancelled", "entered-in-error"):
        return None
    business = task.get("businessStatus") or {}
    code = taskflow.code_of(business, urls.CS_TASK_BUSINESS_STATUS)
    return _words(urls.CS_TASK_BUSINESS_STATUS, code, lang) if code else business.get("text")


def _status(status: str, lang: str) -> str:
    from service.referrals.status import task_status_text

    return task_status_text(status, lang)


def work_line(item: WorkItem, lang: str) -> dict[str, Any]:
    return {
        "id": item.task_id,
        "patient": item.patient or text("inbox.unknown_name", lang),
        "birth_date": day(item.birth_date),
        "priority": item.priority,
        "priority_text": _priority(item.priority, lang),
        "sent": day(item.sent),
        "due": day(item.due),
        "overdue": item.overdue,
        "status": item.status,
        "status_text": _status(item.status, lang),
        "business": item.business_status,
        "assignee": item.assignee,
    }


def _patient(patient: dict[str, Any] | None, lang: str) -> dict[str, Any]:
    from service.referrals.worklist import patient_name

    patient = patient or {}
    bsn = next((i.get("value") for i in patient.get("identifier") or () if i.get("system") == urls.BSN), None)
    addresses = [
        ", ".join(
            p for p in (" ".join(a.get("line") or ()), f"{a.get('postalCode', '')} {a.get('city', '')}".strip()) if p
        )
        for a in patient.get("address") or ()
    ]
    languages = [
        language_name(c, lang)
        for comm in patient.get("communication") or ()
        for c in (comm.get("language") or {}).get("coding") or ()
        if c.get("code")
    ]
    return {
        "name": patient_name(patient) or text("inbox.unknown_name", lang),
        "birth_date": day(patient.get("birthDate")),
        "bsn": bsn,
        "phones": [t["value"] for t in patient.get("telecom") or () if t.get("system") == "phone" and t.get("value")],
        "emails": [t["value"] for t in patient.get("telecom") or () if t.get("system") == "email" and t.get("value")],
        "addresses": [a for a in addresses if a],
        "languages": languages,
    }


def _consent(detail: ReferralDetail, lang: str) -> dict[str, Any] | None:
    consent = detail.consent
    method = None
    for item in (detail.answers or {}).get("item") or ():
        for sub in item.get("item") or ():
            if sub.get("linkId") == "consent-method":
                method = ((sub.get("answer") or [{}])[0].get("valueCoding") or {}).get("code")
    if consent is None and method is None:
        return None
    status = (consent or {}).get("status")
    words = texts("inbox.detail.consent_given") if status == "active" else texts("inbox.detail.consent_not_active")
    return {
        "text": words.in_lang(lang) if consent else None,
        "method": text(f"consent.{method}", lang) if method in ("verbal", "written") else method,
        "date": day((consent or {}).get("dateTime")),
    }


def detail_view(detail: ReferralDetail, lang: str) -> dict[str, Any]:
    """The referral's detail for inbox_referral.html."""
    task = detail.task
    reason = taskflow.code_of(task.get("statusReason"), urls.CS_DECLINE_REASON)
    priority = str(task.get("priority") or detail.service_request.get("priority") or "routine")
    return {
        "id": task.get("id"),
        "version": (task.get("meta") or {}).get("versionId") or "",
        "status": task.get("status"),
        "status_text": _status(str(task.get("status")), lang),
        "business": _business(task, lang),
        "assignee": (taskflow.assignee_of(task) or {}).get("display"),
        "priority": priority,
        "priority_text": _priority(priority, lang),
        "practice": detail.practice,
        "gp": detail.gp,
        "sent": day(detail.sent),
        "phase": _words(urls.CS_PHASE, detail.phase, lang),
        "dates": [(text(DATE_FIELDS[k], lang), day(v)) for k, v in detail.dates.items() if k in DATE_FIELDS],
        "level": _words(urls.CS_LEVEL, detail.level, lang),
        "signals": list(detail.signals),
        "help_question": detail.help_question,
        "consent": _consent(detail, lang),
        "patient": _patient(detail.patient, lang),
        "reason": _words(urls.CS_DECLINE_REASON, reason, lang),
        "outcome": _words(urls.CS_TASK_OUTCOME, detail.outcome, lang),
        "message": detail.message,
        "actions": taskflow.allowed_actions(task),
        # the practice's cancel or the patient's withdrawn consent, in the words the practice wrote on the Task
        "cancelled": ours_in_lang((task.get("statusReason") or {}).get("text"), lang, STATUS_REASONS)
        if task.get("status") == "cancelled"
        else None,
    }


def language_name(coding: dict, lang: str) -> str:
    """A language (a BCP 47 coding, as Patient.communication.language has it) by its name in the page's language
    ("Nederlands", "Turks"; CLDR's names through Babel); an unknown code as it is."""
    from babel import Locale, UnknownLocaleError  # only the detail page needs it

    code = str(coding["code"])
    try:
        name = Locale.parse(code.replace("-", "_")).get_display_name(language(lang))
    except (ValueError, UnknownLocaleError):
        name = None
    return name or coding.get("display") or code
