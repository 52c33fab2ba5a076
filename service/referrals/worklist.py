"""The recipient's worklist: its open referrals, most urgent and oldest first, each with the day it is due by the
recipient's response time (mappings `response`, in working days), and the detail of one referral: exactly what
the recipient received.

The worklist is one search at the recipient's server for the open Tasks, `Task?status=requested,received,…`, paged
through (Gravity's polling query is by owner, ANCHORS.md §3.3), of which it keeps the owner's: the owner is the
receiving organisation as the referral names it (bundle.py `_recipient_ref`), a logical reference by identifier
(https://hl7.org/fhir/R4/references.html#logical) or a literal "Organization/<id>", compared here
(taskflow.owner_matches). The same query on every server: `owner:identifier`
(https://hl7.org/fhir/R4/search.html#reference) is not answered by every engine (Medplum's in-memory one matches
literal references only), and `owner=Organization/<id>` matches no Task whose owner is a logical reference,
which is what the referral writes (the Organization need not be on the recipient's server at all). The
patients of the lines shown are then read in one `Patient?_id=a,b,…` search: `_include` is ignored by some
engines and costs a server far more than the Tasks themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from service.audit import identifier_of
from service.fhir import urls
from service.fhir.errors import FhirNotFound
from service.referrals.bundle import recipient_of
from service.referrals.taskflow import (
    FINAL,
    OPEN,
    assignee_of,
    code_of,
    message_text,
    owner_matches,
    read_task,
)
from service.rules.loader import Recipient

log = logging.getLogger(__name__)

PRACTICE_ZONE = ZoneInfo("Europe/Amsterdam")
# https://hl7.org/fhir/R4/valueset-request-priority.html, most urgent first.
PRIORITIES = ("stat", "asap", "urgent", "routine")
TASKS_PAGE_SIZE = 1000  # the Tasks alone: small resources, few pages
MAX_PAGES = 50  # open Tasks at one server beyond 50,000: the worklist is not the place to find one
PATIENTS_PER_SEARCH = 50  # ids in one `Patient?_id=` search: its URL stays well below servers' 8 KB limits


@dataclass(frozen=True, kw_only=True)
class WorkItem:
    """One open referral on the worklist."""

    task_id: str
    version: str | None  # meta.versionId: what a change made from this line is conditional on
    status: str
    business_status: str | None  # its Dutch display
    priority: str
    sent: datetime | None  # Task.authoredOn
    due: date | None  # the last working day to answer it in; None without a response time for its priority
    overdue: bool
    recipient: str | None  # the recipient id (the referral identifier's last part)
    patient: str | None  # the patient's name as the referral gives it
    birth_date: str | None
    assignee: str | None  # the colleague who works it
    patient_identifier: str | None = None  # the patient's BSN ("system|value"), for the audit row of whoever sees it


def response_times(recipient: Recipient) -> dict[str, int]:
    """A recipient's response times (working days by priority) from its mappings."""
    return dict(recipient.response)


def response_days(priority: str, times: Mapping[str, int]) -> int | None:
    """The working days for `priority`: its own, else the nearest less urgent priority's; None without either."""
    start = PRIORITIES.index(priority) if priority in PRIORITIES else len(PRIORITIES) - 1
    return next((times[p] for p in PRIORITIES[start:] if p in times), None)


def due_day(sent: datetime, days: int) -> date:
    """The working day `days` working days after `sent` (in the practice's zone; Saturday, Sunday and the Dutch
    public holidays skipped): an urgent referral of a Friday with 2 days is due on Tuesday, of the Thursday before
    Easter on the Wednesday after it. 0 days: the day itself, or the next working day."""
    day = sent.astimezone(PRACTICE_ZONE).date()
    if days == 0:
        while not working_day(day):
            day += timedelta(days=1)
        return day
    while days > 0:
        day += timedelta(days=1)
        if working_day(day):
            days -= 1
    return day


def working_day(day: date) -> bool:
    """Monday to Friday and no Dutch public holiday (the `holidays` package's calendar for NL: New Year's Day,
    Good Friday, Easter and Whit Monday, King's Day, Liberation Day in its lustrum years, Ascension Day,
    Christmas)."""
    return day.weekday() < 5 and day not in _dutch_holidays(day.year)


@lru_cache(maxsize=8)
def _dutch_holidays(year: int) -> frozenset[date]:
    import holidays  # only when a due day is worked out, not at start-up

    return frozenset(holidays.country_holidays("NL", years=year))


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=PRACTICE_ZONE)


