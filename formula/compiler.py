"""The evaluation phase: a checked program compiled once to Python closures.

Every node becomes one closure ``f(state) -> value`` specialised on the static types the checker
found, so a run does no type dispatch, no tree walking and no parsing: "compile once, evaluate many
times". Operands are evaluated left to right, each completely before the next
(docs/language.md#evaluation-order); ``?:``, ``&&`` and ``||`` evaluate lazily
(docs/language.md#logic-laziness-and-stop). Runtime errors are ``EvaluationError`` with the offset
where the documented error is positioned.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from . import ast
from .builtins import LIST, Resolved
from .checker import CheckResult
from .depth import deep_stack
from .errors import EvaluationError
from .methods import Site
from .types import DOUBLE, INTERVAL, SERIES, TIMESTAMP, UNKNOWN, VEC
from .values import (
    INTERVAL_MAX, INTERVAL_MIN, MAX_TIMESTAMP_TICKS, MIN_TIMESTAMP_TICKS, TimeInterval, Timestamp,
    timestamp_field,
)

Closure = Callable[[object], object]
_INF = math.inf
_NAN = math.nan
_TWO63 = 9.223372036854775808e18


def divide(a: float, b: float) -> float:
    """IEEE division: Python raises on a zero divisor, the language does not
    (docs/language.md#double-arithmetic)."""
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return _NAN
        return _INF if (a > 0) == (math.copysign(1.0, b) > 0) else -_INF


def compile_program(program: ast.Program, facts: CheckResult) -> list[Closure]:
    compiler = _Compiler(facts)
    with deep_stack():
        return [compiler.statement(s) for s in program.statements]


class _Compiler:
    def __init__(self, facts: CheckResult) -> None:
        self.facts = facts
        #: id(node) -> (closure, value) for literals, constant names and folded operators
        self.constants: dict[int, tuple[Closure, object]] = {}

    def type_of(self, node):
        return self.facts.types.get(id(node), UNKNOWN)

    # -- statements ---------------------------------------------------------------------------

    def statement(self, stmt) -> Closure:
        if isinstance(stmt, ast.ExprStmt):
            return self.expr(stmt.expr)
        value = self.expr(stmt.value)
        res: Resolved = self.facts.names[id(stmt)]
        if res.kind == "target":
            target = res.target
            if target.slot == "option":
                def assign_option(s):
                    s.option = value(s)
                return assign_option
            alias, offset, slot = target.alias, stmt.name_offset, target.slot

            def assign_target(s):
                getattr(s, slot).assign(value(s), alias, offset)
            return assign_target
        name = stmt.name

        def assign(s):
            s.vars[name] = value(s)
        return assign

    # -- expressions --------------------------------------------------------------------------

    def expr(self, node) -> Closure:
        fn = self._expr(node)
        if id(node) in self.facts.converted:
            fn = _single(fn, node.span.start)
        return fn

    def _expr(self, node) -> Closure:
        match node:
            case ast.Number(value=v) | ast.String(value=v):
                return self.constant(node, v)
            case ast.Ref():
                return self.ref(node)
            case ast.Cond():
                c, t, e = self.expr(node.cond), self.expr(node.then), self.expr(node.otherwise)
                return lambda s: t(s) if c(s) != 0 else e(s)
            case ast.Logic():
                l, r = self.expr(node.left), self.expr(node.right)
                if node.op == "&&":
                    return lambda s: (1.0 if r(s) != 0 else 0.0) if l(s) != 0 else 0.0
                return lambda s: 1.0 if l(s) != 0 else (1.0 if r(s) != 0 else 0.0)
        if self.type_of(node) is UNKNOWN:
            return self.unknown(node)
        match node:
            case ast.Call():
                return self.call(node)
            case ast.Method():
                return self.method(node)
            case ast.Member():
                recv, member = self.expr(node.receiver), node.name.lower()
                return lambda s: timestamp_field(recv(s), member)
            case ast.Unary():
                return self.unary(node)
            case ast.Binary():
                return self.binary(node)
            case ast.Compare():
                return self.compare(node)
        raise AssertionError(f"cannot compile {node!r}")  # pragma: no cover

    def constant(self, node, value) -> Closure:
        fn = lambda s: value  # noqa: E731
        self.constants[id(node)] = (fn, value)
        return fn

    def fold(self, node, fn: Closure, operands) -> Closure:
        """Constant folding: an operator whose operands are all constants (literals,
        TimeInterval_* and keywords, or operators folded before) runs once, here, instead
        of in every evaluation (``TimeInterval_Minute * 10``). Only arithmetic, unary and
        comparison operators are folded, which have no side effects and no control flow
        (never ``?:``, ``&&``, ``||`` or a call), so every run sees the same value. An
        operator that fails (an interval out of range) stays a closure and fails at run
        time, at its position, as before. An operand closure that a subclass has wrapped
        (explain, coverage) is not the recorded one, so its operator is not folded."""
        for operand, closure in operands:
            known = self.constants.get(id(operand))
            if known is None or known[0] is not closure:
                return fn
        try:
            value = fn(None)
        except Exception:  # noqa: BLE001 - whatever it raises, it raises at run time
            return fn
        return self.constant(node, value)

    def unknown(self, node) -> Closure:
        """A node whose type depends on an unassigned variable (unchecked runs only):
        evaluating its operands in order reaches the failing read first.

        The checker gives a node the unknown type only when evaluating it cannot give a value
        (a lazy ``?:``, ``&&`` or ``||`` takes its type from the operands that can), so the
        loop below always raises. A series receiver is not a value and is not evaluated."""
        parts = [self.expr(c) for c in ast.children(node)
                 if self.facts.types.get(id(c)) not in (None, SERIES)]

        def run(s):
            for p in parts:
                p(s)
            raise AssertionError("unreachable: an operand of unknown type must fail")  # pragma: no cover
        return run

    def ref(self, node: ast.Ref) -> Closure:
        res: Resolved = self.facts.names[id(node)]
        kind = res.kind
        if kind in ("constant", "keyword"):
            return self.constant(node, res.value)
        if kind == "scalar":
            attr = {"$currentdedicatednodes": "current_dedicated", "$currentdedicated": "current_dedicated",
                    "$currentlowprioritynodes": "current_low_priority",
                    "$taskslotspernode": "task_slots_per_node"}[res.canonical.lower()]
            return lambda s: float(getattr(s.pool, attr))
        if kind == "target":
            if res.target.slot == "option":
                return lambda s: s.option
            slot = res.target.slot
            return lambda s: getattr(s, slot).current
        name, offset = node.name, node.span.start

        def read(s):
            try:
                return s.vars[name]
            except KeyError:
                raise EvaluationError("UndefinedVariable", offset,
                                      f"{name} is used before it is assigned") from None
        return read

    def call(self, node: ast.Call) -> Closure:
        form = self.facts.forms[id(node)]
        impl, lp = form.impl, node.lparen
        if form.params == (LIST,):
            flat = self.flatten(node.args)
            return lambda s: impl(s, lp, flat(s))
        args = [self.expr(a) for a in node.args]
        if not args:
            return lambda s: impl(s, lp)
        if len(args) == 1:
            (a,) = args
            return lambda s: impl(s, lp, a(s))
        a, b = args
        return lambda s: impl(s, lp, a(s), b(s))

    def flatten(self, args) -> Closure:
        """A doubleVecList: the arguments evaluated left to right, flattened
        (docs/language.md#types)."""
        closures = [self.expr(a) for a in args]
        kinds = [self.type_of(a) for a in args]
        if all(k is DOUBLE for k in kinds):
            return lambda s: [f(s) for f in closures]
        if len(closures) == 1:
            return closures[0]

        def flat(s):
            parts = [f(s) if k is VEC else np.array((f(s),)) for f, k in zip(closures, kinds)]
            return np.concatenate(parts)
        return flat

    def method(self, node: ast.Method) -> Closure:
        form = self.facts.forms[id(node)]
        impl = form.impl
        site = Site(self.facts.names[id(node.receiver)].canonical, node.lparen)
        args = [self.expr(a) for a in node.args]
        if not args:
            return lambda s: impl(s, site)
        if len(args) == 1:
            (a,) = args
            return lambda s: impl(s, site, a(s))
        if len(args) == 2:
            a, b = args
            return lambda s: impl(s, site, a(s), b(s))
        a, b, c = args
        return lambda s: impl(s, site, a(s), b(s), c(s))

    def unary(self, node: ast.Unary) -> Closure:
        f = self.expr(node.operand)
        return self.fold(node, self._unary(node, f), ((node.operand, f),))

    def _unary(self, node: ast.Unary, f: Closure) -> Closure:
        if node.op == "!":
            return lambda s: 1.0 if f(s) == 0 else 0.0
        if self.type_of(node.operand) is DOUBLE:
            return lambda s: -f(s)
        check = _interval_check("-", node.op_offset)
        return lambda s: check(-f(s).ticks)

    def binary(self, node: ast.Binary) -> Closure:
        l, r = self.expr(node.left), self.expr(node.right)
        return self.fold(node, self._binary(node, l, r), ((node.left, l), (node.right, r)))

    def _binary(self, node: ast.Binary, l: Closure, r: Closure) -> Closure:
        lt, rt, op, at = self.type_of(node.left), self.type_of(node.right), node.op, node.op_offset
        if lt is DOUBLE and rt is DOUBLE:
            return _DOUBLE_OPS[op](l, r)
        if lt is VEC:
            return _vector_op(op, l, r, at, both=rt is VEC)
        if lt is TIMESTAMP or rt is TIMESTAMP:
            return _timestamp_op(op, l, r, lt, rt, at)
        return _interval_op(op, l, r, lt, rt, at)

    def compare(self, node: ast.Compare) -> Closure:
        l, r = self.expr(node.left), self.expr(node.right)
        if self.type_of(node.left) in (TIMESTAMP, INTERVAL):
            test = _COMPARE[node.op]
            fn = lambda s: 1.0 if test(l(s).ticks, r(s).ticks) else 0.0  # noqa: E731
        else:
            fn = _COMPARE_DOUBLES[node.op](l, r)
        return self.fold(node, fn, ((node.left, l), (node.right, r)))


def _single(fn: Closure, offset: int) -> Closure:
    """Single-sample conversion (docs/language.md#single-sample-conversion): a one-element vector
    becomes its element."""
    def convert(s):
        v = fn(s)
        if len(v) != 1:
            raise EvaluationError("InvalidVectorConversion", offset,
                                  f"expected a single value, got a vector of length {len(v)}")
        return float(v[0])
    return convert


_DOUBLE_OPS = {
    "+": lambda l, r: lambda s: l(s) + r(s),
    "-": lambda l, r: lambda s: l(s) - r(s),
    "*": lambda l, r: lambda s: l(s) * r(s),
    "/": lambda l, r: lambda s: divide(l(s), r(s)),
}

_COMPARE = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}

