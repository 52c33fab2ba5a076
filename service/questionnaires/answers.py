"""Pure: a QuestionnaireResponse's answers indexed by linkId, built in one walk over the items.

`index_answers` walks a response for the index alone; the validator (validate.py) builds the same index in
its own single walk, with `index_items` and `index_answer_list` for the parts it does not check itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def answer_value(answer: dict[str, Any]) -> Any:
    """The value[x] of one answer (the first value* key), or None."""
    for key, value in answer.items():
        if key.startswith("value"):
            return value
    return None


@dataclass
class AnswerIndex:
    """linkId -> answer values; group linkId -> linkIds of its boolean items answered true."""

    values: dict[str, list[Any]] = field(default_factory=dict)
    ticked: dict[str, list[str]] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)

    def first(self, link_id: str) -> Any:
        vals = self.values.get(link_id)
        return vals[0] if vals else None

    def code(self, link_id: str) -> str | None:
        value = self.first(link_id)
        if isinstance(value, dict):
            code: str | None = value.get("code")
            return code
        return None

    def is_true(self, link_id: str) -> bool:
        return self.first(link_id) is True

    def all_ticked(self) -> list[str]:
        seen: list[str] = []
        for ids in self.ticked.values():
            seen.extend(i for i in ids if i not in seen)
        return seen


def index_answers(qr: dict[str, Any]) -> AnswerIndex:
    """Walk item (and answer.item) trees once. Shape errors are the validator's job: skip them here."""
    index = AnswerIndex()
    index_items(index, qr.get("item"), None)
    return index


def index_items(index: AnswerIndex, items: object, group: str | None) -> None:
    """Add an item list (and everything below it) to `index`; `group` is the linkId of the item holding it."""
    if not isinstance(items, list):
        return
    for item in items:
        if not isinstance(item, dict):
            continue
        link_id = item.get("linkId")
        if not isinstance(link_id, str):
            continue
        index.present.add(link_id)
        answers = item.get("answer")
        if isinstance(answers, list):
            index_answer_list(index, link_id, answers, group)
        sub = item.get("item")
        if sub is not None:
            index_items(index, sub, link_id)


def index_answer_list(index: AnswerIndex, link_id: str, answers: list[Any], group: str | None) -> None:
    """The answers of one item: their values, `link_id` as ticked in `group` when true, the items under them."""
    vals = index.values.setdefault(link_id, [])
    for answer in answers:
        if isinstance(answer, dict):
            for key, value in answer.items():  # answer_value, inline: the first value[x]
                if key.startswith("value"):
                    if value is not None:
                        vals.append(value)
                        if value is True and group is not None:
                            index.ticked.setdefault(group, []).append(link_id)
                    break
            sub = answer.get("item")
            if sub is not None:
                index_items(index, sub, group)


def index_answer(index: AnswerIndex, link_id: str, vals: list[Any], value: Any, group: str | None) -> None:
    """One answer's value (None: it has none)."""
    if value is not None:
        vals.append(value)
        if value is True and group is not None:
            index.ticked.setdefault(group, []).append(link_id)
