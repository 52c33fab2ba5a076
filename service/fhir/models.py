"""The only importer of fhir.resources (R4B namespace: wire-compatible with R4 for what we use).

The package's default namespace is R5 and rejects R4 fields such as ServiceRequest.reasonCode, and
its parse/dump method names changed across major versions: callers use these helpers instead.
"""

from __future__ import annotations

from functools import cache

from service.errors import Issue
from service.texts import texts

# fhir.resources and pydantic are imported on the first structural check (~90 ms, and ~40 ms more to build the
# first model classes), not with this module.


@cache
def model_class(resource_type: str):
    """The R4B model class for a resource type; KeyError-safe wrapper raising ValueError."""
    from fhir.resources.R4B import get_fhir_model_class

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
    from pydantic import ValidationError

    rtype = str(resource_type or data.get("resourceType"))
    if unknown := _unknown_contained(data, rtype):
        return unknown  # the models raise TypeError/KeyError on these rather than a ValidationError
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


def _unknown_contained(data: dict, rtype: str) -> list[Issue]:
    """Contained resources whose resourceType is not an R4 resource type's name."""
    issues = []
    contained = data.get("contained")
    for i, resource in enumerate(contained if isinstance(contained, list) else ()):
        name = resource.get("resourceType") if isinstance(resource, dict) else None
        try:
            known = isinstance(name, str) and model_class(name) is not None
        except ValueError:
            known = False
        if not known:
            issues.append(
                Issue.of(texts("fhir.unknown_resource_type"), code="structure", expression=(f"{rtype}.contained[{i}]",))
            )
    return issues


def dump_resource(model) -> dict:
    """A model back to FHIR JSON (no None values, aliases as on the wire)."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
