"""Workload readers and generators (scheduler/workload.py) and the pool-file errors
(scheduler/documents.py): every format to a Workload, and every bad file to file:line: field."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from poolscale.scheduler.documents import InputFileError, read_pool
from poolscale.scheduler.models import AbsoluteTime, Workload, resolve_time
from poolscale.scheduler.workload import (
    generate,
    load_workload_file,
    read_csv,
    read_swf,
    read_workload,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
START_TICKS = 639080064000000000  # 2026-03-02T00:00:00Z


def write(tmp_path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def tasks_of(w: Workload):
    return [(j.id, t) for j in w.jobs for t in j.tasks]


def error(fn, *args, **kw) -> InputFileError:
    with pytest.raises(InputFileError) as e:
        fn(*args, **kw)
    return e.value


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


def test_csv_seconds_and_defaults():
    w = read_csv("submit_time,duration\n0,60\n30.5,PT2M\n", "w.csv").workload
    [(job, a), (_, b)] = tasks_of(w)
    assert job == "job-1" and w.jobs[0].priority == 0
    assert (a.id, a.submit_time, a.duration, a.required_slots, a.exit_codes) == ("task-1", 0.0, 60.0, 1, [0])
    assert (b.id, b.submit_time, b.duration) == ("task-2", 30.5, 120.0)


def test_csv_all_columns_any_order_and_jobs_in_first_row_order():
    text = ("Job,exit_code,slots,priority,submit_time,duration,id\n"
            "etl,0,2,5,10,100,a\n"
            "web,1,1,-3,0,5,b\n"
            "etl,,,5,20,100,\n")
    w = read_csv(text, "w.csv").workload
    assert [(j.id, j.priority, [t.id for t in j.tasks]) for j in w.jobs] == [
        ("etl", 5, ["a", "task-3"]), ("web", -3, ["b"])]
    b = w.jobs[1].tasks[0]
    assert (b.exit_codes, b.required_slots) == ([1], 1)
    assert w.jobs[0].tasks[0].required_slots == 2


def test_csv_iso_submit_times_are_relative_to_start():
    text = "submit_time,duration\n2026-03-02T00:10:00Z,60\n2026-03-02T01:00:00+01:00,60\n15,1\n"
    w = read_csv(text, "w.csv").workload
    times = [t.submit_time for _, t in tasks_of(w)]
    assert isinstance(times[0], AbsoluteTime)
    assert [resolve_time(t, START_TICKS) for t in times] == [600.0, 0.0, 15.0]


def test_csv_comments_blank_lines_and_short_rows():
    text = "# a comment\nsubmit_time,duration,slots,job\n\n0,1\n# another\n5,2,3\n"
    w = read_csv(text, "w.csv").workload
    assert [(t.submit_time, t.required_slots) for _, t in tasks_of(w)] == [(0.0, 1), (5.0, 3)]


@pytest.mark.parametrize("text, expected", [
    ("submit_time,duration\n0,60\n10,abc\n", "w.csv:3: duration: cannot read 'abc' as a duration "
     "(use e.g. 600, 90m, 36h, 7d, PT36H or 0:15:00)"),
    ("submit_time,duration\n-5,60\n", "w.csv:2: submit_time: seconds after the start must be 0 or more, got -5"),
    ("submit_time,duration\nyesterday,60\n", "w.csv:2: submit_time: 'yesterday' is neither seconds after"),
    ("submit_time,duration,slots\n0,60,0\n", "w.csv:2: slots: must be at least 1, got 0"),
    ("submit_time,duration,slots\n0,60,1.5\n", "w.csv:2: slots: expected an integer, got '1.5'"),
    ("submit_time,duration,priority\n0,60,2000\n", "w.csv:2: priority: must be at most 1000, got 2000"),
    ("submit_time,duratoin\n", "w.csv:1: duratoin: unknown column 'duratoin'"),
    ("submit_time,slots\n0,1\n", "w.csv:1: missing required column 'duration'"),
    ("submit_time,duration\n0,1,2\n", "w.csv:2: expected at most 2 fields"),
    ("submit_time,duration\n,1\n", "w.csv:2: submit_time: required, but empty"),
    ("submit_time,duration\n", "w.csv:1: no tasks"),
    ("", "w.csv: empty"),
    ("submit_time,duration,job,priority\n0,1,a,1\n0,1,a,2\n",
     "w.csv:3: priority: job 'a' has priority 1 on line 2 but 2 here"),
    ("submit_time,duration,id\n0,1,x\n0,1,x\n", "w.csv:3: id: task id 'x' repeats in job 'job-1' (first on line 2)"),
    ("submit_time,duration\n0,PT5X\n", "w.csv:2: duration: cannot read 'PT5X' as a duration "
     "(use e.g. 600, 90m, 36h, 7d, PT36H or 0:15:00)"),
])
def test_csv_errors_name_file_line_and_field(text, expected):
    assert str(error(read_csv, text, "w.csv")).startswith(expected)


# --------------------------------------------------------------------------------------------
# SWF
# --------------------------------------------------------------------------------------------

SWF = """\
; Version: 2.2
; MaxProcs: 64
    1      0   10    100   4   90   2048   4   200   -1  1  3  1  1  2  1 -1 -1
    2     50    0     -1   1   -1     -1   1   100   -1  5  3  1  1  2  1 -1 -1 ; never ran
    3     60    5     30  16   25     -1  16   100   -1  0  7  1  1 -1  1 -1 -1
    4     70    5      0  -1   -1     -1   2   100   -1  5 -1  1  1  1  1 -1 -1
