"""The whole loop in headless Chromium (issue 13): the GP sends a referral through the form, the JGZ coordinator
signs in at the sandbox's OpenID Connect provider, finds it on her worklist, opens it, accepts it and closes it with
an outcome and a message for the GP; then the GP's confirmation page shows what came of it, brought there by the app's
own background poll of the recipients' Tasks (FeedbackPoller; the browsers' app runs it with a floor of a second
between polls instead of Gravity's 15 minutes: tests/browser/conftest.py). Every step is screenshot and checked with
axe-core at 1280 and 400 px (Journey.check)."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from service.fhir.client import FhirClient
from tests.referrals.taskwork import JGZ

MESSAGE = "Moeder gebeld en een eerste huisbezoek gepland; de JGZ-verpleegkundige volgt het gezin."


def jgz_tasks(recipients: str) -> set[str]:
    """The JGZ coordinator's Task ids on the recipients' server now."""
    with FhirClient(recipients, sleep=lambda _: None) as fhir:
        bundle = fhir.search("Task", [("owner:identifier", JGZ), ("_count", "500"), ("_elements", "id")])
        return {e["resource"]["id"] for e in bundle.get("entry") or ()}


def gp_sends_a_routine_referral(j) -> None:
    page = j.page
    j.launch("demo-pregnant")
    expect(page.locator("h1")).to_have_text("Signalering kwetsbaarheid")
    page.get_by_label("Financiële problematiek", exact=True).check()
    page.get_by_label("Taalbarrière", exact=True).check()
    expect(page.locator("#panel .level-value")).to_have_text("kwetsbaar")
    page.get_by_role("button", name="Controleren en verder").click()
    page.wait_for_url("**/form/review")
    for box in page.locator("article.review-recipient input[type=checkbox]").all():
        box.check()
    page.get_by_label("Mondeling", exact=True).check()
    page.get_by_role("button", name="Versturen en vastleggen").click()
    page.wait_for_url("**/form/sent")
    expect(page.locator(".state-value")).to_have_text("afgeleverd")
    j.check("gp-sent")


def coordinator_signs_in(c) -> None:
    page = c.page
    page.goto(c.url("/inbox"))
    page.wait_for_url("**/sandbox/idp/authorize**")
    c.check("provider-pick")
    page.get_by_role("link", name="Inloggen als Marieke Hendriks").click()
    page.wait_for_url("**/inbox")
    expect(page.locator("h1")).to_have_text("Inbox Kansrijke Start")
    expect(page.get_by_role("status").first).to_contain_text("Ingelogd als Marieke Hendriks")


def test_the_gp_sends_the_coordinator_accepts_and_closes_and_the_gp_sees_the_outcome(journey):
    gp, coordinator = journey(who="gp"), journey(who="coordinator")
    before = jgz_tasks(gp.live.recipients)
    gp_sends_a_routine_referral(gp)
    [task_id] = jgz_tasks(gp.live.recipients) - before  # the one referral to the JGZ this send made

    coordinator_signs_in(coordinator)
    page = coordinator.page
    line = page.locator("tr.work-item", has=page.locator(f'a[href="/inbox/referral/{task_id}"]'))
    expect(line).to_contain_text("aangevraagd, nog niet opgepakt")
    expect(line).to_contain_text("regulier")
    coordinator.check("worklist")
    line.get_by_role("link").click()
    page.wait_for_url(f"**/inbox/referral/{task_id}")
    expect(page.locator(".task-status-value")).to_have_text("aangevraagd, nog niet opgepakt")
    expect(page.locator("main")).to_contain_text("Financiële problematiek")
    expect(page.locator(".referral-gp")).to_have_text("Anna Jansen")  # the GP by name, never the EHR's reference
    expect(page.locator("main")).to_contain_text("Nederlands")  # the preferred language by name, not "nl"
    coordinator.check("detail")

    page.get_by_role("button", name="Aannemen").click()
    expect(page.locator(".inbox-done")).to_have_text("U heeft de verwijzing aangenomen.")
    expect(page.locator(".task-status-value")).to_have_text("geaccepteerd")
    expect(page.locator(".task-assignee")).to_have_text("Marieke Hendriks")
    coordinator.check("accepted")

    page.get_by_label("Uitkomst", exact=True).select_option("support-started")
    page.get_by_label("Kort bericht voor de huisarts").fill(MESSAGE)
    page.get_by_role("button", name="Afsluiten en bericht versturen").click()
    expect(page.locator(".task-status-value")).to_have_text("afgerond")
    expect(page.locator(".task-outcome")).to_have_text("Contact gelegd, ondersteuning gestart")
    expect(page.locator(".task-message")).to_have_text(MESSAGE)
    coordinator.check("closed")

    # the English switch on the inbox's pages, kept for the session
    page.get_by_role("button", name="English").click()
    expect(page.locator(".task-status-value")).to_have_text("completed")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    coordinator.check("closed-english")

    # the referral is off the worklist (closed), and the GP's confirmation page shows the recipient's status
    page.get_by_role("link", name="Back to the worklist").click()
    expect(page.locator(f'a[href="/inbox/referral/{task_id}"]')).to_have_count(0)
    gp_reloads_until(gp, "/form/sent", "afgerond")
    expect(gp.page.locator(".task-status").first).to_contain_text("Contact gelegd, ondersteuning gestart")
    expect(gp.page.locator(".gp-message").first).to_contain_text(MESSAGE)
    expect(gp.page.locator(".task-checked").first).to_contain_text("Stand bij de ontvanger opgehaald op")
    gp.check("gp-sees-the-outcome")


def gp_reloads_until(j, path: str, status: str, timeout: float = 30.0) -> None:
    """The GP opens `path` again (as she would) until its first referral's status at the recipient reads `status`:
    the page shows the practice's copy and asks the app's poller for a fresh one when it is older than the floor
    (FeedbackStore.want); the poller brings it, the test never polls the recipients itself."""
    deadline = time.monotonic() + timeout
    status_line = j.page.locator(".task-status").first
    while True:
        j.page.goto(j.url(path))
        if status in (status_line.text_content() or ""):
            return
        assert time.monotonic() < deadline, f"the status at the recipient is still {status_line.text_content()!r}"
        j.page.wait_for_timeout(500)
