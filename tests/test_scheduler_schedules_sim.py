"""Job schedules in the simulator (scheduler/scheduled.py): a workload's schedules make their
jobs on the run's clock, by the rules of scheduler/schedules.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from poolscale.runtime.cli import main
from poolscale.runtime.simview import schedule_lines
from poolscale.scheduler import Simulation
from poolscale.scheduler.documents import InputFileError
from poolscale.scheduler.models import validate_workload
from poolscale.scheduler.plaintasks import build_workload
from poolscale.scheduler.results import instant_text
from poolscale.scheduler.workload import load_workload_file

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DAY = 86_400.0


def _pool() -> dict:
    return json.loads((EXAMPLES / "cleanup-pool.json").read_text())


def _week() -> dict:
    return yaml.safe_load((EXAMPLES / "daily-schedule.yaml").read_text())


def _fixed_pool(nodes: int = 1) -> dict:
    return {"id": "p", "vmSize": "STANDARD_D2s_v3", "targetDedicatedNodes": nodes,
            "simulation": {"start": "2026-01-05T00:00:00Z", "allocationTime": "PT1M",
                           "bootTime": "PT1M"}}


def _schedule(**schedule) -> dict:
    return {"id": "s", "schedule": schedule,
            "jobSpecification": {
                "onAllTasksComplete": "terminatejob",
                "jobManagerTask": {"id": "jm", "commandLine": "m", "duration": 60,
                                   "killJobOnCompletion": False},
                "tasks": [{"id": "a", "duration": 30, "submitTime": 10},
                          {"id": "b", "duration": 30, "submitTime": 20}]}}


def test_a_schedule_makes_its_jobs_on_the_grid_with_their_tasks():
    sim = Simulation(_fixed_pool(), {"jobSchedules": [_schedule(
        recurrenceInterval="PT1H", doNotRunUntil=600, doNotRunAfter=3 * 3600)]},
        horizon="PT4H").run()
    assert [(j.id, j.created_at, j.schedule) for j in sim.jobs] == [
        ("s:job-1", 600.0, "s"), ("s:job-2", 4200.0, "s"), ("s:job-3", 7800.0, "s")]
    assert [j.state for j in sim.jobs] == ["completed"] * 3
    # the manager and the two tasks it adds, each job
    assert [sorted(t.id for t in j.tasks) for j in sim.jobs] == [["a", "b", "jm"]] * 3
    assert [t.submit_time for t in sim.jobs[1].tasks if t.id != "jm"] == [4210.0, 4220.0]
    assert sim.schedules["s"].recurrence.state == "completed"
    assert sim.schedules["s"].ended_at == 3 * 3600.0
    report = sim.result().report
    assert report["tasks"]["submitted"] == 9 and report["tasks"]["not_submitted"] == 0


def test_the_schedules_job_is_created_before_the_workloads_submissions_at_that_instant():
    workload = {"jobs": [{"id": "plain", "tasks": [{"id": "x", "duration": 5,
                                                   "submitTime": 600}]}],
                "jobSchedules": [_schedule(doNotRunUntil=600)]}
    sim = Simulation(_fixed_pool(), workload, horizon="PT2H").run()
    at_600 = [e for e in sim.events if e[0] == 600.0 and e[1] in ("job", "task.submit")]
    assert at_600 == [(600.0, "job", "s:job-1", "active"), (600.0, "task.submit", "s:job-1/jm"),
                      (600.0, "job", "plain", "active"), (600.0, "task.submit", "plain/x")]


def test_a_window_or_interval_under_a_minute_is_refused_naming_the_field():
    with pytest.raises(ValueError) as e:
        Simulation(_fixed_pool(), {"jobSchedules": [_schedule(
            recurrenceInterval="PT1H", startWindow="PT59S", doNotRunAfter=7200)]}, horizon=60)
    assert str(e.value) == ("jobSchedules[0].schedule.startWindow: must be at least 60 seconds, "
                            "got 59")


def test_a_schedules_tasks_take_offsets_not_instants():
    workload = {"jobSchedules": [_schedule(doNotRunUntil=600)]}
    workload["jobSchedules"][0]["jobSpecification"]["tasks"][1]["submitTime"] = \
        "2026-01-05T01:00:00Z"
    with pytest.raises(ValueError) as e:
        Simulation(_fixed_pool(), workload, horizon=60)
    assert str(e.value) == ("jobSchedules[0].jobSpecification.tasks[1].submitTime: seconds after "
                            "the job's creation, not an instant")


def test_a_run_without_a_horizon_waits_for_the_schedule_then_stops_when_it_completes():
    sim = Simulation(_fixed_pool(), {"jobSchedules": [_schedule(
        recurrenceInterval="PT1H", doNotRunUntil=600, doNotRunAfter=3 * 3600)]}).run()
    # the last job ended long before doNotRunAfter, where the schedule completes: the run too
    assert [j.created_at for j in sim.jobs] == [600.0, 4200.0, 7800.0]
    assert sim.result().report["simulated_seconds"] == 3 * 3600.0


def test_a_run_without_a_horizon_stops_when_a_one_job_schedule_has_made_and_ended_its_job():
    sim = Simulation(_fixed_pool(), {"jobSchedules": [_schedule(doNotRunUntil=7200)]}).run()
    (job,) = sim.jobs
    assert job.created_at == 7200.0 and job.state == "completed"
    assert sim.schedules["s"].ended_at == job.completed_at
    assert sim.result().report["simulated_seconds"] == job.completed_at
    assert sim.until == 7200.0 + 7 * 86_400.0       # the cap counts from the schedule's instant


def test_a_recurring_schedule_without_doNotRunAfter_needs_a_horizon():
    workload = {"jobSchedules": [_schedule(recurrenceInterval="P1D")]}
    with pytest.raises(ValueError) as e:
        Simulation(_fixed_pool(), workload)
    assert str(e.value) == "a recurring job schedule without doNotRunAfter needs a horizon"
    sim = Simulation(_fixed_pool(), workload, horizon="P2D").run()
    assert [j.id for j in sim.jobs] == ["s:job-1", "s:job-2", "s:job-3"]
    assert sim.schedules["s"].recurrence.state == "active"


# -- workload files --------------------------------------------------------------------------


def test_a_file_of_job_schedules_alone_is_a_workload():
    loaded = load_workload_file(EXAMPLES / "daily-schedule.yaml")
    assert loaded.workload.jobs == []
    (schedule,) = loaded.workload.job_schedules
    assert schedule.id == "nightly" and schedule.schedule.recurrence_interval == 86_400.0
    assert len(schedule.job_specification.tasks) == 20


def test_schedules_beside_jobs_read_fast_as_the_models_read_them():
    doc = {"jobs": [{"id": "a", "tasks": [{"id": "t", "duration": 5, "submitTime": 1}]}],
           "jobSchedules": [_schedule(doNotRunUntil=600)]}
    alone = {"jobSchedules": doc["jobSchedules"]}
    for document in (doc, alone):
        fast, model = build_workload(copy.deepcopy(document)), validate_workload(copy.deepcopy(document))
        assert fast == model and fast.model_fields_set == model.model_fields_set
    assert build_workload(doc).job_schedules[0].id == "s"


def test_a_bad_schedule_is_an_error_with_its_place(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("jobSchedules:\n  - id: nightly\n    schedule:\n      recurrenceInterval: -5\n"
                    "    jobSpecification:\n      jobManagerTask: {id: m, commandLine: x}\n")
    with pytest.raises(InputFileError) as e:
        load_workload_file(path)
    assert str(e.value) == (f"{path}:4: jobSchedules[0].schedule.recurrenceInterval: must be "
                            "more than 0, got -5")


def test_a_document_without_jobs_tasks_or_schedules_is_no_workload(tmp_path):
    path = tmp_path / "w.json"
    path.write_text('{"schedules": []}')
    with pytest.raises(InputFileError) as e:
        load_workload_file(path)
    assert str(e.value) == (f"{path}: no workload: expected a 'jobs' list, a 'tasks' list, a "
                            "'jobSchedules' list or a 'generator'")


def test_the_command_line_refuses_an_endless_schedule_without_a_horizon(capsys, tmp_path):
    week = _week()
    del week["jobSchedules"][0]["schedule"]["doNotRunAfter"]
    path = tmp_path / "endless.json"
    path.write_text(json.dumps(week))
    code = main(["simulate", "--pool", str(EXAMPLES / "cleanup-pool.json"), "--workload",
                 str(path), "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err == ("poolscale: cannot simulate: a recurring job schedule without doNotRunAfter "
                   "needs a horizon\n")


# -- the report ------------------------------------------------------------------------------


def test_the_report_counts_each_schedules_jobs_and_tasks():
    # one node of one slot: each job's manager and two tasks run one after another, 120 s;
    # the run ends while the third job's last task runs
    sim = Simulation(_fixed_pool(), {"jobSchedules": [_schedule(
        recurrenceInterval="PT1H", doNotRunUntil=600, doNotRunAfter=3 * 3600)]},
        horizon=7900).run()
    report = sim.result().report
    assert report["schedules"] == {"s": {
        "state": "active", "jobs_created": 3, "jobs_skipped": 0,
        "jobs": {"active": 1, "completed": 2},
        "tasks": {"submitted": 9, "succeeded": 8, "failed": 0},
        "first_job": "2026-01-05T00:10:00.000Z", "last_job": "2026-01-05T02:10:00.000Z",
        "end_time": None}}
    assert schedule_lines(report) == [
        "Schedules", "  s: active · 3 jobs (1 active), 0 skipped · 9 tasks, 8 succeeded, 0 failed"]


def test_a_workload_without_schedules_has_no_schedules_in_its_report():
    report = Simulation(_fixed_pool(), {"jobs": [{"id": "a", "tasks": [
        {"id": "t", "duration": 5}]}]}).run().result().report
    assert "schedules" not in report
    assert schedule_lines(report) == []


def test_the_summary_ends_with_a_line_per_schedule(capsys):
    code = main(["simulate", "--pool", str(EXAMPLES / "cleanup-pool.json"), "--workload",
                 str(EXAMPLES / "daily-schedule.yaml"), "--horizon", "P7D", "--no-progress"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert out.splitlines()[1].startswith(
        "workload " + str(EXAMPLES / "daily-schedule.yaml") + " (yaml, 0 tasks, 1 job schedule)")
    assert out.endswith("\nSchedules\n  nightly: completed · 7 jobs, 0 skipped · 147 tasks, "
                        "147 succeeded, 0 failed\n")


# -- acceptance: a nightly schedule for a simulated week (examples/daily-schedule.yaml) -------


def test_a_daily_schedule_runs_seven_nightly_jobs_in_a_week():
    sim = Simulation(_pool(), _week(), horizon="P7D").run()
    assert sim.start_iso == "2026-01-05T02:00:00.000Z"     # its doNotRunUntil: no start given
    assert [j.id for j in sim.jobs] == [f"nightly:job-{n}" for n in range(1, 8)]
    assert [j.created_at for j in sim.jobs] == [n * DAY for n in range(7)]
    assert [(len(j.tasks), j.n_succeeded) for j in sim.jobs] == [(21, 21)] * 7
    report = sim.result().report
    assert report["jobs"] == {"completed": 7}
    assert report["schedules"] == {"nightly": {
        "state": "completed", "jobs_created": 7, "jobs_skipped": 0, "jobs": {"completed": 7},
        "tasks": {"submitted": 147, "succeeded": 147, "failed": 0},
        "first_job": "2026-01-05T02:00:00.000Z", "last_job": "2026-01-11T02:00:00.000Z",
        "end_time": "2026-01-11T23:00:00.000Z"}}       # doNotRunAfter: the last job ended before


def test_a_job_longer_than_the_window_makes_the_next_nights_skip():
    # a 30 h manager: each job ends a little after 08:00 the next day, past that night's
    # window (02:00-06:00), so that night is skipped and the one after makes the next job
    week = _week()
    week["jobSchedules"][0]["jobSpecification"]["jobManagerTask"]["duration"] = "PT30H"
    sim = Simulation(_pool(), week, horizon="P8D").run()
    assert [j.created_at for j in sim.jobs] == [0.0, 2 * DAY, 4 * DAY, 6 * DAY]
    assert [e[0] // 3600 for e in sim.events if e[1] == "schedule.skip"] == [30.0, 78.0, 126.0]
    last = sim.jobs[-1].completed_at
    assert 6 * DAY + 30 * 3600 < last < 6 * DAY + 31 * 3600
    schedule = sim.result().report["schedules"]["nightly"]
    assert schedule == {
        "state": "completed", "jobs_created": 4, "jobs_skipped": 3, "jobs": {"completed": 4},
        "tasks": {"submitted": 84, "succeeded": 84, "failed": 0},
        "first_job": "2026-01-05T02:00:00.000Z", "last_job": "2026-01-11T02:00:00.000Z",
        "end_time": instant_text(sim.start_ticks, last)}   # after doNotRunAfter: its last job's end


def test_the_week_through_the_command_line(capsys):
    code = main(["simulate", "--pool", str(EXAMPLES / "cleanup-pool.json"), "--workload",
                 str(EXAMPLES / "daily-schedule.yaml"), "--horizon", "P7D", "--json",
                 "--no-progress"])
    out, _ = capsys.readouterr()
    assert code == 0
    doc = json.loads(out)
    assert doc["start"] == "2026-01-05T02:00:00.000Z" and doc["jobs"] == {"completed": 7}
    assert doc["schedules"]["nightly"]["jobs_created"] == 7
    assert doc["schedules"]["nightly"]["tasks"] == {"submitted": 147, "succeeded": 147,
                                                    "failed": 0}
    assert doc["tasks"]["submitted"] == 147 and doc["tasks"]["not_submitted"] == 0


def test_the_invariants_hold_after_every_event_of_a_schedules_run():
    # the golden schedule case: jobs made on the grid, late and skipped, tasks added by request
    import golden_cases
    from poolscale.scheduler.invariants import checking_steps

    case = golden_cases.cases()["schedule-6h"]
    sim = Simulation(case["pool"], case["workload"], horizon=case["horizon"])
    sim.run(on_step=checking_steps(sim))
    tasks = sim.result().report["tasks"]
    assert tasks["submitted"] == tasks["succeeded"] == 5 * 6 + 4     # 5 jobs of 6, the 4 hogs


def test_schedules_that_could_make_more_tasks_than_a_run_holds_are_refused():
    # a job of a manager and two tasks every minute for a year: 525,601 jobs, 1,576,803 tasks
    workload = {"jobSchedules": [_schedule(recurrenceInterval="PT1M")]}
    with pytest.raises(ValueError) as e:
        Simulation(_fixed_pool(), workload, horizon="P365D")
    assert str(e.value) == (
        "the job schedules could make 1,576,803 tasks in the run with the workload's own, more "
        "than the 1,000,000 a run holds (shorten the horizon or doNotRunAfter, or lengthen "
        "recurrenceInterval)")
    Simulation(_fixed_pool(), workload, horizon="P200D")      # 288,001 jobs, 864,003 tasks
    # jobs count too: a job without a task every minute for 3,000 years (a sample a day)
    bare = {"jobSchedules": [{"id": "s", "schedule": {"recurrenceInterval": "PT1M"},
                              "jobSpecification": {}}]}
    pool = _fixed_pool()
    pool["simulation"]["samples"] = {"period": "P1D"}
    with pytest.raises(ValueError) as e:
        Simulation(pool, bare, horizon=f"P{3000 * 365}D")
    assert str(e.value) == (
        "the job schedules could make 1,576,800,001 jobs in the run, more than the 1,000,000 a "
        "run holds (shorten the horizon or doNotRunAfter, or lengthen recurrenceInterval)")


class _Listening(Simulation):
    """A layer above the schedules (as the auto-pool layer is): what it hears, and when."""

    def _job_created(self, job):
        super()._job_created(job)
        self.heard.append((self.kernel.now, "created", job.id, job.schedule))

    def _job_ended(self, job):
        super()._job_ended(job)
        self.heard.append((self.kernel.now, "ended", job.id, job.schedule))

    def _schedule_ended(self, schedule_id, *, deleted):
        super()._schedule_ended(schedule_id, deleted=deleted)
        self.heard.append((self.kernel.now, "schedule ended", schedule_id, deleted))


def test_the_layers_above_hear_a_schedules_jobs_with_their_schedule_and_its_end():
    workload = {"jobs": [{"id": "plain", "tasks": [{"id": "x", "duration": 5}]}],
                "jobSchedules": [_schedule(recurrenceInterval="PT1H", doNotRunUntil=600,
                                           doNotRunAfter=3600)]}
    sim = _Listening(_fixed_pool(), workload, horizon="PT2H")
    sim.heard = []
    sim.run()
    # (the plain job, noaction, never ends)
    assert sim.heard == [(0.0, "created", "plain", None), (600.0, "created", "s:job-1", "s"),
                         (720.0, "ended", "s:job-1", "s"), (3600.0, "schedule ended", "s", False)]
