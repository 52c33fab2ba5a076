"""SMART App Launch 2.x, the app's routes: EHR launch (/launch), standalone launch (/launch/standalone) and
the redirect URI (/callback). The OAuth work is in service/smart/oauth.py; tokens and the launch context stay
server-side (service/smart/session.py).

Only EHRs in the deployment's registry (service/registry.py) launch the app: an unknown `iss` is refused
before any request leaves the service. The practice the session speaks for comes from the registry entry,
chosen by the organisation of the user's PractitionerRole when the EHR serves several practices.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import Blueprint, Flask, current_app, redirect, render_template, request

from service import browser_flow
from service.audit import AuditEntry, identifier_of
from service.fhir import urls
from service.fhir.errors import FhirError
from service.registry import EhrRegistry, Practice, RegisteredEhr
from service.services import services
from service.smart.oauth import (
    OAUTH_ERRORS,
    LaunchError,
    authorize_url,
    discover,
    id_token_claims,
    pkce_pair,
    token_request,
)
from service.smart.session import COOKIE_NAME, ROLE_BY_SNOMED, LaunchContext, SessionStore, session_store
from service.texts import texts

if TYPE_CHECKING:
    from service.fhir.client import FhirClient

log = logging.getLogger(__name__)
smart = Blueprint("smart", __name__)


def init_app(app: Flask) -> None:
    services(
        app
    ).refresh_launch = refresh_launch  # a LaunchError is rendered (smart_error.html) by service/errors_render.py


def _settings():
    return current_app.config["KS_SETTINGS"]


def registry() -> EhrRegistry:
    return services().registry


def _require_https() -> bool:
    return _settings().env != "development"


CALLBACK_PATH = "/callback"
PENDING_MAX_AGE = 600  # seconds a started launch waits for its callback (SessionStore.pop_pending)


def redirect_uri() -> str:
    return _settings().public_url.rstrip("/") + CALLBACK_PATH


def _registered(iss: str | None) -> RegisteredEhr:
    """The registered EHR for a launch's `iss`; refused, with nothing sent anywhere, when there is none."""
    if not iss:
        raise LaunchError(*texts("smart.no_iss"))
    ehr = registry().by_iss(iss)
    if ehr is None:
        log.warning("launch refused: iss is not registered (%.80r)", iss)
        raise LaunchError(*texts("smart.not_registered"))
    return ehr


def _start(ehr: RegisteredEhr, launch: str | None):
    config = discover(ehr, require_https=_require_https())
    scope = _settings().smart_scopes
    if not launch:  # standalone: ask the EHR to let the user pick a patient
        scope = (
            scope.replace("launch ", "launch/patient ", 1) if scope.startswith("launch ") else scope + " launch/patient"
        )
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(32)
    pending = {
        "ehr": ehr.id,
        "verifier": verifier,
        "token_endpoint": config.token_endpoint,
        "scope": scope,
        "jwks_uri": config.jwks_uri,
    }
    secret = browser_flow.start(pending)  # the callback only in this browser
    session_store().save_pending(state, pending)
    log.info("SMART launch started (%s) from EHR %s", "ehr" if launch else "standalone", ehr.id)
    response = redirect(
        authorize_url(
            config, ehr, redirect_uri=redirect_uri(), scope=scope, state=state, code_challenge=challenge, launch=launch
        )
    )
    return browser_flow.set_cookie(
        response, state, secret, path=CALLBACK_PATH, secure=_settings().secure_cookies, max_age=PENDING_MAX_AGE
    )


@smart.get("/launch")
def launch():
    """EHR launch (`iss` + `launch`) or, without `launch`, a standalone launch."""
    return _start(_registered(request.args.get("iss")), request.args.get("launch"))


@smart.get("/launch/standalone")
def launch_standalone():
    """Standalone launch: pick one of the registered EHRs (never a typed-in address)."""
    ehr_id, iss = request.args.get("ehr"), request.args.get("iss")
    if ehr_id or iss:
        ehr = registry().get(ehr_id) if ehr_id else _registered(iss)
        if ehr is None:
            raise LaunchError(*texts("smart.not_registered"))
        return _start(ehr, None)
    ehrs = sorted(registry().ehrs.values(), key=lambda e: e.name)
    return render_template("launch_pick.html", ehrs=ehrs)


