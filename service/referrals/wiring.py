"""Build the outbox, the destinations' FHIR clients and the submitter from Settings (used by the app and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from service.audit import AuditLog
from service.config import Settings
from service.fhir.auth import BackendServicesAuth, BearerTokenAuth
from service.fhir.client import FhirClient
from service.outbox.store import Outbox
from service.referrals.destinations import Destination, default_destination, load_destinations
from service.referrals.pipeline import Engine
from service.referrals.submit import Pusher, Submitter


def destination_client(destination: Destination, settings: Settings, *, retries: int = 3,
                       read_timeout: float | None = None) -> FhirClient:
    """A FhirClient on one destination's server with that destination's own authentication."""
    auth, spec = None, destination.auth
    if spec.method == "bearer":
        auth = BearerTokenAuth(spec.token)
    elif spec.method == "backend-services":
        auth = BackendServicesAuth(spec.token_url, spec.client_id, spec.private_key_pem, spec.key_id, alg=spec.alg,
                                   scope=spec.scope or settings.fhir_scope)
    return FhirClient(destination.base_url, auth=auth, retries=retries,
                      timeout=(settings.fhir_connect_timeout, read_timeout or settings.fhir_read_timeout))


def fhir_client(settings: Settings, *, retries: int = 3) -> FhirClient:
    """A FhirClient on KS_FHIR_BASE_URL with KS_FHIR_AUTH (the server `$populate local=true` reads)."""
    return destination_client(default_destination(settings, "default"), settings, retries=retries)


@dataclass
class Delivery:
    outbox: Outbox
    audit: AuditLog
    destinations: dict[str, Destination]
    pusher: Pusher | None  # background worker and `outbox retry`: the clients' full retries (None: no server at all)
    submitter: Submitter  # immediate attempt at submit: one quick try, then the outbox takes over
    # reads the recipients' Tasks for a page, per destination: no retries, a short read timeout
    status_clients: dict[str, FhirClient] = field(default_factory=dict)

    def name(self, destination: str | None) -> str:
        found = self.destinations.get(destination or "")
        return found.name if found else (destination or "default")


def build_delivery(settings: Settings, engine: Engine) -> Delivery:
    """Destinations without a server (no KS_FHIR_BASE_URL and no KS_DESTINATIONS) still get their items in the
    outbox: they wait there for one."""
    data = Path(settings.data_dir)
    outbox = Outbox(data / "outbox.sqlite3", lease_seconds=settings.outbox_lease)
    audit = AuditLog(data / "audit.sqlite3")
    destinations = load_destinations(settings, engine.rulesets)
    served = {name: d for name, d in destinations.items() if d.base_url}
    if settings.fhir_base_url and not settings.destinations:  # items queued before destinations existed
        served[""] = default_destination(settings, "")
    pusher = quick = None
    status: dict[str, FhirClient] = {}
    if served:
        pusher = Pusher(outbox, {n: destination_client(d, settings) for n, d in served.items()}, audit)
        quick = Pusher(outbox, {n: destination_client(d, settings, retries=1) for n, d in served.items()}, audit)
        status = {n: destination_client(d, settings, retries=0, read_timeout=min(5.0, settings.fhir_read_timeout))
                  for n, d in served.items()}
    return Delivery(outbox=outbox, audit=audit, destinations=destinations, pusher=pusher,
                    submitter=Submitter(engine, outbox, quick, audit), status_clients=status)
