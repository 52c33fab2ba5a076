"""FHIRPath over QuestionnaireResponses: standard expressions, compiled once, with a fast path for answers.

Rule files are written in standard FHIRPath R4 over the response (`%resource`, also the root), evaluated
with fhirpathpy and the R4 model (without it choice types such as answer.value resolve to nothing). Walking
the item tree in pure-Python FHIRPath costs 2–3 ms per expression, so the engine recognises the two ways rule
files read answers and takes them from the per-response answer index (built in one pass) instead:

- ``%resource.repeat(item).where(linkId = 'X').answer.value``: the answer values of item X, typed as the R4
  model types them (a Coding, a date, a boolean …);
- ``%resource.repeat(item).where(linkId = 'G').item.where(answer.value = true).linkId``: the linkIds of the
  items directly under group G answered ``true``; with ``.count()``, ``.exists()`` or ``.empty()`` in place
  of ``.linkId`` too.

Spacing and comments do not matter; any other form is evaluated as written (correct, only slower). On a response
that passed validation (items in their place and at most once, one value[x] per answer, no items nested
under answers) a recognised pattern gives exactly what plain FHIRPath gives: tests/rules/test_standard_fhirpath.py
checks every expression of every rule file over every golden response both ways, and
tests/rules/test_reference_engine.py runs them through fhirpath.js. (Where an answer's primitive carries an
extension, `_valueBoolean`, fhirpathpy 2.2 sees two values; fhirpath.js and the fast path see one.)

The fast forms the rule files are made of (%variables, literals, comparisons, `and`/`or`, `in`, `.code`,
`.count()`, `+ N years` …) are also compiled, once per expression, into Python closures over the answer index
(service/rules/native.py), so they do not go through fhirpathpy at all; where a closure cannot be sure to give
what fhirpathpy gives (an unexpected type, a partial date …) it declines and fhirpathpy evaluates the fast form.
Expressions without closures that read only %variables and the index take few distinct inputs across
responses, so their results are memoised on exactly those inputs.

Deprecated (rule-set version 2026.1, kept for one rule-set version): ``answers('X')`` and
``ticked('G')``, the same two reads as functions no other FHIRPath engine has (values untyped, as before).
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import fhirpathpy
from antlr4 import CommonTokenStream, InputStream, Token
from antlr4.error.ErrorListener import ErrorListener
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from service.questionnaires.answers import AnswerIndex
from service.questionnaires.catalog import QuestionnaireDef
from service.rules.native import Closures, Fallback, compile_native

_CURRENT: contextvars.ContextVar[Evaluator] = contextvars.ContextVar("ks_evaluator")

# The recognised patterns are rewritten into calls of these (reserved: a rule file may not call them).
VALUES_FN = "_ksAnswerValues"
TICKED_FN = "_ksTickedLinkIds"
DEPRECATED = ("answers", "ticked")
FUNCTIONS = {
    VALUES_FN: {"fn": lambda inputs, link_id: _CURRENT.get().answer_values(link_id), "arity": {1: ["String"]}},
    TICKED_FN: {"fn": lambda inputs, group: _CURRENT.get().ticked_link_ids(group), "arity": {1: ["String"]}},
    # Deprecated aliases: the index's raw values, as rule-set version 2026.1 had them.
    "answers": {
        "fn": lambda inputs, link_id: list(_CURRENT.get().index.values.get(link_id, ())),
        "arity": {1: ["String"]},
    },
    "ticked": {"fn": lambda inputs, group: list(_CURRENT.get().index.ticked.get(group, ())), "arity": {1: ["String"]}},
}
_OPTIONS = {"userInvocationTable": FUNCTIONS}
_R4 = models["r4"]
BUILTIN_VARIABLES = frozenset({"today", "resource", "context", "ucum", "level", "computedLevel"})
VARIABLE_RE = re.compile(r"%([A-Za-z][A-Za-z0-9]*)")
INDEX_CALL_RE = re.compile(rf"\b({VALUES_FN}|{TICKED_FN}|answers|ticked)\(\s*'([^'\\]*)'\s*\)")
LINK_ID_RE = re.compile(r"\blinkId\s*=\s*'([^'\\]*)'")

Compiled = Callable[[Any, dict[str, Any]], list[Any]]


class _RaisingListener(ErrorListener):
    def syntaxError(
        self, recognizer: object, offendingSymbol: object, line: int, column: int, msg: str, e: object
    ) -> None:
        raise ValueError(f"not a valid FHIRPath expression: column {column + 1}: {msg}")


def check_syntax(expression: str) -> None:
    """fhirpathpy's parser recovers silently from syntax errors ("a >= (" compiles); this one refuses."""
    listener = _RaisingListener()
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(listener)
    tokens = CommonTokenStream(lexer)
    parser = FHIRPathParser(tokens)
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    parser.expression()
    if tokens.LA(1) != Token.EOF:
        raise ValueError(
            f"not a valid FHIRPath expression: unexpected {tokens.LT(1).text!r} at column {tokens.LT(1).column + 1}"
        )


