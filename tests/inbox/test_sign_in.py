"""The recipients' sign-in to /inbox (issue 13): OpenID Connect against the sandbox's real authorization server on
loopback (authlib's, PKCE S256), the id_token checked, the user mapped to exactly one recipient, a server-side
session; the refused cases with crafted id_tokens, each a readable Dutch page with a 4xx and an audit row."""

from __future__ import annotations

import html
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from service.inbox.auth import COOKIE_NAME, InboxUser, current_user, signed_in
from service.sandbox import idp

JGZ_NAME = "Regiocoördinator Jeugdgezondheidszorg Maastricht-Heuvelland (GGD)"


def start(s: requests.Session, base: str, path: str = "/inbox") -> str:
    """/inbox without a session → /inbox/login → the provider's authorize URL."""
    r = s.get(base + path, allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"].endswith("/inbox/login"), (r.status_code, r.headers)
    r = s.get(base + "/inbox/login", allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text[:300]
    return r.headers["Location"]


def pick(s: requests.Session, authorize: str, user: str) -> requests.Response:
    """The provider's pick-a-user page, the user's link, and our callback's answer."""
    page = s.get(authorize, timeout=10)
    assert page.status_code == 200 and "Inloggen als" in page.text
    links = {
        parse_qs(urlsplit(html.unescape(h)).query)["user"][0]: html.unescape(h)
        for h in re.findall(r'href="([^"]*user=[^"]+)"', page.text)
    }
    r = s.get(urlsplit(authorize)._replace(path="", query="").geturl() + links[user], allow_redirects=False, timeout=10)
    assert r.status_code == 302 and "/inbox/callback?" in r.headers["Location"], r.text[:300]
    return s.get(r.headers["Location"], allow_redirects=False, timeout=10)


def sign_in(live, user: str) -> tuple[requests.Session, requests.Response]:
    s = requests.Session()
    return s, pick(s, start(s, live.base), user)


def rows(live, event: str = "inbox-login") -> list[dict]:
    return [r for r in live.audit.entries() if r["event"] == event]


def test_a_coordinator_signs_in_with_pkce_state_and_nonce_and_sees_her_recipient(live):
    s = requests.Session()
    authorize = start(s, live.base)
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(live.base + "/sandbox/idp/authorize?")
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32 and "openid" in query["scope"][0].split()
    r = pick(s, authorize, "demo-jgz")
    assert r.status_code == 302 and r.headers["Location"] == "/inbox"
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie and "Path=/inbox" in cookie  # http on loopback: no Secure flag
    page = s.get(live.base + "/inbox", timeout=10)
    assert page.status_code == 200
    assert f"Ingelogd als Marieke Hendriks voor {JGZ_NAME}" in html.unescape(page.text)
    assert 'action="/inbox/logout"' in page.text
    [row] = rows(live)
    assert row["outcome"] == "0" and row["who"] == "sandbox:demo-jgz" and row["patient"] is None
    assert row["patient_identifier"] is None and "regiocoordinator-jgz" in row["object"]
    # the interface the worklist uses: current_user() from the cookie, and signed_in
    sid = s.cookies.get(COOKIE_NAME, path="/inbox")
    with live.app.test_request_context("/inbox", headers={"Cookie": f"{COOKIE_NAME}={sid}"}):
        assert current_user() == InboxUser(
            provider="sandbox", sub="demo-jgz", name="Marieke Hendriks", recipient="regiocoordinator-jgz"
        )
        assert signed_in(lambda: "worklist")() == "worklist"
    with live.app.test_request_context("/inbox", headers={"Cookie": f"{COOKIE_NAME}=forged"}):
        assert current_user() is None
        assert signed_in(lambda: "worklist")().status_code == 302


def test_each_user_gets_their_own_recipient_never_another(live):
    s_nnz, r = sign_in(live, "demo-nnz")
    assert r.status_code == 302
    s_jgz, _ = sign_in(live, "demo-jgz")
    nnz = html.unescape(s_nnz.get(live.base + "/inbox", timeout=10).text)
    assert "Ingelogd als Yasmina el Idrissi voor Nu Niet Zwanger (GGD Zuid Limburg)" in nnz and JGZ_NAME not in nnz
    jgz = html.unescape(s_jgz.get(live.base + "/inbox", timeout=10).text)
    assert f"voor {JGZ_NAME}" in jgz and "Nu Niet Zwanger" not in jgz
    recipients = {r["who"]: r["object"] for r in rows(live)}
    assert "nu-niet-zwanger" in recipients["sandbox:demo-nnz"]
    assert "regiocoordinator-jgz" in recipients["sandbox:demo-jgz"]


def test_a_user_the_provider_knows_but_no_recipient_is_refused(live):
    s, r = sign_in(live, "demo-extern")
    assert r.status_code == 403
    assert "niet als medewerker van een ontvanger" in r.text and "Inloggen is niet gelukt" in r.text
    assert COOKIE_NAME not in r.headers.get("Set-Cookie", "")
    assert s.get(live.base + "/inbox", allow_redirects=False, timeout=10).status_code == 302
    [row] = rows(live)
    assert row["outcome"] == "4" and row["who"] == "sandbox:demo-extern" and "unknown-user" in row["object"]


def test_sign_out_ends_the_session(live):
    s, _ = sign_in(live, "demo-jgz")
    sid = s.cookies.get(COOKIE_NAME, path="/inbox")
    assert s.get(live.base + "/inbox/logout", timeout=10).status_code == 405  # a link cannot sign anyone out
    refused = s.post(live.base + "/inbox/logout", data={"csrf_token": "forged"}, timeout=10)
    assert refused.status_code == 400 and s.get(live.base + "/inbox", timeout=10).status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', s.get(live.base + "/inbox", timeout=10).text).group(1)
    r = s.post(live.base + "/inbox/logout", data={"csrf_token": token}, timeout=10)
    assert r.status_code == 200 and "U bent uitgelogd" in r.text
    assert s.get(live.base + "/inbox", allow_redirects=False, timeout=10).headers["Location"].endswith("/inbox/login")
    # the old cookie, replayed, is no session any more
    replay = requests.get(live.base + "/inbox", cookies={COOKIE_NAME: sid}, allow_redirects=False, timeout=10)
    assert replay.status_code == 302
    [out] = rows(live, "inbox-logout")
    assert out["who"] == "sandbox:demo-jgz" and out["outcome"] == "0"


def callback_of(s: requests.Session, live) -> str:
    """The callback URL the provider sends demo-jgz's browser (`s`) to, not yet opened."""
    page = s.get(start(s, live.base), timeout=10)
    link = html.unescape(re.search(r'href="([^"]*user=demo-jgz)"', page.text).group(1))
    return s.get(live.base + link, allow_redirects=False, timeout=10).headers["Location"]


def test_a_bad_or_replayed_state_is_refused(live):
    s = requests.Session()
    callback = callback_of(s, live)
    forged = re.sub(r"state=[^&]+", "state=forged", callback)
    r = s.get(forged, allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "verlopen of al gebruikt" in r.text
    assert s.get(callback, allow_redirects=False, timeout=10).status_code == 302  # the real one works once
    again = s.get(callback, allow_redirects=False, timeout=10)
    assert again.status_code == 400 and "verlopen of al gebruikt" in again.text
    assert [r["outcome"] for r in rows(live)] == ["4", "0", "4"]


def test_a_callback_opened_in_another_browser_is_refused(live):
    """The callback URL alone starts no session (service/browser_flow.py); the attempt is audited and uses it up."""
    s = requests.Session()
    callback = callback_of(s, live)
    elsewhere = requests.get(callback, allow_redirects=False, timeout=10)
    assert elsewhere.status_code == 400 and "andere browser" in elsewhere.text and "ks_inbox" not in elsewhere.cookies
    assert s.get(callback, allow_redirects=False, timeout=10).status_code == 400
    assert [r["outcome"] for r in rows(live)] == ["4", "4"]


def test_an_unregistered_provider_is_refused(live):
    r = requests.get(live.base + "/inbox/login", params={"provider": "elders"}, allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "niet aangesloten" in r.text
    [row] = rows(live)
    assert row["outcome"] == "4" and row["who"] == "anonymous"


class Crafted:
    """Stands in for joserfc's jwt in the sandbox provider: the real token endpoint answers, with an id_token
    whose claims are changed and which is signed with the sandbox key (or, `key`, another one)."""

    def __init__(self, key=None, **claims):
        self.key, self.claims = key, claims

    def encode(self, header, claims, key):
        return jwt.encode(header, {**claims, **self.claims}, self.key or key)


@pytest.mark.parametrize(
    ("crafted", "status", "words", "reason"),
    [
        (lambda: Crafted(aud="another-client"), 400, "niet betrouwbaar laten zien wie u bent", "audience"),
        (lambda: Crafted(exp=int(time.time()) - 3600), 400, "is verlopen", "expired"),
        (lambda: Crafted(nonce="another-nonce"), 400, "hoort niet bij deze inlogpoging", "nonce"),
        (lambda: Crafted(iss="http://127.0.0.1:1/elders"), 400, "niet betrouwbaar", "issuer"),
        (
            lambda: Crafted(key=RSAKey.generate_key(2048, parameters={"kid": "sandbox-1"})),
            400,
            "niet betrouwbaar",
            "signature",
        ),
    ],
    ids=["wrong-audience", "expired", "wrong-nonce", "unregistered-issuer", "another-key"],
)
def test_a_crafted_id_token_is_refused(live, monkeypatch, crafted, status, words, reason):
    monkeypatch.setattr(idp, "jwt", crafted())
    s, r = sign_in(live, "demo-jgz")
    assert r.status_code == status and words in r.text, r.text[:500]
    assert COOKIE_NAME not in r.headers.get("Set-Cookie", "")
    assert s.get(live.base + "/inbox", allow_redirects=False, timeout=10).status_code == 302
    [row] = rows(live)
    assert row["outcome"] == "4" and f"({reason})" in row["object"] and row["patient"] is None


def test_the_providers_refusal_is_shown_in_words(live):
    s = requests.Session()
    state = parse_qs(urlsplit(start(s, live.base)).query)["state"][0]
    r = s.get(live.base + "/inbox/callback", params={"state": state, "error": "access_denied"}, timeout=10)
    assert r.status_code == 400 and "weigerde de aanmelding" in r.text and "access_denied" in r.text
