"""Did-you-mean: an unknown name is followed by the closest known one, in every tool, while the
service's error detail (the AutoScaleRun) stays byte for byte what the service says."""

from __future__ import annotations

import json

import pytest

from poolscale.formula import FormulaError, compile_formula
from poolscale.formula.suggest import closest
from poolscale.runtime.cli import main
from poolscale.runtime.repl import ReplSession
from poolscale.runtime.run import evaluate_text
from poolscale.formula.timeparse import parse_iso_time

T = "2026-03-02T10:00:00Z"


@pytest.mark.parametrize("formula, detail, hint", [
    ("$TargetDedicatedNodes = avg($PendingTask.GetSample(1));",
     "Line 1, Col 29: UndefinedVariable: $PendingTask is used before it is assigned",
     "did you mean '$PendingTasks'?"),
    ("$TargetDedicatedNodes = avg($pendingtask.GetSample(1));",  # wrong case and misspelt
     "Line 1, Col 29: UndefinedVariable: $pendingtask is used before it is assigned",
     "did you mean '$PendingTasks'?"),
    ("n = pendingtasks.Count();",  # the '$' forgotten
     "Line 1, Col 5: UndefinedVariable: pendingtasks is used before it is assigned",
     "did you mean '$PendingTasks'?"),
    ("$NodeDeallocationOption = taskcompleted;",
     "Line 1, Col 27: UndefinedVariable: taskcompleted is used before it is assigned",
     "did you mean 'taskcompletion'?"),
    ("i = TimeInterval_Minutes * 5;",
     "Line 1, Col 5: UndefinedVariable: TimeInterval_Minutes is used before it is assigned",
     "did you mean 'TimeInterval_Minute'?"),
    ("n = $PendingTasks.GetSamples(1);",
     "Line 1, Col 19: UnknownMember: $PendingTasks has no method 'GetSamples'",
     "did you mean 'GetSample'?"),
    ("p = $CPUPercent.getsamplepercentage(TimeInterval_Minute);",
     "Line 1, Col 17: UnknownMember: $CPUPercent has no method 'getsamplepercentage'",
     "did you mean 'GetSamplePercent'?"),
    ("x = percentil($CPUPercent.GetSample(1), 90);",
     "Line 1, Col 5: UnknownFunction: 'percentil' is not a function",
     "did you mean 'percentile'?"),
    ("n = GetSample(1);",  # a series method called as a function: the receiver forgotten
     "Line 1, Col 5: UnknownFunction: 'GetSample' is not a function",
     "GetSample is a method of a metric series: write e.g. $PendingTasks.GetSample(...)"),
    ("p = getsamplepercent(TimeInterval_Minute);",
     "Line 1, Col 5: UnknownFunction: 'getsamplepercent' is not a function",
     "GetSamplePercent is a method of a metric series: write e.g. $PendingTasks.GetSamplePercent(...)"),
    ("n = GetSamples(1);",
     "Line 1, Col 5: UnknownFunction: 'GetSamples' is not a function",
     "GetSample is a method of a metric series: write e.g. $PendingTasks.GetSample(...)"),
    ("h = time().hours;",
     "Line 1, Col 12: UnknownMember: timestamp has no member 'hours'",
     "did you mean 'hour'?"),
    ("d = time().day_of_week;",  # nothing close: the members are listed
     "Line 1, Col 12: UnknownMember: timestamp has no member 'day_of_week'",
     "a timestamp's members are year, month, day, weekday, hour, minute, second"),
    ("busyNodes = 1; $TargetDedicatedNodes = busynodes;",  # a user variable, wrong case
     "Line 1, Col 40: UndefinedVariable: busynodes is used before it is assigned",
     "did you mean 'busyNodes'?"),
    ("x = 1; $TargetDedicatedNodes = $x;",  # the '$' added
     "Line 1, Col 32: UndefinedVariable: $x is used before it is assigned",
     "did you mean 'x'?"),
])
def test_the_closest_name_is_a_hint_beside_the_unchanged_detail(formula, detail, hint):
    with pytest.raises(FormulaError) as info:
        compile_formula(formula)
    e = info.value
    assert (e.code, e.detail, e.hint) == ("AutoScalingFormulaValidationError", detail, hint)
    run = evaluate_text(formula, time=parse_iso_time(T))
    assert run.error.to_dict()["values"] == [{"name": "Message", "value": detail}]
    assert run.results == ""


@pytest.mark.parametrize("formula", [
    "y = zzz;",                          # nothing close
    "$TargetDedicatedNodes = $Tasks;",   # too far from every name
    "x = average(1);",
    "y = later; later = 1;",             # assigned only later: no name to suggest
    "n = $PendingTasks.Count(1);",       # a known name with a wrong form
])
def test_no_hint_when_no_name_is_close(formula):
    with pytest.raises(FormulaError) as info:
        compile_formula(formula)
    assert info.value.hint is None


