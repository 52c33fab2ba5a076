"""The record of referrals made, whichever way they came (the practice's form or the API), so the next one for the
same patient and recipient within KS_RECENT_REFERRAL_DAYS is flagged before it is sent (issue 12).

Per referral: the recipient's id and names, when (epoch), how (`form` or `api`) and the submission; nothing
else about the patient, and no patient id in clear. A patient is found by keys hashed from the practice and
what both ways of sending know of her: the practice's EHR reference `Patient/<id>` (the launch's patient; the
API's `subject`) and her BSN when the Patient travels contained in the response (the form always contains it
when it sends). The practice is its AGB-Z code (else URA, else registry id): one real practice, however many
registry entries name it, so a referral never shows at another practice. Without a practice the scope is the
API client's own (an authenticated client not tied to a practice: what another client made never shows), or, on
an open API, the open API's, shared by its anonymous callers only.

The store keeps no key as it is given: it keeps each as an HMAC-SHA256 under the deployment's secret (KS_SECRET_KEY,
`KEY_PREFIX`), so the rows are pseudonymous even to whoever holds the database — a plain hash of an AGB code and a
nine-digit BSN is reversed by trying every BSN in minutes. Rows a version before this one stored unkeyed are keyed
when the store opens (`_rekey`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, select

from service.audit import identifier_of
from service.db import Database, as_database
from service.db.schema import recent_referral as table
from service.fhir.urls import BSN
from service.referrals.bundle import referrals_in_record
from service.referrals.pipeline import PRACTICE_ZONE
from service.registry import Practice
from service.texts import code_text

VIA = ("form", "api")
VIA_TEXT = {"form": "recent.via.form", "api": "recent.via.api"}  # how it came, in words (service/texts.py)
DEFAULT_WINDOW_DAYS = 30
KEY_PREFIX = "k1:"  # a patient key as the store keeps it: keyed (RecentReferrals._keyed)
KEEP_DAYS = 3 * 365  # Kansrijke Start's first 1000 days, and some: "Eerder verwezen" on the form lists them as long


@dataclass(frozen=True, kw_only=True)
class RecentReferral:
    """One referral made: to whom (`names`: {"nl", "en", "internal"}), when (epoch seconds), how, in which
    submission."""

    submission: str
    recipient: str
    names: dict
    sent: float
    via: str

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names.get("nl") or self.recipient

    def via_text(self, lang: str) -> str:
        return code_text(VIA_TEXT, self.via, lang)

    def date(self) -> str:
        """The day it was made, dd-mm-jjjj in the practice's time zone."""
        return datetime.fromtimestamp(self.sent, PRACTICE_ZONE).strftime("%d-%m-%Y")


def practice_scope(practice: Practice | None, owner: str = "") -> str:
    """The practice's scope; without one, the API client's (`owner`: service/api/auth.py caller), else the open
    API's."""
    if practice is None:
        return f"client|{owner}" if owner else "open-api"
    return f"agb|{practice.agb}" if practice.agb else f"ura|{practice.ura}" if practice.ura else f"id|{practice.id}"


def patient_keys(practice: Practice | None, reference: str | None, bsn: str | None, owner: str = "") -> tuple[str, ...]:
    """The keys the patient is recorded and found by: her EHR reference and her BSN ('system|value'), each
    hashed with the practice's scope (practice_scope); the store keys them again (RecentReferrals)."""
    scope = practice_scope(practice, owner)
    named = [r for r in (reference if reference and reference.startswith("Patient/") else None, bsn) if r]
    return tuple(hashlib.sha256(f"{scope}|{r}".encode()).hexdigest() for r in named)


def patient_of_response(qr: dict, reference: str | None = None) -> tuple[str | None, str | None]:
    """(Patient/<id>, BSN as 'system|value') of a QuestionnaireResponse's patient, either None: `reference` (the
    caller's Patient/<id> when the response carries a contained copy) or its subject's; the BSN of the contained
    Patient its subject names (or of the one contained Patient)."""
    subject = qr.get("subject")
    ref = subject.get("reference") if isinstance(subject, dict) else None
    ref = ref if isinstance(ref, str) else None
    contained = qr.get("contained")
    patients = [
        c
        for c in (contained if isinstance(contained, list) else ())
        if isinstance(c, dict) and c.get("resourceType") == "Patient"
    ]
    if ref and ref.startswith("#"):
        patients = [p for p in patients if p.get("id") == ref[1:]]
    elif len(patients) > 1:
        patients = []
    bsn = next((b for p in patients if (b := identifier_of(p, BSN))), None)
    found = reference or ref
    return (found if found and found.startswith("Patient/") else None), bsn


def keys_of_response(
    qr: dict, practice: Practice | None, reference: str | None = None, owner: str = ""
) -> tuple[str, ...]:
    """The keys of the patient of a QuestionnaireResponse (patient_of_response) in the practice's scope."""
    return patient_keys(practice, *patient_of_response(qr, reference), owner)


