"""Issue 13 point 4, back to the practice: a referral sent through the form, worked by the recipient on the real
recipients' server (service/referrals/taskflow.py), polled back within Gravity's limits, and shown on the
confirmation, in "Eerder verwezen", in the HIS summary and on the practice's overview; a slow recipient never
slows a page; another practice never sees the referral."""

from __future__ import annotations

import html as htmlmod
import re
import threading
import time
from datetime import UTC, datetime

import yaml

from service.demo import PRACTICE_AGB, PRACTICE_NAME, PRACTICE_URA
from service.fhir import urls
from service.referrals import feedback
from service.referrals.taskflow import Actor, accept, apply_change, close, decline, first_contact
from tests.faultproxy import FaultProxy
from tests.sql import execute
from tests.web.conftest import make_app
from tests.web.helpers import TEST_EHR, csrf_of, launch_session, login
from tests.web.test_confirmation import summary_of
from tests.web.test_pages import PREGNANT, page, post, text_of

ANNA = Actor(display="Anna Jansen", reference="PractitionerRole/anna")
MESSAGE = "Aangemeld bij VoorZorg; het eerste huisbezoek is volgende week."
JGZ = "regiocoordinator-jgz"


def send(client) -> str:
    """The GP refers her to the JGZ coordinator through the form (no JavaScript); the submission."""
    token = csrf_of(page(client))
    r = post(client, "/form/review", {**PREGNANT, "homeless": "true", "substance-addiction": "true"}, token)
    assert r.status_code == 303 and r.headers["Location"] == "/form/review"
    r = post(client, "/form/send", {f"consent-for-{JGZ}": "true", "consent-method": "verbal"}, token)
    assert r.status_code == 303 and r.headers["Location"] == "/form/sent"
    return client.application.extensions["ks"].forms.work(client.ctx.session_id).result["submission"]


def task_id(recipients, submission: str) -> str:
    [entry] = recipients.search("Task", {"identifier": f"{urls.ID_TASK}|{submission}:{JGZ}"})["entry"]
    return entry["resource"]["id"]


def poll(app) -> dict:
    ks = app.extensions["ks"]
    return feedback.poll_due(ks.feedback, ks.delivery)


def age_polls(app, seconds: float) -> None:
    """As if every destination was last polled `seconds` earlier than it was (no sleeping in tests)."""
    db = app.extensions["ks"].feedback.db
    execute(db, "UPDATE feedback_poll SET polled_at = polled_at - :s", s=seconds)
    execute(db, "UPDATE referral_feedback SET polled_at = polled_at - :s WHERE polled_at IS NOT NULL", s=seconds)


