"""One error family (service/errors.py), rendered in one place (service/errors_render.py): an OperationOutcome
under /fhir with `details.text` in the response's language, a page on the practice's pages."""

from __future__ import annotations

import pytest

from service.api.auth import ApiClientsInvalid
from service.config import SettingsInvalid
from service.embedded import EmbeddedServerFailed
from service.errors import ConfigProblem, ConfigurationInvalid, KsError, StartupError
from service.fhir.errors import FhirError
from service.questionnaires.sdc import QueryNotSupported
from service.smart.oauth import LaunchError
from tests.factories import make_qr


@pytest.mark.parametrize(
    "kind",
    [
        LaunchError,
        SettingsInvalid,
        ApiClientsInvalid,
        ConfigurationInvalid,
        FhirError,
        QueryNotSupported,
        EmbeddedServerFailed,
    ],
)
def test_every_error_of_the_service_is_a_ks_error(kind):
    assert issubclass(kind, KsError)


def test_start_up_errors_keep_their_messages():
    assert issubclass(SettingsInvalid, StartupError) and issubclass(SettingsInvalid, ValueError)
    assert str(SettingsInvalid("Settings problems:\n  - KS_X")) == "Settings problems:\n  - KS_X"
    problem = ConfigurationInvalid([ConfigProblem("a.yaml", "/x", "wrong")])
    assert str(problem) == "1 mistake(s) in configuration files:\n  - a.yaml: /x: wrong"
    assert problem.to_operation_outcome()["issue"][0]["diagnostics"] == str(problem)
    assert str(LaunchError("Nederlands", "English")) == "English"


def test_operation_outcome_details_are_dutch_by_default(client):
    r = client.get("/fhir/Nothing-here")
    assert r.status_code == 404 and r.mimetype == "application/fhir+json"
    issue = r.get_json()["issue"][0]
    assert issue["diagnostics"] == "Niet gevonden." and issue["details"]["text"] == "Niet gevonden."
    r = client.post(
        "/fhir/QuestionnaireResponse/$validate", data="{", headers={"Content-Type": "application/fhir+json"}
    )
    issue = r.get_json()["issue"][0]
    assert r.status_code == 400 and issue["details"]["text"] == issue["diagnostics"]


@pytest.mark.parametrize("header", ["en", "en-GB,nl;q=0.5", "en-US"])
def test_operation_outcome_details_are_english_when_english_is_the_first_preference(client, header):
    r = client.get("/fhir/Nothing-here", headers={"Accept-Language": header})
    issue = r.get_json()["issue"][0]
    assert issue["diagnostics"] == "Niet gevonden." and issue["details"]["text"] == "Not found."


@pytest.mark.parametrize("header", ["nl", "nl-NL,en;q=0.9", "de", "*"])
def test_operation_outcome_details_stay_dutch_for_other_first_preferences(client, header):
    r = client.get("/fhir/Nothing-here", headers={"Accept-Language": header})
    assert r.get_json()["issue"][0]["details"]["text"] == "Niet gevonden."


def test_validate_outcome_follows_the_language_too(client):
    nl = client.post("/fhir/QuestionnaireResponse/$validate", json=make_qr()).get_json()["issue"][0]
    en = client.post(
        "/fhir/QuestionnaireResponse/$validate", json=make_qr(), headers={"Accept-Language": "en"}
    ).get_json()["issue"][0]
    assert nl["diagnostics"] == en["diagnostics"] == nl["details"]["text"]
    assert en["details"]["text"] != nl["details"]["text"]
