"""`poolscale test`: formula unit tests (docs/testing.md), end to end through main() and a process."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from poolscale.runtime.cli import main
from poolscale.runtime.coverage import CoverageSet, percent_text
from poolscale.runtime.testing import (
    TestFileError, _same, format_offset, load_test_file, run_test_file, run_tests,
)

ROOT = Path(__file__).resolve().parent.parent
NAN, INF = float("nan"), float("inf")
T = '"2026-03-02T10:00:00Z"'

E7 = f"""formula: |
  $TargetDedicatedNodes = 1;
  busy = avg($PendingTasks.GetSample(180 * TimeInterval_Second));
  $TargetDedicatedNodes = busy;
tests:
  - name: too few samples fail the run
    time: {T}
    samples: {{$PendingTasks: "3 4 5 6 7 8 9 10"}}
    delay: PT60S
    expect_error:
      code: InsufficientSampleData
      detail: "Line 2, Col 35: Insufficient data from data set: $PendingTasks wanted 70%, received 66.6667%"
    expect: {{$TargetDedicatedNodes: 1}}
  - name: without the delay the run succeeds
    time: {T}
    samples: {{$PendingTasks: "3 4 5 6 7 8 9 10"}}
    expect: {{$TargetDedicatedNodes: 7}}
  - name: a fresh pool
    time: {T}
    samples: {{$PendingTasks: "3 4"}}
    expect: {{$TargetDedicatedNodes: 3.5}}
"""

LIMITS = f"""formula: |
  a = $CurrentDedicatedNodes > 2 ? 1 : 2;
  $CurrentDedicatedNodes > 5 ? stop() : 0;
  $TargetDedicatedNodes = a;
tests:
  - name: small pool
    time: {T}
    expect: {{a: 2}}
  - name: middle pool
    time: {T}
    pool: {{currentDedicatedNodes: 3}}
    expect: {{a: 1}}
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A scratch directory as the working directory, so reported paths are short and fixed."""
    monkeypatch.chdir(tmp_path)

    def write(name: str, text: str) -> str:
        (tmp_path / name).write_text(text, encoding="utf-8")
        return name
    return write


def run(capsys, *argv, explain=False):
    """Run `poolscale test`; the decision traces under failures are pinned in their own test."""
    code = main(["test", *argv] if explain else ["test", "--no-explain", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------------------------
# passing, failing, errors
# --------------------------------------------------------------------------------------------


def test_example_file_passes_exact_output(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out, err = run(capsys, "examples/busy-pool.test.yaml")
    assert (code, err) == (0, "")
    assert out == (
        "PASS examples/busy-pool.test.yaml:7: a new pool keeps one node\n"
        "PASS examples/busy-pool.test.yaml:16: a steady queue of 12 asks for 12 nodes\n"
        "PASS examples/busy-pool.test.yaml:25: a long queue is capped at 20 nodes\n"
        "PASS examples/busy-pool.test.yaml:33: the example scenario\n"
        "PASS examples/busy-pool.test.yaml:46: a growing queue scales up once 10 minutes are sampled\n"
        "5 tests, 0 failed\n")


def test_failing_file_shows_every_failure_as_expected_got_blocks(capsys, workdir):
    f = workdir("f.test.yaml", f"""formula: |
  $TargetDedicatedNodes = avg($PendingTasks.GetSample(3));
  v = $PendingTasks.GetSample(3);
  t = time();
  o = terminate;
tests:
  - name: everything is wrong
    time: {T}
    samples: {{$PendingTasks: "12x20"}}
    expect:
      $TargetDedicatedNodes: 11
      $TargetLowPriorityNodes: {{approx: 1, tol: 0.5}}
      v: [12, 12]
      t: "2026-03-02T10:00:00Z"
      o: 3
      nope: 3
      $NodeDeallocationOption: terminate
    results: "x"
  - name: this one passes
    time: {T}
    samples: {{$PendingTasks: "1 2 4"}}
    expect: {{$TargetDedicatedNodes: {{approx: 2.33, tol: 0.01}}, v: [1, 2, 4],
              t: "2026-03-02T10:00:00.000Z", o: terminate}}
