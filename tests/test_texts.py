"""The one text catalogue (service/texts.py): every key in Dutch and English with the same placeholders, every key
used, every key used exists, and no inline language switch back in the modules and templates that use it."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from service.errors import Issue, NotFound
from service.texts import CATALOGUE, Text, bilingual, language, other_language, pick, text, texts

SERVICE = Path(__file__).resolve().parents[1] / "service"
TEMPLATES = SERVICE / "templates"
STATIC = SERVICE / "static"

# The modules whose texts come from the catalogue (the engine's data texts, from the YAML and the Questionnaire,
# with pick / Text.in_lang). Not yet: referrals/bundle.py.
MIGRATED = sorted(
    {
        *SERVICE.glob("web/*.py"),
        *SERVICE.glob("smart/*.py"),
        *SERVICE.glob("api/*.py"),
        *SERVICE.glob("sandbox/*.py"),
        *SERVICE.glob("ehr/*.py"),
        *SERVICE.glob("fhir/*.py"),
        SERVICE / "questionnaires" / "form.py",
        SERVICE / "questionnaires" / "populate.py",
        SERVICE / "questionnaires" / "validate.py",
        SERVICE / "rules" / "loader.py",
        SERVICE / "errors.py",
        SERVICE / "errors_render.py",
        SERVICE / "cli.py",
        *(
            SERVICE / "referrals" / f"{name}.py"
            for name in ("submit", "status", "withdraw", "destinations", "pipeline", "explain")
        ),
    }
)
# An inline switch on the language: `lang == "en"`, `"en" if …`, `… if nl else …`, `x["en"]`, the old helpers.
SWITCH = re.compile(
    r"""lang(uage)?\s*[!=]=\s*["']en["']|["']en["']\s*[!=]=\s*\w*lang|["']en["']\s+if\b|\bif\s+nl\b"""
    r"""|\bdef\s+_t\b|\btext_in\b|english\s+if\b"""
)
TEMPLATE_SWITCH = re.compile(r"""\bT\(|ui_lang\s*[!=]=|lang\s*[!=]=\s*['"]en['"]|['"]en['"]\s+if\b""")


def placeholders(template: str) -> set[str]:
    return {
        name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name is not None
    }


def _python_literals() -> set[str]:
    """Every string constant in service/ outside the catalogue's own module."""
    found: set[str] = set()
    for path in SERVICE.rglob("*.py"):
        if path.name == "texts.py" and path.parent == SERVICE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


def _template_literals() -> set[str]:
    found: set[str] = set()
    for path in TEMPLATES.rglob("*.html"):
        found.update(
            m[1] for m in re.finditer(r"""['"]([a-z][\w-]*(?:\.[\w-]+)+)['"]""", path.read_text(encoding="utf-8"))
        )
    return found


def _called_keys() -> set[str]:
    """The literal keys passed to text()/texts()/bilingual() in service/ and to t()/both() in the templates."""
    keys: set[str] = set()
    for path in SERVICE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("text", "texts", "bilingual")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                keys.add(node.args[0].value)
    for path in TEMPLATES.rglob("*.html"):
        keys.update(re.findall(r"""\b(?:t|both)\(\s*'([^']+)'""", path.read_text(encoding="utf-8")))
    return keys


def test_every_key_has_a_dutch_and_an_english_text():
    assert len(CATALOGUE) > 100
    for key, value in CATALOGUE.items():
        assert re.fullmatch(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*", key), key
        assert isinstance(value, tuple) and len(value) == 2, key
        nl, en = value
        assert isinstance(nl, str) and nl.strip(), f"{key}: no Dutch text"
        assert isinstance(en, str) and en.strip(), f"{key}: no English text"


def test_no_key_is_written_twice():
    """A dict literal keeps the last of two equal keys without a word: the catalogue must not have any."""
    tree = ast.parse((SERVICE / "texts.py").read_text(encoding="utf-8"))
    literal = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "CATALOGUE"
    )
    assert isinstance(literal, ast.Dict)
    keys = [k.value for k in literal.keys if isinstance(k, ast.Constant)]
    assert len(keys) == len(literal.keys) == len(CATALOGUE)
    assert sorted({k for k in keys if keys.count(k) > 1}) == []


def test_the_two_languages_have_the_same_placeholders():
    for key, (nl, en) in CATALOGUE.items():
        assert placeholders(nl) == placeholders(en), (
            f"{key}: {placeholders(nl)} in Dutch, {placeholders(en)} in English"
        )


def test_every_key_is_used():
    used = _python_literals() | _template_literals()
    unused = sorted(key for key in CATALOGUE if key not in used)
    assert not unused, f"keys no module or template uses: {unused}"


def test_every_key_asked_for_is_in_the_catalogue():
    missing = sorted(_called_keys() - set(CATALOGUE))
    assert not missing, f"keys asked for that the catalogue does not have: {missing}"


def test_the_key_tables_of_the_modules_name_catalogue_keys():
    from service.cli import STATE_TEXT as CLI_STATES
    from service.errors_render import ERROR_TEXT, HTTP_TEXT
    from service.referrals.explain import LEVEL_KEY, PRIORITY_KEY
    from service.referrals.status import TASK_STATUS_TEXT
    from service.smart.oauth import OAUTH_ERRORS
    from service.web.panel import CONSENT_METHOD_TEXT, SHARE_ORDER, SHARE_TEXT, STATE_TEXT

    keys = [
        *CLI_STATES.values(),
        *(k for pair in ERROR_TEXT.values() for k in pair),
        *(k for _, k in HTTP_TEXT.values()),
        *TASK_STATUS_TEXT.values(),
        *OAUTH_ERRORS.values(),
        *CONSENT_METHOD_TEXT.values(),
        *SHARE_TEXT.values(),
        *STATE_TEXT.values(),
        *LEVEL_KEY.values(),
        *PRIORITY_KEY.values(),
    ]
    assert [k for k in keys if k not in CATALOGUE] == []
    assert set(SHARE_TEXT) == set(SHARE_ORDER)


@pytest.mark.parametrize("path", MIGRATED, ids=lambda p: str(p.relative_to(SERVICE)))
def test_no_inline_language_switch_in_the_migrated_modules(path):
    lines = [
        f"{path.name}:{n}: {line.strip()}"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if SWITCH.search(line)
    ]
    assert not lines, "texts come from service/texts.py (text, texts, pick), not from a switch:\n" + "\n".join(lines)


@pytest.mark.parametrize("path", MIGRATED, ids=lambda p: str(p.relative_to(SERVICE)))
def test_no_english_written_out_in_the_migrated_modules(path):
    """An English text goes into the catalogue with its Dutch one, not into a call's `english=`."""
    lines = [
        f"{path.name}:{n}: {line.strip()}"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"""\benglish\s*=\s*f?["'](?!\{)""", line)
    ]
    assert not lines, "\n".join(lines)


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_no_inline_language_switch_in_the_templates(path):
    lines = [
        f"{path.name}:{n}: {line.strip()}"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if TEMPLATE_SWITCH.search(line)
    ]
    assert not lines, "templates take their texts from t('key') (service/texts.py):\n" + "\n".join(lines)


def test_no_language_switch_in_the_script():
    assert "lang ===" not in (STATIC / "app.js").read_text(encoding="utf-8")  # its texts come from data-* attributes


def test_the_switch_patterns_catch_what_they_are_for():
    for line in (
        'x = en if lang == "en" else nl',
        '"stateText": STATE_TEXT["en" if lang == "en" else "nl"]',
        "a if nl else b",
    ):
        assert SWITCH.search(line), line
    assert TEMPLATE_SWITCH.search("{{ T('Ja', 'Yes') }}") and TEMPLATE_SWITCH.search("{{ 'a' if ui_lang == 'en' }}")
    assert not SWITCH.search('text("api.valid", lang)') and not TEMPLATE_SWITCH.search("{{ t('meldcode.yes') }}")


def test_text_fills_in_and_defaults_to_dutch():
    assert text("api.not_found", reference="Questionnaire/x") == "Questionnaire/x bestaat niet."
    assert text("api.not_found", "en", reference="Questionnaire/x") == "Questionnaire/x does not exist."
    assert text("api.not_found", "de", reference="Q/x") == text("api.not_found", None, reference="Q/x")
    assert text("api.json.wrong_type", "en", expected="Patient", got="Task") == "Expected Patient, got 'Task'."
    assert texts("http.404") == Text("Niet gevonden.", "Not found.") == ("Niet gevonden.", "Not found.")
    assert bilingual("cli.state.queued") == "in de wachtrij / queued"
    assert text("api.json.duplicate_key", key="id").count("'id'") == 1  # `key` and `lang` may be placeholders
    assert language("en") == "en" and language("nl") == language("fr") == language(None) == "nl"
    assert other_language("en") == "nl" and other_language("nl") == other_language(None) == "en"


def test_pick_takes_english_data_texts_only_when_there_are_some():
    assert pick("en", "Zwanger", "Pregnant") == "Pregnant"
    assert pick("en", "Zwanger", None) == pick("en", "Zwanger", "") == pick("nl", "Zwanger", "Pregnant") == "Zwanger"
    assert Text("a", "b").in_lang("en") == "b" and Text("a", "").in_lang("en") == "a"


def test_a_text_value_fills_in_each_language_with_its_own_side():
    label = Text("Uitgerekende datum", "Due date")
    assert texts("form.error.fill_in", label=label) == ("Vul ‘Uitgerekende datum’ in.", "Fill in 'Due date'.")
    assert text("populate.teenage", "en", when=texts("populate.now"), age=17, below=20).startswith(
        "The patient is 17 now"
    )


def test_an_error_carries_both_texts_of_its_key():
    outcome = NotFound(texts("api.not_found", reference="Task/1")).to_operation_outcome("en")
    issue = outcome["issue"][0]
    assert issue["diagnostics"] == "Task/1 bestaat niet." and issue["details"]["text"] == "Task/1 does not exist."
    info = Issue.of(texts("api.valid"), severity="information", code="informational").to_fhir()
    assert info["details"]["text"] == info["diagnostics"] == "Geen problemen gevonden."


def test_both_languages_show_the_same_values():
    assert texts("validate.invalid_value", link_id="due-date", key="valueDate") == (
        "Ongeldige valueDate voor 'due-date'.",
        "Invalid valueDate for 'due-date'.",
    )
    assert text("validate.unknown_questionnaire", "en", canonical="x|1", known="a, b") == (
        "Unknown questionnaire 'x|1': this service knows only a, b."
    )


def test_every_level_and_priority_a_rule_set_may_name_has_its_texts():
    import json

    from service.referrals.explain import LEVEL_KEY, LEVEL_TEXT, PRIORITY_KEY, PRIORITY_TEXT

    schema = json.loads((SERVICE / "data" / "mappings" / "schemas" / "ruleset.schema.json").read_text())
    levels = schema["properties"]["levels"]["items"]["properties"]["level"]["enum"]
    priorities = schema["properties"]["rules"]["items"]["properties"]["priority"]["items"]["properties"]["value"]
    assert set(LEVEL_KEY) == set(levels) and set(PRIORITY_KEY) == set(priorities["enum"])
    assert LEVEL_TEXT["en"]["urgent"] == "urgently vulnerable" and PRIORITY_TEXT["nl"]["routine"] == "regulier"


DATA = SERVICE / "data"


def _questionnaire_english() -> list[str]:
    """Every English translation (the `_text` translation extensions) in the Questionnaire and its CodeSystems."""
    import json

    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if str(node.get("url", "")).endswith("/translation"):
                parts = {e.get("url"): e.get("valueString", e.get("valueCode")) for e in node.get("extension", ())}
                if parts.get("lang") == "en" and parts.get("content"):
                    found.append(str(parts["content"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in (DATA / "questionnaires").glob("*.json"):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return found


def test_english_texts_use_one_quote_style():
    """Straight quotes in English (what most English texts use); the Dutch keep their typographic ‘ ’."""
    english = [en for _, en in CATALOGUE.values()] + _questionnaire_english()
    assert len(english) > len(CATALOGUE)
    assert [en for en in english if re.search("[‘’“”]", en)] == []


def test_the_names_of_organisations_and_signals_are_right():
    """The body is the Raad voor de Kinderbescherming; the English signal is "Homeless" (DOMAIN.md §1.2)."""
    files = [*(DATA / "questionnaires").glob("*.json"), *(DATA / "mappings").rglob("*.yaml")]
    everything = "\n".join(p.read_text(encoding="utf-8") for p in files)
    everything += "\n".join(f"{nl}\n{en}" for nl, en in CATALOGUE.values())
    assert "raad van kinderbescherming" not in everything.lower()
    assert "Betrokkenheid Raad voor de Kinderbescherming in anamnese" in everything
    assert "roofless" not in everything and '"Homeless"' in everything