def _role_from_codes(resource: dict) -> str:
    codes = [c.get("code") for cc in resource.get("code", []) for c in cc.get("coding", [])]
    return next((ROLE_BY_SNOMED[c] for c in codes if c in ROLE_BY_SNOMED), "onbekend")


@dataclass(frozen=True)
class EhrUser:
    """What the EHR says of the launching user and patient: role, organisation identifiers, banner."""

    role: str = "onbekend"
    organizations: frozenset[tuple[str, str]] = frozenset()  # (system URI, value) of the user's organisation(s)
    banner: dict = field(default_factory=dict)
    patient_read: str | None = None  # the audit outcome of reading the patient (for the banner); None: not read
    patient_identifier: str | None = None  # the patient's BSN ('system|value') when the read gave one
    name: str | None = None  # the user's name as the EHR's Practitioner gives it (what the pages show, not the id)


def _identifiers(resource: dict) -> set[tuple[str, str]]:
    return {
        (str(urls.uri_system(i.get("system", ""))), i["value"])
        for i in resource.get("identifier") or ()
        if isinstance(i, dict) and isinstance(i.get("value"), str)
    }


def _organizations(client: FhirClient, roles: list[dict]) -> set[tuple[str, str]]:
    """The identifiers of the organisations the user's PractitionerRoles name (inline or by reference)."""
    found: set[tuple[str, str]] = set()
    for role in roles:
        org = role.get("organization") or {}
        if isinstance(org.get("identifier"), dict):
            found |= _identifiers({"identifier": [org["identifier"]]})
        ref = org.get("reference")
        if isinstance(ref, str) and ref.startswith("Organization/"):
            with contextlib.suppress(FhirError):
                found |= _identifiers(client.read("Organization", ref.split("/", 1)[1]))
    return found


def ehr_user(iss: str, token: str, fhir_user: str | None, patient: str | None, need_banner: bool) -> EhrUser:
    """The user's role from fhirUser: a PractitionerRole's SNOMED code, or for a Practitioner (as the official
    SMART launcher gives) the code of their PractitionerRole(s); the organisations of those roles; the
    patient banner when asked for."""
    from service.fhir.auth import BearerTokenAuth  # with requests: imported on first use, not at start-up
    from service.fhir.client import FhirClient

    role, orgs, banner, user_name = "onbekend", set(), {}, None
    read, bsn = None, None
    with FhirClient(iss, auth=BearerTokenAuth(token), retries=1) as client:
        if fhir_user and "/" in fhir_user:
            rtype, rid = fhir_user.rstrip("/").split("/")[-2:]
            try:
                roles: list[dict] = []
                if rtype == "PractitionerRole":
                    roles = [client.read(rtype, rid)]
                    role = _role_from_codes(roles[0])
                elif rtype == "Practitioner":
                    found = client.search("PractitionerRole", {"practitioner": f"Practitioner/{rid}"})
                    roles = [e["resource"] for e in found.get("entry", []) if "resource" in e]
                    codes = {_role_from_codes(r) for r in roles} - {"onbekend"}
                    role = codes.pop() if len(codes) == 1 else "onbekend"  # several roles: do not guess
                orgs = _organizations(client, roles)
                user_name = _practitioner_name(client, rtype, rid, roles)
            except FhirError:
                pass
        if need_banner and patient:
            read = "4"  # asked for; "0" once read
            try:
                p = client.read("Patient", patient)
                read, bsn = "0", identifier_of(p, urls.BSN)
                name = (p.get("name") or [{}])[0]
                banner = {
                    "name": name.get("text") or " ".join(name.get("given", []) + [name.get("family", "")]).strip(),
                    "birthDate": p.get("birthDate", ""),
                }
            except FhirError:
                pass
    return EhrUser(
        role=role,
        organizations=frozenset(orgs),
        banner=banner,
        patient_read=read,
        patient_identifier=bsn,
        name=user_name,
    )