"""


def test_swf_mapping():
    loaded = read_swf(SWF, "t.swf", max_slots=8)
    w = loaded.workload
    assert [(j.id, [t.id for t in j.tasks]) for j in w.jobs] == [
        ("user-3-queue-2", ["swf-1"]), ("user-7", ["swf-3"]), ("user-unknown-queue-1", ["swf-4"])]
    t1, t3, t4 = (t for _, t in tasks_of(w))
    assert (t1.submit_time, t1.duration, t1.required_slots, t1.exit_codes) == (0.0, 100.0, 4, [0])
    assert t1.profile.memory_mb == 2048 * 4 / 1024
    assert (t3.submit_time, t3.required_slots, t3.exit_codes, t3.profile) == (60.0, 8, [1], None)
    assert (t4.required_slots, t4.exit_codes, t4.duration) == (2, [1], 0.0)  # requested procs; cancelled
    assert loaded.notes == ["skipped 1 record with run time -1",
                            "capped 1 record wider than a node to 8 slots (widest: 16 processors)"]


def test_swf_without_a_cap_keeps_the_processors():
    w = read_swf(SWF, "t.swf").workload
    assert [t.required_slots for _, t in tasks_of(w)] == [4, 16, 2]


@pytest.mark.parametrize("text, expected", [
    ("1 0 0 10 1\n", "t.swf:1: an SWF record has 18 fields, this one 5"),
    ("; c\n1 0 0 x 1 -1 -1 1 -1 -1 1 1 1 1 1 1 -1 -1\n", "t.swf:2: field 4 (run_time): expected a number, got 'x'"),
    ("1 -3 0 10 1 -1 -1 1 -1 -1 1 1 1 1 1 1 -1 -1\n", "t.swf:1: field 2 (submit_time): submit time must be 0 or more"),
    ("1 0 0 10 1 -1 -1 1 -1 -1 9 1 1 1 1 1 -1 -1\n", "t.swf:1: field 11 (status): unknown status 9"),
    ("1 0 0 10 1 -1 -1 1 -1 -1 1 1 1 1 1 1 -1 -1\n1 5 0 10 1 -1 -1 1 -1 -1 1 1 1 1 1 1 -1 -1\n",
     "t.swf:2: field 1 (job_number): job number 1 repeats"),
    ("; only comments\n", "t.swf: no usable records"),
])
def test_swf_errors(text, expected):
    assert str(error(read_swf, text, "t.swf")).startswith(expected)


def test_shipped_swf_trace_loads_and_is_small():
    path = EXAMPLES / "workload.swf"
    assert path.stat().st_size < 200_000
    loaded = load_workload_file(path, max_slots=4)
    assert loaded.kind == "swf" and loaded.workload.task_count > 800
    assert any(n.startswith("skipped") for n in loaded.notes)
    assert all(t.required_slots <= 4 for _, t in tasks_of(loaded.workload))


def test_gzipped_trace(tmp_path):
    p = tmp_path / "t.swf.gz"
    p.write_bytes(gzip.compress(SWF.encode()))
    assert read_workload(p).task_count == 3


# --------------------------------------------------------------------------------------------
# JSON / YAML
# --------------------------------------------------------------------------------------------


def test_json_jobs_and_yaml_tasks(tmp_path):
    j = write(tmp_path, "w.json", json.dumps({"jobs": [{"id": "a", "priority": 3, "tasks": [
        {"id": "t1", "submitTime": 5, "duration": "PT1M", "exitCode": 2}]}]}))
    w = read_workload(j)
    t = w.jobs[0].tasks[0]
    assert (w.jobs[0].priority, t.submit_time, t.duration, t.exit_codes) == (3, 5.0, 60.0, [2])
    y = write(tmp_path, "w.yaml", "tasks:\n  - {id: a, submitTime: 2026-03-02T00:01:00Z, duration: 1}\n")
    w = read_workload(y)
    assert w.jobs[0].id == "job-1"
    assert resolve_time(w.jobs[0].tasks[0].submit_time, START_TICKS) == 60.0


@pytest.mark.parametrize("name, text, expected", [
    ("w.json", '{"jobs": [\n {"id": "a",\n  "tasks": [\n   {"id": "t", "duration": "x"}]}]}',
     "w.json:4: jobs[0].tasks[0].duration: cannot read 'x' as a duration (use e.g. 600, 90m, 36h, 7d, PT36H or 0:15:00)"),
    ("w.yaml", "tasks:\n  - id: a\n    requiredSlot: 2\n",
     "w.yaml:3: tasks[0].requiredSlot: unknown field"),
    ("w.yaml", "- id: a\n  priority: 5000\n", "w.yaml:2: [0].priority: Input should be less than or equal to 1000"),
    ("w.json", '{"jobs": [}', "w.json:1: invalid JSON"),
    ("w.json", '{"jobs": [{"id": "j", "tasks": [\n {"id": "t", "exitCode": "x"}]}]}',
     "w.json:2: jobs[0].tasks[0].exitCode: Input should be a valid integer"),
    ("w.json", '{"jobs": [{"id": "j", "usesTaskDependencies": true, "tasks": [\n {"id": "t", '
               '"dependsOn": {"taskIdRanges": [{"start": 5, "end": 2}]}}]}]}',
     "w.json:2: jobs[0].tasks[0].dependsOn.taskIdRanges[0]: start 5 is after end 2"),
    ("w.yaml", "jobs: [\n", "w.yaml:2: invalid YAML"),
    ("w.txt", "x", "w.txt: unknown workload format '.txt'"),
])
def test_document_errors(tmp_path, name, text, expected):
    path = write(tmp_path, name, text)
    assert str(error(read_workload, path)).replace(path, name).startswith(expected)


def test_missing_file_is_an_input_error(tmp_path):
    assert "cannot read" in str(error(read_workload, tmp_path / "nope.csv"))


# --------------------------------------------------------------------------------------------
# generators
# --------------------------------------------------------------------------------------------

POISSON = {"kind": "poisson", "rate_per_hour": 60, "horizon": "PT10H",
           "duration": {"kind": "exponential", "mean": 600}}


def _shape(w):
    return [(j.id, t.id, t.submit_time, t.duration, t.required_slots, t.exit_codes) for j in w.jobs for t in j.tasks]


def test_generators_are_deterministic_per_seed():
    a, b, c = generate(POISSON, seed=1), generate(POISSON, seed=1), generate(POISSON, seed=2)
    assert _shape(a) == _shape(b)
    assert _shape(a) != _shape(c)
    assert {**POISSON, "seed": 9} and _shape(generate({**POISSON, "seed": 9}, seed=1)) == \
        _shape(generate({**POISSON, "seed": 9}, seed=2))  # the spec's seed wins


def test_poisson_rate_count_and_horizon():
    w = generate(POISSON, seed=3)
    times = [t.submit_time for _, t in tasks_of(w)]
    assert times == sorted(times) and max(times) < 36_000
    assert 480 < len(times) < 720  # 600 expected
    w = generate({**POISSON, "count": 25, "horizon": None}, seed=3)
    assert w.task_count == 25


def test_diurnal_follows_the_time_of_day():
    spec = {"kind": "diurnal", "rate_per_hour": 100, "peak_hour": 14, "amplitude": 0.9,
            "horizon": "P4D", "duration": 60}
    times = [t.submit_time for _, t in tasks_of(generate(spec, seed=5, start="2026-03-02T00:00:00Z"))]
    near_peak = sum(1 for t in times if 12 <= (t / 3600) % 24 < 16)
    near_trough = sum(1 for t in times if (t / 3600) % 24 < 4)
    assert near_peak > 5 * near_trough
    shifted = [t.submit_time for _, t in tasks_of(generate(spec, seed=5, start="2026-03-02T12:00:00Z"))]
    assert sum(1 for t in shifted if 0 <= (t / 3600) % 24 < 4) > 5 * sum(
        1 for t in shifted if 12 <= (t / 3600) % 24 < 16)  # the peak is now 2 h after the start


def test_bursts_and_job_grouping_and_slots():
    spec = {"kind": "bursts", "horizon": "PT10H", "bursts": {"every": "PT4H", "size": 30, "width": 60},
            "tasks_per_job": 20, "slots": {"values": [1, 4], "weights": [1, 1]},
            "failure_probability": 0.5, "priority": 7, "duration": 5}
    w = generate(spec, seed=1)
    times = [t.submit_time for _, t in tasks_of(w)]
    assert len(times) == 60
    assert all(14_400 <= t < 14_460 or 28_800 <= t < 28_860 for t in times)
    assert [len(j.tasks) for j in w.jobs] == [20, 20, 20] and {j.priority for j in w.jobs} == {7}
    assert {t.required_slots for _, t in tasks_of(w)} == {1, 4}
    assert {t.exit_codes[0] for _, t in tasks_of(w)} == {0, 1}
    listed = generate({"kind": "bursts", "bursts": [{"at": 100, "size": 3}], "duration": 1}, seed=1)
    assert [t.submit_time for _, t in tasks_of(listed)] == sorted(t.submit_time for _, t in tasks_of(listed))
    assert listed.task_count == 3


def test_generator_file_and_its_errors(tmp_path):
    ok = write(tmp_path, "g.yaml", "generator:\n  kind: poisson\n  rate_per_hour: 10\n  count: 5\n")
    a = load_workload_file(ok, seed=4)
    assert a.kind == "generator" and a.workload.task_count == 5
    assert _shape(a.workload) == _shape(load_workload_file(ok, seed=4).workload)
    bad = write(tmp_path, "g.yaml", "generator:\n  kind: poisson\n  rate_per_hour: 10\n  count: 5\n  slots: 0\n")
    assert str(error(read_workload, bad)).startswith("g.yaml:5: generator.slots:".replace("g.yaml", bad))
    missing = write(tmp_path, "g2.yaml", "generator:\n  kind: diurnal\n  rate_per_hour: 10\n")
    assert "give count (tasks) or horizon" in str(error(read_workload, missing))
    typo = write(tmp_path, "g3.yaml", "generator:\n  kind: poisson\n  rate_per_hour: 1\n  count: 1\n  sed: 3\n")
    assert str(error(read_workload, typo)).endswith(":5: generator.sed: unknown field (check its spelling and case)")


def test_shipped_examples_load():
    csv_w = read_workload(EXAMPLES / "workload.csv")
    assert 200 <= csv_w.task_count <= 600
    assert max(t.submit_time for _, t in tasks_of(csv_w)) < 86_400
    assert read_workload(EXAMPLES / "generator.yaml", start="2026-03-02T00:00:00Z").task_count > 200


# --------------------------------------------------------------------------------------------
# pool files
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("doc, expected", [
    ({"id": "p", "vmSize": "STANDARD_D2s_v3", "taskSlotsPerNode": 300},
     "pool.json:4: taskSlotsPerNode: Input should be less than or equal to 256"),
    ({"id": "p", "vmSize": "STANDARD_D2s_v3", "taskSlotPerNode": 3},
     "pool.json:4: taskSlotPerNode: unknown field"),
    ({"id": "p", "vmSize": "D2", "simulation": {"bootTime": {"kind": "uniform", "low": 5, "high": "x"}}},
     "pool.json:8: simulation.bootTime.high: cannot read 'x' as a duration (use e.g. 600, 90m, 36h, 7d, PT36H or 0:15:00)"),
    ({"pool": {"id": "p", "vmSize": "D2", "taskSlotsPerNode": 0}, "simulation": {}},
     "pool.json:5: taskSlotsPerNode: Input should be greater than or equal to 1"),
    ({"id": "p", "vmSize": "Standard_A", "taskSlotsPerNode": 1},
     "pool.json:3: vmSize: 'Standard_A' has no core count"),
    ({"id": "p", "vm_size": "Standard_A"},            # snake_case loads too: still named
     "pool.json:1: vmSize: 'Standard_A' has no core count"),
    ({"pool": {"id": "p", "vmSize": "Standard_A"}, "simulation": {}},
     "pool.json:4: vmSize: 'Standard_A' has no core count"),
    ({"id": "p", "vmSize": "STANDARD_D2s_v3", "maxTasksPerNode": 9},
     "pool.json:4: maxTasksPerNode: 9 exceeds min(4 x 2 cores, 256) = 8"),
    ({"id": "p", "vmSize": "D2", "resizeTimeout": "PT1M"},
     "pool.json:4: resizeTimeout: must be at least PT5M, got 60 s"),
    ({"id": "p", "vmSize": "D2", "enableAutoScale": True, "autoScaleFormula": "$x = 1;",
      "autoScaleEvaluationInterval": "PT168H0.001S"},
     "pool.json:6: autoScaleEvaluationInterval: InvalidAutoScaleEvaluationInterval: must lie in "
     "[PT5M, PT168H], got 604800.001 s"),
])
def test_pool_file_errors_name_the_field(tmp_path, doc, expected):
    p = write(tmp_path, "pool.json", json.dumps(doc, indent=2))
    assert str(error(read_pool, p)).replace(p, "pool.json").startswith(expected)


def test_shipped_pools_load():
    auto = read_pool(EXAMPLES / "pool.json")
    assert auto.enable_auto_scale and auto.auto_scale_formula == (EXAMPLES / "autoscale.formula").read_text()
    fixed = read_pool(EXAMPLES / "fixed-pool.json")
    assert not fixed.enable_auto_scale and fixed.target_dedicated_nodes == 6


def test_shipped_traces_are_what_the_seeded_script_makes(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_workloads", EXAMPLES / "make_workloads.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.write_csv(tmp_path / "w.csv")
    mod.write_swf(tmp_path / "w.swf")
    assert (tmp_path / "w.csv").read_bytes() == (EXAMPLES / "workload.csv").read_bytes()
    assert (tmp_path / "w.swf").read_bytes() == (EXAMPLES / "workload.swf").read_bytes()
