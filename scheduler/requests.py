"""Requests at any instant: what a user asks of a pool and its jobs between the engine's own
events (docs/simulation-model.md#requests-at-any-instant).

A simulation acts only on its timers; the live service (and its REST API) lets a user resize a
pool, stop a resize, remove chosen nodes, disable scheduling on a node, change a job's
priority, add a task, and terminate, disable or enable a job, at whatever instant the request
arrives. Each request is one method here, run at ``kernel.now`` on the engine's thread, and
each is made of the rules the simulator already runs — the resize step, deallocation, requeue,
kill, termination — so a request and a formula's scale-down, say, cannot disagree on what
happens to a task.

The methods check what only the engine can know (a node of this pool, an option that exists);
what the service answers with an error code (resizing an autoscale pool, a resize while one is
in progress, a task id already taken) is the account layer's to refuse before it calls them.
A request that changes something a scheduling pass could use marks the kernel dirty, so the
pass runs before time moves on, as after any event.
"""

from __future__ import annotations

from bisect import insort
from heapq import heapify, heappush
from typing import Iterable

from poolscale.formula.values import Option

from .models import JobSpec, TaskSpec
from .nodes import (
    DEDICATED, IDLE, LEAVINGPOOL, LOW_PRIORITY, OFFLINE, REBOOTING, REMOVED, RUNNING,
    STARTTASKFAILED, UNUSABLE, Node,
)
from .pool import RESIZING, STOPPING
from .sampler import SamplerMixin
from .tasks import ACTIVE, JOB_ACTIVE, JOB_DISABLED, Job, Task, int_ids
# a task's states by names of their own: the node's states share some of the words
from .tasks import COMPLETED as TASK_COMPLETED, FAILURE, PREPARING as TASK_PREPARING
from .tasks import RUNNING as TASK_RUNNING
from .kernel import WALLCLOCK

__all__ = ["RequestsMixin", "DISABLE_JOB_OPTIONS", "USER_TERMINATE", "REBOOTABLE"]

#: the termination reason of a job a user terminates without giving one (the service's default)
USER_TERMINATE = "UserTerminate"
#: the failureInfo of a task a user terminates: the code the service gives a task it ended
TASK_TERMINATED = ("usererror", "TaskEnded")
#: what disabling a job does with its running tasks: requeue them, terminate them, or wait for
#: them to end (the service's ``disableTasks``)
DISABLE_JOB_OPTIONS = ("requeue", "terminate", "wait")
#: the options of disabling scheduling on a node (the service's
#: ``nodeDisableSchedulingOption``): a node keeps its data, so ``retaineddata`` has no meaning
_DISABLE_NODE_OPTIONS = (Option.REQUEUE, Option.TERMINATE, Option.TASKCOMPLETION)
#: the states a node may be rebooted in: it holds its VM and is not already booting (a node
#: whose start task failed, or that failed, is rebooted to try again, as on the service)
REBOOTABLE = (IDLE, RUNNING, OFFLINE, STARTTASKFAILED, UNUSABLE)


