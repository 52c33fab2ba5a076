"""The recipient's steps on a referral's Task against both real servers: version-aware updates (If-Match, and
ifMatch inside the close's transaction) refuse the second of two coordinators, and the worklist finds the Task by
its owner's identifier, the same on every server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.fhir.client import FhirClient
from service.referrals.taskflow import Actor, TaskConflict, accept, assign, assignee_of, close, write_change
from service.referrals.worklist import open_referrals, referral_detail
from tests.factories import make_qr, with_patient
from tests.referrals.taskwork import JGZ, send

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ANNA, BRAM = Actor(display="Anna Jansen"), Actor(display="Bram de Vries")


@pytest.fixture
def client(fhir_base_url):
    with FhirClient(fhir_base_url, sleep=lambda _: None) as fhir:
        yield fhir


def test_task_conflict_and_close_on_both_servers(client, engine, tmp_path, fhir_base_url, fhir_server_name):
    qr = with_patient(make_qr(signals=("homeless",), identifier=f"contract-taskflow-{fhir_server_name}"))
    task_id = send(engine, tmp_path, fhir_base_url, qr)["regiocoordinator-jgz"]
    [line] = [i for i in open_referrals(client, JGZ, NOW, {"urgent": 2}) if i.task_id == task_id]
    # the same on every server: the Task found by its owner, its patient's name read beside it
    assert line.status == "requested" and line.patient == "Lisa de Boer" and line.recipient == "regiocoordinator-jgz"
    assert task_id not in {i.task_id for i in open_referrals(client, "http://fhir.nl/fhir/NamingSystem/ura|1", NOW, {})}

    seen = client.read("Task", task_id)
    write_change(client, seen, accept(ANNA), NOW)
    with pytest.raises(TaskConflict) as conflict:
        write_change(client, seen, accept(BRAM), NOW)
    assert conflict.value.by == "Anna Jansen" and conflict.value.status == "accepted"

    accepted = client.read("Task", task_id)
    write_change(client, accepted, assign(ANNA, BRAM), NOW)
    with pytest.raises(TaskConflict):  # the transaction's ifMatch is stale: neither entry is written
        write_change(client, accepted, close(ANNA, "support-started", "Gestart."), NOW)
    written = client.search("Communication", {"part-of": f"Task/{task_id}"}).get("entry", [])
    # sekmet-fhir and HAPI roll the whole transaction back. Medplum's in-memory engine does not (its Postgres server
    # does): the Communication stays, but nothing points at it - the Task, unchanged, is what the practice reads.
    assert len(written) == (1 if fhir_server_name == "medplum" else 0)
    assert client.read("Task", task_id)["status"] == "accepted" and "output" not in client.read("Task", task_id)

    current = client.read("Task", task_id)
    done = write_change(client, current, close(BRAM, "support-started", "Ondersteuning gestart."), NOW)
    assert done["status"] == "completed" and assignee_of(done)["display"] == "Bram de Vries"
    detail = referral_detail(client, task_id, owner=JGZ)
    assert detail.outcome == "support-started" and detail.message == "Ondersteuning gestart."
    assert task_id not in {i.task_id for i in open_referrals(client, JGZ, NOW, {})}
    assert done["lastModified"] == "2026-11-24T09:00:00+00:00"
