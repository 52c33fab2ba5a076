"""The start-up record (service/startup_record.py): a restart on exactly the files, code and libraries of an earlier
start-up that passed every check skips the slow checks; anything changed runs them all, with the same messages."""

from __future__ import annotations

import logging
import shutil
import stat

import pytest
import yaml

from service import create_app, startup_record
from service.config import MAPPINGS, QUESTIONNAIRES
from service.errors import ConfigurationInvalid
from service.fhir import models
from service.rules import fhirpath, loader

RULES = "regions/maastricht-heuvelland.rules.yaml"


@pytest.fixture()
def folders(tmp_path):
    shutil.copytree(MAPPINGS, tmp_path / "mappings")
    shutil.copytree(QUESTIONNAIRES, tmp_path / "questionnaires")
    return {
        "TESTING": True,
        "data_dir": tmp_path / "data",
        "mappings_dir": tmp_path / "mappings",
        "questionnaires_dir": tmp_path / "questionnaires",
    }


def _no_slow_checks(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a slow check ran")

    monkeypatch.setattr(models, "validation_issues", refuse)
    monkeypatch.setattr(loader, "_schema_problems", refuse)
    monkeypatch.setattr(fhirpath, "prepare", refuse)


def _edit(path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_a_restart_on_the_same_files_skips_the_slow_checks_and_builds_the_same_engine(folders, monkeypatch):
    first = create_app(folders).extensions["ks"].engine
    assert stat.S_IMODE((folders["data_dir"] / startup_record.NAME).stat().st_mode) == 0o600
    _no_slow_checks(monkeypatch)
    again = create_app(folders).extensions["ks"].engine
    assert again.rulesets == first.rulesets
    assert again.catalog.questionnaires.keys() == first.catalog.questionnaires.keys()
    assert again.catalog.resources == first.catalog.resources


def test_a_changed_file_runs_every_check_with_the_same_messages(folders, tmp_path):
    create_app(folders)

    def change(data):
        data["rules"][0]["recipient"] = "nobody-here"
        data["rules"][1]["when"] = "%urgentCount >= ("
        data["rules"][3]["priority"] = [{"value": "whenever"}]

    _edit(folders["mappings_dir"] / RULES, change)
    with pytest.raises(ConfigurationInvalid) as recorded:
        create_app(folders)
    with pytest.raises(ConfigurationInvalid) as fresh:
        create_app({**folders, "data_dir": tmp_path / "fresh"})
    assert str(recorded.value) == str(fresh.value)
    assert "/rules/3/priority/0/value" in str(recorded.value)


def test_a_changed_questionnaire_runs_the_structural_check(folders):
    create_app(folders)
    path = folders["questionnaires_dir"] / "CodeSystem-ks-level.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"status"', '"statuz"', 1), encoding="utf-8")
    with pytest.raises(ConfigurationInvalid) as err:
        create_app(folders)
    assert "CodeSystem-ks-level.json" in str(err.value)


def test_a_failed_start_up_records_nothing(folders):
    _edit(folders["mappings_dir"] / RULES, lambda data: data["rules"][0].update(recipient="nobody-here"))
    with pytest.raises(ConfigurationInvalid):
        create_app(folders)
    assert not (folders["data_dir"] / startup_record.NAME).exists()


def test_the_deprecation_warning_comes_on_a_restart_too(folders, monkeypatch, caplog):
    def change(data):
        data["variables"]["phase"] = "answers('phase')"

    _edit(folders["mappings_dir"] / RULES, change)
    with caplog.at_level(logging.WARNING, logger="service.rules.loader"):
        create_app(folders)
    first = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    caplog.clear()
    _no_slow_checks(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="service.rules.loader"):
        create_app(folders)
    assert first and [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()] == first


def test_an_unusable_record_is_ignored(folders):
    folders["data_dir"].mkdir()
    (folders["data_dir"] / startup_record.NAME).write_text("not json", encoding="utf-8")
    create_app(folders)  # every check, then a good record
    assert startup_record.passed(
        folders["data_dir"], startup_record.key(folders["questionnaires_dir"], folders["mappings_dir"])
    )
