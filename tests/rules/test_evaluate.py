"""The default rule set, rule by rule, from DOMAIN.md A2 (expectations written from the text, not the code)."""

from __future__ import annotations

import pytest

from tests.factories import make_qr


def decide(engine, region="maastricht-heuvelland", **kw):
    _, ev = engine.evaluate(make_qr(**kw), region)
    return ev


def routes(ev) -> dict[str, str]:
    return {d.recipient.id: d.priority for d in ev.decisions if d.recipient}


@pytest.mark.parametrize(
    ("signals", "level"),
    [
        ((), "none"),
        (("single-mother",), "attention"),
        (("single-mother", "financial-problems"), "vulnerable"),
        (("homeless",), "urgent"),
        (("homeless", "single-mother", "financial-problems"), "urgent"),
    ],
)
def test_a2_1_level_from_counts(engine, signals, level):
    assert decide(engine, signals=signals).level == level


def test_a2_1_override_raises_level_and_keeps_computed(engine):
    ev = decide(engine, signals=("single-mother",), override="urgent", override_reason="Ernstige zorgen na gesprek")
    assert (ev.computed_level, ev.level, ev.overridden) == ("attention", "urgent", True)
    assert ev.override_reason == "Ernstige zorgen na gesprek"
    assert routes(ev) == {"regiocoordinator-jgz": "urgent"}


def test_a2_1_override_without_reason_is_refused(engine):
    from service.errors import ResponseInvalid

    with pytest.raises(ResponseInvalid) as err:
        engine.evaluate(make_qr(signals=("homeless",), override="none"))
    required = [i for i in err.value.issues if i.code == "required"]
    assert len(required) == 1 and "override-reason" in required[0].text  # named in the text, located by its path


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"phase": "pregnant", "signals": ("homeless",)}, {"regiocoordinator-jgz": "urgent"}),
        ({"phase": "pregnant", "signals": ("single-mother", "low-education")}, {"regiocoordinator-jgz": "routine"}),
        ({"phase": "pregnant", "signals": ("single-mother",)}, {}),
        (
            {"phase": "postpartum", "child_birth_date": "2025-06-01", "signals": ("homeless",)},
            {"regiocoordinator-jgz": "urgent"},
        ),
        # 4th birthday on 2026-11-20, the day the response was authored: no longer "younger than 4".
        ({"phase": "postpartum", "child_birth_date": "2022-11-20", "signals": ("homeless",)}, {}),
        (
            {"phase": "postpartum", "child_birth_date": "2022-11-21", "signals": ("homeless",)},
            {"regiocoordinator-jgz": "urgent"},
        ),
    ],
)
def test_a2_2_jgz_coordinator(engine, kw, expected):
    assert routes(decide(engine, **kw)) == expected


@pytest.mark.parametrize(
    ("signals", "poh"),
    [
        (("homeless", "substance-addiction"), True),
        (("homeless", "single-mother", "financial-problems"), True),
        (("homeless", "single-mother"), False),
        (("single-mother", "financial-problems", "low-education"), False),
    ],
)
def test_a2_3_complex_adds_poh_jeugd(engine, signals, poh):
    assert ("poh-jeugd" in routes(decide(engine, signals=signals))) is poh


@pytest.mark.parametrize(
    ("intention", "signals", "expected"),
    [
        ("no", ("homeless",), {"nu-niet-zwanger": "routine"}),
        ("unsure", ("single-mother", "financial-problems"), {"nu-niet-zwanger": "routine"}),
        (None, ("homeless",), {"nu-niet-zwanger": "routine"}),
        ("yes", ("homeless",), {"preconceptie-consult": "routine"}),
        ("yes", (), {"preconceptie-consult": "routine"}),
        ("no", ("single-mother",), {}),
    ],
)
def test_a2_4_preconception(engine, intention, signals, expected):
    ev = decide(engine, phase="preconception", intention=intention, signals=signals)
    assert routes(ev) == expected
    if intention == "yes":
        advice = [d.advice.nl for d in ev.decisions if d.advice]
        assert any("zwangerwijzer.nl" in a for a in advice)


def test_a2_5_child_four_or_older_is_outside_programme(engine):
    ev = decide(engine, phase="postpartum", child_birth_date="2021-01-01", signals=("homeless", "single-mother"))
    assert [d.rule_id for d in ev.decisions if d.recipient is None] == ["outside-programme"]
    assert "POH Jeugd" in ev.decisions[-1].advice.nl
    assert "regiocoordinator-jgz" not in routes(ev)


def test_a2_6_safety_flags(engine):
    ev = decide(engine, signals=("domestic-violence",))
    assert [f.panel for f in ev.safety] == ["meldcode"]
    assert "0800-2000" in ev.safety[0].message.nl and "112" in ev.safety[0].message.nl
    ev = decide(engine, signals=("child-protection-board-history",))
    assert [f.panel for f in ev.safety] == ["history"]
    assert decide(engine, signals=("homeless",)).safety == ()
    # Never a route to Veilig Thuis, whatever is ticked.
    ev = decide(engine, signals=("domestic-violence", "veilig-thuis-involvement", "child-protection-board-history"))
    assert all("veilig" not in d.recipient.id for d in ev.decisions if d.recipient)


def test_a2_7_no_consent_nothing_leaves_but_internal_poh(engine):
    ev = decide(engine, signals=("homeless", "substance-addiction"), consent=False)
    blocked = {d.recipient.id: d.blocked_by_consent for d in ev.decisions if d.recipient}
    assert blocked == {"regiocoordinator-jgz": True, "poh-jeugd": False}
    assert ev.consent_missing
    assert [d.recipient.id for d in ev.referrals] == ["poh-jeugd"]


def test_decision_names_rule_and_answers(engine):
    ev = decide(engine, signals=("homeless", "single-mother"), phase="pregnant")
    jgz = next(d for d in ev.decisions if d.rule_id == "jgz-pregnant-or-young-child")
    assert jgz.because == ("phase", "due-date", "homeless", "single-mother")
    assert ev.level_because == ("homeless",)


def test_second_region_has_other_threshold_and_recipients(engine):
    two_other = dict(signals=("single-mother", "financial-problems"))
    assert decide(engine, **two_other).level == "vulnerable"
    assert decide(engine, region="voorbeeldstad", **two_other).level == "attention"
    ev = decide(engine, region="voorbeeldstad", signals=("homeless",))
    assert routes(ev) == {"centrum-jong": "asap", "verloskundige": "routine"}
    # Window is 2 years there: a child of 3 is outside it.
    ev = decide(
        engine, region="voorbeeldstad", phase="postpartum", child_birth_date="2023-10-01", signals=("homeless",)
    )
    assert routes(ev) == {}
