"""The pure rules of job schedules (scheduler/schedules.py): no kernel, exact instants."""

from __future__ import annotations

import pytest

from poolscale.scheduler.models import FieldError, ScheduleConfiguration
from poolscale.scheduler.schedules import (
    Decision, InvalidTransition, Recurrence, check_floor,
)

DAY = 86400.0


def rec(created_at: float = 0.0, **config) -> Recurrence:
    return Recurrence(ScheduleConfiguration.model_validate(config), created_at, 0, schedule_id="s")


def test_one_shot_without_do_not_run_until_is_due_at_creation_and_completes_with_its_job():
    r = rec(created_at=42.0)
    assert r.first_due() == 42.0
    assert r.next_run_time(0.0) == 42.0
    assert r.on_due(42.0) == Decision(create=True, next_due=None)
    assert r.active_job == "s:job-1"
    assert r.next_run_time(42.0) is None
    assert r.on_job_completed(100.0) == Decision(complete=True)
    assert (r.state, r.n_created, r.n_skipped, r.next_run_time(100.0)) == ("completed", 1, 0, None)


def test_daily_grid_from_do_not_run_until_and_job_ids():
    r = rec(doNotRunUntil=7200, recurrenceInterval="P1D")
    assert r.first_due() == 7200.0
    due, created = r.first_due(), []
    for _ in range(3):
        d = r.on_due(due)
        assert d.create
        created.append((due, r.active_job))
        r.on_job_completed(due + 600)
        due = d.next_due
    assert created == [(7200.0, "s:job-1"), (7200.0 + DAY, "s:job-2"), (7200.0 + 2 * DAY, "s:job-3")]
    assert r.job_id(3) == "s:job-3"
    assert r.state == "active" and r.next_run_time(due - 1) == 7200.0 + 3 * DAY


def test_a_do_not_run_until_before_creation_anchors_at_creation():
    assert rec(created_at=500.0, doNotRunUntil=100, recurrenceInterval=3600).first_due() == 500.0


@pytest.mark.parametrize("done, creates", [(3599.0, True), (3600.0, False)])
def test_pending_due_is_honoured_inside_its_window_only(done, creates):
    r = rec(recurrenceInterval="P1D", startWindow="PT1H")
    r.on_due(0.0)                                   # job-1
    r.on_due(0.0 + 0)                               # not a grid instant any more: nothing
    d = r.on_due(DAY)                               # job-1 still active: pending
    assert d == Decision(next_due=2 * DAY) and r.pending == DAY
    assert r.next_run_time(DAY) == DAY
    d = r.on_job_completed(DAY + done)
    assert d == Decision(create=creates, skipped=0 if creates else 1, next_due=2 * DAY)
    assert (r.n_created, r.n_skipped) == ((2, 0) if creates else (1, 1))
    assert r.active_job == ("s:job-2" if creates else None)


def test_a_later_due_replaces_the_older_pending_one():
    r = rec(recurrenceInterval=100)
    r.on_due(0.0)
    assert r.on_due(100.0) == Decision(next_due=200.0)
    assert r.on_due(200.0) == Decision(skipped=1, next_due=300.0)
    assert (r.pending, r.n_skipped) == (200.0, 1)
    assert r.on_job_completed(250.0) == Decision(create=True, next_due=300.0)
    assert (r.active_job, r.n_created) == ("s:job-2", 2)


def test_a_window_longer_than_the_interval_acts_as_none():
    r = rec(recurrenceInterval=100, startWindow=1000)
    r.on_due(0.0)
    r.on_due(100.0)
    r.on_due(200.0)                                 # replaces 100: one skip
    assert r.on_job_completed(2 * 100.0 + 99).create
    assert (r.n_created, r.n_skipped) == (2, 1)


