"""The record of referrals made (service/referrals/recent.py) on both engines of the storage layer (service/db: an
SQLite file, a real PostgreSQL), and the adoption of a referrals.sqlite3 from before the storage layer."""

from __future__ import annotations

import json
import sqlite3
import time

from service.db.migrate import current_heads
from service.db.schema import BRANCHES
from service.referrals.recent import KEEP_DAYS, RecentReferrals, patient_keys
from service.registry import Practice

PRACTICE = Practice(id="p1", name="De Linde", agb="01001234", ura=None, region="r")
JGZ = ("regiocoordinator-jgz", {"nl": "JGZ", "en": "Youth health", "internal": False})
POH = ("poh-jeugd", {"nl": "POH Jeugd", "en": "POH Youth", "internal": True})
VK = ("verloskundige", {"nl": "Verloskundige", "en": "Midwife", "internal": False})


def _made(found) -> list[tuple[str, str]]:
    return [(r.submission, r.recipient) for r in found]


def test_referrals_are_found_once_newest_first_in_the_order_made(database):
    record = RecentReferrals(database, window_days=30)
    keys = patient_keys(PRACTICE, "Patient/a", "http://fhir.nl/fhir/NamingSystem/bsn|999999990")
    now = time.time()
    record.record(keys, "s1", [POH, JGZ, VK], "form", now=now - 3 * 86400)  # POH, then JGZ, then the midwife
    record.record(keys[:1], "s2", [JGZ], "api", now=now - 86400)
    found = record.find(keys, now=now)
    assert _made(found) == [("s2", JGZ[0]), ("s1", POH[0]), ("s1", JGZ[0]), ("s1", VK[0])]  # each once, both keys
    assert found[0].via == "api" and found[0].names == JGZ[1] and found[0].name("en") == "Youth health"
    assert found[1].sent == now - 3 * 86400
    assert _made(record.find(keys[1:], now=now)) == [("s1", POH[0]), ("s1", JGZ[0]), ("s1", VK[0])]  # by BSN only
    assert _made(record.find(keys, exclude="s2", recipients=[JGZ[0]], now=now)) == [("s1", JGZ[0])]
    assert _made(record.find(keys, days=2, now=now)) == [("s2", JGZ[0])]
    latest = record.latest_per_recipient(keys, [JGZ[0], POH[0], "other"], now=now)
    assert {k: v.submission for k, v in latest.items()} == {JGZ[0]: "s2", POH[0]: "s1"}
    assert record.find(patient_keys(None, "Patient/a", None), now=now) == []  # another scope: the open API's


def test_a_resubmission_keeps_its_first_time_and_the_window_can_be_off(database):
    record = RecentReferrals(database, window_days=30)
    now = time.time()
    record.record(["k"], "s1", [JGZ], "form", now=now - 10)
    record.record(["k"], "s1", [JGZ], "form", now=now)
    assert [r.sent for r in record.find(["k"], now=now)] == [now - 10]
    assert RecentReferrals(database, window_days=0).find(["k"], now=now) == []  # the flag off
    assert _made(RecentReferrals(database, window_days=0).find(["k"], days=1, now=now)) == [("s1", JGZ[0])]


def test_what_is_older_than_the_form_lists_is_purged(database):
    record = RecentReferrals(database)
    now = time.time()
    record.record(["k"], "old", [JGZ, POH], "api", now=now - (KEEP_DAYS + 1) * 86400)
    record.record(["k"], "new", [JGZ], "form", now=now)
    assert record.purge(now=now) == 2 and record.purge(now=now) == 0
    assert _made(record.find(["k"], days=KEEP_DAYS + 2, now=now)) == [("new", JGZ[0])]


def test_a_file_from_before_the_storage_layer_is_adopted_in_the_order_it_was_made(tmp_path):
    """The old file had no `ordinal`: a submission's order was its rowid, which the migration copies."""
    path = tmp_path / "referrals.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE recent_referral (patient_key TEXT NOT NULL, submission TEXT NOT NULL, recipient TEXT NOT NULL, "
        "names TEXT NOT NULL, via TEXT NOT NULL, sent REAL NOT NULL, PRIMARY KEY (patient_key, submission, recipient));"
        "CREATE INDEX recent_referral_sent ON recent_referral (patient_key, sent);"
    )
    now = time.time()
    for rid, names in (VK, JGZ, POH):  # made in this order, names sorting otherwise
        old.execute(
            "INSERT INTO recent_referral VALUES ('k', 's-old', ?, ?, 'form', ?)", (rid, json.dumps(names), now - 60)
        )
    old.commit()
    record = RecentReferrals(path)
    assert _made(record.find(["k"], now=now)) == [("s-old", VK[0]), ("s-old", JGZ[0]), ("s-old", POH[0])]
    record.record(["k"], "s-new", [POH, JGZ], "api", now=now)
    assert _made(record.find(["k"], now=now))[:2] == [("s-new", POH[0]), ("s-new", JGZ[0])]
    with record.db.begin() as conn:
        assert current_heads(conn) == {BRANCHES["recent"]}
    old.close()


def test_the_store_keeps_no_patient_key_as_given_but_its_hmac_under_the_secret(database):
    """A plain SHA-256 of scope and BSN is reversed by trying every BSN: the store keeps each key as an HMAC under
    the deployment's secret, so the rows say nothing without it."""
    from sqlalchemy import select

    from service.db.schema import recent_referral

    record = RecentReferrals(database, secret="one secret of the deployment")
    keys = patient_keys(PRACTICE, "Patient/a", "http://fhir.nl/fhir/NamingSystem/bsn|999999990")
    record.record(keys, "s1", [JGZ], "form")
    with record.db.begin() as conn:
        kept = set(conn.execute(select(recent_referral.c.patient_key)).scalars())
    assert len(kept) == 2 and not kept & set(keys) and all(k.startswith("k1:") for k in kept)
    assert _made(record.find(keys)) == [("s1", JGZ[0])]
    assert RecentReferrals(database, secret="another secret").find(keys) == []  # the rows alone say nothing


def test_rows_an_earlier_version_kept_unkeyed_are_keyed_when_the_store_opens(database):
    from sqlalchemy import select

    from service.db.schema import recent_referral

    record = RecentReferrals(database, secret="s")
    with record.db.begin() as conn:  # as the version before kept them: the plain key
        conn.execute(
            recent_referral.insert(),
            [
                {
                    "patient_key": "plain",
                    "submission": "s0",
                    "recipient": JGZ[0],
                    "names": "{}",
                    "via": "api",
                    "sent": time.time() - 60,
                    "ordinal": 0,
                }
            ],
        )
    reopened = RecentReferrals(database, secret="s")
    with reopened.db.begin() as conn:
        kept = list(conn.execute(select(recent_referral.c.patient_key)).scalars())
    assert kept == [reopened._keyed("plain")] and _made(reopened.find(["plain"])) == [("s0", JGZ[0])]


def test_clients_without_a_practice_each_have_their_own_scope():
    bsn = "http://fhir.nl/fhir/NamingSystem/bsn|999999990"
    a, b = patient_keys(None, None, bsn, "api-client/his-a"), patient_keys(None, None, bsn, "api-client/his-b")
    assert a != b and not set(a) & set(patient_keys(None, None, bsn))  # nor the open API's
    assert patient_keys(PRACTICE, None, bsn, "api-client/his-a") == patient_keys(PRACTICE, None, bsn)
