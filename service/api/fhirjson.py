"""Reading FHIR JSON request bodies safely: content type, size, syntax, nesting depth, resourceType."""

from __future__ import annotations

import json

from service.errors import InputInvalid, UnsupportedMediaType

JSON_TYPES = ("application/fhir+json", "application/json")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _too_deep(node, budget: int) -> bool:
    # Recursion is bounded by `budget` (64 by default), far below Python's limit.
    if budget < 0:
        return True
    children = node.values() if isinstance(node, dict) else node
    return any(isinstance(child, (dict, list)) and _too_deep(child, budget - 1) for child in children)


def check_depth(value, limit: int) -> None:
    """Refuse documents nested deeper than `limit` levels."""
    if _too_deep(value, limit - 1):
        raise InputInvalid(
            f"Het document is te diep genest (meer dan {limit} niveaus).",
            english=f"The document is nested deeper than {limit} levels.",
        )


def parse_fhir_json(body: bytes, content_type: str | None, *, max_depth: int) -> dict:
    """The body as a JSON object, or an InputInvalid/UnsupportedMediaType with a clear OperationOutcome."""
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"Stuur FHIR JSON (Content-Type application/fhir+json), niet {mime or 'zonder Content-Type'}.",
            english=f"Send FHIR JSON (Content-Type: application/fhir+json), not {mime or 'no content type'}.",
        )
    try:
        text = body.decode("utf-8")
        data = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise InputInvalid("De inhoud is geen UTF-8.", english="The body is not UTF-8.") from None
    except RecursionError:
        raise InputInvalid("Het document is te diep genest.", english="The document is nested too deeply.") from None
    except ValueError as exc:
        raise InputInvalid(f"Ongeldige JSON: {exc}", english=f"Malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InputInvalid(
            "Verwacht een FHIR-resource (een JSON-object).", english="Expected a FHIR resource (a JSON object)."
        )
    check_depth(data, max_depth)
    if not isinstance(data.get("resourceType"), str):
        raise InputInvalid("resourceType ontbreekt.", english="resourceType is missing.")
    return data


def unwrap_parameter(data: dict, names: tuple[str, ...], expected: str) -> dict:
    """An operation's input resource: the body itself, or the named parameter of a Parameters body."""
    if data.get("resourceType") == "Parameters":
        for param in data.get("parameter") or ():
            if isinstance(param, dict) and param.get("name") in names and isinstance(param.get("resource"), dict):
                data = param["resource"]
                break
        else:
            raise InputInvalid(
                f"Parameters zonder parameter {names[0]!r}.",
                english=f"Parameters without a {names[0]!r} parameter holding a resource.",
            )
    if data.get("resourceType") != expected:
        raise InputInvalid(
            f"Verwacht {expected}, kreeg {data.get('resourceType')!r}.",
            english=f"Expected {expected}, got {data.get('resourceType')!r}.",
        )
    return data
