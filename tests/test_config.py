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
