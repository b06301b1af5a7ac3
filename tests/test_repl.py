"""`poolscale repl`: completion, the session logic, line mode, the terminal layer, the command."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poolscale.formula.timeparse import parse_iso_time
from poolscale.formula.types import DOUBLE, VEC
from poolscale.runtime.completion import complete
from poolscale.runtime.repl import ReplSession, history_path, is_complete, run_lines
from poolscale.runtime.scenario import scenario_from_dict

ROOT = Path(__file__).resolve().parent.parent
T = "2026-03-02T10:00:00Z"
E7_SAMPLES = "3 4 5 6 7 8 9 10"


def texts(text, cursor=None, **kw):
    return [c.text for c in complete(text, cursor, **kw)]


def session(**scenario) -> ReplSession:
    return ReplSession(scenario_from_dict(scenario), time=parse_iso_time(T))


def lines(s: ReplSession, text: str) -> list[str]:
    return s.handle(text).lines


# -- completion (pure) --------------------------------------------------------------------------

def test_complete_service_variable_prefix():
    assert texts("$Pe") == ["$PendingTasks"]
    assert [(c.text, c.start, c.kind) for c in complete("x = $Pe")] == [("$PendingTasks", 4, "series")]


def test_complete_methods_after_a_series():
    got = complete("$PendingTasks.Get")
    assert [c.text for c in got] == ["GetSample", "GetSamplePercent", "GetSamplePeriod"]
    assert {c.start for c in got} == {14} and {c.kind for c in got} == {"method"}


def test_complete_is_case_insensitive_and_inserts_the_canonical_spelling():
    assert texts("$pendingtasks.getsamplep") == ["GetSamplePercent", "GetSamplePeriod"]
    assert texts("$pendingt") == ["$PendingTasks"]
    assert texts("AV") == ["avg"]


def test_complete_bare_word_lists_functions_then_constants():
    assert texts("tim") == [
        "time", "TimeInterval_100ns", "TimeInterval_Day", "TimeInterval_Hour",
        "TimeInterval_Microsecond", "TimeInterval_Millisecond", "TimeInterval_Minute",
        "TimeInterval_Second", "TimeInterval_Week", "TimeInterval_Year", "TimeInterval_Zero"]


def test_complete_constants():
    assert texts("TimeInterval_M") == [
        "TimeInterval_Microsecond", "TimeInterval_Millisecond", "TimeInterval_Minute"]
    assert texts("x = 2 * TimeInterval_H") == ["TimeInterval_Hour"]


def test_complete_user_variables_known_and_assigned_earlier_in_the_text():
    known = {"busy": DOUBLE, "$load": VEC, "Busy2": DOUBLE}
    assert texts("x = bu", variables=known) == ["busy", "Busy2"]
    assert texts("x = $lo", variables=known) == ["$load"]
    assert texts("alpha = 1; $alpha = 2;\nbeta = al") == ["alpha"]
    assert texts("alpha = 1; $alpha = 2;\nbeta = $al") == ["$alpha"]
    # user variables come first, then service names
    assert texts("m", variables={"mine": DOUBLE}) == ["mine", "max", "min"]


def test_complete_targets_scalars_and_keywords():
    assert texts("$T") == ["$TargetDedicatedNodes", "$TargetLowPriorityNodes", "$TaskSlotsPerNode"]
    assert texts("$TargetDed") == ["$TargetDedicatedNodes"]          # no legacy alias
    assert texts("$CurrentDed") == ["$CurrentDedicatedNodes"]        # no deprecated name
    assert texts("$NodeDeallocationOption = ta") == ["taskcompletion"]
    assert texts("$NodeDeallocationOption = re") == ["requeue", "retaineddata"]


def test_complete_members_after_other_expressions():
    assert texts("time().ho") == ["hour"]
    assert texts("now = time(); wd = now.w") == ["weekday"]
    assert texts("t = $ActiveTasks.HistoryBeginTime().") == [
        "day", "hour", "minute", "month", "second", "weekday", "year"]
    assert texts("$CPUPercent.") == [
        "Count", "GetSample", "GetSamplePercent", "GetSamplePeriod", "HistoryBeginTime"]


def test_complete_nothing_in_strings_comments_or_after_a_number():
    assert texts('t = time("20') == []
    assert texts("x = 1; // av") == []
    assert texts("x = 1; /* av") == []
    assert texts("x = 15") == []
    assert texts("x = 1; /* c */ av") == ["avg"]
    assert texts("x = 1; // c\nav") == ["avg"]


def test_complete_at_a_cursor_inside_the_text():
    assert texts("x = $Pe + 1;", 7) == ["$PendingTasks"]


def test_complete_meta_commands_and_their_arguments():
    assert texts(":sa") == [":samples", ":save"]
    assert texts(":samples $Pen") == ["$PendingTasks"]
    assert texts(":samples Pen") == ["$PendingTasks"]
    assert texts(":pool currentD") == ["currentDedicatedNodes="]
    got = complete(":type TimeInterval_Ho")
    assert [(c.text, c.start) for c in got] == [("TimeInterval_Hour", 6)]


# -- is_complete --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, done", [
    ("x = 1;", True), ("x = 1", False), ("x = 1 +\n2;", True), ("x = 1; // done", True),
    ('x = "a;', False), ("x = 1; /* open", False), ("", True), ("  \n", True),
    (":vars", True), ("// only a comment", True), ("x = c ?\n1\n: 2", False),
])
def test_is_complete(text, done):
    assert is_complete(text) is done


# -- the session --------------------------------------------------------------------------------

def test_assignments_and_expressions_print_their_values():
    s = session()
    assert lines(s, "x = 1 + 2;") == ["x=3"]
    assert lines(s, "x * 2; y = x / 4;") == ["= 6", "y=0.75"]
    assert lines(s, "$TargetDedicatedNodes = x\n  + 1;") == ["$TargetDedicatedNodes=4"]
    assert lines(s, "time(); TimeInterval_Minute * 5; \"text\"; requeue;") == [
        "= 2026-03-02T10:00:00.000Z", "= 00:05:00", "= text", "= requeue"]


def test_values_are_per_statement_and_targets_print_as_written():
    s = session()
    assert lines(s, "x = 1; x = x + 1; $TargetDedicated = x; $targetdedicatednodes = 7;") == [
        "x=1", "x=2", "$TargetDedicated=2", "$targetdedicatednodes=7"]


def test_a_missing_final_semicolon_is_supplied():
    s = session()
    assert lines(s, "x = 1") == ["x=1"]
    assert lines(s, "x + 1 // note") == ["= 2"]
    assert s.source == "x = 1;\nx + 1; // note\n"


def test_an_incomplete_statement_submitted_as_is_reports_its_end_not_a_supplied_semicolon():
    """Alt-Enter submits the text as typed; the ';' the shell supplies to join inputs is not
    the user's, so an unfinished statement meets the end of the input, as `eval` says."""
    s = session()
    lines(s, "x = 1;")
    assert lines(s, "$TargetDedicatedNodes = 1 +") == [
        "error: AutoScalingFormulaSyntaxError: Line 1, Col 28: unexpected end of formula"]
    assert lines(s, "y = avg(x,\n") == [
        "error: AutoScalingFormulaSyntaxError: Line 1, Col 11: unexpected end of formula"]
    assert lines(s, "y = (1") == [
        "error: AutoScalingFormulaSyntaxError: Line 1, Col 7: unexpected end of formula"]
    assert s.source == "x = 1;\n"
    assert lines(s, "y = x + 1") == ["y=2"]  # complete without ';': still supplied
    assert s.source == "x = 1;\ny = x + 1;\n"