@pytest.mark.parametrize("window, creates", [(60, True), (5, False)])
def test_due_while_disabled_waits_for_enable_within_its_window(window, creates):
    r = rec(created_at=20.0, startWindow=window, recurrenceInterval=1000)
    assert r.disable(10.0) == Decision(next_due=20.0)
    assert r.on_due(20.0) == Decision(next_due=1020.0)
    assert (r.state, r.active_job, r.pending) == ("disabled", None, 20.0)
    d = r.enable(30.0)
    assert d == Decision(create=creates, skipped=0 if creates else 1, next_due=1020.0)
    assert r.state == "active" and r.n_skipped == (0 if creates else 1)


def test_do_not_run_after_a_due_at_the_deadline_makes_no_job_and_completes():
    r = rec(recurrenceInterval=100, doNotRunAfter=200)
    assert r.on_due(0.0).create
    r.on_job_completed(10.0)
    assert r.on_due(100.0) == Decision(create=True, next_due=200.0)
    assert r.next_run_time(100.0) is None
    assert r.on_due(200.0) == Decision(next_due=None)            # job-2 still active
    assert r.state == "active"
    assert r.on_job_completed(250.0) == Decision(complete=True)
    assert (r.state, r.n_created) == ("completed", 2)


def test_deadline_with_no_job_active_completes_at_the_deadline_and_skips_the_pending():
    r = rec(recurrenceInterval=100, doNotRunAfter=150)
    r.on_due(0.0)
    r.on_due(100.0)                                              # pending behind job-1
    assert r.on_due(150.0) == Decision(skipped=1)
    r2 = rec(recurrenceInterval=100, doNotRunAfter=150)
    r2.on_due(0.0)
    r2.on_job_completed(1.0)
    r2.on_due(100.0)
    r2.on_job_completed(101.0)
    assert r2.on_due(150.0) == Decision(complete=True)
    assert r2.state == "completed"


def test_a_pending_instant_is_not_honoured_after_the_deadline():
    r = rec(recurrenceInterval=100, doNotRunAfter=150)
    r.on_due(0.0)
    r.on_due(100.0)
    assert r.on_job_completed(160.0) == Decision(skipped=1, complete=True)
    assert r.state == "completed"


def test_recurring_without_deadline_never_completes_by_itself():
    r = rec(recurrenceInterval=60)
    r.on_due(0.0)
    assert r.on_job_completed(5.0) == Decision(next_due=60.0)
    assert r.state == "active"


def test_terminate_with_an_active_job_waits_for_it():
    r = rec(recurrenceInterval=60)
    r.on_due(0.0)
    assert r.terminate(10.0) == Decision()
    assert (r.state, r.active_job, r.next_run_time(10.0)) == ("terminating", "s:job-1", None)
    assert r.on_due(60.0) == Decision()
    with pytest.raises(InvalidTransition) as e:
        r.terminate(11.0)
    assert e.value.code == "JobScheduleBeingTerminated"
    assert r.on_job_completed(20.0) == Decision(complete=True)
    with pytest.raises(InvalidTransition) as e:
        r.terminate(21.0)
    assert e.value.code == "JobScheduleCompleted"
    with pytest.raises(InvalidTransition) as e:
        r.disable(21.0)
    assert e.value.code == "JobScheduleCompleted"


def test_terminate_without_a_job_completes_at_once():
    r = rec(recurrenceInterval=60)
    assert r.terminate(0.0) == Decision(complete=True)
    assert r.state == "completed"


def test_enable_of_an_active_schedule_and_operations_while_deleting():
    r = rec()
    with pytest.raises(InvalidTransition) as e:
        r.enable(0.0)
    assert e.value.code == "OperationInvalidForCurrentState"
    assert r.delete(0.0) == Decision()
    for op in (r.enable, r.disable, r.terminate, r.delete):
        with pytest.raises(InvalidTransition) as e:
            op(1.0)
        assert e.value.code == "JobScheduleBeingDeleted"
    assert r.next_run_time(1.0) is None


@pytest.mark.parametrize("field", ["startWindow", "recurrenceInterval"])
def test_floor_of_one_minute_names_the_field(field):
    config = ScheduleConfiguration.model_validate({field: "PT59S"})
    with pytest.raises(FieldError) as e:
        check_floor(config)
    assert str(e.value) == f"schedule.{field}: must be at least 60 seconds, got 59"
    check_floor(config, floor=1.0)
    check_floor(ScheduleConfiguration.model_validate({field: "PT1M"}))


