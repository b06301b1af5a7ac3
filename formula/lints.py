"""Lint warnings (spec §13): advice that never changes a run.

They are computed only for formulas that pass validation, from the checker's
facts (types, overloads, name resolutions). Two of them follow values through
variables: *data sources* (which series method calls an expression's value
comes from) and *guard dependence* (whether it depends on GetSamplePercent,
Count, HistoryBeginTime or time()); both are tracked statement by statement
through "the most recent earlier assignment" of each variable or target.
"""

from __future__ import annotations

from . import ast
from .builtins import DEPRECATED, MEMBERS, lookup_function, lookup_method
from .checker import CheckResult
from .diagnostics import Diagnostic, LineIndex
from .methods import DEFAULT_PCT, is_window_form
from .types import DOUBLE
from .values import format_double

CODES = ("NonCanonicalCase", "DollarAndBareName", "ImplicitSingleSample", "DeprecatedName",
         "LatestSampleOnly", "UnguardedGetSample", "NoTargetAssigned")
_ORDER = {code: i for i, code in enumerate(CODES)}
_GUARD_METHODS = frozenset({"getsamplepercent", "count", "historybegintime"})


def lint_program(program: ast.Program, facts: CheckResult, index: LineIndex) -> list[Diagnostic]:
    found: list[tuple[int, str, str]] = []
    found += _names(program, facts)
    found += _dollar_and_bare(program, facts)
    found += [(at, "ImplicitSingleSample",
               "a doubleVec is used as a single value; this relies on implicit single-sample conversion")
              for at in facts.implicit]
    found += _flow(program, facts)
    if not any(isinstance(s, ast.Assign) and _slot(facts, s) in ("dedicated", "lowpriority")
               for s in program.statements):
        found.append((0, "NoTargetAssigned", "the formula assigns no target; the pool size will not change"))
    found.sort(key=lambda f: (f[0], _ORDER[f[1]]))
    return [Diagnostic.at(index, at, code, message, severity="warning") for at, code, message in found]


def _slot(facts: CheckResult, node) -> str | None:
    res = facts.names.get(id(node))
    return res.target.slot if res is not None and res.kind == "target" else None


def _nodes(program: ast.Program):
    for stmt in program.statements:
        yield from ast.walk(stmt)


# -- NonCanonicalCase and DeprecatedName -------------------------------------------------------

def _names(program, facts):
    out = []

    def case(at, written, canonical):
        # ``canonical`` is None for a method or member of a receiver of unknown type
        # (unchecked runs: ``y.foo()``, ``y.$a``): there is no spelling to suggest.
        if canonical is not None and written != canonical:
            out.append((at, "NonCanonicalCase", f"'{written}' should be written '{canonical}'"))

    for node in _nodes(program):
        if isinstance(node, (ast.Ref, ast.Assign)):
            res = facts.names.get(id(node))
            if res is not None and res.kind != "user":
                case(node.span.start, node.name, res.canonical)
                if res.canonical in DEPRECATED:
                    out.append((node.span.start, "DeprecatedName",
                                f"'{res.canonical}' is deprecated; use '{DEPRECATED[res.canonical]}'"))
        elif isinstance(node, ast.Call):
            case(node.name_offset, node.name, lookup_function(node.name).canonical)
        elif isinstance(node, ast.Method):
            method = lookup_method(node.name)
            case(node.name_offset, node.name, method and method.canonical)
        elif isinstance(node, ast.Member):
            case(node.name_offset, node.name, MEMBERS.get(node.name.lower()))
    return out


# -- DollarAndBareName --------------------------------------------------------------------------

def _dollar_and_bare(program, facts):
    first: dict[str, int] = {}
    for node in _nodes(program):
        if isinstance(node, (ast.Ref, ast.Assign)):
            res = facts.names.get(id(node))
            if res is not None and res.kind == "user":
                at = node.span.start if isinstance(node, ast.Ref) else node.name_offset
                first[node.name] = min(first.get(node.name, at), at)
    out = []
    for name, at in first.items():
        if not name.startswith("$") and "$" + name in first:
            other = first["$" + name]
            out.append((max(at, other), "DollarAndBareName",
                        f"'${name}' and '{name}' are two different variables"))
    return out


# -- LatestSampleOnly and UnguardedGetSample ----------------------------------------------------

