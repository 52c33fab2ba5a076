"""Every mapping file loads; a file with mistakes fails naming file and JSON pointer for each mistake."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import pytest
import yaml

from service.config import MAPPINGS
from service.errors import ConfigurationInvalid
from service.rules.loader import load_ruleset, load_rulesets

RULE_FILES = sorted((MAPPINGS / "regions").glob("*.rules.yaml"))


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_every_rule_file_loads_against_the_questionnaire(engine, path):
    ruleset = load_ruleset(path, engine.catalog)
    assert ruleset.rules and ruleset.levels[-1].when is None
    for rule in ruleset.rules:
        assert rule.recipient is None or rule.recipient in ruleset.recipients


def test_at_least_two_regions():
    assert len(RULE_FILES) >= 2


@pytest.fixture()
def broken_mappings(tmp_path):
    target = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, target)
    return target


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def test_all_mistakes_reported_at_once_with_file_and_pointer(engine, broken_mappings):
    rules = broken_mappings / "regions" / "maastricht-heuvelland.rules.yaml"

    def change(data):
        data["rules"][0]["recipient"] = "nobody-here"  # unknown recipient
        data["rules"][1]["when"] = "%urgentCount >= ("  # FHIRPath syntax error
        data["rules"][2]["because"] = ["phase", "no-such-item"]  # unknown linkId
        data["levels"][0]["when"] = "%undefinedThing > 1"  # undefined variable
        data["rules"][3]["priority"] = [{"value": "whenever"}]  # schema: bad enum

    _edit(rules, change)
    with pytest.raises(ConfigurationInvalid) as err:
        load_rulesets(broken_mappings, engine.catalog)
    text = str(err.value)
    assert "/rules/3/priority/0/value" in text
    # The schema mistake stops the reference checks for that file; fix it to see the rest at once.
    _edit(rules, lambda d: d["rules"][3].__setitem__("priority", [{"value": "routine"}]))
    with pytest.raises(ConfigurationInvalid) as err:
        load_rulesets(broken_mappings, engine.catalog)
    pointers = {(Path(p.file).name, p.pointer) for p in err.value.problems}
    assert pointers >= {
        ("maastricht-heuvelland.rules.yaml", "/rules/0/recipient"),
        ("maastricht-heuvelland.rules.yaml", "/rules/1/when"),
        ("maastricht-heuvelland.rules.yaml", "/rules/2/because/1"),
        ("maastricht-heuvelland.rules.yaml", "/levels/0/when"),
    }
    assert "maastricht-heuvelland.rules.yaml: /rules/0/recipient: recipient 'nobody-here'" in str(err.value)


def test_schema_mistakes_in_two_files_reported_together(engine, broken_mappings):
    regions = broken_mappings / "regions"
    _edit(regions / "voorbeeldstad.recipients.yaml", lambda d: d["recipients"][0].pop("consent"))
    _edit(regions / "maastricht-heuvelland.rules.yaml", lambda d: d.__setitem__("kind", "something-else"))
    with pytest.raises(ConfigurationInvalid) as err:
        load_rulesets(broken_mappings, engine.catalog)
    pointers = {(Path(p.file).name, p.pointer) for p in err.value.problems}
    assert ("voorbeeldstad.recipients.yaml", "/recipients/0") in pointers
    assert ("maastricht-heuvelland.rules.yaml", "/kind") in pointers


def test_yaml_syntax_error_names_line(broken_mappings):
    (broken_mappings / "regions" / "voorbeeldstad.rules.yaml").write_text("kind: ks-ruleset\nrules: [\n")
    with pytest.raises(ConfigurationInvalid) as err:
        load_rulesets(broken_mappings)
    assert "voorbeeldstad.rules.yaml" in str(err.value) and "line" in str(err.value)


def test_app_refuses_to_start_with_broken_mappings(broken_mappings, tmp_path):
    from service import create_app

    _edit(
        broken_mappings / "regions" / "voorbeeldstad.rules.yaml",
        lambda d: d["rules"][0].__setitem__("recipient", "ghost"),
    )
    with pytest.raises(ConfigurationInvalid, match=r"voorbeeldstad\.rules\.yaml: /rules/0/recipient"):
        create_app({"mappings_dir": broken_mappings, "data_dir": tmp_path})


def _as_2026_1(text: str) -> str:
    """A rule file's standard expressions written back as rule-set version 2026.1 had them."""
    pattern = r"%resource\.repeat\(item\)\.where\(linkId = '([^']+)'\)"
    text = re.sub(pattern + r"\.item\.where\(answer\.value = true\)\.count\(\)", r"ticked('\1').count()", text)
    text = re.sub(pattern + r"\.answer\.value \+", r"answers('\1').toDate() +", text)
    return re.sub(pattern + r"\.answer\.value", r"answers('\1')", text)


