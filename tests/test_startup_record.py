"""The start-up record (service/startup_record.py): a restart on exactly the files, code and libraries of an earlier
start-up that passed every check skips the slow checks; anything changed runs them all, with the same messages."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys

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


# The manifest of the package's own files (service/data/checked.json).


@pytest.fixture()
def no_manifest(monkeypatch, tmp_path):
    """The manifest bypass off: the package's files get every check, as any other files do."""
    monkeypatch.setattr(startup_record, "MANIFEST", tmp_path / "no-manifest.json")


def _current_manifest(monkeypatch, path) -> None:
    """The manifest as `--write-manifest` writes it for the package's files as they are now, with this code and these
    libraries (whether the committed one is that is for the first two tests below)."""
    path.write_text(json.dumps(startup_record.manifest()), encoding="utf-8")
    monkeypatch.setattr(startup_record, "MANIFEST", path)


@pytest.fixture()
def package_copy(tmp_path, monkeypatch):
    """A copy of service/data taken for the package's own (as a file edited after install would be), and its
    manifest."""
    root = tmp_path / "package-data"
    shutil.copytree(startup_record.PACKAGE_DATA, root)
    monkeypatch.setattr(startup_record, "PACKAGE_DATA", root)
    _current_manifest(monkeypatch, tmp_path / "checked.json")
    return {
        "TESTING": True,
        "data_dir": tmp_path / "data",
        "mappings_dir": root / "mappings",
        "questionnaires_dir": root / "questionnaires",
    }


def test_the_manifest_names_the_shipped_files_and_the_checking_code_as_they_are():
    committed = json.loads(startup_record.MANIFEST.read_text(encoding="utf-8"))
    now = startup_record.manifest()
    stale = [part for part in ("python", "code", "files") if committed.get(part) != now[part]]
    assert not stale, (
        f"service/data/checked.json is stale ({', '.join(stale)} changed): after `make test` passes, run "
        f"{startup_record.WRITE_COMMAND} (it runs every check on service/data, then writes it) and commit it"
    )


def test_the_manifest_names_the_checking_libraries():
    """Their names, not their versions: a dependency released since the manifest was written must not turn
    `make test` red for a reason the commit cannot control. Start-up compares the versions and runs every check on
    any difference (test_anything_else_than_what_the_manifest_names_is_not_recognised[library] below), correct, only slower, until
    the manifest is written again."""
    committed = json.loads(startup_record.MANIFEST.read_text(encoding="utf-8"))["libraries"]
    assert set(committed) == set(startup_record.manifest()["libraries"])


def test_the_shipped_files_pass_every_check_without_the_manifest(no_manifest, tmp_path, monkeypatch):
    calls = {"structural": 0, "schema": 0}
    validation_issues, schema_problems = models.validation_issues, loader._schema_problems

    def counted(name, function):
        def call(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)

        return call

    monkeypatch.setattr(models, "validation_issues", counted("structural", validation_issues))
    monkeypatch.setattr(loader, "_schema_problems", counted("schema", schema_problems))
    create_app({"TESTING": True, "data_dir": tmp_path / "data"})  # the package's own folders, by default
    assert calls["structural"] == len(list(QUESTIONNAIRES.glob("*.json"))) and calls["schema"] > 0
    assert (tmp_path / "data" / startup_record.NAME).exists()  # and then the record as for any files


def test_the_package_files_as_shipped_skip_the_slow_checks(tmp_path, monkeypatch):
    _current_manifest(monkeypatch, tmp_path / "checked.json")
    _no_slow_checks(monkeypatch)
    engine = create_app({"TESTING": True, "data_dir": tmp_path / "data"}).extensions["ks"].engine
    assert engine.rulesets and engine.catalog.questionnaires
    assert not (tmp_path / "data" / startup_record.NAME).exists()  # no record needed


def test_an_unmodified_copy_of_the_package_files_is_recognised(package_copy, monkeypatch):
    _no_slow_checks(monkeypatch)
    create_app(package_copy)


def test_the_package_files_elsewhere_are_not_the_package_files(folders):
    assert not startup_record.shipped(folders["questionnaires_dir"], folders["mappings_dir"])
    create_app(folders)  # every check, then the record
    assert (folders["data_dir"] / startup_record.NAME).exists()


