"""Reading FHIR JSON request bodies safely: content type, size, syntax, nesting depth, resourceType.

What JSON allows and FHIR JSON (https://hl7.org/fhir/R4/json.html) does not is refused as 400 here, before the
engine sees it: a key twice in one object, a number this service cannot represent as a decimal (1e999, -1e999,
an integer beyond the float range, 1e-999: a non-zero value that would become 0), and a string that is not
FHIR text: a lone surrogate (`\\ud800` is no Unicode character: FHIR strings are sequences of Unicode
characters, and it cannot be written as UTF-8) or a control character other than tab, line feed and carriage
return (R4 datatypes: strings SHOULD not contain them; XML cannot carry them, so a recipient's server might
refuse the referral). `Parameters.parameter` (and a parameter's `part`) must be an array of objects.
"""

from __future__ import annotations

import json
import math
import re
import sys

from service.errors import InputInvalid, Issue, UnsupportedMediaType
from service.texts import Text, texts

JSON_TYPES = ("application/fhir+json", "application/json")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


JSON_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
# A raw control character or surrogate cannot reach a parsed string (strict JSON and UTF-8 refuse them): only an
# escape can. Only a body with such an escape is walked, string by string.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:00[01]|d[89a-f])", re.IGNORECASE)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NONZERO_DIGIT = re.compile("[1-9]")


def json_type(value) -> str:
    """The JSON name of a parsed value's type (object, array, string, number, boolean, null)."""
    return "null" if value is None else JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _refuse(text: Text, location: str | None = None) -> InputInvalid:
    issue = Issue.of(text, code="structure", expression=(location,) if location else ())
    return InputInvalid(text, issues=[issue])


def _object(pairs: list[tuple[str, object]]) -> dict:
    """json's object_pairs_hook: an object, refusing a key that occurs twice (JSON leaves it open, FHIR forbids it)."""
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _refuse(texts("api.json.duplicate_key", key=key[:80]))
            seen.add(key)
    return obj


def _decimal(literal: str) -> float:
    """json's parse_float: a finite decimal, or a 400 for one this service cannot represent (1e999, 1e-999)."""
    value = float(literal)
    if math.isinf(value) or (value == 0.0 and _NONZERO_DIGIT.search(literal.lower().split("e")[0])):
        raise _refuse(texts("api.json.number", number=literal[:40]))
    return value


def _integer(literal: str) -> int:
    """json's parse_int: an integer within the range of a decimal (a float), or a 400. (JSON has no leading
    zeros: more than 309 digits is always beyond it.)"""
    digits = len(literal.lstrip("-"))
    if digits > 308 and (digits > 309 or abs(int(literal)) > sys.float_info.max):
        raise _refuse(texts("api.json.number", number=f"{literal[:20]}… ({digits} digits)"))
    return int(literal)


def _check_strings(data: dict) -> None:
    """Refuse a string or key holding a lone surrogate or a control character other than tab, LF and CR."""
    root = data.get("resourceType")
    stack: list[tuple[object, str]] = [(data, root if isinstance(root, str) and root.isidentifier() else "Resource")]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            for key in node:
                _check_string(key, where)
            stack.extend((value, f"{where}.{key}") for key, value in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((value, f"{where}[{i}]") for i, value in reversed(list(enumerate(node))))
        elif isinstance(node, str):
            _check_string(node, where)


def _check_string(value: str, where: str) -> None:
    if found := _SURROGATE.search(value):
        raise _refuse(texts("api.json.surrogate", location=where, code=f"{ord(found.group()):04X}"), where)
    if found := _CONTROL.search(value):
        raise _refuse(texts("api.json.control", location=where, code=f"{ord(found.group()):04X}"), where)


def objects(owner: dict, key: str, where: str) -> list[dict]:
    """`owner[key]` as a list of JSON objects (Parameters.parameter, a parameter's part): absent is empty;
    anything else than an array of objects is a 400 naming where."""
    value = owner.get(key, [])
    if not isinstance(value, list):
        raise _refuse(texts("api.json.not_array", location=f"{where}.{key}", got=json_type(value)), f"{where}.{key}")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            location = f"{where}.{key}[{i}]"
            raise _refuse(texts("api.json.not_an_object", location=location, got=json_type(item)), location)
    return value


def _too_deep(node, budget: int) -> bool:
    # Recursion is bounded by `budget` (64 by default), far below Python's limit.
    if budget < 0:
        return True
    children = node.values() if isinstance(node, dict) else node
    return any(isinstance(child, (dict, list)) and _too_deep(child, budget - 1) for child in children)


def check_depth(value, limit: int) -> None:
    """Refuse documents nested deeper than `limit` levels."""
    if _too_deep(value, limit - 1):
        raise InputInvalid(texts("api.json.too_deep_limit", limit=limit))


def parse_fhir_json(body: bytes, content_type: str | None, *, max_depth: int) -> dict:
    """The body as a JSON object, or an InputInvalid/UnsupportedMediaType with a clear OperationOutcome."""
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime not in JSON_TYPES:
        raise UnsupportedMediaType(texts("api.json.media_type", mime=mime) if mime else texts("api.json.no_media_type"))
    try:
        text = body.decode("utf-8")
        data = json.loads(
            text, parse_constant=_reject_constant, parse_float=_decimal, parse_int=_integer, object_pairs_hook=_object
        )
    except UnicodeDecodeError:
        raise InputInvalid(texts("api.json.not_utf8")) from None
    except RecursionError:
        raise InputInvalid(texts("api.json.too_deep")) from None
    except ValueError as exc:
        raise InputInvalid(texts("api.json.malformed", error=exc)) from None
    if not isinstance(data, dict):
        raise InputInvalid(texts("api.json.not_object"))
    check_depth(data, max_depth)
    if _SUSPECT_ESCAPE.search(text):
        _check_strings(data)
    if not isinstance(data.get("resourceType"), str):
        raise InputInvalid(texts("api.json.no_resource_type"))
    if data["resourceType"] == "Parameters":
        _check_parameters(data, "Parameters", "parameter")
    return data


def _check_parameters(owner: dict, where: str, key: str) -> None:
    """Parameters.parameter, and every parameter's part, arrays of objects (nesting is bounded by check_depth)."""
    for i, param in enumerate(objects(owner, key, where)):
        if "part" in param:
            _check_parameters(param, f"{where}.{key}[{i}]", "part")


def unwrap_parameter(data: dict, names: tuple[str, ...], expected: str) -> dict:
    """An operation's input resource: the body itself, or the named parameter of a Parameters body."""
    if data.get("resourceType") == "Parameters":
        for param in objects(data, "parameter", "Parameters"):
            if param.get("name") in names and isinstance(param.get("resource"), dict):
                data = param["resource"]
                break
        else:
            raise InputInvalid(texts("api.json.no_parameter", name=names[0]))
    if data.get("resourceType") != expected:
        raise InputInvalid(texts("api.json.wrong_type", expected=expected, got=data.get("resourceType")))
    return data
