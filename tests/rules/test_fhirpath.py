"""FHIRPath helpers: strict syntax, the recognised patterns, the deprecated aliases, and memoisation that never changes a result."""

from __future__ import annotations

import pytest

import service.rules.fhirpath as fp
from tests.factories import make_qr


@pytest.mark.parametrize(
    "expression",
    [
        "%a >= (",
        "count(",
        "1 +",
        "answers('x'",
        "a b c",
        "%x = 'open",
        "x.%resource.repeat(item).where(linkId = 'phase').answer.value",
        "%resource.repeat(item).where(linkId = 'phase').answer.value %resource.repeat(item).where(linkId = 'x').answer.value",
        "(%resource.repeat(item).where(linkId = 'phase').answer.value",
    ],
)
def test_syntax_errors_are_refused(expression):
    with pytest.raises(ValueError, match="not a valid FHIRPath"):
        fp.compile_expression(expression)
    with pytest.raises(ValueError, match="not a valid FHIRPath"):
        fp.prepare(expression)


PHASE = "%resource.repeat(item).where(linkId = 'phase').answer.value"
URGENT = "%resource.repeat(item).where(linkId = 'urgent-signals').item.where(answer.value = true)"


@pytest.mark.parametrize(
    ("expression", "fast"),
    [
        (f"{PHASE}.code = 'pregnant'", "_ksAnswerValues('phase').code = 'pregnant'"),
        (f"{URGENT}.count() >= %urgentMin", "_ksTickedLinkIds('urgent-signals').count() >= %urgentMin"),
        (f"{URGENT}.linkId", "_ksTickedLinkIds('urgent-signals')"),
        (
            f"{URGENT}.exists() and {URGENT}.empty().not()",
            "_ksTickedLinkIds('urgent-signals').exists() and _ksTickedLinkIds('urgent-signals').empty().not()",
        ),
        (
            "%resource.repeat( item ).where(linkId='phase') // the phase\n .answer.value.code",
            "_ksAnswerValues('phase').code",
        ),
        (
            (
                "%resource.repeat(item).where(linkId = 'a').answer.value = true or %resource.repeat(item)"
                ".where(linkId = 'b').answer.value = true"
            ),
            "_ksAnswerValues('a') = true or _ksAnswerValues('b') = true",
        ),
        # not the patterns: left as written
        (f"'{PHASE}' = %x", f"'{PHASE}' = %x"),
        ("%resource.repeat(item).where(linkId = 'phase').answer.valueCoding",) * 2,
        ("%resource.repeat(item).where('phase' = linkId).answer.value",) * 2,
        ("%resource.item.where(linkId = 'phase').answer.value",) * 2,
        (f"{URGENT}.answer.value",) * 2,
        (f"{URGENT}.linkId(1)",) * 2,
        (f"{URGENT}.exists(linkId = 'homeless')",) * 2,
        ("%resource.repeat(item).where(linkId = 'it\\'s').answer.value",) * 2,
    ],
)
def test_fast_form_rewrites_exactly_the_patterns(expression, fast):
    assert fp.fast_form(expression) == fast


def test_the_internal_functions_are_reserved():
    with pytest.raises(ValueError, match="reserved"):
        fp.fast_form("_ksAnswerValues('phase').code")


@pytest.mark.parametrize(
    ("expression", "memoisable"),
    [
        ("%level in ('urgent' | 'vulnerable') and %phase = 'pregnant'", True),
        (f"{PHASE}.code = 'pregnant'", True),
        (f"{URGENT}.count() >= %urgentMin", True),
        (f"{PHASE.replace('phase', 'child-birth-date')} + 4 years > %today", True),
        ("answers('phase').code = 'pregnant'", True),  # deprecated aliases
        ("ticked('urgent-signals').count() >= %urgentMin", True),
        ("answers('child-birth-date').toDate() + 4 years > %today", True),
        ("'item and answers' = %x", True),
        ("item.where(linkId = 'phase').answer.value", False),
        ("%resource.repeat(item).count()", False),
        (f"{URGENT}.answer.value", False),
        ("answers(%which)", False),
        ("today() > %x", False),
    ],
)
def test_memo_inputs_is_conservative(expression, memoisable):
    assert (fp.memo_inputs(expression) is not None) is memoisable


def test_fast_path_and_deprecated_aliases(engine):
    qr = make_qr(phase="postpartum", child_birth_date="2026-01-01", signals=("homeless",))
    from service.questionnaires.answers import index_answers

    qdef = engine.catalog.find(qr["questionnaire"])
    ev = fp.Evaluator(qr, index_answers(qr), {}, qdef)
    assert ev.value(f"{PHASE}.code") == ["postpartum"]
    assert ev.value(f"{URGENT}.linkId") == ["homeless"]
    assert ev.value("%resource.repeat(item).where(linkId = 'child-birth-date').answer.value is date") == [True]
    assert ev.value("item.where(linkId = 'context').item.where(linkId = 'phase').answer.value.code") == ["postpartum"]
    # The deprecated functions as rule-set version 2026.1 had them: untyped values.
    assert ev.value("answers('phase').code") == ["postpartum"]
    assert ev.value("answers('child-birth-date') is date") == [False]
    assert ev.value("ticked('urgent-signals')") == ["homeless"]
    assert ev.holds("ticked('other-signals').empty()")


def test_memoisation_gives_the_same_evaluations(engine, monkeypatch):
    """The memo serves the expressions without a Python closure (service/rules/native.py): here all of them."""
    import dataclasses
    import json

    from benchmarks.extract import realistic_mix

    docs = [json.loads(d) for d in realistic_mix(300, seed=11)]
    native = [engine.evaluate(q)[1] for q in docs]
    prepared = fp.prepare
    monkeypatch.setattr(fp, "prepare", lambda expression: dataclasses.replace(prepared(expression), native=None))
    fp._MEMO.clear()
    warm = [engine.evaluate(q)[1] for q in docs]
    assert fp._MEMO, "the default rules should be memoisable"
    cold = []
    for q in docs:
        fp._MEMO.clear()
        cold.append(engine.evaluate(q)[1])
    assert warm == cold == native
