"""The account's job and task operations beyond add/get/list/terminate/delete (those stay in
account.py): what the Batch REST API offers on jobs and tasks — patch and replace a job,
disable and enable it, task counts, preparation and release status, task constraints,
terminate, reactivate and delete a task, subtasks, task files.

A mixin of :class:`~.account.Account`, so that account.py stays one concept (the account, its
engine thread and its lookups) and each group of REST operations has a module of its own. Its
methods use the account's engine-thread helpers (``_call``, ``_job``, ``_task``, ``_note``).

What the engine does not model but a REST client reads back (``displayName``, ``metadata``,
when a user last changed a job, when it was disabled, ...) is kept beside the engine objects by
:class:`~.kept.Kept`, and survives a restart with them.

Every rule that changes the engine (disable, enable, terminate, reactivate, delete, new
limits) is a request method of the engine (``scheduler/requests.py``); this module checks what
the service refuses first, with the service's codes, and shapes what it returns.
"""

from __future__ import annotations

import os
import stat as _stat
from pathlib import Path
from typing import Any, Iterable, Mapping

from poolscale.scheduler.tasks import (
    ACTIVE, COMPLETED, FAILURE, JOB_ACTIVE, JOB_COMPLETED, JOB_DISABLED, JOB_TERMINATING,
    RUNNING, SUCCESS,
)

from . import errors as E
from .ids import id_key
from .kept import (
    JOB_EXTRAS, JOB_KEY, TASK_EXTRAS, Kept, check_extras, check_metadata, extras as given_extras,
)
from .views import iso, job_view, task_root, task_view

__all__ = ["JobOperations"]

#: what a job update (PATCH) may change; a replace (PUT) sets all of them, the others to
#: their defaults
JOB_UPDATABLE = ("priority", "constraints", "onAllTasksComplete", "maxParallelTasks",
                 "metadata", "allowTaskPreemption", "poolInfo", "networkConfiguration")
#: a ``BatchJob``'s other properties: a replace may send the job as a get returned it (the
#: SDK's ``replace_job`` takes a ``BatchJob``), so they are ignored, as the service ignores
#: read-only and fixed properties in an update
JOB_NOT_UPDATED = ("odata.metadata", "id", "displayName", "usesTaskDependencies", "url",
                   "eTag", "lastModified", "creationTime", "state", "stateTransitionTime",
                   "previousState", "previousStateTransitionTime", "jobManagerTask",
                   "jobPreparationTask", "jobReleaseTask", "commonEnvironmentSettings",
                   "onTaskFailure", "executionInfo", "stats")
#: the job model's properties a replace resets when the body leaves them out
_REPLACE_RESETS = ("priority", "constraints", "onAllTasksComplete", "maxParallelTasks",
                   "allowTaskPreemption")
#: where a job can be disabled from, and the code the service answers elsewhere
_NOT_ACTIVE_CODE = {JOB_DISABLED: "JobDisabled", JOB_TERMINATING: "JobBeingTerminated",
                    JOB_COMPLETED: "JobCompleted"}
#: the largest int32, the REST API's integers
_INT32 = 2**31 - 1


def _check_job_update(given: Mapping[str, Any]) -> None:
    """The updatable properties' JSON types, checked strictly (the job model would take
    ``true`` for 1, say)."""
    for name in ("priority", "maxParallelTasks"):
        value = given.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or abs(value) > _INT32):
            raise E.invalid_property(name, value, "must be a 32-bit whole number")
    value = given.get("allowTaskPreemption")
    if value is not None and not isinstance(value, bool):
        raise E.invalid_property("allowTaskPreemption", value, "must be true or false")
    for name in ("constraints", "poolInfo", "networkConfiguration"):
        value = given.get(name)
        if value is not None and not isinstance(value, Mapping):
            raise E.invalid_property(name, value, "must be an object")
    if "metadata" in given:
        check_metadata(given["metadata"])


