"""Pure: check a QuestionnaireResponse against its Questionnaire and report every problem at once.

Follows the R4 QuestionnaireResponse rules (https://hl7.org/fhir/R4/questionnaireresponse.html#invs) and
the checks SDC lists on its validation page: unknown linkIds, answer types, answerOption codes,
answers to disabled items (enableWhen), missing required items, repeats, maxLength.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from service.errors import Issue
from service.fhir import models
from service.questionnaires.answers import AnswerIndex, index_answer, index_answer_list, index_answers, index_items
from service.questionnaires.catalog import Catalog, ItemDef, QuestionnaireDef
from service.texts import Text, texts

QR_STATUSES = {"in-progress", "completed", "amended", "entered-in-error", "stopped"}
DATE_RE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
DATETIME_RE = re.compile(
    r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])(T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00)))?)?)?$"
)
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?$")


def _check_primitive(key: str, value: Any) -> bool:
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


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict):  # Coding: system + code
        if not isinstance(actual, dict):
            return False
        same = actual.get("code") == expected.get("code") and (
            not expected.get("system") or actual.get("system") == expected.get("system")
        )
        return same if op == "=" else (not same if op == "!=" else False)
    if op == "=":
        return bool(actual == expected)
    if op == "!=":
        return bool(actual != expected)
    try:
        return bool(
            {">": actual > expected, "<": actual < expected, ">=": actual >= expected, "<=": actual <= expected}[op]
        )
    except TypeError:
        return False


@dataclass(frozen=True, slots=True)
class _Condition:
    """One enableWhen (https://hl7.org/fhir/R4/questionnaire-definitions.html#Questionnaire.item.enableWhen)."""

    question: Any
    op: Any
    expected: Any

    @classmethod
    def of(cls, cond: dict[str, Any]) -> _Condition:
        expected = next((v for k, v in cond.items() if k.startswith("answer")), None)
        return cls(cond.get("question"), cond.get("operator"), expected)

    def holds(self, index: AnswerIndex, enabled: dict[str, bool]) -> bool:
        question = self.question
        answers = index.values.get(question, []) if enabled.get(question, True) else []
        op, expected = self.op, self.expected
        if op == "exists":
            return bool(answers) == bool(expected)
        if op == "=":  # the common case, as _compare has it
            if not isinstance(expected, dict):
                return any(a == expected for a in answers)
            code, system = expected.get("code"), expected.get("system")
            for a in answers:
                if isinstance(a, dict) and a.get("code") == code and (not system or a.get("system") == system):
                    return True
            return False
        # R4: with "!=", no answer at all also counts as "not equal".
        if op == "!=":
            return all(_compare("=", a, expected) is False for a in answers)
        return any(_compare(op, a, expected) for a in answers)


@dataclass(frozen=True, slots=True)
class _ItemPlan:
    """What checking one item needs, worked out once per Questionnaire."""

    defn: ItemDef
    link_id: str
    parent: str | None
    container: bool  # a group or display item: takes no answer
    repeats: bool
    children: frozenset[str]
    allowed_keys: frozenset[str | None]
    conditions: tuple[_Condition, ...]
    any_behavior: bool
    may_disable: bool  # it or an item above it has an enableWhen
    plain: bool  # a question with no answerOptions or maxLength to check


@dataclass(frozen=True, slots=True, kw_only=True)
class _Plan:
    items: dict[str, _ItemPlan]
    order: tuple[_ItemPlan, ...]  # document order, parents before children
    top: frozenset[str]
    required: tuple[ItemDef, ...]  # required questions, in the order of QuestionnaireDef.items
    always: dict[str, bool]  # every linkId enabled, in document order
    conditional: tuple[_ItemPlan, ...]  # the items that may be disabled, in document order


def _make_plan(qdef: QuestionnaireDef) -> _Plan:
    order: list[_ItemPlan] = []

    def visit(link_id: str, parent: str | None, parent_may_disable: bool) -> None:
        item = qdef.items[link_id]
        expected = item.answer_key
        plan = _ItemPlan(
            defn=item,
            link_id=link_id,
            parent=parent,
            container=item.type in ("group", "display"),
            repeats=item.repeats,
            children=frozenset(item.children),
            allowed_keys=frozenset({expected, "valueString"} if item.type == "open-choice" else {expected}),
            conditions=tuple(_Condition.of(c) for c in item.enable_when),
            any_behavior=item.enable_behavior == "any",
            may_disable=parent_may_disable or bool(item.enable_when),
            plain=item.type not in ("group", "display") and not item.options and not item.max_length,
        )
        order.append(plan)
        for child in item.children:
            visit(child, link_id, plan.may_disable)

    # Items are visited in document order, so questions a later item depends on are settled first
    # (our Questionnaire only refers backwards).
    for top in qdef.top:
        visit(top, None, False)
    required = tuple(d for d in qdef.items.values() if d.required and d.type not in ("group", "display"))
    return _Plan(
        items={p.link_id: p for p in order},
        order=tuple(order),
        top=frozenset(qdef.top),
        required=required,
        always=dict.fromkeys((p.link_id for p in order), True),
        conditional=tuple(p for p in order if p.may_disable),
    )


_PLANS: dict[int, tuple[QuestionnaireDef, _Plan]] = {}


def _plan(qdef: QuestionnaireDef) -> _Plan:
    """The plan of a Questionnaire, made on first use (the entry keeps `qdef` alive, so its id stays its own)."""
    entry = _PLANS.get(id(qdef))
    if entry is None or entry[0] is not qdef:
        if len(_PLANS) >= 64:
            _PLANS.clear()
        entry = _PLANS[id(qdef)] = (qdef, _make_plan(qdef))
    return entry[1]


def _enabled(plan: _Plan, index: AnswerIndex) -> dict[str, bool]:
    # Only the items that may be disabled need working out: an item not yet visited counts as enabled
    # (`enabled.get(question, True)`) either way.
    enabled = dict(plan.always)
    for item in plan.conditional:
        state = True if item.parent is None else enabled[item.parent]
        if state and item.conditions:
            results = [c.holds(index, enabled) for c in item.conditions]
            state = any(results) if item.any_behavior else all(results)
        enabled[item.link_id] = state
    return enabled


def enabled_items(qdef: QuestionnaireDef, index: AnswerIndex) -> dict[str, bool]:
    """Which items are enabled, parents before children; a disabled group disables all below it."""
    return _enabled(_plan(qdef), index)


@dataclass(frozen=True)
class ValidationResult:
    questionnaire: QuestionnaireDef | None
    issues: tuple[Issue, ...]
    index: AnswerIndex

    @property
    def ok(self) -> bool:
        return not any(i.severity in ("error", "fatal") for i in self.issues)


def _issue(path: str, text: Text, code: str = "invalid", severity: str = "error") -> Issue:
    """An issue at `path` with the catalogue's texts (service/texts.py texts("validate.…"))."""
    return Issue.of(text, severity=severity, code=code, expression=(path,))


def validate_response(qr: Any, catalog: Catalog, *, structural: bool = False) -> ValidationResult:
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
            Issue.of(texts("validate.fhir_element", error=i.text), code="structure", expression=i.expression)
            for i in extra
        ]
        if extra:
            return ValidationResult(result.questionnaire, result.issues + tuple(extra), result.index)
    return result


