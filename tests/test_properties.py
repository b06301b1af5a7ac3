"""Property tests of the whole pipeline (hypothesis).

(a) Robustness: any text of up to 8192 characters and beyond gives an AutoScaleRun whose
    error is None or one of the codes of docs/language.md#error-codes, never another exception, in
    bounded time.
(b) Round trip of the canonical printer: parse(to_text(p)) == p, to_text is idempotent,
    it keeps no parenthesis the grammar does not need, and a printed formula evaluates
    exactly as the original does.
(c) Window arithmetic at the formula level against a brute-force count written from
    docs/language.md#window-arithmetic.
(d) Unchecked evaluation (compile_formula(..., strict=False)).

The file is budgeted at well under a minute on two cores: example counts are set per test.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from poolscale.formula import ERROR_MESSAGES, AutoScaleRun, ast, compile_formula, lint
from poolscale.formula.errors import FormulaError, FormulaSyntaxError
from poolscale.formula.lexer import tokenize
from poolscale.formula.parser import parse
from poolscale.formula.printer import to_text
from poolscale.formula.timeparse import parse_time_string
from poolscale.formula.values import format_double
from poolscale.metrics.store import SampleStore
from poolscale.runtime.run import evaluate_text
from poolscale.runtime.scenario import scenario_from_dict

MAX_LENGTH = 8192
SECONDS_PER_EXAMPLE = 2.0
COMPILE_PHASES = {"AutoScaleFormulaTooLong", "AutoScaleFormulaTooManyStatements",
                  "AutoScalingFormulaSyntaxError", "AutoScalingFormulaValidationError"}
DETAIL = re.compile(r"Line [1-9][0-9]*, Col [1-9][0-9]*: .")
POSITION = re.compile(r"^Line [0-9]+, Col [0-9]+: ")

SCENARIO = scenario_from_dict({
    "time": "2026-03-02T10:00:00Z",
    "pool": {"currentDedicatedNodes": 3, "currentLowPriorityNodes": 1, "targetLowPriorityNodes": 2},
    "samples": {
        "$PendingTasks": "3 4 _ 6 7 _ 9 10",
        "CPUPercent": [12.5, None, 50, 87.123456, 100],
        "$ActiveTasks": "0+1x30",
    },
    "period": "PT30S",
    "delay": "PT30S",
    "seed": 7,
})

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def budget(examples: int, *checks: HealthCheck) -> settings:
    """``examples`` runs, no deadline (each run times itself where that matters)."""
    return settings(FAST, max_examples=examples,
                    suppress_health_check=[HealthCheck.too_slow, *checks])


def run_checked(text: str) -> AutoScaleRun:
    """Evaluate ``text``; assert everything (a) promises about the outcome."""
    started = time.perf_counter()
    run = evaluate_text(text, SCENARIO)
    assert isinstance(run, AutoScaleRun)
    json.dumps(run.to_dict())  # renders the results string and every value
    if run.error is not None:
        assert run.error.code in ERROR_MESSAGES, run.error
        assert DETAIL.match(run.error.detail), run.error.detail
        if run.error.code in COMPILE_PHASES:
            assert run.results == ""
    warnings = lint(text)  # the checker's lints must survive the same input
    assert all(DETAIL.match(w.detail) for w in warnings)
    elapsed = time.perf_counter() - started
    assert elapsed < SECONDS_PER_EXAMPLE, f"{elapsed:.2f} s for a text of {len(text)} characters"
    _outcome(run)
    return run


def _outcome(run: AutoScaleRun) -> None:
    """Label the example for ``pytest --hypothesis-show-statistics`` (generator quality)."""
    if currently_in_test_context():
        event(f"outcome: {run.error.code if run.error else 'success'}")


# ---------------------------------------------------------------------------------------------
# (a) robustness
# ---------------------------------------------------------------------------------------------

TOKENS = [
    "x", "y", "$x", "X1", "a_b", "$TargetDedicatedNodes", "$TargetDedicated", "$targetlowpriority",
    "$NodeDeallocationOption", "$CurrentDedicatedNodes", "$PendingTasks", "$CPUPercent",
    "$ActiveTasks", "$FailedTasks", "TimeInterval_Minute", "TimeInterval_Second",
    "TimeInterval_100ns", "TimeInterval_Year", "requeue", "taskcompletion",
    "max", "min", "avg", "sum", "len", "std", "norm", "range", "percentile", "val", "rand", "time",
    "stop", "lg", "ln", "log", "round", "ceil", "floor", "GetSample", "GetSamplePercent", "Count",
    "HistoryBeginTime", "GetSamplePeriod", "hour", "weekday", "year",
    "0", "1", "2", "70", "100", "0.5", ".5", "5.", "1e3", "1E-3", "1e400", "1e-400", "1e",
    "9" * 40, "0" * 30 + "1",
    "+", "-", "*", "/", "%", "!", "<", "<=", ">", ">=", "==", "!=", "&&", "||", "?", ":", "=",
    "(", ")", ",", ".", ";", "&", "|", "#", "[", "]", "{", "}", "\\", "'", "@", "^", "~", "`",
    '"', '"abc"', '"2026-03-02T10:00:00Z"', '"Mon, 06 Oct 2014 10:20:00 GMT"',
    "//", "/*", "*/", "// c\n", "/* c */",
    " ", "  ", "\t", "\n", "\r", "\r\n", "\x0b", "\x0c", "\xa0",
]
_UNICODE = st.characters(exclude_categories=("Cs",))
FRAGMENT = st.one_of(st.sampled_from(TOKENS), st.sampled_from(TOKENS), _UNICODE)
formula_like = st.lists(FRAGMENT, max_size=120).map("".join)

# Long texts: a short random chunk repeated to (around) the length limit.
long_text = st.builds(
    lambda chunk, length: (chunk * (length // max(len(chunk), 1) + 1))[:length],
    st.lists(FRAGMENT, min_size=1, max_size=12).map("".join),
    st.one_of(st.integers(1000, MAX_LENGTH + 2), st.sampled_from([MAX_LENGTH, MAX_LENGTH + 1])),
)

SEED_FORMULAS = [
    "$TargetDedicatedNodes = max(0, min(10, avg($PendingTasks.GetSample(TimeInterval_Minute * 2, 0))));",
    "pct = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5);\n"
    "$TargetDedicatedNodes = pct < 70 ? 1 : avg($PendingTasks.GetSample(TimeInterval_Minute * 5));",
    "now = time(); local = now + (-5 * TimeInterval_Hour); h = local.hour;\n"
    "$TargetDedicatedNodes = h >= 8 && h < 18 ? 10 : 2; $NodeDeallocationOption = taskcompletion;",
    "v = $CPUPercent.GetSample(4); r = round(v - 0.5); p = percentile(v, 95); last = val(v, 3);",
    "n = $ActiveTasks.Count(); b = $ActiveTasks.HistoryBeginTime(); d = time() - b;\n"
    "n == 0 ? stop() : 0; $TargetLowPriorityNodes = n / 2;",
    "a = 2 + 3 * 4 - -1; b = 1 + 2 < 4 == 1; c = !0 + 1; e = 1 ? 2 : 0 ? 3 : 4; s = \"x\" < \"y\";",
]


def _corpus_formulas() -> list[str]:
    out = []
    for path in sorted((Path(__file__).parent / "compliance").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        out += [c["formula"] for c in data.get("cases") or [] if isinstance(c.get("formula"), str)]
    return out


SEEDS = SEED_FORMULAS + _corpus_formulas()


@st.composite
def mutated(draw) -> str:
    """A valid (or corpus) formula with a few characters or tokens inserted, deleted,
    replaced or duplicated."""
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 6))):
        n = len(text)
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 12)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "duplicate", "swap"]))
        if kind == "insert":
            text = text[:i] + draw(FRAGMENT) + text[i:]
        elif kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "replace":
            text = text[:i] + draw(FRAGMENT) + text[j:]
        elif kind == "duplicate":
            text = text[:j] + text[i:j] * draw(st.integers(1, 40)) + text[j:]
        else:
            k = draw(st.integers(0, n))
            a, b = sorted((i, k))
            text = text[:a] + text[b:] + text[a:b]
    return text


@budget(400)
@given(formula_like)
def test_random_text_never_crashes(text: str) -> None:
    run_checked(text)


@budget(400)
@given(mutated())
def test_mutated_formulas_never_crash(text: str) -> None:
    run_checked(text)


@budget(40, HealthCheck.data_too_large)
@given(long_text)
def test_long_texts_never_crash(text: str) -> None:
    run_checked(text)


def _fill(prefix: str, unit: str, suffix: str = ";", limit: int = MAX_LENGTH) -> str:
    times = (limit - len(prefix) - len(suffix)) // len(unit)
    return prefix + unit * times + suffix


def _doubling_chain(n: int) -> str:
    """Every statement reads the previous variable twice (a lint data-flow worst case)."""
    lines = ["v0 = $PendingTasks.GetSample(1);"]
    lines += [f"v{i} = v{i - 1} + v{i - 1};" for i in range(1, n)]
    return "".join(lines) + f"$TargetDedicatedNodes = v{n - 1};"


EXPLICIT = {
    "4000 nested parentheses": "x = " + "(" * 4000 + "1" + ")" * 4000 + ";",
    "8 KB of (": "(" * MAX_LENGTH,
    "8 KB of )": ")" * MAX_LENGTH,
    "8 KB of ( then a token": "(" * (MAX_LENGTH - 3) + "1 x",
    "8000 unary minus": _fill("x = ", "-", "1;"),
    "8000 unary minus on an interval": _fill("x = ", "-", "TimeInterval_Second;"),
    "8000 bang": _fill("x = ", "!", "0;"),
    "bang and parentheses": "x = " + "!(" * 2700 + "0" + ")" * 2700 + ";",
    "100-deep chained ?:": "x = " + "1 ? 2 : " * 100 + "3;",
    "100-deep nested ?: condition": "x = " + "(" * 100 + "1" + " ? 1 : 2)" * 100 + ";",
    "?: nested in its branches": "x = " + "(0 ? 1 : " * 900 + "1" + ")" * 900 + ";",
    "1+(1+(1+...)))": "x = " + "1+(" * 2046 + "1" + ")" * 2046 + ";",
    "1+1+1+...": _fill("x = ", "1+", "1;"),
    "a&&a&&a...": _fill("a = 1; x = ", "a&&", "a;"),
    "nested max": "x = " + "max(" * 1600 + "1" + ")" * 1600 + ";",
    "nested lg of nothing": "x = " + "lg(" * 2700 + ")" * 2700 + ";",
    "4000 arguments": "x = avg(" + "1," * 4000 + "1);",
    "nested GetSample": "x = " + "$PendingTasks.GetSample(" * 300 + "1" + ")" * 300 + ";",
    "time member chain": "x = " + "(" * 500 + "time()" + " + TimeInterval_Hour)" * 500 + ".hour;",
    "1e400": "$TargetDedicatedNodes = 1e400;",
    "5000 digits": "x = " + "9" * 5000 + ";",
    "5000-digit fraction": "x = 0." + "0" * 5000 + "1;",
    "1e-400": "x = 1e-400;",
    "huge exponent": "x = 1e" + "9" * 4000 + "; y = 1e-" + "9" * 4000 + ";",
    "100 statements": "x = 1;" * 100,
    "101 statements": "x = 1;" * 101,
    "8192 characters": _fill("x = 1;", " "),
    "8193 characters": "x = 1;" + " " * (MAX_LENGTH + 1 - 6),
    "8193 characters of (": "(" * (MAX_LENGTH + 1),
    "NUL": "x = \x00;",
    "unicode": 'x = "h\u00e9llo \u2028 \U0001f600"; y = \u00e9; z = \u0663;',
    "unicode outside strings": "\u00e9\U0001f600\ufeff\u200b",
    "lone CR and CRLF": "x = 1\r+ 2;\r\ny = \"a\r\";",
    "unterminated comment": "x = 1; /* " + "*" * 8000,
    "many unterminated strings": '"' * MAX_LENGTH,
    "many comment openers": "/*" * (MAX_LENGTH // 2),
    "doubling data flow": _doubling_chain(99),  # 100 statements
    "time out of range": "x = time() + TimeInterval_Year * 8000 + TimeInterval_Year * 8000;",
    "interval extremes": "x = TimeInterval_100ns * -9223372036854775808; y = -x;",
    "huge look-back": "x = $PendingTasks.GetSample(TimeInterval_Year * 20000, 0);",
    "instants at the ends of time": 'x = $PendingTasks.GetSamplePercent(time("0001-01-01"), '
                                    'time("9999-12-31T23:59:59.9999999Z"));',
    "vector extremes": "v = $CPUPercent.GetSample(5) * 1e308; s = sum(v, v); n = norm(v); d = std(v);",
}


@pytest.mark.parametrize("text", list(EXPLICIT.values()), ids=list(EXPLICIT))
def test_explicit_hard_inputs(text: str) -> None:
    run_checked(text)


def test_explicit_inputs_evaluate_as_the_spec_says() -> None:
    minus, bang = EXPLICIT["8000 unary minus"], EXPLICIT["8000 bang"]
    assert run_checked(minus).results.endswith(";x=-1" if minus.count("-") % 2 else ";x=1")
    assert run_checked(bang).results.endswith(";x=1" if bang.count("!") % 2 else ";x=0")
    assert run_checked(EXPLICIT["4000 nested parentheses"]).results.endswith(";x=1")
    assert run_checked(EXPLICIT["100-deep chained ?:"]).results.endswith(";x=2")
    assert run_checked(EXPLICIT["1+(1+(1+...)))"]).results.endswith(";x=2047")
    assert run_checked(EXPLICIT["1e-400"]).results.endswith(";x=0")
    assert run_checked(EXPLICIT["5000 digits"]).results.endswith(";x=Infinity")
    assert run_checked(EXPLICIT["1e400"]).error.code == "InvalidTargetValue"
    assert run_checked(EXPLICIT["100 statements"]).error is None
    assert run_checked(EXPLICIT["101 statements"]).error.code == "AutoScaleFormulaTooManyStatements"
    assert run_checked(EXPLICIT["8192 characters"]).error is None
    assert run_checked(EXPLICIT["8193 characters"]).error.code == "AutoScaleFormulaTooLong"
    assert run_checked(EXPLICIT["8 KB of ("]).error.detail == \
        "Line 1, Col 8193: unexpected end of formula"
    nul = run_checked(EXPLICIT["NUL"]).error
    assert nul.detail == "Line 1, Col 5: unexpected character U+0000"
    assert run_checked(EXPLICIT["unicode"]).error.detail == \
        "Line 1, Col 22: unexpected character U+00E9"
    assert [w.code for w in lint(EXPLICIT["doubling data flow"])] == \
        ["LatestSampleOnly", "ImplicitSingleSample"]


# ---------------------------------------------------------------------------------------------
# (b) round trip of the canonical printer
# ---------------------------------------------------------------------------------------------

USER_NAMES = ["x", "y", "a1", "B_2", "$v", "$TargetDedicatedNodes", "$targetlowpriority",
              "$PendingTasks", "TimeInterval_Minute", "requeue", "e", "true"]
FUNCTION_NAMES = ["max", "avg", "time", "val", "F", "stop"]
METHOD_NAMES = ["GetSample", "count", "HistoryBeginTime", "m"]
MEMBER_NAMES = ["hour", "weekday", "e5", "x"]

number_text = st.one_of(
    st.integers(0, 10**6).map(str),
    st.sampled_from(["0", "007", ".5", "5.", "0.10", "1e3", "1E+3", "1.5e-3", "1e400", "1e-400",
                     "9" * 30, "123456789012345678901234567890.5"]),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(repr),
)
string_value = st.text(st.characters(exclude_characters='"\r\n', exclude_categories=("Cs",)),
                       max_size=8)


def _number_from_text(text: str) -> ast.Number:
    return ast.Number(float(text), text)


leaf = st.one_of(
    number_text.map(_number_from_text),
    st.floats(min_value=0, allow_nan=False).map(lambda v: ast.Number(abs(v))),  # no source text
    st.builds(ast.String, string_value),
    st.builds(ast.Ref, st.sampled_from(USER_NAMES)),
)


def _extend(children):
    args = st.lists(children, max_size=3).map(tuple)
    return st.one_of(
        st.builds(ast.Unary, st.sampled_from("-!"), children),
        st.builds(ast.Binary, st.sampled_from("+-*/%"), children, children),
        st.builds(ast.Compare, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), children, children),
        st.builds(ast.Logic, st.sampled_from(["&&", "||"]), children, children),
        st.builds(ast.Cond, children, children, children),
        st.builds(ast.Call, st.sampled_from(FUNCTION_NAMES), args),
        st.builds(ast.Method, children, st.sampled_from(METHOD_NAMES), args),
        st.builds(ast.Member, children, st.sampled_from(MEMBER_NAMES)),
    )


expressions = st.recursive(leaf, _extend, max_leaves=24)
statements = st.one_of(st.builds(ast.Assign, st.sampled_from(USER_NAMES), expressions),
                       st.builds(ast.ExprStmt, expressions))
programs = st.lists(statements, min_size=1, max_size=4).map(lambda s: ast.Program(tuple(s)))

SEPARATORS = st.sampled_from([" ", " ", " ", "  ", "\t", "\n", "\r\n", " /* c */ ", "// c\n", "\n\n"])


@st.composite
def source_of(draw, program: ast.Program) -> str:
    """Text for ``program`` in a random layout: random whitespace and comments between tokens,
    every compound operand in parentheses or not (dropping them may regroup the tree, which
    is fine: the properties are about whatever the text parses to), extra parentheses around
    anything, empty statements."""
    tokens: list[str] = []

    def operand(node) -> None:
        compound = not isinstance(node, (ast.Number, ast.String, ast.Ref, ast.Call))
        wrap = draw(st.integers(0, 9))
        if (compound and wrap < 7) or wrap == 9:
            tokens.append("(")
            expr(node)
            tokens.append(")")
        else:
            expr(node)

    def arguments(args) -> None:
        tokens.append("(")
        for i, a in enumerate(args):
            if i:
                tokens.append(",")
            expr(a)
        tokens.append(")")

    def expr(node) -> None:
        match node:
            case ast.Number(text=text, value=value):
                tokens.append(text or repr(value).replace("inf", "1e999"))
            case ast.String(value=value):
                tokens.append(f'"{value}"')
            case ast.Ref(name=name):
                tokens.append(name)
            case ast.Call(name=name, args=args):
                tokens.append(name)
                arguments(args)
            case ast.Method(receiver=r, name=name, args=args):
                operand(r)
                tokens.extend([".", name])
                arguments(args)
            case ast.Member(receiver=r, name=name):
                operand(r)
                tokens.extend([".", name])
            case ast.Unary(op=op, operand=o):
                tokens.append(op)
                operand(o)
            case ast.Cond(cond=c, then=t, otherwise=o):
                operand(c)
                tokens.append("?")
                operand(t)
                tokens.append(":")
                operand(o)
            case ast.Binary(op=op, left=l, right=r) | ast.Compare(op=op, left=l, right=r) | \
                    ast.Logic(op=op, left=l, right=r):
                operand(l)
                tokens.append(op)
                operand(r)

    for stmt in program.statements:
        if draw(st.integers(0, 5)) == 0:
            tokens.append(";")
        if isinstance(stmt, ast.Assign):
            tokens.extend([stmt.name, "="])
            expr(stmt.value)
        else:
            expr(stmt.expr)
        tokens.append(";")
    if draw(st.booleans()):
        tokens.pop()  # the last ';' is optional
    out = [tokens[0]]
    for tok in tokens[1:]:
        out.append(draw(SEPARATORS))
        out.append(tok)
    return "".join(out)


sources = programs.flatmap(source_of)


def _grouping_parentheses(text: str) -> list[tuple[int, int]]:
    """Offsets of each '(' ... ')' pair that groups (not a call's or method's)."""
    tokens = tokenize(text)
    pairs, stack = [], []
    for i, tok in enumerate(tokens):
        if tok.type == "LPAR":
            stack.append((tok.start, i > 0 and tokens[i - 1].type == "NAME"))
        elif tok.type == "RPAR":
            start, is_call = stack.pop()
            if not is_call:
                pairs.append((start, tok.start))
    return pairs


def _parse_or_none(text: str):
    try:
        return parse(text)
    except FormulaSyntaxError:
        return None


@budget(300)
@given(programs)
def test_any_tree_prints_to_text_that_parses_back_to_it(program: ast.Program) -> None:
    text = to_text(program)
    assert parse(text) == program
    assert to_text(parse(text)) == text


@budget(300)
@given(sources)
def test_printed_text_round_trips_and_is_minimal(source: str) -> None:
    program = _parse_or_none(source)
    assume(program is not None)  # e.g. a comparison chained after its parentheses were dropped
    text = to_text(program)
    again = parse(text)
    assert again == program
    assert to_text(again) == text
    # every remaining grouping parenthesis is needed: without it the text means something else
    for open_at, close_at in _grouping_parentheses(text):
        bare = text[:open_at] + text[open_at + 1:close_at] + text[close_at + 1:]
        assert _parse_or_none(bare) != program, f"redundant parentheses at {open_at} in {text!r}"


# Well-typed formulas, so that most of them compile and evaluation can be compared.

def _wrap(draw, text: str) -> str:
    """Parenthesise a compound expression, usually: without them the text may regroup."""
    return f"({text})" if draw(st.integers(0, 4)) else text


@st.composite
def double_expr(draw, depth: int) -> str:
    leaves = ["2", "0", "0.5", "1e3", "3.", ".25", "d", "$CurrentDedicatedNodes",
              "$TargetDedicatedNodes", "$TargetLowPriorityNodes", "rand()", "$ActiveTasks.Count()",
              "time().hour", "$CPUPercent.GetSamplePercent(TimeInterval_Minute * 2)"]
    if depth <= 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(leaves))
    d, v, i = double_expr(depth - 1), vector_expr(depth - 1), interval_expr(depth - 1)
    form = draw(st.integers(0, 13))
    if form <= 3:
        op = draw(st.sampled_from(["+", "-", "*", "/"]))
        text = f"{draw(d)} {op} {draw(d)}"
    elif form == 4:
        text = f"{draw(st.sampled_from(['-', '!']))}{draw(d)}"
    elif form == 5:
        op = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
        left = draw(st.one_of(d, d, v))  # a vector goes through single-sample conversion
        text = f"{left} {op} {draw(d)}"
    elif form == 6:
        text = f"{draw(d)} {draw(st.sampled_from(['&&', '||']))} {draw(d)}"
    elif form == 7:
        text = f"{draw(d)} ? {draw(d)} : {draw(d)}"
    elif form == 8:
        fn = draw(st.sampled_from(["max", "min", "avg", "sum", "len", "std", "norm", "range"]))
        args = draw(st.lists(st.one_of(d, v), min_size=1, max_size=3))
        return f"{fn}({', '.join(args)})"
    elif form == 9:
        fn = draw(st.sampled_from(["val", "percentile"]))
        return f"{fn}({draw(v)}, {draw(d)})"
    elif form == 10:
        return f"{draw(st.sampled_from(['round', 'floor', 'ceil', 'lg', 'ln', 'log']))}({draw(d)})"
    elif form == 11:
        text = f"{draw(i)} {draw(st.sampled_from(['<', '>=', '==']))} {draw(i)}"
    elif form == 12:
        return f"({draw(timestamp_expr(depth - 1))}).{draw(st.sampled_from(['hour', 'minute', 'weekday']))}"
    else:
        return f'"{draw(st.sampled_from(["a", "b", ""]))}" < "{draw(st.sampled_from(["a", "b"]))}"'
    return _wrap(draw, text)


@st.composite
def vector_expr(draw, depth: int) -> str:
    leaves = ["v", "$PendingTasks.GetSample(3)", "$CPUPercent.GetSample(10)", "$ActiveTasks.GetSample(0)",
              "$ActiveTasks.GetSample(TimeInterval_Minute * 3, 0)"]
    if depth <= 0 or draw(st.integers(0, 2)) == 0:
        return draw(st.sampled_from(leaves))
    d, v = double_expr(depth - 1), vector_expr(depth - 1)
    form = draw(st.integers(0, 4))
    if form == 0:
        text = f"{draw(v)} {draw(st.sampled_from(['+', '-', '*', '/']))} {draw(st.one_of(d, v))}"
    elif form == 1:
        return f"{draw(st.sampled_from(['round', 'floor', 'lg']))}({draw(v)})"
    elif form == 2:
        text = f"{draw(d)} ? {draw(v)} : {draw(v)}"
    elif form == 3:
        return f"$PendingTasks.GetSample({draw(d)})"
    else:
        return f"$CPUPercent.GetSample(TimeInterval_Second * {draw(d)}, {draw(d)})"
    return _wrap(draw, text)


@st.composite
def interval_expr(draw, depth: int) -> str:
    leaves = ["TimeInterval_Minute", "TimeInterval_Zero", "iv", "$PendingTasks.GetSamplePeriod()"]
    if depth <= 0 or draw(st.integers(0, 2)) == 0:
        return draw(st.sampled_from(leaves))
    d, i = double_expr(depth - 1), interval_expr(depth - 1)
    form = draw(st.integers(0, 4))
    if form == 0:
        text = f"{draw(i)} {draw(st.sampled_from(['*', '/']))} {draw(d)}"
    elif form == 1:
        text = f"{draw(d)} * {draw(i)}"
    elif form == 2:
        text = f"{draw(i)} {draw(st.sampled_from(['+', '-']))} {draw(i)}"
    elif form == 3:
        text = f"-{draw(i)}"
    else:
        text = f"{draw(timestamp_expr(depth - 1))} - time()"
    return _wrap(draw, text)


@st.composite
def timestamp_expr(draw, depth: int) -> str:
    leaves = ["time()", 'time("2026-03-01T05:00:00.9999+02:00")', "$ActiveTasks.HistoryBeginTime()"]
    if depth <= 0 or draw(st.booleans()):
        return draw(st.sampled_from(leaves))
    return _wrap(draw, f"{draw(timestamp_expr(depth - 1))} + {draw(interval_expr(depth - 1))}")


@st.composite
def typed_formulas(draw) -> str:
    lines = ["d = 1.5;", "v = $ActiveTasks.GetSample(4);", "iv = TimeInterval_Second * 90;"]
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(["d", "x", "$y", "$TargetDedicatedNodes", "$TargetDedicated",
                                     "$TargetLowPriorityNodes"]))
        lines.append(f"{name} = {draw(double_expr(3))};")
    if draw(st.booleans()):
        lines.append(f"w = {draw(vector_expr(2))};")
    if draw(st.booleans()):
        lines.append(f"t = {draw(interval_expr(2))};")
    if draw(st.integers(0, 3)) == 0:
        lines.append(f"{draw(double_expr(2))} ? stop() : 0;")
    lines.append("$NodeDeallocationOption = d > 1 ? taskcompletion : requeue;")
    return "\n".join(lines)


def _without_position(detail: str) -> str:
    return POSITION.sub("", detail)


@budget(200)
@given(typed_formulas())
def test_printing_preserves_evaluation(text: str) -> None:
    program = _parse_or_none(text)
    assume(program is not None)
    printed = to_text(program)
    before, after = evaluate_text(text, SCENARIO), evaluate_text(printed, SCENARIO)
    _outcome(before)
    assert after.results == before.results
    if before.error is None:
        assert after.error is None
    else:
        assert after.error is not None
        assert after.error.code == before.error.code
        # the same problem at the same node; only its line and column moved
        assert _without_position(after.error.detail) == _without_position(before.error.detail)


def test_typed_formulas_mostly_compile() -> None:
    """Guard against the evaluation-preservation test silently testing only failures."""
    compiled = 0
    examples = []

    @settings(max_examples=60, deadline=None, database=None)
    @given(typed_formulas())
    def collect(text):
        examples.append(text)

    collect()
    for text in examples:
        try:
            compile_formula(text)
            compiled += 1
        except FormulaError:
            pass
    assert compiled >= len(examples) // 3, f"{compiled} of {len(examples)} compiled"


# ---------------------------------------------------------------------------------------------
# (c) window arithmetic against a brute-force count (docs/language.md#window-arithmetic)
# ---------------------------------------------------------------------------------------------

NOW = parse_time_string("2026-03-02T10:00:00Z")
SECOND = 10_000_000


@st.composite
def window_cases(draw):
    sample = st.integers(0, 100).map(float)
    slot = st.one_of(st.none(), sample, sample, sample)
    values = draw(st.one_of(st.lists(slot, max_size=4), st.lists(slot, min_size=5, max_size=30)))
    period = draw(st.sampled_from([30 * SECOND, 60 * SECOND, 7 * SECOND + 3, 1, 300 * SECOND]))
    delay = draw(st.one_of(st.just(0), st.integers(0, 4).map(lambda k: k * period),
                           st.integers(0, 4 * period)))
    span = (len(values) + 3) * period
    lookback = st.one_of(
        st.integers(0, len(values) + 3).map(lambda k: k * period),  # on the grid
        st.integers(0, span),                                        # anywhere
        st.integers(0, span),
        st.integers(0, period),                                      # shorter than a period
        st.just(0),                                                  # zero length
    )
    a = draw(lookback)
    b = draw(st.one_of(lookback, lookback, lookback, st.just(a)))
    form = draw(st.sampled_from(["lookback", "lookbacks", "instant", "instants"]))
    count = draw(st.one_of(st.integers(-2, len(values) + 2).map(float),
                           st.floats(-3, 40, allow_nan=False), st.just(math.inf)))
    return values, period, delay, a, b, form, count


def _window_args(form: str, a: int, b: int) -> tuple[str, tuple[int, int]]:
    """The argument text of a window and its (lo, hi] relative to T (negated look-backs)."""
    ti = "TimeInterval_100ns * "
    if form == "lookback":
        return f"{ti}{a}", (max(a, 0), 0)
    if form == "lookbacks":
        return f"{ti}{a}, {ti}{b}", (max(a, b), min(a, b))
    if form == "instant":
        return f"time() + {ti}-{a}", (a, 0)
    return f"time() + {ti}-{a}, time() + {ti}-{b}", (max(a, b), min(a, b))


def _brute_force(values, period, delay, back_lo, back_hi, count):
    """docs/language.md#the-sample-model and docs/language.md#window-arithmetic spelt out: the last
    value is stamped at T, one period apart going back."""
    t = NOW.ticks
    n = len(values)
    stamps = [t - (n - 1 - k) * period for k in range(n)]
    available = [(s, v) for s, v in zip(stamps, values) if v is not None and s <= t - delay]
    lo, hi = t - back_lo, t - back_hi
    inside = [v for s, v in available if lo < s <= hi]
    expected = float(hi - lo) / float(period)
    percent = 100.0 if expected == 0 else min(100.0, (100.0 * len(inside)) / expected)
    if not count > 0:
        latest = []
    else:
        k = len(available) if count == math.inf else int(count)
        latest = [v for _, v in available[len(available) - min(k, len(available)):]]
    return inside, percent, len(available), latest


@budget(300)
@given(window_cases())
def test_window_arithmetic_matches_brute_force(case) -> None:
    values, period, delay, a, b, form, count = case
    store = SampleStore.from_mapping({"$PendingTasks": values}, end=NOW.ticks, period=period, delay=delay)
    args, (back_lo, back_hi) = _window_args(form, a, b)
    inside, percent, available, latest = _brute_force(values, period, delay, back_lo, back_hi, count)

    count_text = "1e999" if count == math.inf else repr(count)
    count_text = count_text if not count_text.startswith("-") else f"({count_text})"
    text = (f"w = $PendingTasks.GetSample({args}, 0);\n"
            f"p = $PendingTasks.GetSamplePercent({args});\n"
            f"c = $PendingTasks.Count();\n"
            f"l = $PendingTasks.GetSample({count_text});")
    run = compile_formula(text).evaluate(store, now=NOW)
    assert run.error is None, run.error
    got = run.values
    assert list(got["w"]) == inside
    assert got["p"] == percent
    assert got["c"] == available
    assert list(got["l"]) == latest

    # the default minimum of 70 % (docs/language.md#series-methods), with its exact error detail
    # (docs/language.md#window-arithmetic)
    text = f"d = $PendingTasks.GetSample({args});"
    run = compile_formula(text).evaluate(store, now=NOW)
    if percent < 70:
        col = text.index("(") + 1
        assert run.error is not None and run.error.code == "InsufficientSampleData"
        assert run.error.detail == (
            f"Line 1, Col {col}: Insufficient data from data set: $PendingTasks wanted 70%, "
            f"received {format_double(percent)}%")
    else:
        assert run.error is None
        assert list(run.values["d"]) == inside


def test_worked_window_example_through_the_brute_force() -> None:
    """docs/language.md#worked-window-example through the brute force, so that the brute force
    itself is pinned."""
    values = [3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    p = 30 * SECOND
    assert _brute_force(values, p, 2 * p, 180 * SECOND, 0, 8) == \
        ([5.0, 6.0, 7.0, 8.0], 400 / 6, 6, [3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    assert _brute_force(values, p, 2 * p, 240 * SECOND, 120 * SECOND, 0)[:2] == ([3.0, 4.0, 5.0, 6.0], 100.0)
    assert _brute_force(values, p, 0, 180 * SECOND, 0, 1)[:2] == ([5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 100.0)
    assert _brute_force(values, p, 0, 10 * SECOND, 10 * SECOND, 1)[:2] == ([], 100.0)  # zero length
    assert _brute_force(values, p, 0, 10 * SECOND, 0, 1)[:2] == ([10.0], 100.0)  # shorter than P
    assert _brute_force(values, p, 2 * p, 10 * SECOND, 0, 1)[:2] == ([], 0.0)


# ---------------------------------------------------------------------------------------------
# (d) unchecked evaluation
# ---------------------------------------------------------------------------------------------

def test_unchecked_read_before_assignment_fails_at_run_time() -> None:
    with pytest.raises(FormulaError) as checked:
        compile_formula("x = y + 1;")
    assert checked.value.detail == "Line 1, Col 5: UndefinedVariable: y is used before it is assigned"

    run = compile_formula("x = y + 1;", strict=False).evaluate(now=NOW)
    assert run.error is not None
    assert run.error.code == "UndefinedVariable"
    assert run.error.detail == "Line 1, Col 5: y is used before it is assigned"
    assert run.results == "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue"


def test_unchecked_unread_variable_is_fine() -> None:
    run = compile_formula("x = 0 && y;", strict=False).evaluate(now=NOW)
    assert run.error is None
    assert run.results == "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;x=0"
    run = compile_formula("x = 1 || y.hour; z = 1 ? 2 : y;", strict=False).evaluate(now=NOW)
    assert run.error is None and run.results.endswith(";x=1;z=2")
    run = compile_formula("x = 0 ? y : 2; z = y.foo;", strict=False).evaluate(now=NOW)
    assert run.error.code == "UndefinedVariable"
    assert run.error.detail == "Line 1, Col 20: y is used before it is assigned"
    assert run.results.endswith(";x=2")
