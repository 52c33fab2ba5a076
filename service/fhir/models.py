"""The only importer of fhir.resources (R4B namespace: wire-compatible with R4 for what we use).

The package's default namespace is R5 and rejects R4 fields such as ServiceRequest.reasonCode, and
its parse/dump method names changed across major versions: callers use these helpers instead.
"""

from __future__ import annotations

from functools import cache

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from service.errors import Issue


@cache
def model_class(resource_type: str):
    """The R4B model class for a resource type; KeyError-safe wrapper raising ValueError."""
    try:
        return get_fhir_model_class(resource_type)
    except KeyError as exc:
        raise ValueError(f"unknown FHIR resource type {resource_type!r}") from exc


def parse_resource(data: dict, resource_type: str | None = None):
    """Validate a FHIR JSON dict as its R4B model; raises ValueError with the issues attached."""
    rtype = resource_type or data.get("resourceType")
    cls = model_class(str(rtype))
    return cls.model_validate(data)


def validation_issues(data: dict, resource_type: str | None = None) -> list[Issue]:
    """Every structural problem of a FHIR JSON dict as Issues with FHIRPath-like locations."""
    rtype = str(resource_type or data.get("resourceType"))
    try:
        model_class(rtype).model_validate(data)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            path = rtype
            for part in err.get("loc", ()):
                if isinstance(part, int):
                    path += f"[{part}]"
                elif part not in ("__root__",):
                    path += f".{part}"
            issues.append(Issue(code="structure", text=f"{err.get('msg', 'ongeldig')}", expression=(path,)))
        return issues
    except ValueError as exc:
        return [Issue(code="structure", text=str(exc), expression=(rtype,))]
    return []


def dump_resource(model) -> dict:
    """A model back to FHIR JSON (no None values, aliases as on the wire)."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
