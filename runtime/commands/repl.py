"""`poolscale repl`: the interactive formula shell (line mode when stdin is not a terminal)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from ..cli import EXIT_OK, HelpFormatter, UsageError, read_formula


def add_parser(sub) -> None:
    p = sub.add_parser(
        "repl", help="interactive shell: type statements, see their values",
        description="An interactive shell for autoscale formulas.\n\n"
                    "Each input (statements ending with ';') is added to the session formula,\n"
                    "which runs again against the current scenario. Assignments print\n"
                    "name=value, expression statements '= value', failures\n"
                    "'error: CODE: Line L, Col C: ...' (L counted in the input); an input that\n"
                    "fails is not kept. Meta-commands start with ':' (:help lists them).\n"
                    "When standard input is not a terminal the same is read from it, without\n"
                    "prompts, so the shell can be scripted. See docs/repl.md.",
        epilog="History: $XDG_STATE_HOME/poolscale/history (default\n"
               "~/.local/state/poolscale/history).\n"
               "Exit status: 0; in line mode 1 if any input failed; 2 usage error.",
        formatter_class=HelpFormatter)
    p.add_argument("--scenario", metavar="FILE", help="pool state and metric history (JSON or YAML)")
    p.add_argument("--time", metavar="ISO8601",
                   help="evaluation time (overrides the scenario's; default: now, at each input)")
    p.add_argument("--seed", type=int, metavar="N", help="seed of rand() (overrides the scenario's)")
    p.add_argument("--formula", metavar="FILE", help="start with the statements of this formula")
    p.add_argument("--history", metavar="FILE", help="history file (default: see below)")
    p.add_argument("--no-history", action="store_true", help="keep no history on disk")
    p.add_argument("--plain", action="store_true",
                   help="line mode even on a terminal: no prompt, no editing")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..inputs import InputError, load_inputs
    from ..repl import (
        InputLineError, ReplSession, bounded_lines, history_path, run_lines, run_terminal)

    try:
        scenario, when, _ = load_inputs(args.scenario, args.time)
    except InputError as e:
        raise UsageError(str(e)) from None
    if args.seed is not None:
        scenario = dataclasses.replace(scenario, seed=args.seed)
    interactive = not args.plain and sys.stdin.isatty() and sys.stdout.isatty()
    session = ReplSession(scenario, time=when if args.time is not None else None, caret=interactive)
    failed = False
    if args.formula:
        reply = session.handle(read_formula(args.formula))
        sys.stdout.write(reply.text)
        failed = reply.failed
    if not interactive:
        try:
            return run_lines(session, bounded_lines(sys.stdin.buffer), sys.stdout.write) or int(failed)
        except InputLineError as e:
            raise UsageError(str(e)) from None
    history = None
    if not args.no_history:
        history = Path(args.history) if args.history else history_path()
    run_terminal(session, history=history)
    return EXIT_OK
