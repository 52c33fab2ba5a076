"""Pure: what the pages show about an Evaluation — the live panel, the review, the HIS summary text."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import date

from service.questionnaires.answers import index_answers
from service.questionnaires.catalog import QuestionnaireDef
from service.referrals.bundle import evaluation_signals
from service.referrals.explain import LEVEL_TEXT, PRIORITY_TEXT, describe
from service.rules.evaluate import Evaluation

PRIORITY_ORDER = {"stat": 0, "asap": 1, "urgent": 2, "routine": 3}

# KNMG Meldcode huiselijk geweld en kindermishandeling (2023), stappenplan (DOMAIN.md §3.3).
MELDCODE_STEPS = (
    (
        "signalen",
        "Breng signalen in kaart en leg ze feitelijk vast: onderzoek, kindcheck (zijn er kinderen voor wie de patiënt zorgt? aantal en leeftijden) en zorgsituaties.",
        "Collect signals and record them factually: examination, child check (are there children the patient cares for? number and ages) and caregiving situations.",
    ),
    (
        "advies",
        "Vraag (anoniem) advies aan een collega en aan Veilig Thuis (0800-2000).",
        "Ask (anonymous) advice from a colleague and from Veilig Thuis (0800-2000).",
    ),
    ("gesprek", "Ga in gesprek met de betrokkenen.", "Talk with the people involved."),
    (
        "professionals",
        "Raadpleeg zo nodig andere betrokken professionals en signaleer in de Verwijsindex risicojongeren (VIR).",
        "If needed, consult the other professionals involved and signal to the Verwijsindex risicojongeren (VIR).",
    ),
    (
        "afwegen",
        (
            "Beslis met het afwegingskader: is er een vermoeden? Is er acute of structurele onveiligheid (dan melden bij Veilig Thuis)? "
            "Kan ik hulp bieden of organiseren? Accepteren de betrokkenen die hulp? Leidt de hulp tot duurzame veiligheid? "
            "Een ‘nee’ bij de laatste drie betekent: melden."
        ),
        (
            "Decide with the assessment framework: is there a suspicion? Is there acute or structural unsafety (then report to Veilig Thuis)? "
            "Can I offer or organise help? Do those involved accept it? Does the help lead to lasting safety? A 'no' to the last three means: report."
        ),
    ),
)


def _t(lang: str, nl: str, en: str | None) -> str:
    return en if lang == "en" and en else nl


def item_text(qdef: QuestionnaireDef, link_id: str, lang: str) -> str:
    item = qdef.items.get(link_id)
    return _t(lang, item.text, item.text_en) if item else link_id


def _reasons(qdef: QuestionnaireDef, link_ids, lang: str) -> list[str]:
    return [item_text(qdef, lid, lang) for lid in link_ids]


def recipients(evaluation: Evaluation, qdef: QuestionnaireDef, lang: str) -> list[dict]:
    """One entry per recipient (rules routing to the same recipient merged, as in the referral Bundle)."""
    merged: dict[str, dict] = {}
    for d in evaluation.decisions:
        if d.recipient is None:
            continue
        r = d.recipient
        entry = merged.get(r.id)
        if entry is None:
            org = (r.organization or {}).get("name")
            entry = merged[r.id] = {
                "id": r.id,
                "name": _t(lang, r.name.nl, r.name.en),
                "organisation": org,
                "internal": r.internal,
                "needsConsent": r.needs_consent,
                "blocked": d.blocked_by_consent,
                "destination": None if r.internal else r.destination,
                "shares": [c for c in SHARE_ORDER if c in r.shares],
                "priority": d.priority or "routine",
                "rules": [],
                "advice": [],
            }
        entry["blocked"] = entry["blocked"] and d.blocked_by_consent
        if PRIORITY_ORDER.get(d.priority or "routine", 9) < PRIORITY_ORDER.get(entry["priority"], 9):
            entry["priority"] = d.priority
        entry["rules"].append(
            {
                "id": d.rule_id,
                "description": _t(lang, d.description.nl, d.description.en),
                "reasons": _reasons(qdef, d.because, lang),
            }
        )
        if d.advice:
            entry["advice"].append(_t(lang, d.advice.nl, d.advice.en))
    prio = PRIORITY_TEXT["en" if lang == "en" else "nl"]
    for entry in merged.values():
        entry["priorityText"] = prio.get(entry["priority"], entry["priority"])
    return list(merged.values())


def advice(evaluation: Evaluation, qdef: QuestionnaireDef, lang: str) -> list[dict]:
    """Rules that give advice and send nothing (e.g. outside the programme's window)."""
    return [
        {
            "id": d.rule_id,
            "description": _t(lang, d.description.nl, d.description.en),
            "advice": _t(lang, d.advice.nl, d.advice.en) if d.advice else None,
            "reasons": _reasons(qdef, d.because, lang),
        }
        for d in evaluation.decisions
        if d.recipient is None
    ]


def panel_model(evaluation: Evaluation, qdef: QuestionnaireDef, lang: str, *, suggestions=(), errors=()) -> dict:
    """The live panel: safety first, the level and why, the recipients with priority, rule and reasons."""
    levels = LEVEL_TEXT["en" if lang == "en" else "nl"]
    safety = [
        {
            "id": f.id,
            "panel": f.panel,
            "message": _t(lang, f.message.nl, f.message.en),
            "reasons": _reasons(qdef, f.because, lang),
        }
        for f in evaluation.safety
    ]
    safety.sort(key=lambda s: s["panel"] != "meldcode")  # the Meldcode before anything else
    return {
        "meldcode": any(s["panel"] == "meldcode" for s in safety),
        "safety": safety,
        "level": {
            "code": evaluation.level,
            "text": levels[evaluation.level],
            "computed": evaluation.computed_level,
            "computedText": levels[evaluation.computed_level],
            "overridden": evaluation.overridden,
            "reason": evaluation.override_reason,
            "because": _reasons(qdef, evaluation.level_because, lang),
        },
        "recipients": recipients(evaluation, qdef, lang),
        "advice": advice(evaluation, qdef, lang),
        "consentMissing": evaluation.consent_missing,
        "signals": _reasons(qdef, evaluation_signals(evaluation, qdef), lang),
        "suggestions": [_plain(s) for s in suggestions],
        "errors": [_plain(e) for e in errors],
        "ruleset": evaluation.ruleset.label,
    }


def _plain(value) -> dict:
    return asdict(value) if is_dataclass(value) else dict(value)


# What each share category (Recipient.shares, mappings/README.md) puts in a recipient's Bundle, in the GP's words
# (service/referrals/bundle.py: IDENTITY_ELEMENTS, SHARED_GROUPS, SHARED_ITEMS), in the order the review lists them.
SHARE_ORDER = ("identity", "language", "phase", "signals", "level", "help-question", "consent")
SHARE_TEXT = {
    "identity": (
        "naam, BSN, geslacht, geboortedatum, adres, telefoon en e-mail",
        "name, BSN, gender, date of birth, address, phone and e-mail",
    ),
    "language": ("voorkeurstaal", "preferred language"),
    "phase": ("fase en datum", "phase and date"),
    "signals": ("de aangevinkte signalen", "the ticked signals"),
    "level": ("het niveau", "the level"),
    "help-question": ("de hulpvraag", "the help question"),
    "consent": ("de vastgelegde toestemming", "the recorded consent"),
}
CONSENT_METHOD_TEXT = {
    "nl": {"verbal": "mondeling", "written": "schriftelijk"},
    "en": {"verbal": "verbal", "written": "written"},
}


def share_details(
    evaluation: Evaluation, qdef: QuestionnaireDef, qr: dict, lang: str, consent_method: str | None
) -> dict[str, str]:
    """Per share category, what of this form it carries (the same for every recipient that shares it): what the
    review shows after the category's name, so the GP sees the very words and codes that will go."""
    index, none = index_answers(qr), _t(lang, "geen", "none")
    phase = phase_text(qdef, index, lang)
    intention = index.first("pregnancy-intention")
    if isinstance(intention, dict) and "pregnancy-intention" in qdef.items:
        option = qdef.items["pregnancy-intention"].option(None, intention.get("code"))
        answer = (
            _t(lang, option.get("display", intention.get("code")), option.get("display_en"))
            if option
            else intention.get("code")
        )
        phase = f"{phase}; {item_text(qdef, 'pregnancy-intention', lang)} {answer}" if phase else answer
    note = index.first("note")
    return {
        "phase": phase or none,
        "signals": "; ".join(_reasons(qdef, evaluation_signals(evaluation, qdef), lang)) or none,
        "level": LEVEL_TEXT["en" if lang == "en" else "nl"][evaluation.level],
        "help-question": f"‘{note}’" if note else none,
        "consent": CONSENT_METHOD_TEXT["en" if lang == "en" else "nl"].get(consent_method or "", ""),
    }


def shares_view(shares: list[str], details: dict[str, str], lang: str) -> tuple[list[dict], list[str]]:
    """What one recipient gets ({"category", "text", "detail"}) and the categories it does not get, in words."""
    gets = [
        {"category": c, "text": _t(lang, *SHARE_TEXT[c]), "detail": details.get(c, "")}
        for c in SHARE_ORDER
        if c in shares
    ]
    withheld = [_t(lang, *SHARE_TEXT[c]) for c in SHARE_ORDER if c not in shares]
    return gets, withheld


def phase_text(qdef: QuestionnaireDef, index, lang: str) -> str:
    """The phase as answered, with its date: "Zwanger, uitgerekende datum 01-03-2027"; "" when not answered."""
    nl = lang != "en"
    phase = index.first("phase")
    if not isinstance(phase, dict):
        return ""
    option = qdef.items["phase"].option(None, phase.get("code")) if "phase" in qdef.items else None
    text = _t(lang, option.get("display", phase.get("code")), option.get("display_en")) if option else phase.get("code")
    due, born = index.first("due-date"), index.first("child-birth-date")
    if due:
        text += (", uitgerekende datum " if nl else ", due date ") + _dmy(due)
    if born:
        text += (", geboortedatum kind " if nl else ", child's date of birth ") + _dmy(born)
    return text


def _dmy(iso: str | None) -> str:
    try:
        return date.fromisoformat(iso).strftime("%d-%m-%Y") if iso else ""
    except ValueError:
        return iso or ""


# A submission's state (service/referrals/submit.py overall_state) in words. Only "delivered" says afgeleverd: a
# referral that waits or was refused has not reached anyone, and the page must not suggest it has.
STATE_TEXT = {
    "nl": {
        "delivered": "afgeleverd",
        "queued": "in de wachtrij (nog niet aangekomen; gaat vanzelf alsnog weg)",
        "dead": "geweigerd door de ontvangende server (niet aangekomen)",
        "recorded": "vastgelegd; niets verstuurd buiten de praktijk",
    },
    "en": {
        "delivered": "delivered",
        "queued": "queued (not arrived yet; will go out by itself)",
        "dead": "refused by the receiving server (not arrived)",
        "recorded": "recorded; nothing sent outside the practice",
    },
}


def join_summary(head: str, tail: str, sent: list[dict], not_sent: list[dict], lang: str) -> str:
    """The summary with what happened to each referral between what was decided (`head`) and the rest (`tail`):
    the confirmation rebuilds it when a queued referral has gone out since, so the HIS gets what is true now."""
    nl = lang != "en"
    lines = [head, *(_referral_line(s, nl) for s in sent)]
    lines += [
        ("Niets verstuurd naar " if nl else "Nothing sent to ")
        + s["name"]
        + (" (geen toestemming)" if nl else " (no consent)")
        for s in not_sent
    ]
    if not any(not s.get("internal") for s in sent):
        lines.append("Niets verstuurd buiten de praktijk." if nl else "Nothing sent outside the practice.")
    return "\n".join([*lines, tail] if tail else lines)


def his_summary_parts(
    *,
    evaluation: Evaluation,
    qdef: QuestionnaireDef,
    qr: dict,
    lang: str,
    meldcode: dict | None,
    author: str | None,
    authored: str,
) -> tuple[str, str]:
    """Plain text for the HIS (which stays the medical record) of what was signalled and decided: the parts before
    and after the lines on what was sent (join_summary)."""
    nl = lang != "en"
    index = index_answers(qr)
    lines = [
        ("Kansrijke Start — signalering " if nl else "Kansrijke Start — signalling ") + authored[:16].replace("T", " ")
    ]
    phase = phase_text(qdef, index, lang)
    if phase:
        lines.append(("Fase: " if nl else "Phase: ") + phase)
    signals = _reasons(qdef, evaluation_signals(evaluation, qdef), lang)
    lines.append(
        ("Signalen: " if nl else "Signals: ") + ("; ".join(signals) if signals else ("geen" if nl else "none"))
    )
    children = index.first("children-in-household")
    if children is not None:
        lines.append(
            ("Kindcheck: kinderen in het huishouden: " if nl else "Child check: children in the household: ")
            + str(children)
        )
    if meldcode and meldcode.get("seen"):
        done = [i + 1 for i, (sid, _, _) in enumerate(MELDCODE_STEPS) if sid in meldcode.get("steps", [])]
        lines.append(
            ("Meldcode: stappen afgevinkt: " if nl else "Meldcode: steps ticked: ")
            + (", ".join(map(str, done)) if done else ("geen" if nl else "none"))
            + (
                " (niets naar Veilig Thuis verstuurd door deze dienst)"
                if nl
                else " (nothing sent to Veilig Thuis by this service)"
            )
        )
        for i, (sid, _, _) in enumerate(MELDCODE_STEPS):
            by = meldcode.get("done_by", {}).get(sid)
            if by:
                lines.append(
                    f"  stap {i + 1}: {by['date']}, {by['user']}"
                    if nl
                    else f"  step {i + 1}: {by['date']}, {by['user']}"
                )
        if meldcode.get("informed") == "yes":
            lines.append("Patiënt geïnformeerd over de zorgen: ja" if nl else "Patient informed of the concerns: yes")
        elif meldcode.get("informed") == "no":
            lines.append(
                (
                    "Patiënt geïnformeerd over de zorgen: nee — reden: "
                    if nl
                    else "Patient informed of the concerns: no — reason: "
                )
                + (meldcode.get("not_informed_reason") or ("niet opgegeven" if nl else "not given"))
            )
        if meldcode.get("facts"):
            lines.append(("Feiten (Meldcode): " if nl else "Facts (Meldcode): ") + meldcode["facts"])
    lines.append(describe(evaluation, qdef, "en" if not nl else "nl"))
    head, lines = "\n".join(lines), []
    method = index.code("consent-method")
    if index.is_true("consent-given"):
        lines.append(
            ("Toestemming: " if nl else "Consent: ")
            + {"verbal": "mondeling" if nl else "verbal", "written": "schriftelijk" if nl else "written"}.get(
                method or "", method or ""
            )
        )
    note = index.first("note")
    if note:
        lines.append(("Hulpvraag: " if nl else "Help question: ") + note)
    if author:
        lines.append(("Vastgelegd door: " if nl else "Recorded by: ") + author)
    return head, "\n".join(lines)


def _referral_line(s: dict, nl: bool) -> str:
    """One referral in the HIS summary as it actually went: stayed in the practice, delivered, waiting or refused
    (the HIS is the medical record: it must not say a referral arrived that did not)."""
    if s.get("internal") and s.get("recorded") is False:
        return (
            "Interne verwijzing (niets verstuurd buiten de praktijk; NIET in het EPD vastgelegd, zet haar zelf in het HIS): "
            if nl
            else "Internal referral (nothing sent outside the practice; NOT recorded in the EHR, enter it in the HIS): "
        ) + s["name"]
    if s.get("internal"):
        return (
            "Interne verwijzing (in het EPD, niets verstuurd buiten de praktijk): "
            if nl
            else "Internal referral (in the EHR, nothing sent outside the practice): "
        ) + s["name"]
    where = f"{s['name']} ({s.get('destination')})"
    state = s.get("state")
    if state == "delivered":
        return (f"Verstuurd naar {where}: afgeleverd" if nl else f"Sent to {where}: delivered") + (
            f" (ServiceRequest/{s['id']})" if s.get("id") else ""
        )
    if state == "queued":
        return (
            f"In de wachtrij voor {where}: nog niet aangekomen, gaat vanzelf alsnog weg"
            if nl
            else f"Queued for {where}: not arrived yet, will go out by itself"
        )
    return (
        f"Geweigerd door de server van {where}: niet aangekomen"
        if nl
        else f"Refused by the server of {where}: not arrived"
    )
