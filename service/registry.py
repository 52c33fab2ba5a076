"""The deployment's registry of EHRs that may launch the app, and of the practices each serves (KS_EHR_REGISTRY).

SMART App Launch 2.x §"Register App with EHR" makes registration a one-time step between the app and each
EHR: the EHR gives the app a client_id and, for a confidential client, a secret or the app's public key.
This file is our side of it. It names, for every EHR, the exact FHIR base it launches with (`iss`), how we
authenticate at its token endpoint, whose id_tokens we accept, and which practices it serves. Only a
registered `iss` is ever contacted ("Apps SHALL ensure that sensitive information (authentication secrets,
authorization codes, tokens) is transmitted ONLY to authenticated servers", §"App protection"), and the
practice a referral speaks for, with its region, comes from here, never from the launch.

Secrets and keys are not in the file: it names the file or environment variable that holds them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from service.deployfile import load_checked, read_file
from service.deployfile import secret as read_secret
from service.errors import ConfigProblem, ConfigurationInvalid

SANDBOX_ID = "sandbox"
SANDBOX_INBOX_CLIENT_ID = "kansrijke-start-inbox"  # the inbox's client at the sandbox's OpenID Connect provider
ROLE_REGIO = "regio"  # a user mapping's role: the region's programme manager, who sees the mirror figures only


def origin(url: str) -> str:
    """scheme://host[:port] of a URL, lower-cased, default ports dropped (RFC 6454 §4)."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    port = parts.port
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def transport_ok(url: str, *, require_https: bool) -> bool:
    """https, or (outside production's rule) any http; a loopback host may always use http: its traffic never
    leaves the machine (as RFC 8252 §8.3 allows for loopback redirects), which is how a one-host demo runs."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "https" or not require_https:
        return parts.scheme.lower() in ("https", "http")
    host = (parts.hostname or "").lower()
    return parts.scheme.lower() == "http" and (host in ("localhost", "::1") or host.startswith("127."))


def normalise_base(url: str) -> str:
    """A FHIR base as compared: without a trailing slash, scheme and host lower-cased (the path is exact)."""
    parts = urlsplit(url.strip())
    return origin(url) + parts.path.rstrip("/")


@dataclass(frozen=True, kw_only=True)
class Practice:
    """A general practice as the registry knows it: the requester of its referrals."""

    id: str
    name: str
    agb: str  # AGB-Z code, http://fhir.nl/fhir/NamingSystem/agb-z
    ura: str  # URA number, http://fhir.nl/fhir/NamingSystem/ura
    region: str  # the rule set that applies to its referrals
    # A practice of the demo's invented mirror history (service/demo INVENTED_PRACTICES): named on the mirror pages,
    # never the practice a launch speaks for (service/smart/views.py practice_for).
    invented: bool = False


@dataclass(frozen=True, kw_only=True)
class ClientAuth:
    """How the app authenticates at this EHR's token endpoint (SMART client types)."""

    method: str  # public | client_secret_basic | private_key_jwt
    secret: str | None = field(default=None, repr=False)
    private_key_pem: str | None = field(default=None, repr=False)
    key_id: str | None = None
    alg: str = "RS384"


@dataclass(frozen=True, kw_only=True)
class RegisteredEhr:
    id: str
    name: str
    iss: str  # normalised FHIR base
    client_id: str
    auth: ClientAuth
    id_token_issuer: str
    allowed_origins: frozenset[str]  # the iss's own origin included
    practices: tuple[Practice, ...]

    def allows(self, url: object) -> bool:
        """Whether `url` (an endpoint from discovery) lies on an origin registered for this EHR."""
        return (
            isinstance(url, str)
            and url.lower().startswith(("https://", "http://"))
            and origin(url) in self.allowed_origins
        )

    def practice(self, practice_id: str | None) -> Practice | None:
        return next((p for p in self.practices if p.id == practice_id), None)


@dataclass(frozen=True, kw_only=True)
class UserMapping:
    """A provider's users who work for a recipient: those whose id_token claim `claim` is `value` (a list
    claim, such as a group claim, holds it)."""

    claim: str
    value: str
    recipient: str | None = None  # a recipient id of the provider's region (mappings/regions/<region>.recipients.yaml)
    name: str | None = None  # one person's mapping (claim `sub`): their name, as colleagues assign them a referral
    role: str | None = None  # instead of a recipient: ROLE_REGIO, the region's programme manager (mirror figures only)

    def matches(self, claims: Mapping[str, object]) -> bool:
        found = claims.get(self.claim)
        if isinstance(found, list):
            return self.value in [v for v in found if isinstance(v, str)]
        return isinstance(found, str) and found == self.value


