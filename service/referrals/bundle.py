"""Pure: build the referral transaction Bundle (DESIGN.md "The referral Bundle") from an Evaluation.

The same response always gives the same Bundle: every id, identifier and fullUrl is derived from
the submission id (the response's business identifier, or a hash of its content), so a retry or a
double submit can never create a second referral:
- QuestionnaireResponse and Provenance: PUT with derived ids (an update, never a second copy);
- ServiceRequest, Task, Consent, Patient: POST with `ifNoneExist` on their business identifier
  (conditional create, https://hl7.org/fhir/R4/http.html#ccreate), cross-referenced by urn:uuid
  (https://hl7.org/fhir/R4/bundle.html#references), so a Task the recipient has since accepted is
  never reset.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass

from service.fhir import urls
from service.questionnaires.catalog import QuestionnaireDef
from service.rules.evaluate import Decision, Evaluation
from service.registry import Practice
from service.rules.loader import Recipient

NAMESPACE = uuid.UUID("5b1f0a52-7c53-4c7e-9d36-2f7a3c0e6a11")  # fixed: changing it changes every derived id
SERVICE_NAME = "Kansrijke Start FHIR service"


def submission_id(qr: dict) -> str:
    """A stable id for one submission: from the response's identifier, else from its content."""
    ident = qr.get("identifier")
    if isinstance(ident, dict) and ident.get("value"):
        key = f"identifier:{ident.get('system', '')}|{ident['value']}"
    else:
        body = {k: v for k, v in qr.items() if k not in ("id", "meta", "text")}
        key = "sha256:" + hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return str(uuid.uuid5(NAMESPACE, key))


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


@dataclass(frozen=True, kw_only=True)
class ReferralContext:
    """What the Bundle needs besides the response: the service's version for Provenance."""

    service_version: str


def _ident_ref(identifier: dict, display: str | None, rtype: str) -> dict:
    ref = {"type": rtype, "identifier": {"system": identifier["system"], "value": identifier["value"]}}
    if display:
        ref["display"] = display
    return ref


def _signal_concept(qdef: QuestionnaireDef, link_id: str) -> dict:
    item = qdef.items[link_id]
    codings = [{k: c[k] for k in ("system", "code", "display") if k in c} for c in item.codes]
    if not codings:
        codings = [{"system": urls.CS_SIGNAL, "code": link_id}]
    return {"coding": codings, "text": item.text}


def _level_concept(level: str) -> dict:
    return {"coding": [{"system": urls.CS_LEVEL, "code": level}]}


def _entry(full_url: str, resource: dict, method: str, url: str, if_none_exist: str | None = None) -> dict:
    request = {"method": method, "url": url}
    if if_none_exist:
        request["ifNoneExist"] = if_none_exist
    return {"fullUrl": full_url, "resource": resource, "request": request}


def _ident_query(identifier: dict) -> str:
    # The | inside a token search is a separator, not to be escaped (https://hl7.org/fhir/R4/search.html#token).
    return f"identifier={identifier['system']}|{identifier['value']}"


def _merge_by_recipient(decisions: tuple[Decision, ...]) -> list[tuple[Recipient, str, list[Decision]]]:
    """One ServiceRequest per recipient: rules routing to the same recipient are merged."""
    order = {"stat": 0, "asap": 1, "urgent": 2, "routine": 3}
    merged: dict[str, tuple[Recipient, list[Decision]]] = {}
    for d in decisions:
        if d.sends:
            merged.setdefault(d.recipient.id, (d.recipient, []))[1].append(d)
    out = []
    for recipient, ds in merged.values():
        priority = min((d.priority or "routine" for d in ds), key=lambda p: order.get(p, 9))
        out.append((recipient, priority, ds))
    return out


# What a recipient gets to know of the patient (DOMAIN.md §3.1: identity and contact details, preferred language).
PATIENT_ELEMENTS = ("identifier", "name", "gender", "birthDate", "telecom", "address", "communication")


