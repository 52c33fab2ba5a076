"""A record, in KS_DATA_DIR, of the engine's files that passed every start-up check: a restart skips the slow checks.

The Questionnaires' structural R4 check (fhir.resources: ~200 ms to import and build its models), the rule
files' JSON Schemas and the FHIRPath parse of every expression give the same answer for the same input, so
a start-up whose input is exactly that of an earlier start-up that passed them need not run them again.
The key is a SHA-256 over everything the answer depends on: every file read (name and bytes: the
Questionnaires and CodeSystems, the rule and recipients files, their schemas), the source of the code that
checks them (service/questionnaires, service/rules, service/fhir, service/errors.py), the installed
distributions (their dist-info names carry the versions of fhir.resources, pydantic, jsonschema, fhirpathpy …)
and the Python version. Anything else, e.g. a changed file, runs every check as before, so a broken file stops
start-up with the same messages; only a start-up that passed every check writes the record. Like Python's
own bytecode cache the record is an optimisation only: unreadable or unwritable, it is ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path

NAME = "engine-files-checked.json"
_SERVICE = Path(__file__).resolve().parent
_CHECKING_CODE = ("questionnaires", "rules", "fhir")  # packages of service/ whose code decides the checks


def _distributions() -> Iterable[str]:
    """The installed distributions, name and version (the environment's site-packages; not sys.path, which
    differs between `python script.py`, `python -c` and gunicorn only by the script's folder)."""
    paths = sysconfig.get_paths()
    for folder in sorted({paths["purelib"], paths["platlib"]}):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        yield from sorted(n for n in names if n.endswith((".dist-info", ".egg-info")))


def _files(questionnaires: Path, mappings: Path) -> list[Path]:
    code = [_SERVICE / "errors.py"]
    for package in _CHECKING_CODE:
        code += sorted((_SERVICE / package).glob("*.py"))
    inputs = sorted(Path(questionnaires).glob("*.json"))
    inputs += sorted((Path(mappings) / "regions").glob("*.yaml")) + sorted((Path(mappings) / "schemas").glob("*.json"))
    return code + inputs


def key(questionnaires: Path, mappings: Path) -> str | None:
    """The inputs' key; None when a file cannot be read (then every check runs, and reports it)."""
    digest = hashlib.sha256(sys.version.encode())
    for name in _distributions():
        digest.update(b"\0d" + name.encode())
    try:
        for path in _files(questionnaires, mappings):
            data = path.read_bytes()
            digest.update(b"\0f%s\0%d\0" % (str(path.resolve()).encode(), len(data)) + data)
    except OSError:
        return None
    return digest.hexdigest()


def passed(data_dir: Path, inputs_key: str | None) -> bool:
    """Whether an earlier start-up with exactly these inputs passed every check."""
    if inputs_key is None:
        return False
    try:
        record = json.loads((Path(data_dir) / NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("key") == inputs_key


def store(data_dir: Path, inputs_key: str | None) -> None:
    """Record that these inputs passed every check (atomically: several workers may start at once)."""
    if inputs_key is None:
        return
    path = Path(data_dir) / NAME
    temporary = path.with_name(f".{NAME}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as f:
            f.write(json.dumps({"key": inputs_key}))  # private like every file there (a hash: nothing secret)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
