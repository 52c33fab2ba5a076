"""A live app (sandbox on) on a loopback port, in front of a real sekmet-fhir with the demo data."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from service import create_app
from service.embedded.sekmet import free_port


class Live:
    def __init__(self, app, base):
        self.app, self.base = app, base


def _serve(tmp_path, sekmet_demo, **extra):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(
        {
            "TESTING": True,
            "data_dir": tmp_path,
            "fhir_base_url": sekmet_demo.base_url,
            "sandbox": "on",
            "public_url": base,
            **extra,
        }
    )
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, Live(app, base)


@pytest.fixture()
def live(tmp_path, sekmet_demo):
    server, live = _serve(tmp_path, sekmet_demo)
    yield live
    server.shutdown()


@pytest.fixture()
def live_factory(tmp_path, sekmet_demo):
    servers = []

    def make(**extra):
        server, live = _serve(tmp_path / f"app{len(servers)}", sekmet_demo, **extra)
        servers.append(server)
        return live

    yield make
    for server in servers:
        server.shutdown()
