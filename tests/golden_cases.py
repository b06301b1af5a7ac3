"""The simulator runs whose outputs must not move while the engine is refactored.

Each case is a pool, a workload, a formula (or None), a horizon and a seed. The cases cover the
example files and one synthetic workload that uses every feature the engine has (start task,
job manager, preparation and release, dependencies, exit conditions, wall-clock limits,
retries, multi-instance, priorities, required slots, preemption, node failure, sample loss,
each deallocation option). ``digest(case)`` runs a case and hashes its event log, report,
timeline and autoscale runs, so a change anywhere in a run shows as a changed digest.

``python tests/golden_cases.py --write`` regenerates tests/golden/digests.json. Do that only
when a change of simulator output is intended, and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DIGESTS = ROOT / "tests" / "golden" / "digests.json"


def _pool(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())


def _features_pool(option: str, fill: str) -> dict:
    formula = (
        "$pending = $PendingTasks.GetSample(1);\n"
        "$TargetDedicatedNodes = min(6, ceil($pending / 3));\n"
        "$TargetLowPriorityNodes = min(4, max(0, ceil($pending / 3) - 6));\n"
        f"$NodeDeallocationOption = {option};\n")
    return {
        "id": f"features-{option}", "vmSize": "STANDARD_D2_v3", "taskSlotsPerNode": 3,
        "taskSchedulingPolicy": {"nodeFillType": fill},
        "enableAutoScale": True, "autoScaleFormula": formula,
        "autoScaleEvaluationInterval": "PT5M",
        "enableInterNodeCommunication": True,
        "startTask": {"commandLine": "setup", "waitForSuccess": True, "maxTaskRetryCount": 2},
        "simulation": {
            "start": "2026-03-02T00:00:00Z", "seed": 5,
            "allocationTime": {"kind": "uniform", "low": "PT1M", "high": "PT3M"},
            "bootTime": {"kind": "exponential", "mean": "PT1M"},
            "startTask": {"duration": "PT30S", "failureProbability": 0.2},
            "preemption": {"meanTimeBetween": "PT2H", "recoveryTime": "PT10M"},
            "nodeFailure": {"meanTimeBetween": "PT6H", "repairTime": "PT5M"},
            "samples": {"lossRate": 0.05},
            "prices": {"dedicated": 0.1, "lowPriority": 0.02},
        },
    }


def _features_workload() -> dict:
    def task(i: int, **kw) -> dict:
        return {"id": f"t{i}", "duration": 60 + (i * 37) % 900, "submitTime": (i * 53) % 3600,
                **kw}

    plain = [task(i, requiredSlots=1 + i % 3 if i % 5 == 0 else 1,
                  exitCodes=[1, 1, 0] if i % 7 == 0 else [0],
                  constraints={"maxTaskRetryCount": 2, "maxWallClockTime": "PT10M"}
                  if i % 11 == 0 else {"maxTaskRetryCount": 1})
             for i in range(60)]
    deps = [{"id": "d0", "duration": 120, "submitTime": 100},
            {"id": "d1", "duration": 90, "submitTime": 100, "dependsOn": {"taskIds": ["d0"]}},
            {"id": "5", "duration": 30, "submitTime": 100},
            {"id": "6", "duration": 30, "submitTime": 100, "exitCodes": [3]},
            {"id": "d2", "duration": 60, "submitTime": 200,
             "dependsOn": {"taskIdRanges": [{"start": 5, "end": 6}]}},
            {"id": "d3", "duration": 45, "submitTime": 200, "exitCodes": [4],
             "exitConditions": {"exitCodes": [{"code": 4, "exitOptions": {
                 "dependencyAction": "satisfy"}}]}},
            {"id": "d4", "duration": 45, "submitTime": 300, "dependsOn": {"taskIds": ["d3"]}},
            {"id": "mi", "duration": 300, "submitTime": 400,
             "multiInstanceSettings": {"numberOfInstances": 3,
                                       "coordinationCommandLine": "coord"}}]
    return {"jobs": [
        {"id": "plain", "priority": 10, "tasks": plain,
         "constraints": {"maxTaskRetryCount": 1},
         "jobPreparationTask": {"commandLine": "prep", "duration": 20,
                                "failureProbability": 0.1},
         "jobReleaseTask": {"commandLine": "release", "duration": 10}},
        {"id": "deps", "priority": 100, "usesTaskDependencies": True, "tasks": deps,
         "onAllTasksComplete": "terminatejob"},
        {"id": "managed", "priority": -5, "creationTime": 900,
         "jobManagerTask": {"id": "jm", "commandLine": "manage", "duration": 400,
                            "killJobOnCompletion": False},
         "tasks": [{"id": f"m{i}", "duration": 200 + i * 10, "submitTime": 950 + i * 7}
                   for i in range(20)]},
    ]}


def _autopool_workload() -> dict:
    """Two jobs, one after the other, each making its own pool (lifetime job) that a formula
    on $PendingTasks sizes: the pool is absent, made, scaled, deleted, and made again."""
    formula = ("$p = $PendingTasks.GetSample(1);\n"
               "$TargetDedicatedNodes = min(3, ceil($p / 2));\n"
               "$NodeDeallocationOption = taskcompletion;\n")
    spec = {"autoPoolIdPrefix": "golden", "poolLifetimeOption": "job",
            "pool": {"vmSize": "STANDARD_D2_v3", "taskSlotsPerNode": 2,
                     "enableAutoScale": True, "autoScaleFormula": formula,
                     "autoScaleEvaluationInterval": "PT5M",
                     "startTask": {"commandLine": "setup", "waitForSuccess": True},
                     "simulation": {"start": "2026-03-02T00:00:00Z", "seed": 7,
                                    "allocationTime": {"kind": "uniform", "low": "PT30S",
                                                       "high": "PT90S"},
                                    "bootTime": "PT20S", "startTask": {"duration": "PT10S"}}}}

    def job(name: str, at: float, n: int) -> dict:
        return {"id": name, "creationTime": at, "onAllTasksComplete": "terminatejob",
                "poolInfo": {"autoPoolSpecification": spec},
                "tasks": [{"id": f"t{i}", "submitTime": at + (i * 47) % 600,
                           "duration": 120 + (i * 83) % 600} for i in range(n)]}

    return {"jobs": [job("first", 300.0, 9), job("second", 3600.0, 6)]}


def _autopool_schedule_workload() -> dict:
    """An hourly job schedule whose jobs share one auto pool (lifetime jobschedule): made with
    the first job, kept between jobs while its formula empties it, deleted when the schedule
    completes."""
    workload = _autopool_workload()
    spec = dict(workload["jobs"][0]["poolInfo"]["autoPoolSpecification"],
                poolLifetimeOption="jobschedule")
    return {"jobSchedules": [{
        "id": "hourly",
        "schedule": {"recurrenceInterval": "PT1H", "doNotRunUntil": 300, "doNotRunAfter": 10000},
        "jobSpecification": {
            "onAllTasksComplete": "terminatejob", "poolInfo": {"autoPoolSpecification": spec},
            "jobManagerTask": {"id": "jm", "commandLine": "add", "duration": 60,
                               "killJobOnCompletion": False},
            "tasks": [{"id": f"t{i}", "duration": 120 + (i * 83) % 600,
                       "submitTime": 30 + (i * 47) % 300} for i in range(5)]}}]}


def _schedule_case() -> dict:
    """A job schedule every 6 hours for 36 hours on two fixed nodes (docs/simulation-model.md,
    "Job schedules"). A high-priority job holds both nodes from 05:50 to 12:50, so the job
    made at 06:00 is still running at 12:00: that recurrence waits and its job is made late,
    when the 06:00 job completes inside the 3 h window. Nodes held again from 23:50 to 08:50
    the next day keep the job made at 00:00 running past the 06:00 recurrence's window: that
    one is skipped."""
    hour = 3600

    def hog(at: int, hours: int) -> list[dict]:
        return [{"id": f"h{at}-{i}", "duration": hours * hour, "submitTime": at}
                for i in range(2)]

    pool = {"id": "schedules", "vmSize": "STANDARD_D2_v3", "targetDedicatedNodes": 2,
            "simulation": {"start": "2026-03-02T00:00:00Z", "seed": 2,
                           "allocationTime": {"kind": "uniform", "low": "PT1M", "high": "PT2M"},
                           "bootTime": "PT1M"}}
    workload = {
        "jobs": [{"id": "hog", "priority": 100,
                  "tasks": hog(5 * hour + 3000, 7) + hog(23 * hour + 3000, 9)}],
        "jobSchedules": [{
            "id": "every6h",
            "schedule": {"recurrenceInterval": "PT6H", "startWindow": "PT3H",
                         "doNotRunAfter": 35 * hour},
            "jobSpecification": {
                "priority": 10, "onAllTasksComplete": "terminatejob",
                "jobManagerTask": {"id": "jm", "commandLine": "add", "duration": 600,
                                   "killJobOnCompletion": False},
                "tasks": [{"id": f"t{i}", "duration": 300 + 60 * i, "submitTime": 60}
                          for i in range(5)]}}]}
    return dict(pool=pool, workload=workload, horizon=36.0 * hour)


def cases() -> dict[str, dict]:
    """name -> keyword arguments of Simulation (pool, workload, formula, horizon, seed)."""
    csv = str(EXAMPLES / "workload.csv")
    out = {
        "pool-csv": dict(pool=_pool("pool.json"), workload=csv),
        "low-priority-csv": dict(pool=_pool("low-priority-pool.json"), workload=csv, seed=3),
        "fixed-csv": dict(pool=_pool("fixed-pool.json"), workload=csv),
        "pool-generator": dict(pool=_pool("pool.json"), workload=str(EXAMPLES / "generator.yaml"),
                               horizon=30 * 3600.0),
        "pool-swf": dict(pool=_pool("pool.json"), workload=str(EXAMPLES / "workload.swf"),
                         formula=(EXAMPLES / "autoscale.formula").read_text()),
    }
    out["autopool-jobs"] = dict(pool=None, workload=_autopool_workload(), horizon=7200.0)
    out["autopool-schedule"] = dict(pool=None, workload=_autopool_schedule_workload(),
                                    horizon=12600.0)
    for option, fill in (("requeue", "spread"), ("terminate", "pack"),
                         ("taskcompletion", "spread"), ("retaineddata", "pack")):
        out[f"features-{option}"] = dict(pool=_features_pool(option, fill),
                                         workload=_features_workload(), horizon=6 * 3600.0)
    out["schedule-6h"] = _schedule_case()
    return out


def _load(workload):
    if isinstance(workload, str):
        from poolscale.scheduler.workload import read_workload
        return read_workload(workload)
    return workload


def workload_of(case: dict):
    """The case's workload as a :class:`Workload` model."""
    from poolscale.scheduler.models import load_workload

    loaded = _load(case["workload"])
    loaded = getattr(loaded, "workload", loaded)
    return loaded if hasattr(loaded, "jobs") and not isinstance(loaded, dict) else load_workload(loaded)


