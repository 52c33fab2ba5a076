"""Small-number suppression attacked (service/mirror/suppress.py through figures.build_report): from everything a
region Report publishes (the cells of every practice and the region's totals, the quarters and the year) and what
anyone knows adds up (practices to the region, quarters to the year, phases to the questionnaires, recipients to
the referrals), an attacker solves the linear equations for the hidden cells, and recovers none of them.

The attacker here is written apart from the implementation: its own variables, its own equations (checked true
against counts made here from the events themselves), its own Gaussian elimination."""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.mirror import figures
from service.mirror.events import EventStore, MirrorEvent, RecipientEvent
from service.mirror.figures import build_report
from service.mirror.suppress import rounded, threshold

REGION = "r"
YEAR = "2026"
QUARTERS = tuple(f"{YEAR}Q{q}" for q in range(1, 5))
PERIODS = (*QUARTERS, YEAR)
EXTERNAL = {"jgz": True, "nnz": True, "poh": False}
# cell -> the attacker's variables (numerator first)
SHARE_VARS = {
    "urgent-share": ("U", "E"),
    "meldcode-share": ("M", "N"),
    "consent-declined": ("C", "V"),
    "overrides": ("O", "N"),
    "feedback-share": ("F", "X"),
}


def _vars_of(cell) -> tuple:
    if cell.figure == "questionnaires-by-phase":
        return (("phase", *cell.key),) if cell.key else (("N",),)
    if cell.figure == "referrals-by-recipient":
        return (("rec", *cell.key),) if cell.key else (("R",),)
    if cell.figure == "referrals-by-signal":
        return (("sig", *cell.key),)
    return tuple((v,) for v in SHARE_VARS.get(cell.figure, ()))


def truth(events: list[MirrorEvent]) -> dict:
    """Each variable's value by (variable, practice or None, period), counted here from the events."""
    out: dict = defaultdict(int)
    for e in events:
        sent = [r for r in e.recipients if r.sent]
        adds = [("N",), ("phase", e.phase)]
        adds += [("M",)] * e.meldcode + [("O",)] * e.overridden
        adds += [("E",)] * bool(sent) + [("U",)] * (bool(sent) and e.level == "urgent")
        vulnerable = e.level in ("vulnerable", "urgent")
        adds += [("V",)] * vulnerable + [("C",)] * (vulnerable and not sent)
        adds += [("sig", s) for s in e.signals if sent]
        for r in sent:
            adds += [("R",), ("rec", r.recipient)]
            if r.external:
                adds += [("X",)] + [("F",)] * (r.response in ("accepted", "declined"))
        for var in adds:
            for who in (e.practice, None):
                for t in (e.quarter, e.quarter[:4]):
                    out[(var, who, t)] += 1
    return out


def equations(practices: list[str], bases: set) -> list[dict]:
    """What anyone knows adds up, as rows {variable: coefficient} = 0."""
    rows = []
    whos = [*practices, None]
    for base in bases:
        for t in PERIODS:
            rows.append({(base, None, t): 1, **{(base, p, t): -1 for p in practices}})
        for who in whos:
            rows.append({(base, who, YEAR): 1, **{(base, who, q): -1 for q in QUARTERS}})
    groups = [(("N",), "phase", None), (("R",), "rec", None), (("X",), "rec", True)]
    for total, kind, external in groups:
        parts = [b for b in bases if b[0] == kind and (external is None or EXTERNAL[b[1]])]
        for who in whos:
            for t in PERIODS:
                rows.append({(total, who, t): 1, **{(p, who, t): -1 for p in parts}})
    return rows


