"""Build QuestionnaireResponses for the signalling Questionnaire the way a form renderer would."""

from __future__ import annotations

import hashlib

from service.demo import DEMO_PATIENTS
from service.fhir import urls

CANONICAL = f"{urls.QUESTIONNAIRE_SIGNALERING}|1.0.0"
URGENT = (
    "psych-problems-current-pregnancy",
    "domestic-violence",
    "veilig-thuis-involvement",
    "child-protection-board-history",
    "intellectual-disability",
    "substance-addiction",
    "homeless",
)
OTHER = (
    "other-psychosocial-history-mother",
    "partner-problems",
    "unhealthy-lifestyle-mother",
    "financial-problems",
    "language-barrier",
    "relationship-problems",
    "teenage-pregnancy",
    "single-mother",
    "unsafe-inadequate-housing",
    "unplanned-unwanted-pregnancy",
    "low-education",
    "suboptimal-care-use",
    "blended-family-problems",
    "low-literacy-health-literacy",
)
INTENTION = {"yes": "LA26438-4", "either": "LA26439-2", "no": "LA26440-0", "unsure": "LA14072-5"}


def _bool_item(link_id: str, value: bool) -> dict:
    return {"linkId": link_id, "answer": [{"valueBoolean": value}]}


def make_qr(
    *,
    phase: str | None = "pregnant",
    due_date: str | None = "2027-03-01",
    child_birth_date: str | None = None,
    intention: str | None = None,
    signals: tuple[str, ...] = (),
    all_signals: bool = True,
    children: int | None = None,
    override: str | None = None,
    override_reason: str | None = None,
    consent: bool | None = True,
    consent_method: str | None = "verbal",
    note: str | None = None,
    authored: str = "2026-11-20T10:30:00+01:00",
    identifier: str | None = "demo-0001",
    subject: str = "Patient/demo-pregnant",
    author: str = "PractitionerRole/demo-gp",
    status: str = "completed",
    contained: bool = True,
) -> dict:
    """A response; signals not listed are answered false when all_signals (as a form with tick boxes does).

    With `contained` (the default) the patient named by `subject` travels contained, as the form and $populate
    send it: a referral outside the practice needs the patient's identity (Engine.extract refuses a plain
    `Patient/<id>` for one). Its BSN is the demo patient's, else one invented from the id."""
    context = []
    if phase:
        context.append({"linkId": "phase", "answer": [{"valueCoding": {"system": urls.CS_PHASE, "code": phase}}]})
    if phase == "pregnant" and due_date:
        context.append({"linkId": "due-date", "answer": [{"valueDate": due_date}]})
    if phase == "postpartum" and child_birth_date:
        context.append({"linkId": "child-birth-date", "answer": [{"valueDate": child_birth_date}]})
    if phase == "preconception" and intention:
        context.append(
            {
                "linkId": "pregnancy-intention",
                "answer": [{"valueCoding": {"system": urls.LOINC, "code": INTENTION[intention]}}],
            }
        )
    items: list[dict] = [{"linkId": "context", "item": context}]
    for group, ids in (("urgent-signals", URGENT), ("other-signals", OTHER)):
        sub = [_bool_item(i, i in signals) for i in ids if all_signals or i in signals]
        items.append({"linkId": group, "item": sub})
    if children is not None:
        items.append(
            {"linkId": "safety", "item": [{"linkId": "children-in-household", "answer": [{"valueInteger": children}]}]}
        )
    if override:
        assessment = [
            {"linkId": "level-override", "answer": [{"valueCoding": {"system": urls.CS_LEVEL, "code": override}}]}
        ]
        if override_reason:
            assessment.append({"linkId": "override-reason", "answer": [{"valueString": override_reason}]})
        items.append({"linkId": "assessment", "item": assessment})
    consent_items = []
    if consent is not None:
        consent_items.append(_bool_item("consent-given", consent))
    if consent and consent_method:
        consent_items.append(
            {
                "linkId": "consent-method",
                "answer": [{"valueCoding": {"system": urls.CS_CONSENT_METHOD, "code": consent_method}}],
            }
        )
    items.append({"linkId": "consent", "item": consent_items})
    if note:
        items.append({"linkId": "note", "answer": [{"valueString": note}]})
    qr = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": CANONICAL,
        "status": status,
        "subject": {"reference": subject},
        "authored": authored,
        "author": {"reference": author},
        "item": items,
    }
    if identifier:
        qr["identifier"] = {"system": "https://his.example.invalid/kansrijke-start", "value": identifier}
    if contained and subject.startswith("Patient/"):
        patient_id = subject.removeprefix("Patient/")
        known = DEMO_PATIENTS.get(patient_id)
        return with_patient(qr, bsn=known[4] if known else invented_bsn(patient_id))
    return qr


def invented_bsn(seed: str) -> str:
    """A BSN from the range kept for testing (999xxxxxx) that passes the elfproef, the same for the same seed."""
    digest = int(hashlib.sha256(seed.encode()).hexdigest(), 16)
    for n in range(digest % 100_000, digest % 100_000 + 100_000):
        head = f"999{n % 100_000:05d}"
        check = sum(int(d) * w for d, w in zip(head, range(9, 1, -1), strict=True)) % 11
        if check < 10:  # the last digit d satisfies sum - d ≡ 0 (mod 11)
            return head + str(check)
    raise AssertionError("unreachable: one in eleven heads has a check digit")


def with_patient(qr: dict, bsn: str | None = "999990020", **extra) -> dict:
    """The response with its patient contained (subject "#patient"), as a form filler sends identity and contact
    details for a recipient whose server does not know the practice's patients. Invented data."""
    patient = {
        "resourceType": "Patient",
        "id": "patient",
        "name": [{"family": "de Boer", "given": ["Lisa"]}],
        "gender": "female",
        "birthDate": "2008-02-20",
        "telecom": [{"system": "phone", "value": "+31 6 0000 0001", "use": "mobile"}],
        "address": [{"line": ["Voorbeeldstraat 1"], "postalCode": "6211 AA", "city": "Maastricht"}],
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "nl"}]}, "preferred": True}],
        **extra,
    }
    if bsn:
        patient["identifier"] = [{"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": bsn}]
    return {**qr, "contained": [patient], "subject": {"reference": "#patient"}}


def answers_by_link_id(qr: dict) -> dict[str, list[dict]]:
    """The answers of a QuestionnaireResponse by linkId, as they are, wherever they are nested."""
    found: dict[str, list[dict]] = {}

    def walk(items):
        for item in items or ():
            if item.get("answer"):
                found[item["linkId"]] = item["answer"]
            walk(item.get("item"))

    walk(qr.get("item"))
    return found


def patient_ref(client, bsn: str = DEMO_PATIENTS["demo-pregnant"][4]) -> str:
    """`Patient/<id>` of the patient a referral Bundle created (or found) on `client`'s server by its BSN; one that
    matches nothing there when the server holds no such patient, so searches by it find nothing."""
    found = client.search("Patient", {"identifier": f"{urls.BSN}|{bsn}"}).get("entry") or ()
    ids = [e["resource"]["id"] for e in found]
    assert len(ids) <= 1, f"{len(ids)} patients with one BSN: the conditional create on the BSN failed"
    return f"Patient/{ids[0]}" if ids else "Patient/not-on-this-server"
