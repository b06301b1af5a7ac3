"""Lint messages that say what the formula risks and what actually prevents it."""

from __future__ import annotations

import json

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


# -- FractionForPercent -----------------------------------------------------------------------

#: the CPU example of the Microsoft autoscale docs, which compares percentages with 0.7 and 0.2
DOCS_CPU_EXAMPLE = """$totalDedicatedNodes =
    (min($CPUPercent.GetSample(TimeInterval_Minute * 10)) > 0.7) ?
    ($CurrentDedicatedNodes * 1.1) : $CurrentDedicatedNodes;
$totalDedicatedNodes =
    (avg($CPUPercent.GetSample(TimeInterval_Minute * 60)) < 0.2) ?
    ($CurrentDedicatedNodes * 0.9) : $totalDedicatedNodes;
$TargetDedicatedNodes = min(400, $totalDedicatedNodes);
"""


def test_the_docs_cpu_example_compares_percentages_with_fractions():
    assert warnings(DOCS_CPU_EXAMPLE, "FractionForPercent") == [
        "2:61 FractionForPercent $CPUPercent is a percentage (0 to 100), compared here with the "
        "fraction 0.7; write 70 for 70%",
        "5:61 FractionForPercent $CPUPercent is a percentage (0 to 100), compared here with the "
        "fraction 0.2; write 20 for 20%"]


@pytest.mark.parametrize("text, expected", [
    # through a variable, the literal on the left, a threshold variable
    ("cpu = max($CPUPercent.GetSample(5)); $TargetDedicatedNodes = 0.75 <= cpu;",
     "1:62 FractionForPercent $CPUPercent is a percentage (0 to 100), compared here with the "
     "fraction 0.75; write 75 for 75%"),
    ("t = 0.5; $TargetDedicatedNodes = percentile($CPUPercent.GetSample(5), 90) > t;",
     "1:77 FractionForPercent $CPUPercent is a percentage (0 to 100), compared here with the "
     "fraction 0.5; write 50 for 50%"),
    ("$TargetDedicatedNodes = $ActiveTasks.GetSamplePercent(TimeInterval_Hour) < 0.9 ? 0 : 1;",
     "1:76 FractionForPercent GetSamplePercent is a percentage (0 to 100), compared here with "
     "the fraction 0.9; write 90 for 90%"),
    ("$TargetDedicatedNodes = avg($ActiveTasks.GetSample(TimeInterval_Minute * 5, 0.7));",
     "1:77 FractionForPercent GetSample() takes its minimum as a percentage (0 to 100), not the "
     "fraction 0.7; write 70 for 70%"),
    ("$TargetDedicatedNodes = percentile($ActiveTasks.GetSample(10), 0.95);",
     "1:64 FractionForPercent percentile() takes p as a percentage (0 to 100), not the fraction "
     "0.95; write 95 for 95%"),
])
def test_a_fraction_where_a_percentage_is_meant(text, expected):
    assert warnings(text, "FractionForPercent") == [expected]


@pytest.mark.parametrize("text", [
    "$TargetDedicatedNodes = avg($CPUPercent.GetSample(5)) > 70;",         # a percentage
    "$TargetDedicatedNodes = avg($CPUPercent.GetSample(5)) / 100 > 0.7;",  # made a fraction
    "$TargetDedicatedNodes = avg($ActiveTasks.GetSample(5)) > 0.5;",       # a count
    "$TargetDedicatedNodes = avg($CPUPercent.GetSample(5)) > 0;",          # 0 is 0 in any unit
    "$TargetDedicatedNodes = avg($CPUPercent.GetSample(5)) > 1;",
    "$TargetDedicatedNodes = percentile($ActiveTasks.GetSample(10), 95);",
    "t = 0.5; t = 50; $TargetDedicatedNodes = avg($CPUPercent.GetSample(5)) > t;",  # latest is 50
    "cpu = avg($CPUPercent.GetSample(5)); cpu = 3; $TargetDedicatedNodes = cpu > 0.5;",
])
def test_no_warning_when_the_units_agree(text):
    assert warnings(text, "FractionForPercent") == []


def test_check_reports_the_fraction_lint(capsys, tmp_path, monkeypatch):
    from poolscale.runtime.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "cpu.formula").write_text(
        "$TargetDedicatedNodes = avg($CPUPercent.GetSample(5)) > 0.7;\n", encoding="utf-8")
    assert main(["check", "cpu.formula"]) == 0
    out, err = capsys.readouterr()
    assert out == ("cpu.formula:1:57: FractionForPercent $CPUPercent is a percentage (0 to 100), "
                   "compared here with the fraction 0.7; write 70 for 70%\n"
                   "$TargetDedicatedNodes = avg($CPUPercent.GetSample(5)) > 0.7;\n"
                   "                                                        ^^^\n")
    assert err == "1 file, 0 errors, 1 warning\n"
    assert main(["check", "--strict", "--format", "sarif", "cpu.formula"]) == 1
    rule = json.loads(capsys.readouterr().out)["runs"][0]["tool"]["driver"]["rules"][0]
    assert rule["shortDescription"]["text"] == (
        "A fraction (between 0 and 1) is used where a percentage (0 to 100) is meant.")


# -- MisspeltTarget -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("$TargetDedicatedNode = 5;",
     "1:1 MisspeltTarget '$TargetDedicatedNode' is a user variable, not a target: the service "
     "ignores it; did you mean '$TargetDedicatedNodes'?"),
    ("$TargetDedicatedNodes = 2; $NodeDeallocationOptions = taskcompletion;",
     "1:28 MisspeltTarget '$NodeDeallocationOptions' is a user variable, not a target: the "
     "service ignores it; did you mean '$NodeDeallocationOption'?"),
    ("$TargetDedicatedNodes = 2; x = 1; $targetlowpriortynodes = x; $targetlowpriortynodes = 3;",
     "1:35 MisspeltTarget '$targetlowpriortynodes' is a user variable, not a target: the "
     "service ignores it; did you mean '$TargetLowPriorityNodes'?"),
])
def test_a_user_variable_one_letter_from_a_target(text, expected):
    assert warnings(text, "MisspeltTarget") == [expected]


@pytest.mark.parametrize("text", [
    # the Microsoft docs' own user variables are not near misses
    "$totalDedicatedNodes = 1; $TargetDedicatedNodes = min(400, $totalDedicatedNodes);",
    "$TargetDedicated = 1;",                   # the legacy alias is a target
    "TargetDedicatedNode = 1; $TargetDedicatedNodes = 1;",  # a bare name is never a target
    "$TargetNodes = 1; $TargetDedicatedNodes = 1;",
    "$TargetDedicatedNode1 = 1; $TargetDedicatedNode2 = 2; $TargetDedicatedNodes = 3;",
])
def test_no_misspelt_target_warning(text):
    assert warnings(text, "MisspeltTarget") == []


def test_check_reports_the_misspelt_target(capsys, tmp_path, monkeypatch):
    from poolscale.runtime.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.formula").write_text(
        "$TargetDedicatedNodes = 1;\n$NodeDeallocationOptions = taskcompletion;\n", encoding="utf-8")
    assert main(["check", "--format", "github", "t.formula"]) == 0
    assert capsys.readouterr().out == (
        "::warning file=t.formula,line=2,col=1,endLine=2,endColumn=25,title=MisspeltTarget::"
        "'$NodeDeallocationOptions' is a user variable, not a target: the service ignores it; "
        "did you mean '$NodeDeallocationOption'?\n")
