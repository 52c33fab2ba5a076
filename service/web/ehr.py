"""The EHR's own FHIR server, with the launch's token: read the record for $populate, write the referral back.

The client comes from the SMART launch (`service.smart.views.ehr_client`, a new one per call). Every failure is turned
into a plain-words outcome for the page: reading the record is a help, not a condition (the form
works without it), and writing back is optional (DESIGN.md "EHR write-back is optional").
"""

from __future__ import annotations

import copy
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field

from service.fhir.errors import FhirAuthError, FhirError, FhirNotFound, FhirServerUnreachable
from service.questionnaires.populate import ICPC_PREGNANCY, LOINC_DUE_DATE, SCT_PREGNANCY
from service.fhir import urls

log = logging.getLogger(__name__)


@contextmanager
def ehr_client(ctx):
    """The launch's FhirClient for the EHR (ctx.iss, its bearer token), closed after use."""
    from service.smart.views import ehr_client as smart_ehr_client

    client = smart_ehr_client(ctx)
    try:
        yield client
    finally:
        client.close()


def _matches(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry", ())
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
            and (e.get("search") or {}).get("mode", "match") == "match"]


@dataclass(frozen=True, kw_only=True)
class RecordRead:
    """What the EHR gave for $populate; `problem` (Dutch, English) when it could not be read."""

    patient: dict | None = None
    observations: list[dict] = field(default_factory=list)
    conditions: list[dict] = field(default_factory=list)
    problem: tuple[str, str] | None = None


def read_record(client, patient_id: str) -> RecordRead:
    """The patient, their estimated delivery dates and pregnancy conditions: only what $populate uses."""
    try:
        patient = client.read("Patient", patient_id)
        observations = _matches(client.search("Observation", {
            "patient": patient_id, "code": ",".join(f"{urls.LOINC}|{c}" for c in LOINC_DUE_DATE)}))
        conditions = _matches(client.search("Condition", {
            "patient": patient_id, "code": f"{urls.SNOMED}|{SCT_PREGNANCY},{ICPC_PREGNANCY}"}))
    except FhirError as exc:
        log.info("reading the record for $populate failed: %s (HTTP %s)", type(exc).__name__, exc.status)
        return RecordRead(problem=_problem(exc, "lezen", "read"))
    return RecordRead(patient=patient, observations=observations, conditions=conditions)


def _problem(exc: FhirError, verb_nl: str, verb_en: str) -> tuple[str, str]:
    status = f" (HTTP {exc.status})" if exc.status else ""
    if isinstance(exc, FhirAuthError):
        return (f"Het EPD gaf geen toestemming om te {verb_nl}{status}.",
                f"The EHR did not allow us to {verb_en}{status}.")
    if isinstance(exc, FhirNotFound):
        return (f"Het EPD kent deze gegevens of deze bewerking niet{status}.",
                f"The EHR does not know this data or operation{status}.")
    if isinstance(exc, FhirServerUnreachable):
        return ("Het EPD was niet bereikbaar.", "The EHR could not be reached.")
    return (f"Het EPD weigerde het {verb_nl}{status}.", f"The EHR refused to {verb_en}{status}.")


@dataclass(frozen=True, kw_only=True)
class WriteBack:
    """What was written to the EHR (resource references) and, if it stopped, why."""

    written: tuple[str, ...] = ()
    problem: tuple[str, str] | None = None
    status: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def write_back(client, bundle: dict, on_write=None) -> WriteBack:
    """The QuestionnaireResponse (PUT, its derived id) and the ServiceRequests (conditional create on their
    identifier) of a referral Bundle, to the EHR. Stops at the first refusal: a ServiceRequest points at
    the QuestionnaireResponse. `on_write(reference_or_type, ok, status)` is called per attempt (audit)."""
    written: list[str] = []
    for entry in bundle.get("entry", ()):
        resource = entry.get("resource") or {}
        rtype = resource.get("resourceType")
        if rtype not in ("QuestionnaireResponse", "ServiceRequest"):
            continue
        resource = copy.deepcopy(resource)
        try:
            if rtype == "QuestionnaireResponse":
                result = client.update(resource)
                ref = f"QuestionnaireResponse/{resource['id']}"
            else:
                # Only the references the EHR can resolve: the Consent stays with the recipients' copy.
                resource["supportingInfo"] = [r for r in resource.get("supportingInfo", ())
                                              if not str(r.get("reference", "")).startswith("urn:")]
                result = client.create(resource, if_none_exist=(entry.get("request") or {}).get("ifNoneExist"))
                rid = (result.resource or {}).get("id") or _id_from_location(result.location)
                ref = f"ServiceRequest/{rid}" if rid else "ServiceRequest"
        except FhirError as exc:
            log.info("EHR write-back of a %s refused: %s (HTTP %s)", rtype, type(exc).__name__, exc.status)
            if on_write:
                on_write(rtype, False, exc.status)
            return WriteBack(written=tuple(written), problem=_problem(exc, "terugschrijven", "write back"), status=exc.status)
        written.append(ref)
        if on_write:
            on_write(ref, True, result.status)
    return WriteBack(written=tuple(written))


def _id_from_location(location: str | None) -> str | None:
    if not location:
        return None
    parts = location.split("/_history")[0].rstrip("/").split("/")
    return parts[-1] if len(parts) >= 2 else None
