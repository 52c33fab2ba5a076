"""Invented demo history for `make run` (issue 14 point 6): a year of events for the demo practices, so the mirror
figures have something to show. Every event is marked `invented` (a column of its own), and so is every Report
built on any of them (Report.invented): the pages say so. Seeded, so every start shows the same; written once
(idempotent: nothing is added when the practices already have invented events).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

from service.demo import INVENTED_PRACTICES
from service.mirror.events import EventStore, MirrorEvent, RecipientEvent, quarter_of

# the demo practice and the invented ones the sandbox EHR names (service/registry.py sandbox_ehr)
DEMO_PRACTICES = ("demo-practice", *(pid for pid, *_ in INVENTED_PRACTICES))
PHASES = (("pregnant", 0.55), ("postpartum", 0.3), ("preconception", 0.15))
LEVELS = (("none", 0.45), ("attention", 0.2), ("vulnerable", 0.25), ("urgent", 0.1))
OUTCOMES = ("support-started", "referred-voorzorg", "referred-stevig-ouderschap", "family-declined", "not-reachable")


def last_quarters(now: float | None = None, count: int = 4) -> list[str]:
    """The `count` quarters up to and including the current one, oldest first."""
    label = quarter_of(time.time() if now is None else now)
    year, q = int(label[:4]), int(label[5])
    out = []
    for _ in range(count):
        out.append(f"{year}Q{q}")
        year, q = (year, q - 1) if q > 1 else (year - 1, 4)
    return out[::-1]


def _pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    return rng.choices([w for w, _ in weighted], [p for _, p in weighted])[0]


def invented_events(
    region: str,
    recipients: Sequence[tuple[str, bool]],
    signals: Sequence[str],
    *,
    practices: Sequence[str] = DEMO_PRACTICES,
    quarters: Sequence[str],
    seed: int = 2026,
) -> list[MirrorEvent]:
    """Events for each practice and quarter (`recipients`: (id, external)), with a plausible spread: most
    questionnaires without a referral, about one in ten with an override, the Meldcode panel now and then."""
    rng = random.Random(seed)
    out = []
    for practice in practices:
        size = rng.randint(12, 40)
        for quarter in quarters:
            for _ in range(max(0, size + rng.randint(-6, 6))):
                level = _pick(rng, LEVELS)
                ticked = (
                    tuple(rng.sample(list(signals), k=min(len(signals), rng.randint(0, 3)))) if level != "none" else ()
                )
                out.append(
                    MirrorEvent(
                        practice=practice,
                        region=region,
                        quarter=quarter,
                        phase=_pick(rng, PHASES),
                        level=level,
                        signals=ticked,
                        recipients=_recipients(rng, level, recipients),
                        overridden=rng.random() < 0.08,
                        meldcode="domestic-violence" in ticked,
                        invented=True,
                    )
                )
    return out


def _recipients(rng: random.Random, level: str, recipients: Sequence[tuple[str, bool]]) -> tuple[RecipientEvent, ...]:
    if level not in ("vulnerable", "urgent") or not recipients:
        return ()
    out = []
    for rid, external in rng.sample(list(recipients), k=rng.randint(1, min(2, len(recipients)))):
        consent = ("given" if rng.random() < 0.8 else "declined") if external else "not-asked"
        sent = consent != "declined"
        response = outcome = days = None
        if sent and external and rng.random() < 0.75:
            response = "accepted" if rng.random() < 0.85 else "declined"
            days = rng.randint(1, 15)
            outcome = rng.choice(OUTCOMES) if response == "accepted" and rng.random() < 0.6 else None
        out.append(
            RecipientEvent(
                recipient=rid,
                external=external,
                consent=consent,
                sent=sent,
                response=response,
                outcome=outcome,
                feedback_days=days,
            )
        )
    return tuple(out)


def fill_demo_history(
    store: EventStore,
    region: str,
    recipients: Sequence[tuple[str, bool]],
    signals: Sequence[str],
    *,
    practices: Sequence[str] = DEMO_PRACTICES,
    now: float | None = None,
) -> int:
    """A year of invented events for the demo practices, once: the number added (0 when they are there)."""
    if store.has_invented(practices):
        return 0
    events = invented_events(region, recipients, signals, practices=practices, quarters=last_quarters(now))
    return len(store.add(events))
