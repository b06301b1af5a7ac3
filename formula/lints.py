"""Lint warnings (docs/language.md#lint-warnings): advice that never changes a run.

They are computed only for formulas that pass validation, from the checker's
facts (types, overloads, name resolutions). Two of them follow values through
variables: *data sources* (which series method calls an expression's value
comes from) and *guard dependence* (whether it depends on GetSamplePercent,
Count, HistoryBeginTime or time()); both are tracked statement by statement
through "the most recent earlier assignment" of each variable or target.
"""

from __future__ import annotations

from . import ast
from .builtins import DEPRECATED, MEMBERS, TARGETS, lookup_function, lookup_method
from .checker import CheckResult
from .diagnostics import Diagnostic, LineIndex
from poolscale.metrics.variables import PERCENT_SERIES

from .methods import DEFAULT_PCT, is_window_form
from .suggest import one_edit_apart
from .types import DOUBLE
from .values import format_double

CODES = ("NonCanonicalCase", "DollarAndBareName", "ImplicitSingleSample", "DeprecatedName",
         "LatestSampleOnly", "UnguardedGetSample", "FractionForPercent", "MisspeltTarget",
         "NoTargetAssigned")
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
    found += _fractions_for_percents(program, facts)
    found += _misspelt_targets(program, facts)
    if not any(isinstance(s, ast.Assign) and _slot(facts, s) in ("dedicated", "lowpriority")
               for s in program.statements):
        found.append((0, "NoTargetAssigned", "the formula assigns no target; the pool size will not change"))
    found.sort(key=lambda f: (f[0], _ORDER[f[1]]))
    return [Diagnostic.at(index, at, code, message, severity="warning") for at, code, message in found]


def _key(facts: CheckResult, node) -> str | None:
    """What a Ref or Assign names as a value that flows between statements: a user variable
    (``var:name``) or a target slot (``slot:dedicated``); None for anything else."""
    res = facts.names.get(id(node))
    if res is None:
        return None
    if res.kind == "user":
        return "var:" + node.name
    if res.kind == "target":
        return "slot:" + res.target.slot
    return None


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


# -- MisspeltTarget -----------------------------------------------------------------------------

def _misspelt_targets(program, facts):
    """A ``$`` user variable one letter away from a target: assigning it changes nothing."""
    out, seen = [], set()
    targets = sorted(t.canonical for t in TARGETS.values())
    for stmt in program.statements:
        if not isinstance(stmt, ast.Assign) or not stmt.name.startswith("$") \
                or stmt.name in seen or facts.names[id(stmt)].kind != "user":
            continue
        seen.add(stmt.name)
        if any(c.isdigit() for c in stmt.name):
            continue  # $TargetDedicatedNode2 is a numbered variable, not a slip (targets have none)
        near = [t for t in targets if one_edit_apart(stmt.name, t)]
        if near:
            out.append((stmt.name_offset, "MisspeltTarget",
                        f"'{stmt.name}' is a user variable, not a target: the service ignores it; "
                        f"did you mean '{near[0]}'?"))
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
        return _key(self.facts, node)

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
    """The last assignment to each target, through the full name if any assigns it
    (docs/language.md#lint-warnings)."""
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


# -- FractionForPercent -------------------------------------------------------------------------
# Percentages in this language run from 0 to 100: $CPUPercent's samples, what GetSamplePercent
# returns, GetSample's minimum and percentile's p. A number strictly between 0 and 1 in their
# place is a fraction written for a percentage (the docs' `avg($CPUPercent...) > 0.7`): the
# comparison is then true for any load above 0.7 %, the minimum asks for under 1 % of the window.

#: functions whose result is in the unit of their values: avg(cpu) is a percentage
_SAME_UNIT = frozenset({"avg", "min", "max", "range", "std", "ceil", "floor", "round"})
#: functions whose result is in the unit of their first argument only
_FIRST_ARG_UNIT = frozenset({"percentile", "val"})


