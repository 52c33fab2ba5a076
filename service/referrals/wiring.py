"""Build the outbox, the FHIR client and the submitter from Settings (used by the app and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from service.audit import AuditLog
from service.config import Settings
from service.fhir.client import BackendServicesAuth, BearerTokenAuth, FhirClient
from service.outbox.store import Outbox
from service.referrals.pipeline import Engine
from service.referrals.submit import Pusher, Submitter


def fhir_client(settings: Settings, *, retries: int = 3, read_timeout: float | None = None) -> FhirClient:
    auth = None
    if settings.fhir_auth == "bearer":
        auth = BearerTokenAuth(settings.fhir_bearer_token)
    elif settings.fhir_auth == "backend-services":
        auth = BackendServicesAuth(
            settings.fhir_token_url, settings.fhir_client_id, Path(settings.fhir_private_key_file).read_bytes(),
            settings.fhir_key_id, alg=settings.fhir_jwt_alg, scope=settings.fhir_scope,
        )
    return FhirClient(settings.fhir_base_url, auth=auth, retries=retries,
                      timeout=(settings.fhir_connect_timeout, read_timeout or settings.fhir_read_timeout))


@dataclass
class Delivery:
    outbox: Outbox
    audit: AuditLog
    pusher: Pusher | None  # background worker and `outbox retry`: the client's full retries (None: no server set)
    submitter: Submitter  # immediate attempt at submit: one quick try, then the outbox takes over
    status_client: FhirClient | None = None  # reads the recipients' Tasks for a page: no retries, a short read timeout


def build_delivery(settings: Settings, engine: Engine) -> Delivery:
    """Without KS_FHIR_BASE_URL submissions still go into the outbox, and wait there for a server."""
    data = Path(settings.data_dir)
    outbox = Outbox(data / "outbox.sqlite3", lease_seconds=settings.outbox_lease)
    audit = AuditLog(data / "audit.sqlite3")
    pusher = quick = status = None
    if settings.fhir_base_url:
        pusher = Pusher(outbox, fhir_client(settings), audit)
        quick = Pusher(outbox, fhir_client(settings, retries=1), audit)
        status = fhir_client(settings, retries=0, read_timeout=min(5.0, settings.fhir_read_timeout))
    return Delivery(outbox=outbox, audit=audit, pusher=pusher, submitter=Submitter(engine, outbox, quick, audit),
                    status_client=status)
