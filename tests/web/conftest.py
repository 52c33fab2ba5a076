"""The pages against real FHIR servers on loopback (sekmet-fhir, each with the demo data): one plays the
practice's EHR (read for $populate with the launch's token, written back to), the other the recipients'
server the referral is pushed to — two servers, so a test can tell a write-back from a referral."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service import create_app
from service.fhir.client import FhirClient
from tests.web.helpers import launch_session, login, registry_file


@pytest.fixture(scope="session")
def ehr_server(sekmet_servers) -> str:
    return sekmet_servers.get("ehr", demo=True).base_url


@pytest.fixture(scope="session")
def recipients_server(sekmet_servers) -> str:
    return sekmet_servers.get("recipients", demo=True).base_url


@pytest.fixture(scope="session")
def sekmet(recipients_server) -> str:
    """The server this service is configured with (KS_FHIR_BASE_URL): the recipients'."""
    return recipients_server


@pytest.fixture()
def ehr(ehr_server) -> Iterator[FhirClient]:
    with FhirClient(ehr_server) as client:
        yield client


@pytest.fixture()
def recipients(recipients_server) -> Iterator[FhirClient]:
    with FhirClient(recipients_server) as client:
        yield client


def make_app(tmp_path, fhir_base_url: str, *, ehr: str, region: str = "maastricht-heuvelland", **extra):
    """The app pushing to `fhir_base_url`, with the EHR at `ehr` registered for the demo practice in `region`."""
    return create_app(
        {
            "TESTING": True,
            "data_dir": tmp_path / "data",
            "fhir_base_url": fhir_base_url,
            "fhir_connect_timeout": 1.0,
            "fhir_read_timeout": 5.0,
            "ehr_registry": registry_file(tmp_path / "deploy", ehr, region),
            **extra,
        }
    )


@pytest.fixture()
def web_app(tmp_path, recipients_server, ehr_server):
    return make_app(tmp_path, recipients_server, ehr=ehr_server)


@pytest.fixture()
def as_user(web_app, ehr_server):
    """as_user(patient, user="demo-gp", **kw) -> a test client logged in to a launch from the EHR."""

    def make(patient: str | None = "demo-pregnant", user: str = "demo-gp", app=None, iss=None, **kw):
        app = app or web_app
        client = app.test_client()
        ctx = launch_session(app, iss=iss or ehr_server, patient=patient, user=user, **kw)
        login(client, ctx)
        client.ctx = ctx
        return client

    return make
