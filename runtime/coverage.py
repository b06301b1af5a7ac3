"""Statement and ``?:`` branch coverage of a formula over the runs of ``poolscale test``.

A coverage *item* is a statement (hit when it starts to run) or one branch of a ``?:`` (hit
when the condition has chosen it). Statements after a ``stop()`` or a runtime error are not
hit; a statement that fails part-way was hit.

How it is measured, without touching ``poolscale.formula``: the formula is compiled a second
time by :class:`_CoveringCompiler`, a subclass of the evaluator's closure compiler whose only
change is to wrap the closure of every statement and of every ``?:`` branch in a recorder.
The ``?:`` closure itself is the base compiler's, so it decides which branch runs exactly as an
ordinary evaluation does; the wrapped branch closure merely notes that it was called. The
instrumented closures then replace those of a shallow copy of the compiled ``Formula``, so
``Formula.evaluate`` (its error handling, packaging and apply-phase check) runs unchanged.

This relies on two internals of ``poolscale.formula``: ``compiler._Compiler`` with its
``statement(stmt)`` / ``expr(node)`` hooks, and ``Formula._statements``, the list of statement
closures that ``evaluate`` runs. When the formula package grows an instrumented evaluation
(the trace behind ``poolscale explain``), this module should use it instead.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from poolscale.formula import Formula, ast
from poolscale.formula.compiler import _Compiler
from poolscale.formula.depth import deep_stack

__all__ = ["CoverageItem", "CoverageSet", "FormulaCoverage", "Uncovered", "instrument", "percent_text"]

#: item kinds in the order they are listed at one position
KINDS = ("statement", "then", "else")

_DESCRIPTIONS = {
    "statement": "statement never executed",
    "then": "'?:' then branch never taken",
    "else": "'?:' else branch never taken",
}


@dataclass(frozen=True, slots=True)
class CoverageItem:
    """One thing a test can exercise: ``offset`` is where it starts in the formula text."""

    kind: str
    offset: int


@dataclass(frozen=True, slots=True)
class Uncovered:
    """An item no run exercised, positioned for printing (1-based line and column)."""

    path: str
    line: int
    column: int
    kind: str

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self.kind]

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.description}"


def _items(program: ast.Program) -> tuple[list[CoverageItem], dict[int, int]]:
    """Every item of the program in text order, and id(statement or branch node) -> its index."""
    items: list[CoverageItem] = []
    index: dict[int, int] = {}
    for stmt in program.statements:
        index[id(stmt)] = len(items)
        items.append(CoverageItem("statement", stmt.span.start))
        for node in ast.walk(stmt):
            if isinstance(node, ast.Cond):
                for kind, branch in (("then", node.then), ("else", node.otherwise)):
                    index[id(branch)] = len(items)
                    items.append(CoverageItem(kind, branch.span.start))
    return items, index


class _CoveringCompiler(_Compiler):
    """The evaluator's compiler, with statements and ``?:`` branches reporting to ``hits``."""

    #: this ``expr`` -> the base ``expr`` -> ``_expr`` -> an operator -> this ``expr``
    FRAMES_PER_LEVEL = 4

    def __init__(self, facts, hits: list[bool], index: dict[int, int]):
        super().__init__(facts)
        self._hits = hits
        self._index = index

    def statement(self, stmt):
        return _recording(super().statement(stmt), self._hits, self._index[id(stmt)])

    def expr(self, node):
        fn = super().expr(node)
        item = self._index.get(id(node))
        return fn if item is None else _recording(fn, self._hits, item)


def _recording(fn, hits: list[bool], item: int):
    def recorded(state):
        hits[item] = True
        return fn(state)
    return recorded


class FormulaCoverage:
    """The coverage of one compiled formula, accumulated over every run of :attr:`formula`.

    ``formula`` behaves exactly like the formula it was made from; use it for the runs that
    should count. ``path`` names the formula in reports; ``position(offset)`` maps an offset
    of the formula text to the (line, column) printed (a formula written inline in a test
    file is reported at its place in that file).
    """

    def __init__(self, formula: Formula, path: str, position=None) -> None:
        self.path = path
        self.items, index = _items(formula.program)
        self.hits = [False] * len(self.items)
        compiler = _CoveringCompiler(formula.facts, self.hits, index)
        with deep_stack(_CoveringCompiler.FRAMES_PER_LEVEL):
            closures = [compiler.statement(s) for s in formula.program.statements]
        self.formula = copy.copy(formula)
        self.formula._statements = closures
        self._position = position or formula.index.position

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def covered(self) -> int:
        return sum(self.hits)

    def uncovered(self) -> list[Uncovered]:
        """The items never hit, by position, a statement before the branches starting there."""
        out = []
        for item, hit in zip(self.items, self.hits):
            if not hit:
                line, column = self._position(item.offset)
                out.append(Uncovered(self.path, line, column, item.kind))
        out.sort(key=lambda u: (u.line, u.column, KINDS.index(u.kind)))
        return out


def instrument(formula: Formula, path: str, position=None) -> FormulaCoverage:
    """A :class:`FormulaCoverage` whose ``formula`` records what its runs exercise."""
    return FormulaCoverage(formula, path, position)


def percent_text(covered: int, total: int) -> str:
    """``covered/total`` as a percentage with one decimal, rounded down so that a figure is never
    shown as reaching a threshold it misses (99.96 % prints as 99.9 %); nothing to cover is 100 %."""
    if total == 0:
        return "100.0%"
    tenths = covered * 1000 // total
    return f"{tenths // 10}.{tenths % 10}%"


class CoverageSet:
    """Coverage over many test files. Files that test the same formula (the same file with
    the same text) share one :class:`FormulaCoverage`, so their runs add up."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], object] = {}

    def formula(self, test_file):
        """``(instrumented formula, None)``, or ``(None, FormulaError)`` when it does not
        compile; ``test_file`` supplies ``formula_path``, ``source`` and ``position``."""
        from poolscale.formula import FormulaError, compile_formula

        key = (test_file.formula_path, test_file.source)
        entry = self._entries.get(key)
        if entry is None:
            try:
                entry = instrument(compile_formula(test_file.source), test_file.formula_path,
                                   test_file.position)
            except FormulaError as e:
                entry = e
            self._entries[key] = entry
        if isinstance(entry, FormulaCoverage):
            return entry.formula, None
        return None, entry

    @property
    def measured(self) -> list[FormulaCoverage]:
        return sorted((e for e in self._entries.values() if isinstance(e, FormulaCoverage)),
                      key=lambda c: c.path)

    @property
    def not_compiled(self) -> list[str]:
        """The formulas that could not be measured because they do not compile."""
        return sorted({path for (path, _), e in self._entries.items()
                       if not isinstance(e, FormulaCoverage)})

    @property
    def covered(self) -> int:
        return sum(c.covered for c in self.measured)

    @property
    def total(self) -> int:
        return sum(c.total for c in self.measured)

    def uncovered(self) -> list[Uncovered]:
        return [u for c in self.measured for u in c.uncovered()]

    def below(self, threshold: float) -> bool:
        """True when the covered share is below ``threshold`` percent (exact, no rounding)."""
        total = self.total
        return total > 0 and self.covered * 100 < threshold * total
