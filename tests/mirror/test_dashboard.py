"""The mirror dashboard (issue 14 point 4): the practice's page from a launch (its own figures unsuppressed, the
region's suppressed), its CSV, the region's programme manager's page behind the inbox's sign-in (role regio) and
her refusal everywhere a patient could be seen. Reports come from tests/mirror/factories.py, and once from real
events through the figures module."""

from __future__ import annotations

import csv
import io
import re

import pytest
import requests

from service import create_app
from service.inbox import region
from service.mirror import dashboard
from service.mirror.events import MirrorEvent, RecipientEvent
from service.web import mirror as web_mirror
from tests.inbox.conftest import serve
from tests.inbox.test_sign_in import JGZ_NAME, pick, start
from tests.mirror import factories
from tests.web.helpers import launch_session, login, registry_file

ISS = "http://127.0.0.1:9/fhir"  # registered, never contacted: the dashboard reads nothing of the EHR


@pytest.fixture()
def app(tmp_path):
    return create_app(
        {"TESTING": True, "data_dir": tmp_path / "data", "ehr_registry": registry_file(tmp_path / "deploy", ISS)}
    )


@pytest.fixture()
def reports(monkeypatch):
    """The dashboard's reports from the factory: the practice's own and the region's."""
    made = {"practice": factories.practice_report(), "region": factories.region_report()}
    asked: list[tuple] = []

    def report_for(scope, *, region, practice, periods):
        asked.append((scope, region, practice, periods))
        return made[scope]

    monkeypatch.setattr(web_mirror, "report_for", report_for)
    monkeypatch.setattr(region, "report_for", report_for)
    made["asked"] = asked
    return made


def gp(app, **kw):
    client = app.test_client()
    login(client, launch_session(app, iss=ISS, patient=None, **kw))
    return client


def rows_of(html: str, table_id: str) -> list[tuple[str, str]]:
    """(label, value) of a figure's table, by its caption's id."""
    start_at = html.index(f'id="{table_id}-caption"')
    body = html[start_at : html.index("</table>", start_at)]
    return [
        (re.sub(r"<[^>]+>", "", a).strip(), b.strip())
        for a, b in re.findall(r'<th scope="row">(.*?)</th><td class="num">(.*?)</td>', body)
    ]


def test_the_practice_sees_its_own_figures_unsuppressed_and_the_regions_suppressed(app, reports):
    r = gp(app).get("/practice/mirror?period=2026")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    html = r.get_data(as_text=True)
    assert "<h1>Spiegelinformatie Kansrijke Start</h1>" in html
    # the practice's own: small numbers as they are
    assert rows_of(html, "own-per-quarter") == [
        ("1e kwartaal 2026", "4"),
        ("2e kwartaal 2026", "7"),
        ("3e kwartaal 2026", "3"),
        ("4e kwartaal 2026", "6"),
    ]
    assert ("Nu Niet Zwanger (GGD Zuid Limburg)", "2") in rows_of(html, "own-by-recipient")
    # the region's: the suppressed cells are "&lt;10", never their people
    region_quarters = rows_of(html, "region-per-quarter")
    assert region_quarters == [
        ("1e kwartaal 2026", "31"),
        ("2e kwartaal 2026", "44"),
        ("3e kwartaal 2026", "&lt;10"),
        ("4e kwartaal 2026", "&lt;10"),
    ]
    signals = dict(rows_of(html, "region-by-signal"))
    assert signals["Financiële problematiek"] == "40" and signals["Huiselijk geweld"] == "&lt;10"
    funnel = rows_of(html, "region-funnel")
    assert funnel == [("Verwezen buiten de praktijk", "87"), ("Met terugkoppeling", "70")]
    # the region's part names no practice and has no per-practice table (that is the region's manager's)
    assert "other-practice" not in html
    assert reports["asked"][0] == ("practice", "maastricht-heuvelland", "demo-practice", ("2026", *factories.QUARTERS))
    assert reports["asked"][1][:3] == ("region", "maastricht-heuvelland", "demo-practice")