def _fraction(node, fractions: dict) -> float | None:
    """The value of a number literal strictly between 0 and 1, directly or as the latest value
    of the variable a reference reads."""
    if isinstance(node, ast.Number):
        return node.value if 0.0 < node.value < 1.0 else None
    if isinstance(node, ast.Ref):
        return fractions.get(node.name)
    return None


def _percent_origins(expr, facts: CheckResult, origins: dict) -> dict[int, str | None]:
    """id(node) -> what makes the node's value a percentage (``$CPUPercent`` or
    ``GetSamplePercent``), or None; children before parents, in one pass."""
    out: dict[int, str | None] = {}

    def joined(parts) -> str | None:
        """The origin of a value built from ``parts`` without changing the unit: all of them
        percentages, or number literals beside at least one percentage."""
        found = [out[id(p)] for p in parts if not isinstance(p, ast.Number)]
        return found[0] if found and all(found) else None

    for node in reversed(list(ast.walk(expr))):
        origin = None
        if isinstance(node, ast.Method):
            name = node.name.lower()
            if name == "getsamplepercent":
                origin = "GetSamplePercent"
            elif name == "getsample":
                res = facts.names.get(id(node.receiver))
                if res is not None and res.canonical in PERCENT_SERIES:
                    origin = res.canonical
        elif isinstance(node, ast.Call):
            name = node.name.lower()
            if name in _SAME_UNIT and node.args:
                origin = joined(node.args)
            elif name in _FIRST_ARG_UNIT and node.args:
                origin = out[id(node.args[0])]
        elif isinstance(node, ast.Ref):
            origin = origins.get(_key(facts, node))
        elif isinstance(node, ast.Unary) and node.op == "-":
            origin = out[id(node.operand)]
        elif isinstance(node, ast.Binary) and node.op in "+-":
            origin = joined((node.left, node.right))
        elif isinstance(node, ast.Cond):
            origin = joined((node.then, node.otherwise))
        out[id(node)] = origin
    return out


def _write_instead(value: float) -> str:
    percent = format_double(value * 100)
    return f"write {percent} for {percent}%"


def _fractions_for_percents(program: ast.Program, facts: CheckResult):
    out = []
    origins: dict[str | None, str | None] = {}   # variable key -> origin of its latest value
    fractions: dict[str, float | None] = {}      # user variable -> its latest value, a fraction
    for stmt in program.statements:
        expr = stmt.value if isinstance(stmt, ast.Assign) else stmt.expr
        origin = _percent_origins(expr, facts, origins)
        for node in ast.walk(expr):
            if isinstance(node, ast.Compare):
                for percent, other in ((node.left, node.right), (node.right, node.left)):
                    value = _fraction(other, fractions)
                    if origin[id(percent)] and value is not None:
                        out.append((other.span.start, "FractionForPercent",
                                    f"{origin[id(percent)]} is a percentage (0 to 100), compared "
                                    f"here with the fraction {format_double(value)}; "
                                    + _write_instead(value)))
            elif isinstance(node, (ast.Method, ast.Call)) and id(node) in facts.forms:
                out += _fraction_argument(node, facts.forms[id(node)], fractions)
        if isinstance(stmt, ast.Assign):
            key = _key(facts, stmt)
            origins[key] = origin[id(expr)]
            if key is not None and key.startswith("var:"):
                fractions[stmt.name] = _fraction(expr, fractions)
    return out


def _fraction_argument(node, form, fractions: dict):
    """GetSample's minimum percent or percentile's p given as a fraction."""
    name = node.name.lower()
    if isinstance(node, ast.Method) and name == "getsample" and is_window_form(form) \
            and form.params[-1] is DOUBLE:
        what = "GetSample() takes its minimum"
    elif isinstance(node, ast.Call) and name == "percentile" and len(node.args) == 2:
        what = "percentile() takes p"
    else:
        return []
    arg = node.args[-1]
    value = _fraction(arg, fractions)
    if value is None:
        return []
    return [(arg.span.start, "FractionForPercent",
             f"{what} as a percentage (0 to 100), not the fraction {format_double(value)}; "
             + _write_instead(value))]