class JobOperations:
    """Job and task operations of :class:`~.account.Account` (see the module docstring)."""

    # -- what is kept beside the engine (engine thread) ---------------------------------------

    @property
    def _rest(self) -> Kept:
        kept = self.__dict__.get("_kept")
        if kept is None:
            kept = self.__dict__["_kept"] = Kept()
        return kept

    def _store(self) -> Any:
        return None if self._persist is None else self._persist.store

    def _keep(self, job_id: str, task_id: str = JOB_KEY, **kept: Any) -> None:
        """Remember (and stage for the store) what the engine does not hold (Kept.keep)."""
        self._rest.keep(self._store(), job_id, task_id, **kept)

    def _forget_rest(self, job_id: str, task_id: str | None = None) -> None:
        """A task (or, with no ``task_id``, a job and all its tasks) was deleted."""
        self._rest.forget(self._store(), job_id, task_id)

    def _restore_rest(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Read back the ``rest_properties`` rows (recovery, before the engine serves)."""
        self._rest.restore(rows)

    # -- views (engine thread) ------------------------------------------------------------------

    def _full_job_view(self, entry: Any) -> dict[str, Any]:
        rest = self._rest
        key = (id_key(entry.spec.id), JOB_KEY)
        if entry.job is None:
            view = job_view(_Waiting(entry.spec), entry.pool_id, self.start_ticks,
                            spec=entry.spec, extras=rest.extras.get(key),
                            modified=rest.modified.get(key))
            view.pop("creationTime", None)
            view.pop("stateTransitionTime", None)
            view["executionInfo"].pop("startTime", None)
            return view
        return job_view(entry.job, entry.pool_id, self.start_ticks, spec=entry.spec,
                        extras=rest.extras.get(key), modified=rest.modified.get(key),
                        transitions=rest.transitions.get(key[0], ()),
                        auto_pool=entry.auto_pool)

    def _full_task_view(self, entry: Any, task: Any) -> dict[str, Any]:
        rest = self._rest
        key = (id_key(entry.spec.id), task.id)
        spec = task.jm_spec if task.is_jm else entry.engine._task_spec(task)
        return task_view(task, self.start_ticks, spec=spec, extras=rest.extras.get(key),
                         pool_id=entry.engine.id, modified=rest.modified.get(key))

    def _waiting_task_view(self, entry: Any, spec: Any) -> dict[str, Any]:
        rest = self._rest
        view = task_view(_Unplaced(spec, entry.spec), self.start_ticks, spec=spec,
                         extras=rest.extras.get((id_key(entry.spec.id), spec.id)))
        for name in ("creationTime", "lastModified", "stateTransitionTime"):
            view.pop(name, None)
        return view

    def _find_task(self, job_id: str, task_id: str) -> tuple[Any, Any]:
        """The job's entry and its engine task ``task_id`` (TaskNotFound otherwise; a job
        waiting for its pool has no engine tasks yet)."""
        entry = self._job(job_id)
        job = entry.job
        if job is not None:
            task = job.accepted(task_id)        # the job's id index, kept by the engine
            if task is not None:
                return entry, task
        return self._task(job_id, task_id)      # an id in another case, or the job manager

    # -- adds that keep what the engine does not model -------------------------------------

    def create_job(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """``add_job``, keeping the properties the engine does not model (``displayName``,
        ``metadata``, ...) to show them back: the REST ``Job - Add``."""
        if isinstance(spec, Mapping):
            check_extras(spec, JOB_EXTRAS)
        view = self.add_job(spec)
        extras = given_extras(spec, JOB_EXTRAS)

        def run() -> dict[str, Any]:
            entry = self._job(view["id"])
            if extras:
                self._keep(entry.spec.id, extras=extras)
            return self._full_job_view(entry)
        return self._call(run)

    def create_tasks(self, job_id: str, specs: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``add_tasks`` (its results, unchanged), keeping each added task's properties the
        engine does not model: the REST ``addtaskcollection`` and ``Task - Add``. They are
        kept in a second engine command, after the add: a crash between the two loses them
        (the tasks stay)."""
        refused: dict[int, E.BatchError] = {}
        for i, spec in enumerate(specs):
            if isinstance(spec, Mapping):
                try:
                    check_extras(spec, TASK_EXTRAS)
                except E.BatchError as e:
                    refused[i] = e
        taken = [spec for i, spec in enumerate(specs) if i not in refused]
        added = iter(self.add_tasks(job_id, taken))     # [] too: the job must exist
        results = []
        for i, spec in enumerate(specs):
            if i in refused:
                results.append({"taskId": str(spec.get("id")), "status": "clientError",
                                "error": refused[i]})
            else:
                results.append(next(added))
        kept = [(r["taskId"], extras) for r, spec in zip(results, specs)
                if r.get("status") == "success" and (extras := given_extras(spec, TASK_EXTRAS))]
        if kept:
            def run() -> None:
                entry = self._job(job_id)
                for task_id, extras in kept:
                    self._keep(entry.spec.id, task_id, extras=extras)
            self._call(run)
        return results

    def _task_view_of(self, entry: Any, task_id: str) -> dict[str, Any]:
        if entry.job is None:
            for spec in entry.waiting:
                if spec.id == task_id:
                    return self._waiting_task_view(entry, spec)
            raise E.not_found("task", task_id)
        return self._full_task_view(*self._find_task(entry.spec.id, task_id))

    def task_views(self, job_id: str) -> list[dict[str, Any]]:
        """Every task of the job as the REST ``BatchTask``, in the order they were added."""
        def run() -> list[dict[str, Any]]:
            entry = self._job(job_id)
            if entry.job is None:
                return [self._waiting_task_view(entry, s) for s in entry.waiting]
            return [self._full_task_view(entry, t) for t in entry.job.tasks]
        return self._call(run)

    def task_full_view(self, job_id: str, task_id: str) -> dict[str, Any]:
        """One task as the REST ``BatchTask``."""
        return self._call(lambda: self._task_view_of(self._job(job_id), task_id))

    def job_views(self) -> list[dict[str, Any]]:
        """Every job as the REST ``BatchJob``."""
        return self._call(lambda: [self._full_job_view(e) for e in self.jobs.values()])

    def job_full_view(self, job_id: str) -> dict[str, Any]:
        """One job as the REST ``BatchJob``."""
        return self._call(lambda: self._full_job_view(self._job(job_id)))

    # -- jobs -----------------------------------------------------------------------------------

    def patch_job(self, job_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change the properties ``changes`` names (``priority``, ``constraints``,
        ``onAllTasksComplete``, ``maxParallelTasks``, ``metadata``, ``allowTaskPreemption``,
        ``poolInfo``), the others kept: the REST ``Job - Update`` (PATCH)."""
        return self._update_job(job_id, changes, replace=False)

    def replace_job(self, job_id: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Set every updatable property: those ``spec`` leaves out return to their defaults
        (``metadata`` is removed): the REST ``Job - Update`` (PUT). ``poolInfo`` is required."""
        if isinstance(spec, Mapping) and spec.get("poolInfo") is None:
            raise E.missing_property("poolInfo")
        return self._update_job(job_id, spec, replace=True)

    def _update_job(self, job_id: str, changes: Mapping[str, Any], *,
                    replace: bool) -> dict[str, Any]:
        from .account import _refusal
        from .account_autopools import job_model

        if not isinstance(changes, Mapping):
            raise E.BatchError("InvalidRequestBody", "the job update must be a JSON object")
        for name in changes:
            if name not in JOB_UPDATABLE and name not in JOB_NOT_UPDATED:
                raise E.BatchError("UnsupportedProperty",
                                   f"{name} cannot be changed by a job update",
                                   (("PropertyName", name),))
        given = {k: v for k, v in changes.items() if v is not None and k in JOB_UPDATABLE}
        _check_job_update(given)

        def run() -> dict[str, Any]:
            entry = self._job(job_id)
            job = entry.job
            if job is not None and job.state in (JOB_TERMINATING, JOB_COMPLETED):
                raise E.BatchError(_NOT_ACTIVE_CODE[job.state],
                                   f"the job {entry.spec.id!r} is {job.state}")
            pool = given.get("poolInfo")
            if pool is not None and entry.auto_pool is not None:
                # the job's own auto pool, as a get showed it, is no change
                if not self._same_auto_pool(entry, pool):
                    _refuse_pool_change(job)
            elif pool is not None:
                new_pool = pool.get("poolId") if isinstance(pool, Mapping) else None
                if not isinstance(new_pool, str) or not new_pool:
                    raise E.missing_property("poolInfo.poolId")
                if id_key(new_pool) != id_key(entry.pool_id):
                    _refuse_pool_change(job)
            current = entry.spec.model_dump(by_alias=True, exclude_unset=True)
            if replace:
                for name in _REPLACE_RESETS:
                    current.pop(name, None)
            for name in ("priority", "constraints", "onAllTasksComplete", "maxParallelTasks",
                         "allowTaskPreemption"):
                if name in given:
                    current[name] = given[name]
            try:
                spec = job_model(current)
            except ValueError as e:
                raise _refusal(e, "job") from None
            if job is not None:
                engine = entry.engine
                if spec.priority != job.priority:
                    engine.set_job_priority(job, spec.priority)
                engine.set_job_limits(
                    job, max_retry=spec.constraints.max_task_retry_count,
                    wall=spec.constraints.max_wall_clock_time,
                    max_parallel=spec.max_parallel_tasks,
                    terminate_on_all=spec.on_all_tasks_complete == "terminatejob")
                job.spec = spec
            entry.spec = spec
            self._note("note_job", spec.id)
            key = (id_key(spec.id), JOB_KEY)
            extras = dict(self._rest.extras.get(key) or {})
            for name in ("metadata", "networkConfiguration"):
                if name in given:
                    extras[name] = given[name]
                elif replace:
                    extras.pop(name, None)
            self._keep(spec.id, extras=extras, modified=self.kernel.now)
            return self._full_job_view(entry)
        return self._call(run)

    def disable_job(self, job_id: str, option: str = "requeue") -> dict[str, Any]:
        """Disable the job: none of its tasks starts until it is enabled; its running tasks
        are requeued (``requeue``), ended (``terminate``) or left to end (``wait``): the REST
        ``Job - Disable`` (``disableTasks``)."""
        if option not in ("requeue", "terminate", "wait"):
            raise E.invalid_property("disableTasks", option, "must be requeue, terminate or wait")

        def run() -> dict[str, Any]:
            entry = self._job(job_id)
            job = self._started(entry)
            if job.state != JOB_ACTIVE:
                raise E.BatchError(_NOT_ACTIVE_CODE.get(job.state, "JobNotActive"),
                                   f"the job {entry.spec.id!r} is {job.state}")
            entry.engine.disable_job(job, option)
            self._keep(entry.spec.id, transition=("disabled", self.kernel.now))
            return self._full_job_view(entry)
        return self._call(run)

    def enable_job(self, job_id: str) -> dict[str, Any]:
        """A disabled job is active again: the REST ``Job - Enable``."""
        def run() -> dict[str, Any]:
            entry = self._job(job_id)
            job = self._started(entry)
            if job.state != JOB_DISABLED:
                code = _NOT_ACTIVE_CODE.get(job.state, "OperationInvalidForCurrentState")
                if job.state == JOB_ACTIVE:
                    code = "OperationInvalidForCurrentState"
                raise E.BatchError(code, f"the job {entry.spec.id!r} is {job.state}, "
                                         "not disabled")
            entry.engine.enable_job(job)
            self._keep(entry.spec.id, transition=("active", self.kernel.now))
            return self._full_job_view(entry)
        return self._call(run)

    def _started(self, entry: Any) -> Any:
        if entry.job is None:
            raise E.BatchError("OperationInvalidForCurrentState",
                               f"the job {entry.spec.id!r} has not started: its pool "
                               f"{entry.pool_id!r} does not exist")
        return entry.job

    def task_counts(self, job_id: str) -> dict[str, Any]:
        """The job's tasks by state, and the slots they take, from one engine snapshot: the
        REST ``Job - Get Task Counts`` (``taskCounts``, ``taskSlotCounts``)."""
        def run() -> dict[str, Any]:
            entry = self._job(job_id)
            counts = dict.fromkeys(("active", "running", "completed", "succeeded", "failed"), 0)
            slots = dict(counts)
            if entry.job is None:
                counts["active"] = len(entry.waiting)
                slots["active"] = sum(s.required_slots * s.instances for s in entry.waiting)
            else:
                for task in entry.job.tasks:
                    taken = task.slots * task.inst
                    state = task.state
                    if state == COMPLETED:
                        outcome = "succeeded" if task.result == SUCCESS else "failed"
                        for name in ("completed", outcome):
                            counts[name] += 1
                            slots[name] += taken
                    else:
                        name = "active" if state == ACTIVE else "running"
                        counts[name] += 1
                        slots[name] += taken
            return {"taskCounts": counts, "taskSlotCounts": slots}
        return self._call(run)

    def preparation_release_status(self, job_id: str) -> list[dict[str, Any]]:
        """Per node where the job's preparation task ran: its preparation and release tasks'
        execution (state, times, result, retries), as the REST
        ``Job - List Preparation And Release Task Status``. A job without a preparation task
        is refused (``JobPreparationTaskNotSpecified``), as by the service. Times come from
        the pool's event log (the last ``EVENT_RING`` entries); preparation records do not
        survive a restart (the task reruns where it is needed)."""
        from poolscale.scheduler.nodes import PREP_FAILED, PREP_KILLED, PREP_SUCCEEDED

        def run() -> list[dict[str, Any]]:
            entry = self._job(job_id)
            if entry.spec.job_preparation_task is None:
                raise E.BatchError("JobPreparationTaskNotSpecified",
                                   f"the job {entry.spec.id!r} has no job preparation task")
            job = entry.job
            if job is None:
                return []
            pool = entry.engine
            st = self.start_ticks
            times: dict[str, dict[str, Any]] = {}
            for event in pool.events:
                kind = event[1]
                if kind in ("prep.start", "prep.end", "release.start", "release.end",
                            "release.skip") and event[2] == job.id:
                    times.setdefault(event[3], {})[kind] = event
            out = []
            for node in pool.nodes.values():
                rec = node.prep.get(job)
                seen = times.get(node.id, {})
                if rec is None and "prep.start" not in seen:
                    continue
                item: dict[str, Any] = {"poolId": pool.id, "nodeId": node.id}
                prep: dict[str, Any] = {"state": "running", "retryCount": 0}
                if rec is not None:
                    prep["retryCount"] = rec.attempts
                    if rec.state in (PREP_SUCCEEDED, PREP_FAILED, PREP_KILLED):
                        prep["state"] = "completed"
                        prep["result"] = SUCCESS if rec.state == PREP_SUCCEEDED else FAILURE
                        if rec.state == PREP_SUCCEEDED:
                            prep["exitCode"] = 0
                        else:
                            prep["failureInfo"] = {"category": "usererror",
                                                   "code": "TaskEnded" if rec.state == PREP_KILLED
                                                   else "FailureExitCode"}
                if "prep.start" in seen:
                    prep["startTime"] = iso(st, seen["prep.start"][0])
                if "prep.end" in seen and prep["state"] == "completed":
                    prep["endTime"] = iso(st, seen["prep.end"][0])
                prep["taskRootDirectory"] = (task_root(job.id, "jobpreparation"))
                item["jobPreparationTaskExecutionInfo"] = prep
                if job.release is not None and ("release.start" in seen or job in node.releases):
                    running = job in node.releases
                    rel: dict[str, Any] = {"state": "running" if running else "completed",
                                           "taskRootDirectory":
                                           task_root(job.id, "jobrelease")}
                    if "release.start" in seen:
                        rel["startTime"] = iso(st, seen["release.start"][0])
                    end = seen.get("release.end") or seen.get("release.skip")
                    if not running and end is not None:
                        rel["endTime"] = iso(st, end[0])
                        rel["result"] = SUCCESS
                    item["jobReleaseTaskExecutionInfo"] = rel
                out.append(item)
            return out
        return self._call(run)

    # -- tasks ----------------------------------------------------------------------------------

    def update_task_constraints(self, job_id: str, task_id: str,
                                constraints: Mapping[str, Any] | None) -> dict[str, Any]:
        """Set the task's constraints (``maxWallClockTime``, ``retentionTime``,
        ``maxTaskRetryCount``); those left out return to their defaults (the job's retry
        count, no wall-clock limit, 7 days): the REST ``Task - Update`` (PUT)."""
        from poolscale.scheduler.models import TaskConstraints

        from .account import _model

        given = {} if constraints is None else constraints
        if not isinstance(given, Mapping):
            raise E.invalid_property("constraints", given, "must be an object")
        try:
            model = _model(TaskConstraints, dict(given), "constraints")
        except E.BatchError as e:
            raise _prefixed(e, "constraints") from None

        def run() -> dict[str, Any]:
            entry, task = self._find_task(job_id, task_id)
            if task.state == COMPLETED:
                raise E.BatchError("TaskCompleted", f"the task {task.id!r} has completed")
            retry = model.max_task_retry_count
            engine = entry.engine
            engine.set_task_constraints(task, max_retry=entry.job.max_retry if retry is None
                                        else retry, wall=model.max_wall_clock_time,
                                        retention=model.retention_time)
            if not task.is_jm:
                specs = engine._task_specs.setdefault(entry.job, {})
                spec = engine._task_spec(task)
                specs[task.id] = spec.model_copy(update={"constraints": model})
            self._note("note_task", entry.spec.id, task.id)
            self._keep(entry.spec.id, task.id, modified=self.kernel.now)
            return self._full_task_view(entry, task)
        return self._call(run)

    def terminate_task(self, job_id: str, task_id: str) -> dict[str, Any]:
        """End the task: a running one is killed, an active one completes without running;
        it is completed, failed, ``TaskEnded`` (the REST ``Task - Terminate``). A completed
        task is refused with ``TaskCompleted``."""
        def run() -> dict[str, Any]:
            entry, task = self._find_task(job_id, task_id)
            if not entry.engine.terminate_task(task):
                raise E.BatchError("TaskCompleted", f"the task {task.id!r} has completed")
            self._note("note_task", entry.spec.id, task.id)
            return self._full_task_view(entry, task)
        return self._call(run)

    def reactivate_task(self, job_id: str, task_id: str) -> dict[str, Any]:
        """A completed task that failed runs again, with its retries reset (the REST
        ``Task - Reactivate``). Refused, as by the service: a task not completed
        (``TaskNotCompleted``), one that succeeded (``TaskSucceeded``), one of a job that is
        no longer active or disabled (``JobBeingTerminated``, ``JobCompleted``)."""
        def run() -> dict[str, Any]:
            entry, task = self._find_task(job_id, task_id)
            job = entry.job
            if job.state in (JOB_TERMINATING, JOB_COMPLETED):
                raise E.BatchError(_NOT_ACTIVE_CODE[job.state],
                                   f"the job {entry.spec.id!r} is {job.state}")
            if task.state != COMPLETED:
                raise E.BatchError("TaskNotCompleted", f"the task {task.id!r} is {task.state}")
            if task.result != FAILURE:
                raise E.BatchError("TaskSucceeded", f"the task {task.id!r} succeeded")
            entry.engine.reactivate_task(task)
            self._note("note_task", entry.spec.id, task.id)
            self._keep(entry.spec.id, task.id, modified=self.kernel.now)
            return self._full_task_view(entry, task)
        return self._call(run)

    def delete_task(self, job_id: str, task_id: str) -> None:
        """Forget the task; one still active or running is ended first (its process is
        killed): the REST ``Task - Delete``. Its directory stays on its node until its
        retention ends, as on the service."""
        def run() -> None:
            entry = self._job(job_id)
            if entry.job is None:
                for i, spec in enumerate(entry.waiting):
                    if id_key(spec.id) == id_key(task_id):
                        # a new list (see RequestsMixin.delete_task)
                        entry.waiting = entry.waiting[:i] + entry.waiting[i + 1:]
                        self._forget_task_row(entry.spec.id, spec.id)
                        return
                raise E.not_found("task", task_id)
            entry, task = self._find_task(job_id, task_id)
            if task.is_jm:
                raise E.BatchError("OperationInvalidForCurrentState",
                                   "the job manager task is deleted with its job")
            entry.engine.delete_task(task)
            self._forget_task_row(entry.spec.id, task.id)
        self._call(run)

    def _forget_task_row(self, job_id: str, task_id: str) -> None:
        self._forget_rest(job_id, task_id)
        if self._persist is not None:
            self._persist.forget_task(job_id, task_id)

    def list_subtasks(self, job_id: str, task_id: str) -> list[dict[str, Any]]:
        """A multi-instance task's subtasks: one per node of its last placement but the
        primary (the REST ``Task - List Subtasks``; the primary is the task itself). A task
        that is not multi-instance has none."""
        def run() -> list[dict[str, Any]]:
            entry, task = self._find_task(job_id, task_id)
            if task.inst <= 1:
                return []
            nodes = task.nodes or task.last_nodes or ()
            st = self.start_ticks
            out = []
            for i, node in enumerate(nodes[1:], start=1):
                item: dict[str, Any] = {
                    "id": i,
                    "nodeInfo": {"affinityId": node.id, "nodeId": node.id,
                                 "poolId": entry.engine.id,
                                 "taskRootDirectory": f"{task_root(entry.job.id, task.id)}/{i}"},
                    "startTime": iso(st, task.start_time),
                    "state": "running" if task.state == RUNNING else
                             "completed" if task.state == COMPLETED else "preparing",
                }
                if task.state == COMPLETED:
                    item["endTime"] = iso(st, task.end_time)
                    item["exitCode"] = task.exit_code
                    item["result"] = task.result
                out.append({k: v for k, v in item.items() if v is not None})
            return out
        return self._call(run)

    # -- task files -----------------------------------------------------------------------------

    def _task_dir_where(self, job_id: str, task_id: str, path: str) -> Path:
        """(engine thread) The path ``path`` in the task's directory on its node (as
        ``read_task_file`` resolves it): never outside that directory."""
        entry, task = self._find_task(job_id, task_id)
        nodes = task.nodes or ((task.node,) if task.node is not None else task.last_nodes)
        if not nodes:
            raise E.not_found("file", path)
        return self.node_dirs.task_file(entry.engine.id, nodes[0].id, entry.job.id,
                                        task.id, path)

    def _resolve_file(self, job_id: str, task_id: str, path: str) -> Path:
        try:
            return self._call(lambda: self._task_dir_where(job_id, task_id, path))
        except ValueError as e:             # a path that leaves the task's directory
            raise E.invalid_property("filePath", path, str(e)) from None

    def task_file(self, job_id: str, task_id: str, path: str) -> tuple[Path, os.stat_result]:
        """A file (or directory) of the task's directory and its ``stat``: what the REST
        layer streams (with a range) or describes (HEAD). FileNotFound when it does not
        exist."""
        target = self._resolve_file(job_id, task_id, path)
        try:
            return target, target.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise E.not_found("file", path) from None

    def list_task_files(self, job_id: str, task_id: str,
                        recursive: bool = False) -> list[tuple[str, os.stat_result]]:
        """The task directory's entries (every level with ``recursive``) as ``(name, stat)``,
        by name: ``name`` is ``/``-separated and relative to the task directory (the REST
        ``NodeFile`` is made of them, rest/files.py). A task that never ran has none."""
        try:
            root = self._resolve_file(job_id, task_id, "")
        except E.NotFound as e:
            if e.code == "FileNotFound":
                return []
            raise
        if not root.is_dir():
            return []
        from .local.nodedirs import list_tree

        return list_tree(root, recursive)

    def delete_task_file(self, job_id: str, task_id: str, path: str,
                         recursive: bool = False) -> None:
        """Delete a file of the task's directory (a directory only with ``recursive``, else
        ``OperationInvalidForCurrentState``, the service's refusal of a non-empty one)."""
        target, st = self.task_file(job_id, task_id, path)
        root = self._resolve_file(job_id, task_id, "")
        if target == root:
            raise E.invalid_property("filePath", path, "the task directory itself cannot be "
                                     "deleted")
        from .local.nodedirs import delete_entry

        if _stat.S_ISDIR(st.st_mode):
            if not recursive and any(target.iterdir()):
                raise E.BatchError("OperationInvalidForCurrentState",
                                   f"{path} is a directory that is not empty: delete it with "
                                   "recursive=true")
            delete_entry(target)
            return
        target.unlink()


def _refuse_pool_change(job: Any) -> None:
    """A job update that would move the job to another pool (or another auto pool)."""
    if job is None or job.state != JOB_DISABLED:
        raise E.BatchError("OperationInvalidForCurrentState",
                           "a job's pool can be changed only while the job is disabled")
    raise E.BatchError("OperationInvalidForCurrentState",
                       "poolscale does not move a job to another pool")


def _prefixed(error: E.BatchError, prefix: str) -> E.BatchError:
    """The error with its ``PropertyName`` under ``prefix`` (``constraints.maxTaskRetryCount``)."""
    values = tuple((k, f"{prefix}.{v}" if k == "PropertyName" and not v.startswith(prefix)
                    else v) for k, v in error.values)
    return E.BatchError(error.code, error.message, values)


class _Waiting:
    """A job waiting for its pool, as ``job_view`` reads a job: active, never started."""

    def __init__(self, spec: Any) -> None:
        self.id = spec.id
        self.state = "active"
        self.priority = spec.priority
        self.created_at = self.ended_at = self.completed_at = None
        self.reason = None


class _Unplaced:
    """A task of a job waiting for its pool, as ``task_view`` reads a task: active, never
    run, with its own constraints and the job's retry count."""

    def __init__(self, spec: Any, job_spec: Any) -> None:
        self.id = spec.id
        self.state = "active"
        self.retry_count = self.requeue_count = 0
        self.start_time = self.end_time = self.attempt_end = self.submit_time = None
        self.nodes = self.node = None
        self.last_nodes = ()
        c = spec.constraints
        self.max_retry = (job_spec.constraints.max_task_retry_count
                          if c.max_task_retry_count is None else c.max_task_retry_count)
        self.wall = c.max_wall_clock_time
        self.retention = c.retention_time
        self.inst = spec.instances