def test_the_charts_are_accessible_svg_with_the_hatched_bar_and_its_legend(app, reports):
    html = gp(app).get("/practice/mirror?period=2026").get_data(as_text=True)
    svgs = re.findall(r"<svg .*?</svg>", html, re.S)
    assert len(svgs) == 8  # four charts for the practice, four for the region
    for svg in svgs:
        chart_id = re.search(r'aria-labelledby="([\w-]+)-title \1-desc"', svg).group(1)
        assert 'role="img"' in svg and f'<title id="{chart_id}-title">' in svg and f'<desc id="{chart_id}-desc">' in svg
    region_quarters = next(s for s in svgs if 'id="region-per-quarter-title"' in s)
    assert region_quarters.count('class="bar suppressed"') == 2 and "url(#region-per-quarter-hatch)" in region_quarters
    assert "minder dan 10 personen" in region_quarters  # the legend
    own_quarters = next(s for s in svgs if 'id="own-per-quarter-title"' in s)
    assert "suppressed" not in own_quarters and "hatch" not in own_quarters
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")  # no external script, font or CDN
    assert "<script" not in html


def test_key_figures_shares_and_days_in_dutch_and_english(app, reports):
    html = gp(app).get("/practice/mirror?period=2026").get_data(as_text=True)
    key = html[html.index('id="own-key-caption"') :]
    assert "25%" in key and "5 van 20" in key and "6 dagen" in key
    region_key = html[html.index('id="region-key-caption"') :]
    assert 'Vragenlijsten met het Meldcode-paneel</th><td class="num">&lt;10</td><td></td>' in region_key
    english = gp(app, language="en").get("/practice/mirror?period=2026").get_data(as_text=True)
    assert '<html lang="en">' in english and "Referrals per quarter" in english and "Q3 2026" in english
    assert "5 of 20" in english and "6 days" in english


def test_the_invented_history_is_marked(app, monkeypatch):
    made = {"practice": factories.practice_report(invented=True), "region": factories.region_report()}
    monkeypatch.setattr(web_mirror, "report_for", lambda scope, **kw: made[scope])
    monkeypatch.setattr(region, "report_for", lambda scope, **kw: made[scope])
    html = gp(app).get("/practice/mirror?period=2026").get_data(as_text=True)
    assert "Verzonnen demogeschiedenis." in html
    made["practice"] = factories.practice_report()
    assert "Verzonnen demogeschiedenis." not in gp(app).get("/practice/mirror?period=2026").get_data(as_text=True)


def test_the_csv_has_the_same_suppression(app, reports):
    r = gp(app).get("/practice/mirror/figures.csv?period=2026")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    found = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    hidden = [row for row in found if row["suppressed"] == "true"]
    assert hidden and all(row["scope"] == "region" for row in hidden)
    assert all(row["count"] == row["denominator"] == row["value"] == "" for row in hidden)
    assert "people" not in found[0]
    nnz = next(r for r in found if r["scope"] == "practice" and r["key"] == "nu-niet-zwanger")
    assert nnz["count"] == "2" and nnz["dimension"] == "recipient"


def test_a_period_that_is_not_one_is_a_dutch_400(app, reports):
    r = gp(app).get("/practice/mirror?period=2026Q7")
    assert r.status_code == 400 and "Kies een jaar" in r.get_data(as_text=True)


def test_without_a_launch_the_page_asks_to_open_the_app_again(app, reports):
    r = app.test_client().get("/practice/mirror")
    assert r.status_code == 401


def test_real_events_through_the_figures(app):
    """No factory: events in the store, the figures module's report, the page."""
    with app.app_context():
        store = dashboard.events_store()
    jgz = RecipientEvent(
        recipient="regiocoordinator-jgz",
        external=True,
        consent="given",
        sent=True,
        response="accepted",
        feedback_days=4,
    )
    event = MirrorEvent(
        practice="demo-practice",
        region="maastricht-heuvelland",
        quarter="2026Q2",
        phase="pregnant",
        level="vulnerable",
        signals=("financial-problems", "language-barrier"),
        recipients=(jgz,),
        overridden=False,
        meldcode=False,
    )
    store.add([event] * 3)
    html = gp(app).get("/practice/mirror?period=2026").get_data(as_text=True)
    assert ("2e kwartaal 2026", "3") in rows_of(html, "own-per-quarter")
    assert (JGZ_NAME, "3") in rows_of(html, "own-by-recipient")
    assert ("2e kwartaal 2026", "&lt;10") in rows_of(html, "region-per-quarter")  # 3 families: hidden for the region
    assert rows_of(html, "own-funnel") == [("Verwezen buiten de praktijk", "3"), ("Met terugkoppeling", "3")]


