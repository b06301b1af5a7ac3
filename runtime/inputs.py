"""What `eval`, `explain` and the REPL read besides the formula: a scenario and an instant.

Shared so that every command resolves the evaluation time the same way
(--time, else the scenario's time, else now) and reports a bad scenario as a
usage error naming the key.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this module while building its parser: keep it light
    from poolscale.formula.values import Timestamp


def add_run_arguments(parser, *, json_help: str) -> None:
    """The arguments of a command that runs a formula once: FORMULA, --scenario, --time, --json."""
    parser.add_argument("formula", metavar="FORMULA", help="formula file, or - for standard input")
    parser.add_argument("--scenario", metavar="FILE",
                        help="pool state and metric history (JSON or YAML)")
    parser.add_argument("--time", metavar="ISO8601",
                        help="evaluation time (overrides the scenario's; default: now, UTC)")
    parser.add_argument("--json", action="store_true", help=json_help)


def load_run(args):
    """(formula text, scenario, time, store) for a command defined with add_run_arguments;
    a problem with any of them is a UsageError (exit 2)."""
    from .cli import UsageError, read_formula

    text = read_formula(args.formula)
    try:
        return (text, *load_inputs(args.scenario, args.time))
    except InputError as e:
        raise UsageError(str(e)) from None


class InputError(Exception):
    """A scenario or time that cannot be used; the CLI turns it into exit 2."""


def load_inputs(scenario_path: str | None, time_text: str | None, *, clock=None):
    """(scenario, evaluation time, sample store). ``clock`` returns the current UTC datetime."""
    from poolscale.formula.timeparse import parse_iso_time
    from poolscale.formula.values import timestamp_from_datetime

    from .scenario import ScenarioError, load_scenario, scenario_from_dict

    try:
        scenario = load_scenario(scenario_path) if scenario_path else scenario_from_dict({})
    except ScenarioError as e:
        raise InputError(str(e)) from None
    except OSError as e:
        raise InputError(f"cannot read scenario {scenario_path}: {e.strerror or e}") from None
    when: Timestamp | None = None
    if time_text is not None:
        when = parse_iso_time(time_text)
        if when is None:
            raise InputError(f"--time: cannot parse {time_text!r} (use e.g. 2026-03-02T10:00:00Z)")
    if when is None:
        when = scenario.time
    if when is None:
        when = timestamp_from_datetime((clock or _utc_now)())
    try:
        store = scenario.store(when)
    except ValueError as e:  # samples that cannot be placed on the time line
        raise InputError(f"scenario: {e}") from None
    return scenario, when, store


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)
