"""Issue 13 point 3, the GP's cancel: from the confirmation page or the practice's overview, in two steps ("Weet u
het zeker?", then the cancel), on the real recipients' server (service/referrals/withdraw.py cancel_referral): the
Task `cancelled` and the ServiceRequest `revoked` at the destination, the practice's pages say so at once (no poll),
the recipient's work stops (no step, off the worklist). Only who may send may cancel; a referral whose work is over
is not cancelled; a change at the recipient between the page and the cancel is never overwritten."""

from __future__ import annotations

import re

import pytest

from service.fhir import urls
from service.inbox.views_model import detail_view
from service.referrals.taskflow import TransitionRefused, accept, apply_change, close
from service.referrals.worklist import open_referrals, referral_detail
from tests.web.helpers import csrf_of, launch_session, login
from tests.web.test_feedback import ANNA, JGZ, MESSAGE, now, send, task_id, two_practices_app, words
from tests.web.test_pages import page, post

CANCEL = "/practice/referrals/cancel"
BUTTON = "Verwijzing intrekken"


def version_of(html: str) -> str:
    return re.search(r'name="version" value="([^"]*)"', html).group(1)


def service_request(recipients, submission: str) -> dict:
    [entry] = recipients.search("ServiceRequest", {"identifier": f"{urls.ID_REFERRAL}|{submission}:{JGZ}"})["entry"]
    return entry["resource"]


def token_of(client) -> str:
    """The session's CSRF token (one per session), read once from a page."""
    if not hasattr(client, "token"):
        client.token = csrf_of(page(client, "/practice/referrals"))
    return client.token


def ask(client, submission: str | None, back: str = "sent"):
    """The first post: the "Weet u het zeker?" page. The confirmation page's button names only the recipient (the
    submission is the session's sent form: no ids on that page); the overview's names the submission too."""
    fields = {"recipient": JGZ, "back": back} | ({"submission": submission} if submission else {})
    return post(client, CANCEL, fields, token_of(client))


def confirm(client, submission: str, version: str, back: str = "sent"):
    """The second: "Ja, verwijzing intrekken", against `version`."""
    fields = {"submission": submission, "recipient": JGZ, "back": back, "version": version, "confirm": "yes"}
    return post(client, CANCEL, fields, token_of(client))


def rows_since(web_app, before: int) -> list[dict]:
    return web_app.extensions["ks"].delivery.audit.entries()[before:]


