"""Pure: evaluate a regional Ruleset over a QuestionnaireResponse into a level, safety flags and Decisions.

No I/O, no configuration: the response, its answer index, the rule set, the questionnaire (to expand
groups named in `because`) and the reference date come in as arguments. Every Decision names the
rule that fired and the linkIds whose answers made it fire.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from service.questionnaires.answers import AnswerIndex, index_answers
from service.questionnaires.catalog import QuestionnaireDef
from service.questionnaires.linkids import CONSENT_GIVEN, CONSENT_METHOD, LEVEL_OVERRIDE, NOTE, OVERRIDE_REASON
from service.rules.loader import Recipient, Ruleset
from service.texts import Text

if TYPE_CHECKING:  # fhirpathpy and ANTLR (~20 ms) are imported on the first evaluation, not at start-up
    from service.rules.fhirpath import Evaluator

LEVEL_ORDER = ("none", "attention", "vulnerable", "urgent")


@dataclass(frozen=True, kw_only=True)
class SafetyFlag:
    id: str
    panel: str
    message: Text
    because: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Decision:
    """One rule that fired: a referral to a recipient and/or advice, with its reasons."""

    rule_id: str
    description: Text
    recipient: Recipient | None
    priority: str | None
    because: tuple[str, ...]
    advice: Text | None
    blocked_by_consent: bool = False
    alone: Text | None = None  # the description when this is the only recipient (Rule.alone)

    @property
    def sends(self) -> bool:
        """Whether this decision becomes a ServiceRequest in the referral Bundle."""
        return self.recipient is not None and not self.blocked_by_consent


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    ruleset: Ruleset
    level: str
    computed_level: str
    level_because: tuple[str, ...]
    override_reason: str | None
    safety: tuple[SafetyFlag, ...]
    decisions: tuple[Decision, ...]
    consent_given: bool
    consent_method: str | None
    note: str | None
    ticked: tuple[str, ...]

    @property
    def overridden(self) -> bool:
        return self.level != self.computed_level

    @property
    def consent_missing(self) -> bool:
        return any(d.blocked_by_consent for d in self.decisions)

    @property
    def referrals(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.sends)


def _positive(value: Any) -> bool:
    return value is not False and value is not None


_EXPANDED: dict[tuple[int, tuple[str, ...]], tuple[QuestionnaireDef, tuple[str, ...]]] = {}


def _expanded(link_ids: tuple[str, ...], qdef: QuestionnaireDef) -> tuple[str, ...]:
    """`link_ids` with the groups replaced by the items below them, each once: worked out once per `because`
    (the entry keeps `qdef` alive, so its id stays its own)."""
    key = (id(qdef), link_ids)
    entry = _EXPANDED.get(key)
    if entry is None or entry[0] is not qdef:
        if len(_EXPANDED) >= 1024:
            _EXPANDED.clear()
        out: list[str] = []
        for link_id in link_ids:
            candidates = qdef.descendants(link_id) if link_id in qdef.groups else (link_id,)
            out.extend(c for c in candidates if c not in out)
        entry = _EXPANDED[key] = (qdef, tuple(out))
    return entry[1]


def reasons(link_ids: tuple[str, ...], index: AnswerIndex, qdef: QuestionnaireDef) -> tuple[str, ...]:
    """The linkIds among `link_ids` (groups expanded) whose answers are positive: true, a code, a date."""
    get = index.values.get
    out: list[str] = []
    for cand in _expanded(link_ids, qdef):
        vals = get(cand)
        if not vals:
            continue
        if len(vals) == 1:  # most items: one answer, often a tick box answered false
            if vals[0] is not False and vals[0] is not None:
                out.append(cand)
        elif any(_positive(v) for v in vals):
            out.append(cand)
    return tuple(out)


def rule_evaluator(
    qr: dict[str, Any], ruleset: Ruleset, qdef: QuestionnaireDef, *, today: date, index: AnswerIndex, fast: bool = True
) -> Evaluator:
    """An Evaluator whose environment holds the rule set's parameters, %today, %resource and its variables."""
    from service.rules.fhirpath import Evaluator

    env = _environment(ruleset, today)
    env["resource"] = qr
    return _with_variables(Evaluator(qr, index, env, qdef, fast=fast), ruleset)


def _environment(ruleset: Ruleset, today: date) -> dict[str, Any]:
    """The rule set's parameters and %today."""
    from service.rules.fhirpath import fhirpath_date

    env: dict[str, Any] = dict(ruleset.parameters)
    env["today"] = fhirpath_date(today)
    return env


def _with_variables(ev: Evaluator, ruleset: Ruleset) -> Evaluator:
    """`ev` with the rule set's variables worked out, in order, into its environment."""
    for name, expression in ruleset.variables:
        result = ev.value(expression)
        ev.env[name] = result[0] if len(result) == 1 else result
    return ev


