"""Issue 13 point 3, the GP's cancel of a referral that has not gone yet: the recipients' server is down (a proxy
that refuses every connection), so the referral waits in the real outbox. From the confirmation page the GP asks
and confirms; the page reads no Task anywhere (nothing reaches the server), the referral is taken out of the outbox
and never sent once the server is back, and every page of the practice says so ("ingetrokken, nooit verstuurd").
When the worker delivers it between the question and the answer, the answer cancels it at the real server."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from service.fhir import urls
from tests.faultproxy import FaultProxy
from tests.web.conftest import make_app
from tests.web.helpers import csrf_of
from tests.web.test_cancel import BUTTON, CANCEL, service_request
from tests.web.test_feedback import JGZ, send, task_id, words
from tests.web.test_pages import page, post


@pytest.fixture()
def down(recipients_server) -> Iterator[FaultProxy]:
    """The recipients' server behind a proxy that is down until `proxy.faults = 0`."""
    proxy = FaultProxy(int(recipients_server.rsplit(":", 1)[1].split("/")[0]), mode="refuse", faults=10**6)
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture()
def app(tmp_path, down, ehr_server):
    return make_app(tmp_path, down.base_url, ehr=ehr_server)


def gp_with_a_waiting_referral(as_user, app) -> tuple:
    gp = as_user("demo-pregnant", app=app)
    submission = send(gp)
    [item] = app.extensions["ks"].delivery.outbox.for_submission(submission)
    assert item.state == "pending"
    sent_html = page(gp, "/form/sent")
    assert "in de wachtrij, nog niet aangekomen" in words(sent_html)
    assert BUTTON in sent_html  # a waiting referral can be cancelled too
    gp.token = csrf_of(sent_html)
    return gp, submission


def ask(gp):
    return post(gp, CANCEL, {"recipient": JGZ, "back": "sent"}, gp.token)  # as the confirmation page's button


def confirm(gp, submission: str, html: str):
    version = re.search(r'name="version" value="([^"]*)"', html).group(1)
    fields = {"submission": submission, "recipient": JGZ, "back": "sent", "version": version, "confirm": "yes"}
    return post(gp, CANCEL, fields, gp.token)


def summary_of(html: str) -> str:
    return re.search(r'<textarea id="summary" class="summary" readonly rows="14">(.*?)</textarea>', html, re.S).group(1)


def tasks_at(recipients, submission: str) -> list[dict]:
    found = recipients.search("Task", {"identifier": f"{urls.ID_TASK}|{submission}:{JGZ}"})
    return [e["resource"] for e in found.get("entry") or ()]


