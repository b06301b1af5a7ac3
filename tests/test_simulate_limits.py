"""The simulator's cost bounds (scheduler/limits.py): each input past a limit is refused before
the work, in one line naming the file, the field and the limit (exit 2), in well under a second;
and every number or duration, however large, ends in such a line instead of a traceback.

Each test here was a reproducer of a hostile input: a generator or trace that grew to 12 GB, a
nanosecond between preemptions that never let the clock move, a pool of 10^308 nodes, an
OverflowError from a period or a log-normal of 1e308.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import sys
import time

import pytest

from poolscale.runtime.cli import main
from poolscale.scheduler import Simulation, simulate
from poolscale.scheduler.limits import MAX_SECONDS, MAX_TASKS, MIN_MEAN_TIME_BETWEEN
from poolscale.scheduler.models import LogNormal, load_pool

from test_scheduler_scenarios import T0, autoscale, job, jobs, pool, task

POOL = {"id": "p", "vmSize": "STANDARD_D2s_v3", "taskSlotsPerNode": 2, "targetDedicatedNodes": 2}
LONGEST = "the longest duration is P10675199DT2H48M5.4775807S (TimeSpan.MaxValue)"


def write(tmp_path, name: str, content) -> str:
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content if isinstance(content, str) else json.dumps(content),
                     encoding="utf-8")
    return str(p)


def simulate_cli(capsys, tmp_path, *, pool_doc=POOL, workload=("w.csv", "submit_time,duration\n0,60\n"),
                 extra=()):
    """``poolscale simulate`` in this process: (exit status, stderr with the paths cut, seconds)."""
    p = write(tmp_path, "pool.json", pool_doc)
    w = write(tmp_path, *workload)
    t0 = time.perf_counter()
    code = main(["simulate", "--pool", p, "--workload", w, "--no-progress", "--horizon", "1h",
                 *extra])
    elapsed = time.perf_counter() - t0
    _, err = capsys.readouterr()
    return code, err.replace(str(tmp_path) + "/", ""), elapsed


# -- tasks: generators, CSV, SWF, JSON and YAML ------------------------------------------------

@pytest.mark.parametrize("spec, expected", [
    ("{kind: poisson, rate_per_hour: 10, count: 1e11}",
     "generator.count: 100,000,000,000 tasks: a workload holds at most 1,000,000"),
    ('{kind: poisson, ratePerHour: 1e308, horizon: PT1H}',
     "generator.ratePerHour: 1e+308 an hour for 3600 s make about 1e+308 tasks: a workload holds "
     "at most 1,000,000"),
    ("{kind: diurnal, rate_per_hour: 1e6, horizon: P7D}",
     "generator.rate_per_hour: 1e+06 an hour for 604800 s make about 168,000,000 tasks: a "
     "workload holds at most 1,000,000"),
    ("{kind: bursts, bursts: [{at: 0, size: 1e8}]}",
     "generator.bursts: the bursts make 100,000,000 tasks: a workload holds at most 1,000,000"),
    # a count of 10 does not help: every burst is drawn before the count cuts them
    ("{kind: bursts, count: 10, bursts: {every: PT1H, size: 100000000}}",
     "generator.bursts: the bursts make 100,000,000 tasks: a workload holds at most 1,000,000"),
    ("{kind: bursts, horizon: P1D, bursts: {every: 1e-9, size: 1}}",
     "generator.bursts: the bursts make 86,399,999,999,999 tasks: a workload holds at most "
     "1,000,000"),
    ("{kind: bursts, rate_per_hour: 1000, horizon: P30D, bursts: {every: PT1H, size: 800}}",
     "generator.bursts: the bursts make 575,200 tasks, besides about 720,000 at the rate: a "
     "workload holds at most 1,000,000"),
])
def test_a_generator_past_the_task_limit_is_refused_before_drawing(capsys, tmp_path, spec,
                                                                   expected):
    # these grew to 12 GB (or ran for ever) before anything was said
    code, err, elapsed = simulate_cli(capsys, tmp_path, workload=("g.yaml", f"generator: {spec}\n"))
    assert (code, err) == (2, f"poolscale: g.yaml:1: {expected}\n")
    assert elapsed < 0.5


def test_a_poisson_count_past_the_limit_is_caught_while_drawing():
    # the expected number is under the limit, the draw may not be: arrivals stop at the limit
    from poolscale.scheduler.workload import TooManyTasks, generate

    spec = {"kind": "poisson", "rate_per_hour": MAX_TASKS, "horizon": "PT1H", "seed": 0}
    t0 = time.perf_counter()
    with pytest.raises(TooManyTasks, match=f"^more than {MAX_TASKS:,} tasks arrived at the rate"):
        generate(spec)
    assert time.perf_counter() - t0 < 1.5      # arrival instants only: no task was built


def test_a_gzip_of_twenty_million_rows_is_refused_before_any_task_is_built(capsys, tmp_path):
    # 78 KB of gzip: 20,000,000 rows, 80 MB inflated: refused by the file-size limit while
    # inflating; 1,100,000 rows (4.4 MB) pass it and meet the task limit, at the first row past it
    rows = b"submit_time,duration\n# a comment is no row\n\n" + b"0,1\n" * 20_000_000
    code, err, elapsed = simulate_cli(capsys, tmp_path, workload=("w.csv.gz", gzip.compress(rows, 9)))
    assert (code, err) == (2, "poolscale: w.csv.gz: inflates to more than 64 MiB, the limit for a "
                              "workload file (docs/limits.md)\n")
    assert elapsed < 3.0      # about 0.4 s on an idle 2-core machine, most of it to inflate
    rows = b"submit_time,duration\n# a comment is no row\n\n" + b"0,1\n" * 1_100_000
    code, err, elapsed = simulate_cli(capsys, tmp_path, workload=("w.csv.gz", gzip.compress(rows, 9)))
    assert (code, err) == (2, f"poolscale: w.csv.gz:{MAX_TASKS + 4}: more than 1,000,000 rows: a "
                              "workload holds at most 1,000,000 tasks (split the file, or take a "
                              "sample of it)\n")
    assert elapsed < 3.0


def test_rows_are_counted_as_the_reader_splits_lines(capsys, tmp_path, monkeypatch):
    # every line break str.splitlines knows, \r\n as one; blank lines and comments are no rows
    monkeypatch.setattr("poolscale.scheduler.workload.MAX_TASKS", 3)
    text = "submit_time,duration\r\n0,1\r\n\r\n  # c\x0c0,1\u20280,1\x85 \n0,1\n"
    code, err, _ = simulate_cli(capsys, tmp_path, workload=("w.csv", text))
    assert (code, err) == (2, "poolscale: w.csv:8: more than 3 rows: a workload holds at most 3 "
                              "tasks (split the file, or take a sample of it)\n")
    monkeypatch.setattr("poolscale.scheduler.workload.MAX_TASKS", 4)
    assert simulate_cli(capsys, tmp_path, workload=("w.csv", text))[0] == 0


def test_an_swf_trace_past_the_limit_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("poolscale.scheduler.workload.MAX_TASKS", 2)
    record = " 0 10 -1 1 -1 -1 -1 -1 -1 1 1 -1 -1 -1 -1 -1 -1\n"
    text = "; a comment\n" + "".join(f"{i}{record}" for i in range(1, 4))
    code, err, _ = simulate_cli(capsys, tmp_path, workload=("t.swf", text))
    assert (code, err) == (2, "poolscale: t.swf:4: more than 2 records: a workload holds at most "
                              "2 tasks (split the file, or take a sample of it)\n")


@pytest.mark.parametrize("name, text, expected", [
    ("w.json", '{"jobs": [{"id": "a", "tasks": [{"id": "1"}]},\n'
               ' {"id": "b", "jobManagerTask": {"id": "m"}, "tasks": [{"id": "1"}]}]}',
     "w.json:2: jobs[1].tasks: more than 2 tasks: a workload holds at most 2"),
    ("w.yaml", "tasks:\n  - {id: a}\n  - {id: b}\n  - {id: c}\n",
     "w.yaml:1: tasks: more than 2 tasks: a workload holds at most 2"),
    ("w.yaml", "- id: j\n  tasks: [{id: a}, {id: b}, {id: c}]\n",
     "w.yaml:2: [0].tasks: more than 2 tasks: a workload holds at most 2"),
])
def test_json_and_yaml_tasks_are_counted_before_validation(capsys, tmp_path, monkeypatch, name,
                                                           text, expected):
    monkeypatch.setattr("poolscale.scheduler.workload.MAX_TASKS", 2)
    code, err, _ = simulate_cli(capsys, tmp_path, workload=(name, text))
    assert (code, err) == (2, f"poolscale: {expected}\n")


def test_ranges_of_dependencies_are_counted_before_they_are_spelt_out(capsys, tmp_path):
    # 27 KB: 300 tasks, each naming 99,999 parents by a range, took 2.4 GB and 18 s
    tasks = [{"id": f"t{i}", "duration": 1,
              "dependsOn": {"taskIdRanges": [{"start": 0, "end": 99_998}]}} for i in range(300)]
    doc = {"jobs": [{"id": "j", "usesTaskDependencies": True, "tasks": tasks}]}
    code, err, elapsed = simulate_cli(capsys, tmp_path, workload=("w.json", doc))
    assert (code, err) == (2, "poolscale: w.json:1: jobs: jobs[0].tasks[100] (t100): dependsOn "
                              "names more than 10,000,000 parents in all, the most a workload may\n")
    assert elapsed < 1


def test_a_wide_range_is_matched_against_the_job_in_logarithmic_time():
    # every task's wide range scanned every id of its job: 20,000 tasks, 4 * 10^8 steps
    n = 20_000
    tasks = [task(f"t{i}", 10, dependsOn={"taskIdRanges": [{"start": 1, "end": 10**8}]})
             for i in range(n)]
    w = jobs(job(usesTaskDependencies=True, tasks=[task("1", 10), task("7", 10), *tasks]))
    t0 = time.perf_counter()
    sim = Simulation(pool(targetDedicatedNodes=1), w, start=T0, horizon=60)
    assert time.perf_counter() - t0 < 5
    t = next(j for j in sim.jobs if j.id == "j").spec.tasks[2]
    from poolscale.scheduler.tasks import expand_parents

    assert expand_parents(t, sim.jobs[0].int_task_ids) == ["1", "7", "2"]


# -- durations and numbers ------------------------------------------------------------------

def test_a_period_or_a_lognormal_of_1e308_is_a_file_error(capsys, tmp_path):
    # both were OverflowError tracebacks
    doc = {**POOL, "simulation": {"samples": {"period": 1e308}}}
    code, err, _ = simulate_cli(capsys, tmp_path, pool_doc=doc)
    assert (code, err) == (2, f"poolscale: pool.json:1: simulation.samples.period: 1e+308 is too "
                              f"long: {LONGEST}\n")
    gen = "generator: {kind: poisson, rate_per_hour: 10, count: 5,\n  duration: {kind: lognormal, mean: 1, stddev: 1e308}}\n"
    code, err, _ = simulate_cli(capsys, tmp_path, workload=("g.yaml", gen))
    assert (code, err) == (2, f"poolscale: g.yaml:2: generator.duration.stddev: 1e+308 is too "
                              f"long: {LONGEST}\n")


@pytest.mark.parametrize("spec", [
    # found by the fuzzing: the longest duration, rounded to the millisecond, was longer
    {"kind": "poisson", "rate_per_hour": 5, "horizon": "PT1H", "duration": "P10675199DT2H48M5.4775807S"},
    # arrivals a 1e303 seconds apart, and bursts past the longest duration
    {"kind": "poisson", "rate_per_hour": 1e-300, "count": 5},
    {"kind": "bursts", "bursts": [{"at": MAX_SECONDS, "size": 3, "width": MAX_SECONDS}]},
])
def test_generated_times_never_pass_the_longest_duration(spec):
    from poolscale.scheduler.workload import generate

    w = generate({**spec, "seed": 1})
    assert all(t.duration <= MAX_SECONDS and t.submit_time <= MAX_SECONDS
               for j in w.jobs for t in j.tasks)


def test_a_lognormal_draw_never_overflows_and_no_draw_passes_the_longest_duration():
    rng = random.Random(5)
    for mean, stddev in ((1e-300, 1.0), (5e-324, MAX_SECONDS), (1.0, 1e11), (MAX_SECONDS, MAX_SECONDS)):
        d = LogNormal(kind="lognormal", mean=mean, stddev=stddev)
        draws = [d.sample(rng) for _ in range(200)]
        assert all(0.0 <= x <= MAX_SECONDS and math.isfinite(x) for x in draws)


#: Every duration and number of a pool, a workload and a generator: (file, where, key).
_POOL_FIELDS = [
    ("autoScaleEvaluationInterval",), ("resizeTimeout",), ("simulation", "horizon"),
    ("simulation", "allocationTime"), ("simulation", "bootTime"),
    ("simulation", "startTask", "duration"), ("simulation", "preemption", "meanTimeBetween"),
    ("simulation", "preemption", "recoveryTime"), ("simulation", "nodeFailure", "meanTimeBetween"),
    ("simulation", "nodeFailure", "repairTime"), ("simulation", "samples", "period"),
    ("simulation", "samples", "delay"), ("simulation", "samples", "lossRate"),
    ("simulation", "maxNodesPerKind"), ("simulation", "dedicatedCoreQuota"),
    ("simulation", "coresPerNode"), ("simulation", "prices", "dedicated"), ("simulation", "seed"),
    ("simulation", "allocationTime", "mean"), ("simulation", "bootTime", "stddev"),
    ("simulation", "startTask", "failureProbability"), ("targetDedicatedNodes",),
    ("taskSlotsPerNode",),
]
_TASK_FIELDS = [
    ("duration",), ("submitTime",), ("constraints", "maxWallClockTime"),
    ("constraints", "retentionTime"), ("constraints", "maxTaskRetryCount"), ("requiredSlots",),
    ("exitCode",), ("profile", "memoryMB"), ("profile", "cpuPercent"),
    ("multiInstanceSettings", "numberOfInstances"),
]
_VALUES = [1e308, "1e308", -1, -1e308, "PT99999999999H", 10**30, "NaN", "Infinity", "-PT5M",
           "99999999999999999999 days, 0:00:00", 2**63]


def _set(doc: dict, path: tuple, value) -> dict:
    here = doc
    for key in path[:-1]:
        nxt = here.get(key)
        here[key] = nxt = dict(nxt) if isinstance(nxt, dict) else {}
        here = nxt
    here[path[-1]] = value
    return doc


def _distribution_holders(path):
    # a distribution's parameter needs its kind beside it
    if path[-1] in ("mean", "stddev"):
        return {"kind": "lognormal", "mean": 60, "stddev": 10}
    return None


@pytest.mark.parametrize("value", _VALUES, ids=repr)
@pytest.mark.parametrize("path", _POOL_FIELDS, ids=".".join)
def test_every_pool_number_any_size_is_a_clean_result(capsys, tmp_path, path, value):
    doc = {**POOL, "enableAutoScale": True, "autoScaleFormula": "$TargetDedicatedNodes = 1;",
           "targetDedicatedNodes": None, "simulation": {}}
    holder = _distribution_holders(path)
    if holder is not None:
        _set(doc, path[:-1], holder)
    _set(doc, path, value)
    raw = json.dumps(doc).replace('"NaN"', "NaN").replace('"Infinity"', "Infinity")
    code, err, elapsed = simulate_cli(capsys, tmp_path, pool_doc=raw)
    assert code in (0, 2) and "Traceback" not in err and err.count("\n") <= 1, err
    assert elapsed < 5


@pytest.mark.parametrize("value", _VALUES, ids=repr)
@pytest.mark.parametrize("path", _TASK_FIELDS, ids=".".join)
def test_every_task_number_any_size_is_a_clean_result(capsys, tmp_path, path, value):
    doc = {"jobs": [{"id": "j", "tasks": [_set({"id": "t", "duration": 60}, path, value)]}]}
    raw = json.dumps(doc).replace('"NaN"', "NaN").replace('"Infinity"', "Infinity")
    code, err, elapsed = simulate_cli(capsys, tmp_path, workload=("w.json", raw))
    assert code in (0, 2) and "Traceback" not in err and err.count("\n") <= 1, err
    assert elapsed < 5


def test_an_swf_run_time_past_the_longest_duration_names_its_field(capsys, tmp_path):
    text = "1 0 -1 1e308 1 -1 -1 -1 -1 -1 1 1 -1 -1 -1 -1 -1 -1\n"
    code, err, _ = simulate_cli(capsys, tmp_path, workload=("t.swf", text))
    assert (code, err) == (2, f"poolscale: t.swf:1: field 4 (run_time): 1e+308 is too long: {LONGEST}\n")


@pytest.mark.parametrize("key, expected", [
    ("duration", f"jobs[0].tasks[0].duration: 1e+308 is too long: {LONGEST}"),
    ("submitTime", "jobs[0].tasks[0].submitTime: a time in seconds after the start must lie in "
                   "[0, 922337203685.478], got 1e+308"),
])
def test_a_task_time_past_the_longest_duration_names_the_field(capsys, tmp_path, key, expected):
    doc = {"jobs": [{"id": "j", "tasks": [{"id": "t", "duration": 60, key: 1e308}]}]}
    code, err, _ = simulate_cli(capsys, tmp_path, workload=("w.json", doc))
    assert (code, err) == (2, f"poolscale: w.json:1: {expected}\n")


def test_durations_as_iso_text_past_2_to_the_63_ticks_say_too_long_not_unreadable():
    with pytest.raises(ValueError, match="resizeTimeout\n  Value error, 'PT99999999999H' is too long"):
        load_pool({**POOL, "resizeTimeout": "PT99999999999H"})
    # an unlimited field takes it as no limit, as it takes TimeSpan.MaxValue
    w = {"jobs": [{"id": "j", "tasks": [{"id": "t", "duration": 5,
                                         "constraints": {"maxWallClockTime": "PT99999999999H"}}]}]}
    assert simulate(POOL, w, start=T0, horizon=600).report["tasks"]["succeeded"] == 1


@pytest.mark.parametrize("digits", ["json", "yaml"])
def test_an_integer_of_5000_digits_is_a_file_error(capsys, tmp_path, digits):
    # ValueError (int max str digits) from the decoder, a traceback before
    big = "1" * 5000
    message = "an integer of more than 4,300 digits (docs/limits.md)\n"
    if digits == "json":
        code, err, _ = simulate_cli(capsys, tmp_path, pool_doc=f'{{"id": "p", "vmSize": "D2", '
                                                               f'"targetDedicatedNodes": {big}}}')
        assert (code, err) == (2, f"poolscale: pool.json:1: {message}")
    else:
        code, err, _ = simulate_cli(capsys, tmp_path, workload=("w.yaml", f"tasks:\n  - {{id: a, "
                                                                          f"duration: {big}}}\n"))
        assert (code, err) == (2, f"poolscale: w.yaml:2: {message}")
    assert err.count("\n") == 1


def test_a_horizon_past_the_longest_duration_is_a_usage_error(capsys, tmp_path):
    code, err, _ = simulate_cli(capsys, tmp_path, extra=["--horizon", "9" * 400 + "w"])
    assert code == 2 and err.startswith("poolscale: --horizon: '99999") and "is too long" in err
    with pytest.raises(ValueError, match=r"^horizon: a 401-digit number is too long: the longest "
                                         r"duration is P10675199DT2H48M5.4775807S"):
        simulate(POOL, {"tasks": [{"id": "a"}]}, horizon=10**400)


def test_evaluations_are_bounded_when_the_sample_period_is_long(capsys, tmp_path):
    # a day's samples let a 3,000-year horizon past the sample limit: 315 million evaluations
    doc = {**POOL, "enableAutoScale": True, "autoScaleFormula": "$TargetDedicatedNodes = 1;",
           "targetDedicatedNodes": None, "simulation": {"samples": {"period": "P1D"}}}
    code, err, elapsed = simulate_cli(capsys, tmp_path, pool_doc=doc,
                                      extra=["--horizon", f"{3000 * 52}w"])
    assert code == 2 and elapsed < 1
    assert err == ("poolscale: cannot simulate: the run would last 94,348,800,000 s, 314,496,000 "
                   "autoscale evaluations every 300 s; at most 1,100,000 (shorten the horizon or "
                   "the workload, or lengthen autoScaleEvaluationInterval)\n")


# -- node events, nodes, events ---------------------------------------------------------------

@pytest.mark.parametrize("section, recovery", [("preemption", "recoveryTime"),
                                               ("nodeFailure", "repairTime")])
def test_a_nanosecond_between_node_events_is_refused_at_load(capsys, tmp_path, section, recovery):
    # with an instant recovery or repair this never let the clock move
    doc = {**POOL, "targetLowPriorityNodes": 2,
           "simulation": {section: {"meanTimeBetween": 1e-9, recovery: 0}}}
    code, err, elapsed = simulate_cli(capsys, tmp_path, pool_doc=doc)
    assert (code, err) == (2, f"poolscale: pool.json:1: simulation.{section}.meanTimeBetween: "
                              f"must be at least {MIN_MEAN_TIME_BETWEEN:g} s, the shortest mean "
                              "time between node events a run allows; got 1e-09 s (leave it out "
                              "for never)\n")
    assert elapsed < 0.5


def test_a_pool_holds_at_most_the_documented_nodes(capsys, tmp_path):
    # 10,000,000 a kind was the documented maximum; a 1e308 target then ran out of memory
    formula = "$TargetDedicatedNodes = 1e308; $TargetLowPriorityNodes = 1e308;"
    doc = {**POOL, "enableAutoScale": True, "autoScaleFormula": formula,
           "targetDedicatedNodes": None, "simulation": {"maxNodesPerKind": 10_000_000}}
    code, err, elapsed = simulate_cli(capsys, tmp_path, pool_doc=doc)
    assert (code, err) == (2, "poolscale: pool.json:1: simulation.maxNodesPerKind: Input should be "
                              "less than or equal to 500000\n")
    assert elapsed < 0.5
    r = simulate(autoscale(formula, simulation={"maxNodesPerKind": 30}), jobs(), start=T0,
                 horizon=600)
    assert (r.report["pool_at_end"]["dedicated"], r.report["pool_at_end"]["low_priority"]) == (30, 30)


_CHURN = ("$TargetLowPriorityNodes = $CurrentLowPriorityNodes > 0 ? 0 : 30;"
          "$TargetDedicatedNodes = $CurrentDedicatedNodes > 0 ? 0 : 20;"
          "$NodeDeallocationOption = requeue;")


def _churn(monkeypatch, sweep_after: int, horizon):
    """A pool replaced at every other evaluation, its nodes preempted and failing; the stale
    timers of removed nodes are swept out of the heap every ``sweep_after`` removals."""
    monkeypatch.setattr("poolscale.scheduler.pool.SWEEP_AFTER_REMOVALS", sweep_after)
    p = autoscale(_CHURN, simulation={"preemption": {"meanTimeBetween": 3000, "recoveryTime": 60},
                                      "nodeFailure": {"meanTimeBetween": 5000, "repairTime": 30}})
    w = jobs(job(tasks=[task(i, 100, submitTime=300 * i) for i in range(50)]))
    sim = Simulation(p, w, start=T0, horizon=horizon)
    sim.sweep_at = sweep_after
    most = [0]

    def step(_after_pass):
        most[0] = max(most[0], len(sim.kernel.heap))

    sim.run(on_step=step)
    return sim, sim.result(), most[0]


@pytest.mark.parametrize("horizon", [20_000, None])
def test_stale_node_timers_are_swept_without_changing_the_run(monkeypatch, horizon):
    # the removed nodes' timers kept every node ever created alive: gigabytes for a formula that
    # replaces a large pool at every evaluation. Swept, the run is the same to the last bit.
    _, kept, most_kept = _churn(monkeypatch, 10**9, horizon)
    _, swept, most_swept = _churn(monkeypatch, 3, horizon)
    assert swept.report == kept.report and swept.events == kept.events
    assert swept.timeline_rows == kept.timeline_rows
    assert kept.report["pool_at_end"]["nodes_requested"] > 1000
    assert most_swept < most_kept / 2


def test_node_timers_past_the_end_of_the_run_are_not_kept(monkeypatch):
    p = autoscale(_CHURN, simulation={"preemption": {"meanTimeBetween": "P1000D"},
                                      "nodeFailure": {"meanTimeBetween": "P1000D"}})
    sim = Simulation(p, jobs(), start=T0, horizon=7200)
    late = []
    sim.run(on_step=lambda _: late.extend(e for e in sim.kernel.heap if e[0] > sim.until))
    assert late == [] and sim.next_num > 200


def test_a_run_stops_at_the_event_limit_with_the_figures(capsys, tmp_path, monkeypatch):
    # a task retried without limit fails every second for the whole horizon
    monkeypatch.setattr(sys.modules["poolscale.scheduler.simulate"], "MAX_EVENTS", 1000)
    w = jobs(job(tasks=[task("a", 0, exitCode=1, constraints={"maxTaskRetryCount": -1})]))
    with pytest.raises(ValueError, match=r"^the run reached 1,000 events at "
                                         r"2026-01-05T00:\d\d:\d\d.000Z \([\d,]+ s after the "
                                         r"start\), the most one run may process \(look for "
                                         "tasks retried without limit"):
        simulate(pool(targetDedicatedNodes=1), w, start=T0, horizon=86_400)
    doc = {**POOL, "simulation": {"horizon": "P1D"}}
    wl = ("w.json", {"tasks": [{"id": "a", "exitCode": 1, "constraints": {"maxTaskRetryCount": -1}}]})
    code, err, _ = simulate_cli(capsys, tmp_path, pool_doc=doc, workload=wl, extra=["--horizon", "1d"])
    assert code == 2 and err.startswith("poolscale: cannot simulate: the run reached 1,000 events")


@pytest.mark.parametrize("retries, attempts, end", [
    (100, 101, 0.0),                   # up to the limit, zero-length attempts stay at one instant
    (101, 102, 101.0),                 # past it, each failing attempt takes a second
    (2**31 - 1, 3601, 3600.0),         # which is what kept the clock still for 2^31 attempts
])
def test_zero_length_failing_attempts_move_the_clock_past_a_hundred_retries(retries, attempts, end):
    w = jobs(job(tasks=[task("a", 0, exitCode=1, constraints={"maxTaskRetryCount": retries})]))
    r = simulate(pool(targetDedicatedNodes=1), w, start=T0, horizon=3600)
    starts = [e[0] for e in r.events if e[1] == "task.start"]
    assert len(starts) == attempts and starts[-1] == end