def words(html: str) -> str:
    return htmlmod.unescape(text_of(html))


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_the_outcome_and_message_come_back_to_every_page_of_the_practice(as_user, recipients, ehr, web_app):
    gp = as_user("demo-pregnant", user_name="Dr. Bakker")
    submission = send(gp)
    sent = words(page(gp, "/form/sent"))
    # as delivered, before any poll: the status the Task went with, and no "opgehaald op"
    assert "Bij de ontvanger: aangevraagd, nog niet opgepakt" in sent and "opgehaald op" not in sent
    assert list(poll(web_app).values()) == [1]  # the first poll: the Task is there, "requested" as sent
    sent = words(page(gp, "/form/sent"))
    assert "Bij de ontvanger: aangevraagd, nog niet opgepakt" in sent and "Stand bij de ontvanger opgehaald op" in sent

    # the coordinator accepts, makes contact and closes with an outcome and a message for the GP
    tid = task_id(recipients, submission)
    apply_change(recipients, tid, accept(ANNA), now())
    apply_change(recipients, tid, first_contact(ANNA), now())
    apply_change(recipients, tid, close(ANNA, "referred-voorzorg", MESSAGE), now())

    # within 15 minutes of the last poll nothing asks the recipient again; the page shows the copy it has
    assert poll(web_app) == {}
    age_polls(web_app, 10 * 60)
    assert "aangevraagd, nog niet opgepakt" in words(page(gp, "/form/sent"))
    assert poll(web_app) == {}
    age_polls(web_app, 6 * 60)  # 16 minutes: not due by itself (hourly) ...
    assert poll(web_app) == {}
    assert "aangevraagd, nog niet opgepakt" in words(page(gp, "/form/sent"))  # ... but the page asks for it
    [changed] = poll(web_app).values()
    assert changed == 1

    sent_html = page(gp, "/form/sent")
    sent = words(sent_html)
    assert "Bij de ontvanger: afgerond — Doorverwezen naar VoorZorg (sinds " in sent
    assert f"Bericht van Anna Jansen: {MESSAGE}" in sent
    summary = htmlmod.unescape(summary_of(sent_html))
    assert re.search(
        r"Terugkoppeling van Regiocoördinator [^\n]+ \(\d\d-\d\d-\d{4} \d\d:\d\d\): afgerond — "
        r"Doorverwezen naar VoorZorg",
        summary,
    ), summary
    assert f"Bericht van Anna Jansen: {MESSAGE}" in summary
    assert summary.index("Terugkoppeling") < summary.index("Vastgelegd door")  # with the referral, before the tail

    # "Eerder verwezen" at the next launch for her, Dutch and English
    form = words(page(as_user("demo-pregnant"), "/form"))
    earlier = form.split("Eerder verwezen vanuit de praktijk")[1].split("Zwangerschap")[0]
    assert "bij de ontvanger afgerond — Doorverwezen naar VoorZorg" in earlier
    assert f"Bericht van Anna Jansen: {MESSAGE}" in earlier
    english = words(page(as_user("demo-pregnant", language="en"), "/form"))
    assert "at the recipient completed — Referred on to VoorZorg" in english
    assert f"Message from Anna Jansen: {MESSAGE}" in english

    # the practice's overview, from a launch for another patient: the patient by name and birth date, as sent
    other = as_user("demo-preconception")
    form_html = page(other, "/form")
    assert 'href="/practice/referrals"' in form_html  # the page chrome links it
    audit = web_app.extensions["ks"].delivery.audit
    before = len(audit.entries())
    overview_html = page(other, "/practice/referrals")
    patient = ehr.read("Patient", "demo-pregnant")
    name = " ".join([*patient["name"][0]["given"], patient["name"][0]["family"]])
    born = datetime.fromisoformat(patient["birthDate"]).strftime("%d-%m-%Y")
    closed = words(overview_html.split('id="closed-title"')[1])
    assert name in closed and f"geboren {born}" in closed
    assert "afgerond — Doorverwezen naar VoorZorg" in closed and f"Bericht van Anna Jansen: {MESSAGE}" in closed
    assert "Er staan geen verwijzingen open." in words(overview_html)
    assert "Lisa" not in words(overview_html.split('id="closed-title"')[0])  # not in the open ones as well
    # one audit row for the page, naming the patient listed by her BSN (not the launch's patient)
    [row] = audit.entries()[before:]
    bsn = next(i["value"] for i in patient["identifier"] if i["system"] == urls.BSN)
    assert row["event"] == "practice-referrals" and row["patient_identifier"] == f"{urls.BSN}|{bsn}"
    assert row["patient"] is None and submission in row["object"] and row["who"] == "PractitionerRole/demo-gp"


def test_a_decline_shows_its_reason_and_open_referrals_are_listed_first(as_user, recipients, web_app):
    gp = as_user("demo-pregnant")
    first = send(gp)
    second = send(as_user("demo-pregnant"))
    poll(web_app)
    apply_change(recipients, task_id(recipients, first), decline(ANNA, "outside-area"), now())
    age_polls(web_app, 3600)  # an hour: polled whatever the pages asked
    [changed] = poll(web_app).values()
    assert changed == 1
    overview = page(gp, "/practice/referrals")
    still_open = words(overview.split('id="open-title"')[1].split('id="closed-title"')[0])
    closed = words(overview.split('id="closed-title"')[1])
    assert "aangevraagd, nog niet opgepakt" in still_open and "afgewezen" not in still_open
    assert "afgewezen — Woont buiten ons werkgebied" in closed
    copies = web_app.extensions["ks"].feedback
    assert copies.for_submission(first)[JGZ].status == "rejected" and copies.for_submission(second)[JGZ].open


def two_practices_app(tmp_path, recipients_server, ehr_server):
    """One EHR, two practices registered for it (the second: another AGB-Z code)."""
    folder = tmp_path / "two-practices"
    folder.mkdir(parents=True, exist_ok=True)
    practices = [
        {"id": "demo-practice", "name": PRACTICE_NAME, "agb": PRACTICE_AGB, "ura": PRACTICE_URA},
        {"id": "other-practice", "name": "Huisartsenpraktijk Anders", "agb": "01099999", "ura": "90099999"},
    ]
    registry = {
        "ehrs": [
            {
                "id": TEST_EHR,
                "name": "Test-EPD",
                "iss": ehr_server,
                "client_id": "kansrijke-start",
                "client_auth": {"method": "public"},
                "id_token_issuer": ehr_server + "/auth",
                "practices": [{**p, "region": "maastricht-heuvelland"} for p in practices],
            }
        ]
    }
    (folder / "ehr-registry.yaml").write_text(yaml.safe_dump(registry), encoding="utf-8")
    return make_app(tmp_path, recipients_server, ehr=ehr_server, ehr_registry=folder / "ehr-registry.yaml")


