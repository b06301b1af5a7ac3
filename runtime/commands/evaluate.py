"""`poolscale eval`: one evaluation, exactly per the evaluation contract
(docs/language.md#poolscale-eval-and-the-scenario-file)."""

from __future__ import annotations

import argparse
import json
import sys

from ..cli import EXIT_FINDINGS, EXIT_OK, HelpFormatter
from ..inputs import add_run_arguments, load_run


def add_parser(sub) -> None:
    ev = sub.add_parser(
        "eval", help="evaluate a formula once and print its AutoScaleRun",
        description="Evaluate FORMULA once at one instant, as the Batch service would, and print "
                    "the results string (plus 'error: CODE: MESSAGE' and the 'Line L, Col C: ...' "
                    "detail when the run fails). Nothing is changed anywhere: this is an "
                    "evaluate-only run.",
        epilog="Scenario file (JSON or YAML), every field optional:\n"
               '  {"time": "2026-03-02T10:00:00Z",\n'
               '   "pool": {"currentDedicatedNodes": 2, "targetDedicatedNodes": 2, '
               '"taskSlotsPerNode": 1},\n'
               '   "samples": {"$PendingTasks": "0+1x9 _ 12", "CPUPercent": [10, 20, null]},\n'
               '   "period": "PT30S", "delay": "PT0S", "seed": 7}\n'
               "The last sample of each series is stamped at the evaluation time.\n"
               "Exit status: 0 evaluated without error, 1 the run has an error, 2 usage error.",
        formatter_class=HelpFormatter)
    add_run_arguments(ev, json_help="print one JSON object instead of text")
    ev.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from poolscale.formula import FormulaError, compile_formula

    from ..run import failed_run

    text, scenario, when, store = load_run(args)
    try:
        run = compile_formula(text).evaluate(store, now=when, pool=scenario.pool, seed=scenario.seed)
    except FormulaError as e:
        run = failed_run(when, e)
        hint = e.hint
    else:
        hint = None
    out = sys.stdout
    if args.json:
        out.write(json.dumps(run.to_dict(), allow_nan=False) + "\n")
    else:
        if run.results:       # a formula that does not compile has none: no blank line then
            out.write(run.results + "\n")
        if run.error is not None:
            out.write(f"error: {run.error.code}: {run.error.message}\n{run.error.detail}\n")
    if hint is not None:
        # On standard error, after the run: standard output is the AutoScaleRun, whose
        # detail is the service's text byte for byte and has no room for advice.
        out.flush()
        sys.stderr.write(f"poolscale: hint: {hint}\n")
    return EXIT_OK if run.error is None else EXIT_FINDINGS
