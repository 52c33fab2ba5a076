"""Withdrawing consent for one recipient after the referral went out (DOMAIN.md §4.3 "withdrawal"), and the GP's
cancel of a referral (issue 13 point 3).

At that recipient's destination only: its Consent becomes `inactive` and its Task `cancelled` with the reason
(FHIR Workflow: the requester cancels, https://hl7.org/fhir/R4/task.html#statemachine). Each is read by its
business identifier and written back with If-Match, so a change the recipient made meanwhile is not
overwritten blindly (a 412 is reported, and the withdrawal can be repeated). Other recipients, at the same
or another destination, are not touched.

The GP's cancel (`cancel_referral`): the Task `cancelled` with "Ingetrokken door de huisarts" as its
statusReason and the ServiceRequest `revoked` (https://hl7.org/fhir/R4/valueset-request-status.html), in one
transaction with ifMatch on the versions read (taskflow.py apply_change: the recipient's steps and this one are
written the same way); against the version the GP's page showed, so a step the recipient took meanwhile is never
overwritten. A Task already final (completed, rejected, failed, cancelled) is not cancelled: `CancelRefused`.

A referral that has not gone yet (its outbox item waiting, or refused by its server) is taken out of the outbox
instead (Outbox.take_back: its ServiceRequest, Task and Consent leave the destination's Bundle, the whole item when
nothing is left), in one SQLite transaction with the claim's check, so it is either taken back or pushed, never
both. While a worker is pushing it, the cancel waits for that push to end (at most IN_FLIGHT_WAIT seconds), then
takes it back (the push failed) or cancels it at the destination (it arrived): never a lost or a duplicated
referral. A push that outlasts the wait refuses the cancel (ResponseInvalid), nothing changed: try again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.audit import AuditEntry
from service.errors import Issue, NotFound, ResponseInvalid
from service.fhir import urls
from service.referrals import taskflow
from service.referrals.bundle import recipient_of
from service.referrals.status import task_status_words
from service.referrals.submit import patient_in_bundle
from service.texts import Text, text, texts

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Withdrawn:
    destination: str
    consent: str | None  # Consent/<id> at the destination, now inactive
    task: str | None  # Task/<id> at the destination, now cancelled


def withdraw_consent(delivery, submission: str, recipient: str, *, who: str, access_point: str) -> Withdrawn:
    """Set the recipient's Consent inactive and cancel its Task at its destination. NotFound when the submission
    has no referral to that recipient; ResponseInvalid (nothing changed) while the referral has not been
    delivered yet, or when the destination has no server here."""
    item, client = _at_destination(delivery, submission, recipient, texts("withdraw.not_delivered"))
    key = f"{submission}:{recipient}"
    changed: dict[str, str | None] = {}
    outcome = "8"  # until both are done: a withdrawal that failed half-way is on record with what it changed
    try:
        for rtype, system, value, change in (
            ("Consent", urls.ID_CONSENT, f"{key}:consent", {"status": "inactive"}),
            (
                "Task",
                urls.ID_TASK,
                key,
                {"status": "cancelled", "statusReason": {"text": text("withdraw.status_reason")}},
            ),
        ):
            changed[rtype] = _update_by_identifier(client, rtype, f"{system}|{value}", change)
        outcome = "0"
    finally:
        delivery.audit.record(
            AuditEntry(
                event="consent-withdraw",
                action="U",
                outcome=outcome,
                who=who,
                patient=patient_in_bundle(item.bundle),
                object=f"{key} → {item.destination}" + "".join(f"; {ref}" for ref in changed.values() if ref),
                access_point=access_point,
            )
        )
    log.info("consent withdrawn for %s at %s", key, item.destination)
    return Withdrawn(destination=item.destination or "", consent=changed["Consent"], task=changed["Task"])


def _at_destination(delivery, submission: str, recipient: str, not_delivered):
    """The outbox item carrying the recipient's referral and the client of its destination (withdraw_consent's
    credentials). NotFound without such a referral; ResponseInvalid (`not_delivered`) while it has not been
    delivered, or when its destination has no server here."""
    item = _delivered_item(delivery, submission, recipient)
    if item is None:
        raise NotFound(texts("withdraw.no_referral", submission=submission, recipient=recipient))
    if item.state != "delivered" or delivery.pusher is None or not delivery.pusher.serves(item):
        raise ResponseInvalid(not_delivered, issues=[Issue.of(not_delivered, code="business-rule")])
    return item, delivery.pusher.clients[item.destination or ""]


def _delivered_item(delivery, submission: str, recipient: str):
    """The outbox item of the submission that carries the recipient's ServiceRequest."""
    return next(
        (
            i
            for i in delivery.outbox.for_submission(submission)
            if any(
                recipient_of(e["resource"]) == recipient
                for e in i.bundle.get("entry", [])
                if e["resource"]["resourceType"] == "ServiceRequest"
            )
        ),
        None,
    )


