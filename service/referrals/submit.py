"""Submit a referral: validate, evaluate, store the Bundle durably in the outbox, then push it once.

The order matters: the Bundle is committed to the outbox before anything is sent, so a crash,
a timeout or a server that is down loses nothing; the Bundle is idempotent (see bundle.py), so a
push repeated after a timeout in which the server did commit creates nothing new.
HTTP 2xx from the server means "delivered" — never "accepted": only the recipient's Task says that.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from service.audit import AuditEntry, AuditLog, patient_keys, reference_of
from service.fhir.errors import FhirError, FhirRequestRejected
from service.outbox.store import Outbox, OutboxItem
from service.referrals.pipeline import Engine, Extraction
from service.referrals.recent import RecentReferral, RecentReferrals, keys_of_response, referrals_made
from service.registry import Practice

if TYPE_CHECKING:
    from service.fhir.client import FhirClient
    from service.mirror.events import EventStore

log = logging.getLogger(__name__)

BACKOFF_BASE, BACKOFF_CAP = 15.0, 3600.0


_JITTER = random.Random()


def next_attempt_delay(attempts: int, rng: random.Random = _JITTER) -> float:
    """Exponential backoff with jitter between attempts of the background worker: 15 s … 1 h."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(frozen=True, kw_only=True)
class Delivered:
    """Where the server put what we sent: resource type -> ids, in Bundle order."""

    ids: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_response(cls, bundle: dict, response: dict | None) -> Delivered:
        from service.fhir.client import location_id  # with requests: not imported at start-up without a server

        ids: dict[str, list[str]] = {}
        if not response:
            return cls(ids=ids)
        for sent, got in zip(bundle.get("entry", []), response.get("entry", []), strict=False):
            rtype = sent["resource"]["resourceType"]
            got_type, rid = location_id((got.get("response") or {}).get("location"))
            if rid and got_type == rtype:
                ids.setdefault(rtype, []).append(rid)
        return cls(ids=ids)


@dataclass(frozen=True, kw_only=True)
class DestinationState:
    """Where one destination's part of a submission stands."""

    destination: str
    recipients: tuple[str, ...]
    state: str  # delivered | queued | dead
    item: OutboxItem
    delivered: Delivered


def destination_states(
    items: list[OutboxItem], recipients: dict[str, tuple[str, ...]] | None = None
) -> list[DestinationState]:
    out = []
    for item in items:
        state = {"delivered": "delivered", "dead": "dead"}.get(item.state, "queued")
        out.append(
            DestinationState(
                destination=item.destination or "",
                recipients=(recipients or {}).get(item.destination or "", ()),
                state=state,
                item=item,
                delivered=Delivered.from_response(item.bundle, item.response),
            )
        )
    return out


def overall_state(states: list[DestinationState]) -> str:
    """One word for a submission: `recorded` (nothing to send: it stayed in the practice), `delivered` (every
    destination took it), `queued` (some still wait), else `dead` (a destination refused it)."""
    if not states:
        return "recorded"
    if all(s.state == "delivered" for s in states):
        return "delivered"
    return "queued" if any(s.state == "queued" for s in states) else "dead"


@dataclass(frozen=True, kw_only=True)
class SubmitResult:
    submission_id: str
    extraction: Extraction
    destinations: list[DestinationState]
    # the newest referral made before per recipient of this one, for the same patient within the window (recent.py)
    earlier: tuple[RecentReferral, ...] = ()

    @property
    def state(self) -> str:
        return overall_state(self.destinations)

    @property
    def service_request_ids(self) -> list[str]:
        return [i for d in self.destinations for i in d.delivered.ids.get("ServiceRequest", [])]


