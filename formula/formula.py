"""``compile_formula``: text -> a checked, compiled ``Formula`` that runs many times.

A ``Formula`` holds everything a run needs (closures, printed target names,
the line index for error positions), so ``evaluate`` never parses or checks
again. This is also the one place where evaluation errors are caught and turned
into the AutoScaleRun's error (the apply-phase target check included).
"""

from __future__ import annotations

import math
import numbers
import operator
import random
from datetime import datetime
from functools import cached_property

import numpy as np

from . import ast
from .builtins import ALIASES, FULL_NAMES, resolve
from .checker import CheckResult, check
from .compiler import compile_program
from .depth import deep_stack
from .diagnostics import Diagnostic, LineIndex, location
from .errors import EvaluationError, StopRun
from .outcome import AutoScaleRun, AutoScaleRunError
from .parser import parse
from .poolstate import PoolState
from .state import RunState
from .values import (
    MAX_TIMESTAMP_TICKS, MIN_TIMESTAMP_TICKS, Timestamp, format_double, timestamp_from_datetime,
)

_SHALLOW = 150  # nesting depth below which a run needs no extra stack


class Formula:
    """A compiled formula. Build it with :func:`compile_formula`."""

    def __init__(self, source: str, program: ast.Program, facts: CheckResult) -> None:
        self.source = source
        self.program = program
        self.facts = facts
        self._names, depth = _shape(program, facts)
        self._deep = depth > _SHALLOW
        self._target_names = (self._names["dedicated"], self._names["lowpriority"],
                              self._names["option"])

    @cached_property
    def _statements(self) -> list:
        """The compiled closures, built on the first run: checking and linting (``poolscale
        check``) never pay for them, and every later run reuses them."""
        return compile_program(self.program, self.facts)

    @cached_property
    def index(self) -> LineIndex:
        return LineIndex(self.source)

    @cached_property
    def warnings(self) -> tuple[Diagnostic, ...]:
        """The lint warnings of docs/language.md#lint-warnings, ordered by position, then code."""
        from .lints import lint_program

        return tuple(lint_program(self.program, self.facts, self.index))

    def evaluate(self, store=None, *, now: Timestamp | int | datetime, pool: PoolState | None = None,
                 seed: int | None = None, rng: random.Random | None = None) -> AutoScaleRun:
        """Run the formula at ``now`` against ``store`` and ``pool``; never raises for
        a formula problem: the returned run carries the error (docs/language.md#the-results-string).

        ``seed`` seeds a fresh generator for ``rand()`` (docs/language.md#functions); ``rng``
        supplies one instead (its state advances). With neither, the generator is seeded from system
        entropy on the first ``rand()`` call, as documented.

        ``now`` is a Timestamp, a datetime or a tick count within the years 0001-9999; anything
        else is a ``TypeError`` or ``ValueError`` (a caller's mistake, not the formula's).
        """
        now = _ticks(now)
        state = RunState(store if store is not None else _empty_store(), now,
                         pool or PoolState(), seed, rng)
        error: AutoScaleRunError | None = None
        try:
            with np.errstate(all="ignore"):
                if self._deep:
                    with deep_stack():
                        self._run(state)
                else:
                    self._run(state)
        except EvaluationError as e:
            error = AutoScaleRunError(e.code, self._detail(e.offset, e.text))
        return self._package(state, error)

    def _run(self, state: RunState) -> None:
        try:
            for statement in self._statements:
                statement(state)
        except StopRun:
            pass

    def _detail(self, offset: int, text: str) -> str:
        line, col = self.index.position(offset)
        return f"{location(line, col)}: {text}"

    def _package(self, state: RunState, error: AutoScaleRunError | None) -> AutoScaleRun:
        dedicated, ded_at = state.dedicated.final()
        low, low_at = state.lowpriority.final()
        ded_name, low_name, option_name = self._target_names
        entries = ((ded_name, dedicated), (low_name, low), (option_name, state.option),
                   *sorted(state.vars.items(), key=_NAME))
        if error is None and not (math.isfinite(dedicated) and math.isfinite(low)):
            name, value, at = ((ded_name, dedicated, ded_at) if not math.isfinite(dedicated)
                               else (low_name, low, low_at))
            error = AutoScaleRunError("InvalidTargetValue", self._detail(
                max(at, 0), f"{name} evaluated to {format_double(value)}; "
                            "a target must be a finite number"))
        return AutoScaleRun(state.now_stamp, entries, error, dedicated=dedicated,
                            low_priority=low, option=state.option)


