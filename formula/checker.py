"""The validation phase (docs/language.md#validation): names, types, assignability, definite
assignment.

The statements are straight-line code, so every expression's type is known
statically; the checker walks them in order, each node after its children, and
stops at the first error. Its result (a type for every node, the overload of
every call) is what the compiler specialises the evaluator on, and what the
lints read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import ast
from .builtins import (
    FUNCTIONS, KEYWORDS, MEMBERS, METHODS, Form, Resolved, lookup_function, lookup_method, resolve,
    type_list, value_names,
)
from .depth import deep_stack
from .diagnostics import Diagnostic, LineIndex
from .errors import FormulaValidationError
from .suggest import closest, did_you_mean
from .types import DOUBLE, INTERVAL, NONE, OPTION, SERIES, STRING, TIMESTAMP, UNKNOWN, VEC, Type
from .values import format_double

VALIDATION = "AutoScalingFormulaValidationError"

# docs/language.md#operator-and-type-table, arithmetic rows: (op, left, right) -> result
_BINARY: dict[tuple[str, Type, Type], Type] = {}
for _op in "+-*/":
    _BINARY[(_op, DOUBLE, DOUBLE)] = DOUBLE
    _BINARY[(_op, VEC, DOUBLE)] = VEC
    _BINARY[(_op, VEC, VEC)] = VEC
_BINARY.update({
    ("*", DOUBLE, INTERVAL): INTERVAL,
    ("*", INTERVAL, DOUBLE): INTERVAL,
    ("/", INTERVAL, DOUBLE): INTERVAL,
    ("+", INTERVAL, INTERVAL): INTERVAL,
    ("-", INTERVAL, INTERVAL): INTERVAL,
    ("+", INTERVAL, TIMESTAMP): TIMESTAMP,
    ("+", TIMESTAMP, INTERVAL): TIMESTAMP,
    ("-", TIMESTAMP, TIMESTAMP): INTERVAL,
})
_UNARY = {("-", DOUBLE): DOUBLE, ("-", INTERVAL): INTERVAL, ("!", DOUBLE): DOUBLE}
_COMPARABLE = frozenset({DOUBLE, STRING, TIMESTAMP, INTERVAL})


def _unit_hint(op: str, types, operands) -> str | None:
    """For a plain number beside a time value (``elapsed > 10``, ``time() + 300``), or a
    timeinterval subtracted from a timestamp: the way to write it that the language has.
    None for any other operand types."""
    if len(types) != 2:
        return None
    if op == "-" and types[0] is TIMESTAMP and types[1] in (DOUBLE, INTERVAL):
        amount = _with_unit(operands[1]) if types[1] is DOUBLE else "interval"
        return f"write t + -({amount}): a timestamp goes back by adding a negative timeinterval"
    if types[1] is TIMESTAMP and op != "+" or TIMESTAMP in types and op not in "+-":
        return None
    if DOUBLE not in types or not {INTERVAL, TIMESTAMP} & set(types):
        return None
    amount = _with_unit(operands[types.index(DOUBLE)])
    return f"a plain number has no unit: write {amount} (or _Second, _Hour, ...) for a timeinterval"


def _method_hint(name: str) -> str | None:
    """For a series method called as a function (``GetSample(1)``, the Microsoft samples'
    ``$PendingTasks.GetSample(1)`` with its receiver lost): how to call it, since the message
    alone ("not a function") does not tell a pool owner that the name is right but the form
    is not."""
    method = lookup_method(name)
    canonical = method.canonical if method else closest(name, (m.canonical for m in METHODS.values()))
    if canonical is None:
        return None
    return f"{canonical} is a method of a metric series: write e.g. $PendingTasks.{canonical}(...)"


def _window_hint(method: str, types, args) -> str | None:
    """For ``GetSample(5, 70)`` or ``GetSamplePercent(300)``: a window written as a plain
    number (seconds or minutes, meant), where the language wants a timeinterval."""
    if not types or types[0] is not DOUBLE:
        return None
    amount = f"write {_with_unit(args[0])} (or _Second, _Hour, ...)"
    if method == "GetSample" and len(types) == 2:
        return ("a plain number is a count of samples, which takes no percent; a window is a "
                f"timeinterval: {amount}")
    if method == "GetSamplePercent" and len(types) <= 2:
        return f"a window is a timeinterval: {amount}"
    return None


def _with_unit(number) -> str:
    """``10 * TimeInterval_Minute`` for the literal 10; ``n * TimeInterval_Minute`` otherwise."""
    text = (number.text or format_double(number.value)) if isinstance(number, ast.Number) else "n"
    return f"{text} * TimeInterval_Minute"


def _quoted_keyword_hint(value) -> str | None:
    """For ``$NodeDeallocationOption = "taskcompletion"``: keywords are written without quotes."""
    if not isinstance(value, ast.String):
        return None
    keyword = closest(value.value, (k for k, _ in KEYWORDS.values()))
    if keyword is None and value.value.lower() in KEYWORDS:
        keyword = KEYWORDS[value.value.lower()][0]
    return None if keyword is None else f"write the keyword without quotes: {keyword}"


class _Invalid(Exception):
    def __init__(self, offset: int, kind: str, text: str, hint: str | None = None) -> None:
        self.offset, self.kind, self.text, self.hint = offset, kind, text, hint


@dataclass
class CheckResult:
    """What the checker learned: the facts the compiler and the lints need."""

    types: dict[int, Type] = field(default_factory=dict)        # id(node) -> static type
    forms: dict[int, Form] = field(default_factory=dict)        # id(call) -> overload
    names: dict[int, Resolved] = field(default_factory=dict)    # id(ref/assign) -> resolution
    implicit: list[int] = field(default_factory=list)           # offsets of single-sample conversions
    converted: set[int] = field(default_factory=set)            # id(expr) converted to a double


def check(program: ast.Program, source: str, *, strict: bool = True) -> CheckResult:
    """Validate ``program``; raise ``FormulaValidationError`` at the first problem.

    With ``strict=False`` a read of a user variable before its assignment is not
    an error: the reference gets the type UNKNOWN and fails when evaluated (the
    evaluator "driven without the checker", docs/language.md#user-variables).
    """
    checker = _Checker(strict)
    try:
        with deep_stack():
            for stmt in program.statements:
                checker.statement(stmt)
    except _Invalid as bad:
        raise FormulaValidationError(
            [Diagnostic.at(LineIndex(source), bad.offset, VALIDATION, f"{bad.kind}: {bad.text}",
                           hint=bad.hint)],
            source) from None
    return checker.result


class _Checker:
    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.defined: dict[str, Type] = {}
        self.result = CheckResult()

    # -- statements ---------------------------------------------------------------------------

    def statement(self, stmt) -> None:
        if isinstance(stmt, ast.ExprStmt):
            self.expr(stmt.expr)
            return
        value_type = self.expr(stmt.value)
        res = resolve(stmt.name)
        self.result.names[id(stmt)] = res
        at = stmt.name_offset
        if res.kind in ("series", "scalar", "constant", "keyword"):
            text = f"{stmt.name} is read-only"
            if stmt.name != res.canonical:
                text += f" (service names ignore case: this is {res.canonical})"
            raise _Invalid(at, "ReadOnlyVariable", text)
        self.no_none(stmt.value, value_type)
        if res.kind == "target":
            wanted = res.target.type
            if wanted is DOUBLE and value_type is VEC:
                self.convert(stmt.value)
            elif value_type is not wanted and value_type is not UNKNOWN:
                raise _Invalid(at, "TypeError", f"cannot assign {value_type} to {stmt.name}",
                               _quoted_keyword_hint(stmt.value) if wanted is OPTION else None)
            return
        self.defined[stmt.name] = value_type

    # -- expressions --------------------------------------------------------------------------

    def expr(self, node) -> Type:
        t = self._expr(node)
        self.result.types[id(node)] = t
        return t

    def _expr(self, node) -> Type:
        match node:
            case ast.Number():
                return DOUBLE
            case ast.String():
                return STRING
            case ast.Ref():
                return self.ref(node)
            case ast.Call():
                return self.call(node)
            case ast.Method():
                return self.method(node)
            case ast.Member():
                return self.member(node)
            case ast.Unary():
                t = self.expr(node.operand)
                self.no_none(node.operand, t)
                return self.lookup(_UNARY.get((node.op, t)), (t,), node, (node.operand,))
            case ast.Binary():
                lt, rt = self.expr(node.left), self.expr(node.right)
                self.no_none(node.left, lt)
                self.no_none(node.right, rt)
                return self.lookup(_BINARY.get((node.op, lt, rt)), (lt, rt), node,
                                   (node.left, node.right))
            case ast.Compare():
                return self.compare(node)
            case ast.Logic():
                return self.logic(node)
            case ast.Cond():
                return self.cond(node)
        raise AssertionError(f"unknown node {node!r}")  # pragma: no cover

    def lookup(self, result, operand_types, node, operands) -> Type:
        if result is not None:
            return result
        if UNKNOWN in operand_types:
            return UNKNOWN
        raise _Invalid(node.op_offset, "TypeError",
                       f"operator '{node.op}' cannot be applied to {type_list(operand_types)}",
                       _unit_hint(node.op, operand_types, operands))

    def no_none(self, node, t: Type) -> None:
        if t is NONE:
            raise _Invalid(node.span.start, "TypeError", "stop() has no value")

    def convert(self, node) -> None:
        """A doubleVec where one double is needed: single-sample conversion
        (docs/language.md#single-sample-conversion)."""
        self.result.implicit.append(node.span.start)
        self.result.converted.add(id(node))

    def ref(self, node: ast.Ref) -> Type:
        res = resolve(node.name)
        self.result.names[id(node)] = res
        kind = res.kind
        if kind == "series":
            raise _Invalid(node.span.start, "TypeError",
                           f"{node.name} is a sample series; read it with a method such as GetSample()")
        if kind == "scalar":
            return DOUBLE
        if kind == "target":
            return res.target.type
        if kind == "constant":
            return INTERVAL
        if kind == "keyword":
            return OPTION
        t = self.defined.get(node.name)
        if t is None:
            if self.strict:
                raise _Invalid(node.span.start, "UndefinedVariable",
                               f"{node.name} is used before it is assigned",
                               did_you_mean(node.name, [*value_names(), *self.defined]))
            return UNKNOWN
        return t

    def args(self, args) -> tuple[Type, ...]:
        types = tuple(self.expr(a) for a in args)
        for a, t in zip(args, types):
            self.no_none(a, t)
        return types

    def call(self, node: ast.Call) -> Type:
        types = self.args(node.args)
        fn = lookup_function(node.name)
        if fn is None:
            raise _Invalid(node.name_offset, "UnknownFunction", f"'{node.name}' is not a function",
                           did_you_mean(node.name, (f.canonical for f in FUNCTIONS.values()))
                           or _method_hint(node.name))
        return self.overload(fn, types, node)

    def overload(self, fn, types, node) -> Type:
        if UNKNOWN in types:
            return UNKNOWN
        form = fn.match(types)
        if form is None:
            raise _Invalid(node.name_offset, "TypeError",
                           f"'{node.name}' has no form taking {type_list(types)}",
                           _window_hint(fn.canonical, types, node.args))
        self.result.forms[id(node)] = form
        return form.result

    def receiver(self, node) -> tuple[Type, str]:
        """The receiver's type, and how messages name it (type, or $Name as written)."""
        r = node.receiver
        if isinstance(r, ast.Ref):
            res = resolve(r.name)
            if res.kind == "series":
                self.result.names[id(r)] = res
                self.result.types[id(r)] = SERIES
                return SERIES, r.name
        t = self.expr(r)
        self.no_none(r, t)
        return t, str(t)

    def method(self, node: ast.Method) -> Type:
        rtype, rname = self.receiver(node)
        types = self.args(node.args)
        fn = lookup_method(node.name) if rtype is SERIES else None
        if fn is None:
            if rtype is UNKNOWN:
                return UNKNOWN
            hint = did_you_mean(node.name, (m.canonical for m in METHODS.values())) \
                if rtype is SERIES else None
            raise _Invalid(node.name_offset, "UnknownMember", f"{rname} has no method '{node.name}'",
                           hint)
        return self.overload(fn, types, node)

    def member(self, node: ast.Member) -> Type:
        rtype, rname = self.receiver(node)
        if rtype is TIMESTAMP and node.name.lower() in MEMBERS:
            return DOUBLE
        if rtype is UNKNOWN:
            return UNKNOWN
        hint = (did_you_mean(node.name, MEMBERS.values())
                or f"a timestamp's members are {', '.join(MEMBERS.values())}") \
            if rtype is TIMESTAMP else None
        raise _Invalid(node.name_offset, "UnknownMember", f"{rname} has no member '{node.name}'",
                       hint)

    def compare(self, node: ast.Compare) -> Type:
        lt, rt = self.expr(node.left), self.expr(node.right)
        self.no_none(node.left, lt)
        self.no_none(node.right, rt)
        if UNKNOWN in (lt, rt):
            return UNKNOWN
        a = DOUBLE if lt is VEC else lt
        b = DOUBLE if rt is VEC else rt
        if a is not b or a not in _COMPARABLE:
            raise _Invalid(node.op_offset, "TypeError",
                           f"operator '{node.op}' cannot be applied to {type_list((lt, rt))}",
                           _unit_hint(node.op, (a, b), (node.left, node.right)))
        if lt is VEC:
            self.convert(node.left)
        if rt is VEC:
            self.convert(node.right)
        return DOUBLE

    def logic(self, node: ast.Logic) -> Type:
        """``&&`` and ``||`` take two doubles and give a double.

        The right operand is lazy, so an unknown type there (unchecked runs) must not make the
        whole expression unknown: ``1 || y`` is 1 without reading ``y``, and an operator applied
        to it (``-(1 || y)``) needs its type. An unknown left operand is always read first and
        fails, so only then is the result unknown. A left operand of another known type is an
        error whatever the right one turns out to be: its truth would be tested first."""
        lt, rt = self.expr(node.left), self.expr(node.right)
        self.no_none(node.left, lt)
        self.no_none(node.right, rt)
        if lt is UNKNOWN:
            return UNKNOWN
        if lt is DOUBLE and rt in (DOUBLE, UNKNOWN):
            return DOUBLE
        raise _Invalid(node.op_offset, "TypeError",
                       f"operator '{node.op}' cannot be applied to {type_list((lt, rt))}")

    def cond(self, node: ast.Cond) -> Type:
        ct = self.expr(node.cond)
        tt = self.expr(node.then)
        et = self.expr(node.otherwise)
        self.no_none(node.cond, ct)
        if ct is VEC:
            self.convert(node.cond)
        elif ct is not DOUBLE and ct is not UNKNOWN:
            raise _Invalid(node.qmark, "TypeError", f"condition of '?:' must be a double, not {ct}")
        return self.branches(node, tt, et)

    def branches(self, node: ast.Cond, tt: Type, et: Type) -> Type:
        """The type of a ``?:``: the type of the branches that can give a value.

        A ``stop()`` branch never gives one, nor does a branch of unknown type (unchecked runs:
        it reads an unassigned variable, which fails), so the other branch decides:
        ``1 ? 2 : y`` is a double, and ``-(1 ? 2 : y)`` is 2 negated. Only when neither branch
        can give a value is the ``?:`` itself ``stop()`` (both stop) or unknown. This keeps the
        invariant the compiler relies on: a node of unknown type never gives a value."""
        valued = {t for t in (tt, et) if t is not NONE and t is not UNKNOWN}
        if len(valued) == 1:
            return valued.pop()
        if not valued:
            return NONE if tt is NONE and et is NONE else UNKNOWN
        raise _Invalid(node.qmark, "TypeError", f"branches of '?:' have different types ({tt}, {et})")
