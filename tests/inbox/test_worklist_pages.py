"""The recipient's pages (issue 13): the worklist at /inbox, a referral's detail and the steps on it, over referrals
really sent to a real sekmet-fhir and coordinators really signed in at the sandbox's OpenID Connect provider.
Nobody sees another recipient's referral (404, the same words as for one that does not exist); every step is a
POST with the session's CSRF token and the version the page showed, and two coordinators acting from the same
version get a clear conflict, never a lost update."""

from __future__ import annotations

import html
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests

from service.fhir.client import FhirClient
from service.inbox import pages
from service.referrals import taskflow
from tests.factories import make_qr, with_patient
from tests.inbox.test_sign_in import sign_in
from tests.referrals.taskwork import send

MARIEKE, SANNE = "Marieke Hendriks", "Sanne Vermeulen"
NOT_FOUND = "Deze verwijzing is niet gevonden, of zij is niet voor uw organisatie."


@pytest.fixture()
def referral(live, inbox_fhir, tmp_path):
    """Send a referral (the QuestionnaireResponse of `make_qr(**kw)`, its patient contained) to the recipients'
    server; the Task id per external recipient."""
    engine = live.app.extensions["ks"].engine
    made = iter(range(1000))

    def make(name: str, *, bsn: str = "999990020", **kw) -> dict[str, str]:
        qr = with_patient(make_qr(identifier=f"{name}-{next(made)}-{tmp_path.name}", **kw), bsn=bsn)
        return send(engine, tmp_path, inbox_fhir, qr)

    return make