# One closure per operator: a run calls no comparison helper (the hot path of every ?:).
_COMPARE_DOUBLES = {
    "<": lambda l, r: lambda s: 1.0 if l(s) < r(s) else 0.0,
    "<=": lambda l, r: lambda s: 1.0 if l(s) <= r(s) else 0.0,
    ">": lambda l, r: lambda s: 1.0 if l(s) > r(s) else 0.0,
    ">=": lambda l, r: lambda s: 1.0 if l(s) >= r(s) else 0.0,
    "==": lambda l, r: lambda s: 1.0 if l(s) == r(s) else 0.0,
    "!=": lambda l, r: lambda s: 1.0 if l(s) != r(s) else 0.0,
}

_NUMPY = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}


def _vector_op(op: str, l: Closure, r: Closure, at: int, *, both: bool) -> Closure:
    ufunc = _NUMPY[op]
    if not both:
        return lambda s: ufunc(l(s), r(s))

    def elementwise(s):
        a, b = l(s), r(s)
        if len(a) != len(b):
            raise EvaluationError("VectorLengthMismatch", at,
                                  f"operator '{op}' needs vectors of equal length, got {len(a)} and {len(b)}")
        return ufunc(a, b)
    return elementwise


def _out_of_range(op: str, at: int) -> EvaluationError:
    return EvaluationError("InvalidArgument", at, f"operator '{op}' gives a time value out of range")