def test_deprecated_functions_still_work_with_a_warning(engine, broken_mappings, caplog):
    from benchmarks.extract import realistic_mix
    from service.referrals.pipeline import reference_date
    from service.rules.evaluate import evaluate_rules

    for path in (broken_mappings / "regions").glob("*.rules.yaml"):
        path.write_text(_as_2026_1(path.read_text(encoding="utf-8")), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="service.rules.loader"):
        old = load_rulesets(broken_mappings, engine.catalog)
    for ruleset in old.values():
        assert all("%resource" not in e for _, e in ruleset.expressions())
        assert f"{ruleset.source}: answers() is deprecated" in caplog.text
        assert f"{ruleset.source}: ticked() is deprecated" in caplog.text
    assert "/safety/0/when" in caplog.text
    for doc in realistic_mix(300, seed=5):
        qr = json.loads(doc)
        result = engine.validate(qr)
        for region, ruleset in old.items():
            kw = dict(today=reference_date(qr), index=result.index)
            then = evaluate_rules(qr, ruleset, result.questionnaire, **kw)
            now = evaluate_rules(qr, engine.rulesets[region], result.questionnaire, **kw)
            assert (then.level, then.computed_level, then.safety, then.decisions) == (
                now.level,
                now.computed_level,
                now.safety,
                now.decisions,
            )


def test_standard_expressions_are_checked_against_the_questionnaire(engine, broken_mappings):
    rules = broken_mappings / "regions" / "voorbeeldstad.rules.yaml"
    _edit(
        rules,
        lambda d: d["variables"].__setitem__(
            "phase", "%resource.repeat(item).where(linkId = 'fase').answer.value.code"
        ),
    )
    _edit(rules, lambda d: d["safety"][0].__setitem__("when", "_ksAnswerValues('domestic-violence') = true"))
    with pytest.raises(ConfigurationInvalid) as err:
        load_rulesets(broken_mappings, engine.catalog)
    text = str(err.value)
    assert "voorbeeldstad.rules.yaml: /variables/phase: linkId 'fase' is not in" in text
    assert "voorbeeldstad.rules.yaml: /safety/0/when: _ksAnswerValues and _ksTickedLinkIds are reserved names" in text


