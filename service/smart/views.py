"""SMART App Launch 2.x, the app's side: EHR and standalone launch, PKCE S256, state, token, context.

Follows https://hl7.org/fhir/smart-app-launch/app-launch.html and the recorded launch in
SMART-LAUNCH.md: discovery via {iss}/.well-known/smart-configuration; authorize with
response_type=code, client_id, redirect_uri, scope, state, aud=iss, launch (EHR launch; opaque, never
parsed), code_challenge (S256); token exchange with code_verifier (and HTTP Basic for a confidential
client); token, refresh token and launch context stay server-side (service/smart/session.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import time
from urllib.parse import urlencode

import requests
from flask import Blueprint, Flask, current_app, redirect, render_template, request

from service.fhir.client import BearerTokenAuth, FhirClient
from service.fhir.errors import FhirError
from service.smart.session import COOKIE_NAME, ROLE_BY_SNOMED, LaunchContext, SessionStore, session_store

log = logging.getLogger(__name__)
smart = Blueprint("smart", __name__)
TIMEOUT = (3.05, 10)
DISCOVERY_TTL = 300.0
_discovery_cache: dict[str, tuple[float, dict]] = {}

# OAuth 2.0 / SMART error codes (RFC 6749 §4.1.2.1, §5.2) in plain Dutch, with English.
OAUTH_ERRORS = {
    "access_denied": ("De toegang is geweigerd door het EPD of door u.", "Access was denied."),
    "invalid_scope": ("De app vroeg om rechten die het EPD niet geeft.", "The app asked for permissions the EHR does not grant."),
    "invalid_request": ("Het EPD begreep het verzoek van de app niet.", "The EHR did not understand the app's request."),
    "unauthorized_client": ("Deze app is niet (meer) toegelaten in het EPD.", "This app is not authorised in the EHR."),
    "unsupported_response_type": ("Het EPD ondersteunt deze manier van inloggen niet.", "The EHR does not support this way of logging in."),
    "server_error": ("Het EPD had een storing bij het inloggen.", "The EHR had an error during login."),
    "temporarily_unavailable": ("Het EPD is tijdelijk niet beschikbaar.", "The EHR is temporarily unavailable."),
    "invalid_grant": ("De inlogcode is verlopen of al gebruikt.", "The login code expired or was already used."),
    "invalid_client": ("Het EPD herkende de app niet.", "The EHR did not recognise the app."),
}


class LaunchError(Exception):
    def __init__(self, nl: str, en: str, status: int = 400, detail: str | None = None):
        super().__init__(en)
        self.nl, self.en, self.status, self.detail = nl, en, status, detail


def init_app(app: Flask) -> None:
    app.extensions["ks_refresh_launch"] = refresh_launch

    @app.errorhandler(LaunchError)
    def launch_error(exc: LaunchError):
        return render_template("smart_error.html", nl=exc.nl, en=exc.en, detail=exc.detail), exc.status


def _settings():
    return current_app.config["KS_SETTINGS"]


def discover(iss: str) -> dict:
    """{iss}/.well-known/smart-configuration, cached a few minutes per iss."""
    hit = _discovery_cache.get(iss)
    if hit and time.time() - hit[0] < DISCOVERY_TTL:
        return hit[1]
    url = iss.rstrip("/") + "/.well-known/smart-configuration"
    try:
        response = requests.get(url, headers={"Accept": "application/json"}, timeout=TIMEOUT)
        response.raise_for_status()
        config = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise LaunchError("Het EPD kon niet worden bereikt om de app te starten.", "Could not reach the EHR's SMART configuration.",
                          502, type(exc).__name__) from exc
    if not isinstance(config, dict) or not config.get("authorization_endpoint") or not config.get("token_endpoint"):
        raise LaunchError("Het EPD gaf geen geldige SMART-configuratie.", "The EHR's SMART configuration is incomplete.", 502)
    _discovery_cache[iss] = (time.time(), config)
    return config


def pkce_pair() -> tuple[str, str]:
    """RFC 7636: a high-entropy verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def redirect_uri() -> str:
    return _settings().public_url.rstrip("/") + "/callback"


