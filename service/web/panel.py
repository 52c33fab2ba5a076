"""Pure: what the pages show about an Evaluation — the live panel, the review, the HIS summary text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from datetime import date
from typing import Any

from service.questionnaires.answers import index_answers
from service.questionnaires.catalog import QuestionnaireDef
from service.referrals.bundle import evaluation_signals
from service.referrals.explain import LEVEL_TEXT, PRIORITY_TEXT, describe
from service.rules.evaluate import Evaluation
from service.rules.meldcode import MeldcodeStep
from service.texts import code_text, language, pick, text
from service.web.user import named

PRIORITY_ORDER = {"stat": 0, "asap": 1, "urgent": 2, "routine": 3}


def item_text(qdef: QuestionnaireDef, link_id: str, lang: str) -> str:
    item = qdef.items.get(link_id)
    return pick(lang, item.text, item.text_en) if item else link_id


_ITEM_TEXTS: dict[tuple[int, str], tuple[QuestionnaireDef, dict[str, str]]] = {}


def _item_texts(qdef: QuestionnaireDef, lang: str) -> dict[str, str]:
    """item_text of every item in `lang`, worked out once per Questionnaire and language (the live panel names
    the reasons at every tick; the entry keeps `qdef` alive, so its id stays its own)."""
    key = (id(qdef), lang)
    entry = _ITEM_TEXTS.get(key)
    if entry is None or entry[0] is not qdef:
        if len(_ITEM_TEXTS) >= 64:
            _ITEM_TEXTS.clear()
        entry = _ITEM_TEXTS[key] = (qdef, {link_id: item_text(qdef, link_id, lang) for link_id in qdef.items})
    return entry[1]


def _reasons(qdef: QuestionnaireDef, link_ids, lang: str) -> list[str]:
    named = _item_texts(qdef, lang)
    return [named.get(lid, lid) for lid in link_ids]


def recipients(evaluation: Evaluation, qdef: QuestionnaireDef, lang: str) -> list[dict]:
    """One entry per recipient (rules routing to the same recipient merged, as in the referral Bundle). A rule's
    description for when its recipient is the only one ("ook de POH Jeugd" has no "ook" then) replaces it then."""
    merged: dict[str, dict] = {}
    alone = len({d.recipient.id for d in evaluation.decisions if d.recipient is not None}) == 1
    for d in evaluation.decisions:
        if d.recipient is None:
            continue
        r = d.recipient
        entry = merged.get(r.id)
        if entry is None:
            org = (r.organization or {}).get("name")
            entry = merged[r.id] = {
                "id": r.id,
                "name": pick(lang, r.name.nl, r.name.en),
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
        description = d.alone if alone and d.alone else d.description
        entry["rules"].append(
            {
                "id": d.rule_id,
                "description": pick(lang, description.nl, description.en),
                "reasons": _reasons(qdef, d.because, lang),
            }
        )
        if d.advice:
            entry["advice"].append(pick(lang, d.advice.nl, d.advice.en))
    prio = PRIORITY_TEXT[language(lang)]
    for entry in merged.values():
        entry["priorityText"] = prio.get(entry["priority"], entry["priority"])
    return list(merged.values())


def advice(evaluation: Evaluation, qdef: QuestionnaireDef, lang: str) -> list[dict]:
    """Rules that give advice and send nothing (e.g. outside the programme's window)."""
    return [
        {
            "id": d.rule_id,
            "description": pick(lang, d.description.nl, d.description.en),
            "advice": pick(lang, d.advice.nl, d.advice.en) if d.advice else None,
            "reasons": _reasons(qdef, d.because, lang),
        }
        for d in evaluation.decisions
        if d.recipient is None
    ]


def panel_model(evaluation: Evaluation, qdef: QuestionnaireDef, lang: str, *, suggestions=(), errors=()) -> dict:
    """The live panel: safety first, the level and why, the recipients with priority, rule and reasons."""
    levels = LEVEL_TEXT[language(lang)]
    safety = [
        {
            "id": f.id,
            "panel": f.panel,
            "message": pick(lang, f.message.nl, f.message.en),
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


def _plain(value: Any) -> dict[str, Any]:
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else dict(value)


def option_text(qdef: QuestionnaireDef, link_id: str, coding: dict[str, Any], lang: str) -> str:
    """A choice answer as the Questionnaire's answerOption shows it (its code when it has no such option)."""
    code = str(coding.get("code") or "")
    option = qdef.items[link_id].option(None, code) if link_id in qdef.items else None
    return pick(lang, str(option.get("display", code)), option.get("display_en")) if option else code


# What each share category (Recipient.shares, mappings/README.md) puts in a recipient's Bundle, in the GP's words
# (service/referrals/bundle.py: IDENTITY_ELEMENTS, SHARED_GROUPS, SHARED_ITEMS), in the order the review lists them.
SHARE_ORDER = ("identity", "language", "phase", "signals", "level", "help-question", "consent")
SHARE_TEXT = {
    "identity": "share.identity",
    "language": "share.language",
    "phase": "share.phase",
    "signals": "share.signals",
    "level": "share.level",
    "help-question": "share.help-question",
    "consent": "share.consent",
}
CONSENT_METHOD_TEXT = {"verbal": "consent.verbal", "written": "consent.written"}


def share_details(
    evaluation: Evaluation, qdef: QuestionnaireDef, qr: dict, lang: str, consent_method: str | None
) -> dict[str, str]:
    """Per share category, what of this form it carries (the same for every recipient that shares it): what the
    review shows after the category's name, so the GP sees the very words and codes that will go."""
    index, none = index_answers(qr), text("none", lang)
    phase = phase_text(qdef, index, lang)
    intention = index.first("pregnancy-intention")
    if isinstance(intention, dict) and "pregnancy-intention" in qdef.items:
        answer = option_text(qdef, "pregnancy-intention", intention, lang)
        phase = f"{phase}; {item_text(qdef, 'pregnancy-intention', lang)} {answer}" if phase else answer
    note = index.first("note")
    method = CONSENT_METHOD_TEXT.get(consent_method or "")
    return {
        "phase": phase or none,
        "signals": "; ".join(_reasons(qdef, evaluation_signals(evaluation, qdef), lang)) or none,
        "level": LEVEL_TEXT[language(lang)][evaluation.level],
        "help-question": f"‘{note}’" if note else none,
        "consent": text(method, lang) if method else "",
    }


def shares_view(shares: list[str], details: dict[str, str], lang: str) -> tuple[list[dict], list[str]]:
    """What one recipient gets ({"category", "text", "detail"}) and the categories it does not get, in words."""
    gets = [
        {"category": c, "text": text(SHARE_TEXT[c], lang), "detail": details.get(c, "")}
        for c in SHARE_ORDER
        if c in shares
    ]
    withheld = [text(SHARE_TEXT[c], lang) for c in SHARE_ORDER if c not in shares]
    return gets, withheld


def phase_text(qdef: QuestionnaireDef, index, lang: str) -> str:
    """The phase as answered, with its date: "Zwanger, uitgerekende datum 01-03-2027"; "" when not answered."""
    phase = index.first("phase")
    if not isinstance(phase, dict):
        return ""
    shown = option_text(qdef, "phase", phase, lang)
    due, born = index.first("due-date"), index.first("child-birth-date")
    if due:
        shown = text("phase.due_date", lang, phase=shown, date=_dmy(due))
    if born:
        shown = text("phase.birth_date", lang, phase=shown, date=_dmy(born))
    return shown


def _dmy(iso: str | None) -> str:
    try:
        return date.fromisoformat(iso).strftime("%d-%m-%Y") if iso else ""
    except ValueError:
        return iso or ""


# A submission's state (service/referrals/submit.py overall_state) in words (service/texts.py state.*).
STATE_TEXT = {
    "delivered": "state.delivered",
    "queued": "state.queued",
    "dead": "state.dead",
    "recorded": "state.recorded",
    "withdrawn": "state.withdrawn",
    "delivered-withdrawn": "state.delivered_withdrawn",
}
# a referral delivered and then cancelled by the practice (its Task cancelled): not "afgeleverd" alone any more
WITHDRAWN_AFTER = "delivered-withdrawn"


def state_text(state: str, lang: str) -> str:
    """A submission's state in words; an unknown state as it is."""
    return code_text(STATE_TEXT, state, lang)


def join_summary(head: str, tail: str, sent: list[dict], not_sent: list[dict], lang: str) -> str:
    """The summary with what happened to each referral between what was decided (`head`) and the rest (`tail`):
    the confirmation rebuilds it when a queued referral has gone out since, or the recipient has answered (its
    status, outcome and message for the GP: a referral's `task`), so the HIS gets what is true now."""
    lines = [head]
    for s in sent:
        lines.append(_referral_line(s, lang))
        task = s.get("task")  # what the recipient did with it, once it is done (confirmation.py, task_view)
        if task and task.get("final") and not s.get("internal") and not task.get("unsent"):
            status = f"{task['text']} — {task['detail']}" if task.get("detail") else task["text"]
            lines.append(text("his.feedback", lang, name=s["name"], status=status, date=task.get("when") or "?"))
            if task.get("message"):
                lines.append(text("his.message", lang, name=task.get("by") or s["name"], message=task["message"]))
    lines += [text("his.not_sent", lang, name=s["name"]) for s in not_sent]
    if not any(not s.get("internal") for s in sent):
        lines.append(text("his.nothing_outside", lang))
    return "\n".join([*lines, tail] if tail else lines)


def his_summary_parts(
    *,
    evaluation: Evaluation,
    qdef: QuestionnaireDef,
    qr: dict,
    lang: str,
    meldcode: dict | None,
    steps: Sequence[MeldcodeStep],
    author: str | None,
    authored: str,
    prepared: str | None = None,
) -> tuple[str, str]:
    """Plain text for the HIS (which stays the medical record) of what was signalled and decided: the parts before
    and after the lines on what was sent (join_summary). `prepared`: who saved the draft it was sent from, and when
    (form_page.draft_opened), when that was someone else (NEN 7513 and DOMAIN.md §4.3: the user and the responsible)."""
    index = index_answers(qr)
    lines = [text("his.title", lang, authored=f"{_dmy(authored[:10])} {authored[11:16]}".strip())]
    phase = phase_text(qdef, index, lang)
    if phase:
        lines.append(text("his.phase", lang, phase=phase))
    intention = index.first("pregnancy-intention")  # before a pregnancy: what she said she wants
    if isinstance(intention, dict):
        lines.append(text("his.intention", lang, answer=option_text(qdef, "pregnancy-intention", intention, lang)))
    signals = _reasons(qdef, evaluation_signals(evaluation, qdef), lang)
    lines.append(text("his.signals", lang, signals="; ".join(signals) if signals else text("none", lang)))
    children = index.first("children-in-household")
    if children is not None:
        lines.append(text("his.children", lang, children=children))
    if meldcode and meldcode.get("seen"):
        done = [i for i, step in enumerate(steps, start=1) if step.id in meldcode.get("steps", [])]
        lines.append(text("his.meldcode.steps", lang, steps=", ".join(map(str, done)) if done else text("none", lang)))
        for i, step in enumerate(steps, start=1):
            by = meldcode.get("done_by", {}).get(step.id)
            if by:
                lines.append(text("his.meldcode.step", lang, number=i, date=_dmy(by.get("date")), user=_who(by, lang)))
        if meldcode.get("informed") == "yes":
            lines.append(text("his.meldcode.informed", lang))
        elif meldcode.get("informed") == "no":
            reason = meldcode.get("not_informed_reason") or text("his.meldcode.no_reason", lang)
            lines.append(text("his.meldcode.not_informed", lang, reason=reason))
        if meldcode.get("facts"):
            lines.append(text("his.meldcode.facts", lang, facts=meldcode["facts"]))
    lines.append(describe(evaluation, qdef, language(lang)))
    head, lines = "\n".join(lines), []
    method = index.code("consent-method")
    if index.is_true("consent-given"):
        lines.append(text("his.consent", lang, method=code_text(CONSENT_METHOD_TEXT, method or "", lang)))
    note = index.first("note")
    if note:
        lines.append(text("his.help_question", lang, note=note))
    if prepared:
        lines.append(prepared)
    if author:
        lines.append(text("his.recorded_by", lang, author=author))
    return head, "\n".join(lines)


def _who(stamp: dict, lang: str) -> str:
    """Who ticked a Meldcode step (service/web/meldcode_page.py): the name, else the role in words; never the
    launch's FHIR reference (an older stamp's "user" is one, or a role)."""
    legacy = stamp.get("user")
    role = stamp.get("role") or (legacy if isinstance(legacy, str) and "/" not in legacy else None)
    return named(stamp.get("name"), role).in_lang(lang)


def _referral_line(s: dict, lang: str) -> str:
    """One referral in the HIS summary as it actually went: stayed in the practice, delivered, waiting, refused or
    taken back before it went (the HIS is the medical record: it must not say a referral arrived that did not)."""
    if s.get("internal") and s.get("recorded") is False:
        return text("his.internal_not_recorded", lang, name=s["name"])
    if s.get("internal"):
        return text("his.internal", lang, name=s["name"])
    where = f"{s['name']} ({s.get('destination')})"
    state = s.get("state")
    if state == "delivered":
        return text("his.delivered", lang, where=where)
    if state == WITHDRAWN_AFTER:  # delivered, then cancelled by the practice (confirmation.py)
        return text("his.delivered_then_withdrawn", lang, where=where)
    if state == "queued":
        return text("his.queued", lang, where=where)
    if state == "withdrawn":  # taken back from the outbox by the practice (confirmation.py)
        return text("his.withdrawn", lang, where=where)
    return text("his.refused", lang, where=where)
