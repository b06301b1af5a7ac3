"""Job schedules of the live account: a schedule makes ``<scheduleId>:job-<n>`` as time goes on.

When a schedule makes a job, skips a due instant or completes is decided by
``poolscale.scheduler.schedules.Recurrence`` alone (the simulator's schedule layer asks the same
object), so the real clock and the simulated one cannot disagree on a rule. This mixin of
:class:`~.account.Account` only drives it: it wakes each schedule at the instants its decisions
name (an event on the account's shared kernel, engine seconds), makes the job a decision asks
for through the account's one job path (``_make_job``, which also gives a job of an
``autoPoolSpecification`` its pool), tells the recurrence when that job has completed, and turns
a refused transition into the Batch error the service answers with.

A schedule and a job share one id space: the service refuses a schedule with a job's id
(``JobWithSameIdExists``) and a job with a schedule's (``JobScheduleWithSameIdExists``).

Every change is written to the store in the turn that made it (persist.py ``note_schedule``); at
a restart recovery.py rebuilds each schedule after the pools and jobs and re-arms it, so a due
instant missed while the account was down is decided then with its original instant.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from poolscale.scheduler.kernel import SUBMIT
from poolscale.scheduler.models import FieldError, JobScheduleSpec
from poolscale.scheduler.schedules import Decision, InvalidTransition, Recurrence, check_floor

from . import errors as E
from .account_autopools import floored_job, given_auto_pool
from .ids import check_id, id_key, split_job_id
from .kept import JOB_EXTRAS, check_extras, extras as given_extras
from .views import iso

__all__ = ["JobSchedule", "ScheduleOperations", "SCHEDULE_EXTRAS"]

#: a schedule's properties the engine does not model, echoed as given
SCHEDULE_EXTRAS = ("displayName", "metadata")


class JobSchedule:
    """One job schedule: its model, the ``schedule`` and ``jobSpecification`` as given (its view
    echoes them), its :class:`Recurrence`, its state history ``[(state, engine seconds)]``, its
    kept extras and when a user last changed it. ``wake`` counts the schedule's wake-ups armed,
    so a wake-up made stale by a later decision (an operation, a restart) does nothing."""

    __slots__ = ("spec", "given", "recurrence", "created_at", "modified_at", "history",
                 "extras", "wake")

    def __init__(self, spec: JobScheduleSpec, given: dict[str, Any], recurrence: Recurrence,
                 created_at: float, extras: dict[str, Any]) -> None:
        self.spec, self.given, self.recurrence = spec, given, recurrence
        self.created_at = self.modified_at = created_at
        self.history: list[tuple[str, float]] = [("active", created_at)]
        self.extras = extras
        self.wake = 0

    @property
    def id(self) -> str:
        return self.spec.id

    def owns(self, job_id: str) -> bool:
        """Whether ``job_id`` is one of this schedule's jobs (``<id>:job-<n>``)."""
        if ":" not in job_id:
            return False
        return id_key(split_job_id(job_id)[0]) == id_key(self.spec.id)

    def row(self) -> dict[str, Any]:
        """The store's row (schema/006.sql): the schedule as given and its recurrence's state."""
        return {"id": id_key(self.spec.id), "schedule_id": self.spec.id,
                "given": json.dumps(self.given),
                "extras": json.dumps(self.extras), "created": self.created_at,
                "modified": self.modified_at, "history": json.dumps(self.history),
                "recurrence": json.dumps(self.recurrence.saved())}


def _schedule_model(spec: Mapping[str, Any], settings: Any, *,
                    floor: bool = True) -> JobScheduleSpec:
    """The schedule's model, or the Batch error naming the first refused field (a window or
    interval under the account's floor included; ``floor`` False: a stored schedule, taken
    under the floor of its day, comes back whatever the floor is now)."""
    from .account import _model

    job = spec.get("jobSpecification")
    floored = {**spec, "jobSpecification": floored_job(job, settings)} \
        if isinstance(job, Mapping) else spec
    model = _model(JobScheduleSpec, floored, "job schedule")
    try:
        if floor:
            check_floor(model.schedule, settings.min_recurrence_interval)
    except FieldError as e:
        name = e.field.split(".")[-1]
        given = spec.get("schedule", {}).get(name) if isinstance(spec.get("schedule"), Mapping) \
            else None
        raise E.invalid_property(e.field, given, str(e)) from None
    info = model.job_specification.pool_info
    if info.auto_pool_specification is None and not info.pool_id:
        raise E.missing_property("jobSpecification.poolInfo.poolId")
    return model


def _refused_as_batch(operation: Any, *args: Any) -> Any:
    """``operation(*args)`` of a :class:`Recurrence`, its refusal raised as the 409 the service
    answers (the core names the code but raises no Batch error itself)."""
    try:
        return operation(*args)
    except InvalidTransition as e:
        raise E.BatchError(e.code, str(e)) from None


