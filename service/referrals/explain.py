"""Pure: an Evaluation as FHIR Parameters (the live panel's data) and as plain Dutch (or English) text."""

from __future__ import annotations

from typing import Any

from service.fhir import urls
from service.questionnaires.catalog import QuestionnaireDef
from service.rules.evaluate import Decision, Evaluation

LEVEL_TEXT = {
    "nl": {
        "urgent": "urgent kwetsbaar",
        "vulnerable": "kwetsbaar",
        "attention": "aandacht",
        "none": "geen kwetsbaarheid",
    },
    "en": {
        "urgent": "urgently vulnerable",
        "vulnerable": "vulnerable",
        "attention": "attention",
        "none": "no vulnerability",
    },
}
PRIORITY_TEXT = {
    "nl": {"urgent": "urgent", "routine": "regulier", "asap": "zo snel mogelijk", "stat": "direct"},
    "en": {"urgent": "urgent", "routine": "routine", "asap": "as soon as possible", "stat": "immediately"},
}


def _label(qdef: QuestionnaireDef, link_id: str, lang: str) -> str:
    item = qdef.items.get(link_id)
    if item is None:
        return link_id
    return (item.text_en if lang == "en" and item.text_en else item.text) or link_id


def _decision_status(d: Decision) -> str:
    if d.recipient is None:
        return "advice"
    return "blocked-no-consent" if d.blocked_by_consent else "refer"


def to_parameters(ev: Evaluation, qdef: QuestionnaireDef) -> dict[str, Any]:
    """The result of $evaluate: level, safety, and each recommendation with its rule and reasons."""
    params: list[dict[str, Any]] = [
        _level_parameter("level", ev.level),
        _level_parameter("computedLevel", ev.computed_level),
    ]
    params += [{"name": "levelReason", "valueString": lid} for lid in ev.level_because]
    if ev.overridden:
        params.append({"name": "overrideReason", "valueString": ev.override_reason or ""})
    params.append({"name": "safetyFlag", "valueBoolean": bool(ev.safety)})
    for flag in ev.safety:
        params.append(
            {
                "name": "safety",
                "part": [
                    {"name": "id", "valueCode": flag.id},
                    {"name": "panel", "valueCode": flag.panel},
                    {"name": "message", "valueString": flag.message.nl},
                    {"name": "messageEn", "valueString": flag.message.en},
                    *({"name": "reason", "valueString": lid} for lid in flag.because),
                ],
            }
        )
    params.append({"name": "consentGiven", "valueBoolean": ev.consent_given})
    params.append({"name": "consentMissing", "valueBoolean": ev.consent_missing})
    params += [{"name": "recommendation", "part": _recommendation(d, qdef)} for d in ev.decisions]
    params.append({"name": "ruleset", "valueString": ev.ruleset.label})
    return {"resourceType": "Parameters", "parameter": params}


def _level_parameter(name: str, level: str) -> dict[str, Any]:
    return {"name": name, "valueCoding": {"system": urls.CS_LEVEL, "code": level, "display": LEVEL_TEXT["nl"][level]}}


def _recommendation(d: Decision, qdef: QuestionnaireDef) -> list[dict[str, Any]]:
    """The parts of one recommendation: its rule, status, description, recipient, advice and reasons."""
    part: list[dict[str, Any]] = [
        {"name": "rule", "valueString": d.rule_id},
        {"name": "status", "valueCode": _decision_status(d)},
        {"name": "description", "valueString": d.description.nl},
        {"name": "descriptionEn", "valueString": d.description.en},
    ]
    if d.recipient:
        part += [
            {
                "name": "recipient",
                "valueCoding": {
                    "system": urls.CS_REFERRAL,
                    "code": d.recipient.referral,
                    "display": d.recipient.name.nl,
                },
            },
            {"name": "recipientId", "valueString": d.recipient.id},
            {"name": "priority", "valueCode": d.priority or "routine"},
        ]
    if d.advice:
        part += [{"name": "advice", "valueString": d.advice.nl}, {"name": "adviceEn", "valueString": d.advice.en}]
    for lid in d.because:
        part.append(
            {
                "name": "reason",
                "part": [
                    {"name": "linkId", "valueString": lid},
                    {"name": "text", "valueString": _label(qdef, lid, "nl")},
                ],
            }
        )
    return part


def describe(ev: Evaluation, qdef: QuestionnaireDef, lang: str = "nl") -> str:
    """The decision in plain words for the CLI and the summary: level, safety first, recipients, why."""
    nl = lang != "en"
    lines: list[str] = []
    for flag in ev.safety:
        lines.append(("LET OP: " if nl else "WARNING: ") + (flag.message.nl if nl else flag.message.en))
    level = LEVEL_TEXT[lang if lang in LEVEL_TEXT else "nl"]
    head = f"Niveau: {level[ev.level]}" if nl else f"Level: {level[ev.level]}"
    if ev.overridden:
        head += (
            f" (berekend: {level[ev.computed_level]}; aangepast, reden: {ev.override_reason})"
            if nl
            else f" (computed: {level[ev.computed_level]}; overridden, reason: {ev.override_reason})"
        )
    lines.append(head)
    if ev.level_because:
        lines.append(
            ("  omdat: " if nl else "  because: ") + "; ".join(_label(qdef, lid, lang) for lid in ev.level_because)
        )
    if not ev.decisions:
        lines.append("Geen verwijzing voorgesteld." if nl else "No referral suggested.")
    prio = PRIORITY_TEXT["nl" if nl else "en"]
    for d in ev.decisions:
        if d.recipient:
            name = d.recipient.name.nl if nl else d.recipient.name.en
            state = ""
            if d.blocked_by_consent:
                state = " — NIET VERSTUURD: toestemming ontbreekt" if nl else " — NOT SENT: consent missing"
            lines.append(
                f"Verwijzen naar: {name} (prioriteit {prio.get(d.priority or 'routine')}){state}"
                if nl
                else f"Refer to: {name} (priority {prio.get(d.priority or 'routine')}){state}"
            )
        else:
            lines.append("Advies:" if nl else "Advice:")
        lines.append(
            f"  regel {d.rule_id}: {d.description.nl if nl else d.description.en}"
            if nl
            else f"  rule {d.rule_id}: {d.description.en}"
        )
        if d.because:
            lines.append(
                ("  op grond van: " if nl else "  based on: ") + "; ".join(_label(qdef, lid, lang) for lid in d.because)
            )
        if d.advice:
            lines.append("  " + (d.advice.nl if nl else d.advice.en))
    if ev.consent_missing:
        lines.append(
            "Toestemming van de patiënt ontbreekt: er gaat niets buiten de praktijk."
            if nl
            else "The patient's consent is missing: nothing leaves the practice."
        )
    lines.append(f"Regels: {ev.ruleset.label}" if nl else f"Rules: {ev.ruleset.label}")
    return "\n".join(lines)