@lru_cache(maxsize=4096)
def compile_expression(expression: str) -> Compiled:
    """Check and parse once (a parse costs ~1 ms); ValueError with the parser's message on bad syntax."""
    check_syntax(expression)
    return _compile(expression)


def _compile(expression: str) -> Compiled:
    try:
        return fhirpathpy.compile(expression, _R4, _OPTIONS)
    except Exception as exc:  # fhirpathpy raises assorted parser exceptions
        raise ValueError(f"not a valid FHIRPath expression: {exc}") from exc


@lru_cache(maxsize=64)
def fhirpath_date(day: date) -> Any:
    """A FHIRPath Date for %today (built through the engine so comparisons use its own type)."""
    return compile_expression(f"'{day.isoformat()}'.toDate()")({}, {})[0]


# --- recognising the standard patterns -------------------------------------------------------------

_STRING = object()  # stands for a string literal (the linkId) in a pattern
_PREFIX = ("%", "resource", ".", "repeat", "(", "item", ")", ".", "where", "(", "linkId", "=", _STRING, ")", ".")
_VALUES = ("answer", ".", "value")
_TICKED = ("item", ".", "where", "(", "answer", ".", "value", "=", "true", ")", ".")
_AGGREGATES = ("count", "exists", "empty")  # depend only on how many items there are


@lru_cache(maxsize=4096)
def _tokens(expression: str) -> tuple[Any, ...]:
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    stream = CommonTokenStream(lexer)
    stream.fill()
    return tuple(t for t in stream.tokens if t.channel == Token.DEFAULT_CHANNEL and t.type != Token.EOF)


def _match(tokens: tuple[Any, ...], at: int, pattern: tuple[Any, ...]) -> str | None:
    """None unless `pattern` starts at tokens[at]; else the text of its string literal ('' if it has none)."""
    found = ""
    if at + len(pattern) > len(tokens):
        return None
    for token, want in zip(tokens[at : at + len(pattern)], pattern, strict=False):
        if want is _STRING:
            if token.type != FHIRPathLexer.STRING or "\\" in token.text:
                return None
            found = token.text[1:-1]
        elif token.text != want:
            return None
    return found


def _is_call(tokens: tuple[Any, ...], at: int) -> bool:
    return at < len(tokens) and tokens[at].text == "("


def _replacement(tokens: tuple[Any, ...], i: int) -> tuple[str, int] | None:
    """(the index call, the token after the pattern) when a recognised pattern starts at tokens[i]."""
    link_id = _match(tokens, i, _PREFIX)
    if link_id is None or (i > 0 and tokens[i - 1].text == "."):  # `x.%resource` is invalid, `x._ks…()` is not
        return None
    after = i + len(_PREFIX)
    if _match(tokens, after, _VALUES) is not None and not _is_call(tokens, after + len(_VALUES)):
        return f"{VALUES_FN}('{link_id}')", after + len(_VALUES)
    last = after + len(_TICKED)
    if _match(tokens, after, _TICKED) is None or last >= len(tokens):
        return None
    if tokens[last].text == "linkId" and not _is_call(tokens, last + 1):
        return f"{TICKED_FN}('{link_id}')", last + 1
    if tokens[last].text in _AGGREGATES and _match(tokens, last + 1, ("(", ")")) is not None:
        return (
            f"{TICKED_FN}('{link_id}').",
            last,
        )  # the aggregate itself stays (without criteria: exists(…) reads items)
    return None