def _start(iss: str | None, launch: str | None):
    if not iss:
        raise LaunchError("De app is zonder EPD-adres (iss) gestart. Open haar vanuit het EPD.",
                          "The app was started without an EHR address (iss). Open it from the EHR.")
    config = discover(iss)
    if "S256" not in config.get("code_challenge_methods_supported", ["S256"]):
        raise LaunchError("Het EPD ondersteunt geen veilige PKCE-aanmelding (S256).", "The EHR does not support PKCE S256.", 502)
    settings = _settings()
    scope = settings.smart_scopes
    if not launch:  # standalone: ask the EHR to let the user pick a patient
        scope = scope.replace("launch ", "launch/patient ", 1) if scope.startswith("launch ") else scope + " launch/patient"
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(32)
    session_store().save_pending(state, {
        "iss": iss, "verifier": verifier, "token_endpoint": config["token_endpoint"], "scope": scope,
        "jwks_uri": config.get("jwks_uri"),
    })
    params = {
        "response_type": "code", "client_id": settings.smart_client_id, "redirect_uri": redirect_uri(),
        "scope": scope, "state": state, "aud": iss, "code_challenge": challenge, "code_challenge_method": "S256",
    }
    if launch:
        params["launch"] = launch
    log.info("SMART launch started (%s)", "ehr" if launch else "standalone")
    return redirect(config["authorization_endpoint"] + ("&" if "?" in config["authorization_endpoint"] else "?") + urlencode(params))


@smart.get("/launch")
def launch():
    """EHR launch (`iss` + `launch`) or, without `launch`, a standalone launch."""
    return _start(request.args.get("iss"), request.args.get("launch"))


@smart.get("/launch/standalone")
def launch_standalone():
    return _start(request.args.get("iss"), None)


