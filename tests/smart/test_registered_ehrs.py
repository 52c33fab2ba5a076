"""Only registered EHRs launch the app (issue 8), tried over real HTTP as an attacker would: an unregistered
`iss` gets not one request; a registered second EHR launches and refers for the practice the registry names;
bad id_tokens, endpoints off the registered origin and redirects are refused; credentials reach only the
registered token endpoint."""

from __future__ import annotations

import base64
import re
from urllib.parse import urljoin

import pytest
import requests
import yaml
from joserfc import jwt
from joserfc.jwk import RSAKey

from service.demo import PRACTICE_AGB, PRACTICE_URA
from service.fhir import urls
from service.fhir.client import FhirClient
from service.smart.session import COOKIE_NAME
from tests.smart.fake_ehr import FakeEhr, plain_counting_server
from tests.web.helpers import csrf_of

# The fake EHR proxies the demo record, whose GP works at the organisation with the demo AGB: the registry
# names that practice "Het Tweede EPD" in region voorbeeldstad, so a referral shows which one spoke.
SECOND = {
    "id": "tweede",
    "name": "Huisartsenpraktijk Het Tweede EPD (test)",
    "agb": PRACTICE_AGB,
    "ura": PRACTICE_URA,
    "region": "voorbeeldstad",
}
ELSEWHERE = {
    "id": "elders",
    "name": "Praktijk Elders (test)",
    "agb": "01000002",
    "ura": "90000002",
    "region": "maastricht-heuvelland",
}
NOT_REGISTERED = "Dit EPD is niet aangesloten op Kansrijke Start"


