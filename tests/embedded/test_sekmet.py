"""start_sekmet: a real sekmet-fhir subprocess on loopback, its settings, and a clear failure."""

from __future__ import annotations

import pytest
import requests
import yaml

from service.embedded import EmbeddedServerFailed, start_sekmet


def test_starts_on_loopback_with_simulator_off_and_stops(tmp_path):
    server = start_sekmet(tmp_path)
    try:
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/fhir")
        metadata = requests.get(f"{server.base_url}/metadata", timeout=5).json()
        assert metadata["fhirVersion"] == "4.0.1"
        settings = yaml.safe_load((tmp_path / "settings.yaml").read_text())
        assert settings["simulator"] == {"enabled": False}  # else it completes our Tasks by itself
        assert settings["log_inbound"] is False  # else it keeps every request body in its traffic log
        assert (tmp_path / "sekmet.db").exists()
    finally:
        server.stop()
    assert server.process.poll() is not None


def test_a_server_that_cannot_start_fails_with_its_own_words(tmp_path):
    with pytest.raises(EmbeddedServerFailed) as caught:
        start_sekmet(tmp_path, settings={"validation": {"inbound": "sometimes"}})

    assert "exited with code" in str(caught.value)
    assert "validation.inbound" in str(caught.value)  # from sekmet's own stderr
