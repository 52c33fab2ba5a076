"""`kansrijk cancel` (service/cli.py) updates the mirror's events as a cancel from the app does: the CLI opens the
practice's copy and the event record the way the app wires them (service/__init__.py open_feedback), for a referral
taken back from the outbox and for one cancelled at the recipient's real server."""

from __future__ import annotations

import pytest
import yaml

from service import open_feedback
from service.cli import main
from service.config import load_settings
from service.referrals.wiring import build_delivery
from service.registry import Practice
from tests.factories import make_qr, with_patient
from tests.sql import rows

JGZ = "regiocoordinator-jgz"
PRACTICE = Practice(id="demo-practice", name="Huisartsenpraktijk De Linde", agb="01001234", ura="90000001",
                    region="maastricht-heuvelland")  # fmt: skip
DOWN = "http://127.0.0.1:9/fhir"  # nothing listens: the referral waits in the outbox


@pytest.fixture
def destinations(tmp_path, monkeypatch):
    """KS_DATA_DIR and KS_DESTINATIONS; `point(url)` sends the GGD's referrals to `url` (the others wait)."""
    path = tmp_path / "destinations.yaml"
    monkeypatch.setenv("KS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KS_DESTINATIONS", str(path))

    def point(url: str) -> None:
        others = [{"id": d, "name": d, "base_url": DOWN} for d in ("centrum-jong-voorbeeldstad", "verloskundigen-voorbeeldstad")]  # fmt: skip
        path.write_text(yaml.safe_dump({"destinations": [{"id": "ggd-zuid-limburg", "name": "GGD", "base_url": url}, *others]}))  # fmt: skip

    return point


def _submitted(engine, identifier: str) -> tuple[str, object]:
    """A referral of the practice, submitted as the app submits it (its Submitter wired to the event record)."""
    settings = load_settings()
    delivery = build_delivery(settings, engine)
    events = open_feedback(settings, delivery).mirror
    assert events is not None
    result = delivery.submitter.submit(
        with_patient(make_qr(signals=("homeless",), identifier=identifier)), practice=PRACTICE
    )
    return result.submission_id, events


def _response(events) -> list[tuple]:
    found = rows(events.db, "SELECT sent, response FROM event_recipient WHERE recipient = :r", r=JGZ)
    return [(r["sent"], r["response"]) for r in found]


def test_a_cancel_from_the_outbox_through_the_cli_reaches_the_event(engine, destinations, capsys):
    destinations(DOWN)
    submission, events = _submitted(engine, "mirror-cancel-queued")
    assert _response(events) == [(1, None)]
    assert main(["cancel", f"{submission}:{JGZ}", "--reason", "Dubbel aangemeld"]) == 0
    assert "uit de outbox gehaald" in capsys.readouterr().out
    assert _response(events) == [(1, "cancelled")]


def test_a_cancel_at_the_recipient_through_the_cli_reaches_the_event_and_closes_its_link(
    engine, destinations, sekmet_servers, capsys
):
    destinations(sekmet_servers.get("mirror-cancel").base_url)
    submission, events = _submitted(engine, "mirror-cancel-delivered")
    assert _response(events) == [(1, None)]
    assert main(["cancel", f"{submission}:{JGZ}", "--reason", "Verhuisd"]) == 0
    assert "ingetrokken bij" in capsys.readouterr().out
    assert _response(events) == [(1, "cancelled")]
    # the loop is closed: its link is gone, so nothing later (a stray poll) changes the event
    assert not events.record_feedback(submission, JGZ, status="accepted", outcome=None, sent=None)