def test_a_package_file_edited_after_install_gets_every_check(package_copy, tmp_path):
    path = package_copy["mappings_dir"] / RULES
    path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert not startup_record.shipped(package_copy["questionnaires_dir"], package_copy["mappings_dir"])
    create_app(package_copy)
    assert (package_copy["data_dir"] / startup_record.NAME).exists()  # checked: recorded for its restarts


@pytest.mark.parametrize("change", ["added", "removed", "code", "library", "python"])
def test_anything_else_than_what_the_manifest_names_is_not_recognised(package_copy, monkeypatch, change):
    questionnaires, mappings = package_copy["questionnaires_dir"], package_copy["mappings_dir"]
    assert startup_record.shipped(questionnaires, mappings)
    if change == "added":
        shutil.copy(questionnaires / "CodeSystem-ks-level.json", questionnaires / "CodeSystem-ks-level-2.json")
    elif change == "removed":
        (mappings / "schemas" / "meldcode.schema.json").unlink()
    elif change == "code":
        monkeypatch.setattr(startup_record, "_code_digest", lambda: "another")
    elif change == "library":
        installed = startup_record._installed()
        monkeypatch.setattr(startup_record, "_installed", lambda: {**installed, "fhir-resources": "8.0.0"})
    else:
        monkeypatch.setattr(startup_record, "_python", lambda: "3.99")
    assert not startup_record.shipped(questionnaires, mappings)


@pytest.mark.parametrize("broken", ["rules", "questionnaire"])
def test_a_broken_package_file_stops_start_up_with_every_mistake(package_copy, folders, broken):
    """With the same messages as the same files elsewhere (every check, no manifest for them)."""
    for questionnaires, mappings in (
        (package_copy["questionnaires_dir"], package_copy["mappings_dir"]),
        (folders["questionnaires_dir"], folders["mappings_dir"]),
    ):
        if broken == "rules":

            def change(data):
                data["rules"][0]["recipient"] = "nobody-here"
                data["rules"][1]["when"] = "%urgentCount >= ("

            _edit(mappings / RULES, change)
        else:
            path = questionnaires / "CodeSystem-ks-level.json"
            path.write_text(path.read_text(encoding="utf-8").replace('"status"', '"statuz"', 1), encoding="utf-8")
    with pytest.raises(ConfigurationInvalid) as shipped:
        create_app(package_copy)
    with pytest.raises(ConfigurationInvalid) as elsewhere:
        create_app(folders)
    root = str(package_copy["mappings_dir"].parent)
    assert str(shipped.value).replace(root, "X") == str(elsewhere.value).replace(
        str(folders["mappings_dir"].parent), "X"
    )
    wanted = ("/rules/0/recipient", "/rules/1/when") if broken == "rules" else ("CodeSystem-ks-level.json: /statuz",)
    assert all(where in str(shipped.value) for where in wanted)
    assert not (package_copy["data_dir"] / startup_record.NAME).exists()


def test_the_manifest_is_written_only_after_every_check_passed(package_copy, monkeypatch, tmp_path):
    monkeypatch.setattr(startup_record, "MANIFEST", tmp_path / "written.json")
    _edit(package_copy["mappings_dir"] / RULES, lambda data: data["rules"][0].update(recipient="nobody-here"))
    with pytest.raises(ConfigurationInvalid):
        startup_record.write_manifest()
    assert not (tmp_path / "written.json").exists()
    (package_copy["mappings_dir"] / RULES).write_bytes((MAPPINGS / RULES).read_bytes())
    startup_record.write_manifest()
    assert json.loads((tmp_path / "written.json").read_text(encoding="utf-8")) == startup_record.manifest()


def test_a_start_up_on_the_shipped_files_imports_no_r4_models(tmp_path):
    manifest = tmp_path / "checked.json"
    manifest.write_text(json.dumps(startup_record.manifest()), encoding="utf-8")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from service import create_app, startup_record\n"
        f"startup_record.MANIFEST = Path({str(manifest)!r})\n"
        f"create_app({{'TESTING': True, 'data_dir': {str(tmp_path / 'data')!r}}})\n"
        "print(sorted(m for m in ('fhir.resources', 'pydantic', 'fhirpathpy') if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KS_")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"
