"""Build the outbox, the destinations' FHIR clients and the submitter from Settings (used by the app and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from service.audit import AuditLog
from service.config import DEV_SECRET_KEY, Settings
from service.db import database_for
from service.errors import required
from service.outbox.store import Outbox
from service.referrals.destinations import Destination, DestinationAuth, default_destination, load_destinations
from service.referrals.pipeline import Engine
from service.referrals.recent import RecentReferrals
from service.referrals.submit import Pusher, Submitter

if TYPE_CHECKING:  # requests is imported where a FHIR client is made: not at all without a server (start-up time)
    from requests.auth import AuthBase

    from service.fhir.client import FhirClient
    from service.mirror.events import EventStore


def destination_auth(spec: DestinationAuth, settings: Settings) -> AuthBase | None:
    """The requests auth for a destination's authentication settings (None: unauthenticated)."""
    from service.fhir.auth import BackendServicesAuth, BearerTokenAuth

    if spec.method == "bearer":
        return BearerTokenAuth(required(spec.token, "the destination's bearer token"))
    if spec.method == "backend-services":
        return BackendServicesAuth(
            required(spec.token_url, "the destination's token_url"),
            required(spec.client_id, "the destination's client_id"),
            required(spec.private_key_pem, "the destination's private key"),
            required(spec.key_id, "the destination's key_id"),
            alg=spec.alg,
            scope=spec.scope or settings.fhir_scope,
        )
    return None


def destination_client(
    destination: Destination,
    settings: Settings,
    *,
    retries: int = 3,
    read_timeout: float | None = None,
    auth: AuthBase | None = None,
) -> FhirClient:
    """A FhirClient on one destination's server with that destination's own authentication (`auth`: one already
    made for it, so that clients of the same destination share one Backend Services token)."""
    from service.fhir.client import FhirClient

    return FhirClient(
        required(destination.base_url, "the destination's base_url"),
        auth=auth or destination_auth(destination.auth, settings),
        retries=retries,
        timeout=(settings.fhir_connect_timeout, read_timeout or settings.fhir_read_timeout),
    )


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
    recent: RecentReferrals | None = None  # the record of referrals made, form and API alike (flagged when recent)
    # the de-identified events of the mirror figures (service/mirror/events.py): set by the app (service/__init__.py),
    # which owns them, so that service.referrals never imports service.mirror
    mirror: EventStore | None = None
    # reads the recipients' Tasks for a page, per destination: no retries, a short read timeout
    status_clients: dict[str, FhirClient] = field(default_factory=dict)

    def name(self, destination: str | None) -> str:
        found = self.destinations.get(destination or "")
        return found.name if found else (destination or "default")


def build_delivery(settings: Settings, engine: Engine) -> Delivery:
    """Destinations without a server (no KS_FHIR_BASE_URL and no KS_DESTINATIONS) still get their items in the
    outbox: they wait there for one."""
    outbox = Outbox(database_for(settings, "outbox"), lease_seconds=settings.outbox_lease)
    audit = AuditLog(database_for(settings, "audit"))
    recent = RecentReferrals(
        database_for(settings, "recent"), settings.recent_referral_days, secret=settings.secret_key or DEV_SECRET_KEY
    )
    destinations = load_destinations(settings, engine.rulesets)
    served = {name: d for name, d in destinations.items() if d.base_url}
    if settings.fhir_base_url and not settings.destinations:  # items queued before destinations existed
        served[""] = default_destination(settings, "")
    pusher = quick = None
    status: dict[str, FhirClient] = {}
    if served:
        # One auth per distinct authentication (the worker, the immediate push and the status reads of a destination,
        # and destinations on one server, share its token instead of each asking for their own).
        auths: dict[DestinationAuth, AuthBase | None] = {}
        for d in served.values():
            if d.auth not in auths:
                auths[d.auth] = destination_auth(d.auth, settings)

        def clients(**options) -> dict[str, FhirClient]:
            return {n: destination_client(d, settings, auth=auths[d.auth], **options) for n, d in served.items()}

        pusher = Pusher(outbox, clients(), audit)
        quick = Pusher(outbox, clients(retries=1), audit)
        status = clients(retries=0, read_timeout=min(5.0, settings.fhir_read_timeout))
    return Delivery(
        outbox=outbox,
        audit=audit,
        destinations=destinations,
        pusher=pusher,
        submitter=Submitter(engine, outbox, quick, audit, recent),
        status_clients=status,
        recent=recent,
    )
