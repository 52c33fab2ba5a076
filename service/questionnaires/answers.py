"""Pure: a QuestionnaireResponse's answers indexed by linkId, built in one walk over the items."""

from __future__ import annotations

from dataclasses import dataclass, field


def answer_value(answer: dict):
    """The value[x] of one answer (the first value* key), or None."""
    for key, value in answer.items():
        if key.startswith("value"):
            return value
    return None


@dataclass
class AnswerIndex:
    """linkId -> answer values; group linkId -> linkIds of its boolean items answered true."""

    values: dict[str, list] = field(default_factory=dict)
    ticked: dict[str, list[str]] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)

    def first(self, link_id: str):
        vals = self.values.get(link_id)
        return vals[0] if vals else None

    def code(self, link_id: str) -> str | None:
        value = self.first(link_id)
        return value.get("code") if isinstance(value, dict) else None

    def is_true(self, link_id: str) -> bool:
        return self.first(link_id) is True

    def all_ticked(self) -> list[str]:
        seen: list[str] = []
        for ids in self.ticked.values():
            seen.extend(i for i in ids if i not in seen)
        return seen


def index_answers(qr: dict) -> AnswerIndex:
    """Walk item (and answer.item) trees once. Shape errors are the validator's job: skip them here."""
    index = AnswerIndex()

    def walk(items, group: str | None) -> None:
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
                vals = index.values.setdefault(link_id, [])
                for answer in answers:
                    if isinstance(answer, dict):
                        value = answer_value(answer)
                        if value is not None:
                            vals.append(value)
                            if value is True and group is not None:
                                index.ticked.setdefault(group, []).append(link_id)
                        walk(answer.get("item"), group)
            walk(item.get("item"), link_id)

    walk(qr.get("item"), None)
    return index