def test_a_waiting_referral_is_taken_back_and_never_sent(as_user, app, down, recipients):
    gp, submission = gp_with_a_waiting_referral(as_user, app)
    delivery = app.extensions["ks"].delivery
    audit_before = len(delivery.audit.entries())
    tried = down.connections

    # the question: no Task to read anywhere, so nothing is asked of the (down) server; the version is empty
    r = ask(gp)
    assert r.status_code == 200 and down.connections == tried
    html = r.get_data(as_text=True)
    asked = words(html)
    assert "Weet u het zeker? De verwijzing naar Regiocoördinator" in asked
    assert "is nog niet verstuurd; zij wordt uit de wachtrij gehaald en gaat niet meer weg." in asked
    assert "In de wachtrij sinds" in asked and "in de wachtrij, nog niet aangekomen" in asked and "Lisa" in asked
    assert 'name="version" value=""' in html and "Ja, verwijzing intrekken" in asked
    [read] = delivery.audit.entries()[audit_before:]
    assert read["event"] == "referral-cancel-read" and read["outcome"] == "0" and read["object"].endswith("; outbox")
    assert read["patient_identifier"] and read["patient"] is None

    r = confirm(gp, submission, html)
    assert r.status_code == 303 and r.headers["Location"] == "/form/sent"
    assert delivery.outbox.for_submission(submission) == []
    [row] = [e for e in delivery.audit.entries()[audit_before:] if e["event"] == "referral-cancel"]
    assert row["action"] == "D" and row["outcome"] == "0" and row["who"] == "PractitionerRole/demo-gp"

    # the server is back and the worker sends whatever waits (due or not): the recipient never gets it
    down.faults = 0
    for item in delivery.outbox.list():
        delivery.pusher.push(item)
    assert tasks_at(recipients, submission) == []

    # the confirmation page, its HIS summary and the practice's overview say it was cancelled and never sent
    sent_html = page(gp, "/form/sent")
    said = words(sent_html)
    assert "ingetrokken en nooit verstuurd; de ontvanger heeft de verwijzing niet gekregen" in said
    assert "Ingetrokken door de huisarts op " in said
    assert "Status: ingetrokken; niets verstuurd buiten de praktijk" in said
    assert "in de wachtrij" not in said.lower() and BUTTON not in sent_html and "Bij de ontvanger" not in said
    summary = summary_of(sent_html)
    assert "ingetrokken voordat zij werd verstuurd: niet aangekomen" in summary
    assert "In de wachtrij" not in summary and "Terugkoppeling" not in summary
    overview = page(gp, "/practice/referrals")
    closed = words(overview.split('id="closed-title"')[1])
    assert "ingetrokken, nooit verstuurd — Ingetrokken door de huisarts" in closed and BUTTON not in overview
    # and the next launch's form, among her earlier referrals
    form = words(page(as_user("demo-pregnant", app=app)))
    assert "ingetrokken; niets verstuurd buiten de praktijk" in form

    # asked again (an old tab): refused, in Dutch, with no ids on the page
    r = ask(gp)
    again = words(r.get_data(as_text=True))
    assert r.status_code == 409 and "al ingetrokken voordat zij werd verstuurd" in again
    assert submission not in again and "Ja, verwijzing intrekken" not in again


def test_in_english_the_waiting_referral_reads_cancelled_never_sent(as_user, app):
    gp, submission = gp_with_a_waiting_referral(as_user, app)
    assert confirm(gp, submission, ask(gp).get_data(as_text=True)).status_code == 303
    r = post(gp, "/form/language", {"lang": "en", "next": "sent"}, gp.token)
    assert r.status_code == 303 and r.headers["Location"] == "/form/sent"
    english = words(page(gp, "/form/sent"))
    assert "cancelled and never sent; the recipient did not receive the referral" in english
    assert "Status: cancelled; nothing sent outside the practice" in english


def test_delivered_between_the_question_and_the_answer_it_is_cancelled_at_the_server(as_user, app, down, recipients):
    gp, submission = gp_with_a_waiting_referral(as_user, app)
    html = ask(gp).get_data(as_text=True)
    assert 'name="version" value=""' in html
    down.faults = 0  # the server is back, and the worker delivers it before the GP presses the button
    delivery = app.extensions["ks"].delivery
    [item] = delivery.outbox.for_submission(submission)
    delivery.pusher.push(item)  # what the background worker does
    assert delivery.outbox.require(item.id).state == "delivered"
    tid = task_id(recipients, submission)

    r = confirm(gp, submission, html)
    assert r.status_code == 303 and r.headers["Location"] == "/form/sent"
    [task] = tasks_at(recipients, submission)  # once, and cancelled
    assert task["id"] == tid and task["status"] == "cancelled"
    assert task["statusReason"]["text"] == "Ingetrokken door de huisarts"
    assert service_request(recipients, submission)["status"] == "revoked"
    # the practice's copy says so at once: the page shows the recipient's Task cancelled, not "never sent"
    said = words(page(gp, "/form/sent"))
    assert "Bij de ontvanger: geannuleerd — Ingetrokken door de huisarts" in said
    assert "nooit verstuurd" not in said and "afgeleverd" in said
