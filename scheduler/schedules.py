"""When a job schedule makes a job: the rules of docs/simulation-model.md "Job schedules".

One pure object, :class:`Recurrence`, holds the state of one schedule in engine seconds. Both
drivers (the simulator's kernel and the live account's clock) call it at the instants it names
and act on the :class:`Decision` it returns, so the two clocks cannot disagree on a rule.

The rules:

- Due instants form a fixed grid ``anchor + k * recurrenceInterval`` (k >= 0). The anchor is
  ``doNotRunUntil``, or the creation instant when that is absent or earlier (no job may be made
  before either). A late job does not shift the grid: the recurrences stay where a reader of
  the schedule expects them.
- A schedule has at most one job that is not completed. A due instant that finds one (or finds
  the schedule disabled) is *pending*; a later due instant replaces it and the older one is
  skipped, so nothing is carried into the next interval and a window at least as long as the
  interval acts as no window at all.
- A pending instant ``d`` is honoured when its obstacle goes (the job completes, the schedule is
  enabled) at ``t < d + startWindow``; at ``t >= d + startWindow`` it is skipped: a job made
  that late would overlap the next recurrence, so the window bounds how late one is honoured.
- No job is made at or after ``doNotRunAfter``. The schedule completes once that deadline has
  passed and no job of it is active; a schedule without recurrence completes when its one job
  completes (or its one chance is skipped). A recurring schedule without a deadline completes
  only when terminated.
- Skipped opportunities do not use up job numbers: jobs are ``<id>:job-1``, ``:job-2``, …
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .models import FieldError, ScheduleConfiguration, resolve_time

__all__ = ["Decision", "InvalidTransition", "Recurrence", "check_floor", "MIN_RECURRENCE"]

#: The service's floor for startWindow and recurrenceInterval, in seconds.
MIN_RECURRENCE = 60.0

ACTIVE, DISABLED, TERMINATING, COMPLETED, DELETING = (
    "active", "disabled", "terminating", "completed", "deleting")


class Decision(NamedTuple):
    """What the driver does now: make the next job (``Recurrence.active_job`` names it), count
    ``skipped`` lost opportunities, wake the schedule again at ``next_due`` (None: no wake
    needed), and mark the schedule completed."""

    create: bool = False
    skipped: int = 0
    next_due: float | None = None
    complete: bool = False


class InvalidTransition(ValueError):
    """An operation the schedule's state refuses; ``code`` is the Batch error code the live
    account answers with (the core names it but does not raise Batch errors itself)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_floor(config: ScheduleConfiguration, floor: float = MIN_RECURRENCE) -> None:
    """Refuse a window or interval under ``floor`` seconds. Separate from the model so the
    simulator applies the service's minute and a development account a lower floor of its own."""
    for name, value in (("startWindow", config.start_window),
                        ("recurrenceInterval", config.recurrence_interval)):
        if value is not None and value < floor:
            raise FieldError(f"schedule.{name}", f"must be at least {floor:g} seconds, got "
                                                 f"{value:g}")


_REFUSED = {
    COMPLETED: ("JobScheduleCompleted", "the job schedule is completed"),
    TERMINATING: ("JobScheduleBeingTerminated", "the job schedule is being terminated"),
    DELETING: ("JobScheduleBeingDeleted", "the job schedule is being deleted"),
}


