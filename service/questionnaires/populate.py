"""Pure: SDC $populate for the signalling Questionnaire — the pre-fill it declares, suggestions apart.

https://hl7.org/fhir/uv/sdc/OperationDefinition/Questionnaire-populate: the result is an in-progress
QuestionnaireResponse a clinician reviews; nothing here is ever final. What the record says is declared in
the Questionnaire itself (launchContext %patient, x-fhir-query variables for the due-date Observations and
pregnancy Conditions, initialExpressions on phase, due date and the child's birth date; questionnaires/README.md
"Pre-fill") and evaluated by the generic SDC evaluator (service/questionnaires/sdc.py), so Smart Forms
pre-fills the same answers. In words:

- an active pregnancy (Condition SNOMED 77386006 "Pregnancy" or ICPC W78 "Zwangerschap bevestigd"), or an
  estimated delivery date (Observation LOINC 11778-8) in the future → phase `pregnant`, `due-date`;
- a patient younger than 12 → the record is the child's: phase `postpartum`, `child-birth-date` = the
  patient's birth date (the regional rules then say whether the child is inside the programme's window,
  so a 5-year-old's form shows "outside Kansrijke Start");
- `teenage-pregnancy` is only ever SUGGESTED (DOMAIN.md §3.4: "pre-suggested, not auto-ticked") when the
  mother is under 20 at the due date: a Suggestion beside the response, never an answer in it — a rule
  here, never an initialExpression.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from service.fhir import urls
from service.questionnaires.catalog import QuestionnaireDef
from service.questionnaires.form import response_items
from service.questionnaires.linkids import CHILD_BIRTH_DATE, DUE_DATE, PHASE, TEENAGE
from service.questionnaires.sdc import Fetch, Population, Resource, populate_declared, record_fetch
from service.texts import texts

# What the Questionnaire's x-fhir-queries ask for (service/ehr reads the record with the same codes).
SCT_PREGNANCY = "77386006"  # Pregnancy (finding)
ICPC_PREGNANCY = "W78"  # ICPC(-NHG) W78 Zwangerschap bevestigd
# LOINC "Delivery date Estimated", and its variants estimated from the last period / from ovulation.
LOINC_DUE_DATE = ("11778-8", "11779-6", "11780-4")

OVERDUE_GRACE = timedelta(days=14)  # a pregnancy ~2 weeks past the due date prompts "is the child born?"
TEENAGE_BELOW = 20  # "jonger dan 20 jaar" at the due date (Dutch perinatal risk table)
MAX_DUE_AHEAD = timedelta(weeks=44)  # beyond this a due date is implausible (the form warns: questionnaires/form.py)


@dataclass(frozen=True, kw_only=True)
class Suggestion:
    """Something the form shows beside an item ("suggestie"); the clinician decides. Never an answer."""

    link_id: str
    kind: str  # "tick": consider ticking this item; "check": check this answer against the record
    text: str
    english: str


@dataclass(frozen=True, kw_only=True)
class RecordFacts:
    """What the record says about the phase (the Questionnaire's pre-fill) and what the suggestions read."""

    phase: str | None = None
    due_date: date | None = None
    child_birth_date: date | None = None
    mother_birth_date: date | None = None
    stale_due_date: date | None = None  # a due date long past while the pregnancy is still active


def parse_date(value: object) -> date | None:
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


def _record(patient: Resource | None, observations: list[Resource], conditions: list[Resource]) -> list[Resource]:
    return [r for r in (patient, *observations, *conditions) if isinstance(r, dict)]


def population(
    qdef: QuestionnaireDef,
    patient: Resource | None,
    fetch: Fetch,
    today: date,
    *,
    encounter: Resource | None = None,
    user: Resource | None = None,
    given: dict[str, list[Any]] | None = None,
) -> Population:
    """The Questionnaire's declared pre-fill for this patient, its x-fhir-queries answered by `fetch`."""
    return populate_declared(
        qdef, fetch, today, contexts={"patient": patient, "encounter": encounter, "user": user}, given=given
    )


def response(qdef: QuestionnaireDef, result: Population, patient: Resource | None) -> Resource:
    """The in-progress QuestionnaireResponse of a population."""
    qr: Resource = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": qdef.canonical,
        "status": "in-progress",
    }
    if patient and patient.get("id"):
        qr["subject"] = {"reference": f"Patient/{patient['id']}"}
    if items := response_items(qdef, result.answers):  # nothing pre-filled: no `item` (JSON has no empty arrays:
        qr["item"] = items  # https://hl7.org/fhir/R4/json.html#arrays)
    return qr


