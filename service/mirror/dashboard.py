"""Where people look at the mirror figures (issue 14 point 4): the dashboard page with charts and tables, and its CSV.

Two audiences, each behind the sign-in it already has:
- the practice, from any launch (the guard of the practice's pages, service/web/guard.py, as /practice/referrals):
  GET /practice/mirror shows its own figures unsuppressed and the region's suppressed; /practice/mirror/figures.csv
  the same numbers;
- the region's programme manager, signed in at a registered identity provider like the recipients' coordinators,
  mapped by the registry to `role: regio` (service/registry.py): GET /inbox/region shows the region's suppressed
  figures only (and /inbox/region/figures.csv). She has no desk: every inbox page about a referral refuses her
  (service/inbox/pages.py desk_of, 403), and she holds no launch session for the practice's pages.

Nothing here reads patient data: the figures are counts of de-identified events (service/mirror/figures.py), and a
suppressed cell shows only its mark ("<10", or CBS's "."), never its count, its denominator or its people. The
charts are SVG made on the server (charts.py), each with a table of the same numbers beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from flask import current_app
from markupsafe import Markup

from service.errors import InputInvalid, required
from service.mirror.charts import Bar, Chart, bar_chart
from service.mirror.events import EventStore
from service.mirror.export import to_csv
from service.mirror.figures import FIGURES, Period, build_report
from service.referrals.pipeline import PRACTICE_ZONE
from service.services import services
from service.texts import pick, text, texts

if TYPE_CHECKING:
    from service.mirror.figures import Cell, Report

KEY_FIGURES = (
    "urgent-share",
    "meldcode-share",
    "consent-declined",
    "overrides",
    "feedback-share",
    "feedback-median-days",
)
FIGURE_TITLES = {f.id: f.title_key for f in FIGURES}


@dataclass(frozen=True)
class Names:
    """Display names of the dimensions' keys in the page's language: from the rule set (recipients), the
    Questionnaire (signals, phases) and the registry (practices); an unknown key is shown as it is."""

    recipients: dict[str, str] = field(default_factory=dict)
    signals: dict[str, str] = field(default_factory=dict)
    phases: dict[str, str] = field(default_factory=dict)
    practices: dict[str, str] = field(default_factory=dict)

    def of(self, dimension: str, key: str) -> str:
        table = {"recipient": self.recipients, "signal": self.signals, "phase": self.phases}.get(dimension, {})
        return table.get(key, key)


def names_for(region: str, lang: str) -> Names:
    engine = services().engine
    ruleset = engine.rulesets.get(region)
    if ruleset is None:
        return Names()
    qdef = engine.catalog.find(ruleset.questionnaire)
    items = qdef.items if qdef else {}
    phase = items.get("phase")
    return Names(
        recipients={r.id: r.name.in_lang(lang) for r in ruleset.recipients.values()},
        signals={lid: pick(lang, i.text, i.text_en) for lid, i in items.items() if i.type == "boolean"},
        phases={
            str(o.get("code")): pick(lang, str(o.get("display") or o.get("code")), o.get("display_en"))
            for o in (phase.options if phase else ())
        },
        practices={p.id: p.name for e in services().registry.ehrs.values() for p in e.practices},
    )


# ------------------------------------------------------------------------------------------------ the figures


def report_for(
    scope: Literal["practice", "region"], *, region: str, practice: str | None, periods: tuple[str, ...]
) -> Report:
    """The figures (service/mirror/figures.py build_report) of the deployment's event record, with its suppression
    settings; scope "practice" is that practice's own, unsuppressed."""
    settings = current_app.config["KS_SETTINGS"]
    return build_report(
        events_store(),
        scope=scope,
        region=region,
        practice=practice,
        periods=periods,
        suppress_below=settings.suppress_below,
        mode="cbs" if settings.suppress_mode == "cbs" else "rivm",
    )


def events_store() -> EventStore:
    """The deployment's event record (service/mirror/events.py, mirror.sqlite3 under KS_DATA_DIR), as the delivery
    wiring opened it (service/referrals/wiring.py)."""
    return required(services().delivery.mirror, "the mirror's event record")