def test_another_practice_never_sees_the_referral(tmp_path, recipients_server, ehr_server):
    app = two_practices_app(tmp_path, recipients_server, ehr_server)

    def user(practice: str, patient: str):
        client = app.test_client()
        client.ctx = launch_session(app, iss=ehr_server, patient=patient, practice_id=practice)
        login(client, client.ctx)
        return client

    mine = send(user("demo-practice", "demo-pregnant"))
    poll(app)
    others = user("other-practice", "demo-preconception")
    overview = words(page(others, "/practice/referrals"))
    assert "Er staan geen verwijzingen open." in overview and "Lisa" not in overview
    assert app.extensions["ks"].delivery.audit.entries()[-1]["event"] != "practice-referrals"  # nothing listed
    ours = words(page(user("demo-practice", "demo-preconception"), "/practice/referrals"))
    assert "Lisa" in ours and "aangevraagd, nog niet opgepakt" in ours
    assert app.extensions["ks"].feedback.for_submission(mine)[JGZ].status == "requested"


def test_a_slow_recipient_never_slows_a_page(tmp_path, recipients_server, ehr_server, recipients):
    port = int(recipients_server.rsplit(":", 1)[1].split("/")[0])
    proxy = FaultProxy(port, mode="hold", faults=0)  # faithful while the referral is sent
    app = make_app(tmp_path, proxy.base_url, ehr=ehr_server)
    ks = app.extensions["ks"]
    client = app.test_client()
    client.ctx = launch_session(app, iss=ehr_server, patient="demo-pregnant")
    login(client, client.ctx)
    poller = None
    try:
        submission = send(client)
        proxy.faults = 10**6  # from now on the recipient's server takes every request and never answers
        held = proxy.connections
        poller = feedback.FeedbackPoller(ks.feedback, ks.delivery, interval=3600).start()
        deadline = time.monotonic() + 20
        while proxy.connections == held and time.monotonic() < deadline:  # the poll is on its way, and held
            threading.Event().wait(0.05)
        assert proxy.connections > held, "the poller did not ask the recipient"
        started = time.monotonic()
        sent = words(page(client, "/form/sent"))
        overview = words(page(client, "/practice/referrals"))
        took = time.monotonic() - started
        assert took < 2.0, f"the pages waited {took:.1f}s on a recipient that does not answer"
        assert "Bij de ontvanger: aangevraagd, nog niet opgepakt" in sent and "opgehaald op" not in sent
        assert "aangevraagd, nog niet opgepakt" in overview and "opgehaald op" not in overview
        proxy.release()  # the held request fails: the poll is recorded as failed, the copy stays as it was
        destination = ks.feedback.for_submission(submission)[JGZ].destination
        deadline = time.monotonic() + 20
        while not ks.feedback.poll_state(destination)["failed"] and time.monotonic() < deadline:
            threading.Event().wait(0.05)
        assert ks.feedback.poll_state(destination)["failed"]
        assert ks.feedback.for_submission(submission)[JGZ].polled_at is None  # the copy as it was delivered
        assert "de status bij de ontvanger kon nu niet worden opgehaald" in words(page(client, "/form/sent"))
        started = time.monotonic()
        form = words(page(client, "/form"))  # a new form for her, with "Eerder verwezen" from the copy
        assert time.monotonic() - started < 2.0
        assert "De status bij de ontvanger kon nu niet worden opgehaald." in form
        assert recipients.search("Task", {"identifier": f"{urls.ID_TASK}|{submission}:{JGZ}"})["entry"]
    finally:
        if poller is not None:
            poller.stop()
        proxy.close()


def test_the_copy_is_purged_with_the_form_log(tmp_path):
    store = feedback.FeedbackStore(tmp_path / "feedback.sqlite3")
    old = time.time() - (feedback.KEEP_DAYS + 1) * 86400
    for submission, sent in (("old", old), ("new", time.time())):
        execute(
            store.db,
            "INSERT INTO referral_feedback (submission, recipient, destination, sent) VALUES (:s, :r, '', :t)",
            s=submission,
            r=JGZ,
            t=sent,
        )
    assert store.purge() == 1
    assert set(store.for_submission("new")) == {JGZ} and store.for_submission("old") == {}
