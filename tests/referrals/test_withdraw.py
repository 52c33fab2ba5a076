"""Withdrawing consent for one recipient later: its Consent inactive and its Task cancelled at its own
destination only; the other recipient, at another destination, keeps its referral. Over real servers."""

from __future__ import annotations

import pytest
import yaml

from service import create_app
from service.cli import main
from service.embedded import EmbeddedServerFailed, start_sekmet
from service.fhir import urls
from service.fhir.client import FhirClient
from tests.factories import make_qr

VOORBEELDSTAD = ("centrum-jong-voorbeeldstad", "verloskundigen-voorbeeldstad")


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    started = {}
    try:
        for name in VOORBEELDSTAD:
            started[name] = start_sekmet(tmp_path_factory.mktemp(name))
    except EmbeddedServerFailed as exc:
        pytest.fail(f"sekmet-fhir could not be started: {exc}", pytrace=False)
    yield {name: s.base_url for name, s in started.items()}
    for server in started.values():
        server.stop()


def _one(base: str, rtype: str, system: str, value: str) -> dict:
    with FhirClient(base) as client:
        [entry] = client.search(rtype, {"identifier": f"{system}|{value}"})["entry"]
    return entry["resource"]


def test_withdrawal_cancels_at_that_destination_only(tmp_path, servers, monkeypatch, capsys):
    destinations = tmp_path / "destinations.yaml"
    destinations.write_text(
        yaml.safe_dump(
            {
                "destinations": [
                    {
                        "id": "ggd-zuid-limburg",
                        "name": "GGD",
                        "base_url": "http://127.0.0.1:9/fhir",
                    },  # named by the other region
                    *({"id": name, "name": name, "base_url": base} for name, base in servers.items()),
                ]
            }
        )
    )
    app = create_app({"TESTING": True, "data_dir": tmp_path / "data", "destinations": destinations})
    qr = make_qr(signals=("homeless", "single-mother", "financial-problems"), identifier="withdraw-1")
    answer = app.test_client().post("/fhir/QuestionnaireResponse/$submit?region=voorbeeldstad", json=qr)
    assert answer.status_code == 201, answer.get_json()
    submission = next(p["valueString"] for p in answer.get_json()["parameter"] if p["name"] == "submission")

    monkeypatch.setenv("KS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KS_DESTINATIONS", str(destinations))
    assert main(["consent", "withdraw", submission, "verloskundige"]) == 0
    assert "geannuleerd" in capsys.readouterr().out

    key = f"{submission}:verloskundige"
    midwife = servers["verloskundigen-voorbeeldstad"]
    assert _one(midwife, "Consent", urls.ID_CONSENT, f"{key}:consent")["status"] == "inactive"
    task = _one(midwife, "Task", urls.ID_TASK, key)
    assert task["status"] == "cancelled" and task["statusReason"]["text"].startswith("Toestemming ingetrokken")
    # The other recipient's referral, at its own destination, is untouched.
    other = f"{submission}:centrum-jong"
    jong = servers["centrum-jong-voorbeeldstad"]
    assert _one(jong, "Consent", urls.ID_CONSENT, f"{other}:consent")["status"] == "active"
    assert _one(jong, "Task", urls.ID_TASK, other)["status"] == "requested"
    # Recorded in the audit log; an unknown recipient is a clear error.
    assert any(r["event"] == "consent-withdraw" for r in app.extensions["ks"].delivery.audit.entries())
    assert main(["consent", "withdraw", submission, "poh-jeugd"]) == 2
    assert "geen verwijzing naar poh-jeugd" in capsys.readouterr().err


def test_no_withdrawal_before_delivery(tmp_path, monkeypatch, capsys):
    app = create_app({"TESTING": True, "data_dir": tmp_path / "data"})  # no server: the referral waits in the outbox
    answer = app.test_client().post(
        "/fhir/QuestionnaireResponse/$submit", json=make_qr(signals=("homeless",), identifier="withdraw-2")
    )
    submission = next(p["valueString"] for p in answer.get_json()["parameter"] if p["name"] == "submission")
    monkeypatch.setenv("KS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("KS_FHIR_BASE_URL", raising=False)
    assert main(["consent", "withdraw", submission, "regiocoordinator-jgz"]) == 2
    assert "nog niet afgeleverd" in capsys.readouterr().err
