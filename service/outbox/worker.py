"""Background threads: the outbox worker (every few seconds, push the items that are due) and the
housekeeper (every hour, forget expired launch sessions, form work, drafts, the practice's referral list,
sandbox grants and API tokens)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Run `round()` every `interval` seconds in a daemon thread until stopped; a failing round is logged
    (its exception type only: no health data in logs) and the next one runs as usual."""

    def __init__(self, name: str, round: Callable[[], object], interval: float):
        self.name = name
        self.round = round
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Periodic:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.round()
            except Exception as exc:  # keep the thread alive; the next round tries again
                log.error("%s round failed: %s", self.name, type(exc).__name__)
            self._stop.wait(self.interval)


class OutboxWorker(Periodic):
    def __init__(self, pusher, interval: float = 5.0):
        super().__init__("ks-outbox-worker", self._push_due, interval)
        self.pusher = pusher

    def _push_due(self) -> None:
        while self.pusher.push_due() and not self._stop.is_set():
            pass


def purge_expired(services) -> dict[str, int]:
    """Data minimisation: delete what has expired from every store this app has (rows deleted per store);
    `services`: the app's Services (service/services.py)."""
    return {name: store.purge() for name, store in services.stores().items()}


class Housekeeper(Periodic):
    def __init__(self, services, interval: float = 3600.0):
        super().__init__("ks-housekeeper", lambda: purge_expired(services), interval)
