"""Deployment files (KS_EHR_REGISTRY, KS_DESTINATIONS): YAML checked against a JSON Schema, and the secrets they
name but never hold (an environment variable or a file). Every problem names the file and a JSON pointer."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import yaml

from service.errors import ConfigProblem, ConfigurationInvalid

SCHEMAS = Path(__file__).resolve().parent / "schemas"


def load_checked(path: Path, schema: str) -> dict:
    """The file's content once it matches `schemas/<schema>`; ConfigurationInvalid with every mismatch otherwise."""
    import jsonschema  # here, not at start-up without deployment files (~25 ms)

    where = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationInvalid([ConfigProblem(where, "", f"cannot be read: {exc}")]) from None
    validator = jsonschema.Draft202012Validator(json.loads((SCHEMAS / schema).read_text(encoding="utf-8")))
    problems = [
        ConfigProblem(where, "/" + "/".join(map(str, e.absolute_path)), e.message) for e in validator.iter_errors(data)
    ]
    if problems:
        raise ConfigurationInvalid(problems)
    return data


def read_file(path: Path) -> tuple[str | None, str | None]:
    """(text, None), or (None, why it cannot be read)."""
    try:
        return path.read_text(encoding="utf-8"), None
    except OSError as exc:
        return None, f"cannot be read: {exc.strerror or exc}"


def secret(
    spec: dict, env_key: str, file_key: str, folder: Path, environ: Mapping[str, str]
) -> tuple[str | None, tuple[str, str] | None]:
    """A secret named by `spec[env_key]` (an environment variable) or `spec[file_key]` (a file, relative to the
    deployment file's folder): (value, None), or (None, (pointer, problem))."""
    if env_key in spec:
        value = environ.get(spec[env_key]) or None
        return value, None if value else (f"/{env_key}", f"the environment variable {spec[env_key]} is not set")
    text, problem = read_file(folder / spec[file_key])
    value = text.strip() if text else None
    return value, None if value else (f"/{file_key}", problem or "the file is empty")
