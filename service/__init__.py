"""Kansrijke Start FHIR service: the Flask application factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SessionInterface

from service.version import __version__

if TYPE_CHECKING:
    from service.config import Settings
    from service.referrals.feedback import FeedbackStore
    from service.referrals.pipeline import Engine
    from service.referrals.wiring import Delivery


def create_app(config: Mapping | None = None) -> Flask:
    """Build the app: settings (KS_* environment, then `config`), the engine, the API blueprint."""
    from service.config import DEV_SECRET_KEY, load_settings
    from service.db import database_for
    from service.errors_render import register_error_handlers
    from service.outbox.worker import Housekeeper, OutboxWorker
    from service.referrals.feedback import FeedbackPoller
    from service.referrals.wiring import build_delivery
    from service.services import KEY, Services
    from service.smart.session import SessionStore

    settings = load_settings(overrides=config)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = Flask(__name__)
    app.session_interface = _NoFlaskSession()
    app.json = _FhirJsonProvider(app)
    app.config["KS_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["SECRET_KEY"] = settings.secret_key or DEV_SECRET_KEY
    if settings.trusted_proxies > 0:  # behind the region's proxy: the client's address for the audit log
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies, x_proto=0, x_host=0)  # type: ignore[method-assign]
    if config:
        app.config.update({k: v for k, v in config.items() if k.isupper()})
    engine = _engine(settings)
    delivery = build_delivery(settings, engine)
    ks = app.extensions[KEY] = Services(
        settings=settings,
        engine=engine,
        registry=_registry(settings, engine),
        delivery=delivery,
        sessions=SessionStore(database_for(settings, "sessions")),
    )
    ks.feedback = open_feedback(settings, delivery)
    background = delivery.pusher is not None and not app.config.get("TESTING")
    if background and settings.outbox_worker == "on":
        ks.background.append(OutboxWorker(delivery.pusher, settings.outbox_interval).start())
    if background and settings.feedback_poller == "on":
        # the recipients' Tasks back to the practice: polled within Gravity's limits (service/referrals/feedback.py)
        ks.background.append(FeedbackPoller(ks.feedback, delivery, settings.feedback_interval).start())
    from service.api.auth import init_app as init_api_auth

    init_api_auth(app)
    _register_blueprints(app, settings)
    register_error_handlers(app)
    if not app.config.get("TESTING"):
        ks.background.append(Housekeeper(ks, settings.purge_interval).start())
    return app


def open_feedback(settings: Settings, delivery: Delivery) -> FeedbackStore:
    """The practice's copy of the recipients' Tasks (service/referrals/feedback.py) and the mirror's de-identified
    events (service/mirror/events.py), wired to each other and to `delivery`: every submission writes an event,
    every change that comes back from a recipient updates it. The app's and the CLI's (`kansrijk cancel`) alike,
    so a cancel from either reaches the mirror figures."""
    from service.db import database_for
    from service.mirror.events import EventStore
    from service.referrals.feedback import FeedbackStore

    feedback = FeedbackStore(database_for(settings, "feedback"))
    delivery.mirror = delivery.submitter.mirror = feedback.mirror = EventStore(
        database_for(settings, "mirror"), database_for(settings, "mirror_links")
    )
    feedback.min_interval = settings.feedback_min_interval
    return feedback


def _engine(settings: Settings) -> Engine:
    """The Questionnaires and rule sets, every start-up check run, unless exactly these files (and this code and
    these libraries) passed them all: the package's own, as its manifest names them, or those of an earlier
    start-up with this data folder (service/startup_record.py)."""
    from service import startup_record
    from service.questionnaires.catalog import load_catalog
    from service.referrals.pipeline import Engine
    from service.rules.loader import load_rulesets

    data_dir = Path(settings.data_dir)
    key = None
    checked = startup_record.shipped(settings.questionnaires_dir, settings.mappings_dir)
    if not checked:
        key = startup_record.key(settings.questionnaires_dir, settings.mappings_dir)
        checked = startup_record.passed(data_dir, key)
    catalog = load_catalog(settings.questionnaires_dir, structural=not checked)
    rulesets = load_rulesets(settings.mappings_dir, catalog, checked=checked)
    if not checked:  # every check passed (else ConfigurationInvalid)
        startup_record.store(data_dir, key)
    return Engine(catalog, rulesets, settings.region, __version__)


def _registry(settings, engine):
    """The registered EHRs and identity providers (KS_EHR_REGISTRY), with the sandbox's EHR and OpenID Connect
    provider when KS_SANDBOX=1."""
    from service.registry import EMPTY, SANDBOX_INBOX_CLIENT_ID, load_registry, sandbox_ehr, sandbox_identity_provider

    # each region's external recipients: those a provider's users may work for (the inbox, service/inbox)
    recipients = {
        region: frozenset(r.id for r in ruleset.recipients.values() if not r.internal)
        for region, ruleset in engine.rulesets.items()
    }
    registry = EMPTY
    if settings.ehr_registry:
        registry = load_registry(
            settings.ehr_registry,
            regions=frozenset(engine.rulesets),
            require_https=settings.env != "development",
            recipients=recipients,
        )
    if settings.sandbox == "on":
        registry = registry.with_ehr(
            sandbox_ehr(
                public_url=settings.public_url,
                client_id=settings.smart_client_id,
                client_secret=settings.smart_client_secret,
                region=settings.region,
            )
        ).with_provider(
            sandbox_identity_provider(
                public_url=settings.public_url,
                client_id=SANDBOX_INBOX_CLIENT_ID,
                region=settings.region,
                recipients=recipients[settings.region],
            )
        )
    return registry


class _FhirJsonProvider(DefaultJSONProvider):
    sort_keys = False  # keep FHIR's own order (resourceType first); sorting also costs time
    ensure_ascii = False


class _NoFlaskSession(SessionInterface):
    """No state in Flask's signed cookie session: launch sessions are server-side (service/smart/session.py), and
    opening and signing an unused cookie on every request costs time. Writing to `flask.session` raises."""

    def open_session(self, app, request):
        return self.make_null_session(app)

    def save_session(self, app, session, response):
        return None


def _register_blueprints(app: Flask, settings) -> None:
    """Every blueprint, here and nowhere else: the API (with SDC $populate), the SMART launch, the practice's
    pages; the sandbox EHR only with KS_SANDBOX=1 (its routes do not exist otherwise)."""
    from service.api.populate import populate_api
    from service.api.views import api
    from service.inbox import views as inbox_views
    from service.inbox.region import mirror
    from service.smart import views as smart_views
    from service.web import views as web_views

    app.register_blueprint(api)
    app.register_blueprint(populate_api)
    for module, blueprint in (
        (smart_views, smart_views.smart),
        (web_views, web_views.web),
        (inbox_views, inbox_views.inbox),  # the recipients' sign-in (issue 13)
    ):
        module.init_app(app)
        app.register_blueprint(blueprint)
    app.register_blueprint(mirror)  # the region's mirror figures, for its programme manager (issue 14)
    from service.health import healthz

    app.add_url_rule("/healthz", "health", healthz)  # for health checks and monitoring: nothing about patients
    if settings.sandbox == "on":
        from service.sandbox.idp import init_app as init_sandbox_idp
        from service.sandbox.idp import sandbox_idp
        from service.sandbox.views import init_app as init_sandbox
        from service.sandbox.views import sandbox

        init_sandbox(app)
        app.register_blueprint(sandbox)
        init_sandbox_idp(app)  # the OpenID Connect provider for the inbox's demo users
        app.register_blueprint(sandbox_idp)