def _given(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The writable fields the view echoes, as given (a JSON copy)."""
    return json.loads(json.dumps({k: spec[k] for k in ("schedule", "jobSpecification")
                                  if k in spec}))


class ScheduleOperations:
    """Job schedule operations of :class:`~.account.Account` (see the module docstring)."""

    job_schedules: dict[str, JobSchedule]      # Account.__init__: by id key (engine thread)

    # -- checks (calling thread) ----------------------------------------------------------

    def _checked_schedule(self, spec: Mapping[str, Any]) -> tuple[JobScheduleSpec, dict, dict]:
        if not isinstance(spec, Mapping):
            raise E.BatchError("InvalidRequestBody", "the job schedule must be a JSON object")
        if "id" in spec:
            check_id(spec["id"], "id")
        check_extras(spec, SCHEDULE_EXTRAS)
        model = _schedule_model(spec, self.settings)
        job = spec.get("jobSpecification")
        if isinstance(job, Mapping):
            check_extras(job, JOB_EXTRAS)
        auto = given_auto_pool(job)
        if auto is not None:
            self._check_auto_pool(auto)
        for task, prefix in ((model.job_specification.job_manager_task, "jobManagerTask."),
                             (model.job_specification.job_preparation_task,
                              "jobPreparationTask."),
                             (model.job_specification.job_release_task, "jobReleaseTask.")):
            if task is not None:
                self._check_transfers(task, f"jobSpecification.{prefix}")
        return model, _given(spec), given_extras(spec, SCHEDULE_EXTRAS)

    # -- engine thread ----------------------------------------------------------------------

    def _schedule(self, schedule_id: str) -> JobSchedule:
        found = self.job_schedules.get(id_key(schedule_id))
        if found is None:
            raise E.not_found("job schedule", schedule_id)
        return found

    def _note_schedule(self, schedule: JobSchedule) -> None:
        self._note("note_schedule", schedule.id)

    def _arm(self, schedule: JobSchedule, due: float | None) -> None:
        """Wake the schedule at ``due`` (now if that has passed); earlier wake-ups lapse."""
        schedule.wake += 1
        if due is not None:
            self.kernel.at(max(due, self.kernel.now), SUBMIT, self._schedule_due,
                           id_key(schedule.id), schedule.wake)

    def _schedule_due(self, key: str, wake: int) -> None:
        schedule = self.job_schedules.get(key)
        if schedule is None or schedule.wake != wake:
            return
        self._act(schedule, schedule.recurrence.on_due(self.kernel.now))

    def _act(self, schedule: JobSchedule, decision: Decision, *, rearm: bool = True) -> None:
        """Do what the recurrence decided: make its job, wake it again, complete it."""
        now = self.kernel.now
        if decision.create:
            self._make_schedule_job(schedule)
        if rearm or decision.next_due is not None:
            self._arm(schedule, decision.next_due)
        if decision.complete:
            self._schedule_state(schedule, "completed", now)
            self._auto_pool_schedule_ended(schedule.id, deleted=False)
        self._note_schedule(schedule)

    def _schedule_state(self, schedule: JobSchedule, state: str, now: float) -> None:
        if schedule.history[-1][0] != state:
            schedule.history.append((state, now))

    def _make_schedule_job(self, schedule: JobSchedule) -> None:
        """The recurrence's new job, through the account's one job path (an auto pool of the
        jobSpecification is made or reused there, owned by this schedule for lifetime
        ``jobschedule``)."""
        model = schedule.spec.job(schedule.recurrence.n_created)
        job_given = schedule.given.get("jobSpecification", {})
        info = model.pool_info
        entry = self._make_job(model, info.pool_id, schedule_id=schedule.id,
                               auto_pool=given_auto_pool(job_given))
        if entry.job is not None:
            entry.job.schedule = schedule.id
        kept = given_extras(job_given, JOB_EXTRAS)
        if kept:
            self._keep(model.id, extras=kept)

    def _schedule_job_ended(self, job_id: str) -> None:
        """A job completed or was deleted (engine thread): if it is its schedule's active job,
        the schedule hears of it at this instant, as a kernel event (a completion is heard
        inside a pool's own rules, where no job may be made)."""
        if ":" not in job_id:
            return
        schedule = self.job_schedules.get(id_key(split_job_id(job_id)[0]))
        if schedule is not None and schedule.recurrence.active_job is not None \
                and id_key(schedule.recurrence.active_job) == id_key(job_id):
            self.kernel.at(self.kernel.now, SUBMIT, self._schedule_job_completed,
                           id_key(schedule.id), job_id)

    def _schedule_job_completed(self, key: str, job_id: str) -> None:
        schedule = self.job_schedules.get(key)
        if schedule is None or schedule.recurrence.active_job is None \
                or id_key(schedule.recurrence.active_job) != id_key(job_id):
            return
        decision = schedule.recurrence.on_job_completed(self.kernel.now)
        if schedule.recurrence.state == "deleting":
            self._note_schedule(schedule)
            return
        self._act(schedule, decision, rearm=decision.next_due is not None)

    def _transition(self, schedule_id: str, operation: str) -> JobSchedule:
        """Apply ``disable``/``enable``/``terminate``/``delete`` of the recurrence, or raise its
        refusal as the 409 the service answers."""
        schedule = self._schedule(schedule_id)
        decision = _refused_as_batch(getattr(schedule.recurrence, operation), self.kernel.now)
        self._schedule_state(schedule, schedule.recurrence.state, self.kernel.now)
        self._act(schedule, decision)
        return schedule

    # -- views --------------------------------------------------------------------------------

    def _schedule_view(self, schedule: JobSchedule) -> dict[str, Any]:
        """The schedule as the REST ``BatchJobSchedule`` (without ``url`` and ``eTag``, which
        the REST layer stamps)."""
        st, r = self.start_ticks, schedule.recurrence
        view: dict[str, Any] = {"id": schedule.id, **schedule.extras}
        view["creationTime"] = iso(st, schedule.created_at)
        view["lastModified"] = iso(st, schedule.modified_at)
        state, at = schedule.history[-1]
        view["state"] = state
        view["stateTransitionTime"] = iso(st, at)
        if len(schedule.history) > 1:
            view["previousState"] = schedule.history[-2][0]
            view["previousStateTransitionTime"] = iso(st, schedule.history[-2][1])
        view.update(schedule.given)
        info: dict[str, Any] = {}
        nxt = r.next_run_time(self.kernel.now)
        if nxt is not None:
            info["nextRunTime"] = iso(st, nxt)
        if r.n_created:
            info["recentJob"] = {"id": r.job_id(r.n_created)}
        if state == "completed":
            info["endTime"] = iso(st, at)
        view["executionInfo"] = info
        return view

    # -- operations (any thread) ------------------------------------------------------------------

    def add_job_schedule(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Add a job schedule (``id``, ``schedule``, ``jobSpecification``, ``displayName``,
        ``metadata``); its first job is made at its first due instant."""
        model, given, kept = self._checked_schedule(spec)

        def run() -> dict[str, Any]:
            key = id_key(model.id)
            if key in self.job_schedules:
                raise E.exists("job schedule", model.id)
            if key in self.jobs:
                raise E.BatchError("JobWithSameIdExists",
                                   f"a job has the id {model.id!r}: jobs and job schedules "
                                   "cannot share an id")
            now = self.kernel.now
            recurrence = Recurrence(model.schedule, now, self.start_ticks, schedule_id=model.id)
            schedule = JobSchedule(model, given, recurrence, now, kept)
            self.job_schedules[key] = schedule
            self._arm(schedule, recurrence.first_due())
            self._note_schedule(schedule)
            return self._schedule_view(schedule)
        return self._call(run)

    def get_job_schedule(self, schedule_id: str) -> dict[str, Any]:
        return self._call(lambda: self._schedule_view(self._schedule(schedule_id)))

    def list_job_schedules(self) -> list[dict[str, Any]]:
        return self._call(lambda: [self._schedule_view(s) for s in self.job_schedules.values()])

    def list_jobs_of_schedule(self, schedule_id: str) -> list[dict[str, Any]]:
        """The views of the schedule's jobs that exist, in creation order."""
        def run() -> list[dict[str, Any]]:
            schedule = self._schedule(schedule_id)
            mine = sorted((e for e in self.jobs.values() if schedule.owns(e.spec.id)),
                          key=lambda e: e.seq)
            return [self._full_job_view(e) for e in mine]
        return self._call(run)

    def update_job_schedule(self, schedule_id: str,
                            changes: Mapping[str, Any]) -> dict[str, Any]:
        """PATCH: ``schedule``, ``jobSpecification``, ``metadata``, each optional; the jobs made
        from now on follow them (a job made already keeps its own)."""
        return self._change_schedule(schedule_id, changes, replace=False)

    def replace_job_schedule(self, schedule_id: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        """PUT: ``schedule`` and ``jobSpecification`` as given, ``metadata`` reset when omitted."""
        return self._change_schedule(schedule_id, spec, replace=True)

    def _change_schedule(self, schedule_id: str, changes: Mapping[str, Any], *,
                         replace: bool) -> dict[str, Any]:
        if not isinstance(changes, Mapping):
            raise E.BatchError("InvalidRequestBody", "the job schedule must be a JSON object")
        if replace:
            for name in ("schedule", "jobSpecification"):
                if name not in changes:
                    raise E.missing_property(name)

        def current() -> tuple[dict[str, Any], dict[str, Any]]:
            schedule = self._schedule(schedule_id)
            return dict(schedule.given), dict(schedule.extras)
        given, kept = self._call(current)
        merged = {**given, **{k: changes[k] for k in ("schedule", "jobSpecification")
                              if k in changes}}
        # displayName is not writable; metadata is replaced when given, reset by a PUT without it
        extras_in = {k: v for k, v in kept.items() if k == "displayName"}
        if "metadata" in changes:
            extras_in["metadata"] = changes["metadata"]
        elif not replace and "metadata" in kept:
            extras_in["metadata"] = kept["metadata"]
        model, new_given, new_kept = self._checked_schedule(
            {"id": schedule_id, **merged, **extras_in})

        def run() -> dict[str, Any]:
            schedule = self._schedule(schedule_id)
            _refused_as_batch(schedule.recurrence.check_live)
            now = self.kernel.now
            schedule.spec = model.model_copy(update={"id": schedule.id})
            schedule.given, schedule.extras, schedule.modified_at = new_given, new_kept, now
            if "schedule" in changes:
                schedule.recurrence = schedule.recurrence.rescheduled(
                    model.schedule, schedule.created_at, now, self.start_ticks)
                self._arm(schedule, schedule.recurrence.first_due())
            self._note_schedule(schedule)
            return self._schedule_view(schedule)
        return self._call(run)

    def disable_job_schedule(self, schedule_id: str) -> dict[str, Any]:
        """No new jobs until enabled; the current job runs on."""
        return self._call(lambda: self._schedule_view(self._transition(schedule_id, "disable")))

    def enable_job_schedule(self, schedule_id: str) -> dict[str, Any]:
        return self._call(lambda: self._schedule_view(self._transition(schedule_id, "enable")))

    def terminate_job_schedule(self, schedule_id: str) -> dict[str, Any]:
        """Stop making jobs and terminate the active one (``UserTerminate``): the schedule is
        ``terminating`` until that job has completed, then ``completed`` (at once when no
        task of it runs)."""
        def run() -> dict[str, Any]:
            schedule = self._transition(schedule_id, "terminate")
            active = schedule.recurrence.active_job
            entry = self.jobs.get(id_key(active)) if active is not None else None
            if entry is not None and (entry.job is None or entry.job.state == "active"):
                self._terminate_entry(entry, "UserTerminate")
            if active is not None and (entry is None or entry.job.state == "completed"):
                # no task ran on: the schedule completes within this call
                self._schedule_job_completed(id_key(schedule.id), active)
            return self._schedule_view(schedule)
        return self._call(run)

    def delete_job_schedule(self, schedule_id: str) -> None:
        """Delete every job of the schedule (as ``delete_job`` does), then the schedule: a get
        answers ``JobScheduleNotFound`` once the call returns."""
        def run() -> None:
            schedule = self._transition(schedule_id, "delete")
            for key, entry in list(self.jobs.items()):
                if schedule.owns(entry.spec.id):
                    self.delete_job(entry.spec.id)
            del self.job_schedules[id_key(schedule.id)]
            self._note("forget_schedule", schedule.id)
            self._auto_pool_schedule_ended(schedule.id, deleted=True)
        self._call(run)

    # -- recovery -----------------------------------------------------------------------------

    def _restore_schedules(self, rows: list[Mapping[str, Any]]) -> None:
        """Rebuild the stored schedules (recovery, after pools and jobs) and re-arm each: a due
        instant missed while the account was down is decided now, with its own instant."""
        for row in rows:
            given = json.loads(row["given"])
            kept = json.loads(row["extras"])
            schedule_id = row["schedule_id"]
            model = _schedule_model({"id": schedule_id, **given}, self.settings, floor=False)
            state = json.loads(row["recurrence"])
            history = [tuple(h) for h in json.loads(row["history"])]
            recurrence = Recurrence(model.schedule, row["created"], self.start_ticks,
                                    schedule_id=schedule_id)
            due = recurrence.restore(state)
            schedule = JobSchedule(model, given, recurrence, row["created"], kept)
            schedule.modified_at = row["modified"]
            schedule.history = history
            self.job_schedules[id_key(schedule_id)] = schedule
            active = recurrence.active_job
            if active is not None:
                entry = self.jobs.get(id_key(active))
                if entry is None or (entry.job is not None and entry.job.state == "completed"):
                    self._schedule_job_ended_now(schedule)
            self._arm(schedule, due)

    def _schedule_job_ended_now(self, schedule: JobSchedule) -> None:
        """Recovery: the schedule's active job ended while the account was down."""
        self.kernel.at(self.kernel.now, SUBMIT, self._schedule_job_completed,
                       id_key(schedule.id), schedule.recurrence.active_job)

