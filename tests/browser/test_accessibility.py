"""The pages around the form, at 1280×800 and 400×800 (Journey.check): the sandbox EHR's launch page, a launch
without a session, the practice's error page, a pick the sandbox does not know. Each is readable Dutch with a 4xx
and has no serious or critical axe-core violation. (The form, the Meldcode step, the review and the confirmation
are checked at both widths in the journeys: test_journeys.py, test_keyboard.py.)
"""

from __future__ import annotations

from playwright.sync_api import expect


def test_pages_around_the_form_at_both_widths(journey, live_app):
    j = journey()
    page = j.page
    response = page.goto(j.url("/form"))  # no launch: the app asks for one, never a 500
    assert response.status == 401
    expect(page.locator("h1")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    j.check("no-launch")
    j.launch("demo-pregnant")  # the practice's error page: a form posted without its token
    page.locator("#signal-form input[name=csrf_token]").evaluate("e => { e.value = ''; }")
    with page.expect_navigation() as navigation:
        page.locator("#signal-form").evaluate("f => f.submit()")
    assert navigation.value.status == 400
    expect(page.locator("h1")).to_be_visible()
    expect(page.get_by_role("link", name="Naar het formulier")).to_be_visible()
    j.check("error-page")
    # with another session's token (a window of an earlier launch): what happened, and no way into the form
    page.goto(j.url("/form"))
    page.locator("#signal-form input[name=csrf_token]").evaluate("e => { e.value = 'not-the-session-token'; }")
    with page.expect_navigation() as navigation:
        page.locator("#signal-form").evaluate("f => f.submit()")
    assert navigation.value.status == 409
    expect(page.locator("h1")).to_have_text("Dit venster hoort bij een eerdere opening")
    expect(page.get_by_role("link", name="Naar het formulier")).to_have_count(0)
    j.check("other-window")
    if live_app.sandbox:
        response = page.goto(j.url("/sandbox/launch"))
        assert response.status == 200
        j.check("sandbox-launch")
        response = page.goto(j.url("/sandbox/launch?patient=nobody&user=nobody"))
        assert response.status == 400
        j.check("sandbox-unknown-pick")


def test_error_pages_without_javascript_at_both_widths(journey):
    """Without JavaScript too (axe-core then checks the same markup in a page that runs scripts)."""
    j = journey(javascript=False)
    page = j.page
    response = page.goto(j.url("/launch?iss=https%3A%2F%2Fehr.attacker.example%2Ffhir&launch=x"))
    assert response.status == 400
    expect(page.get_by_text("Dit EPD is niet aangesloten op Kansrijke Start", exact=False)).to_be_visible()
    j.check("unregistered-ehr")
    response = page.goto(j.url("/launch/standalone"))
    assert response.status == 200
    j.check("standalone-pick")
    response = page.goto(j.url("/formulier"))  # a mistyped address: a page that says so, not FHIR JSON
    assert response.status == 404 and response.headers["content-type"].startswith("text/html")
    expect(page.locator("h1")).to_have_text("Deze pagina bestaat niet")
    j.check("unknown-address")


def test_the_practices_referrals_from_the_page_chrome_at_both_widths(journey):
    """Issue 13 point 4: the practice's overview is a link in every launch's top bar; readable and accessible."""
    j = journey()
    j.launch("demo-pregnant")
    page = j.page
    with page.expect_navigation():
        page.locator("header").get_by_role("link", name="Verwijzingen van de praktijk").click()
    expect(page.locator("h1")).to_have_text("Verwijzingen van de praktijk")
    expect(page.get_by_role("heading", name="Nog open")).to_be_visible()
    j.check("practice-referrals")