@lru_cache(maxsize=4096)
def fast_form(expression: str) -> str:
    """The expression with every recognised pattern replaced by a call that reads the answer index.

    Token by token, so spacing, comments and string literals that merely contain the pattern are no
    problem. An expression without the patterns comes back unchanged. ValueError on a reserved name.
    """
    tokens = _tokens(expression)
    if any(t.text in (VALUES_FN, TICKED_FN) for t in tokens):
        raise ValueError(f"{VALUES_FN} and {TICKED_FN} are reserved names")
    out: list[str] = []
    pos = 0  # characters of `expression` copied so far
    i = 0
    while i < len(tokens):
        found = _replacement(tokens, i)
        if found is None:
            i += 1
            continue
        call, end = found
        out += [expression[pos : tokens[i].start], call]
        pos = tokens[end - 1].stop + 1
        i = end
    out.append(expression[pos:])
    return "".join(out)


def variables_used(expression: str) -> set[str]:
    return set(VARIABLE_RE.findall(expression))


def link_ids_used(expression: str) -> set[str]:
    """The linkIds an expression names: in the recognised patterns, the deprecated functions, `linkId = '…'`."""
    try:
        fast = fast_form(expression)
    except ValueError:  # a reserved name: reported by the loader as such
        fast = expression
    return {arg for _, arg in INDEX_CALL_RE.findall(fast)} | set(LINK_ID_RE.findall(expression))


def deprecated_used(expression: str) -> set[str]:
    """The deprecated functions (answers, ticked) an expression calls."""
    tokens = _tokens(expression)
    return {t.text for i, t in enumerate(tokens) if t.text in DEPRECATED and _is_call(tokens, i + 1)}


STRING_RE = re.compile(r"'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`")
PATH_START_RE = re.compile(r"(?<![.%$\w])([A-Za-z_]\w*)")
OPERATOR_WORDS = frozenset(
    {"and", "or", "xor", "implies", "in", "contains", "is", "as", "div", "mod", "true", "false"}
    | {
        f"{unit}{s}"
        for unit in ("year", "month", "week", "day", "hour", "minute", "second", "millisecond")
        for s in ("", "s")
    }
)
_INDEX_FUNCTIONS = frozenset({VALUES_FN, TICKED_FN, "answers", "ticked"})
_MEMO_LIMIT = 4096


MemoInputs = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]


@lru_cache(maxsize=4096)
def memo_inputs(expression: str) -> MemoInputs | None:
    """What an expression's fast form reads, when that is only %variables and the answer index; else None.

    Conservative and syntactic: after dropping string literals, every identifier that starts a path
    (not after '.', '%' or '$') must be an operator word or a call of an index function with a literal
    argument. `item…`, `%resource`, `%context` and other root navigation make it read the whole
    response, and such an expression is never memoised.
    """
    fast = fast_form(expression)
    bare = STRING_RE.sub("''", fast)
    if "%resource" in bare or "%context" in bare:
        return None
    calls = INDEX_CALL_RE.findall(fast)
    for word in PATH_START_RE.findall(bare):
        if word not in OPERATOR_WORDS and word not in _INDEX_FUNCTIONS:
            return None
    if sum(bare.count(f"{fn}(") for fn in _INDEX_FUNCTIONS) != len(calls):
        return None  # a call with a non-literal argument
    values = tuple(sorted({arg for fn, arg in calls if fn in (VALUES_FN, "answers")}))
    ticked = tuple(sorted({arg for fn, arg in calls if fn in (TICKED_FN, "ticked")}))
    return tuple(sorted(variables_used(fast))), values, ticked


@dataclass(frozen=True)
class Prepared:
    compiled: Compiled  # of the fast form
    inputs: MemoInputs | None  # memo_inputs, or None: not memoised
    native: Closures | None = None  # the fast form as Python closures (service/rules/native.py), if it has them


@lru_cache(maxsize=4096)
def prepare(expression: str) -> Prepared:
    """Rewrite the expression to its fast form, check that and compile it, once; ValueError if invalid.

    The rewrite replaces a run of tokens that is a term with its invocations by a function call, which is
    one too, so the fast form is valid exactly when the expression is; only the short fast form is parsed."""
    fast = fast_form(expression)
    try:
        check_syntax(fast)
    except ValueError:
        check_syntax(expression)  # the message, with columns, for what the author wrote
        raise
    native = compile_native(tuple((t.text, t.type) for t in _tokens(fast)), VALUES_FN, TICKED_FN)
    return Prepared(_compile(fast), memo_inputs(expression), native)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _memo_key(value: Any) -> Any:
    """A hashable key equal only for equal values of equal types (True and 1 differ); Codings key by their parts."""
    kind = type(value)
    if kind in _SCALARS:
        return (kind, value)
    if kind is list or kind is tuple:
        return tuple([_memo_key(v) for v in value])
    if kind is dict:
        return (dict, tuple([(k, _memo_key(v)) for k, v in value.items()]))
    return (kind, str(value))  # FHIRPath types (a Date, a Quantity) by their text


