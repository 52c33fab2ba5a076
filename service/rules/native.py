"""The fast forms of the rule files' FHIRPath, compiled once into Python closures over the answer index.

service/rules/fhirpath.py rewrites the standard patterns that read answers into calls of the answer index
(``_ksAnswerValues('X')``, ``_ksTickedLinkIds('G')``). What the rule files build on those reads is a small
part of FHIRPath: ``%variables``, string, integer and boolean literals, ``|`` of those, ``+ N years`` on a
date, the comparisons, ``=``, ``!=``, ``in``, ``and``, ``or``, and ``.code``, ``.count()``, ``.exists()``,
``.empty()``, ``.not()``. `compile_native` turns a fast form made only of those into closures; anything else
is not compiled (None) and goes through fhirpathpy as before.

A closure gives exactly what fhirpathpy gives or nothing at all: wherever FHIRPath's rules get subtle (values
of unexpected types, collections of more than one where one is expected, partial dates, 29 February, a
%variable that is not a plain value) it raises `Fallback`, and the caller evaluates the expression with
fhirpathpy instead. tests/rules/test_native.py compares the two over every rule-file expression and more.

Each compiled node reads its value three ways, so that the operators need not build collections of one:
`many` (the collection, a list), `one` (the single value, EMPTY for none, Fallback for more) and `truth`
(a boolean operand: True, False or None for empty; Fallback for anything but one boolean).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from service.questionnaires.answers import AnswerIndex
from service.questionnaires.catalog import QuestionnaireDef


class Scope(Protocol):
    """What a closure reads: the environment (%variables), the answer index and the questionnaire in scope."""

    env: dict[str, Any]
    index: AnswerIndex
    qdef: QuestionnaireDef | None


class Fallback(Exception):
    """This response takes the closure outside what it reproduces exactly: evaluate with fhirpathpy."""


class _Unsupported(Exception):
    """The expression uses more than this compiler knows: it is evaluated with fhirpathpy."""


EMPTY: Any = object()  # `one` of an empty collection

Many = Callable[[Scope], list[Any]]
One = Callable[[Scope], Any]
Truth = Callable[[Scope], bool | None]

_SCALARS = frozenset({str, int, bool})
_FULL_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_YEARS = frozenset({"year", "years"})
# The answer values fhirpathpy gives as they are: the item's value[x] -> the Python type the index holds then.
_PLAIN_ANSWERS: dict[str | None, frozenset[type]] = {
    "valueBoolean": frozenset({bool}),
    "valueInteger": frozenset({int}),
    "valueString": frozenset({str}),
    None: frozenset({bool, int}),  # no definition: typed by the value (a string might be taken for a date)
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Closures:
    """A compiled expression: its collection, and its truth (for `holds`)."""

    many: Many
    truth: Truth


@dataclass(frozen=True, slots=True, kw_only=True)
class _Node:
    """A compiled sub-expression. `kind`: plain (str, int and bool values, as fhirpathpy gives them); raw (the
    answer values of `link_id` as the index holds them: only the operators that know their R4 type read them);
    date (one day-precision date); var (%`name`, plain). `const`: the collection, when it is a literal; `table`:
    the AnswerIndex table a read of the index reads `link_id` from ("values", "ticked")."""

    kind: str
    many: Many
    one: One
    truth: Truth
    link_id: str = ""
    name: str = ""
    const: tuple[Any, ...] | None = None
    table: str = ""


# --- the three readers, each from another ------------------------------------------------------------------


def _one_of(values: Sequence[Any]) -> Any:
    if not values:
        return EMPTY
    if len(values) == 1:
        return values[0]
    raise Fallback


def _truth_of(value: Any) -> bool | None:
    if value is EMPTY:
        return None
    if type(value) is bool:
        return value
    raise Fallback


def _from_many(kind: str, many: Many, **extra: Any) -> _Node:
    return _Node(
        kind=kind,
        many=many,
        one=lambda scope: _one_of(many(scope)),
        truth=lambda scope: _truth_of(_one_of(many(scope))),
        **extra,
    )


def _from_one(kind: str, one: One, **extra: Any) -> _Node:
    def many(scope: Scope) -> list[Any]:
        value = one(scope)
        return [] if value is EMPTY else [value]

    return _Node(kind=kind, many=many, one=one, truth=lambda scope: _truth_of(one(scope)), **extra)


def _from_truth(truth: Truth) -> _Node:
    def many(scope: Scope) -> list[Any]:
        value = truth(scope)
        return [] if value is None else [value]

    def one(scope: Scope) -> Any:
        value = truth(scope)
        return EMPTY if value is None else value

    return _Node(kind="plain", many=many, one=one, truth=truth)


_DECLARED: dict[tuple[int, str], tuple[QuestionnaireDef, str | None]] = {}


def _declared(scope: Scope, link_id: str) -> str | None:
    """The value[x] the item's definition declares (None: no questionnaire, or an item it does not have); looked
    up once per questionnaire and item (the entry keeps `qdef` alive, so its id stays its own)."""
    qdef = scope.qdef
    if qdef is None:
        return None
    entry = _DECLARED.get((id(qdef), link_id))
    if entry is None or entry[0] is not qdef:
        if len(_DECLARED) >= 4096:
            _DECLARED.clear()
        item = qdef.items.get(link_id)
        entry = _DECLARED[(id(qdef), link_id)] = (qdef, item.answer_key if item is not None else None)
    return entry[1]


# --- the leaves ------------------------------------------------------------------------------------------


def _variable(name: str) -> _Node:
    def one(scope: Scope) -> Any:
        try:
            value = scope.env[name]
        except KeyError:
            raise Fallback from None  # fhirpathpy raises; let it
        kind = type(value)
        if kind in _SCALARS:
            return value
        if kind is list:
            if not value:
                return EMPTY
            if len(value) == 1 and type(value[0]) in _SCALARS:
                return value[0]
        raise Fallback

    def many(scope: Scope) -> list[Any]:
        value = scope.env.get(name, EMPTY)
        if type(value) in _SCALARS:
            return [value]
        if type(value) is list and all(type(v) in _SCALARS for v in value):
            return list(value)
        raise Fallback

    return _Node(kind="var", many=many, one=one, truth=lambda scope: _truth_of(one(scope)), name=name)


def _literal(value: Any) -> _Node:
    return _Node(
        kind="plain",
        many=lambda scope: [value],
        one=lambda scope: value,
        truth=lambda scope: _truth_of(value),
        const=(value,),
    )


def _answer_values(link_id: str) -> _Node:
    def many(scope: Scope) -> list[Any]:
        return list(scope.index.values.get(link_id, ()))

    return _from_many("raw", many, link_id=link_id, table="values")


def _ticked(group: str) -> _Node:
    def many(scope: Scope) -> list[Any]:
        return list(scope.index.ticked.get(group, ()))

    return _from_many("plain", many, link_id=group, table="ticked")


def _as_plain(node: _Node) -> _Node:
    """A plain operand: raw answer values only when they are booleans, integers or strings of such items."""
    if node.kind in ("plain", "var"):
        return node
    if node.kind != "raw":
        raise _Unsupported
    link_id = node.link_id

    def many(scope: Scope) -> list[Any]:
        values = scope.index.values.get(link_id)
        if not values:
            return []
        types = _PLAIN_ANSWERS.get(_declared(scope, link_id), frozenset())
        for v in values:
            if type(v) not in types:
                raise Fallback
        return list(values)

    def one(scope: Scope) -> Any:
        values = scope.index.values.get(link_id)
        if not values:
            return EMPTY
        if len(values) != 1 or type(values[0]) not in _PLAIN_ANSWERS.get(_declared(scope, link_id), frozenset()):
            raise Fallback
        return values[0]

    return _Node(kind="plain", many=many, one=one, truth=lambda scope: _truth_of(one(scope)))


# --- invocations -------------------------------------------------------------------------------------------


def _code(node: _Node) -> _Node:
    """`.code` of Codings: only where the item is a choice (or unknown, so the value is taken for a Coding)."""
    link_id = node.link_id

    def many(scope: Scope) -> list[Any]:
        values = scope.index.values.get(link_id)
        if not values:
            return []
        if _declared(scope, link_id) not in ("valueCoding", None):
            raise Fallback
        out = []
        for v in values:
            c = v.get("code") if type(v) is dict else None
            if type(c) is not str:
                raise Fallback
            out.append(c)
        return out

    return _from_many("plain", many)


def _aggregate(node: _Node, name: str) -> _Node:
    """count(), exists(), empty(): of the index's lists directly (no copies) where the node reads one."""
    if node.table:
        key, table = node.link_id, node.table

        def size(scope: Scope) -> int:
            return len(getattr(scope.index, table).get(key, ()))
    else:
        many = node.many

        def size(scope: Scope) -> int:
            return len(many(scope))

    if name == "count":
        return _from_one("plain", size)
    if name == "exists":
        return _from_truth(lambda scope: size(scope) > 0)
    return _from_truth(lambda scope: size(scope) == 0)


