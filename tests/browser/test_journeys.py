"""Journeys in headless Chromium: a GP with JavaScript, the same without, a GP sending without consent, an
assistant who cannot send, and the standalone launch. The EHR's server and the recipients' are two servers
(conftest.py), so each journey checks what left the practice and what stayed.

Every step is screenshotted to tests/artifacts/<journey>/ and checked with axe-core (no serious or
critical violation) and for Content-Security-Policy errors.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from service.fhir import urls
from service.fhir.client import FhirClient
from tests.browser.conftest import RECIPIENTS_NAME

PANEL = "#panel"


def sr_ids(page) -> list[str]:
    """The recipients' ServiceRequest ids: only in the confirmation's folded "Technische gegevens"."""
    return [t.strip() for t in page.locator("details.technical code.sr-id").all_text_contents()]


def found(base_url: str, rtype: str, identifier: str) -> list[dict]:
    with FhirClient(base_url) as fhir:
        return [e["resource"] for e in fhir.search(rtype, {"identifier": identifier}).get("entry", [])]


def holdings(base_url: str) -> dict[str, int]:
    """What a server holds of everything a referral could bring, counted."""
    with FhirClient(base_url) as fhir:
        return {
            t: fhir.search(t, {"_summary": "count"})["total"]
            for t in ("Patient", "ServiceRequest", "Task", "Consent", "Provenance", "QuestionnaireResponse")
        }


def internal_stayed_in_the_practice(live_app, submission: str, recipient: str = "poh-jeugd") -> None:
    """The internal referral is a ServiceRequest and a Task in the EHR, and nowhere at the recipients."""
    referral, task = f"{urls.ID_REFERRAL}|{submission}:{recipient}", f"{urls.ID_TASK}|{submission}:{recipient}"
    [sr] = found(live_app.fhir, "ServiceRequest", referral)
    [owned] = found(live_app.fhir, "Task", task)
    assert owned["focus"] == {"reference": f"ServiceRequest/{sr['id']}"} and owned["owner"]["display"].startswith(
        "POH Jeugd"
    )
    assert (
        found(live_app.recipients, "ServiceRequest", referral) == [] and found(live_app.recipients, "Task", task) == []
    )


def test_gp_with_javascript(journey, live_app):
    j = journey()
    page = j.page
    j.launch("demo-pregnant")
    expect(page.locator("h1")).to_have_text("Signalering kwetsbaarheid")
    expect(page.locator("#f-phase-pregnant")).to_be_checked()  # $populate from the EHR record
    expect(page.locator("#f-due-date")).to_have_value(re.compile(r"^\d\d-\d\d-\d{4}$"))  # dd-mm-jjjj, any locale
    expect(page.locator("#sug-teenage-pregnancy")).to_be_visible()  # suggested ...
    expect(page.locator("#f-teenage-pregnancy")).not_to_be_checked()  # ... never ticked
    # enableWhen acts live: the child's birth date and the kindcheck are hidden until they apply
    expect(page.locator("#item-child-birth-date")).to_be_hidden()
    expect(page.locator("#item-safety")).to_be_hidden()
    # ... and so are their hints: no "Alleen bij …" left on screen for a hidden item; shown again with it
    expect(page.locator("#hint-child-birth-date")).to_be_hidden()
    expect(page.locator("#hint-safety")).to_be_hidden()
    expect(page.locator("#hint-due-date")).to_have_text("Alleen bij fase ‘Zwanger’.")
    expect(page.locator(PANEL)).to_contain_text("geen kwetsbaarheid")
    j.check("form-prefilled")

    page.get_by_label("Financiële problematiek", exact=True).check()
    page.get_by_label("Taalbarrière", exact=True).check()
    expect(page.locator(f"{PANEL} .level-value")).to_have_text("kwetsbaar")
    expect(page.locator(f"{PANEL} .recipient")).to_contain_text("Regiocoördinator Jeugdgezondheidszorg")
    expect(page.locator(f"{PANEL} .recipient")).to_contain_text("prioriteit regulier")
    expect(page.locator(f"{PANEL} .recipient .reasons").first).to_contain_text("Financiële problematiek; Taalbarrière")
    j.check("panel-vulnerable")

    page.get_by_label("Huiselijk geweld", exact=True).check()
    expect(page.locator(f"{PANEL} .safety.meldcode")).to_be_visible()
    expect(page.locator(f"{PANEL} section").first).to_have_class(re.compile(r"\blevel\b"))  # what the GP acts on
    strip = page.locator(f"{PANEL} details.meldcode-strip")  # the Meldcode: one red line after the recipients
    expect(strip.locator("summary")).to_contain_text("bij acuut gevaar 112, Veilig Thuis 0800-2000")
    expect(strip).to_contain_text("Acuut gevaar? Bel 112.")  # when opened (test_advice_in_sight.py opens it)
    expect(strip).to_contain_text("Deze dienst stuurt nooit iets naar Veilig Thuis")
    expect(page.locator(f"{PANEL} .level-value")).to_have_text("urgent kwetsbaar")
    expect(page.locator(f"{PANEL} .recipient").filter(has_text="POH Jeugd")).to_be_visible()  # complex
    expect(page.locator("#item-safety")).to_be_visible()  # the kindcheck appears
    page.locator("#f-children-in-household").fill("2")
    expect(page.locator("#item-consent")).to_have_count(0)  # consent: asked at review, per recipient
    page.locator("#f-note").fill("Wil hulp bij geldzaken.")
    j.check("panel-meldcode")
    page.locator("#item-urgent-signals").scroll_into_view_if_needed()
    page.evaluate("window.scrollTo(0, document.getElementById('item-urgent-signals').offsetTop - 16)")
    j.shot("panel-meldcode-viewport", full_page=False)  # the form with the panel beside it, as the GP sees it

    page.get_by_role("button", name="Controleren en verder").click()
    page.wait_for_url("**/form/meldcode")
    expect(page.locator("h1")).to_contain_text("meldcode")
    page.get_by_label(re.compile("Stap 1")).check()
    page.get_by_label(re.compile("Stap 2")).check()
    expect(page.locator("#children-fact")).to_contain_text("2")  # the form's kindcheck: not asked again
    expect(page.locator("#f-children-in-household")).to_have_count(0)
    j.check("meldcode-step")
    page.get_by_role("button", name="Verder naar controleren").click()

    page.wait_for_url("**/form/review")
    jgz = page.locator("article.review-recipient").filter(has_text="Regiocoördinator")
    expect(jgz.locator(".destination")).to_have_text(RECIPIENTS_NAME)  # the destination's name from KS_DESTINATIONS
    gets, nothing = jgz.locator(".gets"), jgz.locator(".gets-nothing")
    expect(gets).to_contain_text("de aangevinkte signalen: Huiselijk geweld; Financiële problematiek; Taalbarrière")
    expect(gets).to_contain_text("de hulpvraag: ‘Wil hulp bij geldzaken.’")
    expect(gets).to_contain_text("naam, BSN, geslacht, geboortedatum, adres, telefoon en e-mail")
    poh = page.locator("article.review-recipient").filter(has_text="POH Jeugd")
    expect(poh.locator(".destination")).to_have_text("blijft in de praktijk (EPD)")
    expect(page.locator("#never-leaves")).to_contain_text("de kindcheck")
    box = page.locator("#consent-for-regiocoordinator-jgz")
    expect(box).not_to_be_checked()  # nothing ticked beforehand: the GP asks it here
    expect(page.locator("#consent-state-regiocoordinator-jgz")).to_contain_text("Wordt NIET verstuurd")
    expect(gets).to_be_visible()  # what consent is asked for is in sight before the box is ticked
    expect(nothing).to_be_visible()
    expect(page.locator("#send-button")).to_be_hidden()  # nothing leaves: the one button says so
    expect(page.locator("#record-only-button")).to_have_text("Alleen vastleggen, niets versturen")
    expect(page.locator("#item-consent-method")).to_be_hidden()  # how: asked once a box is ticked
    expect(nothing).to_have_text(f"niets — zonder toestemming gaat er niets naar {RECIPIENTS_NAME}.")
    expect(page.locator("#nothing-external")).to_be_visible()
    j.check("review-no-consent")
    box.check()  # at once: "krijgt niets" goes, and the send button comes
    expect(page.locator("#consent-state-regiocoordinator-jgz")).to_have_text("Wordt verstuurd.")
    expect(gets).to_be_visible()
    expect(nothing).to_be_hidden()
    expect(page.locator("#send-button")).to_be_visible()
    expect(page.locator("#record-only")).to_be_hidden()
    expect(page.locator("#nothing-external")).to_be_hidden()
    expect(page.locator("#item-consent-method")).to_be_visible()
    page.get_by_label("Mondeling", exact=True).check()
    j.check("review")

    page.get_by_role("button", name="Versturen en vastleggen").click()
    page.wait_for_url("**/form/sent")
    expect(page.locator(".state-value")).to_have_text("afgeleverd")
    ids = sr_ids(page)
    assert len(ids) == 1  # the JGZ's; the POH Jeugd's stays in the practice
    expect(page.locator(".sent-list li").filter(has_text="POH Jeugd")).to_contain_text(
        "interne verwijzing: blijft in de praktijk, vastgelegd in het EPD"
    )
    expect(page.locator(".sent-list li").filter(has_text="Regiocoördinator")).to_contain_text(
        f"naar {RECIPIENTS_NAME}: afgeleverd"
    )
    expect(page.locator("#summary")).to_have_value(re.compile("Signalen: Huiselijk geweld"))
    expect(page.locator("#copy-summary")).to_be_visible()
    expect(page.locator(".ehr-recorded")).to_contain_text("de ingevulde vragenlijst")  # with the launch's token
    expect(page.locator("details.technical")).to_contain_text("QuestionnaireResponse/")  # the ids: folded away
    expect(page.locator("main")).not_to_contain_text("PractitionerRole/")
    j.check("sent")
    with FhirClient(
        live_app.recipients
    ) as fhir:  # at the recipients: their referral, for the patient they now know by BSN
        sr = fhir.read("ServiceRequest", ids[0])
        patient = fhir.read(*sr["subject"]["reference"].split("/"))
        assert sr["status"] == "active" and patient["identifier"][0]["value"] == "999990020"
    internal_stayed_in_the_practice(live_app, sr["identifier"][0]["value"].rsplit(":", 1)[0])
    # A new form for the same patient shows what was sent, as it stands at the recipients, and the internal one
    page.get_by_role("button", name="Nieuw formulier voor deze patiënt").click()
    page.wait_for_url("**/form")
    expect(page.locator(".earlier")).to_contain_text("aangevraagd, nog niet opgepakt")
    expect(page.locator(".earlier")).to_contain_text("POH Jeugd (eigen praktijk) (intern, in de praktijk)")
    j.check("form-earlier-referrals")


def test_gp_without_javascript(journey, live_app):
    j = journey(javascript=False)
    page = j.page
    j.launch("demo-pregnant")
    # every item is visible, with when to fill it in
    expect(page.locator("#item-child-birth-date")).to_be_visible()
    expect(page.locator("#hint-child-birth-date")).to_have_text("Alleen bij fase ‘Na de geboorte’.")
    expect(page.locator(".nojs-only").first).to_be_visible()
    j.check("form")
    page.locator("#f-due-date").fill("")
    page.get_by_label("Huiselijk geweld", exact=True).check()
    page.get_by_label("Dak- of thuisloos", exact=True).check()
    page.get_by_role("button", name="Voorstel bijwerken").click()
    expect(page.locator(f"{PANEL} .safety.meldcode")).to_be_visible()
    j.check("panel-updated")
    page.get_by_role("button", name="Controleren en verder").click()
    summary = page.locator("#error-summary")
    expect(summary).to_contain_text("Vul ‘Uitgerekende datum (à terme datum)’ in.")
    expect(page.locator("#err-due-date")).to_contain_text("Vul ‘Uitgerekende datum")
    j.check("errors")
    summary.get_by_role("link").first.click()
    assert page.url.endswith("#f-due-date")
    page.locator("#f-due-date").fill("01-03-2027")
    page.get_by_role("button", name="Controleren en verder").click()
    page.wait_for_url("**/form/meldcode")
    page.locator("#f-children-in-household").fill("1")
    j.check("meldcode")
    page.get_by_role("button", name="Verder naar controleren").click()
    page.wait_for_url("**/form/review")
    jgz = page.locator("article.review-recipient").filter(has_text="Regiocoördinator")
    expect(page.locator("#consent-state-regiocoordinator-jgz")).to_contain_text("Wordt NIET verstuurd")
    expect(jgz.locator(".gets-nothing")).to_be_visible()  # without JavaScript the server's page says it
    expect(jgz.locator(".gets")).to_be_visible()
    expect(page.locator("#item-consent-method")).to_be_visible()  # without JavaScript: chosen with the ticks
    page.get_by_label(re.compile("toestemming om deze gegevens te delen met Regiocoördinator")).check()
    page.get_by_label("Schriftelijk", exact=True).check()
    page.get_by_role("button", name="Toestemming vastleggen en overzicht bijwerken").click()
    expect(page.locator("#consent-state-regiocoordinator-jgz")).to_have_text("Wordt verstuurd.")
    expect(jgz.locator(".gets")).to_contain_text("de vastgelegde toestemming: schriftelijk")
    expect(jgz.locator(".gets-nothing")).to_be_hidden()
    j.check("review-consent")
    page.get_by_role("button", name="Versturen en vastleggen").click()
    page.wait_for_url("**/form/sent")
    ids = sr_ids(page)
    assert len(ids) == 1  # two urgent signals: complex, so the POH Jeugd too, but in the practice
    expect(page.locator(".sent-list li").filter(has_text="POH Jeugd")).to_contain_text("interne verwijzing")
    expect(page.locator("#copy-summary")).to_be_hidden()  # the copy button needs JavaScript; the text is selectable
    j.check("sent")
    with FhirClient(live_app.recipients) as fhir:
        sr = fhir.read("ServiceRequest", ids[0])
        assert sr["priority"] == "urgent"
    internal_stayed_in_the_practice(live_app, sr["identifier"][0]["value"].rsplit(":", 1)[0])
    # the GP cancels the referral (issue 13 point 3): asked first, then cancelled at the recipient
    page.get_by_role("button", name="Verwijzing intrekken: Regiocoördinator", exact=False).click()
    expect(page.locator("h1")).to_have_text("Verwijzing intrekken")
    expect(page.locator(".cancel-question")).to_contain_text("Weet u het zeker?")
    j.check("cancel-confirm")
    page.get_by_role("button", name="Ja, verwijzing intrekken").click()
    page.wait_for_url("**/form/sent")
    expect(page.locator(".sent-list")).to_contain_text("geannuleerd — Ingetrokken door de huisarts")
    expect(page.get_by_role("button", name="Verwijzing intrekken", exact=False)).to_have_count(0)
    j.check("sent-cancelled")
    with FhirClient(live_app.recipients) as fhir:
        assert fhir.read("ServiceRequest", ids[0])["status"] == "revoked"


def test_gp_sends_without_consent_and_nothing_leaves(journey, live_app):
    """No consent for the JGZ: the review says it gets nothing, the confirmation says nothing left the practice
    (never "afgeleverd"), and the recipients' server holds exactly what it held before."""
    j = journey()
    page = j.page
    j.launch("demo-pregnant")
    page.get_by_label("Dak- of thuisloos", exact=True).check()
    page.locator("#f-substance-addiction").check()
    expect(page.locator(f"{PANEL} .recipient").filter(has_text="POH Jeugd")).to_be_visible()
    page.get_by_role("button", name="Controleren en verder").click()
    page.wait_for_url("**/form/review")
    jgz = page.locator("article.review-recipient").filter(has_text="Regiocoördinator")
    expect(page.locator("#consent-for-regiocoordinator-jgz")).not_to_be_checked()
    expect(jgz.locator(".gets-nothing")).to_be_visible()
    expect(page.locator("#nothing-external")).to_contain_text("Er gaat niets buiten de praktijk.")
    j.check("review-nothing-out")
    before = holdings(live_app.recipients)
    expect(page.get_by_role("button", name="Versturen en vastleggen")).to_be_hidden()  # nothing would leave
    expect(page.locator("#record-only")).to_contain_text("alleen het dossier wordt bijgewerkt")
    page.get_by_role("button", name="Alleen vastleggen, niets versturen").click()  # confirmed: the record only
    page.wait_for_url("**/form/sent")
    expect(page.locator(".state-value")).to_have_text("vastgelegd; niets verstuurd buiten de praktijk")
    expect(page.locator(".nothing-sent")).to_have_text(
        "Vastgelegd in het dossier van de praktijk; er is geen verwijzing naar buiten verstuurd."
    )
    expect(page.locator(".not-sent")).to_contain_text("Niets verstuurd naar Regiocoördinator")
    expect(page.locator("main")).not_to_contain_text("afgeleverd")
    expect(page.locator("#summary")).to_have_value(re.compile("Niets verstuurd buiten de praktijk."))
    assert sr_ids(page) == []
    j.check("sent-nothing-out")
    assert holdings(live_app.recipients) == before


