"""Small-number suppression of the figures shown across practices or to the region (DOMAIN.md §5; issue 14 point 3).

Pure: numbers in, the cells to hide out. A *cell* (one published figure) is made of *variables*: the counts that
add up (a count; a share's numerator and denominator). *Equations* say which variables are sums of others (the
region total of the practices, the year of its quarters, the questionnaires of their phases, the referrals of
their recipients): everything an attacker knows besides what is published.

- **Primary**: a cell based on fewer than `below` people is hidden. In `rivm` mode (RIVM's Lokale Monitor Kansrijke
  Start, regiobeeld.nl: no figure on fewer than 10 people) **0 is hidden too**: 0 is fewer than 10 people, and
  showing 0 while hiding 1..9 tells a reader that each hidden cell holds at least one person, so two hidden cells
  whose known sum is 2 would both be 1. In `cbs` mode CBS's rule for care counts (Toelichting Wijk- en Buurtkaart,
  §5.8): 0–7 hidden (`below` is 8), every shown count rounded to a multiple of 5 (`rounded`).
- **Complementary**: a variable no shown cell publishes is hidden. While an equation has exactly one hidden member,
  its smallest published member is hidden too; then an exact linear-algebra audit (reduced row echelon form over
  the rationals of the equations restricted to the hidden variables: a variable is recoverable exactly when its
  unit vector lies in their row space) finds hidden variables that several equations together would give away,
  and for each one hides the smallest published member of an equation it is in; to a fixed point.

What this does not claim: an attacker who also uses the bounds (a hidden cell lies in 0..below-1) can narrow a
hidden cell to an interval, and learns that hidden cells are 0 when their published residual is 0 (which tells
nothing about a person). A practice that knows its own numbers holds more than the published cells: `known` names
those variables, which the audit counts as published and never hides as a complement (hiding them hides nothing
from their reader), so the region's totals less its own never give another practice away.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

MODES = ("rivm", "cbs")
CBS_BELOW = 8  # CBS shows 0-7 as secret
CBS_BASE = 5  # and rounds to multiples of 5

Var = Hashable
Equation = tuple[Var, tuple[Var, ...]]  # total = sum of parts


@dataclass(frozen=True)
class CellSpec:
    """A cell to publish: its variables and the number of people it is based on."""

    vars: tuple[Var, ...]
    people: int


def threshold(mode: str, below: int) -> int:
    """The number of people a shown cell needs: `below` (rivm), CBS's 8 (cbs)."""
    if mode not in MODES:
        raise ValueError(f"suppression mode must be one of {MODES}, not {mode!r}")
    return CBS_BELOW if mode == "cbs" else max(1, below)


def rounded(value: int, mode: str) -> int:
    """A shown count as published: as it is (rivm), to the nearest multiple of 5, halves up (cbs)."""
    return (value + CBS_BASE // 2) // CBS_BASE * CBS_BASE if mode == "cbs" else value


def suppress(
    values: Mapping[Var, int],
    equations: Sequence[Equation],
    cells: Mapping[Hashable, CellSpec],
    *,
    below: int,
    known: frozenset[Var] = frozenset(),
) -> set[Hashable]:
    """The cells to hide so that no hidden variable can be recomputed from the published ones and `equations`, for
    a reader who also knows the variables `known` (a practice its own)."""
    users: dict[Var, list[Hashable]] = {}
    for cid, spec in cells.items():
        for v in spec.vars:
            users.setdefault(v, []).append(cid)
    members = [(total, *parts) for total, parts in equations]
    by_var: dict[Var, list[int]] = {}
    for i, eq in enumerate(members):
        for v in eq:
            by_var.setdefault(v, []).append(i)
    hidden = {cid for cid, spec in cells.items() if spec.people < below}
    order = {v: i for i, v in enumerate(sorted(users, key=repr))}  # ties broken the same way every time

    def hidden_vars() -> set[Var]:
        return {v for v, cs in users.items() if v not in known and all(c in hidden for c in cs)}

    def cheapest(candidates: Iterable[Var], gone: set[Var]) -> Var | None:
        shown = [v for v in candidates if v in users and v not in gone and v not in known]
        return min(shown, key=lambda v: (values.get(v, 0), order[v])) if shown else None

    while True:
        gone = hidden_vars()
        extra = _lines(members, gone, cheapest)
        if not extra:
            extra = {
                p
                for v in determined(gone, members)
                if (p := cheapest((m for i in by_var.get(v, ()) for m in members[i]), gone)) is not None
                or (p := _further(v, members, by_var, gone, cheapest)) is not None
            }
        if not extra:
            return hidden
        hidden |= {c for v in extra for c in users[v]}


def _lines(members: list[tuple[Var, ...]], gone: set[Var], cheapest) -> set[Var]:
    """For each equation with exactly one hidden member: its smallest published member."""
    out: set[Var] = set()
    for eq in members:
        if sum(v in gone for v in eq) == 1 and not any(v in out for v in eq):
            pick = cheapest(eq, gone)
            if pick is not None:
                out.add(pick)
    return out


def _further(start: Var, members, by_var, gone: set[Var], cheapest) -> Var | None:
    """The smallest published variable reached from `start` through equations of hidden variables (a determined
    variable whose own equations publish nothing more)."""
    seen, todo, reached = {start}, [start], []
    while todo:
        v = todo.pop()
        for i in by_var.get(v, ()):
            for m in members[i]:
                if m in gone and m not in seen:
                    seen.add(m)
                    todo.append(m)
                elif m not in gone:
                    reached.append(m)
    return cheapest(reached, gone)


def determined(hidden: set[Var], members: Iterable[tuple[Var, ...]]) -> set[Var]:
    """The hidden variables the equations (total first, then its parts) give away, whatever the published values:
    those whose unit vector is in the row space of the equations restricted to the hidden variables (Gauss–Jordan
    over the rationals: in reduced row echelon form such a variable has a row of its own)."""
    index = {v: i for i, v in enumerate(sorted(hidden, key=repr))}
    pivots: dict[int, dict[int, Fraction]] = {}
    for eq in members:
        row: dict[int, Fraction] = {}
        for pos, v in enumerate(eq):
            if v in index:
                k = index[v]
                row[k] = row.get(k, Fraction(0)) + (1 if pos == 0 else -1)
        row = {k: c for k, c in row.items() if c}
        for k in [k for k in row if k in pivots]:  # pivot rows hold no other pivot: one pass reduces the row
            _subtract(row, pivots[k], row[k])
        if not row:
            continue
        p = min(row)
        lead = row[p]
        row = {k: c / lead for k, c in row.items()}
        for other in pivots.values():
            if p in other:
                _subtract(other, row, other[p])
        pivots[p] = row
    names = {i: v for v, i in index.items()}
    return {names[p] for p, row in pivots.items() if len(row) == 1}


def _subtract(row: dict[int, Fraction], pivot: dict[int, Fraction], factor: Fraction) -> None:
    for k, c in pivot.items():
        value = row.get(k, Fraction(0)) - factor * c
        if value:
            row[k] = value
        else:
            row.pop(k, None)
