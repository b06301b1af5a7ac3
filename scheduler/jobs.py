"""Submissions, the job lifecycle, and job preparation and release tasks
(docs/simulation-model.md#jobs).

A mixin of :class:`~poolscale.scheduler.simulate.Simulation`. Submissions are the kernel's
stream: one event per distinct submit instant, read in order beside the heap.
"""

from __future__ import annotations

from heapq import heappush
from math import inf

from .kernel import SAMPLE, WALLCLOCK
from .nodes import PREP_FAILED, PREP_KILLED, PREP_RUNNING, PREP_SUCCEEDED, Node, PrepRecord
from .tasks import (
    ACTIVE, COMPLETED, JOB_ACTIVE, JOB_COMPLETED, JOB_DISABLED, JOB_PENDING, JOB_TERMINATING,
    PREPARING, Job, Task,
)
from .pool import PoolMixin

__all__ = ["JobsMixin"]


class JobsMixin(PoolMixin):
    # -- submissions and jobs -------------------------------------------------------------

    def _on_submit(self, i: int, _=None) -> None:
        """All submissions and job creations at this instant, in workload order
        (docs/simulation-model.md#job-fields)."""
        items = self.submissions
        n = len(items)
        k = self.kernel
        now = k.now
        created = None
        log = self._log
        while i < n and items[i][0] == now:
            _, job, task = items[i]
            i += 1
            if task is None:
                if job.state is JOB_PENDING:
                    self._create_job(job)
                    if created is None:
                        created = []
                    created.append(job)
            elif job.state is JOB_ACTIVE and task.depends is None and task.gkey is not None:
                # the common case, inlined: accept (docs/simulation-model.md#task-states) and queue
                # (docs/simulation-model.md#candidates)
                task.accepted = True
                task.state = ACTIVE
                task.submit_time = now
                job.tasks.append(task)          # Job.accept, inlined
                if job.by_id is not None:
                    job.by_id[task.id] = task
                job.n_submitted += 1
                job.n_active += 1
                self.n_submitted += 1
                self.n_active += 1
                if log is not None:
                    log((now, "task.submit", task.key))
                inst = task.inst
                slots = task.slots * inst
                job.n_ready_inst += inst
                job.n_ready_slots += slots
                self.active_inst += inst
                self.active_slots += slots
                heap = k.heap
                if (self.direct_start and task.simple and not self.queue
                        and (i == n or items[i][0] != now) and self.n_usable
                        and not (heap and heap[0][0] == now and heap[0][1] < SAMPLE)
                        and job.prep is None and task.affinity is None and not job.n_excluded
                        and (job.jm is None or job.jm_started)
                        and (job.max_parallel <= 0 or job.n_assigned < job.max_parallel)):
                    # The pass that follows would find this task alone in the queue (the last
                    # submission of the instant, nothing else ready, no state event still due
                    # at this instant — a job wall clock of 0, say) and place it first: place
                    # it now, as that pass would, without queueing it.
                    index = self.index
                    node = (index.find_pack if self.pack else index.find_spread)(task.gkey)
                    if node is not None:
                        task.qtoken = -1
                        self._place_simple(task, node)
                        continue
                tok = self._qtok
                self._qtok = tok + 1
                task.qtoken = tok
                h = job.groups.get(task.gkey)
                if h is None:
                    h = job.groups[task.gkey] = []
                heappush(h, (task.seq, tok, task))
                if not job.in_queue:
                    job.in_queue = True
                    heappush(self.queue, (job.key, job, False))
                k.dirty = True
            else:
                self._submit_task(job, task)
        if created is not None:
            for job in created:
                # docs/simulation-model.md#job-states-and-termination: terminatejob on a job with no
                # tasks ends it at once. Tasks submitted
                # at the instant the job is created count (choice).
                if job.terminate_on_all and job.state is JOB_ACTIVE and not job.n_submitted:
                    self._terminate(job, "AllTasksComplete")
        # the kernel's stream (submissions are sorted, so never before now)
        if i < n:
            k.stream_at = items[i][0]
            k.stream_arg = i
        else:
            k.stream_at = inf
            self.submissions_done = True
            self._check_drained()

    def _create_job(self, job: Job) -> None:
        now = self.kernel.now
        job.state = JOB_ACTIVE
        job.created_at = now
        job.key = (-job.priority, 1, now, job.seq, 1)
        if self._log is not None:
            self._log((now, "job", job.id, JOB_ACTIVE))
        if job.wall is not None:
            self.kernel.at(now + job.wall, WALLCLOCK, self._on_job_wall, job)
        if job.jm is not None:
            self._accept(job.jm)
        self._job_created(job)

    def _job_created(self, job: Job) -> None:
        """``job`` is active from now: the twin of :meth:`_job_ended` (an auto pool made for
        the job is created here). Nothing by default."""

    def _submit_task(self, job: Job, task: Task) -> None:
        if job.state is JOB_PENDING:
            self._create_job(job)
        if job.state is not JOB_ACTIVE:
            self.n_rejected += 1
            if self._log is not None:
                self._log((self.kernel.now, "task.reject", task.key, job.state))
            return
        self._accept(task)

    def _accept(self, task: Task) -> None:
        job = task.job
        now = self.kernel.now
        task.accepted = True
        task.state = ACTIVE
        task.submit_time = now
        job.accept(task)
        job.n_submitted += 1
        job.n_active += 1
        self.n_submitted += 1
        self.n_active += 1
        if self._log is not None:
            self._log((now, "task.submit", task.key))
        if task.depends:
            for pid in task.depends:
                p = job.accepted(pid)
                if p is not None and p.state is COMPLETED:
                    if not p.dep_satisfies:
                        task.blocked = True
                else:
                    # docs/simulation-model.md#dependencies: a parent that does not exist yet blocks
                    # until it completes (choice)
                    task.pending += 1
                    job.waiters.setdefault(pid, []).append(task)
        if not task.pending and not task.blocked:
            self._make_ready(task)

    def _on_job_wall(self, job: Job, _=None) -> None:
        wall = job.wall
        if wall is None or self.kernel.now < job.created_at + wall:
            return      # a timer of a limit a job update changed (RequestsMixin.set_job_limits)
        self._terminate(job, "MaxWallClockTimeExpiry")

    def _terminate(self, job: Job, reason: str) -> None:
        """docs/simulation-model.md#job-states-and-termination: kill assigned tasks, leave active
        ones for ever, run release tasks."""
        if job.state is not JOB_ACTIVE and job.state is not JOB_DISABLED:
            return
        if job.state is JOB_ACTIVE:
            self.active_inst -= job.n_ready_inst
            self.active_slots -= job.n_ready_slots
        now = self.kernel.now
        job.state = JOB_TERMINATING
        job.reason = reason
        job.ended_at = now
        if self._log is not None:
            self._log((now, "job", job.id, JOB_TERMINATING, reason))
        for task in list(job.assigned):
            self._kill(task, by_job=True)
        if job.prep is not None:
            for node in list(self.nodes.values()):
                rec = node.prep.get(job)
                if rec is None:
                    continue
                stopped = rec.state is PREP_RUNNING
                if stopped:
                    # the job's preparation tasks are its tasks too: a running one is stopped
                    # and never retried, so a finished job holds no node (choice)
                    rec.state = PREP_KILLED
                    rec.waiting = []
                    node.n_busy -= 1
                    if self._log is not None:
                        self._log((now, "prep.end", job.id, node.id, PREP_KILLED))
                    self._prep_stopped(node, job)
                if job.release is not None:
                    self._start_release(node, job)
                if stopped:
                    self._busy_changed(node)
        if not job.n_releases:
            self._job_completed(job)

    def _disable(self, job: Job) -> None:
        if job.state is not JOB_ACTIVE:
            return
        self.active_inst -= job.n_ready_inst
        self.active_slots -= job.n_ready_slots
        job.state = JOB_DISABLED
        if self._log is not None:
            self._log((self.kernel.now, "job", job.id, JOB_DISABLED))

    def _job_completed(self, job: Job) -> None:
        job.state = JOB_COMPLETED
        job.completed_at = self.kernel.now
        if self._log is not None:
            self._log((self.kernel.now, "job", job.id, JOB_COMPLETED))
        self._job_ended(job)

    def _job_ended(self, job: Job) -> None:
        """``job`` has completed: the owners of a job's life beyond the engine (a job schedule
        that makes the next job, an auto pool that goes with its job) hear of it here. Nothing
        by default; the layers that own schedules and auto pools override it and call super."""

    def _schedule_ended(self, schedule_id: str, *, deleted: bool) -> None:
        """The job schedule ``schedule_id`` has completed (or, ``deleted``, is being deleted):
        an auto pool that lives as long as the schedule goes here. Nothing by default."""

    def _check_drained(self) -> None:
        """A run without a horizon stops once every submission is made, no task is active or
        running, and no job schedule can make another job."""
        if self.stop_when_drained and self.submissions_done and not self.n_active \
                and not self.n_running and not self._schedules_live():
            self.kernel.stop_at = self.kernel.now

    # -- job preparation and release (docs/simulation-model.md#job-preparation-and-release-tasks)

    def _prepare(self, task: Task, nodes) -> None:
        job = task.job
        waiting = 0
        for node in nodes:
            rec = node.prep.get(job)
            if rec is None:
                rec = node.prep[job] = PrepRecord()
                self._start_prep(node, job, rec)
            if job.prep_wait and rec.state is not PREP_SUCCEEDED:
                rec.waiting.append((task, task.assign_no))
                waiting += 1
        task.prep_wait = waiting
        if not waiting:
            self._start_attempt(task)
        elif self._log is not None:
            self._log((self.kernel.now, "task.prepare", task.key, ",".join(n.id for n in nodes)))

    def _start_prep(self, node: Node, job: Job, rec) -> None:
        rec.state = PREP_RUNNING
        node.n_busy += 1
        self._busy_changed(node)
        if self._log is not None:
            self._log((self.kernel.now, "prep.start", job.id, node.id))
        self._launch_prep(node, job, rec)

    def _on_prep_end(self, node: Node, arg) -> None:
        job, rec, failed = arg
        if node.prep.get(job) is not rec or rec.state is not PREP_RUNNING:
            return
        node.n_busy -= 1
        if self._log is not None:
            self._log((self.kernel.now, "prep.end", job.id, node.id,
                       "failure" if failed else "success"))
        if not failed:
            rec.state = PREP_SUCCEEDED
            waiting, rec.waiting = rec.waiting, []
            for task, no in waiting:
                if task.assign_no == no and task.state is PREPARING:
                    task.prep_wait -= 1
                    if not task.prep_wait:
                        self._start_attempt(task)
        else:
            rec.attempts += 1
            limit = job.prep.constraints.max_task_retry_count or 0
            if limit == -1 or rec.attempts <= limit:
                self._start_prep(node, job, rec)
            else:
                rec.state = PREP_FAILED
                node.excluded.add(job)
                job.n_excluded += 1
                if node.bucket >= 0:
                    pass  # still usable for other jobs
                          # (docs/simulation-model.md#job-preparation-and-release-tasks)
                waiting, rec.waiting = rec.waiting, []
                for task, no in waiting:
                    if task.assign_no == no and task.state is PREPARING:
                        if self._log is not None:
                            self._log((self.kernel.now, "task.unprepare", task.key, node.id))
                        self._unassign(task)
                        self._back_to_active(task)   # no counter changes (invariant 6,
                                                     # docs/simulation-model.md#invariants)
        self._busy_changed(node)
        self.kernel.dirty = True

    def _start_release(self, node: Node, job: Job) -> None:
        node.releases[job] = True
        node.n_busy += 1
        job.n_releases += 1
        self._busy_changed(node)
        if self._log is not None:
            self._log((self.kernel.now, "release.start", job.id, node.id))
        self._launch_release(node, job)

    def _on_release_end(self, node: Node, job: Job) -> None:
        if job in node.releases:
            self._end_release(node, job, skipped=False)

    def _end_release(self, node: Node, job: Job, *, skipped: bool) -> None:
        del node.releases[job]
        node.n_busy -= 1
        job.n_releases -= 1
        if self._log is not None:
            self._log((self.kernel.now, "release.skip" if skipped else "release.end", job.id,
                       node.id))
        if not job.n_releases and job.state is JOB_TERMINATING:
            self._job_completed(job)
        self._busy_changed(node)
