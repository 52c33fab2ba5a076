"""Pure: HTML form fields <-> QuestionnaireResponse, for any Questionnaire in the catalog.

A field is named after its item's linkId and carries what a browser sends: `true` for a ticked
checkbox, an answerOption code for a radio button or select, `DD-MM-YYYY` for a date (the form's
text field reads dd-mm-jjjj whatever the browser's locale; `YYYY-MM-DD` and `DDMMYYYY` are read too),
digits for an integer, text. The response carries FHIR `date` (YYYY-MM-DD,
https://hl7.org/fhir/R4/datatypes.html#date).
Boolean items are tick boxes, so an unticked one is answered `false` (the response then says "not
ticked" rather than "not asked"). Answers to items whose enableWhen does not hold are dropped, as
the Questionnaire demands (https://hl7.org/fhir/R4/questionnaire-definitions.html#Questionnaire.item.enableWhen).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from service.questionnaires.answers import AnswerIndex, answer_value
from service.questionnaires.catalog import ItemDef, QuestionnaireDef
from service.questionnaires.linkids import CHILD_BIRTH_DATE, CHILDREN, DUE_DATE
from service.questionnaires.validate import enabled_items
from service.texts import Text, texts

FormFields = Mapping[str, list[str]]  # what werkzeug's MultiDict.to_dict(flat=False) gives

TRUE_VALUES = {"true", "on", "1", "yes", "ja"}
DMY = re.compile(r"^(\d{1,2})[-/. ](\d{1,2})[-/. ](\d{4})$")
DMY_DIGITS = re.compile(r"^(\d{2})(\d{2})(\d{4})$")  # 01032027: a phone's number pad has no dash
YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")

# Product-wide linkIds (DOMAIN.md A1) with checks beyond the Questionnaire's own (DOMAIN.md §3.4).
MAX_DUE_AHEAD = timedelta(weeks=44)
OVERDUE_GRACE = timedelta(days=14)
MAX_CHILDREN = 30


@dataclass(frozen=True, kw_only=True)
class FieldError:
    """A problem with one field, in Dutch and English, for the message next to the field."""

    link_id: str
    text: str
    english: str

    @classmethod
    def of(cls, link_id: str, text: Text) -> FieldError:
        """A field's problem in the catalogue's words (service/texts.py texts())."""
        return cls(link_id=link_id, text=text.nl, english=text.en)


@dataclass(frozen=True)
class _Plan:
    """What every form post walks, worked out once per Questionnaire: every item, parents before children, in
    the Questionnaire's order; and the items `response_items` reaches (only groups nest), each with its parent and
    its ancestors, for the answer index without the walk (`_index`)."""

    order: tuple[ItemDef, ...]
    reached: tuple[tuple[str, str | None, tuple[str, ...]], ...]


_PLANS: dict[int, tuple[QuestionnaireDef, _Plan]] = {}


def _plan(qdef: QuestionnaireDef) -> _Plan:
    """The Questionnaire's _Plan (the entry keeps `qdef` alive, so its id stays its own)."""
    entry = _PLANS.get(id(qdef))
    if entry is None or entry[0] is not qdef:
        order: list[ItemDef] = []
        reached: list[tuple[str, str | None, tuple[str, ...]]] = []

        def walk(ids: Iterable[str], groups: tuple[str, ...] | None) -> None:
            for link_id in ids:
                item = qdef.items[link_id]
                order.append(item)
                inside = None
                if groups is not None and item.type == "group":
                    inside = (*groups, link_id)
                elif groups is not None:
                    reached.append((link_id, groups[-1] if groups else None, groups))
                walk(item.children, inside)

        walk(qdef.top, ())
        if len(_PLANS) >= 64:
            _PLANS.clear()
        entry = _PLANS[id(qdef)] = (qdef, _Plan(tuple(order), tuple(reached)))
    return entry[1]