def _not(node: _Node) -> _Node:
    truth = _as_plain(node).truth

    def negate(scope: Scope) -> bool | None:
        value = truth(scope)
        return None if value is None else not value

    return _from_truth(negate)


# --- operators ---------------------------------------------------------------------------------------------


def _plus_years(node: _Node, years: int) -> _Node:
    """Answer dates + N years: one full date of a date item only (a partial date, 29 February: fall back)."""
    if node.kind != "raw":
        raise _Unsupported
    link_id = node.link_id

    def one(scope: Scope) -> Any:
        values = scope.index.values.get(link_id)
        if not values:
            return EMPTY
        if len(values) != 1 or _declared(scope, link_id) not in ("valueDate", None) or type(values[0]) is not str:
            raise Fallback
        match = _FULL_DATE.match(values[0])
        if match is None or match.group(2, 3) == ("02", "29"):
            raise Fallback
        try:
            return date.fromisoformat(values[0]).replace(year=int(match.group(1)) + years)
        except ValueError:  # not a calendar date, or beyond year 9999
            raise Fallback from None

    return _from_one("date", one)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">": lambda a, b: bool(a > b),
    "<": lambda a, b: bool(a < b),
    ">=": lambda a, b: bool(a >= b),
    "<=": lambda a, b: bool(a <= b),
}


