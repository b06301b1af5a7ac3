"""Short SimPy-style scenarios: a pool, a workload, and the event log they must produce.

Times are seconds after the start (2026-01-05T00:00:00Z unless said). Unless a test says
otherwise nodes allocate and boot instantly, so the log shows only what the test is about.
"""

from __future__ import annotations

import copy

import pytest

from poolscale.scheduler import Simulation, simulate
from poolscale.scheduler.invariants import check

T0 = "2026-01-05T00:00:00Z"


def pool(**kw) -> dict:
    sim = kw.pop("simulation", {})
    doc = {"id": "p", "vmSize": "STANDARD_D1_v2",
           "simulation": {"allocationTime": 0, "bootTime": 0, **sim}}
    doc.update(kw)
    return doc


def autoscale(formula: str, **kw) -> dict:
    return pool(enableAutoScale=True, autoScaleFormula=formula, **kw)


def jobs(*specs) -> dict:
    return {"jobs": list(specs)}


def job(id="j", tasks=(), **kw) -> dict:
    return {"id": id, "tasks": list(tasks), **kw}


def task(id, duration=100, **kw) -> dict:
    return {"id": str(id), "duration": duration, **kw}


def run(p, w, formula=None, horizon=3600, **kw):
    sim = Simulation(p, w, formula, start=T0, horizon=horizon, **kw)
    sim.run(on_step=lambda after_pass: check(sim, after_pass=after_pass))
    return sim, sim.result()


def log(result, *kinds):
    return [e for e in result.events if e[1] in kinds]


def starts(result):
    return [(e[0], e[2]) for e in result.events if e[1] == "task.start"]


def tasks_of(sim, job_id="j"):
    return {t.id: t for t in next(j for j in sim.jobs if j.id == job_id).tasks}


# -- node lifecycle (docs/simulation-model.md#nodes) ---------------------------------------


def test_node_lifecycle_with_a_start_task():
    p = pool(targetDedicatedNodes=1, startTask={"commandLine": "setup"},
             simulation={"allocationTime": 120, "bootTime": 60, "startTask": {"duration": 10}})
    _, r = run(p, jobs(job(tasks=[task("a", 50)])), horizon=600)
    assert log(r, "node", "pool.state", "starttask", "task.start", "task.end") == [
        (0.0, "pool.state", "resizing"),
        (0.0, "node", "tvm-000001", "creating", "dedicated"),
        (120.0, "node", "tvm-000001", "starting"),
        (120.0, "pool.state", "steady"),            # nothing the resize requested is creating
        (180.0, "node", "tvm-000001", "waitingforstarttask"),
        (190.0, "starttask", "tvm-000001", "success"),
        (190.0, "node", "tvm-000001", "idle"),
        (190.0, "node", "tvm-000001", "running"),
        (190.0, "task.start", "j/a", "tvm-000001"),
        (240.0, "task.end", "j/a", "success", 0),
        (240.0, "node", "tvm-000001", "idle"),
    ]


def test_start_task_that_always_fails_leaves_the_node_starttaskfailed():
    p = pool(targetDedicatedNodes=1, startTask={"commandLine": "x", "maxTaskRetryCount": 2},
             simulation={"startTask": {"duration": 10, "failureProbability": 1.0}})
    sim, r = run(p, jobs(job(tasks=[task("a")])), horizon=600)
    assert [e[0] for e in log(r, "starttask")] == [10.0, 20.0, 30.0]   # retries + 1 attempts
    assert log(r, "node")[-1] == (30.0, "node", "tvm-000001", "starttaskfailed")
    assert r.report["tasks"]["active_at_end"] == 1 and sim.n_present == [1, 0]
    assert r.timeline_rows[-1]["usable"] == 0


def test_start_task_without_wait_for_success_lets_tasks_run_at_once():
    p = pool(targetDedicatedNodes=1, startTask={"commandLine": "x", "waitForSuccess": False},
             simulation={"startTask": {"duration": 1000, "failureProbability": 1.0}})
    _, r = run(p, jobs(job(tasks=[task("a", 10)])), horizon=100)
    assert starts(r) == [(0.0, "j/a")]


# -- scheduling order (docs/simulation-model.md#queue-order-and-priorities) --------


def test_priority_first_then_fifo_by_job_creation_then_by_submission():
    p = pool(targetDedicatedNodes=1)
    w = jobs(job("old", [task(1, 10), task(2, 10)]),
             job("vip", [task(1, 10)], priority=10),
             job("new", [task(1, 10)], creationTime=5),
             job("low", [task(1, 10)], priority=-5))
    # "new" is created at 5 s but its task would sort before "old"'s if FIFO were by task
    w["jobs"][2]["tasks"][0]["submitTime"] = 5
    _, r = run(p, w, horizon=200)
    assert [k for _, k in starts(r)] == ["vip/1", "old/1", "old/2", "new/1", "low/1"]


def test_requeued_and_retried_tasks_keep_their_place():
    p = pool(targetDedicatedNodes=1)
    w = jobs(job(tasks=[task("a", 10, exitCodes=[1, 0]), task("b", 10), task("c", 10)],
                 constraints={"maxTaskRetryCount": 1}))
    _, r = run(p, w, horizon=200)
    # a fails at 10, returns to active ahead of b and c (MIN_FAILED_ATTEMPT does not apply)
    assert [(t, k) for t, k in starts(r)] == [(0.0, "j/a"), (10.0, "j/a"), (20.0, "j/b"),
                                               (30.0, "j/c")]


def test_a_task_that_fits_nowhere_is_skipped_and_smaller_ones_use_the_slots():
    p = pool(vmSize="D4", taskSlotsPerNode=4, targetDedicatedNodes=1)
    w = jobs(job(tasks=[task("small1", 100, requiredSlots=3), task("big", 10, requiredSlots=2),
                        task("small2", 10, requiredSlots=1), task("huge", 10, requiredSlots=5)]))
    sim, r = run(p, w, horizon=300)
    assert starts(r)[:2] == [(0.0, "j/small1"), (0.0, "j/small2")]
    assert (100.0, "j/big") in starts(r)
    # requiredSlots > taskSlotsPerNode: never placed, but counted in $ActiveTasks
    # (docs/simulation-model.md#tasks-that-never-run)
    assert tasks_of(sim)["huge"].state == "active"
    assert r.timeline_rows[-1]["active_tasks"] == 1


@pytest.mark.parametrize("fill, expected", [("spread", ["tvm-000001", "tvm-000002", "tvm-000001"]),
                                            ("pack", ["tvm-000001", "tvm-000001", "tvm-000002"])])
def test_spread_and_pack(fill, expected):
    p = pool(vmSize="D2", taskSlotsPerNode=2, targetDedicatedNodes=2,
             taskSchedulingPolicy={"nodeFillType": fill})
    _, r = run(p, jobs(job(tasks=[task(i, 100) for i in range(3)])), horizon=50)
    assert [e[3] for e in log(r, "task.start")] == expected


