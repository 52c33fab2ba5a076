"""The only reader of the environment: KS_* settings into one Settings dataclass, all problems at once."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from service.errors import StartupError

# The declarative files ship inside the package (pyproject.toml [tool.setuptools.package-data]), so an installed
# service finds them without the checkout; KS_QUESTIONNAIRES_DIR and KS_MAPPINGS_DIR point elsewhere.
PACKAGE_DATA = Path(__file__).resolve().parent / "data"
QUESTIONNAIRES = PACKAGE_DATA / "questionnaires"
MAPPINGS = PACKAGE_DATA / "mappings"


class SettingsInvalid(StartupError, ValueError):
    """Every missing or malformed setting, in one message."""


# The secret outside production when KS_SECRET_KEY is not set (production requires one: _check_production).
DEV_SECRET_KEY = "development-only-not-secret"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Service settings; each field is read from KS_<FIELD NAME IN CAPITALS>."""

    env: str = "development"  # development | production
    region: str = "maastricht-heuvelland"
    questionnaires_dir: Path = QUESTIONNAIRES
    mappings_dir: Path = MAPPINGS
    data_dir: Path = Path("var")  # the service's own state (SQLite), relative to the working directory
    # PostgreSQL for the stores on the storage layer (service/db; issue 16), `postgresql://user:password@host/db`:
    # every instance of the service on it shares their work. Unset: an SQLite file per store under KS_DATA_DIR.
    database_url: str | None = None
    # The schema owner's URL, migrations run with (service/db/migrate.py); unset: the service's own role migrates.
    database_owner_url: str | None = None
    max_body_bytes: int = 1_000_000
    max_json_depth: int = 64
    fhir_base_url: str | None = None  # the FHIR server referrals are pushed to; unset: embedded sekmet-fhir (make run)
    # The recipients' FHIR servers by name (service/referrals/destinations.py; YAML, see service/data/mappings/README.md
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
    # Seconds a worker (of any instance) owns an outbox item it claimed, renewed before each push: after a crash another
    # instance pushes it again once it has run out (service/outbox/store.py). It must outlast the longest push, the
    # FHIR client's retries included (4 attempts of connect + read timeout: about 75 s with the defaults).
    outbox_lease: float = 120.0
    outbox_worker: str = "on"  # on | off (off: only `kansrijk outbox retry` and submissions push)
    # Seconds between purges of what has expired (service/outbox/worker.py purge_expired).
    purge_interval: float = 3600.0
    # The background poll of the recipients' Tasks back to the practice (service/referrals/feedback.py
    # FeedbackPoller): on | off, unset: as KS_OUTBOX_WORKER; seconds between its rounds (each polls only the
    # destinations that are due); and the floor between two polls of one destination, Gravity SDOH Clinical Care's
    # "no more than every 15 minutes" (ANCHORS.md §3.3): lower only outside production (tests, demos).
    feedback_poller: str | None = None
    feedback_interval: float = 60.0
    feedback_min_interval: float = 900.0
    # Days within which an earlier referral of the same patient to the same recipient (from the form or the API) is
    # flagged at review and in the API's answers (service/referrals/recent.py); 0: never flagged.
    recent_referral_days: int = 30
    # The mirror figures shown across practices or to the region (service/mirror/suppress.py): cells based on fewer
    # people are hidden (10 as RIVM's Lokale Monitor Kansrijke Start; 5 the OMOP default); mode rivm (hide 0 up to
    # it) or cbs (CBS's rule: hide 0-7, round to multiples of 5; suppress_below is then not used).
    suppress_below: int = 10
    suppress_mode: str = "rivm"
    secret_key: str | None = None
    # Who may call the /fhir API (service/api/auth.py): none | backend-services. Unset: none in development,
    # backend-services in production.
    api_auth: str | None = None
    api_clients_file: Path | None = None  # YAML: the registered API clients, their public keys and scopes
    api_token_lifetime: int = 300  # seconds an API access token lives
    log_level: str = "INFO"
    # How many proxies in front of the service set X-Forwarded-For (the region's nginx: 1): the audit log's access
    # point is then the client's address the nearest of them saw, not the proxy's (werkzeug ProxyFix, x_for). 0:
    # the socket's peer, and X-Forwarded-For is not believed (whoever sends it).
    trusted_proxies: int = 0
    # SMART on FHIR app (issue 4)
    # Where browsers reach this service (redirect_uri = public_url + /callback). Unset: it follows KS_HOST and
    # KS_PORT, http://{host}:{port} (127.0.0.1 for a wildcard host), so `KS_PORT=8000 make run` needs nothing else.
    public_url: str = ""
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
    # `make run` (service/run.py): where it listens, the embedded EHR server's port (its destinations' servers on
    # the ports after it), and KS_LOAD_DEMO=1: the demo data into a KS_FHIR_BASE_URL server. gunicorn binds
    # where its command line says; there KS_HOST and KS_PORT only make KS_PUBLIC_URL's default.
    host: str = "127.0.0.1"
    port: int = 8080
    fhir_port: int = 8090
    load_demo: str = "off"

    @property
    def secure_cookies(self) -> bool:
        """Whether the service's cookies carry Secure (RFC 6265 §4.1.2.5): browsers reach it over https
        (public_url), or it runs in production (a TLS proxy in front)."""
        return self.env != "development" or self.public_url.lower().startswith("https://")


