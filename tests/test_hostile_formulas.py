"""Hostile formulas through every library entry point: compile (strict and not), evaluate,
the lints, the decision trace (explain) and fmt. Whatever the text, compiling raises nothing but
a FormulaError and the rest raises nothing at all; a run that fails carries one of the
service's error codes.

The property tests build formulas that read unassigned names (``z``, ``w``) inside the lazy
operands of ``?:``, ``&&`` and ``||``, under every other operator, function, method, member
and comparison: an unchecked run (``strict=False``) must then behave as the service's
evaluator does, failing with ``UndefinedVariable`` exactly when such a read is evaluated.
"""

from __future__ import annotations

import json
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poolscale.formula import ERROR_MESSAGES, FormulaError, compile_formula
from poolscale.formula.formatter import FormatError, format_text
from poolscale.formula.timeparse import parse_iso_time
from poolscale.formula.trace import explain
from poolscale.runtime.coverage import instrument
from poolscale.runtime.scenario import scenario_from_dict
from test_properties import EXPLICIT, formula_like, long_text, mutated

NOW = 10**17
SCENARIO = scenario_from_dict({
    "time": "2026-03-02T10:00:00Z",
    "samples": {"$PendingTasks": "3 4 _ 6 7 _ 9 10", "$CPUPercent": "50x20"},
    "seed": 7,
})
T = parse_iso_time("2026-03-02T10:00:00Z")
UNKNOWN_READ = re.compile(r"^Line \d+, Col \d+: (z|w) is used before it is assigned$")


def run_unchecked(text: str):
    return compile_formula(text, strict=False).evaluate(None, now=NOW)


# ---------------------------------------------------------------------------------------------
# an unassigned name in a lazy operand (unchecked runs)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("y = -(1 ? 2 : z);", "-2"),
    ("y = (0 ? z : 2) + 1;", "3"),
    ("y = max(1 ? 2 : z, 1);", "2"),
    ("y = -(1 || z);", "-1"),
    ("y = !(0 && z);", "1"),
    ("y = (1 ? 2 : z) < 3;", "1"),
    ("y = (1 ? 2 : z) == (0 ? z : 2);", "1"),
    ("y = ((1 || z) ? 4 : z) * 2;", "8"),
    ("y = (1 ? time() : z).year;", "317"),
    ('y = (1 ? "s" : z) == "s";', "1"),
    ("y = len(1 ? $PendingTasks.GetSample(1) : z);", "0"),
    ("y = $PendingTasks.GetSamplePercent(1 ? TimeInterval_Minute : z);", "0"),
    ("y = (1 ? TimeInterval_Minute : z) * 2;", "00:02:00"),
    ("x = 1 ? 2 : z; y = x + 1;", "3"),
    ("x = 1 ? stop() : z; y = 1;", None),
])
def test_a_lazy_operand_that_reads_an_unassigned_name_and_is_skipped_does_not_matter(text, value):
    run = run_unchecked(text)
    assert run.error is None
    if value is not None:
        assert run.results.endswith(f";y={value}")


@pytest.mark.parametrize("text, column", [
    ("y = -(0 ? 2 : z);", 15),
    ("y = (1 ? z : 2) + 1;", 10),
    ("y = max(0 ? 2 : z, 1);", 17),
    ("y = -(0 || z);", 12),
    ("y = !(1 && z);", 12),
    ("x = 0 ? 2 : z; y = x + 1;", 13),
    ("y = $PendingTasks.GetSample(z);", 29),
    ("y = $PendingTasks.GetSample(TimeInterval_Minute, z) + 1;", 50),
])
def test_a_lazy_operand_that_reads_an_unassigned_name_and_runs_fails_as_the_service_does(text, column):
    run = run_unchecked(text)
    assert run.error is not None
    assert run.error.code == "UndefinedVariable"
    assert run.error.message == "Autoscale evaluation failed due to an undefined variable"
    assert run.error.detail == f"Line 1, Col {column}: z is used before it is assigned"
    with pytest.raises(FormulaError) as checked:
        compile_formula(text)
    assert checked.value.detail == f"Line 1, Col {column}: UndefinedVariable: z is used before it is assigned"


@pytest.mark.parametrize("text, detail", [
    ('y = "a" || z;', "Line 1, Col 9: TypeError: operator '||' cannot be applied to (string, unknown)"),
    ("y = -($PendingTasks.GetSample(1) && z);",
     "Line 1, Col 34: TypeError: operator '&&' cannot be applied to (doubleVec, unknown)"),
])
def test_a_left_operand_of_and_or_that_is_not_a_double_is_a_type_error_whatever_the_right(text, detail):
    # Its truth is tested before the right operand is read, so no type of `z` could save it.
    with pytest.raises(FormulaError) as caught:
        compile_formula(text, strict=False)
    assert caught.value.code == "AutoScalingFormulaValidationError"
    assert caught.value.detail == detail


