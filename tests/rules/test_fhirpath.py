"""FHIRPath helpers: strict syntax, the answer functions, and memoisation that never changes a result."""

from __future__ import annotations

import pytest

import service.rules.fhirpath as fp
from tests.factories import make_qr


@pytest.mark.parametrize("expression", ["%a >= (", "count(", "1 +", "answers('x'", "a b c", "%x = 'open"])
def test_syntax_errors_are_refused(expression):
    with pytest.raises(ValueError, match="not a valid FHIRPath"):
        fp.compile_expression(expression)


@pytest.mark.parametrize(
    ("expression", "memoisable"),
    [
        ("%level in ('urgent' | 'vulnerable') and %phase = 'pregnant'", True),
        ("answers('phase').code = 'pregnant'", True),
        ("ticked('urgent-signals').count() >= %urgentMin", True),
        ("answers('child-birth-date').toDate() + 4 years > %today", True),
        ("'item and answers' = %x", True),
        ("item.where(linkId = 'phase').answer.value", False),
        ("%resource.repeat(item).count()", False),
        ("answers(%which)", False),
        ("today() > %x", False),
    ],
)
def test_memo_inputs_is_conservative(expression, memoisable):
    assert (fp.memo_inputs(expression) is not None) is memoisable


def test_root_navigation_still_works(engine):
    qr = make_qr(phase="postpartum", child_birth_date="2026-01-01")
    from service.questionnaires.answers import index_answers

    ev = fp.Evaluator(qr, index_answers(qr), {})
    assert ev.value("%resource.repeat(item).where(linkId = 'phase').answer.value.code") == ["postpartum"]
    assert ev.value("answers('phase').code") == ["postpartum"]
    assert ev.holds("ticked('urgent-signals').empty()")


def test_memoisation_gives_the_same_evaluations(engine):
    from benchmarks.extract import realistic_mix
    import json

    docs = [json.loads(d) for d in realistic_mix(300, seed=11)]
    fp._MEMO.clear()
    warm = [engine.evaluate(q)[1] for q in docs]
    assert fp._MEMO, "the default rules should be memoisable"
    cold = []
    for q in docs:
        fp._MEMO.clear()
        cold.append(engine.evaluate(q)[1])
    assert warm == cold
