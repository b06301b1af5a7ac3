"""The pool manager: node lifecycle, resize steps, scale-down and deallocation
(docs/simulation-model.md#nodes, docs/simulation-model.md#allocation-and-resize).

A mixin of :class:`~poolscale.scheduler.simulate.Simulation`; it shares the engine's state
(counters on ``self``) with the task scheduler and the sampler.
"""

from __future__ import annotations

import heapq
import math
import operator

from poolscale.formula.values import Option

from .kernel import NODE
from .nodes import (
    CREATING, DEDICATED, IDLE, KIND_NAMES, LEAVINGPOOL, LOW_PRIORITY, OFFLINE, PREEMPTED,
    REBOOTING, REMOVED, RUNNING, PREP_KILLED, PREP_RUNNING, STARTING, STARTTASKFAILED, UNUSABLE, WAITINGFORSTARTTASK,
    Node,
)
from .state import EngineState

__all__ = ["PoolMixin", "STEADY", "RESIZING", "STOPPING"]

STEADY = "steady"
RESIZING = "resizing"
STOPPING = "stopping"


_QUOTA_ERROR = ("AccountCoreQuotaReached", "AccountLowPriorityCoreQuotaReached")
_USED_THEN_ID = operator.attrgetter("used", "num")
#: ranks 1–4 of docs/simulation-model.md#which-nodes-leave-on-scale-down
#: (running nodes, ranks 5 and 6, are ordered by used slots, then id)
_RANK = {PREEMPTED: 1, UNUSABLE: 2, STARTTASKFAILED: 2, CREATING: 3, STARTING: 3,
         WAITINGFORSTARTTASK: 3, REBOOTING: 3, IDLE: 4, OFFLINE: 4}
_HOLDS_VM_ALIVE = (CREATING, STARTING, WAITINGFORSTARTTASK, STARTTASKFAILED, IDLE, RUNNING,
                   OFFLINE, REBOOTING)
#: Removed nodes between two sweeps of their stale timers out of the kernel's heap (at least;
#: see PoolMixin._remove): a sweep costs O(heap), so this keeps it O(1) per removed node.
SWEEP_AFTER_REMOVALS = 100_000


def _retry_limit(start_task) -> int:
    """How often a failed start task is retried: the pool's start task *now* (a request may
    have changed or removed it while an attempt ran; without one, nothing is retried)."""
    return 0 if start_task is None else start_task.max_task_retry_count


def _stale_node_timer(entry: tuple) -> bool:
    """A node timer of a removed node: its handler would find the token stale and return."""
    node = entry[4]
    return entry[1] == NODE and type(node) is Node and node.state is REMOVED


