"""Consent per recipient (DOMAIN.md §4.2: explicit, per target, recorded) on top of the engine's one answer.

The Questionnaire records consent once (`consent-given`, `consent-method`); the review step asks it per
external recipient. The response then says consent was given (by whom it was asked, how), and the
recipients whose box was not ticked are dropped exactly as the engine drops every external recipient
when consent is missing: their Decisions are marked `blocked_by_consent`, so no ServiceRequest, Task
or Consent is made for them.
"""

from __future__ import annotations

from dataclasses import replace

from service.referrals.pipeline import Engine
from service.referrals.submit import Submitter
from service.rules.evaluate import Decision, Evaluation


def needs_consent(decision: Decision) -> bool:
    return decision.recipient is not None and decision.recipient.needs_consent


def restrict_to_consented(evaluation: Evaluation, consented: frozenset[str]) -> Evaluation:
    """The evaluation with every recipient that needs consent and is not in `consented` blocked."""
    decisions = tuple(
        replace(d, blocked_by_consent=True) if needs_consent(d) and d.recipient.id not in consented else d
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


def submitter_for(submitter: Submitter, engine: Engine, consented: frozenset[str], asked: frozenset[str]) -> Submitter:
    """The app's submitter when every recipient asked about consented (or none did: then the response's own
    `consent-given` is false and the engine blocks them all); otherwise the same outbox, pusher and audit
    log with the engine restricted to the consented recipients."""
    if not consented or asked <= consented:
        return submitter
    return Submitter(ConsentScopedEngine(engine, consented), submitter.outbox, submitter.pusher, submitter.audit)
