"""The practice's mirror figures (issue 14 point 4), from any launch: GET /practice/mirror shows its own figures
unsuppressed and the region's suppressed, /practice/mirror/figures.csv the same numbers. The page's model and the
CSV are service/mirror/dashboard.py's, shared with the region's page (service/inbox/region.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app, render_template, request, url_for

from service.errors import InputInvalid, required
from service.mirror.dashboard import (
    csv_response,
    names_for,
    period_choices,
    period_label,
    region_name,
    report_for,
    report_view,
    selected_period,
)
from service.mirror.figures import Report
from service.smart.session import current_practice
from service.texts import Text
from service.web.common import page_lang, web
from service.web.guard import step

if TYPE_CHECKING:
    from service.registry import Practice


def _practice_reports(periods: tuple[str, ...]) -> tuple[Practice, Report, Report]:
    """The launch's practice, its own figures (unsuppressed) and its region's totals, suppressed for a reader who
    knows its own numbers (never another practice's cells: those are the region's programme manager's)."""
    practice = required(current_practice(), "the launch's registered practice")
    own = report_for("practice", region=practice.region, practice=practice.id, periods=periods)
    region = report_for("region", region=practice.region, practice=practice.id, periods=periods)
    return practice, own, region


@web.get("/practice/mirror")
@step()
def practice_mirror(ctx):
    """The practice's own figures (unsuppressed) and the region's (suppressed), for the period asked for; a period
    that is not one: the page says so (400) with the picker."""
    lang = page_lang(ctx)
    try:
        period, periods = selected_period(request.args.get("period"))
    except InputInvalid as exc:
        issue = exc.issues[0]
        page = render_template(
            "mirror/practice.html",
            problem=Text(issue.text, issue.english or issue.text).in_lang(lang),
            choices=period_choices(selected_period(None)[0], lang),  # the picker at this year
            banner=None,
            page="practice_mirror",
        )
        return page, 400
    practice, own, region = _practice_reports(periods)
    names = names_for(practice.region, lang)
    response = current_app.make_response(
        render_template(
            "mirror/practice.html",
            period=period,
            period_name=period_label(period, lang),
            choices=period_choices(period, lang),
            own=report_view(own, period, names, lang, "own"),
            region=report_view(region, period, names, lang, "region"),
            region_name=region_name(practice.region),
            invented=own.invented or region.invented,
            csv_url=url_for("web.practice_mirror_csv", period=period),
            banner=None,
            page="practice_mirror",
        )
    )
    response.headers["Cache-Control"] = "no-store"  # the practice's own small numbers
    return response


@web.get("/practice/mirror/figures.csv")
@step()
def practice_mirror_csv(ctx):
    period, periods = selected_period(request.args.get("period"))
    _, own, region = _practice_reports(periods)
    return csv_response((own, region), f"spiegelinformatie-{own.practice}-{period}.csv")
