"""Pure: an Evaluation as FHIR Parameters (the live panel's data) and as plain Dutch (or English) text."""

from __future__ import annotations

from typing import Any, get_args

from service.fhir import urls
from service.questionnaires.catalog import QuestionnaireDef
from service.rules.evaluate import Decision, Evaluation
from service.texts import Lang, language, pick, text

# The catalogue's keys (service/texts.py) of the levels and priorities, and their texts by language, looked up
# once: $evaluate's displays and the live panel read them at every evaluation.
LEVEL_KEY = {
    "urgent": "explain.level.urgent",
    "vulnerable": "explain.level.vulnerable",
    "attention": "explain.level.attention",
    "none": "explain.level.none",
}
PRIORITY_KEY = {
    "urgent": "explain.priority.urgent",
    "routine": "explain.priority.routine",
    "asap": "explain.priority.asap",
    "stat": "explain.priority.stat",
}
LEVEL_TEXT: dict[Lang, dict[str, str]] = {
    lang: {code: text(key, lang) for code, key in LEVEL_KEY.items()} for lang in get_args(Lang)
}
PRIORITY_TEXT: dict[Lang, dict[str, str]] = {
    lang: {code: text(key, lang) for code, key in PRIORITY_KEY.items()} for lang in get_args(Lang)
}


def _label(qdef: QuestionnaireDef, link_id: str, lang: str) -> str:
    item = qdef.items.get(link_id)
    if item is None:
        return link_id
    return pick(lang, item.text, item.text_en) or link_id


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
    levels, priorities = LEVEL_TEXT[language(lang)], PRIORITY_TEXT[language(lang)]
    lines = [text("explain.warning", lang, message=flag.message) for flag in ev.safety]
    if ev.overridden:
        lines.append(
            text(
                "explain.level_line.overridden",
                lang,
                level=levels[ev.level],
                computed=levels[ev.computed_level],
                reason=ev.override_reason,
            )
        )
    else:
        lines.append(text("explain.level_line", lang, level=levels[ev.level]))
    if ev.level_because:
        reasons = "; ".join(_label(qdef, lid, lang) for lid in ev.level_because)
        lines.append("  " + text("explain.because", lang, reasons=reasons))
    if not ev.decisions:
        lines.append(text("explain.no_referral", lang))
    for d in ev.decisions:
        if d.recipient:
            key = "explain.refer.blocked" if d.blocked_by_consent else "explain.refer"
            priority = priorities.get(d.priority or "routine")
            lines.append(text(key, lang, name=d.recipient.name, priority=priority))
        else:
            lines.append(text("explain.advice", lang))
        lines.append("  " + text("explain.rule", lang, rule=d.rule_id, description=d.description))
        if d.because:
            reasons = "; ".join(_label(qdef, lid, lang) for lid in d.because)
            lines.append("  " + text("explain.based_on", lang, reasons=reasons))
        if d.advice:
            lines.append("  " + d.advice.in_lang(lang))
    if ev.consent_missing:
        lines.append(text("explain.consent_missing", lang))
    lines.append(text("explain.rules", lang, ruleset=ev.ruleset.label))
    return "\n".join(lines)
