"""Identity providers in the deployment's registry (KS_EHR_REGISTRY), as the EHRs are: checked at start-up (known
region, external recipients only, https, readable secrets), their users mapped to exactly one recipient, and
only registered ones sign anyone in."""

from __future__ import annotations

import pytest
import requests
import yaml

from service.embedded.sekmet import free_port
from service.errors import ConfigurationInvalid
from service.registry import load_registry
from tests.inbox.conftest import serve

REGIONS = frozenset({"maastricht-heuvelland", "voorbeeldstad"})
RECIPIENTS = {
    "maastricht-heuvelland": frozenset({"regiocoordinator-jgz", "nu-niet-zwanger"}),
    "voorbeeldstad": frozenset({"centrum-jong", "verloskundige"}),
}
EHR = {
    "id": "his",
    "name": "HIS",
    "iss": "https://his.example/fhir",
    "client_id": "ks",
    "client_auth": {"method": "public"},
    "id_token_issuer": "https://his.example/auth",
    "practices": [{"id": "p", "name": "P", "agb": "01000001", "ura": "90000001", "region": "maastricht-heuvelland"}],
}


def provider(**changes) -> dict:
    entry = {
        "id": "ggd-zl",
        "name": "GGD Zuid Limburg",
        "issuer": "https://login.ggd.example/tenant",
        "client_id": "kansrijke-start",
        "client_auth": {"method": "client_secret_basic", "secret_env": "KS_IDP_SECRET"},
        "region": "maastricht-heuvelland",
        "users": [
            {"claim": "email", "value": "coordinator@ggd.example", "recipient": "regiocoordinator-jgz"},
            {"claim": "groups", "value": "nnz-team", "recipient": "nu-niet-zwanger"},
        ],
    }
    entry.update(changes)
    return entry


def write(tmp_path, *providers) -> object:
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump({"ehrs": [EHR], "identity_providers": list(providers)}), encoding="utf-8")
    return path


def load(path, **kw):
    return load_registry(
        path, regions=REGIONS, require_https=True, environ={"KS_IDP_SECRET": "s3cret"}, recipients=RECIPIENTS, **kw
    )


def test_a_registered_provider_maps_each_user_to_one_recipient(tmp_path):
    registry = load(write(tmp_path, provider()))
    idp = registry.provider("ggd-zl")
    assert idp is not None and idp.auth.secret == "s3cret" and idp.scopes == "openid profile email"
    assert "s3cret" not in repr(idp)
    assert idp.recipient_for({"sub": "1", "email": "coordinator@ggd.example"}) == "regiocoordinator-jgz"
    assert idp.recipient_for({"sub": "2", "groups": ["staff", "nnz-team"]}) == "nu-niet-zwanger"
    assert idp.recipient_for({"sub": "3", "email": "someone@ggd.example", "groups": ["staff"]}) is None
    # a user in both lists works for two recipients: no guess, refused
    assert idp.recipient_for({"sub": "4", "email": "coordinator@ggd.example", "groups": ["nnz-team"]}) is None
    # a claim that merely contains the value, or of another type, is no match
    assert idp.recipient_for({"sub": "5", "email": "x-coordinator@ggd.example", "groups": "nnz-team-2"}) is None
    assert registry.ehrs["his"].id == "his"  # the EHRs are as before


@pytest.mark.parametrize(
    ("changes", "pointer", "words"),
    [
        ({"users": [{"claim": "sub", "value": "x", "recipient": "centrum-jong"}]}, "/users/0/recipient", "no external"),
        ({"users": [{"claim": "sub", "value": "x", "recipient": "poh-jeugd"}]}, "/users/0/recipient", "no external"),
        ({"region": "elders"}, "/region", "no rule set"),
        ({"issuer": "http://login.ggd.example"}, "/issuer", "https"),
        (
            {"client_auth": {"method": "client_secret_basic", "secret_env": "KS_UNSET"}},
            "/client_auth/secret_env",
            "not set",
        ),
        ({"id": "sandbox"}, "/id", "taken"),
    ],
    ids=["other-regions-recipient", "internal-recipient", "unknown-region", "http", "no-secret", "sandbox-id"],
)
def test_a_mistake_in_a_provider_stops_start_up_naming_it(tmp_path, changes, pointer, words):
    with pytest.raises(ConfigurationInvalid) as caught:
        load(write(tmp_path, provider(**changes)))
    found = {p.pointer: p.message for p in caught.value.problems}
    assert words in found.get(f"/identity_providers/0{pointer}", ""), found


def test_the_schema_refuses_a_provider_without_openid_or_mappings(tmp_path):
    with pytest.raises(ConfigurationInvalid) as caught:
        load(write(tmp_path, provider(scopes="profile email", users=[])))
    pointers = {p.pointer for p in caught.value.problems}
    assert {"/identity_providers/0/scopes", "/identity_providers/0/users"} <= pointers


def test_with_two_providers_the_user_picks_and_a_broken_one_is_refused_in_words(tmp_path):
    port, closed = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    path = write(
        tmp_path,
        provider(id="moved", name="Verhuisd", issuer=base + "/sandbox/idp/", client_auth={"method": "public"}),
        provider(
            id="down", name="Onbereikbaar", issuer=f"http://127.0.0.1:{closed}/idp", client_auth={"method": "public"}
        ),
    )
    server, _ = serve(tmp_path / "data", port=port, ehr_registry=path, env="development")
    try:
        pick = requests.get(base + "/inbox/login", timeout=10)
        assert pick.status_code == 200 and "Kies de inlogdienst van uw organisatie" in pick.text
        for name in ("Demo-inlogdienst (sandbox)", "Verhuisd", "Onbereikbaar"):
            assert name in pick.text
        # discovery answers with another issuer than registered (a trailing slash): refused (Discovery §4.3)
        moved = requests.get(base + "/inbox/login", params={"provider": "moved"}, allow_redirects=False, timeout=10)
        assert moved.status_code == 502 and "anders ingericht" in moved.text
        down = requests.get(base + "/inbox/login", params={"provider": "down"}, allow_redirects=False, timeout=10)
        assert down.status_code == 502 and "niet bereikbaar" in down.text
        assert str(closed) not in down.text  # nothing about our network on the page
        sandbox = requests.get(base + "/inbox/login", params={"provider": "sandbox"}, allow_redirects=False, timeout=10)
        assert sandbox.status_code == 302 and sandbox.headers["Location"].startswith(base + "/sandbox/idp/authorize?")
    finally:
        server.shutdown()
