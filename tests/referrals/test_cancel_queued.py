"""The practice's cancel of a referral that has not gone yet: taken back from the real outbox before it is pushed,
or, while a push is under way, cancelled at the real server once it has arrived; never lost, never twice. And the
CLI's `kansrijk cancel`."""

from __future__ import annotations

import json
import threading

import pytest
import yaml

from service.audit import AuditLog
from service.cli import main
from service.errors import ResponseInvalid
from service.fhir import urls
from service.fhir.client import FhirClient
from service.outbox.store import Outbox
from service.referrals import withdraw
from service.referrals.feedback import FeedbackStore
from service.referrals.submit import Pusher, Submitter
from service.referrals.wiring import Delivery
from service.referrals.withdraw import bundle_without, cancel_referral
from tests.factories import make_qr, with_patient

JGZ_KEY = "regiocoordinator-jgz"
VOORBEELDSTAD = ("centrum-jong-voorbeeldstad", "verloskundigen-voorbeeldstad")


@pytest.fixture
def server(sekmet_servers):
    return sekmet_servers.get("cancel-queued").base_url


@pytest.fixture
def delivery(tmp_path, engine, server):
    """A practice whose referrals wait: its submit makes no immediate push; the worker's Pusher reaches `server`."""
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    client = FhirClient(server, sleep=lambda _: None)
    pusher = Pusher(outbox, {"ggd-zuid-limburg": client})
    return Delivery(
        outbox=outbox,
        audit=AuditLog(tmp_path / "audit.sqlite3"),
        destinations={},
        pusher=pusher,
        submitter=Submitter(engine, outbox, None),
        status_clients={"ggd-zuid-limburg": client},
    )


def _tasks(server: str, key: str) -> list[dict]:
    with FhirClient(server) as client:
        return [e["resource"] for e in client.search("Task", {"identifier": f"{urls.ID_TASK}|{key}"}).get("entry", [])]


def _queued(delivery, name: str) -> str:
    result = delivery.submitter.submit(with_patient(make_qr(signals=("homeless",), identifier=name)))
    assert [d.state for d in result.destinations] == ["queued"]
    return result.submission_id


def test_a_waiting_referral_is_taken_out_of_the_outbox_and_never_sent(delivery, server, tmp_path):
    submission = _queued(delivery, "cancel-queued-1")
    copy = FeedbackStore(tmp_path / "feedback.sqlite3")
    done = cancel_referral(delivery, submission, JGZ_KEY, "Anna Jansen", access_point="test", copy=copy)
    assert done.unsent and done.destination == "ggd-zuid-limburg"
    assert delivery.outbox.for_submission(submission) == []  # its only referral: the whole item is gone
    assert delivery.pusher.push_due() == 0 and _tasks(server, f"{submission}:{JGZ_KEY}") == []
    row = copy.for_submission(submission)[JGZ_KEY]
    assert row.status == "cancelled" and row.reason_text == "Ingetrokken door de huisarts" and row.task_id is None
    [audited] = [e for e in delivery.audit.entries() if e["event"] == "referral-cancel"]
    assert audited["outcome"] == "0" and audited["object"].endswith("; outbox") and audited["who"] == "Anna Jansen"


def test_a_push_under_way_is_waited_for_then_cancelled_at_the_server(delivery, server):
    submission = _queued(delivery, "cancel-queued-2")
    [item] = delivery.outbox.claim_due(destinations=["ggd-zuid-limburg"])  # a worker holds it: being pushed
    started = threading.Event()
    outcome: dict = {}

    def cancel() -> None:
        started.set()
        outcome["done"] = cancel_referral(delivery, submission, JGZ_KEY, "Anna Jansen", access_point="test")

    canceller = threading.Thread(target=cancel)
    canceller.start()
    started.wait(5)
    assert delivery.outbox.take_back(item.id, lambda b: None) == "in-flight"  # untouched while it is pushed
    delivery.pusher.push(item)  # the worker's push ends: delivered
    canceller.join(30)
    done = outcome["done"]
    assert not done.unsent and done.task is not None and done.service_request
    [task] = _tasks(server, f"{submission}:{JGZ_KEY}")  # once, and cancelled
    assert task["status"] == "cancelled" and task["statusReason"]["text"] == "Ingetrokken door de huisarts"
    with FhirClient(server) as client:
        assert client.read("ServiceRequest", done.service_request.split("/")[1])["status"] == "revoked"