def _day(scope: Scope, name: str) -> date:
    """A %variable holding a FHIRPath date of day precision (%today), as a date."""
    value = scope.env.get(name)
    text = getattr(value, "asStr", None)
    if type(value).__name__ not in ("FP_Date", "FP_DateTime") or type(text) is not str or not _FULL_DATE.match(text):
        raise Fallback
    return date.fromisoformat(text)


def _comparison(op: str, left: _Node, right: _Node) -> _Node:
    compare = _COMPARE[op]
    if left.kind == "date":
        if right.kind != "var":
            raise _Unsupported
        day, name = left.one, right.name

        def dated(scope: Scope) -> bool | None:
            value = day(scope)
            return None if value is EMPTY else compare(value, _day(scope, name))

        return _from_truth(dated)
    lhs, rhs = _as_plain(left).one, _as_plain(right).one

    def compared(scope: Scope) -> bool | None:
        x = lhs(scope)
        if x is EMPTY:
            return None
        y = rhs(scope)
        if y is EMPTY:
            return None
        if type(x) is not type(y) or type(x) is bool:
            raise Fallback
        return compare(x, y)

    return _from_truth(compared)


def _equality(op: str, left: _Node, right: _Node) -> _Node:
    left, right, equal = _as_plain(left), _as_plain(right), op == "="
    lhs = left.one
    if right.const is not None and len(right.const) == 1:  # the common `%x = 'literal'`
        expected = right.const[0]
        kind = type(expected)

        def against(scope: Scope) -> bool | None:
            x = lhs(scope)
            if x is EMPTY:
                return None
            if type(x) is not kind:
                raise Fallback
            return (x == expected) is equal

        return _from_truth(against)
    rhs = right.one

    def equals(scope: Scope) -> bool | None:
        x = lhs(scope)
        if x is EMPTY:
            return None
        y = rhs(scope)
        if y is EMPTY:
            return None
        if type(x) is not type(y):
            raise Fallback
        return (x == y) is equal

    return _from_truth(equals)


