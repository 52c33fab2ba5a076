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

The files the package ships (service/data) need no first start-up either: service/data/checked.json, committed
with them, names each one's SHA-256, the checking code's and the libraries' versions (the checks' libraries and
what they require, and Python's major.minor) of a run of every check that passed: only
`python -m service.startup_record --write-manifest` writes it, and only after running every check on those files
(tests/test_startup_record.py fails, naming that command, when it is stale). A start-up with the package's own
folders holding exactly those files, with that code and those libraries, skips the slow checks at once
(`shipped`); anything else (an edited file, one added, another version of a library) runs every check.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from service.config import PACKAGE_DATA

NAME = "engine-files-checked.json"
_SERVICE = Path(__file__).resolve().parent
_CHECKING_CODE = ("questionnaires", "rules", "fhir")  # packages of service/ whose code decides the checks
MANIFEST = PACKAGE_DATA / "checked.json"
# The libraries the slow checks run on (the R4 models, the JSON Schemas, the FHIRPath parser, the YAML they read);
# the manifest names these and, transitively, what they require.
CHECKING_LIBRARIES = ("fhir.resources", "jsonschema", "fhirpathpy", "PyYAML")
WRITE_COMMAND = ".venv/bin/python -m service.startup_record --write-manifest"


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


def _code() -> list[Path]:
    """The code that decides the checks."""
    code = [_SERVICE / "errors.py"]
    for package in _CHECKING_CODE:
        code += sorted((_SERVICE / package).glob("*.py"))
    return code


def _inputs(questionnaires: Path, mappings: Path) -> list[Path]:
    """Every file the checks read: the Questionnaires and CodeSystems, the rule and recipients files, their schemas."""
    inputs = sorted(Path(questionnaires).glob("*.json"))
    inputs += sorted((Path(mappings) / "regions").glob("*.yaml")) + sorted((Path(mappings) / "schemas").glob("*.json"))
    return inputs


def _files(questionnaires: Path, mappings: Path) -> list[Path]:
    return _code() + _inputs(questionnaires, mappings)


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


# The manifest of the package's own files (service/data/checked.json).


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed() -> dict[str, str]:
    """Name (normalized) and version of each distribution installed in the environment's site-packages, from the
    names of their dist-info folders (as `_distributions`; a name installed twice there has no one version)."""
    found: dict[str, str] = {}
    twice: set[str] = set()
    for folder in _distributions():
        if not folder.endswith(".dist-info"):
            continue
        name, _, version = folder.removesuffix(".dist-info").partition("-")
        name = _normalized(name)
        if name in found:
            twice.add(name)
        found[name] = version
    return {name: version for name, version in found.items() if name not in twice}


def _python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _libraries() -> dict[str, str]:
    """The checking libraries and, transitively, the installed distributions they require, with their versions."""
    from importlib import metadata

    installed = _installed()
    out: dict[str, str] = {}
    todo = list(CHECKING_LIBRARIES)
    while todo:
        name = _normalized(todo.pop())
        if name in out or name not in installed:
            continue
        out[name] = installed[name]
        for requirement in metadata.requires(name) or ():
            named = re.match(r"[A-Za-z0-9._-]+", requirement)
            if named and "extra ==" not in requirement:  # what an extra adds is not installed by the library itself
                todo.append(named.group(0))
    return dict(sorted(out.items()))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _code_digest() -> str:
    digest = hashlib.sha256()
    for path in _code():
        data = path.read_bytes()
        digest.update(b"\0f%s\0%d\0" % (path.relative_to(_SERVICE).as_posix().encode(), len(data)) + data)
    return digest.hexdigest()


def _file_digests(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): _sha256(path) for path in _inputs(root / "questionnaires", root / "mappings")
    }


def manifest(root: Path | None = None) -> dict[str, Any]:
    """What the manifest says of the package's files (or of those under `root`) as they are now, with this code and
    these libraries: the manifest to write after every check passed, or to compare the committed one with."""
    root = PACKAGE_DATA if root is None else root
    return {
        "about": "The files of service/data that passed every start-up check, with this code and these libraries "
        f"(service/startup_record.py). Written by: {WRITE_COMMAND}",
        "python": _python(),
        "libraries": _libraries(),
        "code": _code_digest(),
        "files": _file_digests(root),
    }


def shipped(questionnaires: Path, mappings: Path) -> bool:
    """Whether these are the package's own folders, holding exactly the files of the manifest, and this code and these
    libraries are those every check passed with there: then the slow checks need not run."""
    root = PACKAGE_DATA
    try:
        if (Path(questionnaires).resolve(), Path(mappings).resolve()) != (
            (root / "questionnaires").resolve(),
            (root / "mappings").resolve(),
        ):
            return False
        recorded = json.loads(MANIFEST.read_text(encoding="utf-8"))
        if not isinstance(recorded, dict) or recorded.get("python") != _python():
            return False
        libraries = recorded.get("libraries")
        installed = _installed()
        if not isinstance(libraries, dict) or any(installed.get(n) != v for n, v in libraries.items()):
            return False
        return recorded.get("code") == _code_digest() and recorded.get("files") == _file_digests(root)
    except (OSError, ValueError):
        return False


def write_manifest() -> Path:
    """Run every check on the package's files (ConfigurationInvalid, naming every mistake, if one fails); only then
    write the manifest of what passed."""
    from service.questionnaires.catalog import load_catalog
    from service.rules.loader import load_rulesets

    load_rulesets(PACKAGE_DATA / "mappings", load_catalog(PACKAGE_DATA / "questionnaires", structural=True))
    MANIFEST.write_text(json.dumps(manifest(), indent=2) + "\n", encoding="utf-8")
    return MANIFEST


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m service.startup_record", description="The start-up record's manifest."
    )
    parser.add_argument("--write-manifest", action="store_true", help=f"check service/data, then write {MANIFEST.name}")
    args = parser.parse_args(argv)
    if not args.write_manifest:
        parser.error("nothing to do: --write-manifest")
    print(f"every check passed; written: {write_manifest()}")


if __name__ == "__main__":
    main()
