"""Load and check the Questionnaires and CodeSystems in questionnaires/ at start-up; look them up."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.errors import ConfigProblem, ConfigurationInvalid
from service.fhir import models
from service.fhir.urls import TRANSLATION

# R4 item type -> the answer value[x] it takes (https://hl7.org/fhir/R4/valueset-item-type.html).
ANSWER_TYPES = {
    "boolean": "valueBoolean",
    "decimal": "valueDecimal",
    "integer": "valueInteger",
    "date": "valueDate",
    "dateTime": "valueDateTime",
    "time": "valueTime",
    "string": "valueString",
    "text": "valueString",
    "url": "valueUri",
    "choice": "valueCoding",
    "open-choice": "valueCoding",
    "attachment": "valueAttachment",
    "reference": "valueReference",
    "quantity": "valueQuantity",
}


def english(element: dict[str, Any] | None) -> str | None:
    """The English translation of a primitive, from its `_x` sibling's translation extension."""
    for ext in (element or {}).get("extension", ()):
        if ext.get("url") != TRANSLATION:
            continue
        parts = {e.get("url"): e for e in ext.get("extension", ())}
        if parts.get("lang", {}).get("valueCode", "").startswith("en"):
            content = parts.get("content", {}).get("valueString")
            return content if isinstance(content, str) else None
    return None


@dataclass(frozen=True, kw_only=True)
class ItemDef:
    """One Questionnaire item, flattened, with what validation and rendering need."""

    link_id: str
    type: str
    text: str
    text_en: str | None
    parent: str | None
    path: tuple[str, ...]
    required: bool
    repeats: bool
    max_length: int | None
    enable_when: tuple[dict[str, Any], ...]
    enable_behavior: str
    options: tuple[dict[str, Any], ...]  # answerOption valueCoding dicts (with display_en)
    codes: tuple[dict[str, Any], ...]
    children: tuple[str, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def answer_key(self) -> str | None:
        return ANSWER_TYPES.get(self.type)

    def option(self, system: str | None, code: str | None) -> dict[str, Any] | None:
        for opt in self.options:
            if opt.get("code") == code and (system is None or opt.get("system") == system):
                return opt
        return None


@dataclass(frozen=True, kw_only=True)
class QuestionnaireDef:
    """A Questionnaire with its items indexed by linkId."""

    id: str
    url: str
    version: str
    resource: dict[str, Any] = field(repr=False)
    items: dict[str, ItemDef] = field(repr=False)
    top: tuple[str, ...]
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)  # group linkId -> descendants

    def __post_init__(self) -> None:
        def below(link_id: str) -> tuple[str, ...]:
            out: list[str] = []
            for child in self.items[link_id].children:
                out.append(child)
                out.extend(below(child))
            return tuple(out)

        self.groups.update({lid: below(lid) for lid, item in self.items.items() if item.type == "group"})

    @property
    def canonical(self) -> str:
        return f"{self.url}|{self.version}"

    def descendants(self, link_id: str) -> tuple[str, ...]:
        """The linkIds below an item (depth first), not including it."""
        return self.groups.get(link_id, ())


def _index_items(
    items: list[dict[str, Any]], parent: str | None, path: tuple[str, ...], into: dict[str, Any]
) -> tuple[str, ...]:
    ids = []
    for item in items:
        link_id = item["linkId"]
        options = []
        for opt in item.get("answerOption", ()):
            coding = dict(opt.get("valueCoding") or {})
            if coding:
                coding["display_en"] = english(opt["valueCoding"].get("_display"))
                coding.pop("_display", None)
                options.append(coding)
        children = _index_items(item.get("item", []), link_id, path + (link_id,), into)
        into[link_id] = ItemDef(
            link_id=link_id,
            type=item["type"],
            text=item.get("text", ""),
            text_en=english(item.get("_text")),
            parent=parent,
            path=path + (link_id,),
            required=bool(item.get("required", False)),
            repeats=bool(item.get("repeats", False)),
            max_length=item.get("maxLength"),
            enable_when=tuple(item.get("enableWhen", ())),
            enable_behavior=item.get("enableBehavior", "all"),
            options=tuple(options),
            codes=tuple(item.get("code", ())),
            children=children,
            raw=item,
        )
        ids.append(link_id)
    return tuple(ids)