def _interval_check(op: str, at: int):
    def check(ticks: int) -> TimeInterval:
        if INTERVAL_MIN <= ticks <= INTERVAL_MAX:
            return TimeInterval(ticks)
        raise _out_of_range(op, at)
    return check


def _scaled(op: str, at: int):
    """A tick count scaled in doubles, rounded half to even (docs/language.md#time-arithmetic)."""
    def make(x: float) -> TimeInterval:
        if x != x or not (-_TWO63 <= x < _TWO63):
            raise _out_of_range(op, at)
        return TimeInterval(round(x))
    return make


def _interval_op(op, l, r, lt, rt, at) -> Closure:
    if op in "+-":
        check = _interval_check(op, at)
        if op == "+":
            return lambda s: check(l(s).ticks + r(s).ticks)
        return lambda s: check(l(s).ticks - r(s).ticks)
    make = _scaled(op, at)
    if op == "/":
        return lambda s: make(divide(float(l(s).ticks), r(s)))
    if lt is DOUBLE:
        return lambda s: make(l(s) * float(r(s).ticks))
    return lambda s: make(float(l(s).ticks) * r(s))


def _timestamp_op(op, l, r, lt, rt, at) -> Closure:
    if op == "-":  # timestamp - timestamp
        return lambda s: TimeInterval(l(s).ticks - r(s).ticks)

    def stamp(ticks: int) -> Timestamp:
        if MIN_TIMESTAMP_TICKS <= ticks <= MAX_TIMESTAMP_TICKS:
            return Timestamp(ticks)
        raise _out_of_range(op, at)
    return lambda s: stamp(l(s).ticks + r(s).ticks)


__all__ = ["compile_program", "divide"]
