"""The de-identified event record (service/mirror/events.py): written by every submission (form and API go through
the Submitter), updated from the recipients' Tasks (the practice's copy), and never holding an identifier, a name,
free text or a date finer than the quarter. The store's tests run on both engines of the storage layer (service/db:
SQLite files, a real PostgreSQL)."""

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
from tests.sql import execute, rows, value

PRACTICE = Practice(id="demo-practice", name="Huisartsenpraktijk De Linde", agb="01001234", ura="90000001",
                    region="maastricht-heuvelland")  # fmt: skip


def _rows(path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return [row for t in ("event", "event_signal", "event_recipient") for row in conn.execute(f"SELECT * FROM {t}")]
    finally:
        conn.close()


def _submitter(engine, tmp_path, database=None) -> tuple[Submitter, EventStore]:
    store = EventStore(database or tmp_path / "mirror.sqlite3", None if database else tmp_path / "mirror-links.sqlite3")
    return Submitter(engine, Outbox(tmp_path / "outbox.sqlite3"), None, mirror=store), store


def test_a_submission_writes_one_event_of_codes(engine, tmp_path, database):
    submitter, store = _submitter(engine, tmp_path, database)
    qr = with_patient(make_qr(signals=("domestic-violence", "financial-problems"), note="Partner drinkt veel"))
    submitter.submit(qr, practice=PRACTICE, via="form")
    [event] = rows(store.db, "SELECT * FROM event")
    assert event["practice"] == "demo-practice" and event["region"] == "maastricht-heuvelland"
    assert re.fullmatch(r"\d{4}Q[1-4]", event["quarter"]) and event["phase"] == "pregnant"
    assert event["meldcode"] == 1 and event["referred"] == 1 and event["invented"] == 0
    assert re.fullmatch(r"[0-9a-f]{32}", event["id"])
    signals = {r["signal"] for r in rows(store.db, "SELECT signal FROM event_signal")}
    assert signals == {"domestic-violence", "financial-problems"}
    recipients = {r["recipient"]: r for r in rows(store.db, "SELECT * FROM event_recipient")}
    jgz = recipients["regiocoordinator-jgz"]
    assert (jgz["consent"], jgz["sent"], jgz["external"], jgz["response"]) == ("given", 1, 1, None)


JGZ = "SELECT consent, sent FROM event_recipient WHERE recipient = 'regiocoordinator-jgz'"


def test_a_resubmission_updates_its_event_and_no_consent_is_declined(engine, tmp_path, database):
    submitter, store = _submitter(engine, tmp_path, database)
    submitter.submit(make_qr(signals=("homeless", "financial-problems"), consent=False), practice=PRACTICE)
    assert rows(store.db, JGZ) == [{"consent": "declined", "sent": 0}]
    submitter.submit(make_qr(signals=("homeless", "financial-problems"), consent=True), practice=PRACTICE)
    assert value(store.db, "SELECT count(*) FROM event") == 1
    assert rows(store.db, JGZ) == [{"consent": "given", "sent": 1}]


def test_without_a_practice_nothing_is_mirrored(engine, tmp_path):
    submitter, store = _submitter(engine, tmp_path)
    submitter.submit(make_qr(signals=("financial-problems",)), region="maastricht-heuvelland")
    assert value(store.db, "SELECT count(*) FROM event") == 0


def test_the_tasks_coming_back_update_the_event_and_close_the_link(engine, tmp_path, database):
    submitter, store = _submitter(engine, tmp_path, database)
    result = submitter.submit(make_qr(signals=("homeless",)), practice=PRACTICE)
    copy = FeedbackStore(database)
    copy.mirror = store
    sent = datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp()
    execute(
        copy.db,
        "INSERT INTO referral_feedback (submission, recipient, destination, sent, status) VALUES (:s, :r, :d, :t, :st)",
        s=result.submission_id, r="regiocoordinator-jgz", d="ggd-zuid-limburg", t=sent, st="requested",
    )  # fmt: skip
    key = f"{result.submission_id}:regiocoordinator-jgz"
    copy.save(key, {"status": "accepted", "last_modified": "2026-11-23T09:00:00+00:00"}, sent + 4 * 86400)
    found = "SELECT response, outcome, feedback_days FROM event_recipient WHERE sent = 1"
    # from sending to the Task's lastModified, whole days
    assert rows(store.db, found) == [{"response": "accepted", "outcome": None, "feedback_days": 2}]
    looping = "SELECT count(*) FROM mirror_link WHERE recipient != ''"
    assert value(store.links, looping) == 1
    copy.save(key, {"status": "completed", "outcome": "support-started", "last_modified": "2026-12-01T09:00:00+00:00"},
              sent + 20 * 86400)  # fmt: skip
    # the first feedback's days stay
    assert rows(store.db, found) == [{"response": "accepted", "outcome": "support-started", "feedback_days": 2}]
    assert value(store.links, looping) == 0  # loop closed
    assert not store.record_feedback(result.submission_id, "regiocoordinator-jgz", status="completed", outcome=None,
                                     sent=sent)  # fmt: skip


def test_links_and_old_events_are_purged(database):
    from service.mirror.events import MirrorEvent

    store = EventStore(database)
    old = MirrorEvent(practice="p", region="r", quarter="2015Q1", phase="pregnant", level="none", signals=("a",),
                      recipients=(), overridden=False, meldcode=False)  # fmt: skip
    store.add([old])
    store.record_submission("sub-1", old, now=0)
    assert store.purge(now=datetime(2026, 1, 1, tzinfo=UTC).timestamp()) == 1 + 2 + 2  # the link, 2 events, 2 signals
    assert value(store.db, "SELECT count(*) FROM event") == 0


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
    written = _rows(tmp / "mirror.sqlite3")
    assert written, "the submission wrote its event"
    secrets_ = (bsn, family, given_name, note.strip(), identifier, birth.isoformat(), authored.isoformat(), "Omdat")
    for cell in (str(v) for row in written for v in row):
        for secret in secrets_:
            assert secret not in cell
        assert not re.search(r"\d{4}-\d{2}-\d{2}", cell), cell  # no day anywhere
    for path in tmp.glob("mirror*.sqlite3*"):  # the bytes of the files, the WAL included
        data = path.read_bytes()
        for secret in secrets_:
            assert secret.encode() not in data, (path.name, secret)
        assert not re.search(rb"\d{4}-\d{2}-\d{2}", data), path.name


REGION = "maastricht-heuvelland"
RECIPIENTS = [("regiocoordinator-jgz", True), ("nu-niet-zwanger", True), ("poh-jeugd", False)]
SIGNALS = ["domestic-violence", "financial-problems", "language-barrier", "homeless"]
YEAR = ("2026Q1", "2026Q2", "2026Q3", "2026Q4")


def test_the_figures_are_the_same_on_both_engines(tmp_path, postgres_server):
    """The figures' GROUP BY queries (service/mirror/figures.py, SQLAlchemy Core) count alike on SQLite and
    PostgreSQL: the same events give the same reports, suppressed cells and medians included."""
    from service.db import Database, postgresql_url
    from service.mirror.figures import build_report
    from service.mirror.history import invented_events

    events = invented_events(REGION, RECIPIENTS, SIGNALS, practices=["a", "b", "c", "d"], quarters=YEAR, seed=16)
    lite = EventStore(tmp_path / "mirror.sqlite3")
    pg = EventStore(Database(postgresql_url(postgres_server.dsn(postgres_server.new_database()))))
    assert len(lite.add(events)) == len(pg.add(events)) == len(events)
    for scope, practice in (("region", None), ("region", "b"), ("practice", "a")):
        reports = [
            build_report(s, scope=scope, region=REGION, practice=practice, periods=(*YEAR, "2026"), suppress_below=12)
            for s in (lite, pg)
        ]
        assert reports[0] == reports[1], (scope, practice)
        cells = reports[0].cells
        assert any(c.figure == "feedback-median-days" and c.value for c in cells) and reports[0].invented
        if scope == "region" and practice is None:
            assert any(c.suppressed for c in cells) and not all(c.suppressed for c in cells)
    assert pg.region_of("c") == lite.region_of("c") == REGION and pg.region_of("z") is None
    assert pg.has_invented(["a"]) and not pg.has_invented(["z"]) and not pg.has_invented([])
    pg.db.dispose()


def test_files_from_before_the_storage_layer_are_adopted_with_their_events_and_links(tmp_path):
    events, links = sqlite3.connect(tmp_path / "mirror.sqlite3"), sqlite3.connect(tmp_path / "mirror-links.sqlite3")
    events.executescript(
        """
CREATE TABLE event (
    region TEXT NOT NULL, quarter TEXT NOT NULL, practice TEXT NOT NULL, phase TEXT NOT NULL, id TEXT NOT NULL,
    level TEXT NOT NULL, overridden INTEGER NOT NULL, meldcode INTEGER NOT NULL, referred INTEGER NOT NULL,
    invented INTEGER NOT NULL DEFAULT 0, vulnerable INTEGER NOT NULL, urgent INTEGER NOT NULL,
    PRIMARY KEY (region, quarter, practice, phase, id)) WITHOUT ROWID;
CREATE UNIQUE INDEX event_id ON event (id);
CREATE TABLE event_signal (
    region TEXT NOT NULL, quarter TEXT NOT NULL, practice TEXT NOT NULL, signal TEXT NOT NULL, event TEXT NOT NULL,
    referred INTEGER NOT NULL, PRIMARY KEY (region, quarter, practice, signal, event)) WITHOUT ROWID;
CREATE TABLE event_recipient (
    region TEXT NOT NULL, quarter TEXT NOT NULL, practice TEXT NOT NULL, recipient TEXT NOT NULL, event TEXT NOT NULL,
    external INTEGER NOT NULL, consent TEXT NOT NULL, sent INTEGER NOT NULL, response TEXT, outcome TEXT,
    feedback_days INTEGER, PRIMARY KEY (region, quarter, practice, recipient, event)) WITHOUT ROWID;
INSERT INTO event VALUES ('r', '2026Q4', 'p', 'pregnant', 'e1', 'urgent', 0, 1, 1, 0, 1, 1);
INSERT INTO event_signal VALUES ('r', '2026Q4', 'p', 'homeless', 'e1', 1);
INSERT INTO event_recipient VALUES ('r', '2026Q4', 'p', 'jgz', 'e1', 1, 'given', 1, NULL, NULL, NULL);
"""
    )
    events.commit()
    links.executescript(
        "CREATE TABLE mirror_link (submission TEXT NOT NULL, recipient TEXT NOT NULL, event TEXT NOT NULL, "
        "expires REAL NOT NULL, PRIMARY KEY (submission, recipient));"
    )
    from service.mirror.events import _link_key

    links.execute("INSERT INTO mirror_link VALUES (?, 'jgz', 'e1', 4e9)", (_link_key("sub-1"),))
    links.commit()
    store = EventStore(tmp_path / "mirror.sqlite3", tmp_path / "mirror-links.sqlite3")
    assert store.record_feedback("sub-1", "jgz", status="accepted", outcome=None, sent=0, changed=3 * 86400, now=1e9)
    assert rows(store.db, "SELECT response, feedback_days FROM event_recipient") == [
        {"response": "accepted", "feedback_days": 3}
    ]
    assert store.region_of("p") == "r"
    assert events.execute("SELECT count(*) FROM sqlite_master WHERE name = 'event_recipient_event'").fetchone() == (1,)
    for conn, head in ((events, "mirror_0001"), (links, "mirror_links_0001")):
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]
        conn.close()