def test_terminal_alt_enter_on_an_incomplete_statement():
    code, out, s = drive(["x = 1 +\x1b\r", "\x04"], ReplSession(time=parse_iso_time(T), caret=True))
    assert out == ("error: AutoScalingFormulaSyntaxError: Line 1, Col 8: unexpected end of formula\n"
                   "  x = 1 +\n"
                   "         ^\n")


def test_errors_are_positioned_in_the_input_and_the_input_is_not_kept():
    s = session()
    lines(s, "x = 1;\ny = 2;")
    reply = s.handle("z = x;\nw = q;")
    assert reply.failed
    assert reply.lines == [
        "error: AutoScalingFormulaValidationError: Line 2, Col 5: UndefinedVariable: "
        "q is used before it is assigned"]
    assert lines(s, "z;") == [
        "error: AutoScalingFormulaValidationError: Line 1, Col 1: UndefinedVariable: "
        "z is used before it is assigned"]
    assert lines(s, "a = 1 # b;") == [
        "error: AutoScalingFormulaSyntaxError: Line 1, Col 7: unexpected character '#'"]
    assert s.source == "x = 1;\ny = 2;\n"


def test_runtime_and_apply_errors():
    s = session(samples={"$PendingTasks": E7_SAMPLES}, delay="PT60S")
    assert lines(s, "$TargetDedicatedNodes = 1;\nbusy = avg($PendingTasks.GetSample(180 * TimeInterval_Second));") == [
        "error: InsufficientSampleData: Line 2, Col 35: Insufficient data from data set: "
        "$PendingTasks wanted 70%, received 66.6667%"]
    assert lines(s, "$TargetDedicatedNodes = 0 / 0;") == [
        "error: InvalidTargetValue: Line 1, Col 1: $TargetDedicatedNodes evaluated to NaN; "
        "a target must be a finite number"]
    assert s.inputs == []