""")
    code, out, err = run(capsys, f)
    assert (code, err) == (1, "")
    assert out == (
        "FAIL f.test.yaml:7: everything is wrong\n"
        "  $TargetDedicatedNodes\n"
        "    expected: 11\n"
        "    got:      12\n"
        "  $TargetLowPriorityNodes\n"
        "    expected: 1 ± 0.5\n"
        "    got:      0\n"
        "  v\n"
        "    expected: [12, 12]\n"
        "    got:      [12, 12, 12]\n"
        "  t\n"
        "    expected: 2026-03-02T10:00:00Z\n"
        "    got:      2026-03-02T10:00:00.000Z\n"
        "  o\n"
        "    expected: 3\n"
        "    got:      terminate (option)\n"
        "  nope\n"
        "    expected: 3\n"
        "    got:      (not assigned)\n"
        "  $NodeDeallocationOption\n"
        "    expected: terminate\n"
        "    got:      requeue\n"
        "  results\n"
        "    expected: x\n"
        "    got:      $TargetDedicatedNodes=12;$TargetLowPriorityNodes=0;"
        "$NodeDeallocationOption=requeue;o=terminate;t=2026-03-02T10:00:00.000Z;v=[12,12,12]\n"
        "PASS f.test.yaml:19: this one passes\n"
        "2 tests, 1 failed\n")


def test_error_expectations_and_unexpected_errors(capsys, workdir):
    f = workdir("e7.test.yaml", E7)
    code, out, _ = run(capsys, f)
    assert code == 1
    assert out == (
        "PASS e7.test.yaml:6: too few samples fail the run\n"
        "FAIL e7.test.yaml:14: without the delay the run succeeds\n"
        "  $TargetDedicatedNodes\n"
        "    expected: 7\n"
        "    got:      7.5\n"
        "FAIL e7.test.yaml:18: a fresh pool\n"
        "  error\n"
        "    expected: (none)\n"
        "    got:      InsufficientSampleData: Line 2, Col 35: Insufficient data from data set: "
        "$PendingTasks wanted 70%, received 33.3333%\n"
        "3 tests, 2 failed\n")


def test_expected_error_that_does_not_happen_or_differs(capsys, workdir):
    f = workdir("x.test.yaml", f"""formula: "$TargetDedicatedNodes = val($PendingTasks.GetSample(5), 9);"
tests:
  - name: no error at all
    time: {T}
    samples: {{$PendingTasks: "1x20"}}
    expect_error: {{code: EmptyHistory}}
  - name: another detail
    time: {T}
    samples: {{$PendingTasks: "1"}}
    expect_error: {{code: IndexOutOfRange, detail: "Line 1, Col 1: nope"}}
  - name: code only
    time: {T}
    samples: {{$PendingTasks: "1"}}
    expect_error: {{code: IndexOutOfRange}}
""")
    code, out, _ = run(capsys, f)
    assert code == 1
    assert out == (
        "FAIL x.test.yaml:3: no error at all\n"
        "  error\n"
        "    expected: EmptyHistory\n"
        "    got:      IndexOutOfRange: Line 1, Col 28: val() index 9 is out of range for a "
        "vector of length 5\n"
        "FAIL x.test.yaml:7: another detail\n"
        "  error\n"
        "    expected: IndexOutOfRange: Line 1, Col 1: nope\n"
        "    got:      IndexOutOfRange: Line 1, Col 28: val() index 9 is out of range for a "
        "vector of length 1\n"
        "PASS x.test.yaml:11: code only\n"
        "3 tests, 2 failed\n")


def test_a_formula_that_does_not_compile_fails_each_test_with_its_error(capsys, workdir):
    f = workdir("s.test.yaml", f"""formula: "x = 1 +;"
tests:
  - name: plain
    time: {T}
  - name: expects the syntax error
    time: {T}
    expect_error: {{code: AutoScalingFormulaSyntaxError, detail: "Line 1, Col 8: unexpected ';'"}}
    results: ""
""")
    code, out, _ = run(capsys, f)
    assert code == 1
    assert out == (
        "FAIL s.test.yaml:3: plain\n"
        "  error\n"
        "    expected: (none)\n"
        "    got:      AutoScalingFormulaSyntaxError: Line 1, Col 8: unexpected ';'\n"
        "PASS s.test.yaml:5: expects the syntax error\n"
        "2 tests, 1 failed\n")


def test_a_formula_with_an_unknown_name_fails_with_a_hint(capsys, workdir):
    f = workdir("h.test.yaml", f"""formula: "$TargetDedicatedNodes = $PendingTask.Count();"
tests:
  - name: plain
    time: {T}
""")
    code, out, _ = run(capsys, f)
    assert code == 1
    assert out == (
        "FAIL h.test.yaml:3: plain\n"
        "  error\n"
        "    expected: (none)\n"
        "    got:      AutoScalingFormulaValidationError: Line 1, Col 25: UndefinedVariable: "
        "$PendingTask is used before it is assigned\n"
        "    hint:     did you mean '$PendingTasks'?\n"
        "1 test, 1 failed\n")


def test_value_kinds_aliases_nan_and_printed_forms(capsys, workdir):
    f = workdir("k.test.yaml", f"""formula: >-
  $TargetDedicatedNodes = $CurrentDedicatedNodes + 1; n = 0/0; v = $CPUPercent.GetSample(2);
  $TargetDedicated = 3; d = TimeInterval_Minute * 90; s = "a b"; third = 1/3;
