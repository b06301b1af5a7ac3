"""`poolscale explain` and the Trace behind it."""

from __future__ import annotations

import json
from pathlib import Path

from poolscale.formula import compile_formula
from poolscale.formula.timeparse import parse_iso_time
from poolscale.formula.trace import explain
from poolscale.runtime.cli import main

ROOT = Path(__file__).resolve().parent.parent
T = parse_iso_time("2026-03-02T10:00:00Z")


def test_explain_example_exact(capsys):
    code = main(["explain", str(ROOT / "examples/busy-pool.formula"),
                 "--scenario", str(ROOT / "examples/busy-pool.json")])
    out = capsys.readouterr().out
    assert code == 0
    window = "window (2026-03-02T09:50:00.000Z, 2026-03-02T10:00:00.000Z], expected 20, available 19 = 95%"
    assert out.splitlines() == [
        "3:1  $busy = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 10) < 70…",
        f"3:39    $PendingTasks.GetSamplePercent(TimeInterval_Minute * 10): {window}",
        "4:5    ?: condition $PendingTasks.GetSamplePercent(TimeInterval_Minute * 10) < 70 = 0 (false) "
        "-> else branch avg($PendingTasks.GetSample(TimeInterval_Minute * 10))",
        f"5:34    $PendingTasks.GetSample(TimeInterval_Minute * 10): {window}, minimum 70% ok; "
        "samples [3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,20,22,21]",
        "        => $busy = 12.1579",
        "6:1  $TargetDedicatedNodes = min(20, $busy)",
        "        => $TargetDedicatedNodes = 12.1579",
        "7:1  $NodeDeallocationOption = taskcompletion",
        "        => $NodeDeallocationOption = taskcompletion",
        "results: $TargetDedicatedNodes=12.1579;$TargetLowPriorityNodes=0;"
        "$NodeDeallocationOption=taskcompletion;$busy=12.1579",
    ]


def test_trace_records_shortcuts_stop_and_the_same_rand_draws():
    f = compile_formula("a = 0 && $ActiveTasks.GetSample(TimeInterval_Minute) > 1;\n"
                        "r = rand();\nb = $ActiveTasks.Count() == 0 ? stop() : 1;\nc = 1;")
    trace = explain(f, None, now=T, seed=7)
    assert trace.run.results == f.evaluate(now=T, seed=7).results
    assert trace.run.results.endswith(";a=0;r=0.323833")
    kinds = [(e.kind, e.line, e.column) for e in trace.events]
    assert kinds == [("statement", 1, 1), ("shortcut", 1, 7), ("statement", 2, 1),
                     ("statement", 3, 1), ("sample", 3, 23), ("branch", 3, 31)]
    assert trace.events[3].data["stopped"] is True
    assert trace.events[5].data["taken"] == "then"


def test_trace_shows_where_an_error_arose(capsys, tmp_path):
    f = tmp_path / "e7.formula"
    f.write_text("$TargetDedicatedNodes = 1;\nbusy = avg($PendingTasks.GetSample(180 * TimeInterval_Second));\n")
    s = tmp_path / "s.json"
    s.write_text(json.dumps({"samples": {"$PendingTasks": "3 4 5 6 7 8 9 10"}, "delay": "PT60S"}))
    code = main(["explain", str(f), "--scenario", str(s), "--time", "2026-03-02T10:00:00Z"])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[3] == ("2:35    $PendingTasks.GetSample(180 * TimeInterval_Second): window "
                      "(2026-03-02T09:57:00.000Z, 2026-03-02T10:00:00.000Z], expected 6, available 4 = "
                      "66.6667%, minimum 70% FAILS")
    assert out[4] == ("2:35    error InsufficientSampleData: Line 2, Col 35: Insufficient data from data set: "
                      "$PendingTasks wanted 70%, received 66.6667%")
    assert out[-2:] == ["error: InsufficientSampleData: Autoscale evaluation failed due to insufficient sample data",
                        "Line 2, Col 35: Insufficient data from data set: $PendingTasks wanted 70%, received 66.6667%"]