def test_assistant_cannot_send(journey, live_app):
    j = journey()
    page = j.page
    j.launch("demo-child-1y", user="demo-assistant")
    expect(page.locator("#f-phase-postpartum")).to_be_checked()
    expect(page.get_by_text("Versturen doet de huisarts of de POH Jeugd.")).to_be_visible()
    page.keyboard.press("Tab")  # keyboard only: the skip link first, then a tick box with the space bar
    expect(page.locator(".skip-link")).to_be_focused()
    page.locator("#f-substance-addiction").focus()
    page.keyboard.press("Space")
    expect(page.locator("#f-substance-addiction")).to_be_checked()
    expect(page.locator(f"{PANEL} .level-value")).to_have_text("urgent kwetsbaar")
    page.get_by_role("button", name="Concept opslaan").click()
    expect(page.locator(".notice[role=status]")).to_contain_text("Concept opgeslagen")
    j.check("draft-saved")
    page.get_by_role("button", name="Controleren en verder").click()
    page.wait_for_url("**/form/review")
    expect(page.get_by_role("button", name="Versturen en vastleggen")).to_have_count(0)
    expect(page.get_by_text("Versturen mag alleen de huisarts of de POH Jeugd")).to_be_visible()
    # she asks no consent: per recipient, what the GP or POH Jeugd can send with it
    expect(page.locator('input[id^="consent-for-"]')).to_have_count(0)
    expect(page.locator("#item-consent-method")).to_have_count(0)
    expect(page.locator("#consent-state-regiocoordinator-jgz")).to_have_text(
        "De huisarts of POH Jeugd kan dit versturen, met toestemming van de patiënt."
    )
    expect(page.locator("main")).not_to_contain_text("Wordt verstuurd.")
    j.check("review-no-send")
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    before = holdings(live_app.recipients)
    r = j.context.request.post(
        j.url("/form/send"),
        form={"csrf_token": token, "consent-for-regiocoordinator-jgz": "true", "consent-method": "verbal"},
    )
    assert r.status == 403 and "Versturen mag alleen de huisarts of de POH Jeugd" in r.text()
    with FhirClient(live_app.fhir) as fhir:
        assert fhir.search("ServiceRequest", {"subject": "Patient/demo-child-1y"}).get("entry", []) == []
    assert holdings(live_app.recipients) == before  # and nothing reached the recipients
    # English, kept for the session (no patient data in the cookie or URL)
    page.get_by_role("link", name="Terug naar het formulier").click()
    page.get_by_role("button", name="English").click()
    page.wait_for_url("**/form")
    expect(page.locator("h1")).to_have_text("Signalling vulnerability")
    expect(page.get_by_label("Addiction / substance-use problems", exact=False)).to_be_checked()
    j.check("english")