@dataclass(frozen=True, kw_only=True)
class IdentityProvider:
    """An OpenID Connect provider whose users (a recipient's staff) sign in to the inbox (service/inbox)."""

    id: str
    name: str
    issuer: str  # exact: discovery at {issuer}/.well-known/openid-configuration, the id_tokens' `iss`
    client_id: str
    auth: ClientAuth
    scopes: str
    region: str
    users: tuple[UserMapping, ...]
    allowed_origins: frozenset[str]  # the issuer's own origin included

    def allows(self, url: object) -> bool:
        """Whether `url` (an endpoint from discovery) lies on an origin registered for this provider."""
        return (
            isinstance(url, str)
            and url.lower().startswith(("https://", "http://"))
            and origin(url) in self.allowed_origins
        )

    def recipient_for(self, claims: Mapping[str, object]) -> str | None:
        """The one recipient the user's claims map to; None when they map to none, or to more than one (never a
        guess between two recipients)."""
        found = {m.recipient for m in self.users if m.recipient and m.matches(claims)}
        return found.pop() if len(found) == 1 else None

    def regio_for(self, claims: Mapping[str, object]) -> bool:
        """Whether the user's claims map to the region's programme manager (`role: regio`): the region's suppressed
        mirror figures, and nothing about any patient (service/mirror/dashboard.py)."""
        return any(m.role == ROLE_REGIO and m.matches(claims) for m in self.users)

    @property
    def has_regio(self) -> bool:
        return any(m.role == ROLE_REGIO for m in self.users)


@dataclass(frozen=True)
class EhrRegistry:
    ehrs: Mapping[str, RegisteredEhr]
    providers: Mapping[str, IdentityProvider] = field(default_factory=dict)  # the inbox's sign-in

    def by_iss(self, iss: str | None) -> RegisteredEhr | None:
        """The EHR registered with exactly this FHIR base; None for any other (no network involved)."""
        if not isinstance(iss, str) or not iss.strip():
            return None
        try:
            wanted = normalise_base(iss)
        except ValueError:  # e.g. a port that is not a number
            return None
        return next((e for e in self.ehrs.values() if e.iss == wanted), None)

    def get(self, ehr_id: str | None) -> RegisteredEhr | None:
        return self.ehrs.get(ehr_id or "")

    def practice(self, ehr_id: str | None, practice_id: str | None) -> Practice | None:
        ehr = self.get(ehr_id)
        return ehr.practice(practice_id) if ehr else None

    def find_practice(self, practice_id: str) -> Practice | None:
        """A practice by its id across every EHR (an API client names its practice so); None when it is not
        there exactly once."""
        found = [p for e in self.ehrs.values() for p in e.practices if p.id == practice_id]
        return found[0] if len(found) == 1 else None

    def with_ehr(self, ehr: RegisteredEhr) -> EhrRegistry:
        return replace(self, ehrs={**self.ehrs, ehr.id: ehr})

    def provider(self, provider_id: str | None) -> IdentityProvider | None:
        return self.providers.get(provider_id or "")

    def with_provider(self, provider: IdentityProvider) -> EhrRegistry:
        return replace(self, providers={**self.providers, provider.id: provider})


EMPTY = EhrRegistry({})