# What a KS_* value becomes, by the field's annotation (`from __future__ import annotations`: a string such as
# "Path | None"; its first word names the type). Every other field stays a string.
_CONVERT: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "Path": lambda raw: Path(raw).expanduser()}


def load_settings(environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read KS_* from the environment (or `environ`), then apply `overrides` (field names, any case); check the
    result and raise SettingsInvalid naming every problem at once."""
    values, problems = _from_environment(os.environ if environ is None else environ)
    settings = _with_defaults(_with_overrides(replace(Settings(), **values), overrides))
    for check in _CHECKS:
        problems += check(settings)
    if problems:
        raise SettingsInvalid("Settings problems:\n" + "\n".join(f"  - {p}" for p in problems))
    return settings


def _from_environment(environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The fields set in the environment, converted to their types; and the values that are not of their type."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for f in fields(Settings):
        raw = environ.get(f"KS_{f.name.upper()}")
        if not raw:
            continue
        kind = str(f.type).split(" ")[0]  # "Path | None" -> "Path"
        try:
            values[f.name] = _CONVERT.get(kind, str)(raw)
        except ValueError:
            problems.append(f"KS_{f.name.upper()}={raw!r} is not a valid {kind}")
    return values, problems


def _with_overrides(settings: Settings, overrides: Mapping[str, Any] | None) -> Settings:
    """`overrides` by field name in any case (create_app's `config`); names that are no field are ignored."""
    if not overrides:
        return settings
    known = {f.name for f in fields(Settings)}
    return replace(settings, **{k.lower(): v for k, v in overrides.items() if k.lower() in known})


def _with_defaults(settings: Settings) -> Settings:
    """KS_SANDBOX and KS_LOAD_DEMO as on/off; KS_API_AUTH's default by KS_ENV (backend-services in production,
    none otherwise); KS_PUBLIC_URL's by KS_HOST and KS_PORT; KS_FEEDBACK_POLLER's by KS_OUTBOX_WORKER."""
    sandbox = {"1": "on", "0": "off"}.get(settings.sandbox, settings.sandbox)
    load_demo = {"1": "on", "0": "off"}.get(settings.load_demo, settings.load_demo)
    poller = settings.feedback_poller or settings.outbox_worker
    api_auth = settings.api_auth
    if api_auth is None:
        api_auth = "backend-services" if settings.env == "production" else "none"
    public_url = settings.public_url
    if not public_url:  # a wildcard address is where the service listens, not one a browser can open
        host = "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host
        public_url = f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"
    return replace(
        settings,
        sandbox=sandbox,
        load_demo=load_demo,
        api_auth=api_auth,
        public_url=public_url,
        feedback_poller=poller,
    )


def _one_of(name: str, value: str | None, allowed: tuple[str, ...], shown: str) -> list[str]:
    return [] if value in allowed else [f"KS_{name.upper()} must be {shown}, not {value!r}"]


def _check_choices(settings: Settings) -> list[str]:
    """The settings that take one of a few values (or must not be negative)."""
    return [
        *_one_of("env", settings.env, ("development", "production"), "'development' or 'production'"),
        *_one_of(
            "fhir_auth", settings.fhir_auth, ("none", "bearer", "backend-services"), "none, bearer or backend-services"
        ),
        *_one_of("sandbox", settings.sandbox, ("on", "off"), "1/on or 0/off"),
        *_one_of("load_demo", settings.load_demo, ("on", "off"), "1/on or 0/off"),
        *_one_of("outbox_worker", settings.outbox_worker, ("on", "off"), "on or off"),
        *_one_of("feedback_poller", settings.feedback_poller, ("on", "off"), "on or off"),
        *_one_of("api_auth", settings.api_auth, ("none", "backend-services"), "none or backend-services"),
        *(["KS_RECENT_REFERRAL_DAYS must be 0 or more"] if settings.recent_referral_days < 0 else []),
        *_one_of("suppress_mode", settings.suppress_mode, ("rivm", "cbs"), "rivm or cbs"),
        *(["KS_SUPPRESS_BELOW must be 1 or more"] if settings.suppress_below < 1 else []),
    ]


def _check_production(settings: Settings) -> list[str]:
    """What production requires: a real secret key and the registry of the EHRs that may launch the app."""
    if settings.env != "production":
        return []
    problems = []
    if not settings.secret_key or len(settings.secret_key) < 32:
        problems.append("KS_SECRET_KEY must be set to a random value of at least 32 characters in production")
    if not settings.ehr_registry:
        problems.append(
            "KS_EHR_REGISTRY must name the registry of EHRs that may launch the app in production "
            "(README: Registering an EHR)"
        )
    return problems


def _check_ports(settings: Settings) -> list[str]:
    """KS_PORT and KS_FHIR_PORT are TCP ports (make run's)."""
    return [
        f"KS_{name.upper()} must be a port number from 1 to 65535, not {getattr(settings, name)}"
        for name in ("port", "fhir_port")
        if not 0 < getattr(settings, name) < 65536
    ]


def _check_paths(settings: Settings) -> list[str]:
    """The files and folders named exist (what is in them is checked where it is read)."""
    problems = []
    for name in ("ehr_registry", "destinations"):
        path = getattr(settings, name)
        if path and not Path(path).is_file():
            problems.append(f"KS_{name.upper()}: {path} is not a file")
    for name in ("questionnaires_dir", "mappings_dir"):
        if not Path(getattr(settings, name)).is_dir():
            problems.append(f"KS_{name.upper()}: {getattr(settings, name)} is not a folder")
    return problems


def _check_fhir_auth(settings: Settings) -> list[str]:
    """KS_FHIR_AUTH with what its method needs (the default server's authentication, without KS_DESTINATIONS)."""
    if settings.fhir_auth == "bearer" and not settings.fhir_bearer_token:
        return ["KS_FHIR_AUTH=bearer needs KS_FHIR_BEARER_TOKEN"]
    if settings.fhir_auth != "backend-services":
        return []
    needed = ("fhir_token_url", "fhir_client_id", "fhir_private_key_file", "fhir_key_id")
    problems = [
        f"KS_FHIR_AUTH=backend-services needs KS_{name.upper()}" for name in needed if not getattr(settings, name)
    ]
    if settings.fhir_private_key_file and not Path(settings.fhir_private_key_file).is_file():
        problems.append(f"KS_FHIR_PRIVATE_KEY_FILE: {settings.fhir_private_key_file} is not a file")
    return problems


def _check_database(settings: Settings) -> list[str]:
    """KS_DATABASE_URL and KS_DATABASE_OWNER_URL are PostgreSQL URLs (only their scheme is shown: a URL may hold
    a password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    problems = []
    for name in ("database_url", "database_owner_url"):
        value = getattr(settings, name)
        if not value:
            continue
        try:
            scheme = make_url(value).drivername
        except ArgumentError:
            scheme = "?"
        if scheme not in ("postgresql", "postgresql+psycopg"):
            problems.append(f"KS_{name.upper()} must be a postgresql:// URL, not one of scheme {scheme!r}")
    if settings.database_owner_url and not settings.database_url:
        problems.append("KS_DATABASE_OWNER_URL needs KS_DATABASE_URL (the service's own role)")
    return problems


def _check_feedback(settings: Settings) -> list[str]:
    """The poller's round and floor: positive; the floor at most an hour (Gravity's "at least hourly"), and in
    production at least Gravity's 15 minutes."""
    problems = []
    if settings.feedback_interval <= 0:
        problems.append("KS_FEEDBACK_INTERVAL must be more than 0 seconds")
    if not 0 < settings.feedback_min_interval <= 3600:
        problems.append("KS_FEEDBACK_MIN_INTERVAL must be more than 0 and at most 3600 seconds")
    elif settings.env == "production" and settings.feedback_min_interval < 900:
        problems.append(
            "KS_FEEDBACK_MIN_INTERVAL must be at least 900 seconds in production (Gravity SDOH Clinical Care: "
            "poll no more than every 15 minutes)"
        )
    return problems


def _check_api_auth(settings: Settings) -> list[str]:
    """KS_API_AUTH=backend-services (production's default) with its clients file."""
    if settings.api_auth != "backend-services":
        return []
    if not settings.api_clients_file:
        return [
            (
                "KS_API_AUTH=backend-services (the default in production) needs KS_API_CLIENTS_FILE, "
                "or set KS_API_AUTH=none to leave the API open"
            )
        ]
    if not Path(settings.api_clients_file).is_file():
        return [f"KS_API_CLIENTS_FILE: {settings.api_clients_file} is not a file"]
    return []


_CHECKS: tuple[Callable[[Settings], list[str]], ...] = (
    _check_choices,
    _check_production,
    _check_ports,
    _check_paths,
    _check_fhir_auth,
    _check_api_auth,
    _check_database,
    _check_feedback,
)


def unknown_region(region: str, known: Iterable[str]) -> SettingsInvalid:
    """KS_REGION (or a command's --region) naming no rule set: the problem, with the regions there are."""
    return SettingsInvalid(
        f"Settings problems:\n  - KS_REGION: no rule set has the id {region!r}; the known regions are "
        f"{', '.join(sorted(known)) or 'none'} (the ids of mappings/regions/*.rules.yaml)"
    )
