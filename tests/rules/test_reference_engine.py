"""The rule files in fhirpath.js, the reference FHIRPath engine (npm `fhirpath`, R4 model), decide as we do.

Every rule set over every golden response the service accepts: tests/rules/js/decide.js evaluates the
expressions with %resource, %today and the rule set's parameters and variables as its environment, in
the steps of service/rules/evaluate.py; the computed and final level, the safety prompts, the rules that
fire and their priorities must equal our engine's, and so must the value of every expression. Needs Node
and `npm ci --prefix tests/rules/js` (make node-deps): without them this test fails, saying so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from service.questionnaires.linkids import LEVEL_OVERRIDE
from service.referrals.pipeline import reference_date
from service.rules.evaluate import LEVEL_ORDER, evaluate_rules, rule_evaluator
from service.rules.fhirpath import Evaluator
from tests.factories import make_qr
from tests.rules.test_standard_fhirpath import accepted_responses

JS = Path(__file__).resolve().parent / "js"
PINNED = json.loads((JS / "package.json").read_text(encoding="utf-8"))["dependencies"]["fhirpath"]


def _ruleset_input(ruleset) -> dict:
    return {
        "id": ruleset.id,
        "parameters": ruleset.parameters,
        "variables": [list(v) for v in ruleset.variables],
        "levels": [{"level": lv.level, "when": lv.when} for lv in ruleset.levels],
        "safety": [{"id": s.id, "when": s.when} for s in ruleset.safety],
        "rules": [
            {"id": r.id, "when": r.when, "recipient": r.recipient, "priority": [list(p) for p in r.priority]}
            for r in ruleset.rules
        ],
        "expressions": [list(e) for e in ruleset.expressions()],
    }


def run_reference_engine(payload: dict) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not installed (node not on PATH): the rule files cannot be checked in fhirpath.js")
    if not (JS / "node_modules" / "fhirpath" / "package.json").exists():
        pytest.fail(f"npm package fhirpath is not installed in {JS}: run npm ci --prefix tests/rules/js")
    proc = subprocess.run(
        [node, str(JS / "decide.js")], input=json.dumps(payload), capture_output=True, text=True, timeout=300, cwd=JS
    )
    if proc.returncode != 0:
        pytest.fail(f"tests/rules/js/decide.js failed ({proc.returncode}): {proc.stderr.strip()[:2000]}")
    return json.loads(proc.stdout)


def _json(value):
    return json.loads(json.dumps(value, default=str))


def test_reference_engine_makes_the_same_decisions(engine):
    responses = accepted_responses(engine)
    payload = {
        "levelOverride": LEVEL_OVERRIDE,
        "levelOrder": list(LEVEL_ORDER),
        "rulesets": [_ruleset_input(r) for r in engine.rulesets.values()],
        "responses": [
            {"name": name, "today": reference_date(qr).isoformat(), "resource": qr} for name, qr in responses
        ],
    }
    out = run_reference_engine(payload)
    assert out["fhirpath"] == PINNED
    results = {(r["ruleset"], r["response"]): r for r in out["results"]}
    assert len(results) == len(engine.rulesets) * len(responses)

    for ruleset in engine.rulesets.values():
        for name, qr in responses:
            js = results[(ruleset.id, name)]
            assert "error" not in js, f"{ruleset.id} over {name}: fhirpath.js: {js.get('error')}"
            result = engine.validate(qr)
            today, qdef = reference_date(qr), result.questionnaire
            ours = evaluate_rules(qr, ruleset, qdef, today=today, index=result.index)
            where = f"{ruleset.id} over {name}"
            assert js["computedLevel"] == ours.computed_level and js["level"] == ours.level, where
            assert js["safety"] == [s.id for s in ours.safety], where
            assert js["rules"] == [{"id": d.rule_id, "priority": d.priority} for d in ours.decisions], where

            ev = rule_evaluator(qr, ruleset, qdef, today=today, index=result.index)
            env = dict(ev.env, computedLevel=ours.computed_level, level=ours.level)
            final = Evaluator(qr, result.index, env, qdef)
            for pointer, expression in ruleset.expressions():
                assert js["values"][pointer] == _json(final.value(expression)), f"{where} {pointer}: {expression}"


def test_reference_engine_does_not_know_the_deprecated_functions(engine):
    """Why the rule files changed: fhirpath.js has no answers() or ticked()."""
    ruleset = {
        "id": "old",
        "parameters": {},
        "variables": [["phase", "answers('phase').code"]],
        "levels": [{"level": "none", "when": None}],
        "safety": [],
        "rules": [],
        "expressions": [],
    }
    _, qr = accepted_responses(engine)[0]
    out = run_reference_engine(
        {
            "levelOverride": LEVEL_OVERRIDE,
            "levelOrder": list(LEVEL_ORDER),
            "rulesets": [ruleset],
            "responses": [{"name": "one", "today": "2026-11-20", "resource": qr}],
        }
    )
    assert "Not implemented" in out["results"][0]["error"]


def test_reference_engine_agrees_with_the_fast_path_on_primitive_extensions(engine):
    """A valid response whose ticked boolean carries an extension (`_valueBoolean`): fhirpathpy 2.2.4 takes the
    extension for a second answer.value (so `answer.value = true` is empty and the signal not counted);
    fhirpath.js and our fast path count it, and decide alike."""
    qr = make_qr(signals=("homeless", "single-mother"))
    for group in qr["item"]:
        for item in group.get("item", ()):
            if item["linkId"] in ("homeless", "single-mother"):
                item["answer"][0]["_valueBoolean"] = {
                    "extension": [{"url": "https://example.invalid/note", "valueString": "x"}]
                }
    result = engine.validate(qr, structural=True)
    assert result.ok
    ruleset = engine.ruleset()
    out = run_reference_engine(
        {
            "levelOverride": LEVEL_OVERRIDE,
            "levelOrder": list(LEVEL_ORDER),
            "rulesets": [_ruleset_input(ruleset)],
            "responses": [{"name": "ext", "today": reference_date(qr).isoformat(), "resource": qr}],
        }
    )
    [js] = out["results"]
    ours = evaluate_rules(qr, ruleset, result.questionnaire, today=reference_date(qr), index=result.index)
    assert (js["computedLevel"], js["rules"]) == (
        ours.computed_level,
        [{"id": d.rule_id, "priority": d.priority} for d in ours.decisions],
    )
    assert ours.computed_level == "urgent"
    plain = evaluate_rules(qr, ruleset, result.questionnaire, today=reference_date(qr), index=result.index, fast=False)
    assert plain.computed_level == "none", (
        "fhirpathpy now reads _valueX as fhirpath.js does: drop this line and the caveat in mappings/README.md"
    )
