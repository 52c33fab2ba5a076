"""The Python closures (service/rules/native.py) give what plain fhirpathpy gives, or fall back to it.

Every expression of every rule file compiles to closures; over every golden response, a realistic mix and
dates chosen to be awkward, under every rule set, each closure's collection and truth equal plain fhirpathpy's
over %resource in the same environment. Beyond the rule files: the subset's operators over environments of
every shape, where a closure either agrees with fhirpathpy or declines (Fallback), never differs.
"""

from __future__ import annotations

import copy
import json
from datetime import date

import pytest

import service.rules.fhirpath as fp
from benchmarks.extract import realistic_mix
from service.referrals.pipeline import reference_date
from service.rules.evaluate import evaluate_rules, rule_evaluator
from service.rules.native import Fallback
from tests.factories import make_qr
from tests.rules.test_standard_fhirpath import accepted_responses

AWKWARD_DATES = ["2024-02-29", "2022-02-28", "2022-11-20", "2022-11-21", "2022-11-19", "2024", "2022-11", "2030-01-01"]


def _responses(engine) -> list[tuple[str, dict]]:
    out = accepted_responses(engine)
    out += [(f"mix-{i}", json.loads(d)) for i, d in enumerate(realistic_mix(40, seed=23))]
    base = make_qr(phase="postpartum", child_birth_date="2024-01-01", signals=("homeless", "partner-problems"))
    for day in AWKWARD_DATES:
        for authored in ("2026-11-20T10:30:00+01:00", "2028-02-29T09:00:00Z"):
            qr = copy.deepcopy(base)
            qr["authored"] = authored
            for group in qr["item"]:
                for item in group.get("item", ()):
                    if item["linkId"] == "child-birth-date":
                        item["answer"] = [{"valueDate": day}]
            out.append((f"{day}@{authored}", qr))
    return out


_DECLINED = object()


def _agrees(native, scope, expected: list, where: str) -> bool:
    """Whether the closures answered (rather than declined); where they did, that they agree with `expected`."""
    try:
        many = native.many(scope)
    except Fallback:
        many = None
    if many is not None:
        assert many == expected and [type(v) for v in many] == [type(v) for v in expected], where
    try:
        truth = native.truth(scope)
    except Fallback:
        truth = _DECLINED
    if truth is not _DECLINED:
        assert expected in ([], [True], [False]) and truth is (expected[0] if expected else None), where
    return many is not None


def test_the_rule_files_compile_to_closures(engine):
    for ruleset in engine.rulesets.values():
        for pointer, expression in ruleset.expressions():
            assert fp.prepare(expression).native is not None, f"{ruleset.source} {pointer}: {expression}"


def test_closures_equal_plain_fhirpath_over_the_rule_files(engine):
    compared = declined = 0
    for name, qr in _responses(engine):
        result = engine.validate(qr)
        assert result.ok, name
        qdef, index, today = result.questionnaire, result.index, reference_date(qr)
        for ruleset in engine.rulesets.values():
            plain = evaluate_rules(qr, ruleset, qdef, today=today, index=index, fast=False)
            assert evaluate_rules(qr, ruleset, qdef, today=today, index=index) == plain, f"{ruleset.id} {name}"
            reference = rule_evaluator(qr, ruleset, qdef, today=today, index=index, fast=False)
            env = dict(reference.env, computedLevel=plain.computed_level, level=plain.level)
            plain_ev = fp.Evaluator(qr, index, dict(env), qdef, fast=False)
            fast_ev = fp.Evaluator(qr, index, dict(env), qdef)
            for pointer, expression in ruleset.expressions():
                expected = plain_ev.value(expression)
                where = f"{ruleset.id} {pointer} over {name}: {expression}"
                if _agrees(fp.prepare(expression).native, fast_ev, expected, where):
                    compared += 1
                else:
                    declined += 1
                assert fast_ev.value(expression) == expected
                assert fast_ev.holds(expression) is (expected == [True])
    assert compared > 20 * declined  # the awkward dates decline; the rest do not