def test_max_parallel_tasks():
    p = pool(targetDedicatedNodes=3)
    _, r = run(p, jobs(job(tasks=[task(i, 10) for i in range(3)], maxParallelTasks=2)), horizon=100)
    assert [t for t, _ in starts(r)] == [0.0, 0.0, 10.0]


# -- retries and wall clocks (docs/simulation-model.md#attempts-exit-codes-and-retries)


@pytest.mark.parametrize("max_retry, codes, attempts, result, retry_count", [
    (3, [1, 1, 0], 3, "success", 2),
    (1, [1, 1, 0], 2, "failure", 1),      # maxTaskRetryCount 1 = 2 attempts
    (0, [2], 1, "failure", 0),
    (-1, [1] * 9 + [0], 10, "success", 9),
])
def test_retries(max_retry, codes, attempts, result, retry_count):
    p = pool(targetDedicatedNodes=1)
    w = jobs(job(tasks=[task("a", 10, exitCodes=codes, constraints={"maxTaskRetryCount": max_retry})]))
    sim, r = run(p, w, horizon=1000)
    a = tasks_of(sim)["a"]
    assert len(starts(r)) == attempts
    assert (a.result, a.retry_count, a.requeue_count) == (result, retry_count, 0)
    if result == "failure":
        assert a.failure == ("usererror", "FailureExitCode") and a.exit_code == codes[min(retry_count, len(codes) - 1)]


def test_wall_clock_equal_to_duration_succeeds_longer_fails_without_retry():
    p = pool(targetDedicatedNodes=2)
    w = jobs(job(tasks=[task("equal", 60, constraints={"maxWallClockTime": "PT1M"}),
                        task("long", 61, constraints={"maxWallClockTime": "PT1M", "maxTaskRetryCount": 3})]))
    sim, r = run(p, w, horizon=300)
    t = tasks_of(sim)
    assert t["equal"].result == "success" and t["equal"].end_time == 60.0
    assert (t["long"].result, t["long"].failure, t["long"].exit_code) == \
        ("failure", ("servererror", "TaskEnded"), -1073741510)
    assert t["long"].end_time == 60.0 and t["long"].retry_count == 0
    assert log(r, "task.end")[-1] == (60.0, "task.end", "j/long", "failure", -1073741510)


def test_exit_conditions_match_the_wall_clock_exit_code():
    # 0xC000013A is an exit code like any other for exitCodes: here it satisfies dependants
    p = pool(targetDedicatedNodes=1)
    satisfy = {"exitCodes": [{"code": -1073741510, "exitOptions": {"dependencyAction": "satisfy"}}]}
    w = jobs(job(usesTaskDependencies=True, tasks=[
        task("slow", 120, constraints={"maxWallClockTime": "PT1M"}, exitConditions=satisfy),
        task("after", 10, dependsOn={"taskIds": ["slow"]})]))
    sim, r = run(p, w, horizon=300)
    t = tasks_of(sim)
    assert (t["slow"].result, t["slow"].exit_code) == ("failure", -1073741510)
    assert (t["after"].result, t["after"].start_time) == ("success", 60.0)
    assert r.report["wasted_work_seconds"] == 60.0


# -- dependencies (docs/simulation-model.md#dependencies) -----------------------------------------


def test_dependencies_block_and_satisfy():
    p = pool(targetDedicatedNodes=1)
    w = jobs(job(usesTaskDependencies=True, onTaskFailure="performexitoptionsjobaction", tasks=[
        task("1", 10, exitCodes=[3], exitConditions={"exitCodes": [
            {"code": 3, "exitOptions": {"jobAction": "none", "dependencyAction": "satisfy"}}]}),
        task("2", 10, exitCodes=[4], exitConditions={"default": {"jobAction": "none"}}),
        task("after1", 10, dependsOn={"taskIds": ["1"]}),
        task("after2", 10, dependsOn={"taskIdRanges": [{"start": 1, "end": 2}]}),
        task("later", 10, dependsOn={"taskIds": ["ghost"]}),
    ]))
    sim, r = run(p, w, horizon=300)
    t = tasks_of(sim)
    assert t["after1"].result == "success"
    assert t["after2"].state == "active" and t["after2"].blocked      # parent 2 failed: block
    assert t["later"].state == "active" and t["later"].pending == 1   # parent never submitted
    assert r.report["jobs"] == {"active": 1}                           # jobAction none kept it
    # blocked tasks are active in the counts but not in $ActiveTasks
    # (docs/simulation-model.md#dependencies)
    assert r.timeline_rows[-1]["tasks_active"] == 2 and r.timeline_rows[-1]["active_tasks"] == 0


@pytest.mark.parametrize("limit", [100_000, 2], ids=["spelt-out", "matched"])
def test_wide_id_ranges_wait_for_ids_that_are_no_task_of_the_job(monkeypatch, limit):
    # a range wider than EXPAND_LIMIT is matched against the job's ids, with the same result
    monkeypatch.setattr("poolscale.scheduler.tasks.EXPAND_LIMIT", limit)
    p = pool(targetDedicatedNodes=1)
    w = jobs(job(usesTaskDependencies=True, tasks=[
        task("1", 10), task("2", 10), task("3", 10),
        task("covered", 10, dependsOn={"taskIdRanges": [{"start": 1, "end": 3}]}),
        task("gap", 10, dependsOn={"taskIdRanges": [{"start": 0, "end": 3}]}),
    ]))
    sim, r = run(p, w, horizon=300)
    t = tasks_of(sim)
    assert t["covered"].result == "success" and t["covered"].start_time == 30.0
    assert t["gap"].state == "active" and t["gap"].pending == 1


def test_a_range_of_a_hundred_million_ids_resolves_at_once():
    p = pool(targetDedicatedNodes=1)
    w = jobs(job(usesTaskDependencies=True, tasks=[
        task("1", 10), task("d", 10, dependsOn={"taskIdRanges": [{"start": 1, "end": 10**8}]})]))
    sim, r = run(p, w, horizon=100)
    assert tasks_of(sim)["d"].depends == ["1", "2"] and tasks_of(sim)["d"].pending == 1


def test_default_job_action_terminates_the_job_with_performexitoptionsjobaction():
    p = pool(targetDedicatedNodes=2)
    w = jobs(job(onTaskFailure="performexitoptionsjobaction",
                 tasks=[task("bad", 10, exitCodes=[1]), task("long", 500), task("late", 10, submitTime=50)]))
    sim, r = run(p, w, horizon=300)
    assert log(r, "job")[-2:] == [(10.0, "job", "j", "terminating", "TaskFailed"),
                                  (10.0, "job", "j", "completed")]
    assert tasks_of(sim)["long"].failure == ("usererror", "TaskEnded")
    assert log(r, "task.reject") == [(50.0, "task.reject", "j/late", "completed")]
    assert r.report["tasks"]["rejected"] == 1 and r.report["tasks"]["submitted"] == 2


