"""The live engine decides as the simulator does (one Batch model, two clocks).

The same pool, formula and jobs run twice: by the simulator, and by the engine on the live
kernel and the real clock (scaled down), with task attempts launched and reported as the live
engine does it — from another thread, after their declared durations of wall time
(runtime/service/declared.py). Node timers, start tasks and samples are the simulator's own on
both sides, so the runs may differ only where the live machinery differs. They must not differ
at all: the same event log (every placement, retry, requeue, recovery, node state, autoscale
run), the same AutoScaleRun results strings at the same instants, the same timeline and the same
final state of every task.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from poolscale.runtime.service.declared import DeclaredDurationWorld, WallTimer
from poolscale.runtime.service.livekernel import RealClock
from poolscale.scheduler import Simulation

from live_testing import ServingKernel

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


class LiveDifferential(DeclaredDurationWorld, Simulation):
    """A simulation whose kernel serves on the real clock and whose task attempts are live."""


def live_run(pool, workload, formula, horizon, seed, scale):
    sim = LiveDifferential(pool, workload, formula, horizon=horizon, seed=seed)
    old = sim.kernel
    assert not old.heap and old.stream_at == math.inf
    clock = RealClock(scale)
    sim.kernel = ServingKernel(old._pass, old._advance, clock=clock, promise_timeout=30.0)
    sim.kernel._seq = old._seq
    sim._pending = {}
    sim._declared = WallTimer(clock.monotonic)
    sim.use_general_paths()
    try:
        sim.run()
    finally:
        sim._declared.close()
    return sim


def outcome(sim, *, extra_events=0):
    r = sim.result()
    report = dict(r.report)
    report["events_processed"] -= extra_events   # the live run's own end at the horizon
    tasks = sorted((job.id, t.id, t.state, t.result, t.exit_code, t.retry_count,
                    t.requeue_count, t.recovery_count, t.failure)
                   for job in sim.jobs for t in job.tasks)
    return {"events": r.events, "runs": [(t, run.results) for t, run in r.runs],
            "report": report, "timeline": r.timeline_rows, "tasks": tasks}


def assert_same_run(got: dict, want: dict) -> None:
    # one assertion each, so a failure names what differs first
    assert got["runs"] == want["runs"]
    assert got["events"] == want["events"]
    assert got["tasks"] == want["tasks"]
    assert got["timeline"] == want["timeline"]
    assert got["report"] == want["report"]


def differential_case():
    """An autoscaled pool with a start task, retries, a wall-clock kill, failures that exhaust
    their retries, dependencies and a job preparation task: 30 simulated minutes."""
    formula = ("$p = $PendingTasks.GetSample(1);\n"
               "$TargetDedicatedNodes = min(4, ceil($p / 2));\n"
               "$NodeDeallocationOption = requeue;\n")
    pool = {"id": "diff", "vmSize": "STANDARD_D2_v3", "taskSlotsPerNode": 2,
            "enableAutoScale": True, "autoScaleFormula": formula,
            "autoScaleEvaluationInterval": "PT5M",
            "startTask": {"commandLine": "setup", "waitForSuccess": True, "maxTaskRetryCount": 1},
            "simulation": {"start": "2026-03-02T00:00:00Z", "seed": 4,
                           "allocationTime": {"kind": "uniform", "low": "PT30S", "high": "PT90S"},
                           "bootTime": "PT20S",
                           "startTask": {"duration": "PT10S", "failureProbability": 0.2}}}
    tasks = [{"id": f"t{i}", "submitTime": (i * 41) % 900, "duration": 20 + (i * 67) % 400,
              "exitCodes": [2, 0] if i % 6 == 0 else ([5] if i % 13 == 0 else [0]),
              "constraints": {"maxTaskRetryCount": 1,
                              **({"maxWallClockTime": "PT2M"} if i % 9 == 0 else {})}}
             for i in range(40)]
    deps = [{"id": "a", "duration": 45, "submitTime": 60},
            {"id": "b", "duration": 30, "submitTime": 60, "dependsOn": {"taskIds": ["a"]}}]
    workload = {"jobs": [
        {"id": "work", "tasks": tasks,
         "jobPreparationTask": {"commandLine": "prep", "duration": 5}},
        {"id": "chain", "usesTaskDependencies": True, "priority": 5, "tasks": deps}]}
    return pool, workload, None, 1800.0, 4


def test_the_live_engine_makes_the_simulators_decisions():
    pool, workload, formula, horizon, seed = differential_case()
    simulated = Simulation(pool, workload, formula, horizon=horizon, seed=seed).run()
    want = outcome(simulated)
    kinds = [e[1] for e in want["events"]]
    # what the comparison stands on: the case exercises what it claims to
    assert {"task.retry", "starttask", "pool.target", "prep.end"} <= set(kinds)
    assert sum(1 for e in want["events"] if e[1] == "task.end" and e[4] == -1073741510) >= 1
    started = time.monotonic()
    live = live_run(pool, workload, formula, horizon, seed, scale=0.004)
    elapsed = time.monotonic() - started
    assert_same_run(outcome(live, extra_events=1), want)
    assert elapsed >= 1800 * 0.004 * 0.9        # it really ran on the (scaled) wall clock


@pytest.mark.slow
@pytest.mark.parametrize("option", ["requeue", "terminate"])
def test_the_live_engine_makes_the_simulators_decisions_on_every_feature(option):
    # the golden every-feature case: preemption and node failure with recovered tasks, a job
    # manager, preparation and release tasks, dependencies, multi-instance tasks, priorities,
    # retries and wall-clock kills, sample loss; six simulated hours in about 22 s each
    import golden_cases

    case = golden_cases.cases()[f"features-{option}"]
    pool, workload, horizon = case["pool"], case["workload"], case["horizon"]
    want = outcome(Simulation(pool, workload, None, horizon=horizon).run())
    kinds = [e[1] for e in want["events"]]
    assert kinds.count("node.preempt") >= 2 and kinds.count("task.recover") >= 5
    assert kinds.count("task.requeue" if option == "requeue" else "task.retry") >= 5
    live = live_run(pool, workload, None, horizon, None, scale=0.001)
    assert_same_run(outcome(live, extra_events=1), want)


def test_the_live_engine_makes_a_job_schedules_jobs_as_the_simulator_does():
    # the golden schedule case: recurrences on the grid, one made late inside its window, one
    # skipped past it, the manager's tasks added at their offsets (scheduler/scheduled.py,
    # driven on the live kernel); 36 simulated hours in about 2 s
    import golden_cases

    case = golden_cases.cases()["schedule-6h"]
    pool, workload, horizon = case["pool"], case["workload"], case["horizon"]
    want = outcome(Simulation(pool, workload, None, horizon=horizon).run())
    kinds = [e[1] for e in want["events"]]
    assert kinds.count("schedule.skip") == 1 and kinds.count("schedule") == 1
    created = [e[0] for e in want["events"] if e[1] == "job" and e[3] == "active"
               and e[2].startswith("every6h:")]
    assert created[:2] == [0.0, 6 * 3600.0] and created[2] % 3600 != 0     # the late one
    live = live_run(pool, workload, None, horizon, None, scale=0.000015)
    assert_same_run(outcome(live, extra_events=1), want)
