"""form.py: HTML form fields <-> QuestionnaireResponse, and the checks before review."""

from __future__ import annotations

from datetime import date

import pytest

from service.questionnaires.answers import index_answers
from service.questionnaires.form import (
    build_response,
    check_fields,
    date_error_key,
    date_for_field,
    index_fields,
    parse_date_field,
    response_to_fields,
)
from service.referrals.pipeline import reference_date
from service.rules.evaluate import evaluate_index
from tests.factories import OTHER, URGENT, make_qr

TODAY = date(2026, 11, 23)
WHO = dict(
    subject="Patient/demo-pregnant",
    author="PractitionerRole/demo-gp",
    authored="2026-11-20T10:30:00+01:00",
    identifier={"system": "https://his.example.invalid/kansrijke-start", "value": "demo-0001"},
)


@pytest.fixture(scope="module")
def qdef(engine):
    return engine.catalog.find(engine.ruleset().questionnaire)


def fields(**kw):
    return {k.replace("_", "-"): v if isinstance(v, list) else [v] for k, v in kw.items()}


def test_same_response_as_a_form_renderer_builds(qdef):
    f = fields(phase="pregnant", due_date="2027-03-01", homeless="true", consent_given="true", consent_method="verbal")
    built = build_response(qdef, f, **WHO)
    expected = make_qr(signals=("homeless",))

    def without_display(qr):
        return {
            k: [{**v, "display": None} if isinstance(v, dict) else v for v in vals]
            for k, vals in index_answers(qr).values.items()
        }

    assert without_display(built) == without_display(expected)
    assert index_answers(built).first("phase")["display"] == "Zwanger"  # the displays come along
    assert [i["linkId"] for i in built["item"]] == ["context", "urgent-signals", "other-signals", "consent"]
    assert built["subject"] == {"reference": "Patient/demo-pregnant"} and built["identifier"]["value"] == "demo-0001"


def test_every_signal_answered_false_when_unticked(qdef):
    built = build_response(qdef, fields(phase="pregnant", due_date="2027-03-01"), **WHO)
    index = index_answers(built)
    assert all(index.values[s] == [False] for s in URGENT + OTHER)
    assert index.values["consent-given"] == [False]


def test_only_enabled_items(qdef, engine):
    f = fields(
        phase="preconception",
        due_date="2027-03-01",
        child_birth_date="2026-01-01",
        pregnancy_intention="LA26440-0",
        children_in_household="2",
        override_reason="geen niveau gekozen",
        consent_method="written",
    )
    built = build_response(qdef, f, **WHO)
    values = index_answers(built).values
    for gone in ("due-date", "child-birth-date", "children-in-household", "override-reason", "consent-method"):
        assert gone not in values
    assert values["pregnancy-intention"][0]["code"] == "LA26440-0"
    assert engine.validate(built).ok


def test_kindcheck_enabled_by_domestic_violence(qdef):
    built = build_response(
        qdef,
        fields(phase="pregnant", due_date="2027-03-01", domestic_violence="true", children_in_household="3"),
        **WHO,
    )
    assert index_answers(built).values["children-in-household"] == [3]


def test_dates_are_read_as_dd_mm_jjjj_and_iso():
    assert parse_date_field("01-03-2027") == date(2027, 3, 1)
    assert parse_date_field(" 1/3/2027 ") == date(2027, 3, 1)
    assert parse_date_field("1.3.2027") == date(2027, 3, 1)
    assert parse_date_field("01032027") == date(2027, 3, 1)  # a phone's number pad has no dash
    assert parse_date_field("2027-03-01") == date(2027, 3, 1)
    assert parse_date_field("29-02-2028") == date(2028, 2, 29)
    for wrong in ("31-02-2027", "29-02-2027", "00-01-2027", "morgen", "03-2027", "1-3-27", "2027-3-1-1"):
        assert parse_date_field(wrong) is None, wrong
    assert date_error_key("31-02-2027") == date_error_key("13-13-2027") == "form.error.date_impossible"
    assert date_error_key("morgen") == date_error_key("1-3-27") == "form.error.date"


def test_a_date_shows_as_dd_mm_jjjj_in_its_field(qdef):
    assert date_for_field("2027-03-01") == "01-03-2027"
    assert date_for_field("1-3-2027") == "01-03-2027"
    assert date_for_field("31-02-2027") == "31-02-2027"  # what was typed stays, next to its error
    built = build_response(qdef, fields(phase="pregnant", due_date="01-03-2027"), **WHO)
    assert index_answers(built).values["due-date"] == ["2027-03-01"]  # FHIR date in the response
    assert response_to_fields(built)["due-date"] == ["01-03-2027"]  # and dd-mm-jjjj back in the form


def messages(errors):
    return {e.link_id: e.text for e in errors}


