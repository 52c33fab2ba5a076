"""The live panel's path (issue 12 point 8): the rules evaluated from a form's fields by their answer index, the
response built only if an expression needs it (questionnaires/form.py index_fields, rules/evaluate.py
evaluate_index), decides exactly what the full path decides: build the response, then validate and evaluate it (Engine.evaluate,
which walks the response for its index) — over random answers."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.questionnaires.answers import index_answers
from service.questionnaires.form import build_response, index_fields
from service.rules.evaluate import evaluate_index, evaluate_rules

TODAY = date(2026, 11, 20)
WHO = dict(subject="Patient/demo-pregnant", author="PractitionerRole/demo-gp", authored="2026-11-20T10:30:00+01:00")
# What a browser (or someone editing the form by hand) may post besides the items' own codes.
JUNK = ("", " ", "true", "false", "on", "ja", "2027-03-01", "01-03-2027", "31-02-2027", "2026-01-10", "12", "-3")
JUNK += ("x" * 600, "<b>", "LA26438-4", "verbal", "pregnant", "postpartum", "preconception", "urgent", "🙂")


def rulesets(engine):
    """Every region's rule set with its Questionnaire (the panel runs each practice's)."""
    return [(region, r, engine.catalog.find(r.questionnaire)) for region, r in engine.rulesets.items()]


@st.composite
def form_fields(draw, qdef):
    out: dict[str, list[str]] = {}
    for link_id, item in qdef.items.items():
        if draw(st.integers(0, 9)) < 5:
            continue
        choices = [*JUNK, *(o["code"] for o in item.options if o.get("code"))]
        if item.type == "boolean":
            choices += ["true"] * 6  # tick boxes are mostly ticked or left out, as a browser posts them
        out[link_id] = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=2))
    return out


@pytest.fixture(scope="module")
def shipped(engine):
    return rulesets(engine)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_index_path_decides_what_the_full_path_decides(engine, shipped, data):
    for region, ruleset, qdef in shipped:
        fields = data.draw(form_fields(qdef))
        qr = build_response(qdef, fields, identifier=None, status="in-progress", **WHO)
        fast = index_fields(qdef, fields, status="in-progress", **WHO)
        assert fast.index == index_answers(qr)  # the index without the walk is the walk's
        assert fast.response() == qr  # the response it would build, had a rule needed it
        built: list[dict] = []
        decided = evaluate_index(fast.index, ruleset, qdef, today=TODAY, response=lambda b=built: b.append({}) or {})
        assert decided == engine.evaluate(qr, region)[1]
        assert built == []  # the shipped rules read the index alone: the response is never built on this path


def test_an_expression_that_reads_the_response_gets_the_response(engine):
    """Where an expression falls back to fhirpathpy (here a variable no fast form covers), the response is built
    once, and the result is the full path's."""
    _, ruleset, qdef = rulesets(engine)[0]
    reading = replace(ruleset, variables=(*ruleset.variables, ("items", "%resource.item.count()")))
    lowest = [lv for lv in ruleset.levels if lv.level != "none"][-1]  # "attention": no signal gives it here
    reading = replace(reading, levels=(replace(lowest, when="%items > 0"), *reading.levels))
    fields = {"phase": ["pregnant"], "due-date": ["01-03-2027"]}  # no signal: no level of its own
    qr = build_response(qdef, fields, identifier=None, status="in-progress", **WHO)
    index = index_answers(qr)
    built = []

    def response():
        built.append(1)
        return qr

    decided = evaluate_index(index, reading, qdef, today=TODAY, response=response)
    assert built == [1]
    assert decided == evaluate_rules(qr, reading, qdef, today=TODAY, index=index)
    assert decided.level == lowest.level  # %items read the real response's items
    assert evaluate_index(index, ruleset, qdef, today=TODAY, response=response).level == "none"


def test_no_rule_reads_the_responses_subject_author_or_date(shipped):
    """The live panel's token path builds the response (when asked) without the session's subject and author, and
    takes the practice's day as %today: so no rule expression may read those (they would differ from the send)."""
    for _, ruleset, _ in shipped:
        for _, expression in ruleset.expressions():
            assert not re.search(r"\b(subject|author|authored|identifier)\b", expression), expression
