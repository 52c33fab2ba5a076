"""The registry of EHRs and practices (KS_EHR_REGISTRY): the example in examples/ loads, every mistake stops
start-up with file and JSON pointer, https is required outside development, production needs one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from joserfc.jwk import RSAKey

from service import create_app
from service.config import SettingsInvalid
from service.demo import PRACTICE_AGB
from service.errors import ConfigurationInvalid
from service.registry import load_registry, normalise_base

ROOT = Path(__file__).resolve().parent.parent
REGIONS = frozenset({"maastricht-heuvelland", "voorbeeldstad"})


def _example(tmp_path) -> Path:
    """The README's example, with the secret and the private key it names put where it says (never in git)."""
    shutil.copy(ROOT / "examples" / "ehr-registry.yaml", tmp_path / "ehr-registry.yaml")
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "de-linde.pem").write_bytes(RSAKey.generate_key(2048).as_pem(private=True))
    return tmp_path / "ehr-registry.yaml"


def _one(**changes) -> dict:
    ehr = {
        "id": "his",
        "name": "HIS",
        "iss": "https://his.example/fhir",
        "client_id": "ks",
        "client_auth": {"method": "public"},
        "id_token_issuer": "https://his.example/auth",
        "practices": [
            {"id": "p", "name": "P", "agb": "01000001", "ura": "90000001", "region": "maastricht-heuvelland"}
        ],
    }
    ehr.update(changes)
    return ehr


def _write(tmp_path, *ehrs) -> Path:
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump({"ehrs": list(ehrs)}), encoding="utf-8")
    return path


def test_the_example_registers_three_ehrs_and_four_practices(tmp_path):
    registry = load_registry(
        _example(tmp_path),
        regions=REGIONS,
        require_https=True,
        environ={"KS_EHR_SECRET_GC_WEST": "from-the-environment", "KS_IDP_SECRET_GGD_ZL": "idp-secret"},
        recipients={"maastricht-heuvelland": frozenset({"regiocoordinator-jgz", "nu-niet-zwanger"})},
    )
    [ggd] = registry.providers.values()  # and one identity provider for the recipients' staff
    assert ggd.id == "ggd-zuid-limburg" and ggd.region == "maastricht-heuvelland"
    assert sorted(registry.ehrs) == ["de-linde-his", "gezondheidscentrum-west-epd", "voorbeeldstad-his"]
    assert sum(len(e.practices) for e in registry.ehrs.values()) == 4
    linde = registry.by_iss("https://FHIR.his-de-linde.example/r4/")  # host case and a trailing slash do not matter
    assert (
        linde.id == "de-linde-his"
        and linde.auth.method == "private_key_jwt"
        and "BEGIN PRIVATE KEY" in linde.auth.private_key_pem
    )
    west = registry.get("gezondheidscentrum-west-epd")
    assert west.auth.secret == "from-the-environment" and "from-the-environment" not in repr(west)
    assert registry.practice("voorbeeldstad-his", "de-brug").region == "voorbeeldstad"
    # Exactly the registered base: another path, scheme or port on the same host is another EHR.
    for other in (
        "https://fhir.his-de-linde.example/r4/other",
        "http://fhir.his-de-linde.example/r4",
        "https://fhir.his-de-linde.example:8443/r4",
        "https://fhir.his-de-linde.example",
        "",
        None,
        "https://x:notaport/",
    ):
        assert registry.by_iss(other) is None, other
    assert linde.allows("https://login.his-de-linde.example/token") and not linde.allows("https://evil.example/token")


def test_every_mistake_is_named_with_its_pointer(tmp_path):
    path = _write(
        tmp_path,
        _one(client_auth={"method": "client_secret_basic", "secret_env": "KS_NOT_SET"}),
        _one(
            id="his", practices=[{"id": "p", "name": "P", "agb": "01000001", "ura": "90000001", "region": "atlantis"}]
        ),
        _one(
            id="keyed",
            iss="https://other.example/fhir",
            client_auth={"method": "private_key_jwt", "private_key_file": "missing.pem", "key_id": "k"},
        ),
    )
    with pytest.raises(ConfigurationInvalid) as caught:
        load_registry(path, regions=REGIONS, require_https=True, environ={})
    text = str(caught.value)
    assert "/ehrs/0/client_auth/secret_env: the environment variable KS_NOT_SET is not set" in text
    assert (
        "/ehrs/1/id: 'his' is taken" in text
        and "/ehrs/1/iss: https://his.example/fhir is registered for 'his' already" in text
    )
    assert "/ehrs/1/practices/0/region: no rule set 'atlantis'" in text
    assert "/ehrs/2/client_auth/private_key_file: cannot be read" in text


