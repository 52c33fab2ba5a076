"""start_sekmet: a real sekmet-fhir subprocess on loopback, its settings, and a clear failure."""

from __future__ import annotations

import re

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


def test_make_run_stops_its_fhir_server_on_sigterm(tmp_path):
    """`make run` (service.run) under a process manager: SIGTERM ends the service and its embedded server."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from service.embedded.sekmet import free_port

    app_port, fhir_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KS_")},
        "KS_PORT": str(app_port),
        "KS_FHIR_PORT": str(fhir_port),
        "KS_DATA_DIR": str(tmp_path),
        "KS_OUTBOX_WORKER": "off",
    }
    service = subprocess.Popen(
        [sys.executable, "-m", "service.run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{app_port}/fhir/metadata", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
            if service.poll() is not None:
                pytest.fail(f"service.run exited early:\n{service.stdout.read()}", pytrace=False)
        else:
            pytest.fail("service.run did not answer within 60 s", pytrace=False)
        assert requests.get(f"http://127.0.0.1:{fhir_port}/fhir/metadata", timeout=5).status_code == 200
        service.send_signal(signal.SIGTERM)
        assert service.wait(30) == 0
        output = service.stdout.read()
        recipients = re.findall(r"Recipients' server for destination [a-z-]+: (http://\S+)", output)
        assert len(recipients) == 3, output  # one per destination the mappings name, each its own server
        for base in recipients:
            with pytest.raises(requests.ConnectionError):
                requests.get(f"{base}/metadata", timeout=5)
        with pytest.raises(requests.ConnectionError):  # the embedded server went with it
            requests.get(f"http://127.0.0.1:{fhir_port}/fhir/metadata", timeout=5)
    finally:
        if service.poll() is None:
            service.kill()
            service.wait(10)
        service.stdout.close()


def test_its_data_are_the_service_users_only(tmp_path):
    """Patient data: every file the server has under KS_DATA_DIR is 0600 and every folder 0700, those an older
    run left readable to others included (issue 11)."""
    import os
    import stat

    data = tmp_path / "fhir-server"
    (data / "reports").mkdir(parents=True)
    for old in (data / "sekmet.db", data / "reports" / "old.json"):
        old.write_bytes(b"")
        old.chmod(0o644)
    (data / "reports").chmod(0o755)
    data.chmod(0o755)
    previous = os.umask(0o022)  # what a service's shell usually has
    try:
        server = start_sekmet(data)
    finally:
        os.umask(previous)
    try:
        patient = {"resourceType": "Patient", "name": [{"family": "Test"}]}
        assert requests.post(f"{server.base_url}/Patient", json=patient, timeout=10).status_code == 201
    finally:
        server.stop()
    modes = {
        str(path.relative_to(tmp_path)): stat.S_IMODE(path.stat().st_mode)
        for path in [data, *data.rglob("*")]
        if not path.is_symlink()
    }
    assert {"fhir-server/sekmet.db", "fhir-server/settings.yaml", "fhir-server/sekmet.log"} <= set(modes)
    wrong = {p: oct(m) for p, m in modes.items() if m != (0o700 if (tmp_path / p).is_dir() else 0o600)}
    assert wrong == {}
