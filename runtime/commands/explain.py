"""`poolscale explain`: the decision trace of one run."""

from __future__ import annotations

import argparse
import json
import sys

from ..cli import EXIT_FINDINGS, EXIT_OK, HelpFormatter
from ..inputs import add_run_arguments, load_run


def add_parser(sub) -> None:
    p = sub.add_parser(
        "explain", help="show why a formula decided what it did",
        description="Evaluate FORMULA once, like 'poolscale eval', and show the decision trace: "
                    "every statement with its value; for each ?: the condition's value and the "
                    "branch that ran; each && / || that skipped its right operand; for each sample "
                    "method the window, the samples used, the percent available and the minimum "
                    "it had to meet; and where an error arose.",
        epilog="Exit status: 0 the run succeeded, 1 the run has an error, 2 usage error.",
        formatter_class=HelpFormatter)
    add_run_arguments(p, json_help="print the trace as one JSON object")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from poolscale.formula import FormulaError, compile_formula
    from poolscale.formula.trace import explain


    text, scenario, when, store = load_run(args)
    path = "<stdin>" if args.formula == "-" else args.formula
    try:
        formula = compile_formula(text)
    except FormulaError as e:
        if args.json:
            d = e.diagnostic
            sys.stdout.write(json.dumps({"run": None, "error": {
                "code": e.code, "message": e.message, "detail": e.detail,
                "line": d.line, "column": d.column, "hint": e.hint}}) + "\n")
        else:
            sys.stdout.write(e.render(path) + "\n")
        return EXIT_FINDINGS
    trace = explain(formula, store, now=when, pool=scenario.pool, seed=scenario.seed)
    if args.json:
        sys.stdout.write(json.dumps(trace.to_dict(), allow_nan=False) + "\n")
    else:
        sys.stdout.write(trace.render_text())
    return EXIT_OK if trace.run.error is None else EXIT_FINDINGS
