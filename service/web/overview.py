"""The practice's overview of its referrals (issue 13 point 4): every referral of the launch's practice that is
still open at its recipient, and those that changed in the last RECENT_DAYS days, with what the recipient did and
said, and which patient it is about. Reachable from any launch (the page chrome links it), with or without a
patient in context.

Where it comes from: the practice's copy of the recipients' Tasks (service/referrals/feedback.py), never a call to
a recipient's server while the page waits; the patient's name and birth date from the practice's own outbox item
(the Bundle that went to the recipient, service/outbox/store.py): the copy keeps no names, so who the patient is
lives in one place only, as it was sent. Only the practice's own referrals: the requester's AGB-Z code on the
referral must be the launch's practice's, as the deployment's registry names it (current_practice()).

Audit (NEN 7513): the page shows several patients' data at once; the audit log's row is about one patient
(service/audit.py), so a page view is one row per patient listed, each naming her by the BSN that went out (the
export finds it by that), never tied to the launch's own patient. They are written once the page is made.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import after_this_request, render_template

from service.audit import AuditEntry, identifier_of
from service.errors import required
from service.fhir.urls import AGB_Z, BSN
from service.outbox.store import item_id
from service.referrals.feedback import ReferralFeedback
from service.referrals.worklist import patient_name
from service.services import services
from service.smart.session import current_practice
from service.texts import text
from service.web.common import access_point, page_lang, practice_time, task_view, web
from service.web.guard import step

RECENT_DAYS = 30


@web.get("/practice/referrals")
@step()
def practice_referrals(ctx):
    practice = required(current_practice(), "the launch's registered practice")
    store = required(services().feedback, "the practice's copy")
    delivery = services().delivery
    store.track(delivery.outbox)
    found = store.for_practice(f"{AGB_Z}|{practice.agb}", days=RECENT_DAYS)
    stale = store.stale(found)
    if stale:
        store.want(stale)  # polled in the background; this page shows the copy as it is
    lang = page_lang(ctx)
    patients: dict[tuple[str, str], dict[str, Any]] = {}
    rows = [referral_row(f, lang, patient_of(delivery.outbox, f, patients), practice.region) for f in found]
    entries = _audit_entries(ctx, rows)

    @after_this_request
    def audited(response):
        delivery.audit.record_all(entries)  # one row per patient listed, in one transaction
        return response

    return render_template(
        "practice_referrals.html",
        open=[r for r in rows if r["open"]],
        closed=[r for r in rows if not r["open"]],
        days=RECENT_DAYS,
        may_cancel=ctx.can_send,
        banner=None,  # the page is about the practice's patients, not the one the launch is for
        page="practice_referrals",
    )


def patient_of(outbox, found: ReferralFeedback, seen: dict) -> dict[str, Any]:
    """The patient of a referral as the practice sent her (the outbox item's Patient): name, birth date, BSN."""
    key = (found.submission, found.destination)
    if key not in seen:
        item = outbox.get(item_id(found.submission, found.destination))
        resources = [e.get("resource") or {} for e in item.bundle.get("entry") or ()] if item else []
        patient = next((r for r in resources if r.get("resourceType") == "Patient"), None)
        seen[key] = {
            "name": patient_name(patient) or "",
            "birthDate": _dmy((patient or {}).get("birthDate")),
            "bsn": identifier_of(patient, BSN),
        }
    return seen[key]


def _dmy(value: Any) -> str:
    try:
        return date.fromisoformat(str(value)).strftime("%d-%m-%Y") if value else ""
    except ValueError:
        return str(value)


def referral_row(found: ReferralFeedback, lang: str, patient: dict[str, Any], region: str) -> dict[str, Any]:
    ruleset = services().engine.rulesets.get(region)
    recipient = ruleset.recipients.get(found.recipient) if ruleset else None
    name = recipient.name.in_lang(lang) if recipient else found.recipient
    return {
        "sent": practice_time(found.sent),
        "recipient": name,
        "patient": patient,
        "task": task_view(found, lang, name),
        "notYet": text("feedback.not_yet", lang) if found.status is None else None,
        "open": found.open,
        "submission": found.submission,
        "recipientId": found.recipient,
        "cancellable": found.open and found.status is not None,  # a Task at the recipient to cancel
    }


def _audit_entries(ctx, rows: list[dict[str, Any]]) -> list[AuditEntry]:
    """One row per patient listed (by BSN; one without a BSN by her referrals' submissions)."""
    by_patient: dict[str, list[str]] = {}
    for row in rows:
        who = row["patient"]["bsn"] or f"submission:{row['submission']}"
        subs = by_patient.setdefault(who, [])
        if row["submission"] not in subs:
            subs.append(row["submission"])
    return [
        AuditEntry(
            event="practice-referrals",
            action="R",
            outcome="0",
            who=ctx.fhir_user,
            patient=None,
            patient_identifier=who if "|" in who else None,
            object="practice-referrals " + " ".join(f"submission:{s}" for s in subs),
            access_point=access_point(),
        )
        for who, subs in by_patient.items()
    ]