@dataclass
class Catalog:
    """Every Questionnaire and CodeSystem of questionnaires/, loaded once."""

    questionnaires: dict[str, QuestionnaireDef] = field(default_factory=dict)  # by canonical url|version
    code_systems: dict[str, dict[str, Any]] = field(default_factory=dict)  # by url
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (type, id) -> resource

    def find(self, canonical: str | None) -> QuestionnaireDef | None:
        """Resolve `url|version` or a bare `url` (then the highest version)."""
        if not canonical:
            return None
        if canonical in self.questionnaires:
            return self.questionnaires[canonical]
        candidates = [q for q in self.questionnaires.values() if q.url == canonical]
        if not candidates:
            return None
        return max(candidates, key=lambda q: tuple(int(p) if p.isdigit() else 0 for p in q.version.split(".")))

    def display(self, system: str, code: str) -> tuple[str, str | None]:
        """Dutch display and English designation of a code in one of our CodeSystems."""
        for concept in self.code_systems.get(system, {}).get("concept", ()):
            if concept.get("code") == code:
                en = next(
                    (
                        d.get("value")
                        for d in concept.get("designation", ())
                        if str(d.get("language", "")).startswith("en")
                    ),
                    None,
                )
                return concept.get("display", code), en
        return code, None

    def concept_property(self, system: str, code: str, name: str) -> Any:
        for concept in self.code_systems.get(system, {}).get("concept", ()):
            if concept.get("code") == code:
                for prop in concept.get("property", ()):
                    if prop.get("code") == name:
                        return next((v for k, v in prop.items() if k.startswith("value")), None)
        return None

    def by_type(self, resource_type: str) -> list[dict[str, Any]]:
        return [r for (t, _), r in sorted(self.resources.items()) if t == resource_type]


def load_catalog(folder: Path, *, structural: bool = True) -> Catalog:
    """Read every *.json in the folder, check it as its FHIR model, index it; all mistakes at once.

    `structural=False` leaves out the check as its FHIR model (fhir.resources, ~200 ms at start-up): only for
    files known to pass it (service/startup_record.py)."""
    catalog = Catalog()
    problems: list[ConfigProblem] = []
    for path in sorted(Path(folder).glob("*.json")):
        name = str(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(ConfigProblem(name, "", f"not readable JSON: {exc}"))
            continue
        for issue in models.validation_issues(data) if structural else ():
            pointer = (
                "/" + issue.expression[0].split(".", 1)[-1].replace(".", "/").replace("[", "/").replace("]", "")
                if issue.expression
                else ""
            )
            problems.append(ConfigProblem(name, pointer, issue.text))
        rtype, rid = data.get("resourceType"), data.get("id")
        catalog.resources[(rtype, rid)] = data
        if rtype == "CodeSystem":
            catalog.code_systems[data["url"]] = data
        elif rtype == "Questionnaire":
            items: dict[str, ItemDef] = {}
            try:
                top = _index_items(data.get("item", []), None, (), items)
            except (KeyError, TypeError) as exc:
                problems.append(ConfigProblem(name, "/item", f"item without {exc}"))
                continue
            qdef = QuestionnaireDef(
                id=rid, url=data.get("url", ""), version=data.get("version", ""), resource=data, items=items, top=top
            )
            if not qdef.url or not qdef.version:
                problems.append(ConfigProblem(name, "/url", "a Questionnaire needs a canonical url and a version"))
            catalog.questionnaires[qdef.canonical] = qdef
    if problems:
        raise ConfigurationInvalid(problems)
    return catalog
