"""Pure: SDC $populate for the signalling Questionnaire — phase and dates from the record, suggestions apart.

https://hl7.org/fhir/uv/sdc/OperationDefinition/Questionnaire-populate: the result is an in-progress
QuestionnaireResponse a clinician reviews; nothing here is ever final. What the record says:

- an active pregnancy (Condition SNOMED 77386006 "Pregnancy" or ICPC W78 "Zwangerschap bevestigd"), or an
  estimated delivery date (Observation LOINC 11778-8) in the future → phase `pregnant`, `due-date`;
- a patient younger than CHILD_MAX_AGE → the record is the child's: phase `postpartum`,
  `child-birth-date` = the patient's birth date (the regional rules then say whether the child is
  inside the programme's window, so a 5-year-old's form shows "outside Kansrijke Start");
- `teenage-pregnancy` is only ever SUGGESTED (DOMAIN.md §3.4: "pre-suggested, not auto-ticked") when the
  mother is under 20 at the due date: a Suggestion beside the response, never an answer in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from service.fhir import urls
from service.questionnaires.catalog import QuestionnaireDef
from service.questionnaires.form import response_items

PHASE, DUE_DATE, CHILD_BIRTH_DATE, TEENAGE = "phase", "due-date", "child-birth-date", "teenage-pregnancy"

SCT_PREGNANCY = "77386006"  # Pregnancy (finding)
ICPC_PREGNANCY = "W78"  # ICPC(-NHG) W78 Zwangerschap bevestigd
# LOINC "Delivery date Estimated", and its variants estimated from the last period / from ovulation.
LOINC_DUE_DATE = ("11778-8", "11779-6", "11780-4")
INACTIVE_CLINICAL = {"inactive", "resolved", "remission"}
NOT_VERIFIED = {"refuted", "entered-in-error"}
UNUSABLE_OBSERVATION = {"entered-in-error", "cancelled"}

MAX_DUE_AHEAD = timedelta(weeks=44)  # DOMAIN.md §3.4: a due date lies at most ~44 weeks ahead
OVERDUE_GRACE = timedelta(days=14)  # ... and a pregnancy ~2 weeks past it prompts "is the child born?"
CHILD_MAX_AGE = 12  # younger than this, the patient is the child, not a (future) parent
TEENAGE_BELOW = 20  # "jonger dan 20 jaar" at the due date (Dutch perinatal risk table)


@dataclass(frozen=True, kw_only=True)
class Suggestion:
    """Something the form shows beside an item ("suggestie"); the clinician decides. Never an answer."""

    link_id: str
    kind: str  # "tick": consider ticking this item; "check": check this answer against the record
    text: str
    english: str


@dataclass(frozen=True, kw_only=True)
class RecordFacts:
    """What the record says about the phase, and which resources said it."""

    phase: str | None = None
    due_date: date | None = None
    child_birth_date: date | None = None
    mother_birth_date: date | None = None
    stale_due_date: date | None = None  # a due date long past while the pregnancy is still active
    sources: tuple[str, ...] = ()


def parse_date(value) -> date | None:
    """The date part of a FHIR date or dateTime ('2027', '2027-03', '2027-03-01T10:00:00+01:00')."""
    if not isinstance(value, str) or len(value) < 4:
        return None
    text = value[:10]
    try:
        if len(text) == 4:
            return date(int(text), 1, 1)
        if len(text) == 7:
            return date(int(text[:4]), int(text[5:7]), 1)
        return date.fromisoformat(text)
    except ValueError:
        return None


def age_on(birth: date, day: date) -> int:
    """Whole years from `birth` to `day`."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _codes(concept) -> list[tuple[str, str]]:
    if not isinstance(concept, dict):
        return []
    return [(str(c.get("system", "")), str(c.get("code", ""))) for c in concept.get("coding", ()) if isinstance(c, dict)]


def _status_codes(concept) -> set[str]:
    return {code for _, code in _codes(concept)}


def _about(resource: dict, patient_id: str | None) -> bool:
    """Whether a resource is about the patient (resources for someone else are ignored)."""
    if not patient_id:
        return True
    ref = (resource.get("subject") or resource.get("patient") or {}).get("reference")
    return ref is None or ref.split("/_history")[0].rstrip("/").endswith(f"Patient/{patient_id}")


def _is_pregnancy(condition: dict) -> bool:
    for system, code in _codes(condition.get("code")):
        if system == urls.SNOMED and code == SCT_PREGNANCY:
            return True
        if "icpc" in system.lower() and code.upper().startswith(ICPC_PREGNANCY):
            return True
    return False


def _active(condition: dict, today: date) -> bool:
    if _status_codes(condition.get("clinicalStatus")) & INACTIVE_CLINICAL:
        return False
    if _status_codes(condition.get("verificationStatus")) & NOT_VERIFIED:
        return False
    if any(k.startswith("abatement") for k in condition):
        abated = parse_date(condition.get("abatementDateTime"))
        return abated is not None and abated > today
    return True


def _due_date_of(observation: dict) -> date | None:
    if observation.get("status") in UNUSABLE_OBSERVATION:
        return None
    if not any(system == urls.LOINC and code in LOINC_DUE_DATE for system, code in _codes(observation.get("code"))):
        return None
    return parse_date(observation.get("valueDateTime") or observation.get("valueDate"))