def _membership(left: _Node, right: _Node) -> _Node:
    lhs, right = _as_plain(left).one, _as_plain(right)
    if right.const is not None:  # `%x in ('a' | 'b')`
        members, kinds = right.const, {type(v) for v in right.const}

        def among(scope: Scope) -> bool | None:
            x = lhs(scope)
            if x is EMPTY:
                return None
            if kinds and kinds != {type(x)}:
                raise Fallback
            return x in members

        return _from_truth(among)
    rhs = right.many

    def member(scope: Scope) -> bool | None:
        x = lhs(scope)
        if x is EMPTY:
            return None
        values = rhs(scope)
        for y in values:
            if type(y) is not type(x):
                raise Fallback
        return x in values

    return _from_truth(member)


def _union(left: _Node, right: _Node) -> _Node:
    lhs, rhs = _as_plain(left).many, _as_plain(right).many

    def union(scope: Scope) -> list[Any]:
        out: list[Any] = []
        for x in lhs(scope) + rhs(scope):
            if out and type(x) is not type(out[0]):
                raise Fallback
            if x not in out:
                out.append(x)
        return out

    if left.const is not None and right.const is not None:
        try:
            const = tuple(union(_NO_SCOPE))
        except Fallback:
            return _from_many("plain", union)
        return _Node(
            kind="plain",
            many=lambda scope: list(const),
            one=lambda scope: _one_of(const),
            truth=lambda scope: _truth_of(_one_of(const)),
            const=const,
        )
    return _from_many("plain", union)


def _logic(op: str, left: _Node, right: _Node) -> _Node:
    lhs, rhs = _as_plain(left).truth, _as_plain(right).truth

    def conjunction(scope: Scope) -> bool | None:
        a, b = lhs(scope), rhs(scope)  # both sides, as fhirpathpy does
        if a is False or b is False:
            return False
        return True if a and b else None

    def disjunction(scope: Scope) -> bool | None:
        a, b = lhs(scope), rhs(scope)
        if a or b:
            return True
        return False if a is False and b is False else None

    return _from_truth(conjunction if op == "and" else disjunction)


class _NoScope:
    """For folding literals: a scope nothing is read from."""

    def __init__(self) -> None:
        self.env: dict[str, Any] = {}
        self.index = AnswerIndex()
        self.qdef: QuestionnaireDef | None = None


_NO_SCOPE: Scope = _NoScope()


# --- the parser --------------------------------------------------------------------------------------------


_STRING_TOKEN = 59  # FHIRPathLexer.STRING
_NUMBER_TOKEN = 60  # FHIRPathLexer.NUMBER
_IDENTIFIER_TOKEN = 57  # FHIRPathLexer.IDENTIFIER
_INVOCATIONS = frozenset({"count", "exists", "empty", "not"})
_NAVIGATING = frozenset({"resource", "context", "ucum"})  # %variables fhirpathpy navigates (or a URL)
# FHIRPath's binary operators this compiler knows, lowest precedence first (all left-associative).
_LEVELS: tuple[frozenset[str], ...] = tuple(
    frozenset(ops) for ops in (("or",), ("and",), ("in",), ("=", "!="), (">", "<", ">=", "<="), ("|",))
)


