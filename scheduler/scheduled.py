"""Job schedules on the engine's clock: the driver of scheduler/schedules.py's rules.

A workload's ``jobSchedules`` make jobs while the run goes on. Every rule of *when* a schedule
makes a job (the grid, the start window, one active job, ``doNotRunAfter``) is
:class:`~.schedules.Recurrence`'s; this layer only wakes each schedule at the instants its
decisions name, makes the job a decision asks for (an ordinary request, ``add_job``), submits
the tasks its job manager would add (``jobSpecification.tasks``, ``submitTime`` counted from
the job's creation) as requests too, and tells the recurrence when the job completes. So the
simulator and the live account, which drives the same recurrences on the real clock, cannot
disagree on a rule.

Its timers are of rank SUBMIT: a schedule's job due at t exists before the scheduling pass at
t, as a workload job created at t does, and before the workload's own submissions at t (heap
entries of a rank run before the stream's entry of that rank). They are armed when the pool
comes up (``Engine._start``), never at construction, so a kernel swapped in between (the
differential test runs a simulation on the live kernel) still gets them.
"""

from __future__ import annotations


from .kernel import SUBMIT
from .limits import MAX_TASKS
from .models import AbsoluteTime, JobScheduleSpec, JobSpec, TaskSpec, Workload
from .requests import RequestsMixin
from .schedules import COMPLETED, Decision, Recurrence, check_floor
from .tasks import Job

__all__ = ["SchedulesMixin", "ScheduleRun"]


class ScheduleRun:
    """One workload schedule during a run: its recurrence, the jobs it made, when it ended.

    ``template`` is the job specification without the workload-only tasks (those are
    submitted one by one as requests, ``tasks``); ``armed`` is the instant of the one wake-up
    timer that counts (an older timer finds it changed and does nothing)."""

    __slots__ = ("id", "recurrence", "template", "tasks", "jobs", "ended_at", "armed")

    def __init__(self, spec: JobScheduleSpec, recurrence: Recurrence) -> None:
        self.id = spec.id
        self.recurrence = recurrence
        self.template = spec.job_specification.model_copy(update={"tasks": []})
        self.tasks: list[TaskSpec] = list(spec.job_specification.tasks)
        self.jobs: list[Job] = []
        self.ended_at: float | None = None
        self.armed: float | None = None

    def job_spec(self, n: int) -> JobSpec:
        """The schedule's n-th job, named as the recurrence names it."""
        return self.template.model_copy(update={"id": self.recurrence.job_id(n)})

    @property
    def live(self) -> bool:
        """Whether the schedule may still make a job (or its job is still to end)."""
        return self.recurrence.state != COMPLETED


def _relative_tasks(spec: JobScheduleSpec, index: int) -> None:
    """A schedule's tasks arrive at offsets from each job's creation: an ISO instant would
    name one day for every job."""
    for k, task in enumerate(spec.job_specification.tasks):
        if isinstance(task.submit_time, AbsoluteTime):
            raise ValueError(f"jobSchedules[{index}].jobSpecification.tasks[{k}].submitTime: "
                             "seconds after the job's creation, not an instant")


