"""The id_token is checked as OpenID Connect Core §3.1.3.7 asks: signature (JWKS), audience, expiry.
The sandbox cannot be made to issue a bad id_token on demand, so the JWKS is served by `responses`."""

from __future__ import annotations

import time

import pytest
import responses
from joserfc import jwt
from joserfc.jwk import RSAKey

from service.smart.views import LaunchError, _id_token_claims

JWKS = "https://ehr.invalid/auth/jwks"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})


def token(key=KEY, **claims) -> str:
    now = int(time.time())
    body = {"iss": "https://ehr.invalid/auth", "sub": "u", "aud": "kansrijke-start", "iat": now, "exp": now + 300,
            "fhirUser": "https://ehr.invalid/fhir/Practitioner/p1", **claims}
    return jwt.encode({"alg": "RS256", "kid": "k1"}, {k: v for k, v in body.items() if v is not None}, key)


@pytest.fixture()
def jwks():
    with responses.RequestsMock() as mock:
        mock.get(JWKS, json={"keys": [KEY.as_dict(private=False)]})
        yield mock


def test_a_good_id_token_gives_its_claims(jwks):
    assert _id_token_claims(token(), JWKS, "kansrijke-start")["fhirUser"].endswith("Practitioner/p1")


def test_an_audience_list_naming_us_is_fine(jwks):
    assert _id_token_claims(token(aud=["other", "kansrijke-start"]), JWKS, "kansrijke-start")["sub"] == "u"


@pytest.mark.parametrize("bad", [
    dict(key=OTHER_KEY),  # signed by someone else
    dict(aud="another-app"),  # meant for another client
    dict(aud=None),  # no audience at all
    dict(exp=int(time.time()) - 3600),  # expired an hour ago
    dict(exp=None),  # no expiry
])
def test_a_bad_id_token_refuses_the_launch(jwks, bad):
    with pytest.raises(LaunchError) as refused:
        _id_token_claims(token(**bad), JWKS, "kansrijke-start")
    assert refused.value.nl == "De identiteit van de gebruiker kon niet worden gecontroleerd." and refused.value.status == 400


def test_without_a_jwks_the_claims_are_still_checked():
    assert _id_token_claims(token(), None, "kansrijke-start")["sub"] == "u"
    with pytest.raises(LaunchError):
        _id_token_claims(token(aud="another-app"), None, "kansrijke-start")