class PoolMixin(EngineState):
    # -- state changes ------------------------------------------------------------------

    def _set_state(self, node: Node, new: str) -> None:
        """Move ``node`` to ``new``, keeping every node counter and the slot index in step.

        A node whose scheduling a request disabled is ``offline`` where it would be ``idle``
        (docs/simulation-model.md#requests-at-any-instant), so every rule that makes a node
        idle (a boot, a start task, its last task ending) makes a disabled one offline; and it
        stays out of the slot index while it is usable (its tasks still running)."""
        if new is IDLE and node.disabled:
            new = OFFLINE
        old = node.state
        if old is new:
            return
        was_usable = old is IDLE or old is RUNNING
        is_usable = new is IDLE or new is RUNNING
        if was_usable and not is_usable:
            self.n_usable -= 1
            self.index.drop(node)
            if node.cpu:
                self.cpu_total -= min(100.0, node.cpu)
            if node.mem or node.disk:
                self.mem_total -= node.mem
                self.disk_total -= node.disk
        elif is_usable and not was_usable:
            self.n_usable += 1
            if not node.exclusive and not node.disabled:
                self.index.put(node)
            if node.cpu:
                self.cpu_total += min(100.0, node.cpu)
            if node.mem or node.disk:
                self.mem_total += node.mem
                self.disk_total += node.disk
        if old is PREEMPTED:
            self.n_preempted -= 1
            self.n_billed[node.kind] += 1
        if new is PREEMPTED:
            self.n_preempted += 1
            self.n_billed[node.kind] -= 1
        elif new is REMOVED:      # a preempted node was given back its count just above
            self.n_billed[node.kind] -= 1
        node.state = new
        if self._log is not None:
            self._log((self.kernel.now, "node", node.id, new))

    def _busy_changed(self, node: Node) -> None:
        """idle (or offline) <-> running follows whether anything is on the node
        (docs/simulation-model.md#node-states): a release task starting on an offline node
        makes it running again, and ending leaves it offline."""
        s = node.state
        if node.n_busy:
            if s is IDLE or s is OFFLINE:
                self._set_state(node, RUNNING)
        elif s is RUNNING:
            if node.reboot is not None:     # a reboot waited for this (RequestsMixin)
                self._reboot(node, node.reboot[0])
                return
            self._set_state(node, IDLE)
        elif s is LEAVINGPOOL:
            self._maybe_leave(node)

    # -- node lifecycle -----------------------------------------------------------------

    def _request_node(self, kind: int) -> Node:
        num = self.next_num
        self.next_num += 1
        node = Node(num, kind)
        node.requested = True
        self.n_req_creating += 1
        self.nodes[num] = node
        self.index.register(node)
        self.n_present[kind] += 1
        self.n_billed[kind] += 1
        if self._log is not None:
            self._log((self.kernel.now, "node", node.id, CREATING, KIND_NAMES[kind]))
        self._begin_incarnation(node, CREATING)
        return node

    def _draw(self, dist, label: str, node: Node) -> float:
        if dist.kind == "constant":
            return dist.value
        return dist.sample(self.streams.rng(label, node.num, node.inc))

    def _node_timer(self, delay: float, handler, node: Node, token) -> None:
        """``handler(node, token)`` after ``delay``, unless that is past the run's end: such a
        timer never fires, and left in the heap it would keep a removed node alive (a formula
        can create and remove a whole pool at every evaluation)."""
        at = self.kernel.now + delay
        if at <= self.until:
            self.kernel.at(at, NODE, handler, node, token)

    def _begin_incarnation(self, node: Node, phase: str) -> None:
        """A node (re)enters ``creating`` or ``starting`` holding a fresh VM: new timers."""
        node.inc += 1
        node.life += 1
        timer = self._node_timer
        if phase is CREATING:
            self._launch_allocation(node)
        else:
            self._launch_boot(node)
        # chaos: seeded preemption and failure timers (a rule on both clocks, see simworld.py)
        if node.kind == LOW_PRIORITY and self.preempt_mean is not None:
            u = self.streams.uniform("preemption", node.num, node.inc)
            timer(-self.preempt_mean * math.log1p(-u), self._on_preempt, node, node.inc)
        if self.fail_mean is not None:
            u = self.streams.uniform("failure", node.num, node.inc)
            timer(-self.fail_mean * math.log1p(-u), self._on_fail, node, node.inc)

    def _on_allocated(self, node: Node, life: int) -> None:
        if life != node.life:
            return
        if node.requested:
            node.requested = False
            self.n_req_creating -= 1
        self._set_state(node, STARTING)
        self._launch_boot(node)
        self._check_complete()

    def _on_booted(self, node: Node, life: int) -> None:
        if life != node.life:
            return
        st = self.start_task
        if st is not None and st.wait_for_success:
            self._set_state(node, WAITINGFORSTARTTASK)
            node.st_attempts = 0
            self._launch_start_task(node)
        else:
            self._set_state(node, IDLE)
            self.kernel.dirty = True
            if st is not None:
                node.st_attempts = 0
                self._launch_background_start_task(node)

    def _on_background_start_task_end(self, node: Node, arg) -> None:
        """A start task the node did not wait for (``waitForSuccess`` false) ended: a failure is
        retried up to ``maxTaskRetryCount``; the node stays usable either way."""
        life, failed = arg
        if life != node.life:
            return
        if self._log is not None:
            self._log((self.kernel.now, "starttask", node.id, "failure" if failed else "success"))
        if failed:
            node.st_attempts += 1
            limit = _retry_limit(self.start_task)
            if limit == -1 or node.st_attempts <= limit:
                self._launch_background_start_task(node)

    def _on_start_task_end(self, node: Node, arg) -> None:
        life, failed = arg
        if life != node.life:
            return
        if self._log is not None:
            self._log((self.kernel.now, "starttask", node.id, "failure" if failed else "success"))
        if not failed:
            self._set_state(node, IDLE)
            self.kernel.dirty = True
            return
        node.st_attempts += 1
        limit = _retry_limit(self.start_task)
        if limit == -1 or node.st_attempts <= limit:
            self._launch_start_task(node)
        else:
            self._set_state(node, STARTTASKFAILED)

    def _wipe(self, node: Node) -> None:
        """Preemption or failure: every task returns to active (recoveryCount + 1), preparation
        and release tasks stop, and the node's local data goes
        (docs/simulation-model.md#preemption-and-node-failure)."""
        for task in list(node.tasks):
            self._recover(task)
        self._clear_local(node)

    def _clear_local(self, node: Node) -> None:
        for job, rec in node.prep.items():
            if rec.state is PREP_RUNNING:
                node.n_busy -= 1
                if self._log is not None:
                    self._log((self.kernel.now, "prep.end", job.id, node.id, PREP_KILLED))
            rec.state = PREP_KILLED
        node.prep = {}
        if node.excluded:
            for job in node.excluded:
                job.n_excluded -= 1
            node.excluded = set()
            self.index.touch(node)      # the jobs' slot views may take it again
        for job in list(node.releases):
            self._end_release(node, job, skipped=True)
        node.retain_until = 0.0
        self._node_local_cleared(node)

    def _lose_vm(self, node: Node, event: str) -> bool:
        """What preemption and failure share: the node's tasks are wiped, a leaving node is
        removed, and the node's pending timers are voided. False when the node is gone."""
        if self._log is not None:
            self._log((self.kernel.now, event, node.id))
        self._wipe(node)
        if node.state is REMOVED:
            return False
        if node.state is LEAVINGPOOL:
            self._remove(node)
            return False
        if node.requested:
            node.requested = False
            self.n_req_creating -= 1
        node.life += 1
        return True

    def _on_preempt(self, node: Node, inc: int) -> None:
        if inc != node.inc or node.state is PREEMPTED or node.state is REMOVED:
            return
        self.preemption_times.append(self.kernel.now)    # a leaving node's too: work is lost
        if not self._lose_vm(node, "node.preempt"):
            return
        node.inc += 1
        self._set_state(node, PREEMPTED)
        rec = self.recovery_time
        d = rec.value if rec.kind == "constant" else rec.sample(
            self.streams.rng("recovery", node.num, node.inc))
        self._node_timer(d, self._on_recovered, node, node.life)
        self._check_complete()

    def _on_recovered(self, node: Node, life: int) -> None:
        if life != node.life or node.state is not PREEMPTED:
            return
        self._set_state(node, CREATING)
        self._begin_incarnation(node, CREATING)

    def _on_fail(self, node: Node, inc: int) -> None:
        if inc != node.inc or node.state not in _HOLDS_VM_ALIVE and node.state is not LEAVINGPOOL:
            return
        if not self._lose_vm(node, "node.fail"):
            return
        # The incarnation (node.inc) stays: a low-priority node holding a VM keeps its
        # preemption timer while unusable (docs/simulation-model.md#preemption-and-node-failure), so
        # it still gets preempted.
        self._set_state(node, UNUSABLE)
        if self.repair_time is not None:
            d = self._draw(self.repair_time, "repair", node)
            self._node_timer(d, self._on_repaired, node, node.life)
        self._check_complete()

    def _on_repaired(self, node: Node, life: int) -> None:
        if life != node.life or node.state is not UNUSABLE:
            return
        self._set_state(node, STARTING)
        self._begin_incarnation(node, STARTING)

    # -- leaving ----------------------------------------------------------------------

    def _deallocate(self, node: Node, option: Option) -> None:
        """docs/simulation-model.md#deallocation-options: the selected node enters leavingpool at
        once; its tasks follow ``option``."""
        if node.state is PREEMPTED:
            self._remove(node)
            return
        if node.requested:
            node.requested = False
            self.n_req_creating -= 1
        node.life += 1           # stop allocation, boot and start-task timers
        node.leave_option = option
        self.n_leaving[node.kind] += 1
        self._set_state(node, LEAVINGPOOL)
        if option is Option.REQUEUE or option is Option.TERMINATE:
            requeue = option is Option.REQUEUE
            for task in list(node.tasks):
                if task.node is None:
                    continue  # a multi-instance task already handled through another node
                if requeue:
                    self._requeue(task)
                else:
                    self._kill(task, by_job=False)
            self._clear_local(node)
            self._remove(node)
        else:
            self._maybe_leave(node)

    def _maybe_leave(self, node: Node) -> None:
        """A draining node goes once nothing is left on it (and, for retaineddata, its tasks'
        retention has passed)."""
        if node.state is not LEAVINGPOOL or node.n_busy:
            return
        now = self.kernel.now
        if node.leave_option is Option.RETAINEDDATA and node.retain_until > now:
            if not node.retention_timer:
                node.retention_timer = True
                if node.retain_until <= self.until:    # else it never fires (see _node_timer)
                    self.kernel.at(node.retain_until, NODE, self._on_retention, node, node.life)
            return
        self._remove(node)

    def _on_retention(self, node: Node, life: int) -> None:
        if life != node.life:
            return
        node.retention_timer = False
        self._maybe_leave(node)

    def _remove(self, node: Node) -> None:
        if node.state is REMOVED:
            return
        node.life += 1
        node.inc += 1
        if node.requested:
            node.requested = False
            self.n_req_creating -= 1
        if node.state is LEAVINGPOOL:
            self.n_leaving[node.kind] -= 1
        self.n_present[node.kind] -= 1
        self._set_state(node, REMOVED)
        del self.nodes[node.num]
        self.index.forget(node)
        self._node_removed(node)
        self.n_removed += 1
        if self.n_removed >= self.sweep_at:
            # what the heap holds stays bounded by the pool, not by every node ever removed
            self.kernel.discard(_stale_node_timer)
            self.sweep_at = self.n_removed + max(SWEEP_AFTER_REMOVALS, len(self.kernel.heap))
        self._resize()          # quota may have freed for missing nodes
        self._check_complete()

    # -- resizing ---------------------------------------------------------------------

    def _read_quota(self) -> None:
        """A pool sharing its account's quota (the live service) reads its share again: the
        nodes the other pools leave it, per kind, and the clamp of its targets with them."""
        shared = self.core_quota
        for kind in (DEDICATED, LOW_PRIORITY):
            q = shared.nodes_for(self, kind)
            self.quota_nodes[kind] = q
            self.max_nodes[kind] = self.most_nodes if q is None else min(q, self.most_nodes)

    def _resize(self) -> None:
        """The resize step (docs/simulation-model.md#the-resize-step) for both kinds; re-entrant
        calls are folded into one loop."""
        if self.core_quota is not None:
            self._read_quota()
        if self._in_resize:
            self._resize_again = True
            return
        self._in_resize = True
        try:
            while True:
                self._resize_again = False
                self._resize_kind(DEDICATED)
                self._resize_kind(LOW_PRIORITY)
                if not self._resize_again:
                    break
        finally:
            self._in_resize = False
        self._check_complete()

    def _resize_kind(self, kind: int) -> None:
        have = self.n_present[kind] - self.n_leaving[kind]
        target = self.target[kind]
        if have < target:
            if self.resize_stopped:
                return
            quota = self.quota_nodes[kind]
            room = target - have
            if quota is not None:
                room = min(room, quota - self.n_present[kind])
            for _ in range(max(0, room)):
                self._request_node(kind)
            if room < target - have and not self.autoscale and not self.n_leaving[kind]:
                self._quota_error(kind)
        elif have > target:
            chosen = self._choose_for_removal(kind, have - target)
            option = self.option
            for node in chosen:
                if self._log is not None:
                    self._log((self.kernel.now, "node.deallocate", node.id, option.value))
            for node in chosen:
                if node.state is not REMOVED:
                    self._deallocate(node, option)
            self.kernel.dirty = True

    def _choose_for_removal(self, kind: int, count: int) -> list[Node]:
        """The first ``count`` nodes of ``kind`` in the ranking of
        docs/simulation-model.md#which-nodes-leave-on-scale-down (never a leaving node).

        Ranks 1–4 are ordered by id, which is the order of ``self.nodes``; only running nodes
        need sorting, and only when the lower ranks do not already supply ``count`` nodes.
        """
        ranked: list[list[Node]] = [[], [], [], [], [], [], []]
        rank = _RANK.get
        leaving = LEAVINGPOOL
        for node in self.nodes.values():
            if node.kind != kind:
                continue
            s = node.state
            if s is leaving:
                continue
            r = rank(s)
            ranked[(6 if node.n_jm else 5) if r is None else r].append(node)
        chosen: list[Node] = []
        for r, bucket in enumerate(ranked):
            need = count - len(chosen)
            if r >= 5 and bucket:
                bucket = heapq.nsmallest(need, bucket, key=_USED_THEN_ID)
            chosen.extend(bucket[:need])
            if len(chosen) >= count:
                break
        return chosen

    def _quota_error(self, kind: int) -> None:
        """A fixed pool (docs/simulation-model.md#quotas-and-the-configured-maximum): the quota
        is used up below the target and nothing leaving will free more; the pool records the
        error and settles below its target."""
        if self.quota_error[kind]:
            return
        self.quota_error[kind] = True
        self._record_resize_error(_QUOTA_ERROR[kind], kind=kind, asked=self.target[kind])

    def _record_resize_error(self, code: str, *, kind: int | None = None,
                             asked: int | None = None, by_run: bool = False) -> None:
        """Put ``code`` in the pool's ``resizeErrors`` (once), and count it for the report:
        the pool's errors are overwritten by the next resize, so without the count a run whose
        request was cut early and met later would say nothing of it. ``asked`` is the number
        of nodes of ``kind`` the target or the formula asked for (quota errors); ``by_run``
        says an autoscale run asked (else the pool file's target did)."""
        now = self.kernel.now
        seen = self.resize_error_log.get(code)
        if seen is None:
            seen = self.resize_error_log[code] = {"count": 0, "first": now, "kind": kind,
                                                  "asked": asked, "runs": 0, "first_run": None,
                                                  "target": None}
        seen["count"] += 1
        seen["last"] = now
        if asked is not None and asked > seen["asked"]:
            seen["asked"] = asked
        if by_run:
            seen["runs"] += 1
            if seen["first_run"] is None:
                seen["first_run"] = now
        elif asked is not None:
            seen["target"] = asked
        if code not in self.resize_errors:
            self.resize_errors.append(code)
            if self._log is not None:
                self._log((now, "pool.resize_error", code))

    def _size_initially(self) -> None:
        """The pool's initial targets, applied as it comes up (at the start, or when an auto
        pool is made): the initial sizing counts as a resize
        (docs/simulation-model.md#allocation-states), and an autoscale pool's targets were cut
        to its quota (Engine._init_autoscale), which is a resize error like a run's cut."""
        if self.target[0] or self.target[1]:
            self._begin_resize()
        if self.autoscale:
            for kind in (DEDICATED, LOW_PRIORITY):
                self._note_quota_cut(kind, self.file_targets[kind], by_run=False)
        if self.target[0] or self.target[1]:
            self._resize()

    def _begin_resize(self) -> None:
        if self.alloc_state is STEADY:
            self.alloc_state = RESIZING
            self.resize_errors = []
            self.quota_error = [False, False]
            self.resize_stopped = False
            if self._log is not None:
                self._log((self.kernel.now, "pool.state", RESIZING))
            if not self.autoscale:
                self.kernel.after(self.resize_timeout, NODE, self._on_resize_timeout, self.resize_gen)

    def _check_complete(self) -> None:
        """When a resize is complete (docs/simulation-model.md#the-resize-step): targets met (or a
        quota error), nothing requested still creating,
        nothing leaving."""
        if self.alloc_state is STEADY or self._in_resize:
            return
        if self.n_req_creating or self.n_leaving[0] or self.n_leaving[1]:
            return
        if not self.resize_stopped:
            for kind in (DEDICATED, LOW_PRIORITY):
                have = self.n_present[kind]
                if have != self.target[kind] and not self.quota_error[kind]:
                    if have < self.target[kind] and not self.autoscale:
                        # a fixed pool short of quota with nothing leaving: record and settle
                        quota = self.quota_nodes[kind]
                        if quota is not None and self.n_present[kind] >= quota:
                            self._quota_error(kind)
                            continue
                    return
        self.alloc_state = STEADY
        self.resize_gen += 1
        if self._log is not None:
            self._log((self.kernel.now, "pool.state", STEADY))

    def _on_resize_timeout(self, gen: int, _=None) -> None:
        """A fixed pool's resize timeout (docs/simulation-model.md#resize-errors): drop the
        still-creating requested nodes, then settle."""
        if gen != self.resize_gen or self.alloc_state is STEADY:
            return
        self.resize_stopped = True
        self._record_resize_error("AllocationTimedout")
        for node in [n for n in self.nodes.values() if n.requested and n.state is CREATING]:
            self._remove(node)
        self._check_complete()

    # -- autoscale ----------------------------------------------------------------------

    def _apply_run(self, run) -> None:
        """docs/language.md#from-value-to-target: truncate toward zero, clamp to [0, quota] (the
        core quota or the
        configured maximum, whichever is lower); a changed target starts
        (or redirects) a resize with this run's deallocation option.

        A target the core quota cut is a resize error, as the service reports it in the
        pool's ``resizeErrors`` (``AccountCoreQuotaReached``, ``AccountLowPriorityCoreQuota
        Reached``): the pool holds it while the last applied run asked for more than the quota.
        A cut by ``maxNodesPerKind`` alone is not one (the quota was never reached)."""
        if self.core_quota is not None:
            self._read_quota()
        new = []
        asked = [0, 0]
        for kind, value in ((DEDICATED, run.dedicated), (LOW_PRIORITY, run.low_priority)):
            n = int(value) if value < 1e18 else 10**18
            if n < 0:
                n = 0
            asked[kind] = n
            new.append(min(n, self.max_nodes[kind]))
        if new[0] == self.target[0] and new[1] == self.target[1]:
            self._note_quota_cuts(asked)
            return
        self.target = new
        self.option = run.option
        self.target_changes += 1
        self.target_change_times.append(self.kernel.now)
        if self._log is not None:
            self._log((self.kernel.now, "pool.target", new[0], new[1], run.option.value))
        self._begin_resize()
        self._note_quota_cuts(asked)     # after the new resize has cleared the last one's
        self._resize()

    def _note_quota_cuts(self, asked: list[int]) -> None:
        """The quota errors of a run that asked for ``asked`` nodes of each kind."""
        for kind in (DEDICATED, LOW_PRIORITY):
            self._note_quota_cut(kind, asked[kind], by_run=True)

    def _note_quota_cut(self, kind: int, asked: int, *, by_run: bool) -> None:
        """An autoscale pool's target of ``asked`` nodes of ``kind`` (a run's, or the pool
        file's at the start): a quota error while the core quota cuts it, none once it fits."""
        quota = self.quota_nodes[kind]
        code = _QUOTA_ERROR[kind]
        if quota is not None and asked > quota and self.max_nodes[kind] == quota:
            self._record_resize_error(code, kind=kind, asked=asked, by_run=by_run)
        elif code in self.resize_errors:
            self.resize_errors.remove(code)
