"""Issue 12 point 3 and the doubled questions: a send that makes nothing leave the practice is confirmed first
(server-side, without JavaScript); the confirmation says what was recorded, what went where and what did not, by
name, with the FHIR ids only in its folded "Technische gegevens"; the HIS summary names people, not references;
the Meldcode step does not ask the kindcheck the form answered; the step indicator adds up."""

from __future__ import annotations

import re

from service.referrals.bundle import submission_id
from service.web.common import FORM_ID_SYSTEM
from tests.web.helpers import csrf_of
from tests.web.test_pages import PREGNANT, holdings, page, post, text_of

FHIR_REFERENCE = re.compile(r"\b(Patient|PractitionerRole|Practitioner|QuestionnaireResponse|ServiceRequest|Task)/")
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
PRECONCEPTION = {"phase": "preconception", "pregnancy-intention": "LA26438-4"}  # the internal consult only


def work_of(client):
    return client.application.extensions["ks"].forms.work(client.ctx.session_id)


def responses_in_ehr(ehr, identifier: str) -> int:
    """How many responses of the form with this business identifier the EHR holds (its id is derived from it)."""
    qr_id = submission_id({"identifier": {"system": FORM_ID_SYSTEM, "value": identifier}})
    return len(ehr.search("QuestionnaireResponse", {"_id": qr_id}).get("entry", []))


def summary_of(html: str) -> str:
    return re.search(r'<textarea id="summary" class="summary" readonly rows="14">(.*?)</textarea>', html, re.S).group(1)


def test_an_empty_send_is_confirmed_first_and_writes_nothing_until_then(as_user, ehr, web_app):
    client = as_user("demo-preconception")
    token = csrf_of(page(client))
    post(client, "/form/review", PRECONCEPTION, token)
    review = page(client, "/form/review")
    # nothing can leave (an internal consult only): the one button says so, with what will happen
    assert 'id="send-button"' not in review
    actions = text_of(review.split('id="actions"')[1].split("</form>")[0])
    assert "Alleen vastleggen, niets versturen" in actions
    assert "Er gaat niets naar buiten de praktijk; alleen het dossier wordt bijgewerkt" in actions
    assert "de vragenlijst en de interne verwijzing komen in het EPD" in actions
    identifier = work_of(client).identifier
    # a send without the confirmation (a script, an old page): the review again, in Dutch, nothing written
    r = post(client, "/form/send", {}, token)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'class="error-summary"' in html and 'href="#actions"' in html
    assert "Er gaat niets naar buiten de praktijk. Wilt u alleen vastleggen?" in html
    assert 'id="record-only-button"' in html and 'name="confirm-record-only" value="yes"' in html
    assert work_of(client).result is None and responses_in_ehr(ehr, identifier) == 0
    assert web_app.extensions["ks"].delivery.outbox.list() == []
    # confirmed: recorded, and the page says that is all that happened
    r = post(client, "/form/send", {"confirm-record-only": "yes"}, token)
    assert r.status_code == 303 and r.headers["Location"] == "/form/sent"
    assert responses_in_ehr(ehr, identifier) == 1
    sent = text_of(page(client, "/form/sent"))
    assert "Vastgelegd in het dossier van de praktijk; er is geen verwijzing naar buiten verstuurd." in sent
    assert "de interne verwijzing met een taak voor Preconceptieconsult (eigen praktijk)" in sent


def test_record_only_while_consent_is_ticked_sends_nothing(as_user, recipients, ehr):
    """The no-JavaScript page shows both buttons; "niets versturen" with a box ticked is a contradiction: asked
    again, and nothing goes anywhere."""
    client = as_user("demo-pregnant")
    token = csrf_of(page(client))
    post(client, "/form/review", {**PREGNANT, "homeless": "true"}, token)
    review = page(client, "/form/review")
    assert 'id="send-button"' in review and re.search(r'<div class="record-only" id="record-only">', review)
    before = holdings(recipients)
    r = post(
        client,
        "/form/send",
        {"consent-for-regiocoordinator-jgz": "true", "consent-method": "verbal", "confirm-record-only": "yes"},
        token,
    )
    assert r.status_code == 422
    assert "maar er is toestemming aangevinkt" in r.get_data(as_text=True)
    assert holdings(recipients) == before and work_of(client).result is None
    assert responses_in_ehr(ehr, work_of(client).identifier) == 0
    # the review now shows the consent as ticked: something leaves, the send button is the one to press
    again = page(client, "/form/review")
    assert re.search(r'<div class="record-only" id="record-only" hidden>', again)
    r = post(client, "/form/send", {"consent-for-regiocoordinator-jgz": "true", "consent-method": "verbal"}, token)
    assert r.status_code == 303 and r.headers["Location"] == "/form/sent"


