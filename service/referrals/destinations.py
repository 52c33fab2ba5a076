"""Where referrals go: the recipients' FHIR servers by name (KS_DESTINATIONS), each with its own authentication.

Every external recipient in the regional mappings names its destination (mappings/README.md); `internal`
recipients stay in the practice. The deployment file defines each name: a FHIR base URL and how to
authenticate there (none, a bearer token, SMART Backend Services). Without the file, every destination
the mappings name is the one server in KS_FHIR_BASE_URL (with KS_FHIR_AUTH), as a single-server demo has it;
with it, a name the file does not define stops start-up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from service.config import Settings
from service.deployfile import load_checked, secret
from service.errors import ConfigProblem, ConfigurationInvalid
from service.rules.loader import Ruleset


@dataclass(frozen=True, kw_only=True)
class DestinationAuth:
    method: str = "none"  # none | bearer | backend-services
    token: str | None = field(default=None, repr=False)  # bearer
    token_url: str | None = None
    client_id: str | None = None
    private_key_pem: bytes | None = field(default=None, repr=False)
    key_id: str | None = None
    alg: str = "RS384"
    scope: str | None = None


@dataclass(frozen=True, kw_only=True)
class Destination:
    id: str
    name: str
    base_url: str | None  # None: no server configured yet (the referrals wait in the outbox)
    auth: DestinationAuth = DestinationAuth()


def used_destinations(rulesets: Mapping[str, Ruleset]) -> dict[str, list[tuple[Ruleset, str]]]:
    """Destination name -> the (rule set, recipient id) pairs that name it; internal recipients left out."""
    used: dict[str, list[tuple[Ruleset, str]]] = {}
    for ruleset in rulesets.values():
        for recipient in ruleset.recipients.values():
            if not recipient.internal:
                used.setdefault(recipient.destination, []).append((ruleset, recipient.id))
    return used


def _default_auth(settings: Settings) -> DestinationAuth:
    if settings.fhir_auth == "bearer":
        return DestinationAuth(method="bearer", token=settings.fhir_bearer_token)
    if settings.fhir_auth == "backend-services":
        return DestinationAuth(
            method="backend-services",
            token_url=settings.fhir_token_url,
            client_id=settings.fhir_client_id,
            private_key_pem=Path(settings.fhir_private_key_file or "").read_bytes(),  # required: load_settings
            key_id=settings.fhir_key_id,
            alg=settings.fhir_jwt_alg,
            scope=settings.fhir_scope,
        )
    return DestinationAuth()


def display_name(name: str, rulesets: Mapping[str, Ruleset]) -> str:
    """A destination as people call it when no file names it: the organisation of its first recipient (the part
    before " — ", e.g. "GGD Zuid Limburg"), else the name itself."""
    orgs = [
        r.organization["name"]
        for rs in rulesets.values()
        for r in rs.recipients.values()
        if r.destination == name and r.organization
    ]
    return orgs[0].split(" — ")[0] if orgs else name


def default_destination(settings: Settings, name: str, display: str | None = None) -> Destination:
    """`name` served by the one server of KS_FHIR_BASE_URL (KS_FHIR_AUTH): a deployment without KS_DESTINATIONS."""
    return Destination(id=name, name=display or name, base_url=settings.fhir_base_url, auth=_default_auth(settings))


def load_destinations(
    settings: Settings, rulesets: Mapping[str, Ruleset], environ: Mapping[str, str] | None = None
) -> dict[str, Destination]:
    """Every destination the mappings name, resolved; ConfigurationInvalid names every problem."""
    used = used_destinations(rulesets)
    if not settings.destinations:
        return {name: default_destination(settings, name, display_name(name, rulesets)) for name in used}
    environ = os.environ if environ is None else environ
    path = Path(settings.destinations)
    where = str(path)
    data = load_checked(path, "destinations.schema.json")
    problems: list[ConfigProblem] = []
    defined: dict[str, Destination] = {}
    for i, entry in enumerate(data["destinations"]):
        at = f"/destinations/{i}"
        if entry["id"] in defined:
            problems.append(ConfigProblem(where, f"{at}/id", f"{entry['id']!r} is defined twice"))
        auth, auth_problems = _auth(entry.get("auth") or {"method": "none"}, path.parent, environ)
        problems += [ConfigProblem(where, f"{at}/auth{p}", m) for p, m in auth_problems]
        defined[entry["id"]] = Destination(
            id=entry["id"], name=entry["name"], base_url=entry["base_url"].rstrip("/"), auth=auth
        )
    for name, users in used.items():
        if name not in defined:
            for ruleset, recipient_id in users:
                index = list(ruleset.recipients).index(recipient_id)
                problems.append(
                    ConfigProblem(
                        ruleset.recipients_source,
                        f"/recipients/{index}/destination",
                        f"destination {name!r} (recipient {recipient_id}) is not defined in KS_DESTINATIONS ({where})",
                    )
                )
    if problems:
        raise ConfigurationInvalid(problems)
    return {name: defined[name] for name in used} | {k: v for k, v in defined.items() if k not in used}


def _auth(spec: dict, folder: Path, environ: Mapping[str, str]) -> tuple[DestinationAuth, list[tuple[str, str]]]:
    method = spec["method"]
    problems: list[tuple[str, str]] = []
    if method == "bearer":
        token, problem = secret(spec, "token_env", "token_file", folder, environ)
        return DestinationAuth(method=method, token=token), [problem] if problem else []
    if method == "backend-services":
        try:
            key = (folder / spec["private_key_file"]).read_bytes()
        except OSError as exc:
            key = None
            problems.append(("/private_key_file", f"cannot be read: {exc.strerror or exc}"))
        return DestinationAuth(
            method=method,
            token_url=spec["token_url"],
            client_id=spec["client_id"],
            private_key_pem=key,
            key_id=spec["key_id"],
            alg=spec.get("alg", "RS384"),
            scope=spec.get("scope"),
        ), problems
    return DestinationAuth(), problems