class SchedulesMixin(RequestsMixin):
    """The job schedules of a workload (see the module docstring)."""

    def _init_schedules(self, workload: Workload) -> None:
        """A recurrence per schedule, created with the run (engine time 0). The service's
        one-minute floor of startWindow and recurrenceInterval applies, a ValueError naming
        the field (schedules.check_floor)."""
        for i, spec in enumerate(workload.job_schedules):
            try:
                check_floor(spec.schedule)
            except ValueError as e:
                raise ValueError(f"jobSchedules[{i}].{e}") from None
            _relative_tasks(spec, i)
            rec = Recurrence(spec.schedule, 0.0, self.start_ticks, schedule_id=spec.id)
            self.schedules[spec.id] = ScheduleRun(spec, rec)

    def _arm_schedules(self) -> None:
        """Each schedule's first wake-up (called by ``Engine._start``)."""
        for run in self.schedules.values():
            self._arm(run, run.recurrence.first_due())

    def _arm(self, run: ScheduleRun, at: float | None) -> None:
        if at is None or at == run.armed:
            return
        run.armed = at
        self.kernel.at(max(at, self.kernel.now), SUBMIT, self._on_schedule_due, run, at)

    def _on_schedule_due(self, run: ScheduleRun, at: float) -> None:
        if run.armed != at:
            return                      # a wake-up a later decision replaced
        run.armed = None
        self._apply(run, run.recurrence.on_due(self.kernel.now))

    def _apply(self, run: ScheduleRun, decision: Decision) -> None:
        """Act on a recurrence's decision, in the order it reads."""
        now = self.kernel.now
        if decision.skipped and self._log is not None:
            self._log((now, "schedule.skip", run.id, decision.skipped))
        if decision.create:
            self._make_job(run)
        self._arm(run, decision.next_due)
        if decision.complete:
            run.ended_at = now
            if self._log is not None:
                self._log((now, "schedule", run.id, COMPLETED))
            self._schedule_ended(run.id, deleted=False)
            self._check_drained()

    def _make_job(self, run: ScheduleRun) -> None:
        """The recurrence's new job, now, and the tasks its job manager would add."""
        now = self.kernel.now
        self._making = run
        try:
            job = self.add_job(run.job_spec(run.recurrence.n_created), len(self.jobs))
        finally:
            self._making = None
        run.jobs.append(job)
        for task in run.tasks:
            self.kernel.at(now + task.submit_time, SUBMIT, self._on_schedule_task, job, task)

    def _on_schedule_task(self, job: Job, spec: TaskSpec) -> None:
        self.add_task(job, spec)

    def _job_created(self, job: Job) -> None:
        """A job made for a schedule knows it before any later layer hears of the job."""
        if self._making is not None and job.schedule is None:
            job.schedule = self._making.id
        super()._job_created(job)

    def _job_ended(self, job: Job) -> None:
        super()._job_ended(job)
        if job.schedule is not None:
            run = self.schedules.get(job.schedule)
            if run is not None:
                self._apply(run, run.recurrence.on_job_completed(self.kernel.now))

    def _schedules_live(self) -> bool:
        """Whether some schedule may still make a job: the run has not drained."""
        return any(run.live for run in self.schedules.values())

    def _check_schedule_tasks(self, until: float) -> None:
        """Refuse a run whose schedules could make more than MAX_TASKS tasks (job managers
        included) with the workload's own, the bound a workload file has, or more than as many
        jobs (a job costs what a task does): a schedule every minute for centuries would
        otherwise run for hours, or out of memory, before it said anything."""
        total, made = self.n_workload_tasks, 0
        for run in self.schedules.values():
            jobs = run.recurrence.due_count(until)
            per_job = len(run.tasks) + (run.template.job_manager_task is not None)
            total += jobs * per_job
            made += jobs
        if made > MAX_TASKS:
            raise ValueError(f"the job schedules could make {made:,} jobs in the run, more than "
                             f"the {MAX_TASKS:,} a run holds (shorten the horizon or "
                             "doNotRunAfter, or lengthen recurrenceInterval)")
        if total > MAX_TASKS:
            raise ValueError(f"the job schedules could make {total:,} tasks in the run with the "
                             f"workload's own, more than the {MAX_TASKS:,} a run holds (shorten "
                             "the horizon or doNotRunAfter, or lengthen recurrenceInterval)")

    def _last_schedule_instant(self) -> float | None:
        """The latest instant a schedule may make a job: a recurring schedule's deadline, a
        schedule without recurrence its one due instant. ValueError for a recurring schedule
        without a deadline: it never ends by itself."""
        last = None
        for run in self.schedules.values():
            rec = run.recurrence
            if rec.interval is None:
                at = rec.anchor
            elif rec.deadline is None:
                raise ValueError("a recurring job schedule without doNotRunAfter needs a horizon")
            else:
                at = rec.deadline
            last = at if last is None else max(last, at)
        return last
