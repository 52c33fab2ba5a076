"""The recipient works a referral's Task on a real sekmet-fhir: every step, the refused ones, and two coordinators
acting on the same version (the second is told who was first, nothing is lost or half-written)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.errors import InputInvalid, NotFound
from service.fhir import urls
from service.fhir.client import FhirClient
from service.referrals import taskflow
from service.referrals.taskflow import (
    Actor,
    TaskConflict,
    TransitionRefused,
    accept,
    allowed_actions,
    apply_change,
    assign,
    close,
    decline,
    first_contact,
    write_change,
)
from service.referrals.worklist import referral_detail
from tests.factories import make_qr, with_patient
from tests.referrals.taskwork import JGZ, send

NOW = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)
ANNA = Actor(display="Anna Jansen", reference="PractitionerRole/anna")
BRAM = Actor(display="Bram de Vries", identifier={"system": "https://idp.example.invalid", "value": "bram"})
URGENT = ("homeless", "substance-addiction")  # the JGZ coordinator, urgent (+ the POH Jeugd, internal)


@pytest.fixture(scope="module")
def base_url(sekmet_servers):
    return sekmet_servers.get("taskflow").base_url


@pytest.fixture
def client(base_url):
    with FhirClient(base_url, sleep=lambda _: None) as fhir:
        yield fhir


@pytest.fixture
def task_id(request, engine, tmp_path, base_url):
    qr = with_patient(make_qr(signals=URGENT, identifier=f"taskflow-{request.node.name}", note="Graag snel contact"))
    return send(engine, tmp_path, base_url, qr)["regiocoordinator-jgz"]


def codes(concept: dict) -> dict[str, str]:
    return {c["system"]: c["code"] for c in concept["coding"]}


def test_accept_first_contact_and_close_with_a_message(client, task_id):
    task = apply_change(client, task_id, accept(ANNA), NOW, owner=JGZ)
    assert task["status"] == "accepted" and task["lastModified"] == "2026-11-23T09:15:00+00:00"
    assert codes(task["businessStatus"]) == {urls.CS_TASK_BUSINESS_STATUS: "accepted", urls.BSER_BUSINESS_STATUS: "3.0"}
    assert taskflow.assignee_of(task) == {"display": "Anna Jansen", "reference": "PractitionerRole/anna"}
    assert task["owner"]["identifier"] == {"system": urls.URA, "value": "90000101"}  # owner stays the organisation
    assert allowed_actions(task) == ("first-contact", "close", "assign")

    task = apply_change(client, task_id, first_contact(BRAM), NOW, version=task["meta"]["versionId"])
    assert (
        task["status"] == "in-progress"
        and codes(task["businessStatus"])[urls.CS_TASK_BUSINESS_STATUS] == "contact-made"
    )
    assert taskflow.assignee_of(task)["display"] == "Anna Jansen"  # Bram helped; Anna still works it

    task = apply_change(client, task_id, close(ANNA, "referred-voorzorg", "  Aangemeld bij VoorZorg.  "), NOW)
    assert task["status"] == "completed"
    assert codes(task["businessStatus"]) == {urls.CS_TASK_BUSINESS_STATUS: "closed", urls.BSER_BUSINESS_STATUS: "7.0"}
    [outcome, message] = task["output"]
    assert codes(outcome["valueCodeableConcept"]) == {urls.CS_TASK_OUTCOME: "referred-voorzorg"}
    assert outcome["valueCodeableConcept"]["text"] == "Doorverwezen naar VoorZorg"
    rtype, comm_id = message["valueReference"]["reference"].split("/")  # the transaction resolved the urn:uuid
    comm = client.read(rtype, comm_id)
    assert comm["payload"] == [{"contentString": "Aangemeld bij VoorZorg."}] and comm["status"] == "completed"
    assert comm["partOf"] == [{"reference": f"Task/{task_id}"}] and comm["basedOn"] == [task["focus"]]
    assert comm["sender"]["identifier"]["value"] == "90000101" and comm["subject"] == task["for"]
    assert allowed_actions(task) == ()
    detail = referral_detail(client, task_id, owner=JGZ)
    assert detail.outcome == "referred-voorzorg" and detail.message == "Aangemeld bij VoorZorg."


def test_decline_with_a_coded_reason_is_final(client, task_id):
    with pytest.raises(InputInvalid):
        apply_change(client, task_id, decline(ANNA, "geen-zin"), NOW)
    assert client.read("Task", task_id)["meta"]["versionId"] == "1"  # nothing written
    task = apply_change(client, task_id, decline(ANNA, "outside-area"), NOW)
    assert task["status"] == "rejected"
    assert task["statusReason"] == {
        "coding": [
            {"system": urls.CS_DECLINE_REASON, "code": "outside-area", "display": "Woont buiten ons werkgebied"}
        ],
        "text": "Woont buiten ons werkgebied",
    }
    assert codes(task["businessStatus"])[urls.BSER_BUSINESS_STATUS] == "4.0"
    for change in (accept(BRAM), first_contact(BRAM), close(BRAM, "support-started", "x"), assign(ANNA, BRAM)):
        with pytest.raises(TransitionRefused) as refused:
            apply_change(client, task_id, change, NOW)
        assert "afgewezen" in refused.value.text and refused.value.status_code == 422


def test_a_family_not_reachable_fails_the_task(client, task_id):
    apply_change(client, task_id, accept(ANNA), NOW)
    task = apply_change(client, task_id, close(ANNA, "not-reachable", "Drie keer gebeld, geen gehoor."), NOW)
    assert task["status"] == "failed" and codes(task["businessStatus"]) == {urls.CS_TASK_BUSINESS_STATUS: "closed"}


def test_steps_out_of_order_and_after_the_gps_cancel_are_refused(client, task_id):
    for change in (first_contact(ANNA), close(ANNA, "support-started", "Gestart.")):
        with pytest.raises(TransitionRefused):
            apply_change(client, task_id, change, NOW)
    task = apply_change(client, task_id, accept(ANNA), NOW)
    with pytest.raises(InputInvalid):
        apply_change(client, task_id, close(ANNA, "support-started", "   "), NOW)  # a message is required
    with pytest.raises(InputInvalid):
        apply_change(client, task_id, close(ANNA, "support-started", "x" * 1001), NOW)
    # The practice withdraws (service/referrals/withdraw.py sets the Task cancelled): the work stops.
    client.update({**task, "status": "cancelled", "statusReason": {"text": "Toestemming ingetrokken"}}, if_match="2")
    cancelled = client.read("Task", task_id)
    assert allowed_actions(cancelled) == ()
    for change in (first_contact(ANNA), close(ANNA, "support-started", "Gestart."), assign(ANNA, BRAM)):
        with pytest.raises(TransitionRefused) as refused:
            apply_change(client, task_id, change, NOW)
        assert "geannuleerd" in refused.value.text


def test_assign_to_a_colleague_keeps_the_organisation_as_owner(client, task_id):
    task = apply_change(client, task_id, assign(ANNA, BRAM), NOW)
    assert task["status"] == "requested" and "businessStatus" not in task
    assert taskflow.assignee_of(task) == BRAM.as_reference()
    assert task["owner"]["identifier"]["value"] == "90000101"
    task = apply_change(client, task_id, accept(BRAM), NOW)  # Bram accepts: still his
    assert taskflow.assignee_of(task)["display"] == "Bram de Vries"
    with pytest.raises(InputInvalid):
        apply_change(client, task_id, assign(ANNA, Actor(display=" ")), NOW)


def test_two_coordinators_on_the_same_version_the_second_hears_who_was_first(client, task_id):
    seen = client.read("Task", task_id)  # both have the worklist open at this version
    write_change(client, seen, accept(ANNA), NOW)
    with pytest.raises(TaskConflict) as conflict:
        write_change(client, seen, accept(BRAM), NOW)  # the server's If-Match refuses it (412)
    assert conflict.value.by == "Anna Jansen" and conflict.value.status == "accepted"
    assert conflict.value.text.startswith("Deze verwijzing is intussen al opgepakt door Anna Jansen")
    assert conflict.value.status_code == 409
    with pytest.raises(TaskConflict):  # the page's version is stale: refused before anything is sent
        apply_change(client, task_id, assign(BRAM, BRAM), NOW, version=seen["meta"]["versionId"])
    stored = client.read("Task", task_id)
    assert taskflow.assignee_of(stored)["display"] == "Anna Jansen" and stored["meta"]["versionId"] == "2"

    # A close (Communication + Task in one transaction) on a version someone moved on: nothing is written.
    accepted = client.read("Task", task_id)
    write_change(client, accepted, assign(ANNA, BRAM), NOW)
    with pytest.raises(TaskConflict) as conflict:
        write_change(client, accepted, close(ANNA, "support-started", "Ondersteuning gestart."), NOW)
    assert conflict.value.by == "Bram de Vries"
    assert client.search("Communication", {"part-of": f"Task/{task_id}"}).get("entry", []) == []
    assert client.read("Task", task_id)["status"] == "accepted"


def test_another_recipients_task_is_not_found(client, task_id):
    nu_niet_zwanger = "http://fhir.nl/fhir/NamingSystem/ura|90000102"
    with pytest.raises(NotFound):
        apply_change(client, task_id, accept(ANNA), NOW, owner=nu_niet_zwanger)
    with pytest.raises(NotFound):
        referral_detail(client, task_id, owner=nu_niet_zwanger)
    with pytest.raises(NotFound):
        apply_change(client, "no-such-task", accept(ANNA), NOW)
    assert client.read("Task", task_id)["status"] == "requested"


@pytest.mark.parametrize(
    "comm, text",
    [
        ({"resourceType": "Communication", "payload": [{"contentString": "Contact gehad."}]}, "Contact gehad."),
        (  # another writer's message in two parts: both, one per line, in their order
            {"resourceType": "Communication", "payload": [{"contentString": "Eerst"}, {"contentString": "dan"}]},
            "Eerst\ndan",
        ),
        ({"resourceType": "Communication", "payload": [{"contentAttachment": {"url": "x"}}]}, None),
        ({"resourceType": "Communication"}, None),
        ({"resourceType": "Task", "payload": [{"contentString": "niet"}]}, None),
        (None, None),
    ],
)
def test_the_gps_message_is_read_one_way_wherever_it_is_shown(comm, text):
    """The worklist's closed line and the practice's copy read the close's Communication with one function."""
    assert taskflow.message_text(comm) == text