def _token_request(token_endpoint: str, data: dict) -> dict:
    settings = _settings()
    auth = None
    if settings.smart_client_secret:  # confidential client, client_secret_basic
        auth = (settings.smart_client_id, settings.smart_client_secret)
    else:
        data = {**data, "client_id": settings.smart_client_id}
    try:
        response = requests.post(token_endpoint, data=data, auth=auth, headers={"Accept": "application/json"}, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise LaunchError("Het EPD kon niet worden bereikt om in te loggen.", "Could not reach the EHR's token endpoint.",
                          502, type(exc).__name__) from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not body.get("access_token"):
        code = body.get("error", "server_error")
        nl, en = OAUTH_ERRORS.get(code, OAUTH_ERRORS["server_error"])
        raise LaunchError(nl, en, 502 if response.status_code >= 500 else 400, body.get("error_description") or code)
    return body


def _id_token_claims(id_token: str | None, jwks_uri: str | None, client_id: str) -> dict:
    """The id_token's claims, checked as OpenID Connect Core 1.0 §3.1.3.7 asks: the signature against the
    server's JWKS when it publishes one (without one, the token came straight from the token endpoint
    over the connection the app opened, which §3.1.3.7 item 6 allows in place of the signature), `aud`
    naming this client, `exp` not passed (60 s leeway for clock skew). `iss` is not compared with the
    FHIR base: the official SMART launcher issues `…/auth/fhir` there, which is its right."""
    if not id_token:
        return {}
    from joserfc import jwt
    from joserfc.jwk import KeySet

    try:
        if jwks_uri:
            keys = KeySet.import_key_set(requests.get(jwks_uri, timeout=TIMEOUT).json())
            claims = dict(jwt.decode(id_token, keys).claims)
        else:
            payload = id_token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        jwt.JWTClaimsRegistry(leeway=60, aud={"essential": True, "value": client_id},
                              exp={"essential": True}).validate(claims)
        return claims
    except Exception as exc:  # any failure to read or verify it: refuse the login
        raise LaunchError("De identiteit van de gebruiker kon niet worden gecontroleerd.", "The id_token could not be verified.",
                          400, type(exc).__name__) from exc


def _role_from_codes(resource: dict) -> str:
    codes = [c.get("code") for cc in resource.get("code", []) for c in cc.get("coding", [])]
    return next((ROLE_BY_SNOMED[c] for c in codes if c in ROLE_BY_SNOMED), "onbekend")


def _role_and_banner(iss: str, token: str, fhir_user: str | None, patient: str | None, need_banner: bool) -> tuple[str, dict]:
    """The user's role from fhirUser: a PractitionerRole's SNOMED code, or for a Practitioner (as the official
    SMART launcher gives) the code of their PractitionerRole(s); the patient banner when asked for."""
    role, banner = "onbekend", {}
    with FhirClient(iss, auth=BearerTokenAuth(token), retries=1) as client:
        if fhir_user and "/" in fhir_user:
            rtype, rid = fhir_user.rstrip("/").split("/")[-2:]
            try:
                if rtype == "PractitionerRole":
                    role = _role_from_codes(client.read(rtype, rid))
                elif rtype == "Practitioner":
                    found = client.search("PractitionerRole", {"practitioner": f"Practitioner/{rid}"})
                    roles = {_role_from_codes(e["resource"]) for e in found.get("entry", []) if "resource" in e} - {"onbekend"}
                    role = roles.pop() if len(roles) == 1 else "onbekend"  # several roles: do not guess
            except FhirError:
                pass
        if need_banner and patient:
            try:
                p = client.read("Patient", patient)
                name = (p.get("name") or [{}])[0]
                banner = {"name": name.get("text") or " ".join(name.get("given", []) + [name.get("family", "")]).strip(),
                          "birthDate": p.get("birthDate", "")}
            except FhirError:
                pass
    return role, banner


@smart.get("/callback")
def callback():
    state = request.args.get("state", "")
    pending = session_store().pop_pending(state) if state else None
    if pending is None:
        raise LaunchError("Deze aanmelding is onbekend of verlopen. Open de app opnieuw vanuit het EPD.",
                          "Unknown or expired login state. Open the app again from the EHR.")
    if request.args.get("error"):
        code = request.args["error"]
        nl, en = OAUTH_ERRORS.get(code, ("Het EPD weigerde de aanmelding.", "The EHR refused the login."))
        raise LaunchError(nl, en, 400, request.args.get("error_description"))
    code = request.args.get("code")
    if not code:
        raise LaunchError("Het EPD stuurde geen inlogcode terug.", "The EHR returned no authorization code.")
    token = _token_request(pending["token_endpoint"], {
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri(), "code_verifier": pending["verifier"],
    })
    claims = _id_token_claims(token.get("id_token"), pending.get("jwks_uri"), _settings().smart_client_id)
    fhir_user = claims.get("fhirUser") or claims.get("profile")
    if fhir_user and fhir_user.startswith(pending["iss"].rstrip("/") + "/"):
        fhir_user = fhir_user[len(pending["iss"].rstrip("/")) + 1:]
    need_banner = bool(token.get("need_patient_banner", False))
    role, banner = _role_and_banner(pending["iss"], token["access_token"], fhir_user, token.get("patient"), need_banner)
    store: SessionStore = session_store()
    old = request.cookies.get(COOKIE_NAME)
    if old:
        store.delete(old)  # one launch per session
    ctx = LaunchContext(
        session_id=store.new_id(), iss=pending["iss"], client_id=_settings().smart_client_id,
        token_endpoint=pending["token_endpoint"], access_token=token["access_token"],
        expires_at=time.time() + float(token.get("expires_in", 3600)), scope=token.get("scope", pending["scope"]),
        refresh_token=token.get("refresh_token"), patient=token.get("patient"), encounter=token.get("encounter"),
        fhir_user=fhir_user, role=role, need_patient_banner=need_banner, patient_banner=banner,
        smart_style_url=token.get("smart_style_url"),
    )
    store.save(ctx)
    log.info("SMART launch completed: session %s…, role %s", ctx.session_id[:6], role)
    response = redirect("/form")
    response.set_cookie(COOKIE_NAME, ctx.session_id, httponly=True, samesite="Lax", path="/",
                        secure=_settings().env != "development")
    return response


def refresh_launch(ctx: LaunchContext) -> LaunchContext | None:
    """The refresh_token grant for an expired access token; None when it cannot be refreshed."""
    if not ctx.refresh_token:
        return None
    try:
        token = _token_request(ctx.token_endpoint, {"grant_type": "refresh_token", "refresh_token": ctx.refresh_token})
    except LaunchError:
        return None
    return session_store().update(
        ctx, access_token=token["access_token"], expires_at=time.time() + float(token.get("expires_in", 3600)),
        refresh_token=token.get("refresh_token", ctx.refresh_token), scope=token.get("scope", ctx.scope),
    )


def ehr_client(ctx: LaunchContext) -> FhirClient:
    """A FhirClient on the EHR's FHIR server with this launch's access token."""
    return FhirClient(ctx.iss, auth=BearerTokenAuth(ctx.access_token), retries=1)
