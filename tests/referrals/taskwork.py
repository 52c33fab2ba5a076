"""Helpers for the recipient-side tests: send a real referral to a real server, find its Task there."""

from __future__ import annotations

from service.fhir import urls
from service.fhir.client import FhirClient
from service.outbox.store import Outbox
from service.referrals.submit import Pusher, Submitter

DESTINATIONS = ("ggd-zuid-limburg", "centrum-jong-voorbeeldstad", "verloskundigen-voorbeeldstad")
JGZ = "http://fhir.nl/fhir/NamingSystem/ura|90000101"  # the JGZ coordinator's organisation (mappings)


def send(engine, tmp_path, base_url: str, qr: dict, region: str | None = None) -> dict[str, str]:
    """Submit `qr` through the Submitter, every destination being the server at `base_url`; the Task id there
    per external recipient."""
    outbox = Outbox(tmp_path / f"outbox-{qr.get('identifier', {}).get('value', 'x')}.sqlite3")
    client = FhirClient(base_url, sleep=lambda _: None)
    result = Submitter(engine, outbox, Pusher(outbox, dict.fromkeys(DESTINATIONS, client))).submit(qr, region=region)
    assert result.state == "delivered", result
    tasks = {}
    for destination in result.destinations:
        for recipient in destination.recipients:
            key = f"{result.submission_id}:{recipient}"
            [entry] = client.search("Task", {"identifier": f"{urls.ID_TASK}|{key}"})["entry"]
            tasks[recipient] = entry["resource"]["id"]
    return tasks