def test_the_confirmation_names_organisations_and_people_and_folds_the_ids_away(as_user, recipients):
    client = as_user("demo-pregnant", user_name="Anna Jansen")
    token = csrf_of(page(client))
    fields = {**PREGNANT, "domestic-violence": "true", "homeless": "true", "substance-addiction": "true"}
    assert post(client, "/form/review", fields, token).headers["Location"] == "/form/meldcode"
    post(client, "/form/meldcode", {"meldcode-step": ["signalen"], "children-in-household": "1"}, token)
    r = post(client, "/form/send", {"consent-for-regiocoordinator-jgz": "true", "consent-method": "verbal"}, token)
    assert r.headers["Location"] == "/form/sent"
    sent = page(client, "/form/sent")
    technical = sent.split('<details class="technical">')[1].split("</details>")[0]
    outside = sent.replace(technical, "")
    assert FHIR_REFERENCE.search(outside) is None, FHIR_REFERENCE.search(outside)
    assert UUID.search(outside) is None, UUID.search(outside)
    # ... and they are all in the folded part: the submission, the recipient's ServiceRequest, what the EHR got
    result = work_of(client).result
    [sr_id] = re.findall(r'<code class="sr-id">([^<]+)</code>', technical)
    assert recipients.read("ServiceRequest", sr_id)["code"]["coding"][0]["code"] == "regiocoordinator-jgz"
    assert result["submission"] in technical and sr_id not in outside
    assert all(f"<code>{ref}</code>" in technical for ref in result["ehr"]["written"])
    # by name: what went where, what was recorded
    words = text_of(outside)
    assert (
        "Regiocoördinator Jeugdgezondheidszorg Maastricht-Heuvelland (GGD) — naar GGD Zuid Limburg: afgeleverd" in words
    )
    assert "de verwijzing naar Regiocoördinator Jeugdgezondheidszorg Maastricht-Heuvelland (GGD)" in words
    assert "Technische gegevens" in sent
    # the summary for the HIS: people by name, no ids at all
    summary = summary_of(sent)
    assert FHIR_REFERENCE.search(summary) is None and UUID.search(summary) is None and sr_id not in summary
    assert "Vastgelegd door: Anna Jansen" in summary
    assert re.search(r"stap 1: \d\d-\d\d-\d{4}, Anna Jansen", summary)


def test_the_assistant_is_named_by_role_when_the_ehr_gives_no_name(as_user):
    client = as_user("demo-preconception", user="demo-poh")
    token = csrf_of(page(client))
    post(client, "/form/review", PRECONCEPTION, token)
    post(client, "/form/send", {"confirm-record-only": "yes"}, token)
    summary = summary_of(page(client, "/form/sent"))
    assert "Vastgelegd door: de POH Jeugd" in summary and "PractitionerRole" not in summary


def test_the_kindcheck_is_asked_on_the_meldcode_step_only_when_the_form_left_it_empty(as_user):
    client = as_user("demo-pregnant")
    token = csrf_of(page(client))
    post(client, "/form/review", {**PREGNANT, "domestic-violence": "true"}, token)
    meld = page(client, "/form/meldcode")
    assert 'id="f-children-in-household"' in meld and 'id="children-fact"' not in meld
    r = post(client, "/form/meldcode", {"children-in-household": "veel", "children-asked": "yes"}, token)
    assert r.status_code == 422 and 'id="f-children-in-household"' in r.get_data(as_text=True)  # still asked
    r = post(client, "/form/meldcode", {"children-in-household": "3", "children-asked": "yes"}, token)
    assert r.headers["Location"] == "/form/review"
    assert work_of(client).fields["children-in-household"] == ["3"]
    # answered once: the form has it, the Meldcode step shows it as a fact and keeps it when posted again
    assert 'name="children-in-household" value="3"' in page(client, "/form")
    post(client, "/form/review", {**PREGNANT, "domestic-violence": "true", "children-in-household": "3"}, token)
    meld = page(client, "/form/meldcode")
    assert 'id="f-children-in-household"' not in meld
    assert re.search(r'id="children-fact">.*?<strong>3</strong>', meld, re.S)
    assert "Ingevuld op het formulier (kindcheck); aanpassen kan daar." in meld
    post(client, "/form/meldcode", {"meldcode-step": ["signalen"]}, token)
    assert work_of(client).fields["children-in-household"] == ["3"]


def test_the_step_indicator_adds_up(as_user):
    client = as_user("demo-pregnant")
    token = csrf_of(page(client))
    assert "Stap 1 van 2: signaleren" in page(client)  # no Meldcode step due: two steps
    post(client, "/form/review", {**PREGNANT, "homeless": "true"}, token)
    assert "Stap 2 van 2: controleren, toestemming, versturen" in page(client, "/form/review")
    post(client, "/form/review", {**PREGNANT, "domestic-violence": "true", "children-in-household": "1"}, token)
    assert "Stap 2 van 3: Meldcode en veiligheid" in page(client, "/form/meldcode")
    post(client, "/form/meldcode", {}, token)
    assert "Stap 3 van 3: controleren, toestemming, versturen" in page(client, "/form/review")
    form = page(client)
    assert "Stap 1 van 3: signaleren" in form  # the Meldcode step is due for what the form holds
    # app.js switches between the two as the panel says whether the Meldcode step is due
    assert 'data-two="Stap 1 van 2: signaleren" data-three="Stap 1 van 3: signaleren"' in form