def _validate(qr: object, catalog: Catalog) -> ValidationResult:
    if not isinstance(qr, dict) or qr.get("resourceType") != "QuestionnaireResponse":
        got = qr.get("resourceType") if isinstance(qr, dict) else type(qr).__name__
        issue = _issue("QuestionnaireResponse", texts("validate.not_a_response", got=got), code="structure")
        return ValidationResult(None, (issue,), index_answers(qr) if isinstance(qr, dict) else AnswerIndex())
    issues = _status_issues(qr)
    canonical = qr.get("questionnaire")
    qdef = catalog.find(canonical) if isinstance(canonical, str) else None
    if qdef is None:
        issues.append(
            _issue(
                "QuestionnaireResponse.questionnaire",
                texts(
                    "validate.unknown_questionnaire",
                    canonical=canonical,
                    known=", ".join(sorted(catalog.questionnaires)),
                ),
                code="not-found",
            )
        )
        return ValidationResult(None, tuple(issues), index_answers(qr))
    issues += _header_issues(qr)
    return _ItemCheck(qdef, issues).run(qr)


def _status_issues(qr: dict[str, Any]) -> list[Issue]:
    status = qr.get("status")
    if isinstance(status, str) and status in QR_STATUSES:  # (a JSON object or array is not hashable)
        return []
    if status is None:
        return [_issue("QuestionnaireResponse.status", texts("validate.status_missing"), code="required")]
    return [_issue("QuestionnaireResponse.status", texts("validate.status", status=_shown(status)), code="value")]