def test_a_file_that_is_not_yaml_is_named_with_the_pure_python_loaders_position(engine, broken_mappings):
    rules = broken_mappings / "regions" / "voorbeeldstad.rules.yaml"
    rules.write_text("id: x\n  version: [1\n", encoding="utf-8")
    try:
        yaml.safe_load(rules.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = exc.problem_mark
        expected = f"not valid YAML (line {mark.line + 1}, column {mark.column + 1}): {exc.problem}"
    with pytest.raises(ConfigurationInvalid) as err:
        load_rulesets(broken_mappings, engine.catalog)
    assert [(p.file, p.message) for p in err.value.problems] == [(str(rules), expected)]


def test_an_empty_recipients_file_is_named(engine, broken_mappings):
    recipients = broken_mappings / "regions" / "voorbeeldstad.recipients.yaml"
    recipients.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(ConfigurationInvalid) as err:
        load_rulesets(broken_mappings, engine.catalog)
    assert [(p.file, p.message) for p in err.value.problems] == [(str(recipients), "the file is empty")]


def test_a_quoted_threshold_stops_start_up(broken_mappings, tmp_path):
    """Issue 11: `urgentMin: "1"` passed start-up, and then every evaluation compared a count with text (a 500)."""
    from service import create_app

    rules = broken_mappings / "regions" / "voorbeeldstad.rules.yaml"
    rules.write_text(rules.read_text(encoding="utf-8").replace("urgentMin: 1", 'urgentMin: "1"'), encoding="utf-8")
    with pytest.raises(ConfigurationInvalid) as err:
        create_app({"mappings_dir": broken_mappings, "data_dir": tmp_path})
    message = "'1' is a number in quotes, which the expressions read as text: write it without quotes"
    assert [str(p) for p in err.value.problems] == [f"{rules}: /parameters/urgentMin: {message}"]


@pytest.mark.parametrize("value", [1.5, "2", " 3 ", "-1", "0.5", None, [1]])
def test_a_parameter_is_an_integer_a_string_or_a_boolean(broken_mappings, value):
    rules = broken_mappings / "regions" / "voorbeeldstad.rules.yaml"
    _edit(rules, lambda d: d["parameters"].__setitem__("otherMin", value))
    with pytest.raises(ConfigurationInvalid) as err:
        load_rulesets(broken_mappings)
    assert [(p.file, p.pointer) for p in err.value.problems] == [(str(rules), "/parameters/otherMin")]


@pytest.mark.parametrize("value", [3, 3.0, "urgent", "1 jaar", True])
def test_parameters_that_are_not_quoted_numbers_load(broken_mappings, value):
    _edit(broken_mappings / "regions" / "voorbeeldstad.rules.yaml", lambda d: d["parameters"].__setitem__("x", value))
    assert load_rulesets(broken_mappings)["voorbeeldstad"].parameters["x"] == value


def test_rule_mistakes_are_reported_when_the_recipients_file_is_broken_too(engine, broken_mappings):
    """Issue 11: a recipients file with a mistake hid every mistake of its rule file beyond the schema."""
    regions = broken_mappings / "regions"
    rules, recipients = regions / "voorbeeldstad.rules.yaml", regions / "voorbeeldstad.recipients.yaml"

    def change(data):
        data["rules"][1]["when"] = "%urgentCount >= ("  # FHIRPath syntax error
        data["rules"][0]["because"] = ["phase", "no-such-item"]  # unknown linkId
        data["rules"][1]["recipient"] = "nobody-here"  # not checked: the recipients are not known

    _edit(rules, change)
    _edit(recipients, lambda d: d["recipients"][0].pop("consent"))
    with pytest.raises(ConfigurationInvalid) as err:
        load_rulesets(broken_mappings, engine.catalog)
    pointers = {(p.file, p.pointer) for p in err.value.problems}
    assert pointers == {
        (str(recipients), "/recipients/0"),
        (str(rules), "/rules/1/when"),
        (str(rules), "/rules/0/because/1"),
    }


def test_a_missing_recipients_file_does_not_hide_rule_mistakes(engine, broken_mappings):
    regions = broken_mappings / "regions"
    (regions / "voorbeeldstad.recipients.yaml").unlink()
    _edit(regions / "voorbeeldstad.rules.yaml", lambda d: d["levels"][0].__setitem__("when", "%undefinedThing > 1"))
    with pytest.raises(ConfigurationInvalid) as err:
        load_rulesets(broken_mappings, engine.catalog)
    messages = [(Path(p.file).name, p.pointer, p.message.split(":")[0]) for p in err.value.problems]
    assert messages == [
        ("voorbeeldstad.recipients.yaml", "", "cannot read"),
        ("voorbeeldstad.rules.yaml", "/levels/0/when", "%undefinedThing is not a parameter, variable or built-in"),
    ]


def test_a_duplicate_recipient_is_named_with_its_id(engine, broken_mappings):
    recipients = broken_mappings / "regions" / "voorbeeldstad.recipients.yaml"
    _edit(recipients, lambda d: d["recipients"].append(dict(d["recipients"][1])))
    count = len(yaml.safe_load(recipients.read_text(encoding="utf-8"))["recipients"])
    duplicate = yaml.safe_load(recipients.read_text(encoding="utf-8"))["recipients"][1]["id"]
    with pytest.raises(ConfigurationInvalid) as err:
        load_rulesets(broken_mappings, engine.catalog)
    assert [str(p) for p in err.value.problems] == [
        f"{recipients}: /recipients/{count - 1}/id: recipient id {duplicate!r} is used twice"
    ]
