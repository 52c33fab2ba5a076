"""Pure: the Questionnaire's items as the form template renders them (control, options, hints, state)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from service.questionnaires.catalog import ItemDef, QuestionnaireDef
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


def enable_hint(qdef: QuestionnaireDef, item: ItemDef, lang: str) -> str | None:
    """'Alleen invullen als …' for an item with enableWhen (shown always: the form must work without JS)."""
    if not item.enable_when:
        return None
    parts = []
    for cond in item.enable_when:
        q = qdef.items.get(str(cond.get("question")))
        qtext = pick(lang, q.text, q.text_en) if q else cond.get("question")
        op = cond.get("operator")
        if "answerBoolean" in cond and op == "=":
            key = "form.hint.ticked" if cond["answerBoolean"] else "form.hint.not_ticked"
            parts.append(text(key, lang, question=qtext))
        elif "answerCoding" in cond and op == "=":
            option = q.option(None, cond["answerCoding"].get("code")) if q else None
            answer = (
                pick(lang, option.get("display", ""), option.get("display_en"))
                if option
                else cond["answerCoding"].get("code")
            )
            parts.append(text("form.hint.chosen", lang, question=qtext, answer=answer))
        elif op == "exists":
            parts.append(text("form.hint.filled_in", lang, question=qtext))
        else:
            parts.append(text("form.hint.question", lang, question=qtext))
    joiner = text("form.hint.any" if item.enable_behavior == "any" else "form.hint.all", lang)
    return text("form.hint.only_if", lang, conditions=joiner.join(parts))


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
        return ItemView(
            link_id=link_id,
            control=control_of(item),
            text=pick(lang, item.text, item.text_en),
            required=item.required,
            hint=enable_hint(qdef, item, lang),
            enable=enable_data(item),
            options=tuple(
                (o["code"], pick(lang, o.get("display", o["code"]), o.get("display_en"))) for o in item.options
            ),
            values=tuple(v for v in fields.get(link_id, ()) if isinstance(v, str)),
            error=errors.get(link_id),
            max_length=item.max_length,
            suggestion=suggestions.get(link_id),
            children=tuple(view(c) for c in item.children),
        )

    return [view(lid) for lid in qdef.top]
