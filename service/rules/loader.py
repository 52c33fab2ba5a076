"""Read the regional rule and recipient files in mappings/, check them, and build Rulesets.

Files are checked three ways at start-up: against their JSON Schema, for references (recipients,
variables, linkIds in the Questionnaire they name), and by compiling every FHIRPath expression.
Every mistake in every file is reported at once, with the file and a JSON pointer. A restart on exactly the
files (and code and libraries) of an earlier start-up that passed them all skips these checks
(`checked=True`, service/startup_record.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from service.errors import ConfigProblem, ConfigurationInvalid
from service.fhir import urls
from service.questionnaires.catalog import Catalog
from service.questionnaires.linkids import missing_link_ids
from service.texts import Text  # a data text of the YAML (its `nl` and `en`), read with Text.in_lang / pick

if TYPE_CHECKING:  # imported by _validator: a recorded start-up (service/startup_record.py) needs no schema (~25 ms)
    import jsonschema

# service.rules.fhirpath (fhirpathpy and ANTLR, ~20 ms) is imported by the checks that parse expressions, likewise.

# libyaml's loader where PyYAML has it (the same documents, several times faster), else the pure-Python one.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

log = logging.getLogger(__name__)

SCHEMA_DIR = "schemas"
INTERNAL = "internal"
# What a recipient may receive, by category (DOMAIN.md §3.1); mappings/README.md says what each one holds.
SHARES = frozenset({"identity", "language", "phase", "signals", "level", "help-question", "consent"})


DEPRECATED_HINT = {
    "answers": "%resource.repeat(item).where(linkId = 'X').answer.value",
    "ticked": "%resource.repeat(item).where(linkId = 'G').item.where(answer.value = true).linkId",
}


@dataclass(frozen=True, kw_only=True)
class Recipient:
    id: str
    referral: str
    name: Text
    consent: str  # "required" | "inform"
    destination: str  # "internal", or the name of an external destination (service/referrals/destinations.py)
    shares: frozenset[str] = SHARES  # what the recipient receives (DOMAIN.md §3.1); see mappings/README.md
    organization: dict[str, Any] | None = None
    role: dict[str, Any] | None = None
    scope: str | None = None  # the recipient file's `contact` is for the people who keep it: not read here
    # Working days (Monday to Friday) within which the recipient answers a referral, by its priority (mappings/README.md).
    response: tuple[tuple[str, int], ...] = ()

    @property
    def needs_consent(self) -> bool:
        return self.consent == "required"

    @property
    def organization_identifier(self) -> dict[str, Any] | None:
        """The receiving organisation's identifier, its system in the URI form (an OID form is accepted on input)."""
        if not self.organization:
            return None
        ident = self.organization["identifier"]
        return {"system": urls.uri_system(ident["system"]), "value": ident["value"]}

    @property
    def internal(self) -> bool:
        """Referrals to this recipient stay in the practice (POH Jeugd, the GP's own consultation)."""
        return self.destination == INTERNAL


@dataclass(frozen=True, kw_only=True)
class LevelRule:
    level: str
    when: str | None
    because: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class SafetyRule:
    id: str
    panel: str
    when: str
    because: tuple[str, ...]
    message: Text


@dataclass(frozen=True, kw_only=True)
class Rule:
    id: str
    description: Text
    alone: Text | None = None  # the description when the rule's recipient is the only one ("ook de POH Jeugd")
    when: str
    recipient: str | None
    priority: tuple[tuple[str | None, str], ...]
    because: tuple[str, ...]
    advice: Text | None


@dataclass(frozen=True, kw_only=True)
class Ruleset:
    id: str
    version: str
    title: str
    questionnaire: str
    source: str
    recipients_source: str  # the recipients file, as errors name it
    parameters: dict[str, Any] = field(hash=False)
    variables: tuple[tuple[str, str], ...]
    levels: tuple[LevelRule, ...]
    safety: tuple[SafetyRule, ...]
    rules: tuple[Rule, ...]
    recipients: dict[str, Recipient] = field(hash=False)

    @property
    def label(self) -> str:
        return f"{self.id}|{self.version}"

    def expressions(self) -> list[tuple[str, str]]:
        """Every FHIRPath expression of the rule set with its JSON pointer in the file, in file order."""
        out = [(f"/variables/{name}", expression) for name, expression in self.variables]
        out += [(f"/levels/{i}/when", lv.when) for i, lv in enumerate(self.levels) if lv.when is not None]
        out += [(f"/safety/{i}/when", s.when) for i, s in enumerate(self.safety)]
        for i, rule in enumerate(self.rules):
            out.append((f"/rules/{i}/when", rule.when))
            out += [
                (f"/rules/{i}/priority/{j}/when", when) for j, (when, _) in enumerate(rule.priority) if when is not None
            ]
        return out