def load_registry(
    path: Path,
    *,
    regions: set[str] | frozenset[str],
    require_https: bool,
    environ: Mapping[str, str] | None = None,
    recipients: Mapping[str, frozenset[str]] | None = None,
) -> EhrRegistry:
    """Read and check the registry file: schema, unique ids and bases, known regions, readable secrets and keys,
    https outside development, the identity providers' mappings (`recipients`: each region's external ones).
    ConfigurationInvalid names every problem with file and JSON pointer."""
    environ = os.environ if environ is None else environ
    where = str(path)
    data = load_checked(path, "ehr-registry.schema.json")
    problems: list[ConfigProblem] = []
    ehrs: dict[str, RegisteredEhr] = {}
    bases: dict[str, str] = {}
    for i, entry in enumerate(data["ehrs"]):
        at = f"/ehrs/{i}"
        if entry["id"] in ehrs or entry["id"] == SANDBOX_ID:
            problems.append(ConfigProblem(where, f"{at}/id", f"{entry['id']!r} is taken"))
        iss = normalise_base(entry["iss"])
        if iss in bases:
            problems.append(
                ConfigProblem(where, f"{at}/iss", f"{entry['iss']} is registered for {bases[iss]!r} already")
            )
        bases[iss] = entry["id"]
        problems += _transport_problems(where, at, entry, ("iss", "id_token_issuer"), require_https)
        seen: set[str] = set()
        for j, practice in enumerate(entry["practices"]):
            if practice["id"] in seen:
                problems.append(ConfigProblem(where, f"{at}/practices/{j}/id", f"{practice['id']!r} is listed twice"))
            seen.add(practice["id"])
            if practice["region"] not in regions:
                problems.append(
                    ConfigProblem(
                        where,
                        f"{at}/practices/{j}/region",
                        f"no rule set {practice['region']!r}; known: {', '.join(sorted(regions))}",
                    )
                )
        auth, auth_problems = _client_auth(entry["client_auth"], Path(path).parent, environ)
        problems += [ConfigProblem(where, f"{at}/client_auth{p}", m) for p, m in auth_problems]
        ehrs[entry["id"]] = RegisteredEhr(
            id=entry["id"],
            name=entry["name"],
            iss=iss,
            client_id=entry["client_id"],
            auth=auth,
            id_token_issuer=entry["id_token_issuer"],  # compared exactly (OIDC Core §3.1.3.7 item 2)
            allowed_origins=frozenset({origin(entry["iss"])} | {origin(o) for o in entry.get("allowed_origins", ())}),
            practices=tuple(Practice(**p) for p in entry["practices"]),
        )
    external = recipients if recipients is not None else dict.fromkeys(regions)  # None: not checked
    providers = _identity_providers(
        data.get("identity_providers", []), where, Path(path).parent, environ, require_https, external, problems
    )
    if problems:
        raise ConfigurationInvalid(problems)
    return EhrRegistry(ehrs, providers)


def _identity_providers(
    entries: list[dict],
    where: str,
    folder: Path,
    environ: Mapping[str, str],
    require_https: bool,
    recipients: Mapping[str, frozenset[str] | None],
    problems: list[ConfigProblem],
) -> dict[str, IdentityProvider]:
    """The registry's OpenID Connect providers (issue 13), checked as the EHRs are; every mapping must name an
    external recipient of the provider's region."""
    found: dict[str, IdentityProvider] = {}
    issuers: set[str] = set()
    for i, entry in enumerate(entries):
        at = f"/identity_providers/{i}"
        if entry["id"] in found or entry["id"] == SANDBOX_ID:
            problems.append(ConfigProblem(where, f"{at}/id", f"{entry['id']!r} is taken"))
        if entry["issuer"] in issuers:
            problems.append(ConfigProblem(where, f"{at}/issuer", f"{entry['issuer']} is registered twice"))
        issuers.add(entry["issuer"])
        problems += _transport_problems(where, at, entry, ("issuer",), require_https)
        known = recipients.get(entry["region"])
        if entry["region"] not in recipients:
            problems.append(
                ConfigProblem(
                    where, f"{at}/region", f"no rule set {entry['region']!r}; known: {', '.join(sorted(recipients))}"
                )
            )
        for j, user in enumerate(entry["users"]):
            if known is not None and "recipient" in user and user["recipient"] not in known:
                problems.append(
                    ConfigProblem(
                        where,
                        f"{at}/users/{j}/recipient",
                        f"no external recipient {user['recipient']!r} in region {entry['region']!r}; "
                        f"known: {', '.join(sorted(known))}",
                    )
                )
        auth, auth_problems = _client_auth(entry["client_auth"], folder, environ)
        problems += [ConfigProblem(where, f"{at}/client_auth{p}", m) for p, m in auth_problems]
        found[entry["id"]] = IdentityProvider(
            id=entry["id"],
            name=entry["name"],
            issuer=entry["issuer"],  # compared exactly (OpenID Connect Discovery 1.0 §4.3, Core §3.1.3.7 item 2)
            client_id=entry["client_id"],
            auth=auth,
            scopes=entry.get("scopes", "openid profile email"),
            region=entry["region"],
            users=tuple(UserMapping(**u) for u in entry["users"]),
            allowed_origins=frozenset(
                {origin(entry["issuer"])} | {origin(o) for o in entry.get("allowed_origins", ())}
            ),
        )
    return found