def test_caret_under_errors_in_terminal_mode():
    s = ReplSession(time=parse_iso_time(T), caret=True)
    lines(s, "x = 1;")
    assert lines(s, "y = x +\n\tq;") == [
        "error: AutoScalingFormulaValidationError: Line 2, Col 2: UndefinedVariable: "
        "q is used before it is assigned",
        "  \tq;",
        "  \t^"]


def test_an_error_in_an_earlier_input_says_so():
    s = session(samples={"$PendingTasks": "1 2 3"})
    assert lines(s, "v = $PendingTasks.GetSample(TimeInterval_Minute);") == ["v=[2,3]"]
    assert lines(s, ':samples $PendingTasks "3"') == ["$PendingTasks: 3 (1 sample)"]
    assert lines(s, "x = 1;") == [
        "error: InsufficientSampleData: Line 1, Col 28 of the session formula: Insufficient data "
        "from data set: $PendingTasks wanted 70%, received 50%"]


def test_stop_ends_the_run_and_later_inputs_do_not_run():
    s = session()
    assert lines(s, "0 ? stop() : 1;") == ["= 1"]
    assert lines(s, "a = 1; 1 ? stop() : 0; b = 2;") == [
        "a=1", "stop(): the run ends here; later statements do not run"]
    assert lines(s, "c = 3;") == ["not run: stop() ended the run in an earlier input"]
    assert lines(s, ":results") == [
        "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;a=1"]
    assert lines(s, ":undo") == ["dropped: c = 3;"]
    assert lines(s, ":undo") == ["dropped: a = 1; 1 ? stop() : 0; b = 2;"]
    assert lines(s, "c = 3;") == ["c=3"]


def test_blank_and_comment_only_inputs_do_nothing():
    s = session()
    assert s.handle("").lines == [] and s.handle("  // a note\n").lines == []
    assert s.inputs == []


# -- meta-commands ------------------------------------------------------------------------------

def test_type_is_static_and_keeps_nothing():
    s = session()
    lines(s, "v = $ActiveTasks.GetSample(3);")
    assert lines(s, ":type v") == ["doubleVec"]
    assert lines(s, ":type v * 2") == ["doubleVec"]
    assert lines(s, ":type avg(v)") == ["double"]
    assert lines(s, ":type time() - time()") == ["timeinterval"]
    assert lines(s, ":type taskcompletion") == ["option"]
    assert lines(s, ':type "s"') == ["string"]
    assert lines(s, ":type time().hour") == ["double"]
    assert lines(s, ":type $PendingTasks") == ["series"]
    assert lines(s, ":type stop()") == ["none"]
    assert lines(s, ":type 2 * v") == [
        "error: AutoScalingFormulaValidationError: Line 1, Col 3: TypeError: "
        "operator '*' cannot be applied to (double, doubleVec)"]
    assert lines(s, ":type w = 1") == ["double"]
    assert "w" not in s.variables and len(s.inputs) == 1


def test_vars_and_results():
    s = session(samples={"$ActiveTasks": "6 2 9 4"})
    assert lines(s, ":vars") == ["no user variables"]
    lines(s, "v = $ActiveTasks.GetSample(4); lo = min(5, v); $TargetDedicatedNodes = max(v);")
    assert lines(s, ":vars") == ["lo=2 (double)", "v=[6,2,9,4] (doubleVec)"]
    assert lines(s, ":results") == [
        "$TargetDedicatedNodes=9;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;lo=2;v=[6,2,9,4]"]
    assert s.variables == {"v": VEC, "lo": DOUBLE}