_MEMO: dict[tuple[Any, ...], tuple[Any, ...]] = {}
_ANSWER_PATH = "QuestionnaireResponse.item.answer."
_DATE_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def _value_key(value: Any, declared: str | None) -> str:
    """The answer's value[x] key: the item's declared one (open-choice may hold a string), else by the value."""
    if isinstance(value, str):
        if declared in ("valueDate", "valueDateTime", "valueTime", "valueUri"):
            return declared
        return "valueString" if declared is not None or not _DATE_RE.match(value) else "valueDate"
    if declared is not None:
        return declared
    if isinstance(value, bool):
        return "valueBoolean"
    if isinstance(value, int):
        return "valueInteger"
    if isinstance(value, float):
        return "valueDecimal"
    return "valueCoding"


def _node(value: Any, type_name: str) -> Any:
    """A fhirpathpy ResourceNode of an R4 type."""
    return ResourceNode.create_node(value, type_name)  # type: ignore[no-untyped-call]  # fhirpathpy is untyped


class Evaluator:
    """Evaluates expressions against one response, the answer index and the questionnaire in scope.

    `fast=False` evaluates every expression exactly as written, with plain fhirpathpy over the response
    (no recognised patterns, no memo): the reference the fast path is tested against.
    """

    qr: Any
    index: AnswerIndex
    env: dict[str, Any]
    qdef: QuestionnaireDef | None

    def __init__(
        self,
        qr: Any,
        index: AnswerIndex,
        env: dict[str, Any],
        qdef: QuestionnaireDef | None = None,
        *,
        fast: bool = True,
    ):
        self.qr = qr
        self.index = index
        self.env = env
        self.qdef = qdef
        self.fast = fast
        self._types = qdef.canonical if qdef is not None else None
        env.setdefault("resource", qr)

    def answer_values(self, link_id: str) -> list[Any]:
        """The answer values of `link_id` as the R4 model types them (ResourceNodes, like answer.value)."""
        values = self.index.values.get(link_id, ())
        if not values:
            return []
        item = self.qdef.items.get(link_id) if self.qdef is not None else None
        declared = item.answer_key if item is not None else None
        types = _R4["path2Type"]
        return [_node(v, types.get(_ANSWER_PATH + _value_key(v, declared), "Element")) for v in values]

    def ticked_link_ids(self, group: str) -> list[Any]:
        return [_node(link_id, "string") for link_id in self.index.ticked.get(group, ())]

    def value(self, expression: str) -> list[Any]:
        if not self.fast:
            return self._run(compile_expression(expression))
        prepared = prepare(expression)
        if prepared.native is not None:
            try:
                return prepared.native.many(self)
            except Fallback:
                pass  # outside what the closure reproduces exactly: as fhirpathpy evaluates it
        key = None
        if prepared.inputs is not None:
            names, values, ticked = prepared.inputs
            env, index = self.env, self.index
            key = (
                expression,
                self._types,
                tuple([_memo_key(env.get(name)) for name in names]),
                tuple([_memo_key(index.values.get(v)) for v in values]),
                tuple([tuple(index.ticked.get(g, ())) for g in ticked]),
            )
            hit = _MEMO.get(key)
            if hit is not None:
                return list(hit)
        result = self._run(prepared.compiled)
        if key is not None:
            if len(_MEMO) >= _MEMO_LIMIT:
                _MEMO.clear()
            _MEMO[key] = tuple(result)
        return result

    def _run(self, compiled: Compiled) -> list[Any]:
        token = _CURRENT.set(self)
        try:
            return compiled(self.qr, self.env)
        finally:
            _CURRENT.reset(token)

    def holds(self, expression: str | None) -> bool:
        """FHIRPath boolean evaluation: true only for the singleton collection {true}."""
        if expression is None:
            return True
        if self.fast:
            native = prepare(expression).native
            if native is not None:
                try:
                    return native.truth(self) is True
                except Fallback:
                    pass
        return self.value(expression) == [True]
