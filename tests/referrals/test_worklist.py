"""The recipient's worklist and a referral's detail, over referrals really sent to a real sekmet-fhir: priority
then age, due days in working days, overdue marked, and the detail holding only what that recipient was sent."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from service.fhir.client import FhirClient
from service.referrals import worklist
from service.referrals.taskflow import Actor, accept, apply_change, decline
from service.referrals.worklist import due_day, open_referrals, referral_detail, response_days, response_times
from tests.factories import make_qr, with_patient
from tests.referrals.taskwork import JGZ, send

ANNA = Actor(display="Anna Jansen")
TUESDAY = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def base_url(sekmet_servers):
    return sekmet_servers.get("worklist").base_url


@pytest.fixture
def client(base_url):
    with FhirClient(base_url, sleep=lambda _: None) as fhir:
        yield fhir


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_working_days_skip_the_weekend():
    assert due_day(at("2026-11-20T10:30:00+01:00"), 2) == date(2026, 11, 24)  # Friday, urgent: Tuesday
    assert due_day(at("2026-11-20T10:30:00+01:00"), 10) == date(2026, 12, 4)
    assert due_day(at("2026-11-21T09:00:00+01:00"), 2) == date(2026, 11, 24)  # Saturday: Monday counts as the first
    assert due_day(at("2026-11-18T16:00:00+01:00"), 2) == date(2026, 11, 20)  # Wednesday: Friday
    assert due_day(at("2026-11-22T12:00:00+01:00"), 0) == date(2026, 11, 23)  # 0 days on a Sunday: the Monday
    # Sunday 23:30 UTC is Monday in the practice: the days count from Monday, not from Sunday.
    assert due_day(at("2026-11-22T23:30:00+00:00"), 2) == date(2026, 11, 25)


def test_working_days_skip_the_dutch_public_holidays():
    # Thursday before Easter 2027 (Good Friday 26 March, Easter Monday 29 March): Tuesday and Wednesday count
    assert due_day(at("2027-03-25T10:00:00+01:00"), 2) == date(2027, 3, 31)
    # Christmas 2026 (Friday 25, Saturday 26): from Thursday 24th, two working days are Monday 28th and Tuesday 29th
    assert due_day(at("2026-12-24T10:00:00+01:00"), 2) == date(2026, 12, 29)
    assert due_day(at("2027-04-26T10:00:00+02:00"), 1) == date(2027, 4, 28)  # King's Day, Tuesday 27 April 2027
    assert due_day(at("2027-05-05T10:00:00+02:00"), 1) == date(2027, 5, 7)  # Ascension Day, Thursday 6 May 2027
    assert due_day(at("2026-12-25T10:00:00+01:00"), 0) == date(2026, 12, 28)  # 0 days on Christmas: the Monday


def test_response_time_per_priority_from_the_mappings(engine):
    times = response_times(engine.ruleset("maastricht-heuvelland").recipients["regiocoordinator-jgz"])
    assert times == {"urgent": 2, "routine": 10}
    assert response_days("urgent", times) == 2 and response_days("routine", times) == 10
    assert response_days("asap", times) == 2 and response_days("stat", times) == 2  # the nearest less urgent
    assert response_days("routine", {"urgent": 2}) is None  # nothing for routine: no due day at all
    assert response_times(engine.ruleset("maastricht-heuvelland").recipients["poh-jeugd"]) == {}


def test_open_referrals_most_urgent_and_oldest_first_with_overdue_marked(engine, tmp_path, base_url, client):
    def referral(name, signals, authored):
        qr = with_patient(make_qr(signals=signals, identifier=f"worklist-{name}", authored=authored))
        return send(engine, tmp_path, base_url, qr)["regiocoordinator-jgz"]

    routine_old = referral("routine", ("single-mother", "financial-problems"), "2026-11-02T09:00:00+01:00")  # Monday
    urgent_new = referral("urgent-new", ("homeless",), "2026-11-20T10:30:00+01:00")  # Friday
    urgent_old = referral("urgent-old", ("substance-addiction",), "2026-11-18T11:00:00+01:00")  # Wednesday
    declined = referral("declined", ("homeless",), "2026-11-19T11:00:00+01:00")
    apply_change(client, urgent_old, accept(ANNA), TUESDAY)
    apply_change(client, declined, decline(ANNA, "already-in-care"), TUESDAY)

    times = {"urgent": 2, "routine": 10}
    mine = {routine_old, urgent_new, urgent_old, declined}
    items = [i for i in open_referrals(client, JGZ, TUESDAY, times) if i.task_id in mine]
    assert [i.task_id for i in items] == [urgent_old, urgent_new, routine_old]  # the declined one is done
    by_id = {i.task_id: i for i in items}
    assert (by_id[urgent_old].due, by_id[urgent_old].overdue) == (date(2026, 11, 20), True)
    assert (by_id[urgent_new].due, by_id[urgent_new].overdue) == (date(2026, 11, 24), False)  # due today
    assert (by_id[routine_old].due, by_id[routine_old].overdue) == (date(2026, 11, 16), True)
    old = by_id[urgent_old]
    assert old.status == "accepted" and old.business_status == "Aangenomen" and old.assignee == "Anna Jansen"
    assert old.patient == "Lisa de Boer" and old.birth_date == "2008-02-20" and old.recipient == "regiocoordinator-jgz"
    assert by_id[urgent_new].status == "requested" and by_id[urgent_new].version == "1"
    # Another organisation's worklist holds none of them.
    others = open_referrals(client, "http://fhir.nl/fhir/NamingSystem/ura|90000102", TUESDAY, times)
    assert not {i.task_id for i in others} & mine


def test_the_worklist_reads_every_page(engine, tmp_path, base_url, client, monkeypatch):
    sent = {
        send(engine, tmp_path, base_url, with_patient(make_qr(signals=("homeless",), identifier=f"page-{n}")))[
            "regiocoordinator-jgz"
        ]
        for n in range(3)
    }
    everything = {i.task_id: i.patient for i in open_referrals(client, JGZ, TUESDAY, {})}
    monkeypatch.setattr(worklist, "TASKS_PAGE_SIZE", 1)  # one Task per search page
    monkeypatch.setattr(worklist, "PATIENTS_PER_SEARCH", 2)  # the patients in more than one search
    paged = open_referrals(client, JGZ, TUESDAY, {})
    assert sent <= {i.task_id for i in paged} and {i.task_id: i.patient for i in paged} == everything
    assert all(everything[t] == "Lisa de Boer" for t in sent)
    assert all(i.due is None and not i.overdue for i in paged)  # no response times given: no due day


def test_the_detail_shows_exactly_what_each_recipient_was_sent(engine, tmp_path, base_url, client):
    qr = with_patient(
        make_qr(signals=("homeless",), identifier="detail-1", note="Moeder zoekt woonruimte; graag hulp."),
        bsn="999990032",
    )
    tasks = send(engine, tmp_path, base_url, qr, region="voorbeeldstad")
    jong = referral_detail(client, tasks["centrum-jong"], owner="http://fhir.nl/fhir/NamingSystem/ura|90000201")
    assert jong.signals == ("Dak- of thuisloos",) and jong.help_question == "Moeder zoekt woonruimte; graag hulp."
    assert jong.phase == "pregnant" and jong.dates == {"due-date": "2027-03-01"} and jong.level == "urgent"
    assert jong.consent is not None and jong.consent["status"] == "active"
    assert jong.patient is not None and jong.patient["identifier"][0]["value"] == "999990032"
    assert jong.sent == "2026-11-20T10:30:00+01:00" and jong.service_request["priority"] == "asap"
    assert jong.outcome is None and jong.message is None

    # The midwife shares no signals and no help question (voorbeeldstad.recipients.yaml): the detail has none.
    midwife = referral_detail(client, tasks["verloskundige"], owner="http://fhir.nl/fhir/NamingSystem/agb-z|99000202")
    assert midwife.signals == () and midwife.help_question is None
    assert midwife.phase == "pregnant" and midwife.level == "urgent" and midwife.consent is not None
    shared = {item["linkId"] for item in midwife.answers["item"]}
    assert shared == {"context", "consent"}
    assert "Moeder zoekt woonruimte" not in str(midwife.service_request) + str(midwife.task)
    assert midwife.patient is not None and "communication" in midwife.patient  # language shared, so it came along
