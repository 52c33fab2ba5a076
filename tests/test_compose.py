"""docker-compose.yml is valid (checked without a Docker engine by Debian's docker-compose) and says what it must."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from service.config import MAPPINGS, QUESTIONNAIRES

ROOT = Path(__file__).resolve().parent.parent


def test_compose_config_passes():
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail(
            "docker-compose is not installed: `make test` installs Debian's docker-compose (make system-deps)",
            pytrace=False,
        )
    result = subprocess.run(
        [exe, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        env={**os.environ, "KS_SECRET_KEY": "x" * 48},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_compose_pins_hapi_with_healthcheck_and_builds_the_service():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    hapi = compose["services"]["hapi"]
    assert hapi["image"].startswith("hapiproject/hapi:v") and "latest" not in hapi["image"]
    assert "healthcheck" in hapi
    service = compose["services"]["kansrijk"]
    assert service["build"] == "." and service["environment"]["KS_FHIR_BASE_URL"].endswith(":8081/fhir")
    assert service["depends_on"]["hapi"]["condition"] == "service_healthy"
    assert (ROOT / "Dockerfile").exists()


def test_compose_refuses_to_start_without_a_secret():
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed", pytrace=False)
    env = {k: v for k, v in os.environ.items() if k != "KS_SECRET_KEY"}
    result = subprocess.run(
        [exe, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode != 0 and "KS_SECRET_KEY" in result.stderr


def test_compose_runs_the_official_smart_launcher_in_front_of_hapi():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    launcher = compose["services"]["smart-launcher"]
    assert launcher["image"].startswith("smartonfhir/smart-launcher-2@sha256:")
    assert launcher["environment"]["FHIR_SERVER_R4"] == "http://hapi:8080/fhir"


def test_compose_names_the_destinations_the_mappings_use(tmp_path):
    """The recipients' server is its own HAPI, and the destinations file the service gets defines every name
    the regional mappings use (it would not start otherwise)."""
    from service.config import load_settings
    from service.referrals.destinations import load_destinations
    from service.referrals.pipeline import Engine

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["kansrijk"]
    assert service["depends_on"]["hapi-recipients"]["condition"] == "service_healthy"
    assert "--recipients" in compose["services"]["demo-recipients"]["command"]
    file = service["environment"]["KS_DESTINATIONS"].split(":-", 1)[1].rstrip("}").replace("/app/", "")
    engine = Engine.from_folders(QUESTIONNAIRES, MAPPINGS, "maastricht-heuvelland", "test")
    settings = load_settings({}, {"destinations": ROOT / file, "data_dir": tmp_path})
    destinations = load_destinations(settings, engine.rulesets)
    assert {d.base_url for d in destinations.values()} == {"http://127.0.0.1:8082/fhir"}
    assert set(destinations) == {"ggd-zuid-limburg", "centrum-jong-voorbeeldstad", "verloskundigen-voorbeeldstad"}


HAPI_POM = ROOT / "tests" / "contract" / "hapi" / "pom.xml"
HAPI_SETTINGS = ROOT / "tests" / "contract" / "hapi" / "src" / "main" / "resources" / "hapi-settings.properties"


def _tested_hapi_version() -> str:
    import xml.etree.ElementTree as ET

    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    version = ET.parse(HAPI_POM).getroot().find("m:properties/m:hapi.version", ns)
    assert version is not None and version.text, "tests/contract/hapi/pom.xml has no <hapi.version>"
    return version.text.strip()


def _tested_hapi_settings() -> dict[str, str]:
    lines = HAPI_SETTINGS.read_text(encoding="utf-8").splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return {key.strip(): value.strip() for key, value in pairs}


def test_compose_runs_the_hapi_release_and_settings_the_contract_tests_run():
    """Both HAPI services of docker-compose.yml are the HAPI FHIR release the contract tests start
    (tests/contract/hapi/pom.xml) with the same settings (hapi-settings.properties, which the test server reads)."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    tested = _tested_hapi_version()
    settings = _tested_hapi_settings()
    assert {"hapi.fhir.fhir_version", "hapi.fhir.enforce_referential_integrity_on_write"} <= settings.keys()
    assert {"hapi.fhir.client_id_strategy", "hapi.fhir.allow_external_references"} <= settings.keys()
    hapis = [s for s in compose["services"].values() if str(s.get("image", "")).startswith("hapiproject/hapi:")]
    assert len(hapis) == 2  # the practice's record and the recipients' server
    for service in hapis:
        tag = service["image"].split(":", 1)[1]
        # the image's tags are v<HAPI FHIR release>-<image build>[-tomcat]
        assert tag.startswith(f"v{tested}-") and tag.removeprefix(f"v{tested}-").split("-")[0].isdigit(), tag
        environment = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in service["environment"].items()}
        hapi_settings = {k: v for k, v in environment.items() if k.startswith("hapi.fhir.")}
        assert hapi_settings == settings