# The subset's operators in every combination the parser takes, over environments of every shape.
EXPRESSIONS = [
    "%a >= %b",
    "%a < %b",
    "%a = %b",
    "%a != %b",
    "%a = 'x'",
    "%a != 'x'",
    "%a = 1",
    "%a = true",
    "%a in ('x' | 'y')",
    "%a in ('x' | 'x')",
    "'x' in %a",
    "1 in %a",
    "%a in %b",
    "%a = ('x' | 'y')",
    "%a and %b",
    "%a or %b",
    "(%a or %b) and %a.not()",
    "%a.not()",
    "%a.count()",
    "%a.exists()",
    "%a.empty()",
    "%a | %b",
    "('x' | 'y' | 'x')",
    "%missing = 1",
    "%a >= 1 and %b < 3 or %a = 'x'",
    "%resource.repeat(item).where(linkId = 'phase').answer.value",  # Codings: declined, fhirpathpy's own
    "%resource.repeat(item).where(linkId = 'homeless').answer.value",
    "%resource.repeat(item).where(linkId = 'phase').answer.value.code",
    "%resource.repeat(item).where(linkId = 'phase').answer.value.code = %a",
    "%resource.repeat(item).where(linkId = 'homeless').answer.value = true",
    "%resource.repeat(item).where(linkId = 'homeless').answer.value != %a",
    "%resource.repeat(item).where(linkId = 'children-in-household').answer.value > 1",
    "%resource.repeat(item).where(linkId = 'children-in-household').answer.value = %a",
    "%resource.repeat(item).where(linkId = 'note').answer.value = 'x'",
    "%resource.repeat(item).where(linkId = 'child-birth-date').answer.value + 4 years > %today",
    "%resource.repeat(item).where(linkId = 'child-birth-date').answer.value + 1 year <= %today",
    "%resource.repeat(item).where(linkId = 'due-date').answer.value + 2 years >= %today",
    "%resource.repeat(item).where(linkId = 'urgent-signals').item.where(answer.value = true).count() >= %a",
    "%resource.repeat(item).where(linkId = 'other-signals').item.where(answer.value = true).exists()",
    "%resource.repeat(item).where(linkId = 'other-signals').item.where(answer.value = true).linkId",
    "'homeless' in %resource.repeat(item).where(linkId = 'urgent-signals').item.where(answer.value = true).linkId",
    "%resource.repeat(item).where(linkId = 'no-such-item').answer.value.empty()",
]
ENVIRONMENTS = [
    {"a": 1, "b": 2},
    {"a": 3, "b": 3},
    {"a": "x", "b": "y"},
    {"a": "x", "b": ["x", "y"]},
    {"a": True, "b": False},
    {"a": True, "b": []},
    {"a": False, "b": []},
    {"a": [], "b": []},
    {"a": [], "b": True},
    {"a": 1, "b": "1"},
    {"a": True, "b": 1},
    {"a": ["x", "y"], "b": "x"},
    {"a": 2.5, "b": 2},
    {"a": "pregnant", "b": None},
]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_the_operators_agree_or_decline(engine, expression):
    responses = [
        make_qr(
            phase="postpartum", child_birth_date="2023-05-01", signals=("homeless", "domestic-violence"), children=2
        ),
        make_qr(phase="pregnant", signals=()),
        make_qr(phase="postpartum", child_birth_date="2024-02-29", signals=("homeless", "domestic-violence")),
        make_qr(phase="preconception", intention="no", signals=("single-mother",), note="x"),
    ]
    native = fp.prepare(expression).native
    assert native is not None, expression
    for qr in responses:
        result = engine.validate(qr)
        assert result.ok
        for env in ENVIRONMENTS:
            env = dict(env, today=fp.fhirpath_date(date(2026, 11, 20)))
            try:
                expected = fp.Evaluator(qr, result.index, dict(env), result.questionnaire, fast=False).value(expression)
            except Exception:  # an error in fhirpathpy: the closure must decline, so the error stays fhirpathpy's
                with pytest.raises(Exception):
                    fp.Evaluator(qr, result.index, dict(env), result.questionnaire).value(expression)
                continue
            scope = fp.Evaluator(qr, result.index, dict(env), result.questionnaire)
            _agrees(native, scope, expected, f"{expression} in {env} over {qr['item']}")
            assert scope.value(expression) == expected
            assert scope.holds(expression) is (expected == [True])


@pytest.mark.parametrize(
    "expression",
    [
        "%resource.repeat(item).where(linkId = 'due-date').answer.value + 4 years",  # a date as the result
        "%a - 1",
        "%a * 2 > 1",
        "%a implies %b",
        "%a xor %b",
        "%a contains 'x'",
        "%a is String",
        "%resource.item.count()",
        "%a = 1.5",
        "%a.first()",
        "answers('phase').code",
        "%today + 4 months > %today",
        "-1 < %a",
        "%a ~ 'x'",
    ],
)
def test_outside_the_subset_is_left_to_fhirpathpy(expression):
    assert fp.prepare(expression).native is None
