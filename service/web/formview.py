"""Pure: the Questionnaire's items as the form template renders them (control, options, hints, state)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from service.questionnaires.catalog import ItemDef, QuestionnaireDef
from service.questionnaires.form import date_for_field
from service.texts import pick, text

ITEM_CONTROL = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl"


def item_control(item: ItemDef) -> str | None:
    for ext in item.raw.get("extension", ()):
        if ext.get("url") == ITEM_CONTROL:
            for coding in (ext.get("valueCodeableConcept") or {}).get("coding", ()):
                return coding.get("code")
    return None


def control_of(item: ItemDef) -> str:
    """How an item is shown: group, display, checkbox, radio, select, date, number, textarea, text."""
    if item.type in ("group", "display"):
        return item.type
    if item.type == "boolean":
        return "checkbox"
    if item.type in ("choice", "open-choice"):
        control = item_control(item)
        if control in ("drop-down", "autocomplete"):
            return "select"
        if control in ("radio-button", "check-box"):
            return "radio"
        return "radio" if item.required else "select"  # an optional choice needs a way back to "no answer"
    return {"date": "date", "integer": "number", "decimal": "number", "text": "textarea"}.get(item.type, "text")


def lower_first(label: str) -> str:
    """An item's label inside a sentence: "Huiselijk geweld" → "huiselijk geweld"; "POH Jeugd" stays."""
    return label[0].lower() + label[1:] if len(label) > 1 and label[1].islower() else label


def enable_hint(qdef: QuestionnaireDef, item: ItemDef, lang: str) -> str | None:
    """When to fill in an item with enableWhen, short: "Alleen bij huiselijk geweld of betrokkenheid Veilig Thuis in
    anamnese."; with more than two conditions one general sentence. Shown inside the item, so it hides with it when
    JavaScript hides the item; without JavaScript every item shows with its hint."""
    if not item.enable_when or item.type == "display":  # a text to read (the opening sentence) is not filled in
        return None
    if len(item.enable_when) > 2:
        all_ticked = item.enable_behavior == "any" and all(
            cond.get("answerBoolean") is True and cond.get("operator") == "=" for cond in item.enable_when
        )
        return text("form.hint.several_ticked" if all_ticked else "form.hint.several", lang)
    parts = []
    for cond in item.enable_when:
        q = qdef.items.get(str(cond.get("question")))
        qtext = pick(lang, q.text, q.text_en) if q else str(cond.get("question"))
        op = cond.get("operator")
        if "answerBoolean" in cond and op == "=":
            if cond["answerBoolean"] and q is not None and q.codes:  # a signal (coded): "bij huiselijk geweld"
                parts.append(text("form.hint.ticked", lang, question=lower_first(qtext)))
            elif cond["answerBoolean"]:
                parts.append(text("form.hint.ticked_item", lang, question=qtext))
            else:
                parts.append(text("form.hint.not_ticked", lang, question=qtext))
        elif "answerCoding" in cond and op == "=":
            option = q.option(None, cond["answerCoding"].get("code")) if q else None
            answer = (
                pick(lang, option.get("display", ""), option.get("display_en"))
                if option
                else cond["answerCoding"].get("code")
            )
            parts.append(text("form.hint.chosen", lang, question=lower_first(qtext), answer=answer))
        elif op == "exists":
            parts.append(text("form.hint.filled_in", lang, question=qtext))
        else:
            parts.append(text("form.hint.question", lang, question=qtext))
    joiner = text("form.hint.any" if item.enable_behavior == "any" else "form.hint.all", lang)
    return text("form.hint.only_if", lang, conditions=joiner.join(parts))


def _answered(fields: Mapping[str, list[str]], cond: dict) -> list[str]:
    return [v for v in fields.get(str(cond.get("question")), ()) if isinstance(v, str) and v != ""]