def test_a_push_that_outlasts_the_wait_refuses_the_cancel_and_changes_nothing(delivery, server, monkeypatch):
    submission = _queued(delivery, "cancel-queued-3")
    [item] = delivery.outbox.claim_due(destinations=["ggd-zuid-limburg"])
    monkeypatch.setattr(withdraw, "IN_FLIGHT_WAIT", 0.5)
    with pytest.raises(ResponseInvalid) as refused:
        cancel_referral(delivery, submission, JGZ_KEY, "Anna Jansen", access_point="test")
    assert "op dit moment verstuurd" in refused.value.issues[0].text
    assert delivery.outbox.require(item.id).bundle == item.bundle
    delivery.pusher.push(item)
    assert [t["status"] for t in _tasks(server, f"{submission}:{JGZ_KEY}")] == ["requested"]


def test_one_referral_taken_out_of_a_bundle_leaves_the_other_sendable(engine, server):
    """Two recipients at one destination: the Bundle without one is a transaction the server takes, holding only
    the other's ServiceRequest, Task and Consent, and a Provenance that names nothing taken out."""
    voorbeeldstad = engine.extract(
        make_qr(signals=("homeless", "single-mother", "financial-problems")), "voorbeeldstad"
    )
    first, second = (d.bundle for d in voorbeeldstad.bundles.deliveries)
    merged = first | {
        "entry": [
            *first["entry"][:-1],
            *(e for e in second["entry"] if e["resource"]["resourceType"] in ("ServiceRequest", "Task", "Consent")),
            first["entry"][-1],
        ]
    }
    sub = voorbeeldstad.bundles.submission
    left = bundle_without(merged, f"{sub}:verloskundige")
    assert left is not None
    kinds = [e["resource"]["resourceType"] for e in left["entry"]]
    assert kinds.count("ServiceRequest") == kinds.count("Task") == 1
    gone = {e["fullUrl"] for e in merged["entry"]} - {e["fullUrl"] for e in left["entry"]}
    assert len(gone) >= 2 and not {t["reference"] for t in left["entry"][-1]["resource"]["target"]} & gone
    with FhirClient(server) as client:
        client.transaction(left)
    assert len(_tasks(server, f"{sub}:centrum-jong")) == 1 and _tasks(server, f"{sub}:verloskundige") == []
    assert bundle_without(left, f"{sub}:centrum-jong") is None  # nothing left: the item goes


def test_the_cli_cancels_a_waiting_referral_and_a_delivered_one(tmp_path, server, monkeypatch, capsys, engine):
    destinations = tmp_path / "destinations.yaml"
    down = {"id": "ggd-zuid-limburg", "name": "GGD Zuid Limburg", "base_url": "http://127.0.0.1:9/fhir"}
    others = [{"id": d, "name": d, "base_url": down["base_url"]} for d in VOORBEELDSTAD]
    destinations.write_text(yaml.safe_dump({"destinations": [down, *others]}))
    monkeypatch.setenv("KS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KS_DESTINATIONS", str(destinations))
    qr = tmp_path / "qr.json"
    qr.write_text(json.dumps(with_patient(make_qr(signals=("homeless",), identifier="cancel-cli-1"))))
    assert main(["submit", str(qr)]) == 0  # the server is down: it waits in the outbox
    submission = Outbox(tmp_path / "data" / "outbox.sqlite3").list()[0].submission
    capsys.readouterr()
    assert main(["cancel", f"{submission}:{JGZ_KEY}", "--reason", "Dubbel aangemeld"]) == 0
    assert "uit de outbox gehaald" in capsys.readouterr().out
    assert Outbox(tmp_path / "data" / "outbox.sqlite3").for_submission(submission) == []
    rows = AuditLog(tmp_path / "data" / "audit.sqlite3").entries()
    assert any(r["event"] == "referral-cancel" and r["who"].startswith("cli:") for r in rows)
    assert main(["cancel", f"{submission}:{JGZ_KEY}", "--reason", "Dubbel aangemeld"]) == 2  # nothing left
    assert "Geen verwijzing" in capsys.readouterr().err

    destinations.write_text(yaml.safe_dump({"destinations": [down | {"base_url": server}, *others]}))
    qr.write_text(json.dumps(with_patient(make_qr(signals=("homeless",), identifier="cancel-cli-2"))))
    assert main(["submit", str(qr)]) == 0
    delivered = Outbox(tmp_path / "data" / "outbox.sqlite3").list(state="delivered")[0].submission
    capsys.readouterr()
    assert main(["cancel", delivered, "--reason", "Verhuisd naar een andere regio"]) == 0
    assert "ingetrokken bij GGD Zuid Limburg" in capsys.readouterr().out
    [task] = _tasks(server, f"{delivered}:{JGZ_KEY}")
    assert task["status"] == "cancelled" and task["statusReason"]["text"] == "Verhuisd naar een andere regio"
    assert main(["cancel", delivered, "--reason", "nogmaals"]) == 2  # final already: refused, said why
    assert "niet ingetrokken" in capsys.readouterr().err
