"""Pure: the referral's Bundles (DESIGN.md "The referral Bundle") from an Evaluation.

One evaluated response gives:
- **the practice's record** (`record`): a transaction for the practice itself, the complete
  QuestionnaireResponse, a ServiceRequest per referral (an internal one with its Task, for the practice's
  own worklist), the Consents as recorded and the full Provenance. The web form writes it to the EHR; an
  API caller gets it back to store. It never goes to an external destination.
- **one transaction per external destination** (`deliveries`), holding only that destination's
  recipients, each with only what it may receive (`Recipient.shares`, DOMAIN.md §3.1): its ServiceRequest
  (marked REDACTED) carrying a contained QuestionnaireResponse reduced to the shared items, its Task, one
  Consent naming that recipient alone, the minimal Patient, and a Provenance without the GP's free text.
  A recipient without recorded consent is not in any of them; nothing to refer gives no delivery at all.

The same response always gives the same Bundles: every id, identifier and fullUrl is derived from the
submission id (the response's business identifier, or a hash of its content), so a retry or a double
submit can never create a second referral:
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
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from service.fhir import urls
from service.questionnaires.catalog import QuestionnaireDef
from service.questionnaires.linkids import CONSENT, CONTEXT, NOTE, SIGNAL_GROUPS
from service.registry import Practice
from service.rules.evaluate import Decision, Evaluation
from service.rules.loader import SHARES, Recipient
from service.texts import text

NAMESPACE = uuid.UUID("5b1f0a52-7c53-4c7e-9d36-2f7a3c0e6a11")  # fixed: changing it changes every derived id
SERVICE_NAME = "Kansrijke Start FHIR service"
RECORD = "internal"  # the practice's own record, as a destination name

# Which items of the Questionnaire each share category carries (the groups are product-wide linkIds, DOMAIN.md A1).
SHARED_GROUPS = {"phase": (CONTEXT,), "signals": SIGNAL_GROUPS, "consent": (CONSENT,)}
SHARED_ITEMS = {"help-question": (NOTE,)}
# What a recipient gets to know of the patient (DOMAIN.md §3.1: identity and contact details, preferred language).
IDENTITY_ELEMENTS = ("identifier", "name", "gender", "birthDate", "telecom", "address")
PATIENT_ELEMENTS = (*IDENTITY_ELEMENTS, "communication")
# https://terminology.hl7.org/CodeSystem-v3-ObservationValue.html#v3-ObservationValue-REDACTED
REDACTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "REDACTED",
    "display": "redacted",
}


def submission_id(qr: dict[str, Any], owner: str = "") -> str:
    """A stable id for one submission: from the response's identifier, else from its content; within its
    `owner`'s (an authenticated API client: service/api/auth.py caller), so the same identifier from another
    client is another submission, never a resubmission of one it did not make (nor a way to learn its ids)."""
    ident = qr.get("identifier")
    if isinstance(ident, dict) and ident.get("value"):
        key = f"identifier:{ident.get('system', '')}|{ident['value']}"
    else:
        body = {k: v for k, v in qr.items() if k not in ("id", "meta", "text")}
        key = "sha256:" + hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return _uuid5(f"{owner}|{key}" if owner else key)


_NAMESPACE_BYTES = NAMESPACE.bytes


# The first hex digit of the clock_seq field with the RFC 4122 variant bits set (10xx).
_VARIANT = {f"{i:x}": f"{(i & 0x3) | 0x8:x}" for i in range(16)}


def _uuid5(name: str) -> str:
    """str(uuid.uuid5(NAMESPACE, name)), without the UUID object (the Bundles take eight or more per response):
    the SHA-1 of namespace and name, its version digit 5 and its variant bits set."""
    # "surrogatepass": a lone surrogate (JSON's "\ud800") still names one submission, where uuid.uuid5 raised.
    x = hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{_VARIANT[x[16]]}{x[17:20]}-{x[20:32]}"


@lru_cache(maxsize=512)
def _uuid(*parts: str) -> str:
    """The id derived from `parts` (cached: the record and a destination's Bundle name the same resources)."""
    return _uuid5("/".join(parts))


@dataclass(frozen=True, kw_only=True)
class ReferralContext:
    """What the Bundles need besides the response: the service's version for Provenance."""

    service_version: str


@dataclass(frozen=True, kw_only=True)
class DestinationBundle:
    """The transaction for one external destination and the recipients in it."""

    destination: str
    recipients: tuple[str, ...]
    bundle: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class ReferralBundles:
    submission: str
    record: dict[str, Any]  # the practice's own record (transaction)
    deliveries: tuple[DestinationBundle, ...]  # one per external destination, in the order of the referrals

    def as_collection(self) -> dict[str, Any]:
        """Everything at once, for SDC $extract (https://hl7.org/fhir/uv/sdc/OperationDefinition-QuestionnaireResponse-extract.html
        returns one Bundle): a collection whose first entry is the practice's record and each further one the
        transaction for a destination, tagged with its name."""
        entries = [{"fullUrl": f"urn:uuid:{self.record['id']}", "resource": self.record}]
        entries += [{"fullUrl": f"urn:uuid:{d.bundle['id']}", "resource": d.bundle} for d in self.deliveries]
        return {
            "resourceType": "Bundle",
            "id": _uuid(self.submission, "extraction"),
            "type": "collection",
            "entry": entries,
        }


def _ident_ref(identifier: dict[str, Any], display: str | None, rtype: str) -> dict[str, Any]:
    ref = {"type": rtype, "identifier": {"system": identifier["system"], "value": identifier["value"]}}
    if display:
        ref["display"] = display
    return ref


_SIGNAL_CODINGS: dict[tuple[int, str], tuple[QuestionnaireDef, tuple[tuple[tuple[str, Any], ...], ...]]] = {}


def _signal_concept(qdef: QuestionnaireDef, link_id: str) -> dict[str, Any]:
    """The signal as a CodeableConcept: its codes (worked out once per item; the entry keeps `qdef` alive, so its
    id stays its own), each time in new dicts."""
    key = (id(qdef), link_id)
    entry = _SIGNAL_CODINGS.get(key)
    if entry is None or entry[0] is not qdef:
        if len(_SIGNAL_CODINGS) >= 1024:
            _SIGNAL_CODINGS.clear()
        codings = tuple(
            tuple((k, c[k]) for k in ("system", "code", "display") if k in c) for c in qdef.items[link_id].codes
        )
        entry = _SIGNAL_CODINGS[key] = (qdef, codings or ((("system", urls.CS_SIGNAL), ("code", link_id)),))
    return {"coding": [dict(c) for c in entry[1]], "text": qdef.items[link_id].text}


def _level_concept(level: str) -> dict[str, Any]:
    return {"coding": [{"system": urls.CS_LEVEL, "code": level}]}


def _entry(
    full_url: str, resource: dict[str, Any], method: str, url: str, if_none_exist: str | None = None
) -> dict[str, Any]:
    request = {"method": method, "url": url}
    if if_none_exist:
        request["ifNoneExist"] = if_none_exist
    return {"fullUrl": full_url, "resource": resource, "request": request}


def _ident_query(identifier: dict[str, Any]) -> str:
    # The | inside a token search is a separator, not to be escaped (https://hl7.org/fhir/R4/search.html#token).
    return f"identifier={identifier['system']}|{identifier['value']}"


def _merge_by_recipient(decisions: tuple[Decision, ...]) -> list[tuple[Recipient, str, list[Decision]]]:
    """One ServiceRequest per recipient: rules routing to the same recipient are merged."""
    order = {"stat": 0, "asap": 1, "urgent": 2, "routine": 3}
    merged: dict[str, tuple[Recipient, list[Decision]]] = {}
    for d in decisions:
        if d.sends and d.recipient is not None:
            merged.setdefault(d.recipient.id, (d.recipient, []))[1].append(d)
    out = []
    for recipient, ds in merged.values():
        priority = min((d.priority or "routine" for d in ds), key=lambda p: order.get(p, 9))
        out.append((recipient, priority, ds))
    return out


def contained_patient(qr: dict[str, Any]) -> dict[str, Any] | None:
    """The Patient the response's subject points at when it is contained (`"subject": {"reference": "#p"}`,
    https://hl7.org/fhir/R4/references.html#contained): how a form filler sends the patient's identity and
    contact details along, for recipients whose FHIR server does not know the practice's patients."""
    ref = (qr.get("subject") or {}).get("reference") if isinstance(qr.get("subject"), dict) else None
    contained = qr.get("contained")
    if not (isinstance(ref, str) and ref.startswith("#") and isinstance(contained, list)):
        return None
    return next(
        (r for r in contained if isinstance(r, dict) and r.get("resourceType") == "Patient" and r.get("id") == ref[1:]),
        None,
    )


def logical_subject(qr: dict[str, Any]) -> dict[str, Any] | None:
    """The response's subject as a logical reference by its identifier (the BSN: `"subject": {"identifier": …}`,
    https://hl7.org/fhir/R4/references.html#logical), any literal part left out: a destination does not hold the
    practice's `Patient/<id>`, and HAPI refuses a reference it cannot resolve. None without an identifier."""
    subject = qr.get("subject")
    ident = subject.get("identifier") if isinstance(subject, dict) else None
    if not (isinstance(ident, dict) and isinstance(ident.get("system"), str) and isinstance(ident.get("value"), str)):
        return None
    return {"type": "Patient", "identifier": {"system": ident["system"], "value": ident["value"]}}


def _minimal_patient(patient: dict[str, Any], elements: tuple[str, ...] = PATIENT_ELEMENTS) -> dict[str, Any]:
    return {"resourceType": "Patient", **{k: patient[k] for k in elements if k in patient}}


def contain_patient(qr: dict[str, Any], patient: dict[str, Any]) -> dict[str, Any]:
    """The response with `patient` (only PATIENT_ELEMENTS of it) contained as its subject."""
    minimal = {"resourceType": "Patient", "id": "patient", **_minimal_patient(patient)}
    others = [r for r in qr.get("contained") or () if not (isinstance(r, dict) and r.get("id") == "patient")]
    return {**qr, "contained": [*others, minimal], "subject": {"reference": "#patient"}}


def _patient_key(patient: dict[str, Any], sub: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The patient's identifiers (one derived per submission when it has none) and the one to find it by
    (the BSN when there is one)."""
    identifiers = [
        i for i in patient.get("identifier") or () if isinstance(i, dict) and i.get("system") and i.get("value")
    ]
    if not identifiers:  # nothing to find it by: one Patient per submission
        identifiers = [{"system": urls.ID_PATIENT, "value": _uuid(sub, "patient")}]
    return identifiers, next((i for i in identifiers if i["system"] == urls.BSN), identifiers[0])


def _patient_entry(patient: dict[str, Any], sub: str, destination: str, elements: tuple[str, ...]) -> dict[str, Any]:
    """The patient for one destination: only `elements`, created once per identifier and found again later."""
    out = _minimal_patient(patient, elements)
    out["identifier"], key = _patient_key(patient, sub)
    return _entry(f"urn:uuid:{_uuid(sub, destination, 'patient')}", out, "POST", "Patient", _ident_query(key))


_RECIPIENT_REFS: dict[int, tuple[Recipient, str, str, str | None]] = {}


def _recipient_ref(recipient: Recipient) -> dict[str, Any]:
    """The receiving organisation as a logical reference by its identifier (URA/AGB), named: HAPI's referential
    integrity does not apply to it, and the recipients' own server holds the Organization. Its parts are worked
    out once per recipient (the entry keeps it alive, so its id stays its own), the dicts made each time."""
    entry = _RECIPIENT_REFS.get(id(recipient))
    if entry is None or entry[0] is not recipient:
        if len(_RECIPIENT_REFS) >= 1024:
            _RECIPIENT_REFS.clear()
        identifier = recipient.organization_identifier
        assert identifier is not None and recipient.organization is not None  # only recipients with an organisation
        name = recipient.organization["name"]
        entry = _RECIPIENT_REFS[id(recipient)] = (recipient, identifier["system"], identifier["value"], name)
    ref: dict[str, Any] = {"type": "Organization", "identifier": {"system": entry[1], "value": entry[2]}}
    if entry[3]:
        ref["display"] = entry[3]
    return ref


def _practice_ref(practice: Practice, identifier: str = "agb") -> dict[str, Any]:
    """The practice as a logical reference by its AGB-Z code (or URA), named: recipients know it by those."""
    system, value = (urls.AGB_Z, practice.agb) if identifier == "agb" else (urls.URA, practice.ura)
    return _ident_ref({"system": system, "value": value}, practice.name, "Organization")


def _requester_role(practice: Practice, author: dict[str, Any] | None) -> dict[str, Any]:
    """The requester as BSeR has it (a PractitionerRole: the clinician at the practice), contained in the
    ServiceRequest and the Task (https://hl7.org/fhir/R4/references.html#contained): the practice from the
    deployment's registry, the clinician as the author named them: a Practitioner reference as it is; for any
    other author (a PractitionerRole in the EHR) only its display, the person's name, since an EHR-local
    reference means nothing at the recipient (a Reference with display alone: references.html#Reference)."""
    role: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": "requester",
        "organization": _practice_ref(practice),
    }
    if author and isinstance(author.get("reference"), str) and author["reference"].startswith("Practitioner/"):
        role["practitioner"] = author
    elif author and isinstance(author.get("display"), str) and author["display"].strip():
        role["practitioner"] = {"display": author["display"]}
    return role


def _requester(
    resource: dict[str, Any], practice: Practice | None, author: dict[str, Any] | None, *, external: bool
) -> None:
    """Set `requester`: the registered practice (contained PractitionerRole); else, in the practice's own
    record, the response's author; an external copy without a practice names no EHR-local reference."""
    if practice:
        resource.setdefault("contained", []).append(_requester_role(practice, author))
        resource["requester"] = {"reference": "#requester", "display": practice.name}
    elif author and not (external and "reference" in author):
        resource["requester"] = author
    elif author and author.get("display"):
        resource["requester"] = {"display": author["display"]}


_QUESTIONNAIRE_PARTS: dict[tuple[int, frozenset[str]], tuple[QuestionnaireDef, frozenset[str], frozenset[str]]] = {}


def _sharing(qdef: QuestionnaireDef, shares: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    """The linkIds a recipient with `shares` receives and the signal linkIds, worked out once per pair (the entry
    keeps `qdef` alive, so its id stays its own)."""
    key = (id(qdef), shares)
    entry = _QUESTIONNAIRE_PARTS.get(key)
    if entry is None or entry[0] is not qdef:
        if len(_QUESTIONNAIRE_PARTS) >= 256:
            _QUESTIONNAIRE_PARTS.clear()
        signal_ids = frozenset(lid for g in SIGNAL_GROUPS if g in qdef.items for lid in qdef.items[g].children)
        entry = _QUESTIONNAIRE_PARTS[key] = (qdef, frozenset(_shared_link_ids(qdef, shares)), signal_ids)
    return entry[1], entry[2]


def _shared_link_ids(qdef: QuestionnaireDef, shares: frozenset[str]) -> set[str]:
    out: set[str] = set()
    for category, groups in SHARED_GROUPS.items():
        if category in shares:
            for group in groups:
                out.add(group)
                out |= set(qdef.items[group].children) if group in qdef.items else set()
    for category, items in SHARED_ITEMS.items():
        if category in shares:
            out |= set(items)
    return out


def _reduced_items(items: list[Any], keep: frozenset[str], signal_ids: frozenset[str]) -> list[dict[str, Any]]:
    """The item tree with only the kept linkIds; a signal only when it is ticked; empty groups dropped."""
    out = []
    for item in items or ():
        if not isinstance(item, dict):
            continue
        link_id = item.get("linkId")
        if link_id not in keep:
            continue
        if link_id in signal_ids:
            for answer in item.get("answer") or ():
                if answer.get("valueBoolean") is True:
                    break
            else:
                continue  # a signal not ticked
        item = dict(item)
        if "item" in item:
            item["item"] = _reduced_items(item["item"], keep, signal_ids)
            if not item["item"]:
                del item["item"]
        if "item" in item or "answer" in item:
            out.append(item)
    return out


def shared_response(qr: dict[str, Any], qdef: QuestionnaireDef, recipient: Recipient) -> dict[str, Any]:
    """The response reduced to what `recipient` shares, contained in its ServiceRequest: no subject, no author,
    no other answers. The REDACTED label goes on that ServiceRequest: a contained resource SHALL NOT have a
    security label of its own, the container's apply to it (R4 DomainResource invariant dom-5)."""
    keep, signal_ids = _sharing(qdef, recipient.shares)
    reduced: dict[str, Any] = {"resourceType": "QuestionnaireResponse", "id": "answers"}
    for key in ("questionnaire", "status", "authored"):
        if key in qr:
            reduced[key] = qr[key]
    items = _reduced_items(qr.get("item") or [], keep, signal_ids)
    if items:
        reduced["item"] = items
    return reduced


def _record_ref(sub: str) -> dict[str, Any]:
    """The practice's own response, by its submission identifier: a logical reference, for copies that travel
    without it (https://hl7.org/fhir/R4/references.html#logical)."""
    return {"type": "QuestionnaireResponse", "identifier": {"system": urls.ID_SUBMISSION, "value": sub}}


@dataclass(frozen=True, kw_only=True)
class _Referral:
    recipient: Recipient
    priority: str
    decisions: list[Decision]
    key: str  # <submission>:<recipient>


class _Builder:
    """Builds the record and the destination Bundles of one evaluated response (one per call)."""

    def __init__(
        self,
        qr: dict[str, Any],
        evaluation: Evaluation,
        qdef: QuestionnaireDef,
        context: ReferralContext,
        practice: Practice | None,
        owner: str = "",
    ):
        self.qr, self.evaluation, self.qdef, self.context, self.practice = qr, evaluation, qdef, context, practice
        self.sub = submission_id(qr, owner)
        self.authored, self.author = qr.get("authored"), qr.get("author")
        self.patient = contained_patient(qr)
        self.referrals = [
            _Referral(recipient=r, priority=p, decisions=ds, key=f"{self.sub}:{r.id}")
            for r, p, ds in _merge_by_recipient(evaluation.decisions)
        ]
        self.signals = evaluation_signals(evaluation, qdef)

    # ------------------------------------------------------------------------------ the parts

    def _service_request(
        self, ref: _Referral, full_url: str, subject: dict[str, Any] | None, shares: frozenset[str], *, external: bool
    ) -> dict[str, Any]:
        recipient = ref.recipient
        display = recipient.name.nl
        code = {"coding": [{"system": urls.CS_REFERRAL, "code": recipient.referral, "display": display}]}
        sr = {
            "resourceType": "ServiceRequest",
            "identifier": [{"system": urls.ID_REFERRAL, "value": ref.key}],
            "status": "active",
            "intent": "order",
            "category": [
                {"coding": [{"system": urls.SNOMED, "code": urls.SCT_REFERRAL_CATEGORY, "display": "Patient referral"}]}
            ],
            "priority": ref.priority,
            "code": code,
        }
        if subject:
            sr["subject"] = subject
        if self.authored:
            sr["authoredOn"] = self.authored
        _requester(sr, self.practice, self.author, external=external)
        if recipient.organization:
            sr["performer"] = [_recipient_ref(recipient)]
        else:
            sr["performerType"] = {"coding": code["coding"], "text": display}
        reasons = [_level_concept(self.evaluation.level)] if "level" in shares else []
        reasons += [_signal_concept(self.qdef, lid) for lid in self.signals] if "signals" in shares else []
        if reasons:
            sr["reasonCode"] = reasons
        notes = [{"text": self.evaluation.note}] if self.evaluation.note and "help-question" in shares else []
        if not self.evaluation.consent_given and not external:
            # DOMAIN.md A2.7: an internal referral may go without consent; the patient is told. The form does not ask
            # whether she was, so the note says it is to be done, never that it was.
            notes.append(
                {
                    "text": text("bundle.internal_without_consent"),
                }
            )
        if notes:
            sr["note"] = notes
        sr["extension"] = [
            {"url": urls.EXT_DECISION_RULE, "valueString": f"{self.evaluation.ruleset.label}#{d.rule_id}"}
            for d in ref.decisions
        ]
        return sr

    def _task(self, ref: _Referral, sr_url: str, subject: dict[str, Any] | None, *, external: bool) -> dict[str, Any]:
        task = {
            "resourceType": "Task",
            "identifier": [{"system": urls.ID_TASK, "value": ref.key}],
            "basedOn": [{"reference": sr_url}],
            "status": "requested",
            "intent": "order",
            "priority": ref.priority,
            "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]},
            "focus": {"reference": sr_url},
        }
        if subject:
            task["for"] = subject
        if self.authored:
            task["authoredOn"] = self.authored
        _requester(task, self.practice, self.author, external=external)
        recipient = ref.recipient
        if recipient.organization:
            task["owner"] = _recipient_ref(recipient)
        else:  # internal: the role in the practice that works it (POH Jeugd, the GP's own consultation)
            task["owner"] = {"display": recipient.name.nl}
        return task

    def _consent(
        self, ref: _Referral, subject: dict[str, Any] | None, source: dict[str, Any], *, external: bool
    ) -> dict[str, Any]:
        """The patient's permission to refer to and share with this one recipient, as recorded (DOMAIN.md §4.3)."""
        recipient = ref.recipient
        actor_ref = _recipient_ref(recipient) if recipient.organization else {"display": recipient.name.nl}
        consent = {
            "resourceType": "Consent",
            "identifier": [{"system": urls.ID_CONSENT, "value": f"{ref.key}:consent"}],
            "status": "active",
            "scope": {"coding": [{"system": urls.CONSENT_SCOPE, "code": "patient-privacy"}]},
            "category": [{"coding": [{"system": urls.LOINC, "code": "59284-0", "display": "Patient Consent"}]}],
            "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
            "sourceReference": source,
            "provision": {
                "type": "permit",
                "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}],
                "actor": [
                    {
                        "role": {
                            "coding": [
                                {"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}
                            ]
                        },
                        "reference": actor_ref,
                    }
                ],
            },
            "extension": [
                {
                    "url": f"{urls.BASE}/StructureDefinition/consent-method",
                    "valueCoding": {
                        "system": urls.CS_CONSENT_METHOD,
                        "code": self.evaluation.consent_method or "verbal",
                    },
                }
            ],
        }
        if subject:
            consent["patient"] = subject
        if self.authored:
            consent["dateTime"] = self.authored
        if self.author and not (external and "reference" in self.author):
            consent["performer"] = [self.author]
        if self.practice:
            consent["organization"] = [_practice_ref(self.practice)]  # the custodian of the consent record
        return consent

    def _provenance(
        self, destination: str, targets: list[dict[str, Any]], source: dict[str, Any], *, external: bool
    ) -> dict[str, Any]:
        prov_id = _uuid(self.sub, "provenance") if not external else _uuid(self.sub, destination, "provenance")
        author = self.author if self.author and not (external and "reference" in self.author) else None
        agent = {
            "type": {"coding": [{"system": urls.PROVENANCE_AGENT_TYPE, "code": "author"}]},
            "who": author
            or ({"display": self.practice.name} if self.practice else {"display": text("bundle.unknown_author")}),
        }
        if self.practice:
            agent["onBehalfOf"] = _practice_ref(self.practice, "ura")
        provenance = {
            "resourceType": "Provenance",
            "id": prov_id,
            "target": targets,
            "recorded": _instant(self.authored),
            "activity": {"coding": [{"system": urls.PROVENANCE_ACTIVITY, "code": "CREATE"}]},
            "agent": [
                agent,
                {
                    "type": {"coding": [{"system": urls.PROVENANCE_AGENT_TYPE, "code": "assembler"}]},
                    "who": {"display": f"{SERVICE_NAME} {self.context.service_version}"},
                },
            ],
            "entity": [
                {"role": "source", "what": source},
                {
                    "role": "derivation",
                    "what": {
                        "identifier": {
                            "system": f"{urls.BASE}/NamingSystem/ruleset",
                            "value": self.evaluation.ruleset.label,
                        },
                        "display": self.evaluation.ruleset.title,
                    },
                },
            ],
            "reason": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}]}],
        }
        if self.evaluation.overridden and not external:  # the override and its reason stay in the practice
            provenance["extension"] = [
                {
                    "url": urls.EXT_LEVEL_OVERRIDE,
                    "extension": [
                        {"url": "computed", "valueCode": self.evaluation.computed_level},
                        {"url": "final", "valueCode": self.evaluation.level},
                        {"url": "reason", "valueString": self.evaluation.override_reason or ""},
                    ],
                }
            ]
        return _entry(f"urn:uuid:{prov_id}", provenance, "PUT", f"Provenance/{prov_id}")

    # ------------------------------------------------------------------------------ the Bundles

    def record(self) -> dict[str, Any]:
        """The practice's own transaction: the complete response, every referral, internal Tasks, Consents."""
        sub = self.sub
        qr_out = {k: v for k, v in self.qr.items() if k != "meta"}
        qr_out["id"] = sub
        if not (isinstance(self.qr.get("identifier"), dict) and self.qr["identifier"].get("value")):
            qr_out["identifier"] = {"system": urls.ID_SUBMISSION, "value": sub}
        qr_url = f"urn:uuid:{_uuid(sub, 'qr')}"
        entries = [_entry(qr_url, qr_out, "PUT", f"QuestionnaireResponse/{sub}")]
        subject = self.qr.get("subject")
        if self.patient is not None:  # the record names the patient by identifier (the EHR re-points it to its own)
            subject = {"type": "Patient", "identifier": dict(_patient_key(self.patient, sub)[1])}
        targets = [{"reference": qr_url}]
        for ref in self.referrals:
            sr_url = f"urn:uuid:{_uuid(ref.key, 'service-request')}"
            sr = self._service_request(ref, sr_url, subject, SHARES, external=False)  # the practice's own: all of it
            sr["supportingInfo"] = [{"reference": qr_url}]
            entries.append(_entry(sr_url, sr, "POST", "ServiceRequest", _ident_query(sr["identifier"][0])))
            targets.append({"reference": sr_url})
            if ref.recipient.internal:
                task_url = f"urn:uuid:{_uuid(ref.key, 'task')}"
                task = self._task(ref, sr_url, subject, external=False)
                entries.append(_entry(task_url, task, "POST", "Task", _ident_query(task["identifier"][0])))
                targets.append({"reference": task_url})
            elif self.evaluation.consent_given:
                consent_url = f"urn:uuid:{_uuid(ref.key, 'consent')}"
                consent = self._consent(ref, subject, {"reference": qr_url}, external=False)
                entries.append(_entry(consent_url, consent, "POST", "Consent", _ident_query(consent["identifier"][0])))
                sr["supportingInfo"].append({"reference": consent_url})
                targets.append({"reference": consent_url})
        entries.append(self._provenance(RECORD, targets, {"reference": qr_url}, external=False))
        return {
            "resourceType": "Bundle",
            "id": _uuid(sub, "bundle"),
            "identifier": {"system": urls.ID_SUBMISSION, "value": sub},
            "type": "transaction",
            "entry": entries,
        }

    def deliveries(self) -> tuple[DestinationBundle, ...]:
        """One transaction per external destination, in the order its first referral appears."""
        by_destination: dict[str, list[_Referral]] = {}
        # Only recipients with recorded consent are referrals at all: the engine blocks every recipient that needs
        # consent when there is none (rules/evaluate.py), the web form those whose box was not ticked (web/consent.py).
        for ref in self.referrals:
            if not ref.recipient.internal and self.evaluation.consent_given:
                by_destination.setdefault(ref.recipient.destination, []).append(ref)
        return tuple(self._delivery(dest, refs) for dest, refs in by_destination.items())

    def _delivery(self, destination: str, refs: list[_Referral]) -> DestinationBundle:
        sub, source = self.sub, _record_ref(self.sub)
        entries: list[dict[str, Any]] = []
        subject = logical_subject(self.qr) if self.patient is None else None
        targets: list[dict[str, Any]] = []
        if self.patient is not None:
            elements = IDENTITY_ELEMENTS + (
                ("communication",) if any("language" in r.recipient.shares for r in refs) else ()
            )
            patient_entry = _patient_entry(self.patient, sub, destination, elements)
            entries.append(patient_entry)
            subject = {"reference": patient_entry["fullUrl"]}
            targets.append({"reference": patient_entry["fullUrl"]})
        for ref in refs:
            sr_url = f"urn:uuid:{_uuid(ref.key, 'service-request')}"
            sr = self._service_request(ref, sr_url, subject, ref.recipient.shares, external=True)
            sr.setdefault("contained", []).append(shared_response(self.qr, self.qdef, ref.recipient))
            # https://hl7.org/fhir/R4/security-labels.html: the referral, its contained answers included, is a
            # reduced copy of the record
            sr["meta"] = {"security": [dict(REDACTED)]}
            sr["supportingInfo"] = [{"reference": "#answers"}]
            entries.append(_entry(sr_url, sr, "POST", "ServiceRequest", _ident_query(sr["identifier"][0])))
            task_url = f"urn:uuid:{_uuid(ref.key, 'task')}"
            task = self._task(ref, sr_url, subject, external=True)
            entries.append(_entry(task_url, task, "POST", "Task", _ident_query(task["identifier"][0])))
            targets += [{"reference": sr_url}, {"reference": task_url}]
            if "consent" in ref.recipient.shares:
                consent_url = f"urn:uuid:{_uuid(ref.key, 'consent')}"
                consent = self._consent(ref, subject, source, external=True)
                entries.append(_entry(consent_url, consent, "POST", "Consent", _ident_query(consent["identifier"][0])))
                sr["supportingInfo"].append({"reference": consent_url})
                targets.append({"reference": consent_url})
        entries.append(self._provenance(destination, targets, source, external=True))
        bundle = {
            "resourceType": "Bundle",
            "id": _uuid(sub, destination, "bundle"),
            "identifier": {"system": urls.ID_DELIVERY, "value": f"{sub}:{destination}"},
            "meta": {"tag": [{"system": urls.NS_DESTINATION, "code": destination}]},
            "type": "transaction",
            "entry": entries,
        }
        return DestinationBundle(destination=destination, recipients=tuple(r.recipient.id for r in refs), bundle=bundle)


def build_referral_bundles(
    qr: dict[str, Any],
    evaluation: Evaluation,
    qdef: QuestionnaireDef,
    context: ReferralContext,
    practice: Practice | None = None,
    owner: str = "",
) -> ReferralBundles:
    """The practice's record and one Bundle per external destination for one evaluated response.
    `practice`: the registered practice the referral speaks for (service/registry.py), the requester of every
    ServiceRequest and Task; without one (an API caller with no practice registered) the response's author is
    the requester in the practice's record, and the copies that travel carry no EHR-local reference. `owner`:
    whose submission it is (submission_id)."""
    builder = _Builder(qr, evaluation, qdef, context, practice, owner)
    return ReferralBundles(submission=builder.sub, record=builder.record(), deliveries=builder.deliveries())


def evaluation_signals(evaluation: Evaluation, qdef: QuestionnaireDef) -> list[str]:
    """The ticked signals (boolean items under the signal groups) in questionnaire order."""
    out = []
    for group in SIGNAL_GROUPS:
        if group in qdef.items:
            out += [lid for lid in qdef.items[group].children if lid in evaluation.ticked]
    return out


def _instant(authored: str | None) -> str:
    """Provenance.recorded is an instant: a full timestamp with zone."""
    if authored and "T" in authored:
        return authored
    if authored and len(authored) == 10:
        return f"{authored}T00:00:00+00:00"
    return datetime.now(UTC).replace(microsecond=0).isoformat()  # only for responses without `authored`


def recipient_of(service_request: dict[str, Any]) -> str | None:
    """The recipient id in a ServiceRequest's identifier `<submission>:<recipient>`."""
    for ident in service_request.get("identifier") or ():
        value = ident.get("value") if isinstance(ident, dict) else None
        if isinstance(value, str) and ":" in value:
            return value.rsplit(":", 1)[1]
    return None


def referrals_in_record(evaluation: Evaluation, record: dict[str, Any]) -> list[tuple[Recipient, dict[str, Any]]]:
    """Each referral the practice's record Bundle holds, in Bundle order, once per recipient: its recipient and
    its ServiceRequest (a recipient blocked for want of consent has none)."""
    by_id = {d.recipient.id: d.recipient for d in evaluation.decisions if d.recipient}
    out: list[tuple[Recipient, dict[str, Any]]] = []
    for entry in record.get("entry", []):
        resource = entry["resource"]
        rec = by_id.get(recipient_of(resource) or "") if resource["resourceType"] == "ServiceRequest" else None
        if rec is not None and all(r.id != rec.id for r, _ in out):
            out.append((rec, resource))
    return out
