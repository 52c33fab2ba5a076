"""FHIRPath over QuestionnaireResponses: compiled once, with the answer functions the rule files use.

Expressions are evaluated with fhirpathpy and the R4 model (without it choice types such as
answer.value resolve to nothing). Walking the item tree in pure-Python FHIRPath costs ~0.2–1 ms per
expression, so two functions read a per-response index built in one pass instead:

- ``answers('linkId')``: the answer values of the items with that linkId (Codings as Codings);
- ``ticked('groupLinkId')``: the linkIds of the boolean items under that group answered ``true``.

Everything else is plain FHIRPath; the response itself is the root (and ``%resource``), so
``%resource.repeat(item).where(linkId = 'phase').answer.value.code`` works too, only slower.
"""

from __future__ import annotations

import contextvars
import re
from datetime import date
from functools import lru_cache
from typing import Callable

import fhirpathpy
from antlr4 import CommonTokenStream, InputStream, Token
from antlr4.error.ErrorListener import ErrorListener
from fhirpathpy.models import models
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from service.questionnaires.answers import AnswerIndex

_CURRENT: contextvars.ContextVar[AnswerIndex] = contextvars.ContextVar("ks_answer_index")

FUNCTIONS = {
    "answers": {"fn": lambda inputs, link_id: list(_CURRENT.get().values.get(link_id, ())), "arity": {1: ["String"]}},
    "ticked": {"fn": lambda inputs, group: list(_CURRENT.get().ticked.get(group, ())), "arity": {1: ["String"]}},
}
_OPTIONS = {"userInvocationTable": FUNCTIONS}
BUILTIN_VARIABLES = frozenset({"today", "resource", "context", "ucum", "level", "computedLevel"})
VARIABLE_RE = re.compile(r"%([A-Za-z][A-Za-z0-9]*)")
FUNCTION_ARG_RE = re.compile(r"\b(answers|ticked)\(\s*'([^']*)'\s*\)")

Compiled = Callable[[dict, dict], list]


class _RaisingListener(ErrorListener):
    def syntaxError(self, recognizer, offendingSymbol, line, column, msg, e):  # noqa: N802 (ANTLR's name)
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
        raise ValueError(f"not a valid FHIRPath expression: unexpected {tokens.LT(1).text!r} at column {tokens.LT(1).column + 1}")


@lru_cache(maxsize=4096)
def compile_expression(expression: str) -> Compiled:
    """Check and parse once (a parse costs ~1 ms); ValueError with the parser's message on bad syntax."""
    check_syntax(expression)
    try:
        return fhirpathpy.compile(expression, models["r4"], _OPTIONS)
    except Exception as exc:  # fhirpathpy raises assorted parser exceptions
        raise ValueError(f"not a valid FHIRPath expression: {exc}") from exc


@lru_cache(maxsize=64)
def fhirpath_date(day: date):
    """A FHIRPath Date for %today (built through the engine so comparisons use its own type)."""
    return compile_expression(f"'{day.isoformat()}'.toDate()")({}, {})[0]


def variables_used(expression: str) -> set[str]:
    return set(VARIABLE_RE.findall(expression))


def link_ids_used(expression: str) -> set[str]:
    return {arg for _, arg in FUNCTION_ARG_RE.findall(expression)}


STRING_RE = re.compile(r"'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`")
PATH_START_RE = re.compile(r"(?<![.%$\w])([A-Za-z_]\w*)")
OPERATOR_WORDS = frozenset(
    {"and", "or", "xor", "implies", "in", "contains", "is", "as", "div", "mod", "true", "false"}
    | {f"{unit}{s}" for unit in ("year", "month", "week", "day", "hour", "minute", "second", "millisecond") for s in ("", "s")}
)
_MEMO_LIMIT = 4096


@lru_cache(maxsize=4096)
def memo_inputs(expression: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None:
    """What an expression reads, when that is only %variables, answers('…') and ticked('…'); else None.

    Conservative and syntactic: after dropping string literals, every identifier that starts a path
    (not after '.', '%' or '$') must be an operator word or a call of answers/ticked with a literal
    argument. `item…`, `%resource`, `%context` and other root navigation make it read the whole
    response, and such an expression is never memoised.
    """
    bare = STRING_RE.sub("''", expression)
    if "%resource" in bare or "%context" in bare:
        return None
    calls = FUNCTION_ARG_RE.findall(expression)
    for word in PATH_START_RE.findall(bare):
        if word not in OPERATOR_WORDS and word not in ("answers", "ticked"):
            return None
    if bare.count("answers(") + bare.count("ticked(") != len(calls):
        return None  # a call with a non-literal argument
    answers = tuple(sorted({arg for fn, arg in calls if fn == "answers"}))
    ticked = tuple(sorted({arg for fn, arg in calls if fn == "ticked"}))
    return tuple(sorted(variables_used(expression))), answers, ticked


def _memo_key(value):
    if isinstance(value, (list, tuple)):
        return tuple(_memo_key(v) for v in value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return (type(value).__name__, value)
    return (type(value).__name__, str(value))


_MEMO: dict[tuple, list] = {}


class Evaluator:
    """Evaluates compiled expressions against one response with its answer index in scope.

    Expressions that read only variables and answers()/ticked() (all of the default rule sets'
    expressions) take few distinct inputs across responses — a phase, two counts, a level — so their
    results are memoised on exactly those inputs: the same inputs always give the same result.
    """

    def __init__(self, qr: dict, index: AnswerIndex, env: dict):
        self.qr = qr
        self.index = index
        self.env = env
        env.setdefault("resource", qr)

    def value(self, expression: str) -> list:
        key = None
        inputs = memo_inputs(expression)
        if inputs is not None:
            names, answers, ticked = inputs
            key = (
                expression,
                tuple(_memo_key(self.env.get(name)) for name in names),
                tuple(_memo_key(self.index.values.get(a)) for a in answers),
                tuple(tuple(self.index.ticked.get(g, ())) for g in ticked),
            )
            hit = _MEMO.get(key)
            if hit is not None:
                return list(hit)
        token = _CURRENT.set(self.index)
        try:
            result = compile_expression(expression)(self.qr, self.env)
        finally:
            _CURRENT.reset(token)
        if key is not None:
            if len(_MEMO) >= _MEMO_LIMIT:
                _MEMO.clear()
            _MEMO[key] = tuple(result)
        return result

    def holds(self, expression: str | None) -> bool:
        """FHIRPath boolean evaluation: true only for the singleton collection {true}."""
        if expression is None:
            return True
        return self.value(expression) == [True]