def recovered(
    report, known_exact: bool = True, facts: dict | None = None, reader: str | None = None, practices=()
) -> set:
    """The hidden variables the attacker pins down exactly from the report and the equations; a `reader` (one of
    the region's `practices`) also knows its own numbers, and every other practice's are unknowns to it."""
    published, hidden = {}, set()
    for cell in report.cells:
        names = [(v, cell.practice, cell.period) for v in _vars_of(cell)]
        if cell.suppressed:
            hidden.update(names)
        else:
            values = (cell.count, cell.denominator)[: len(names)]
            published.update(zip(names, values, strict=True))
    bases = {name[0] for name in (*published, *hidden)}
    if reader is not None and facts is not None:
        published.update({(b, reader, t): facts.get((b, reader, t), 0) for b in bases for t in PERIODS})
        hidden |= {(b, p, t) for b in bases for p in practices if p != reader for t in PERIODS}
    hidden -= set(published)
    practices = sorted(practices or {c.practice for c in report.cells if c.practice})
    rows = equations(practices, bases)
    if facts is not None:  # the attacker's equations are true, and what is published is the truth
        for row in rows:
            assert sum(c * facts.get(v, 0) for v, c in row.items()) == 0
        if known_exact:
            assert all(facts.get(v, 0) == value for v, value in published.items())
    order = sorted(hidden, key=repr)
    col = {v: i for i, v in enumerate(order)}
    matrix = [{col[v]: c for v, c in row.items() if v in col} for row in rows]
    return {order[i] for i in _pinned(matrix, len(order))}


def _pinned(rows: list[dict], width: int) -> set[int]:
    """Columns whose unit vector is in the row space (the unknowns a linear solve determines): Gaussian elimination
    to reduced row echelon form, rows as {column: coefficient}."""
    done: list[tuple[int, dict]] = []
    for row in rows:
        row = {c: v for c, v in row.items() if v}
        for c, pivot in done:
            if c in row:
                f = row[c]
                for k, v in pivot.items():
                    row[k] = row.get(k, 0) - f * v
                row = {k: v for k, v in row.items() if v}
        if not row:
            continue
        c = min(row)
        lead = row[c]
        row = {k: Fraction(v) / lead for k, v in row.items()}
        reduced = []
        for c2, pivot in done:
            if c in pivot:
                f = pivot[c]
                pivot = {k: pivot.get(k, 0) - f * row.get(k, 0) for k in set(pivot) | set(row)}
                pivot = {k: v for k, v in pivot.items() if v}
            reduced.append((c2, pivot))
        done = [*reduced, (c, row)]
    return {c for c, pivot in done if len(pivot) == 1}


RECIPIENT = st.builds(
    RecipientEvent,
    recipient=st.sampled_from(sorted(EXTERNAL)),
    external=st.just(True),
    consent=st.sampled_from(["given", "declined", "not-asked"]),
    sent=st.booleans(),
    response=st.sampled_from([None, "accepted", "declined", "cancelled"]),
    feedback_days=st.integers(0, 30),
)
EVENT = st.builds(
    MirrorEvent,
    practice=st.sampled_from(["p1", "p2", "p3", "p4"]),
    region=st.just(REGION),
    quarter=st.sampled_from(QUARTERS),
    phase=st.sampled_from(["pregnant", "postpartum", "preconception"]),
    level=st.sampled_from(["none", "attention", "vulnerable", "urgent"]),
    signals=st.lists(st.sampled_from(["a", "b", "c"]), unique=True, max_size=3).map(tuple),
    recipients=st.lists(RECIPIENT, max_size=2, unique_by=lambda r: r.recipient).map(
        lambda rs: tuple(RecipientEvent(**{**r.__dict__, "external": EXTERNAL[r.recipient]}) for r in rs)
    ),
    overridden=st.booleans(),
    meldcode=st.booleans(),
)
# Sizes around the threshold: a practice of a few dozen a year, so that some cells are hidden and some shown.
EVENTS = st.lists(EVENT, min_size=1, max_size=90)