def _transport_problems(
    where: str, at: str, entry: dict, names: tuple[str, ...], require_https: bool
) -> list[ConfigProblem]:
    """The entry's URLs (`names`, and its allowed_origins) that are not https outside development."""
    urls = [(name, entry[name]) for name in names]
    urls += [(f"allowed_origins/{j}", o) for j, o in enumerate(entry.get("allowed_origins", ()))]
    return [
        ConfigProblem(where, f"{at}/{name}", "must be https outside development (http only on loopback)")
        for name, url in urls
        if not transport_ok(url, require_https=require_https)
    ]


def _client_auth(spec: dict, folder: Path, environ: Mapping[str, str]) -> tuple[ClientAuth, list[tuple[str, str]]]:
    method = spec["method"]
    problems: list[tuple[str, str]] = []
    secret = key = None
    if method == "client_secret_basic":
        secret, problem = read_secret(spec, "secret_env", "secret_file", folder, environ)
        problems += [problem] if problem else []
    elif method == "private_key_jwt":
        key, unreadable = read_file(folder / spec["private_key_file"])
        if key is None:
            problems.append(("/private_key_file", unreadable or "unreadable"))
        else:
            from joserfc.errors import JoseError
            from joserfc.jwk import ECKey, RSAKey

            try:
                (RSAKey if spec.get("alg", "RS384") == "RS384" else ECKey).import_key(key)
            except (ValueError, JoseError) as exc:
                problems.append(("/private_key_file", f"not a private key for {spec.get('alg', 'RS384')}: {exc}"))
    return ClientAuth(
        method=method, secret=secret, private_key_pem=key, key_id=spec.get("key_id"), alg=spec.get("alg", "RS384")
    ), problems


def sandbox_ehr(*, public_url: str, client_id: str, client_secret: str | None, region: str) -> RegisteredEhr:
    """The demo EHR under /sandbox (KS_SANDBOX=1) registers itself, serving the invented demo practice (and naming
    the invented practices of the demo's mirror history, never launched for)."""
    from service.demo import INVENTED_PRACTICES, PRACTICE_AGB, PRACTICE_NAME, PRACTICE_URA

    base = public_url.rstrip("/")
    invented = tuple(
        Practice(id=pid, name=name, agb=agb, ura=ura, region=region, invented=True)
        for pid, name, agb, ura in INVENTED_PRACTICES
    )
    return RegisteredEhr(
        id=SANDBOX_ID,
        name="Demo-EPD (sandbox)",
        iss=normalise_base(base + "/sandbox/fhir"),
        client_id=client_id,
        auth=ClientAuth(method="client_secret_basic", secret=client_secret)
        if client_secret
        else ClientAuth(method="public"),
        id_token_issuer=base + "/sandbox/auth",
        allowed_origins=frozenset({origin(base)}),
        practices=(
            Practice(id="demo-practice", name=PRACTICE_NAME, agb=PRACTICE_AGB, ura=PRACTICE_URA, region=region),
            *invented,
        ),
    )


def sandbox_identity_provider(
    *, public_url: str, client_id: str, region: str, recipients: frozenset[str]
) -> IdentityProvider:
    """The sandbox's OpenID Connect provider (KS_SANDBOX=1, /sandbox/idp) registers itself, its demo
    coordinators mapped by `sub` to the recipients of `region` they work for (one whose recipient the region
    does not have maps to none, and is refused)."""
    from service.demo import DEMO_COORDINATORS

    base = public_url.rstrip("/")
    return IdentityProvider(
        id=SANDBOX_ID,
        name="Demo-inlogdienst (sandbox)",
        issuer=base + "/sandbox/idp",
        client_id=client_id,
        auth=ClientAuth(method="public"),
        scopes="openid profile email",
        region=region,
        users=tuple(
            UserMapping(claim="sub", value=sub, recipient=user["recipient"], name=user["name"])
            if user.get("access") != ROLE_REGIO
            else UserMapping(claim="sub", value=sub, role=ROLE_REGIO, name=user["name"])
            for sub, user in DEMO_COORDINATORS.items()
            if user["recipient"] in recipients or user.get("access") == ROLE_REGIO
        ),
        allowed_origins=frozenset({origin(base)}),
    )
