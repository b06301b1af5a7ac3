"""Evaluate formula text against a scenario and package the AutoScaleRun.

This is where a compile failure (limits, syntax, validation) becomes a run
with an empty results string and the error (docs/language.md#the-run-record), so callers such as
``poolscale eval`` and the compliance corpus treat every phase alike.
"""

from __future__ import annotations

from poolscale.formula import AutoScaleRun, AutoScaleRunError, FormulaError, compile_formula
from poolscale.formula.values import Timestamp

from .scenario import Scenario, scenario_from_dict


def failed_run(time: Timestamp, error: FormulaError) -> AutoScaleRun:
    """The run of a formula that did not compile: nothing ran, so no results."""
    return AutoScaleRun(time, (), AutoScaleRunError(error.code, error.detail))


def evaluate_text(text: str, scenario: Scenario | None = None, *,
                  time: Timestamp | None = None) -> AutoScaleRun:
    """Compile and run ``text`` at ``time`` (else the scenario's time).

    The caller supplies the instant when the scenario has none; this module
    never reads the clock.
    """
    scenario = scenario if scenario is not None else scenario_from_dict({})
    when = time if time is not None else scenario.time
    if when is None:
        raise ValueError("evaluate_text needs a time: the scenario has none and none was given")
    try:
        formula = compile_formula(text)
    except FormulaError as e:
        return failed_run(when, e)
    return formula.evaluate(scenario.store(when), now=when, pool=scenario.pool, seed=scenario.seed)