@pytest.mark.parametrize("text", ["x = now.$a;", "x = now.foo;", "x = x.$PendingTasks;", "x = z.foo();",
                                  "x = z.foo;", "x = (1 ? z : w).bar;"])
def test_lints_of_a_member_or_method_of_an_unknown_receiver(text):
    f = compile_formula(text, strict=False)
    assert [w.code for w in f.warnings] == ["NoTargetAssigned"]
    assert run_unchecked(text).error.code == "UndefinedVariable"


def test_lints_keep_suggesting_the_spelling_of_a_known_member_or_method_of_an_unknown_receiver():
    f = compile_formula("x = now.HOUR; $TargetDedicatedNodes = q.getsample(1);", strict=False)
    assert [w.detail for w in f.warnings] == [
        "Line 1, Col 9: 'HOUR' should be written 'hour'",
        "Line 1, Col 41: 'getsample' should be written 'GetSample'",
    ]


# -- the property ------------------------------------------------------------------------------

# Expressions of each static type (d double, v doubleVec, t timestamp, i timeinterval, s string),
# built from templates whose slots name the type they want. Any slot may instead receive an
# unassigned name (`z`, `w`) or a `?:` whose other branch is one, so unknown types reach every
# operator, function, method, member and comparison, lazily skipped or not.
_LEAVES = {
    "d": ["1", "0", "2.5", "1e308", "a", "$PendingTasks.Count()", "$CurrentDedicatedNodes", "rand()"],
    "v": ["$PendingTasks.GetSample(3)", "$CPUPercent.GetSample(1)", "$PendingTasks.GetSample(0)"],
    "t": ["time()", 'time("2026-03-02T09:00:00Z")', "$CPUPercent.HistoryBeginTime()"],
    "i": ["TimeInterval_Minute", "TimeInterval_Hour * 2", "$CPUPercent.GetSamplePeriod()"],
    "s": ['"s"', '""'],
}
_TEMPLATES = {
    "d": ["-{d}", "!{d}", "{d} + {d}", "{d} / {d}", "{d} * {d}", "{d} < {d}", "{v} >= {d}", "{d} == {d}",
          "{i} < {i}", "{t} != {t}", "{s} == {s}", "{d} && {d}", "{d} || {d}", "max({d}, {v})",
          "min({v}, {v})", "avg({v})", "len({v})", "percentile({v}, {d})", "val({v}, {d})",
          "({t}).hour", "({t}).weekday", "$PendingTasks.GetSamplePercent({i})",
          "$CPUPercent.GetSamplePercent({t}, {t})", "{d} ? {d} : {d}", "{v}", "round({d})"],
    "v": ["{v} + {d}", "{v} * {v}", "$PendingTasks.GetSample({i})",
          "$CPUPercent.GetSample({i}, {d})", "$CPUPercent.GetSample({t})", "{d} ? {v} : {v}"],
    "t": ["{t} + {i}", "{i} + {t}", "time({s})", "{d} ? {t} : {t}"],
    "i": ["{i} * {d}", "{i} / {d}", "{i} - {i}", "{t} - {t}", "-{i}", "{d} ? {i} : {i}"],
    "s": ["{d} ? {s} : {s}"],
}
_UNKNOWN = ["z", "w", "z.$a", "w.foo()", "z.hour", "-z", "z + 1", "max(z, 1)", "z < 1", "z && 1"]
_SLOT = re.compile(r"\{([dvtis])\}")


@st.composite
def expression(draw, kind: str = "d", depth: int = 3) -> str:
    """An expression of type ``kind`` (or of unknown type), ``depth`` levels of templates deep;
    every operand in parentheses, so that comparisons never chain."""
    choice = draw(st.integers(0, 19))
    if choice == 0:
        return draw(st.sampled_from(_UNKNOWN))
    if choice <= 3 and depth > 0:  # a ?: with one branch that cannot give a value
        known = draw(expression(kind, depth - 1))
        other = draw(st.sampled_from(["z", "w.$a", "stop()"]))
        cond = draw(st.sampled_from(["0", "1", "a", "$PendingTasks.Count() > 3"]))
        branches = (known, other) if draw(st.booleans()) else (other, known)
        return f"({cond}) ? ({branches[0]}) : ({branches[1]})"
    if depth == 0 or choice < 9:
        return draw(st.sampled_from(_LEAVES[kind]))
    template = draw(st.sampled_from(_TEMPLATES[kind]))
    return _SLOT.sub(lambda m: f"({draw(expression(m.group(1), depth - 1))})", template)


