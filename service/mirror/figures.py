"""The mirror figures (issue 14 point 2) per practice, per period (quarter, year) and per region, from the event
record (service/mirror/events.py), with small numbers suppressed outside the practice's own view (suppress.py).

Pure but for the store passed in: three GROUP BY queries (SQLAlchemy Core, the same on SQLite and PostgreSQL) over
the region's (or the practice's) events of the years asked about, then plain Python over the aggregates (never over the events). Suppression always works on whole
years (its four quarters and the year, every practice of the region and the region's total), whatever periods are
asked for, so two reports of the same data hide the same cells: no hidden cell comes out of comparing them.

What is counted (docs/mirror-events.md): a *questionnaire* is one event; a *referral* in `referrals-by-recipient`
is one recipient sent to; in `referrals-by-signal` and `urgent-share` a referral is a questionnaire from which at
least one referral was sent (its level and signals are the questionnaire's). `feedback-*` count the referrals
sent to an external recipient, feedback being an accepted or declined Task (a cancel by the practice is none).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, Table, and_, case, func, literal_column, select

from service.db import Database
from service.db.schema import event as EVENT  # the event record's tables (service/mirror/events.py)
from service.db.schema import event_recipient as RECIPIENT
from service.db.schema import event_signal as SIGNAL
from service.mirror.suppress import CellSpec, Equation, rounded, suppress, threshold


@dataclass(frozen=True)
class Period:
    year: int
    quarter: int | None = None  # 1..4; None: the whole year

    @classmethod
    def parse(cls, label: str) -> Period:
        """ "2026Q4" or "2026" (ValueError otherwise)."""
        text = str(label).strip().upper()
        year, _, quarter = text.partition("Q")
        if not (year.isdigit() and len(year) == 4) or (quarter not in ("1", "2", "3", "4") if _ else quarter):
            raise ValueError(f"not a period (2026Q4 or 2026): {label!r}")
        return cls(int(year), int(quarter) if quarter else None)

    @property
    def label(self) -> str:
        return f"{self.year}Q{self.quarter}" if self.quarter else str(self.year)

    @property
    def kind(self) -> Literal["quarter", "year"]:
        return "quarter" if self.quarter else "year"

    def quarters(self) -> tuple[str, ...]:
        """The quarter labels the period covers."""
        return (self.label,) if self.quarter else tuple(f"{self.year}Q{q}" for q in range(1, 5))


@dataclass(frozen=True)
class FigureDef:
    id: str
    title_key: str  # service/texts.py
    unit: Literal["count", "share", "days"]
    dimension: str | None  # "phase", "recipient", "signal"; None: one number per practice and period


FIGURES: tuple[FigureDef, ...] = (
    FigureDef("questionnaires-by-phase", "mirror.figure.questionnaires-by-phase", "count", "phase"),
    FigureDef("referrals-by-recipient", "mirror.figure.referrals-by-recipient", "count", "recipient"),
    FigureDef("referrals-by-signal", "mirror.figure.referrals-by-signal", "count", "signal"),
    FigureDef("urgent-share", "mirror.figure.urgent-share", "share", None),
    FigureDef("meldcode-share", "mirror.figure.meldcode-share", "share", None),
    FigureDef("consent-declined", "mirror.figure.consent-declined", "share", None),
    FigureDef("overrides", "mirror.figure.overrides", "share", None),
    FigureDef("feedback-share", "mirror.figure.feedback-share", "share", None),
    FigureDef("feedback-median-days", "mirror.figure.feedback-median-days", "days", None),
)
# A dimension's figure also has a total cell (key ()) where its keys add up: every questionnaire has one phase,
# every referral one recipient. Signals do not add up (one referral counts for each of its signals).
# Share figures: (numerator, denominator) quantities.
SHARES = {
    "urgent-share": ("urgent", "referred"),
    "meldcode-share": ("meldcode", "questionnaires"),
    "consent-declined": ("declined", "vulnerable"),
    "overrides": ("overridden", "questionnaires"),
    "feedback-share": ("feedback", "external"),
}


@dataclass(frozen=True)
class Cell:
    figure: str
    key: tuple[str, ...]
    period: str
    practice: str | None  # None: all practices of the region
    count: int | None
    denominator: int | None
    value: float | None  # the count, a share 0..1, or days
    people: int  # the n the cell is based on: internal, never shown for a suppressed cell
    suppressed: bool
    # hidden though based on enough people, so that a small one cannot be worked out from it (complementary)
    complementary: bool = False


@dataclass(frozen=True)
class Report:
    scope: Literal["practice", "region"]
    practice: str | None
    region: str | None
    periods: tuple[str, ...]
    cells: tuple[Cell, ...]
    suppress_below: int
    mode: Literal["rivm", "cbs"]
    invented: bool  # True when any event behind it is invented demo history (make run)


Quantity = tuple[str, ...]  # ("phase", "pregnant"), ("questionnaires",), ("recipient", id), ...


@dataclass
class _Aggregates:
    """Per (practice, quarter): each quantity's count, the days-to-feedback histogram; which recipients are external."""

    counts: dict[Quantity, Counter]
    days: dict[tuple[str, str], Counter]
    external: set[str]
    invented: bool