def open_tasks(client, owner: str) -> list[dict[str, Any]]:
    """The open Tasks whose owner is `owner` ("system|value" or "Organization/<id>"), as the server holds them."""
    params = [("status", ",".join(OPEN)), ("_count", str(TASKS_PAGE_SIZE))]
    return [
        r
        for r in (e.get("resource") or {} for e in _search_all(client, params))
        if r.get("resourceType") == "Task" and r.get("status") not in FINAL and owner_matches(r, owner)
    ]


def patient_name(patient: dict[str, Any] | None) -> str | None:
    """The patient's name: its first HumanName's text, else its given names and family name (None without one).
    Also the practice's overview's (service/web/overview.py)."""
    for name in (patient or {}).get("name") or ():
        if not isinstance(name, dict):
            continue
        if name.get("text"):
            return str(name["text"])
        joined = " ".join(str(p) for p in (*(name.get("given") or ()), name.get("family")) if p)
        if joined:
            return joined
    return None


def _search_all(client, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Every entry of the search, page after page."""
    bundle: dict[str, Any] | None = client.search("Task", params)
    entries: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        if bundle is None:
            break
        entries += bundle.get("entry") or []
        bundle = client.next_page(bundle)
    return entries


def open_referrals(client, owner_reference: str, now: datetime, response_times: Mapping[str, int]) -> list[WorkItem]:
    """The owner's open referrals (requested, received, accepted, in progress, on hold), sorted by priority
    (stat, asap, urgent, routine) and then oldest first, with the patients' names; due day and overdue from
    `response_times` (working days by priority, `response_times(recipient)`)."""
    return open_page(client, owner_reference, now, response_times, size=MAX_PAGES * TASKS_PAGE_SIZE).lines


def _ordered(items: list[WorkItem]) -> list[WorkItem]:
    """Most urgent first (stat, asap, urgent, routine), then oldest first."""
    order = {p: i for i, p in enumerate(PRIORITIES)}
    latest = datetime.max.replace(tzinfo=PRACTICE_ZONE)
    return sorted(items, key=lambda i: (order.get(i.priority, len(order)), i.sent or latest, i.task_id))


@dataclass(frozen=True, kw_only=True)
class WorklistPage:
    """One page of the worklist: every open referral (sorted; without the patients' names) and the page's lines
    (with them)."""

    every: list[WorkItem]
    lines: list[WorkItem]


def open_page(
    client, owner_reference: str, now: datetime, times: Mapping[str, int], *, start: int = 0, size: int = 50
) -> WorklistPage:
    """As open_referrals, for a page of `size` lines from `start`: sorting, due days and overdue need only the Task
    (its priority and authoredOn); the patients are read for the page's lines only, in searches
    `Patient?_id=a,b,…` (https://hl7.org/fhir/R4/search.html#id) of at most PATIENTS_PER_SEARCH each."""
    tasks = {str(t.get("id")): t for t in open_tasks(client, owner_reference)}
    every = _ordered([_work_item(t, {}, now, times) for t in tasks.values()])
    shown = [tasks[i.task_id] for i in every[start : start + size]]
    refs = sorted({ref for t in shown if (ref := (t.get("for") or {}).get("reference") or "").startswith("Patient/")})
    patients: dict[str, dict[str, Any]] = {}
    for chunk in (refs[i : i + PATIENTS_PER_SEARCH] for i in range(0, len(refs), PATIENTS_PER_SEARCH)):
        ids = ",".join(r.split("/", 1)[1] for r in chunk)
        found = client.search("Patient", [("_id", ids), ("_count", str(len(chunk)))])
        patients |= {f"Patient/{e['resource'].get('id')}": e["resource"] for e in found.get("entry") or ()}
    return WorklistPage(every=every, lines=[_work_item(t, patients, now, times) for t in shown])


def _work_item(
    task: dict[str, Any], included: dict[str, dict[str, Any]], now: datetime, times: Mapping[str, int]
) -> WorkItem:
    sr = included.get((task.get("focus") or {}).get("reference") or "") or {}
    patient = included.get((task.get("for") or {}).get("reference") or "")
    priority = str(task.get("priority") or sr.get("priority") or "routine")
    sent = _instant(task.get("authoredOn")) or _instant((task.get("meta") or {}).get("lastUpdated"))
    days = response_days(priority, times)
    due = due_day(sent, days) if sent is not None and days is not None else None
    return WorkItem(
        task_id=str(task.get("id")),
        version=(task.get("meta") or {}).get("versionId"),
        status=str(task.get("status")),
        business_status=(task.get("businessStatus") or {}).get("text"),
        priority=priority,
        sent=sent,
        due=due,
        overdue=due is not None and now.astimezone(PRACTICE_ZONE).date() > due,
        recipient=recipient_of(sr) or recipient_of(task),
        patient=patient_name(patient),
        birth_date=(patient or {}).get("birthDate"),
        assignee=(assignee_of(task) or {}).get("display"),
        patient_identifier=identifier_of(patient, urls.BSN),
    )


# ---------------------------------------------------------------------------------------------------- detail


@dataclass(frozen=True, kw_only=True)
class ReferralDetail:
    """What the recipient received for one referral (the resources as stored at its server) and the parts the
    page shows. Nothing here comes from anywhere but the recipient's own server."""

    task: dict[str, Any]
    service_request: dict[str, Any]
    patient: dict[str, Any] | None
    consent: dict[str, Any] | None
    answers: dict[str, Any] | None  # the contained, reduced QuestionnaireResponse
    practice: str | None  # the requesting practice's name
    gp: str | None  # the requesting GP's name, when the referral names one
    sent: str | None
    phase: str | None  # a ks-phase code
    dates: dict[str, str] = field(default_factory=dict)  # linkId (due-date, child-birth-date) -> date
    level: str | None = None  # a ks-level code
    signals: tuple[str, ...] = ()  # the signals in words, as the ServiceRequest's reasonCode gives them
    help_question: str | None = None
    outcome: str | None = None  # a ks-task-outcome code, once closed
    message: str | None = None  # the message for the GP, once closed


def referral_detail(client, task_id: str, *, owner: str | None = None) -> ReferralDetail:
    """The referral behind the Task `task_id`: its ServiceRequest, Patient, Consent and the shared answers as the
    recipient's server holds them. NotFound when the Task is not there (or, with `owner`, not the owner's)."""
    task = read_task(client, task_id, owner)
    sr = _read_ref(client, (task.get("focus") or {}).get("reference")) or {}
    patient = _read_ref(client, (sr.get("subject") or task.get("for") or {}).get("reference"))
    consent = next(
        (
            _read_ref(client, ref)
            for ref in (s.get("reference") for s in sr.get("supportingInfo") or ())
            if isinstance(ref, str) and ref.startswith("Consent/")
        ),
        None,
    )
    answers = _contained(sr, "QuestionnaireResponse")
    found = _answers(answers)
    role = _contained(sr, "PractitionerRole") or {}
    outcome, message = _closing(client, task)
    return ReferralDetail(
        task=task,
        service_request=sr,
        patient=patient,
        consent=consent,
        answers=answers,
        practice=(role.get("organization") or {}).get("display") or (sr.get("requester") or {}).get("display"),
        gp=(role.get("practitioner") or {}).get("display"),
        sent=sr.get("authoredOn") or task.get("authoredOn"),
        phase=code_of({"coding": [_first(found.get("phase")) or {}]}, urls.CS_PHASE),
        dates={k: str(_first(found[k])) for k in ("due-date", "child-birth-date") if _first(found.get(k))},
        level=next((c for r in sr.get("reasonCode") or () if (c := code_of(r, urls.CS_LEVEL))), None),
        signals=tuple(str(r["text"]) for r in sr.get("reasonCode") or () if r.get("text")),
        help_question="\n".join(n["text"] for n in sr.get("note") or () if n.get("text")) or None,
        outcome=outcome,
        message=message,
    )


def _read_ref(client, reference: Any) -> dict[str, Any] | None:
    """The resource of a literal relative reference on this server; None for anything else or when it is gone."""
    if not isinstance(reference, str) or reference.count("/") != 1 or reference.startswith(("#", "urn:", "http")):
        return None
    rtype, rid = reference.split("/")
    try:
        return client.read(rtype, rid)
    except FhirNotFound:
        log.info("referral detail: a referenced %s is not on the server", rtype)
        return None


def _contained(resource: dict[str, Any], rtype: str) -> dict[str, Any] | None:
    return next((r for r in resource.get("contained") or () if r.get("resourceType") == rtype), None)


def _answers(qr: dict[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}

    def walk(items: Any) -> None:
        for item in items or ():
            if item.get("answer"):
                found[item["linkId"]] = item["answer"]
            walk(item.get("item"))

    walk((qr or {}).get("item"))
    return found


def _first(answers: list[dict[str, Any]] | None) -> Any:
    """The value of the first answer (valueCoding, valueDate, ...)."""
    answer = (answers or [{}])[0]
    return next((v for k, v in answer.items() if k.startswith("value")), None)


def _closing(client, task: dict[str, Any]) -> tuple[str | None, str | None]:
    """The outcome code and the GP's message of a closed Task (its output)."""
    outcome = message = None
    for out in task.get("output") or ():
        if code_of(out.get("valueCodeableConcept"), urls.CS_TASK_OUTCOME):
            outcome = code_of(out["valueCodeableConcept"], urls.CS_TASK_OUTCOME)
        comm = _read_ref(client, (out.get("valueReference") or {}).get("reference"))
        message = message_text(comm) or message
    return outcome, message
