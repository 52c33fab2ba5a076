"""The only reader of the environment: KS_* settings into one Settings dataclass, all problems at once."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parent.parent


class SettingsInvalid(ValueError):
    """Every missing or malformed setting, in one message."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Service settings; each field is read from KS_<FIELD NAME IN CAPITALS>."""

    env: str = "development"  # development | production
    region: str = "maastricht-heuvelland"
    questionnaires_dir: Path = ROOT / "questionnaires"
    mappings_dir: Path = ROOT / "mappings"
    data_dir: Path = ROOT / "var"
    max_body_bytes: int = 1_000_000
    max_json_depth: int = 64
    fhir_base_url: str | None = None
    secret_key: str | None = None
    log_level: str = "INFO"


def _convert(name: str, kind, raw: str):
    if kind in (int, "int"):
        return int(raw)
    if kind in (Path, "Path"):
        return Path(raw).expanduser()
    return raw


def load_settings(environ: Mapping[str, str] | None = None, overrides: Mapping | None = None) -> Settings:
    """Read KS_* from the environment (or `environ`), then apply `overrides` (field names, any case)."""
    environ = os.environ if environ is None else environ
    values: dict = {}
    problems: list[str] = []
    for f in fields(Settings):
        raw = environ.get(f"KS_{f.name.upper()}")
        if raw is None or raw == "":
            continue
        kind = f.type.split(" ")[0] if isinstance(f.type, str) else f.type
        try:
            values[f.name] = _convert(f.name, kind, raw)
        except ValueError:
            problems.append(f"KS_{f.name.upper()}={raw!r} is not a valid {kind}")
    settings = replace(Settings(), **values)
    if overrides:
        known = {f.name for f in fields(Settings)}
        extra = {k.lower(): v for k, v in overrides.items() if k.lower() in known}
        settings = replace(settings, **extra)
    if settings.env not in ("development", "production"):
        problems.append(f"KS_ENV must be 'development' or 'production', not {settings.env!r}")
    if settings.env == "production" and (not settings.secret_key or len(settings.secret_key) < 32):
        problems.append("KS_SECRET_KEY must be set to a random value of at least 32 characters in production")
    for name in ("questionnaires_dir", "mappings_dir"):
        if not Path(getattr(settings, name)).is_dir():
            problems.append(f"KS_{name.upper()}: {getattr(settings, name)} is not a folder")
    if problems:
        raise SettingsInvalid("Settings problems:\n" + "\n".join(f"  - {p}" for p in problems))
    return settings
