"""Where a referral stands, as the service knows it, per destination: the outbox's delivery state and, once
delivered, the recipients' Task for each ServiceRequest (closed-loop referral: HTTP 2xx means delivered,
only the Task says whether the recipient took it up)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from service.fhir.errors import FhirError
from service.referrals.bundle import recipient_of
from service.referrals.submit import Delivered, destination_states, overall_state
from service.texts import Text, code_text, texts

log = logging.getLogger(__name__)

# https://hl7.org/fhir/R4/valueset-task-status.html: each code's words in service/texts.py.
TASK_STATUS_TEXT = {
    "draft": "task.draft",
    "requested": "task.requested",
    "received": "task.received",
    "accepted": "task.accepted",
    "rejected": "task.rejected",
    "ready": "task.ready",
    "cancelled": "task.cancelled",
    "in-progress": "task.in-progress",
    "on-hold": "task.on-hold",
    "failed": "task.failed",
    "completed": "task.completed",
    "entered-in-error": "task.entered-in-error",
}


def task_status_text(status: str, lang: str) -> str:
    """A Task's status in words; an unknown code as it is."""
    return code_text(TASK_STATUS_TEXT, status, lang)


def task_status_words(status: str) -> Text:
    """A Task's status in words, in Dutch and English; an unknown code as it is."""
    key = TASK_STATUS_TEXT.get(status)
    return texts(key) if key else Text(status, status)


@dataclass(frozen=True, kw_only=True)
class DestinationStatus:
    destination: str
    state: str  # delivered | queued | dead
    recipients: tuple[str, ...] = ()  # the recipients whose referral this destination holds
    service_requests: dict[str, str] = field(default_factory=dict)  # recipient id -> ServiceRequest id on that server
    tasks: dict[str, dict] = field(
        default_factory=dict
    )  # ServiceRequest id -> {"status", "businessStatus", "lastModified"}
    problem: bool = False  # that server could not be asked for the Tasks


@dataclass(frozen=True, kw_only=True)
class ReferralStatus:
    state: str | None  # recorded | delivered | queued | dead; None when the outbox does not know the submission
    destinations: list[DestinationStatus] = field(default_factory=list)

    def for_recipient(self, recipient_id: str) -> tuple[DestinationStatus | None, str | None]:
        """The destination a recipient's referral went to, and its ServiceRequest id there once delivered."""
        for d in self.destinations:
            if recipient_id in d.recipients:
                return d, d.service_requests.get(recipient_id)
        return None, None

    @property
    def problem(self) -> bool:
        return any(d.problem for d in self.destinations)


def service_requests_by_recipient(bundle: dict, response: dict | None) -> dict[str, str]:
    ids = Delivered.from_response(bundle, response).ids.get("ServiceRequest", [])
    srs = [e["resource"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == "ServiceRequest"]
    return {recipient_of(sr) or str(i): sr_id for i, (sr, sr_id) in enumerate(zip(srs, ids, strict=False))}


def referral_status(delivery, submission: str, *, with_tasks: bool = True) -> ReferralStatus:
    """`with_tasks=False`: the outbox's state only (no call to the recipients' servers)."""
    items = delivery.outbox.for_submission(submission)
    if not items:
        return ReferralStatus(state=None)
    out = []
    states = destination_states(items)
    for d in states:
        srs = service_requests_by_recipient(d.item.bundle, d.item.response) if d.state == "delivered" else {}
        client = delivery.status_clients.get(d.destination)
        tasks: dict[str, dict] = {}
        problem = False
        if srs and client is not None and with_tasks:
            try:
                for sr_id in srs.values():
                    found = client.search("Task", {"focus": f"ServiceRequest/{sr_id}"})
                    for entry in found.get("entry") or ():
                        task = entry.get("resource") or {}
                        if task.get("resourceType") == "Task":
                            tasks[sr_id] = {
                                "status": task.get("status"),
                                "businessStatus": (task.get("businessStatus") or {}).get("text"),
                                "lastModified": task.get("lastModified") or (task.get("meta") or {}).get("lastUpdated"),
                            }
            except FhirError as exc:
                log.info("reading the Tasks at %s failed: %s (HTTP %s)", d.destination, type(exc).__name__, exc.status)
                problem = True
        recipients = tuple(
            r
            for r in (
                recipient_of(e["resource"])
                for e in d.item.bundle.get("entry", [])
                if e["resource"]["resourceType"] == "ServiceRequest"
            )
            if r
        )
        out.append(
            DestinationStatus(
                destination=d.destination,
                state=d.state,
                recipients=recipients,
                service_requests=srs,
                tasks=tasks,
                problem=problem,
            )
        )
    return ReferralStatus(state=overall_state(states), destinations=out)