class Recurrence:
    """The state of one job schedule, in engine seconds (see the module docstring for the rules).

    The driver calls :meth:`first_due` once, then :meth:`on_due` at every ``next_due`` a
    decision names, :meth:`on_job_completed` when the schedule's job completes, and the
    operations :meth:`disable`, :meth:`enable`, :meth:`terminate`, :meth:`delete`.
    """

    def __init__(self, config: ScheduleConfiguration, created_at: float, start_ticks: int,
                 *, schedule_id: str) -> None:
        self.schedule_id = schedule_id
        self.interval = config.recurrence_interval
        self.window = config.start_window            # None: no window
        self.deadline = resolve_time(config.do_not_run_after, start_ticks)
        until = resolve_time(config.do_not_run_until, start_ticks)
        self.anchor = created_at if until is None else max(until, created_at)
        self.state = ACTIVE
        self.n_created = 0
        self.n_skipped = 0
        self.pending: float | None = None
        self.active_job: str | None = None
        #: The next grid instant that may still make a job (None: no more of them).
        self.next_grid: float | None = self.anchor if self._before_deadline(self.anchor) else None
        self._deadline_passed = False

    # -- helpers ---------------------------------------------------------------------------

    def _before_deadline(self, t: float) -> bool:
        return self.deadline is None or t < self.deadline

    def _in_window(self, due: float, now: float) -> bool:
        return (self.window is None or now < due + self.window) and self._before_deadline(now)

    def _wake(self) -> float | None:
        """The next instant the driver must call on_due: a grid instant, else the deadline
        (the schedule may complete there), else none."""
        if self.next_grid is not None:
            return self.next_grid
        if self.deadline is not None and not self._deadline_passed and self.state in (ACTIVE, DISABLED):
            return self.deadline
        return None

    def _create(self) -> None:
        self.n_created += 1
        self.active_job = self.job_id(self.n_created)

    def _complete_if_finished(self, now: float) -> bool:
        """Complete when no job is active or pending, no grid instant is left, and either the
        one chance of a schedule without recurrence is used or the deadline has passed."""
        if (self.state in (ACTIVE, DISABLED) and self.active_job is None and self.pending is None
                and self.next_grid is None
                and ((self.interval is None and self.n_created + self.n_skipped > 0)
                     or (self.deadline is not None and now >= self.deadline))):
            self.state = COMPLETED
            return True
        return False

    # -- the grid, read ahead -----------------------------------------------------------------

    def due_count(self, until: float) -> int:
        """How many due instants the grid has at or before ``until`` and before the deadline:
        the most jobs the schedule can make by then (a bound the simulator checks up front)."""
        if self.anchor > until or not self._before_deadline(self.anchor):
            return 0
        if self.interval is None:
            return 1
        n = math.floor((until - self.anchor) / self.interval) + 1
        if self.deadline is not None:
            n = min(n, math.ceil((self.deadline - self.anchor) / self.interval))
        return n

    def due_instants(self, until: float) -> list[float]:
        """The due instants themselves (:meth:`due_count` of them): when the schedule asks for
        its jobs, whatever the pool makes of them (the plot's demand line)."""
        step = self.interval or 0.0
        return [self.anchor + k * step for k in range(self.due_count(until))]

    # -- driver calls ----------------------------------------------------------------------

    def job_id(self, n: int) -> str:
        return f"{self.schedule_id}:job-{n}"

    def first_due(self) -> float | None:
        """The first instant to call :meth:`on_due` at."""
        return self._wake()

    def on_due(self, now: float) -> Decision:
        """A grid instant (or the deadline) has come."""
        skipped = 0
        if self.state not in (ACTIVE, DISABLED):
            return Decision()
        if self.next_grid is not None and now >= self.next_grid:
            due = self.next_grid
            interval = self.interval
            nxt = due + interval if interval is not None else None
            # called late (a live account restarted after several instants): the latest
            # instant passed replaces the older ones, which are skipped
            while interval is not None and nxt is not None and nxt <= now \
                    and self._before_deadline(nxt):
                skipped += 1
                due, nxt = nxt, nxt + interval
            self.next_grid = nxt if nxt is not None and self._before_deadline(nxt) else None
            if self.state == ACTIVE and self.active_job is None:
                if self._in_window(due, now):
                    self._create()
                    self.n_skipped += skipped
                    return Decision(create=True, skipped=skipped, next_due=self._wake())
                skipped += 1            # past its window when heard (late, after a restart)
            else:
                if self.pending is not None:
                    skipped += 1
                self.pending = due
        if not self._before_deadline(now):
            self._deadline_passed = True
            if self.pending is not None:                 # nothing may be made any more
                self.pending = None
                skipped += 1
        self.n_skipped += skipped
        complete = self._complete_if_finished(now)
        return Decision(skipped=skipped, next_due=self._wake(), complete=complete)

    def _resolve_pending(self, now: float) -> Decision:
        """The obstacle to a pending instant has gone at ``now``: honour it or skip it."""
        skipped, create = 0, False
        if self.pending is not None and self.state == ACTIVE and self.active_job is None:
            due, self.pending = self.pending, None
            if self._in_window(due, now):
                self._create()
                create = True
            else:
                skipped = 1
        self.n_skipped += skipped
        complete = not create and self._complete_if_finished(now)
        return Decision(create=create, skipped=skipped, next_due=self._wake(), complete=complete)

    def on_job_completed(self, now: float) -> Decision:
        """The schedule's active job has completed at ``now``."""
        self.active_job = None
        if self.state == TERMINATING:
            self.state = COMPLETED
            return Decision(complete=True)
        if self.state == DELETING:
            return Decision()
        if self.state == DISABLED:
            return Decision(next_due=self._wake(), complete=self._complete_if_finished(now))
        return self._resolve_pending(now)

    # -- operations ------------------------------------------------------------------------

    def _refuse_unless_live(self) -> None:
        if self.state in _REFUSED:
            raise InvalidTransition(*_REFUSED[self.state])

    def disable(self, now: float) -> Decision:
        """No new jobs; the current one runs on. Due instants while disabled wait as pending."""
        self._refuse_unless_live()
        self.state = DISABLED
        return Decision(next_due=self._wake())

    def enable(self, now: float) -> Decision:
        """Back to active: the latest due instant missed while disabled is checked against its
        window now."""
        self._refuse_unless_live()
        if self.state == ACTIVE:
            raise InvalidTransition("OperationInvalidForCurrentState",
                                    "the job schedule is already active")
        self.state = ACTIVE
        return self._resolve_pending(now)

    def terminate(self, now: float) -> Decision:
        """Stop making jobs; the driver terminates :attr:`active_job` if there is one and the
        schedule completes when it has (``terminating`` until then). A pending instant is
        dropped, not counted as skipped: the user ended it, not its window."""
        self._refuse_unless_live()
        self.pending = None
        self.next_grid = None
        if self.active_job is not None:
            self.state = TERMINATING
            return Decision()
        self.state = COMPLETED
        return Decision(complete=True)

    def delete(self, now: float) -> Decision:
        """The driver deletes every job of the schedule, then forgets it."""
        if self.state == DELETING:
            raise InvalidTransition(*_REFUSED[DELETING])
        self.state = DELETING
        self.pending = None
        self.next_grid = None
        return Decision()

    def rescheduled(self, config: ScheduleConfiguration, created_at: float, now: float,
                    start_ticks: int) -> "Recurrence":
        """The schedule after a user changed its ``schedule`` at ``now``: the grid of the new
        configuration, anchored as if the schedule (created at ``created_at``) had always had
        it, from its first instant after ``now`` (the instants already past belong to the old
        configuration: a change makes no job by itself). The state, the job numbers and the
        active job stay; a pending instant of the old grid is dropped."""
        new = Recurrence(config, created_at, start_ticks, schedule_id=self.schedule_id)
        new.state, new.active_job = self.state, self.active_job
        new.n_created, new.n_skipped = self.n_created, self.n_skipped
        grid = new.next_grid
        while grid is not None and grid <= now:
            grid = grid + new.interval if new.interval is not None else None
        new.next_grid = grid if grid is not None and new._before_deadline(grid) else None
        return new

    def check_live(self) -> None:
        """Refuse a change of a schedule that is completed, terminating or being deleted
        (:class:`InvalidTransition`), as the operations do."""
        self._refuse_unless_live()

    #: what :meth:`saved` keeps: the state a driver's store needs to rebuild the recurrence
    _SAVED = ("state", "n_created", "n_skipped", "pending", "active_job", "next_grid",
              "_deadline_passed")

    def saved(self) -> dict:
        """The recurrence's state as plain JSON values (a live account stores it)."""
        return {name.lstrip("_"): getattr(self, name) for name in self._SAVED}

    def restore(self, saved: dict) -> float | None:
        """Take back a :meth:`saved` state (a restart); returns the instant to call
        :meth:`on_due` at next, which may have passed (it is then decided late)."""
        for name in self._SAVED:
            setattr(self, name, saved[name.lstrip("_")])
        return self._wake()

    def next_run_time(self, now: float) -> float | None:
        """``executionInfo.nextRunTime``: the pending instant while one waits, else the next
        grid instant that may still make a job; None once none can."""
        if self.state not in (ACTIVE, DISABLED):
            return None
        if self.pending is not None:
            return self.pending
        return self.next_grid
