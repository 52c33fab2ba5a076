"""A live app (sandbox on: its EHR and its OpenID Connect provider) on a loopback port. The inbox's sign-in
reads nothing about a patient; its worklist reads the recipient's server: a real sekmet-fhir (every destination),
or, `serve(..., fhir_base_url=...)`, another one."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from service import create_app
from service.embedded.sekmet import free_port
from service.inbox.oidc import forget_discovery


class Live:
    def __init__(self, app, base):
        self.app, self.base = app, base

    @property
    def audit(self):
        return self.app.extensions["ks"].delivery.audit


def serve(tmp_path, port: int | None = None, **extra):
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(
        {
            "TESTING": True,
            "data_dir": tmp_path,
            "fhir_base_url": f"http://127.0.0.1:{free_port()}/fhir",  # a closed port, unless `extra` names one
            "sandbox": "on",
            "public_url": base,
            **extra,
        }
    )
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, Live(app, base)


@pytest.fixture(scope="session")
def inbox_fhir(sekmet_servers) -> str:
    """The recipients' server of the inbox tests (empty at the start)."""
    return sekmet_servers.get("inbox").base_url


@pytest.fixture()
def live(tmp_path, inbox_fhir):
    forget_discovery()
    server, found = serve(tmp_path / "data", fhir_base_url=inbox_fhir)
    yield found
    server.shutdown()
    forget_discovery()
