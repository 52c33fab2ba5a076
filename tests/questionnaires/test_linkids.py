"""One source per fact: the linkIds the code names exist in the Questionnaire the rule sets use, and the referral
kinds the recipients schema allows are exactly the codes of CodeSystem ks-referral."""

from __future__ import annotations

import json

import pytest

from service.config import MAPPINGS, QUESTIONNAIRES
from service.errors import ConfigurationInvalid
from service.questionnaires.catalog import load_catalog
from service.questionnaires.linkids import ALL, missing_link_ids
from service.rules.loader import load_rulesets


def test_every_product_wide_link_id_is_an_item_of_the_questionnaire(engine):
    for ruleset in engine.rulesets.values():
        assert missing_link_ids(engine.catalog.find(ruleset.questionnaire).items) == []
    assert missing_link_ids({}) == list(ALL)


def test_a_questionnaire_without_one_stops_start_up(tmp_path):
    folder = tmp_path / "questionnaires"
    folder.mkdir()
    for path in QUESTIONNAIRES.glob("*.json"):
        data = json.loads(path.read_text())
        if data["resourceType"] == "Questionnaire":  # drop the help question (`note`): the Bundles and pages read it
            data["item"] = [i for i in data["item"] if i["linkId"] != "note"]
        (folder / path.name).write_text(json.dumps(data))
    with pytest.raises(ConfigurationInvalid, match="has no item 'note'"):
        load_rulesets(MAPPINGS, load_catalog(folder))


def test_the_recipients_schema_allows_exactly_the_referral_codes():
    schema = json.loads((MAPPINGS / "schemas" / "recipients.schema.json").read_text())
    allowed = schema["properties"]["recipients"]["items"]["properties"]["referral"]["enum"]
    codes = [c["code"] for c in json.loads((QUESTIONNAIRES / "CodeSystem-ks-referral.json").read_text())["concept"]]
    assert sorted(allowed) == sorted(codes)
