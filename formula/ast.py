"""The typed syntax tree of a formula.

Nodes are frozen slotted dataclasses. Every node carries a ``span`` (code-point
offsets) and, where an error is positioned at a particular token
(docs/language.md#error-codes), that token's offset too (an operator, a ``(``, a name). Positions take no part in
equality, so a tree printed back to text and parsed again compares equal to the
original (the printer's round-trip property).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from .diagnostics import Span

_pos = dict(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    text: str = field(default="", compare=False)
    span: Span = field(default=Span(0, 0), **_pos)


@dataclass(frozen=True, slots=True)
class String:
    value: str
    span: Span = field(default=Span(0, 0), **_pos)


@dataclass(frozen=True, slots=True)
class Ref:
    """A name in value position: a user variable, service variable, constant or keyword."""

    name: str
    span: Span = field(default=Span(0, 0), **_pos)


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple["Expr", ...]
    name_offset: int = field(default=0, **_pos)
    lparen: int = field(default=0, **_pos)
    span: Span = field(default=Span(0, 0), **_pos)


@dataclass(frozen=True, slots=True)
class Method:
    receiver: "Expr"
    name: str
    args: tuple["Expr", ...]
    name_offset: int = field(default=0, **_pos)
    lparen: int = field(default=0, **_pos)
    span: Span = field(default=Span(0, 0), **_pos)


@dataclass(frozen=True, slots=True)
class Member:
    receiver: "Expr"
    name: str
    name_offset: int = field(default=0, **_pos)
    span: Span = field(default=Span(0, 0), **_pos)


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: "Expr"
    op_offset: int = field(default=0, **_pos)
    span: Span = field(default=Span(0, 0), **_pos)


@dataclass(frozen=True, slots=True)
class _Infix:
    """The shape of the three two-operand nodes; they stay distinct types (equality compares
    the class) because they type-check and evaluate differently."""

    op: str
    left: "Expr"
    right: "Expr"
    op_offset: int = field(default=0, **_pos)
    span: Span = field(default=Span(0, 0), **_pos)


@dataclass(frozen=True, slots=True)
class Binary(_Infix):
    """Arithmetic: ``+ - * / %``."""


@dataclass(frozen=True, slots=True)
class Compare(_Infix):
    """``< <= > >= == !=``; does not chain."""


@dataclass(frozen=True, slots=True)
class Logic(_Infix):
    """``&&`` and ``||``; the right operand is evaluated lazily."""


@dataclass(frozen=True, slots=True)
class Cond:
    """``cond ? then : otherwise``; only the chosen branch is evaluated."""

    cond: "Expr"
    then: "Expr"
    otherwise: "Expr"
    qmark: int = field(default=0, **_pos)
    span: Span = field(default=Span(0, 0), **_pos)


Expr = Union[Number, String, Ref, Call, Method, Member, Unary, Binary, Compare, Logic, Cond]


@dataclass(frozen=True, slots=True)
class Assign:
    name: str
    value: Expr
    span: Span = field(default=Span(0, 0), **_pos)

    @property
    def name_offset(self) -> int:
        return self.span.start


@dataclass(frozen=True, slots=True)
class ExprStmt:
    expr: Expr
    span: Span = field(default=Span(0, 0), **_pos)


Statement = Union[Assign, ExprStmt]


@dataclass(frozen=True, slots=True)
class Program:
    statements: tuple[Statement, ...]


def children(node) -> tuple:
    """The sub-expressions of a node, left to right (evaluation order)."""
    match node:
        case Call(args=args):
            return args
        case Method(receiver=r, args=args):
            return (r, *args)
        case Member(receiver=r):
            return (r,)
        case Unary(operand=o):
            return (o,)
        case Binary(left=l, right=r) | Compare(left=l, right=r) | Logic(left=l, right=r):
            return (l, r)
        case Cond(cond=c, then=t, otherwise=o):
            return (c, t, o)
        case Assign(value=v):
            return (v,)
        case ExprStmt(expr=e):
            return (e,)
    return ()


def walk(node):
    """Every node below and including ``node``, parents first, left to right.

    Iterative, so that deeply nested input cannot exhaust the Python stack.
    """
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(children(n)))
