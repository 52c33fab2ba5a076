"""Smoke test of the fake SMART EHR: it discovers, authorizes and issues an id_token its own JWKS verifies."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlparse

import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.smart.fake_ehr import FakeEhr, plain_counting_server


def test_fake_ehr_discovery_and_a_good_id_token():
    with FakeEhr() as ehr:
        conf = requests.get(f"{ehr.fhir_base}/.well-known/smart-configuration", timeout=10).json()
        assert conf["issuer"] == ehr.issuer and conf["code_challenge_methods_supported"] == ["S256"]
        verifier = secrets.token_urlsafe(48)
        r = requests.get(
            conf["authorization_endpoint"],
            params={
                "response_type": "code",
                "client_id": "kansrijke-start",
                "redirect_uri": "http://app.invalid/callback",
                "scope": "launch openid fhirUser",
                "state": "s1",
                "aud": ehr.fhir_base,
                "code_challenge": create_s256_code_challenge(verifier),
                "code_challenge_method": "S256",
            },
            allow_redirects=False,
            timeout=10,
        )
        query = parse_qs(urlparse(r.headers["Location"]).query)
        assert r.status_code == 302 and query["state"] == ["s1"]
        token = requests.post(
            conf["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "redirect_uri": "http://app.invalid/callback",
                "client_id": "kansrijke-start",
                "code_verifier": verifier,
            },
            timeout=10,
        ).json()
        keys = KeySet.import_key_set(requests.get(conf["jwks_uri"], timeout=10).json())
        claims = jwt.decode(token["id_token"], keys).claims
        assert claims["iss"] == ehr.issuer and claims["aud"] == "kansrijke-start"
        assert claims["fhirUser"] == f"{ehr.fhir_base}/PractitionerRole/demo-gp" and token["patient"] == "demo-pregnant"
        assert [e["path"] for e in ehr.requests] == [
            "/fhir/.well-known/smart-configuration",
            "/auth/authorize",
            "/auth/token",
            "/auth/jwks",
        ]
        assert ehr.requests[2]["form"]["code_verifier"] == verifier
    counting = plain_counting_server()
    try:
        assert requests.get(f"{counting.base}/fhir/metadata", timeout=10).json() == {} and counting.hits == [
            "/fhir/metadata"
        ]
    finally:
        counting.stop()