def test_the_gp_cancels_in_two_steps_and_the_recipients_work_stops(as_user, recipients, web_app, ehr):
    gp = as_user("demo-pregnant")
    submission = send(gp)
    sent_html = page(gp, "/form/sent")
    assert BUTTON in sent_html and 'name="back" value="sent"' in sent_html
    gp.token = csrf_of(sent_html)
    tid = task_id(recipients, submission)
    before = recipients.read("Task", tid)
    audit = web_app.extensions["ks"].delivery.audit
    count = len(audit.entries())

    # the first press only asks, with the Task's version as it is at the recipient now; nothing changes there
    assert submission not in sent_html.split('<details class="technical">')[0]
    r = ask(gp, None)  # as the confirmation page's button posts it
    assert r.status_code == 200
    asked = words(r.get_data(as_text=True))
    assert "Weet u het zeker? Regiocoördinator" in asked and "krijgt bericht dat de verwijzing is ingetrokken" in asked
    assert "Lisa" in asked and "aangevraagd, nog niet opgepakt" in asked
    assert version_of(r.get_data(as_text=True)) == before["meta"]["versionId"]
    assert recipients.read("Task", tid)["meta"]["versionId"] == before["meta"]["versionId"]
    [read] = rows_since(web_app, count)
    patient = ehr.read("Patient", "demo-pregnant")
    bsn = next(f"{urls.BSN}|{i['value']}" for i in patient["identifier"] if i["system"] == urls.BSN)
    assert read["event"] == "referral-cancel-read" and read["action"] == "R" and read["patient_identifier"] == bsn
    assert read["patient"] is None and read["who"] == "PractitionerRole/demo-gp"

    # "Ja, verwijzing intrekken": cancelled at the destination, the ServiceRequest revoked, one audit row
    count = len(audit.entries())
    r = confirm(gp, submission, before["meta"]["versionId"])
    assert r.status_code == 303 and r.headers["Location"] == "/form/sent"
    task = recipients.read("Task", tid)
    assert task["status"] == "cancelled" and task["statusReason"]["text"] == "Ingetrokken door de huisarts"
    assert int(task["meta"]["versionId"]) > int(before["meta"]["versionId"])
    assert service_request(recipients, submission)["status"] == "revoked"
    [row] = rows_since(web_app, count)
    assert row["event"] == "referral-cancel" and row["action"] == "U" and row["outcome"] == "0"
    assert row["patient_identifier"] == bsn and f"Task/{tid}" in row["object"]

    # the practice's pages say so at once: no poll of the recipient was made
    feedback = web_app.extensions["ks"].feedback
    assert feedback.for_submission(submission)[JGZ].polled_at is None
    sent_html = page(gp, "/form/sent")
    assert "Bij de ontvanger: geannuleerd — Ingetrokken door de huisarts" in words(sent_html)
    assert BUTTON not in sent_html
    # what went is no longer "afgeleverd" alone: the status, the line and the HIS summary say it was withdrawn after
    status_part, summary = sent_html.split('id="summary"')
    assert "Status: afgeleverd en daarna ingetrokken" in words(status_part)
    assert words(status_part).count("afgeleverd en daarna ingetrokken") == 2  # the status and the referral's line
    assert ": afgeleverd, daarna ingetrokken" in summary and ": afgeleverd\n" not in summary
    overview = page(gp, "/practice/referrals")
    closed = words(overview.split('id="closed-title"')[1])
    assert "geannuleerd — Ingetrokken door de huisarts" in closed and BUTTON not in overview
    assert "Er staan geen verwijzingen open." in words(overview)

    # the recipient: no step can be taken on it (with or without the version the coordinator's page showed), it is
    # off the worklist, and its detail says why, with no steps
    with pytest.raises(TransitionRefused):
        apply_change(recipients, tid, accept(ANNA), now())
    with pytest.raises(TransitionRefused):
        apply_change(recipients, tid, accept(ANNA), now(), version=before["meta"]["versionId"])
    owner = task["owner"]["identifier"]
    listed = open_referrals(recipients, f"{owner['system']}|{owner['value']}", now(), {})
    assert tid not in [item.task_id for item in listed]
    view = detail_view(referral_detail(recipients, tid), "nl")
    assert view["cancelled"] == "Ingetrokken door de huisarts" and view["actions"] == ()

    # a second cancel of the same referral: refused, nothing written
    r = confirm(gp, submission, task["meta"]["versionId"])
    assert r.status_code == 409 and "al geannuleerd; intrekken kan niet meer" in words(r.get_data(as_text=True))
    assert recipients.read("Task", tid)["meta"]["versionId"] == task["meta"]["versionId"]


def test_from_the_overview_and_by_the_poh_jeugd(as_user, recipients, web_app):
    submission = send(as_user("demo-pregnant"))
    poh = as_user("demo-preconception", user="demo-poh")  # a launch for another patient
    overview = page(poh, "/practice/referrals")
    assert BUTTON in overview and 'name="back" value="practice_referrals"' in overview
    r = ask(poh, submission, back="practice_referrals")
    assert r.status_code == 200 and "Lisa" in words(r.get_data(as_text=True))
    r = confirm(poh, submission, version_of(r.get_data(as_text=True)), back="practice_referrals")
    assert r.status_code == 303 and r.headers["Location"] == "/practice/referrals"
    task = recipients.read("Task", task_id(recipients, submission))
    assert task["statusReason"]["text"] == "Ingetrokken door de POH Jeugd van de huisartsenpraktijk"
    # the audit row names the referral's patient, never the launch's (demo-preconception)
    [row] = [r for r in web_app.extensions["ks"].delivery.audit.entries() if r["event"] == "referral-cancel"]
    assert row["patient"] is None and row["patient_identifier"]


