"""Pinned error text with the caret (flake8 style), and positions across line breaks."""

from __future__ import annotations

import pytest

from poolscale.formula import FormulaError, compile_formula
from poolscale.formula.diagnostics import LineIndex


def rendered(text: str) -> str:
    with pytest.raises(FormulaError) as info:
        compile_formula(text)
    return info.value.render("pool.formula")


@pytest.mark.parametrize("text, expected", [
    ("x = 1 $y = 2",
     "pool.formula:1:7: AutoScalingFormulaSyntaxError: ';' probably missing before this statement\n"
     "x = 1 $y = 2\n"
     "      ^"),
    ("x = a < b < c",
     "pool.formula:1:11: AutoScalingFormulaSyntaxError: comparison operators cannot be chained; add parentheses\n"
     "x = a < b < c\n"
     "          ^"),
    ("\tx = 1 # note",
     "pool.formula:1:8: AutoScalingFormulaSyntaxError: unexpected character '#'\n"
     "\tx = 1 # note\n"
     "\t      ^"),
    ("x = 1 +  // more",
     "pool.formula:1:8: AutoScalingFormulaSyntaxError: unexpected end of formula\n"
     "x = 1 +  // more\n"
     "       ^"),
    ('y = 1;\r\nx = "open',
     "pool.formula:2:5: AutoScalingFormulaSyntaxError: unterminated string\n"
     'x = "open\n'
     "    ^"),
    ("$TargetDedicatedNodes = 2 * $PendingTasks.GetSample(TimeInterval_Minute * 3);",
     "pool.formula:1:27: AutoScalingFormulaValidationError: TypeError: operator '*' cannot be applied to "
     "(double, doubleVec)\n"
     "$TargetDedicatedNodes = 2 * $PendingTasks.GetSample(TimeInterval_Minute * 3);\n"
     "                          ^"),
    ("a = 1;\rb = avg($PendingTasks);",
     "pool.formula:2:9: AutoScalingFormulaValidationError: TypeError: $PendingTasks is a sample series; "
     "read it with a method such as GetSample()\n"
     "b = avg($PendingTasks);\n"
     "        ^"),
    ("$currentdedicatednodes = 3;",
     "pool.formula:1:1: AutoScalingFormulaValidationError: ReadOnlyVariable: $currentdedicatednodes is "
     "read-only (service names ignore case: this is $CurrentDedicatedNodes)\n"
     "$currentdedicatednodes = 3;\n"
     "^"),
    ("x = y + 1;",
     "pool.formula:1:5: AutoScalingFormulaValidationError: UndefinedVariable: y is used before it is assigned\n"
     "x = y + 1;\n"
     "    ^"),
    ("x = foo(1);",
     "pool.formula:1:5: AutoScalingFormulaValidationError: UnknownFunction: 'foo' is not a function\n"
     "x = foo(1);\n"
     "    ^"),
])
def test_render_with_caret(text, expected):
    assert rendered(text) == expected


def test_error_carries_code_message_and_detail():
    with pytest.raises(FormulaError) as info:
        compile_formula("x = 1 $y = 2")
    e = info.value
    assert (e.code, e.line, e.column) == ("AutoScalingFormulaSyntaxError", 1, 7)
    assert e.message == "The specified auto-scaling formula has a syntax error."
    assert e.detail == "Line 1, Col 7: ';' probably missing before this statement"
    assert len(e.diagnostics) == 1


@pytest.mark.parametrize("text, offset, position", [
    ("ab\ncd", 3, (2, 1)),
    ("ab\r\ncd", 4, (2, 1)),
    ("ab\rcd", 3, (2, 1)),
    ("a\n\n\tb", 4, (3, 2)),
    ("\U0001F600x", 1, (1, 2)),  # code points, not UTF-16 units
])
def test_line_index_counts_each_break_once(text, offset, position):
    assert LineIndex(text).position(offset) == position


def test_unchecked_evaluation_raises_undefined_variable_at_run_time():
    f = compile_formula("a = 0 && y;\nx = y + 1;", strict=False)
    run = f.evaluate(now=0)
    assert run.error.code == "UndefinedVariable"
    assert run.error.message == "Autoscale evaluation failed due to an undefined variable"
    assert run.error.detail == "Line 2, Col 5: y is used before it is assigned"
    assert run.results == "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;a=0"


def test_compiled_formula_does_not_reparse(monkeypatch):
    import poolscale.formula.formula as module

    f = compile_formula("$TargetDedicatedNodes = 2;")
    monkeypatch.setattr(module, "parse", lambda text: (_ for _ in ()).throw(AssertionError("re-parsed")))
    monkeypatch.setattr(module, "check", lambda *a, **k: (_ for _ in ()).throw(AssertionError("re-checked")))
    for t in range(3):
        assert f.evaluate(now=t).dedicated == 2.0