tests:
  - &base
    name: exact
    time: {T}
    pool: {{currentDedicatedNodes: 2}}
    samples: {{CPUPercent: "1.5 _ 2.25"}}
    expect: {{$TargetDedicatedNodes: 3, n: .nan, v: [1.5, 2.25], d: "01:30:00", s: a b,
              third: 0.3333333333333333, $TargetLowPriorityNodes: 0}}
  - <<: *base
    name: printed
    expect: {{$targetdedicated: "3", n: "NaN", v: "[1.5,2.25]", third: "0.333333",
              v2: {{approx: [1, 2], tol: 1}}}}
  - <<: *base
    name: kinds differ
    expect: {{$TargetDedicated: 4, n: 1, v: 3, third: [0.3], d: 90}}
  - <<: *base
    name: approximately
    expect: {{v: {{approx: [1.4, 2.3], tol: 0.1}}, third: {{approx: 0.33, tol: 0.01}},
              n: {{approx: .nan, tol: 0}}}}
""")
    code, out, _ = run(capsys, f)
    assert code == 1
    assert out == (
        "PASS k.test.yaml:5: exact\n"
        "FAIL k.test.yaml:12: printed\n"
        "  v2\n"
        "    expected: [1, 2] ± 1\n"
        "    got:      (not assigned)\n"
        "FAIL k.test.yaml:16: kinds differ\n"
        "  $TargetDedicated\n"
        "    expected: 4\n"
        "    got:      3\n"
        "  n\n"
        "    expected: 1\n"
        "    got:      NaN\n"
        "  v\n"
        "    expected: 3\n"
        "    got:      [1.5, 2.25] (doubleVec)\n"
        "  third\n"
        "    expected: [0.3]\n"
        "    got:      0.3333333333333333 (double)\n"
        "  d\n"
        "    expected: 90\n"
        "    got:      01:30:00 (timeinterval)\n"
        "PASS k.test.yaml:19: approximately\n"
        "4 tests, 2 failed\n")


def test_rand_is_reproducible_with_the_default_seed(capsys, workdir):
    f = workdir("r.test.yaml", f"""formula: "r = rand();"
tests:
  - {{name: default seed, time: {T}, expect: {{r: "0.844422"}}}}
  - {{name: seed 7, time: {T}, seed: 7, expect: {{r: "0.323833"}}}}
""")
    code, out, _ = run(capsys, f)
    assert (code, out.splitlines()[-1]) == (0, "2 tests, 0 failed")


# --------------------------------------------------------------------------------------------
# timelines
# --------------------------------------------------------------------------------------------


def test_timeline_compact_and_list_forms(capsys, workdir):
    workdir("busy.formula", (ROOT / "examples/busy-pool.formula").read_text(encoding="utf-8"))
    f = workdir("tl.test.yaml", """formula_file: busy.formula
tests:
  - name: compact
    timeline: {start: "2026-03-02T09:30:00Z", end: "2026-03-02T10:00:00Z", every: PT5M}
    samples: {$PendingTasks: "0+1x60"}
    expect_steps:
      $busy: [1, 1, 10.5, 20.5, 30.5, 40.5, 50]
      $TargetDedicatedNodes: [~, 2, ~, ~, ~, ~, 20]
  - name: listed steps
    timeline: {start: "2026-03-02T09:30:00Z", end: "2026-03-02T10:00:00Z"}
    samples: {$PendingTasks: "0+1x60"}
    expect_steps:
      - at: "+10m"
        expect: {$busy: 10.5}
      - at: "+PT15M"
        expect: {$busy: 20.5}
      - at: "2026-03-02T10:00:00Z"
        expect: {$TargetDedicatedNodes: 20}
        results: "$TargetDedicatedNodes=20;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;$busy=50.5"
""")
    code, out, _ = run(capsys, f)
    assert code == 1
    assert out == (
        "FAIL tl.test.yaml:3: compact\n"
        "  at +5m (2026-03-02T09:35:00.000Z): $TargetDedicatedNodes\n"
        "    expected: 2\n"
        "    got:      1\n"
        "  at +30m (2026-03-02T10:00:00.000Z): $busy\n"
        "    expected: 50\n"
        "    got:      50.5\n"
        "PASS tl.test.yaml:9: listed steps\n"
        "2 tests, 1 failed\n")


def test_timeline_series_are_anchored_at_the_end_and_errors_at_any_step_fail(capsys, workdir):
    f = workdir("a.test.yaml", """formula: |
  n = $CPUPercent.Count();
  $TargetDedicatedNodes = avg($CPUPercent.GetSample(TimeInterval_Minute));
tests:
  - name: unguarded
    timeline: {start: "2026-03-02T10:00:00Z", end: "2026-03-02T10:02:00Z", every: PT1M}
    samples: {CPUPercent: "10+10x4"}
    expect_steps:
      n: [1, 3, 5]
  - name: the first step expects its error
    timeline: {start: "2026-03-02T10:00:00Z", end: "2026-03-02T10:02:00Z", every: PT1M}
    samples: {CPUPercent: "10+10x4"}
    expect_steps:
      - at: "+0s"
        expect_error: {code: InsufficientSampleData}
        expect: {n: 1}
      - at: "+1m"
        expect: {$TargetDedicatedNodes: 25, n: 3}
      - at: "+2m"
        expect: {$TargetDedicatedNodes: 45, n: 5}
