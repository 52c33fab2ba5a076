"""The rule files are standard FHIRPath, and the fast path gives what plain fhirpathpy gives.

Every expression of every rule file, over every golden response the service accepts, under every rule
set: once as written through plain fhirpathpy over %resource (no recognised patterns, no answer index, no
memo) and once through the engine's fast path (cold and memoised), in the same environment; the results
must be equal, and so must the whole evaluations.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import service.rules.fhirpath as fp
from service.referrals.pipeline import reference_date
from service.rules.evaluate import evaluate_rules, rule_evaluator

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = sorted(p.parent for p in (ROOT / "tests" / "golden").glob("*/request.json"))


def accepted_responses(engine) -> list[tuple[str, dict]]:
    """The golden requests that are QuestionnaireResponses passing validation (what the rules ever see)."""
    out = []
    for case in GOLDEN:
        try:
            qr = json.loads((case / "request.json").read_text(encoding="utf-8"))
        except ValueError:
            continue
        if isinstance(qr, dict) and qr.get("resourceType") == "Parameters":  # $extract's wrapped input
            qr = next(
                (p.get("resource") for p in qr.get("parameter", ()) if p.get("name") == "questionnaire-response"), None
            )
        if isinstance(qr, dict) and qr.get("resourceType") == "QuestionnaireResponse" and engine.validate(qr).ok:
            out.append((case.name, qr))
    return out


def test_the_golden_cases_cover_the_rules(engine):
    responses = accepted_responses(engine)
    assert len(responses) >= 30
    # Every rule of every rule set fires for at least one golden response, and one does not.
    for ruleset in engine.rulesets.values():
        fired = [{d.rule_id for d in engine.evaluate(qr, ruleset.id)[1].decisions} for _, qr in responses]
        for rule in ruleset.rules:
            assert any(rule.id in f for f in fired) and not all(rule.id in f for f in fired), f"{ruleset.id} {rule.id}"


def test_rule_files_are_standard_and_on_the_fast_path(engine):
    for ruleset in engine.rulesets.values():
        for pointer, expression in ruleset.expressions():
            assert not fp.deprecated_used(expression), f"{ruleset.source} {pointer}: answers()/ticked() are deprecated"
            assert fp.memo_inputs(expression) is not None, (
                f"{ruleset.source} {pointer} is not on the fast path: {expression}"
            )
            if "%resource" in expression:
                assert "%resource" not in fp.fast_form(expression), (
                    f"{ruleset.source} {pointer}: a pattern is not recognised"
                )


def _cases(engine):
    return [(ruleset, name, qr) for ruleset in engine.rulesets.values() for name, qr in accepted_responses(engine)]


def test_every_expression_plain_and_fast_give_equal_results(engine):
    compared = 0
    cases = _cases(engine)
    for ruleset, name, qr in cases:
        result = engine.validate(qr)
        qdef, index, today = result.questionnaire, result.index, reference_date(qr)
        plain = evaluate_rules(qr, ruleset, qdef, today=today, index=index, fast=False)
        fast = evaluate_rules(qr, ruleset, qdef, today=today, index=index)
        assert fast == plain, f"{ruleset.id} over {name}"

        # The final environment (variables, %computedLevel, %level) from plain FHIRPath, for both.
        reference = rule_evaluator(qr, ruleset, qdef, today=today, index=index, fast=False)
        env = dict(reference.env, computedLevel=plain.computed_level, level=plain.level)
        plain_ev = fp.Evaluator(qr, index, dict(env), qdef, fast=False)
        fast_ev = fp.Evaluator(qr, index, dict(env), qdef)
        for pointer, expression in ruleset.expressions():
            expected = plain_ev.value(expression)
            fp._MEMO.clear()
            cold = fast_ev.value(expression)
            warm = fast_ev.value(expression)
            assert cold == expected and warm == expected, f"{ruleset.id} {pointer} over {name}: {expression}"
            compared += 1
    assert compared == sum(len(ruleset.expressions()) for ruleset, _, _ in cases) >= 2 * 30 * 10


# Beyond the rule files: each recognised form in other spellings and followed by type-sensitive FHIRPath.
OTHER_EXPRESSIONS = [
    "%resource.repeat(item).where(linkId = 'phase').answer.value",
    "%resource.repeat(item).where(linkId='phase').answer.value.ofType(Coding).system",
    "%resource.repeat( item ).where( linkId = 'phase' ) . answer.value is Coding",
    "%resource.repeat(item).where(linkId = 'due-date').answer.value",
    "%resource.repeat(item).where(linkId = 'due-date').answer.value is date",
    "%resource.repeat(item).where(linkId = 'due-date').answer.value = @2027-03-01",
    "%resource.repeat(item).where(linkId = 'due-date').answer.value - 9 months <= %today",
    "%resource.repeat(item).where(linkId = 'child-birth-date').answer.value.toDate() + 4 years > %today",
    "%resource.repeat(item).where(linkId = 'children-in-household').answer.value > 1",
    "%resource.repeat(item).where(linkId = 'children-in-household').answer.value is integer",
    "%resource.repeat(item).where(linkId = 'note').answer.value.length()",
    "%resource.repeat(item).where(linkId = 'note').answer.value is string",
    "%resource.repeat(item).where(linkId = 'consent-given').answer.value = true",
    "%resource.repeat(item).where(linkId = 'consent-method').answer.value.code",
    "%resource.repeat(item).where(linkId = 'level-override').answer.value.code in ('urgent' | 'vulnerable')",
    "%resource.repeat(item).where(linkId = 'no-such-item').answer.value.empty()",
    "%resource.repeat(item).where(linkId = 'urgent-signals').item.where(answer.value = true).linkId",
    "%resource.repeat(item).where(linkId = 'other-signals').item.where(answer.value = true).linkId.all($this is string)",
    "%resource.repeat(item).where(linkId = 'other-signals').item.where(answer.value = true).exists()",
    "%resource.repeat(item).where(linkId = 'urgent-signals').item.where(answer.value = true).empty()",
    (
        "%resource.repeat(item).where(linkId = 'urgent-signals').item.where(answer.value = true).count()"
        " + %resource.repeat(item).where(linkId = 'other-signals').item.where(answer.value = true).count()"
    ),
    "'homeless' in %resource.repeat(item).where(linkId = 'urgent-signals').item.where(answer.value = true).linkId",
    "%resource.repeat(item).where(linkId = 'urgent-signals').item.where(answer.value = true).linkId.first()",
    # not recognised (evaluated as written on the fast path too): they must agree all the same
    "%resource.repeat(item).where(linkId = 'urgent-signals').item.where(answer.value = true).exists(linkId = 'homeless')",
    "%resource.repeat(item).where(linkId = 'urgent-signals').item.where(answer.value = true).answer.value",
    "%resource.item.where(linkId = 'context').item.where(linkId = 'phase').answer.value.code",
    "item.where(linkId = 'context').item.answer.value.code",
]


@pytest.mark.parametrize("expression", OTHER_EXPRESSIONS)
def test_recognised_forms_equal_plain_fhirpath(engine, expression):
    env_base = {"today": fp.fhirpath_date(reference_date({"authored": "2026-11-20"}))}
    for name, qr in accepted_responses(engine):
        result = engine.validate(qr)
        plain = fp.Evaluator(qr, result.index, dict(env_base), result.questionnaire, fast=False).value(expression)
        fp._MEMO.clear()
        fast = fp.Evaluator(qr, result.index, dict(env_base), result.questionnaire).value(expression)
        assert fast == plain, f"{name}: {expression}"
