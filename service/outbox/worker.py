"""The background worker: every few seconds, push the outbox items that are due."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class OutboxWorker:
    def __init__(self, pusher, interval: float = 5.0):
        self.pusher = pusher
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "OutboxWorker":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ks-outbox-worker", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while self.pusher.push_due() and not self._stop.is_set():
                    pass
            except Exception as exc:  # keep the worker alive; the next round tries again
                log.error("outbox worker round failed: %s", type(exc).__name__)
            self._stop.wait(self.interval)