""")
    code, out, _ = run(capsys, f)
    assert code == 1
    assert out == (
        "FAIL a.test.yaml:5: unguarded\n"
        "  at +0s (2026-03-02T10:00:00.000Z): error\n"
        "    expected: (none)\n"
        "    got:      InsufficientSampleData: Line 2, Col 50: Insufficient data from data set: "
        "$CPUPercent wanted 70%, received 50%\n"
        "PASS a.test.yaml:10: the first step expects its error\n"
        "2 tests, 1 failed\n")


@pytest.mark.parametrize("expected, got, tol, same", [
    (1.4, 1.5, 0.1, True), (1.4, 1.51, 0.1, False), (3.0, 3.0, None, True),
    (0.1 + 0.2, 0.3, None, False), (NAN, NAN, None, True), (NAN, 1.0, 1e9, False),
    (INF, INF, None, True), (INF, 1e308, 0.1, False), (1.0, 5.0, INF, True),
])
def test_approximate_comparison(expected, got, tol, same):
    assert _same(expected, got, tol) is same


@pytest.mark.parametrize("ticks, text", [
    (0, "+0s"), (5 * 60 * 10**7, "+5m"), (90 * 10**7, "+1m30s"), (15, "+0.0000015s"),
    ((26 * 3600 + 1) * 10**7 + 5 * 10**6, "+1d2h1.5s"),
])
def test_format_offset(ticks, text):
    assert format_offset(ticks) == text


# --------------------------------------------------------------------------------------------
# --run, --junit
# --------------------------------------------------------------------------------------------


def test_run_selects_tests_by_regex(capsys, workdir):
    f = workdir("e7.test.yaml", E7)
    code, out, _ = run(capsys, f, "--run", "fail|fresh")
    assert code == 1
    assert out.splitlines()[0] == "PASS e7.test.yaml:6: too few samples fail the run"
    assert out.splitlines()[1] == "FAIL e7.test.yaml:18: a fresh pool"
    assert out.splitlines()[-1] == "2 tests, 1 failed"
    code, out, _ = run(capsys, f, "--run", "^too")
    assert (code, out.splitlines()) == (0, ["PASS e7.test.yaml:6: too few samples fail the run",
                                            "1 test, 0 failed"])


def test_junit_report(capsys, workdir, tmp_path):
    e7 = workdir("e7.test.yaml", E7)
    limits = workdir("limits.test.yaml", LIMITS)
    code, out, _ = run(capsys, e7, limits, "--junit", "report.xml")
    assert code == 1
    root = ET.parse(tmp_path / "report.xml").getroot()
    assert root.tag == "testsuites"
    assert root.attrib == {"name": "poolscale test", "tests": "5", "failures": "2", "errors": "0"}
    suites = root.findall("testsuite")
    assert [s.attrib for s in suites] == [
        {"name": "e7.test.yaml", "tests": "3", "failures": "2", "errors": "0", "skipped": "0"},
        {"name": "limits.test.yaml", "tests": "2", "failures": "0", "errors": "0", "skipped": "0"},
    ]
    cases = suites[0].findall("testcase")
    assert [(c.get("name"), c.get("classname"), c.get("file"), c.get("line")) for c in cases] == [
        ("too few samples fail the run", "e7.test.yaml", "e7.test.yaml", "6"),
        ("without the delay the run succeeds", "e7.test.yaml", "e7.test.yaml", "14"),
        ("a fresh pool", "e7.test.yaml", "e7.test.yaml", "18"),
    ]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure.attrib == {"message": "$TargetDedicatedNodes: expected 7, got 7.5",
                              "type": "failure"}
    assert failure.text == "$TargetDedicatedNodes\n  expected: 7\n  got:      7.5\n"
    assert cases[2].find("failure").get("message").startswith(
        "error: expected (none), got InsufficientSampleData: Line 2, Col 35: ")
    assert [c.get("name") for c in suites[1].findall("testcase")] == ["small pool", "middle pool"]


def test_junit_lists_only_selected_tests_and_counts_extra_failures(capsys, workdir, tmp_path):
    f = workdir("m.test.yaml", f"""formula: "a = 1; b = 2;"
tests:
  - {{name: two wrong, time: {T}, expect: {{a: 2, b: 3}}}}
  - {{name: skipped, time: {T}}}
