"""The Meldcode steps as data (mappings/meldcode.yaml): the file is valid, the pages use it, and a mistake in it stops
start-up with the file and a JSON pointer."""

from __future__ import annotations

import shutil

import pytest
import yaml

from service import create_app
from service.config import MAPPINGS
from service.errors import ConfigurationInvalid
from service.rules.meldcode import load_meldcode
from service.services import services


def test_the_shipped_file_has_the_five_steps_in_both_languages():
    steps = load_meldcode(MAPPINGS)
    assert [s.id for s in steps] == ["signalen", "advies", "gesprek", "professionals", "afwegen"]
    assert all(s.nl and s.en and s.nl != s.en for s in steps)


@pytest.fixture()
def mappings(tmp_path):
    target = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, target)
    return target


def _edit(path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_the_app_loads_the_steps_from_its_mappings_folder(mappings, tmp_path):
    _edit(mappings / "meldcode.yaml", lambda d: d["steps"][2]["text"].__setitem__("en", "Talk with everyone involved."))
    app = create_app({"TESTING": True, "mappings_dir": mappings, "data_dir": tmp_path / "data"})
    assert services(app).meldcode[2].en == "Talk with everyone involved."


def test_a_broken_meldcode_file_stops_start_up_with_pointers(mappings, tmp_path):
    def breaks(data):
        del data["steps"][1]["text"]["en"]
        data["steps"][3]["id"] = "Not Kebab"

    _edit(mappings / "meldcode.yaml", breaks)
    with pytest.raises(ConfigurationInvalid) as err:
        create_app({"TESTING": True, "mappings_dir": mappings, "data_dir": tmp_path / "data"})
    text = str(err.value)
    assert "2 mistake(s)" in text
    assert "meldcode.yaml: /steps/1/text: 'en' is a required property" in text
    assert "meldcode.yaml: /steps/3/id: 'Not Kebab' does not match" in text


def test_a_step_id_used_twice_is_named(mappings):
    _edit(mappings / "meldcode.yaml", lambda d: d["steps"][4].__setitem__("id", "advies"))
    with pytest.raises(ConfigurationInvalid, match=r"meldcode\.yaml: /steps/4/id: id 'advies' is used twice"):
        load_meldcode(mappings)


def test_unreadable_yaml_and_a_missing_file_are_named(mappings):
    (mappings / "meldcode.yaml").write_text("kind: ks-meldcode\nsteps: [\n", encoding="utf-8")
    with pytest.raises(ConfigurationInvalid, match=r"meldcode\.yaml: /: not valid YAML \(line"):
        load_meldcode(mappings)
    (mappings / "meldcode.yaml").unlink()
    with pytest.raises(ConfigurationInvalid, match=r"meldcode\.yaml: /: cannot read"):
        load_meldcode(mappings)
