"""The product-wide linkIds (DOMAIN.md A1): the one place the code names an item of the signalling Questionnaire.

Thresholds and routes are regional (mappings/); these items are not. Every name here must be an item of each
Questionnaire the rule sets use: `missing_link_ids` says which are not, and the catalog test checks it.
"""

from __future__ import annotations

from collections.abc import Container

# Groups
CONTEXT, URGENT_SIGNALS, OTHER_SIGNALS, SAFETY, ASSESSMENT, CONSENT = (
    "context",
    "urgent-signals",
    "other-signals",
    "safety",
    "assessment",
    "consent",
)
SIGNAL_GROUPS = (URGENT_SIGNALS, OTHER_SIGNALS)
# Items
PHASE, DUE_DATE, CHILD_BIRTH_DATE, PREGNANCY_INTENTION = "phase", "due-date", "child-birth-date", "pregnancy-intention"
TEENAGE = "teenage-pregnancy"
CHILDREN = "children-in-household"
LEVEL_OVERRIDE, OVERRIDE_REASON = "level-override", "override-reason"
CONSENT_GIVEN, CONSENT_METHOD = "consent-given", "consent-method"
NOTE = "note"

ALL = (
    CONTEXT,
    URGENT_SIGNALS,
    OTHER_SIGNALS,
    SAFETY,
    ASSESSMENT,
    CONSENT,
    PHASE,
    DUE_DATE,
    CHILD_BIRTH_DATE,
    PREGNANCY_INTENTION,
    TEENAGE,
    CHILDREN,
    LEVEL_OVERRIDE,
    OVERRIDE_REASON,
    CONSENT_GIVEN,
    CONSENT_METHOD,
    NOTE,
)


def missing_link_ids(items: Container[str]) -> list[str]:
    """The product-wide linkIds that `items` (a Questionnaire's items by linkId) lacks."""
    return [link_id for link_id in ALL if link_id not in items]
