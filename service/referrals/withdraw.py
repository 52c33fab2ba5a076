"""Withdrawing consent for one recipient after the referral went out (DOMAIN.md §4.3 "withdrawal").

At that recipient's destination only: its Consent becomes `inactive` and its Task `cancelled` with the reason
(FHIR Workflow: the requester cancels, https://hl7.org/fhir/R4/task.html#statemachine). Each is read by its
business identifier and written back with If-Match, so a change the recipient made meanwhile is not
overwritten blindly (a 412 is reported, and the withdrawal can be repeated). Other recipients, at the same
or another destination, are not touched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from service.audit import AuditEntry
from service.errors import Issue, NotFound, ResponseInvalid
from service.fhir import urls
from service.referrals.status import recipient_of
from service.referrals.submit import patient_in_bundle
from service.texts import text, texts

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
    item = _delivered_item(delivery, submission, recipient)
    if item is None:
        raise NotFound(texts("withdraw.no_referral", submission=submission, recipient=recipient))
    if item.state != "delivered" or delivery.pusher is None or not delivery.pusher.serves(item):
        not_delivered = texts("withdraw.not_delivered")
        raise ResponseInvalid(not_delivered, issues=[Issue.of(not_delivered, code="business-rule")])
    client = delivery.pusher.clients[item.destination or ""]
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
    found = [
        e["resource"]
        for e in client.search(rtype, {"identifier": identifier}).get("entry", [])
        if (e.get("resource") or {}).get("resourceType") == rtype
    ]
    if not found:
        return None
    resource = found[0]
    version = (resource.get("meta") or {}).get("versionId")
    resource.update(change)
    client.update(resource, if_match=version)
    return f"{rtype}/{resource['id']}"
