"""service/config.py: the defaults (the package's own data), the overrides, every problem at once, and an unknown
KS_REGION as a start-up error that names the setting and the regions there are."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import service
from service import create_app
from service.cli import main as cli
from service.config import MAPPINGS, QUESTIONNAIRES, SettingsInvalid, load_settings
from service.errors import StartupError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_the_defaults_are_the_packages_own_files():
    settings = load_settings({})
    package = Path(service.__file__).parent
    assert settings.questionnaires_dir == QUESTIONNAIRES == package / "data" / "questionnaires"
    assert settings.mappings_dir == MAPPINGS == package / "data" / "mappings"
    assert (QUESTIONNAIRES / "Questionnaire-kansrijke-start-signalering.json").is_file()
    assert (MAPPINGS / "meldcode.yaml").is_file() and list((MAPPINGS / "regions").glob("*.rules.yaml"))
    assert settings.data_dir == Path("var")  # the working directory's, never a folder inside the package
    assert settings.sandbox == "off" and settings.api_auth == "none"


def test_the_environment_then_the_overrides(tmp_path):
    mappings = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, mappings)
    environ = {"KS_MAPPINGS_DIR": str(mappings), "KS_OUTBOX_INTERVAL": "0.5", "KS_SANDBOX": "1", "KS_REGION": ""}
    settings = load_settings(environ, {"API_TOKEN_LIFETIME": 60, "not_a_setting": 1})
    assert settings.mappings_dir == mappings and settings.outbox_interval == 0.5 and settings.sandbox == "on"
    assert settings.api_token_lifetime == 60 and settings.region == "maastricht-heuvelland"


def test_every_problem_at_once():
    environ = {
        "KS_ENV": "production",
        "KS_MAX_BODY_BYTES": "a lot",
        "KS_FHIR_AUTH": "backend-services",
        "KS_SANDBOX": "maybe",
        "KS_MAPPINGS_DIR": "/nowhere/mappings",
    }
    with pytest.raises(SettingsInvalid) as err:
        load_settings(environ)
    text = str(err.value)
    for expected in (
        "KS_MAX_BODY_BYTES='a lot' is not a valid int",
        "KS_SANDBOX must be 1/on or 0/off, not 'maybe'",
        "KS_SECRET_KEY must be set",
        "KS_EHR_REGISTRY must name the registry",
        "KS_MAPPINGS_DIR: /nowhere/mappings is not a folder",
        "KS_FHIR_AUTH=backend-services needs KS_FHIR_TOKEN_URL",
        "KS_FHIR_AUTH=backend-services needs KS_FHIR_KEY_ID",
        "KS_API_AUTH=backend-services (the default in production) needs KS_API_CLIENTS_FILE",
    ):
        assert expected in text
    assert text.count("\n  - ") == 10


def test_an_unknown_region_stops_start_up_naming_the_setting_and_the_regions(monkeypatch, tmp_path):
    monkeypatch.setenv("KS_REGION", "atlantis")
    with pytest.raises(StartupError) as err:
        create_app({"TESTING": True, "data_dir": tmp_path})
    assert isinstance(err.value, SettingsInvalid)
    assert "KS_REGION: no rule set has the id 'atlantis'" in str(err.value)
    assert "the known regions are maastricht-heuvelland, voorbeeldstad" in str(err.value)


def test_the_command_line_says_so_without_a_traceback(monkeypatch, capsys):
    monkeypatch.setenv("KS_REGION", "atlantis")
    assert cli(["evaluate", str(EXAMPLES / "pregnant-urgent.json")]) != 0
    err = capsys.readouterr().err
    assert "KS_REGION: no rule set has the id 'atlantis'" in err and "Traceback" not in err


def test_the_feedback_poller_follows_the_outbox_worker_and_keeps_gravitys_floor_in_production(tmp_path):
    assert load_settings({}).feedback_poller == "on" and load_settings({}).feedback_min_interval == 900
    assert load_settings({"KS_OUTBOX_WORKER": "off"}).feedback_poller == "off"
    both = load_settings({"KS_OUTBOX_WORKER": "off", "KS_FEEDBACK_POLLER": "on", "KS_FEEDBACK_MIN_INTERVAL": "1"})
    assert both.feedback_poller == "on" and both.feedback_min_interval == 1.0
    app = create_app({"TESTING": True, "data_dir": tmp_path, "feedback_min_interval": 2.5})
    assert app.extensions["ks"].feedback.min_interval == 2.5  # the copy's floor is the setting
    with pytest.raises(SettingsInvalid) as err:
        load_settings(
            {"KS_FEEDBACK_POLLER": "sometimes", "KS_FEEDBACK_INTERVAL": "0", "KS_FEEDBACK_MIN_INTERVAL": "7200"}
        )
    for expected in (
        "KS_FEEDBACK_POLLER must be on or off, not 'sometimes'",
        "KS_FEEDBACK_INTERVAL must be more than 0 seconds",
        "KS_FEEDBACK_MIN_INTERVAL must be more than 0 and at most 3600 seconds",
    ):
        assert expected in str(err.value)
    with pytest.raises(SettingsInvalid) as err:
        load_settings({"KS_ENV": "production", "KS_FEEDBACK_MIN_INTERVAL": "60"})
    assert "KS_FEEDBACK_MIN_INTERVAL must be at least 900 seconds in production" in str(err.value)
