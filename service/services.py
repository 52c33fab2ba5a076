"""The app's services as one typed object (built by the factory, service/__init__.py), instead of strings in
`app.extensions`: `services()` in a request, `services(app)` outside one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:  # types only: the blueprints' stores are set by their own init_app
    from service.api.auth import ApiAuth
    from service.api.responses import ResponseStore
    from service.config import Settings
    from service.inbox.store import InboxStore
    from service.referrals.feedback import FeedbackStore
    from service.referrals.pipeline import Engine
    from service.referrals.wiring import Delivery
    from service.registry import EhrRegistry
    from service.rules.meldcode import MeldcodeStep
    from service.sandbox.idp import Idp
    from service.sandbox.views import State
    from service.smart.session import LaunchContext, SessionStore
    from service.web.store import FormStore

KEY = "ks"


@dataclass(eq=False)
class Services:
    settings: Settings
    engine: Engine
    registry: EhrRegistry
    delivery: Delivery
    sessions: SessionStore
    forms: FormStore | None = None  # the practice's pages (service/web)
    meldcode: tuple[
        MeldcodeStep, ...
    ] = ()  # the Meldcode steps (mappings/meldcode.yaml), loaded by the pages' init_app
    api_auth: ApiAuth | None = None  # SMART Backend Services for the API (None: the API is open)
    responses: ResponseStore | None = None  # the QuestionnaireResponses submitted through the API (service/api)
    sandbox: State | None = None  # the demo EHR's grants (KS_SANDBOX=1)
    sandbox_server: object | None = None  # its authlib AuthorizationServer
    sandbox_idp: Idp | None = None  # the sandbox's OpenID Connect provider (service/sandbox/idp.py)
    inbox: InboxStore | None = None  # the recipients' sign-in sessions (service/inbox)
    feedback: FeedbackStore | None = None  # the practice's copy of its referrals at the recipients (issue 13)
    refresh_launch: Callable[[LaunchContext], LaunchContext | None] | None = None  # the SMART refresh grant
    background: list = field(default_factory=list)  # threads to stop on exit (outbox worker, housekeeper)

    def stores(self) -> dict[str, object]:
        """Every store with expiring rows, by name (the housekeeper purges them)."""
        found = {
            "sessions": self.sessions,
            "forms": self.forms,
            "sandbox": self.sandbox,
            "inbox": self.inbox,
            "sandbox-idp": self.sandbox_idp,
            "api": self.api_auth,
            "responses": self.responses,
            "outbox": self.delivery.outbox,  # delivered items past their time (service/outbox/store.py)
            "referrals": self.delivery.recent,  # the record of referrals made (service/referrals/recent.py)
            "feedback": self.feedback,  # the copy of the recipients' Tasks (service/referrals/feedback.py)
            "audit": self.delivery.audit,  # the audit log: only what is past its retention (service/audit.py)
            "mirror": self.delivery.mirror,  # the mirror events' links to the referrals (service/mirror/events.py)
        }
        return {name: store for name, store in found.items() if store is not None}


def services(app: Flask | None = None) -> Services:
    return (app or current_app).extensions[KEY]
