"""Launch sessions for the page tests (and the browser tests and benchmark) without the SMART dance.

A LaunchContext is what the SMART callback stores; saving one ourselves and setting the cookie is
exactly the state a real launch leaves. `iss` points at a real FHIR server (sekmet-fhir with the demo
data), which ignores the dummy token.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import yaml

from service.demo import PRACTICE_AGB, PRACTICE_NAME, PRACTICE_URA
from service.smart.session import COOKIE_NAME, LaunchContext, SessionStore

ROLE_OF_USER = {"demo-gp": "huisarts", "demo-poh": "poh-jeugd", "demo-assistant": "doktersassistent"}


TEST_EHR, TEST_PRACTICE = "test-ehr", "demo-practice"


def registry_file(folder: Path, iss: str, region: str = "maastricht-heuvelland") -> Path:
    """A KS_EHR_REGISTRY file registering `iss` (a public client) for the demo practice: what a deployment
    holds for the EHR that the launch sessions below pretend to come from."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ehr-registry.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "ehrs": [
                    {
                        "id": TEST_EHR,
                        "name": "Test-EPD",
                        "iss": iss,
                        "client_id": "kansrijke-start",
                        "client_auth": {"method": "public"},
                        "id_token_issuer": iss + "/auth",
                        "practices": [
                            {
                                "id": TEST_PRACTICE,
                                "name": PRACTICE_NAME,
                                "agb": PRACTICE_AGB,
                                "ura": PRACTICE_URA,
                                "region": region,
                            }
                        ],
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    return path


def launch_session(
    app_or_store,
    *,
    iss: str,
    patient: str | None,
    user: str = "demo-gp",
    banner: bool = True,
    language: str = "nl",
    patient_banner: dict | None = None,
    ehr_id: str = TEST_EHR,
    practice_id: str = TEST_PRACTICE,
    user_name: str | None = None,
) -> LaunchContext:
    """A stored launch session as the SMART callback leaves it; `ehr_id`/`practice_id` must be registered in
    the app (registry_file) for the pages to accept it."""
    ctx = LaunchContext(
        session_id=SessionStore.new_id(),
        iss=iss,
        client_id="kansrijke-start",
        token_endpoint=f"{iss}/token",
        ehr_id=ehr_id,
        practice_id=practice_id,
        access_token="test-token-not-checked",
        expires_at=time.time() + 3600,
        scope="launch openid fhirUser patient/*.rs",
        patient=patient,
        fhir_user=f"PractitionerRole/{user}",
        user_name=user_name,
        role=ROLE_OF_USER.get(user, "onbekend"),
        need_patient_banner=banner,
        patient_banner=patient_banner or {},
        language=language,
    )
    store = app_or_store.extensions["ks"].sessions if hasattr(app_or_store, "extensions") else app_or_store
    store.save(ctx)
    return ctx


def login(client, ctx: LaunchContext) -> None:
    client.set_cookie(COOKIE_NAME, ctx.session_id)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'name="csrf-token" content="([^"]+)"', html
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


def panel_data(client, fields: dict) -> dict:
    """The live panel's model (service/web/panel.py panel_model, as service/web/form_page.py `_panel` makes it for
    POST /form/panel) for `fields` in the session of `client`: the panel's JSON answer carries its HTML and only
    what app.js uses besides, so the tests read the rest here."""
    from service.smart.session import current_launch
    from service.web import form_page
    from service.web.common import posted_fields

    app = client.application
    headers = {"Cookie": f"{COOKIE_NAME}={client.ctx.session_id}"}
    with app.test_request_context("/form/panel", method="POST", data=fields, headers=headers):
        ctx = current_launch()
        qdef = form_page.questionnaire()
        facts = app.extensions["ks"].forms.panel_facts(ctx.session_id)
        return form_page._panel(ctx, facts, posted_fields(qdef), qdef)