def _human_name(resource: dict) -> str | None:
    """A HumanName's text, else given and family names joined (FHIR R4 datatypes.html#HumanName)."""
    name = next((n for n in resource.get("name") or () if isinstance(n, dict)), None)
    if name is None:
        return None
    shown = name.get("text") or " ".join([*name.get("given", []), name.get("family", "")])
    return " ".join(str(shown).split()) or None


def _practitioner_name(client: FhirClient, rtype: str, rid: str, roles: list[dict]) -> str | None:
    """The user's name: their Practitioner's, read directly or through the PractitionerRole's `practitioner`
    reference (or that reference's display); None when the EHR gives none."""
    with contextlib.suppress(FhirError):
        if rtype == "Practitioner":
            return _human_name(client.read("Practitioner", rid))
        practitioner = (roles[0].get("practitioner") or {}) if roles else {}
        ref = practitioner.get("reference")
        if isinstance(ref, str) and ref.startswith("Practitioner/"):
            return _human_name(client.read("Practitioner", ref.split("/", 1)[1])) or practitioner.get("display")
        return practitioner.get("display") or None
    return None


def practice_for(ehr: RegisteredEhr, organizations: frozenset[tuple[str, str]]) -> Practice | None:
    """The registered practice this launch speaks for. When the EHR names the user's organisation, exactly one
    of the EHR's registered practices must carry its AGB or URA; when it names none, only an EHR that serves a
    single practice can say which. A launch never adds a practice: it can only pick among the registered ones, and
    never an invented one of the demo's mirror history (registry.Practice.invented)."""
    practices = [p for p in ehr.practices if not p.invented]
    if organizations:
        matches = [p for p in practices if (urls.AGB_Z, p.agb) in organizations or (urls.URA, p.ura) in organizations]
        return matches[0] if len(matches) == 1 else None
    return practices[0] if len(practices) == 1 else None


@smart.get(CALLBACK_PATH)
def callback():
    """The authorization server's redirect (SMART App Launch 2.x §"Obtain authorization code"): the code for a
    token, the id_token checked, the user, patient and practice resolved, a server-side session started."""
    pending, ehr = _pending_launch()
    token = token_request(
        ehr,
        pending["token_endpoint"],
        {
            "grant_type": "authorization_code",
            "code": _authorization_code(),
            "redirect_uri": redirect_uri(),
            "code_verifier": pending["verifier"],
        },
    )
    asked = set(pending["scope"].split())
    claims = id_token_claims(
        token.get("id_token"), ehr, pending.get("jwks_uri"), required={"openid", "fhirUser"} <= asked
    )
    fhir_user = _fhir_user(claims, ehr)
    need_banner = bool(token.get("need_patient_banner", False))
    user = ehr_user(ehr.iss, token["access_token"], fhir_user, token.get("patient"), need_banner)
    if user.patient_read is not None:
        _audit_banner_read(fhir_user, token["patient"], user)
    practice = practice_for(ehr, user.organizations)
    if practice is None:
        log.warning("launch refused: the user's organisation is none of EHR %s's registered practices", ehr.id)
        raise LaunchError(*texts("smart.no_practice"), status=403)
    ctx = _start_session(ehr, practice, pending, token, fhir_user, user, need_banner)
    log.info(
        "SMART launch completed: session %s…, EHR %s, practice %s, role %s",
        ctx.session_id[:6],
        ehr.id,
        practice.id,
        user.role,
    )
    response = redirect("/form")
    response.set_cookie(
        COOKIE_NAME, ctx.session_id, httponly=True, samesite="Lax", path="/", secure=_settings().secure_cookies
    )
    return browser_flow.clear_cookie(response, request.args["state"], path=CALLBACK_PATH)