def referrals_made(extraction) -> list[tuple[str, dict]]:
    """(recipient id, names) of each referral an extraction makes (bundle.referrals_in_record)."""
    return [
        (rec.id, {"nl": rec.name.nl, "en": rec.name.en, "internal": rec.internal})
        for rec, _ in referrals_in_record(extraction.evaluation, extraction.bundles.record)
    ]


class RecentReferrals:
    """The record, on the storage layer (service/db: referrals.sqlite3 under KS_DATA_DIR, or the region's
    PostgreSQL); `window_days`: how far back a referral is flagged."""

    def __init__(self, where: Path | Database, window_days: int = DEFAULT_WINDOW_DAYS, *, secret: str = ""):
        self.db = as_database(where)
        self.db.upgrade("recent")
        self.window_days = window_days
        self._secret = hashlib.sha256(f"recent-referral-keys|{secret}".encode()).digest()  # this store's own key
        self._rekey()

    def _keyed(self, key: str) -> str:
        """What the store keeps for a patient key: its HMAC under the deployment's secret, marked."""
        return KEY_PREFIX + hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()

    def _rekey(self) -> None:
        """Key the rows an earlier version stored with the plain patient key (without KEY_PREFIX): once, at open;
        on several instances at once, each row is keyed by one (the other's update finds nothing)."""
        with self.db.begin() as conn:
            plain = conn.execute(
                select(table.c.patient_key).where(~table.c.patient_key.startswith(KEY_PREFIX)).distinct()
            ).scalars()
            for key in list(plain):
                conn.execute(table.update().where(table.c.patient_key == key).values(patient_key=self._keyed(key)))

    def record(
        self,
        keys: Iterable[str],
        submission: str,
        referrals: Iterable[tuple[str, dict]],
        via: str,
        now: float | None = None,
    ) -> None:
        """The referrals of one submission under each of the patient's keys, each with its place among them; a
        resubmission keeps its first time."""
        if via not in VIA:
            raise ValueError(f"via must be one of {VIA}, not {via!r}")
        when = time.time() if now is None else now
        made = list(referrals)
        rows = [
            {
                "patient_key": self._keyed(key),
                "submission": submission,
                "recipient": rid,
                "names": json.dumps(names, ensure_ascii=False),
                "via": via,
                "sent": when,
                "ordinal": ordinal,
            }
            for key in dict.fromkeys(keys)
            for ordinal, (rid, names) in enumerate(made)
        ]
        if rows:
            with self.db.begin() as conn:
                conn.execute(self.db.insert(table).on_conflict_do_nothing(), rows)

    def find(
        self,
        keys: Iterable[str],
        *,
        days: float | None = None,
        recipients: Iterable[str] | None = None,
        exclude: str | None = None,
        now: float | None = None,
    ) -> list[RecentReferral]:
        """The referrals for the patient since `days` ago (default the window), newest first, each once;
        only to `recipients` when given, never those of the submission `exclude` (the one being made)."""
        keys = [self._keyed(k) for k in dict.fromkeys(keys)]
        if not keys or (days is None and self.window_days <= 0):
            return []
        since = (time.time() if now is None else now) - (self.window_days if days is None else days) * 86400
        first = func.min(table.c.sent).label("first_sent")
        made = func.min(table.c.ordinal).label("made")
        query = (  # a referral under either key once; newest first, a submission's in the order they were made
            select(table.c.submission, table.c.recipient, func.min(table.c.names), func.min(table.c.via), first, made)
            .where(table.c.patient_key.in_(keys), table.c.sent >= since)
            .group_by(table.c.submission, table.c.recipient)
            .order_by(first.desc(), made)
        )
        with self.db.begin() as conn:
            rows = conn.execute(query).all()
        wanted = set(recipients) if recipients is not None else None
        return [
            RecentReferral(submission=sub, recipient=rid, names=json.loads(names), sent=sent, via=via)
            for sub, rid, names, via, sent, _ in rows
            if sub != exclude and (wanted is None or rid in wanted)
        ]

    def latest_per_recipient(self, keys: Iterable[str], recipients: Iterable[str], **kw) -> dict[str, RecentReferral]:
        """The newest referral within the window per recipient asked about (those without one left out)."""
        out: dict[str, RecentReferral] = {}
        for found in self.find(keys, recipients=recipients, **kw):
            out.setdefault(found.recipient, found)
        return out

    def purge(self, now: float | None = None) -> int:
        """Forget what is older than the form lists (data minimisation); the number of rows deleted."""
        keep = max(KEEP_DAYS, self.window_days) * 86400
        cutoff = (time.time() if now is None else now) - keep
        with self.db.begin() as conn:
            return conn.execute(delete(table).where(table.c.sent < cutoff)).rowcount