def document_order(qdef: QuestionnaireDef) -> tuple[ItemDef, ...]:
    """Every item, parents before children, in the Questionnaire's order (worked out once per Questionnaire)."""
    return _plan(qdef).order


def _date_parts(raw: str) -> tuple[int, int, int] | None:
    """(year, month, day) as typed, whether or not such a day exists; None when it is not a date's shape."""
    raw = raw.strip()
    if match := YMD.match(raw):
        return int(match.group(1)), int(match.group(2)), int(match.group(3))
    if match := DMY.match(raw) or DMY_DIGITS.match(raw):
        return int(match.group(3)), int(match.group(2)), int(match.group(1))
    return None


def parse_date_field(raw: str) -> date | None:
    """A date field's day: dd-mm-jjjj (also d-m-jjjj, with / . or a space, or 8 digits) or yyyy-mm-dd."""
    parts = _date_parts(raw)
    if parts is None:
        return None
    try:
        return date(*parts)
    except ValueError:
        return None


def date_error_key(raw: str) -> str:
    """Why a date field cannot be read: not a date's shape, or a day that does not exist (31-02-2027)."""
    return "form.error.date" if _date_parts(raw) is None else "form.error.date_impossible"


def date_for_field(value: str) -> str:
    """A date as the form's field shows it, dd-mm-jjjj; a value that is no date stays as it was typed."""
    day = parse_date_field(value)
    return f"{day.day:02d}-{day.month:02d}-{day.year:04d}" if day else value


def _first(fields: FormFields, link_id: str) -> str:
    for value in fields.get(link_id, ()):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _label(item: ItemDef) -> Text:
    return Text(item.text, item.text_en or item.text)


def _parse(
    qdef: QuestionnaireDef, fields: FormFields
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[Any]], list[FieldError]]:
    """Answers by linkId (every item, enabled or not), each answer's value by linkId (what enableWhen reads:
    AnswerIndex.values) and the values that could not be read."""
    answers: dict[str, list[dict[str, Any]]] = {}
    values: dict[str, list[Any]] = {}
    errors: list[FieldError] = []
    for item in document_order(qdef):
        link_id, kind = item.link_id, item.type
        if kind in ("group", "display"):
            continue
        if kind == "boolean":
            sent = fields.get(link_id) or ()
            ticked = bool(sent) and any(str(v).strip().lower() in TRUE_VALUES for v in sent)
            answers[link_id], values[link_id] = [{"valueBoolean": ticked}], [ticked]
            continue
        raw = _first(fields, link_id)
        if not raw:
            continue
        value: Any
        if kind in ("choice", "open-choice"):
            option = item.option(None, raw)
            if option is None:
                errors.append(FieldError.of(link_id, texts("form.error.option", label=_label(item))))
                continue
            key, value = "valueCoding", {k: option[k] for k in ("system", "code", "display") if k in option}
        elif kind == "date":
            day = parse_date_field(raw)
            if day is None:
                errors.append(FieldError.of(link_id, texts(date_error_key(raw), label=_label(item))))
                continue
            key, value = "valueDate", day.isoformat()
        elif kind == "integer":
            if not re.fullmatch(r"\d{1,4}", raw):
                errors.append(FieldError.of(link_id, texts("form.error.integer", label=_label(item))))
                continue
            key, value = "valueInteger", int(raw)
        elif kind in ("string", "text"):
            value = raw.replace("\r\n", "\n")
            if item.max_length and len(value) > item.max_length:
                too_long = texts("form.error.too_long", label=_label(item), max=item.max_length, length=len(value))
                errors.append(FieldError.of(link_id, too_long))
                continue
            key = "valueString"
        else:
            continue
        answers[link_id], values[link_id] = [{key: value}], [value]
    return answers, values, errors