class RequestsMixin(SamplerMixin):
    # -- the pool: resize, stop, remove nodes ---------------------------------------------

    def resize(self, dedicated: int, low_priority: int, option: Option = Option.REQUEUE, *,
               resize_timeout: float | None = None) -> None:
        """Resize a fixed pool to these targets; nodes a scale-down selects leave with
        ``option``. As an autoscale run's new targets do, it begins a resize (or redirects
        the one in progress); ``resize_timeout`` (seconds) becomes the pool's, as the
        service keeps the timeout of the last resize."""
        if dedicated < 0 or low_priority < 0:
            raise ValueError(f"targets must be at least 0, not {dedicated}, {low_priority}")
        if resize_timeout is not None:
            self.resize_timeout = resize_timeout
        self.target = [dedicated, low_priority]
        self.option = option
        if self._log is not None:
            self._log((self.kernel.now, "pool.target", dedicated, low_priority, option.value))
        self._begin_resize()
        self._resize()

    def stop_resize(self) -> bool:
        """Stop the resize in progress: nothing more is requested, the nodes the pool has stay
        (those still allocating finish), nodes already leaving finish leaving, and the targets
        stay as they were, with ``ResizeStopped`` in the pool's resize errors. The pool is
        ``stopping`` until no node is leaving, then ``steady``. False when no resize is in
        progress (the pool is ``steady``, or already ``stopping``)."""
        if self.alloc_state is not RESIZING:
            return False
        self.alloc_state = STOPPING
        if self._log is not None:
            self._log((self.kernel.now, "pool.state", STOPPING))
        self.resize_stopped = True
        self.resize_gen += 1            # the stopped resize's timeout no longer applies
        self._record_resize_error("ResizeStopped")
        for node in self.nodes.values():
            if node.requested:          # kept, but no longer awaited by a resize
                node.requested = False
                self.n_req_creating -= 1
        self._check_complete()
        return True

    def remove_nodes(self, nodes: Iterable[Node], option: Option = Option.REQUEUE, *,
                     resize_timeout: float | None = None) -> None:
        """Remove these nodes of the pool: the target of each kind goes down by the number of
        its nodes removed, a resize begins, and each node leaves with ``option`` (its tasks
        requeued, terminated, or left to complete) as a scale-down's would. Nodes already
        leaving, or not of this pool, are refused (ValueError) before anything changes."""
        chosen = list(dict.fromkeys(nodes))
        for node in chosen:
            self._check_present(node)
            if node.state is LEAVINGPOOL:
                raise ValueError(f"{node.id} is already leaving the pool")
        if not chosen:
            return
        if resize_timeout is not None:
            self.resize_timeout = resize_timeout
        for kind in (DEDICATED, LOW_PRIORITY):
            removed = sum(1 for node in chosen if node.kind == kind)
            self.target[kind] = max(0, self.target[kind] - removed)
        now = self.kernel.now
        if self._log is not None:
            self._log((now, "pool.target", self.target[0], self.target[1], option.value))
        self._begin_resize()
        if self._log is not None:
            for node in chosen:
                self._log((now, "node.deallocate", node.id, option.value))
        # as inside the resize step: a node removed at once asks for a resize step, which must
        # wait until every chosen node is leaving, or it would choose nodes of its own
        self._in_resize = True
        try:
            for node in chosen:
                if node.state is not REMOVED:
                    self._deallocate(node, option)
        finally:
            self._in_resize = False
        self.kernel.dirty = True
        self._resize()

    def _check_present(self, node: Node) -> None:
        if self.nodes.get(node.num) is not node:
            raise ValueError(f"{node.id} is not a node of this pool")

    # -- a node's scheduling --------------------------------------------------------------

    def disable_scheduling(self, node: Node, option: Option = Option.REQUEUE) -> bool:
        """No new task goes to ``node``. Its tasks are requeued (``requeue``), ended as
        failed (``terminate``) or left to complete (``taskcompletion``); the node is
        ``offline`` once nothing runs on it, and stays offline through a boot or a start
        task until scheduling is enabled. Preparation and release tasks on it are left to
        end: the node keeps its data. False when scheduling is already disabled."""
        if option not in _DISABLE_NODE_OPTIONS:
            raise ValueError(f"disabling scheduling takes requeue, terminate or taskcompletion, "
                             f"not {option.value}")
        self._check_present(node)
        if node.disabled:
            return False
        node.disabled = True
        if self._log is not None:
            self._log((self.kernel.now, "node.disable", node.id, option.value))
        self.index.drop(node)
        # an attempt that ends on a disabled node goes through the general path, which knows
        # the node is not to be indexed again and turns offline rather than idle
        for task in node.tasks:
            task.simple = False
        if option is not Option.TASKCOMPLETION:
            requeue = option is Option.REQUEUE
            for task in list(node.tasks):
                if task not in node.tasks:
                    continue    # ended meanwhile (its job terminated by an earlier kill)
                if requeue:
                    self._requeue(task)
                else:
                    self._kill(task, by_job=False)
        if node.state is IDLE:
            self._set_state(node, OFFLINE)
        return True

    def enable_scheduling(self, node: Node) -> bool:
        """``node`` takes tasks again: an offline node becomes idle, a running one rejoins the
        slot index, and a scheduling pass follows. False when scheduling was not disabled."""
        self._check_present(node)
        if not node.disabled:
            return False
        node.disabled = False
        if self._log is not None:
            self._log((self.kernel.now, "node.enable", node.id))
        if node.state is OFFLINE:
            self._set_state(node, IDLE)
        elif node.usable and not node.exclusive:
            self.index.put(node)
        self.kernel.dirty = True
        return True

    # -- a node's reboot ---------------------------------------------------------------

    def reboot_node(self, node: Node, option: Option = Option.REQUEUE) -> bool:
        """Reboot ``node``: its tasks are requeued (``requeue``), ended as failed
        (``terminate``), or left to complete first (``taskcompletion``, ``retaineddata``: a
        reboot keeps the node's disk, so there is no data to wait for beyond the tasks
        themselves); no new task goes to it meanwhile. Then it is ``rebooting``: every
        process on it ends (start, preparation and release tasks; preparation tasks run
        again before the next task of their job, as after any reboot), and it boots again as
        after its allocation, running the pool's start task as it is *now*. Its VM, its
        directory tree and its chaos timers stay. False when the node is in no state to
        reboot (``REBOOTABLE``) or a reboot already waits for its tasks."""
        self._check_present(node)
        if node.state not in REBOOTABLE or node.reboot is not None:
            return False
        if self._log is not None:
            self._log((self.kernel.now, "node.reboot", node.id, option.value))
        if (option is Option.TASKCOMPLETION or option is Option.RETAINEDDATA) and node.n_busy:
            # as a disabled node's: out of the slot index, its tasks on the general path
            # (whose end calls _busy_changed, which reboots the node once nothing is left)
            node.reboot = (option, node.disabled)
            node.disabled = True
            self.index.drop(node)
            for task in node.tasks:
                task.simple = False
            return True
        self._reboot(node, option)
        return True

    def _reboot(self, node: Node, option: Option) -> None:
        """The reboot itself (see :meth:`reboot_node`)."""
        if node.reboot is not None:
            node.disabled = node.reboot[1]
            node.reboot = None
        node.life += 1                  # void its boot, start-task and repair timers
        # rebooting first, as a leaving node is leaving before its tasks go: a task sent back
        # does not make the node idle on its way
        self._set_state(node, REBOOTING)
        if option is Option.REQUEUE or option is Option.TERMINATE:
            for task in list(node.tasks):
                if task not in node.tasks or task.node is None:
                    continue    # ended meanwhile, or a multi-instance task handled already
                if option is Option.REQUEUE:
                    self._requeue(task)
                else:
                    self._kill(task, by_job=False)
        self._clear_local(node)
        self._launch_boot(node)

    # -- jobs and tasks -------------------------------------------------------------------

    def set_job_priority(self, job: Job, priority: int) -> None:
        """Change ``job``'s priority while it runs. Its place in the queue (component 1 of
        docs/simulation-model.md#queue-order-and-priorities) changes at once, so the next
        pass takes it in its new order; nothing running is stopped."""
        if not -1000 <= priority <= 1000:
            raise ValueError(f"priority must be from -1000 to 1000, not {priority}")
        job.priority = priority
        if job.key is not None:
            job.key = (-priority,) + job.key[1:]
        q = self.queue
        if any(entry[1] is job for entry in q):
            q[:] = [((-priority,) + key[1:], j, jm) if j is job else (key, j, jm)
                    for key, j, jm in q]
            heapify(q)
        if self._log is not None:
            self._log((self.kernel.now, "job.priority", job.id, priority))

    def add_job(self, spec: JobSpec, seq: int) -> Job:
        """Create a job now, as a request (a live account's add, a job schedule's recurrence):
        its job manager is accepted at once, and a job with ``onAllTasksComplete: terminatejob``
        and no task yet ends at once, as on the service. ``seq`` is the creation order, a
        component of the queue order."""
        job = Job(spec, seq)
        job.creation_at = self.kernel.now
        self.jobs.append(job)
        if spec.job_manager_task is not None:
            jm = Task(job, spec.job_manager_task, -1, slots_per_node=self.slots, is_jm=True)
            jm.gkey = jm.slots if jm.slots <= self.slots else None
            jm.simple = False
            job.jm = jm
            self.n_workload_tasks += 1      # counted as _build_workload counts a job's manager
        self._create_job(job)
        if job.terminate_on_all and job.state == "active" and not job.n_submitted:
            self._terminate(job, "AllTasksComplete")
        return job

    def add_task(self, job: Job, spec: TaskSpec, *, seq: int | None = None) -> Task:
        """Submit a task to ``job`` now, as a workload's submission at this instant: accepted
        by an active job (a pending one is created first) or rejected, its dependencies
        resolved against the job's tasks as they are now. ``seq`` (component 6 of the queue
        order) defaults to the next after every task the engine has numbered."""
        if seq is None:
            seq = self.next_seq
        self.next_seq = max(self.next_seq, seq + 1)
        task = Task(job, spec, seq, slots_per_node=self.slots)
        if not self.direct_start:
            task.simple = False     # an engine on its general paths (Engine.use_general_paths,
                                    # the live engine) keeps the tasks it adds on them too
        task.gkey = self._group_key(task, spec)
        task.submit_at = self.kernel.now
        self.n_workload_tasks += 1
        if (task.mem or task.disk) and not self.track_mem \
                or task.io is not None and not self.track_io:
            # a simulation integrates memory, disk and I/O only when some task has them: from
            # the kernel's next run on (the live kernel runs in short chunks) this one counts
            self.track_mem = self.track_mem or bool(task.mem or task.disk)
            self.track_io = self.track_io or task.io is not None
            if self.kernel._advance == self._advance_plain:   # a simulation's own hook (an
                self.kernel._advance = self._advance          # account's kernel calls _advance)
        self._submit_task(job, task)
        ids = job._ids
        if task.accepted and ids is not None and int_ids((spec.id,)):
            n = int(spec.id)
            if n not in ids:
                insort(ids, n)      # a wide range of a later task finds it among the job's
        return task

    def terminate_job(self, job: Job, reason: str = USER_TERMINATE) -> bool:
        """Terminate ``job`` as its own rules do
        (docs/simulation-model.md#job-states-and-termination): running tasks are killed,
        active ones never run, release tasks run. False when the job is not active or
        disabled."""
        if job.state is not JOB_ACTIVE and job.state is not JOB_DISABLED:
            return False
        self._terminate(job, reason)
        return True

    def disable_job(self, job: Job, option: str = "requeue") -> bool:
        """Disable ``job``: none of its tasks starts until it is enabled. Its running tasks
        are requeued (``requeue``), ended as failed (``terminate``), or left to end
        (``wait``). False when the job is not active."""
        if option not in DISABLE_JOB_OPTIONS:
            raise ValueError(f"disabling a job takes requeue, terminate or wait, not {option}")
        if job.state is not JOB_ACTIVE:
            return False
        self._disable(job)
        if option != "wait":
            for task in list(job.assigned):
                if task not in job.assigned:
                    continue    # ended meanwhile (a killed manager ended the job)
                if option == "requeue":
                    self._requeue(task)
                else:
                    self._kill(task, by_job=True)
        return True

    def enable_job(self, job: Job) -> bool:
        """A disabled ``job`` is active again: its ready tasks (and a job manager waiting to
        run) return to the queue in their old places, and a job whose tasks all completed
        while it was disabled ends if ``onAllTasksComplete`` says so. False when the job is
        not disabled."""
        if job.state is not JOB_DISABLED:
            return False
        job.state = JOB_ACTIVE
        self.active_inst += job.n_ready_inst
        self.active_slots += job.n_ready_slots
        if self._log is not None:
            self._log((self.kernel.now, "job", job.id, JOB_ACTIVE))
        if job.groups and not job.in_queue:
            job.in_queue = True
            heappush(self.queue, (job.key, job, False))
        jm = job.jm
        if jm is not None and jm.state is ACTIVE and jm.qtoken >= 0 and not job.jm_queued:
            job.jm_queued = True            # the key SchedulerMixin._make_ready gives it
            key = (-job.priority, 0 if jm.ran_before else 1, job.created_at, job.seq, 0)
            heappush(self.queue, (key, job, True))
        self.kernel.dirty = True
        if job.terminate_on_all and job.n_succeeded + job.n_failed == job.n_submitted:
            self._terminate(job, "AllTasksComplete")
        return True

    # -- one task: terminate, reactivate, delete, constraints -------------------------------

    def terminate_task(self, task: Task) -> bool:
        """End ``task`` now as the service's ``terminate`` does: a running (or preparing) task
        is killed, an active one completes without running; either way it is completed, failed,
        with ``TaskEnded``, and its exit options and dependants follow as for any failure.
        False when the task has already completed."""
        if task.state is TASK_COMPLETED:
            return False
        if task.state is TASK_RUNNING or task.state is TASK_PREPARING:
            self._kill(task, by_job=False)
            return True
        job = task.job
        if not task.pending and not task.blocked:
            # ready: in the counts of the queue (its heap entry is dropped by its token)
            inst = task.inst
            job.n_ready_inst -= inst
            job.n_ready_slots -= task.slots * inst
            if job.state is JOB_ACTIVE:
                self.active_inst -= inst
                self.active_slots -= task.slots * inst
        task.qtoken = -1
        job.n_active -= 1
        self.n_active -= 1
        self._log_end(task, FAILURE, None)
        self._complete(task, FAILURE, None, TASK_TERMINATED)
        return True

    def reactivate_task(self, task: Task) -> bool:
        """A completed, failed task is active again, as the service's ``reactivate`` makes
        it: eligible to run up to its ``maxTaskRetryCount`` once more (its ``retryCount`` is
        reset), its previous result, exit code and failure forgotten. Dependants it already
        blocked stay blocked (their state is their own). False when the task did not fail."""
        if task.state is not TASK_COMPLETED or task.result is not FAILURE:
            return False
        job = task.job
        job.n_failed -= 1
        self.n_failed -= 1
        task.result = task.exit_code = task.failure = task.end_time = None
        task.retry_count = 0
        task.blocked = False
        task.pending = 0
        if self._log is not None:
            self._log((self.kernel.now, "task.reactivate", task.key))
        self._back_to_active(task)
        return True

    def delete_task(self, task: Task) -> None:
        """Forget ``task``: one not yet completed is terminated first (its process ends), then
        it leaves its job's tasks and counts, as if it had never been submitted. Its id may be
        used again."""
        if task.state is not TASK_COMPLETED:
            self.terminate_task(task)
        job = task.job
        if task.result is FAILURE:
            job.n_failed -= 1
            self.n_failed -= 1
        else:
            job.n_succeeded -= 1
            self.n_succeeded -= 1
        job.n_submitted -= 1
        self.n_submitted -= 1
        # a new list, not one shortened in place: an index kept beside the job's list (the
        # account's) sees a list replaced and builds itself again
        job.tasks = [t for t in job.tasks if t is not task]
        if job.by_id is not None:
            job.by_id.pop(task.id, None)
        if self._log is not None:
            self._log((self.kernel.now, "task.delete", task.key))

    def set_task_constraints(self, task: Task, *, max_retry: int, wall: float | None,
                             retention: float) -> None:
        """Change ``task``'s constraints. The retry limit applies at the next exit, the
        wall-clock limit from the next attempt on (the running attempt keeps the limit it
        started with), the retention at the task's completion."""
        if max_retry < -1:
            raise ValueError(f"maxTaskRetryCount must be at least -1, not {max_retry}")
        task.max_retry = max_retry
        task.wall = wall
        task.retention = retention
        if self._log is not None:
            self._log((self.kernel.now, "task.constraints", task.key))

    def set_job_limits(self, job: Job, *, max_retry: int, wall: float | None,
                       max_parallel: int, terminate_on_all: bool) -> None:
        """Change what a running ``job`` allows (the service's job update): the default retry
        count of the tasks added from now on, the job's wall-clock limit (counted from its
        creation, as the service counts it: a limit already passed ends the job now), how many
        of its tasks may run at once (more takes effect at the next pass; fewer stops
        nothing), and whether it ends when all its tasks have completed (at once, if they
        have)."""
        job.max_retry = max_retry
        if wall != job.wall:
            job.wall = wall
            if wall is not None and (job.state is JOB_ACTIVE or job.state is JOB_DISABLED):
                self.kernel.at(max(self.kernel.now, job.created_at + wall), WALLCLOCK,
                               self._on_job_wall, job)
        job.max_parallel = max_parallel
        job.terminate_on_all = terminate_on_all
        self.kernel.dirty = True
        if self._log is not None:
            self._log((self.kernel.now, "job.limits", job.id))
        if terminate_on_all and job.state is JOB_ACTIVE \
                and job.n_succeeded + job.n_failed == job.n_submitted:
            self._terminate(job, "AllTasksComplete")
