"""The only reader of the environment: KS_* settings into one Settings dataclass, all problems at once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from service.errors import StartupError

ROOT = Path(__file__).resolve().parent.parent


class SettingsInvalid(StartupError, ValueError):
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
    fhir_base_url: str | None = None  # the FHIR server referrals are pushed to; unset: embedded sekmet-fhir (make run)
    # The recipients' FHIR servers by name (service/referrals/destinations.py; YAML, see mappings/README.md
    # "Destinations"). Unset: every external destination is KS_FHIR_BASE_URL.
    destinations: Path | None = None
    fhir_auth: str = "none"  # none | bearer | backend-services
    fhir_bearer_token: str | None = None
    fhir_token_url: str | None = None  # SMART Backend Services token endpoint
    fhir_client_id: str | None = None
    fhir_private_key_file: Path | None = None  # PEM; RSA for RS384, EC P-384 for ES384
    fhir_key_id: str | None = None
    fhir_jwt_alg: str = "RS384"
    fhir_scope: str = "system/QuestionnaireResponse.cu system/ServiceRequest.cru system/Task.cru system/Consent.cu system/Provenance.cu system/Organization.cr"
    fhir_connect_timeout: float = 3.05
    fhir_read_timeout: float = 15.0
    outbox_interval: float = 5.0  # seconds between rounds of the outbox worker
    outbox_lease: float = 120.0  # seconds a worker owns an item it is pushing; after a crash it is pushed again then
    outbox_worker: str = "on"  # on | off (off: only `kansrijk outbox retry` and submissions push)
    purge_interval: float = (
        3600.0  # seconds between purges of what has expired (service/outbox/worker.py purge_expired)
    )
    secret_key: str | None = None
    # Who may call the /fhir API (service/api/auth.py): none | backend-services. Unset: none in development,
    # backend-services in production.
    api_auth: str | None = None
    api_clients_file: Path | None = None  # YAML: the registered API clients, their public keys and scopes
    api_token_lifetime: int = 300  # seconds an API access token lives
    log_level: str = "INFO"
    # SMART on FHIR app (issue 4)
    public_url: str = (
        "http://127.0.0.1:8080"  # where browsers reach this service (redirect_uri = public_url + /callback)
    )
    # The EHRs that may launch the app and the practices they serve (service/registry.py; YAML, see README
    # "Registering an EHR"). Required in production; in development only the sandbox EHR launches without it.
    ehr_registry: Path | None = None
    # The app's registration at the sandbox EHR (KS_SANDBOX=1): its client_id, and a secret to play a
    # confidential client. Every other EHR's client_id and authentication are in the registry.
    smart_client_id: str = "kansrijke-start"
    smart_client_secret: str | None = None
    smart_scopes: str = (
        "launch openid fhirUser offline_access patient/Patient.r patient/Observation.rs patient/Condition.rs "
        "patient/QuestionnaireResponse.cu patient/ServiceRequest.cu user/PractitionerRole.r user/Practitioner.r"
    )
    # The practice's aandachtsfunctionaris huiselijk geweld en kindermishandeling (DOMAIN.md §3.3): name and how
    # to reach them, shown in the Meldcode panel, e.g. "Dr. A. Jansen (huisarts), toestel 214".
    aandachtsfunctionaris: str | None = None
    sandbox: str = "off"  # on: the demo EHR (authorization server, FHIR proxy, launch picker) under /sandbox


def _convert(name: str, kind, raw: str):
    if kind in (int, "int"):
        return int(raw)
    if kind in (float, "float"):
        return float(raw)
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
        kind = f.type.split(" ")[0] if isinstance(f.type, str) else f.type  # "Path | None" -> "Path"
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
    if settings.env == "production" and not settings.ehr_registry:
        problems.append(
            "KS_EHR_REGISTRY must name the registry of EHRs that may launch the app in production "
            "(README: Registering an EHR)"
        )
    if settings.ehr_registry and not Path(settings.ehr_registry).is_file():
        problems.append(f"KS_EHR_REGISTRY: {settings.ehr_registry} is not a file")
    if settings.destinations and not Path(settings.destinations).is_file():
        problems.append(f"KS_DESTINATIONS: {settings.destinations} is not a file")
    if settings.fhir_auth not in ("none", "bearer", "backend-services"):
        problems.append(f"KS_FHIR_AUTH must be none, bearer or backend-services, not {settings.fhir_auth!r}")
    if settings.fhir_auth == "bearer" and not settings.fhir_bearer_token:
        problems.append("KS_FHIR_AUTH=bearer needs KS_FHIR_BEARER_TOKEN")
    if settings.fhir_auth == "backend-services":
        for name in ("fhir_token_url", "fhir_client_id", "fhir_private_key_file", "fhir_key_id"):
            if not getattr(settings, name):
                problems.append(f"KS_FHIR_AUTH=backend-services needs KS_{name.upper()}")
        if settings.fhir_private_key_file and not Path(settings.fhir_private_key_file).is_file():
            problems.append(f"KS_FHIR_PRIVATE_KEY_FILE: {settings.fhir_private_key_file} is not a file")
    if settings.sandbox not in ("on", "off", "1", "0"):
        problems.append(f"KS_SANDBOX must be 1/on or 0/off, not {settings.sandbox!r}")
    if settings.outbox_worker not in ("on", "off"):
        problems.append(f"KS_OUTBOX_WORKER must be on or off, not {settings.outbox_worker!r}")
    for name in ("questionnaires_dir", "mappings_dir"):
        if not Path(getattr(settings, name)).is_dir():
            problems.append(f"KS_{name.upper()}: {getattr(settings, name)} is not a folder")
    settings = replace(settings, sandbox={"1": "on", "0": "off"}.get(settings.sandbox, settings.sandbox))
    if settings.api_auth is None:
        settings = replace(settings, api_auth="backend-services" if settings.env == "production" else "none")
    if settings.api_auth not in ("none", "backend-services"):
        problems.append(f"KS_API_AUTH must be none or backend-services, not {settings.api_auth!r}")
    if settings.api_auth == "backend-services":
        if not settings.api_clients_file:
            problems.append(
                "KS_API_AUTH=backend-services (the default in production) needs KS_API_CLIENTS_FILE, "
                "or set KS_API_AUTH=none to leave the API open"
            )
        elif not Path(settings.api_clients_file).is_file():
            problems.append(f"KS_API_CLIENTS_FILE: {settings.api_clients_file} is not a file")
    if problems:
        raise SettingsInvalid("Settings problems:\n" + "\n".join(f"  - {p}" for p in problems))
    return settings
