"""The practice's mirror figures (issue 14 point 4), from any launch: GET /practice/mirror shows its own figures
unsuppressed and the region's suppressed, /practice/mirror/figures.csv the same numbers. The page's model and the
CSV are service/mirror/dashboard.py's, shared with the region's page (service/inbox/region.py)."""

from __future__ import annotations

from datetime import datetime

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
from service.referrals.pipeline import PRACTICE_ZONE
from service.smart.session import current_practice
from service.texts import Text
from service.web.common import page_lang, web
from service.web.guard import step


def _practice_reports(period: str, periods: tuple[str, ...]) -> tuple[Report, Report]:
    practice = required(current_practice(), "the launch's registered practice")
    own = report_for("practice", region=practice.region, practice=practice.id, periods=periods)
    region = report_for("region", region=practice.region, practice=None, periods=periods)
    return own, region


@web.get("/practice/mirror")
@step()
def practice_mirror(ctx):
    """The practice's own figures (unsuppressed) and the region's (suppressed), for the period asked for; a period
    that is not one: the page says so (400) with the picker."""
    lang = page_lang(ctx)
    try:
        period, periods = selected_period(request.args.get("period"))
    except InputInvalid as exc:
        this_year = str(datetime.now(PRACTICE_ZONE).year)
        page = render_template(
            "mirror/practice.html",
            problem=Text(exc.issues[0].text, exc.issues[0].english or exc.issues[0].text).in_lang(lang),
            choices=period_choices(this_year, lang),
            banner=None,
            page="practice_mirror",
        )
        return page, 400
    practice = required(current_practice(), "the launch's registered practice")
    own, region = _practice_reports(period, periods)
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
    own, region = _practice_reports(period, periods)
    return csv_response((own, region), f"spiegelinformatie-{own.practice}-{period}.csv")
