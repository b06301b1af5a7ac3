"""What the simulator tells its user: durations read the same wherever they are
written, and what became of the user's request is said in the user's terms."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from poolscale.runtime.cli import main
from poolscale.scheduler.documents import InputFileError, read_pool
from poolscale.scheduler.simulate import horizon_seconds, simulate
from poolscale.scheduler.workload import load_workload_file, read_csv

T0 = "2026-03-02T00:00:00Z"


def run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def pool_doc(**fields) -> dict:
    return {"id": "p", "vmSize": "STANDARD_D2s_v3", "taskSlotsPerNode": 1,
            "targetDedicatedNodes": 1, **fields}


# --------------------------------------------------------------------------------------------
# durations: one reader for --horizon, pool files, workload files and generators
# --------------------------------------------------------------------------------------------

#: every form, with the seconds it means
FORMS = [
    ("5400", 5400.0), ("90m", 5400.0), ("1.5h", 5400.0), ("1.5 H", 5400.0), ("PT90M", 5400.0),
    ("pt1h30m", 5400.0), ("1:30:00", 5400.0), ("2d", 172_800.0), ("P2D", 172_800.0),
    ("2 days, 0:00:00", 172_800.0), ("1w", 604_800.0), ("45s", 45.0), ("0:00:45.5", 45.5),
]


@pytest.mark.parametrize("text, seconds", FORMS)
def test_every_duration_form_reads_the_same_in_every_place(tmp_path, text, seconds):
    assert horizon_seconds(text) == seconds
    pool = read_pool(write(tmp_path, "p.json", json.dumps(pool_doc(
        simulation={"bootTime": text, "horizon": text, "samples": {"delay": text}}))))
    sim = pool.simulation
    assert (sim.boot_time.value, sim.horizon, sim.samples.delay) == (seconds,) * 3
    csv = read_csv(f"submit_time,duration\n0,\"{text}\"\n", "w.csv").workload
    assert csv.jobs[0].tasks[0].duration == seconds
    js = load_workload_file(write(tmp_path, "w.json", json.dumps(
        {"tasks": [{"id": "t", "duration": text}]}))).workload
    assert js.jobs[0].tasks[0].duration == seconds
    gen = load_workload_file(write(tmp_path, "g.json", json.dumps(
        {"generator": {"kind": "poisson", "ratePerHour": 60, "count": 2,
                       "duration": text}})), seed=1).workload
    assert [t.duration for t in gen.jobs[0].tasks] == [seconds, seconds]



@pytest.mark.parametrize("text, seconds", FORMS)
def test_every_duration_form_is_a_horizon_on_the_command_line(capsys, tmp_path, text, seconds):
    """--horizon goes through the same reader as the files (not only horizon_seconds itself)."""
    pool = write(tmp_path, "p.json", json.dumps(pool_doc()))
    work = write(tmp_path, "w.csv", "submit_time,duration\n0,60\n")
    code, out, err = run(capsys, ["simulate", "--pool", pool, "--workload", work, "--json",
                                  "--no-progress", "--horizon", text])
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert (doc["inputs"]["horizon_seconds"], doc["simulated_seconds"]) == (seconds, seconds)

@pytest.mark.parametrize("value, message", [
    ("-5h", "--horizon: must be more than 0, got '-5h'"),
    ("-PT5H", "--horizon: must be more than 0, got '-PT5H'"),
    ("-0:15:00", "--horizon: must be more than 0, got '-0:15:00'"),
    ("0", "--horizon: must be more than 0, got '0'"),
    ("PT0S", "--horizon: must be more than 0, got 'PT0S'"),
    ("soon", "--horizon: cannot read 'soon' as a duration (use e.g. 600, 90m, 36h, 7d, PT36H "
             "or 0:15:00)"),
    ("nan", "--horizon: cannot read 'nan' as a duration (use e.g. 600, 90m, 36h, 7d, PT36H "
            "or 0:15:00)"),
])
def test_a_bad_horizon_is_one_line_and_exit_2(capsys, tmp_path, value, message):
    pool = write(tmp_path, "p.json", json.dumps(pool_doc()))
    work = write(tmp_path, "w.csv", "submit_time,duration\n0,60\n")
    for argv in (["--horizon", value], [f"--horizon={value}"]):
        code, out, err = run(capsys, ["simulate", "--pool", pool, "--workload", work] + argv)
        assert (code, out, err) == (2, "", f"poolscale: {message}\n")


@pytest.mark.parametrize("value, message", [
    (0, "must be more than 0, got 0"),
    ("-5h", "must be more than 0, got '-5h'"),
    ("soon", "cannot read 'soon' as a duration (use e.g. 600, 90m, 36h, 7d, PT36H or 0:15:00)"),
])
def test_a_bad_horizon_in_the_pool_file_names_its_line(tmp_path, value, message):
    path = write(tmp_path, "p.json", json.dumps(pool_doc(simulation={"horizon": value}),
                                                indent=1))
    with pytest.raises(InputFileError) as e:
        read_pool(path)
    assert str(e.value) == f"{path}:7: simulation.horizon: {message}"


@pytest.mark.parametrize("value, message", [
    (0, "horizon: must be more than 0, got 0"),
    (dt.timedelta(hours=-1), "horizon: must be more than 0, got -3600"),
    ("-5h", "horizon: must be more than 0, got '-5h'"),
])
def test_the_library_refuses_the_same_horizons(value, message):
    with pytest.raises(ValueError) as e:
        simulate(pool_doc(), {"tasks": [{"id": "t", "duration": 60}]}, start=T0, horizon=value)
    assert str(e.value) == message


@pytest.mark.parametrize("text, message", [
    ("-5m", "a duration must be 0 or more, got '-5m'"),
    ("5x", "cannot read '5x' as a duration (use e.g. 600, 90m, 36h, 7d, PT36H or 0:15:00)"),
])
def test_a_bad_csv_duration_reads_as_in_every_other_file(text, message):
    with pytest.raises(InputFileError) as e:
        read_csv(f"submit_time,duration\n0,{text}\n", "w.csv")
    assert str(e.value) == f"w.csv:2: duration: {message}"


# --------------------------------------------------------------------------------------------
# a target the core quota cut is a resize error, in the summary, the report and the timeline
# --------------------------------------------------------------------------------------------

#: 16 cores of 4-core nodes hold 4 nodes; the formula asks for one node per waiting task (10)
QUOTA_POOL = {
    "id": "quota-pool", "vmSize": "STANDARD_D4s_v3", "taskSlotsPerNode": 1,
    "enableAutoScale": True, "autoScaleEvaluationInterval": "PT5M",
    "autoScaleFormula": "$TargetDedicatedNodes = $PendingTasks.GetSample(1) > 0 ? 10 : 2;",
    "simulation": {"dedicatedCoreQuota": 16, "allocationTime": 60, "bootTime": 0},
}
#: eight tasks of 25 minutes, on the 4 nodes from 00:06 (the 00:05 run asked for them, and
#: they take a minute to allocate): two waves, done at 00:56, so the 01:00 run asks for 2
QUOTA_WORK = "submit_time,duration\n" + "0,1500\n" * 8

QUOTA_ERROR = {
    "code": "AccountCoreQuotaReached",
    "message": "11 autoscale evaluations from 2026-03-02T00:05:00.000Z to "
               "2026-03-02T00:55:00.000Z asked for more dedicated nodes than the quota allows "
               "(up to 10): the dedicatedCoreQuota of 16 cores holds 4 nodes of 4 cores, so each "
               "target was cut to 4",
    "count": 11, "first": "2026-03-02T00:05:00.000Z", "last": "2026-03-02T00:55:00.000Z",
    "nodes_asked": 10, "quota_nodes": 4,
}


def test_a_target_cut_by_the_core_quota_is_a_resize_error_in_the_report():
    r = simulate(QUOTA_POOL, read_csv(QUOTA_WORK, "w.csv"), start=T0, horizon="2h")
    assert r.report["resize_errors"] == [QUOTA_ERROR]
    # the pool holds the error while the last run asked for more than the quota, then not (a
    # sample at t comes before the run at t)
    by_time = {row["time"]: (row["target_dedicated"], row["resize_errors"])
               for row in r.timeline_rows}
    assert by_time[300.0] == (0, "")
    assert by_time[330.0] == (4, "AccountCoreQuotaReached")
    assert by_time[3600.0] == (4, "AccountCoreQuotaReached")
    assert by_time[3630.0] == (2, "")
    assert r.report["pool_at_end"]["resize_errors"] == []


def test_a_cut_by_maxnodesperkind_alone_is_no_quota_error():
    pool = {**QUOTA_POOL, "simulation": {**QUOTA_POOL["simulation"], "maxNodesPerKind": 3}}
    r = simulate(pool, read_csv(QUOTA_WORK, "w.csv"), start=T0, horizon="1h")
    assert r.report["resize_errors"] == []
    assert {row["resize_errors"] for row in r.timeline_rows} == {""}


def test_the_quota_error_in_the_summary_the_report_json_and_the_timeline(capsys, tmp_path):
    pool = write(tmp_path, "pool.json", json.dumps(QUOTA_POOL))
    work = write(tmp_path, "w.csv", QUOTA_WORK)
    report, timeline = tmp_path / "r.json", tmp_path / "t.csv"
    code, out, err = run(capsys, ["simulate", "--pool", pool, "--workload", work, "--start", T0,
                                  "--horizon", "2h", "--report-json", str(report),
                                  "--timeline", str(timeline), "--no-progress"])
    assert (code, err) == (0, "")
    lines = out.splitlines()
    head = lines[:lines.index("")]        # the lines above the table, after the notes
    assert head[-1] == "resize error: AccountCoreQuotaReached: " + QUOTA_ERROR["message"]
    assert [ln.split() for ln in lines if "resize errors" in ln] == [
        ["resize", "errors", "│", "11", "(AccountCoreQuotaReached", "11)"]]
    assert json.loads(report.read_text())["resize_errors"] == [QUOTA_ERROR]
    rows = timeline.read_text().splitlines()
    assert rows[0].endswith(",allocation_state,sample_lost,resize_errors")
    assert rows[11].startswith("2026-03-02T00:05:30.000Z,330,")
    assert rows[11].endswith(",AccountCoreQuotaReached")
    assert rows[1].endswith(",false,")


def test_compare_counts_the_quota_errors_of_each_formula(capsys, tmp_path):
    pool = write(tmp_path, "pool.json", json.dumps(QUOTA_POOL))
    work = write(tmp_path, "w.csv", QUOTA_WORK)
    small = write(tmp_path, "small.formula", "$TargetDedicatedNodes = 3;")
    code, out, err = run(capsys, ["compare", "--pool", pool, "--workload", work, "--start", T0,
                                  "--horizon", "2h", "--formula", small, "--no-progress"])
    assert (code, err) == (0, "")
    assert ("pool formula: resize error: AccountCoreQuotaReached: " + QUOTA_ERROR["message"]
            in out.splitlines())
    assert [ln.split() for ln in out.splitlines() if "resize errors" in ln] == [
        ["resize", "errors", "│", "11", "(AccountCoreQuotaReached", "11)", "│", "0"]]


# --------------------------------------------------------------------------------------------
# a file lacking several fields names them all
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("{}", "p.json:1: missing required fields: id, vmSize"),
    ('{\n "pool": {},\n "simulation": {"seed": 1}\n}', "p.json:2: missing required fields: id, vmSize"),
    ('{\n "simulation": {"bootTime": "soon"}\n}',
     "p.json:1: missing required fields: id, vmSize (and 1 more problem)"),
    ('{"id": "p", "vmSize": "D2",\n "simulation": {"bootTime": {"kind": "uniform"}}}',
     "p.json:2: simulation.bootTime: missing required fields: low, high"),
    ('{"vmSize": "D2"}', "p.json:1: id: Field required"),
])
def test_every_missing_field_of_an_object_is_named(capsys, tmp_path, text, message):
    pool = write(tmp_path, "p.json", text)
    work = write(tmp_path, "w.csv", "submit_time,duration\n0,60\n")
    code, out, err = run(capsys, ["simulate", "--pool", pool, "--workload", work])
    assert (code, out, err) == (2, "", f"poolscale: {tmp_path}/{message}\n")


# --------------------------------------------------------------------------------------------
# a task without a duration is noted, with the duration it was given
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, text, note", [
    ("w.json", '{"jobs": [{"id": "etl", "tasks": [{"id": "extract"}, {"id": "load", "duration": '
               '60}, {"id": "x", "duration": null}]}]}',
     "note: 2 tasks have no duration and run for 0 s (the first: job 'etl', task 'extract'); "
     "give each a duration such as 600 or PT10M"),
    ("w.yaml", "jobs:\n  - id: j\n    jobManagerTask: {id: jm}\n    tasks:\n      - {id: t, duration: 5}\n",
     "note: 1 task has no duration and runs for 0 s (job 'j', task 'jm'); give it a duration "
     "such as 600 or PT10M"),
])
def test_a_task_without_a_duration_gets_a_note(capsys, tmp_path, name, text, note):
    pool = write(tmp_path, "p.json", json.dumps(pool_doc()))
    work = write(tmp_path, name, text)
    code, out, err = run(capsys, ["simulate", "--pool", pool, "--workload", work, "--horizon", "1h"])
    assert (code, err) == (0, "")
    assert [ln for ln in out.splitlines() if ln.startswith("note:")] == [note]
    code, out, err = run(capsys, ["simulate", "--pool", pool, "--workload", work, "--horizon", "1h",
                                  "--json"])
    assert json.loads(out)["inputs"]["notes"] == [note.removeprefix("note: ")]


def test_tasks_with_durations_get_no_note(capsys, tmp_path):
    pool = write(tmp_path, "p.json", json.dumps(pool_doc()))
    work = write(tmp_path, "w.json", '{"tasks": [{"id": "t", "duration": 0}]}')
    code, out, _ = run(capsys, ["simulate", "--pool", pool, "--workload", work, "--horizon", "1h"])
    assert code == 0 and "note:" not in out


# --------------------------------------------------------------------------------------------
# instants in messages are ISO timestamps; counts take the noun's number
# --------------------------------------------------------------------------------------------

def test_a_sample_period_below_the_finest_time_is_said_in_seconds():
    pool = pool_doc(simulation={"samples": {"period": 1e-9}})
    with pytest.raises(ValueError) as e:
        simulate(pool, {"tasks": [{"id": "t", "duration": 1}]}, start=T0, horizon=1)
    assert str(e.value) == ("simulation.samples.period must be at least 0.0000001 s "
                            "(PT0.0000001S), the finest time a formula sees")


def test_one_of_a_thing_is_said_in_the_singular(capsys, tmp_path):
    pool = write(tmp_path, "p.json", json.dumps(pool_doc()))       # 1 slot, 1 node
    work = write(tmp_path, "w.csv", "submit_time,duration\n0,60\n")
    code, out, err = run(capsys, ["simulate", "--pool", pool, "--workload", work, "--start", T0,
                                  "--horizon", "1h", "--no-progress"])
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "pool p (STANDARD_D2s_v3, 1 slot per node) · fixed pool"
    assert lines[1] == f"workload {work} (csv, 1 task) · start {T0} · seed 0"
    assert [ln.split("│")[1].strip() for ln in lines if "pool at end" in ln] == ["1 node, steady"]
    code, out, err = run(capsys, ["compare", "--pool", pool, "--workload", work, "--start", T0,
                                  "--horizon", "1h", "--no-progress", "--formula",
                                  write(tmp_path, "f.formula", "$TargetDedicatedNodes = 1;")])
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == (f"pool p (STANDARD_D2s_v3, 1 slot per node) · workload {work} "
                                   f"(csv, 1 task) · start {T0} · seed 0")


def test_a_generator_of_one_task_says_task(tmp_path):
    gen = write(tmp_path, "g.json", json.dumps(
        {"generator": {"kind": "poisson", "ratePerHour": 60, "count": 1, "seed": 4}}))
    assert load_workload_file(gen).notes == ["generated 1 task (poisson, seed 4)"]


def test_an_autoscale_pool_files_own_target_cut_by_the_quota_is_reported_too():
    # the run at the start fails (no samples yet), so the file's target, cut to 4, stands until
    # the run at 00:05 asks for 2
    pool = {**QUOTA_POOL, "targetDedicatedNodes": 10}
    work = {"tasks": [{"id": "t", "duration": 60, "submitTime": 3600}]}
    r = simulate(pool, work, start=T0, horizon="50m")
    assert r.report["resize_errors"] == [{
        "code": "AccountCoreQuotaReached",
        "message": "at 2026-03-02T00:00:00.000Z the pool file's target of 10 dedicated nodes is "
                   "more than the quota allows: the dedicatedCoreQuota of 16 cores holds 4 nodes "
                   "of 4 cores, so it was cut to 4",
        "count": 1, "first": "2026-03-02T00:00:00.000Z", "last": "2026-03-02T00:00:00.000Z",
        "nodes_asked": 10, "quota_nodes": 4,
    }]
    by_time = {row["time"]: (row["target_dedicated"], row["resize_errors"])
               for row in r.timeline_rows}
    assert by_time[300.0] == (4, "AccountCoreQuotaReached")
    assert by_time[330.0] == (2, "")
    # the task at 01:00 makes the run at 01:00 ask for 10 again
    r = simulate(pool, work, start=T0, horizon="1h")
    assert [e["message"] for e in r.report["resize_errors"]] == [
        "the autoscale evaluation at 2026-03-02T01:00:00.000Z asked for 10 dedicated nodes: the "
        "dedicatedCoreQuota of 16 cores holds 4 nodes of 4 cores, so the target was cut to 4 "
        "(and so was the pool file's target of 10)"]