def evaluate_rules(
    qr: dict[str, Any],
    ruleset: Ruleset,
    qdef: QuestionnaireDef,
    *,
    today: date,
    index: AnswerIndex | None = None,
    fast: bool = True,
) -> Evaluation:
    """Level, safety flags and every Decision for one (already validated) QuestionnaireResponse.

    `fast=False` evaluates every expression as written with plain fhirpathpy (see Evaluator): slow, for tests."""
    index = index or index_answers(qr)
    return _evaluation(rule_evaluator(qr, ruleset, qdef, today=today, index=index, fast=fast), ruleset, qdef)


def evaluate_index(
    index: AnswerIndex,
    ruleset: Ruleset,
    qdef: QuestionnaireDef,
    *,
    today: date,
    response: Callable[[], dict[str, Any]],
) -> Evaluation:
    """evaluate_rules for a response known by its answer index (questionnaires/form.py index_fields: the live
    panel), `response()` building the response itself only if an expression needs it: one that falls back to
    fhirpathpy (the only reader of %resource; the native closures and the memo read the index and the
    %variables alone: service/rules/fhirpath.py). The same expressions over the same index and response: the
    same Evaluation (tests/rules/test_evaluate_index.py)."""
    ev = _lazy_evaluator()(response, index, _environment(ruleset, today), qdef)
    return _evaluation(_with_variables(ev, ruleset), ruleset, qdef)


@functools.cache
def _lazy_evaluator() -> type[Evaluator]:
    """An Evaluator whose response (and %resource) is built at the first expression that falls back to fhirpathpy
    (made here, not at import: fhirpathpy is imported on the first evaluation)."""
    from service.rules.fhirpath import Compiled, Evaluator

    class LazyResponseEvaluator(Evaluator):
        def __init__(
            self,
            response: Callable[[], dict[str, Any]],
            index: AnswerIndex,
            env: dict[str, Any],
            qdef: QuestionnaireDef,
        ):
            super().__init__(None, index, env, qdef)
            self._response = response

        def _run(self, compiled: Compiled) -> list[Any]:
            if self.qr is None:
                self.qr = self.env["resource"] = self._response()
            return super()._run(compiled)

    return LazyResponseEvaluator


def _evaluation(ev: Evaluator, ruleset: Ruleset, qdef: QuestionnaireDef) -> Evaluation:
    """The Evaluation of the rule set with the evaluator `ev` (its variables set)."""
    index = ev.index
    computed, level_because = _computed_level(ev, ruleset, qdef)
    override = index.code(LEVEL_OVERRIDE)
    final = override if override in LEVEL_ORDER else computed
    ev.env["computedLevel"] = computed
    ev.env["level"] = final
    safety = tuple(
        SafetyFlag(id=s.id, panel=s.panel, message=s.message, because=reasons(s.because, index, qdef))
        for s in ruleset.safety
        if ev.holds(s.when)
    )
    consent_given = index.is_true(CONSENT_GIVEN)
    reason = index.first(OVERRIDE_REASON)
    note = index.first(NOTE)
    return Evaluation(
        ruleset=ruleset,
        level=final,
        computed_level=computed,
        level_because=level_because,
        override_reason=reason if isinstance(reason, str) and override else None,
        safety=safety,
        decisions=_decisions(ev, ruleset, qdef, consent_given),
        consent_given=consent_given,
        consent_method=index.code(CONSENT_METHOD) if consent_given else None,
        note=note if isinstance(note, str) else None,
        ticked=tuple(index.all_ticked()),
    )


def _computed_level(ev: Evaluator, ruleset: Ruleset, qdef: QuestionnaireDef) -> tuple[str, tuple[str, ...]]:
    """The first level whose `when` holds, with its reasons ("none" if none does)."""
    for level in ruleset.levels:
        if ev.holds(level.when):
            return level.level, reasons(level.because, ev.index, qdef)
    return "none", ()


def _decisions(ev: Evaluator, ruleset: Ruleset, qdef: QuestionnaireDef, consent_given: bool) -> tuple[Decision, ...]:
    """Every rule whose `when` holds, with its recipient, its priority (the first that holds) and its reasons."""
    decisions = []
    for rule in ruleset.rules:
        if not ev.holds(rule.when):
            continue
        recipient = ruleset.recipients.get(rule.recipient) if rule.recipient else None
        priority = next((value for when, value in rule.priority if ev.holds(when)), None) if recipient else None
        decisions.append(
            Decision(
                rule_id=rule.id,
                description=rule.description,
                alone=rule.alone,
                recipient=recipient,
                priority=priority,
                because=reasons(rule.because, ev.index, qdef),
                advice=rule.advice,
                blocked_by_consent=bool(recipient and recipient.needs_consent and not consent_given),
            )
        )
    return tuple(decisions)