@cache
def _validator(folder: str, name: str) -> jsonschema.Draft202012Validator:
    import jsonschema  # here, not at import: ~25 ms

    schema = json.loads((Path(folder) / SCHEMA_DIR / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _pointer(parts: Any) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts) if parts else ""


def _read_yaml(path: Path, problems: list[ConfigProblem]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(ConfigProblem(str(path), "", f"cannot read: {exc.strerror}"))
        return None
    try:
        return yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError:
        pass
    try:  # the pure-Python loader once more, for its message and position (libyaml words some differently)
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problems.append(ConfigProblem(str(path), "", f"not valid YAML{where}: {getattr(exc, 'problem', exc)}"))
    return None


def _schema_problems(data: Any, folder: Path, schema: str, path: Path) -> list[ConfigProblem]:
    validator = _validator(str(folder), schema)
    return [
        ConfigProblem(str(path), _pointer(err.absolute_path), _schema_message(err))
        for err in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    ]


def _schema_message(err: jsonschema.ValidationError) -> str:
    """jsonschema's message, or the value and the `errorMessage` of the subschema it breaks, where the schema has
    one (jsonschema's own words for a `not` quote the subschema, which says little to whoever edits the file)."""
    hint = err.schema.get("errorMessage") if isinstance(err.schema, dict) else None
    return f"{err.instance!r} {hint}" if isinstance(hint, str) else err.message


def _text(d: Mapping[str, str]) -> Text:
    return Text(nl=d["nl"], en=d["en"])


def _optional_text(d: Mapping[str, str] | None) -> Text | None:
    return _text(d) if d else None


def load_ruleset(path: Path, catalog: Catalog | None = None) -> Ruleset:
    """Load one *.rules.yaml and its recipients file; raise ConfigurationInvalid with every problem."""
    problems: list[ConfigProblem] = []
    ruleset = _load(Path(path), catalog, problems)
    if problems or ruleset is None:
        raise ConfigurationInvalid(problems)
    return ruleset


def load_rulesets(folder: Path, catalog: Catalog | None = None, *, checked: bool = False) -> dict[str, Ruleset]:
    """Every mappings/regions/*.rules.yaml, by ruleset id; all problems of all files at once.

    `checked=True` leaves out the schemas, the references and the FHIRPath parse (compiled then on first use)
    and warns only of deprecated functions: only for files known to pass every check (service/startup_record.py).
    """
    folder = Path(folder)
    problems: list[ConfigProblem] = []
    rulesets: dict[str, Ruleset] = {}
    files = sorted((folder / "regions").glob("*.rules.yaml"))
    if not files:
        problems.append(ConfigProblem(str(folder / "regions"), "", "no *.rules.yaml files found"))
    for path in files:
        ruleset = _load(path, catalog, problems, checked=checked)
        if ruleset is None:
            continue
        if ruleset.id in rulesets:
            problems.append(ConfigProblem(str(path), "/id", f"rule set id {ruleset.id!r} is used by another file too"))
        rulesets[ruleset.id] = ruleset
    if problems:
        raise ConfigurationInvalid(problems)
    return rulesets


def _load(
    path: Path, catalog: Catalog | None, problems: list[ConfigProblem], *, checked: bool = False
) -> Ruleset | None:
    """One rule set: its files against their schemas, then the references and expressions, then the Ruleset.

    A rule file that does not match its schema is not checked further (its references only make sense in a file
    that does); one that does is checked in full even when its recipients file has mistakes, all but the
    recipients its rules name, so that every mistake of both files is reported at once."""
    files = _read_checked(path, problems, schemas=not checked)
    if files is None:
        return None
    data, recipients_data = files
    check = _Checks(str(path), data, problems)
    if recipients_data is None:  # its mistakes are reported: the rule file's own checks all the same
        if not checked:
            check.all(catalog, None)
        return None
    recipients = _recipients(recipients_data)
    ruleset = _ruleset(path, data, recipients)
    if checked:
        check.deprecated_only(ruleset)
    else:
        _duplicate_recipients(ruleset.recipients_source, recipients_data, problems)
        check.all(catalog, recipients)
    check.warn_deprecated()
    return ruleset


def _duplicate_recipients(file: str, recipients_data: dict[str, Any], problems: list[ConfigProblem]) -> None:
    """A recipient id a second time, named at the second one."""
    seen: set[str] = set()
    for i, recipient in enumerate(recipients_data["recipients"]):
        if recipient["id"] in seen:
            problems.append(
                ConfigProblem(file, f"/recipients/{i}/id", f"recipient id {recipient['id']!r} is used twice")
            )
        seen.add(recipient["id"])


def _read_checked(
    path: Path, problems: list[ConfigProblem], *, schemas: bool = True
) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """The rule file and its recipients file, each checked against its schema: None when the rule file has a
    problem; the recipients None when they have one (both files' problems are in `problems` either way)."""
    folder = path.parent.parent
    start = len(problems)
    data = _read_yaml_or_empty(path, problems)
    if data is None:
        return None
    if schemas:
        problems.extend(_schema_problems(data, folder, "ruleset.schema.json", path))
    rule_file_ok = len(problems) == start and isinstance(data, dict)
    recipients_data = None
    if isinstance(data, dict) and isinstance(data.get("recipients"), str):
        rpath = path.parent / data["recipients"]
        start = len(problems)
        recipients_data = _read_yaml_or_empty(rpath, problems)
        if recipients_data is not None and schemas:
            problems.extend(_schema_problems(recipients_data, folder, "recipients.schema.json", rpath))
        if len(problems) > start or not isinstance(recipients_data, dict):
            recipients_data = None
    if not rule_file_ok:
        return None
    return data, recipients_data


def _read_yaml_or_empty(path: Path, problems: list[ConfigProblem]) -> Any:
    """The file's YAML; None after a problem, "the file is empty" among them when it holds no document."""
    start = len(problems)
    data = _read_yaml(path, problems)
    if data is None and len(problems) == start:
        problems.append(ConfigProblem(str(path), "", "the file is empty"))
    return data


def _recipients(recipients_data: dict[str, Any]) -> dict[str, Recipient]:
    return {
        r["id"]: Recipient(
            id=r["id"],
            referral=r["referral"],
            name=_text(r["name"]),
            consent=r["consent"],
            destination=r["destination"],
            shares=frozenset(r.get("shares", SHARES)),
            organization=r.get("organization"),
            role=r.get("role"),
            scope=r.get("scope"),
            response=tuple((priority, int(days)) for priority, days in (r.get("response") or {}).items()),
        )
        for r in recipients_data["recipients"]
    }


class _Checks:
    """The checks of one schema-valid rule file beyond its schema, each mistake appended to `problems`."""

    def __init__(self, file: str, data: dict[str, Any], problems: list[ConfigProblem]) -> None:
        self.file, self.data, self.problems = file, data, problems
        self.known_ids: set[str] | None = None  # the Questionnaire's linkIds, when there is a catalog
        self.defined: set[str] = set()  # the names an expression may use (variables() starts it)
        self.deprecated: dict[str, list[str]] = {}

    def problem(self, pointer: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.file, pointer, message))

    def all(self, catalog: Catalog | None, recipients: Mapping[str, Recipient] | None) -> None:
        """Every check, in file order; the recipients the rules name only when `recipients` are known."""
        self.questionnaire(catalog)
        self.variables()
        self.levels()
        self.safety_and_rules(recipients)

    def questionnaire(self, catalog: Catalog | None) -> None:
        """The Questionnaire the file names is in the catalog and has the items the service itself reads."""
        name = self.data["questionnaire"]
        qdef = catalog.find(name) if catalog is not None else None
        if catalog is not None and qdef is None:
            self.problem("/questionnaire", f"no Questionnaire {name!r} in questionnaires/")
        if qdef is None:
            return
        self.known_ids = set(qdef.items)
        for link_id in missing_link_ids(qdef.items):
            self.problem(
                "/questionnaire",
                f"{name} has no item {link_id!r}, which the service itself reads (service/questionnaires/linkids.py)",
            )

    def expression(self, pointer: str, expression: str | None) -> None:
        from service.rules.fhirpath import deprecated_used, link_ids_used, prepare, variables_used

        if expression is None:
            return
        try:
            prepare(expression)  # checked, and compiled as the fast path evaluates it
        except ValueError as exc:
            self.problem(pointer, str(exc))
        for name in sorted(variables_used(expression) - self.defined):
            self.problem(pointer, f"%{name} is not a parameter, variable or built-in")
        for name in sorted(deprecated_used(expression)):
            self.deprecated.setdefault(name, []).append(pointer)
        if self.known_ids is not None:
            for link_id in sorted(link_ids_used(expression) - self.known_ids):
                self.problem(pointer, f"linkId {link_id!r} is not in {self.data['questionnaire']}")

    def because(self, pointer: str, because: list[str] | None) -> None:
        if self.known_ids is None:
            return
        for i, link_id in enumerate(because or ()):
            if link_id not in self.known_ids:
                self.problem(f"{pointer}/{i}", f"linkId {link_id!r} is not in {self.data['questionnaire']}")

    def variables(self) -> None:
        """Each variable may use the ones before it."""
        from service.rules.fhirpath import BUILTIN_VARIABLES

        self.defined = set(BUILTIN_VARIABLES) | set(self.data.get("parameters", {}))
        for name, expression in self.data.get("variables", {}).items():
            self.expression(f"/variables/{name}", expression)
            self.defined.add(name)

    def levels(self) -> None:
        levels = self.data["levels"]
        for i, level in enumerate(levels):
            self.expression(f"/levels/{i}/when", level.get("when"))
            self.because(f"/levels/{i}/because", level.get("because"))
        if "when" in levels[-1]:
            self.problem(f"/levels/{len(levels) - 1}", "the last level is the default and has no 'when'")

    def safety_and_rules(self, recipients: Mapping[str, Recipient] | None) -> None:
        """The safety rules, then the rules (their ids unique across both; their recipients when known)."""
        seen_ids: set[str] = set()
        for i, rule in enumerate(self.data.get("safety", [])):
            self.expression(f"/safety/{i}/when", rule["when"])
            self.because(f"/safety/{i}/because", rule.get("because"))
            if rule["id"] in seen_ids:
                self.problem(f"/safety/{i}/id", f"id {rule['id']!r} is used twice")
            seen_ids.add(rule["id"])
        for i, rule in enumerate(self.data["rules"]):
            self.expression(f"/rules/{i}/when", rule["when"])
            self.because(f"/rules/{i}/because", rule.get("because"))
            for j, prio in enumerate(rule.get("priority", [])):
                self.expression(f"/rules/{i}/priority/{j}/when", prio.get("when"))
            if rule["id"] in seen_ids:
                self.problem(f"/rules/{i}/id", f"id {rule['id']!r} is used twice")
            seen_ids.add(rule["id"])
            if recipients is not None and "recipient" in rule and rule["recipient"] not in recipients:
                self.problem(
                    f"/rules/{i}/recipient", f"recipient {rule['recipient']!r} is not in {self.data['recipients']}"
                )
            if rule.get("priority") and "when" in rule["priority"][-1]:
                last = f"/rules/{i}/priority/{len(rule['priority']) - 1}"
                self.problem(last, "the last priority is the default and has no 'when'")

    def deprecated_only(self, ruleset: Ruleset) -> None:
        """Of the expression checks, only the one for deprecated functions (in the order the full checks go)."""
        for pointer, expression in ruleset.expressions():
            if any(name in expression for name in DEPRECATED_HINT):  # a call needs the name's letters
                from service.rules.fhirpath import deprecated_used

                for name in sorted(deprecated_used(expression)):
                    self.deprecated.setdefault(name, []).append(pointer)

    def warn_deprecated(self) -> None:
        for name, pointers in sorted(self.deprecated.items()):
            log.warning(
                "%s: %s() is deprecated, an alias kept for one rule-set version after 2026.1 (mappings/README.md): "
                "write standard FHIRPath, %s (at %s)",
                self.file,
                name,
                DEPRECATED_HINT[name],
                ", ".join(pointers),
            )


def _ruleset(path: Path, data: dict[str, Any], recipients: dict[str, Recipient]) -> Ruleset:
    return Ruleset(
        id=data["id"],
        version=str(data["version"]),
        title=data["title"],
        questionnaire=data["questionnaire"],
        source=path.name,
        recipients_source=str(path.parent / data["recipients"]),
        parameters=dict(data.get("parameters", {})),
        variables=tuple(data.get("variables", {}).items()),
        levels=tuple(
            LevelRule(level=lv["level"], when=lv.get("when"), because=tuple(lv.get("because", ())))
            for lv in data["levels"]
        ),
        safety=tuple(
            SafetyRule(
                id=s["id"],
                panel=s["panel"],
                when=s["when"],
                because=tuple(s.get("because", ())),
                message=_text(s["message"]),
            )
            for s in data.get("safety", [])
        ),
        rules=tuple(
            Rule(
                id=r["id"],
                description=_text(r["description"]),
                alone=_optional_text(r.get("alone")),
                when=r["when"],
                recipient=r.get("recipient"),
                priority=tuple((p.get("when"), p["value"]) for p in r.get("priority", ())),
                because=tuple(r.get("because", ())),
                advice=_optional_text(r.get("advice")),
            )
            for r in data["rules"]
        ),
        recipients=recipients,
    )
