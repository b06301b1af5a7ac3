"""Task attempts: start, exit, wall clock, kills, requeues, recoveries and completion
(docs/simulation-model.md#attempts-exit-codes-and-retries).

A mixin of :class:`~poolscale.scheduler.simulate.Simulation`. The fast branch of ``_on_exit``
and ``SchedulerMixin._place_simple`` are inlined versions of the general paths for the common case
(a successful single-instance task without profile I/O or exit conditions); they must keep the
same effects in the same order, which the invariant tests check against the general code.
"""

from __future__ import annotations

from heapq import heappush

from .nodes import IDLE, RUNNING as NODE_RUNNING
from .tasks import (
    ACTIVE, COMPLETED, FAILURE, JOB_ACTIVE, RUNNING, SUCCESS, WALL_CLOCK_EXIT_CODE, Task,
    exit_actions,
)
from .scheduling import SchedulerMixin

__all__ = ["AttemptsMixin"]


class AttemptsMixin(SchedulerMixin):
    # -- attempts ---------------------------------------------------------------------------

    def _start_attempt(self, task: Task) -> None:
        now = self.kernel.now
        task.state = RUNNING
        task.start_time = now
        if task.first_start is None:
            task.first_start = now
        task.attempt += 1
        self._launch_attempt(task)
        self._start_resources(task)
        if self._log is not None:
            self._log((now, "task.start", task.key,
                       task.node.id if task.nodes is None else ",".join(n.id for n in task.nodes)))
        if task.is_jm:
            task.ran_before = True
            job = task.job
            if not job.jm_started:
                job.jm_started = True
                if job.groups and not job.in_queue and job.state is JOB_ACTIVE:
                    job.in_queue = True
                    heappush(self.queue, (job.key, job, False))
                self.kernel.dirty = True

    def _on_exit(self, task: Task, attempt: int) -> None:
        if attempt != task.attempt or task.state is not RUNNING:
            return
        if task.simple and (task.always_ok or task.attempt_exit_code() == 0):
            # the common case inlined: a successful single-instance task that is not a job
            # manager, without profile I/O or exit conditions. Same effects, same order as
            # the general path below.
            now = self.kernel.now
            node = task.node
            job = task.job
            until = now + task.retention
            if until > node.retain_until:
                node.retain_until = until
            log = self._log
            if log is not None:
                log((now, "task.end", task.key, SUCCESS, 0))
            # _stop_resources
            c = node.cpu
            nc = c - task.share
            if nc <= 1e-9:
                nc = 0.0
            node.cpu = nc
            st = node.state
            usable = st is IDLE or st is NODE_RUNNING
            if usable:
                self.cpu_total += (100.0 if nc > 100.0 else nc) - (100.0 if c > 100.0 else c)
            # _unassign
            task.attempt_end = now
            del node.tasks[task]
            slots = task.slots
            node.used -= slots
            node.n_busy -= 1
            if usable and not node.exclusive:
                self.index.put(node)
            if not node.n_busy:
                if st is NODE_RUNNING:
                    # _set_state(node, IDLE): both states are usable, so only these change
                    node.state = IDLE
                    if log is not None:
                        log((now, "node", node.id, IDLE))
                elif st is not IDLE:
                    self._busy_changed(node)
            del job.assigned[task]
            job.n_assigned -= 1
            self.n_running -= 1
            self.running_inst -= 1
            self.assigned_slots -= slots
            task.node = None
            if self.queue:     # a pass over an empty queue does nothing: skip asking for one
                self.kernel.dirty = True
            # _complete
            task.state = COMPLETED
            task.result = SUCCESS
            task.exit_code = 0
            task.end_time = now
            job.n_succeeded += 1
            self.n_succeeded += 1
            self.period_succeeded += 1
            task.dep_satisfies = True
            if job.waiters:
                waiters = job.waiters.pop(task.id, None)
                if waiters:
                    for child in waiters:
                        if not child.blocked and child.state is ACTIVE:
                            child.pending -= 1
                            if not child.pending:
                                self._make_ready(child)
            if job.terminate_on_all and job.state is JOB_ACTIVE \
                    and job.n_succeeded + job.n_failed == job.n_submitted:
                self._terminate(job, "AllTasksComplete")
            if self.stop_when_drained:
                self._check_drained()
            return
        self._attempt_ended(task, task.attempt_exit_code())

    def _on_reported_exit(self, task: Task, report: tuple[int, int]) -> None:
        """An attempt's process reported its exit: ``report`` is ``(attempt, exit code)``. A
        report of an attempt the engine already ended (killed, requeued) is dropped."""
        attempt, code = report
        if attempt != task.attempt or task.state is not RUNNING:
            return
        self._attempt_ended(task, code)

    def _attempt_ended(self, task: Task, code: int) -> None:
        """The running attempt exited with ``code``: success, a retry, or a failure. The
        simulator comes here from its exit event, the live engine from a process's exit."""
        task.exit_code = code
        if code == 0:
            self._retain(task)
            self._log_end(task, SUCCESS, 0)
            self._unassign(task)
            self._complete(task, SUCCESS, 0, None)
        elif task.retries_left():
            if self._log is not None:
                self._log((self.kernel.now, "task.retry", task.key, code))
            self._unassign(task)
            task.retry_count += 1
            self._back_to_active(task)
        else:
            self._retain(task)
            self._log_end(task, FAILURE, code)
            self._unassign(task)
            self._complete(task, FAILURE, code, ("usererror", "FailureExitCode"))

    def _on_start_failure(self, task: Task, report: tuple[int, tuple[str, str]]) -> None:
        """The attempt's process could not start (``report`` is ``(attempt, (category,
        code))`` of its failureInfo): the task completes as a failure with no exit code, never
        retried, and its ``preProcessingError`` exit options apply. Only the live engine has
        such attempts; a report of an attempt the engine already ended is dropped."""
        attempt, failure = report
        if attempt != task.attempt or task.state is not RUNNING:
            return
        self._retain(task)
        self._log_end(task, FAILURE, None)
        self._unassign(task)
        self._complete(task, FAILURE, None, failure, preprocessing=True)

    def _on_wall(self, task: Task, attempt: int) -> None:
        if attempt != task.attempt or task.state is not RUNNING:
            return
        self.wasted += self.kernel.now - task.start_time
        self._retain(task)
        self._log_end(task, FAILURE, WALL_CLOCK_EXIT_CODE)
        self._unassign(task)
        self._complete(task, FAILURE, WALL_CLOCK_EXIT_CODE, ("servererror", "TaskEnded"))

    def _retain(self, task: Task) -> None:
        until = self.kernel.now + task.retention
        for node in (task.nodes or (task.node,)):
            if until > node.retain_until:
                node.retain_until = until
        self._task_retained(task, until)

    def _back_to_active(self, task: Task) -> None:
        task.state = ACTIVE
        job = task.job
        job.n_active += 1
        self.n_active += 1
        self._make_ready(task)

    def _recover(self, task: Task) -> None:
        """Preemption or node failure: back to active, ``recoveryCount`` + 1
        (docs/simulation-model.md#preemption-and-node-failure)."""
        if self._log is not None:
            self._log((self.kernel.now, "task.recover", task.key))
        self._send_back(task)
        task.recovery_count += 1
        self._back_to_active(task)

    def _requeue(self, task: Task) -> None:
        """Removal with ``requeue``: back to active, ``requeueCount`` + 1
        (docs/simulation-model.md#deallocation-options)."""
        if self._log is not None:
            self._log((self.kernel.now, "task.requeue", task.key))
        self._send_back(task)
        task.requeue_count += 1
        self._back_to_active(task)

    def _send_back(self, task: Task) -> None:
        if task.state is RUNNING:
            self.wasted += self.kernel.now - task.start_time
        task.was_requeued = True
        self._unassign(task)

    def _kill(self, task: Task, *, by_job: bool) -> None:
        """Removal with ``terminate`` or the job's termination: completed, failure, TaskEnded."""
        if task.state is RUNNING:
            self.wasted += self.kernel.now - task.start_time
        self._retain(task)
        self._log_end(task, FAILURE, None)
        self._unassign(task)
        self._complete(task, FAILURE, None, ("usererror", "TaskEnded"), by_job=by_job)

    def _log_end(self, task: Task, result: str, code: int | None) -> None:
        if self._log is not None:
            self._log((self.kernel.now, "task.end", task.key, result, code))

    def _complete(self, task: Task, result: str, code: int | None,
                  failure: tuple[str, str] | None, *, by_job: bool = False,
                  preprocessing: bool = False, upload_failed: bool = False) -> None:
        now = self.kernel.now
        job = task.job
        task.state = COMPLETED
        task.result = result
        task.exit_code = code
        task.failure = failure
        task.end_time = now
        if result is SUCCESS:
            job.n_succeeded += 1
            self.n_succeeded += 1
            self.period_succeeded += 1
        else:
            job.n_failed += 1
            self.n_failed += 1
            self.period_failed += 1
        if task.exit_conditions is None:
            ok = code == 0 and not upload_failed
            job_action = "none" if ok else "terminate"
            dep_ok = ok
        else:
            job_action, dep_action = exit_actions(task.exit_conditions, code,
                                                  preprocessing=preprocessing,
                                                  upload_failed=upload_failed)
            dep_ok = result is SUCCESS or dep_action == "satisfy"
        task.dep_satisfies = dep_ok
        waiters = job.waiters.pop(task.id, None)
        if waiters:
            for child in waiters:
                if child.blocked or child.state is not ACTIVE:
                    continue
                if dep_ok:
                    child.pending -= 1
                    if not child.pending:
                        self._make_ready(child)
                else:
                    child.blocked = True
        if job.exit_job_actions and not by_job and job_action != "none":
            if job_action == "terminate":
                self._terminate(job, "TaskFailed")
            elif job_action == "disable":
                self._disable(job)
        if task.is_jm and task.jm_spec.kill_job_on_completion:
            self._terminate(job, "JMComplete")
        if job.terminate_on_all and job.state is JOB_ACTIVE \
                and job.n_succeeded + job.n_failed == job.n_submitted:
            self._terminate(job, "AllTasksComplete")
        if self.stop_when_drained:
            self._check_drained()
