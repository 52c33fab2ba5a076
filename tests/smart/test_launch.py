"""SMART App Launch end to end over real HTTP: the sandbox EHR launches the app, which discovers,
authorizes with PKCE, exchanges the code and keeps the context server-side."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from service.smart.session import COOKIE_NAME


def launch(live, patient="demo-pregnant", user="demo-gp", session=None):
    s = session or requests.Session()
    r = s.get(
        f"{live.base}/sandbox/launch", params={"patient": patient, "user": user}, allow_redirects=False, timeout=10
    )
    hops = []
    while r.status_code in (301, 302, 303) and not r.headers["Location"].endswith("/form"):
        hops.append(r.headers["Location"])
        r = s.get(
            r.headers["Location"] if r.headers["Location"].startswith("http") else live.base + r.headers["Location"],
            allow_redirects=False,
            timeout=10,
        )
    return s, r, hops


def test_ehr_launch_end_to_end(live):
    s, r, hops = launch(live)
    assert r.status_code == 302 and r.headers["Location"].endswith("/form")
    # The EHR opened /launch?iss=…&launch=…; the app went to authorize with PKCE S256, state and aud = iss.
    app_launch = parse_qs(urlparse(hops[0]).query)
    assert hops[0].startswith(f"{live.base}/launch?") and app_launch["iss"] == [f"{live.base}/sandbox/fhir"]
    authorize = parse_qs(urlparse(hops[1]).query)
    assert authorize["code_challenge_method"] == ["S256"] and authorize["aud"] == app_launch["iss"]
    assert authorize["launch"] == app_launch["launch"] and authorize["response_type"] == ["code"]
    assert "launch" in authorize["scope"][0].split() and "fhirUser" in authorize["scope"][0].split()
    # The cookie is opaque, HttpOnly and SameSite; it carries nothing about the patient.
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "demo" not in cookie and "Patient" not in cookie
    for url in hops:
        assert "demo-pregnant" not in url.split("/sandbox/launch")[-1] or "/sandbox/" in url
    ctx = live.app.extensions["ks"].sessions.load(s.cookies[COOKIE_NAME])
    assert ctx.patient == "demo-pregnant" and ctx.fhir_user == "PractitionerRole/demo-gp" and ctx.role == "huisarts"
    assert ctx.user_name == "Anna Jansen"  # the role's Practitioner, read at launch: what the pages show
    assert (
        ctx.encounter == "demo-pregnant-consult"
        and ctx.need_patient_banner
        and ctx.patient_banner["name"] == "Lisa de Boer"
    )
    assert ctx.refresh_token and ctx.access_token not in cookie


@pytest.mark.parametrize(
    ("user", "role", "can_send"), [("demo-poh", "poh-jeugd", True), ("demo-assistant", "doktersassistent", False)]
)
def test_role_from_fhir_user(live, user, role, can_send):
    s, _r, _ = launch(live, user=user)
    ctx = live.app.extensions["ks"].sessions.load(s.cookies[COOKIE_NAME])
    assert (ctx.role, ctx.can_send) == (role, can_send)


def test_one_launch_per_session(live):
    s, _, _ = launch(live)
    first = s.cookies[COOKIE_NAME]
    launch(live, patient="demo-child-1y", session=s)
    assert live.app.extensions["ks"].sessions.load(first) is None
    assert live.app.extensions["ks"].sessions.load(s.cookies[COOKIE_NAME]).patient == "demo-child-1y"


def test_standalone_launch(live):
    s = requests.Session()
    r = s.get(
        f"{live.base}/launch/standalone", params={"iss": f"{live.base}/sandbox/fhir"}, allow_redirects=False, timeout=10
    )
    assert "launch%2Fpatient" in r.headers["Location"] or "launch/patient" in r.headers["Location"]
    while r.status_code == 302 and not r.headers["Location"].endswith("/form"):
        loc = r.headers["Location"]
        r = s.get(loc if loc.startswith("http") else live.base + loc, allow_redirects=False, timeout=10)
    assert r.headers["Location"].endswith("/form")
    assert live.app.extensions["ks"].sessions.load(s.cookies[COOKIE_NAME]).patient


def sandbox_launch(s: requests.Session, live) -> requests.Response:
    """The sandbox EHR's launch of the demo GP for a pregnant patient: its redirect to /launch, not followed."""
    return s.get(
        f"{live.base}/sandbox/launch",
        params={"patient": "demo-pregnant", "user": "demo-gp"},
        allow_redirects=False,
        timeout=10,
    )


