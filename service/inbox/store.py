"""Server-side inbox sessions and pending sign-ins, on the storage layer (service/db: inbox.sqlite3 under
KS_DATA_DIR, or the region's PostgreSQL). The cookie carries
only the session's opaque id; a session holds the provider, the user's `sub` and name and the recipient id,
never anything about a patient."""

from __future__ import annotations

import secrets
from pathlib import Path

from service.db import Database, as_database
from service.storage import ExpiringRecords

SESSION_LIFETIME = 8 * 3600  # a working day, as the practice's launch sessions
PENDING_LIFETIME = 600  # between the redirect to the provider and its answer


class InboxStore:
    def __init__(self, where: Path | Database):
        db = as_database(where)
        db.upgrade("inbox")
        self._records = ExpiringRecords(db, "inbox_record")

    @staticmethod
    def new_id() -> str:
        return secrets.token_urlsafe(32)

    def save_session(self, session_id: str, data: dict) -> None:
        self._records.put("session", session_id, data, SESSION_LIFETIME)

    def session(self, session_id: str | None) -> dict | None:
        return self._records.get("session", session_id)

    def end_session(self, session_id: str | None) -> None:
        self._records.delete("session", session_id)
        self._records.delete("language", session_id)

    def save_language(self, session_id: str, lang: str) -> None:
        """The language the session's pages are shown in (the inbox's own switch), kept as long as a session."""
        self._records.put("language", session_id, {"lang": lang}, SESSION_LIFETIME)

    def language(self, session_id: str | None) -> str | None:
        found = self._records.get("language", session_id)
        return found.get("lang") if found else None

    def save_pending(self, state: str, data: dict) -> None:
        self._records.put("pending", state, data, PENDING_LIFETIME)

    def take_pending(self, state: str | None) -> dict | None:
        """The sign-in this `state` belongs to, once: taken and deleted in one statement, so a replayed
        answer (or two at once) finds nothing."""
        return self._records.take("pending", state)

    def purge(self, now: float | None = None) -> int:
        return self._records.purge(now)