# ------------------------------------------------------------------------------------------------ the region


@pytest.fixture()
def live(tmp_path, monkeypatch):
    from service.inbox.oidc import forget_discovery

    forget_discovery()
    made = {"region": factories.region_report(), "practice": factories.practice_report()}
    monkeypatch.setattr(web_mirror, "report_for", lambda scope, **kw: made[scope])
    monkeypatch.setattr(region, "report_for", lambda scope, **kw: made[scope])
    server, found = serve(tmp_path / "data")
    yield found
    server.shutdown()
    forget_discovery()


def sign_in(live, user: str) -> tuple[requests.Session, requests.Response]:
    s = requests.Session()
    return s, pick(s, start(s, live.base), user)


def test_the_programme_manager_signs_in_and_sees_the_region_suppressed(live):
    s, r = sign_in(live, "demo-regio")
    assert r.status_code == 302 and r.headers["Location"].endswith("/inbox/region")
    page = s.get(live.base + "/inbox/region?period=2026", timeout=10)
    assert page.status_code == 200
    html = page.text
    assert "Ingrid Lemmens" in html and "programmamanager" in html
    assert ("3e kwartaal 2026", "&lt;10") in rows_of(html, "region-per-quarter")
    practices = dict(rows_of(html, "practices"))
    assert practices == {"Huisartsenpraktijk De Linde (demo)": "20", "other-practice": "&lt;10"}
    assert "own-per-quarter" not in html  # no practice's unsuppressed figures
    download = s.get(live.base + "/inbox/region/figures.csv?period=2026", timeout=10)
    found = list(csv.DictReader(io.StringIO(download.text)))
    assert {row["scope"] for row in found} == {"region"}
    assert all(row["count"] == "" for row in found if row["suppressed"] == "true")


def test_the_programme_manager_has_no_patient_level_access_anywhere(live):
    s, _ = sign_in(live, "demo-regio")
    for path in ("/inbox", "/inbox/referral/some-task-1", "/inbox?page=2"):
        r = s.get(live.base + path, allow_redirects=False, timeout=10)
        assert r.status_code == 403, path
        assert "programmamanager van de regio" in r.text and "Naar de spiegelinformatie van de regio" in r.text
    # an address under /inbox that does not exist: the way back is to her figures, not to a worklist she lacks
    lost = s.get(live.base + "/inbox/nope", headers={"Accept": "text/html"}, timeout=10)
    assert lost.status_code == 404 and "ga terug naar de spiegelinformatie van de regio" in lost.text
    assert 'href="/inbox/region"' in lost.text and "werklijst" not in lost.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', s.get(live.base + "/inbox/region", timeout=10).text)[1]
    r = s.post(
        live.base + "/inbox/referral/some-task-1/accept",
        data={"csrf_token": token, "version": "1"},
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 403
    for path in ("/form", "/form/review", "/form/sent", "/practice/referrals", "/practice/mirror"):
        r = s.get(live.base + path, allow_redirects=False, timeout=10)
        assert r.status_code == 401, path  # no launch session: the practice's pages are not hers
    assert s.get(live.base + "/fhir/QuestionnaireResponse/x", timeout=10).status_code in (401, 404)


def test_a_coordinator_does_not_see_the_regions_page(live):
    s, _ = sign_in(live, "demo-jgz")
    r = s.get(live.base + "/inbox/region", allow_redirects=False, timeout=10)
    assert r.status_code == 403 and "programmamanager van de regio" in r.text


def test_the_region_page_without_a_session_goes_to_sign_in(live):
    r = requests.get(live.base + "/inbox/region", allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"].endswith("/inbox/login")