def test_an_assistant_sees_no_button_and_her_post_is_refused(as_user, recipients, web_app):
    submission = send(as_user("demo-pregnant"))
    assistant = as_user("demo-pregnant", user="demo-assistant")
    overview = page(assistant, "/practice/referrals")
    assert "aangevraagd, nog niet opgepakt" in words(overview) and BUTTON not in overview
    assistant.token = csrf_of(overview)
    count = len(web_app.extensions["ks"].delivery.audit.entries())
    for r in (ask(assistant, submission), confirm(assistant, submission, "1")):
        assert r.status_code == 403
        assert "Intrekken mag alleen de huisarts of de POH Jeugd" in words(r.get_data(as_text=True))
    assert recipients.read("Task", task_id(recipients, submission))["status"] == "requested"
    assert service_request(recipients, submission)["status"] == "active"
    assert rows_since(web_app, count) == []  # she saw nothing of the referral
    # a referral that is not the practice's (here: none at all) is not found, for the GP too
    r = ask(as_user("demo-pregnant"), "no-such-submission")
    assert r.status_code == 404 and "niet bij de verwijzingen van uw praktijk" in words(r.get_data(as_text=True))


def test_a_completed_referral_cannot_be_cancelled(as_user, recipients, web_app):
    gp = as_user("demo-pregnant")
    submission = send(gp)
    tid = task_id(recipients, submission)
    r = ask(gp, submission)
    seen = version_of(r.get_data(as_text=True))
    apply_change(recipients, tid, accept(ANNA), now())
    done = apply_change(recipients, tid, close(ANNA, "referred-voorzorg", MESSAGE), now())
    # the page still showed it open (the copy, not polled yet): the confirmation is refused with the reason
    r = confirm(gp, submission, seen)
    assert r.status_code == 409
    refused = words(r.get_data(as_text=True))
    assert "al afgerond; intrekken kan niet meer" in refused and "Ja, verwijzing intrekken" not in refused
    assert recipients.read("Task", tid)["meta"]["versionId"] == done["meta"]["versionId"]
    assert service_request(recipients, submission)["status"] == "active"
    # and the copy learnt how it stands: the confirmation shows the outcome and the message, with no button
    sent_html = page(gp, "/form/sent")
    assert "afgerond — Doorverwezen naar VoorZorg" in words(sent_html) and MESSAGE in words(sent_html)
    assert BUTTON not in sent_html
    r = ask(gp, submission)  # asked again anyway (an old tab): refused at the first step
    assert r.status_code == 409 and "Ja, verwijzing intrekken" not in words(r.get_data(as_text=True))


def test_a_change_at_the_recipient_meanwhile_is_never_overwritten(as_user, recipients, web_app):
    gp = as_user("demo-pregnant")
    submission = send(gp)
    tid = task_id(recipients, submission)
    seen = version_of(ask(gp, submission).get_data(as_text=True))
    accepted = apply_change(recipients, tid, accept(ANNA), now())  # the coordinator, between the page and the press
    r = confirm(gp, submission, seen)
    assert r.status_code == 409
    html = r.get_data(as_text=True)
    said = words(html)
    assert "Intussen is de verwijzing bij Regiocoördinator" in said and "de stand is nu: geaccepteerd" in said
    assert "Er is niets ingetrokken." in said
    task = recipients.read("Task", tid)
    assert task["status"] == "accepted" and task["meta"]["versionId"] == accepted["meta"]["versionId"]
    assert task["extension"] == accepted["extension"]  # Anna still works it: nothing of hers was lost
    assert service_request(recipients, submission)["status"] == "active"
    # the page asks again, against the version as it is now; confirmed, it cancels
    assert version_of(html) == accepted["meta"]["versionId"]
    r = confirm(gp, submission, version_of(html))
    assert r.status_code == 303
    assert recipients.read("Task", tid)["status"] == "cancelled"
    assert service_request(recipients, submission)["status"] == "revoked"


def test_another_practice_cannot_cancel_the_referral(tmp_path, recipients_server, ehr_server, recipients):
    app = two_practices_app(tmp_path, recipients_server, ehr_server)

    def user(practice: str, patient: str):
        client = app.test_client()
        client.ctx = launch_session(app, iss=ehr_server, patient=patient, practice_id=practice)
        login(client, client.ctx)
        return client

    submission = send(user("demo-practice", "demo-pregnant"))
    other = user("other-practice", "demo-preconception")
    for r in (ask(other, submission, back="practice_referrals"), confirm(other, submission, "1")):
        assert r.status_code == 404 and "Lisa" not in words(r.get_data(as_text=True))
    assert recipients.read("Task", task_id(recipients, submission))["status"] == "requested"