def selected_period(value: str | None) -> tuple[str, tuple[str, ...]]:
    """The period asked for (?period=2026 or 2026Q4; the current year by default) and the periods the page needs:
    it, and every quarter of its year (the chart per quarter). A period that is neither: InputInvalid (400)."""
    label = value or str(datetime.now(PRACTICE_ZONE).year)
    try:
        period = Period.parse(label)
    except ValueError:
        raise InputInvalid(texts("mirror.bad_period")) from None
    return period.label, tuple(dict.fromkeys((period.label, *Period(period.year).quarters())))


def period_choices(selected: str, lang: str) -> list[dict[str, Any]]:
    """The period picker: this year and the one before, each as a whole and by quarter."""
    this_year = datetime.now(PRACTICE_ZONE).year
    years = sorted({this_year, this_year - 1, int(selected[:4])}, reverse=True)
    out = []
    for year in years:
        for label in (str(year), *(f"{year}Q{q}" for q in range(1, 5))):
            out.append({"value": label, "label": period_label(label, lang), "selected": label == selected})
    return out


def period_label(label: str, lang: str) -> str:
    if "Q" in label:
        year, quarter = label.split("Q")
        return text("mirror.quarter", lang, quarter=quarter, year=year)
    return label


def suppressed_mark(report: Report, lang: str) -> str:
    return text("mirror.mark_cbs" if report.mode == "cbs" else "mirror.mark", lang, n=report.suppress_below)


def suppressed_legend(report: Report, lang: str) -> str:
    return text("mirror.legend_cbs" if report.mode == "cbs" else "mirror.legend", lang, n=report.suppress_below)


def shown(cell: Cell | None, unit: str, report: Report, lang: str) -> str:
    """A cell's value as the table and the chart show it: a count, a share in %, days; the mark when suppressed."""
    if cell is None:
        return text("mirror.none", lang)
    if cell.suppressed and cell.complementary and report.mode != "cbs":  # "<10" would be untrue of it
        return text("mirror.mark_complementary", lang)
    if cell.suppressed:
        return suppressed_mark(report, lang)
    if unit == "share":
        return text("mirror.share", lang, percent=_number(100 * (cell.value or 0.0), lang, 0))
    if unit == "days":
        return text("mirror.days", lang, days=_number(cell.value or 0.0, lang, 1))
    return str(cell.count if cell.count is not None else 0)


def _number(value: float, lang: str, digits: int) -> str:
    """A number rounded to `digits`, without a needless ",0"; a decimal comma in Dutch."""
    written = f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"
    return written.replace(".", text("mirror.decimal_mark", lang))


def _cells(report: Report, figure: str, period: str, practice: str | None) -> list[Cell]:
    return [c for c in report.cells if c.figure == figure and c.period == period and c.practice == practice]


def _total(report: Report, figure: str, period: str, practice: str | None) -> Cell | None:
    return next((c for c in _cells(report, figure, period, practice) if not c.key), None)


# ------------------------------------------------------------------------------------------------ the page's parts


@dataclass(frozen=True)
class Section:
    """One chart with its table: the rows are (label, value shown, suppressed) in the chart's order."""

    id: str
    title: str
    chart: Markup
    label_head: str
    value_head: str
    rows: tuple[tuple[str, str, bool], ...]


def sections(report: Report, period: str, names: Names, lang: str, prefix: str) -> list[Section]:
    """The four charts of one report: referrals per quarter of the period's year, by recipient and by signal in the
    period, and the feedback funnel (referrals, with feedback)."""
    own = report.practice if report.scope == "practice" else None
    quarters = [p for p in report.periods if "Q" in p and p.startswith(period[:4])]
    per_quarter = [(period_label(q, lang), _total(report, "referrals-by-recipient", q, own)) for q in quarters]
    by = {
        dim: [
            (names.of(dim, c.key[0]), c)
            for c in sorted(_cells(report, figure, period, own), key=lambda c: c.key)
            if len(c.key) == 1
        ]
        for figure, dim in (("referrals-by-recipient", "recipient"), ("referrals-by-signal", "signal"))
    }
    feedback = _total(report, "feedback-share", period, own)
    funnel = [
        (text("mirror.funnel.referred", lang), _part(feedback, "denominator")),
        (text("mirror.funnel.feedback", lang), _part(feedback, "count")),
    ]
    parts = (
        ("per-quarter", "mirror.chart.per_quarter", "mirror.col.quarter", per_quarter),
        ("by-recipient", "mirror.chart.by_recipient", "mirror.col.recipient", by["recipient"]),
        ("by-signal", "mirror.chart.by_signal", "mirror.col.signal", by["signal"]),
        ("funnel", "mirror.chart.funnel", "mirror.col.step", funnel),
    )
    return [
        _section(report, f"{prefix}-{pid}", text(key, lang), text(head, lang), rows, lang)
        for pid, key, head, rows in parts
    ]