""")
    code, _, _ = run(capsys, f, "--run", "wrong", "--junit", "j.xml")
    assert code == 1
    root = ET.parse(tmp_path / "j.xml").getroot()
    (case,) = root.iter("testcase")
    assert case.find("failure").get("message") == "a: expected 2, got 1 (and 1 more)"
    assert root.get("tests") == "1"


# --------------------------------------------------------------------------------------------
# coverage
# --------------------------------------------------------------------------------------------


def test_coverage_lists_unexercised_statements_and_branches(capsys, workdir):
    f = workdir("limits.test.yaml", LIMITS)
    code, out, _ = run(capsys, f, "--coverage", "--run", "small")
    assert code == 0
    assert out == (
        "PASS limits.test.yaml:6: small pool\n"
        "coverage: 5 of 7 statements and branches (71.4%)\n"
        "  limits.test.yaml:2:36: '?:' then branch never taken\n"
        "  limits.test.yaml:3:32: '?:' then branch never taken\n"
        "1 test, 0 failed\n")
    code, out, _ = run(capsys, f, "--coverage")
    assert code == 0
    assert out.splitlines()[2:] == ["coverage: 6 of 7 statements and branches (85.7%)",
                                    "  limits.test.yaml:3:32: '?:' then branch never taken",
                                    "2 tests, 0 failed"]


def test_coverage_of_a_formula_file_counts_stop_and_errors(capsys, workdir):
    workdir("g.formula", "a = $CurrentDedicatedNodes > 5 ? 1 : 2;\n"
                         "$CurrentDedicatedNodes > 9 ? stop() : 0;\n"
                         "b = val($PendingTasks.GetSample(1), 0);\n"
                         "$TargetDedicatedNodes = b > 3 ? b : 3;\n")
    f = workdir("g.test.yaml", f"""formula_file: g.formula
tests:
  - name: stops
    time: {T}
    pool: {{currentDedicatedNodes: 10}}
  - name: fails in statement 3
    time: {T}
    expect_error: {{code: IndexOutOfRange}}
