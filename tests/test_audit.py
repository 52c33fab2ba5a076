"""The audit log (service/audit.py): one access, one row; one patient, every key; append-only."""

from __future__ import annotations

import sqlite3

import pytest

from service.audit import AuditEntry, AuditLog

REF, BSN = "Patient/p1", "http://fhir.nl/fhir/NamingSystem/bsn|999990020"
OTHER_REF, OTHER_BSN = "Patient/p2", "http://fhir.nl/fhir/NamingSystem/bsn|999990032"


def entry(event="read", patient=REF, **kw) -> AuditEntry:
    base = {"action": "R", "outcome": "0", "who": "PractitionerRole/gp", "object": None, "access_point": "web:x"}
    return AuditEntry(event=event, patient=patient, **{**base, **kw})


@pytest.fixture()
def log(tmp_path) -> AuditLog:
    return AuditLog(tmp_path / "audit.sqlite3")


def test_what_one_access_does_is_one_row(log):
    with log.access("send", who="PractitionerRole/gp", access_point="web:x", patient=REF):
        log.record(entry("patient-read", object=REF, patient_identifier=BSN))
        with log.access("submit", who="PractitionerRole/gp", access_point="web:x"):  # nested: the same access
            log.record(entry("submit", action="C", object="sub-1 → d"))
            log.record(entry("push", action="E", who="system:outbox", patient=BSN, object="sub-1 → d", outcome="4"))
    [row] = log.entries()
    assert (row["event"], row["action"], row["outcome"], row["who"]) == ("send", "C", "4", "PractitionerRole/gp")
    assert (row["patient"], row["patient_identifier"]) == (REF, BSN)
    assert row["object"] == f"patient-read {REF}; submit sub-1 → d; push sub-1 → d (outcome 4)"


def test_an_access_that_touches_nothing_writes_nothing_and_one_that_fails_says_so(log):
    with log.access("language", who="PractitionerRole/gp", access_point="web:x", patient=REF):
        pass
    assert log.entries() == []
    with pytest.raises(RuntimeError), log.access("send", who="PractitionerRole/gp", access_point="web:x", patient=REF):
        log.record(entry("form-read"))
        raise RuntimeError("boom")
    [row] = log.entries()
    assert row["outcome"] == "8" and row["event"] == "send"


def test_another_patient_is_never_folded_into_an_access(log):
    with log.access("retry", who="cli:op", access_point="cli", patient=REF):
        log.record(entry("push", patient=REF))
        log.record(entry("push", patient=OTHER_REF))
    assert [(r["event"], r["patient"]) for r in log.entries()] == [("push", OTHER_REF), ("retry", REF)]


def test_who_is_never_empty(log):
    log.record(entry(who=None))
    with log.access("populate", who=None, access_point="api:127.0.0.1", patient=REF):
        log.record(entry(who=None))
    assert [r["who"] for r in log.entries()] == ["anonymous", "anonymous"]


def test_the_export_finds_every_row_of_a_patient_by_either_key(log):
    log.record(entry("push", patient=BSN))  # the outbox: by the BSN its Bundle carries
    log.record(entry("form-read"))  # a page: by the EHR's id
    log.record(entry("send", patient=REF, patient_identifier=BSN))  # both: the link
    log.record(entry("other", patient=OTHER_REF, patient_identifier=OTHER_BSN))
    log.record(entry("other-push", patient=OTHER_BSN))
    assert [r["event"] for r in log.entries(REF)] == ["push", "form-read", "send"]
    assert [r["event"] for r in log.entries(BSN)] == ["push", "form-read", "send"]
    assert [r["event"] for r in log.entries(REF, linked=False)] == ["form-read", "send"]
    assert [r["event"] for r in log.entries(OTHER_BSN)] == ["other", "other-push"]
    assert log.linked_keys([BSN]) == {REF, BSN}


def test_an_identifier_given_as_the_patient_is_filed_as_the_identifier(log):
    log.record(entry(patient=BSN))
    [row] = log.entries()
    assert (row["patient"], row["patient_identifier"]) == (None, BSN)


def test_a_log_from_before_the_identifier_column_gets_it_and_keeps_its_rows(tmp_path):
    path = tmp_path / "audit.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, recorded TEXT NOT NULL, action TEXT NOT NULL, "
        "event TEXT NOT NULL, outcome TEXT NOT NULL, who TEXT, responsible TEXT, patient TEXT, object TEXT, "
        "access_point TEXT);"
        "INSERT INTO audit (recorded, action, event, outcome, who, patient) VALUES ('t', 'C', 'submit', '0', 'u', "
        f"'{BSN}');"
    )
    conn.commit()
    conn.close()
    log = AuditLog(path)
    log.record(entry("send", patient=REF, patient_identifier=BSN))
    assert [r["event"] for r in log.entries(REF)] == ["submit", "send"]  # the old row named her by BSN


def test_rows_cannot_be_changed_or_removed(log):
    log.record(entry())
    conn = sqlite3.connect(log.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit SET who = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit")