def _pending_launch() -> tuple[dict, RegisteredEhr]:
    """The launch this redirect answers (its state, single use) and its EHR, still registered."""
    state = request.args.get("state", "")
    pending = session_store().pop_pending(state, PENDING_MAX_AGE) if state else None
    if pending is None:
        raise LaunchError(*texts("smart.unknown_state"))
    if not browser_flow.started_here(state, pending):  # a callback URL opened elsewhere (browser_flow.py)
        log.warning("launch refused: the callback came to another browser than the one that started it")
        raise LaunchError(*texts("smart.other_browser"))
    ehr = registry().get(pending.get("ehr"))
    if ehr is None:  # the registration was withdrawn while the user was logging in
        raise LaunchError(*texts("smart.not_registered"))
    return pending, ehr


def _authorization_code() -> str:
    """The code of the redirect, or the authorization server's refusal in words (RFC 6749 §4.1.2.1)."""
    error = request.args.get("error")
    if error:
        nl, en = texts(OAUTH_ERRORS.get(error, "smart.login_refused"))
        raise LaunchError(nl, en, 400, (request.args.get("error_description") or "")[:300] or None)
    code = request.args.get("code")
    if not code:
        raise LaunchError(*texts("smart.no_code"))
    return code


def _fhir_user(claims: dict, ehr: RegisteredEhr) -> str | None:
    """The id_token's fhirUser (or the older `profile`) relative to the EHR's base, as the record names users."""
    fhir_user = claims.get("fhirUser") or claims.get("profile")
    if not isinstance(fhir_user, str):
        return None
    return fhir_user[len(ehr.iss) + 1 :] if fhir_user.startswith(ehr.iss + "/") else fhir_user


def _audit_banner_read(fhir_user: str | None, patient: str, user: EhrUser) -> None:
    """The banner's read of the patient at launch: one access, one row (NEN 7513)."""
    services().delivery.audit.record(
        AuditEntry(
            event="launch",
            action="R",
            outcome=user.patient_read or "0",
            who=fhir_user,
            patient=f"Patient/{patient}",
            patient_identifier=user.patient_identifier,
            object=f"patient-read Patient/{patient} (banner)",
            access_point=f"web:{request.remote_addr or '-'}",
        )
    )


def _start_session(
    ehr: RegisteredEhr,
    practice: Practice,
    pending: dict,
    token: dict,
    fhir_user: str | None,
    user: EhrUser,
    need_banner: bool,
) -> LaunchContext:
    """The server-side launch session (one per browser session: an earlier one is ended)."""
    store: SessionStore = session_store()
    old = request.cookies.get(COOKIE_NAME)
    if old:
        store.delete(old)  # one launch per session
    ctx = LaunchContext(
        session_id=store.new_id(),
        iss=ehr.iss,
        client_id=ehr.client_id,
        ehr_id=ehr.id,
        practice_id=practice.id,
        token_endpoint=pending["token_endpoint"],
        access_token=token["access_token"],
        expires_at=time.time() + float(token.get("expires_in", 3600)),
        scope=token.get("scope", pending["scope"]),
        refresh_token=token.get("refresh_token"),
        patient=token.get("patient"),
        encounter=token.get("encounter"),
        fhir_user=fhir_user,
        user_name=user.name,
        role=user.role,
        need_patient_banner=need_banner,
        patient_banner=user.banner,
        smart_style_url=token.get("smart_style_url"),
    )
    store.save(ctx)
    return ctx


def refresh_launch(ctx: LaunchContext) -> LaunchContext | None:
    """The refresh_token grant for an expired access token, at the registered EHR the launch came from; None
    when it cannot be refreshed."""
    ehr = registry().get(ctx.ehr_id)
    if not ctx.refresh_token or ehr is None:
        return None
    try:
        token = token_request(
            ehr, ctx.token_endpoint, {"grant_type": "refresh_token", "refresh_token": ctx.refresh_token}
        )
    except LaunchError:
        return None
    return session_store().update(
        ctx,
        access_token=token["access_token"],
        expires_at=time.time() + float(token.get("expires_in", 3600)),
        refresh_token=token.get("refresh_token", ctx.refresh_token),
        scope=token.get("scope", ctx.scope),
    )
