"""The canonical text of ``poolscale.formula.printer.to_text`` pinned exactly.

Each case is (source, canonical text). Every canonical text must parse back to
the same tree and print to itself (the general property is checked on generated
formulas in test_properties.py).
"""

from __future__ import annotations

import math

import pytest

from poolscale.formula import ast
from poolscale.formula.parser import parse
from poolscale.formula.printer import number_text, to_text

CASES = [
    # spacing, one statement per line, comments and empty statements dropped
    ("x=1+2*3", "x = 1 + 2 * 3;\n"),
    ("a = 1;;  b=2; // note\n/* c */ ;", "a = 1;\nb = 2;\n"),
    ("", ""),
    # left-associative arithmetic: parentheses only on the right
    ("x = (a - b) - c; y = a - (b - c); z = a / (b * c); w = (a / b) * c;",
     "x = a - b - c;\ny = a - (b - c);\nz = a / (b * c);\nw = a / b * c;\n"),
    # precedence removes and keeps parentheses (docs/language.md#e1-precedence)
    ("a = (2 + (3 * 4)) - (-1); b = ((1 + 2) < 4) == 1; c = (!0) + 1; f = (0 || 1) ? 10 : 20;",
     "a = 2 + 3 * 4 - -1;\nb = 1 + 2 < 4 == 1;\nc = !0 + 1;\nf = 0 || 1 ? 10 : 20;\n"),
    ("x = (a + b) * (c - d) % e;", "x = (a + b) * (c - d) % e;\n"),
    # comparisons do not chain: a comparison operand of a comparison keeps its parentheses
    ("x = (a < b) < c; y = a == (b == c); z = a < b == c; w = a == (b < c);",
     "x = (a < b) < c;\ny = a == (b == c);\nz = a < b == c;\nw = a == b < c;\n"),
    # ?: is right-associative: only a ?: condition needs parentheses
    ("e = 1 ? 2 : (0 ? 3 : 4); f = (1 ? 2 : 0) ? 3 : 4; g = a ? (b ? c : d) : e;",
     "e = 1 ? 2 : 0 ? 3 : 4;\nf = (1 ? 2 : 0) ? 3 : 4;\ng = a ? b ? c : d : e;\n"),
    ("x = (a || b) && c; y = a || (b && c); z = (a && b) || c; w = a && (b && c);",
     "x = (a || b) && c;\ny = a || b && c;\nz = a && b || c;\nw = a && (b && c);\n"),
    ("x = (a ? b : c) + 1; y = -(a ? b : c); z = f(a ? b : c, (d));",
     "x = (a ? b : c) + 1;\ny = -(a ? b : c);\nz = f(a ? b : c, d);\n"),
    # nested unary operators print without spaces or parentheses
    ("x = -(-(-y)); z = !(!(0)); w = - ! - 1; v = -(2) * 3; u = -(2 * 3);",
     "x = ---y;\nz = !!0;\nw = -!-1;\nv = -2 * 3;\nu = -(2 * 3);\n"),
    # method chains and member access
    ("t = (time() + (TimeInterval_Hour)).hour; h = -(time().hour); g = (-x).weekday;",
     "t = (time() + TimeInterval_Hour).hour;\nh = -time().hour;\ng = (-x).weekday;\n"),
    ("v = $PendingTasks . GetSample ( TimeInterval_Minute * 5 , 70 ) ;",
     "v = $PendingTasks.GetSample(TimeInterval_Minute * 5, 70);\n"),
    ("v = (($X).GetSample(1)).Count().foo.bar(1, (2), f());",
     "v = $X.GetSample(1).Count().foo.bar(1, 2, f());\n"),
    # a digits-only number receiver keeps its parentheses: "1.hour" lexes as "1." and a name
    ("a = (1).hour; b = (1.5).x(); c = (.5).y; d = (5.).z; e = (1e3).w; f = (007).v;",
     "a = (1).hour;\nb = 1.5.x();\nc = .5.y;\nd = 5..z;\ne = 1e3.w;\nf = (007).v;\n"),
    # numbers as written, strings with their quotes
    ("n = 5. + .5 + 1E3 + 1.5e-3 + 007 + 1e999 + 0.10;", "n = 5. + .5 + 1E3 + 1.5e-3 + 007 + 1e999 + 0.10;\n"),
    ('s = time("2026-03-02T10:00:00Z"); e = "" < "a\\b // not a comment";',
     's = time("2026-03-02T10:00:00Z");\ne = "" < "a\\b // not a comment";\n'),
    # expression statements, stop(), case kept as written
    ("queued == 0 ? stop() : 0; STOP()", "queued == 0 ? stop() : 0;\nSTOP();\n"),
    ("$targetdedicated = MAX(1, $pendingtasks.getsample(1));",
     "$targetdedicated = MAX(1, $pendingtasks.getsample(1));\n"),
    # a line break inside an expression is whitespace only
    ("x = 1 +\n  2\n  * 3\n;\n$TargetDedicatedNodes = x", "x = 1 + 2 * 3;\n$TargetDedicatedNodes = x;\n"),
]


