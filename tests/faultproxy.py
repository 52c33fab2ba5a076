"""A TCP proxy on loopback that misbehaves on purpose, in front of a real FHIR server.

Modes, for the first `faults` connections (later ones are forwarded faithfully):
- "drop-response": the request reaches the server (which commits it), the answer never reaches the
  client: the connection is closed once the server has answered. A timeout after commit.
- "hold": the request is accepted but neither forwarded nor answered until `release()`.
- "hold-response": the request reaches the server (which commits it); its answer is held back until
  `release()`, then dropped.
- "refuse": the connection is closed at once, nothing forwarded: a server that is down (the request never reaches
  it). Set `faults = 0` to bring it back.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable


class FaultProxy:
    def __init__(self, target_port: int, *, mode: str = "drop-response", faults: int = 1):
        self.target = ("127.0.0.1", target_port)
        self.mode = mode
        self.faults = faults
        self.connections = 0
        self.faulted = 0
        self._release = threading.Event()
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self.port = self._server.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def release(self) -> None:
        self._release.set()

    def close(self) -> None:
        self._stop = True
        self._release.set()
        self._server.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            faulty = self.faulted < self.faults
            if faulty:
                self.faulted += 1
            threading.Thread(target=self._handle, args=(client, faulty), daemon=True).start()

    def _handle(self, client: socket.socket, faulty: bool) -> None:
        if faulty and self.mode == "hold":
            self._release.wait(60)
            client.close()
            return
        if faulty and self.mode == "refuse":
            client.close()
            return
        if self._stop:
            client.close()
            return
        upstream = socket.create_connection(self.target)
        answered = threading.Event()

        def pump(src, dst, discard: bool) -> None:
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    if discard:
                        answered.set()
                    else:
                        dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)
                src.close()

        drop = faulty and self.mode in ("drop-response", "hold-response")
        threading.Thread(target=pump, args=(client, upstream, False), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client, drop), daemon=True).start()
        if drop:
            answered.wait(30)
            if self.mode == "hold-response":
                self._release.wait(60)
            time.sleep(0.2)  # the server has answered: it committed; now lose the answer
            client.close()
            upstream.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Whether `predicate` came true within `timeout` seconds (asked every 0.2 s): what a test waits with for a
    service working behind the proxy (its push held, dropped or refused) to get there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False
