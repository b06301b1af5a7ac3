"""The task scheduler: the ready queue, the scheduling pass and placement
(docs/simulation-model.md#scheduling).

A mixin of :class:`~poolscale.scheduler.simulate.Simulation`.

The queue (docs/simulation-model.md#queue-order-and-priorities) is a heap of *entries*, one per job
with ready tasks and one per job manager
waiting to run, keyed ``(−priority, restarted-manager ? 0 : 1, creation time, job sequence,
manager ? 0 : 1)``. Within a job, ready tasks sit in one heap per *group*: tasks of one job
needing the same number of slots (or, for multi-instance tasks, the same number of nodes) are
interchangeable for placement, so when the head of a group fits nowhere the whole group is
skipped for the rest of the pass and the pass stays incremental. A pass stops as soon as no
usable node has a free slot, so a saturated pool with a long queue costs O(log n) per exit.
"""

from __future__ import annotations

from typing import Any

from heapq import heappop, heappush

from .kernel import EXIT, WALLCLOCK
from .nodes import DEDICATED, IDLE, Node, RUNNING as NODE_RUNNING
from .tasks import (
    ACTIVE, JOB_ACTIVE, MIN_FAILED_ATTEMPT, PREPARING, RUNNING, Job, Task, stretches_failures,
)
from .jobs import JobsMixin

__all__ = ["SchedulerMixin"]

_BIG = 1 << 62


def _is_dedicated(node: Node) -> bool:
    return node.kind == DEDICATED


