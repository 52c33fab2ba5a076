"""The mirror figures in headless Chromium (issue 14 point 4): the GP opens the dashboard from her launch (the top
bar's link), sees her practice's figures and the region's with small numbers hidden, switches to English; the
region's programme manager signs in at the sandbox's OpenID Connect provider, sees the region's figures, and is
refused the worklist. The figures are the invented history `make run` fills (service/run.py demo_history): the
banner says it is invented, the charts have bars, the region's table names the invented practices. Every page is
screenshot and checked with axe-core at 1280 and 400 px (Journey.check); the practice's page at 1280 px is written
to tests/artifacts/mirror-practice.png, from which the README's (docs/screenshots/mirror-practice.png) is copied by
hand when the page changes: a test run leaves the checkout as it was."""

from __future__ import annotations

from playwright.sync_api import expect

from service.config import load_settings
from service.demo import INVENTED_PRACTICES
from service.run import demo_history
from tests.browser.conftest import ARTIFACTS

SCREENSHOT = ARTIFACTS / "mirror-practice.png"


def invented_history(live) -> None:
    """A year of invented events for the demo practices in the app's own data folder, by `make run`'s own code."""
    demo_history(load_settings(environ={"KS_DATA_DIR": str(live.sessions.path.parent)}))


def bar_widths(page, prefix: str) -> list[float]:
    """The widths of the shown (not suppressed) bars of the charts whose ids start with `prefix`."""
    selector = f'svg.mirror-chart[aria-labelledby^="{prefix}-"] rect.bar:not(.suppressed)'
    return page.eval_on_selector_all(selector, "els => els.map(e => parseFloat(e.getAttribute('width')))")


def test_the_gp_and_the_programme_manager_see_the_mirror_figures(journey):
    gp, manager = journey(who="gp"), journey(who="regio")
    invented_history(gp.live)

    gp.launch("demo-pregnant")
    page = gp.page
    page.get_by_role("link", name="Spiegelinformatie").click()
    page.wait_for_url("**/practice/mirror")
    expect(page.locator("h1")).to_have_text("Spiegelinformatie Kansrijke Start")
    expect(page.locator(".mirror-invented")).to_be_visible()
    expect(page.locator(".mirror-invented")).to_contain_text("Verzonnen demogeschiedenis.")
    expect(page.locator("svg.mirror-chart")).to_have_count(8)
    assert sum(w > 2 for w in bar_widths(page, "own")) >= 4  # the practice's own charts have bars (a year of events)
    expect(page.get_by_role("img", name="Verwijzingen per kwartaal").first).to_be_visible()
    expect(page.locator("#own-per-quarter-caption")).to_be_visible()
    gp.check("practice")
    page.set_viewport_size({"width": 1280, "height": 800})
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=False)

    # the period picker with the keyboard: a quarter, then Tonen
    page.locator("#period").focus()
    page.keyboard.press("ArrowDown")  # the first quarter of the year shown
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Tonen")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url("**/practice/mirror?period=*Q1")
    expect(page.locator("#own-title")).to_contain_text("1e kwartaal")
    gp.check("practice-quarter")

    page.get_by_role("button", name="English").click()
    page.wait_for_url("**/practice/mirror")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Kansrijke Start mirror figures")
    expect(page.locator(".mirror-invented")).to_contain_text("Invented demo history.")
    gp.check("practice-english")

    page = manager.page
    page.goto(manager.url("/inbox/region"))
    page.wait_for_url("**/sandbox/idp/authorize**")
    page.get_by_role("link", name="Inloggen als Ingrid Lemmens").click()
    page.wait_for_url("**/inbox/region")
    expect(page.locator("h1")).to_have_text("Spiegelinformatie van de regio")
    expect(page.get_by_role("status").first).to_contain_text("Ingelogd als Ingrid Lemmens")
    expect(page.locator("#own-title")).to_have_count(0)  # no practice's unsuppressed figures
    expect(page.locator("table.per-practice tbody tr")).to_have_count(1 + len(INVENTED_PRACTICES))
    for _, name, _, _ in INVENTED_PRACTICES:  # named as the sandbox EHR registers them, marked invented
        expect(page.locator("table.per-practice tbody")).to_contain_text(name)
    expect(page.locator("table.per-practice tbody")).not_to_contain_text("demo-praktijk-")
    expect(page.locator(".mirror-invented")).to_be_visible()
    manager.check("region")

    page.goto(manager.url("/inbox"))
    expect(page.locator("[role=alert]")).to_contain_text("programmamanager van de regio")
    manager.check("no-worklist")
    page.get_by_role("link", name="Naar de spiegelinformatie van de regio").click()
    page.wait_for_url("**/inbox/region")