def compile_formula(text: str, *, strict: bool = True) -> Formula:
    """Parse and check ``text``; raise a ``FormulaError`` (limits, syntax or validation).

    ``strict=False`` skips only the definite-assignment check, leaving reads of
    unassigned variables to fail at run time with ``UndefinedVariable``.
    """
    program = parse(text)
    facts = check(program, text, strict=strict)
    return Formula(text, program, facts)


def lint(text: str) -> tuple[Diagnostic, ...]:
    """The lint warnings of a formula (empty for a formula that does not compile)."""
    from .errors import FormulaError

    try:
        return compile_formula(text).warnings
    except FormulaError:
        return ()


def _ticks(now) -> int:
    """``now`` as ticks; a bad ``now`` is the caller's error, said here rather than as a
    traceback from deep inside formatting a run (``ordinal must be >= 1``)."""
    if type(now) is int:
        ticks = now
    elif isinstance(now, Timestamp):
        ticks = now.ticks
    elif isinstance(now, datetime):
        return timestamp_from_datetime(now).ticks
    elif isinstance(now, numbers.Integral) and not isinstance(now, bool):
        ticks = int(now)  # a NumPy integer, say
    else:
        raise TypeError(f"now must be a Timestamp, a datetime or a tick count, not {type(now).__name__}")
    if not MIN_TIMESTAMP_TICKS <= ticks <= MAX_TIMESTAMP_TICKS:
        raise ValueError(f"now must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.9999999Z "
                         f"(ticks {MIN_TIMESTAMP_TICKS} to {MAX_TIMESTAMP_TICKS}), got {ticks} ticks")
    return ticks


_EMPTY = None


def _empty_store():
    global _EMPTY
    if _EMPTY is None:
        from poolscale.metrics.store import SampleStore

        _EMPTY = SampleStore()
    return _EMPTY


_NAME = operator.itemgetter(0)  # variables sort by name; values are never compared


def _shape(program: ast.Program, facts: CheckResult) -> tuple[dict[str, str], int]:
    """One walk over the tree for the two things a run needs from it: how each target
    prints (see :func:`_printed_names`) and the nesting depth (1 for a bare leaf)."""
    seen: list[tuple[int, str, object]] = []
    resolved = facts.names
    deepest = 0
    for stmt in program.statements:
        stack = [(stmt, 1)]
        while stack:
            node, d = stack.pop()
            if d > deepest:
                deepest = d
            if isinstance(node, (ast.Ref, ast.Assign)):
                res = resolved.get(id(node)) or resolve(node.name)
                if res.kind == "target":
                    seen.append((node.span.start, node.name, res.target))
            stack.extend((c, d + 1) for c in ast.children(node))
    return _printed_names(seen), deepest


def _printed_names(seen: list[tuple[int, str, object]]) -> dict[str, str]:
    """How each target prints (docs/language.md#targets-and-the-deallocation-option): the full name
    as first written if it occurs anywhere, else the alias as first written, else the canonical full
    name. ``seen`` holds (offset, name as written, Target) for every target occurrence."""
    seen.sort(key=_NAME)
    names = dict(FULL_NAMES)
    for slot in names:
        full = [name for _, name, t in seen if t.slot == slot and not t.alias]
        alias = [name for _, name, t in seen if t.slot == slot and t.alias]
        if full:
            names[slot] = full[0]
        elif alias and slot in ALIASES:
            names[slot] = alias[0]
    return names