def outputs(case: dict, *, general_paths: bool = False) -> dict[str, str]:
    """The run's event log, report, timeline and autoscale runs, each as deterministic text.
    ``general_paths``: run every task through the paths the live engine takes (no direct start,
    no inlined fast path), which must give the same run."""
    from poolscale.scheduler import Simulation

    sim = Simulation(case["pool"], _load(case["workload"]), case.get("formula"),
                     horizon=case.get("horizon"), seed=case.get("seed"))
    if general_paths:
        sim.use_general_paths()
    sim.run()
    result = sim.result()
    return {
        "events": "\n".join(repr(e) for e in result.events),
        "report": json.dumps(result.report, sort_keys=True, default=repr),
        "timeline": "\n".join(repr(sorted(row.items())) for row in result.timeline_rows),
        "runs": "\n".join(f"{t!r} {getattr(run, 'results', run)!r}" for t, run in result.runs),
    }


def digest(case: dict, *, general_paths: bool = False) -> dict[str, str]:
    text = outputs(case, general_paths=general_paths)
    return {k: hashlib.sha256(v.encode()).hexdigest() for k, v in text.items()}


def main(argv: list[str]) -> int:
    if argv != ["--write"]:
        print(__doc__)
        return 2
    all_digests = {name: digest(case) for name, case in sorted(cases().items())}
    DIGESTS.parent.mkdir(parents=True, exist_ok=True)
    DIGESTS.write_text(json.dumps(all_digests, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(all_digests)} cases to {DIGESTS}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tests"))
    raise SystemExit(main(sys.argv[1:]))