@pytest.mark.parametrize("source, expected", CASES, ids=[c[0][:40] for c in CASES])
def test_canonical_text(source: str, expected: str) -> None:
    program = parse(source)
    text = to_text(program)
    assert text == expected
    assert parse(text) == program
    assert to_text(parse(text)) == text


def test_expressions_and_statements_print_alone() -> None:
    program = parse("x = a - (b - c); f(1)")
    assign, call = program.statements
    assert to_text(assign) == "x = a - (b - c);"
    assert to_text(assign.value) == "a - (b - c)"
    assert to_text(call) == "f(1);"
    assert to_text(call.expr) == "f(1)"


@pytest.mark.parametrize("value, text", [
    (1.0, "1"), (0.0, "0"), (100.0, "100"), (0.1, "0.1"), (1e16, "1e16"),
    (1.5e-7, "1.5e-07"), (123456789012345680.0, "1.2345678901234568e17"),
    (5e-324, "5e-324"), (math.inf, "1e999"),
])
def test_numbers_without_source_text(value: float, text: str) -> None:
    node = ast.Number(value)
    assert number_text(node) == text
    (stmt,) = parse(f"x = {text};").statements
    assert isinstance(stmt.value, ast.Number) and stmt.value.value == value


def test_numbers_a_literal_cannot_write() -> None:
    x = ast.Ref("x")
    assert to_text(ast.Number(-2.5)) == "-2.5"
    assert to_text(ast.Binary("*", ast.Number(-2.0), x)) == "-2 * x"
    assert to_text(ast.Binary("-", x, ast.Number(-2.0))) == "x - -2"
    assert to_text(ast.Member(ast.Number(-2.0), "hour")) == "(-2).hour"
    assert to_text(ast.Number(-0.0)) == "-0"
    assert to_text(ast.Number(math.nan)) == "(0 / 0)"
    assert to_text(ast.Member(ast.Number(math.nan), "hour")) == "(0 / 0).hour"
    # text that does not spell the value is not trusted
    assert to_text(ast.Number(2.0, text="3")) == "2"


def test_unwritable_strings_raise() -> None:
    for value in ('say "hi"', "two\nlines", "cr\r"):
        with pytest.raises(ValueError):
            to_text(ast.String(value))


def test_deep_nesting_prints_without_recursion() -> None:
    depth = 8000
    assert to_text(parse("x = " + "-" * depth + "1;")) == "x = " + "-" * depth + "1;\n"
    assert to_text(parse("x = " + "(" * 4000 + "1" + ")" * 4000 + ";")) == "x = 1;\n"
    right = parse("x = " + "1-(" * 2000 + "1" + ")" * 2000 + ";")
    assert to_text(right) == "x = " + "1 - (" * 1999 + "1 - 1" + ")" * 1999 + ";\n"
    left = parse("x = " + "(" * 2000 + "1" + "-1)" * 2000 + ";")
    assert to_text(left) == "x = 1" + " - 1" * 2000 + ";\n"