def test_samples_pool_time_seed_period_delay():
    s = session()
    assert lines(s, ":samples") == ["no samples"]
    assert lines(s, ':samples pendingtasks "0+1x4 _"') == ["$PendingTasks: 0+1x4 _ (6 samples)"]
    assert lines(s, ":samples $CPUPercent [10, null, 30]") == ["$CPUPercent: 10 _ 30 (3 samples)"]
    assert lines(s, ":samples") == ["$PendingTasks: 0+1x4 _ (6 samples)", "$CPUPercent: 10 _ 30 (3 samples)"]
    assert lines(s, "$PendingTasks.GetSample(10); $CPUPercent.Count();") == ["= [0,1,2,3,4]", "= 2"]
    assert lines(s, ':samples $CPUPercent ""') == ["$CPUPercent: no samples"]
    assert lines(s, ":samples $Nope 1") == ["error: :samples: '$Nope' is not a series variable"]
    assert lines(s, ":samples cpupercnt 1") == [
        "error: :samples: 'cpupercnt' is not a series variable; did you mean '$CPUPercent'?"]
    assert lines(s, ":samples $CPUPercent 1+x")[0].startswith("error: :samples: ")

    assert lines(s, ":pool currentDedicatedNodes=4 targetlowprioritynodes=2") == [
        "pool currentDedicatedNodes=4 currentLowPriorityNodes=0 targetDedicatedNodes=4 "
        "targetLowPriorityNodes=2 taskSlotsPerNode=1"]
    assert lines(s, "$CurrentDedicatedNodes; $TargetLowPriorityNodes;") == ["= 4", "= 2"]
    assert lines(s, ":pool taskSlotsPerNode=-1")[0].startswith("error: :pool: taskSlotsPerNode must be")
    assert lines(s, ":pool size=3")[0].startswith("error: :pool: expected key=value")

    assert lines(s, ":time") == ["time 2026-03-02T10:00:00.000Z (set with :time)"]
    assert lines(s, ":time 2026-03-01T03:30:00Z") == ["time 2026-03-01T03:30:00.000Z"]
    assert lines(s, "time().weekday;") == ["= 0"]
    assert lines(s, ":time tomorrow") == [
        "error: :time: cannot parse 'tomorrow' (use e.g. 2026-03-02T10:00:00Z)"]

    assert lines(s, ":seed 7") == ["seed 7"]
    assert lines(s, "rand(); rand();") == ["= 0.323833", "= 0.150849"]
    assert lines(s, ":seed none")[0].startswith("seed none")

    assert lines(s, ":period PT1M") == ["period 00:01:00"]
    assert lines(s, ":delay PT2M") == ["delay 00:02:00"]
    assert lines(s, ":period PT0S") == ["error: :period: must be greater than 0, got 'PT0S'"]
    # the same words as a scenario file's (test_scenario.py): a negative duration is named one
    assert lines(s, ":delay -PT1M") == ["error: :delay: must not be negative, got '-PT1M'"]
    assert lines(s, ":delay 1m") == ["error: :delay: expected an ISO-8601 duration such as "
                                     "'PT30S', got '1m'"]
    assert lines(s, "$PendingTasks.GetSamplePeriod();") == ["= 00:01:00"]
    assert lines(s, ":scenario") == [
        "time 2026-03-01T03:30:00.000Z (set with :time)",
        "pool currentDedicatedNodes=4 currentLowPriorityNodes=0 targetDedicatedNodes=4 "
        "targetLowPriorityNodes=2 taskSlotsPerNode=1",
        "period 00:01:00", "delay 00:02:00",
        "seed none (rand() draws from a fresh random seed at each evaluation)",
        "$PendingTasks: 0+1x4 _ (6 samples)"]


def test_time_defaults_to_the_clock_when_nothing_sets_it():
    s = ReplSession(clock=lambda: parse_iso_time("2030-01-01T00:00:00Z"))
    assert lines(s, ":time") == ["time 2030-01-01T00:00:00.000Z (now: the clock, read at each evaluation)"]
    assert lines(s, "time().year;") == ["= 2030"]


