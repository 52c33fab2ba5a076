"""What the inbox's pages use: who is signed in (`current_user`) and a decorator for views that need it
(`signed_in`). A session is server-side (service/inbox/store.py); the cookie carries its opaque id only."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from flask import g, redirect, request, url_for

from service.inbox.store import InboxStore
from service.registry import ROLE_REGIO
from service.services import services

COOKIE_NAME = "ks_inbox"


@dataclass(frozen=True, kw_only=True)
class InboxUser:
    """A recipient's staff member, signed in: the provider (its registry id), the user's `sub` there, their name,
    and the recipient (its id in the region's recipients file) they work for. Nothing else is known or kept."""

    provider: str
    sub: str
    name: str
    recipient: str  # "" for the region's programme manager
    role: str = "recipient"  # or ROLE_REGIO: the region's mirror figures only, never a patient (desk_of refuses)

    @property
    def regio(self) -> bool:
        return self.role == ROLE_REGIO

    @property
    def who(self) -> str:
        """For the audit log: the user as the provider knows them."""
        return f"{self.provider}:{self.sub}"


def inbox_store() -> InboxStore:
    store = services().inbox
    if store is None:  # init_app of service/inbox/views.py sets it before any route runs
        raise RuntimeError("the inbox is not set up")
    return store


def recipient_known(provider_id: str, recipient: str) -> bool:
    """Whether `recipient` is still an external recipient of the provider's region, the provider still registered
    and its mappings still naming that recipient."""
    provider = services().registry.provider(provider_id)
    if provider is None or recipient not in {m.recipient for m in provider.users}:
        return False
    found = services().engine.rulesets.get(provider.region)
    item = found.recipients.get(recipient) if found else None
    return item is not None and not item.internal


def regio_known(provider_id: str) -> bool:
    """Whether the provider is still registered with a mapping for the region's programme manager."""
    provider = services().registry.provider(provider_id)
    return provider is not None and provider.has_regio


def current_user() -> InboxUser | None:
    """The signed-in user of this request (cookie → server-side session), or None: also when their provider or
    recipient is no longer registered."""
    if "ks_inbox_user" not in g:
        data = inbox_store().session(request.cookies.get(COOKIE_NAME))
        user = None
        role = str(data.get("role") or "recipient") if data is not None else "recipient"
        if data is not None and (
            regio_known(data["provider"])
            if role == ROLE_REGIO
            else recipient_known(data["provider"], data["recipient"])
        ):
            user = InboxUser(
                provider=data["provider"], sub=data["sub"], name=data["name"], recipient=data["recipient"], role=role
            )
        g.ks_inbox_user = user
    return g.ks_inbox_user


EXPIRED = "expired"  # the sign-in's flag (GET /inbox/login?…): a step was posted after the session had ended


def signed_in(view: Callable) -> Callable:
    """Views for signed-in users only: anyone else is sent to sign in (GET /inbox/login), and back to the page after.
    A step posted after the session ended (`POST /inbox/referral/<id>/<action>`) is not done: after signing in the
    referral's page says so (EXPIRED), rather than the worklist with no word of the lost step."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            if request.method == "POST":
                page = request.path.rsplit("/", 1)[0] if request.path.startswith("/inbox/referral/") else "/inbox"
                return redirect(url_for("inbox.login", next=page, **{EXPIRED: "1"}), 303)
            return redirect(url_for("inbox.login", **({"next": request.path} if request.path != "/inbox" else {})))
        return view(*args, **kwargs)

    return wrapped