def _recorded(observation: dict) -> str:
    return str(observation.get("effectiveDateTime") or observation.get("issued") or (observation.get("meta") or {}).get("lastUpdated") or "")


def _ref(resource: dict) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def record_facts(patient: dict | None, observations: list[dict], conditions: list[dict], today: date) -> RecordFacts:
    """Read the phase and dates off the record; pregnancy evidence wins over the patient's age."""
    patient = patient or {}
    pid = patient.get("id")
    birth = parse_date(patient.get("birthDate"))
    pregnancies = [c for c in conditions if isinstance(c, dict) and _about(c, pid) and _is_pregnancy(c) and _active(c, today)]
    dated = sorted(
        ((o, d) for o in observations if isinstance(o, dict) and _about(o, pid) and (d := _due_date_of(o)) is not None),
        key=lambda pair: (_recorded(pair[0]), pair[1]),
    )
    latest = dated[-1] if dated else None  # the most recent assessment of the due date counts

    if latest and today < latest[1] <= today + MAX_DUE_AHEAD:
        return RecordFacts(phase="pregnant", due_date=latest[1], mother_birth_date=birth,
                           sources=tuple(_ref(r) for r in [*pregnancies, latest[0]]))
    if pregnancies:
        if latest and today - OVERDUE_GRACE <= latest[1] <= today:  # overdue, still pregnant
            return RecordFacts(phase="pregnant", due_date=latest[1], mother_birth_date=birth,
                               sources=tuple(_ref(r) for r in [*pregnancies, latest[0]]))
        stale = latest[1] if latest and latest[1] < today - OVERDUE_GRACE else None
        return RecordFacts(phase="pregnant", mother_birth_date=birth, stale_due_date=stale,
                           sources=tuple(_ref(r) for r in pregnancies))
    if birth and birth <= today and age_on(birth, today) < CHILD_MAX_AGE:
        return RecordFacts(phase="postpartum", child_birth_date=birth, sources=(_ref(patient),))
    return RecordFacts(mother_birth_date=birth)


def _coding(qdef: QuestionnaireDef, link_id: str, code: str) -> dict | None:
    item = qdef.items.get(link_id)
    option = item.option(None, code) if item else None
    if option is None:
        return None
    return {k: option[k] for k in ("system", "code", "display") if k in option}


def populate(qdef: QuestionnaireDef, patient: dict | None, observations: list[dict], conditions: list[dict],
             today: date) -> dict:
    """An in-progress QuestionnaireResponse with what the record says (phase, due date or child's birth date)."""
    facts = record_facts(patient, observations, conditions, today)
    answers: dict[str, list[dict]] = {}
    if facts.phase and PHASE in qdef.items and (coding := _coding(qdef, PHASE, facts.phase)):
        answers[PHASE] = [{"valueCoding": coding}]
    if facts.due_date and DUE_DATE in qdef.items:
        answers[DUE_DATE] = [{"valueDate": facts.due_date.isoformat()}]
    if facts.child_birth_date and CHILD_BIRTH_DATE in qdef.items:
        answers[CHILD_BIRTH_DATE] = [{"valueDate": facts.child_birth_date.isoformat()}]
    qr: dict = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": qdef.canonical,
        "status": "in-progress",
    }
    if patient and patient.get("id"):
        qr["subject"] = {"reference": f"Patient/{patient['id']}"}
    qr["item"] = response_items(qdef, answers)
    return qr


def teenage_suggestion(mother_birth: date | None, due: date | None, today: date) -> Suggestion | None:
    """Suggest (never tick) teenage pregnancy when the mother is under 20 at the due date (or today)."""
    if mother_birth is None:
        return None
    at = due or today
    age = age_on(mother_birth, at)
    if age >= TEENAGE_BELOW or age < 0:
        return None
    when_nl, when_en = ("op de uitgerekende datum", "at the due date") if due else ("nu", "now")
    return Suggestion(
        link_id=TEENAGE, kind="tick",
        text=f"De patiënte is {when_nl} {age} jaar (jonger dan {TEENAGE_BELOW}). Niet automatisch aangevinkt — beoordeel zelf.",
        english=f"The patient is {age} {when_en} (under {TEENAGE_BELOW}). Not ticked automatically — your judgement.",
    )


def suggestions(qdef: QuestionnaireDef, patient: dict | None, observations: list[dict], conditions: list[dict],
                today: date) -> tuple[Suggestion, ...]:
    """What the form shows beside the items, for the clinician to decide on."""
    facts = record_facts(patient, observations, conditions, today)
    out: list[Suggestion] = []
    if facts.phase == "pregnant" and TEENAGE in qdef.items:
        teen = teenage_suggestion(facts.mother_birth_date, facts.due_date, today)
        if teen:
            out.append(teen)
    if facts.stale_due_date and DUE_DATE in qdef.items:
        out.append(Suggestion(
            link_id=DUE_DATE, kind="check",
            text="De uitgerekende datum in het dossier ligt meer dan 2 weken achter ons. Is het kind geboren? "
                 "Kies dan ‘Na de geboorte’; anders: vul de juiste datum in.",
            english="The due date in the record is more than 2 weeks past. Has the child been born? Then choose "
                    "'After birth'; otherwise enter the right date.",
        ))
    return tuple(out)
