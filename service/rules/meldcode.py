"""The steps of the KNMG Meldcode huiselijk geweld en kindermishandeling (DOMAIN.md §3.3) as data: mappings/meldcode.yaml,
next to the regional rules, checked against schemas/meldcode.schema.json at start-up like every mapping file (every
mistake as `file: /json/pointer: message`, and the service does not start)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema
import yaml

from service.errors import ConfigProblem, ConfigurationInvalid

FILE = "meldcode.yaml"
SCHEMA = "schemas/meldcode.schema.json"


class MeldcodeStep(NamedTuple):
    """One step, in Dutch and English; `id` is what a form's work records when the step is ticked."""

    id: str
    nl: str
    en: str


def load_meldcode(mappings_dir: Path) -> tuple[MeldcodeStep, ...]:
    """The steps of mappings/meldcode.yaml in their order, checked; ConfigurationInvalid with every mistake
    otherwise. (Its `version` and `title` are for people: the pages show the steps.)"""
    path = Path(mappings_dir) / FILE
    where = str(path)
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationInvalid([ConfigProblem(where, "", f"cannot read: {exc.strerror or exc}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = ConfigProblem(where, "", f"not valid YAML{at}: {getattr(exc, 'problem', exc)}")
        raise ConfigurationInvalid([problem]) from None
    schema = json.loads((Path(mappings_dir) / SCHEMA).read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    problems = [
        ConfigProblem(where, _pointer(err.absolute_path), err.message)
        for err in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if not problems:
        seen: set[str] = set()
        for i, step in enumerate(data["steps"]):
            if step["id"] in seen:
                problems.append(ConfigProblem(where, f"/steps/{i}/id", f"id {step['id']!r} is used twice"))
            seen.add(step["id"])
    if problems:
        raise ConfigurationInvalid(problems)
    return tuple(MeldcodeStep(s["id"], s["text"]["nl"], s["text"]["en"]) for s in data["steps"])


def _pointer(parts: Any) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts) if parts else ""