def test_unknown_state_is_refused_in_dutch(live):
    r = requests.get(f"{live.base}/callback", params={"code": "x", "state": "forged"}, timeout=10)
    assert r.status_code == 400 and "onbekend of verlopen" in r.text


def test_replayed_state_is_refused(live):
    s = requests.Session()
    r = sandbox_launch(s, live)
    r = s.get(r.headers["Location"], allow_redirects=False, timeout=10)  # /launch -> authorize
    r = s.get(r.headers["Location"], allow_redirects=False, timeout=10)  # authorize -> /callback?code&state
    callback = r.headers["Location"]
    assert s.get(callback, allow_redirects=False, timeout=10).status_code == 302
    again = s.get(callback, allow_redirects=False, timeout=10)
    assert again.status_code == 400


def test_a_callback_opened_in_another_browser_is_refused(live):
    """The callback URL alone (leaked, or an attacker's own sign-in sent to a victim) starts no session: the launch
    is bound to the browser that started it (service/browser_flow.py), and is used up by the attempt."""
    s = requests.Session()
    r = sandbox_launch(s, live)
    r = s.get(r.headers["Location"], allow_redirects=False, timeout=10)  # /launch -> authorize
    flow = [c for c in s.cookies if c.name.startswith("ks_flow_")]
    assert len(flow) == 1 and flow[0].path == "/callback" and flow[0].has_nonstandard_attr("HttpOnly")
    callback = s.get(r.headers["Location"], allow_redirects=False, timeout=10).headers["Location"]
    elsewhere = requests.get(callback, allow_redirects=False, timeout=10)
    assert elsewhere.status_code == 400 and "andere browser" in elsewhere.text
    assert COOKIE_NAME not in elsewhere.cookies
    assert s.get(callback, allow_redirects=False, timeout=10).status_code == 400  # used up


def test_the_flow_cookie_is_gone_after_the_callback(live):
    s = requests.Session()
    r = s.get(f"{live.base}/sandbox/launch", params={"patient": "demo-pregnant", "user": "demo-gp"}, timeout=10)
    assert r.url.endswith("/form") and not [c for c in s.cookies if c.name.startswith("ks_flow_")]


def test_authorization_server_error_shown_in_dutch(live):
    s = requests.Session()
    r = sandbox_launch(s, live)
    r = s.get(r.headers["Location"], allow_redirects=False, timeout=10)
    state = parse_qs(urlparse(r.headers["Location"]).query)["state"][0]
    r = s.get(
        f"{live.base}/callback",
        params={
            "error": "access_denied",
            "error_description": "Failed to auto-select the first encounter",
            "state": state,
        },
        timeout=10,
    )
    assert r.status_code == 400 and "toegang is geweigerd" in r.text and "Failed to auto-select" in r.text


def test_aud_other_than_iss_is_refused_by_the_sandbox(live):
    s = requests.Session()
    r = sandbox_launch(s, live)
    r = s.get(r.headers["Location"], allow_redirects=False, timeout=10)
    wrong = r.headers["Location"].replace("aud=http", "aud=https")
    r = s.get(wrong, allow_redirects=False, timeout=10)
    assert "error=invalid_request" in r.headers["Location"]


def test_wrong_pkce_verifier_is_refused(live):
    s = requests.Session()
    r = sandbox_launch(s, live)
    r = s.get(r.headers["Location"], allow_redirects=False, timeout=10)
    r = s.get(r.headers["Location"], allow_redirects=False, timeout=10)
    code = parse_qs(urlparse(r.headers["Location"]).query)["code"][0]
    token = requests.post(
        f"{live.base}/sandbox/auth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": f"{live.base}/callback",
            "client_id": "kansrijke-start",
            "code_verifier": "x" * 64,
        },
        timeout=10,
    )
    assert token.status_code == 400 and token.json()["error"] == "invalid_grant"