class Pusher:
    """Pushes outbox items, each to its own destination's FhirClient, and records the outcome in the outbox and
    the audit log. A destination without a client (no server configured) is never claimed: its items wait."""

    def __init__(
        self,
        outbox: Outbox,
        clients: Mapping[str, FhirClient],
        audit: AuditLog | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.outbox = outbox
        self.clients = dict(clients)
        self.audit = audit
        self.clock = clock
        # Each delivery attempt is one access (service/audit.py): by the outbox, on whose command (`kansrijk
        # outbox retry` sets the operator), from where. Inside a submit's access it is a part of that one.
        self.responsible: str | None = None
        self.access_point = "outbox-worker"

    def push(self, item: OutboxItem) -> OutboxItem:
        """One attempt for a claimed item. Never raises for server trouble: the outbox records it."""
        client = self.clients[item.destination or ""]  # callers claim only items of destinations with a client
        patient = patient_in_bundle(item.bundle)
        where = f"{item.id} → {item.destination}"
        try:
            response = client.transaction(item.bundle)
        except FhirRequestRejected as exc:
            log.warning("outbox %s: server refused the Bundle (HTTP %s): dead letter", where, exc.status)
            self.outbox.mark_failed(
                item.id,
                status=exc.status,
                retry_at=None,
                error={"error": type(exc).__name__, "operationOutcome": exc.operation_outcome},
            )
            self._audit("push", "8", patient, item)
        except FhirError as exc:
            delay = next_attempt_delay(item.attempts + 1)
            log.info(
                "outbox %s: not delivered (%s, HTTP %s); next attempt in %.0f s",
                where,
                type(exc).__name__,
                getattr(exc, "status", None),
                delay,
            )
            self.outbox.mark_failed(
                item.id,
                status=getattr(exc, "status", None),
                retry_at=self.clock() + delay,
                error={"error": type(exc).__name__, "operationOutcome": getattr(exc, "operation_outcome", None)},
            )
            self._audit("push", "4", patient, item)
        else:
            self.outbox.mark_delivered(item.id, 200, response)
            log.info("outbox %s: delivered", where)
            self._audit("push", "0", patient, item)
        return self.outbox.require(item.id)

    def serves(self, item: OutboxItem) -> bool:
        return (item.destination or "") in self.clients

    def push_due(self, limit: int = 10) -> int:
        """One round of the background worker: push every due item that has a server. Returns how many were tried."""
        items = self.outbox.claim_due(limit, now=self.clock(), destinations=list(self.clients))
        for item in items:
            # the batch's lease renewed for each push: one that ran out during the pushes before it may be another
            # instance's now (service/outbox/store.py), and is left to it
            if self.outbox.renew(item.id, now=self.clock()):
                self.push(item)
        return len(items)

    def _audit(self, event: str, outcome: str, patient: str | None, item: OutboxItem) -> None:
        if self.audit:
            self.audit.record(
                AuditEntry(
                    event=event,
                    action="E",
                    outcome=outcome,
                    who="system:outbox",
                    responsible=self.responsible,
                    patient=patient,
                    object=f"{item.submission} → {item.destination or 'default'}",
                    access_point=self.access_point,
                )
            )


def patient_in_bundle(bundle: dict) -> str | None:
    """The patient for the audit log: the identifier (BSN) of the Patient entry when the patient travels in the
    Bundle, else the subject of its QuestionnaireResponse or first ServiceRequest. A subject contained in the
    resource (`#patient`, as the practice's record has it) is logged by that Patient's identifier, as the
    destination Bundles' pushes are: "#patient" would name nobody in an inspection (NEN 7513)."""
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        if resource["resourceType"] == "Patient" and resource.get("identifier"):
            return reference_of({"identifier": resource["identifier"][0]})
    for rtype in ("QuestionnaireResponse", "ServiceRequest"):
        for entry in bundle.get("entry", []):
            resource = entry["resource"]
            subject = resource.get("subject")
            if resource["resourceType"] != rtype or not isinstance(subject, dict):
                continue
            ref = subject.get("reference")
            if isinstance(ref, str) and ref.startswith("#"):
                identifiers = [
                    i
                    for p in resource.get("contained") or ()
                    if isinstance(p, dict) and p.get("id") == ref[1:] and p.get("resourceType") == "Patient"
                    for i in p.get("identifier") or ()
                    if isinstance(i, dict) and i.get("system") and i.get("value")
                ]
                if identifiers:
                    return reference_of({"identifier": identifiers[0]})
                continue  # no identifier to log it by: the ServiceRequests name the patient by the one derived for it
            if reference_of(subject):
                return reference_of(subject)
    return None


class Submitter:
    """validate → evaluate → Bundles → outbox (committed, one item per destination) → one immediate push each."""

    def __init__(
        self,
        engine: Engine,
        outbox: Outbox,
        pusher: Pusher | None,
        audit: AuditLog | None = None,
        recent: RecentReferrals | None = None,
        mirror: EventStore | None = None,
    ):
        self.engine = engine
        self.outbox = outbox
        self.pusher = pusher
        self.audit = audit
        self.recent = recent  # the record of referrals made (recent.py): each submission's, and the flag
        self.mirror = mirror  # the de-identified events of the mirror figures (service/mirror/events.py)

    def submit(
        self,
        qr: dict,
        *,
        region: str | None = None,
        who: str | None = None,
        access_point: str = "api",
        patient: str | None = None,
        practice: Practice | None = None,
        via: str = "api",
        owner: str = "",
    ) -> SubmitResult:
        """`patient`: the patient's reference for the audit log when the caller knows a better one than the
        response's subject (the EHR's Patient/<id> when the response carries a contained copy). `practice`: the
        registered practice the referral speaks for (its rule set, and the requester in the Bundles). `via`:
        how the referral came (`form` or `api`), for the record of referrals made. `owner`: the API client whose
        submission it is (bundle.submission_id)."""
        region = practice.region if practice else region
        extraction = self.engine.extract(
            qr, region, structural=True, practice=practice, owner=owner
        )  # ResponseInvalid (nothing stored) on bad input
        bundles = extraction.bundles
        sub = bundles.submission
        # Always, even with nothing to send: a resubmission without consent takes back what still waits.
        enqueued = self.outbox.enqueue(
            sub, [(d.destination, d.bundle) for d in bundles.deliveries], pushing=self._pushes_to
        )
        earlier = self._remember(qr, extraction, practice, patient, via, owner)
        author = reference_of(qr.get("author"))
        # One access (service/audit.py): the submit and the immediate pushes below are one row, or part of the
        # row of the request that submits (a page's send).
        with self.audit.access("submit", who=who or author, access_point=access_point) if self.audit else nullcontext():
            if self.audit:
                sent_to = ", ".join(d.destination for d in bundles.deliveries) or "none (stays in the practice)"
                found = patient_in_bundle(bundles.record)
                self.audit.record(
                    AuditEntry(
                        event="submit",
                        action="C",
                        outcome="0",
                        who=who or author,
                        responsible=author if who and who != author else None,
                        patient=patient or found,
                        patient_identifier=patient_keys(found)[1],
                        object=f"{sub} → {sent_to}",
                        access_point=access_point,
                    )
                )
            items = [self._push_now(item, created) for item, created in enqueued]
        states = destination_states(items, {d.destination: d.recipients for d in bundles.deliveries})
        return SubmitResult(submission_id=sub, extraction=extraction, destinations=states, earlier=earlier)

    def _push_now(self, item: OutboxItem, created: bool) -> OutboxItem:
        """The submit's own push of one stored item, when its server is configured here; the item as it stands."""
        if item.state == "dead" and not created:
            self.outbox.retry(item.id)  # a resubmission after a fix tries again
            item = self.outbox.require(item.id)
        if (
            item.state == "pending"
            and self.pusher is not None
            and self.pusher.serves(item)
            and self.outbox.claim(item.id)
        ):
            # as claimed: a cancel may have taken a referral out of it before the claim (withdraw.py)
            item = self.pusher.push(self.outbox.require(item.id))
        return item

    def _pushes_to(self, destination: str) -> bool:
        """Whether this submit pushes to `destination` at once (its server is configured here)."""
        return self.pusher is not None and destination in self.pusher.clients

    def _mirror_event(self, extraction: Extraction, practice: Practice | None) -> None:
        """The submission's de-identified event (service/mirror/events.py), for a registered practice only (an open
        API has no practice to mirror). Never fails the submission: a failing write is logged by its type."""
        if self.mirror is None or practice is None:
            return
        try:
            self.mirror.record_extraction(extraction, practice=practice.id, region=practice.region)
        except SQLAlchemyError as exc:  # the storage layer's, on either engine (service/db)
            log.error("mirror event not written: %s", type(exc).__name__)

    def _remember(
        self, qr: dict, extraction: Extraction, practice: Practice | None, patient: str | None, via: str, owner: str
    ) -> tuple[RecentReferral, ...]:
        """Record the referrals this submission makes (none: nothing recorded) and return the newest earlier one
        per recipient for the same patient within the window (not this submission's own: a resubmission). The
        submission's mirror event is written here too, referrals or none."""
        self._mirror_event(extraction, practice)
        made = referrals_made(extraction)
        if self.recent is None or not made:
            return ()
        keys = keys_of_response(qr, practice, patient, owner)
        sub = extraction.bundles.submission
        earlier = self.recent.latest_per_recipient(keys, [rid for rid, _ in made], exclude=sub)
        self.recent.record(keys, sub, made, via)
        return tuple(earlier.values())