def _report(tmp_path_factory, events, **kw):
    store = EventStore(tmp_path_factory.mktemp("supp") / "mirror.sqlite3")
    store.add(events)
    return build_report(store, scope="region", region=REGION, periods=PERIODS, **kw)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=EVENTS, below=st.sampled_from([3, 5, 10]))
def test_no_hidden_cell_is_recovered_from_the_published_ones(tmp_path_factory, events, below):
    report = _report(tmp_path_factory, events, suppress_below=below)
    assert report.scope == "region" and report.suppress_below == below
    facts = truth(events)
    for cell in report.cells:
        if cell.suppressed:
            assert cell.count is None and cell.denominator is None and cell.value is None
        assert cell.suppressed or cell.people >= below  # primary: nothing on fewer than `below` people
        if cell.figure in SHARE_VARS and not cell.suppressed:  # nor a share's small numerator ("1 of 29")
            assert cell.count >= below and cell.denominator >= below
    assert not recovered(report, facts=facts)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=EVENTS)
def test_cbs_mode_rounds_to_five_hides_zero_to_seven_and_is_not_recovered(tmp_path_factory, events):
    report = _report(tmp_path_factory, events, suppress_below=10, mode="cbs")
    assert report.suppress_below == threshold("cbs", 10) == 8
    for cell in report.cells:
        if not cell.suppressed and cell.count is not None:
            assert cell.count % 5 == 0 and cell.people >= 8
    assert not recovered(report, known_exact=False, facts=truth(events))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=EVENTS)
def test_a_practice_that_knows_its_own_numbers_recovers_no_other_practice_from_the_region(tmp_path_factory, events):
    """The practice's page shows the region's totals (and its own row), suppressed for a reader who knows its own
    numbers: the totals less its own give neither another practice nor a hidden total away."""
    store = EventStore(tmp_path_factory.mktemp("reader") / "mirror.sqlite3")
    store.add(events)
    report = build_report(store, scope="region", region=REGION, practice="p1", periods=PERIODS)
    assert {c.practice for c in report.cells} <= {"p1", None}  # no other practice's cells
    # the region's practices are known (those of EVENT), whether or not they had a questionnaire
    assert not recovered(report, facts=truth(events), reader="p1", practices=["p1", "p2", "p3", "p4"])


def _few_and_many() -> list[MirrorEvent]:
    def event(practice, quarter, phase="pregnant"):
        return MirrorEvent(practice=practice, region=REGION, quarter=quarter, phase=phase, level="none", signals=(),
                           recipients=(), overridden=False, meldcode=False)  # fmt: skip

    return [event("p1", "2026Q1") for _ in range(3)] + [event("p2", q) for q in QUARTERS for _ in range(12)]


def test_the_attacker_wins_against_primary_suppression_alone(tmp_path_factory, monkeypatch):
    """The attack is real: without the complementary cells (no equations for the suppression to protect) the
    region's total less the other practice gives the hidden one away."""
    monkeypatch.setattr(figures, "_equations", lambda cube, agg: [])
    report = _report(tmp_path_factory, _few_and_many(), suppress_below=10)
    won = recovered(report, facts=truth(_few_and_many()))
    assert (("N",), "p1", "2026Q1") in won


def test_the_same_data_complementary_cells_hide_more(tmp_path_factory):
    report = _report(tmp_path_factory, _few_and_many(), suppress_below=10)
    hidden = {(c.figure, c.key, c.practice, c.period) for c in report.cells if c.suppressed}
    assert ("questionnaires-by-phase", (), "p1", "2026Q1") in hidden  # 3 people: primary
    assert len({h for h in hidden if h[0] == "questionnaires-by-phase" and h[1] == ()}) > 1  # and its complements
    assert not recovered(report, facts=truth(_few_and_many()))