def _part(cell: Cell | None, which: str) -> Cell | None:
    """The funnel's step of a share cell: its denominator (referred) or its count (with feedback) as a count."""
    if cell is None or cell.suppressed:
        return cell
    number = cell.denominator if which == "denominator" else cell.count
    return replace(cell, count=number, denominator=None, value=float(number or 0))


def _section(report: Report, sid: str, title: str, label_head: str, rows: list, lang: str) -> Section:
    table = tuple((label, shown(c, "count", report, lang), bool(c and c.suppressed)) for label, c in rows)
    bars = tuple(
        Bar(label, None if c is not None and c.suppressed else float((c.count if c else 0) or 0), value)
        for (label, c), (_, value, _) in zip(rows, table, strict=True)
    )
    chart = Chart(
        id=sid,
        title=title,
        summary=text("mirror.chart_summary", lang),
        bars=bars,
        suppressed_legend=suppressed_legend(report, lang),
    )
    return Section(sid, title, bar_chart(chart), label_head, text("mirror.col.number", lang), table)


def key_figures(report: Report, period: str, names: Names, lang: str) -> list[dict[str, Any]]:
    """The figures without a chart: questionnaires by phase, the shares, the median days to feedback."""
    own = report.practice if report.scope == "practice" else None
    rows: list[dict[str, Any]] = []
    for c in sorted(_cells(report, "questionnaires-by-phase", period, own), key=lambda c: c.key):
        if len(c.key) == 1:
            title = text("mirror.phase_questionnaires", lang, phase=names.of("phase", c.key[0]))
            rows.append(
                {"title": title, "shown": shown(c, "count", report, lang), "detail": "", "suppressed": c.suppressed}
            )
    for figure in KEY_FIGURES:
        total = _total(report, figure, period, own)
        unit = "days" if figure == "feedback-median-days" else "share"
        detail = ""
        if total is not None and not total.suppressed and unit == "share":
            detail = text("mirror.share_of", lang, count=total.count or 0, denominator=total.denominator or 0)
        rows.append(
            {
                "title": text(FIGURE_TITLES[figure], lang),
                "shown": shown(total, unit, report, lang),
                "detail": detail,
                "suppressed": bool(total and total.suppressed),
            }
        )
    return rows


def per_practice(report: Report, period: str, names: Names, lang: str) -> list[tuple[str, str, bool]]:
    """The region's referrals per practice in the period (suppressed as the region's report has them)."""
    cells = [
        c
        for c in report.cells
        if c.figure == "referrals-by-recipient" and c.period == period and c.practice and not c.key
    ]
    return [
        (names.practices.get(c.practice or "", c.practice or ""), shown(c, "count", report, lang), c.suppressed)
        for c in sorted(cells, key=lambda c: names.practices.get(c.practice or "", c.practice or ""))
    ]


def report_view(report: Report, period: str, names: Names, lang: str, prefix: str) -> dict[str, Any]:
    """What the template shows of one report."""
    return {
        "sections": sections(report, period, names, lang, prefix),
        "key_figures": key_figures(report, period, names, lang),
        "legend": suppressed_legend(report, lang),
        "suppressing": report.scope == "region",
        "prefix": prefix,
    }


# ------------------------------------------------------------------------------------------------ the CSV


def csv_response(reports: tuple[Report, ...], name: str):
    """The reports as a CSV download (service/mirror/export.py to_csv, the CLI's CSV too), never cached."""
    body = to_csv(reports)
    response = current_app.make_response(body)
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def region_name(region: str) -> str:
    ruleset = services().engine.rulesets.get(region)
    return ruleset.title if ruleset else region