class _Flow:
    """Data sources and guard dependence of each variable's latest assignment."""

    def __init__(self, facts: CheckResult) -> None:
        self.facts = facts
        self.sources: dict[str, tuple] = {}
        self.guarded: dict[str, bool] = {}
        self._guard: dict[int, bool] = {}  # id(node) -> depends on a guard, current statement
        self._stop: dict[int, bool] = {}   # id(node) -> contains a stop() call, current statement

    def statement(self, expr) -> None:
        """Guard dependence and stop() calls of every node of one statement, children
        before parents, in one pass. Asking node by node would walk a subtree once per
        enclosing ``&&`` or ``?:``: quadratic, seconds for an 8 KB ``a&&a&&…&&a``."""
        guard, stop = {}, {}
        for node in reversed(list(ast.walk(expr))):  # pre-order reversed: children first
            kids = [id(c) for c in ast.children(node)]
            guard[id(node)] = self._is_guard_source(node) or any(guard[k] for k in kids)
            stop[id(node)] = (isinstance(node, ast.Call) and node.name.lower() == "stop") or any(
                stop[k] for k in kids)
        self._guard, self._stop = guard, stop

    def contains_stop(self, expr) -> bool:
        return self._stop[id(expr)]

    def key(self, node) -> str | None:
        res = self.facts.names.get(id(node))
        if res is None:
            return None
        if res.kind == "user":
            return "var:" + node.name
        if res.kind == "target":
            return "slot:" + res.target.slot
        return None

    def data_sources(self, expr) -> tuple:
        # Each method call counts once: without de-duplication `b = a + a; c = b + b; …`
        # doubles the list at every statement (2**99 entries for 100 statements).
        found: dict[int, ast.Method] = {}
        for node in ast.walk(expr):
            if isinstance(node, ast.Method) and id(node) in self.facts.forms:
                found[id(node)] = node
            elif isinstance(node, ast.Ref):
                for source in self.sources.get(self.key(node), ()):
                    found[id(source)] = source
        return tuple(found.values())

    def depends_on_guard(self, expr) -> bool:
        """For a node of the statement last given to :meth:`statement`."""
        return self._guard[id(expr)]

    def _is_guard_source(self, node) -> bool:
        if isinstance(node, ast.Method) and node.name.lower() in _GUARD_METHODS:
            return True
        if isinstance(node, ast.Call) and node.name.lower() == "time":
            return True
        return isinstance(node, ast.Ref) and self.guarded.get(self.key(node), False)


def _is_latest_sample(node: ast.Method) -> bool:
    return (node.name.lower() == "getsample" and len(node.args) == 1
            and isinstance(node.args[0], ast.Number) and node.args[0].value == 1.0)


def _flow(program: ast.Program, facts: CheckResult):
    flow = _Flow(facts)
    out = []
    deciding = _deciding_assignments(program, facts)
    stop_guard = False
    for stmt in program.statements:
        expr = stmt.value if isinstance(stmt, ast.Assign) else stmt.expr
        flow.statement(expr)
        out += _unguarded(expr, flow, stop_guard)
        if _has_guarded_stop(expr, flow):
            stop_guard = True
        if isinstance(stmt, ast.Assign):
            key = flow.key(stmt)
            sources = flow.data_sources(expr)
            if any(stmt is d for d in deciding) and sources and all(
                    isinstance(s, ast.Method) and _is_latest_sample(s) for s in sources):
                out.append((stmt.name_offset, "LatestSampleOnly",
                            f"{stmt.name} depends on metric data only through GetSample(1), "
                            "the latest sample however old"))
            if key is not None:
                flow.sources[key] = sources
                flow.guarded[key] = flow.depends_on_guard(expr)
    return out


def _deciding_assignments(program, facts) -> list:
    """The last assignment to each target, through the full name if any assigns it (§13)."""
    chosen = []
    for slot in ("dedicated", "lowpriority"):
        assigns = [s for s in program.statements if isinstance(s, ast.Assign) and _slot(facts, s) == slot]
        full = [s for s in assigns if not facts.names[id(s)].target.alias]
        pick = full or assigns
        if pick:
            chosen.append(pick[-1])
    return chosen


def _unguarded(expr, flow: _Flow, guarded: bool):
    out = []
    stack = [(expr, guarded)]
    while stack:
        node, g = stack.pop()
        if isinstance(node, ast.Cond):
            inner = g or flow.depends_on_guard(node.cond)
            stack += [(node.otherwise, inner), (node.then, inner), (node.cond, g)]
            continue
        if isinstance(node, ast.Logic):
            stack += [(node.right, g or flow.depends_on_guard(node.left)), (node.left, g)]
            continue
        if isinstance(node, ast.Method):
            form = flow.facts.forms.get(id(node))
            if (form is not None and not g and is_window_form(form)
                    and not _zero_pct(node, form)):
                series = flow.facts.names[id(node.receiver)].canonical
                out.append((node.lparen, "UnguardedGetSample",
                            f"GetSample on {series} fails with InsufficientSampleData while less "
                            f"than {_minimum(node, form)} of its window has samples, as on a new "
                            "pool; test GetSamplePercent first (in a ?: condition, or left of && "
                            "or ||) or pass a minimum percent of 0"))
        stack += [(c, g) for c in reversed(ast.children(node))]
    return out


def _minimum(node: ast.Method, form) -> str:
    """How the lint names a window's minimum percent: the default, a literal, or neither.

    A minimum is what makes the window fail, whatever its value above 0, so the message names
    it rather than suggesting "a percent" as if any percent were a cure."""
    if not form.params or form.params[-1] is not DOUBLE:
        return f"{format_double(DEFAULT_PCT)}% (the default minimum)"
    pct = node.args[-1]
    if isinstance(pct, ast.Number):
        return f"{format_double(pct.value)}%"
    return "the given minimum percent"


def _zero_pct(node: ast.Method, form) -> bool:
    if not form.params or form.params[-1] is not DOUBLE:
        return False
    pct = node.args[-1]
    return isinstance(pct, ast.Number) and pct.value == 0.0


def _has_guarded_stop(expr, flow: _Flow) -> bool:
    for node in ast.walk(expr):
        if isinstance(node, ast.Cond) and flow.depends_on_guard(node.cond):
            if flow.contains_stop(node.then) or flow.contains_stop(node.otherwise):
                return True
    return False
