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
    ("signalen", "Breng signalen in kaart en leg ze feitelijk vast: onderzoek, kindcheck (zijn er kinderen voor wie de patiënt zorgt? aantal en leeftijden) en zorgsituaties.",
     "Collect signals and record them factually: examination, child check (are there children the patient cares for? number and ages) and caregiving situations."),
    ("advies", "Vraag (anoniem) advies aan een collega en aan Veilig Thuis (0800-2000).",
     "Ask (anonymous) advice from a colleague and from Veilig Thuis (0800-2000)."),
    ("gesprek", "Ga in gesprek met de betrokkenen.", "Talk with the people involved."),
    ("professionals", "Raadpleeg zo nodig andere betrokken professionals en signaleer in de Verwijsindex risicojongeren (VIR).",
     "If needed, consult the other professionals involved and signal to the Verwijsindex risicojongeren (VIR)."),
    ("afwegen", "Beslis met het afwegingskader: is er een vermoeden? Is er acute of structurele onveiligheid (dan melden bij Veilig Thuis)? "
                "Kan ik hulp bieden of organiseren? Accepteren de betrokkenen die hulp? Leidt de hulp tot duurzame veiligheid? "
                "Een ‘nee’ bij de laatste drie betekent: melden.",
     "Decide with the assessment framework: is there a suspicion? Is there acute or structural unsafety (then report to Veilig Thuis)? "
     "Can I offer or organise help? Do those involved accept it? Does the help lead to lasting safety? A 'no' to the last three means: report."),
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
                "id": r.id, "name": _t(lang, r.name.nl, r.name.en), "organisation": org,
                "internal": r.internal, "needsConsent": r.needs_consent, "blocked": d.blocked_by_consent,
                "priority": d.priority or "routine", "rules": [], "advice": [],
            }
        entry["blocked"] = entry["blocked"] and d.blocked_by_consent
        if PRIORITY_ORDER.get(d.priority or "routine", 9) < PRIORITY_ORDER.get(entry["priority"], 9):
            entry["priority"] = d.priority
        entry["rules"].append({"id": d.rule_id, "description": _t(lang, d.description.nl, d.description.en),
                               "reasons": _reasons(qdef, d.because, lang)})
        if d.advice:
            entry["advice"].append(_t(lang, d.advice.nl, d.advice.en))
    prio = PRIORITY_TEXT["en" if lang == "en" else "nl"]
    for entry in merged.values():
        entry["priorityText"] = prio.get(entry["priority"], entry["priority"])
    return list(merged.values())


def advice(evaluation: Evaluation, qdef: QuestionnaireDef, lang: str) -> list[dict]:
    """Rules that give advice and send nothing (e.g. outside the programme's window)."""
    return [{"id": d.rule_id, "description": _t(lang, d.description.nl, d.description.en),
             "advice": _t(lang, d.advice.nl, d.advice.en) if d.advice else None,
             "reasons": _reasons(qdef, d.because, lang)}
            for d in evaluation.decisions if d.recipient is None]


