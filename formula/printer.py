"""The canonical text of a formula (docs/language.md#syntax): what ``poolscale fmt`` prints.

* One statement per line, each ending in ``;``; a program's text ends with a newline.
* Single spaces around binary operators, ``=``, ``?`` and ``:``; none after a unary
  operator (``--x`` is two unary minuses: there is no ``--`` token); ``, `` between
  arguments.
* Parentheses only where the grammar needs them (docs/language.md#precedence): an operand
  whose precedence is lower than its slot allows. Arithmetic and logic are left-associative, so
  ``a - (b - c)`` keeps its parentheses and ``(a - b) - c`` loses them; ``?:`` is
  right-associative, so only a ``?:`` *condition* that is itself a ``?:`` needs them;
  comparisons do not chain, so a comparison operand of a comparison of the same level
  keeps them (``(a < b) < c``, ``a == (b == c)``), while ``a < b == c`` needs none.
  A number written with digits only is parenthesised as the receiver of ``.member`` or
  ``.Method()`` (``(1).hour``), since ``1.hour`` would lex as the number ``1.`` followed
  by a name; ``1.5.hour`` and ``1e3.hour`` need nothing.
* A number prints as written (``Number.text``, e.g. ``5.``, ``.5``, ``1E3``) when the text
  is a literal of that value. Otherwise (a tree built by hand) it prints the shortest decimal that
  reads back as the same double (Python's ``repr``, minus ``.0`` and the ``+`` of the exponent). The
  forms a literal cannot write are printed as expressions with the same value: Infinity as ``1e999``
  (a literal too large for a double is Infinity, docs/language.md#tokens), a negative number ``-x``
  as unary minus applied to ``x`` (with the precedence of a unary expression), NaN as ``(0 / 0)``.
  Only the first of these reads back as a ``Number``.
* A string prints between double quotes; one whose value holds ``"``, CR or LF cannot
  be written (docs/language.md#tokens has no escapes) and raises ``ValueError``.

Comments are not in the tree and are not printed.

The printer is iterative (an explicit stack of pieces still to emit), so a
formula nested 8,000 levels deep prints without deep recursion, in linear time.
"""

from __future__ import annotations

import math
import re

from . import ast

__all__ = ["to_text", "number_text"]

# Binding strength of each level of the grammar (docs/language.md#grammar), loosest first.
_TERNARY, _OR, _AND, _EQ, _REL, _ADD, _MUL, _UNARY, _POSTFIX = range(1, 10)

_EQ_OPS = frozenset({"==", "!="})
_ADD_OPS = frozenset({"+", "-"})
# the NUMBER token (docs/language.md#tokens)
_LITERAL = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_STRING_BAD = re.compile(r'["\r\n]')


def to_text(node) -> str:
    """The canonical text of a ``Program``, a statement or an expression."""
    if isinstance(node, ast.Program):
        return "".join(_statement(s) + "\n" for s in node.statements)
    if isinstance(node, (ast.Assign, ast.ExprStmt)):
        return _statement(node)
    return _expression(node)


def _statement(stmt) -> str:
    if isinstance(stmt, ast.Assign):
        return f"{stmt.name} = {_expression(stmt.value)};"
    return f"{_expression(stmt.expr)};"


def number_text(node: ast.Number) -> str:
    """The text of a number: as written when ``text`` is a literal of ``value``, else
    the shortest form that reads back as the same double (see the module docstring)."""
    text, _level = _number(node)
    return text


def _number(node: ast.Number) -> tuple[str, int]:
    value, text = node.value, node.text
    if text and _LITERAL.fullmatch(text) and _same(float(text), value):
        return text, _POSTFIX
    if value != value:
        return "(0 / 0)", _POSTFIX + 1  # already parenthesised, even as a receiver
    if math.copysign(1.0, value) < 0:
        return "-" + _shortest(-value), _UNARY
    return _shortest(value), _POSTFIX


def _same(a: float, b: float) -> bool:
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def _shortest(x: float) -> str:
    if x == math.inf:
        return "1e999"
    text = repr(x)  # shortest round-trip form: '100.0', '1e+16', '1.5e-07', '0.1'
    mantissa, _, exponent = text.partition("e")
    if mantissa.endswith(".0"):
        mantissa = mantissa[:-2]
    if exponent:
        exponent = exponent.lstrip("+")
        return f"{mantissa}e{exponent}"
    return mantissa


def _string(node: ast.String) -> str:
    if _STRING_BAD.search(node.value):
        raise ValueError(f"a string holding '\"', CR or LF cannot be written: {node.value!r}")
    return f'"{node.value}"'


def _level(node) -> int:
    """How tightly ``node`` binds when printed without parentheses."""
    match node:
        case ast.Cond():
            return _TERNARY
        case ast.Logic(op=op):
            return _OR if op == "||" else _AND
        case ast.Compare(op=op):
            return _EQ if op in _EQ_OPS else _REL
        case ast.Binary(op=op):
            return _ADD if op in _ADD_OPS else _MUL
        case ast.Unary():
            return _UNARY
        case ast.Number():
            return _number(node)[1]
    return _POSTFIX


def _pieces(node) -> list:
    """The parts of ``node`` in print order: strings, and (child, minimum level) pairs
    that are expanded in turn (a child binding more loosely gets parentheses)."""
    match node:
        case ast.Number():
            return [_number(node)[0]]
        case ast.String():
            return [_string(node)]
        case ast.Ref(name=name):
            return [name]
        case ast.Call(name=name, args=args):
            return [name, "(", *_arguments(args), ")"]
        case ast.Method(receiver=r, name=name, args=args):
            return [(r, _receiver_level(r)), ".", name, "(", *_arguments(args), ")"]
        case ast.Member(receiver=r, name=name):
            return [(r, _receiver_level(r)), ".", name]
        case ast.Unary(op=op, operand=o):
            return [op, (o, _UNARY)]
        case ast.Cond(cond=c, then=t, otherwise=o):
            return [(c, _OR), " ? ", (t, _TERNARY), " : ", (o, _TERNARY)]
    level = _level(node)
    if isinstance(node, ast.Compare):  # no chaining: both operands one level tighter
        return [(node.left, level + 1), f" {node.op} ", (node.right, level + 1)]
    if isinstance(node, (ast.Binary, ast.Logic)):  # left-associative
        return [(node.left, level), f" {node.op} ", (node.right, level + 1)]
    raise TypeError(f"not a formula expression: {node!r}")


def _receiver_level(receiver) -> int:
    # "1.hour" lexes as the number "1." and a name, so a number written with digits
    # only needs parentheses; "1.5.hour", "5..hour" and "1e3.hour" lex as intended.
    if isinstance(receiver, ast.Number) and _number(receiver)[0].isdigit():
        return _POSTFIX + 1
    return _POSTFIX


def _arguments(args) -> list:
    out: list = []
    for i, a in enumerate(args):
        if i:
            out.append(", ")
        out.append((a, _TERNARY))
    return out


def _expression(root) -> str:
    out: list[str] = []
    stack: list = [(root, _TERNARY)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        node, minimum = item
        parts = _pieces(node)
        if _level(node) < minimum:
            parts = ["(", *parts, ")"]
        stack.extend(reversed(parts))
    return "".join(out)
