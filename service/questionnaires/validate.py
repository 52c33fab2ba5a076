"""Pure: check a QuestionnaireResponse against its Questionnaire and report every problem at once.

Follows the R4 QuestionnaireResponse rules (https://hl7.org/fhir/R4/questionnaireresponse.html#invs) and
the checks SDC lists on its validation page: unknown linkIds, answer types, answerOption codes,
answers to disabled items (enableWhen), missing required items, repeats, maxLength.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.errors import Issue
from service.fhir import models
from service.questionnaires.answers import AnswerIndex, index_answers
from service.questionnaires.catalog import Catalog, ItemDef, QuestionnaireDef

QR_STATUSES = {"in-progress", "completed", "amended", "entered-in-error", "stopped"}
DATE_RE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
DATETIME_RE = re.compile(
    r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])(T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00)))?)?)?$"
)
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?$")


def _check_primitive(key: str, value) -> bool:
    """Whether a JSON value has the shape its value[x] type demands."""
    if key == "valueBoolean":
        return isinstance(value, bool)
    if key == "valueInteger":
        return isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31
    if key == "valueDecimal":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if key == "valueDate":
        return isinstance(value, str) and bool(DATE_RE.match(value))
    if key == "valueDateTime":
        return isinstance(value, str) and bool(DATETIME_RE.match(value))
    if key == "valueTime":
        return isinstance(value, str) and bool(TIME_RE.match(value))
    if key in ("valueString", "valueUri"):
        return isinstance(value, str) and value.strip() != ""
    if key in ("valueCoding", "valueAttachment", "valueReference", "valueQuantity"):
        return isinstance(value, dict) and bool(value)
    return False


def _compare(op: str, actual, expected) -> bool:
    if isinstance(expected, dict):  # Coding: system + code
        if not isinstance(actual, dict):
            return False
        same = actual.get("code") == expected.get("code") and (
            not expected.get("system") or actual.get("system") == expected.get("system")
        )
        return same if op == "=" else (not same if op == "!=" else False)
    if op == "=":
        return actual == expected
    if op == "!=":
        return actual != expected
    try:
        return {">": actual > expected, "<": actual < expected, ">=": actual >= expected, "<=": actual <= expected}[op]
    except TypeError:
        return False


def _condition_holds(cond: dict, index: AnswerIndex, enabled: dict[str, bool]) -> bool:
    """One enableWhen (https://hl7.org/fhir/R4/questionnaire-definitions.html#Questionnaire.item.enableWhen)."""
    question = cond.get("question")
    answers = index.values.get(question, []) if enabled.get(question, True) else []
    op = cond.get("operator")
    expected = next((v for k, v in cond.items() if k.startswith("answer")), None)
    if op == "exists":
        return bool(answers) == bool(expected)
    # R4: with "!=", no answer at all also counts as "not equal".
    if op == "!=":
        return all(_compare("=", a, expected) is False for a in answers)
    return any(_compare(op, a, expected) for a in answers)


def enabled_items(qdef: QuestionnaireDef, index: AnswerIndex) -> dict[str, bool]:
    """Which items are enabled, parents before children; a disabled group disables all below it."""
    enabled: dict[str, bool] = {}

    def visit(link_id: str, parent_enabled: bool) -> None:
        item = qdef.items[link_id]
        state = parent_enabled
        if state and item.enable_when:
            results = [_condition_holds(c, index, enabled) for c in item.enable_when]
            state = any(results) if item.enable_behavior == "any" else all(results)
        enabled[link_id] = state
        for child in item.children:
            visit(child, state)

    # Items are visited in document order, so questions a later item depends on are settled first
    # (our Questionnaire only refers backwards).
    for top in qdef.top:
        visit(top, True)
    return enabled


@dataclass(frozen=True)
class ValidationResult:
    questionnaire: QuestionnaireDef | None
    issues: tuple[Issue, ...]
    index: AnswerIndex

    @property
    def ok(self) -> bool:
        return not any(i.severity in ("error", "fatal") for i in self.issues)


def _issue(path: str, nl: str, en: str, code: str = "invalid", severity: str = "error") -> Issue:
    return Issue(severity=severity, code=code, text=nl, english=en, expression=(path,))


def validate_response(qr: dict, catalog: Catalog, *, structural: bool = False) -> ValidationResult:
    """Every problem of a QuestionnaireResponse against its Questionnaire, as Issues with FHIRPath locations.

    With `structural`, the whole resource is also checked as its FHIR R4 model (unknown elements,
    malformed identifiers, ...). That costs ~0.9 ms, so $validate and submissions do it, the live
    panel's $evaluate and $extract (which writes nothing) do not; the items, which the rules read,
    are always checked in full.
    """
    result = _validate(qr, catalog)
    if structural and isinstance(qr, dict) and qr.get("resourceType") == "QuestionnaireResponse":
        extra = [
            i
            for i in models.validation_issues(qr)
            if not any(e.startswith("QuestionnaireResponse.item") for e in i.expression)
        ]
        extra = [
            Issue(
                code="structure",
                text=f"Ongeldig FHIR-element: {i.text}",
                english=f"Invalid FHIR element: {i.text}",
                expression=i.expression,
            )
            for i in extra
        ]
        if extra:
            return ValidationResult(result.questionnaire, result.issues + tuple(extra), result.index)
    return result


def _validate(qr: dict, catalog: Catalog) -> ValidationResult:
    issues: list[Issue] = []
    index = index_answers(qr) if isinstance(qr, dict) else AnswerIndex()
    if not isinstance(qr, dict) or qr.get("resourceType") != "QuestionnaireResponse":
        got = qr.get("resourceType") if isinstance(qr, dict) else type(qr).__name__
        issues.append(
            _issue(
                "QuestionnaireResponse",
                f"Verwacht een QuestionnaireResponse, kreeg {got!r}.",
                f"Expected a QuestionnaireResponse, got {got!r}.",
                code="structure",
            )
        )
        return ValidationResult(None, tuple(issues), index)

    status = qr.get("status")
    if status not in QR_STATUSES:
        issues.append(
            _issue(
                "QuestionnaireResponse.status",
                f"Onbekende status {status!r}.",
                f"Unknown or missing status {status!r}.",
                code="value",
            )
        )
    canonical = qr.get("questionnaire")
    qdef = catalog.find(canonical) if isinstance(canonical, str) else None
    if qdef is None:
        issues.append(
            _issue(
                "QuestionnaireResponse.questionnaire",
                f"Onbekende vragenlijst {canonical!r}: deze service kent alleen "
                + ", ".join(sorted(catalog.questionnaires))
                + ".",
                f"Unknown questionnaire {canonical!r}.",
                code="not-found",
            )
        )
        return ValidationResult(None, tuple(issues), index)
    for key in ("subject", "author", "encounter", "source"):
        if key in qr and not (isinstance(qr[key], dict) and (qr[key].get("reference") or qr[key].get("identifier"))):
            issues.append(
                _issue(
                    f"QuestionnaireResponse.{key}",
                    f"{key} moet een referentie zijn.",
                    f"{key} must be a Reference with a reference or identifier.",
                    code="structure",
                )
            )
    if "authored" in qr and not (isinstance(qr["authored"], str) and DATETIME_RE.match(qr["authored"])):
        issues.append(
            _issue(
                "QuestionnaireResponse.authored",
                "authored is geen geldige datum/tijd.",
                "authored is not a valid dateTime.",
                code="value",
            )
        )

    enabled = enabled_items(qdef, index)
    check_required = status in ("completed", "amended")

    def walk(items, allowed: tuple[str, ...], path: str) -> None:
        if items is None:
            return
        if not isinstance(items, list):
            issues.append(
                _issue(path + ".item", "item moet een lijst zijn.", "item must be an array.", code="structure")
            )
            return
        counts: dict[str, int] = {}
        for i, item in enumerate(items):
            ipath = f"{path}.item[{i}]"
            if not isinstance(item, dict) or not isinstance(item.get("linkId"), str):
                issues.append(_issue(ipath, "Item zonder linkId.", "Item without a linkId.", code="structure"))
                continue
            link_id = item["linkId"]
            if link_id not in allowed:
                known = link_id in qdef.items
                issues.append(
                    _issue(
                        ipath,
                        f"linkId {link_id!r} "
                        + ("staat hier niet in de vragenlijst." if known else "bestaat niet in de vragenlijst."),
                        f"linkId {link_id!r} "
                        + ("is not allowed at this place." if known else "is not in the questionnaire."),
                        code="structure",
                    )
                )
                continue
            counts[link_id] = counts.get(link_id, 0) + 1
            check_item(qdef.items[link_id], item, ipath, counts[link_id])

    def check_item(defn: ItemDef, item: dict, path: str, occurrence: int) -> None:
        if occurrence == 2 and not defn.repeats:
            issues.append(
                _issue(
                    path,
                    f"{defn.link_id!r} komt meer dan eens voor.",
                    f"{defn.link_id!r} occurs more than once but does not repeat.",
                    code="structure",
                )
            )
        answers = item.get("answer")
        if defn.type in ("group", "display"):
            if answers:
                issues.append(
                    _issue(
                        path + ".answer",
                        f"{defn.link_id!r} is een {defn.type} en heeft geen antwoord.",
                        f"{defn.link_id!r} is a {defn.type} item and takes no answer.",
                        code="structure",
                    )
                )
            walk(item.get("item"), defn.children, path)
            return
        if item.get("item"):
            issues.append(
                _issue(
                    path + ".item",
                    "Een vraag heeft hier geen sub-items.",
                    "A question item has no nested items here.",
                    code="structure",
                )
            )
        if answers is None:
            return
        if not isinstance(answers, list):
            issues.append(
                _issue(path + ".answer", "answer moet een lijst zijn.", "answer must be an array.", code="structure")
            )
            return
        if answers and not enabled.get(defn.link_id, True):
            issues.append(
                _issue(
                    path,
                    f"{defn.link_id!r} is beantwoord maar staat uit volgens enableWhen.",
                    f"{defn.link_id!r} is answered but disabled by its enableWhen.",
                    code="business-rule",
                )
            )
        if len(answers) > 1 and not defn.repeats:
            issues.append(
                _issue(
                    path + ".answer",
                    f"{defn.link_id!r} mag maar één antwoord hebben.",
                    f"{defn.link_id!r} takes one answer only.",
                    code="structure",
                )
            )
        for j, answer in enumerate(answers):
            apath = f"{path}.answer[{j}]"
            if not isinstance(answer, dict):
                issues.append(_issue(apath, "Ongeldig antwoord.", "An answer must be an object.", code="structure"))
                continue
            keys = [k for k in answer if k.startswith("value")]
            expected = defn.answer_key
            if len(keys) != 1:
                issues.append(
                    _issue(
                        apath,
                        "Een antwoord heeft precies één waarde.",
                        "An answer has exactly one value[x].",
                        code="structure",
                    )
                )
                continue
            key = keys[0]
            allowed_keys = {expected, "valueString"} if defn.type == "open-choice" else {expected}
            if key not in allowed_keys:
                issues.append(
                    _issue(
                        f"{apath}.{key}",
                        f"{defn.link_id!r} verwacht {expected}, niet {key}.",
                        f"{defn.link_id!r} ({defn.type}) takes {expected}, not {key}.",
                        code="value",
                    )
                )
                continue
            value = answer[key]
            if not _check_primitive(key, value):
                issues.append(
                    _issue(
                        f"{apath}.{key}",
                        f"Ongeldige waarde voor {defn.link_id!r}.",
                        f"Invalid {key} for {defn.link_id!r}.",
                        code="value",
                    )
                )
                continue
            if key == "valueCoding" and defn.options and defn.option(value.get("system"), value.get("code")) is None:
                issues.append(
                    _issue(
                        f"{apath}.valueCoding",
                        f"Code {value.get('code')!r} is geen toegestane keuze voor {defn.link_id!r}.",
                        f"Code {value.get('system')}|{value.get('code')} is not an answerOption of {defn.link_id!r}.",
                        code="code-invalid",
                    )
                )
            if key == "valueString" and defn.max_length and len(value) > defn.max_length:
                issues.append(
                    _issue(
                        f"{apath}.valueString",
                        f"Tekst is langer dan {defn.max_length} tekens.",
                        f"Text is longer than maxLength {defn.max_length}.",
                        code="too-long",
                    )
                )
            if answer.get("item"):
                issues.append(
                    _issue(
                        f"{apath}.item",
                        "Geneste vragen onder een antwoord kent deze vragenlijst niet.",
                        "This questionnaire has no questions nested under answers.",
                        code="structure",
                    )
                )

    walk(qr.get("item"), qdef.top, "QuestionnaireResponse")

    if check_required:
        for link_id, defn in qdef.items.items():
            if (
                defn.required
                and enabled.get(link_id)
                and not index.values.get(link_id)
                and defn.type not in ("group", "display")
            ):
                issues.append(
                    _issue(
                        f"QuestionnaireResponse.repeat(item).where(linkId = '{link_id}')",
                        f"Verplichte vraag {link_id!r} ({defn.text}) is niet beantwoord.",
                        f"Required item {link_id!r} has no answer.",
                        code="required",
                    )
                )
    return ValidationResult(qdef, tuple(issues), index)