def test_required_and_unreadable_fields_in_dutch(qdef):
    errors = messages(
        check_fields(
            qdef,
            fields(
                phase="pregnant",
                due_date="31-02-2027",
                note="x" * 1001,
                level_override="urgent",
                children_in_household="veel",
                domestic_violence="true",
            ),
            today=TODAY,
        )
    )
    assert errors["due-date"] == (
        "Geen bestaande datum bij ‘Uitgerekende datum (à terme datum)’: controleer de dag en de maand (dd-mm-jjjj)."
    )
    unreadable = messages(check_fields(qdef, fields(phase="pregnant", due_date="1 maart"), today=TODAY))
    assert unreadable["due-date"].startswith("‘Uitgerekende datum (à terme datum)’ is geen geldige datum")
    assert "dd-mm-jjjj" in unreadable["due-date"]
    assert "te lang" in errors["note"] and "1000" in errors["note"]
    assert errors["override-reason"] == "Vul ‘Reden voor het aangepaste niveau’ in."
    assert "heel getal" in errors["children-in-household"]
    assert list(messages(check_fields(qdef, {}, today=TODAY))) == ["phase"]
    assert messages(check_fields(qdef, fields(phase="pregnant"), today=TODAY)) == {
        "due-date": "Vul ‘Uitgerekende datum (à terme datum)’ in."
    }
    assert "consent-method" in messages(
        check_fields(qdef, fields(phase="preconception", consent_given="true"), today=TODAY)
    )


@pytest.mark.parametrize(
    "kw,field,part",
    [
        (dict(phase="pregnant", due_date="2028-06-01"), "due-date", "44 weken"),
        (dict(phase="pregnant", due_date="2026-10-01"), "due-date", "Is het kind geboren"),
        (dict(phase="postpartum", child_birth_date="2027-01-01"), "child-birth-date", "toekomst"),
        (
            dict(
                phase="pregnant",
                due_date="2027-01-01",
                homeless="true",
                domestic_violence="true",
                children_in_household="99",
            ),
            "children-in-household",
            "niet aannemelijk",
        ),
    ],
)
def test_dates_and_numbers_outside_what_the_phase_allows(qdef, kw, field, part):
    assert part in messages(check_fields(qdef, fields(**kw), today=TODAY))[field]


def test_an_unknown_code_is_an_error_not_a_guess(qdef):
    assert (
        "Kies een van de mogelijkheden" in messages(check_fields(qdef, fields(phase="zwanger"), today=TODAY))["phase"]
    )
    assert "phase" not in index_answers(build_response(qdef, fields(phase="zwanger"), **WHO)).values


def test_round_trip(qdef):
    f = fields(
        phase="postpartum",
        child_birth_date="05-01-2026",
        homeless="true",
        financial_problems="true",
        level_override="vulnerable",
        override_reason="gesprek",
        consent_given="true",
        consent_method="written",
        note="Hulp bij\nde opvoeding",
    )
    assert response_to_fields(build_response(qdef, f, **WHO)) == f
    assert response_to_fields(make_qr(signals=("homeless",), children=None)) == fields(
        phase="pregnant", due_date="01-03-2027", homeless="true", consent_given="true", consent_method="verbal"
    )


def test_booleans_elsewhere_than_ticked_are_not_true(qdef):
    built = build_response(qdef, {"homeless": ["false"], "phase": ["pregnant"], "due-date": ["2027-03-01"]}, **WHO)
    assert index_answers(built).values["homeless"] == [False]


def _random_fields(rng, qdef) -> dict[str, list[str]]:
    """Whatever a browser (or someone editing the form by hand) may post: right and wrong values alike."""
    junk = [
        "",
        " ",
        "true",
        "false",
        "on",
        "ja",
        "2027-03-01",
        "01-03-2027",
        "31-02-2027",
        "2027-13-01",
        "12",
        "-3",
        "x" * 3000,
        "<script>",
        "LA26438-4",
        "verbal",
        "pregnant",
        "postpartum",
        "preconception",
        "urgent",
        "🙂",
    ]
    out: dict[str, list[str]] = {}
    for link_id, item in qdef.items.items():
        if rng.random() < 0.5:
            continue
        choices = list(junk)
        choices += [o["code"] for o in item.options if o.get("code")]
        out[link_id] = [rng.choice(choices) for _ in range(rng.choice((1, 1, 1, 2)))]
    return out


def test_a_response_built_from_any_fields_is_valid_so_the_live_panel_may_skip_validation(qdef, engine):
    """The live panel evaluates by the answer index (rules/evaluate.py evaluate_index: no item checks); this is why
    that is sound:
    over 3,000 random field sets the built response always validates, and both paths give the same advice."""
    import random

    rng = random.Random(20261201)
    evaluated = 0
    for _ in range(3000):
        fields = _random_fields(rng, qdef)
        qr = build_response(qdef, fields, status="in-progress", **WHO)
        result = engine.validate(qr, structural=True)
        assert result.ok, [i.text for i in result.issues]
        _, checked = engine.evaluate(qr)
        # the live panel's path: the index made while building is the one a walk of the response makes
        indexed = index_fields(qdef, fields, status="in-progress", **WHO)
        assert indexed.response() == qr
        assert indexed.index == index_answers(qr) == result.index
        ruleset, today = engine.ruleset(None), reference_date(qr)
        assert evaluate_index(indexed.index, ruleset, qdef, today=today, response=indexed.response) == checked
        evaluated += bool(checked.decisions)
    assert evaluated > 300  # the random fields do reach the rules
