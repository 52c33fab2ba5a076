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
from dataclasses import dataclass, field
from typing import Callable

from service.audit import AuditEntry, AuditLog, reference_of
from service.fhir.client import location_id
from service.fhir.errors import FhirError, FhirRequestRejected
from service.outbox.store import Outbox, OutboxItem
from service.referrals.pipeline import Engine, Extraction
from service.referrals.bundle import submission_id
from service.registry import Practice

log = logging.getLogger(__name__)

BACKOFF_BASE, BACKOFF_CAP = 15.0, 3600.0


def next_attempt_delay(attempts: int, rng: random.Random = random.Random()) -> float:
    """Exponential backoff with jitter between attempts of the background worker: 15 s … 1 h."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(frozen=True, kw_only=True)
class Delivered:
    """Where the server put what we sent: resource type -> ids, in Bundle order."""

    ids: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_response(cls, bundle: dict, response: dict | None) -> "Delivered":
        ids: dict[str, list[str]] = {}
        if not response:
            return cls(ids=ids)
        for sent, got in zip(bundle.get("entry", []), response.get("entry", [])):
            rtype = sent["resource"]["resourceType"]
            got_type, rid = location_id((got.get("response") or {}).get("location"))
            if rid and got_type == rtype:
                ids.setdefault(rtype, []).append(rid)
        return cls(ids=ids)


@dataclass(frozen=True, kw_only=True)
class SubmitResult:
    submission_id: str
    state: str  # delivered | queued | dead
    extraction: Extraction
    item: OutboxItem
    delivered: Delivered

    @property
    def service_request_ids(self) -> list[str]:
        return self.delivered.ids.get("ServiceRequest", [])


class Pusher:
    """Pushes outbox items with a FhirClient and records the outcome in the outbox and the audit log."""

    def __init__(self, outbox: Outbox, client, audit: AuditLog | None = None, clock: Callable[[], float] = time.time):
        self.outbox = outbox
        self.client = client
        self.audit = audit
        self.clock = clock

    def push(self, item: OutboxItem) -> OutboxItem:
        """One attempt for a claimed item. Never raises for server trouble: the outbox records it."""
        patient = patient_in_bundle(item.bundle)
        try:
            response = self.client.transaction(item.bundle)
        except FhirRequestRejected as exc:
            log.warning("outbox %s: server refused the Bundle (HTTP %s): dead letter", item.id, exc.status)
            self.outbox.mark_failed(item.id, status=exc.status, retry_at=None,
                                    error={"error": type(exc).__name__, "operationOutcome": exc.operation_outcome})
            self._audit("push", "8", patient, item.id)
        except FhirError as exc:
            delay = next_attempt_delay(item.attempts + 1)
            log.info("outbox %s: not delivered (%s, HTTP %s); next attempt in %.0f s", item.id, type(exc).__name__,
                     getattr(exc, "status", None), delay)
            self.outbox.mark_failed(item.id, status=getattr(exc, "status", None), retry_at=self.clock() + delay,
                                    error={"error": type(exc).__name__, "operationOutcome": getattr(exc, "operation_outcome", None)})
            self._audit("push", "4", patient, item.id)
        else:
            self.outbox.mark_delivered(item.id, 200, response)
            log.info("outbox %s: delivered", item.id)
            self._audit("push", "0", patient, item.id)
        return self.outbox.get(item.id)

    def push_due(self, limit: int = 10) -> int:
        """One round of the background worker: push every due item. Returns how many were tried."""
        items = self.outbox.claim_due(limit, now=self.clock())
        for item in items:
            self.push(item)
        return len(items)

    def _audit(self, event: str, outcome: str, patient: str | None, obj: str) -> None:
        if self.audit:
            self.audit.record(AuditEntry(event=event, action="E", outcome=outcome, who="system:outbox",
                                         patient=patient, object=obj, access_point="outbox-worker"))


def patient_in_bundle(bundle: dict) -> str | None:
    """The patient for the audit log: the response's subject, or the identifier (BSN) of the Patient entry it
    points at when the patient travels in the Bundle."""
    patients = {e.get("fullUrl"): e["resource"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == "Patient"}
    for entry in bundle.get("entry", []):
        if entry["resource"]["resourceType"] == "QuestionnaireResponse":
            subject = entry["resource"].get("subject")
            patient = patients.get((subject or {}).get("reference"))
            if patient and patient.get("identifier"):
                return reference_of({"identifier": patient["identifier"][0]})
            return reference_of(subject)
    return None


class Submitter:
    """validate → evaluate → Bundle → outbox (committed) → one immediate push attempt."""

    def __init__(self, engine: Engine, outbox: Outbox, pusher: Pusher | None, audit: AuditLog | None = None):
        self.engine = engine
        self.outbox = outbox
        self.pusher = pusher
        self.audit = audit

    def submit(self, qr: dict, *, region: str | None = None, who: str | None = None, access_point: str = "api",
               patient: str | None = None, practice: Practice | None = None) -> SubmitResult:
        """`patient`: the patient's reference for the audit log when the caller knows a better one than the
        response's subject (the EHR's Patient/<id> when the response carries a contained copy). `practice`: the
        registered practice the referral speaks for (its rule set, and the requester in the Bundle)."""
        region = practice.region if practice else region
        extraction = self.engine.extract(qr, region, structural=True, practice=practice)  # ResponseInvalid (nothing stored) on bad input
        sub = submission_id(qr)
        item, created = self.outbox.enqueue(sub, extraction.bundle)
        if self.audit:
            author = reference_of(qr.get("author"))
            self.audit.record(AuditEntry(event="submit", action="C", outcome="0", who=who or author,
                                         responsible=author if who and who != author else None,
                                         patient=patient or patient_in_bundle(extraction.bundle), object=sub,
                                         access_point=access_point))
        if item.state == "dead" and not created:
            self.outbox.retry(sub)  # a resubmission after a fix tries again
            item = self.outbox.get(sub)
        if item.state == "pending" and self.pusher is not None and self.outbox.claim(sub):
            item = self.pusher.push(item)
        state = {"delivered": "delivered", "dead": "dead"}.get(item.state, "queued")
        return SubmitResult(submission_id=sub, state=state, extraction=extraction, item=item,
                            delivered=Delivered.from_response(item.bundle, item.response))