def write_registry(tmp_path, fake: FakeEhr, *, practices=(SECOND,), auth=None, name="Tweede EPD (test)") -> str:
    path = tmp_path / "ehr-registry.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "ehrs": [
                    {
                        "id": "second-ehr",
                        "name": name,
                        "iss": fake.fhir_base,
                        "client_id": fake.client_id,
                        "client_auth": auth or {"method": "public"},
                        "id_token_issuer": fake.issuer,
                        "practices": list(practices),
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    return str(path)


def follow(session: requests.Session, url: str, hops: int = 10) -> requests.Response:
    """The browser's part of a launch: follow redirects across hosts until a page (or the app's /form)."""
    r = session.get(url, allow_redirects=False, timeout=10)
    while r.is_redirect and hops and not r.headers["Location"].endswith("/form"):
        url = urljoin(url, r.headers["Location"])
        r = session.get(url, allow_redirects=False, timeout=10)
        hops -= 1
    return r


@pytest.fixture()
def counting():
    server = plain_counting_server()
    yield server
    server.stop()


@pytest.fixture()
def fake(sekmet_demo):
    ehr = FakeEhr(fhir_upstream=sekmet_demo.base_url)
    yield ehr
    ehr.stop()


def test_an_unregistered_iss_is_refused_before_any_request(live, counting):
    r = requests.get(
        f"{live.base}/launch", params={"iss": counting.base + "/fhir", "launch": "x"}, allow_redirects=False, timeout=10
    )
    assert r.status_code == 400 and NOT_REGISTERED in r.text and "This EHR is not registered" in r.text
    assert counting.hits == []  # not discovery, not anything
    # A closed port answers the same page as an open one: nothing tells an attacker what is listening.
    closed = requests.get(f"{live.base}/launch", params={"iss": "http://127.0.0.1:9/fhir", "launch": "x"}, timeout=10)
    assert (closed.status_code, closed.text) == (r.status_code, r.text)
    assert COOKIE_NAME not in r.cookies


def test_the_standalone_launch_offers_only_the_registered_ehrs(live_factory, fake, counting, tmp_path):
    app = live_factory(ehr_registry=write_registry(tmp_path, fake))
    pick = requests.get(f"{app.base}/launch/standalone", timeout=10)
    assert pick.status_code == 200 and "Demo-EPD (sandbox)" in pick.text and "Tweede EPD (test)" in pick.text
    assert "<input" not in pick.text and 'href="/launch/standalone?ehr=second-ehr"' in pick.text
    for params in ({"iss": counting.base + "/fhir"}, {"ehr": "not-registered"}):
        r = requests.get(f"{app.base}/launch/standalone", params=params, allow_redirects=False, timeout=10)
        assert r.status_code == 400 and NOT_REGISTERED in r.text
    assert counting.hits == []
    r = requests.get(f"{app.base}/launch/standalone", params={"ehr": "second-ehr"}, allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"].startswith(fake.issuer + "/authorize?")


def test_a_second_registered_ehr_launches_and_refers_for_the_practice_the_registry_names(
    live_factory, fake, tmp_path, sekmet_demo
):
    app = live_factory(ehr_registry=write_registry(tmp_path, fake, practices=(ELSEWHERE, SECOND)))
    s = requests.Session()
    r = follow(s, fake.launch_url(app.base))
    assert r.status_code == 302 and r.headers["Location"].endswith("/form"), r.text[:500]
    ctx = app.app.extensions["ks"].sessions.load(s.cookies[COOKIE_NAME])
    assert (ctx.ehr_id, ctx.practice_id, ctx.role, ctx.iss) == ("second-ehr", "tweede", "huisarts", fake.fhir_base)
    form = s.get(f"{app.base}/form", timeout=10)
    assert form.status_code == 200 and SECOND["name"] in form.text
    token = csrf_of(form.text)
    s.post(
        f"{app.base}/form/review",
        data={
            "csrf_token": token,
            "phase": "pregnant",
            "due-date": "2027-03-01",
            "homeless": "true",
            "consent-given": "true",
            "consent-method": "verbal",
        },
        timeout=10,
    )
    review = s.get(f"{app.base}/form/review", timeout=10).text
    boxes = set(re.findall(r'name="(consent-for-[a-z-]+)"', review))
    assert boxes, review[:2000]
    sent = s.post(
        f"{app.base}/form/send",
        data={"csrf_token": token, "consent-method": "verbal", **dict.fromkeys(boxes, "true")},
        timeout=20,
    )
    ids = re.findall(r'<code class="sr-id">([^<]+)</code>', sent.text)
    assert ids, sent.text[:2000]
    with FhirClient(sekmet_demo.base_url) as recipients:
        for sr_id in ids:
            sr = recipients.read("ServiceRequest", sr_id)
            # The requester is the registered practice (not the EHR's own Organization name), and its region's rules applied.
            assert sr["requester"] == {"reference": "#requester", "display": SECOND["name"]}
            assert sr["contained"][0]["organization"]["identifier"] == {"system": urls.AGB_Z, "value": PRACTICE_AGB}
            assert all(e["valueString"].startswith("voorbeeldstad") for e in sr["extension"])


def test_a_user_of_no_registered_practice_is_refused(live_factory, fake, tmp_path):
    app = live_factory(ehr_registry=write_registry(tmp_path, fake, practices=(ELSEWHERE,)))
    s = requests.Session()
    r = follow(s, fake.launch_url(app.base))
    assert r.status_code == 403 and "niet bij een praktijk die voor Kansrijke Start is geregistreerd" in r.text
    assert COOKIE_NAME not in s.cookies


@pytest.mark.parametrize(
    "mode", ["wrong-issuer", "unsigned", "hs256", "expired", "wrong-audience", "missing", "other-key"]
)
def test_a_bad_id_token_refuses_the_launch(live_factory, fake, tmp_path, mode):
    app = live_factory(ehr_registry=write_registry(tmp_path, fake))
    fake.id_token_mode = mode
    s = requests.Session()
    r = follow(s, fake.launch_url(app.base))
    assert r.status_code == 400 and "De identiteit van de gebruiker kon niet worden gecontroleerd" in r.text, (
        mode,
        r.text[:300],
    )
    assert COOKIE_NAME not in s.cookies
    assert any(q["path"] == "/auth/token" for q in fake.requests)  # it got as far as the token, and stopped there


def _confidential(tmp_path, method: str) -> dict:
    if method == "client_secret_basic":
        (tmp_path / "secret.txt").write_text("s3cret-for-the-registered-ehr")
        return {"method": method, "secret_file": str(tmp_path / "secret.txt")}
    (tmp_path / "app.pem").write_bytes(RSAKey.generate_key(2048).as_pem(private=True))
    return {"method": method, "private_key_file": str(tmp_path / "app.pem"), "key_id": "ks-2026"}


@pytest.mark.parametrize("method", ["client_secret_basic", "private_key_jwt"])
@pytest.mark.parametrize("endpoint", ["token_endpoint", "authorization_endpoint", "jwks_uri"])
def test_endpoints_off_the_registered_origin_get_nothing(live_factory, fake, counting, tmp_path, endpoint, method):
    """A registered EHR's discovery naming another host: the launch stops before the browser, the secret or the
    signed assertion goes anywhere."""
    app = live_factory(ehr_registry=write_registry(tmp_path, fake, auth=_confidential(tmp_path, method)))
    fake.discovery_overrides = {endpoint: counting.base + "/steal"}
    r = requests.get(fake.launch_url(app.base), allow_redirects=False, timeout=10)
    assert r.status_code == 502 and "anders ingericht" in r.text and "127.0.0.1" not in r.text
    assert counting.hits == [] and not any(q["path"] == "/auth/token" for q in fake.requests)


def test_a_redirected_discovery_is_not_followed(live_factory, fake, counting, tmp_path):
    app = live_factory(ehr_registry=write_registry(tmp_path, fake))
    fake.discovery_redirect = counting.base + "/.well-known/smart-configuration"
    r = requests.get(fake.launch_url(app.base), allow_redirects=False, timeout=10)
    assert r.status_code == 502 and "kon niet worden bereikt" in r.text and counting.hits == []


def test_a_registered_ehr_that_is_down_shows_no_network_details(live_factory, fake, tmp_path):
    app = live_factory(ehr_registry=write_registry(tmp_path, fake))
    url = fake.launch_url(app.base)
    fake.stop()
    r = requests.get(url, allow_redirects=False, timeout=15)
    assert r.status_code == 502 and "kon niet worden bereikt" in r.text
    assert not re.search(r"Connection|Timeout|refused|Errno|127\.0\.0\.1", r.text)


def test_the_client_secret_goes_to_the_registered_token_endpoint_only(live_factory, fake, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret-for-the-registered-ehr\n")
    app = live_factory(
        ehr_registry=write_registry(tmp_path, fake, auth={"method": "client_secret_basic", "secret_file": str(secret)})
    )
    s = requests.Session()
    assert follow(s, fake.launch_url(app.base)).headers["Location"].endswith("/form")
    basic = "Basic " + base64.b64encode(f"{fake.client_id}:s3cret-for-the-registered-ehr".encode()).decode()
    carrying = [q for q in fake.requests if q["headers"].get("Authorization") == basic]
    assert [q["path"] for q in carrying] == ["/auth/token"]  # the secret went to the token endpoint, nowhere else
    assert all("s3cret" not in str(q["query"]) + str(q["form"]) for q in fake.requests)


def test_private_key_jwt_signs_for_the_registered_token_endpoint(live_factory, fake, tmp_path):
    key = RSAKey.generate_key(2048)
    (tmp_path / "app.pem").write_bytes(key.as_pem(private=True))
    auth = {
        "method": "private_key_jwt",
        "private_key_file": str(tmp_path / "app.pem"),
        "key_id": "ks-2026",
        "alg": "RS384",
    }
    app = live_factory(ehr_registry=write_registry(tmp_path, fake, auth=auth))
    s = requests.Session()
    assert follow(s, fake.launch_url(app.base)).headers["Location"].endswith("/form")
    token_requests = [q for q in fake.requests if q["path"] == "/auth/token"]
    assert len(token_requests) == 1 and "Authorization" not in token_requests[0]["headers"]
    form = token_requests[0]["form"]
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    public = RSAKey.import_key(key.as_dict(private=False))
    assertion = jwt.decode(form["client_assertion"], public, algorithms=["RS384"])
    assert assertion.header["kid"] == "ks-2026"
    claims = assertion.claims
    assert (
        claims["iss"] == claims["sub"] == fake.client_id and claims["aud"] == fake.issuer + "/token" and claims["jti"]
    )
    assert all("client_assertion" not in q["form"] for q in fake.requests if q["path"] != "/auth/token")