""")
    code, out, _ = run(capsys, f, "--coverage")
    assert code == 0
    assert out == (
        "PASS g.test.yaml:3: stops\n"
        "PASS g.test.yaml:6: fails in statement 3\n"
        "coverage: 7 of 10 statements and branches (70.0%)\n"
        "  g.formula:4:1: statement never executed\n"
        "  g.formula:4:33: '?:' then branch never taken\n"
        "  g.formula:4:37: '?:' else branch never taken\n"
        "2 tests, 0 failed\n")


def test_coverage_threshold_sets_the_exit_status(capsys, workdir):
    f = workdir("limits.test.yaml", LIMITS)
    code, out, _ = run(capsys, f, "--coverage-threshold", "85.7")
    assert code == 0
    code, out, _ = run(capsys, f, "--coverage-threshold", "85.72")
    assert code == 1
    assert out.splitlines()[-2:] == ["coverage 85.7% is below the threshold 85.72%",
                                     "2 tests, 0 failed"]
    code, out, _ = run(capsys, f, "--coverage-threshold", "0")
    assert code == 0
    code, _, err = run(capsys, f, "--coverage-threshold", "101")
    assert code == 2 and "expected a percentage from 0 to 100, got '101'" in err


def test_coverage_adds_up_over_files_testing_one_formula(capsys, workdir):
    workdir("one.formula", "a = $CurrentDedicatedNodes > 2 ? 1 : 2;")
    small = workdir("small.test.yaml", f"formula_file: one.formula\n"
                                       f"tests: [{{name: small, time: {T}}}]\n")
    big = workdir("big.test.yaml", f"formula_file: ./one.formula\n"
                                   f"tests: [{{name: big, time: {T}, pool: {{currentDedicatedNodes: 3}}}}]\n")
    _, out, _ = run(capsys, small, "--coverage")
    assert "coverage: 2 of 3 statements and branches (66.6%)" in out
    code, out, _ = run(capsys, small, big, "--coverage")
    assert code == 0
    assert out.splitlines()[2:] == ["coverage: 3 of 3 statements and branches (100.0%)",
                                    "2 tests, 0 failed"]


def test_coverage_does_not_change_what_runs_produce(capsys, workdir):
    f = workdir("e7.test.yaml", E7)
    _, plain, _ = run(capsys, f)
    _, covered, _ = run(capsys, f, "--coverage")
    assert [ln for ln in covered.splitlines() if not ln.startswith("coverage")] == plain.splitlines()


def test_inline_formula_positions_fall_back_when_they_cannot_be_placed(capsys, workdir):
    one_line = workdir("q.test.yaml", f'formula: "a = 1 > 0 ? 1 : 2;"\ntests: [{{name: x, time: {T}}}]\n')
    folded = workdir("z.test.yaml", f"formula: >\n  a = 1 > 0 ? 1 :\n  2;\ntests: [{{name: x, time: {T}}}]\n")
    _, out, _ = run(capsys, one_line, folded, "--coverage")
    assert out.splitlines()[3:5] == ["  q.test.yaml:1:27: '?:' else branch never taken",
                                     "  z.test.yaml (formula):1:17: '?:' else branch never taken"]


def test_coverage_of_a_formula_that_does_not_compile(capsys, workdir):
    f = workdir("s.test.yaml", f'formula: "x = 1 +;"\ntests: [{{name: x, time: {T}}}]\n')
    code, out, _ = run(capsys, f, "--coverage")
    assert code == 1
    assert out.splitlines()[-3:] == ["coverage: 0 of 0 statements and branches (100.0%)",
                                     "  s.test.yaml: not measured: the formula does not compile",
                                     "1 test, 1 failed"]


@pytest.mark.parametrize("covered, total, text", [
    (0, 0, "100.0%"), (2, 3, "66.6%"), (1, 3, "33.3%"), (9999, 10000, "99.9%"), (7, 7, "100.0%"),
])
def test_percent_is_rounded_down(covered, total, text):
    assert percent_text(covered, total) == text


# --------------------------------------------------------------------------------------------
# usage errors
# --------------------------------------------------------------------------------------------

TEST_HEAD = f'formula: "x = 1;"\ntests:\n  - name: a\n    time: {T}\n'


@pytest.mark.parametrize("text, message", [
    ("formula: [\n", "u.yaml:2: invalid YAML: did not find expected node content"),
    ("- 1\n", "u.yaml:1: the top level: expected a mapping, got a list"),
    ("", "u.yaml: the file is empty; it needs 'formula' or 'formula_file' and 'tests'"),
    ('formula: "x=1;"\nformulas: 2\ntests: []\n',
     "u.yaml:2: unknown key 'formulas' in the top level; allowed: formula, formula_file, tests"),
    ('formula: "x=1;"\n', "u.yaml:1: missing key 'tests'"),
    ("tests: []\n", "u.yaml:1: give either 'formula' or 'formula_file'"),
    ('formula: "x=1;"\nformula_file: f\ntests: []\n',
     "u.yaml:1: give either 'formula' or 'formula_file', not both"),
    ("formula_file: missing.formula\ntests: []\n",
     "u.yaml:1: formula_file: missing.formula: cannot read: No such file or directory"),
    (TEST_HEAD + "    tiem: 1\n",
     "u.yaml:5: test 'a': unknown key 'tiem' in test; allowed: name, time, pool, samples, period, "
     "delay, seed, expect, expect_error, results"),
    (TEST_HEAD + "    pool:\n      currentDedicated: 3\n",
     "u.yaml:6: test 'a': pool: unknown key 'currentDedicated'; allowed: currentDedicatedNodes, "
     "currentLowPriorityNodes, targetDedicatedNodes, targetLowPriorityNodes, taskSlotsPerNode"),
    (TEST_HEAD + "    pool:\n      currentDedicatedNodes: -3\n",
     "u.yaml:6: test 'a': pool: currentDedicatedNodes: must be a finite number >= 0, got -3"),
    (TEST_HEAD + "    samples:\n      Pending: 1\n",
     "u.yaml:6: test 'a': samples: unknown series variable 'Pending'"),
    (TEST_HEAD + "    samples:\n      PendingTask: 1\n",
     "u.yaml:6: test 'a': samples: unknown series variable 'PendingTask'; "
     "did you mean '$PendingTasks'?"),
    (TEST_HEAD + '    samples:\n      CPUPercent: "1 q"\n',
     "u.yaml:6: test 'a': samples: 'CPUPercent': series notation item 2 'q': expected a number, "
     "'_', 'a+bxn', 'a-bxn', 'axn' or '_xn'"),
    (TEST_HEAD + "    period: 30\n",
     "u.yaml:5: test 'a': period: expected an ISO-8601 duration such as 'PT30S', got 30"),
    (TEST_HEAD + "    time: 2\n", "u.yaml:5: key 'time' appears twice in one mapping (first on line 4)"),
    ('formula: "x=1;"\ntests:\n  - name: a\n',
     "u.yaml:3: test 'a': missing key 'time' (the evaluation time, e.g. 2026-03-02T10:00:00Z)"),
    ('formula: "x=1;"\ntests:\n  - time: 1\n', "u.yaml:3: test 1: missing key 'name'"),
    ('formula: "x=1;"\ntests:\n  - name: a\n    time: ~\n',
     "u.yaml:4: test 'a': time: expected an ISO-8601 time such as '2026-03-02T10:00:00Z', got null"),
    ('formula: "x=1;"\ntests:\n  - name: a\n    time: "10am"\n',
     "u.yaml:4: test 'a': time: expected an ISO-8601 time such as '2026-03-02T10:00:00Z', got '10am'"),
    (TEST_HEAD + "    expect_steps: {x: [1]}\n",
     "u.yaml:5: test 'a': unknown key 'expect_steps' in test (expect_steps belongs to a test with "
     "a timeline); allowed: name, time, pool, samples, period, delay, seed, expect, expect_error, "
     "results"),
    (TEST_HEAD + "  - name: a\n    time: 1\n",
     "u.yaml:5: test 'a': the name is already used by the test on line 3; test names must be unique"),
    (TEST_HEAD + "    expect: {$CPUPercent: 3}\n",
     "u.yaml:5: test 'a': $CPUPercent is a sample series; expectations name targets and user variables"),
    (TEST_HEAD + "    expect:\n      TimeInterval_Minute: 3\n",
     "u.yaml:6: test 'a': TimeInterval_Minute is a constant; expectations name targets and user variables"),
    (TEST_HEAD + "    expect: {$TargetDedicated: 1, $TargetDedicatedNodes: 1}\n",
     "u.yaml:5: test 'a': $TargetDedicatedNodes and $TargetDedicated name the same target"),
    (TEST_HEAD + "    expect: {x: true}\n",
     "u.yaml:5: test 'a': x: expected a number, a list of numbers, a string or {approx: x, tol: t}, "
     "got bool True"),
    (TEST_HEAD + "    expect: {x: {approx: 1}}\n",
     "u.yaml:5: test 'a': x: an approximate value needs both 'approx' and 'tol'"),
    (TEST_HEAD + "    expect_error: {code: Bogus}\n",
     "u.yaml:5: test 'a': expect_error: code: 'Bogus' is not an error code of a run; one of "
     "AutoScaleFormulaTooLong, AutoScaleFormulaTooManyStatements, AutoScalingFormulaSyntaxError, "
     "AutoScalingFormulaValidationError, UndefinedVariable, InvalidVectorConversion, "
     "VectorLengthMismatch, EmptyVector, InvalidArgument, IndexOutOfRange, InvalidTimestamp, "
     "InsufficientSampleData, EmptyHistory, InvalidTargetValue"),
    ('formula: "x=1;"\ntests:\n  - name: a\n    timeline: {start: "2026-03-02T10:00:00Z", '
     'end: "2026-03-02T10:07:00Z"}\n',
     "u.yaml:4: test 'a': timeline: end - start (7m) is not a whole number of steps of 5m"),
    ('formula: "x=1;"\ntests:\n  - name: a\n    timeline: {start: "2026-03-02T10:00:00Z", '
     'end: "2026-03-02T10:10:00Z"}\n    expect: {x: 1}\n',
     "u.yaml:5: test 'a': unknown key 'expect' in timeline test (a timeline test checks its runs "
     "with expect_steps); allowed: name, timeline, pool, samples, period, delay, seed, expect_steps"),
    ('formula: "x=1;"\ntests:\n  - name: a\n    timeline: {start: "2026-03-02T10:00:00Z", '
     'end: "2026-03-02T10:10:00Z"}\n    expect_steps: {x: [1, 2]}\n',
     "u.yaml:5: test 'a': expect_steps: x: expected a list of 3 values (one per step, null to "
     "skip one), got 2 values"),
    ('formula: "x=1;"\ntests:\n  - name: a\n    timeline: {start: "2026-03-02T10:00:00Z", '
     'end: "2026-03-02T10:10:00Z"}\n    expect_steps:\n      - at: "+3m"\n',
     "u.yaml:6: test 'a': at: '+3m' is not a step of the timeline (from 2026-03-02T10:00:00.000Z "
     "to 2026-03-02T10:10:00.000Z)"),
    ('formula: "x=1;"\ntests:\n  - name: a\n    timeline: {start: "2026-03-02T10:00:00Z", '
     'end: "2026-03-02T10:10:00Z"}\n    expect_steps:\n      - at: "+5m"\n      - at: "+PT5M"\n',
     "u.yaml:7: test 'a': expect_steps: step '+PT5M' is already checked on line 6"),
])
def test_usage_errors_name_the_file_line_and_key(capsys, workdir, text, message):
    f = workdir("u.yaml", text)
    code, out, err = run(capsys, f)
    assert (code, out) == (2, "")
    assert err == f"poolscale: {message}\n"


def test_usage_errors_of_the_command_line(capsys, workdir):
    f = workdir("e7.test.yaml", E7)
    assert run(capsys, f, "--run", "nothing like it")[2] == \
        "poolscale: --run 'nothing like it' matches no test\n"
    code, _, err = run(capsys, f, "--run", "(")
    assert code == 2 and err.startswith("poolscale: --run: invalid regular expression '(': ")
    code, out, err = run(capsys, f, "missing.yaml")
    assert (code, out) == (2, "")
    assert err == "poolscale: missing.yaml: cannot read: No such file or directory\n"
    code, _, err = run(capsys, f, "--junit", "no/such/dir/j.xml")
    assert code == 2 and err.startswith("poolscale: --junit: cannot write no/such/dir/j.xml: ")
    assert main(["test"]) == 2


# --------------------------------------------------------------------------------------------
# library and process
# --------------------------------------------------------------------------------------------


def test_library_returns_result_objects(workdir):
    f = workdir("e7.test.yaml", E7)
    tf = load_test_file(f)
    assert [t.name for t in tf.tests] == ["too few samples fail the run",
                                          "without the delay the run succeeds", "a fresh pool"]
    cov = CoverageSet()
    result = run_test_file(tf, select=re.compile("delay"), coverage=cov)
    (only,) = result.results
    assert (only.name, only.line, only.passed, only.location) == (
        "without the delay the run succeeds", 14, False, "e7.test.yaml:14")
    (failure,) = only.failures
    assert (failure.subject, failure.expected, failure.got, failure.step) == (
        "$TargetDedicatedNodes", "7", "7.5", None)
    assert (cov.covered, cov.total) == (3, 3)
    assert [r.failed for r in run_tests([f])] == [2]
    with pytest.raises(TestFileError) as e:
        load_test_file(workdir("bad.yaml", "tests: 3\nformula: x\n"))
    assert (e.value.path, e.value.line, e.value.message) == (
        "bad.yaml", 1, "tests: expected a list, got int 3")


def test_process_runs_the_shipped_example_with_coverage(tmp_path):
    shutil.copy(ROOT / "examples/busy-pool.test.yaml", tmp_path)
    shutil.copy(ROOT / "examples/busy-pool.formula", tmp_path)
    proc = subprocess.run([sys.executable, "-m", "poolscale.runtime.cli", "test",
                           "busy-pool.test.yaml", "--coverage-threshold", "100",
                           "--junit", "j.xml"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.splitlines()[-2:] == ["coverage: 5 of 5 statements and branches (100.0%)",
                                             "5 tests, 0 failed"]
    assert ET.parse(tmp_path / "j.xml").getroot().get("tests") == "5"


def test_failing_test_shows_the_decision_trace(capsys, workdir):
    f = workdir("t.test.yaml", f"""formula: |
  pct = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5);
  $TargetDedicatedNodes = pct < 70 ? 1 : 5;
