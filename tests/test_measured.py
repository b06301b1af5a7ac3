"""A live run's measurements as a workload the simulator replays (scheduler/measured.py)."""

from __future__ import annotations

import pytest

import golden_cases
from poolscale.scheduler import simulate
from poolscale.scheduler.measured import measured_attempts, measured_workload, prediction_error
from poolscale.scheduler.models import load_workload


def test_attempts_are_read_from_the_event_log():
    events = [
        (0.0, "task.start", "j/a", "tvm-000001"),
        (10.0, "task.retry", "j/a", 3),
        (12.0, "task.start", "j/a", "tvm-000002"),
        (30.0, "task.end", "j/a", "success", 0),
        (5.0, "task.start", "j/b", "tvm-000001"),
        (9.0, "task.requeue", "j/b"),                 # interrupted: no measure
        (20.0, "task.start", "j/b", "tvm-000001"),
        (80.0, "task.end", "j/b", "failure", -1073741510),
        (1.0, "task.start", "j/c", "tvm-000003"),
        (2.0, "task.end", "j/c", "failure", None),    # killed by a terminate: no measure
        (3.0, "task.end", "j/d", "failure", None),    # never ran
    ]
    assert measured_attempts(events) == {"j/a": [(10.0, 3), (18.0, 0)],
                                         "j/b": [(60.0, -1073741510)]}


def test_measured_durations_and_codes_replace_the_declared_ones():
    workload = load_workload({"jobs": [{"id": "j", "tasks": [
        {"id": "a", "duration": 5, "exitCodes": [0]},
        {"id": "b", "duration": 5, "constraints": {"maxWallClockTime": "PT1M"}},
        {"id": "c", "duration": 7}]}]})
    events = [(0.0, "task.start", "j/a", "n"), (10.0, "task.retry", "j/a", 3),
              (12.0, "task.start", "j/a", "n"), (30.0, "task.end", "j/a", "success", 0),
              (0.0, "task.start", "j/b", "n"), (60.0, "task.end", "j/b", "failure", -1073741510)]
    tasks = measured_workload(workload, events).jobs[0].tasks
    assert [(t.id, t.duration, t.exit_codes) for t in tasks] == [
        ("a", 14.0, [3, 0]),      # the mean of 10 s and 18 s; the codes in order
        ("b", 61.0, [0]),         # past its wall clock, so the replay stops it there too
        ("c", 7.0, [0]),          # never ran: as declared
    ]


def test_a_schedules_task_lasts_the_mean_of_its_runs_in_every_job_the_schedule_made():
    workload = load_workload({"jobSchedules": [{
        "id": "s", "schedule": {"recurrenceInterval": "PT1M"},
        "jobSpecification": {"tasks": [{"id": "t", "duration": 1}, {"id": "u", "duration": 9}]}}],
        "jobs": [{"id": "s2", "tasks": [{"id": "t", "duration": 1}]}]})
    events = [(0.0, "task.start", "s:job-1/t", "n"), (2.0, "task.end", "s:job-1/t", "success", 0),
              (60.0, "task.start", "s:job-2/t", "n"), (63.0, "task.retry", "s:job-2/t", 5),
              (63.0, "task.start", "s:job-2/t", "n"), (70.0, "task.end", "s:job-2/t", "success", 0),
              (0.0, "task.start", "s2/t", "n"), (50.0, "task.end", "s2/t", "success", 0)]
    measured = measured_workload(workload, events)
    tasks = measured.job_schedules[0].job_specification.tasks
    assert [(t.id, t.duration, t.exit_codes) for t in tasks] == [
        ("t", 4.0, [0]),          # the mean of 2, 3 and 7 s; the first job's codes
        ("u", 9.0, [0]),          # never ran: as declared
    ]
    assert measured.jobs[0].tasks[0].duration == 50.0     # job s2 is not the schedule's


@pytest.mark.parametrize("name", ["features-requeue", "features-terminate", "pool-csv"])
def test_a_simulated_run_predicts_itself_exactly(name):
    # measured == declared, so the replay is the same run: every error is 0
    case = golden_cases.cases()[name]
    workload = golden_cases.workload_of(case)
    kw = dict(horizon=case.get("horizon"), seed=case.get("seed"))
    first = simulate(case["pool"], workload, case.get("formula"), **kw)
    again = simulate(case["pool"], measured_workload(workload, first.events), case.get("formula"), **kw)
    errors = prediction_error(first.report, again.report)
    assert {k: v["error"] for k, v in errors.items() if v["measured"]} == \
        {k: 0.0 for k, v in errors.items() if v["measured"]}
    assert errors["node_hours"]["measured"] > 0


def test_prediction_error_is_relative_to_the_measurement():
    measured = {"node_hours": {"dedicated": 10.0, "low_priority": 0.0}, "makespan_seconds": 100.0,
                "wait_seconds": {"p95": None}}
    predicted = {"node_hours": {"dedicated": 12.5, "low_priority": 1.0}, "makespan_seconds": 90.0,
                 "wait_seconds": {"p95": 3.0}}
    assert prediction_error(measured, predicted) == {
        "node_hours": {"measured": 10.0, "predicted": 12.5, "error": 0.25},
        "low_priority_node_hours": {"measured": 0.0, "predicted": 1.0, "error": None},
        "makespan_seconds": {"measured": 100.0, "predicted": 90.0, "error": -0.1},
        "wait_p95_seconds": {"measured": None, "predicted": 3.0, "error": None},
    }
