"""The EHR's own FHIR server: read the record for $populate, read the patient, write the referral back. No Flask.

The client is the launch's (its FHIR base and bearer token, a new one per use) or, for `$populate local=true`,
the configured server's. Every failure is turned into a plain-words outcome for the page: reading the record
is a help, not a condition (the form works without it), and writing back is optional (DESIGN.md "EHR
write-back is optional").
"""

from __future__ import annotations

import copy
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field

from service.fhir import urls
from service.fhir.errors import FhirAuthError, FhirError, FhirNotFound, FhirServerUnreachable
from service.questionnaires.populate import ICPC_PREGNANCY, LOINC_DUE_DATE, SCT_PREGNANCY
from service.texts import Text, texts

log = logging.getLogger(__name__)


@contextmanager
def ehr_client(ctx):
    """A FhirClient on the EHR of a launch (`ctx.iss`, with its access token), closed after use."""
    from service.fhir.auth import BearerTokenAuth  # with requests: imported on first use, not at start-up
    from service.fhir.client import FhirClient

    client = FhirClient(ctx.iss, auth=BearerTokenAuth(ctx.access_token), retries=1)
    try:
        yield client
    finally:
        client.close()


def _matches(bundle: dict) -> list[dict]:
    return [
        e["resource"]
        for e in bundle.get("entry", ())
        if isinstance(e, dict)
        and isinstance(e.get("resource"), dict)
        and (e.get("search") or {}).get("mode", "match") == "match"
    ]


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
        observations = _matches(
            client.search(
                "Observation", {"patient": patient_id, "code": ",".join(f"{urls.LOINC}|{c}" for c in LOINC_DUE_DATE)}
            )
        )
        conditions = _matches(
            client.search(
                "Condition", {"patient": patient_id, "code": f"{urls.SNOMED}|{SCT_PREGNANCY},{ICPC_PREGNANCY}"}
            )
        )
    except FhirError as exc:
        log.info("reading the record for $populate failed: %s (HTTP %s)", type(exc).__name__, exc.status)
        return RecordRead(problem=_problem(exc, "read"))
    return RecordRead(patient=patient, observations=observations, conditions=conditions)


def _problem(exc: FhirError, action: str) -> Text:
    """Why reading ("read") or writing back ("write") stopped, in the catalogue's words (ehr.* in service/texts.py)."""
    status = f" (HTTP {exc.status})" if exc.status else ""
    if isinstance(exc, FhirAuthError):
        return texts("ehr.read.forbidden" if action == "read" else "ehr.write.forbidden", status=status)
    if isinstance(exc, FhirNotFound):
        return texts("ehr.not_found", status=status)
    if isinstance(exc, FhirServerUnreachable):
        return texts("ehr.unreachable")
    return texts("ehr.read.refused" if action == "read" else "ehr.write.refused", status=status)


@dataclass(frozen=True, kw_only=True)
class WriteBack:
    """What was written to the EHR (resource references) and, if it stopped, why."""

    written: tuple[str, ...] = ()
    problem: tuple[str, str] | None = None
    status: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def read_patient(client, patient_id: str | None) -> dict | None:
    """The patient from the EHR, to send their identity and contact details with the referral; None when it
    cannot be read (the referral then names the patient by the EHR's reference only)."""
    if not patient_id:
        return None
    try:
        return client.read("Patient", patient_id)
    except FhirError as exc:
        log.info("reading the patient for the referral failed: %s (HTTP %s)", type(exc).__name__, exc.status)
        return None


EHR_TYPES = ("QuestionnaireResponse", "ServiceRequest", "Task")


def _is_patient_copy(ref: object) -> bool:
    """A reference to the patient as the referral names it (contained, or by identifier), not the EHR's own."""
    return isinstance(ref, dict) and (
        str(ref.get("reference", "")).startswith("#")
        or (ref.get("type") == "Patient" and "identifier" in ref and "reference" not in ref)
    )


def _ehr_entries(record: dict, subject: str | None = None) -> list[dict]:
    """The practice's record Bundle as transaction entries for the EHR: the QuestionnaireResponse (PUT, its
    derived id), every referral's ServiceRequest and each internal referral's Task (conditional creates on
    their identifier). The patient is the EHR's own (`subject`, e.g. Patient/123), not the copy made for the
    recipients; references to what is not written (the Consents) are left out."""
    entries = [e for e in record.get("entry", ()) if (e.get("resource") or {}).get("resourceType") in EHR_TYPES]
    kept = {e.get("fullUrl") for e in entries}
    out = []
    for entry in entries:
        resource = copy.deepcopy(entry["resource"])
        if subject:
            for key in ("subject", "for"):
                if _is_patient_copy(resource.get(key)):
                    resource[key] = {"reference": subject}
            if resource["resourceType"] == "QuestionnaireResponse":
                resource["contained"] = [r for r in resource.get("contained", ()) if r.get("resourceType") != "Patient"]
                if not resource["contained"]:
                    del resource["contained"]
        if "supportingInfo" in resource:
            resource["supportingInfo"] = [r for r in resource["supportingInfo"] if r.get("reference") in kept]
        out.append({**{k: v for k, v in entry.items() if k in ("fullUrl", "request")}, "resource": resource})
    return out


