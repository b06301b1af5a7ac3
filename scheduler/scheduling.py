"""The task scheduler: submissions, job lifecycle, the scheduling pass and attempts (§5–§7).

A mixin of :class:`~poolscale.scheduler.simulate.Simulation`.

The queue (§7.2) is a heap of *entries*, one per job with ready tasks and one per job manager
waiting to run, keyed ``(−priority, restarted-manager ? 0 : 1, creation time, job sequence,
manager ? 0 : 1)``. Within a job, ready tasks sit in one heap per *group*: tasks of one job
needing the same number of slots (or, for multi-instance tasks, the same number of nodes) are
interchangeable for placement, so when the head of a group fits nowhere the whole group is
skipped for the rest of the pass and the pass stays incremental. A pass stops as soon as no
usable node has a free slot, so a saturated pool with a long queue costs O(log n) per exit.
"""

from __future__ import annotations

from heapq import heappop, heappush

from poolscale.formula.values import Option  # noqa: F401  (re-exported for readers)

from .kernel import EXIT, SUBMIT, WALLCLOCK
from .nodes import (
    DEDICATED, IDLE, PREP_FAILED, PREP_RUNNING, PREP_SUCCEEDED, RUNNING as NODE_RUNNING,
    PrepRecord,
)
from .tasks import (
    ACTIVE, COMPLETED, FAILURE, JOB_ACTIVE, JOB_COMPLETED, JOB_DISABLED, JOB_PENDING,
    JOB_TERMINATING, PREPARING, RUNNING, SUCCESS, exit_actions,
)

__all__ = ["SchedulerMixin"]

_BIG = 1 << 62