tests:
  - name: a fresh pool
    time: {T}
    samples: {{$PendingTasks: "3x4"}}
    expect: {{$TargetDedicatedNodes: 5}}
""")
    code, out, _ = run(capsys, f, explain=True)
    assert code == 1
    assert out == (
        "FAIL t.test.yaml:5: a fresh pool\n"
        "  $TargetDedicatedNodes\n"
        "    expected: 5\n"
        "    got:      1\n"
        "  trace:\n"
        "    1:1  pct = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5)\n"
        "    1:37    $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5): window "
        "(2026-03-02T09:55:00.000Z, 2026-03-02T10:00:00.000Z], expected 10, available 5 = 50%\n"
        "            => pct = 50\n"
        "    2:1  $TargetDedicatedNodes = pct < 70 ? 1 : 5\n"
        "    2:34    ?: condition pct < 70 = 1 (true) -> then branch 1\n"
        "            => $TargetDedicatedNodes = 1\n"
        "    results: $TargetDedicatedNodes=1;$TargetLowPriorityNodes=0;"
        "$NodeDeallocationOption=requeue;pct=50\n"
        "1 test, 1 failed\n")


def test_a_failing_test_at_year_one_shows_its_trace(capsys, workdir):
    # The trace of a failing run formats its windows; one reaching before 0001-01-01 raised
    # "ordinal must be >= 1" where the run itself (eval) was fine.
    f = workdir("y1.test.yaml", """formula: |
  $TargetDedicatedNodes = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5);
