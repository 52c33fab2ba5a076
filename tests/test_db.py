"""The storage layer (service/db, issue 16): the converted stores on both engines (SQLite and a real PostgreSQL,
tests/postgres.py), the migrations (heads, adoption of files from before, `kansrijk db upgrade`), the audit log
append-only at the database level, and one launch that starts on one instance and finishes on another."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from service.api.auth import ApiAuth
from service.api.responses import ResponseStore
from service.audit import AuditEntry, AuditLog
from service.db import Database, database_for, postgresql_url
from service.db.migrate import current_heads, upgrade_all
from service.db.schema import BRANCHES
from service.inbox.store import InboxStore
from service.smart.session import COOKIE_NAME, LaunchContext, SessionStore
from service.web.store import FormStore, PanelFacts, WorkState


def _ctx(sid: str, created: float | None = None) -> LaunchContext:
    return LaunchContext(
        session_id=sid,
        iss="https://ehr.example/fhir",
        client_id="ks",
        token_endpoint="https://ehr.example/token",
        access_token="at-" + sid,
        expires_at=time.time() + 300,
        scope="launch",
        patient="p1",
        created_at=created or time.time(),
    )


def _entry(event="read", patient="Patient/p1") -> AuditEntry:
    return AuditEntry(
        event=event, action="R", outcome="0", who="PractitionerRole/gp", patient=patient, object=None, access_point="t"
    )


# ------------------------------------------------------------------------------------ the stores, both engines


def test_launch_sessions_and_pending_launches(database):
    store = SessionStore(database, max_age=3600)
    store.save(_ctx("s1"))
    assert store.load("s1").access_token == "at-s1" and store.load("nope") is None and store.load(None) is None
    store.update(store.load("s1"), role="huisarts")
    assert store.load("s1").role == "huisarts"
    store.save(_ctx("old", created=time.time() - 7200))
    assert store.load("old") is None  # past max_age: not handed out, and purged
    store.save_pending("state-1", {"verifier": "v"})
    assert store.pop_pending("state-1") == {"verifier": "v"} and store.pop_pending("state-1") is None
    assert store.purge() == 1 and store.load("s1") is not None
    store.delete("s1")
    assert store.load("s1") is None


def test_form_work_panel_facts_and_drafts(database):
    forms = FormStore(database)
    assert forms.work("s1") is None and forms.panel_facts("s1").suggestions == []
    work = WorkState(suggestions=[{"linkId": "teen", "why": "x"}], mother_birth_date="2009-05-01")
    forms.save_work("s1", work)
    facts = forms.panel_facts("s1")
    assert facts.suggestions == [{"linkId": "teen", "why": "x"}] and facts.mother_birth_date == "2009-05-01"
    forms.save_work("s2", WorkState())  # nothing suggested, no birth date: JSON [] and null
    assert forms.panel_facts("s2").suggestions == [] and forms.panel_facts("s2").mother_birth_date is None
    work.fields = {"q1": ["ja"]}
    forms.save_work("s1", work)  # saved again: replaced
    assert forms.work("s1").fields == {"q1": ["ja"]}
    forms.save_draft("https://ehr", "p1", work)
    assert forms.draft("https://ehr", "p1").identifier == work.identifier and forms.draft("https://ehr", "p2") is None
    assert forms.purge(now=time.time() + 15 * 86400) == 3  # both works and the draft have expired by then
    assert forms.draft("https://ehr", "p1") is None and forms.work("s1") is None


def test_panel_facts_are_kept_by_form_and_read_again_for_another(database):
    """The live panel names its form (the panel token's form id): the facts read of that form are kept, so a tick
    does not read the database; another form of the session (opened since) is read, and without a form id the
    stored form's facts are read every time."""
    forms = FormStore(database)
    first = WorkState(suggestions=[{"link_id": "teenage-pregnancy", "text": "17"}], mother_birth_date="2009-05-01")
    forms.save_work("s1", first)
    facts = forms.panel_facts("s1", first.identifier)
    assert facts.form_id == first.identifier and facts.mother_birth_date == "2009-05-01"
    forms.drop_work("s1")  # sent: the stored form is gone, the page that showed it still ticks
    assert forms.panel_facts("s1", first.identifier) == facts  # kept: not read again
    assert forms.panel_facts("s1") == PanelFacts()  # no form named: what is stored now (nothing)
    second = WorkState(mother_birth_date="1990-01-01")  # a new form in the same session
    forms.save_work("s1", second)
    assert forms.panel_facts("s1", second.identifier).mother_birth_date == "1990-01-01"
    assert forms.panel_facts("s1", "another-form").form_id == second.identifier  # not kept: what is stored now
    assert forms.panel_facts("s2", first.identifier) == PanelFacts()  # kept per session: s2 has none


def test_api_tokens_and_assertion_ids(database):
    auth = ApiAuth({}, database, token_lifetime=60)
    client = type("C", (), {"client_id": "c1"})()
    issued = auth.issue(client, "system/*.rs")
    assert auth.token(issued["access_token"]) == {"client_id": "c1", "scope": "system/*.rs"}
    assert auth.token("other") is None and auth.token(None) is None
    assert auth.first_use("c1", "jti-1", 60) and not auth.first_use("c1", "jti-1", 60)  # a replay
    assert auth.first_use("c1", "jti-2", -1) and auth.first_use("c1", "jti-2", 60)  # an expired one is no replay
    assert auth.purge(now=time.time() + 120) == 3


def test_a_replayed_assertion_is_refused_once_whoever_races(database):
    auth = ApiAuth({}, database)
    answers: list[bool] = []
    threads = [threading.Thread(target=lambda: answers.append(auth.first_use("c", "j", 60))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [False] * 7 + [True]


def test_inbox_sessions_and_a_sign_in_taken_once(database):
    inbox = InboxStore(database)
    inbox.save_session("i1", {"sub": "u1"})
    inbox.save_language("i1", "en")
    assert inbox.session("i1") == {"sub": "u1"} and inbox.language("i1") == "en"
    inbox.end_session("i1")
    assert inbox.session("i1") is None and inbox.language("i1") is None
    inbox.save_pending("st", {"nonce": "n"})
    assert inbox.take_pending("st") == {"nonce": "n"} and inbox.take_pending("st") is None
    assert inbox.take_pending(None) is None


def test_api_responses_their_versions_and_who_may_read_them(database):
    responses = ResponseStore(database, retention_days=1)
    qr = {"resourceType": "QuestionnaireResponse", "status": "completed", "item": []}
    first = responses.put("r1", qr, "client-a", {"region": "x"})
    assert first.created and first.changed and first.version == 1
    again = responses.put("r1", qr, "client-b", {"region": "x"})
    assert not again.created and not again.changed and again.version == 1 and again.callers == ("client-a", "client-b")
    amended = responses.put("r1", {**qr, "status": "amended"}, "client-a", {"region": "y"})
    assert amended.changed and amended.version == 2
    assert responses.get("r1", "client-a").resource["status"] == "amended"
    assert responses.get("r1", "client-a", version=1).resource["status"] == "completed"
    assert responses.get("r1", "client-c") is None and responses.get("r1", "client-a", version=3) is None
    assert responses.purge(now=time.time() + 2 * 86400) == 1 and responses.get("r1", "client-a") is None


def test_the_sandbox_key_is_one_for_every_state_on_a_database(database):
    from service.sandbox.views import State

    first, second = State(database, {}, 60), State(database, {}, 60)
    assert first.key.as_dict(private=True) == second.key.as_dict(private=True)


def test_the_audit_log_on_both_engines(database):
    log = AuditLog(database)
    with log.access("send", who="PractitionerRole/gp", access_point="web:x", patient="Patient/p1"):
        log.record(_entry("form-read"))
    log.record(_entry("other", patient="Patient/p2"))
    assert [r["event"] for r in log.entries("Patient/p1")] == ["send"]
    assert [r["seq"] for r in log.entries()] == sorted(r["seq"] for r in log.entries())
    assert log.purge() == 0 and len(log.entries()) == 2  # nothing is past retention


def _raw(database: Database, sql: str) -> None:
    with database.engine.begin() as conn:
        conn.execute(text(sql))


def test_the_audit_log_refuses_updates_and_young_deletes_and_purges_what_is_past_retention(database):
    log = AuditLog(database)
    log.record(_entry("young"))
    for statement in ("UPDATE audit SET who = 'x'", "DELETE FROM audit"):
        with pytest.raises(DBAPIError, match="append-only"):
            _raw(database, statement)
    if database.is_postgresql:
        with pytest.raises(DBAPIError, match="append-only"):
            _raw(database, "TRUNCATE audit")
    # A row written six years ago (inserted as it was then: INSERT is allowed) is past the 5 years of DOMAIN.md §4.1.
    _raw(
        database,
        "INSERT INTO audit (recorded, action, event, outcome) VALUES ('2019-01-02T10:00:00+00:00', 'R', 'old', '0')",
    )
    assert log.purge() == 1
    assert [r["event"] for r in log.entries()] == ["young"]


def test_on_postgresql_the_services_role_may_only_insert_and_select_the_audit_log(postgres_server):
    """KS_DATABASE_OWNER_URL migrates (as the schema's owner); KS_DATABASE_URL's role gets SELECT and INSERT on the
    audit log and EXECUTE on audit_purge(), and can change no row of it, not even past the triggers."""
    suffix = str(time.monotonic_ns())
    owner, service = f"ks_owner_{suffix}", f"ks_service_{suffix}"
    postgres_server.sql(f"CREATE ROLE {owner} LOGIN PASSWORD 'o'")
    postgres_server.sql(f"CREATE ROLE {service} LOGIN PASSWORD 's'")
    name = postgres_server.new_database(owner=owner)
    postgres_server.sql(f"REVOKE CREATE ON SCHEMA public FROM PUBLIC; ALTER SCHEMA public OWNER TO {owner}", name)
    owner_url, service_url = postgres_server.dsn(name, owner, "o"), postgres_server.dsn(name, service, "s")
    db = Database(postgresql_url(service_url), owner_url=postgresql_url(owner_url))
    log = AuditLog(db)  # migrated as the owner, then granted
    forms = FormStore(db)
    log.record(_entry("by-the-service"))
    forms.save_work("s1", WorkState())  # the other stores: read and write as usual
    assert [r["event"] for r in log.entries()] == ["by-the-service"] and forms.work("s1") is not None
    for statement in (
        "UPDATE audit SET who = 'x'",
        "DELETE FROM audit",
        "TRUNCATE audit",
        "DROP TRIGGER audit_append_only ON audit",
    ):
        with pytest.raises(DBAPIError, match=r"permission denied|must be owner"):
            _raw(db, statement)
    assert log.purge() == 0  # the purge: through the owner's SECURITY DEFINER function only
    with pytest.raises(DBAPIError, match="permission denied"):
        _raw(db, "CREATE TABLE sneaky (x int)")  # nor may it change the schema
    db.dispose()


# ------------------------------------------------------------------------------------------------ migrations


def test_the_heads_the_stores_expect_are_the_migrations_heads():
    from service.db.migrate import _script

    script = _script()
    assert {b: script.get_revision(f"{b}@head").revision for b in BRANCHES} == BRANCHES
    assert set(script.get_heads()) == set(BRANCHES.values())


def test_db_upgrade_brings_every_branch_to_its_head_once(database, capsys):
    assert sorted(upgrade_all(database)) == sorted(BRANCHES)
    assert upgrade_all(database) == []  # at its heads: nothing to do
    with database.begin() as conn:
        assert current_heads(conn) == set(BRANCHES.values())


def test_kansrijk_db_upgrade(database_url, tmp_path, monkeypatch, capsys):
    from service import cli

    monkeypatch.setenv("KS_DATA_DIR", str(tmp_path / "data"))
    if database_url.startswith("postgresql"):
        monkeypatch.setenv("KS_DATABASE_URL", database_url)
    assert cli.main(["db", "upgrade"]) == 0
    first = capsys.readouterr().out
    assert cli.main(["db", "upgrade"]) == 0
    second = capsys.readouterr().out
    assert "audit" in first and "sessions" in first and "al bijgewerkt" in second
    if database_url.startswith("sqlite"):  # one file per store, each with its own branch only
        conn = sqlite3.connect(tmp_path / "data" / "audit.sqlite3")
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(BRANCHES["audit"],)]
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'form_work'").fetchone() == (0,)


def test_sqlite_files_from_before_the_storage_layer_are_adopted_with_their_rows(tmp_path):
    """Files the stores made with CREATE TABLE IF NOT EXISTS (no alembic_version): kept, stamped, in use."""
    old = sqlite3.connect(tmp_path / "sessions.sqlite3")
    old.executescript(
        "CREATE TABLE launch_session (id TEXT PRIMARY KEY, data TEXT NOT NULL, created REAL NOT NULL);"
        "CREATE TABLE pending_launch (state TEXT PRIMARY KEY, data TEXT NOT NULL, created REAL NOT NULL);"
    )
    old.execute("INSERT INTO launch_session VALUES (?, ?, ?)", ("s1", json.dumps(_ctx("s1").__dict__), time.time()))
    old.commit()
    forms = sqlite3.connect(tmp_path / "forms.sqlite3")
    forms.executescript(
        "CREATE TABLE form_work (session_id TEXT PRIMARY KEY, data TEXT NOT NULL, updated REAL NOT NULL);"
        "CREATE TABLE referral_log (x TEXT);"  # the form's old log: dropped, as the store always did
    )
    forms.commit()
    audit = sqlite3.connect(tmp_path / "audit.sqlite3")
    audit.executescript(
        "CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, recorded TEXT NOT NULL, action TEXT NOT NULL, "
        "event TEXT NOT NULL, outcome TEXT NOT NULL, who TEXT, responsible TEXT, patient TEXT, object TEXT, "
        "access_point TEXT);"
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'no'); END;"
        "INSERT INTO audit (recorded, action, event, outcome) VALUES ('2018-01-01T00:00:00+00:00', 'R', 'old', '0');"
    )
    audit.commit()
    assert SessionStore(tmp_path / "sessions.sqlite3").load("s1").access_token == "at-s1"
    store = FormStore(tmp_path / "forms.sqlite3")
    store.save_draft("i", "p", WorkState())
    assert store.draft("i", "p") is not None  # the missing table was made
    assert forms.execute("SELECT count(*) FROM sqlite_master WHERE name = 'referral_log'").fetchone() == (0,)
    log = AuditLog(tmp_path / "audit.sqlite3")
    log.record(_entry("new"))
    assert [r["event"] for r in log.entries()] == ["old", "new"]  # the column added, the rows kept
    assert log.purge() == 1  # the old all-refusing trigger replaced by the retention-aware one
    for conn in (old, forms, audit):
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)