def _update_by_identifier(client, rtype: str, identifier: str, change: dict) -> str | None:
    """The resource with that business identifier at the destination, changed (If-Match its version); its
    reference, or None when the destination has none."""
    resource = _found(client, rtype, identifier)
    if resource is None:
        return None
    version = (resource.get("meta") or {}).get("versionId")
    resource.update(change)
    client.update(resource, if_match=version)
    return f"{rtype}/{resource['id']}"


def _found(client, rtype: str, identifier: str) -> dict | None:
    """The resource of `rtype` with that business identifier at the destination (as read: with its meta)."""
    found = [
        e["resource"]
        for e in client.search(rtype, {"identifier": identifier}).get("entry", [])
        if (e.get("resource") or {}).get("resourceType") == rtype
    ]
    return found[0] if found else None


# ---------------------------------------------------------------------------------------------------- the GP's cancel

REVOCABLE = ("draft", "active", "on-hold")  # a ServiceRequest still asking for something
IN_FLIGHT_WAIT = 15.0  # seconds a cancel waits for a push under way (a transaction's timeouts are shorter)


class CancelRefused(taskflow.TransitionRefused):
    """The referral's Task is final already (completed, rejected, failed, cancelled): nothing to cancel. `task`: as
    it is at the destination now."""

    def __init__(self, task: dict[str, Any], message: Text):
        super().__init__(message, issues=[Issue.of(message, code="business-rule")])
        self.task = task


@dataclass(frozen=True, kw_only=True)
class Cancelled:
    destination: str
    task: dict[str, Any] | None  # the Task as stored, cancelled (None: taken back from the outbox, never sent)
    service_request: str | None  # ServiceRequest/<id>, now revoked (None: not there, or no longer asking)

    @property
    def unsent(self) -> bool:
        """Taken out of the outbox before it went: the recipient never had it."""
        return self.task is None


def referral_task(delivery, submission: str, recipient: str) -> dict[str, Any]:
    """The Task of the recipient's referral as it is at its destination now (read, not the practice's copy), for the
    page that asks "Weet u het zeker?": its status and the version the cancel is made against. NotFound without
    one; ResponseInvalid while the referral has not been delivered."""
    _, client = _at_destination(delivery, submission, recipient, texts("cancel.not_delivered"))
    task = _found(client, "Task", f"{urls.ID_TASK}|{submission}:{recipient}")
    if task is None:
        raise NotFound(texts("cancel.no_task"))
    return task


def waiting_item(delivery, submission: str, recipient: str):
    """The outbox item carrying the recipient's referral while it has not been delivered (waiting, or refused by its
    server): the one `cancel_referral` takes it back from; None when there is none, or it went."""
    item = _delivered_item(delivery, submission, recipient)
    return item if item is not None and item.state != "delivered" else None


def refused_if_final(task: dict[str, Any]) -> None:
    """CancelRefused when the Task's work is over: it is not cancelled then, it stands as the recipient left it."""
    status = str(task.get("status"))
    if status in taskflow.FINAL:
        raise CancelRefused(task, texts("cancel.final", status=task_status_words(status)))


