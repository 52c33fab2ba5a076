"""Who did something, in words for a page: the user's name as the launch read it from the EHR, else their role.

The launch knows the user as `fhirUser` (a reference such as "PractitionerRole/demo-gp": SMART App Launch,
"Scopes for requesting identity data") with the role and, when the EHR gave one, the name read from it
(service/smart/views.py ehr_user). A page never shows the reference.
"""

from __future__ import annotations

from service.texts import Text, texts

# service/smart/session.py ROLES -> the role with its article ("de huisarts"), for when no name is known
ROLE_WITH_ARTICLE = {
    "huisarts": "user.the_gp",
    "poh-jeugd": "user.the_poh",
    "doktersassistent": "user.the_assistant",
    "onbekend": "user.a_colleague",
}


def display_name(ctx) -> str | None:
    """The launch's user's name (e.g. "Fatima Willems"), or None when the EHR gave none."""
    name = getattr(ctx, "user_name", None)
    return name.strip() if isinstance(name, str) and name.strip() else None


def named(name: str | None, role: str | None) -> Text:
    """Who did something, for a sentence: the name when known, else the role ("de doktersassistent")."""
    if name:
        return Text(name, name)
    return texts(ROLE_WITH_ARTICLE.get(role or "", ROLE_WITH_ARTICLE["onbekend"]))
