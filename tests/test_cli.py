"""`poolscale eval` per the evaluation contract
(docs/language.md#poolscale-eval-and-the-scenario-file), through main() and as a process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from poolscale.runtime.cli import main

ROOT = Path(__file__).resolve().parent.parent
T = "2026-03-02T10:00:00Z"

E7 = """$TargetDedicatedNodes = 1;
busy = avg($PendingTasks.GetSample(180 * TimeInterval_Second));
$TargetDedicatedNodes = busy;
"""
E7_SCENARIO = {"samples": {"$PendingTasks": "3 4 5 6 7 8 9 10"}, "delay": "PT60S"}


@pytest.fixture
def files(tmp_path):
    def make(formula: str, scenario: dict | str | None = None, suffix: str = ".json"):
        f = tmp_path / "f.formula"
        f.write_text(formula, encoding="utf-8")
        s = None
        if scenario is not None:
            s = tmp_path / f"s{suffix}"
            s.write_text(scenario if isinstance(scenario, str) else json.dumps(scenario), encoding="utf-8")
        return str(f), (str(s) if s else None)
    return make


def run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_e7_text_output_exact(capsys, files):
    f, s = files(E7, E7_SCENARIO)
    code, out, err = run(capsys, ["eval", f, "--scenario", s, "--time", T])
    assert code == 1
    assert out == (
        "$TargetDedicatedNodes=1;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue\n"
        "error: InsufficientSampleData: Autoscale evaluation failed due to insufficient sample data\n"
        "Line 2, Col 35: Insufficient data from data set: $PendingTasks wanted 70%, received 66.6667%\n")
    assert err == ""


def test_e7_json_output_exact(capsys, files):
    f, s = files(E7, E7_SCENARIO)
    code, out, _ = run(capsys, ["eval", f, "--scenario", s, "--time", T, "--json"])
    assert code == 1
    assert json.loads(out) == {
        "timestamp": "2026-03-02T10:00:00.000Z",
        "results": "$TargetDedicatedNodes=1;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue",
        "values": {"$TargetDedicatedNodes": 1, "$TargetLowPriorityNodes": 0,
                   "$NodeDeallocationOption": "requeue"},
        "error": {"code": "InsufficientSampleData",
                  "message": "Autoscale evaluation failed due to insufficient sample data",
                  "values": [{"name": "Message", "value": "Line 2, Col 35: Insufficient data from data "
                                                          "set: $PendingTasks wanted 70%, received 66.6667%"}]},
    }
    assert list(json.loads(out)["values"]) == ["$TargetDedicatedNodes", "$TargetLowPriorityNodes",
                                               "$NodeDeallocationOption"]


def test_success_exit_zero_and_json_value_kinds(capsys, files):
    f, _ = files('v = $CPUPercent.GetSample(3); n = 0/0; i = -1/0; s = "x"; '
                 "t = time(); d = TimeInterval_Minute; o = taskcompletion;")
    scenario_path = Path(f).with_name("s.yaml")
    scenario_path.write_text("samples:\n  CPUPercent: [1.5, null, 2, 3]\n", encoding="utf-8")
    code, out, _ = run(capsys, ["eval", f, "--scenario", str(scenario_path), "--time", T, "--json"])
    assert code == 0
    doc = json.loads(out)
    assert doc["error"] is None
    assert doc["values"] == {
        "$TargetDedicatedNodes": 0, "$TargetLowPriorityNodes": 0, "$NodeDeallocationOption": "requeue",
        "d": "00:01:00", "i": "-Infinity", "n": "NaN", "o": "taskcompletion", "s": "x",
        "t": "2026-03-02T10:00:00.000Z", "v": [1.5, 2, 3]}
    assert list(doc["values"])[3:] == ["d", "i", "n", "o", "s", "t", "v"]


def test_validation_error_has_no_results_line_and_empty_values(capsys, files):
    f, _ = files("$TargetDedicatedNodes = 2 * $PendingTasks.GetSample(TimeInterval_Minute * 3);")
    code, out, _ = run(capsys, ["eval", f, "--time", T])
    assert code == 1
    assert out == ("error: AutoScalingFormulaValidationError: The specified auto-scaling formula is not valid.\n"
                   "Line 1, Col 27: TypeError: operator '*' cannot be applied to (double, doubleVec)\n")
    code, out, _ = run(capsys, ["eval", f, "--time", T, "--json"])
    doc = json.loads(out)
    assert (doc["results"], doc["values"]) == ("", {})


def test_invalid_target_value_exits_one(capsys, files):
    f, _ = files("rate = 0 / 0;\n$TargetDedicatedNodes = rate * 4;")
    code, out, _ = run(capsys, ["eval", f, "--time", T])
    assert code == 1
    assert out.splitlines() == [
        "$TargetDedicatedNodes=NaN;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;rate=NaN",
        "error: InvalidTargetValue: Autoscale evaluation produced an invalid target value",
        "Line 2, Col 1: $TargetDedicatedNodes evaluated to NaN; a target must be a finite number"]


def test_time_overrides_scenario_and_anchors_samples(capsys, files):
    f, s = files("v = $PendingTasks.GetSample(1); h = time().hour;",
                 {"time": "2026-03-02T10:00:00Z", "samples": {"PendingTasks": "1 2 3"}})
    code, out, _ = run(capsys, ["eval", f, "--scenario", s, "--time", "2026-03-02T23:00:00Z"])
    assert (code, out) == (0, "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;"
                              "$NodeDeallocationOption=requeue;h=23;v=[3]\n")


def test_bom_is_dropped_from_formula_file(capsys, tmp_path):
    f = tmp_path / "bom.formula"
    f.write_bytes("\ufeffx = 1;".encode("utf-8"))
    code, out, _ = run(capsys, ["eval", str(f), "--time", T])
    assert (code, out) == (0, "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;"
                              "$NodeDeallocationOption=requeue;x=1\n")


@pytest.mark.parametrize("scenario, needle", [
    ({"pool": {"currentDedicatedNodes": 1, "bogus": 2}}, "bogus"),
    ({"samples": {"$Nope": [1]}}, "Nope"),
    ({"samples": {"$ActiveTasks": [1], "activetasks": [2]}}, "activetasks"),
    ({"period": "PT0S"}, "period"),
    ({"seed": 1.5}, "seed"),
    ({"time": "yesterday"}, "time"),
    ({"extra": 1}, "extra"),
])
def test_bad_scenario_is_usage_error_naming_the_key(capsys, files, scenario, needle):
    f, s = files("x = 1;", scenario)
    code, out, err = run(capsys, ["eval", f, "--scenario", s, "--time", T])
    assert code == 2 and out == ""
    assert err.startswith("poolscale: ") and needle in err and err.count("\n") == 1


def test_usage_errors(capsys, files, tmp_path):
    f, _ = files("x = 1;")
    assert run(capsys, ["eval", str(tmp_path / "missing.formula")])[0] == 2
    assert run(capsys, ["eval", f, "--time", "not a time"])[0] == 2
    assert run(capsys, ["eval", f, "--scenario", str(tmp_path / "none.json")])[0] == 2
    assert run(capsys, ["eval"])[0] == 2
    assert run(capsys, ["frobnicate"])[0] == 2
    bad = tmp_path / "bad.formula"
    bad.write_bytes(b"x = \xff;")
    code, _, err = run(capsys, ["eval", str(bad)])
    assert code == 2 and "UTF-8" in err


def test_help_explains(capsys):
    assert main(["eval", "--help"]) == 0
    out = capsys.readouterr().out
    for needle in ("FORMULA", "--scenario", "--time", "--json", "Exit status"):
        assert needle in out


def test_process_stdin_and_exit_codes():
    proc = subprocess.run([sys.executable, "-m", "poolscale.runtime.cli", "eval", "-", "--time", T],
                          input="x = 1\n$TargetDedicatedNodes = x;", capture_output=True, text=True)
    assert proc.returncode == 1
    # no results string (the formula does not compile), and no blank line in its place
    assert proc.stdout == ("error: AutoScalingFormulaSyntaxError: The specified auto-scaling formula "
                           "has a syntax error.\nLine 2, Col 1: ';' probably missing before this statement\n")


def test_process_example_from_readme():
    proc = subprocess.run([sys.executable, "-m", "poolscale.runtime.cli", "eval",
                           str(ROOT / "examples/busy-pool.formula"),
                           "--scenario", str(ROOT / "examples/busy-pool.json")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ("$TargetDedicatedNodes=12.1579;$TargetLowPriorityNodes=0;"
                           "$NodeDeallocationOption=taskcompletion;$busy=12.1579\n")


def test_eval_does_not_import_pandas_or_pydantic(tmp_path):
    f = tmp_path / "f.formula"
    f.write_text("x = 1;")
    code = ("import sys; from poolscale.runtime.cli import main; "
            f"main(['eval', {str(f)!r}, '--time', {T!r}]); "
            "print(sorted(m for m in ('pandas', 'pydantic', 'yaml') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.splitlines()[-1] == "[]"