def test_settings_take_only_postgresql_urls_and_never_show_a_password():
    from service.config import SettingsInvalid, load_settings

    with pytest.raises(SettingsInvalid) as caught:
        load_settings({"KS_DATABASE_URL": "mysql://user:geheim@host/db", "KS_DATABASE_OWNER_URL": "x"})
    assert "KS_DATABASE_URL must be a postgresql:// URL" in str(caught.value) and "geheim" not in str(caught.value)
    settings = load_settings({"KS_DATABASE_URL": "postgresql://ks:geheim@db.example/ks"})
    db = database_for(settings, "sessions.sqlite3")
    assert db.is_postgresql and "geheim" not in repr(db) and db.url.startswith("postgresql+psycopg://")


# ------------------------------------------------------------------------------------- two instances, one database


def test_a_launch_started_on_one_instance_finishes_on_another(postgres_server, sekmet_demo, tmp_path):
    """Two apps (two instances: their own data folders, nothing shared but the PostgreSQL database) behind one
    public URL; each hop of the sandbox EHR launch goes to the other instance, and the form opens at either."""
    from werkzeug.serving import make_server

    from service import create_app
    from service.embedded.sekmet import free_port

    url = postgres_server.dsn(postgres_server.new_database())
    ports = [free_port(), free_port()]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    servers = []
    for i, port in enumerate(ports):
        app = create_app(
            {
                "TESTING": True,
                "data_dir": tmp_path / f"instance{i}",
                "database_url": url,
                "fhir_base_url": sekmet_demo.base_url,
                "sandbox": "on",
                "public_url": bases[0],
            }
        )
        server = make_server("127.0.0.1", port, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    try:
        s = requests.Session()
        r = s.get(f"{bases[0]}/sandbox/launch", params={"patient": "demo-pregnant", "user": "demo-gp"},
                  allow_redirects=False, timeout=10)  # fmt: skip
        hop = 1
        while r.status_code in (301, 302, 303) and not r.headers["Location"].endswith("/form"):
            location = r.headers["Location"]
            path = location.removeprefix(bases[0]) if location.startswith("http") else location
            r = s.get(bases[hop % 2] + path, allow_redirects=False, timeout=10)
            hop += 1
        assert r.status_code == 302 and r.headers["Location"].endswith("/form"), r.text
        assert hop >= 4  # /launch, authorize, callback each at an instance other than the one before
        assert not any(Path(tmp_path, f"instance{i}", "sessions.sqlite3").exists() for i in (0, 1))
        for base in bases:
            form = s.get(f"{base}/form", timeout=30)
            assert form.status_code == 200 and "Lisa de Boer" in form.text, (base, form.status_code)
        assert s.cookies[COOKIE_NAME]
    finally:
        for server in servers:
            server.shutdown()