def cancel_referral(
    delivery,
    submission: str,
    recipient: str,
    who: str | None,
    reason: str | None = None,
    *,
    version: str | None = None,
    access_point: str,
    copy=None,
    record: Callable[[AuditEntry], None] | None = None,
) -> Cancelled:
    """The GP's cancel (module docstring). `who`: the user (the audit row's); `reason`: the Task's statusReason
    text ("Ingetrokken door de huisarts" by default); `version`: the Task's versionId the GP's page showed
    (TaskConflict when it moved on); `copy`: the practice's copy (feedback.FeedbackStore), told at once what the
    Task is now; `record`: where the audit row goes (the audit log by default). NotFound / ResponseInvalid as
    referral_task; CancelRefused when the Task is final; TaskConflict on a change meanwhile (nothing written). Not
    delivered yet: taken back from the outbox (module docstring), `Cancelled.unsent`."""
    item = _delivered_item(delivery, submission, recipient)
    if item is None:
        raise NotFound(texts("withdraw.no_referral", submission=submission, recipient=recipient))
    if item.state != "delivered" and _taken_back(delivery, item, recipient, who, access_point, record, copy, reason):
        return Cancelled(destination=item.destination or "", task=None, service_request=None)
    item, client = _at_destination(delivery, submission, recipient, texts("cancel.not_delivered"))
    key = f"{submission}:{recipient}"
    outcome, done = "8", []
    try:
        task = _found(client, "Task", f"{urls.ID_TASK}|{key}")
        if task is None:
            raise NotFound(texts("cancel.no_task"))
        refused_if_final(task)
        sr = _found(client, "ServiceRequest", f"{urls.ID_REFERRAL}|{key}")
        revoke = (sr | {"status": "revoked"},) if sr and sr.get("status") in REVOCABLE else ()
        # the actor is not written: a cancel assigns nobody at the recipient (taskflow.changed_task)
        change = taskflow.cancel(taskflow.Actor(display=who or ""), reason or text("cancel.status_reason"))
        stored = taskflow.apply_change(client, task["id"], change, datetime.now(UTC), version=version, also=revoke)
        done = [f"Task/{stored['id']}", *(f"ServiceRequest/{r['id']}" for r in revoke)]
        outcome = "0"
    except (taskflow.TransitionRefused, taskflow.TaskConflict) as exc:
        outcome = "4"  # refused, nothing written: the copy learns how the Task stands now
        if copy is not None and isinstance(exc, CancelRefused | taskflow.TaskConflict):
            copy.record_task(key, exc.task, client=client)
        raise
    finally:
        (record or delivery.audit.record)(
            AuditEntry(
                event="referral-cancel",
                action="U",
                outcome=outcome,
                who=who,
                patient=patient_in_bundle(item.bundle),
                object=f"{key} → {item.destination}" + "".join(f"; {ref}" for ref in done),
                access_point=access_point,
            )
        )
    if copy is not None:
        copy.record_task(key, stored, client=client)
    log.info("referral cancelled at %s", item.destination)
    revoked = f"ServiceRequest/{revoke[0]['id']}" if revoke else None
    return Cancelled(destination=item.destination or "", task=stored, service_request=revoked)


def _taken_back(delivery, item, recipient: str, who, access_point: str, record, copy, reason) -> bool:
    """Take the recipient's referral out of its waiting outbox item: True when done (audited, and the practice's
    copy told); False when the item was delivered meanwhile (the caller cancels it at the destination). Waits for a
    push under way; ResponseInvalid when it outlasts IN_FLIGHT_WAIT; NotFound when the item is gone."""
    key = f"{item.submission}:{recipient}"
    deadline = time.monotonic() + IN_FLIGHT_WAIT
    while (came := delivery.outbox.take_back(item.id, lambda b: bundle_without(b, key))) == "in-flight":
        if time.monotonic() >= deadline:
            words = texts("cancel.in_flight")
            raise ResponseInvalid(words, issues=[Issue.of(words, code="transient")])
        time.sleep(0.2)
    if came == "gone":
        raise NotFound(texts("withdraw.no_referral", submission=item.submission, recipient=recipient))
    if came == "delivered":
        if copy is not None:  # delivered while the cancel waited: the copy gets its row, told of the cancel next
            copy.track(delivery.outbox)
        return False
    (record or delivery.audit.record)(
        AuditEntry(
            event="referral-cancel",
            action="D",
            outcome="0",
            who=who,
            patient=patient_in_bundle(item.bundle),
            object=f"{key} → {item.destination}; outbox",
            access_point=access_point,
        )
    )
    if copy is not None:
        copy.record_unsent(item, recipient, reason or text("cancel.status_reason"))
    log.info("a referral waiting for %s taken back from the outbox", item.destination)
    return True


def bundle_without(bundle: dict[str, Any], key: str) -> dict[str, Any] | None:
    """A destination's transaction Bundle without referral `key` (<submission>:<recipient>): its ServiceRequest,
    Task and Consent (bundle.py: identified by `key`, `key:consent`) and the Provenance's targets naming them; None
    when no referral is left in it."""
    ids = {key, f"{key}:consent"}
    entries = bundle.get("entry") or []
    gone = {
        e.get("fullUrl")
        for e in entries
        if (r := e.get("resource") or {}).get("resourceType") in ("ServiceRequest", "Task", "Consent")
        and any(isinstance(i, dict) and i.get("value") in ids for i in r.get("identifier") or ())
    }
    left = [e for e in entries if e.get("fullUrl") not in gone]
    if not any((e.get("resource") or {}).get("resourceType") == "ServiceRequest" for e in left):
        return None
    for entry in left:
        resource = entry.get("resource") or {}
        if resource.get("resourceType") == "Provenance":
            resource["target"] = [t for t in resource.get("target") or () if t.get("reference") not in gone]
    return bundle | {"entry": left}