def _shown(value: Any) -> str:
    """A value from the request for a text: a string as it is, anything else as JSON writes it (never Python's
    repr: "['x']", "None"); at most 80 characters."""
    return (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))[:80]


def _is_reference(value: Any) -> bool:
    """A Reference with a reference (a string) or an identifier."""
    if not isinstance(value, dict):
        return False
    reference = value.get("reference")
    return bool(reference or value.get("identifier")) and (reference is None or isinstance(reference, str))


def _header_issues(qr: dict[str, Any]) -> list[Issue]:
    """The references and `authored` of the response."""
    issues = []
    for key in ("subject", "author", "encounter", "source"):
        if key in qr and not _is_reference(qr[key]):
            issues.append(
                _issue(f"QuestionnaireResponse.{key}", texts("validate.not_a_reference", key=key), code="structure")
            )
    if "authored" in qr and not (isinstance(qr["authored"], str) and DATETIME_RE.match(qr["authored"])):
        issues.append(_issue("QuestionnaireResponse.authored", texts("validate.authored"), code="value"))
    return issues


class _ItemCheck:
    """One walk over the item tree: every item checked against its definition and the answer index built.

    Whether an item is enabled depends on answers anywhere in the response, so the answered items are noted
    as they come (with where their issue would go) and checked against enableWhen once the index is complete.
    """

    __slots__ = ("index", "issues", "pending", "plan", "qdef")

    def __init__(self, qdef: QuestionnaireDef, issues: list[Issue]):
        self.qdef, self.plan, self.issues = qdef, _plan(qdef), issues
        self.index = AnswerIndex()
        # Answered items that may be disabled: (position in issues, linkId, the path of the list holding it, index).
        self.pending: list[tuple[int, str, str, int]] = []

    def run(self, qr: dict[str, Any]) -> ValidationResult:
        self.items(qr.get("item"), self.plan.top, "QuestionnaireResponse", None)
        issues, index = self.issues, self.index
        enabled = _enabled(self.plan, index)
        for position, link_id, parent, i in reversed(self.pending):
            if not enabled.get(link_id, True):
                issues.insert(
                    position,
                    _issue(f"{parent}.item[{i}]", texts("validate.disabled", link_id=link_id), code="business-rule"),
                )
        if qr.get("status") in ("completed", "amended"):
            issues += _required_issues(qr, self.plan, index, enabled)
        return ValidationResult(self.qdef, tuple(issues), index)

    def items(self, items: object, allowed: frozenset[str], path: str, group: str | None) -> None:
        """An item list; `group` is the linkId of the item holding it (None at the top)."""
        if items is None:
            return
        if not isinstance(items, list):
            self.issues.append(_issue(path + ".item", texts("validate.items_not_a_list"), code="structure"))
            return
        counts: dict[str, int] = {}
        plans, present, values = self.plan.items, self.index.present, self.index.values
        for i, item in enumerate(items):
            link_id = item.get("linkId") if isinstance(item, dict) else None
            if not isinstance(link_id, str):
                self.issues.append(_issue(f"{path}.item[{i}]", texts("validate.no_link_id"), code="structure"))
                continue
            present.add(link_id)
            if link_id not in allowed:
                self._misplaced(item, link_id, f"{path}.item[{i}]", group)
                continue
            plan = plans[link_id]
            if link_id in counts or not plan.plain or len(item) != 2:
                self._item(plan, item, path, i, group, counts)
                continue
            counts[link_id] = 1
            # The common case, checked and indexed at once: an item with exactly one well-typed answer and nothing
            # else, and no options or length to check.
            answers = item.get("answer")
            if type(answers) is list and len(answers) == 1 and type(answers[0]) is dict and len(answers[0]) == 1:
                ((key, value),) = answers[0].items()
                if key in plan.allowed_keys and (
                    value is True or value is False if key == "valueBoolean" else _check_primitive(key, value)
                ):
                    if plan.may_disable:
                        self.pending.append((len(self.issues), link_id, path, i))
                    vals = values.get(link_id)
                    if vals is None:
                        values[link_id] = [value]
                    else:
                        vals.append(value)
                    if value is True and group is not None:
                        self.index.ticked.setdefault(group, []).append(link_id)
                    continue
            self._question(plan, item, path, i, group)

    def _item(
        self, plan: _ItemPlan, item: dict[str, Any], path: str, i: int, group: str | None, counts: dict[str, int]
    ) -> None:
        """Any item: counted (a second one of an item that does not repeat is an issue), then checked."""
        link_id = plan.link_id
        count = counts[link_id] = counts.get(link_id, 0) + 1
        if count == 2 and not plan.repeats:
            self.issues.append(
                _issue(f"{path}.item[{i}]", texts("validate.repeated", link_id=link_id), code="structure")
            )
        if plan.container:
            self._container(plan, item, f"{path}.item[{i}]", group)
        else:
            self._question(plan, item, path, i, group)

    def _misplaced(self, item: dict[str, Any], link_id: str, path: str, group: str | None) -> None:
        key = "validate.misplaced" if link_id in self.qdef.items else "validate.unknown_link_id"
        self.issues.append(_issue(path, texts(key, link_id=link_id), code="structure"))
        answers = item.get("answer")  # not checked, but in the index all the same
        if isinstance(answers, list):
            index_answer_list(self.index, link_id, answers, group)
        index_items(self.index, item.get("item"), link_id)

    def _container(self, plan: _ItemPlan, item: dict[str, Any], path: str, group: str | None) -> None:
        """A group or display item: no answers, its items checked in turn."""
        answers = item.get("answer")
        if answers:
            self.issues.append(
                _issue(
                    _first(path + ".answer", answers),
                    texts("validate.container_answered", link_id=plan.link_id, kind=plan.defn.type),
                    code="structure",
                )
            )
        if isinstance(answers, list):
            index_answer_list(self.index, plan.link_id, answers, group)
        self.items(item.get("item"), plan.children, path, plan.link_id)

    def _question(self, plan: _ItemPlan, item: dict[str, Any], parent: str, i: int, group: str | None) -> None:
        link_id, issues, path = plan.link_id, self.issues, f"{parent}.item[{i}]"
        nested = item.get("item")
        if nested:
            issues.append(_issue(_first(path + ".item", nested), texts("validate.question_items"), code="structure"))
        answers = item.get("answer")
        if isinstance(answers, list):
            if answers and plan.may_disable:
                self.pending.append((len(issues), link_id, parent, i))
            if len(answers) > 1 and not plan.repeats:
                issues.append(
                    _issue(
                        path + ".answer[1]",  # the first answer too many (a simple FHIRPath selects one node)
                        texts("validate.one_answer", link_id=link_id),
                        code="structure",
                    )
                )
            self._answers(plan, answers, path, group)
        elif answers is not None:
            issues.append(_issue(path + ".answer", texts("validate.answers_not_a_list"), code="structure"))
        index_items(self.index, nested, link_id)  # not allowed, but in the index all the same

    def _answers(self, plan: _ItemPlan, answers: list[Any], path: str, group: str | None) -> None:
        index, link_id = self.index, plan.link_id
        vals = index.values.setdefault(link_id, [])
        for j, answer in enumerate(answers):
            if not isinstance(answer, dict):
                self.issues.append(
                    _issue(f"{path}.answer[{j}]", texts("validate.answer_not_an_object"), code="structure")
                )
                continue
            keys = [k for k in answer if k.startswith("value")]
            index_answer(index, link_id, vals, answer[keys[0]] if keys else None, group)
            sub = answer.get("item")
            index_items(index, sub, group)
            if len(keys) == 1 and keys[0] in plan.allowed_keys and _check_primitive(keys[0], answer[keys[0]]):
                if plan.defn.options or plan.defn.max_length or sub:
                    self._answer_details(plan.defn, keys[0], answer[keys[0]], sub, f"{path}.answer[{j}]")
            else:
                self.issues.append(_answer_issue(plan.defn, keys, answer, f"{path}.answer[{j}]"))

    def _answer_details(self, defn: ItemDef, key: str, value: Any, sub: Any, apath: str) -> None:
        """The checks of a well-typed answer: its code among the options, its length, nothing nested under it."""
        issues = self.issues
        if key == "valueCoding" and defn.options and defn.option(value.get("system"), value.get("code")) is None:
            issues.append(
                _issue(
                    f"{apath}.valueCoding",
                    texts(
                        "validate.code",
                        system=value.get("system") or "",
                        code=_shown(value.get("code")),
                        link_id=defn.link_id,
                    ),
                    code="code-invalid",
                )
            )
        if key == "valueString" and defn.max_length and len(value) > defn.max_length:
            issues.append(
                _issue(f"{apath}.valueString", texts("validate.too_long", max_length=defn.max_length), code="too-long")
            )
        if sub:
            issues.append(_issue(f"{apath}.item", texts("validate.answer_items"), code="structure"))