# -- jobs (docs/simulation-model.md#jobs) -----------------------------------------------------


def test_job_manager_runs_first_alone_and_ends_the_job():
    p = pool(vmSize="D2", taskSlotsPerNode=2, targetDedicatedNodes=2)
    w = jobs(job(jobManagerTask={"id": "jm", "commandLine": "x", "duration": 100},
                 tasks=[task(i, 500) for i in range(4)]))
    sim, r = run(p, w, horizon=1000)
    s = starts(r)
    assert s[0] == (0.0, "j/jm")
    jm_node = log(r, "task.start")[0][3]
    # runExclusive: nothing joins the manager's node; the other node takes two tasks
    assert all(e[3] != jm_node for e in log(r, "task.start")[1:] if e[0] < 100)
    assert len([e for e in s if e[0] == 0.0]) == 3
    # killJobOnCompletion: the job ends with JMComplete and its running tasks die
    assert (100.0, "job", "j", "terminating", "JMComplete") in log(r, "job")
    killed = [k for k, t in tasks_of(sim).items() if t.failure == ("usererror", "TaskEnded")]
    assert sorted(killed) == ["0", "1"]
    assert tasks_of(sim)["2"].state == "active"      # active tasks of an ended job stay active


def test_job_wall_clock_and_all_tasks_complete():
    p = pool(targetDedicatedNodes=1)
    w = jobs(job("a", [task(1, 100), task(2, 100)], constraints={"maxWallClockTime": "PT150S"}),
             job("b", [task(1, 10)], onAllTasksComplete="terminatejob", priority=-1),
             job("empty", [], onAllTasksComplete="terminatejob", creationTime=0))
    _, r = run(p, w, horizon=400)
    assert (0.0, "job", "empty", "terminating", "AllTasksComplete") in log(r, "job")
    assert (150.0, "job", "a", "terminating", "MaxWallClockTimeExpiry") in log(r, "job")
    assert (160.0, "job", "b", "terminating", "AllTasksComplete") in log(r, "job")


def test_preparation_and_release_tasks():
    p = pool(targetDedicatedNodes=1)
    w = jobs(job(jobPreparationTask={"commandLine": "prep", "duration": 30},
                 jobReleaseTask={"commandLine": "rel", "duration": 5000},
                 constraints={"maxWallClockTime": "PT200S"},
                 tasks=[task("a", 10), task("b", 10, submitTime=100)]))
    sim, r = run(p, w, horizon=2000)
    assert log(r, "prep.start", "prep.end", "task.start", "release.start", "release.end", "job") == [
        (0.0, "job", "j", "active"),
        (0.0, "prep.start", "j", "tvm-000001"),
        (30.0, "prep.end", "j", "tvm-000001", "success"),
        (30.0, "task.start", "j/a", "tvm-000001"),      # a waited in `preparing`
        (100.0, "task.start", "j/b", "tvm-000001"),     # once per node and job
        (200.0, "job", "j", "terminating", "MaxWallClockTimeExpiry"),
        (200.0, "release.start", "j", "tvm-000001"),
        (1100.0, "release.end", "j", "tvm-000001"),     # release tasks stop at 15 minutes
        (1100.0, "job", "j", "completed"),
    ]


def test_failed_preparation_excludes_the_node_without_counting():
    p = pool(targetDedicatedNodes=2)
    w = jobs(job(jobPreparationTask={"commandLine": "prep", "duration": 10, "failureProbability": 1.0},
                 tasks=[task("a", 10)]))
    sim, r = run(p, w, horizon=200)
    a = tasks_of(sim)["a"]
    assert a.state == "active" and (a.retry_count, a.requeue_count, a.recovery_count) == (0, 0, 0)
    assert [e[3] for e in log(r, "prep.end")] == ["tvm-000001", "tvm-000002"]


def test_multi_instance_task_takes_n_empty_nodes():
    p = pool(targetDedicatedNodes=3, enableInterNodeCommunication=True)
    w = jobs(job(tasks=[task("mpi", 50, multiInstanceSettings={"numberOfInstances": 3}),
                        task("x", 10)]))
    sim, r = run(p, w, horizon=100)
    assert log(r, "task.start")[0] == (0.0, "task.start", "j/mpi", "tvm-000001,tvm-000002,tvm-000003")
    assert r.timeline_rows[0]["running_tasks"] == 3 and r.timeline_rows[0]["tasks_running"] == 1
    assert starts(r)[1] == (50.0, "j/x")


# -- deallocation options (docs/simulation-model.md#deallocation-options)

DOWN_AT_600 = """$TargetDedicatedNodes = time() < time("2026-01-05T00:10:00Z") ? 2 : 0;
$NodeDeallocationOption = {option};"""


def scale_down(option: str, **kw):
    p = autoscale(DOWN_AT_600.format(option=option), **kw)
    w = jobs(job(tasks=[task("a", 1000, constraints={"retentionTime": "PT10M"}), task("b", 700)]))
    return run(p, w, horizon=3000)


def test_requeue_kills_requeues_and_removes_at_once():
    sim, r = scale_down("requeue")
    assert log(r, "task.requeue", "node", "pool.state")[-8:] == [
        (600.0, "pool.state", "resizing"),
        (600.0, "node", "tvm-000001", "leavingpool"),
        (600.0, "task.requeue", "j/a"),
        (600.0, "node", "tvm-000001", "removed"),
        (600.0, "node", "tvm-000002", "leavingpool"),
        (600.0, "task.requeue", "j/b"),
        (600.0, "node", "tvm-000002", "removed"),
        (600.0, "pool.state", "steady"),
    ]
    a = tasks_of(sim)["a"]
    assert (a.state, a.requeue_count, a.retry_count) == ("active", 1, 0)
    assert (600.0, "pool.state", "steady") in log(r, "pool.state")
    assert r.report["tasks"]["requeued"] == 2 and r.report["wasted_work_seconds"] == 1200.0


def test_terminate_ends_tasks_as_failed():
    sim, r = scale_down("terminate")
    a = tasks_of(sim)["a"]
    assert (a.state, a.result, a.failure, a.requeue_count) == \
        ("completed", "failure", ("usererror", "TaskEnded"), 0)
    assert r.report["tasks"]["failed"] == 2


def test_taskcompletion_drains_and_keeps_the_pool_resizing():
    sim, r = scale_down("taskcompletion")
    assert log(r, "node", "pool.state")[-6:] == [
        (600.0, "pool.state", "resizing"),
        (600.0, "node", "tvm-000001", "leavingpool"),
        (600.0, "node", "tvm-000002", "leavingpool"),
        (700.0, "node", "tvm-000002", "removed"),
        (1000.0, "node", "tvm-000001", "removed"),
        (1000.0, "pool.state", "steady"),
    ]
    assert not log(r, "task.requeue", "task.recover")
    assert r.report["tasks"]["succeeded"] == 2
    # $CurrentDedicatedNodes counts leaving nodes: the run at 900 saw 1
    assert r.timeline_rows[int(900 / 30) - 1]["dedicated"] == 1