def test_schema_mistakes_are_named_too(tmp_path):
    path = _write(tmp_path, _one(client_auth={"method": "client_secret_basic", "secret": "in-git!"}, agb="1"))
    with pytest.raises(ConfigurationInvalid) as caught:
        load_registry(path, regions=REGIONS, require_https=True)
    assert "/ehrs/0/client_auth" in str(caught.value) and "/ehrs/0: Additional properties" in str(caught.value)


def test_https_is_required_outside_development(tmp_path):
    path = _write(
        tmp_path,
        _one(
            iss="http://his.example/fhir",
            id_token_issuer="http://his.example/auth",
            allowed_origins=["http://login.example"],
        ),
    )
    with pytest.raises(ConfigurationInvalid) as caught:
        load_registry(path, regions=REGIONS, require_https=True)
    assert [p.pointer for p in caught.value.problems] == [
        "/ehrs/0/iss",
        "/ehrs/0/id_token_issuer",
        "/ehrs/0/allowed_origins/0",
    ]
    assert load_registry(path, regions=REGIONS, require_https=False).by_iss("http://his.example/fhir")
    # On loopback, http never leaves the machine: the one-host demo (docker-compose, the SMART launcher) runs so.
    loopback = _write(
        tmp_path, _one(iss="http://127.0.0.1:9009/v/r4/fhir", id_token_issuer="http://localhost:9009/v/r4/auth/fhir")
    )
    assert load_registry(loopback, regions=REGIONS, require_https=True).by_iss("http://127.0.0.1:9009/v/r4/fhir")


def test_the_compose_registry_registers_the_smart_launcher():
    """docker-compose.yml runs in production with this file: it must load there (loopback http allowed)."""
    registry = load_registry(
        ROOT / "examples" / "ehr-registry.smart-launcher.yaml", regions=REGIONS, require_https=True
    )
    launcher = registry.by_iss("http://127.0.0.1:9009/v/r4/fhir")
    # smart-launcher-v2 signs its id_tokens with iss = its auth router's base + "/fhir" (backend/routes/auth/token.ts).
    assert launcher.id_token_issuer == "http://127.0.0.1:9009/v/r4/auth/fhir"
    assert launcher.practices[0].agb == PRACTICE_AGB


def test_production_refuses_to_start_without_a_registry(tmp_path):
    base = {"env": "production", "secret_key": "x" * 40, "data_dir": tmp_path, "api_auth": "none", "TESTING": True}
    with pytest.raises(SettingsInvalid, match="KS_EHR_REGISTRY"):
        create_app(base)
    with pytest.raises(SettingsInvalid, match=r"KS_EHR_REGISTRY: .* is not a file"):
        create_app({**base, "ehr_registry": tmp_path / "nowhere.yaml"})
    with pytest.raises(ConfigurationInvalid, match="region"):  # a broken registry stops start-up like a broken mapping
        create_app(
            {
                **base,
                "ehr_registry": _write(
                    tmp_path,
                    _one(
                        practices=[{"id": "p", "name": "P", "agb": "01000001", "ura": "90000001", "region": "atlantis"}]
                    ),
                ),
            }
        )
    app = create_app({**base, "ehr_registry": _write(tmp_path, _one())})
    assert list(app.extensions["ks"].registry.ehrs) == ["his"]


def test_the_sandbox_registers_itself_only_when_on(tmp_path):
    on = create_app(
        {"TESTING": True, "data_dir": tmp_path / "on", "sandbox": "on", "public_url": "http://127.0.0.1:9999"}
    )
    sandbox = on.extensions["ks"].registry.by_iss("http://127.0.0.1:9999/sandbox/fhir")
    assert sandbox.id == "sandbox" and sandbox.id_token_issuer == "http://127.0.0.1:9999/sandbox/auth"
    assert create_app({"TESTING": True, "data_dir": tmp_path / "off"}).extensions["ks"].registry.ehrs == {}


def test_normalise_base():
    assert normalise_base("HTTPS://His.Example:443/fhir/") == "https://his.example/fhir"
    assert normalise_base("http://127.0.0.1:8080/sandbox/fhir") == "http://127.0.0.1:8080/sandbox/fhir"