def test_rescheduled_keeps_jobs_and_state_and_counts_its_grid_from_creation():
    r = rec(recurrenceInterval=3600)
    r.on_due(0.0)                               # s:job-1 made, active
    r.disable(10.0)
    r.on_due(3600.0)                            # pending while disabled
    new = r.rescheduled(ScheduleConfiguration.model_validate({"recurrenceInterval": 600}),
                        0.0, 4000.0, 0)
    assert (new.state, new.active_job, new.n_created, new.n_skipped) == (
        "disabled", "s:job-1", 1, 0)
    # 0, 600, ..., 3600 are past: the first instant of the new grid after the change is 4200
    assert (new.pending, new.first_due(), new.next_run_time(4000.0)) == (None, 4200.0, 4200.0)
    assert new.on_due(4200.0) == Decision(next_due=4800.0)     # pending: disabled
    new.enable(4300.0)
    assert new.on_job_completed(4400.0) == Decision(create=True, next_due=4800.0)
    assert new.active_job == "s:job-2"


def test_rescheduled_one_shot_that_ran_makes_no_job_again():
    r = rec()
    r.on_due(0.0)
    new = r.rescheduled(ScheduleConfiguration.model_validate({}), 0.0, 50.0, 0)
    assert (new.first_due(), new.active_job) == (None, "s:job-1")


def test_a_late_due_call_skips_the_older_instants_and_makes_the_latest_in_its_window():
    r = rec(recurrenceInterval=600, startWindow=120)
    assert r.on_due(0.0) == Decision(create=True, next_due=600.0)
    r.on_job_completed(10.0)
    # the driver was down from 10 to 1850: 600 and 1200 passed, 1800 is inside its window
    assert r.on_due(1850.0) == Decision(create=True, skipped=2, next_due=2400.0)
    assert (r.active_job, r.n_created, r.n_skipped) == ("s:job-2", 2, 2)


def test_a_late_due_call_past_the_window_skips_the_instant():
    r = rec(recurrenceInterval=600, startWindow=120)
    r.on_due(0.0)
    r.on_job_completed(10.0)
    assert r.on_due(750.0) == Decision(skipped=1, next_due=1200.0)
    assert (r.active_job, r.pending, r.n_created, r.n_skipped) == (None, None, 1, 1)
    assert r.next_run_time(750.0) == 1200.0


def test_saved_and_restored_state_decides_as_before():
    r = rec(recurrenceInterval=600)
    r.on_due(0.0)
    again = rec(recurrenceInterval=600)
    assert again.restore(r.saved()) == 600.0
    assert (again.active_job, again.n_created, again.next_grid) == ("s:job-1", 1, 600.0)
    assert again.on_due(600.0) == r.on_due(600.0) == Decision(next_due=1200.0)
    r.terminate(700.0)
    with pytest.raises(InvalidTransition) as info:
        r.check_live()
    assert info.value.code == "JobScheduleBeingTerminated"


def test_the_grid_read_ahead_counts_the_instants_before_the_deadline_and_up_to_the_end():
    from poolscale.scheduler.models import ScheduleConfiguration
    from poolscale.scheduler.schedules import Recurrence

    def rec(**config):
        return Recurrence(ScheduleConfiguration.model_validate(config), 10.0, 0,
                          schedule_id="s")

    daily = rec(doNotRunUntil=100, recurrenceInterval=1000, doNotRunAfter=2100)
    assert daily.due_instants(5000.0) == [100.0, 1100.0]          # 2100 is the deadline
    assert daily.due_instants(1100.0) == [100.0, 1100.0]          # the end itself counts
    assert daily.due_instants(99.0) == []
    assert rec(recurrenceInterval=60).due_count(10.0 + 600) == 11  # from the creation instant
    assert rec().due_instants(5.0) == [] and rec().due_instants(10.0) == [10.0]
    assert rec(doNotRunUntil=50, doNotRunAfter=50.5).due_count(1e9) == 1
