"""The recipient's work on a referral's Task: accept, decline, first contact, close with an outcome and a message
for the GP, assign to a colleague. Each step is data (a `Change`) and a pure function of the Task it is made on
(`changed_task`), applied as one version-aware write (`apply_change`).

Who sets what follows Gravity SDOH Clinical Care's Task status table (ANCHORS.md §3.3): the responder sets
`accepted`, `rejected`, `in-progress`, `completed` and `failed`; the requester `cancelled` (the GP's cancel, or a
withdrawn consent: service/referrals/withdraw.py). `cancelled`, `completed`, `rejected`, `failed` and
`entered-in-error` are final (https://hl7.org/fhir/R4/task.html#statemachine): no step is made from them.
`businessStatus` carries our Dutch sub-state (CodeSystem ks-task-business-status) with BSeR's code where it has
one (3.0 accepted, 4.0 declined, 7.0 fulfilment completed); `statusReason` the coded reason of a decline;
`output` the coded outcome and the Communication with the message (BSeR: feedback through Task.output).

Assigning: Task.owner stays the receiving organisation. BSeR and Gravity both make owner the recipient
organisation (1..1), the worklist searches by it (`Task?owner=`), and who may see a referral rests on it; the
colleague who works the referral is our extension `task-assignee` (a Reference to the Practitioner or
PractitionerRole, with its display). Any step by someone when nobody is assigned assigns them.

Concurrency: every write carries If-Match: W/"<versionId>" of the Task the change was computed from
(https://hl7.org/fhir/R4/http.html#concurrency; in a transaction `Bundle.entry.request.ifMatch`,
https://hl7.org/fhir/R4/bundle-definitions.html#Bundle.entry.request.ifMatch). A 412 (or 409) is re-read and
raised as `TaskConflict` naming who holds the Task now and its status: never a lost update.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from service.config import QUESTIONNAIRES
from service.errors import InputInvalid, Issue, KsError, NotFound, ResponseInvalid
from service.fhir import urls
from service.fhir.errors import FhirConflict, FhirNotFound
from service.texts import Text, texts

log = logging.getLogger(__name__)

FINAL = frozenset({"cancelled", "completed", "rejected", "failed", "entered-in-error"})
OPEN = ("requested", "received", "accepted", "in-progress", "on-hold")
MESSAGE_MAX = 1000  # characters: a short message, read in the HIS next to the referral

# action -> (the statuses it may be taken from, the status it sets: None keeps it / the outcome decides)
ACTIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "accept": (frozenset({"requested", "received"}), "accepted"),
    "decline": (frozenset({"requested", "received"}), "rejected"),
    "first-contact": (frozenset({"accepted"}), "in-progress"),
    "close": (frozenset({"accepted", "in-progress", "on-hold"}), None),
    "assign": (frozenset(OPEN), None),
    "cancel": (frozenset(OPEN), "cancelled"),  # the requester's: the GP's cancel (service/referrals/withdraw.py)
}
REQUESTER_ACTIONS = frozenset({"cancel"})  # not the recipient's: never offered on the worklist
BUSINESS = {"accept": "accepted", "decline": "declined", "first-contact": "contact-made", "close": "closed"}
# BSeR's business status where one fits (HL7/bser TaskBusinessStatusCS.fsh): (our code, Task.status) -> BSeR code.
BSER = {
    ("accepted", "accepted"): ("3.0", "Service Request Accepted"),
    ("declined", "rejected"): ("4.0", "Service Request Declined"),
    ("closed", "completed"): ("7.0", "Service Request Fulfillment Completed"),
}
# The outcome decides the final status: a family that could not be reached is `failed` ("attempted, could not
# complete", Gravity; ANCHORS.md §3.6); every other outcome is a referral handled, `completed`.
OUTCOME_STATUS = {"not-reachable": "failed"}


@dataclass(frozen=True, kw_only=True)
class Actor:
    """A person at the receiving organisation: their name and, where known, their Practitioner(Role)."""

    display: str
    reference: str | None = None  # e.g. PractitionerRole/12 on the recipient's server
    identifier: dict[str, str] | None = None  # {system, value}, e.g. the identity provider's subject

    def as_reference(self) -> dict[str, Any]:
        ref: dict[str, Any] = {"display": self.display}
        if self.reference:
            ref["reference"] = self.reference
        if self.identifier:
            ref["identifier"] = dict(self.identifier)
        return ref


@dataclass(frozen=True, kw_only=True)
class Change:
    """One step on a Task. `reason`: a ks-decline-reason code (decline), or the requester's words (cancel);
    `outcome`: a ks-task-outcome code and `message` the short message for the GP (close); `assignee`: the colleague
    (assign)."""

    action: str
    actor: Actor
    reason: str | None = None
    outcome: str | None = None
    message: str | None = None
    assignee: Actor | None = None


def accept(actor: Actor) -> Change:
    return Change(action="accept", actor=actor)


def decline(actor: Actor, reason: str) -> Change:
    return Change(action="decline", actor=actor, reason=reason)


def first_contact(actor: Actor) -> Change:
    return Change(action="first-contact", actor=actor)


def close(actor: Actor, outcome: str, message: str) -> Change:
    return Change(action="close", actor=actor, outcome=outcome, message=message)


def assign(actor: Actor, colleague: Actor) -> Change:
    return Change(action="assign", actor=actor, assignee=colleague)


def cancel(actor: Actor, reason: str) -> Change:
    """The requester's cancel: the Task `cancelled`, `reason` its statusReason's text (Gravity: the requester
    cancels; https://hl7.org/fhir/R4/task.html#statemachine)."""
    return Change(action="cancel", actor=actor, reason=reason)


class TransitionRefused(ResponseInvalid):
    """The step cannot be taken from the Task's status (a final one, or not yet accepted)."""

    issue_code = "business-rule"


class TaskConflict(KsError):
    """Someone changed the Task since it was read: `by` holds it now (its assignee's name), `status` is its status."""

    status_code, issue_code = 409, "conflict"

    def __init__(self, *, by: str | None, status: str, task: dict[str, Any]):
        words = _status_words(status)
        message = (
            texts("taskflow.conflict_by", who=by, status=words) if by else texts("taskflow.conflict", status=words)
        )
        super().__init__(message)
        self.by, self.status, self.task = by, status, task


def _status_words(status: str) -> Text:
    from service.referrals.status import task_status_words

    return task_status_words(status)


# ---------------------------------------------------------------------------------------------------- codes


@cache
def concepts(system: str) -> dict[str, Text]:
    """The codes of one of our CodeSystems (service/data/questionnaires) with their Dutch display and English
    designation."""
    name = system.rsplit("/", 1)[-1]
    data = json.loads((QUESTIONNAIRES / f"CodeSystem-{name}.json").read_text(encoding="utf-8"))
    return {
        c["code"]: Text(c["display"], next((d["value"] for d in c.get("designation", ()) if d["language"] == "en"), ""))
        for c in data["concept"]
    }


def coding(system: str, code: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": concepts(system)[code].nl}


def concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [coding(system, code)], "text": concepts(system)[code].nl}


def code_of(element: Any, system: str) -> str | None:
    """The code of `system` in a CodeableConcept (or None; anything else, as a server may send it, has none)."""
    codings = element.get("coding") if isinstance(element, dict) else None
    return next((c.get("code") for c in codings or () if isinstance(c, dict) and c.get("system") == system), None)


# ---------------------------------------------------------------------------------------------------- pure steps


def allowed_actions(task: dict[str, Any]) -> tuple[str, ...]:
    """The recipient's steps that can be taken on the Task now, in ACTIONS order (for the page's buttons)."""
    return tuple(
        a for a, (sources, _) in ACTIONS.items() if task.get("status") in sources and a not in REQUESTER_ACTIONS
    )


def assignee_of(task: dict[str, Any]) -> dict[str, Any] | None:
    """The colleague who works the Task (extension task-assignee), as a Reference."""
    for ext in task.get("extension") or ():
        if ext.get("url") == urls.EXT_TASK_ASSIGNEE and isinstance(ext.get("valueReference"), dict):
            return ext["valueReference"]
    return None


def _check(task: dict[str, Any], change: Change) -> None:
    if change.action not in ACTIONS:
        raise ValueError(f"unknown action {change.action!r}")
    status = str(task.get("status"))
    if status not in ACTIONS[change.action][0]:
        words = _status_words(status)
        refused = texts("taskflow.refused", status=words)
        raise TransitionRefused(refused, issues=[Issue.of(refused, code="business-rule")])
    wrong = (change.action == "decline" and change.reason not in concepts(urls.CS_DECLINE_REASON)) or (
        change.action == "close" and change.outcome not in concepts(urls.CS_TASK_OUTCOME)
    )
    if wrong:
        raise InputInvalid(texts("taskflow.unknown_code"))
    if change.action == "cancel" and not (change.reason or "").strip():
        raise ValueError("a cancel says why (its statusReason)")
    if change.action == "assign" and not (change.assignee and change.assignee.display.strip()):
        raise InputInvalid(texts("taskflow.no_assignee"))
    if change.action == "close":
        message = (change.message or "").strip()
        if not message:
            raise InputInvalid(texts("taskflow.message_missing"))
        if len(message) > MESSAGE_MAX:
            raise InputInvalid(texts("taskflow.message_too_long", max=MESSAGE_MAX))


def changed_task(task: dict[str, Any], change: Change, now: datetime, message_ref: str | None = None) -> dict[str, Any]:
    """The Task after `change` (a new dict; `task` is not touched). TransitionRefused when the step cannot be
    taken from its status; InputInvalid for a missing or unknown reason, outcome, message or colleague.
    `message_ref`: the reference of the close's Communication (a urn:uuid inside a transaction)."""
    _check(task, change)
    new = json.loads(json.dumps(task))  # a deep copy of plain JSON
    status = ACTIONS[change.action][1]
    if change.action == "close":
        status = OUTCOME_STATUS.get(str(change.outcome), "completed")
    if status:
        new["status"] = status
    if change.action in BUSINESS:
        business = BUSINESS[change.action]
        new["businessStatus"] = concept(urls.CS_TASK_BUSINESS_STATUS, business)
        bser = BSER.get((business, new["status"]))
        if bser:
            new["businessStatus"]["coding"].append(
                {"system": urls.BSER_BUSINESS_STATUS, "code": bser[0], "display": bser[1]}
            )
    if change.action == "decline":
        new["statusReason"] = concept(urls.CS_DECLINE_REASON, str(change.reason))
    if change.action == "cancel":  # the recipient's sub-state no longer holds; nobody there is assigned by it
        new["statusReason"] = {"text": str(change.reason).strip()}
        new.pop("businessStatus", None)
    if change.action == "close":
        new["output"] = [
            {
                "type": concept(urls.CS_TASK_OUTPUT, "outcome"),
                "valueCodeableConcept": concept(urls.CS_TASK_OUTCOME, str(change.outcome)),
            },
            {"type": concept(urls.CS_TASK_OUTPUT, "message"), "valueReference": {"reference": message_ref or ""}},
        ]
    person = change.assignee if change.action == "assign" else (None if assignee_of(task) else change.actor)
    if change.action in REQUESTER_ACTIONS:
        person = None
    if person is not None:
        others = [e for e in new.get("extension") or () if e.get("url") != urls.EXT_TASK_ASSIGNEE]
        new["extension"] = [*others, {"url": urls.EXT_TASK_ASSIGNEE, "valueReference": person.as_reference()}]
    new["lastModified"] = now.isoformat(timespec="seconds")
    new.pop("meta", None)  # the server keeps its own (versionId, lastUpdated)
    return new


def message_communication(task: dict[str, Any], change: Change, now: datetime) -> dict[str, Any]:
    """The close's message for the GP: a Communication based on the ServiceRequest, part of the Task (ANCHORS.md
    §3.6), from the receiving organisation to the requesting practice, identified by Task and version."""
    comm: dict[str, Any] = {
        "resourceType": "Communication",
        "identifier": [
            {"system": urls.ID_MESSAGE, "value": f"{task['id']}:{(task.get('meta') or {}).get('versionId', '')}"}
        ],
        "status": "completed",
        "partOf": [{"reference": f"Task/{task['id']}"}],
        "category": [concept(urls.CS_TASK_OUTPUT, "message")],
        "sent": now.isoformat(timespec="seconds"),
        "payload": [{"contentString": (change.message or "").strip()}],
    }
    focus = (task.get("focus") or {}).get("reference")
    if focus:
        comm["basedOn"] = [{"reference": focus}]
    if task.get("for"):
        comm["subject"] = task["for"]
    if task.get("owner"):
        comm["sender"] = task["owner"]
    practice = _practice(task)
    if practice:
        comm["recipient"] = [practice]
    return comm


def message_text(comm: dict[str, Any] | None) -> str | None:
    """The text of a close's message (message_communication): its string parts, one per line (another writer's
    Communication may have several); None when it has none or is no Communication."""
    if not isinstance(comm, dict) or comm.get("resourceType") != "Communication":
        return None
    parts = [p.get("contentString") for p in comm.get("payload") or () if isinstance(p, dict)]
    return "\n".join(t for t in parts if isinstance(t, str) and t) or None


def _practice(task: dict[str, Any]) -> dict[str, Any] | None:
    """The requesting practice, as the Task's contained requester PractitionerRole names it (bundle.py)."""
    ref = (task.get("requester") or {}).get("reference")
    for resource in task.get("contained") or ():
        if isinstance(ref, str) and ref == f"#{resource.get('id')}" and resource.get("organization"):
            return dict(resource["organization"])
    return None


def change_bundle(
    task: dict[str, Any], change: Change, now: datetime, base_url: str, also: tuple[dict[str, Any], ...] = ()
) -> dict[str, Any]:
    """The transaction for `change`: the close's Communication (a conditional create on its identifier), the
    resources `also` (each as changed, with the meta.versionId it was read with: PUT with ifMatch on it) and the
    Task, PUT with ifMatch on the version it was computed from; without a message only the Task. `base_url`: the
    server's, for the entries' fullUrl (https://hl7.org/fhir/R4/bundle.html#bundle-unique)."""
    version = (task.get("meta") or {}).get("versionId")
    entries = [_put_entry(resource, base_url) for resource in also]
    message_ref = None
    if change.action == "close":
        comm = message_communication(task, change, now)
        message_ref = f"urn:uuid:{_uuid_for(comm['identifier'][0]['value'])}"
        ident = comm["identifier"][0]
        entries.append(
            {
                "fullUrl": message_ref,
                "resource": comm,
                "request": {
                    "method": "POST",
                    "url": "Communication",
                    "ifNoneExist": f"identifier={ident['system']}|{ident['value']}",
                },
            }
        )
    new = changed_task(task, change, now, message_ref)
    entries.append(_put_entry({**new, "id": task["id"], "meta": {"versionId": version}}, base_url))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _put_entry(resource: dict[str, Any], base_url: str) -> dict[str, Any]:
    """A transaction entry updating `resource` with ifMatch on its meta.versionId (the meta itself not sent)."""
    rtype, rid = resource["resourceType"], resource["id"]
    version = (resource.get("meta") or {}).get("versionId")
    request = {"method": "PUT", "url": f"{rtype}/{rid}"}
    if version:
        request["ifMatch"] = f'W/"{version}"'
    body = {k: v for k, v in resource.items() if k != "meta"}
    return {"fullUrl": f"{base_url.rstrip('/')}/{rtype}/{rid}", "resource": body, "request": request}


def _uuid_for(name: str) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{urls.BASE}/taskflow/{name}"))


# ---------------------------------------------------------------------------------------------------- on a server


def owner_matches(task: dict[str, Any], owner: str) -> bool:
    """Whether the Task's owner is `owner`: "Organization/<id>" or an identifier "system|value" (worklist.py)."""
    ref = task.get("owner") or {}
    if "|" in owner:
        ident = ref.get("identifier") or {}
        return f"{ident.get('system')}|{ident.get('value')}" == owner
    return ref.get("reference") == owner


def read_task(client, task_id: str, owner: str | None = None) -> dict[str, Any]:
    """The Task at the recipient's server; NotFound when it is not there or not the owner's (nobody sees another
    recipient's referrals)."""
    try:
        task = client.read("Task", task_id)
    except FhirNotFound as exc:
        raise NotFound(texts("worklist.not_found")) from exc
    if owner is not None and not owner_matches(task, owner):
        raise NotFound(texts("worklist.not_found"))
    return task


def apply_change(
    client,
    task_id: str,
    change: Change,
    now: datetime,
    *,
    version: str | None = None,
    owner: str | None = None,
    also: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    """Read the Task, make `change`, write it back version-aware (with `also`: see write_change); the Task as
    stored. `version`: the versionId the person saw (the page's): when the Task has moved on since, TaskConflict at
    once; TransitionRefused instead when the practice cancelled it meanwhile (nobody at the recipient took it up)."""
    task = read_task(client, task_id, owner)
    current = (task.get("meta") or {}).get("versionId")
    if version is not None and current != version:
        if task.get("status") == "cancelled":
            _check(task, change)
        raise _conflict(task)
    return write_change(client, task, change, now, also)


def write_change(
    client, task: dict[str, Any], change: Change, now: datetime, also: tuple[dict[str, Any], ...] = ()
) -> dict[str, Any]:
    """Write `change` computed on `task` (as read, with its meta.versionId): one transaction when there is a
    message for the GP or other resources to change with it, `also` (the cancel's ServiceRequest: nothing
    half-written), else a PUT with If-Match. TaskConflict on 412/409."""
    try:
        if change.action == "close" or also:
            answer = client.transaction(change_bundle(task, change, now, client.base_url, also))
            stored = (answer.get("entry") or [{}])[-1].get("resource")
        else:
            version = (task.get("meta") or {}).get("versionId")
            stored = client.update({**changed_task(task, change, now), "id": task["id"]}, if_match=version).resource
    except FhirConflict as exc:
        log.info("Task update refused by the server (HTTP %s): re-reading", exc.status)
        raise _conflict(client.read("Task", task["id"])) from exc
    log.info("Task %s: %s", change.action, (stored or {}).get("status"))
    return (
        stored if isinstance(stored, dict) and stored.get("resourceType") == "Task" else client.read("Task", task["id"])
    )


def _conflict(current: dict[str, Any]) -> TaskConflict:
    assignee = assignee_of(current)
    return TaskConflict(by=(assignee or {}).get("display"), status=str(current.get("status")), task=current)
