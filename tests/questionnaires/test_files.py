"""The FHIR files in questionnaires/: each parses as its R4B model, carries the shared metadata, and together
they agree (linkIds = ks-signal codes, answer codes exist, translations present, ConceptMap covers every signal)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.config import QUESTIONNAIRES
from service.fhir.models import parse_resource
from service.fhir.urls import (
    BASE,
    CS_CONSENT_METHOD,
    CS_LEVEL,
    CS_PHASE,
    CS_REFERRAL,
    CS_SIGNAL,
    LOINC,
    QUESTIONNAIRE_SIGNALERING,
    SNOMED,
    TRANSLATION,
)

FOLDER = QUESTIONNAIRES
FILES = sorted(FOLDER.glob("*.json"))

# DOMAIN.md Part A §A1: these linkIds are shared by the whole product and never change within a version.
URGENT = [
    "psych-problems-current-pregnancy",
    "domestic-violence",
    "veilig-thuis-involvement",
    "child-protection-board-history",
    "intellectual-disability",
    "substance-addiction",
    "homeless",
]
OTHER = [
    "other-psychosocial-history-mother",
    "partner-problems",
    "unhealthy-lifestyle-mother",
    "financial-problems",
    "language-barrier",
    "relationship-problems",
    "teenage-pregnancy",
    "single-mother",
    "unsafe-inadequate-housing",
    "unplanned-unwanted-pregnancy",
    "low-education",
    "suboptimal-care-use",
    "blended-family-problems",
    "low-literacy-health-literacy",
]
CONTEXT = [
    "phase",
    "due-date",
    "child-birth-date",
    "pregnancy-intention",
    "children-in-household",
    "level-override",
    "override-reason",
    "consent-given",
    "consent-method",
    "note",
]
LOCAL_SYSTEMS = {CS_SIGNAL, CS_LEVEL, CS_REFERRAL, CS_PHASE, CS_CONSENT_METHOD}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def resources() -> dict[tuple[str, str], dict]:
    return {(d["resourceType"], d["id"]): d for d in map(load, FILES)}


def questionnaire() -> dict:
    return resources()[("Questionnaire", "kansrijke-start-signalering")]


def code_system(url: str) -> dict:
    matches = [r for r in resources().values() if r["resourceType"] == "CodeSystem" and r["url"] == url]
    assert len(matches) == 1, f"expected one CodeSystem {url}"
    return matches[0]


def walk(items: list[dict], parent: str | None = None):
    for item in items:
        yield item, parent
        yield from walk(item.get("item", []), item["linkId"])


def english(element: dict | None) -> str | None:
    for ext in (element or {}).get("extension", ()):
        if ext.get("url") == TRANSLATION:
            parts = {e["url"]: e for e in ext.get("extension", ())}
            if parts.get("lang", {}).get("valueCode") == "en":
                return parts.get("content", {}).get("valueString")
    return None


def test_folder_is_not_empty():
    names = {p.name for p in FILES}
    assert "Questionnaire-kansrijke-start-signalering.json" in names
    assert "CodeSystem-ks-signal.json" in names
    assert "ConceptMap-ks-signal-to-snomed.json" in names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_file_parses_and_carries_metadata(path: Path):
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    parse_resource(data)
    rtype, rid = data["resourceType"], data["id"]
    assert path.name == f"{rtype}-{rid}.json"
    assert data["url"] == f"{BASE}/{rtype}/{rid}"
    assert data["version"] == "1.0.0"
    assert data["status"] == "active"
    assert data["publisher"] == "Kansrijke Start (open source)"
    assert data["language"] == "nl"
    assert data["name"][:1].isupper() and data["name"].isalnum()
    assert english(data.get("_title")), "title needs an English translation"
    assert english(data.get("_description")), "description needs an English translation"
    # pretty-printed with 2-space indent, UTF-8 characters kept as they are
    assert text == json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def test_questionnaire_url_matches_the_shared_constant():
    assert questionnaire()["url"] == QUESTIONNAIRE_SIGNALERING


def test_link_ids_are_unique_and_complete():
    ids = [item["linkId"] for item, _ in walk(questionnaire()["item"])]
    assert len(ids) == len(set(ids))
    assert set(URGENT + OTHER + CONTEXT) <= set(ids)


def test_signal_items_sit_in_their_groups_in_order():
    parents = {item["linkId"]: parent for item, parent in walk(questionnaire()["item"])}
    groups = {item["linkId"]: [c["linkId"] for c in item.get("item", [])] for item, _ in walk(questionnaire()["item"])}
    assert groups["urgent-signals"] == URGENT
    assert groups["other-signals"] == OTHER
    assert all(parents[i] == "urgent-signals" for i in URGENT)
    assert all(parents[i] == "other-signals" for i in OTHER)


def test_boolean_signals_equal_the_signal_code_system():
    items = [(i, p) for i, p in walk(questionnaire()["item"]) if p in ("urgent-signals", "other-signals")]
    assert all(i["type"] == "boolean" for i, _ in items)
    cs = code_system(CS_SIGNAL)
    codes = [c["code"] for c in cs["concept"]]
    assert sorted(i["linkId"] for i, _ in items) == sorted(codes)
    assert cs["count"] == len(codes) == 21
    urgent = {
        c["code"]
        for c in cs["concept"]
        for prop in c.get("property", [])
        if prop["code"] == "urgent" and prop["valueBoolean"] is True
    }
    assert urgent == {i["linkId"] for i, p in items if p == "urgent-signals"}
    assert all(any(p["code"] == "urgent" for p in c.get("property", [])) for c in cs["concept"])
    for item, _ in items:
        local = [c for c in item["code"] if c["system"] == CS_SIGNAL]
        assert local == [{**local[0], "code": item["linkId"], "display": item["text"]}]
        concept = next(c for c in cs["concept"] if c["code"] == item["linkId"])
        assert concept["display"] == item["text"]
        assert english(item["_text"]) in {d["value"] for d in concept["designation"] if d["language"] == "en"}


def test_every_answer_option_exists_in_its_code_system():
    value_sets = [r for r in resources().values() if r["resourceType"] == "ValueSet"]
    loinc = {
        c["code"]
        for vs in value_sets
        for inc in vs["compose"]["include"]
        if inc["system"] == LOINC
        for c in inc.get("concept", [])
    }
    checked = 0
    for item, _ in walk(questionnaire()["item"]):
        assert "answerValueSet" not in item, "answerOption only"
        for option in item.get("answerOption", []):
            coding = option["valueCoding"]
            if coding["system"] in LOCAL_SYSTEMS:
                codes = {c["code"]: c["display"] for c in code_system(coding["system"])["concept"]}
                assert codes.get(coding["code"]) == coding["display"], coding
            else:
                assert coding["system"] == LOINC and coding["code"] in loinc, coding
            checked += 1
    assert checked == 3 + 4 + 4 + 2


def test_value_sets_only_name_existing_local_codes():
    for vs in (r for r in resources().values() if r["resourceType"] == "ValueSet"):
        for include in vs["compose"]["include"]:
            if include["system"] in LOCAL_SYSTEMS:
                codes = {c["code"] for c in code_system(include["system"])["concept"]}
                assert {c["code"] for c in include.get("concept", [])} <= codes, vs["id"]


def test_every_dutch_text_has_an_english_translation():
    for item, _ in walk(questionnaire()["item"]):
        if item.get("text"):
            assert english(item.get("_text")), item["linkId"]
        for option in item.get("answerOption", []):
            assert english(option["valueCoding"].get("_display")), (item["linkId"], option)
    for cs in (r for r in resources().values() if r["resourceType"] == "CodeSystem"):
        for concept in cs["concept"]:
            assert any(d["language"] == "en" and d["value"] for d in concept.get("designation", [])), concept["code"]


def test_enable_when_refers_to_existing_items():
    items = {item["linkId"]: item for item, _ in walk(questionnaire()["item"])}
    for item in items.values():
        for condition in item.get("enableWhen", []):
            assert condition["question"] in items, (item["linkId"], condition)
            assert condition["question"] != item["linkId"]


def test_concept_map_covers_every_signal_and_the_item_codes():
    cm = resources()[("ConceptMap", "ks-signal-to-snomed")]
    signals = {c["code"] for c in code_system(CS_SIGNAL)["concept"]}
    for group in cm["group"]:
        assert group["source"] == CS_SIGNAL
        assert {e["code"] for e in group["element"]} <= signals
    snomed = next(g for g in cm["group"] if g["target"] == SNOMED)
    assert sorted(e["code"] for e in snomed["element"]) == sorted(signals)
    mapped = {(e["code"], t.get("code")) for e in snomed["element"] for t in e["target"]}
    for item, _ in walk(questionnaire()["item"]):
        for coding in item.get("code", []):
            if coding["system"] == SNOMED:
                assert (item["linkId"], coding["code"]) in mapped, (item["linkId"], coding["code"])
    for element in snomed["element"]:
        for tgt in element["target"]:
            assert ("code" in tgt) == (tgt["equivalence"] != "unmatched"), element["code"]
            assert tgt.get("comment"), element["code"]