def test_load_a_scenario(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"time": "2026-03-02T10:00:00Z", "pool": {"currentDedicatedNodes": 2},
                                "samples": {"$PendingTasks": E7_SAMPLES}, "delay": "PT60S"}))
    s = ReplSession(time=parse_iso_time("2020-01-01T00:00:00Z"))
    assert lines(s, f":load {path}") == [
        f"loaded {path}: time 2026-03-02T10:00:00.000Z, $PendingTasks"]
    assert lines(s, ":time") == ["time 2026-03-02T10:00:00.000Z (the scenario's)"]
    assert lines(s, "$PendingTasks.GetSample(180 * TimeInterval_Second, 60); $CurrentDedicatedNodes;") == [
        "= [5,6,7,8]", "= 2"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"pool": {"nodes": 1}}')
    assert lines(s, f":load {bad}") == ["error: scenario: pool: unknown key 'nodes'"]
    assert lines(s, ":load") == ["error: :load needs a scenario file"]


def test_source_save_formula_undo_reset(tmp_path):
    s = session()
    lines(s, "x = 1;")
    lines(s, "y = x +\n  1;")
    assert lines(s, ":source") == ["  1  x = 1;", "  2  y = x +", "  3    1;"]
    out = tmp_path / "out.formula"
    assert lines(s, f":save {out}") == [f"saved 2 input(s) to {out}"]
    assert out.read_text() == "x = 1;\ny = x +\n  1;\n"
    assert lines(s, ":undo") == ["dropped: y = x + ..."]
    assert list(s.variables) == ["x"]
    assert lines(s, ":reset") == ["the session formula is empty"]
    assert s.source == "" and s.variables == {}
    assert lines(s, ":undo") == ["nothing to undo"]
    assert lines(s, f":formula {out}") == ["x=1", "y=2"]
    assert lines(s, f":formula {tmp_path / 'missing.formula'}")[0].endswith("missing.formula: cannot read: No such file or directory")


def test_lint_help_quit_and_unknown_commands():
    s = session()
    lines(s, "$targetDedicatedNodes = 1;")
    assert lines(s, ":lint") == [
        "warning: NonCanonicalCase: Line 1, Col 1: '$targetDedicatedNodes' should be written "
        "'$TargetDedicatedNodes'"]
    help_text = "\n".join(lines(s, ":help"))
    for command in (":help", ":load", ":time", ":samples", ":pool", ":vars", ":results",
                    ":explain", ":type", ":reset", ":quit"):
        assert f"  {command} " in help_text
    assert s.handle(":quit").quit and s.handle(":Q").quit and s.handle(":exit").quit
    reply = s.handle(":frobnicate 1")
    assert reply.failed and reply.lines == ["error: unknown command ':frobnicate' (:help lists the commands)"]


# -- line mode ----------------------------------------------------------------------------------

def test_line_mode_gathers_statements_until_a_semicolon():
    s = session()
    out: list[str] = []
    script = ["x = 1 +\n", "  2;\n", "t = x > 2 ?\n", "  10\n", "  : 20;\n", ":vars\n",
              "// a comment\n", "\n", "x * 2"]
    assert run_lines(s, script, out.append) == 0
    assert "".join(out) == "x=3\nt=10\nt=10 (double)\nx=3 (double)\n= 6\n"


def test_line_mode_exit_status_and_quit():
    out: list[str] = []
    assert run_lines(session(), ["y = q;\n", ":quit\n", "z = 1;\n"], out.append) == 1
    assert "".join(out) == ("error: AutoScalingFormulaValidationError: Line 1, Col 5: "
                            "UndefinedVariable: q is used before it is assigned\n")


def test_a_command_swallowed_by_a_statement_without_its_semicolon_says_so():
    """`x = 1` without `;`, then `:vars`: the command became part of the statement, and the
    syntax error says why; a `:` that continues a `?:` is not taken for a command."""
    out: list[str] = []
    assert run_lines(session(), ["x = 1\n", ":vars\n", "y = 2;\n"], out.append) == 1
    assert "".join(out) == ("error: AutoScalingFormulaSyntaxError: Line 2, Col 1: unexpected ':'\n"
                            "hint: a line starting with ':' is a command only when no statement "
                            "is pending: end the statement before it with ';'\n")
    out.clear()
    assert run_lines(session(), ["x = 1 ?\n", ": vars;\n"], out.append) == 1
    assert "hint:" not in "".join(out)


