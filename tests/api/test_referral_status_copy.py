"""$referral-status reads the practice's copy of the recipients' Tasks (service/referrals/feedback.py), never the
recipient's server, and says how old that copy is; every part it answers is declared in its OperationDefinition.
Over a real sekmet-fhir."""

from __future__ import annotations

from datetime import UTC, datetime

from service import create_app
from service.fhir import urls
from service.fhir.client import FhirClient
from service.referrals.feedback import poll_due
from service.referrals.taskflow import Actor, accept, write_change
from tests.factories import make_qr, with_patient


def _referral(client, rid: str) -> dict:
    status = client.get(f"/fhir/QuestionnaireResponse/{rid}/$referral-status")
    assert status.status_code == 200
    [destination] = [p for p in status.get_json()["parameter"] if p["name"] == "destination"]
    [referral] = [p for p in destination["part"] if p["name"] == "referral"]
    return {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in referral["part"]}


def _declared(client) -> set[str]:
    od = client.get("/fhir/OperationDefinition/QuestionnaireResponse-referral-status").get_json()
    [destination] = [p for p in od["parameter"] if p["name"] == "destination"]
    [referral] = [p for p in destination["part"] if p["name"] == "referral"]
    assert referral["max"] == "*"
    return {p["name"] for p in referral["part"]}


def test_the_status_is_the_copys_with_its_age(tmp_path, sekmet_servers):
    base = sekmet_servers.get("referral-status-copy").base_url
    app = create_app({"TESTING": True, "data_dir": tmp_path, "fhir_base_url": base})
    client = app.test_client()
    posted = client.post(
        "/fhir/QuestionnaireResponse", json=with_patient(make_qr(signals=("homeless",), identifier="rs-copy-1"))
    )
    rid = posted.get_json()["id"]
    with FhirClient(base) as fhir:
        [entry] = fhir.search("Task", {"identifier": f"{urls.ID_TASK}|{rid}:regiocoordinator-jgz"})["entry"]
        write_change(fhir, entry["resource"], accept(Actor(display="Marieke Hendriks")), datetime.now(UTC))

    before = _referral(client, rid)  # the recipient accepted, but the copy has not been refreshed: not read live
    assert before == {"recipient": "regiocoordinator-jgz", "status": "requested"}

    ks = app.extensions["ks"]
    assert poll_due(ks.feedback, ks.delivery)  # the poller's round
    after = _referral(client, rid)
    assert after["status"] == "accepted" and after["businessStatus"]
    checked = datetime.fromisoformat(after["checked"])
    assert abs((datetime.now(UTC) - checked).total_seconds()) < 60
    assert set(after) <= _declared(client) and {"checked", "lastModified", "outcome", "message"} <= _declared(client)