class SchedulerMixin:
    # -- submissions and jobs -------------------------------------------------------------

    def _on_submit(self, i: int, _=None) -> None:
        """All submissions and job creations at this instant, in workload order (§5.1)."""
        items = self.submissions
        n = len(items)
        now = self.kernel.now
        created = []
        while i < n and items[i][0] == now:
            _, job, task = items[i]
            if task is None:
                self._create_job(job)
                created.append(job)
            else:
                self._submit_task(job, task)
            i += 1
        for job in created:
            # §12.11: terminatejob on a job with no tasks ends it at once. Tasks submitted at
            # the instant the job is created count (choice).
            if job.terminate_on_all and job.state is JOB_ACTIVE and not job.n_submitted:
                self._terminate(job, "AllTasksComplete")
        if i < n:
            self.kernel.at(items[i][0], SUBMIT, self._on_submit, i)
        else:
            self.submissions_done = True
            self._check_drained()

    def _create_job(self, job) -> None:
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

    def _submit_task(self, job, task) -> None:
        if job.state is JOB_PENDING:
            self._create_job(job)
        if job.state is not JOB_ACTIVE:
            self.n_rejected += 1
            if self._log is not None:
                self._log((self.kernel.now, "task.reject", task.key, job.state))
            return
        self._accept(task)

    def _accept(self, task) -> None:
        job = task.job
        now = self.kernel.now
        task.accepted = True
        task.state = ACTIVE
        task.submit_time = now
        job.tasks[task.id] = task
        job.n_submitted += 1
        job.n_active += 1
        self.n_submitted += 1
        self.n_active += 1
        if self._log is not None:
            self._log((now, "task.submit", task.key))
        if task.depends:
            tasks = job.tasks
            for pid in task.depends:
                p = tasks.get(pid)
                if p is not None and p.state is COMPLETED:
                    if not p.dep_satisfies:
                        task.blocked = True
                else:
                    # §6.4: a parent that does not exist yet blocks until it completes (choice)
                    task.pending += 1
                    job.waiters.setdefault(pid, []).append(task)
        if not task.pending and not task.blocked:
            self._make_ready(task)

    def _on_job_wall(self, job, _=None) -> None:
        self._terminate(job, "MaxWallClockTimeExpiry")

    def _terminate(self, job, reason: str) -> None:
        """§5.2: kill assigned tasks, leave active ones for ever, run release tasks."""
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
        if job.release is not None:
            for node in list(self.nodes.values()):
                if job in node.prep:
                    self._start_release(node, job)
        if not job.n_releases:
            self._job_completed(job)

    def _disable(self, job) -> None:
        if job.state is not JOB_ACTIVE:
            return
        self.active_inst -= job.n_ready_inst
        self.active_slots -= job.n_ready_slots
        job.state = JOB_DISABLED
        if self._log is not None:
            self._log((self.kernel.now, "job", job.id, JOB_DISABLED))

    def _job_completed(self, job) -> None:
        job.state = JOB_COMPLETED
        job.completed_at = self.kernel.now
        if self._log is not None:
            self._log((self.kernel.now, "job", job.id, JOB_COMPLETED))

    def _check_drained(self) -> None:
        if self.stop_when_drained and self.submissions_done and not self.n_active \
                and not self.n_running:
            self.kernel.stop_at = self.kernel.now

    # -- the ready queue ----------------------------------------------------------------

    def _make_ready(self, task) -> None:
        """``task`` is active with its dependencies satisfied: count it and queue it (§7.1)."""
        job = task.job
        inst = task.inst
        job.n_ready_inst += inst
        job.n_ready_slots += task.slots * inst
        if job.state is JOB_ACTIVE:
            self.active_inst += inst
            self.active_slots += task.slots * inst
        gkey = task.gkey
        if gkey is None:
            return  # §7.4: never placed, but counted
        tok = self._qtok
        self._qtok = tok + 1
        task.qtoken = tok
        if task.is_jm:
            if not job.jm_queued:
                job.jm_queued = True
                key = (-job.priority, 0 if task.ran_before else 1, job.created_at, job.seq, 0)
                heappush(self.queue, (key, job, True))
        else:
            h = job.groups.get(gkey)
            if h is None:
                h = job.groups[gkey] = []
            heappush(h, (task.seq, tok, task))
            if not job.in_queue:
                job.in_queue = True
                heappush(self.queue, (job.key, job, False))
        self.kernel.dirty = True

    def _schedule_pass(self) -> None:
        """§7: greedy, in queue order, until nothing more fits anywhere."""
        q = self.queue
        if not q or not self.n_usable:
            return
        index = self.index
        keep = []
        while q:
            if not index.max_free():
                break
            entry = heappop(q)
            job = entry[1]
            if entry[2]:
                job.jm_queued = False
                jm = job.jm
                if job.state is not JOB_ACTIVE or jm.state is not ACTIVE or jm.qtoken < 0:
                    continue
                node = self._find(jm, job.n_excluded)
                if node is not None:
                    jm.qtoken = -1
                    self._place(jm, node)
                else:
                    job.jm_queued = True
                    keep.append(entry)
            else:
                job.in_queue = False
                if job.state is not JOB_ACTIVE:
                    continue
                if job.jm is not None and not job.jm_started:
                    continue  # re-queued when the manager starts (§5.3)
                if self._place_job(job):
                    job.in_queue = True
                    keep.append(entry)
        for entry in keep:
            heappush(q, entry)

    def _place_job(self, job) -> bool:
        """Place the job's ready tasks in submission order; True when some remain."""
        groups = job.groups
        limit = job.max_parallel - job.n_assigned if job.max_parallel > 0 else _BIG
        excl = job.n_excluded
        failed = None
        while limit > 0:
            best = None
            best_h = None
            for gkey, h in groups.items():
                if failed is not None and gkey in failed:
                    continue
                while h and h[0][2].qtoken != h[0][1]:
                    heappop(h)
                if h and (best is None or h[0][0] < best[0]):
                    best = h[0]
                    best_h = h
                    best_key = gkey
            if best is None:
                break
            task = best[2]
            where = self._find_mi(task, excl) if best_key < 0 else self._find(task, excl)
            if where is None:
                if failed is None:
                    failed = set()
                failed.add(best_key)
                continue
            heappop(best_h)
            task.qtoken = -1
            self._place(task, where)
            limit -= 1
        for gkey in [g for g, h in groups.items() if not h]:
            del groups[gkey]
        return bool(groups)

    # -- placement (§7.3) -----------------------------------------------------------------

    def _eligible(self, node, task) -> bool:
        if node.bucket < 0 or self.slots - node.used < task.slots:
            return False
        if task.job in node.excluded:
            return False
        if task.is_jm:
            spec = task.jm_spec
            if not spec.allow_low_priority_node and node.kind != DEDICATED:
                return False
            if spec.run_exclusive and node.tasks:
                return False
        return True

    def _find(self, task, excluded: int):
        if task.affinity is not None:
            node = self.nodes.get(task.affinity)
            if node is not None and self._eligible(node, task):
                return node
        if excluded or task.is_jm:
            best = None
            pack = self.pack
            for node in self.nodes.values():
                if not self._eligible(node, task):
                    continue
                if best is None or (node.used > best.used if pack else node.used < best.used):
                    best = node
            return best
        if self.pack:
            return self.index.find_pack(task.slots)
        return self.index.find_spread(task.slots)

    def _find_mi(self, task, excluded: int):
        """§6.5/§7.3: the N lowest-id empty eligible nodes, or None."""
        nodes = self.index.empty_nodes()
        if excluded:
            nodes = [n for n in nodes if task.job not in n.excluded]
        return nodes[: task.inst] if len(nodes) >= task.inst else None

    def _place(self, task, where) -> None:
        job = task.job
        inst = task.inst
        job.n_ready_inst -= inst
        job.n_ready_slots -= task.slots * inst
        self.active_inst -= inst
        self.active_slots -= task.slots * inst
        job.n_active -= 1
        self.n_active -= 1
        job.n_assigned += 1
        job.assigned[task] = None
        self.n_running += 1
        self.running_inst += inst
        self.assigned_slots += task.slots * inst
        nodes = where if type(where) is list else (where,)
        task.node = nodes[0]
        task.nodes = where if type(where) is list else None
        task.last_nodes = nodes
        task.assign_no += 1
        task.state = PREPARING
        if self._log is not None:
            self._log((self.kernel.now, "task.assign", task.key, ",".join(n.id for n in nodes)))
        slots = task.slots
        index = self.index
        exclusive = task.is_jm and task.jm_spec.run_exclusive
        for node in nodes:
            node.tasks[task] = None
            node.used += slots
            node.n_busy += 1
            if task.is_jm:
                node.n_jm += 1
                if exclusive:
                    node.exclusive = True
            if node.exclusive:
                index.drop(node)
            else:
                index.put(node)
            if node.state is IDLE:
                self._set_state(node, NODE_RUNNING)
        if job.prep is not None:
            self._prepare(task, nodes)
        else:
            self._start_attempt(task)

    def _unassign(self, task) -> None:
        """Take ``task`` off its node(s); the caller sets its next state."""
        if task.state is RUNNING:
            self._stop_resources(task)
        job = task.job
        slots = task.slots
        index = self.index
        for node in (task.nodes or (task.node,)):
            del node.tasks[task]
            node.used -= slots
            node.n_busy -= 1
            if task.is_jm:
                node.n_jm -= 1
                if node.exclusive and task.jm_spec.run_exclusive:
                    node.exclusive = False
            s = node.state
            if (s is IDLE or s is NODE_RUNNING) and not node.exclusive:
                index.put(node)
            self._busy_changed(node)
        del job.assigned[task]
        job.n_assigned -= 1
        self.n_running -= 1
        self.running_inst -= task.inst
        self.assigned_slots -= slots * task.inst
        task.node = None
        task.nodes = None
        self.kernel.dirty = True

    # -- job preparation and release (§5.4) -------------------------------------------------

    def _prepare(self, task, nodes) -> None:
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

    def _start_prep(self, node, job, rec) -> None:
        prep = job.prep
        rec.state = PREP_RUNNING
        node.n_busy += 1
        self._busy_changed(node)
        d = prep.duration
        failed = False
        if prep.failure_probability > 0:
            rng = self.streams.rng("preparation", job.seq, node.num, node.inc, rec.attempts)
            failed = rng.random() < prep.failure_probability
        wall = prep.constraints.max_wall_clock_time
        if wall is not None and wall < d:
            d, failed = wall, True
        self.kernel.after(d, EXIT, self._on_prep_end, node, (job, rec, failed))

    def _on_prep_end(self, node, arg) -> None:
        job, rec, failed = arg
        if node.prep.get(job) is not rec or rec.state is not PREP_RUNNING:
            return
        node.n_busy -= 1
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
                    pass  # still usable for other jobs (§5.4)
                waiting, rec.waiting = rec.waiting, []
                for task, no in waiting:
                    if task.assign_no == no and task.state is PREPARING:
                        self._unassign(task)
                        self._back_to_active(task)   # no counter changes (§11.6)
        self._busy_changed(node)
        self.kernel.dirty = True

    def _start_release(self, node, job) -> None:
        node.releases[job] = True
        node.n_busy += 1
        job.n_releases += 1
        self._busy_changed(node)
        rel = job.release
        self.kernel.after(min(rel.duration, rel.wall_clock_limit), EXIT,
                          self._on_release_end, node, job)

    def _on_release_end(self, node, job) -> None:
        if job in node.releases:
            self._end_release(node, job, skipped=False)

    def _end_release(self, node, job, *, skipped: bool) -> None:
        del node.releases[job]
        node.n_busy -= 1
        job.n_releases -= 1
        if self._log is not None:
            self._log((self.kernel.now, "release.skip" if skipped else "release.end", job.id,
                       node.id))
        if not job.n_releases and job.state is JOB_TERMINATING:
            self._job_completed(job)
        self._busy_changed(node)

    # -- attempts ---------------------------------------------------------------------------

    def _start_attempt(self, task) -> None:
        now = self.kernel.now
        task.state = RUNNING
        task.start_time = now
        if task.first_start is None:
            task.first_start = now
        task.attempt += 1
        d = task.duration
        w = task.wall
        if w is not None and w < d:
            self.kernel.at(now + w, WALLCLOCK, self._on_wall, task, task.attempt)
        else:
            self.kernel.at(now + d, EXIT, self._on_exit, task, task.attempt)
        share = task.share
        for node in (task.nodes or (task.node,)):
            c = node.cpu
            node.cpu = c + share
            s = node.state
            usable = s is IDLE or s is NODE_RUNNING
            if usable:
                self.cpu_total += (100.0 if c + share > 100.0 else c + share) - \
                                  (100.0 if c > 100.0 else c)
            if task.mem or task.disk:
                node.mem += task.mem
                node.disk += task.disk
                if usable:
                    self.mem_total += task.mem
                    self.disk_total += task.disk
        if task.io is not None:
            k = len(task.nodes) if task.nodes else 1
            io = self.io_rates
            for i, r in enumerate(task.io):
                io[i] += r * k
        if self._log is not None:
            self._log((now, "task.start", task.key, task.node.id))
        if task.is_jm:
            task.ran_before = True
            job = task.job
            if not job.jm_started:
                job.jm_started = True
                if job.groups and not job.in_queue and job.state is JOB_ACTIVE:
                    job.in_queue = True
                    heappush(self.queue, (job.key, job, False))
                self.kernel.dirty = True

    def _stop_resources(self, task) -> None:
        share = task.share
        for node in (task.nodes or (task.node,)):
            c = node.cpu
            node.cpu = c - share if c - share > 1e-9 else 0.0
            s = node.state
            usable = s is IDLE or s is NODE_RUNNING
            if usable:
                self.cpu_total += (100.0 if node.cpu > 100.0 else node.cpu) - \
                                  (100.0 if c > 100.0 else c)
            if task.mem or task.disk:
                node.mem -= task.mem
                node.disk -= task.disk
                if usable:
                    self.mem_total -= task.mem
                    self.disk_total -= task.disk
        if task.io is not None:
            k = len(task.nodes) if task.nodes else 1
            io = self.io_rates
            for i, r in enumerate(task.io):
                io[i] -= r * k

    def _on_exit(self, task, attempt: int) -> None:
        if attempt != task.attempt or task.state is not RUNNING:
            return
        code = task.next_exit_code()
        task.exit_code = code
        if code == 0:
            self._retain(task)
            self._unassign(task)
            self._complete(task, SUCCESS, 0, None)
        elif task.retries_left():
            self._unassign(task)
            task.retry_count += 1
            if self._log is not None:
                self._log((self.kernel.now, "task.retry", task.key, code))
            self._back_to_active(task)
        else:
            self._retain(task)
            self._unassign(task)
            self._complete(task, FAILURE, code, ("usererror", "FailureExitCode"))

    def _on_wall(self, task, attempt: int) -> None:
        if attempt != task.attempt or task.state is not RUNNING:
            return
        self.wasted += self.kernel.now - task.start_time
        self._retain(task)
        self._unassign(task)
        self._complete(task, FAILURE, None, ("servererror", "TaskEnded"))

    def _retain(self, task) -> None:
        until = self.kernel.now + task.retention
        for node in (task.nodes or (task.node,)):
            if until > node.retain_until:
                node.retain_until = until

    def _back_to_active(self, task) -> None:
        task.state = ACTIVE
        job = task.job
        job.n_active += 1
        self.n_active += 1
        self._make_ready(task)

    def _recover(self, task) -> None:
        """Preemption or node failure: back to active, ``recoveryCount`` + 1 (§4.4)."""
        self._send_back(task)
        task.recovery_count += 1
        if self._log is not None:
            self._log((self.kernel.now, "task.recover", task.key))
        self._back_to_active(task)

    def _requeue(self, task) -> None:
        """Removal with ``requeue``: back to active, ``requeueCount`` + 1 (§4.6)."""
        self._send_back(task)
        task.requeue_count += 1
        if self._log is not None:
            self._log((self.kernel.now, "task.requeue", task.key))
        self._back_to_active(task)

    def _send_back(self, task) -> None:
        if task.state is RUNNING:
            self.wasted += self.kernel.now - task.start_time
        task.was_requeued = True
        self._unassign(task)

    def _kill(self, task, *, by_job: bool) -> None:
        """Removal with ``terminate`` or the job's termination: completed, failure, TaskEnded."""
        if task.state is RUNNING:
            self.wasted += self.kernel.now - task.start_time
        self._retain(task)
        self._unassign(task)
        self._complete(task, FAILURE, None, ("usererror", "TaskEnded"), by_job=by_job)

    def _complete(self, task, result: str, code, failure, *, by_job: bool = False) -> None:
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
        if self._log is not None:
            self._log((now, "task.end", task.key, result, code))
        if task.exit_conditions is None:
            ok = code == 0
            job_action = "none" if ok else "terminate"
            dep_ok = ok
        else:
            job_action, dep_action = exit_actions(task.exit_conditions, code)
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
