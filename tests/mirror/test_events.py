"""The de-identified event record (service/mirror/events.py): written by every submission (form and API go through
the Submitter), updated from the recipients' Tasks (the practice's copy), and never holding an identifier, a name,
free text or a date finer than the quarter."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.mirror.events import EventStore, quarter_of
from service.outbox.store import Outbox
from service.referrals.feedback import FeedbackStore
from service.referrals.submit import Submitter
from service.registry import Practice
from tests.factories import OTHER, URGENT, make_qr, with_patient

PRACTICE = Practice(id="demo-practice", name="Huisartsenpraktijk De Linde", agb="01001234", ura="90000001",
                    region="maastricht-heuvelland")  # fmt: skip


def _rows(path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return [row for t in ("event", "event_signal", "event_recipient") for row in conn.execute(f"SELECT * FROM {t}")]
    finally:
        conn.close()


def _submitter(engine, tmp_path) -> tuple[Submitter, EventStore]:
    store = EventStore(tmp_path / "mirror.sqlite3", tmp_path / "mirror-links.sqlite3")
    return Submitter(engine, Outbox(tmp_path / "outbox.sqlite3"), None, mirror=store), store


def test_a_submission_writes_one_event_of_codes(engine, tmp_path):
    submitter, store = _submitter(engine, tmp_path)
    qr = with_patient(make_qr(signals=("domestic-violence", "financial-problems"), note="Partner drinkt veel"))
    submitter.submit(qr, practice=PRACTICE, via="form")
    event = store.conn().execute("SELECT * FROM event").fetchone()
    assert event["practice"] == "demo-practice" and event["region"] == "maastricht-heuvelland"
    assert re.fullmatch(r"\d{4}Q[1-4]", event["quarter"]) and event["phase"] == "pregnant"
    assert event["meldcode"] == 1 and event["referred"] == 1 and event["invented"] == 0
    assert re.fullmatch(r"[0-9a-f]{32}", event["id"])
    signals = {r["signal"] for r in store.conn().execute("SELECT signal FROM event_signal")}
    assert signals == {"domestic-violence", "financial-problems"}
    recipients = {r["recipient"]: dict(r) for r in store.conn().execute("SELECT * FROM event_recipient")}
    jgz = recipients["regiocoordinator-jgz"]
    assert (jgz["consent"], jgz["sent"], jgz["external"], jgz["response"]) == ("given", 1, 1, None)


def test_a_resubmission_updates_its_event_and_no_consent_is_declined(engine, tmp_path):
    submitter, store = _submitter(engine, tmp_path)
    submitter.submit(make_qr(signals=("homeless", "financial-problems"), consent=False), practice=PRACTICE)
    first = store.conn().execute("SELECT consent, sent FROM event_recipient WHERE recipient = 'regiocoordinator-jgz'")
    assert tuple(first.fetchone()) == ("declined", 0)
    submitter.submit(make_qr(signals=("homeless", "financial-problems"), consent=True), practice=PRACTICE)
    assert store.conn().execute("SELECT count(*) FROM event").fetchone()[0] == 1
    again = store.conn().execute("SELECT consent, sent FROM event_recipient WHERE recipient = 'regiocoordinator-jgz'")
    assert tuple(again.fetchone()) == ("given", 1)


def test_without_a_practice_nothing_is_mirrored(engine, tmp_path):
    submitter, store = _submitter(engine, tmp_path)
    submitter.submit(make_qr(signals=("financial-problems",)), region="maastricht-heuvelland")
    assert store.conn().execute("SELECT count(*) FROM event").fetchone()[0] == 0


def test_the_tasks_coming_back_update_the_event_and_close_the_link(engine, tmp_path):
    submitter, store = _submitter(engine, tmp_path)
    result = submitter.submit(make_qr(signals=("homeless",)), practice=PRACTICE)
    copy = FeedbackStore(tmp_path / "feedback.sqlite3")
    copy.mirror = store
    sent = datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp()
    copy._db.conn().execute(
        "INSERT INTO referral_feedback (submission, recipient, destination, sent, status) VALUES (?, ?, ?, ?, ?)",
        (result.submission_id, "regiocoordinator-jgz", "ggd-zuid-limburg", sent, "requested"),
    )
    key = f"{result.submission_id}:regiocoordinator-jgz"
    copy.save(key, {"status": "accepted", "last_modified": "2026-11-23T09:00:00+00:00"}, sent + 4 * 86400)
    row = store.conn().execute("SELECT response, feedback_days FROM event_recipient WHERE sent").fetchone()
    assert tuple(row) == ("accepted", 2)  # from sending to the Task's lastModified, whole days
    links = sqlite3.connect(tmp_path / "mirror-links.sqlite3")
    assert links.execute("SELECT count(*) FROM mirror_link WHERE recipient != ''").fetchone()[0] == 1
    copy.save(key, {"status": "completed", "outcome": "support-started", "last_modified": "2026-12-01T09:00:00+00:00"},
              sent + 20 * 86400)  # fmt: skip
    row = store.conn().execute("SELECT response, outcome, feedback_days FROM event_recipient WHERE sent").fetchone()
    assert tuple(row) == ("accepted", "support-started", 2)  # the first feedback's days stay
    assert links.execute("SELECT count(*) FROM mirror_link WHERE recipient != ''").fetchone()[0] == 0  # loop closed
    assert not store.record_feedback(result.submission_id, "regiocoordinator-jgz", status="completed", outcome=None,
                                     sent=sent)  # fmt: skip


def test_links_and_old_events_are_purged(tmp_path):
    from service.mirror.events import MirrorEvent

    store = EventStore(tmp_path / "mirror.sqlite3")
    old = MirrorEvent(practice="p", region="r", quarter="2015Q1", phase="pregnant", level="none", signals=("a",),
                      recipients=(), overridden=False, meldcode=False)  # fmt: skip
    store.add([old])
    store.record_submission("sub-1", old, now=0)
    assert store.purge(now=datetime(2026, 1, 1, tzinfo=UTC).timestamp()) == 1 + 2 + 2  # the link, 2 events, 2 signals
    assert store.conn().execute("SELECT count(*) FROM event").fetchone()[0] == 0


def test_quarters_are_dutch_calendar_quarters():
    assert quarter_of(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == "2027Q1"  # already 1 January in Amsterdam
    assert quarter_of(datetime(2026, 4, 1, 12, tzinfo=UTC)) == "2026Q2"


NAMES = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyzéë", min_size=6, max_size=14)
DATES = st.dates(min_value=datetime(1985, 1, 1).date(), max_value=datetime(2026, 12, 31).date())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    bsn=st.from_regex(r"9\d{8}", fullmatch=True),
    family=NAMES,
    given_name=NAMES,
    note=st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=12, max_size=60).filter(lambda s: s.strip()),
    identifier=st.from_regex(r"his-[0-9a-f]{10}", fullmatch=True),
    birth=DATES,
    authored=DATES,
    signals=st.sets(st.sampled_from(URGENT + OTHER), max_size=4),
    consent=st.booleans(),
    override=st.sampled_from([None, "attention", "vulnerable", "urgent"]),
)
def test_no_identifier_name_note_or_day_ever_enters_the_record(
    engine, tmp_path_factory, bsn, family, given_name, note, identifier, birth, authored, signals, consent, override
):
    tmp = tmp_path_factory.mktemp("mirror")
    submitter, _ = _submitter(engine, tmp)
    qr = make_qr(signals=tuple(sorted(signals)), note=note, identifier=identifier, consent=consent, override=override,
                 override_reason=f"Omdat {family} dat zei" if override else None,
                 authored=f"{authored.isoformat()}T10:30:00+01:00")  # fmt: skip
    qr = with_patient(qr, bsn=bsn, name=[{"family": family, "given": [given_name]}], birthDate=birth.isoformat())
    submitter.submit(qr, practice=PRACTICE, via="api")
    rows = _rows(tmp / "mirror.sqlite3")
    assert rows, "the submission wrote its event"
    secrets_ = (bsn, family, given_name, note.strip(), identifier, birth.isoformat(), authored.isoformat(), "Omdat")
    for value in (str(v) for row in rows for v in row):
        for secret in secrets_:
            assert secret not in value
        assert not re.search(r"\d{4}-\d{2}-\d{2}", value), value  # no day anywhere
    for path in tmp.glob("mirror*.sqlite3*"):  # the bytes of the files, the WAL included
        data = path.read_bytes()
        for secret in secrets_:
            assert secret.encode() not in data, (path.name, secret)
        assert not re.search(rb"\d{4}-\d{2}-\d{2}", data), path.name