def test_retaineddata_waits_for_retention():
    _, r = scale_down("retaineddata")
    removed = {e[2]: e[0] for e in log(r, "node") if e[3] == "removed"}
    # a ends at 1000 with 10 min retention; b at 700 with the 7-day default... capped by
    # the horizon: tvm-000002 is still leaving at the end
    assert removed == {"tvm-000001": 1600.0}
    assert r.report["pool_at_end"]["allocation_state"] == "resizing"


def test_a_new_target_replaces_the_old_during_a_resize_and_leaving_is_final():
    f = """$TargetDedicatedNodes = time() < time("2026-01-05T00:05:00Z") ? 2 :
                                   (time() < time("2026-01-05T00:10:00Z") ? 0 : 2);
    $NodeDeallocationOption = taskcompletion;"""
    p = autoscale(f)
    sim, r = run(p, jobs(job(tasks=[task("a", 2000)])), horizon=900)
    assert [e[3] for e in log(r, "node") if e[2] == "tvm-000001"] == ["creating", "starting", "idle",
                                                                      "running", "leavingpool"]
    # target back to 2 at 600: two new nodes, not the leaving one
    assert {e[2] for e in log(r, "node") if e[0] == 600.0 and e[3] == "creating"} == \
        {"tvm-000003", "tvm-000004"}


# -- preemption and failures (docs/simulation-model.md#preemption-and-node-failure)


def test_preempted_nodes_count_recover_with_their_id_and_requeue_tasks():
    p = autoscale("$TargetLowPriorityNodes = 2;",
                  simulation={"preemption": {"meanTimeBetween": 600, "recoveryTime": 120}})
    sim, r = run(p, jobs(job(tasks=[task(i, 3000) for i in range(2)])), horizon=3000, seed=4)
    pre = log(r, "node.preempt")
    assert pre, "the seed gives at least one preemption"
    t0, node = pre[0][0], pre[0][2]
    assert (t0, "node", node, "preempted") in r.events
    assert (t0 + 120, "node", node, "creating") in r.events      # same id, no replacement
    assert sim.next_num == 3
    snap = next(row for row in r.timeline_rows if row["time"] >= t0 and row["preempted"])
    assert snap["low_priority"] == 2                              # still counted
    t = next(t for t in tasks_of(sim).values() if t.recovery_count)
    assert t.retry_count == 0 and t.requeue_count == 0
    assert r.report["node_hours"]["low_priority"] < 2 * 3000 / 3600   # preempted time is not billed


def test_node_failure_and_repair():
    p = pool(targetDedicatedNodes=1,
             simulation={"nodeFailure": {"meanTimeBetween": 500, "repairTime": 100}})
    sim, r = run(p, jobs(job(tasks=[task("a", 5000)])), horizon=3000, seed=1)
    fails = log(r, "node.fail")
    assert fails
    t0 = fails[0][0]
    assert (t0, "node", "tvm-000001", "unusable") in r.events
    assert (t0 + 100, "node", "tvm-000001", "starting") in r.events
    assert tasks_of(sim)["a"].recovery_count >= 1


def test_an_unusable_low_priority_node_is_still_preempted_and_comes_back():
    # docs/simulation-model.md#preemption-and-node-failure: a low-priority node holding a VM
    # (unusable included) keeps its preemption timer.
    p = pool(targetLowPriorityNodes=1, simulation={
        "nodeFailure": {"meanTimeBetween": 100},
        "preemption": {"meanTimeBetween": 200, "recoveryTime": 10}})
    sim, r = run(p, jobs(), horizon=20000, seed=1)
    fails, preempts = log(r, "node.fail"), log(r, "node.preempt")
    assert fails, "the seed gives a failure"
    t_fail, node = fails[0][0], fails[0][2]
    later = [t for t, _, n in preempts if n == node and t > t_fail]
    assert later, "the unusable node is preempted later"
    assert (later[0], "node", node, "preempted") in r.events
    assert (later[0] + 10, "node", node, "creating") in r.events


# -- quotas and fixed pools (docs/simulation-model.md#quotas-and-the-configured-maximum)


def test_quota_clamps_an_autoscale_target():
    p = autoscale("$TargetDedicatedNodes = 10;", vmSize="D4",
                  simulation={"dedicatedCoreQuota": 10})
    sim, r = run(p, jobs(), horizon=60)
    assert sim.target == [2, 0] and sim.n_present == [2, 0]
    assert r.runs[0][1].results.startswith("$TargetDedicatedNodes=10")
    # the service reports the cut in the pool's resizeErrors, as for a fixed pool
    assert r.report["pool_at_end"]["resize_errors"] == ["AccountCoreQuotaReached"]
    assert log(r, "pool.resize_error") == [(0.0, "pool.resize_error", "AccountCoreQuotaReached")]


def test_fixed_pool_above_quota_records_the_error():
    p = pool(vmSize="D4", targetDedicatedNodes=5, simulation={"dedicatedCoreQuota": 8})
    sim, r = run(p, jobs(), horizon=60)
    assert sim.n_present == [2, 0] and sim.alloc_state == "steady"
    assert r.report["pool_at_end"]["resize_errors"] == ["AccountCoreQuotaReached"]


def test_fixed_pool_resize_timeout():
    p = pool(targetDedicatedNodes=2, resizeTimeout="PT5M", simulation={"allocationTime": 400})
    sim, r = run(p, jobs(), horizon=600)
    assert log(r, "pool.resize_error") == [(300.0, "pool.resize_error", "AllocationTimedout")]
    assert sim.n_present == [0, 0] and sim.alloc_state == "steady" and sim.target == [2, 0]


# -- samples and the autoscale loop ------------------------------------------------------------
# (docs/simulation-model.md#samples, docs/simulation-model.md#the-autoscale-run)


def test_first_run_has_no_samples_and_the_sample_at_t_comes_before_the_run_at_t():
    f = "$n = $PendingTasks.Count(); $TargetDedicatedNodes = $n;"
    _, r = run(autoscale(f), jobs(), horizon=600)
    counts = [run_.values["$n"] for _, run_ in r.runs]
    assert counts == [0.0, 10.0, 20.0]      # runs at 0, 300, 600 see 0, 10, 20 stamps