def _declares_transaction(client) -> bool:
    """Whether the EHR's CapabilityStatement lists the system interaction `transaction`
    (https://hl7.org/fhir/R4/capabilitystatement-definitions.html#CapabilityStatement.rest.interaction)."""
    try:
        statement = client.capabilities()
    except FhirError:
        return False
    return any(
        i.get("code") == "transaction"
        for rest in statement.get("rest") or ()
        if isinstance(rest, dict)
        for i in rest.get("interaction") or ()
        if isinstance(i, dict)
    )


def write_back(client, bundle: dict, on_write=None, subject: str | None = None) -> WriteBack:
    """The practice's record of a referral (service/referrals/bundle.py `record`), to the EHR: the response,
    the ServiceRequests, the internal Tasks.

    As one transaction when the EHR declares it (all or nothing: no ServiceRequest in the record without
    the response it points at); otherwise one call each, stopping at the first refusal. Writing again
    changes nothing (PUT with a derived id; conditional creates). `on_write(reference_or_type, ok, status)`
    is called per resource (audit)."""
    entries = _ehr_entries(bundle, subject)
    if entries and _declares_transaction(client):
        return _write_transaction(client, entries, on_write)
    return _write_each(client, entries, on_write)


def _write_transaction(client, entries: list[dict], on_write) -> WriteBack:
    from service.fhir.client import location_id

    types = [e["resource"]["resourceType"] for e in entries]
    try:
        answer = client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    except FhirError as exc:
        log.info("EHR write-back transaction refused: %s (HTTP %s)", type(exc).__name__, exc.status)
        for rtype in types:
            if on_write:
                on_write(rtype, False, exc.status)
        return WriteBack(problem=_problem(exc, "write"), status=exc.status)
    written: list[str] = []
    for rtype, sent, got in zip(types, entries, answer.get("entry") or (), strict=False):
        response = got.get("response") or {}
        rid = (
            location_id(response.get("location"))[1]
            or (got.get("resource") or {}).get("id")
            or sent["resource"].get("id")
        )
        ref = f"{rtype}/{rid}" if rid else rtype
        written.append(ref)
        if on_write:
            status = str(response.get("status", "")).split(" ")[0]
            on_write(ref, True, int(status) if status.isdigit() else None)
    return WriteBack(written=tuple(written))


def _write_each(client, entries: list[dict], on_write) -> WriteBack:
    """One call per resource, in Bundle order; a reference to an entry written before (its urn:uuid fullUrl)
    becomes that resource's id on the EHR, one to an entry not written is left out."""
    from service.fhir.client import location_id

    written: list[str] = []
    ids: dict[str, str] = {}
    for entry in entries:
        resource = _resolved(entry["resource"], ids)
        rtype = resource["resourceType"]
        try:
            if rtype == "QuestionnaireResponse":
                result = client.update(resource)
                ref = f"QuestionnaireResponse/{resource['id']}"
            else:
                result = client.create(resource, if_none_exist=(entry.get("request") or {}).get("ifNoneExist"))
                rid = (result.resource or {}).get("id") or location_id(result.location)[1]
                ref = f"{rtype}/{rid}" if rid else rtype
        except FhirError as exc:
            log.info("EHR write-back of a %s refused: %s (HTTP %s)", rtype, type(exc).__name__, exc.status)
            if on_write:
                on_write(rtype, False, exc.status)
            return WriteBack(written=tuple(written), problem=_problem(exc, "write"), status=exc.status)
        written.append(ref)
        if entry.get("fullUrl") and "/" in ref:
            ids[entry["fullUrl"]] = ref
        if on_write:
            on_write(ref, True, result.status)
    return WriteBack(written=tuple(written))


def _resolved(resource: dict, ids: dict[str, str]) -> dict:
    """`resource` with references to urn:uuid fullUrls replaced by the ids they got; unresolvable ones dropped."""
    out = copy.deepcopy(resource)
    for key in ("basedOn", "supportingInfo"):
        if key in out:
            out[key] = [{"reference": ids[r["reference"]]} for r in out[key] if r.get("reference") in ids]
            if not out[key]:
                del out[key]
    if "focus" in out:
        ref = out["focus"].get("reference", "")
        if ref.startswith("urn:"):
            if ref in ids:
                out["focus"] = {"reference": ids[ref]}
            else:
                del out["focus"]
    return out