@dataclass(frozen=True)
class _Scope:
    """Which events are counted: those of these quarters, of the region and of the one practice when given."""

    quarters: tuple[str, ...]
    region: str | None = None
    practice: str | None = None

    def where(self, table: Table) -> list[Any]:
        found: list[Any] = [table.c.quarter.in_(self.quarters)]
        found += [table.c.practice == self.practice] if self.practice else []
        return found + ([table.c.region == self.region] if self.region else [])


def _queries(scope: _Scope) -> tuple[Select, Select, Select]:
    """The three GROUP BY queries, in SQLAlchemy Core: the same SQL on SQLite and PostgreSQL (flags are INTEGER 0/1,
    so a conjunction is a product and a count of a condition a CASE)."""
    e, s, r = EVENT.c, SIGNAL.c, RECIPIENT.c
    events = (
        select(e.practice, e.quarter, e.phase, func.count(), func.sum(e.overridden), func.sum(e.meldcode))
        .add_columns(func.sum(e.referred), func.sum(e.referred * e.urgent), func.sum(e.vulnerable))
        .add_columns(func.sum(e.vulnerable * (1 - e.referred)), func.max(e.invented))
        .where(*scope.where(EVENT))
        .group_by(e.quarter, e.practice, e.phase)
    )
    signals = (
        select(s.practice, s.quarter, s.signal, func.count())
        .where(*scope.where(SIGNAL), s.referred == 1)
        .group_by(s.quarter, s.practice, s.signal)
    )
    one: ColumnElement[int] = literal_column(
        "1"
    )  # a constant, not a parameter: GROUP BY repeats `days` and PostgreSQL matches it
    out = and_(r.sent == one, r.external == one)
    days = case((out, r.feedback_days)).label("days")
    feedback = func.sum(case((and_(out, r.response.in_(("accepted", "declined"))), 1), else_=0))
    recipients = (  # per recipient, and the days to feedback of those with feedback (one scan)
        select(r.practice, r.quarter, r.recipient, func.max(r.external), func.sum(r.sent), feedback, days)
        .where(*scope.where(RECIPIENT))
        .group_by(r.quarter, r.practice, r.recipient, days)
    )
    return events, signals, recipients


def _aggregate(db: Database, scope: _Scope) -> _Aggregates:
    counts: dict[Quantity, Counter] = defaultdict(Counter)
    invented = False
    external: set[str] = set()
    days: dict[tuple[str, str], Counter] = defaultdict(Counter)
    events, signals, recipients = _queries(scope)
    with db.begin() as conn:
        for row in conn.execute(events):
            at = (row[0], row[1])
            counts[("phase", row[2])][at] += row[3]
            for name, value in zip(
                ("overridden", "meldcode", "referred", "urgent", "vulnerable", "declined"), row[4:10], strict=True
            ):
                counts[(name,)][at] += value
            counts[("questionnaires",)][at] += row[3]
            invented = invented or bool(row[10])
        for row in conn.execute(signals):
            counts[("signal", row[2])][(row[0], row[1])] += row[3]
        for row in conn.execute(recipients):
            at = (row[0], row[1])
            counts[("recipient", row[2])][at] += row[4]
            counts[("referrals",)][at] += row[4]
            counts[("feedback",)][at] += row[5]
            if row[3]:
                external.add(row[2])
                counts[("external",)][at] += row[4]
            if row[6] is not None:
                days[at][row[6]] += row[4]
    return _Aggregates(counts=counts, days=days, external=external, invented=invented)


