"""The housekeeper: expired launch sessions, form work, drafts, sandbox grants, the API's stored responses and the
record of referrals made are deleted; fresh ones stay."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time

from service import create_app
from service.outbox.store import DELIVERED_KEEP_DAYS
from service.outbox.worker import Periodic, purge_expired
from service.referrals.feedback import KEEP_DAYS as FEEDBACK_KEEP_DAYS
from service.referrals.recent import KEEP_DAYS
from service.sandbox.views import SandboxUser
from service.smart.session import LaunchContext, SessionStore
from service.web.store import DRAFT_DAYS, WorkState


def _ctx(created: float) -> LaunchContext:
    return LaunchContext(
        session_id=SessionStore.new_id(),
        iss="http://ehr.invalid/fhir",
        client_id="c",
        token_endpoint="t",
        access_token="secret",
        expires_at=created + 300,
        scope="launch",
        patient="p",
        created_at=created,
    )


def _sql(path, statement: str, *args) -> None:
    """A row made older, straight in the store's SQLite file."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(statement, args)


def test_expired_rows_are_deleted_and_fresh_ones_kept(tmp_path):
    app = create_app({"TESTING": True, "data_dir": tmp_path, "sandbox": "on"})
    ks = app.extensions["ks"]
    sessions, forms, sandbox = ks.sessions, ks.forms, ks.sandbox
    now = time.time()
    old, fresh = _ctx(now - 9 * 3600), _ctx(now)
    sessions.save(old)
    sessions.save(fresh)
    sessions.save_pending("old-state", {"iss": "x"})
    _sql(sessions.path, "UPDATE pending_launch SET created = ? WHERE state = 'old-state'", now - 3600)
    forms.save_work(old.session_id, WorkState())
    forms.save_work(fresh.session_id, WorkState())
    forms.save_draft("http://ehr.invalid/fhir", "p", WorkState())
    _sql(
        tmp_path / "forms.sqlite3",
        "UPDATE form_work SET updated = ? WHERE session_id = ?",
        now - 9 * 3600,
        old.session_id,
    )
    _sql(tmp_path / "forms.sqlite3", "UPDATE form_draft SET updated = ?", now - (DRAFT_DAYS + 1) * 86400)
    with app.app_context():
        sandbox.put("launch", "gone", SandboxUser(user_id="demo-gp", patient="p"), -1)
        sandbox.put("launch", "kept", SandboxUser(user_id="demo-gp", patient="p"), 600)
    responses = ks.responses  # what the API's callers submitted (service/api/responses.py)
    responses.put("gone", {"resourceType": "QuestionnaireResponse"}, None, {}, now=now - 91 * 86400)
    responses.put("kept", {"resourceType": "QuestionnaireResponse"}, None, {}, now=now)
    referrals = ks.delivery.recent  # the record of referrals made (service/referrals/recent.py)
    made = [("poh-jeugd", {"nl": "POH Jeugd", "en": "POH Youth"})]
    referrals.record(["k"], "gone", made, "api", now=now - (KEEP_DAYS + 1) * 86400)
    referrals.record(["k"], "kept", made, "form", now=now)
    inbox = ks.inbox  # the recipients' sign-in sessions (service/inbox/store.py)
    inbox.save_session("kept", {"provider": "sandbox"})
    inbox._records.put("session", "gone", {"provider": "sandbox"}, -1)
    ks.sandbox_idp.codes.put("code", "gone", {}, -1)  # the sandbox's OpenID Connect provider's codes
    ks.sandbox_idp.codes.put("code", "kept", {}, 300)
    copies = ks.feedback  # the practice's copy of the recipients' Tasks (service/referrals/feedback.py)
    for submission, sent in (("gone", now - (FEEDBACK_KEEP_DAYS + 1) * 86400), ("kept", now)):
        _sql(
            tmp_path / "feedback.sqlite3",
            "INSERT INTO referral_feedback (submission, recipient, destination, sent) VALUES (?, 'r', '', ?)",
            submission,
            sent,
        )
    # the mirror events' links to the referrals (service/mirror/events.py)
    _sql(
        tmp_path / "mirror-links.sqlite3",
        "INSERT INTO mirror_link VALUES ('gone', '', 'e1', ?), ('kept', '', 'e2', ?)",
        now - 1,
        now + 600,
    )
    # the outbox: a delivered item past its time goes, a recent one and one not yet delivered stay
    outbox = ks.delivery.outbox
    for submission in ("gone", "kept", "waiting"):
        outbox.enqueue(submission, [("jgz", {"resourceType": "Bundle", "type": "transaction", "entry": []})])
    old_day = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - (DELIVERED_KEEP_DAYS + 1) * 86400))
    for submission, delivered in (("gone", old_day), ("kept", "2999-01-01T00:00:00+00:00"), ("waiting", None)):
        state = "delivered" if delivered else "pending"
        _sql(
            tmp_path / "outbox.sqlite3",
            "UPDATE outbox SET state = ?, delivered_at = ?, created_at = ? WHERE submission = ?",
            state,
            delivered,
            old_day,
            submission,
        )
    assert purge_expired(app.extensions["ks"]) == {
        "sessions": 2,
        "outbox": 1,
        "forms": 2,
        "sandbox": 1,
        "inbox": 1,
        "sandbox-idp": 1,
        "responses": 1,
        "referrals": 1,
        "feedback": 1,
        "mirror": 1,
        "audit": 0,  # the audit log: only what is past its 5 years (tests/test_db.py)
    }
    assert set(copies.for_submission("kept")) == {"r"} and copies.for_submission("gone") == {}
    assert inbox.session("kept") is not None and ks.sandbox_idp.codes.get("code", "kept") is not None

    assert sessions.load(fresh.session_id) is not None and sessions.pop_pending("old-state") is None
    with contextlib.closing(sqlite3.connect(sessions.path)) as conn:
        assert conn.execute("SELECT count(*) FROM launch_session").fetchone()[0] == 1
    assert forms.work(fresh.session_id) is not None and forms.draft("http://ehr.invalid/fhir", "p") is None
    assert sandbox.get("launch", "kept") is not None
    assert responses.get("kept", None) is not None and responses.get("gone", None) is None
    assert [r.submission for r in referrals.find(["k"], days=KEEP_DAYS + 2)] == ["kept"]
    assert {i.submission for i in outbox.list()} == {"kept", "waiting"}
    assert purge_expired(app.extensions["ks"]) == {
        "sessions": 0,
        "outbox": 0,
        "forms": 0,
        "sandbox": 0,
        "inbox": 0,
        "sandbox-idp": 0,
        "responses": 0,
        "referrals": 0,
        "feedback": 0,
        "mirror": 0,
        "audit": 0,
    }


def test_a_failing_round_does_not_stop_the_thread():
    rounds = []
    done = threading.Event()

    def round_():
        rounds.append(1)
        if len(rounds) == 1:
            raise RuntimeError("first round fails")
        done.set()

    periodic = Periodic("test-periodic", round_, 0.01).start()
    try:
        assert done.wait(5), "the second round never ran"
    finally:
        periodic.stop()
    assert len(rounds) >= 2