def contained_patient(qr: dict) -> dict | None:
    """The Patient the response's subject points at when it is contained (`"subject": {"reference": "#p"}`,
    https://hl7.org/fhir/R4/references.html#contained): how a form filler sends the patient's identity and
    contact details along, for recipients whose FHIR server does not know the practice's patients."""
    ref = (qr.get("subject") or {}).get("reference") if isinstance(qr.get("subject"), dict) else None
    if not (isinstance(ref, str) and ref.startswith("#")):
        return None
    return next((r for r in qr.get("contained") or () if isinstance(r, dict)
                 and r.get("resourceType") == "Patient" and r.get("id") == ref[1:]), None)


def _minimal_patient(patient: dict) -> dict:
    return {"resourceType": "Patient", **{k: patient[k] for k in PATIENT_ELEMENTS if k in patient}}


def contain_patient(qr: dict, patient: dict) -> dict:
    """The response with `patient` (only PATIENT_ELEMENTS of it) contained as its subject."""
    minimal = {"resourceType": "Patient", "id": "patient", **_minimal_patient(patient)}
    others = [r for r in qr.get("contained") or () if not (isinstance(r, dict) and r.get("id") == "patient")]
    return {**qr, "contained": [*others, minimal], "subject": {"reference": "#patient"}}


def _patient_entry(patient: dict, sub: str) -> dict:
    """The patient for the recipients: only PATIENT_ELEMENTS, created once per identifier (the BSN when there
    is one) and found again on later referrals."""
    out = _minimal_patient(patient)
    identifiers = [i for i in out.get("identifier") or () if isinstance(i, dict) and i.get("system") and i.get("value")]
    if not identifiers:  # nothing to find it by: one Patient per submission
        identifiers = out["identifier"] = [{"system": urls.ID_PATIENT, "value": _uuid(sub, "patient")}]
    key = next((i for i in identifiers if i["system"] == urls.BSN), identifiers[0])
    return _entry(f"urn:uuid:{_uuid(sub, 'patient')}", out, "POST", "Patient", _ident_query(key))


def _practice_ref(practice: Practice, identifier: str = "agb") -> dict:
    """The practice as a logical reference by its AGB-Z code (or URA), named: recipients know it by those."""
    system, value = (urls.AGB_Z, practice.agb) if identifier == "agb" else (urls.URA, practice.ura)
    return _ident_ref({"system": system, "value": value}, practice.name, "Organization")


def _requester_role(practice: Practice, author: dict | None) -> dict:
    """The requester as BSeR has it (a PractitionerRole: the clinician at the practice), contained in the
    ServiceRequest and the Task (https://hl7.org/fhir/R4/references.html#contained): the practice from the
    deployment's registry, the clinician's role in the EHR as the author named it."""
    role: dict = {"resourceType": "PractitionerRole", "id": "requester", "organization": _practice_ref(practice)}
    if author and isinstance(author.get("reference"), str) and author["reference"].startswith("Practitioner/"):
        role["practitioner"] = author
    return role