def median(histogram: Counter) -> float | None:
    """The median of values given as value -> how often (the mean of the middle two for an even number)."""
    n = sum(histogram.values())
    if not n:
        return None
    middle, seen, low = ((n - 1) // 2, n // 2), 0, None
    for value in sorted(histogram):
        seen += histogram[value]
        if low is None and seen > middle[0]:
            low = value
        if seen > middle[1]:
            return (low + value) / 2
    return None  # not reached


@dataclass
class _Year:
    """One year's cube: every quantity's value by (practice or None, period), and the days histograms."""

    values: dict[Any, int]  # by (quantity, practice or None, period)
    days: dict[tuple[str | None, str], Counter]
    practices: tuple[str, ...]
    quarters: tuple[str, ...]
    label: str


def _year(agg: _Aggregates, year: int, *, totals: bool) -> _Year:
    quarters = Period(year).quarters()
    practices = tuple(sorted({p for c in agg.counts.values() for p, q in c if q in quarters}))
    whos: tuple[str | None, ...] = (*practices, None) if totals else practices
    values: dict[Any, int] = {}
    for qty, by_at in agg.counts.items():
        for who in whos:
            for q in quarters:
                values[(qty, who, q)] = sum(by_at[(p, q)] for p in practices) if who is None else by_at[(who, q)]
            values[(qty, who, str(year))] = sum(values[(qty, who, q)] for q in quarters)
    days: dict[tuple[str | None, str], Counter] = {}
    for who in whos:
        for q in quarters:
            found: Counter = Counter()
            for p in practices if who is None else (who,):
                found.update(agg.days.get((p, q), Counter()))
            days[(who, q)] = found
        days[(who, str(year))] = sum((days[(who, q)] for q in quarters), Counter())
    return _Year(values=values, days=days, practices=practices, quarters=quarters, label=str(year))


def _cells(cube: _Year, whos: tuple[str | None, ...]) -> dict[Any, CellSpec]:
    """Every cell of the year, by (figure, key, practice, period), with its variables and its people."""
    v = cube.values
    periods = (*cube.quarters, cube.label)
    qtys = {qty for qty, _, _ in v}
    specs: dict[Any, CellSpec] = {}
    for who in whos:
        for t in periods:

            def var(qty: Quantity, who=who, t=t) -> tuple[Quantity, str | None, str]:
                return (qty, who, t)

            for figure, kind, total in (
                ("questionnaires-by-phase", "phase", ("questionnaires",)),
                ("referrals-by-recipient", "recipient", ("referrals",)),
                ("referrals-by-signal", "signal", None),
            ):
                for qty in sorted(q for q in qtys if q[0] == kind):
                    specs[(figure, qty[1:], who, t)] = CellSpec((var(qty),), v[var(qty)])
                if total and total in qtys:
                    specs[(figure, (), who, t)] = CellSpec((var(total),), v[var(total)])
            for figure, (num, den) in SHARES.items():
                if (den,) in qtys:
                    # a share publishes its numerator too: "1 of 29 had the Meldcode panel" names one family, so
                    # the share is based on the fewer of its two counts (DOMAIN.md §4.4: no small count outside
                    # the practice)
                    people = min(v.get(var((num,)), 0), v[var((den,))])
                    specs[(figure, (), who, t)] = CellSpec((var((num,)), var((den,))), people)
            if ("feedback",) in qtys:
                people = sum(cube.days[(who, t)].values())
                specs[("feedback-median-days", (), who, t)] = CellSpec((var(("feedback",)),), people)
    return specs


def _equations(cube: _Year, agg: _Aggregates) -> list[Equation]:
    """What an attacker knows adds up: practices to the region, quarters to the year, phases to the questionnaires,
    recipients to the referrals (and the external ones to the external referrals)."""
    qtys = sorted({qty for qty, _, _ in cube.values})
    whos: tuple[str | None, ...] = (*cube.practices, None)
    periods = (*cube.quarters, cube.label)
    eqs: list[Equation] = []
    for qty in qtys:
        eqs += [((qty, None, t), tuple((qty, p, t) for p in cube.practices)) for t in periods]
        eqs += [((qty, who, cube.label), tuple((qty, who, q) for q in cube.quarters)) for who in whos]
    groups = [
        (("questionnaires",), [q for q in qtys if q[0] == "phase"]),
        (("referrals",), [q for q in qtys if q[0] == "recipient"]),
        (("external",), [q for q in qtys if q[0] == "recipient" and q[1] in agg.external]),
    ]
    for total, parts in groups:
        if parts:
            eqs += [((total, who, t), tuple((q, who, t) for q in parts)) for who in whos for t in periods]
    return eqs


def _cell(cid: Any, spec: CellSpec, cube: _Year, hidden: bool, mode: str, below: int) -> Cell:
    figure, key, who, t = cid
    if hidden:
        return Cell(figure, key, t, who, None, None, None, spec.people, True, complementary=spec.people >= below)
    if figure == "feedback-median-days":
        return Cell(figure, key, t, who, None, None, median(cube.days[(who, t)]), spec.people, False)
    count = rounded(cube.values[spec.vars[0]], mode)
    if figure in SHARES:
        den = rounded(cube.values[spec.vars[1]], mode)
        return Cell(figure, key, t, who, count, den, count / den if den else None, spec.people, False)
    return Cell(figure, key, t, who, count, None, float(count), spec.people, False)


def build_report(
    events_store,
    *,
    scope: Literal["practice", "region"],
    region: str | None,
    practice: str | None = None,
    periods: tuple[str, ...] | list[str],
    suppress_below: int = 10,
    mode: Literal["rivm", "cbs"] = "rivm",
) -> Report:
    """The figures of `periods` ("2026Q4", "2026"): a practice's own (`scope="practice"`, unsuppressed), or the
    region's per practice and in total, suppressed; `practice` given: that practice's and the totals only, for that
    practice to read, so suppressed for a reader who knows its own numbers (suppress `known`)."""
    parsed = [Period.parse(p) for p in periods]
    wanted = tuple(dict.fromkeys(p.label for p in parsed))
    if scope not in ("practice", "region") or (scope == "practice" and not practice):
        raise ValueError("scope must be 'practice' (with a practice) or 'region'")
    below = threshold(mode, suppress_below)
    years = sorted({p.year for p in parsed})
    quarters = [q for y in years for q in Period(y).quarters()]
    counted = _Scope(tuple(quarters), region or None, str(practice) if scope == "practice" else None)
    agg = _aggregate(events_store.db, counted)
    cells: list[Cell] = []
    for year in years:
        cube = _year(agg, year, totals=scope == "region")
        whos: tuple[str | None, ...] = (*cube.practices, None) if scope == "region" else cube.practices
        specs = _cells(cube, whos)
        known = frozenset(v for v in cube.values if practice is not None and v[1] == practice)
        hidden = (
            suppress(cube.values, _equations(cube, agg), specs, below=below, known=known)
            if scope == "region"
            else set()
        )
        for cid, spec in specs.items():
            if cid[3] in wanted and (scope == "practice" or practice is None or cid[2] in (practice, None)):
                cells.append(_cell(cid, spec, cube, cid in hidden, mode if scope == "region" else "rivm", below))
    return Report(
        scope=scope,
        practice=practice,
        region=region,
        periods=wanted,
        cells=tuple(cells),
        suppress_below=below if scope == "region" else suppress_below,
        mode=mode,
        invented=agg.invented,
    )