def test_a_share_with_a_small_numerator_is_hidden_whatever_its_denominator(tmp_path_factory):
    """One Meldcode family among a practice's 12 questionnaires a quarter: "1 of 12" names that family to the
    region (DOMAIN.md §4.4), so the share is hidden though 12 people stand behind its denominator."""
    events = _few_and_many()
    events[-1] = MirrorEvent(practice="p2", region=REGION, quarter=QUARTERS[-1], phase="pregnant", level="none",
                             signals=(), recipients=(), overridden=False, meldcode=True)  # fmt: skip
    report = _report(tmp_path_factory, events, suppress_below=10)
    share = next(
        c for c in report.cells if c.figure == "meldcode-share" and c.practice == "p2" and c.period == QUARTERS[-1]
    )
    assert share.suppressed and share.count is None and share.people == 1


def test_a_practice_sees_its_own_small_numbers():
    assert rounded(7, "rivm") == 7 and rounded(7, "cbs") == 5 and rounded(8, "cbs") == 10


def test_the_practice_scope_is_unsuppressed(tmp_path_factory):
    store = EventStore(tmp_path_factory.mktemp("own") / "mirror.sqlite3")
    store.add(_few_and_many())
    report = build_report(store, scope="practice", region=REGION, practice="p1", periods=("2026Q1",))
    phase = next(c for c in report.cells if c.figure == "questionnaires-by-phase" and c.key == ("pregnant",))
    assert (phase.count, phase.suppressed, phase.practice) == (3, False, "p1")
    assert {c.practice for c in report.cells} == {"p1"} and not any(c.suppressed for c in report.cells)


def test_two_reports_of_the_same_year_hide_the_same_cells(tmp_path_factory):
    store = EventStore(tmp_path_factory.mktemp("consistent") / "mirror.sqlite3")
    store.add(_few_and_many())
    whole = build_report(store, scope="region", region=REGION, periods=PERIODS)
    one = build_report(store, scope="region", region=REGION, periods=("2026Q1",))
    assert set(one.cells) == {c for c in whole.cells if c.period == "2026Q1"}


@pytest.mark.parametrize("label", ["2026q5", "26Q1", "2026Q", "2026Q12", "Q1"])
def test_a_bad_period_is_refused(label):
    with pytest.raises(ValueError):
        figures.Period.parse(label)


def test_periods():
    assert figures.Period.parse("2026").quarters() == QUARTERS
    assert (figures.Period.parse("2026q4").label, figures.Period.parse("2026Q4").kind) == ("2026Q4", "quarter")


def test_the_other_practice_of_two_is_not_given_away_to_one_that_knows_its_own(tmp_path_factory):
    """p1 has 3 questionnaires in Q1, p2 12: hiding p2's own 12 as p1's complement would hide nothing from p2; the
    region's total is hidden instead."""
    store = EventStore(tmp_path_factory.mktemp("two") / "mirror.sqlite3")
    store.add(_few_and_many())
    report = build_report(store, scope="region", region=REGION, practice="p2", periods=PERIODS)
    total = next(c for c in report.cells if c.figure == "questionnaires-by-phase" and not c.key and c.practice is None
                 and c.period == "2026Q1")  # fmt: skip
    assert total.suppressed
    assert not recovered(report, facts=truth(_few_and_many()), reader="p2", practices=["p1", "p2"])


def test_a_cell_hidden_only_to_protect_another_is_not_marked_as_a_small_number(tmp_path_factory):
    """ "<10" says fewer than 10 people: a complementary cell is based on more, so it reads "verborgen"."""
    from service.mirror.dashboard import shown

    report = _report(tmp_path_factory, _few_and_many(), suppress_below=10)
    hidden = [c for c in report.cells if c.suppressed]
    primary = [c for c in hidden if not c.complementary]
    complementary = [c for c in hidden if c.complementary]
    assert primary and complementary
    assert all(c.people < 10 for c in primary) and all(c.people >= 10 for c in complementary)
    assert {shown(c, "count", report, "nl") for c in primary} == {"<10"}
    assert {shown(c, "count", report, "nl") for c in complementary} == {"verborgen"}