def response_items(qdef: QuestionnaireDef, answers: Mapping[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Nest answers by linkId into the Questionnaire's item tree; groups without answers are left out."""

    def build(ids: Iterable[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for link_id in ids:
            item = qdef.items[link_id]
            if item.type == "group":
                if children := build(item.children):
                    out.append({"linkId": link_id, "item": children})
            elif given := answers.get(link_id):
                out.append({"linkId": link_id, "answer": list(given)})
        return out

    return build(qdef.top)


def _index(
    qdef: QuestionnaireDef, answers: Mapping[str, list[dict[str, Any]]], values: Mapping[str, list[Any]]
) -> AnswerIndex:
    """The answer index of the response `response_items` nests these answers into (`index_answers` of it), without
    building it or walking the tree: each item the nesting reaches that has answers, in document order, its groups
    present with it."""
    index = AnswerIndex()
    present, ticked, indexed = index.present, index.ticked, index.values
    for link_id, parent, groups in _plan(qdef).reached:
        if answers.get(link_id):
            present.add(link_id)
            present.update(groups)
            vals = indexed[link_id] = list(values[link_id])
            if parent is not None:
                for value in vals:
                    if value is True:
                        ticked.setdefault(parent, []).append(link_id)
    return index


def enabled_answers(
    qdef: QuestionnaireDef, answers: Mapping[str, list[dict[str, Any]]], values: dict[str, list[Any]] | None = None
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, bool]]:
    """Only the answers of enabled items, and which items are enabled (`values`: the answers' values by linkId,
    when the caller has them)."""
    # enableWhen reads answers by linkId only: index the parsed answers directly (no item tree needed).
    if values is None:
        values = {k: [v for a in vals if (v := answer_value(a)) is not None] for k, vals in answers.items()}
    enabled = enabled_items(qdef, AnswerIndex(values=values))
    return {k: v for k, v in answers.items() if enabled.get(k, True)}, enabled


def build_response(
    qdef: QuestionnaireDef,
    form_fields: FormFields,
    *,
    subject: str | dict[str, Any] | None,
    author: str | dict[str, Any] | None,
    authored: str | None,
    identifier: dict[str, Any] | None,
    status: str = "completed",
) -> dict[str, Any]:
    """The QuestionnaireResponse for the fields: nested groups, enabled items only, unticked boxes false.

    Values that cannot be read (see `check_fields`) are left out rather than guessed."""
    return index_fields(
        qdef, form_fields, subject=subject, author=author, authored=authored, identifier=identifier, status=status
    ).response()


def _response_head(
    qdef: QuestionnaireDef,
    *,
    subject: str | dict[str, Any] | None,
    author: str | dict[str, Any] | None,
    authored: str | None,
    identifier: dict[str, Any] | None,
    status: str,
) -> dict[str, Any]:
    """A QuestionnaireResponse for `qdef` without its items."""
    qr: dict[str, Any] = {"resourceType": "QuestionnaireResponse", "questionnaire": qdef.canonical, "status": status}
    if identifier:
        qr["identifier"] = dict(identifier)
    for key, value in (("subject", subject), ("author", author)):
        if value:
            qr[key] = {"reference": value} if isinstance(value, str) else dict(value)
    if authored:
        qr["authored"] = authored
    return qr


@dataclass(frozen=True)
class IndexedFields:
    """A form's fields as the rules read them, without the response built (the live panel, issue 12 point 8):
    the answer index, the values left out, and `response()`, which builds that very
    response only when asked (the rules ask for it only where an expression falls back to fhirpathpy:
    rules/evaluate.py evaluate_index)."""

    index: AnswerIndex
    errors: list[FieldError]
    response: Callable[[], dict[str, Any]]


def index_fields(
    qdef: QuestionnaireDef,
    form_fields: FormFields,
    *,
    subject: str | dict[str, Any] | None,
    author: str | dict[str, Any] | None,
    authored: str | None,
    identifier: dict[str, Any] | None = None,
    status: str = "completed",
) -> IndexedFields:
    """The fields' answers (enabled items only, unticked boxes false) indexed in one parse, without the walk of the
    item tree (`_index`; tests/web/test_form_fields.py checks the index against index_answers of the response)."""
    answers, values, errors = _parse(qdef, form_fields)
    answers, _ = enabled_answers(qdef, answers, values)
    index = _index(qdef, answers, values)

    def response() -> dict[str, Any]:  # the response, from the answers parsed here
        qr = _response_head(
            qdef, subject=subject, author=author, authored=authored, identifier=identifier, status=status
        )
        qr["item"] = response_items(qdef, answers)
        return qr

    return IndexedFields(index, errors, response)


def check_fields(qdef: QuestionnaireDef, form_fields: FormFields, *, today: date) -> list[FieldError]:
    """Every problem a clinician must fix before review, in the Questionnaire's order: unreadable values,
    required items left empty (enabled ones only), and dates outside what a phase allows."""
    answers, values, errors = _parse(qdef, form_fields)
    kept, enabled = enabled_answers(qdef, answers, values)
    unreadable = {e.link_id for e in errors}
    for item in document_order(qdef):
        lid = item.link_id
        if not (item.required and enabled.get(lid) and item.type not in ("group", "display")):
            continue
        if kept.get(lid) or lid in unreadable:
            continue
        key = "form.error.choose_answer" if item.type in ("choice", "open-choice") else "form.error.fill_in"
        errors.append(FieldError.of(lid, texts(key, label=_label(item))))
    errors += date_errors(_date_answer(kept, DUE_DATE), _date_answer(kept, CHILD_BIRTH_DATE), today=today)
    children = kept.get(CHILDREN)
    if children and children[0].get("valueInteger", 0) > MAX_CHILDREN:
        errors.append(FieldError.of(CHILDREN, texts("form.error.children", max=MAX_CHILDREN)))
    order = {item.link_id: i for i, item in enumerate(document_order(qdef))}
    return sorted(errors, key=lambda e: order.get(e.link_id, len(order)))


def date_errors(due: date | None, born: date | None, *, today: date) -> list[FieldError]:
    """A due date or a child's birth date outside what its phase allows (check_fields; the live panel says it too,
    so an impossible date does not stand behind the advice unremarked until review)."""
    errors = []
    if due and due > today + MAX_DUE_AHEAD:
        errors.append(FieldError.of(DUE_DATE, texts("form.error.due_ahead")))
    elif due and due < today - OVERDUE_GRACE:
        errors.append(FieldError.of(DUE_DATE, texts("form.error.due_past")))
    if born and born > today:
        errors.append(FieldError.of(CHILD_BIRTH_DATE, texts("form.error.birth_future")))
    return errors


def _date_answer(answers: Mapping[str, list[dict[str, Any]]], link_id: str) -> date | None:
    values = answers.get(link_id)
    if not values or "valueDate" not in values[0]:
        return None
    return date.fromisoformat(values[0]["valueDate"])


def response_to_fields(qr: dict[str, Any]) -> dict[str, list[str]]:
    """The fields a form shows for a response (re-rendering, drafts, $populate results)."""
    fields: dict[str, list[str]] = {}

    def walk(items: object) -> None:
        for item in items if isinstance(items, list) else ():
            if not isinstance(item, dict) or not isinstance(item.get("linkId"), str):
                continue
            for answer in item.get("answer") or ():
                if not isinstance(answer, dict):
                    continue
                for key, value in answer.items():
                    if not key.startswith("value"):
                        continue
                    if key == "valueBoolean":
                        if value is True:
                            fields.setdefault(item["linkId"], []).append("true")
                    elif key == "valueCoding" and isinstance(value, dict) and value.get("code"):
                        fields.setdefault(item["linkId"], []).append(str(value["code"]))
                    elif key == "valueDate" and isinstance(value, str):
                        fields.setdefault(item["linkId"], []).append(date_for_field(value))
                    elif isinstance(value, (str, int)) and not isinstance(value, bool):
                        fields.setdefault(item["linkId"], []).append(str(value))
                walk(answer.get("item"))
            walk(item.get("item"))

    walk(qr.get("item"))
    return fields