class _Parser:
    """Recursive descent over the fast form's tokens, in FHIRPath's precedence (or < and < in < = < > < | < +)."""

    def __init__(self, tokens: tuple[tuple[str, int], ...], values_fn: str, ticked_fn: str):
        self.tokens, self.at = tokens, 0
        self.values_fn, self.ticked_fn = values_fn, ticked_fn

    def peek(self) -> str | None:
        return self.tokens[self.at][0] if self.at < len(self.tokens) else None

    def take(self, text: str | None = None) -> tuple[str, int]:
        if self.at >= len(self.tokens) or (text is not None and self.tokens[self.at][0] != text):
            raise _Unsupported
        self.at += 1
        return self.tokens[self.at - 1]

    def expression(self) -> _Node:
        node = self.binary(0)
        if self.at != len(self.tokens):
            raise _Unsupported
        return node

    def binary(self, level: int) -> _Node:
        if level == len(_LEVELS):
            return self.additive()
        node = self.binary(level + 1)
        while self.peek() in _LEVELS[level]:
            op = self.take()[0]
            node = _combine(op, node, self.binary(level + 1))
        return node

    def additive(self) -> _Node:
        node = self.postfix()
        while self.peek() == "+":
            self.take()
            number, kind = self.take()
            unit = self.take()[0]
            if kind != _NUMBER_TOKEN or not number.isdigit() or unit not in _YEARS:
                raise _Unsupported
            node = _plus_years(node, int(number))
        return node

    def postfix(self) -> _Node:
        node = self.term()
        while self.peek() == ".":
            self.take()
            name = self.take()[0]
            if name in _INVOCATIONS:
                self.take("(")
                self.take(")")
                node = _not(node) if name == "not" else _aggregate(node, name)
            elif name == "code" and node.kind == "raw" and self.peek() != "(":
                node = _code(node)
            else:
                raise _Unsupported
        return node

    def term(self) -> _Node:
        text, kind = self.take()
        if text == "(":
            node = self.binary(0)
            self.take(")")
            return node
        if text == "%":
            name, kind = self.take()
            if kind != _IDENTIFIER_TOKEN or name in _NAVIGATING:
                raise _Unsupported
            return _variable(name)
        if text in ("true", "false"):
            return _literal(text == "true")
        if kind == _STRING_TOKEN and "\\" not in text:
            return _literal(text[1:-1])
        if kind == _NUMBER_TOKEN and text.isdigit():
            if self.peek() is not None and self.tokens[self.at][1] == _IDENTIFIER_TOKEN:
                raise _Unsupported  # a quantity outside `+ N years`
            return _literal(int(text))
        if text in (self.values_fn, self.ticked_fn):
            self.take("(")
            arg, kind = self.take()
            self.take(")")
            if kind != _STRING_TOKEN or "\\" in arg:
                raise _Unsupported
            return _answer_values(arg[1:-1]) if text == self.values_fn else _ticked(arg[1:-1])
        raise _Unsupported


def _combine(op: str, left: _Node, right: _Node) -> _Node:
    if op in ("and", "or"):
        return _logic(op, left, right)
    if op == "in":
        return _membership(left, right)
    if op in ("=", "!="):
        return _equality(op, left, right)
    if op == "|":
        return _union(left, right)
    return _comparison(op, left, right)


def compile_native(tokens: tuple[tuple[str, int], ...], values_fn: str, ticked_fn: str) -> Closures | None:
    """The closures for a fast form given as (text, token type) pairs; None when it is outside the subset."""
    try:
        node = _as_plain(_Parser(tokens, values_fn, ticked_fn).expression())
    except _Unsupported:
        return None
    return Closures(many=node.many, truth=node.truth)