def shown_now(qdef: QuestionnaireDef, item: ItemDef, fields: Mapping[str, list[str]], depth: int = 0) -> bool:
    """Whether a display item's enableWhen holds for the answers in the form now (as app.js decides live): the
    page without JavaScript shows the one opening sentence that fits. A question counts only while it is
    enabled itself (the intention only in the preconception phase)."""
    if not item.enable_when or depth > 10:
        return True
    results = []
    for cond in item.enable_when:
        q = qdef.items.get(str(cond.get("question")))
        values = _answered(fields, cond) if q is not None and shown_now(qdef, q, fields, depth + 1) else []
        expected = next((v for k, v in cond.items() if k.startswith("answer")), None)
        op = cond.get("operator")
        if op == "exists":
            results.append(bool(values) == bool(expected))
            continue
        if isinstance(expected, bool):  # a tick box sends "true" when ticked, nothing when not
            equal = ("true" in values) == expected
        else:
            equal = (expected.get("code") if isinstance(expected, dict) else str(expected)) in values
        results.append(not equal if op == "!=" else equal)
    return any(results) if item.enable_behavior == "any" else all(results)


def enable_data(item: ItemDef) -> str | None:
    """enableWhen for app.js, as JSON in a data attribute: question, operator, expected value."""
    if not item.enable_when:
        return None
    conds = []
    for cond in item.enable_when:
        value = next((v for k, v in cond.items() if k.startswith("answer")), None)
        if isinstance(value, dict):
            value = value.get("code")
        conds.append({"q": cond.get("question"), "op": cond.get("operator"), "v": value})
    return json.dumps({"behavior": item.enable_behavior, "when": conds}, separators=(",", ":"))


@dataclass(frozen=True, kw_only=True)
class ItemView:
    link_id: str
    control: str
    text: str
    required: bool
    hint: str | None
    enable: str | None
    options: tuple[tuple[str, str], ...]  # (code, label)
    values: tuple[str, ...]
    error: str | None
    max_length: int | None
    suggestion: dict | None
    children: tuple[ItemView, ...]
    hidden: bool = False  # a display item whose enableWhen does not hold now (service/web/formview.py shown_now)

    @property
    def value(self) -> str:
        return self.values[0] if self.values else ""

    @property
    def field_id(self) -> str:
        """The id the error summary links to (the first radio button of a radio group)."""
        if self.control == "radio" and self.options:
            return f"f-{self.link_id}-{self.options[0][0]}"
        return f"f-{self.link_id}"

    @property
    def signal_group(self) -> bool:
        return self.control == "group" and bool(self.children) and all(c.control == "checkbox" for c in self.children)


def item_views(
    qdef: QuestionnaireDef,
    fields: Mapping[str, list[str]],
    lang: str,
    *,
    errors: Mapping[str, str] | None = None,
    suggestions: Mapping[str, dict] | None = None,
) -> list[ItemView]:
    errors = errors or {}
    suggestions = suggestions or {}

    def view(link_id: str) -> ItemView:
        item = qdef.items[link_id]
        control = control_of(item)
        values = tuple(v for v in fields.get(link_id, ()) if isinstance(v, str))
        if control == "date":  # dd-mm-jjjj whatever the browser's locale, also for a draft's yyyy-mm-dd
            values = tuple(date_for_field(v) for v in values)
        return ItemView(
            link_id=link_id,
            control=control,
            text=pick(lang, item.text, item.text_en),
            required=item.required,
            hint=enable_hint(qdef, item, lang),
            enable=enable_data(item),
            options=tuple(
                (o["code"], pick(lang, o.get("display", o["code"]), o.get("display_en"))) for o in item.options
            ),
            values=values,
            error=errors.get(link_id),
            max_length=item.max_length,
            suggestion=suggestions.get(link_id),
            children=tuple(view(c) for c in item.children),
            hidden=item.type == "display" and not shown_now(qdef, item, fields),
        )

    return [view(lid) for lid in qdef.top]