def test_sample_values_at_known_instants():
    p = pool(vmSize="D2", taskSlotsPerNode=2, targetDedicatedNodes=1)
    w = jobs(job(tasks=[task("a", 45), task("b", 90), task("c", 10, submitTime=20)]))
    sim, r = run(p, w, horizon=120)
    stamp = sim.start_ticks + 4 * 300_000_000
    got = {name: [float(v) for v in r.samples.latest(name, 4, stamp)]
           for name in ("$ActiveTasks", "$RunningTasks", "$PendingTasks", "$SucceededTasks",
                        "$FailedTasks", "$CPUPercent", "$WallClockSeconds", "$UsableNodeCount",
                        "$SampleNodeCount", "$PreemptedNodeCount", "$MemoryBytes")}
    # a, b run from 0; c arrives at 20 and waits for a's slot (45–55); b ends at 90, and the
    # exit at 90 is a state event, so the sample stamped 90 no longer sees b
    # (docs/simulation-model.md#order-of-work-within-an-instant)
    assert got["$RunningTasks"] == [2, 1, 0, 0]
    assert got["$ActiveTasks"] == [1, 0, 0, 0]
    assert got["$PendingTasks"] == [3, 1, 0, 0]
    assert got["$SucceededTasks"] == [0, 2, 1, 0]   # per period: a and c, then b
    assert got["$FailedTasks"] == [0, 0, 0, 0]
    assert got["$UsableNodeCount"] == got["$SampleNodeCount"] == [1, 1, 1, 1]
    assert got["$PreemptedNodeCount"] == got["$MemoryBytes"] == [0, 0, 0, 0]
    assert got["$WallClockSeconds"] == [30, 30, 30, 30]
    # CPU follows slot occupancy (50 % a task): 30–45 two tasks, 45–55 two, 55–60 one
    assert got["$CPUPercent"] == [100.0, pytest.approx((15 * 100 + 10 * 100 + 5 * 50) / 30), 50.0, 0.0]


def test_profiles_drive_resource_series():
    p = pool(vmSize="D2", taskSlotsPerNode=2, targetDedicatedNodes=1)
    prof = {"cpuPercent": 80, "memoryMB": 1000, "diskGB": 3, "networkOutBytesPerSecond": 10}
    w = jobs(job(tasks=[task("a", 15, profile=prof), task("b", 30, profile=prof)]))
    sim, r = run(p, w, horizon=30)
    stamp = sim.start_ticks + 300_000_000
    val = lambda name: float(r.samples.latest(name, 1, stamp)[0])
    assert val("$CPUPercent") == (15 * 100 + 15 * 80) / 30          # min(100, 160) then 80
    assert val("$MemoryBytes") == (15 * 2000 + 15 * 1000) / 30       # megabytes
    assert val("$DiskBytes") == (15 * 6 + 15 * 3) / 30               # gigabytes
    assert val("$NetworkOutBytes") == 10 * (15 + 30)                 # period total


def test_failed_runs_change_nothing():
    f = """$TargetDedicatedNodes = time() < time("2026-01-05T00:05:00Z") ? 2 :
             avg($PendingTasks.GetSample(TimeInterval_Hour));"""
    sim, r = run(autoscale(f), jobs(), horizon=900)
    assert r.report["autoscale"] == {"enabled": True, "evaluations": 4, "errors": 3,
                                     "error_codes": {"InsufficientSampleData": 3},
                                     "target_changes": 1}
    assert sim.target == [2, 0]


def test_lost_samples_are_missing_from_every_series():
    p = pool(targetDedicatedNodes=1, simulation={"samples": {"lossRate": 0.5}})
    sim, r = run(p, jobs(), horizon=1800, seed=3)
    lost = sum(row["sample_lost"] for row in r.timeline_rows)
    assert 10 < lost < 50 and len(r.samples) == 60 - lost
    end = sim.start_ticks + 1800 * 10**7
    assert r.samples.count("$CPUPercent", end) == r.samples.count("$PendingTasks", end) == 60 - lost


def test_sample_delay():
    f = "$TargetDedicatedNodes = $PendingTasks.Count();"
    _, r = run(autoscale(f, simulation={"samples": {"delay": "PT1M"}}), jobs(), horizon=300)
    assert r.runs[-1][1].dedicated == 8.0        # stamps 30..240 are visible at 300


# -- the report and determinism ---------------------------------------------------------------


def test_report_shape_and_measures():
    p = pool(targetDedicatedNodes=1, simulation={"prices": {"dedicated": 2.0}})
    _, r = run(p, jobs(job(tasks=[task("a", 1800), task("b", 1800)])), horizon=3600)
    rep = r.report
    assert rep["tasks"] == {"submitted": 2, "succeeded": 2, "failed": 0, "requeued": 0,
                            "active_at_end": 0, "running_at_end": 0, "rejected": 0,
                            "not_submitted": 0, "retries": 0, "requeues": 0, "recoveries": 0}
    assert rep["wait_seconds"]["max"] == 1800.0 and rep["wait_seconds"]["p50"] == 900.0
    assert rep["node_hours"] == {"dedicated": 1.0, "low_priority": 0.0}
    assert rep["cost"] == {"dedicated": 2.0, "low_priority": 0.0, "total": 2.0}
    assert rep["utilization"] == 1.0
    assert rep["makespan_seconds"] == 3600.0
    assert rep["bounded_slowdown"]["max"] == 2.0
    frame = r.timeline
    assert list(frame.columns)[:4] == ["timestamp", "time", "dedicated", "low_priority"]
    assert len(frame) == 120
    assert str(frame["timestamp"].iloc[0]) == "2026-01-05 00:00:30+00:00"      # start + 30 s
    assert str(frame["timestamp"].iloc[-1]) == "2026-01-05 01:00:00+00:00"


def test_without_a_horizon_the_run_stops_when_the_workload_drains():
    r = simulate(pool(targetDedicatedNodes=1), jobs(job(tasks=[task("a", 100)])), start=T0)
    assert r.report["simulated_seconds"] == 100.0


def test_equal_seeds_give_identical_results():
    p = autoscale("$TargetDedicatedNodes = 2; $TargetLowPriorityNodes = 3 * rand();",
                  simulation={"preemption": {"meanTimeBetween": 900},
                              "allocationTime": {"kind": "uniform", "low": 30, "high": 300},
                              "samples": {"lossRate": 0.1}})
    w = jobs(job(tasks=[task(i, 200 + 37 * i, submitTime=11 * i) for i in range(30)]))
    a = simulate(copy.deepcopy(p), w, start=T0, horizon=7200, seed=5)
    b = simulate(copy.deepcopy(p), w, start=T0, horizon=7200, seed=5)
    c = simulate(copy.deepcopy(p), w, start=T0, horizon=7200, seed=6)
    assert a.events == b.events and a.report == b.report and a.timeline_rows == b.timeline_rows
    assert [x.results for _, x in a.runs] == [x.results for _, x in b.runs]
    assert a.events != c.events