tests:
  - name: year one
    time: "0001-01-01T00:00:00Z"
    expect: {$TargetDedicatedNodes: 5}
  - name: the last instant
    time: "9999-12-31T23:59:59.9999999Z"
    expect: {$TargetDedicatedNodes: 0}
""")
    code, out, _ = run(capsys, f, explain=True)
    assert code == 1
    assert out == (
        "FAIL y1.test.yaml:4: year one\n"
        "  $TargetDedicatedNodes\n"
        "    expected: 5\n"
        "    got:      0\n"
        "  trace:\n"
        "    1:1  $TargetDedicatedNodes = $PendingTasks.GetSamplePercent(TimeInterval_M…\n"
        "    1:55    $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5): window "
        "(0001-01-01T00:00:00.000Z - 00:05:00, 0001-01-01T00:00:00.000Z], expected 10, available 0 = 0%\n"
        "            => $TargetDedicatedNodes = 0\n"
        "    results: $TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue\n"
        "PASS y1.test.yaml:7: the last instant\n"
        "2 tests, 1 failed\n")


def test_an_expected_name_the_run_never_assigned_gets_the_closest_assigned_one(capsys, workdir):
    """`$TargetDedicatedNode` (one letter short) in `expect` is a user variable the formula never
    assigned; the failure names the target it was meant to be, as check does for a formula."""
    f = workdir("m.test.yaml", """\
formula: |
  busy = 3;
  $TargetDedicatedNodes = busy;
tests:
  - name: misspelt
    time: "2026-03-02T10:00:00Z"
    expect: {$TargetDedicatedNode: 3, Busy: 3, nope: 1}
""")
    code, out, _ = run(capsys, f)
    assert code == 1
    assert out == (
        "FAIL m.test.yaml:5: misspelt\n"
        "  $TargetDedicatedNode\n"
        "    expected: 3\n"
        "    got:      (not assigned)\n"
        "    hint:     did you mean '$TargetDedicatedNodes'?\n"
        "  Busy\n"
        "    expected: 3\n"
        "    got:      (not assigned)\n"
        "    hint:     did you mean 'busy'?\n"
        "  nope\n"
        "    expected: 1\n"
        "    got:      (not assigned)\n"
        "1 test, 1 failed\n")
