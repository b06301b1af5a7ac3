"""Benchmark 2: ``compile_formula`` of a realistic ~8 KB, 100-statement formula,
and each of its phases on its own (tokenize, parse, check, closures)."""

from __future__ import annotations

from bench_formulas import EVAL_FORMULA, PERIOD, big_formula, now_ticks, sample_values
from bench_timing import per_call


def run(*, rounds: int, min_time: float) -> dict:
    from poolscale.formula import compile_formula
    from poolscale.formula.checker import check
    from poolscale.formula.compiler import compile_program
    from poolscale.formula.formula import Formula
    from poolscale.formula.lexer import split_statements, tokenize
    from poolscale.formula.parser import parse
    from poolscale.metrics import SampleStore, Series

    text = big_formula()
    statements = len(split_statements(tokenize(text)))
    program = parse(text)
    facts = check(program, text)
    formula = compile_formula(text)
    now = now_ticks()
    store = SampleStore({n: Series.from_values(v, end=now, period=PERIOD)
                         for n, v in sample_values().items()}, period=PERIOD)
    outcome = formula.evaluate(store, now=now, seed=1)
    if outcome.error is not None:  # the formula is meant to run, not only to compile
        raise AssertionError(f"the 8 KB formula failed at run time: {outcome.error}")

    phases = {
        "compile_formula": lambda: compile_formula(text),
        "tokenize": lambda: tokenize(text),
        "parse (tokenize + Lark LALR + AST)": lambda: parse(text),
        "check": lambda: check(program, text),
        "compile_program (closures)": lambda: compile_program(program, facts),
        "Formula() (closures + names + depth)": lambda: Formula(text, program, facts),
        "evaluate (once compiled)": lambda: formula.evaluate(store, now=now, seed=1),
        "compile_formula, 6-statement formula": lambda: compile_formula(EVAL_FORMULA),
    }
    timings = {name: per_call(fn, rounds=rounds, min_time=min_time) for name, fn in phases.items()}
    ms = {name: t["median_s"] * 1e3 for name, t in timings.items()}
    return {
        "chars": len(text),
        "statements": statements,
        "lines": text.count("\n"),
        "compile_ms": ms["compile_formula"],
        "target_ms": 20.0,
        "phases_ms": ms,
        "timings": timings,
    }