def test_allocation_draws_do_not_depend_on_preemption():
    base = {"allocationTime": {"kind": "uniform", "low": 30, "high": 300}}
    p1 = pool(targetDedicatedNodes=3, simulation=base)
    p2 = pool(targetDedicatedNodes=3, simulation={**base, "preemption": {"meanTimeBetween": 60}})
    a = simulate(p1, jobs(), start=T0, horizon=600, seed=2)
    b = simulate(p2, jobs(), start=T0, horizon=600, seed=2)
    starting = lambda r: [e for e in r.events if e[1] == "node" and e[3] == "starting"]
    assert starting(a) == starting(b)


# -- engine choices (docs/simulation-model.md) ------------------------------------------------


def test_exit_codes_are_indexed_by_attempt_requeues_included():
    # docs/simulation-model.md#attempts-exit-codes-and-retries: exitCodes gives the code of attempt
    # 1, 2, ...; a requeued attempt is
    # an attempt, so the second attempt (after the requeue at 600 s) exits with exitCodes[1].
    f = """$TargetDedicatedNodes = (time() >= time("2026-01-05T00:10:00Z") &&
                                 time() < time("2026-01-05T00:15:00Z")) ? 0 : 1;
    $NodeDeallocationOption = requeue;"""
    w = jobs(job(tasks=[task("a", 1000, exitCodes=[1, 0], constraints={"maxTaskRetryCount": 1})]))
    sim, r = run(autoscale(f), w, horizon=3000)
    a = tasks_of(sim)["a"]
    assert [t for t, _ in starts(r)] == [0.0, 900.0]
    assert (a.result, a.requeue_count, a.retry_count, a.end_time) == ("success", 1, 0, 1900.0)


def test_failing_zero_length_attempts_with_finite_retries_keep_their_length():
    w = jobs(job(tasks=[task("a", 0, exitCodes=[1], constraints={"maxTaskRetryCount": 2})]))
    sim, r = run(pool(targetDedicatedNodes=1), w, horizon=5)
    assert [t for t, k in starts(r) if k == "j/a"] == [0.0, 0.0, 0.0]
    a = tasks_of(sim)["a"]
    assert (a.result, a.retry_count, a.exit_code, a.end_time) == ("failure", 2, 1, 0.0)