def text_of(r: requests.Response) -> str:
    """The page's words, tags left out, white space collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", r.text)))


def token(page: requests.Response) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def version(page: requests.Response) -> str:
    return re.search(r'name="version" value="([^"]+)"', page.text).group(1)


def detail(s: requests.Session, live, task_id: str) -> requests.Response:
    return s.get(f"{live.base}/inbox/referral/{task_id}", timeout=10)


def act(s, live, task_id: str, action: str, page: requests.Response, **fields) -> requests.Response:
    data = {"csrf_token": token(page), "version": version(page), **fields}
    return s.post(f"{live.base}/inbox/referral/{task_id}/{action}", data=data, allow_redirects=False, timeout=10)


def worklist_ids(page: requests.Response) -> list[str]:
    return re.findall(r'href="/inbox/referral/([^"]+)"', page.text)


def rows(live, event: str) -> list[dict]:
    return [r for r in live.audit.entries() if r["event"] == event]


def test_the_worklist_shows_the_recipients_open_referrals_most_urgent_first_overdue_marked(live, referral):
    routine = referral("routine", signals=("single-mother", "financial-problems"), bsn="999990032")
    urgent = referral("urgent", signals=("homeless",), authored="2026-11-23T09:00:00+01:00", bsn="999990044")
    s, _ = sign_in(live, "demo-jgz")
    page = s.get(live.base + "/inbox", timeout=10)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    ids = [i for i in worklist_ids(page) if i in (routine["regiocoordinator-jgz"], urgent["regiocoordinator-jgz"])]
    assert ids == [urgent["regiocoordinator-jgz"], routine["regiocoordinator-jgz"]]  # urgent first, though newer
    words = text_of(page)
    assert "Lisa de Boer" in words and "geboren 20-02-2008" in words and "te laat" in words  # sent in 2026-11
    assert "urgent" in words and "regulier" in words and "aangevraagd, nog niet opgepakt" in words
    assert "Ingelogd als Marieke Hendriks" in words and 'action="/inbox/logout"' in page.text
    # one audit row per patient shown, by the BSN the recipient's server holds
    seen = {r["patient_identifier"] for r in rows(live, "inbox-worklist") if r["who"] == "sandbox:demo-jgz"}
    assert {"http://fhir.nl/fhir/NamingSystem/bsn|999990032", "http://fhir.nl/fhir/NamingSystem/bsn|999990044"} <= seen
    # Nu Niet Zwanger sees none of them, and gets a 404 for the detail, in the same words as for nothing at all
    other, _ = sign_in(live, "demo-nnz")
    assert not set(ids) & set(worklist_ids(other.get(live.base + "/inbox", timeout=10)))
    theirs = detail(other, live, urgent["regiocoordinator-jgz"])
    nothing = detail(other, live, "no-such-task")
    assert theirs.status_code == nothing.status_code == 404
    assert NOT_FOUND in text_of(theirs) and NOT_FOUND in text_of(nothing) and "Lisa" not in theirs.text
    forged = act(other, live, urgent["regiocoordinator-jgz"], "accept", detail(s, live, urgent["regiocoordinator-jgz"]))
    assert forged.status_code in (400, 404)  # another session's token, and not their referral: nothing done
    assert "requested" in FhirClient(live_fhir(live)).read("Task", urgent["regiocoordinator-jgz"])["status"]


def live_fhir(live) -> str:
    return live.app.config["KS_SETTINGS"].fhir_base_url


def test_the_worklist_pages_through_with_a_next_link(live, referral, monkeypatch):
    for n in range(3):
        referral(f"page-{n}", signals=("homeless",))
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    s, _ = sign_in(live, "demo-jgz")
    first = s.get(live.base + "/inbox", timeout=10)
    assert len(worklist_ids(first)) == 2 and 'href="/inbox?page=2"' in first.text and "Volgende" in first.text
    second = s.get(live.base + "/inbox?page=2", timeout=10)
    assert not set(worklist_ids(first)) & set(worklist_ids(second)) and "Vorige" in second.text


def test_the_detail_shows_exactly_what_the_recipient_received_in_dutch_then_english(live, referral):
    tasks = referral("detail", signals=("homeless",), note="Moeder zoekt woonruimte; graag hulp.", bsn="999990056")
    s, _ = sign_in(live, "demo-jgz")
    page = detail(s, live, tasks["regiocoordinator-jgz"])
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    words = text_of(page)
    for shown in (
        "Verwijzing: Lisa de Boer",
        "Dak- of thuisloos",
        "Moeder zoekt woonruimte; graag hulp.",
        "Zwanger",
        "Uitgerekende datum 01-03-2027",
        "Toestemming gegeven (mondeling)",
        "BSN 999990056",
        "+31 6 0000 0001",
        "Voorbeeldstraat 1, 6211 AA Maastricht",
        "20-11-2026 10:30",
        "Aannemen",
    ):
        assert shown in words, shown
    [row] = [r for r in rows(live, "inbox-referral") if r["object"].startswith(f"Task/{tasks['regiocoordinator-jgz']}")]
    assert row["patient_identifier"] == "http://fhir.nl/fhir/NamingSystem/bsn|999990056" and row["action"] == "R"
    assert row["who"] == "sandbox:demo-jgz" and row["outcome"] == "0"
    # the English switch: a POST with the token, kept in the inbox's session
    assert s.post(live.base + "/inbox/language", data={"lang": "en", "next": "/x"}, timeout=10).status_code == 400
    switched = s.post(
        live.base + "/inbox/language",
        data={"lang": "en", "next": f"/inbox/referral/{tasks['regiocoordinator-jgz']}", "csrf_token": token(page)},
        timeout=10,
    )
    english = text_of(switched)
    assert switched.url.endswith(tasks["regiocoordinator-jgz"]) and '<html lang="en">' in switched.text
    assert "Referral: Lisa de Boer" in english and "Request for help" in english and "Accept" in english
    assert "Due date 01-03-2027" in english and "Pregnant" in english
    assert re.search(r"\b(1 open referral|\d+ open referrals)\.", text_of(s.get(live.base + "/inbox", timeout=10)))


def test_accept_first_contact_and_close_with_an_outcome_and_a_message(live, referral, inbox_fhir):
    task_id = referral("work", signals=("homeless",), bsn="999990068")["regiocoordinator-jgz"]
    s, _ = sign_in(live, "demo-jgz")
    page = detail(s, live, task_id)
    assert "Eerste contact" not in text_of(page)  # not before it is accepted
    without = s.post(f"{live.base}/inbox/referral/{task_id}/accept", data={"version": version(page)}, timeout=10)
    assert without.status_code == 400 and "verlopen of komt niet van deze pagina" in text_of(without)
    r = act(s, live, task_id, "accept", page)
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/inbox/referral/{task_id}?done=accept")
    page = s.get(live.base + r.headers["Location"], timeout=10)
    words = text_of(page)
    assert "U heeft de verwijzing aangenomen." in words and "Stand: geaccepteerd (Aangenomen)" in words
    assert f"Toegewezen aan {MARIEKE}" in words
    assert act(s, live, task_id, "first-contact", page).status_code == 303
    page = detail(s, live, task_id)
    assert "Stand: in behandeling (Contact opgenomen)" in text_of(page)
    long = act(s, live, task_id, "close", page, outcome="support-started", message="x" * 1001)
    assert long.status_code == 400 and "hoogstens 1000 tekens" in text_of(long)
    unknown = act(s, live, task_id, "close", page, outcome="made-up", message="Hallo")
    assert unknown.status_code == 400 and "Kies een reden of uitkomst uit de lijst" in text_of(unknown)
    message = "Moeder gesproken op 25-11; ondersteuning door de JGZ gestart."
    assert act(s, live, task_id, "close", page, outcome="support-started", message=message).status_code == 303
    done = text_of(detail(s, live, task_id))
    assert "Stand: afgerond (Afgesloten)" in done and "Contact gelegd, ondersteuning gestart" in done
    assert message in done and "geen stappen meer mogelijk" in done
    task = FhirClient(inbox_fhir).read("Task", task_id)
    assert task["status"] == "completed" and task["meta"]["versionId"] == "4"
    changes = [r for r in live.audit.entries() if r["event"].startswith("inbox-") and task_id in (r["object"] or "")]
    steps = [(r["event"], r["outcome"]) for r in changes if r["action"] == "U"]
    assert steps == [
        ("inbox-accept", "0"),
        ("inbox-first-contact", "0"),
        ("inbox-close", "4"),
        ("inbox-close", "4"),
        ("inbox-close", "0"),
    ]
    assert all(r["patient_identifier"] == "http://fhir.nl/fhir/NamingSystem/bsn|999990068" for r in changes[-2:])


def test_a_step_posted_after_the_session_ended_is_not_lost_in_silence(live, referral):
    """The session ends while the coordinator types her message: the step is not done, and after signing in again
    she is back at the referral, told so — not at the worklist without a word."""
    from tests.inbox.test_sign_in import pick

    task_id = referral("expired", signals=("homeless",), bsn="999990081")["regiocoordinator-jgz"]
    s, _ = sign_in(live, "demo-jgz")
    page = detail(s, live, task_id)
    live.app.extensions["ks"].inbox.end_session(s.cookies["ks_inbox"])  # expired meanwhile
    r = act(s, live, task_id, "accept", page)
    assert r.status_code == 303 and "/inbox/login?" in r.headers["Location"] and "expired=1" in r.headers["Location"]
    authorize = s.get(live.base + r.headers["Location"], allow_redirects=False, timeout=10).headers["Location"]
    back = pick(s, authorize, "demo-jgz")
    assert back.status_code == 302 and back.headers["Location"] == f"/inbox/referral/{task_id}?expired=1"
    words = text_of(s.get(live.base + back.headers["Location"], timeout=10))
    assert "Uw sessie was verlopen: uw laatste stap is niet opgeslagen." in words
    assert "aangevraagd, nog niet opgepakt" in words  # the step was not taken
    evil = s.get(live.base + "/inbox/login", params={"next": "//evil.example/x"}, allow_redirects=False, timeout=10)
    assert (
        evil.status_code == 302
        and "evil.example" not in pick(s, evil.headers["Location"], "demo-jgz").headers["Location"]
    )


def test_decline_with_a_coded_reason_and_a_refused_step_in_words(live, referral):
    task_id = referral("decline", signals=("homeless",))["regiocoordinator-jgz"]
    s, _ = sign_in(live, "demo-jgz")
    page = detail(s, live, task_id)
    assert '<option value="outside-area">Woont buiten ons werkgebied</option>' in page.text
    empty = act(s, live, task_id, "decline", page, reason="")
    assert empty.status_code == 400 and "Kies een reden of uitkomst" in text_of(empty)
    assert act(s, live, task_id, "decline", page, reason="outside-area").status_code == 303
    page = detail(s, live, task_id)
    words = text_of(page)
    assert "Stand: afgewezen (Afgewezen)" in words and "Reden van afwijzen Woont buiten ons werkgebied" in words
    # a step from a final status: a readable refusal with a 4xx, and the Task as it was
    assert 'name="version"' not in page.text  # no steps offered any more
    refused = s.post(
        f"{live.base}/inbox/referral/{task_id}/accept", data={"csrf_token": token(page), "version": "2"}, timeout=10
    )
    assert refused.status_code == 422 and "Deze stap kan niet (meer)" in text_of(refused)
    made_up = s.post(
        f"{live.base}/inbox/referral/{task_id}/made-up", data={"csrf_token": token(page), "version": "2"}, timeout=10
    )
    assert made_up.status_code == 404


def test_assign_to_a_colleague_by_name(live, referral):
    task_id = referral("assign", signals=("homeless",))["regiocoordinator-jgz"]
    s, _ = sign_in(live, "demo-jgz")
    page = detail(s, live, task_id)
    assert f'<option value="demo-jgz-2">{SANNE}</option>' in page.text
    assert "Yasmina" not in page.text  # Nu Niet Zwanger's staff are not colleagues
    stranger = act(s, live, task_id, "assign", page, assignee="demo-nnz")
    assert stranger.status_code == 400 and "Kies de collega" in text_of(stranger)
    assert act(s, live, task_id, "assign", page, assignee="demo-jgz-2").status_code == 303
    assert f"Toegewezen aan {SANNE}" in text_of(detail(s, live, task_id))
    # Sanne sees it as hers, and accepting keeps her as the one who works it
    sanne, _ = sign_in(live, "demo-jgz-2")
    page = detail(sanne, live, task_id)
    assert act(sanne, live, task_id, "accept", page).status_code == 303
    assert f"Toegewezen aan {SANNE}" in text_of(detail(sanne, live, task_id))


def test_two_coordinators_acting_from_the_same_version_get_a_clear_conflict(live, referral, inbox_fhir):
    task_id = referral("race", signals=("homeless",))["regiocoordinator-jgz"]
    marieke, _ = sign_in(live, "demo-jgz")
    sanne, _ = sign_in(live, "demo-jgz-2")
    hers, mine = detail(marieke, live, task_id), detail(sanne, live, task_id)
    assert version(hers) == version(mine) == "1"
    with ThreadPoolExecutor(2) as pool:  # at once, from the same version
        accepting = pool.submit(act, marieke, live, task_id, "accept", hers)
        declining = pool.submit(act, sanne, live, task_id, "decline", mine, reason="already-in-care")
        answers = [accepting.result(), declining.result()]
    codes = sorted(a.status_code for a in answers)
    assert codes == [303, 409], codes
    task = FhirClient(inbox_fhir).read("Task", task_id)
    assert task["meta"]["versionId"] == "2"  # one change made, the other refused: no lost update
    loser = next(a for a in answers if a.status_code == 409)
    winner = MARIEKE if task["status"] == "accepted" else SANNE
    status = "geaccepteerd" if task["status"] == "accepted" else "afgewezen"
    assert f"Al opgepakt door {winner} ({status})" in text_of(loser)
    assert f"Stand: {status}" in text_of(loser)  # the referral as it is now, under the message


def test_the_status_says_one_thing_in_the_pages_language(live, referral, inbox_fhir):
    """Where the work stands in the page's language (not the Task's Dutch text in English), and none once the
    practice cancelled an accepted referral ("geannuleerd (Aangenomen)" said two things at once)."""
    task_id = referral("one-status", signals=("homeless",), bsn="999990093")["regiocoordinator-jgz"]
    s, _ = sign_in(live, "demo-jgz")
    page = detail(s, live, task_id)
    assert act(s, live, task_id, "accept", page).status_code == 303
    page = detail(s, live, task_id)
    s.post(f"{live.base}/inbox/language", data={"csrf_token": token(page), "lang": "en"}, timeout=10)
    assert "Status: accepted (Accepted)" in text_of(detail(s, live, task_id))
    practice = taskflow.Actor(display="Huisarts")
    taskflow.apply_change(
        FhirClient(inbox_fhir), task_id, taskflow.cancel(practice, "Ingetrokken door de huisarts"), datetime.now(UTC)
    )
    words = text_of(detail(s, live, task_id))
    assert "Status: cancelled" in words and "(Accepted)" not in words and "(Aangenomen)" not in words
    assert "Cancelled by the GP" in words and "Ingetrokken door de huisarts" not in words  # the reason too


def test_a_referral_the_practice_cancelled_is_off_the_worklist_and_says_so(live, referral, inbox_fhir):
    task_id = referral("cancelled", signals=("homeless",))["regiocoordinator-jgz"]
    s, _ = sign_in(live, "demo-jgz")
    page = detail(s, live, task_id)
    # the GP cancels (service/referrals/withdraw.py cancel_referral makes this change) while the page is open
    client = FhirClient(inbox_fhir)
    practice = taskflow.Actor(display="Huisarts")
    taskflow.apply_change(client, task_id, taskflow.cancel(practice, "Ingetrokken door de huisarts"), datetime.now(UTC))
    refused = act(s, live, task_id, "accept", page)  # from the version the page showed
    assert refused.status_code == 422 and "Deze stap kan niet (meer)" in text_of(refused)
    assert "opgepakt door" not in text_of(refused)  # nobody at the recipient took it up
    words = text_of(detail(s, live, task_id))
    assert "Stand: geannuleerd Ingetrokken door de huisarts" in words
    assert "Deze verwijzing is ingetrokken; er zijn geen stappen meer mogelijk." in words
    assert 'name="version"' not in detail(s, live, task_id).text  # no steps offered
    assert task_id not in worklist_ids(s.get(live.base + "/inbox", timeout=10))