def populate(
    qdef: QuestionnaireDef,
    patient: Resource | None,
    observations: list[Resource],
    conditions: list[Resource],
    today: date,
) -> Resource:
    """An in-progress QuestionnaireResponse with what the record says (phase, due date or child's birth date):
    the Questionnaire's declarations, its x-fhir-queries searching the record already read."""
    return response(
        qdef, population(qdef, patient, record_fetch(_record(patient, observations, conditions)), today), patient
    )


def facts_of(result: Population, today: date) -> RecordFacts:
    """The phase and dates a population gave, and what the suggestions read beside them: the mother's birth
    date (the patient's, unless the record is the child's) and a due date long past in a running pregnancy."""

    def first(link_id: str) -> Any:
        values = result.answers.get(link_id) or [{}]
        return next(iter(values[0].values()), None)

    patient = next(iter(result.variables.get("patient") or ()), None) or {}
    phase = (first(PHASE) or {}).get("code")
    latest_due = parse_date(next(iter(result.variables.get("dueDate") or ()), None))  # the Questionnaire's %dueDate
    running = bool(result.variables.get("pregnancies"))  # ... and %pregnancies
    return RecordFacts(
        phase=phase,
        due_date=parse_date(first(DUE_DATE)),
        child_birth_date=parse_date(first(CHILD_BIRTH_DATE)),
        mother_birth_date=None if phase == "postpartum" else parse_date(patient.get("birthDate")),
        stale_due_date=latest_due if running and latest_due and latest_due < today - OVERDUE_GRACE else None,
    )


def record_facts(
    patient: Resource | None,
    observations: list[Resource],
    conditions: list[Resource],
    today: date,
    qdef: QuestionnaireDef | None = None,
) -> RecordFacts:
    """Read the phase and dates off the record as the Questionnaire's pre-fill does: `qdef`'s declarations
    (without it, those of the signalling Questionnaire in the service's questionnaires folder)."""
    qdef = qdef or _signalling()
    fetch = record_fetch(_record(patient, observations, conditions))
    return facts_of(population(qdef, patient, fetch, today), today)


@lru_cache(maxsize=1)
def _signalling() -> QuestionnaireDef:
    from service.config import Settings
    from service.questionnaires.catalog import load_catalog

    qdef = load_catalog(Settings.questionnaires_dir).find(urls.QUESTIONNAIRE_SIGNALERING)
    assert qdef is not None, "the signalling Questionnaire is part of the service"
    return qdef


def teenage_suggestion(mother_birth: date | None, due: date | None, today: date) -> Suggestion | None:
    """Suggest (never tick) teenage pregnancy when the mother is under 20 at the due date (or today).

    Only a plausible due date counts (at most 2 weeks past, at most 44 weeks ahead, as the form checks): with one in
    2019 the patient is not "op de uitgerekende datum 10 jaar"; the suggestion then speaks of her age now (the
    form's own warning asks for the right date), because the pregnancy is what the phase says, whatever the date."""
    if mother_birth is None:
        return None
    if due is not None and not (today - OVERDUE_GRACE <= due <= today + MAX_DUE_AHEAD):
        due = None
    at = due or today
    age = age_on(mother_birth, at)
    if age >= TEENAGE_BELOW or age < 0:
        return None
    when = texts("populate.at_due_date" if due else "populate.now")
    nl, en = texts("populate.teenage", when=when, age=age, below=TEENAGE_BELOW)
    return Suggestion(link_id=TEENAGE, kind="tick", text=nl, english=en)


def suggestions(
    qdef: QuestionnaireDef,
    patient: Resource | None,
    observations: list[Resource],
    conditions: list[Resource],
    today: date,
) -> tuple[Suggestion, ...]:
    """What the form shows beside the items, for the clinician to decide on."""
    facts = record_facts(patient, observations, conditions, today, qdef)
    return suggestions_for(qdef, facts, today)


def suggestions_for(qdef: QuestionnaireDef, facts: RecordFacts, today: date) -> tuple[Suggestion, ...]:
    """The suggestions for what a population found (the teenage-pregnancy one is a rule, never an answer)."""
    out: list[Suggestion] = []
    if facts.phase == "pregnant" and TEENAGE in qdef.items:
        teen = teenage_suggestion(facts.mother_birth_date, facts.due_date, today)
        if teen:
            out.append(teen)
    if facts.stale_due_date and DUE_DATE in qdef.items:
        nl, en = texts("populate.stale_due_date")
        out.append(Suggestion(link_id=DUE_DATE, kind="check", text=nl, english=en))
    return tuple(out)
