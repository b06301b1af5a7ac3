"""Auto pools in the simulator (scheduler/autopooled.py): the run's pool is the one its jobs
make, present only while its owner lives; and the refusals of workloads that would need more
than the simulator's one pool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from poolscale.runtime.cli import main
from poolscale.scheduler import Simulation
from poolscale.scheduler.autopools import auto_pool_id

ROOT = Path(__file__).resolve().parent.parent
NIGHTLY = ROOT / "examples" / "nightly-autopool.yaml"

FORMULA = ("$p = $PendingTasks.GetSample(1);\n"
           "$TargetDedicatedNodes = min(4, $p);\n"
           "$NodeDeallocationOption = taskcompletion;\n")


def spec(**changes) -> dict:
    pool = {"vmSize": "STANDARD_D2_v3", "enableAutoScale": True, "autoScaleFormula": FORMULA,
            "autoScaleEvaluationInterval": "PT5M",
            "simulation": {"allocationTime": "PT1M", "bootTime": "PT1M"}}
    out = {"autoPoolIdPrefix": "nightly", "poolLifetimeOption": "job", "pool": pool}
    out.update(changes)
    return out


def job(job_id: str = "render", at: float = 600.0, n: int = 6, auto: dict | None = None,
        **extra) -> dict:
    return {"id": job_id, "creationTime": at, "onAllTasksComplete": "terminatejob",
            "poolInfo": {"autoPoolSpecification": auto or spec()},
            "tasks": [{"id": f"t{i}", "submitTime": at, "duration": 1800} for i in range(n)],
            **extra}


def run(workload: dict, horizon: float = 3 * 3600.0):
    sim = Simulation(None, workload, horizon=horizon).run()
    return sim, sim.result()


def pool_events(result) -> list[tuple]:
    return [e for e in result.events if e[1] in ("pool.created", "pool.deleted")]


def nodes_at(result, t: float) -> int:
    row = next(r for r in result.timeline_rows if r["time"] == t)
    return row["dedicated"] + row["low_priority"]


# -- a job's own pool ------------------------------------------------------------------------

def test_a_jobs_pool_scales_from_its_formula_and_goes_with_the_job():
    _, r = run({"jobs": [job()]})
    pid = auto_pool_id("nightly", "render", 1)
    assert pid == "nightly_0F55C65D-81CA-5B69-9DF0-E9C18AACDDD7"
    # made at the job's creation, removed when it completes (6 tasks of 30 min on 4 nodes
    # that are usable at 720: 720 + 2 · 1800 = 4320)
    assert pool_events(r) == [(600.0, "pool.created", pid), (4320.0, "pool.deleted", pid)]
    assert r.events_of("job", "render")[-1] == (4320.0, "job", "render", "completed")
    # absent: no node, no formula run; then 0 -> 4 -> 2 (taskcompletion) -> gone
    assert [nodes_at(r, t) for t in (570.0, 630.0, 2670.0, 2730.0, 4290.0, 4350.0)] == \
        [0, 4, 4, 2, 2, 0]
    assert r.runs[0][0] == 600.0 and r.runs[-1][0] == 4200.0
    assert [e[2] for e in r.events if e[1] == "node" and e[3] == "creating"] == \
        ["tvm-000001", "tvm-000002", "tvm-000003", "tvm-000004"]
    assert min(e[0] for e in r.events if e[1] == "node") == 600.0
    assert max(e[0] for e in r.events if e[1] == "node") == 4320.0
    # node-hours stop at the deletion: 4 nodes 600-2700, 2 nodes 2700-4320
    hours = (4 * 2100 + 2 * 1620) / 3600
    assert r.report["node_hours"]["dedicated"] == pytest.approx(hours, rel=1e-12)
    assert r.report["auto_pool"] == {
        "id_prefix": "nightly", "lifetime": "job", "keep_alive": False,
        "pools": [{"id": pid, "created": "2026-01-05T00:10:00.000Z",
                   "deleted": "2026-01-05T01:12:00.000Z"}],
        "node_hours": r.report["node_hours"]["dedicated"],
    }
    # samples are recorded only while the pool exists, from the first after its creation:
    # 630, 660, ..., 4290 (the sample stamped 600 is of the time before it existed)
    assert r.report["samples"] == {"taken": 360, "recorded": 123}
    assert r.report["pool_at_end"]["dedicated"] == 0
    assert r.report["pool_at_end"]["target_dedicated"] == 0


def test_keep_alive_keeps_the_pool_and_its_formula_after_the_job():
    _, r = run({"jobs": [job(auto=spec(keepAlive=True))]})
    pid = auto_pool_id("nightly", "render", 1)
    assert pool_events(r) == [(600.0, "pool.created", pid)]
    assert r.report["auto_pool"]["pools"] == [
        {"id": pid, "created": "2026-01-05T00:10:00.000Z", "deleted": None}]
    assert r.report["auto_pool"]["keep_alive"] is True
    # the formula keeps running: at 4500 it sees no pending task and empties the pool
    assert r.runs[-1][0] == 10800.0
    assert (4500.0, "pool.target", 0, 0, "taskcompletion") in r.events
    assert [nodes_at(r, t) for t in (4350.0, 4530.0)] == [2, 0]


def test_a_fixed_auto_pool_gets_its_targets_at_creation():
    auto = spec()
    auto["pool"] = {"vmSize": "STANDARD_D2_v3", "targetDedicatedNodes": 2,
                    "simulation": {"allocationTime": "PT1M", "bootTime": "PT1M"}}
    _, r = run({"jobs": [job(n=2, auto=auto)]})
    pid = auto_pool_id("nightly", "render", 1)
    # 2 tasks of 30 min on 2 nodes usable at 720
    assert pool_events(r) == [(600.0, "pool.created", pid), (2520.0, "pool.deleted", pid)]
    assert (600.0, "pool.state", "resizing") in r.events
    assert r.runs == [] and r.report["autoscale"]["enabled"] is False
    assert r.report["node_hours"]["dedicated"] == pytest.approx(2 * 1920 / 3600, rel=1e-12)


def test_a_deleted_pool_takes_its_resize_errors_with_it():
    # a fixed pool of 4 nodes with room for 2 (4 cores of 2-core nodes): the quota error is
    # the pool's while it exists, the run's report keeps it, the absent pool has none
    auto = spec()
    auto["pool"] = {"vmSize": "STANDARD_D2_v3", "targetDedicatedNodes": 4,
                    "simulation": {"allocationTime": "PT1M", "bootTime": "PT1M",
                                   "dedicatedCoreQuota": 4}}
    _, r = run({"jobs": [job(n=2, auto=auto)]})
    assert (600.0, "pool.resize_error", "AccountCoreQuotaReached") in r.events
    assert [row["resize_errors"] for row in r.timeline_rows if row["time"] in (630.0, 2550.0)] \
        == ["AccountCoreQuotaReached", ""]
    assert r.report["pool_at_end"]["resize_errors"] == []
    assert [e["code"] for e in r.report["resize_errors"]] == ["AccountCoreQuotaReached"]


def test_jobs_one_after_another_each_make_a_new_pool():
    first = job("a", at=600.0, n=2)
    second = job("b", at=7200.0, n=2)
    sim, r = run({"jobs": [first, second]})
    a, b = auto_pool_id("nightly", "a", 1), auto_pool_id("nightly", "b", 1)
    assert pool_events(r) == [(600.0, "pool.created", a), (2520.0, "pool.deleted", a),
                              (7200.0, "pool.created", b), (9120.0, "pool.deleted", b)]
    # a new pool: new nodes, no sample of the first pool (its GetSample(1) at 7200 sees no
    # sample at all: $p = [], and min(4, []) is 4), its formula's runs counted from 7200
    assert [nodes_at(r, t) for t in (2490.0, 2550.0, 7170.0, 7230.0)] == [2, 0, 0, 4]
    assert sim.recorder.latest("$PendingTasks", 100, sim.start_ticks + 9120 * 10**7).tolist() \
        == [2.0] * 63
    assert [t for t, _ in r.runs if 2520.0 < t < 7200.0] == []
    assert [t for t, _ in r.runs if t >= 7200.0][:2] == [7200.0, 7500.0]
    # node names go on across pools: 4 nodes of the first, then 4 of the second
    assert [e[2] for e in r.events if e[1] == "node" and e[3] == "creating"][-2:] == \
        ["tvm-000007", "tvm-000008"]
    # each pool recorded its own, from the first sample after its creation: 630..2490 and
    # 7230..9090
    assert r.report["samples"]["recorded"] == 63 + 63


def test_deleting_the_pool_removes_nodes_still_draining():
    # retaineddata keeps a scaled-down node leaving until its tasks' data retention ends (7
    # days by default); the pool's deletion takes it at once
    formula = ("$p = $PendingTasks.GetSample(1);\n"
               "$TargetDedicatedNodes = min(4, $p);\n"
               "$NodeDeallocationOption = retaineddata;\n")
    auto = spec()
    auto["pool"]["autoScaleFormula"] = formula
    _, r = run({"jobs": [job(auto=auto)]})
    pid = auto_pool_id("nightly", "render", 1)
    assert pool_events(r) == [(600.0, "pool.created", pid), (4320.0, "pool.deleted", pid)]
    assert [nodes_at(r, t) for t in (2730.0, 4290.0, 4350.0)] == [4, 4, 0]
    assert r.report["pool_at_end"]["dedicated"] == 0
    assert [e for e in r.events if e[1] == "node" and e[3] == "removed"] == [
        (4320.0, "node", f"tvm-00000{i}", "removed") for i in (1, 2, 3, 4)]


def test_a_run_without_auto_pools_has_no_auto_pool_key():
    w = {"jobs": [{"id": "j", "tasks": [{"id": "t", "duration": 60}]}]}
    r = Simulation({"id": "p", "vmSize": "STANDARD_D2_v3", "targetDedicatedNodes": 1}, w).run()
    assert "auto_pool" not in r.result().report


# -- refusals --------------------------------------------------------------------------------

POOL = {"id": "p", "vmSize": "STANDARD_D2_v3", "targetDedicatedNodes": 1}


def refusal(pool, workload) -> str:
    with pytest.raises(ValueError) as e:
        Simulation(pool, workload)
    return str(e.value)


def test_a_pool_file_beside_auto_pools_is_refused():
    assert refusal(POOL, {"jobs": [job()]}) == \
        "the workload's jobs make their own pool; drop --pool"


def test_no_pool_at_all_is_refused():
    assert refusal(None, {"jobs": [{"id": "j", "tasks": []}]}) == (
        "no pool: give a pool file (--pool), or the workload's jobs a "
        "poolInfo.autoPoolSpecification")


def test_two_different_auto_pool_specifications_are_refused():
    other = spec(autoPoolIdPrefix="other")
    assert refusal(None, {"jobs": [job("a"), job("b", auto=other)]}) == (
        "the simulator runs one pool; job 'a' and job 'b' give different "
        "autoPoolSpecifications (give every job the same one)")


def test_jobs_on_a_named_pool_beside_auto_pool_jobs_are_refused():
    named = {"id": "c", "poolInfo": {"poolId": "p"}, "tasks": []}
    assert refusal(None, {"jobs": [job("a"), named]}) == (
        "the simulator runs one pool; job 'c' names pool 'p' while job 'a' makes an auto "
        "pool (give every job the same autoPoolSpecification)")
    assert refusal(None, {"jobs": [{"id": "c", "tasks": []}, job("a")]}) == (
        "the simulator runs one pool; job 'c' names no pool while job 'a' makes an auto "
        "pool (give every job the same autoPoolSpecification)")


def test_two_jobs_whose_pools_would_overlap_are_refused_when_the_second_is_made():
    sim = Simulation(None, {"jobs": [job("a", at=600.0), job("b", at=1200.0)]},
                     horizon=3 * 3600.0)
    with pytest.raises(ValueError) as e:
        sim.run()
    assert str(e.value) == (
        "the simulator runs one pool; job 'b' makes its auto pool at 2026-01-05T00:20:00.000Z "
        f"while pool {auto_pool_id('nightly', 'a', 1)} of 'a' still exists (a pool lives "
        "until its job or schedule completes, for ever with keepAlive)")


def test_a_kept_pool_refuses_the_next_jobs_pool():
    kept = spec(keepAlive=True)
    sim = Simulation(None, {"jobs": [job("a", n=1, auto=kept), job("b", at=7200.0, auto=kept)]},
                     horizon=3 * 3600.0)
    with pytest.raises(ValueError, match="job 'b' makes its auto pool at "
                                         "2026-01-05T02:00:00.000Z while pool "):
        sim.run()


# -- job schedules ---------------------------------------------------------------------------

def schedule(schedule_id: str, auto: dict, **when) -> dict:
    """Hourly from 600 s to 3 h: jobs at 600, 4200 and 7800, each a manager (1 min) and two
    tasks of 10 min."""
    return {"id": schedule_id,
            "schedule": when or {"recurrenceInterval": "PT1H", "doNotRunUntil": 600,
                                 "doNotRunAfter": 3 * 3600},
            "jobSpecification": {
                "onAllTasksComplete": "terminatejob",
                "poolInfo": {"autoPoolSpecification": auto},
                "jobManagerTask": {"id": "jm", "commandLine": "m", "duration": 60,
                                   "killJobOnCompletion": False},
                "tasks": [{"id": "a", "duration": 600, "submitTime": 10},
                          {"id": "b", "duration": 600, "submitTime": 20}]}}


def test_a_schedule_with_lifetime_jobschedule_makes_one_pool_for_all_its_jobs():
    auto = spec(autoPoolIdPrefix="hourly", poolLifetimeOption="jobschedule")
    sim, r = run({"jobSchedules": [schedule("s", auto)]}, horizon=4 * 3600.0)
    pid = auto_pool_id("hourly", "s", 1)
    assert [(j.id, j.created_at, j.completed_at) for j in sim.jobs] == [
        ("s:job-1", 600.0, 1320.0), ("s:job-2", 4200.0, 5220.0), ("s:job-3", 7800.0, 8820.0)]
    # (job-1 on the new pool: its first formula run sees no sample, min(4, []) = 4 nodes, so
    # the manager and both tasks run at once; the later jobs' pool has samples: 2 nodes)
    # made with the first job, kept between the jobs, deleted when the schedule completes
    assert pool_events(r) == [(600.0, "pool.created", pid), (10800.0, "pool.deleted", pid)]
    assert (10800.0, "schedule", "s", "completed") in r.events
    assert r.report["auto_pool"]["pools"] == [
        {"id": pid, "created": "2026-01-05T00:10:00.000Z", "deleted": "2026-01-05T03:00:00.000Z"}]
    # the formula runs all along the pool's life, every 5 min from its creation
    assert [t for t, _ in r.runs] == [600.0 + 300 * k for k in range(34)]
    assert [nodes_at(r, t) for t in (1200.0, 3000.0, 4800.0, 8400.0, 10800.0)] == [2, 0, 2, 2, 0]


def test_a_schedule_with_lifetime_job_makes_a_pool_per_job():
    sim, r = run({"jobSchedules": [schedule("s", spec())]}, horizon=4 * 3600.0)
    ids = [auto_pool_id("nightly", f"s:job-{n}", 1) for n in (1, 2, 3)]
    assert pool_events(r) == [
        (600.0, "pool.created", ids[0]), (1320.0, "pool.deleted", ids[0]),
        (4200.0, "pool.created", ids[1]), (4920.0, "pool.deleted", ids[1]),
        (7800.0, "pool.created", ids[2]), (8520.0, "pool.deleted", ids[2])]
    # (every job's pool is new: no sample at its first run, 4 nodes, the job done in 720 s)
    # no formula run while no pool exists
    assert [t for t, _ in r.runs if 1320.0 < t < 4200.0 or 4920.0 < t < 7800.0] == []
    assert [nodes_at(r, t) for t in (1200.0, 3000.0, 4800.0)] == [2, 0, 2]


def test_a_late_job_of_the_schedule_makes_its_pool_as_the_last_ones_goes():
    # job-1 runs past the 4200 recurrence (its task runs 720 to 4720): job-2 is made late, at
    # job-1's completion, the same instant job-1's pool is deleted; its pool is a new one,
    # made after the old one went
    late = schedule("s", spec(), recurrenceInterval="PT1H", startWindow="PT1H",
                    doNotRunUntil=600, doNotRunAfter=2 * 3600)
    late["jobSpecification"]["tasks"] = [{"id": "a", "duration": 4000, "submitTime": 10}]
    sim, r = run({"jobSchedules": [late]}, horizon=4 * 3600.0)
    one, two = (auto_pool_id("nightly", f"s:job-{n}", 1) for n in (1, 2))
    assert [e for e in r.events if e[0] == 4720.0 and e[1] in ("job", "pool.created",
                                                               "pool.deleted")] == [
        (4720.0, "job", "s:job-1", "terminating", "AllTasksComplete"),
        (4720.0, "job", "s:job-1", "completed"),
        (4720.0, "pool.deleted", one),
        (4720.0, "job", "s:job-2", "active"),
        (4720.0, "pool.created", two)]
    assert pool_events(r)[-1] == (8840.0, "pool.deleted", two)


def test_the_week_of_nightly_jobs_makes_and_deletes_a_pool_each_night():
    import yaml

    sim = Simulation(None, yaml.safe_load(NIGHTLY.read_text())).run()
    r = sim.result()
    days = [86_400.0 * k for k in range(7)]
    assert [(j.id, j.created_at, j.completed_at) for j in sim.jobs] == [
        (f"nightly:job-{k + 1}", d, d + 1680.0) for k, d in enumerate(days)]
    assert pool_events(r) == [e for k, d in enumerate(days) for e in (
        (d, "pool.created", auto_pool_id("nightly", f"nightly:job-{k + 1}", 1)),
        (d + 1680.0, "pool.deleted", auto_pool_id("nightly", f"nightly:job-{k + 1}", 1)))]
    assert r.report["auto_pool"]["pools"] == nightly_pools()
    # billed only while a pool exists: no node between 02:28 and the next night's 02:00
    assert max(row["dedicated"] for row in r.timeline_rows
               if any(d + 1680.0 < row["time"] < d + 86_400.0 for d in days)) == 0
    assert r.report["schedules"]["nightly"]["end_time"] == "2026-01-11T23:00:00.000Z"


# -- the command -----------------------------------------------------------------------------

def nightly_pools() -> list[dict]:
    """The week of examples/nightly-autopool.yaml: a pool a night, 02:00 to 02:28."""
    return [{"id": auto_pool_id("nightly", f"nightly:job-{n}", 1),
             "created": f"2026-01-{4 + n:02d}T02:00:00.000Z",
             "deleted": f"2026-01-{4 + n:02d}T02:28:00.000Z"} for n in range(1, 8)]


def test_simulate_without_a_pool_file_runs_the_pool_the_jobs_make(capsys):
    assert main(["simulate", "--workload", str(NIGHTLY), "--json", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["auto_pool"] == {
        "id_prefix": "nightly", "lifetime": "job", "keep_alive": False,
        "pools": nightly_pools(), "node_hours": doc["node_hours"]["dedicated"]}
    assert doc["node_hours"]["dedicated"] == pytest.approx(11.55, rel=1e-12)
    assert doc["schedules"]["nightly"]["jobs_created"] == 7
    assert doc["tasks"]["succeeded"] == 63
    assert doc["inputs"]["formula"] == (
        f"{NIGHTLY}#/jobSchedules/0/jobSpecification/poolInfo/autoPoolSpecification/pool"
        "/autoScaleFormula")
    assert err == ""


def test_simulate_summary_has_the_auto_pool_line(capsys):
    assert main(["simulate", "--workload", str(NIGHTLY), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("pool made by the workload's jobs (STANDARD_D2s_v3, 2 slots per node)")
    assert "7 made, 7 deleted (lifetime job, prefix nightly)" in out


def test_simulate_refuses_a_pool_file_beside_auto_pools(capsys, tmp_path):
    pool = tmp_path / "pool.json"
    pool.write_text(json.dumps(POOL))
    assert main(["simulate", "--pool", str(pool), "--workload", str(NIGHTLY),
                 "--no-progress"]) == 2
    assert capsys.readouterr().err == (
        "poolscale: cannot simulate: the workload's jobs make their own pool; drop --pool\n")


def test_simulate_without_a_pool_needs_auto_pools(capsys, tmp_path):
    w = tmp_path / "w.json"
    w.write_text(json.dumps({"jobs": [{"id": "j", "tasks": [{"id": "t", "duration": 6}]}]}))
    assert main(["simulate", "--workload", str(w), "--no-progress"]) == 2
    assert capsys.readouterr().err == (
        f"poolscale: --pool is needed: the jobs of {w} make no pool "
        "(poolInfo.autoPoolSpecification)\n")
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps({"jobs": [{"id": "c", "tasks": [{"id": "t"}]}],
                                 "jobSchedules": [schedule("s", spec())]}))
    assert main(["simulate", "--workload", str(mixed), "--no-progress"]) == 2
    assert capsys.readouterr().err == (
        f"poolscale: {mixed}: the simulator runs one pool; job 'c' names no pool while job "
        "schedule 's' makes an auto pool (give every job the same autoPoolSpecification)\n")


def test_simulate_refuses_overlapping_pools_in_one_line(capsys, tmp_path):
    w = tmp_path / "w.json"
    w.write_text(json.dumps({"jobs": [job("a"), job("b", at=1200.0)]}))
    assert main(["simulate", "--workload", str(w), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("poolscale: cannot simulate: the simulator runs one pool; job 'b' ")
    assert err.count("\n") == 1


# -- the live engine -------------------------------------------------------------------------

@pytest.mark.parametrize("name, lifetime, scale", [
    ("autopool-jobs", "job", 0.00035),             # 2 h in about 2.5 s
    ("autopool-schedule", "jobschedule", 0.0002),   # 3.5 h in about 2.5 s
])
def test_the_live_engine_makes_and_deletes_the_auto_pools_as_the_simulator_does(
        name, lifetime, scale):
    # the golden auto-pool cases on the live kernel and the (scaled) real clock: the same
    # events (pools made and deleted), runs, timeline and report
    import golden_cases
    from test_differential import assert_same_run, live_run, outcome

    case = golden_cases.cases()[name]
    workload, horizon = case["workload"], case["horizon"]
    want = outcome(Simulation(None, workload, horizon=horizon).run())
    made = [(e[0], e[1]) for e in want["events"] if e[1] in ("pool.created", "pool.deleted")]
    if lifetime == "job":        # two jobs, a pool each
        assert made == [(300.0, "pool.created"), (1330.0, "pool.deleted"),
                        (3600.0, "pool.created"), (4370.0, "pool.deleted")]
    else:                        # three jobs, one pool until the schedule completes
        assert made == [(300.0, "pool.created"), (10000.0, "pool.deleted")]
        assert want["report"]["schedules"]["hourly"]["jobs_created"] == 3
    live = live_run(None, workload, None, horizon, None, scale=scale)
    assert_same_run(outcome(live, extra_events=1), want)


def test_simulate_plot_title_names_the_jobs_pools(capsys, tmp_path, monkeypatch):
    import poolscale.runtime.simplot as simplot

    seen = {}
    monkeypatch.setattr(simplot, "plot_run", lambda f, result, workload, **kw: seen.update(kw))
    assert main(["simulate", "--workload", str(NIGHTLY), "--no-progress",
                 "--plot", str(tmp_path / "p.png")]) == 0
    assert seen["title"] == f"the jobs' auto pools: pool formula on {NIGHTLY} (seed 0)"


def test_a_pool_made_on_the_sample_grid_has_no_sample_at_its_first_autoscale_run():
    # as a pool's first run at the start, and as the live account's new pool: the sample taken
    # at the creation instant is of the time before the pool existed, so it is not recorded
    formula = "$TargetDedicatedNodes = max(0, $PendingTasks.GetSample(1));"
    pool = {"vmSize": "STANDARD_D2_v3", "taskSlotsPerNode": 1, "enableAutoScale": True,
            "autoScaleFormula": formula, "autoScaleEvaluationInterval": "PT5M"}
    workload = {"jobs": [{
        "id": "j", "creationTime": 600,
        "poolInfo": {"autoPoolSpecification": {"poolLifetimeOption": "job", "pool": pool}},
        "tasks": [{"id": f"t{i}", "submitTime": 600, "duration": 60} for i in range(3)]}]}
    result = Simulation(None, workload, horizon=3600).run().result()
    at, first = result.runs[0]
    assert at == 600.0
    assert first.results == ("$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;"
                             "$NodeDeallocationOption=requeue")
    at, second = result.runs[1]                 # its own samples since, with 3 tasks waiting
    assert (at, second.results.split(";")[0]) == (900.0, "$TargetDedicatedNodes=3")
