"""SIGKILL of the service in the middle of a push: after a restart the referral goes out, once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from service.embedded import EmbeddedServerFailed, start_sekmet
from service.embedded.sekmet import free_port
from service.fhir.client import FhirClient
from service.outbox.store import Outbox
from tests.factories import make_qr, patient_ref
from tests.faultproxy import FaultProxy, wait_for

ROOT = Path(__file__).resolve().parents[2]


def start_service(env: dict, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "service.run"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{env['KS_PORT']}/fhir/metadata"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return process
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    pytest.fail(f"the service did not start: {log.read_text()[-2000:]}", pytrace=False)


def service_requests(base_url: str) -> int:
    with FhirClient(base_url) as client:
        return len(client.search("ServiceRequest", {"subject": patient_ref(client)}).get("entry", []))


@pytest.mark.parametrize(
    "mode", ["hold", "hold-response"], ids=["before-the-server-saw-it", "after-the-server-committed"]
)
def test_sigkill_mid_push_delivers_once_after_restart(tmp_path, mode):
    try:
        server = start_sekmet(tmp_path / "fhir")
    except EmbeddedServerFailed as exc:
        pytest.fail(f"sekmet-fhir could not be started: {exc}", pytrace=False)
    proxy = FaultProxy(int(server.base_url.rsplit(":", 1)[1].split("/")[0]), mode=mode, faults=1)
    port = free_port()
    env = {
        **os.environ,
        "KS_FHIR_BASE_URL": proxy.base_url,
        "KS_DATA_DIR": str(tmp_path / "data"),
        "KS_PORT": str(port),
        "KS_OUTBOX_INTERVAL": "0.3",
        "KS_SANDBOX": "0",
        "KS_FHIR_READ_TIMEOUT": "30",
    }
    log = tmp_path / "service.log"
    service = start_service(env, log)
    try:
        # The push hangs at the proxy. Either the request's own push attempt holds it (the answer times out) or
        # the background worker claimed the item first (every 0.3 s here) and holds it: then the answer is 202.
        try:
            answer = requests.post(
                f"http://127.0.0.1:{port}/fhir/QuestionnaireResponse/$submit",
                json=make_qr(signals=("homeless", "substance-addiction")),
                headers={"Content-Type": "application/fhir+json"},
                timeout=2,
            )
            assert answer.status_code == 202, answer.text
        except requests.Timeout:
            pass
        assert wait_for(lambda: proxy.faulted == 1)  # the push reached the proxy, which holds it
        outbox = Outbox(tmp_path / "data" / "outbox.sqlite3")
        [item] = outbox.list()
        assert item.state == "pending"  # committed to disk before anything was sent
        assert item.destination == "ggd-zuid-limburg"
        if mode == "hold-response":
            assert wait_for(lambda: service_requests(server.base_url) == 1)  # the server committed
        else:
            assert service_requests(server.base_url) == 0
        service.send_signal(signal.SIGKILL)
        service.wait(10)

        service = start_service(env, log)  # the proxy forwards from now on
        assert wait_for(lambda: outbox.get(item.id).state == "delivered"), log.read_text()[-2000:]
        # One for the one external recipient (the JGZ coordinator), never more; the internal POH Jeugd's never.
        assert service_requests(server.base_url) == 1
        with FhirClient(server.base_url) as client:
            assert len(client.search("Task", {"patient": patient_ref(client)}).get("entry", [])) == 1
    finally:
        proxy.close()
        if service.poll() is None:
            service.terminate()
            service.wait(10)
        server.stop()