def _answer_issue(defn: ItemDef, keys: list[str], answer: dict[str, Any], apath: str) -> Issue:
    """What is wrong with an answer whose value[x] is missing, doubled, of the wrong type or malformed."""
    if len(keys) != 1:
        return _issue(apath, texts("validate.one_value"), code="structure")
    key, expected = keys[0], defn.answer_key
    allowed_keys = {expected, "valueString"} if defn.type == "open-choice" else {expected}
    if key not in allowed_keys:
        return _issue(
            f"{apath}.{key}", texts("validate.wrong_type", defn=defn, expected=expected, key=key), code="value"
        )
    return _issue(f"{apath}.{key}", texts("validate.invalid_value", link_id=defn.link_id, key=key), code="value")


def _first(location: str, value: object) -> str:
    """`location` of a list as the simple FHIRPath of its first element (one node, as issue.expression asks)."""
    return f"{location}[0]" if isinstance(value, list) and value else location


def item_location(qr: dict[str, Any], chain: tuple[str, ...]) -> str:
    """Where an item of the Questionnaire is (or belongs) in a response, as the simple FHIRPath R4 asks of
    OperationOutcome.issue.expression ("element names, repetition indicators and the default child accessor",
    operationoutcome-definitions.html#OperationOutcome.issue.expression): the item itself when the response has
    it, else the deepest of its groups that it has (where the answer is missing), else the response.
    `chain`: the item's linkIds from the top of the Questionnaire down to itself (ItemDef.path)."""
    location, items = "QuestionnaireResponse", qr.get("item")
    for link_id in chain:
        if not isinstance(items, list):
            break
        at = next((i for i, it in enumerate(items) if isinstance(it, dict) and it.get("linkId") == link_id), None)
        if at is None:
            break
        location, items = f"{location}.item[{at}]", items[at].get("item")
    return location


def _required_issues(qr: dict[str, Any], plan: _Plan, index: AnswerIndex, enabled: dict[str, bool]) -> list[Issue]:
    return [
        _issue(item_location(qr, defn.path), texts("validate.required", defn=defn), code="required")
        for defn in plan.required
        if enabled.get(defn.link_id) and not index.values.get(defn.link_id)
    ]