def test_closest_is_deterministic_whatever_the_order_of_the_candidates():
    names = ["$x", "x", "X"]
    assert closest("$X", names) == closest("$X", list(reversed(names))) == "$x"
    assert closest("count2", ["count1", "count3"]) == closest("count2", ["count3", "count1"]) \
        == "count3"
    assert closest("a", ["a"]) is None  # the name itself is no suggestion
    assert closest("tiem", ["time", "tide"]) == "time"  # two letters swapped
    assert closest("xy", ["yx"]) is None


MISSPELT = "$TargetDedicatedNodes = avg($PendingTask.GetSample(TimeInterval_Minute * 5));\n"
SUGGESTION = "did you mean '$PendingTasks'?"


@pytest.fixture
def misspelt(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f.formula").write_text(MISSPELT, encoding="utf-8")
    return "f.formula"


def test_check_text_json_github_sarif_carry_the_hint(capsys, misspelt):
    message = ("UndefinedVariable: $PendingTask is used before it is assigned; "
               "did you mean '$PendingTasks'?")
    assert main(["check", misspelt]) == 1
    out, _ = capsys.readouterr()
    assert out.splitlines()[0] == f"f.formula:1:29: AutoScalingFormulaValidationError {message}"
    assert main(["check", "--format", "json", misspelt]) == 1
    assert json.loads(capsys.readouterr().out)["message"] == message
    assert main(["check", "--format", "github", misspelt]) == 1
    assert capsys.readouterr().out == (
        "::error file=f.formula,line=1,col=29,endLine=1,endColumn=41,"
        f"title=AutoScalingFormulaValidationError::{message}\n")
    assert main(["check", "--format", "sarif", misspelt]) == 1
    result = json.loads(capsys.readouterr().out)["runs"][0]["results"][0]
    assert result["message"] == {"text": message}


def test_eval_keeps_the_service_output_and_hints_on_stderr(capsys, misspelt):
    assert main(["eval", "--time", T, misspelt]) == 1
    out, err = capsys.readouterr()
    assert out == ("error: AutoScalingFormulaValidationError: The specified auto-scaling formula "
                   "is not valid.\nLine 1, Col 29: UndefinedVariable: $PendingTask is used before "
                   "it is assigned\n")
    assert err == f"poolscale: hint: {SUGGESTION}\n"
    assert main(["eval", "--json", "--time", T, misspelt]) == 1
    out, err = capsys.readouterr()
    assert "did you mean" not in out and err == f"poolscale: hint: {SUGGESTION}\n"


def test_explain_shows_the_hint(capsys, misspelt):
    assert main(["explain", "--time", T, misspelt]) == 1
    assert capsys.readouterr().out.splitlines()[0] == (
        "f.formula:1:29: AutoScalingFormulaValidationError: UndefinedVariable: $PendingTask is "
        f"used before it is assigned; {SUGGESTION}")
    assert main(["explain", "--json", "--time", T, misspelt]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["hint"] == SUGGESTION


def test_repl_prints_a_hint_line_and_knows_the_session_variables():
    s = ReplSession(time=parse_iso_time(T))
    assert s.handle("busy = 4;").lines == ["busy=4"]
    assert s.handle("x = Busy * 2;").lines == [
        "error: AutoScalingFormulaValidationError: Line 1, Col 5: UndefinedVariable: "
        "Busy is used before it is assigned",
        "hint: did you mean 'busy'?"]
    assert s.handle(":type $CPUPercent.GetSampl(1)").lines == [
        "error: AutoScalingFormulaValidationError: Line 1, Col 13: UnknownMember: "
        "$CPUPercent has no method 'GetSampl'",
        "hint: did you mean 'GetSample'?"]


# -- unit mix-ups the checker refuses: the hint says how the language writes them ----------

@pytest.mark.parametrize("formula, detail, hint", [
    ("up = time() - $ActiveTasks.HistoryBeginTime() > 10;",
     "Line 1, Col 47: TypeError: operator '>' cannot be applied to (timeinterval, double)",
     "a plain number has no unit: write 10 * TimeInterval_Minute (or _Second, _Hour, ...) "
     "for a timeinterval"),
    ("n = 3; up = n < TimeInterval_Hour;",
     "Line 1, Col 15: TypeError: operator '<' cannot be applied to (double, timeinterval)",
     "a plain number has no unit: write n * TimeInterval_Minute (or _Second, _Hour, ...) "
     "for a timeinterval"),
    ("later = time() + 300;",
     "Line 1, Col 16: TypeError: operator '+' cannot be applied to (timestamp, double)",
     "a plain number has no unit: write 300 * TimeInterval_Minute (or _Second, _Hour, ...) "
     "for a timeinterval"),
    ("earlier = time() - 300;",
     "Line 1, Col 18: TypeError: operator '-' cannot be applied to (timestamp, double)",
     "write t + -(300 * TimeInterval_Minute): a timestamp goes back by adding a negative "
     "timeinterval"),
    ("earlier = time() - TimeInterval_Hour;",
     "Line 1, Col 18: TypeError: operator '-' cannot be applied to (timestamp, timeinterval)",
     "write t + -(interval): a timestamp goes back by adding a negative timeinterval"),
    ('$NodeDeallocationOption = "TaskCompletion";',
     "Line 1, Col 1: TypeError: cannot assign string to $NodeDeallocationOption",
     "write the keyword without quotes: taskcompletion"),
    ('$NodeDeallocationOption = "requeu";',
     "Line 1, Col 1: TypeError: cannot assign string to $NodeDeallocationOption",
     "write the keyword without quotes: requeue"),
])
def test_a_time_or_keyword_mix_up_gets_a_hint(formula, detail, hint):
    with pytest.raises(FormulaError) as info:
        compile_formula(formula)
    assert (info.value.detail, info.value.hint) == (detail, hint)


@pytest.mark.parametrize("formula", [
    "x = time() > 8;",       # a timestamp is no number of anything
    "x = 300 - time();",
    "x = 2 * $ActiveTasks.GetSample(1);",
    '$NodeDeallocationOption = "later";',
    "x = -time();",
])
def test_no_hint_for_other_type_errors(formula):
    with pytest.raises(FormulaError) as info:
        compile_formula(formula)
    assert info.value.hint is None


@pytest.mark.parametrize("formula, detail, hint", [
    ("v = $PendingTasks.GetSample(5, 70);",
     "Line 1, Col 19: TypeError: 'GetSample' has no form taking (double, double)",
     "a plain number is a count of samples, which takes no percent; a window is a timeinterval: "
     "write 5 * TimeInterval_Minute (or _Second, _Hour, ...)"),
    ("p = $PendingTasks.GetSamplePercent(300);",
     "Line 1, Col 19: TypeError: 'GetSamplePercent' has no form taking (double)",
     "a window is a timeinterval: write 300 * TimeInterval_Minute (or _Second, _Hour, ...)"),
    ("n = 5; p = $PendingTasks.getsamplepercent(n, 2);",
     "Line 1, Col 26: TypeError: 'getsamplepercent' has no form taking (double, double)",
     "a window is a timeinterval: write n * TimeInterval_Minute (or _Second, _Hour, ...)"),
])
def test_a_window_written_as_a_plain_number_gets_a_hint(formula, detail, hint):
    with pytest.raises(FormulaError) as info:
        compile_formula(formula)
    assert (info.value.detail, info.value.hint) == (detail, hint)


@pytest.mark.parametrize("formula", [
    "v = $PendingTasks.GetSample();",
    "v = $PendingTasks.GetSample(TimeInterval_Minute, 5, 70);",
    "v = $PendingTasks.Count(5);",
])
def test_no_window_hint_for_other_wrong_forms(formula):
    with pytest.raises(FormulaError) as info:
        compile_formula(formula)
    assert info.value.hint is None


# -- the other places docs/check.md#did-you-mean promises the hint -----------------------------

MISSPELT_SHORT = "$TargetDedicatedNodes = $PendingTask.GetSample(1);"
HEAD = ("AutoScalingFormulaValidationError: UndefinedVariable: $PendingTask is used before it is "
        f"assigned; {SUGGESTION}")
CARET = f"{MISSPELT_SHORT}\n{' ' * 24}^\n"


def test_render_appends_the_hint_to_the_head_line():
    with pytest.raises(FormulaError) as info:
        compile_formula(MISSPELT_SHORT)
    assert info.value.render() == f"<formula>:1:25: {HEAD}\n{CARET}".rstrip("\n")


def test_simulate_and_compare_end_the_formula_error_with_the_hint(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pool = {"id": "p", "vmSize": "STANDARD_D2s_v3", "taskSlotsPerNode": 1}
    (tmp_path / "fixed.json").write_text(json.dumps({**pool, "targetDedicatedNodes": 1}))
    (tmp_path / "auto.json").write_text(json.dumps(
        {**pool, "enableAutoScale": True, "autoScaleFormula": MISSPELT_SHORT}))
    (tmp_path / "w.csv").write_text("submit_time,duration\n0,60\n")
    (tmp_path / "f.formula").write_text(MISSPELT_SHORT + "\n")
    common = ["--workload", "w.csv", "--horizon", "1h", "--no-progress"]
    assert main(["simulate", "--pool", "auto.json", *common]) == 1
    assert capsys.readouterr() == ("", f"auto.json#/autoScaleFormula:1:25: {HEAD}\n{CARET}")
    assert main(["simulate", "--pool", "fixed.json", "--formula", "f.formula", *common]) == 1
    assert capsys.readouterr() == ("", f"f.formula:1:25: {HEAD}\n{CARET}")
    assert main(["compare", "--pool", "fixed.json", "--formula", "f.formula", *common]) == 1
    assert capsys.readouterr() == ("", f"f.formula:1:25: {HEAD}\n{CARET}")