def test_explain_json_and_compile_error(capsys, tmp_path):
    f = tmp_path / "bad.formula"
    f.write_text("x = 1 $y = 2")
    assert main(["explain", str(f), "--time", "2026-03-02T10:00:00Z"]) == 1
    assert capsys.readouterr().out == (
        f"{f}:1:7: AutoScalingFormulaSyntaxError: ';' probably missing before this statement\n"
        "x = 1 $y = 2\n      ^\n")
    f.write_text("v = $CPUPercent.GetSample(2); $TargetDedicatedNodes = len(v) > 1 ? 3 : 1;")
    s = tmp_path / "s.json"
    s.write_text(json.dumps({"samples": {"CPUPercent": [1, 2]}}))
    assert main(["explain", str(f), "--scenario", str(s), "--time", "2026-03-02T10:00:00Z", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["run"]["results"] == "$TargetDedicatedNodes=3;$TargetLowPriorityNodes=0;" \
                                    "$NodeDeallocationOption=requeue;v=[1,2]"
    sample = [e for e in doc["events"] if e["kind"] == "sample"][0]
    assert (sample["series"], sample["method"], sample["result"]) == ("$CPUPercent", "GetSample", [1, 2])
    branch = [e for e in doc["events"] if e["kind"] == "branch"][0]
    assert (branch["value"], branch["taken"], branch["branch"]) == (1, "then", "3")


def test_explain_traces_the_deepest_nesting_the_parser_accepts(capsys, tmp_path):
    # 8188 unary operators: four frames a level in the tracing compiler, once a RecursionError.
    for op, operand, value in (("-", "1", "1"), ("!", "0", "0")):
        f = tmp_path / "deep.formula"
        f.write_text("x=" + op * 8188 + operand + ";")
        code = main(["explain", str(f), "--time", "2026-03-02T10:00:00Z"])
        out, err = capsys.readouterr()
        assert (code, err) == (0, "")
        assert out.splitlines()[-1] == ("results: $TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;"
                                        f"$NodeDeallocationOption=requeue;x={value}")


def test_explain_at_the_ends_of_time_agrees_with_eval(capsys, tmp_path):
    # A look-back from year 1 reaches before 0001-01-01: eval counts no samples there, and explain
    # shows that bound as the first timestamp minus the rest (it raised "ordinal must be >= 1").
    f = tmp_path / "w.formula"
    f.write_text("$TargetDedicatedNodes = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 10);\n"
                 "x = $PendingTasks.GetSample(TimeInterval_Year * 20000, 0);\n")
    for when, first, last in (
            ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z - 00:10:00", "0001-01-01T00:00:00.000Z"),
            ("9999-12-31T23:59:59.9999999Z", "9999-12-31T23:49:59.999Z", "9999-12-31T23:59:59.999Z")):
        assert main(["eval", str(f), "--time", when]) == 0
        results = capsys.readouterr().out.splitlines()[0]
        assert main(["explain", str(f), "--time", when]) == 0
        out, err = capsys.readouterr()
        assert err == ""
        lines = out.splitlines()
        assert lines[1] == (f"1:55    $PendingTasks.GetSamplePercent(TimeInterval_Minute * 10): window "
                            f"({first}, {last}], expected 20, available 0 = 0%")
        assert lines[-1] == f"results: {results}"
        assert main(["explain", str(f), "--time", when, "--json"]) == 0
        events = json.loads(capsys.readouterr().out)["events"]
        assert events[1]["window"] == [first, last]
    assert lines[4] == ("2:28    $PendingTasks.GetSample(TimeInterval_Year * 20000, 0): window "
                        "(0001-01-01T00:00:00.000Z - 3647941.00:00:00.0000001, 9999-12-31T23:59:59.999Z], "
                        "expected 2.1024E+10, available 0 = 0%, minimum 0% ok; samples []")
