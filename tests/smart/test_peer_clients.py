"""The sandbox EHR as other SMART software sees it: the official SMART Python client (fhirclient) completes
an EHR launch against it, and the sandbox's grants hold across processes (two app instances on one
KS_DATA_DIR, as gunicorn's workers are)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import requests
from fhirclient import client as smart_client


def _ehr_launch(base: str, patient: str = "demo-pregnant", user: str = "demo-gp") -> tuple[str, str]:
    """What the EHR does: GET {app}/launch?iss=…&launch=…; returns (iss, launch) without following it."""
    r = requests.get(
        f"{base}/sandbox/launch", params={"patient": patient, "user": user}, allow_redirects=False, timeout=10
    )
    assert r.status_code == 302, r.text
    query = parse_qs(urlparse(r.headers["Location"]).query)
    return query["iss"][0], query["launch"][0]


def test_the_official_smart_python_client_completes_an_ehr_launch(live):
    iss, launch = _ehr_launch(live.base)
    smart = smart_client.FHIRClient(
        settings={
            "app_id": "kansrijke-start",
            "api_base": iss,
            "redirect_uri": f"{live.base}/callback",
            "launch_token": launch,
            "scope": "openid fhirUser offline_access patient/*.rs",  # fhirclient adds `launch` itself
        }
    )
    authorize = smart.authorize_url  # discovery from the CapabilityStatement's oauth-uris, PKCE S256
    assert authorize.startswith(f"{live.base}/sandbox/auth/authorize?")
    r = requests.get(authorize, allow_redirects=False, timeout=10)  # auto-approved, like the official launcher
    assert r.status_code == 302 and r.headers["Location"].startswith(f"{live.base}/callback?")
    smart.handle_callback(r.headers["Location"])
    context = smart.launch_context
    assert smart.patient_id == "demo-pregnant" and context["encounter"] == "demo-pregnant-consult"
    assert context["need_patient_banner"] is True and smart.server.auth.refresh_token
    assert (
        smart.human_name(smart.patient.name[0]) == "Lisa de Boer"
    )  # read with the token through the sandbox's FHIR base
    old = smart.server.auth.access_token
    assert smart.reauthorize() and smart.server.auth.access_token != old  # the refresh token
    assert (
        requests.get(f"{iss}/Patient/demo-pregnant", headers={"Authorization": f"Bearer {old}"}, timeout=10).status_code
        == 401
    )


def test_grants_hold_across_processes(live_factory, tmp_path):
    """A launch begun at one worker and finished at another (gunicorn -w 2 shares nothing but the data folder)."""
    first = live_factory(data_dir=tmp_path / "shared")
    second = live_factory(data_dir=tmp_path / "shared", public_url=first.base)  # same public URL, as behind one port
    iss, launch = _ehr_launch(first.base)
    smart = smart_client.FHIRClient(
        settings={
            "app_id": "kansrijke-start",
            "api_base": iss,
            "redirect_uri": f"{first.base}/callback",
            "launch_token": launch,
            "scope": "openid fhirUser patient/*.rs",
        }
    )
    r = requests.get(smart.authorize_url.replace(first.base, second.base), allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text  # the launch made at the first is known at the second
    smart.server.auth._token_uri = smart.server.auth._token_uri.replace(first.base, second.base)
    smart.handle_callback(r.headers["Location"])  # the code made at the second is redeemed there
    token = smart.server.auth.access_token
    for base in (first.base, second.base):  # and the token opens the FHIR base at both
        answer = requests.get(
            f"{base}/sandbox/fhir/Patient/demo-pregnant", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert answer.status_code == 200, (base, answer.text)
    jwks = [requests.get(f"{b}/sandbox/auth/jwks", timeout=10).json() for b in (first.base, second.base)]
    assert jwks[0] == jwks[1]  # one signing key: id_tokens verify whichever worker signed them
