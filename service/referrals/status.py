"""Where a referral stands, as the service knows it: the outbox's delivery state and, once delivered, the
recipients' Task for each ServiceRequest (closed-loop referral: HTTP 2xx means delivered, only the Task
says whether the recipient took it up)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from service.fhir.errors import FhirError
from service.referrals.submit import Delivered

log = logging.getLogger(__name__)

# https://hl7.org/fhir/R4/valueset-task-status.html
TASK_STATUS_TEXT = {
    "nl": {"draft": "concept", "requested": "aangevraagd, nog niet opgepakt", "received": "ontvangen",
           "accepted": "geaccepteerd", "rejected": "afgewezen", "ready": "gereed", "cancelled": "geannuleerd",
           "in-progress": "in behandeling", "on-hold": "gepauzeerd", "failed": "mislukt", "completed": "afgerond",
           "entered-in-error": "foutief ingevoerd"},
    "en": {"draft": "draft", "requested": "requested, not yet taken up", "received": "received", "accepted": "accepted",
           "rejected": "rejected", "ready": "ready", "cancelled": "cancelled", "in-progress": "in progress",
           "on-hold": "on hold", "failed": "failed", "completed": "completed", "entered-in-error": "entered in error"},
}


@dataclass(frozen=True, kw_only=True)
class ReferralStatus:
    state: str | None  # delivered | queued | dead; None when the outbox does not know the submission
    service_requests: list[str] = field(default_factory=list)  # ids on the recipients' server, in Bundle order
    tasks: dict[str, dict] = field(default_factory=dict)  # ServiceRequest id -> {"status", "businessStatus", "lastModified"}
    problem: bool = False  # the recipients' server could not be asked for the Tasks

    def service_request(self, i: int) -> str | None:
        """The id of the i-th ServiceRequest of the referral on the recipients' server, once delivered."""
        return self.service_requests[i] if i < len(self.service_requests) else None


def referral_status(delivery, submission: str, *, with_tasks: bool = True) -> ReferralStatus:
    """`with_tasks=False`: the outbox's state only (no call to the recipients' server)."""
    item = delivery.outbox.get(submission)
    if item is None:
        return ReferralStatus(state=None)
    state = {"delivered": "delivered", "dead": "dead"}.get(item.state, "queued")
    if state != "delivered":
        return ReferralStatus(state=state)
    ids = Delivered.from_response(item.bundle, item.response).ids.get("ServiceRequest", [])
    client = delivery.status_client
    if client is None or not ids or not with_tasks:
        return ReferralStatus(state=state, service_requests=ids)
    tasks: dict[str, dict] = {}
    try:
        for sr_id in ids:
            found = client.search("Task", {"focus": f"ServiceRequest/{sr_id}"})
            for entry in found.get("entry") or ():
                task = entry.get("resource") or {}
                if task.get("resourceType") == "Task":
                    tasks[sr_id] = {"status": task.get("status"),
                                    "businessStatus": (task.get("businessStatus") or {}).get("text"),
                                    "lastModified": task.get("lastModified") or (task.get("meta") or {}).get("lastUpdated")}
    except FhirError as exc:
        log.info("reading the recipients' Tasks failed: %s (HTTP %s)", type(exc).__name__, exc.status)
        return ReferralStatus(state=state, service_requests=ids, tasks=tasks, problem=True)
    return ReferralStatus(state=state, service_requests=ids, tasks=tasks)
