"""Launch sessions for the page tests (and the browser tests and benchmark) without the SMART dance.

A LaunchContext is what the SMART callback stores; saving one ourselves and setting the cookie is
exactly the state a real launch leaves. `iss` points at a real FHIR server (sekmet-fhir with the demo
data), which ignores the dummy token.
"""

from __future__ import annotations

import re
import time

from service.smart.session import COOKIE_NAME, LaunchContext, SessionStore

ROLE_OF_USER = {"demo-gp": "huisarts", "demo-poh": "poh-jeugd", "demo-assistant": "doktersassistent"}


def launch_session(app_or_store, *, iss: str, patient: str | None, user: str = "demo-gp", banner: bool = True,
                   language: str = "nl", patient_banner: dict | None = None) -> LaunchContext:
    ctx = LaunchContext(
        session_id=SessionStore.new_id(), iss=iss, client_id="kansrijke-start", token_endpoint=f"{iss}/token",
        access_token="test-token-not-checked", expires_at=time.time() + 3600, scope="launch openid fhirUser patient/*.rs",
        patient=patient, fhir_user=f"PractitionerRole/{user}", role=ROLE_OF_USER.get(user, "onbekend"),
        need_patient_banner=banner, patient_banner=patient_banner or {}, language=language,
    )
    store = app_or_store.extensions["ks_sessions"] if hasattr(app_or_store, "extensions") else app_or_store
    store.save(ctx)
    return ctx


def login(client, ctx: LaunchContext) -> None:
    client.set_cookie(COOKIE_NAME, ctx.session_id)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)
