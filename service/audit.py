"""Append-only audit log of every access to patient data (NEN 7513: who, which patient, what, when, outcome).

Kept apart from the application log, in its own table on the storage layer (service/db: audit.sqlite3 under
KS_DATA_DIR, or the region's PostgreSQL); rows are only ever inserted. Append-only at the database level: triggers
refuse UPDATE, and DELETE of a row younger than RETENTION_YEARS, whoever asks; on PostgreSQL the service's role
may moreover only SELECT and INSERT, and the purge of what is past retention is `audit_purge()`, a SECURITY
DEFINER function of the schema's owner (service/db/migrations/versions/audit_0001.py). It records references and
ids, never answers.

**One access, one row.** An access is one request by one actor about one patient: a page request, an API
call, a CLI command, or one delivery attempt of one outbox item by the outbox (its worker or `kansrijk outbox
retry`). Whoever serves it opens it (`AuditLog.access`); everything the request does to that patient's data
(the record read, the stored form read or saved, the referral submitted and pushed right away, the EHR
written back) is noted on it (`AuditLog.record` while it is open adds to it), and it is written as one row
when it ends, with every part named in `object`. Nothing touched, nothing written.

**One patient, every key.** A row names the patient by the FHIR reference the EHR knows (`patient`,
`Patient/<id>`) and by the BSN (`patient_identifier`, `system|value`) wherever the service knows it; the
export (`entries`) matches either column and follows the rows that name both, so every row about one person
is found whichever identifier an inspection request gives.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, or_, select

from service.db import Database, as_database
from service.db.schema import audit

RETENTION_YEARS = 5  # DOMAIN.md §4.1 item 7; enforced by the audit branch's migration (its triggers)
ANONYMOUS = "anonymous"  # "who" when no user or system is authenticated (an open API): said, never left empty
ACTION_WEIGHT = {"R": 0, "E": 1, "U": 2, "C": 3, "D": 4}  # an access's action: the weightiest of its parts
MAX_LINKED_KEYS = 50  # the export follows id ↔ BSN links this far; more is not one person


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    event: str
    action: str
    outcome: str
    who: str | None
    patient: str | None
    object: str | None
    access_point: str | None
    responsible: str | None = None
    patient_identifier: str | None = None


def patient_keys(patient: str | None, identifier: str | None = None) -> tuple[str | None, str | None]:
    """(reference, identifier) of a patient named either way: 'system|value' is an identifier (the BSN)."""
    ref = patient or None
    if ref and "|" in ref and not ref.startswith("Patient/"):
        ref, identifier = None, identifier or ref
    return ref, identifier or None


@dataclass(kw_only=True)
class Access:
    """One access being served (see the module's docstring); written as one row when it ends."""

    log: AuditLog
    event: str
    who: str | None
    access_point: str | None
    responsible: str | None = None
    patient: str | None = None
    patient_identifier: str | None = None
    outcome: str = "0"
    actions: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    def note(
        self,
        event: str,
        action: str,
        outcome: str = "0",
        obj: str | None = None,
        *,
        patient: str | None = None,
        patient_identifier: str | None = None,
    ) -> None:
        """One thing this access did to the patient's data."""
        ref, ident = patient_keys(patient, patient_identifier)
        self.patient = self.patient or ref
        self.patient_identifier = self.patient_identifier or ident
        self.actions.append(action)
        self.outcome = max(self.outcome, outcome, key=int)
        part = f"{event} {obj}" if obj else event
        part += f" (outcome {outcome})" if outcome != "0" else ""
        if part not in self.parts:
            self.parts.append(part)

    def takes(self, entry: AuditEntry) -> bool:
        """Whether `entry` is about this access's patient (or names none): then it is part of this access."""
        ref, ident = patient_keys(entry.patient, entry.patient_identifier)
        return not (
            (ref and self.patient and ref != self.patient)
            or (ident and self.patient_identifier and ident != self.patient_identifier)
        )

    def add(self, entry: AuditEntry) -> None:
        self.who = self.who or entry.who
        if entry.responsible and entry.responsible != self.who:
            self.responsible = self.responsible or entry.responsible
        self.note(
            entry.event,
            entry.action,
            entry.outcome,
            entry.object,
            patient=entry.patient,
            patient_identifier=entry.patient_identifier,
        )

    @property
    def touched(self) -> bool:
        return bool(self.parts)

    def entry(self) -> AuditEntry:
        return AuditEntry(
            event=self.event,
            action=max(self.actions, key=lambda a: ACTION_WEIGHT.get(a, 0)) if self.actions else "R",
            outcome=self.outcome,
            who=self.who or ANONYMOUS,
            responsible=self.responsible if self.responsible != self.who else None,
            patient=self.patient,
            patient_identifier=self.patient_identifier,
            object="; ".join(self.parts),
            access_point=self.access_point,
        )


_open_access: ContextVar[Access | None] = ContextVar("ks_audit_access", default=None)


class AuditLog:
    def __init__(self, where: Path | Database):
        """`where`: its Database, or the path of its SQLite file (written with synchronous=FULL: a row is on disk
        when the access ends)."""
        self._db = as_database(where, synchronous="FULL")
        self._db.upgrade("audit")  # a log from before the storage layer: adopted (a missing column added)
        self.path = self._db.path
        self.key = self._db.url  # two logs on one database are one log (a nested access)

    @contextlib.contextmanager
    def access(
        self,
        event: str,
        *,
        who: str | None,
        access_point: str | None,
        responsible: str | None = None,
        patient: str | None = None,
        patient_identifier: str | None = None,
    ) -> Iterator[Access]:
        """One access (module docstring): what is recorded while it is open is part of it, and it is written as
        one row at the end when it touched anything (with outcome 8 when it ended in an exception). Inside an
        access already open on this log (the submit of a page's send), the outer one is the access."""
        outer = _open_access.get()
        if outer is not None and outer.log.key == self.key:
            yield outer
            return
        ref, ident = patient_keys(patient, patient_identifier)
        current = Access(
            log=self,
            event=event,
            who=who,
            access_point=access_point,
            responsible=responsible,
            patient=ref,
            patient_identifier=ident,
        )
        token = _open_access.set(current)
        try:
            yield current
        except BaseException:
            current.outcome = "8" if current.touched else current.outcome
            raise
        finally:
            _open_access.reset(token)
            if current.touched:
                self._insert(current.entry())

    def record(self, entry: AuditEntry) -> None:
        """One row; or, while an access for the same patient is open on this log, a part of that access."""
        self.record_all([entry])

    def record_all(self, entries: Iterable[AuditEntry]) -> None:
        """Rows of one page that shows several patients (a worklist), written in one transaction: one write to
        disk for the page, not one per patient (synchronous=FULL makes each commit wait for the disk). What the
        open access for the same patient takes becomes part of it, as in `record`."""
        current = _open_access.get()
        rows = []
        for entry in entries:
            if current is not None and current.log.key == self.key and current.takes(entry):
                current.add(entry)
            else:
                rows.append(self._row(entry))
        if rows:
            with self._db.begin() as conn:
                conn.execute(audit.insert(), rows)

    def _insert(self, entry: AuditEntry) -> None:
        with self._db.begin() as conn:
            conn.execute(audit.insert().values(**self._row(entry)))

    @staticmethod
    def _row(entry: AuditEntry) -> dict[str, Any]:
        ref, ident = patient_keys(entry.patient, entry.patient_identifier)
        return {
            "recorded": datetime.now(UTC).isoformat(),
            "action": entry.action,
            "event": entry.event,
            "outcome": entry.outcome,
            "who": entry.who or ANONYMOUS,
            "responsible": entry.responsible,
            "patient": ref,
            "patient_identifier": ident,
            "object": entry.object,
            "access_point": entry.access_point,
        }

    def linked_keys(self, keys: Iterable[str]) -> set[str]:
        """Every key of the patient(s) `keys` name: the given ones, and the FHIR id or BSN that rows naming one of
        them name too (followed until nothing new comes, at most MAX_LINKED_KEYS)."""
        found = {k for k in keys if k}
        with self._db.begin() as conn:  # one transaction for the whole walk
            while found and len(found) <= MAX_LINKED_KEYS:
                query = (
                    select(audit.c.patient, audit.c.patient_identifier)
                    .distinct()
                    .where(or_(audit.c.patient.in_(found), audit.c.patient_identifier.in_(found)))
                )
                more = found | {v for r in conn.execute(query) for v in r if v}
                if more == found:
                    break
                found = more
        return found

    def entries(self, patient: str | None = None, *, linked: bool = True) -> list[dict]:
        """Every row (in order); with `patient`, those about that patient, by either key (and, `linked`, by the
        other key the rows give for the same patient)."""
        query = select(audit)
        if patient:
            keys = sorted(self.linked_keys([patient]) if linked else {patient})
            query = query.where(or_(audit.c.patient.in_(keys), audit.c.patient_identifier.in_(keys)))
        with self._db.begin() as conn:
            return [dict(r._mapping) for r in conn.execute(query.order_by(audit.c.seq))]

    def purge(self, now: float | None = None) -> int:
        """Delete the rows past retention (RETENTION_YEARS; the housekeeper): on PostgreSQL through
        `audit_purge()`, on SQLite by a DELETE the triggers allow for those rows only. `now` is not taken: the
        database's own clock decides, as its triggers do."""
        with self._db.begin() as conn:
            if self._db.is_postgresql:
                return int(conn.execute(select(func.audit_purge())).scalar() or 0)
            cutoff = func.julianday("now", f"-{RETENTION_YEARS} years")
            return conn.execute(delete(audit).where(func.julianday(audit.c.recorded) < cutoff)).rowcount


def reference_of(value) -> str | None:
    """A Reference as a short string for the log: 'Patient/123' or 'system|value'."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("reference"), str):
        return value["reference"]
    ident = value.get("identifier")
    if isinstance(ident, dict):
        return f"{ident.get('system', '')}|{ident.get('value', '')}"
    return None


def identifier_of(resource: dict | None, system: str) -> str | None:
    """The resource's identifier of `system` (e.g. a Patient's BSN) as 'system|value', for the log."""
    idents = resource.get("identifier") if isinstance(resource, dict) else None
    for ident in idents if isinstance(idents, list) else ():
        if isinstance(ident, dict) and ident.get("system") == system and isinstance(ident.get("value"), str):
            return f"{system}|{ident['value']}"
    return None
