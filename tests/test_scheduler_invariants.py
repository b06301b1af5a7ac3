"""Hypothesis: the invariants (docs/simulation-model.md#invariants) hold after every event of random
pools and workloads.

Each example draws the features (deallocation option, preemption, node failure, quotas, start
tasks, preparation tasks, multi-instance tasks ...) explicitly and the details from a seeded
generator, then runs the engine with :func:`poolscale.scheduler.invariants.check` after every
handler and every scheduling pass.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, example, given, settings, strategies as st

from poolscale.scheduler import Simulation, simulate
from poolscale.scheduler.invariants import checking_steps

OPTIONS = ("requeue", "terminate", "taskcompletion", "retaineddata")

FORMULA = """$p = $PendingTasks.GetSample(1);
$n = $PendingTasks.Count() > 0 ? max($p) : 0;
$TargetDedicatedNodes = min({cap}, ceil($n / $TaskSlotsPerNode) * (rand() < 0.7 ? 1 : 0));
$TargetLowPriorityNodes = rand() < {lp} ? 2 : 0;
$NodeDeallocationOption = {option};"""


@st.composite
def scenarios(draw, option=None):
    option = option or draw(st.sampled_from(OPTIONS))
    seed = draw(st.integers(0, 2**32 - 1))
    slots = draw(st.sampled_from([1, 1, 2, 4]))
    r = random.Random(seed)
    sim = {"allocationTime": r.choice([0, 30, {"kind": "uniform", "low": 10, "high": 200}]),
           "bootTime": r.choice([0, 20]),
           "samples": {"period": r.choice([30, 60]), "lossRate": r.choice([0, 0.2])}}
    if draw(st.booleans()):
        sim["preemption"] = {"meanTimeBetween": r.choice([200, 900]), "recoveryTime": r.choice([30, 300])}
    if draw(st.booleans()):
        sim["nodeFailure"] = {"meanTimeBetween": r.choice([500, 2000])}
        if r.random() < 0.5:
            sim["nodeFailure"]["repairTime"] = 100
    if draw(st.booleans()):
        sim["dedicatedCoreQuota"] = r.choice([4, 8, 12])
    pool = {"id": "p", "vmSize": "STANDARD_D4_v3", "taskSlotsPerNode": slots,
            "taskSchedulingPolicy": {"nodeFillType": r.choice(["pack", "spread"])},
            "enableInterNodeCommunication": True, "simulation": sim}
    if draw(st.booleans()):
        pool["startTask"] = {"commandLine": "x", "maxTaskRetryCount": r.choice([0, 1, -1]),
                             "waitForSuccess": r.random() < 0.7}
        sim["startTask"] = {"duration": 20, "failureProbability": r.choice([0, 0.3])}
    if draw(st.booleans()):
        pool.update(enableAutoScale=True, autoScaleFormula=FORMULA.format(
            cap=r.choice([3, 6]), lp=r.choice([0, 0.5]), option=option))
    else:
        pool.update(targetDedicatedNodes=r.randint(0, 3), targetLowPriorityNodes=r.randint(0, 2))
    prep = draw(st.booleans())
    jobs = []
    for j in range(r.randint(1, 3)):
        job = {"id": f"job{j}", "priority": r.choice([0, 0, 10, -5]), "usesTaskDependencies": True,
               "onAllTasksComplete": r.choice(["noaction", "noaction", "terminatejob"]),
               "onTaskFailure": r.choice(["noaction", "performexitoptionsjobaction"]),
               "constraints": {"maxTaskRetryCount": r.choice([0, 1, 3, -1])}}
        if r.random() < 0.3:
            job["constraints"]["maxWallClockTime"] = r.choice([600, 1800])
        if r.random() < 0.2:
            job["maxParallelTasks"] = r.randint(1, 3)
        if r.random() < 0.25:
            job["jobManagerTask"] = {"id": "jm", "duration": r.choice([50, 500]),
                                     "runExclusive": r.random() < 0.5,
                                     "killJobOnCompletion": r.random() < 0.5,
                                     "allowLowPriorityNode": r.random() < 0.5,
                                     "requiredSlots": r.randint(1, slots)}
        if prep and r.random() < 0.6:
            job["jobPreparationTask"] = {"duration": r.choice([0, 30]),
                                         "failureProbability": r.choice([0, 0.3]),
                                         "waitForSuccess": r.random() < 0.8}
            if r.random() < 0.5:
                job["jobReleaseTask"] = {"duration": r.choice([10, 2000])}
        tasks = []
        for i in range(r.randint(0, 15)):
            t = {"id": str(i), "submitTime": r.choice([0, r.uniform(0, 1500)]),
                 "duration": r.choice([0, 30, r.uniform(1, 900)]),
                 "requiredSlots": r.randint(1, slots + (r.random() < 0.05)),
                 "exitCodes": r.choice([[0], [0], [1, 0], [2], [1, 1, 0]])}
            if r.random() < 0.2:
                t["constraints"] = {"maxWallClockTime": r.choice([60, 400]),
                                    "maxTaskRetryCount": r.choice([0, 2]),
                                    "retentionTime": r.choice([0, 500])}
            if i and r.random() < 0.2:
                t["dependsOn"] = {"taskIds": [str(r.randrange(0, i + 2))]}
            if r.random() < 0.1:
                t["profile"] = {"cpuPercent": 30, "memoryMB": 100, "diskReadBytesPerSecond": 10}
            if slots == 1 and r.random() < 0.05:
                t["multiInstanceSettings"] = {"numberOfInstances": r.randint(1, 3)}
                t["requiredSlots"] = 1
            tasks.append(t)
        job["tasks"] = tasks
        jobs.append(job)
    return option, seed, pool, {"jobs": jobs}


def run_checked(pool, workload, seed, horizon=3000):
    sim = Simulation(pool, workload, horizon=horizon, seed=seed)
    sim.run(on_step=checking_steps(sim))
    return sim, sim.result()


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenarios())
def test_invariants_hold_after_every_event(case):
    option, seed, pool, workload = case
    sim, r = run_checked(pool, workload, seed)
    t = r.report["tasks"]
    assert t["submitted"] == t["succeeded"] + t["failed"] + t["active_at_end"] + t["running_at_end"]


@SETTINGS
@given(scenarios(option="taskcompletion") | scenarios(option="retaineddata"))
def test_draining_scale_down_never_kills(case):
    option, seed, pool, workload = case
    sim, r = run_checked(pool, workload, seed)
    assert not [e for e in r.events if e[1] == "task.requeue"]
    assert all(e[3] == option for e in r.events if e[1] == "node.deallocate")
    # every kill (usererror TaskEnded) coincides with the termination of the task's job
    ended = {(e[0], e[2]) for e in r.events if e[1] == "job" and e[3] == "terminating"}
    for job in sim.jobs:
        for task in job.tasks:
            if task.failure == ("usererror", "TaskEnded"):
                assert (task.end_time, job.id) in ended


@settings(max_examples=10, deadline=None)
@given(scenarios())
def test_equal_seeds_give_equal_runs(case):
    _, seed, pool, workload = case
    a = simulate(pool, workload, horizon=3000, seed=seed)
    b = simulate(pool, workload, horizon=3000, seed=seed)
    assert a.events == b.events and a.report == b.report and a.timeline_rows == b.timeline_rows
    assert [run.results for _, run in a.runs] == [run.results for _, run in b.runs]


@st.composite
def light_load(draw):
    """Pools that often have a free slot when a task arrives, with arrivals on a coarse grid
    (so some share an instant) and every job feature the direct start must respect."""
    seed = draw(st.integers(0, 2**32 - 1))
    r = random.Random(seed)
    slots = r.choice([1, 2, 3])
    pool = {"id": "p", "vmSize": "STANDARD_D4_v3", "taskSlotsPerNode": slots,
            "taskSchedulingPolicy": {"nodeFillType": r.choice(["pack", "spread"])},
            "targetDedicatedNodes": r.randint(1, 4),
            "simulation": {"allocationTime": r.choice([0, 40]), "bootTime": 0}}
    if r.random() < 0.3:
        pool["simulation"]["nodeFailure"] = {"meanTimeBetween": 1500, "repairTime": 100}
    jobs = []
    for j in range(r.randint(1, 4)):
        job = {"id": f"job{j}", "priority": r.choice([0, 5, -5]),
               "constraints": {"maxTaskRetryCount": r.choice([0, 1])}}
        if r.random() < 0.3:
            job["maxParallelTasks"] = r.randint(1, 2)
        if r.random() < 0.25:
            job["jobPreparationTask"] = {"duration": r.choice([0, 20]),
                                         "failureProbability": r.choice([0, 0.3])}
        if r.random() < 0.2:
            job["jobManagerTask"] = {"id": "jm", "duration": r.choice([10, 300])}
        if r.random() < 0.3:   # created on the arrival grid; a wall clock of 0 ends it at once
            job["creationTime"] = 50 * r.randint(0, 10)
            job["constraints"]["maxWallClockTime"] = r.choice([0, 0, 100])
        tasks = []
        for i in range(r.randint(1, 12)):
            t = {"id": str(i), "submitTime": 50 * r.randint(0, 30),
                 "duration": r.choice([0, 50, 120, r.uniform(1, 400)]),
                 "requiredSlots": r.randint(1, slots), "exitCodes": r.choice([[0], [0], [1, 0]])}
            if r.random() < 0.3:
                t["affinityInfo"] = {"affinityId": f"tvm-{r.randint(0, 4):06d}"}
            tasks.append(t)
        job["tasks"] = tasks
        jobs.append(job)
    return seed, pool, {"jobs": jobs}


#: a state event due at the submission's instant: the job's wall clock of 0 ends it before the
#: pass, so its task never starts (found in review; random draws rarely line it up)
WALL_CLOCK_AT_CREATION = (1, {"id": "p", "vmSize": "STANDARD_D1_v2", "targetDedicatedNodes": 1,
                              "simulation": {"allocationTime": 0, "bootTime": 0}},
                          {"jobs": [{"id": "j", "creationTime": 100,
                                     "constraints": {"maxWallClockTime": 0},
                                     "tasks": [{"id": "a", "duration": 50, "submitTime": 100}]}]})


@SETTINGS
@given(light_load() | scenarios().map(lambda case: case[1:]))
@example(WALL_CLOCK_AT_CREATION)
def test_starting_a_task_at_its_submission_is_what_the_pass_would_do(case):
    # JobsMixin._on_submit places a lone submission directly when nothing else is ready; the
    # general path queues it for the pass. Both must give the same run, event for event.
    seed, pool, workload = case
    results = []
    for direct in (True, False):
        sim = Simulation(pool, workload, horizon=3000, seed=seed)
        sim.direct_start = direct
        sim.run()
        results.append(sim.result())
    a, b = results
    assert a.events == b.events and a.report == b.report and a.timeline_rows == b.timeline_rows


@SETTINGS
@given(light_load() | scenarios().map(lambda case: case[1:]))
@example(WALL_CLOCK_AT_CREATION)
def test_the_inlined_fast_paths_are_what_the_general_paths_would_do(case):
    # The live engine runs every task through the general paths; the differential test of
    # the live engine against the simulator stands on this equality.
    seed, pool, workload = case
    fast = Simulation(pool, workload, horizon=3000, seed=seed)
    fast.run()
    general = Simulation(pool, workload, horizon=3000, seed=seed)
    general.use_general_paths()
    general.run()
    a, b = fast.result(), general.result()
    assert a.events == b.events and a.report == b.report and a.timeline_rows == b.timeline_rows