REPL_SCRIPT = """\
pct = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5);
$TargetDedicatedNodes = pct < 70 ? 1 :
    avg($PendingTasks.GetSample(TimeInterval_Minute * 5));
:samples $PendingTasks "0+1x9"
$TargetDedicatedNodes = pct < 70 ? 1 :
    avg($PendingTasks.GetSample(TimeInterval_Minute * 5));
pct;
:type $PendingTasks.GetSample(3)
bad = $PendingTasks.GetSample(TimeInterval_Hour);
:results"""

def test_process_with_a_here_string():
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("needs bash for the here-string")
    env = dict(os.environ, SCRIPT=REPL_SCRIPT)
    proc = subprocess.run(
        [bash, "-c", f'"{sys.executable}" -m poolscale.runtime.cli repl --time {T} <<< "$SCRIPT"'],
        capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.stderr == ""
    assert proc.stdout == (
        "pct=0\n"
        "$TargetDedicatedNodes=1\n"
        "$PendingTasks: 0+1x9 (10 samples)\n"
        "$TargetDedicatedNodes=4.5\n"
        "= 100\n"
        "doubleVec\n"
        "error: InsufficientSampleData: Line 1, Col 30: Insufficient data from data set: "
        "$PendingTasks wanted 70%, received 8.33333%\n"
        "$TargetDedicatedNodes=4.5;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;pct=100\n")
    assert proc.returncode == 1


def test_process_scenario_formula_and_seed_options():
    proc = subprocess.run(
        [sys.executable, "-m", "poolscale.runtime.cli", "repl", "--seed", "7",
         "--scenario", str(ROOT / "examples/busy-pool.json"),
         "--formula", str(ROOT / "examples/busy-pool.formula")],
        input="rand();\n$TargetDedicatedNodes;\n", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ("$busy=12.1579\n$TargetDedicatedNodes=12.1579\n"
                           "$NodeDeallocationOption=taskcompletion\n= 0.323833\n= 12.1579\n")


def test_process_usage_error():
    proc = subprocess.run([sys.executable, "-m", "poolscale.runtime.cli", "repl", "--time", "soon"],
                          input="", capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == "poolscale: --time: cannot parse 'soon' (use e.g. 2026-03-02T10:00:00Z)\n"


# -- the terminal layer, through prompt_toolkit's pipe input ------------------------------------

def drive(keys: list[str], s: ReplSession | None = None, history: Path | None = None):
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from poolscale.runtime.repl import run_terminal

    s = s or session()
    out: list[str] = []
    with create_pipe_input() as pipe:
        for k in keys:
            pipe.send_text(k)
        code = run_terminal(s, input=pipe, output=DummyOutput(), write=out.append,
                            history=history, banner=False)
    return code, "".join(out), s


def test_terminal_multiline_statement_and_tab_completion(tmp_path):
    history = tmp_path / "state" / "poolscale" / "history"
    keys = [
        "x = 1 +\r",                  # Enter inside a statement inserts a newline
        "  2;\r",                     # ... and submits once the text ends with ';'
        "n = $PendingT\t.Cou\t();\r",  # unique completions, case kept canonical
        "i = TimeInterval_Mi\tn\t;\r",  # common part, then unique
        "$TargetDedicatedNodes = x\x1b\r",  # Alt-Enter submits without the ';'
        ":vars\r",
        ":quit\r",
        "never = 1;\r",
    ]
    code, out, s = drive(keys, history=history)
    assert code == 0
    assert out == ("x=3\nn=0\ni=00:01:00\n$TargetDedicatedNodes=3\n"
                   "i=00:01:00 (timeinterval)\nn=0 (double)\nx=3 (double)\n")
    assert s.source == ("x = 1 +\n  2;\nn = $PendingTasks.Count();\ni = TimeInterval_Minute;\n"
                        "$TargetDedicatedNodes = x;\n")
    saved = history.read_text()
    assert "+x = 1 +\n+  2;\n" in saved and "+n = $PendingTasks.Count();\n" in saved


def test_terminal_ctrl_c_drops_the_text_and_ctrl_d_leaves():
    code, out, s = drive(["y = 1 +\r", "\x03", "z = 2;\r", "\x04"])
    assert code == 0
    assert out == "z=2\n"


def test_terminal_prints_a_caret_under_errors_and_completes_user_variables():
    s = ReplSession(time=parse_iso_time(T), caret=True)
    code, out, _ = drive(["busy = 4;\r", "b\t * #;\r", "b\t * 2;\r", "\x04"], s)
    assert out == ("busy=4\n"
                   "error: AutoScalingFormulaSyntaxError: Line 1, Col 8: unexpected character '#'\n"
                   "  busy * #;\n"
                   "         ^\n"
                   "= 8\n")


def test_history_path_follows_xdg_state_home(tmp_path):
    assert history_path({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "poolscale" / "history"
    home = Path.home()
    assert history_path({}) == home / ".local" / "state" / "poolscale" / "history"
    assert history_path({"XDG_STATE_HOME": "relative"}) == home / ".local" / "state" / "poolscale" / "history"


def test_the_other_commands_never_load_prompt_toolkit():
    code = ("import sys; from poolscale.runtime.cli import build_parser; build_parser(); "
            "import poolscale.runtime.repl; print('prompt_toolkit' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "False", proc.stderr


# -- :explain (the lead's trace) ----------------------------------------------------------------

def test_explain_traces_the_session_formula():
    s = session(samples={"$PendingTasks": "1 2 3 4"})
    lines(s, "pct = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 2);")
    lines(s, "$TargetDedicatedNodes = pct < 70 ? 1 : 2;")
    got = lines(s, ":explain")
    assert got[0] == "1:1  pct = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 2)"
    assert "        => pct = 100" in got
    assert any("?: condition pct < 70 = 0 (false) -> else branch 2" in line for line in got)
    assert got[-1] == ("results: $TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;"
                       "$NodeDeallocationOption=requeue;pct=100")


def test_the_deepest_nesting_runs_and_explains_in_the_session():
    s = session()  # 8186 levels: the input joins the session formula with a line break
    assert lines(s, "x=" + "-" * 8186 + "1;") == ["x=1"]
    got = lines(s, ":explain")
    assert got[-1] == "results: $TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;x=1"


def test_an_unexpected_exception_is_an_error_line_and_the_session_goes_on(monkeypatch):
    import poolscale.runtime.repl as repl

    def broken(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    s = session()
    assert lines(s, "a = 1;") == ["a=1"]
    monkeypatch.setattr(repl, "explain", broken)
    reply = s.handle("b = 2;")
    assert reply.failed
    assert reply.lines == ["error: internal error: RecursionError: maximum recursion depth exceeded "
                           "(please report it; :source shows the session formula, :save keeps it)"]
    monkeypatch.undo()
    assert lines(s, "c = a + 1;") == ["c=2"]
    assert lines(s, ":source") == ["  1  a = 1;", "  2  c = a + 1;"]


_LINE_PIECES = ["x = 1", ";", " ", "/*", "*/", "//", '"', '"a;"', "c ?", ": 2", "\t", ";;", "é", "1e", ":vars"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_LINE_PIECES), max_size=6).map(lambda p: "".join(p) + "\n"),
                min_size=1, max_size=8))
def test_line_mode_gathers_lines_exactly_as_is_complete_says(lines_in):
    from poolscale.runtime.repl import _Pending

    pending, text = _Pending(), ""
    for line in lines_in:
        if pending.blank and line.strip().startswith(":"):
            continue  # a meta-command line: run_lines never gathers it
        text += line
        assert pending.add(line) is is_complete(text), text
        if is_complete(text):
            assert pending.take() == text
            text = ""


def test_line_mode_reads_a_statement_that_never_ends_in_linear_time():
    # 20,000 lines without ';' (120 KB) took minutes: every line re-read all the lines before it.
    import time

    out: list[str] = []
    started = time.perf_counter()
    assert run_lines(session(), ["x = 1\n"] * 20000 + ["/*\n"] * 20000, out.append) == 1
    assert time.perf_counter() - started < 5
    assert len(out) == 1 and re.fullmatch(r"error: AutoScaleFormulaTooLong: Line 1366, Col 3: the formula "
                                          r"has 18000\d characters; at most 8192 are allowed\n", out[0])
