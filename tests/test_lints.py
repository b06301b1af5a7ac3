"""Lint messages that say what the formula risks and what actually prevents it."""

from __future__ import annotations

import pytest

from poolscale.formula import lint
from poolscale.formula.timeparse import parse_iso_time
from poolscale.runtime.run import evaluate_text
from poolscale.runtime.scenario import scenario_from_dict

T = "2026-03-02T10:00:00Z"
FIVE = "TimeInterval_Minute * 5"


def warnings(text: str, code: str | None = None) -> list[str]:
    return [f"{w.line}:{w.column} {w.code} {w.message}" for w in lint(text)
            if code is None or w.code == code]


def fails_on_a_new_pool(text: str) -> str | None:
    """The error code of a run with no samples at all (a pool that was just created)."""
    run = evaluate_text(text, scenario_from_dict({}), time=parse_iso_time(T))
    return run.error.code if run.error else None


# -- UnguardedGetSample ---------------------------------------------------------------------

@pytest.mark.parametrize("call, minimum", [
    (f"GetSample({FIVE})", "70% (the default minimum)"),
    (f"GetSample({FIVE}, 50)", "50%"),
    (f"GetSample({FIVE}, 100)", "100%"),
    (f"GetSample({FIVE}, TimeInterval_Minute)", "70% (the default minimum)"),
    (f"GetSample(time() + -({FIVE}), 12.5)", "12.5%"),
])
def test_unguarded_getsample_names_its_minimum_and_what_prevents_the_failure(call, minimum):
    text = f"$TargetDedicatedNodes = avg($PendingTasks.{call});"
    assert fails_on_a_new_pool(text) == "InsufficientSampleData"
    assert warnings(text, "UnguardedGetSample") == [
        f"1:52 UnguardedGetSample GetSample on $PendingTasks fails with InsufficientSampleData "
        f"while less than {minimum} of its window has samples, as on a new pool; test "
        "GetSamplePercent first (in a ?: condition, or left of && or ||) or pass a minimum "
        "percent of 0"]


def test_unguarded_getsample_with_a_computed_minimum():
    text = f"p = 50; $TargetDedicatedNodes = avg($PendingTasks.GetSample({FIVE}, p));"
    assert warnings(text, "UnguardedGetSample") == [
        "1:60 UnguardedGetSample GetSample on $PendingTasks fails with InsufficientSampleData "
        "while less than the given minimum percent of its window has samples, as on a new pool; "
        "test GetSamplePercent first (in a ?: condition, or left of && or ||) or pass a minimum "
        "percent of 0"]


@pytest.mark.parametrize("text", [
    # the minimum is 0: the window never fails (an empty pool gives an empty vector)
    f"v = $PendingTasks.GetSample({FIVE}, 0); $TargetDedicatedNodes = max(v, 0);",
    # a GetSamplePercent test decides whether it runs
    f"p = $PendingTasks.GetSamplePercent({FIVE});"
    f"$TargetDedicatedNodes = p < 70 ? 0 : avg($PendingTasks.GetSample({FIVE}));",
    f"ok = $PendingTasks.GetSamplePercent({FIVE}) >= 70 && avg($PendingTasks.GetSample({FIVE})) > 5;"
    "$TargetDedicatedNodes = ok;",
    f"$PendingTasks.GetSamplePercent({FIVE}) < 70 ? stop() : 0;"
    f"$TargetDedicatedNodes = avg($PendingTasks.GetSample({FIVE}));",
])
def test_what_prevents_the_failure_silences_the_lint(text):
    assert fails_on_a_new_pool(text) is None
    assert warnings(text, "UnguardedGetSample") == []
