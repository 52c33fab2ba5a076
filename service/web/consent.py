"""Consent per recipient (DOMAIN.md §4.2: explicit, per target, recorded) on top of the engine's one answer.

The Questionnaire records consent once (`consent-given`, `consent-method`); the review step asks it per
external recipient. The response then says consent was given (by whom it was asked, how), and the
recipients whose box was not ticked are dropped exactly as the engine drops every external recipient
when consent is missing: their Decisions are marked `blocked_by_consent`, so no ServiceRequest, Task
or Consent is made for them.

A send has evaluated its response already (service/web/send.py): `EvaluatedEngine` gives the Submitter that
evaluation instead of running the rules a second time.
"""

from __future__ import annotations

from dataclasses import replace

from service.questionnaires.validate import ValidationResult
from service.referrals.pipeline import Engine
from service.referrals.submit import Submitter
from service.rules.evaluate import Decision, Evaluation


def needs_consent(decision: Decision) -> bool:
    return _consent_id(decision) is not None


def _consent_id(decision: Decision) -> str | None:
    """The recipient's id when sending to it needs the patient's consent."""
    recipient = decision.recipient
    return recipient.id if recipient is not None and recipient.needs_consent else None


def restrict_to_consented(evaluation: Evaluation, consented: frozenset[str]) -> Evaluation:
    """The evaluation with every recipient that needs consent and is not in `consented` blocked."""
    decisions = tuple(
        replace(d, blocked_by_consent=True) if (rid := _consent_id(d)) is not None and rid not in consented else d
        for d in evaluation.decisions
    )
    return replace(evaluation, decisions=decisions)


class ConsentScopedEngine(Engine):
    """The engine, with evaluate() (and so extract()) restricted to the consented recipients."""

    def __init__(self, engine: Engine, consented: frozenset[str]):
        super().__init__(engine.catalog, engine.rulesets, engine.region, engine.context.service_version)
        self.consented = frozenset(consented)

    def evaluate(self, qr: dict, region: str | None = None, *, structural: bool = False):
        result, evaluation = super().evaluate(qr, region, structural=structural)
        return result, restrict_to_consented(evaluation, self.consented)


def consent_asked(evaluation: Evaluation) -> frozenset[str]:
    """The recipients the review asks consent for: every one a rule routes to that needs it."""
    return frozenset(rid for d in evaluation.decisions if (rid := _consent_id(d)) is not None)


def what_the_rules_read(qr: dict) -> tuple:
    """The parts of a response its evaluation depends on: the Questionnaire, the answers, and the authored date
    (the reference date of every window). The status, the business identifier and a contained Patient are
    read by no rule (one that did would have to be read here too)."""
    return qr.get("questionnaire"), qr.get("authored"), qr.get("item")


class EvaluatedEngine(ConsentScopedEngine):
    """The engine, for the Submitter of one send: `evaluation` is what the rules gave for `evaluated` (the
    response the send built), so a response that differs from it only in what no rule reads (completed, the
    Patient contained for the recipients) is validated, as every submission is, and answered with that
    evaluation restricted to the consented recipients, without running the rules again. Any other response
    is evaluated as ConsentScopedEngine does."""

    def __init__(self, engine: Engine, consented: frozenset[str], evaluated: dict, evaluation: Evaluation):
        super().__init__(engine, consented)
        self._read, self._evaluation = what_the_rules_read(evaluated), evaluation

    def evaluate(
        self, qr: dict, region: str | None = None, *, structural: bool = False
    ) -> tuple[ValidationResult, Evaluation]:
        if what_the_rules_read(qr) != self._read or self.ruleset(region) is not self._evaluation.ruleset:
            return super().evaluate(qr, region, structural=structural)
        result, _ = self._valid(qr, structural)  # ResponseInvalid with every problem, as Engine.evaluate
        return result, restrict_to_consented(self._evaluation, self.consented)


def submitter_for(
    submitter: Submitter,
    engine: Engine,
    consented: frozenset[str],
    asked: frozenset[str],
    evaluated: tuple[dict, Evaluation] | None = None,
) -> Submitter:
    """The app's submitter when every recipient asked consented (or none did: then the response's own
    `consent-given` is false and the engine blocks them all); otherwise the same outbox, pusher and audit
    log with the engine restricted to the consented recipients. With `evaluated` (the response a send built
    and its evaluation) always the latter, with an EvaluatedEngine: the rules do not run again."""
    if evaluated is not None:
        scoped: Engine = EvaluatedEngine(engine, consented, *evaluated)
    elif not consented or asked <= consented:
        return submitter
    else:
        scoped = ConsentScopedEngine(engine, consented)
    return Submitter(scoped, submitter.outbox, submitter.pusher, submitter.audit, submitter.recent, submitter.mirror)
