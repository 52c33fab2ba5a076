"""Seeded random mutations of valid responses: the API answers 2xx or 4xx with an OperationOutcome, never 5xx."""

from __future__ import annotations

import copy
import json
import random

import pytest

from tests.factories import make_qr

ODD_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    2**40,
    1.5,
    "",
    "x",
    "2027-02-30",
    "2027",
    [],
    {},
    [1],
    {"a": 1},
    {"code": 5},
    {"system": None, "code": None},
    "\u0000",
    "ü" * 3000,
]


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, path + (i,))


def _mutate(doc, rng: random.Random):
    doc = copy.deepcopy(doc)
    paths = [p for p in _paths(doc) if p]
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(paths)
        parent = doc
        try:
            for step in path[:-1]:
                parent = parent[step]
            action = rng.random()
            if action < 0.6:
                parent[path[-1]] = rng.choice(ODD_VALUES)
            elif isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif isinstance(parent, list) and parent:
                parent.pop(path[-1] if path[-1] < len(parent) else -1)
        except (KeyError, IndexError, TypeError):
            continue
    return doc


@pytest.mark.parametrize("seed", range(8))
def test_mutated_responses_never_give_a_server_error(client, seed):
    rng = random.Random(seed)
    base = make_qr(signals=("homeless", "single-mother"), note="n", override="urgent", override_reason="r", children=1)
    for _ in range(60):
        body = json.dumps(_mutate(base, rng))
        for op in ("$validate", "$evaluate", "$extract"):
            r = client.post(
                f"/fhir/QuestionnaireResponse/{op}", data=body, headers={"Content-Type": "application/fhir+json"}
            )
            assert r.status_code < 500, (op, body[:500], r.get_data(as_text=True)[:500])
            assert r.mimetype == "application/fhir+json"