def test_expired_token_is_refreshed_and_failing_refresh_asks_to_launch_again(live):
    from service.smart.session import launch_required  # noqa: F401 (the decorator under test is used by /form)

    s, _, _ = launch(live)
    store = live.app.extensions["ks"].sessions
    ctx = store.load(s.cookies[COOKIE_NAME])
    store.update(ctx, expires_at=time.time() - 10)
    with live.app.app_context():
        refreshed = live.app.extensions["ks"].refresh_launch(store.load(ctx.session_id))
        assert refreshed is not None and refreshed.access_token != ctx.access_token and not refreshed.expired()
        dead = store.update(refreshed, refresh_token="revoked-or-unknown", expires_at=time.time() - 10)
        assert live.app.extensions["ks"].refresh_launch(dead) is None
    # Through a page: an expired session whose refresh fails asks to open the app again from the EPD.
    r = s.get(f"{live.base}/form", timeout=10)
    assert r.status_code == 401 and "opnieuw vanuit het EPD" in r.text


def test_sandbox_fhir_proxy_checks_the_token(live):
    s, _, _ = launch(live)
    ctx = live.app.extensions["ks"].sessions.load(s.cookies[COOKIE_NAME])
    ok = requests.get(
        f"{ctx.iss}/Patient/demo-pregnant", headers={"Authorization": f"Bearer {ctx.access_token}"}, timeout=10
    )
    assert ok.status_code == 200 and ok.json()["id"] == "demo-pregnant"
    assert requests.get(f"{ctx.iss}/Patient/demo-pregnant", timeout=10).status_code == 401
    bad = requests.get(f"{ctx.iss}/Patient/demo-pregnant", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert (
        bad.status_code == 401
        and bad.json()["resourceType"] == "OperationOutcome"
        and "WWW-Authenticate" in bad.headers
    )
    conf = requests.get(f"{ctx.iss}/.well-known/smart-configuration", timeout=10).json()
    assert conf["code_challenge_methods_supported"] == ["S256"] and "launch-ehr" in conf["capabilities"]


def test_confidential_client(live_factory):
    live = live_factory(smart_client_secret="s3cret-for-tests")
    s, r, _ = launch(live)
    assert r.headers["Location"].endswith("/form")
    assert live.app.extensions["ks"].sessions.load(s.cookies[COOKIE_NAME]).role == "huisarts"


def test_sandbox_routes_do_not_exist_when_off(tmp_path):
    from service import create_app

    client = create_app({"TESTING": True, "data_dir": tmp_path}).test_client()
    for path in (
        "/sandbox/launch",
        "/sandbox/fhir/metadata",
        "/sandbox/fhir/.well-known/smart-configuration",
        "/sandbox/auth/jwks",
    ):
        assert client.get(path).status_code == 404
    assert client.post("/sandbox/auth/token").status_code == 404


def test_production_refuses_to_start_without_a_secret(tmp_path):
    from service import create_app
    from service.config import SettingsInvalid

    with pytest.raises(SettingsInvalid, match="KS_SECRET_KEY"):
        create_app({"env": "production", "data_dir": tmp_path})
    with pytest.raises(SettingsInvalid, match="KS_SECRET_KEY"):
        create_app({"env": "production", "secret_key": "short", "data_dir": tmp_path})


@pytest.mark.parametrize(
    ("fhir_user", "role", "name"),
    [
        # the official launcher's fhirUser is a Practitioner
        ("Practitioner/demo-poh-practitioner", "poh-jeugd", "Mark Peters"),
        ("PractitionerRole/demo-assistant", "doktersassistent", "Fatima Willems"),  # through its `practitioner`
        ("Practitioner/nobody", "onbekend", None),
        (None, "onbekend", None),
    ],
)
def test_role_from_practitioner_or_role(sekmet_demo, fhir_user, role, name):
    from service.demo import PRACTICE_AGB
    from service.fhir import urls
    from service.smart.views import ehr_user

    user = ehr_user(sekmet_demo.base_url, "unused-by-sekmet", fhir_user, "demo-child-1y", True)
    assert user.role == role and user.banner["name"] == "Noah Bakker"
    assert user.name == name  # what the pages and the HIS summary show of the user, never the reference
    # The organisation of the user's role(s), read by reference: what picks the registered practice.
    assert ((urls.AGB_Z, PRACTICE_AGB) in user.organizations) == (role != "onbekend")