class SchedulerMixin(JobsMixin):
    # -- the ready queue ----------------------------------------------------------------

    def _make_ready(self, task: Task) -> None:
        """``task`` is active with its dependencies satisfied: count it and queue it
        (docs/simulation-model.md#candidates)."""
        job = task.job
        inst = task.inst
        job.n_ready_inst += inst
        job.n_ready_slots += task.slots * inst
        if job.state is JOB_ACTIVE:
            self.active_inst += inst
            self.active_slots += task.slots * inst
        gkey = task.gkey
        if gkey is None:
            return  # never placed, but counted (docs/simulation-model.md#tasks-that-never-run)
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
        """docs/simulation-model.md#scheduling: greedy, in queue order, until nothing more fits
        anywhere."""
        q = self.queue
        if not q or not self.n_usable:
            return
        count = self.index.count    # any(count) is index.max_free() != 0, without the call
        keep = []
        while q:
            if not any(count):
                break
            entry = heappop(q)
            job = entry[1]
            if entry[2]:
                job.jm_queued = False
                jm = job.jm
                if job.state is not JOB_ACTIVE or jm.state is not ACTIVE or jm.qtoken < 0:
                    continue
                if 0 < job.max_parallel <= job.n_assigned:
                    # docs/simulation-model.md#candidates: the manager is a task of its job
                    # (docs/simulation-model.md#job-manager-task), so it waits like any
                    # other until fewer than maxParallelTasks of the job are assigned
                    job.jm_queued = True
                    keep.append(entry)
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
                    continue  # re-queued when the manager starts
                              # (docs/simulation-model.md#job-manager-task)
                if self._place_job(job):
                    job.in_queue = True
                    keep.append(entry)
        for entry in keep:
            heappush(q, entry)

    def _place_job(self, job: Job) -> bool:
        """Place the job's ready tasks in submission order; True when some remain."""
        groups = job.groups
        limit = job.max_parallel - job.n_assigned if job.max_parallel > 0 else _BIG
        excl = job.n_excluded
        if len(groups) == 1 and not excl:
            # one group and no exclusions (the common case): a tight loop over one heap
            for gkey, h in groups.items():
                pass
            if gkey > 0:
                find = self.index.find_pack if self.pack else self.index.find_spread
                simple = job.prep is None
                node: Any = False
                while limit > 0 and h:
                    head = h[0]
                    task = head[2]
                    if task.qtoken != head[1]:
                        heappop(h)
                        continue
                    if task.affinity is not None:
                        break                       # the general loop below handles it
                    node = find(gkey)
                    if node is None:
                        break
                    heappop(h)
                    task.qtoken = -1
                    if simple and task.simple:
                        self._place_simple(task, node)
                    else:
                        self._place(task, node)
                    limit -= 1
                else:
                    if not h:
                        del groups[gkey]
                    return bool(groups)
                if node is None:
                    return True
        failed = None
        while limit > 0:
            best = None
            best_h: Any = None
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

    # -- placement (docs/simulation-model.md#placement-and-fill-type)

    def _eligible(self, node: Node, task) -> bool:
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

    def _find(self, task: Task, excluded: int):
        if task.affinity is not None:
            node = self.nodes.get(task.affinity)
            if node is not None and self._eligible(node, task):
                return node
        index = self.index
        if task.is_jm:
            # the first eligible node in id order with the most (pack) or fewest (spread) used
            # slots, as _eligible decides; an exclusive manager needs a node with no tasks
            # (every task takes a slot: bucket 0)
            spec = task.jm_spec
            dedicated = not spec.allow_low_priority_node
            if excluded or dedicated:
                view = self._view(task.job if excluded else None, dedicated)
                if spec.run_exclusive:
                    return view.top(0) if index.count[0] and task.slots <= index.slots else None
                return view.find(task.slots, self.pack)
            if spec.run_exclusive:
                return index.top(0) if index.count[0] and task.slots <= index.slots else None
        elif excluded:
            return self._view(task.job, False).find(task.slots, self.pack)
        if self.pack:
            return index.find_pack(task.slots)
        return index.find_spread(task.slots)

    def _view(self, job: Job | None, dedicated: bool):
        """The slot index seen through a job's exclusions and/or the dedicated-only rule of a
        job manager (nodes.SlotView)."""
        if job is None:
            return self.index.view((None, True), _is_dedicated)
        if dedicated:
            return self.index.view((job, True),
                                   lambda n: n.kind == DEDICATED and job not in n.excluded)
        return self.index.view((job, False), lambda n: job not in n.excluded)

    def _find_mi(self, task: Task, excluded: int):
        """docs/simulation-model.md#multi-instance-tasks: the N lowest-id empty eligible nodes, or
        None."""
        if excluded:
            return self._view(task.job, False).lowest_empty(task.inst)
        return self.index.lowest_empty(task.inst)

    def _place(self, task: Task, where) -> None:
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

    def _place_simple(self, task: Task, node: Node) -> None:
        """``_place`` + ``_start_attempt`` inlined for a simple task (see Task.simple) of a job
        without a preparation task. Same effects, same order."""
        job = task.job
        slots = task.slots
        job.n_ready_inst -= 1
        job.n_ready_slots -= slots
        self.active_inst -= 1
        self.active_slots -= slots
        job.n_active -= 1
        self.n_active -= 1
        job.n_assigned += 1
        job.assigned[task] = None
        self.n_running += 1
        self.running_inst += 1
        self.assigned_slots += slots
        task.node = node
        task.assign_no += 1
        k = self.kernel
        now = k.now
        log = self._log
        node.tasks[task] = None
        node.used += slots
        node.n_busy += 1
        if node.exclusive:
            self.index.drop(node)
        else:
            self.index.put(node)
        if node.state is IDLE:
            # _set_state(node, RUNNING): both states are usable, so only these change
            node.state = NODE_RUNNING
            if log is not None:
                log((now, "node", node.id, NODE_RUNNING))
        # _start_attempt
        task.state = RUNNING
        task.start_time = now
        if task.first_start is None:
            task.first_start = now
        task.attempt += 1
        d = task.duration
        if (d < MIN_FAILED_ATTEMPT and not task.always_ok and stretches_failures(task.max_retry)
                and task.attempt_exit_code() != 0):
            d = MIN_FAILED_ATTEMPT
        w = task.wall
        if w is not None and w < d:
            heappush(k.heap, (now + w, WALLCLOCK, next(k._seq), self._on_wall, task, task.attempt))
        else:
            heappush(k.heap, (now + d, EXIT, next(k._seq), self._on_exit, task, task.attempt))
        c = node.cpu
        nc = c + task.share
        node.cpu = nc
        s = node.state
        if s is IDLE or s is NODE_RUNNING:
            self.cpu_total += (100.0 if nc > 100.0 else nc) - (100.0 if c > 100.0 else c)
        if log is not None:
            log((now, "task.start", task.key, node.id))

    def _unassign(self, task: Task) -> None:
        """Take ``task`` off its node(s); the caller sets its next state."""
        if task.state is RUNNING:
            self._stop_resources(task)
            task.attempt_end = self.kernel.now
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
            if (s is IDLE or s is NODE_RUNNING) and not node.exclusive and not node.disabled:
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