def test_standalone_picks_a_registered_ehr_and_a_fake_one_is_refused(journey):
    """Opened outside an EHR: the app offers the registered EHRs, and launches from the one picked; an EHR
    nobody registered gets a page that says so, in Dutch and English."""
    j = journey()
    page = j.page
    page.goto(j.url("/launch/standalone"))
    expect(page.locator("h1")).to_have_text("Kansrijke Start openen")
    expect(page.locator("input")).to_have_count(0)  # no address to type in
    j.check("standalone-pick")
    page.get_by_role("link", name="Demo-EPD (sandbox)").click()
    page.wait_for_url("**/form", timeout=20_000)
    expect(page.locator(".practice-name")).to_have_text("Huisartsenpraktijk De Linde (demo)")
    response = page.goto(j.url("/launch?iss=https%3A%2F%2Fehr.attacker.example%2Ffhir&launch=x"))
    assert response.status == 400
    expect(page.get_by_text("Dit EPD is niet aangesloten op Kansrijke Start", exact=False)).to_be_visible()
    j.check("unregistered-ehr")


def test_the_opening_sentence_follows_the_wish_to_become_pregnant(journey, live_app):
    """Live: before a pregnancy the seed's opening sentence ("je kindje") only for "Ja, ik wil zwanger worden";
    with any other answer, or none yet, the one without; a pregnancy brings the seed's back."""
    j = journey()
    page = j.page
    j.launch("demo-preconception")
    standard, no_wish = page.locator("#item-opening-sentence"), page.locator("#item-opening-sentence-no-wish")
    page.locator("#f-phase-pregnant").check()
    expect(standard).to_be_visible()
    expect(no_wish).to_be_hidden()
    page.locator("#f-phase-preconception").check()  # no answer about the wish yet
    expect(no_wish).to_be_visible()
    expect(standard).to_be_hidden()
    page.locator("#f-pregnancy-intention").select_option("LA26440-0")  # "Nee, ik wil niet zwanger worden"
    expect(no_wish).to_be_visible()
    expect(no_wish).to_contain_text("ook bij het voorkomen van een zwangerschap die je nu niet wilt")
    expect(standard).to_be_hidden()
    expect(page.locator("main")).not_to_contain_text("je kindje", use_inner_text=True)  # not on screen
    j.check("form-opening-no-wish")
    page.locator("#f-pregnancy-intention").select_option("LA26438-4")  # "Ja, ik wil zwanger worden"
    expect(standard).to_be_visible()
    expect(no_wish).to_be_hidden()


def test_a_window_of_an_earlier_launch_says_so_in_its_live_panel(journey, live_app):
    """Two launches in one browser: the first window's live panel says the app was opened again, perhaps for another
    patient, instead of going on with the other patient's session behind it (guard.py OtherWindow)."""
    j = journey()
    page = j.page
    j.launch("demo-pregnant")
    earlier = page
    j.page = page.context.new_page()
    j.launch("demo-preconception")  # the newer launch's session cookie replaces the first's
    j.page = earlier
    earlier.locator("#f-homeless").check()
    alert = earlier.locator("#panel .panel-errors[role=alert]")
    expect(alert).to_contain_text("opnieuw geopend, mogelijk voor een andere patiënt")
