"""Reports built by hand for the dashboard's, the charts' and the MeasureReport's tests (engineer D): the figures
module's own dataclasses (service/mirror/figures.py), filled with invented counts, some cells suppressed as the
region's report suppresses them (count, denominator and value None), so the outputs can be checked against
known numbers without an event store."""

from __future__ import annotations

from collections.abc import Iterable

from service.mirror.figures import Cell, Report

YEAR = "2026"
QUARTERS = tuple(f"{YEAR}Q{q}" for q in range(1, 5))
PRACTICE = "demo-practice"
REGION = "maastricht-heuvelland"


def cell(
    figure: str,
    key: Iterable[str] = (),
    *,
    period: str = YEAR,
    practice: str | None = None,
    count: int | None = None,
    denominator: int | None = None,
    value: float | None = None,
    people: int | None = None,
    suppressed: bool = False,
) -> Cell:
    """One cell; a suppressed one has no count, denominator or value (its `people` stays internal)."""
    if suppressed:
        count = denominator = None
        value = None
    elif value is None and count is not None:
        value = count / denominator if denominator else float(count)
    return Cell(
        figure=figure,
        key=tuple(key),
        period=period,
        practice=practice,
        count=count,
        denominator=denominator,
        value=value,
        people=people if people is not None else (count or 3),
        suppressed=suppressed,
    )


def practice_report(*, invented: bool = False, practice: str = PRACTICE) -> Report:
    """The practice's own figures for 2026, unsuppressed: small numbers shown as they are."""
    cells = [
        *(
            cell("referrals-by-recipient", period=q, practice=practice, count=n)
            for q, n in zip(QUARTERS, (4, 7, 3, 6), strict=True)
        ),
        cell("referrals-by-recipient", practice=practice, count=20),
        cell("referrals-by-recipient", ("regiocoordinator-jgz",), practice=practice, count=14),
        cell("referrals-by-recipient", ("poh-jeugd",), practice=practice, count=4),
        cell("referrals-by-recipient", ("nu-niet-zwanger",), practice=practice, count=2),
        cell("referrals-by-signal", ("financial-problems",), practice=practice, count=9),
        cell("referrals-by-signal", ("domestic-violence",), practice=practice, count=3),
        cell("referrals-by-signal", ("language-barrier",), practice=practice, count=6),
        cell("questionnaires-by-phase", ("pregnant",), practice=practice, count=18),
        cell("questionnaires-by-phase", ("postpartum",), practice=practice, count=8),
        cell("questionnaires-by-phase", ("preconception",), practice=practice, count=5),
        cell("urgent-share", practice=practice, count=5, denominator=20),
        cell("meldcode-share", practice=practice, count=3, denominator=20),
        cell("consent-declined", practice=practice, count=2, denominator=22),
        cell("overrides", practice=practice, count=1, denominator=31),
        cell("feedback-share", practice=practice, count=12, denominator=16),
        cell("feedback-median-days", practice=practice, value=6.0, people=12),
    ]
    return Report(
        scope="practice",
        practice=practice,
        region=REGION,
        periods=(YEAR, *QUARTERS),
        cells=tuple(cells),
        suppress_below=10,
        mode="rivm",
        invented=invented,
    )


def region_report(*, invented: bool = False, mode: str = "rivm") -> Report:
    """The region's figures for 2026 as shown across practices: every cell of fewer than 10 people suppressed
    (the third quarter, Nu Niet Zwanger, the domestic violence signal, the overrides)."""
    cells = [
        cell("referrals-by-recipient", period="2026Q1", count=31),
        cell("referrals-by-recipient", period="2026Q2", count=44),
        cell("referrals-by-recipient", period="2026Q3", suppressed=True, people=7),
        cell("referrals-by-recipient", period="2026Q4", suppressed=True, people=12),  # complementary
        cell("referrals-by-recipient", count=94),
        cell("referrals-by-recipient", ("regiocoordinator-jgz",), count=61),
        cell("referrals-by-recipient", ("poh-jeugd",), count=26),
        cell("referrals-by-recipient", ("nu-niet-zwanger",), suppressed=True, people=7),
        cell("referrals-by-signal", ("financial-problems",), count=40),
        cell("referrals-by-signal", ("domestic-violence",), suppressed=True, people=8),
        cell("referrals-by-signal", ("language-barrier",), count=22),
        cell("questionnaires-by-phase", ("pregnant",), count=80),
        cell("questionnaires-by-phase", ("postpartum",), count=41),
        cell("questionnaires-by-phase", ("preconception",), count=19),
        cell("urgent-share", count=21, denominator=94),
        cell("meldcode-share", suppressed=True, people=8),
        cell("consent-declined", count=11, denominator=105),
        cell("overrides", suppressed=True, people=4),
        cell("feedback-share", count=70, denominator=87),
        cell("feedback-median-days", value=5.0, people=70),
        cell("referrals-by-recipient", practice=PRACTICE, count=20),
        cell("referrals-by-recipient", practice="other-practice", suppressed=True, people=9),
    ]
    return Report(
        scope="region",
        practice=None,
        region=REGION,
        periods=(YEAR, *QUARTERS),
        cells=tuple(cells),
        suppress_below=10,
        mode=mode,  # type: ignore[arg-type]
        invented=invented,
    )


def hidden_people(report: Report) -> set[int]:
    """The `people` of the suppressed cells: numbers no output may show for them."""
    return {c.people for c in report.cells if c.suppressed}
