"""The sandbox authorization server over real HTTP: PKCE S256 only, and a code is burnt by a failed verifier."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge

CLIENT_ID = "kansrijke-start"
SCOPE = "launch/patient openid fhirUser offline_access patient/*.rs"


def _authorize(live, **pkce: str) -> requests.Response:
    """A standalone authorization request straight to the sandbox, with the given PKCE parameters."""
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": f"{live.base}/callback",
        "scope": SCOPE,
        "state": "st-" + secrets.token_urlsafe(8),
        "aud": f"{live.base}/sandbox/fhir",
        **pkce,
    }
    return requests.get(f"{live.base}/sandbox/auth/authorize", params=params, allow_redirects=False, timeout=10)


def _code(live, verifier: str) -> str:
    r = _authorize(live, code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256")
    assert r.status_code == 302, r.text
    query = parse_qs(urlparse(r.headers["Location"]).query)
    assert "error" not in query, query
    return query["code"][0]


def _redeem(live, code: str, verifier: str) -> requests.Response:
    return requests.post(
        f"{live.base}/sandbox/auth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": f"{live.base}/callback",
            "client_id": CLIENT_ID,
            "code_verifier": verifier,
        },
        timeout=10,
    )


@pytest.mark.parametrize("method", [{"code_challenge_method": "plain"}, {}], ids=["plain", "no-method-means-plain"])
def test_plain_code_challenge_is_refused(live, method):
    r = _authorize(live, code_challenge=secrets.token_urlsafe(48), **method)
    assert r.status_code == 302
    location = urlparse(r.headers["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{live.base}/callback"
    assert query["error"] == ["invalid_request"] and "code" not in query
    assert query["state"][0].startswith("st-")


def test_only_s256_is_advertised(live):
    conf = requests.get(f"{live.base}/sandbox/fhir/.well-known/smart-configuration", timeout=10).json()
    assert conf["code_challenge_methods_supported"] == ["S256"]


def test_s256_works_and_the_code_is_used_once(live):
    verifier = secrets.token_urlsafe(48)
    code = _code(live, verifier)
    token = _redeem(live, code, verifier)
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["token_type"] == "Bearer" and body["access_token"] and body["patient"]
    again = _redeem(live, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_a_wrong_verifier_burns_the_code(live):
    verifier = secrets.token_urlsafe(48)
    code = _code(live, verifier)
    wrong = _redeem(live, code, "x" * 64)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    right = _redeem(live, code, verifier)
    assert right.status_code == 400 and right.json()["error"] == "invalid_grant"