def build_referral_bundle(qr: dict, evaluation: Evaluation, qdef: QuestionnaireDef, context: ReferralContext,
                          practice: Practice | None = None) -> dict:
    """The transaction Bundle for one evaluated response: QR, Patient (when the response carries it),
    ServiceRequests, Tasks, one Consent, Provenance. `practice`: the registered practice the referral speaks
    for (service/registry.py), the requester of every ServiceRequest and Task; without one (an API caller
    with no practice registered) the response's author is the requester.

    Recipients are referenced by their organisation identifier (a logical reference); the demo data
    and each deployment's own FHIR server hold the Organization resources themselves. Entries: 4 + 2 per
    recipient at most, within Medplum's limit of 8 for transactions with conditional creates."""
    sub = submission_id(qr)
    authored = qr.get("authored")
    subject = qr.get("subject")
    author = qr.get("author")
    entries: list[dict] = []

    qr_out = dict(qr)
    qr_out["id"] = sub
    qr_out.pop("meta", None)
    if not (isinstance(qr.get("identifier"), dict) and qr["identifier"].get("value")):
        qr_out["identifier"] = {"system": urls.ID_SUBMISSION, "value": sub}
    qr_ref = f"QuestionnaireResponse/{sub}"
    patient = contained_patient(qr)
    patient_entry = _patient_entry(patient, sub) if patient else None
    if patient_entry:
        subject = {"reference": patient_entry["fullUrl"]}
        qr_out["subject"] = subject
        rest = [r for r in qr.get("contained") or () if r is not patient]
        if rest:
            qr_out["contained"] = rest
        else:
            qr_out.pop("contained", None)
    entries.append(_entry(f"urn:uuid:{_uuid(sub, 'qr')}", qr_out, "PUT", qr_ref))
    if patient_entry:
        entries.append(patient_entry)

    ticked = evaluation_signals(evaluation, qdef)
    provenance_targets = [{"reference": qr_ref}]
    if patient_entry:
        provenance_targets.append({"reference": patient_entry["fullUrl"]})
    referrals = _merge_by_recipient(evaluation.decisions)
    consent_url = f"urn:uuid:{_uuid(sub, 'consent')}"
    consent_actors: list[dict] = []

    for recipient, priority, decisions in referrals:
        key = f"{sub}:{recipient.id}"
        performer = None
        if recipient.organization:
            # A logical reference by identifier (URA/AGB), not a conditional create: HAPI's referential
            # integrity does not apply to it, and the Bundle stays within Medplum's limit of 8 entries for
            # transactions with conditional creates (2 + 3 per recipient here).
            org = recipient.organization
            org_ident = {"system": urls.OID_TO_URI.get(org["identifier"]["system"], org["identifier"]["system"]),
                         "value": org["identifier"]["value"]}
            performer = _ident_ref(org_ident, org["name"], "Organization")

        sr_ident = {"system": urls.ID_REFERRAL, "value": key}
        sr_url = f"urn:uuid:{_uuid(key, 'service-request')}"
        referral_display = recipient.name.nl
        sr = {
            "resourceType": "ServiceRequest",
            "identifier": [sr_ident],
            "status": "active",
            "intent": "order",
            "category": [{"coding": [{"system": urls.SNOMED, "code": urls.SCT_REFERRAL_CATEGORY, "display": "Patient referral"}]}],
            "priority": priority,
            "code": {"coding": [{"system": urls.CS_REFERRAL, "code": recipient.referral, "display": referral_display}]},
            "subject": subject,
            "reasonCode": [_level_concept(evaluation.level)] + [_signal_concept(qdef, lid) for lid in ticked],
            "supportingInfo": [{"reference": qr_ref}],
            "extension": [{"url": urls.EXT_DECISION_RULE, "valueString": f"{evaluation.ruleset.label}#{d.rule_id}"} for d in decisions],
        }
        if authored:
            sr["authoredOn"] = authored
        if practice:
            sr["contained"] = [_requester_role(practice, author)]
            sr["requester"] = {"reference": "#requester", "display": practice.name}
        elif author:
            sr["requester"] = author
        if performer:
            sr["performer"] = [performer]
        else:
            sr["performerType"] = {"coding": [{"system": urls.CS_REFERRAL, "code": recipient.referral, "display": referral_display}],
                                   "text": referral_display}
        notes = []
        if evaluation.note:
            notes.append({"text": evaluation.note})
        if not evaluation.consent_given:
            # DOMAIN.md A2.7: an internal referral may go without consent; the patient is told.
            notes.append({"text": "Interne verwijzing binnen de praktijk zonder expliciete toestemming; de patiënt is hierover geïnformeerd."})
        if notes:
            sr["note"] = notes
        if evaluation.consent_given:
            sr["supportingInfo"].append({"reference": consent_url})
        if not sr["subject"]:
            del sr["subject"]
        entries.append(_entry(sr_url, sr, "POST", "ServiceRequest", _ident_query(sr_ident)))

        task_ident = {"system": urls.ID_TASK, "value": key}
        task_url = f"urn:uuid:{_uuid(key, 'task')}"
        task = {
            "resourceType": "Task",
            "identifier": [task_ident],
            "basedOn": [{"reference": sr_url}],
            "status": "requested",
            "intent": "order",
            "priority": priority,
            "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]},
            "focus": {"reference": sr_url},
        }
        if subject:
            task["for"] = subject
        if authored:
            task["authoredOn"] = authored
        if practice:
            task["contained"] = [_requester_role(practice, author)]
            task["requester"] = {"reference": "#requester", "display": practice.name}
        elif author:
            task["requester"] = author
        if performer:
            task["owner"] = performer
        entries.append(_entry(task_url, task, "POST", "Task", _ident_query(task_ident)))
        provenance_targets += [{"reference": sr_url}, {"reference": task_url}]

        consent_actors.append({
            "role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]},
            "reference": performer or {"display": referral_display},
        })

    if evaluation.consent_given and referrals:
        # One Consent for the submission: the patient's permission to refer to and share with these recipients
        # (each an IRCP actor), as recorded in the form.
        consent_ident = {"system": urls.ID_CONSENT, "value": f"{sub}:consent"}
        consent = {
            "resourceType": "Consent",
            "identifier": [consent_ident],
            "status": "active",
            "scope": {"coding": [{"system": urls.CONSENT_SCOPE, "code": "patient-privacy"}]},
            "category": [{"coding": [{"system": urls.LOINC, "code": "59284-0", "display": "Patient Consent"}]}],
            "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
            "sourceReference": {"reference": qr_ref},
            "provision": {
                "type": "permit",
                "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}],
                "actor": consent_actors,
            },
            "extension": [{"url": f"{urls.BASE}/StructureDefinition/consent-method",
                           "valueCoding": {"system": urls.CS_CONSENT_METHOD, "code": evaluation.consent_method or "verbal"}}],
        }
        if subject:
            consent["patient"] = subject
        if authored:
            consent["dateTime"] = authored
        if author:
            consent["performer"] = [author]
        if practice:
            consent["organization"] = [_practice_ref(practice)]  # the custodian of the consent record
        entries.append(_entry(consent_url, consent, "POST", "Consent", _ident_query(consent_ident)))
        provenance_targets.append({"reference": consent_url})

    prov_id = _uuid(sub, "provenance")
    provenance = {
        "resourceType": "Provenance",
        "id": prov_id,
        "target": provenance_targets,
        "recorded": _instant(authored),
        "activity": {"coding": [{"system": urls.PROVENANCE_ACTIVITY, "code": "CREATE"}]},
        "agent": [
            {"type": {"coding": [{"system": urls.PROVENANCE_AGENT_TYPE, "code": "author"}]},
             "who": author or {"display": "onbekende auteur"},
             **({"onBehalfOf": _practice_ref(practice, "ura")} if practice else {})},
            {"type": {"coding": [{"system": urls.PROVENANCE_AGENT_TYPE, "code": "assembler"}]},
             "who": {"display": f"{SERVICE_NAME} {context.service_version}"}},
        ],
        "entity": [
            {"role": "source", "what": {"reference": qr_ref}},
            {"role": "derivation", "what": {"identifier": {"system": f"{urls.BASE}/NamingSystem/ruleset", "value": evaluation.ruleset.label},
                                            "display": evaluation.ruleset.title}},
        ],
        "reason": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}]}],
    }
    if evaluation.overridden:
        provenance["extension"] = [{
            "url": urls.EXT_LEVEL_OVERRIDE,
            "extension": [
                {"url": "computed", "valueCode": evaluation.computed_level},
                {"url": "final", "valueCode": evaluation.level},
                {"url": "reason", "valueString": evaluation.override_reason or ""},
            ],
        }]
    entries.append(_entry(f"urn:uuid:{prov_id}", provenance, "PUT", f"Provenance/{prov_id}"))

    return {
        "resourceType": "Bundle",
        "id": _uuid(sub, "bundle"),
        "identifier": {"system": urls.ID_SUBMISSION, "value": sub},
        "type": "transaction",
        "entry": entries,
    }


def evaluation_signals(evaluation: Evaluation, qdef: QuestionnaireDef) -> list[str]:
    """The ticked signals (boolean items under the signal groups) in questionnaire order."""
    out = []
    for group in ("urgent-signals", "other-signals"):
        if group in qdef.items:
            out += [lid for lid in qdef.items[group].children if lid in evaluation.ticked]
    return out


def _instant(authored: str | None) -> str:
    """Provenance.recorded is an instant: a full timestamp with zone."""
    if authored and "T" in authored:
        return authored
    if authored and len(authored) == 10:
        return f"{authored}T00:00:00+00:00"
    from datetime import datetime, timezone  # only for responses without `authored`

    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