def panel_model(evaluation: Evaluation, qdef: QuestionnaireDef, lang: str, *, suggestions=(), errors=()) -> dict:
    """The live panel: safety first, the level and why, the recipients with priority, rule and reasons."""
    levels = LEVEL_TEXT["en" if lang == "en" else "nl"]
    safety = [{"id": f.id, "panel": f.panel, "message": _t(lang, f.message.nl, f.message.en),
               "reasons": _reasons(qdef, f.because, lang)} for f in evaluation.safety]
    safety.sort(key=lambda s: s["panel"] != "meldcode")  # the Meldcode before anything else
    return {
        "meldcode": any(s["panel"] == "meldcode" for s in safety),
        "safety": safety,
        "level": {
            "code": evaluation.level, "text": levels[evaluation.level],
            "computed": evaluation.computed_level, "computedText": levels[evaluation.computed_level],
            "overridden": evaluation.overridden, "reason": evaluation.override_reason,
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


def _dmy(iso: str | None) -> str:
    try:
        return date.fromisoformat(iso).strftime("%d-%m-%Y") if iso else ""
    except ValueError:
        return iso or ""


STATE_TEXT = {
    "nl": {"delivered": "afgeleverd", "queued": "in de wachtrij (wordt later afgeleverd)", "dead": "geweigerd door de ontvangende server"},
    "en": {"delivered": "delivered", "queued": "queued (will be delivered later)", "dead": "refused by the receiving server"},
}


def his_summary(*, evaluation: Evaluation, qdef: QuestionnaireDef, qr: dict, lang: str, sent: list[dict],
                not_sent: list[dict], state: str, meldcode: dict | None, author: str | None, authored: str) -> str:
    """Plain text for the HIS (which stays the medical record): what was signalled, decided and sent."""
    nl = lang != "en"
    index = index_answers(qr)
    lines = [("Kansrijke Start — signalering " if nl else "Kansrijke Start — signalling ") + authored[:16].replace("T", " ")]
    phase = index.first("phase")
    if isinstance(phase, dict):
        option = qdef.items["phase"].option(None, phase.get("code")) if "phase" in qdef.items else None
        text = _t(lang, option.get("display", phase.get("code")), option.get("display_en")) if option else phase.get("code")
        due, born = index.first("due-date"), index.first("child-birth-date")
        if due:
            text += (", uitgerekende datum " if nl else ", due date ") + _dmy(due)
        if born:
            text += (", geboortedatum kind " if nl else ", child's date of birth ") + _dmy(born)
        lines.append(("Fase: " if nl else "Phase: ") + text)
    signals = _reasons(qdef, evaluation_signals(evaluation, qdef), lang)
    lines.append(("Signalen: " if nl else "Signals: ") + ("; ".join(signals) if signals else ("geen" if nl else "none")))
    children = index.first("children-in-household")
    if children is not None:
        lines.append(("Kindcheck: kinderen in het huishouden: " if nl else "Child check: children in the household: ") + str(children))
    if meldcode and meldcode.get("seen"):
        done = [i + 1 for i, (sid, _, _) in enumerate(MELDCODE_STEPS) if sid in meldcode.get("steps", [])]
        lines.append(("Meldcode: stappen afgevinkt: " if nl else "Meldcode: steps ticked: ")
                     + (", ".join(map(str, done)) if done else ("geen" if nl else "none"))
                     + (" (niets naar Veilig Thuis verstuurd door deze dienst)" if nl else " (nothing sent to Veilig Thuis by this service)"))
        for i, (sid, _, _) in enumerate(MELDCODE_STEPS):
            by = meldcode.get("done_by", {}).get(sid)
            if by:
                lines.append((f"  stap {i + 1}: {by['date']}, {by['user']}" if nl else f"  step {i + 1}: {by['date']}, {by['user']}"))
        if meldcode.get("informed") == "yes":
            lines.append("Patiënt geïnformeerd over de zorgen: ja" if nl else "Patient informed of the concerns: yes")
        elif meldcode.get("informed") == "no":
            lines.append(("Patiënt geïnformeerd over de zorgen: nee — reden: " if nl else "Patient informed of the concerns: no — reason: ")
                         + (meldcode.get("not_informed_reason") or ("niet opgegeven" if nl else "not given")))
        if meldcode.get("facts"):
            lines.append(("Feiten (Meldcode): " if nl else "Facts (Meldcode): ") + meldcode["facts"])
    lines.append(describe(evaluation, qdef, "en" if not nl else "nl"))
    states = STATE_TEXT["nl" if nl else "en"]
    for s in sent:
        lines.append(("Verstuurd naar " if nl else "Sent to ") + f"{s['name']}: {states.get(state, state)}"
                     + (f" (ServiceRequest/{s['id']})" if s.get("id") else ""))
    for s in not_sent:
        lines.append(("Niet verstuurd (geen toestemming): " if nl else "Not sent (no consent): ") + s["name"])
    method = index.code("consent-method")
    if index.is_true("consent-given"):
        lines.append(("Toestemming: " if nl else "Consent: ") + {"verbal": "mondeling" if nl else "verbal",
                                                                 "written": "schriftelijk" if nl else "written"}.get(method or "", method or ""))
    note = index.first("note")
    if note:
        lines.append(("Hulpvraag: " if nl else "Help question: ") + note)
    if author:
        lines.append(("Vastgelegd door: " if nl else "Recorded by: ") + author)
    return "\n".join(lines)
