"""WorkloadRun (runtime/service/workloadrun.py): a workload's submission stream run for real
on one live pool until it drains."""

from __future__ import annotations

import datetime as dt
import threading

from poolscale.formula.timeparse import parse_iso_time
from poolscale.runtime.service.settings import AccountSettings
from poolscale.runtime.service.workloadrun import WorkloadRun
from poolscale.scheduler.models import load_pool, load_workload

POOL = {"id": "local", "vmSize": "STANDARD_D2_v3", "taskSlotsPerNode": 1,
        "targetDedicatedNodes": 1}
REFERENCE = parse_iso_time("2026-01-05T00:00:00Z").ticks


def wall():
    return dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=dt.timezone.utc)


def make(tmp_path, jobs):
    return WorkloadRun(load_pool(POOL), load_workload({"jobs": jobs}), reference_ticks=REFERENCE,
                       settings=AccountSettings(data_dir=tmp_path / "data"), wall_clock=wall,
                       seed=7)


def run_within(live, seconds=10.0):
    done = threading.Event()
    thread = threading.Thread(target=lambda: (live.run(), done.set()), daemon=True)
    thread.start()
    assert done.wait(seconds), "the run did not drain"
    return live


def test_an_iso_submit_time_is_an_offset_from_the_reference_and_start_is_the_real_instant(tmp_path):
    live = run_within(make(tmp_path, [{"id": "j", "tasks": [
        {"id": "late", "commandLine": "/bin/true", "submitTime": "2026-01-05T00:00:00.300Z"}]}]))
    report = live.report()
    assert report["start"] == "2026-03-01T12:00:00.123Z"
    assert report["seed"] == 7
    assert report["tasks"]["succeeded"] == 1
    submits = [e for e in live.events if e[1] == "task.submit"]
    assert submits == [(0.3, "task.submit", "j/late")]
    assert not live.interrupted


def test_a_workload_without_tasks_has_drained_at_once(tmp_path):
    live = run_within(make(tmp_path, []))
    report = live.report()
    assert report["tasks"]["submitted"] == 0
    assert report["simulated_seconds"] == 0.0


def test_the_event_log_keeps_every_attempt_for_the_prediction(tmp_path):
    live = run_within(make(tmp_path, [{"id": "j", "tasks": [
        {"id": "a", "commandLine": "/bin/sh -c 'exit 4'",
         "constraints": {"maxTaskRetryCount": 1}}]}]))
    kinds = [(e[1], e[2]) for e in live.events if e[1].startswith("task.")]
    assert kinds == [("task.submit", "j/a"), ("task.start", "j/a"), ("task.retry", "j/a"),
                     ("task.start", "j/a"), ("task.end", "j/a")]
    ends = [e[1:] for e in live.events if e[1] in ("task.retry", "task.end")]
    assert ends == [("task.retry", "j/a", 4), ("task.end", "j/a", "failure", 4)]


def test_a_job_schedule_makes_its_jobs_on_the_real_clock_and_the_run_drains_after_it(tmp_path):
    # the simulator's schedule layer on the live clock, 60x faster: a job each engine minute
    # until doNotRunAfter (150 s), each with a manager and one task added as the job is made
    # (a later one would find the job ended: its manager takes a fraction of a second)
    workload = load_workload({"jobSchedules": [{
        "id": "s", "schedule": {"recurrenceInterval": "PT1M", "doNotRunAfter": 150},
        "jobSpecification": {
            "onAllTasksComplete": "terminatejob",
            "jobManagerTask": {"id": "m", "commandLine": "/bin/true",
                               "killJobOnCompletion": False},
            "tasks": [{"id": "t", "commandLine": "/bin/true", "submitTime": 0}]}}]})
    live = WorkloadRun(load_pool(POOL), workload, reference_ticks=REFERENCE,
                       settings=AccountSettings(data_dir=tmp_path / "data"), wall_clock=wall,
                       seed=7, scale=1 / 60)
    run_within(live, 20.0)
    made = [(e[0], e[2]) for e in live.events if e[1] == "job" and e[3] == "active"]
    assert made == [(0.0, "s:job-1"), (60.0, "s:job-2"), (120.0, "s:job-3")]
    report = live.report()
    assert report["schedules"]["s"]["jobs_created"] == 3
    assert report["schedules"]["s"]["state"] == "completed"
    assert (report["tasks"]["succeeded"], report["tasks"]["rejected"]) == (6, 0)


def test_a_job_that_makes_its_own_pool_runs_on_it_and_the_pool_goes_with_the_job(tmp_path):
    # the simulator's auto pool layer on the live clock: the job's pool is made at the job's
    # creation, sized by its formula, and deleted when the job completes
    from poolscale.scheduler.autopooled import find_auto_pool
    from poolscale.scheduler.autopools import auto_pool_id

    workload = load_workload({"jobs": [{
        "id": "j", "onAllTasksComplete": "terminatejob",
        "poolInfo": {"autoPoolSpecification": {
            "autoPoolIdPrefix": "run", "poolLifetimeOption": "job",
            "pool": {"vmSize": "STANDARD_D2_v3", "taskSlotsPerNode": 1,
                     "enableAutoScale": True,
                     "autoScaleFormula": "$TargetDedicatedNodes = 2;"}}},
        "tasks": [{"id": f"t{i}", "commandLine": "/bin/true", "submitTime": 1}
                  for i in range(4)]}]})
    live = WorkloadRun(find_auto_pool(workload).pool, workload, reference_ticks=REFERENCE,
                       settings=AccountSettings(data_dir=tmp_path / "data"), wall_clock=wall,
                       seed=7, scale=1 / 60)
    run_within(live, 20.0)
    report = live.report()
    assert report["tasks"]["succeeded"] == 4
    pools = report["auto_pool"]["pools"]
    assert [p["id"] for p in pools] == [auto_pool_id("run", "j", 1)]
    # made with the job, which is created with its first task's submission, 1 s in
    assert pools[0]["created"] == "2026-03-01T12:00:01.123Z"
    ended = [e[0] for e in live.events if e[1] == "job" and e[3] == "completed"]
    deleted = [e[0] for e in live.events if e[1] == "pool.deleted"]
    assert deleted == ended and len(deleted) == 1
    assert live.nodes == {} or all(n.state == "leavingpool" for n in live.nodes.values())