def test_a_failing_zero_length_attempt_with_unlimited_retries_takes_a_second():
    w = jobs(job(tasks=[task("a", 0, exitCodes=[1], constraints={"maxTaskRetryCount": -1}),
                        task("ok", 0, submitTime=2.5)]))
    sim, r = run(pool(targetDedicatedNodes=2), w, horizon=5)
    assert [t for t, k in starts(r) if k == "j/a"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    ok = tasks_of(sim)["ok"]
    assert ok.start_time == ok.end_time == 2.5


def test_an_exit_and_a_submission_at_one_instant_run_exit_first():
    # step 1 of docs/simulation-model.md#order-of-work-within-an-instant: exits, then submissions,
    # then the pass; the freed slot goes to the queue's
    # head (b, waiting since 5), not to c submitted at the exit's instant
    w = jobs(job(tasks=[task("a", 10), task("b", 10, submitTime=5), task("c", 10, submitTime=10)]))
    sim, r = run(pool(targetDedicatedNodes=1), w, horizon=40)
    at10 = [e[1:3] for e in r.events if e[0] == 10.0 and e[1].startswith("task.")]
    assert at10 == [("task.end", "j/a"), ("task.submit", "j/c"), ("task.start", "j/b")]


def test_simulate_frees_its_run_by_reference_counting():
    import gc

    p = autoscale("$TargetDedicatedNodes = 2;", simulation={"preemption": {}})
    w = jobs(job(tasks=[task(i, 300, submitTime=10 * i) for i in range(20)]))
    simulate(p, w, start=T0, horizon=3600)       # warm caches (compiled formula, tables)
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        r = simulate(p, w, start=T0, horizon=3600, log_events=False)
        assert gc.collect() == 0                 # nothing left in reference cycles
    finally:
        if was:
            gc.enable()
    assert r.report["tasks"]["succeeded"] == 20 and gc.isenabled() == was


def test_a_preempted_node_removed_by_a_scale_down_stops_being_billed_at_its_preemption():
    # docs/simulation-model.md#node-states: preempted nodes are not billed, removed nodes are not
    # present (review finding)
    f = '$TargetLowPriorityNodes = time() < time("2026-01-05T00:10:00Z") ? 1 : 0;'
    p = autoscale(f, simulation={"preemption": {"meanTimeBetween": 200, "recoveryTime": 100000}})
    sim, r = run(p, jobs(), horizon=3600, seed=1)
    preempted = next(e[0] for e in r.events if e[1] == "node.preempt")
    assert (0.0 < preempted < 600.0) and ("node.deallocate" in [e[1] for e in r.events])
    assert r.report["node_hours"]["low_priority"] == pytest.approx(preempted / 3600.0, abs=1e-9)
    assert sim.n_billed == [0, 0] and sim.n_present == [0, 0]


def test_a_requeued_job_manager_respects_max_parallel_tasks():
    # docs/simulation-model.md#candidates and docs/simulation-model.md#job-manager-task: the manager
    # is one of the job's tasks; at 600 a dedicated node is back but
    # a and b hold the job's two places, so the manager waits (review finding)
    t = lambda mm: f'time("2026-01-05T00:{mm:02d}:00Z")'
    f = (f"$TargetDedicatedNodes = time() < {t(5)} ? 1 : (time() < {t(10)} ? 0 : 1);\n"
         "$TargetLowPriorityNodes = 2;")
    w = jobs(job(maxParallelTasks=2,
                 jobManagerTask={"id": "jm", "duration": 3000, "allowLowPriorityNode": False},
                 tasks=[task("a", 3000), task("b", 3000), task("c", 3000)]))
    sim, r = run(autoscale(f), w, horizon=900)
    assert starts(r) == [(0.0, "j/jm"), (0.0, "j/a"), (300.0, "j/b")]
    assert [e[0] for e in log(r, "task.requeue")] == [300.0]
    assert tasks_of(sim)["jm"].state == "active"


def test_run_time_is_the_last_attempts_even_when_killed_while_preparing_again():
    # run_seconds in docs/simulation-model.md#the-report: end − start of the last attempt. a runs
    # 100–300 (requeued by the scale-down),
    # is placed again at 600 and killed at 650 while its node prepares: run 200, not 550
    t = lambda mm: f'time("2026-01-05T00:{mm:02d}:00Z")'
    f = f"$TargetDedicatedNodes = time() < {t(5)} ? 1 : (time() < {t(10)} ? 0 : 1);"
    w = jobs(job(constraints={"maxWallClockTime": 650}, jobPreparationTask={"duration": 100},
                 tasks=[task("a", 1000)]))
    sim, r = run(autoscale(f), w, horizon=900)
    a = tasks_of(sim)["a"]
    assert (a.start_time, a.attempt_end, a.end_time) == (100.0, 300.0, 650.0)
    assert r.report["run_seconds"]["max"] == 200.0
    assert r.report["turnaround_seconds"]["max"] == 650.0


def test_a_task_sent_back_while_preparing_has_used_no_exit_code():
    # docs/simulation-model.md#attempts-exit-codes-and-retries: exitCodes[n] is the code of attempt
    # n + 1; at seed 3 the node is preempted at 17.8 s,
    # while a is still preparing: no attempt ran, so the one that does exits 7 (review finding)
    p = pool(targetLowPriorityNodes=1,
             simulation={"preemption": {"meanTimeBetween": 60, "recoveryTime": 10}})
    w = jobs(job(tasks=[task("a", 5, exitCodes=[7, 0])], jobPreparationTask={"duration": 30}))
    sim, r = run(p, w, horizon=3000, seed=3)
    a = tasks_of(sim)["a"]
    assert log(r, "task.recover")[0][0] < 30.0 and a.recovery_count == 1
    assert (a.attempt, a.exit_code, a.result) == (1, 7, "failure")


def test_termination_stops_a_running_preparation_task_for_good():
    # docs/simulation-model.md#job-states-and-termination: a finished job holds no node; the
    # preparation running at termination is stopped,
    # not retried, and the release runs on its node (review finding)
    w = jobs(job(tasks=[task("a", 100)], constraints={"maxWallClockTime": 15},
                 jobPreparationTask={"duration": 10, "failureProbability": 1.0,
                                     "constraints": {"maxTaskRetryCount": 5}},
                 jobReleaseTask={"duration": 5}))
    sim, r = run(pool(targetDedicatedNodes=1), w, horizon=300)
    after = [e for e in r.events if e[0] >= 15.0 and e[1] in ("job", "prep.start", "prep.end",
                                                             "release.start", "release.end", "node")]
    assert after == [(15.0, "job", "j", "terminating", "MaxWallClockTimeExpiry"),
                     (15.0, "prep.end", "j", "tvm-000001", "killed"),
                     (15.0, "release.start", "j", "tvm-000001"),
                     (20.0, "release.end", "j", "tvm-000001"),
                     (20.0, "job", "j", "completed"),
                     (20.0, "node", "tvm-000001", "idle")]


def test_a_job_with_neither_tasks_nor_creation_time_is_created_at_the_start():
    w = jobs(job("B", [], jobManagerTask={"id": "jm", "duration": 10}))
    sim, r = run(pool(targetDedicatedNodes=1), w, horizon=300)
    assert starts(r) == [(0.0, "B/jm")]
    assert r.report["jobs"] == {"completed": 1} and r.report["tasks"]["submitted"] == 1


def test_completions_at_the_start_instant_are_in_no_sample_period():
    # docs/simulation-model.md#sample-timing-delay-and-loss: sample k covers
    # (start + (k−1)·P, start + k·P]; 0 is in no period
    w = jobs(job(tasks=[task("a", 0), task("b", 0, exitCodes=[1]), task("c", 30),
                        task("d", 45, exitCodes=[2])]))
    sim, r = run(pool(targetDedicatedNodes=2), w, horizon=60)
    stamps, ok = r.samples._arrays("$SucceededTasks")
    _, failed = r.samples._arrays("$FailedTasks")
    assert list(ok) == [1.0, 0.0] and list(failed) == [0.0, 1.0]


def test_tasks_sent_back_by_a_failed_preparation_are_logged():
    w = jobs(job(tasks=[task("a", 100)], jobPreparationTask={"duration": 10, "failureProbability": 1.0}))
    sim, r = run(pool(targetDedicatedNodes=2), w, horizon=100)
    assert [e for e in r.events if e[1] in ("task.prepare", "prep.end", "task.unprepare")][:4] == [
        (0.0, "task.prepare", "j/a", "tvm-000001"),
        (10.0, "prep.end", "j", "tvm-000001", "failure"),
        (10.0, "task.unprepare", "j/a", "tvm-000001"),
        (10.0, "task.prepare", "j/a", "tvm-000002")]


def test_an_autoscale_pools_initial_targets_are_clamped_to_its_quota():
    # docs/simulation-model.md#quotas-and-the-configured-maximum: autoscale targets are clamped, the
    # file's initial ones too; every run here fails, so
    # the pool must still settle on the 2 nodes that fit (8 cores / 4) (review finding)
    f = "$x = $CPUPercent.GetSample(TimeInterval_Minute * 60, 100); $TargetDedicatedNodes = 9;"
    p = autoscale(f, vmSize="STANDARD_D4_v3", targetDedicatedNodes=5,
                  simulation={"dedicatedCoreQuota": 8})
    sim, r = run(p, jobs(), horizon=1200)
    assert sim.target == [2, 0] and sim.n_present == [2, 0] and sim.alloc_state == "steady"
    assert r.report["autoscale"]["errors"] == r.report["autoscale"]["evaluations"] > 0


@pytest.mark.parametrize("option", ["requeue", "terminate"])
def test_a_preparation_task_killed_with_its_node_is_logged(option):
    f = ('$TargetDedicatedNodes = time() < time("2026-01-05T00:05:00Z") ? 1 : 0;\n'
         f"$NodeDeallocationOption = {option};")
    w = jobs(job(tasks=[task("a", 100)], jobPreparationTask={"duration": 1000}))
    sim, r = run(autoscale(f), w, horizon=2000)
    assert (300.0, "prep.end", "j", "tvm-000001", "killed") in r.events


@pytest.mark.parametrize("mean", [0, 1e-9, 59.999])
@pytest.mark.parametrize("section", ["preemption", "nodeFailure"])
def test_a_mean_time_between_events_under_a_minute_is_a_load_error(section, mean):
    # a nanosecond's mean (with an instant recovery or repair) repeated the event for ever
    with pytest.raises(ValueError, match="meanTimeBetween\n  Value error, must be at least 60 s, "
                                         "the shortest mean time between node events a run "
                                         f"allows; got {mean:.15g} s"):
        Simulation(pool(targetDedicatedNodes=1, simulation={section: {"meanTimeBetween": mean}}),
                   jobs(), start=T0)


def test_a_preparation_cut_at_a_zero_wall_clock_with_unlimited_retries_still_moves_the_clock():
    # the 1 s floor of an unlimited failing attempt applies after the wall clock cut it to 0
    w = jobs(job(tasks=[task("a", 10)], jobPreparationTask={
        "duration": 5, "constraints": {"maxWallClockTime": 0, "maxTaskRetryCount": -1}}))
    sim, r = run(pool(targetDedicatedNodes=1), w, horizon=3)
    assert [e[0] for e in log(r, "prep.end")] == [1.0, 2.0, 3.0]


def test_tasks_wait_for_their_jobs_creation_time():
    w = jobs(job(tasks=[task("a", 10, submitTime=5)], creationTime=60))
    sim, r = run(pool(targetDedicatedNodes=1), w, horizon=200)
    assert tasks_of(sim)["a"].submit_time == 60.0


def test_autoscale_pool_with_initial_targets_starts_resizing_toward_them():
    p = autoscale("$TargetDedicatedNodes = $TargetDedicatedNodes;", targetDedicatedNodes=2)
    sim, r = run(p, jobs(), horizon=60)
    assert log(r, "pool.state")[0] == (0.0, "pool.state", "resizing")
    assert sim.n_present == [2, 0] and sim.target == [2, 0] and r.report["autoscale"]["target_changes"] == 0


def test_an_absurd_target_without_a_quota_is_clamped_to_the_configured_maximum():
    sim = Simulation(autoscale("$TargetDedicatedNodes = 1e12;"), jobs(), start=T0, horizon=1)
    sim.run()
    assert sim.target == [100_000, 0]
    p = autoscale("$TargetDedicatedNodes = 1e12; $TargetLowPriorityNodes = 30;",
                  vmSize="STANDARD_D2s_v3",
                  simulation={"maxNodesPerKind": 25, "lowPriorityCoreQuota": 40})
    sim = Simulation(p, jobs(), start=T0, horizon=1)
    sim.run()
    assert sim.target == [25, 20]   # the configured maximum; the lower core quota (40 / 2 cores)


def test_a_fixed_target_above_the_configured_maximum_is_a_load_error():
    with pytest.raises(ValueError, match=r"targetDedicatedNodes: 12 exceeds "
                                         r"simulation.maxNodesPerKind \(10\)"):
        Simulation(pool(targetDedicatedNodes=12, simulation={"maxNodesPerKind": 10}), jobs(),
                   start=T0)


def test_progress_callback_and_replayable_samples():
    seen = []
    p = autoscale("$TargetDedicatedNodes = 1;")
    r = simulate(p, jobs(job(tasks=[task(i, 60) for i in range(5)])), start=T0, horizon=3600,
                 progress=lambda now, total: seen.append((now, total)))
    assert seen[-1] == (3600.0, 3600.0) and len(seen) > 10
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    store = r.samples.to_store()
    last = r.runs[-1][1]
    from poolscale.formula import compile_formula, PoolState
    again = compile_formula("$TargetDedicatedNodes = 1;").evaluate(store, now=last.time, pool=PoolState())
    assert again.results == last.results


def test_formula_argument_overrides_and_errors_surface():
    from poolscale.formula import FormulaError
    with pytest.raises(FormulaError):
        simulate(pool(), jobs(), "$TargetDedicatedNodes = ;", start=T0, horizon=60)
    r = simulate(pool(targetDedicatedNodes=3), jobs(), "$TargetDedicatedNodes = 1;", start=T0, horizon=60)
    assert r.report["pool_at_end"]["dedicated"] == 1 and r.report["autoscale"]["enabled"]


def test_without_a_start_the_run_begins_at_the_workloads_first_iso_time():
    p = pool(targetDedicatedNodes=1)
    w = jobs(job(tasks=[task("a", 600, submitTime="2025-06-01T12:00:00Z"),
                        task("b", 600, submitTime="2025-06-01T08:00:00+00:00")]))
    r = simulate(p, w, horizon=86_400)
    assert r.report["start"] == "2025-06-01T08:00:00.000Z"
    assert r.report["makespan_seconds"] == 4 * 3600 + 600
    # relative times only: the fixed default start
    r = simulate(p, jobs(job(tasks=[task("a", 60, submitTime=5)])), horizon=600)
    assert r.report["start"] == "2026-01-05T00:00:00.000Z"


def test_a_released_simulation_refuses_to_report_or_run_again():
    from poolscale.scheduler.simulate import Simulation

    sim = Simulation(pool(targetDedicatedNodes=1), jobs(job(tasks=[task("a", 60)])), start=T0,
                     horizon=600)
    sim.run()
    assert sim.result().report["tasks"]["succeeded"] == 1
    sim.release()
    with pytest.raises(RuntimeError, match="released"):
        sim.result()
    with pytest.raises(RuntimeError, match="runs once"):
        sim.run()


def test_the_library_takes_what_the_readers_return_and_horizons_as_the_cli_writes_them():
    from poolscale.scheduler.workload import read_csv

    w = read_csv("submit_time,duration\n0,60\n", "w.csv")
    r = simulate(pool(targetDedicatedNodes=1), w, start=T0, horizon="1h")
    assert r.report["simulated_seconds"] == 3600.0 and r.report["tasks"]["succeeded"] == 1
    with pytest.raises(ValueError, match=r"^horizon: cannot read 'soon' as a duration \(use e.g. "
                                         r"600, 90m, 36h, 7d, PT36H or 0:15:00\)$"):
        simulate(pool(targetDedicatedNodes=1), w, start=T0, horizon="soon")


def test_removed_nodes_are_let_go():
    # a formula that swings between 0 and 40 nodes creates 40 new nodes every other evaluation;
    # the engine must hold only the nodes the pool has, not every node it ever had
    p = autoscale("$TargetDedicatedNodes = $CurrentDedicatedNodes > 0 ? 0 : 40;"
                  "$NodeDeallocationOption = requeue;")
    sim, _ = run(p, jobs(), horizon=7200)
    from poolscale.scheduler.nodes import Node

    held = list(sim.index.by_num.values())
    assert all(isinstance(n, Node) for n in held)
    assert sim.next_num - 1 >= 40 * 10                  # hundreds of nodes came and went
    assert sorted(n.num for n in held) == sorted(sim.nodes)
    assert len(sim.index.by_num) == len(sim.nodes)      # no entry per number ever given out


@pytest.mark.parametrize("start, first", [
    ("2300-01-01T00:00:00Z", "2300-01-01 00:00:30+00:00"),        # past pandas' nanoseconds
    ("1600-06-01T12:00:00Z", "1600-06-01 12:00:30+00:00"),
    ("2026-03-02T10:00:00.1234567Z", "2026-03-02 10:00:30.123456+00:00"),
])
def test_timeline_timestamps_for_any_start(start, first):
    r = simulate(pool(targetDedicatedNodes=1), jobs(job(tasks=[task("a", 60)])), start=start,
                 horizon=120)
    assert str(r.timeline["timestamp"].iloc[0]) == first
    assert r.report["start"] == (start if "." in start else start[:-1] + ".000Z")


def test_the_default_start_keeps_the_workloads_time_to_the_tick():
    w = jobs(job(creationTime="2026-03-02T10:00:00.1234567Z", tasks=[task("a", 60, submitTime=30)]))
    r = simulate(pool(targetDedicatedNodes=1), w, horizon=600)
    assert r.report["start"] == "2026-03-02T10:00:00.1234567Z"
