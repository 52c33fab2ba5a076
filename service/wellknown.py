"""Reading a registered party's well-known documents (SMART's smart-configuration, OpenID Connect discovery, a
JWKS): one GET without redirects, a JSON object or a failure, and a cache that keeps a document a few minutes.

Shared by the SMART launch (service/smart/oauth.py) and the inbox's sign-in (service/inbox/oidc.py): each checks
what the document says against its own registration and raises its own error."""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

TIMEOUT = (3.05, 10)  # connect, read (seconds)
TTL = 300.0  # how long a discovery document is kept

T = TypeVar("T")


class DocumentUnavailable(Exception):
    """The document could not be read: the server did not answer, answered with another status than 200 (a
    redirect included: never followed), or not with a JSON object. The message says which, without the body."""


def get_json(url: str) -> dict[str, Any]:
    """The JSON object at `url`, or DocumentUnavailable."""
    import requests  # here, not at start-up

    try:
        response = requests.get(url, headers={"Accept": "application/json"}, timeout=TIMEOUT, allow_redirects=False)
        if response.is_redirect or response.status_code != 200:
            raise DocumentUnavailable(f"HTTP {response.status_code}")
        body = response.json()
    except requests.RequestException as exc:
        raise DocumentUnavailable(type(exc).__name__) from exc
    except ValueError as exc:
        raise DocumentUnavailable("not JSON") from exc
    if not isinstance(body, dict):
        raise DocumentUnavailable("not a JSON object")
    return body


class TimedCache(Generic[T]):
    """Values kept for `ttl` seconds per key, safe across threads."""

    def __init__(self, ttl: float = TTL):
        self.ttl = ttl
        self._entries: dict[Hashable, tuple[float, T]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> T | None:
        with self._lock:
            hit = self._entries.get(key)
        return hit[1] if hit and time.time() - hit[0] < self.ttl else None

    def put(self, key: Hashable, value: T) -> T:
        with self._lock:
            self._entries[key] = (time.time(), value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