statement = st.one_of(
    st.builds(lambda n, e: f"{n} = {e};", st.sampled_from(["x", "y", "$x"]),
              st.sampled_from("dvtis").flatmap(expression)),
    st.builds(lambda e: f"$TargetDedicatedNodes = {e};", expression("d")),
    st.builds(lambda e: f"$NodeDeallocationOption = {e} ? requeue : (z);", expression("d")),
    st.builds(lambda e: f"{e};", st.sampled_from("dvtis").flatmap(expression)),
    st.sampled_from(["z = 2;", "w = time();", "x = z;"]),
)
formula_text = st.lists(statement, min_size=1, max_size=5).map(lambda s: "a = 1; " + " ".join(s))

#: examples per property; ``POOLSCALE_HOSTILE_EXAMPLES=20000 pytest tests/test_hostile_formulas.py``
#: is the longer run
EXAMPLES = int(os.environ.get("POOLSCALE_HOSTILE_EXAMPLES", "300"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _outcomes(f, undefined: re.Pattern | None = None):
    """Evaluate, lint, trace and cover one compiled formula; none of it may raise. Returns
    the run. ``undefined`` is what an ``UndefinedVariable`` detail must match."""
    store = SCENARIO.store(T)
    run = f.evaluate(store, now=T, pool=SCENARIO.pool, seed=7)
    if run.error is not None:
        assert run.error.code in ERROR_MESSAGES
        if run.error.code == "UndefinedVariable" and undefined is not None:
            assert undefined.match(run.error.detail), run.error.detail
    json.dumps(run.to_dict(), allow_nan=False)  # as eval --json writes it
    f.warnings
    trace = explain(f, store, now=T, pool=SCENARIO.pool, seed=7)
    trace.render_text()
    json.dumps(trace.to_dict(), allow_nan=False)  # as explain --json writes it
    assert trace.run.results == run.results and trace.run.error == run.error
    covered = instrument(f, "hostile.formula")
    again = covered.formula.evaluate(store, now=T, pool=SCENARIO.pool, seed=7)
    assert (again.results, again.error) == (run.results, run.error)
    covered.uncovered()
    return run


def _formatted(text: str) -> None:
    try:
        format_text(text)
    except (FormulaError, FormatError):
        pass


@PROPERTY
@given(formula_text)
def test_unassigned_names_in_lazy_operands_never_raise(text):
    try:
        strict = compile_formula(text)
    except FormulaError:
        strict = None
    try:
        unchecked = compile_formula(text, strict=False)
    except FormulaError as e:
        assert strict is None, "the unchecked compile refuses what the checked one accepts"
        assert e.code == "AutoScalingFormulaValidationError"
        return
    run = _outcomes(unchecked, UNKNOWN_READ)
    if strict is not None:
        checked = _outcomes(strict)
        assert (checked.results, checked.error) == (run.results, run.error), \
            "checked and unchecked runs of a valid formula differ"
    _formatted(text)


def _every_entry_point(text: str) -> None:
    """Checked, and unchecked where that differs: a text the checker accepts compiles to the
    same program either way."""
    for strict in (True, False):
        try:
            f = compile_formula(text, strict=strict)
        except FormulaError as e:
            assert e.detail and e.code in ERROR_MESSAGES
            continue
        _outcomes(f)
        break
    _formatted(text)


@PROPERTY
@given(st.one_of(formula_like, mutated(), long_text))
def test_random_and_mutated_text_through_every_entry_point(text):
    _every_entry_point(text)


_DEEP_ALREADY = ("8000 unary minus", "8000 bang", "bang and parentheses", "1+(1+(1+...)))", "nested max",
                 "4000 nested parentheses")  # their deepest forms are in DEEP below
HARD = {
    **{name: text for name, text in EXPLICIT.items() if name not in _DEEP_ALREADY},
    "empty": "", "blanks": " \t\r\n", "only comments": "// a\n/* b */\n// c",
    "NUL alone": "\x00", "NUL after a statement": "x = 1;\x00",
    "1e308*10": "$TargetDedicatedNodes = 1e308 * 10; x = -1e308 * 10;",
    "NaN and infinities": "x = 0/0; y = -1/0; z = x ? y : x; w = (0/0) && 1; $TargetLowPriorityNodes = 0/0;",
    "NaN look-back": "x = $PendingTasks.GetSample(TimeInterval_Minute * (0/0));",
    "infinite vectors": "v = $CPUPercent.GetSample(3) * 1e308 * 10; s = std(v); n = norm(v); p = percentile(v, 50);",
    "ends of time": 'x = time("9999-12-31T23:59:59.9999999Z") + TimeInterval_100ns; '
                    'y = time("0001-01-01") - TimeInterval_100ns;',
    "non-ASCII names and strings": 'é = 1; x = "h\u00e9llo \U0001f600"; $TargetDedicatedNodes = 1;',
    "unknown everywhere": "x = q.$a + q.foo() + q.hour; y = (1 ? 2 : q) * (0 || r); z = -(0 ? q : now.$x);",
}


@pytest.mark.parametrize("text", list(HARD.values()), ids=list(HARD))
def test_hard_texts_through_every_entry_point(text):
    _every_entry_point(text)


# ---------------------------------------------------------------------------------------------
# the deepest nesting the parser accepts, through every entry point
# ---------------------------------------------------------------------------------------------

def _fill(prefix: str, unit: str, suffix: str) -> str:
    """``prefix``, as many ``unit`` as fit in 8192 characters, ``suffix``."""
    return prefix + unit * ((8192 - len(prefix) - len(suffix)) // len(unit)) + suffix


DEEP = {
    "8188 unary minus": _fill("x=", "-", "1;"),
    "8188 bang": _fill("x=", "!", "0;"),
    "8184 unary minus on a variable": _fill("a=1;x=", "-", "a;"),
    "8184 bang on a variable": _fill("a=1;x=", "!", "a;"),
    "bang and parentheses": "x=" + "!(" * 2729 + "0" + ")" * 2729 + ";",
    "nested max": "x=" + "max(" * 1637 + "1" + ")" * 1637 + ";",
    "?: nested in its else branches": "x=" + "(0?1:" * 1364 + "1" + ")" * 1364 + ";",
    "1+(1+(1+...)))": "x=" + "1+(" * 2047 + "1" + ")" * 2047 + ";",
    "a||(a||(...)))": "a=0;x=" + "a||(" * 1636 + "a" + ")" * 1636 + ";",
}


@pytest.mark.parametrize("text", list(DEEP.values()), ids=list(DEEP))
def test_the_deepest_formulas_run_explain_cover_lint_and_format(text):
    assert len(text) <= 8192
    f = compile_formula(text)
    run = f.evaluate(now=NOW)
    assert run.error is None
    trace = explain(f, now=NOW)
    assert trace.run.results == run.results
    assert trace.render_text().endswith(f"results: {run.results}\n")
    trace.to_dict()
    covered = instrument(f, "deep.formula")
    assert covered.formula.evaluate(now=NOW).results == run.results
    assert covered.covered >= 1
    f.warnings
    try:
        formatted = format_text(text)
    except FormatError as e:  # the spaces around '=' and operators take it over the limit
        assert re.fullmatch(r"the formatted formula would have \d+ characters, over the limit of 8192; "
                            r"shorten it \(or its comments\) first", str(e))
    else:
        assert compile_formula(formatted).evaluate(now=NOW).results == run.results


# ---------------------------------------------------------------------------------------------
# the evaluation time a library caller passes
# ---------------------------------------------------------------------------------------------

RANGE = ("now must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.9999999Z "
         "(ticks 0 to 3155378975999999999), got {} ticks")


@pytest.mark.parametrize("now, error, message", [
    (-1, ValueError, RANGE.format(-1)),
    (3155378975999999999 + 1, ValueError, RANGE.format(3155378976000000000)),
    (10**30, ValueError, RANGE.format(10**30)),
    ("2026-03-02T10:00:00Z", TypeError, "now must be a Timestamp, a datetime or a tick count, not str"),
    (1.5e17, TypeError, "now must be a Timestamp, a datetime or a tick count, not float"),
    (None, TypeError, "now must be a Timestamp, a datetime or a tick count, not NoneType"),
    (True, TypeError, "now must be a Timestamp, a datetime or a tick count, not bool"),
])
def test_a_now_that_is_no_timestamp_is_the_callers_error_said_plainly(now, error, message):
    # Before: an hour of 2026 read as 2026 ticks, and "ordinal must be >= 1" from printing the run.
    f = compile_formula("$TargetDedicatedNodes = 1; t = time();")
    for run in (lambda: f.evaluate(now=now), lambda: explain(f, now=now)):
        with pytest.raises(error) as caught:
            run()
        assert str(caught.value) == message


def test_every_kind_of_now_at_both_ends_of_time():
    import datetime

    import numpy as np

    f = compile_formula("t = time();")
    for now, shown in ((0, "0001-01-01T00:00:00.000Z"), (np.int64(3155378975999999999), "9999-12-31T23:59:59.999Z"),
                       (T, "2026-03-02T10:00:00.000Z"),
                       (datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc), "0001-01-01T00:00:00.000Z")):
        assert f.evaluate(now=now).results.endswith(f";t={shown}")
        assert explain(f, now=now).run.results.endswith(f";t={shown}")
