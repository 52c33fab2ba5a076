"""The validator builds the answer index in its own walk: it must be the index `index_answers` builds, for any input.

Responses of every shape (misplaced and unknown linkIds, repeated items, answers of the wrong type or doubled,
items nested under answers and under questions, non-lists where lists belong), seeded and bounded.
"""

from __future__ import annotations

import copy
import json
import random

from benchmarks.extract import realistic_mix
from service.questionnaires.answers import index_answers
from service.questionnaires.validate import enabled_items, validate_response

LINK_IDS = [
    "phase",
    "due-date",
    "homeless",
    "urgent-signals",
    "other-signals",
    "context",
    "nope",
    "note",
    "consent-given",
]
VALUES = [True, False, 1, 2.5, "x", "", "2026-13-01", "2024-02-29", {"code": "zzz"}, {}, None, [1]]
KEYS = ["valueBoolean", "valueString", "valueCoding", "valueDate", "valueInteger", "valueFoo", "value", "_valueBoolean"]


def _items(qr: dict) -> list[dict]:
    found: list[dict] = []

    def walk(items: object) -> None:
        if isinstance(items, list):
            for item in items:
                if isinstance(item, dict):
                    found.append(item)
                    walk(item.get("item"))
                    answers = item.get("answer")
                    for answer in answers if isinstance(answers, list) else ():
                        if isinstance(answer, dict):
                            walk(answer.get("item"))

    walk(qr.get("item"))
    return found


def _mutate(rng: random.Random, qr: dict) -> dict:
    qr = copy.deepcopy(qr)
    for _ in range(rng.randint(1, 4)):
        items = _items(qr)
        if not items:
            break
        item = rng.choice(items)
        match rng.randrange(10):
            case 0:
                item["linkId"] = rng.choice([*LINK_IDS, 5, None])
            case 1:
                item["answer"] = [{rng.choice(KEYS): rng.choice(VALUES)} for _ in range(rng.randint(0, 2))]
            case 2:
                item["answer"] = [{rng.choice(KEYS): rng.choice(VALUES), rng.choice(KEYS): rng.choice(VALUES)}]
            case 3:
                item.setdefault("answer", []).append(
                    {
                        "valueBoolean": True,
                        "item": [{"linkId": rng.choice(LINK_IDS), "answer": [{"valueBoolean": True}]}],
                    }
                )
            case 4:
                item["item"] = [{"linkId": rng.choice(LINK_IDS), "answer": [{"valueBoolean": rng.random() < 0.5}]}]
            case 5:
                qr["item"].append(copy.deepcopy(item))
            case 6:
                item["answer"] = rng.choice([{}, "x", None, [], ["x"], [None]])
            case 7:
                item["item"] = rng.choice(["x", None, [], [1], [{"linkId": 3}]])
            case 8:
                item.pop("answer", None)
            case _:
                qr["status"] = rng.choice(["in-progress", "completed", "amended"])
    return qr


def test_the_validators_index_is_index_answers(engine):
    rng = random.Random(41)
    docs = [json.loads(d) for d in realistic_mix(200, seed=41)]
    for _ in range(1500):
        qr = _mutate(rng, rng.choice(docs))
        result = validate_response(qr, engine.catalog)
        assert result.index == index_answers(qr)
        if result.questionnaire is not None:
            enabled = enabled_items(result.questionnaire, result.index)
            assert list(enabled) == list(result.questionnaire.items) or set(enabled) == set(result.questionnaire.items)
            disabled = [i for i in result.issues if i.code == "business-rule"]
            assert all(not enabled[i.text.split("'")[1]] for i in disabled)
