"""`poolscale simulate` and `poolscale compare` end to end, through main() and as a process,
on the shipped examples and on small files made here."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from poolscale.runtime.cli import main

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples"
POOL = str(EX / "pool.json")
CSV = str(EX / "workload.csv")

REPORT_KEYS = {"tasks", "wait_seconds", "node_hours", "cost", "utilization", "autoscale",
               "makespan_seconds"}
TASK_KEYS = {"submitted", "succeeded", "failed", "requeued", "active_at_end", "running_at_end"}

SMALL = "submit_time,duration,slots\n0,600,1\n60,600,2\n120,1200,1\n900,300,1\n"


def run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def small(tmp_path):
    p = tmp_path / "small.csv"
    p.write_text(SMALL, encoding="utf-8")
    return str(p)


def test_summary_on_the_shipped_example(capsys):
    code, out, err = run(capsys, ["simulate", "--pool", POOL, "--workload", CSV, "--no-progress"])
    assert code == 0, err
    assert err == ""
    assert "pool render-pool (STANDARD_D4s_v3, 4 slots per node) · pool formula" in out
    for figure in ("submitted", "succeeded", "p95", "node-hours dedicated", "cost", "utilization",
                   "evaluations", "target changes", "makespan"):
        assert figure in out


def test_outputs_written(capsys, tmp_path, small):
    rj, tl, png = tmp_path / "r.json", tmp_path / "t.csv", tmp_path / "p.png"
    code, out, _ = run(capsys, ["simulate", "--pool", POOL, "--workload", small, "--horizon", "2h",
                                "--report-json", str(rj), "--timeline", str(tl), "--plot", str(png)])
    assert code == 0
    report = json.loads(rj.read_text())
    assert REPORT_KEYS <= set(report) and TASK_KEYS <= set(report["tasks"])
    assert {"p50", "p95", "p99", "max"} <= set(report["wait_seconds"])
    assert set(report["node_hours"]) == {"dedicated", "low_priority"}
    assert {"evaluations", "errors", "target_changes"} <= set(report["autoscale"])
    assert report["inputs"]["workload_format"] == "csv" and report["inputs"]["horizon_seconds"] == 7200
    t = report["tasks"]
    assert t["submitted"] == 4 == t["succeeded"] + t["failed"] + t["active_at_end"] + t["running_at_end"]
    rows = list(csv.DictReader(tl.open()))
    assert len(rows) == 240  # one per 30 s sample over 2 h
    assert {"timestamp", "time", "dedicated", "target_dedicated", "active_tasks", "running_tasks",
            "pending_tasks", "usable"} <= set(rows[0])
    assert rows[0]["timestamp"] == "2026-03-02T00:00:30.000Z" and rows[0]["time"] == "30"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert f"wrote {rj}, {tl}, {png}" in out


def test_json_is_deterministic_and_follows_the_seed(capsys, tmp_path):
    gen = tmp_path / "g.yaml"  # no seed of its own: the run's seed drives it
    gen.write_text("generator: {kind: poisson, rate_per_hour: 30, count: 40, duration: 900}\n")
    argv = ["simulate", "--pool", POOL, "--workload", str(gen), "--horizon", "6h", "--json"]
    _, a, _ = run(capsys, argv)
    _, b, _ = run(capsys, argv)
    _, c, _ = run(capsys, argv + ["--seed", "99"])
    assert a == b
    a, c = json.loads(a), json.loads(c)
    assert a["seed"] == 7 and c["seed"] == 99
    assert a["wait_seconds"] != c["wait_seconds"] and a["node_hours"] != c["node_hours"]


def test_formula_override_and_fixed_pool(capsys, tmp_path, small):
    f = tmp_path / "three.formula"
    f.write_text("$TargetDedicatedNodes = 3;", encoding="utf-8")
    code, out, _ = run(capsys, ["simulate", "--pool", POOL, "--workload", small, "--horizon", "1h",
                                "--formula", str(f), "--json"])
    doc = json.loads(out)
    assert code == 0 and doc["pool_at_end"]["target_dedicated"] == 3
    assert doc["inputs"]["formula"] == str(f)
    code, out, _ = run(capsys, ["simulate", "--pool", str(EX / "fixed-pool.json"), "--workload", small,
                                "--horizon", "1h", "--json"])
    doc = json.loads(out)
    assert code == 0 and doc["autoscale"]["evaluations"] == 0 and doc["pool_at_end"]["dedicated"] == 6


def test_swf_trace_notes(capsys):
    code, out, _ = run(capsys, ["simulate", "--pool", POOL, "--workload", str(EX / "workload.swf"),
                                "--horizon", "3h"])
    assert code == 0
    assert "note: skipped 9 records with run time -1" in out
    assert "note: capped" in out and "to 4 slots" in out


@pytest.mark.parametrize("pool, expected", [
    ({"id": "p", "vmSize": "STANDARD_D2s_v3", "taskSlotsPerNode": 300},
     "pool.json:4: taskSlotsPerNode: Input should be less than or equal to 256"),
    ({"id": "p", "vmSize": "D2", "enableAutoScale": True},
     "pool.json:4: enableAutoScale: true, but autoScaleFormula is missing"),
    ({"vmSize": "D2", "targetDedicatedNodes": 1}, "pool.json:1: id: Field required"),
    ({"id": "p", "vmSize": "D2", "targetDedicatedNodes": 1,
      "simulation": {"bootTime": {"kind": "uniform", "high": 60}}},
     "pool.json:6: simulation.bootTime.low: Field required"),
    ({"id": "p", "vmSize": "STANDARD_D2s_v3", "maxTasksPerNode": 0},
     "pool.json:4: maxTasksPerNode: Input should be greater than or equal to 1"),
    ({"id": "p", "vmSize": "D2", "targetDedicatedNodes": 1,
      "applicationPackageReferences": [{"applicationId": "a"}] * 11},
     "pool.json:5: applicationPackageReferences: at most 10, got 11"),
    ({"id": "p", "vmSize": "D2", "targetDedicatedNodes": 1,
      "taskSchedulingPolicy": {"jobDefaultOrder": "byname"}},
     "pool.json:6: taskSchedulingPolicy.jobDefaultOrder: Input should be 'none' or 'creationtime'"),
])
def test_bad_pool_is_exit_2_naming_the_field(capsys, tmp_path, small, pool, expected):
    p = tmp_path / "pool.json"
    p.write_text(json.dumps(pool, indent=2), encoding="utf-8")
    code, out, err = run(capsys, ["simulate", "--pool", str(p), "--workload", small])
    assert code == 2 and out == ""
    assert err.replace(str(p), "pool.json").startswith(f"poolscale: {expected}")


@pytest.mark.parametrize("name, text", [
    ("pool.yaml", "id: p\nvmSize: STANDARD_D2s_v3\ntargetDedicatedNodes: 2\n"
                  "targetDedicatedNodes: 20\n"),
    ("pool.json", '{"id": "p", "vmSize": "STANDARD_D2s_v3", "targetDedicatedNodes": 2,\n'
                  ' "targetDedicatedNodes": 20}\n'),
])
def test_a_repeated_key_is_an_error_in_yaml_as_in_json(capsys, tmp_path, small, name, text):
    # PyYAML alone keeps the last value silently; a pool would run with 20 nodes, not 2
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    code, out, err = run(capsys, ["simulate", "--pool", str(p), "--workload", small])
    where = f"{p}:4" if name.endswith(".yaml") else str(p)   # json gives the hook no position
    kind = "mapping" if name.endswith(".yaml") else "object"
    assert (code, out) == (2, "")
    assert err == f"poolscale: {where}: key 'targetDedicatedNodes' appears twice in one {kind}\n"


ISO_CSV = ("submit_time,duration\n2025-06-01T08:00:00Z,600\n2025-06-01T12:00:00Z,600\n"
           "2025-06-01T16:00:00Z,600\n")


def test_a_trace_with_iso_times_starts_at_its_first_time(capsys, tmp_path):
    # no --start and no simulation.start: the run begins at the workload's earliest instant,
    # not at the fixed default date (which would move every task to t=0 or months ahead)
    pool = tmp_path / "p.json"
    pool.write_text(json.dumps({"id": "p", "vmSize": "STANDARD_D2s_v3",
                                "targetDedicatedNodes": 1}), encoding="utf-8")
    w = tmp_path / "w.csv"
    w.write_text(ISO_CSV, encoding="utf-8")
    code, out, _ = run(capsys, ["simulate", "--no-progress", "--pool", str(pool), "--workload",
                                str(w), "--json"])
    doc = json.loads(out)
    assert code == 0 and doc["inputs"]["start"] == "2025-06-01T08:00:00.000Z"
    assert doc["inputs"]["notes"] == []
    assert doc["makespan_seconds"] == 8 * 3600 + 600        # 08:00 to the end of the 16:00 task
    # the CLI picks the same start as the engine, to the tick (Azure writes 7 digits)
    wj = tmp_path / "w.json"
    wj.write_text(json.dumps({"jobs": [{"id": "j", "creationTime": "2025-06-01T08:00:00.1234567Z",
                                        "tasks": [{"id": "t", "duration": 60}]}]}), encoding="utf-8")
    code, out, _ = run(capsys, ["simulate", "--no-progress", "--pool", str(pool), "--workload",
                                str(wj), "--json"])
    doc = json.loads(out)
    assert doc["inputs"]["start"] == doc["start"] == "2025-06-01T08:00:00.1234567Z"
    code, out, _ = run(capsys, ["simulate", "--no-progress", "--pool", str(pool), "--workload",
                                str(w), "--start", "2025-06-01T10:00:00Z", "--json"])
    doc = json.loads(out)
    assert doc["inputs"]["notes"] == [
        "1 submit or creation time before the start (the earliest 2025-06-01T08:00:00.000Z) "
        "counts as the start"]


def test_a_run_cut_at_its_drain_says_what_it_left_unfinished(capsys, tmp_path):
    # retaineddata keeps the second node after its task (retention 7 days by default), so the
    # pool is still resizing when the last task ends and a horizon-less run stops
    pool = tmp_path / "p.json"
    pool.write_text(json.dumps({
        "id": "p", "vmSize": "STANDARD_D1_v2", "enableAutoScale": True,
        "autoScaleFormula": "$TargetDedicatedNodes = $PendingTasks.GetSample(1) > 0 ? 2 : 1;"
                            "$NodeDeallocationOption = retaineddata;",
        "simulation": {"allocationTime": 0, "bootTime": 0}}), encoding="utf-8")
    w = tmp_path / "w.csv"
    w.write_text("submit_time,duration\n0,3600\n0,3600\n0,3600\n0,3600\n", encoding="utf-8")
    argv = ["simulate", "--no-progress", "--pool", str(pool), "--workload", str(w), "--json"]
    code, out, _ = run(capsys, argv)
    assert code == 0 and json.loads(out)["inputs"]["notes"] == [
        "the run stopped when the workload drained, at 2026-01-05T02:05:00.000Z (2 h 05 m in), "
        "while the pool was still "
        "resizing (2 nodes, target 1); node-hours and cost stop there: give --horizon to "
        "follow the pool"]
    code, out, _ = run(capsys, argv + ["--horizon", "3h"])
    assert code == 0 and json.loads(out)["inputs"]["notes"] == []
    f = tmp_path / "one.formula"
    f.write_text("$TargetDedicatedNodes = 1;\n", encoding="utf-8")
    code, out, _ = run(capsys, ["compare", "--no-progress", "--pool", str(pool), "--workload",
                                str(w), "--formula", str(f)])
    assert code == 0 and ("note: without a horizon each run stopped when its workload drained "
                          "(or 7 days after the last submission), at different times, so "
                          "node-hours and cost cover different spans: give --horizon to "
                          "compare them") in out
    # a run that never drains stops at its cap: the note says so, not "drained"
    slow = tmp_path / "slow.json"
    slow.write_text(json.dumps({"id": "p", "vmSize": "STANDARD_D1_v2", "targetDedicatedNodes": 1,
                                "simulation": {"allocationTime": 10 * 86_400}}), encoding="utf-8")
    code, out, _ = run(capsys, ["simulate", "--no-progress", "--pool", str(slow), "--workload",
                                str(w), "--json"])
    assert code == 0 and json.loads(out)["inputs"]["notes"] == [
        "without a horizon the run stopped at 2026-01-12T00:00:00.000Z (7 d 00 h in), 7 days "
        "after the last submission, with "
        "4 tasks still active or running: give --horizon to follow them"]


def test_bad_workload_and_options_are_exit_2(capsys, tmp_path):
    w = tmp_path / "w.csv"
    w.write_text("submit_time,duration\n0,60\n5,-1\n", encoding="utf-8")
    code, _, err = run(capsys, ["simulate", "--pool", POOL, "--workload", str(w)])
    assert code == 2 and err == f"poolscale: {w}:3: duration: a duration must be 0 or more, got '-1'\n"
    for extra, message in ((["--horizon", "soon"], "--horizon: cannot read 'soon' as a duration"),
                           (["--start", "monday"], "--start: cannot parse 'monday'")):
        code, _, err = run(capsys, ["simulate", "--pool", POOL, "--workload", CSV] + extra)
        assert code == 2 and message in err
    code, _, err = run(capsys, ["simulate", "--pool", POOL, "--workload", str(tmp_path / "none.csv")])
    assert code == 2 and "cannot read" in err
    code, _, _ = run(capsys, ["simulate", "--pool", POOL])
    assert code == 2  # --workload is required


@pytest.mark.parametrize("extra, message", [
    (["--plot", "{tmp}/x.txt"], "--plot: {tmp}/x.txt needs a picture type by its extension"),
    (["--plot", "{tmp}/noext"], "--plot: {tmp}/noext needs a picture type by its extension"),
    (["--plot", "{tmp}"], "--plot: {tmp} is a directory"),
    (["--report-json", "{tmp}/none/r.json"], "--report-json: the directory {tmp}/none does not exist"),
    (["--horizon", "-5"], "--horizon: must be more than 0, got '-5'"),
    (["--start", "2026-03-02T00:00:00"], "--start: '2026-03-02T00:00:00' needs a time zone"),
    (["--horizon", "P3650D"], "cannot simulate: the run would last 315,360,000 s, 10,512,000 "
                              "sample periods of 30 s; at most 1,100,000"),
    (["--start", "9999-12-31T23:00:00Z"], "cannot simulate: the run would end after "
                                          "9999-12-31T23:59:59Z"),
])
def test_refused_before_simulating_with_exit_2(capsys, tmp_path, small, extra, message):
    extra = [e.format(tmp=tmp_path) for e in extra]
    code, out, err = run(capsys, ["simulate", "--pool", POOL, "--workload", small] + extra)
    assert (code, out) == (2, "")
    assert err.startswith("poolscale: " + message.format(tmp=tmp_path))
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("text, message", [
    ("{}", "no workload: expected a 'jobs' list, a 'tasks' list, a 'jobSchedules' list or a "
            "'generator'"),
    ('{"tasks": []}', "no tasks"),
])
def test_an_empty_json_workload_is_exit_2(capsys, tmp_path, text, message):
    w = tmp_path / "w.json"
    w.write_text(text, encoding="utf-8")
    code, _, err = run(capsys, ["simulate", "--pool", POOL, "--workload", str(w)])
    assert code == 2 and err == f"poolscale: {w}: {message}\n"


def test_a_short_horizon_and_notes_on_tasks_wider_than_a_node(capsys, tmp_path):
    w = tmp_path / "w.csv"
    w.write_text("submit_time,duration,slots\n0,60,5\n100,60,1\n", encoding="utf-8")
    code, out, _ = run(capsys, ["simulate", "--pool", POOL, "--workload", str(w), "--horizon", "1"])
    assert code == 0
    assert "(csv, 2 tasks)" in out     # the file's tasks, not those submitted within the horizon
    assert "note: 1 task needs more than taskSlotsPerNode (4) slots and can never run" in out


def test_an_unknown_option_shows_the_commands_own_usage(capsys, small):
    code, out, err = run(capsys, ["simulate", "--pool", POOL, "--workload", small, "--bogus"])
    assert (code, out) == (2, "")
    assert err.startswith("usage: poolscale simulate ")
    assert err.endswith("poolscale simulate: error: unrecognized arguments: --bogus\n")


def test_compare_labels_are_distinct():
    from poolscale.runtime.commands.compare import _labels

    assert _labels([None, "a/x.f", "b/x.f", "a/x.f", "y.f"]) == [
        "pool", "a/x.f", "b/x.f", "a/x.f #2", "y.f"]


def test_compare_names_long_labels_in_a_legend(capsys, tmp_path, small):
    # file names wider than a column are not folded mid-word: letters head the columns
    a = tmp_path / "scale-on-pending-tasks-ten-minutes.formula"
    b = tmp_path / "twenty.formula"
    a.write_text("$TargetDedicatedNodes = max($PendingTasks.GetSample(1));\n", encoding="utf-8")
    b.write_text("$TargetDedicatedNodes = 20;\n", encoding="utf-8")
    code, out, _ = run(capsys, ["compare", "--no-progress", "--pool", POOL, "--workload", small,
                                "--horizon", "1h", "--formula", str(a), "--formula", str(b)])
    lines = out.splitlines()
    assert code == 0
    assert lines[2:5] == ["A  scale-on-pending-tasks-ten-minutes.formula",
                          "B  twenty.formula", ""]
    header = next(line for line in lines if line.startswith("figure"))
    assert header.split() == ["figure", "┃", "A", "┃", "B"]
    code, out, _ = run(capsys, ["compare", "--no-progress", "--pool", POOL, "--workload", small,
                                "--horizon", "1h", "--formula", str(b), "--json"])
    assert [r["label"] for r in json.loads(out)["runs"]] == ["pool formula", "twenty.formula"]


def test_compare_shows_labels_of_twenty_characters_whole(capsys, tmp_path, small):
    paths = []
    for i in range(3):
        f = tmp_path / f"exact{i}_67890.formula"            # 20 characters: the widest shown
        f.write_text(f"$TargetDedicatedNodes = {i};\n", encoding="utf-8")
        paths += ["--formula", str(f)]
    code, out, _ = run(capsys, ["compare", "--no-progress", "--pool", POOL, "--workload", small,
                                "--horizon", "1h", *paths])
    header = next(line for line in out.splitlines() if line.startswith("figure"))
    assert code == 0
    assert header.split()[2::2] == ["exact0_67890.formula", "exact1_67890.formula",
                                    "exact2_67890.formula"]


def test_compare_columns_past_z_are_named_like_spreadsheet_columns():
    from poolscale.runtime.commands.compare import _column_name

    assert [_column_name(i) for i in (0, 25, 26, 51, 52, 701, 702)] == [
        "A", "Z", "AA", "AZ", "BA", "ZZ", "AAA"]


def test_compare_reads_standard_input_once(capsys, small):
    code, _, err = run(capsys, ["compare", "--pool", POOL, "--workload", small,
                                "--formula", "-", "--formula", "-"])
    assert code == 2 and err == "poolscale: --formula -: standard input can be read only once\n"


def test_formula_that_does_not_compile_is_exit_1(capsys, tmp_path, small):
    f = tmp_path / "bad.formula"
    f.write_text("$TargetDedicatedNodes = min(3, 4;\n", encoding="utf-8")
    code, out, err = run(capsys, ["simulate", "--pool", POOL, "--workload", small,
                                  "--formula", str(f), "--json"])
    assert code == 1 and out == ""       # stdout carries only the report
    assert err.startswith(f"{f}:1:") and "^" in err


def test_compare_side_by_side(capsys, tmp_path, small):
    png = tmp_path / "c.png"
    a, b = str(EX / "autoscale.formula"), str(EX / "busy-pool.formula")
    code, out, _ = run(capsys, ["compare", "--pool", POOL, "--workload", small, "--horizon", "2h",
                                "--formula", a, "--formula", b, "--plot", str(png)])
    assert code == 0
    header = next(line for line in out.splitlines() if line.startswith("figure"))
    assert "autoscale.formula" in header and "busy-pool.formula" in header
    assert "node-hours dedicated" in out and "target changes" in out
    assert png.stat().st_size > 10_000
    code, out, _ = run(capsys, ["compare", "--pool", POOL, "--workload", small, "--horizon", "2h",
                                "--formula", b, "--json"])
    doc = json.loads(out)
    assert code == 0 and [r["label"] for r in doc["runs"]] == ["pool formula", "busy-pool.formula"]
    assert all(REPORT_KEYS <= set(r["report"]) for r in doc["runs"])
    assert doc["inputs"]["seed"] == 7


def test_plain_text_table_without_rich():
    import io

    from poolscale.runtime.simview import render_table

    out = io.StringIO()
    render_table(out, "T", ["figure", "a", "b"], [("tasks", "submitted", "3", "4"),
                                                  ("tasks", "failed", "0", "1"),
                                                  ("wait", "p50", "1 s", "2 s")], use_rich=False)
    assert out.getvalue() == ("T\n"
                              "figure                 a    b\n"
                              "tasks     submitted    3    4\n"
                              "          failed       0    1\n"
                              "\n"
                              "wait      p50        1 s  2 s\n")


def test_the_pools_own_formula_is_named_as_check_names_it(capsys, tmp_path, small):
    """A compile error in the pool's autoScaleFormula points at it with the same JSON pointer
    that `poolscale check pool.json` prints, so both commands name the same place alike."""
    pool = json.loads(Path(POOL).read_text(encoding="utf-8"))
    pool["autoScaleFormula"] = "$TargetDedicatedNodes = 1\n$NodeDeallocationOption = taskcompletion;"
    p = tmp_path / "pool.json"
    p.write_text(json.dumps(pool), encoding="utf-8")
    code, out, err = run(capsys, ["simulate", "--pool", str(p), "--workload", small])
    assert (code, out) == (1, "")
    assert err.splitlines()[0] == (f"{p}#/autoScaleFormula:2:1: AutoScalingFormulaSyntaxError: "
                                   "';' probably missing before this statement")
    assert run(capsys, ["check", str(p)])[1].startswith(f"{p}#/autoScaleFormula:2:1: ")


@pytest.mark.parametrize("command", [
    ["simulate", "--pool", "examples/pool.json", "--workload", "examples/workload.csv"],
    ["compare", "--pool", "examples/pool.json", "--workload", "examples/workload.csv",
     "--formula", "examples/busy-pool.formula"],
])
def test_a_reader_that_went_away_is_no_finding(command):
    """``poolscale simulate ... | head -1``: the reader takes the first line (written before
    the run) and closes the pipe while the run goes on, so the table's write fails. rich's own
    broken-pipe handler exited with 1 ("findings") and said nothing; the command ends quietly
    with 0, as every other command does."""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "poolscale.runtime.cli", *command,
                             "--no-progress"], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    assert (proc.wait(timeout=120), err) == (0, b"")


def test_compare_shows_what_each_formula_did_to_the_job_schedules(capsys, tmp_path):
    # a pool kept at 0 nodes never ends the first nightly job: the six later nights are skipped
    root = Path(__file__).resolve().parent.parent / "examples"
    zero = tmp_path / "zero.formula"
    zero.write_text("$TargetDedicatedNodes = 0;\n", encoding="utf-8")
    code, out, _ = run(capsys, ["compare", "--no-progress", "--pool",
                                str(root / "cleanup-pool.json"), "--workload",
                                str(root / "daily-schedule.yaml"), "--formula",
                                str(root / "autoscale.formula"), "--formula", str(zero)])
    assert code == 0
    assert out.split("\nSchedules\n", 1)[1] == (
        "  autoscale.formula: nightly: completed · 7 jobs, 0 skipped · 147 tasks, "
        "147 succeeded, 0 failed\n"
        "  zero.formula: nightly: active · 1 job (1 active), 6 skipped · 21 tasks, "
        "0 succeeded, 0 failed\n")
    code, out, _ = run(capsys, ["compare", "--no-progress", "--pool", POOL, "--workload",
                                str(root / "workload.csv"), "--horizon", "1h",
                                "--formula", str(zero)])
    assert code == 0 and "Schedules" not in out       # no schedule, no block
