"""The region's mirror figures (issue 14 point 4) for its programme manager: signed in at a registered identity
provider like the recipients' coordinators, mapped by the registry to `role: regio` (service/registry.py). GET
/inbox/region shows the region's suppressed figures only, /inbox/region/figures.csv the same numbers. She has no
desk: every inbox page about a referral refuses her (pages.desk_of, 403). The page's model and the CSV are
service/mirror/dashboard.py's, shared with the practice's page (service/web/mirror.py)."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from service.errors import KsError, required
from service.inbox import pages
from service.inbox.auth import current_user
from service.mirror.dashboard import (
    csv_response,
    names_for,
    per_practice,
    period_choices,
    period_label,
    region_name,
    report_for,
    report_view,
    selected_period,
)
from service.services import services
from service.texts import texts

mirror = Blueprint("mirror", __name__, url_prefix="/inbox/region")  # under /inbox: the inbox's session cookie


class RegioOnly(KsError):
    """A signed-in recipient's staff member asked for the region's figures: the programme manager's only (403)."""

    status_code, issue_code = 403, "forbidden"


def _regio():
    """The signed-in programme manager and her region; a redirect to sign in for anyone not signed in."""
    user = current_user()
    if user is None:
        return None, None
    if not user.regio:
        raise RegioOnly(texts("mirror.regio_only"))
    provider = required(services().registry.provider(user.provider), "the user's identity provider")
    return user, provider.region


@mirror.errorhandler(KsError)
def _problem(exc: KsError):
    """The inbox's problem page, in the session's language (a period that is not one, a user who is not regio)."""
    return pages.problem_page(exc, current_user())


@mirror.get("")
def region():
    """The region's figures, suppressed, for its programme manager (role regio)."""
    user, region_id = _regio()
    if user is None:
        return redirect(url_for("inbox.login"))
    period, periods = selected_period(request.args.get("period"))
    lang = pages.page_lang()
    report = report_for("region", region=region_id, practice=None, periods=periods)
    names = names_for(region_id, lang)
    context = pages.template_context(user=user, recipient_name=region_name(region_id))
    response = current_app.make_response(
        render_template(
            "mirror/region.html",
            **context,
            period=period,
            period_name=period_label(period, lang),
            choices=period_choices(period, lang),
            region=report_view(report, period, names, lang, "region"),
            practices=per_practice(report, period, names, lang),
            region_name=region_name(region_id),
            invented=report.invented,
            csv_url=url_for("mirror.region_csv", period=period),
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@mirror.get("/figures.csv")
def region_csv():
    user, region_id = _regio()
    if user is None:
        return redirect(url_for("inbox.login"))
    period, periods = selected_period(request.args.get("period"))
    report = report_for("region", region=region_id, practice=None, periods=periods)
    return csv_response((report,), f"spiegelinformatie-{region_id}-{period}.csv")
