"""The invariants (docs/simulation-model.md#invariants) as a checker over a live :class:`Simulation`
(for tests and debugging).

``check(sim, after_pass=...)`` recomputes every counter the engine keeps incrementally from the
tasks and nodes themselves and raises AssertionError with a message on the first violation.
It is O(tasks + nodes), so use it on small scenarios.
"""

from __future__ import annotations

from .nodes import (
    CREATING, IDLE, LEAVINGPOOL, OFFLINE, PREEMPTED, RUNNING as NODE_RUNNING, removal_rank,
)
from .pool import STEADY, STOPPING
from .tasks import (
    ACTIVE, COMPLETED, FAILURE, JOB_ACTIVE, PREPARING, RUNNING, SUCCESS,
)

__all__ = ["check", "checking_steps"]


def _fail(msg: str) -> None:
    raise AssertionError(msg)


def checking_steps(sim):
    """An ``on_step`` for ``Simulation.run`` that checks every invariant after every handler and
    pass, and, where the kernel would run a pass if anything were dirty (nothing dirty, and time
    about to move or a sample or autoscale run next), the after-pass invariants too."""
    from .kernel import SAMPLE

    heap = sim.kernel.heap

    def step(after_pass: bool) -> None:
        check(sim, after_pass=after_pass)
        if not after_pass and not sim.kernel.dirty and (
                not heap or heap[0][0] != sim.kernel.now or heap[0][1] >= SAMPLE):
            check(sim, after_pass=True)
    return step


def check(sim, *, after_pass: bool = False) -> None:
    now = sim.kernel.now
    tot = {"active": 0, "assigned": 0, "succeeded": 0, "failed": 0, "submitted": 0}
    active_inst = active_slots = running_inst = assigned_slots = 0
    on_node: dict = {}
    for job in sim.jobs:
        counts = {"active": 0, "assigned": 0, "succeeded": 0, "failed": 0}
        ready_inst = 0
        for task in job.tasks:
            s = task.state
            if s is ACTIVE:
                counts["active"] += 1
                if task.node is not None or task.nodes is not None:
                    _fail(f"{now}: active task {task.key} is on a node")
                if not task.pending and not task.blocked:
                    ready_inst += task.inst
                    if job.state is JOB_ACTIVE:
                        active_inst += task.inst
                        active_slots += task.inst * task.slots
            elif s is PREPARING or s is RUNNING:
                counts["assigned"] += 1
                running_inst += task.inst
                assigned_slots += task.inst * task.slots
                nodes = task.nodes or (task.node,)
                if len({n.num for n in nodes}) != len(nodes) or len(nodes) != task.inst:
                    _fail(f"{now}: {task.key} has {len(nodes)} instance nodes for {task.inst}")
                for n in nodes:
                    if n.num not in sim.nodes or task not in n.tasks:
                        _fail(f"{now}: {task.key} assigned to {n.id}, which does not hold it")
                    on_node.setdefault(n.num, []).append(task)
                if task not in job.assigned:
                    _fail(f"{now}: {task.key} is assigned but not in its job's assigned set")
            elif s is COMPLETED:
                counts["succeeded" if task.result is SUCCESS else "failed"] += 1
                if task.result not in (SUCCESS, FAILURE):
                    _fail(f"{now}: {task.key} completed without a result")
                if task.node is not None:
                    _fail(f"{now}: completed task {task.key} is on a node")
            else:
                _fail(f"{now}: accepted task {task.key} has state {s!r}")
            if task.max_retry >= 0 and task.retry_count > task.max_retry:
                _fail(f"{now}: {task.key} retryCount {task.retry_count} > {task.max_retry}")
        if 0 < job.max_parallel < counts["assigned"]:
            _fail(f"{now}: job {job.id} has {counts['assigned']} tasks assigned, "
                  f"maxParallelTasks {job.max_parallel}")
        submitted = sum(counts.values())
        if submitted != job.n_submitted:
            _fail(f"{now}: job {job.id}: submitted {job.n_submitted} != "
                  f"active+running+succeeded+failed {counts}")
        for name, value in (("n_active", counts["active"]), ("n_assigned", counts["assigned"]),
                            ("n_succeeded", counts["succeeded"]), ("n_failed", counts["failed"]),
                            ("n_ready_inst", ready_inst)):
            if getattr(job, name) != value:
                _fail(f"{now}: job {job.id}.{name} = {getattr(job, name)}, recount {value}")
        for k in counts:
            tot[k] += counts[k]
        tot["submitted"] += submitted
    for name, value in (("n_submitted", tot["submitted"]), ("n_active", tot["active"]),
                        ("n_running", tot["assigned"]), ("n_succeeded", tot["succeeded"]),
                        ("n_failed", tot["failed"]), ("active_inst", active_inst),
                        ("active_slots", active_slots), ("running_inst", running_inst),
                        ("assigned_slots", assigned_slots)):
        if getattr(sim, name) != value:
            _fail(f"{now}: sim.{name} = {getattr(sim, name)}, recount {value}")
    _check_nodes(sim, on_node)
    if after_pass:
        _check_order(sim)


def _check_nodes(sim, on_node) -> None:
    now = sim.kernel.now
    present = [0, 0]
    billed = [0, 0]           # docs/simulation-model.md#node-states: every present node but a
                              # preempted one is billed
    preempted = usable = leaving = 0
    cpu = 0.0
    S = sim.slots
    for num, node in sim.nodes.items():
        present[node.kind] += 1
        s = node.state
        tasks = on_node.get(num, [])
        if set(tasks) != set(node.tasks):
            _fail(f"{now}: {node.id} holds {list(node.tasks)} but tasks say {tasks}")
        used = sum(t.slots for t in tasks)
        if used != node.used or used > S:
            _fail(f"{now}: {node.id} used {node.used}, recount {used}, slots {S}")
        if tasks and s not in (IDLE, NODE_RUNNING, LEAVINGPOOL):
            _fail(f"{now}: {node.id} in {s} holds tasks {tasks}")
        if node.exclusive and len(tasks) != 1:
            _fail(f"{now}: exclusive job manager node {node.id} holds {tasks}")
        if s is not PREEMPTED:
            billed[node.kind] += 1
        if s is PREEMPTED:
            preempted += 1
        elif s is IDLE or s is NODE_RUNNING:
            usable += 1
            c = sum(t.share for t in tasks if t.state is RUNNING)
            cpu += min(100.0, c)
            if (s is NODE_RUNNING) != bool(node.n_busy):
                _fail(f"{now}: {node.id} is {s} with n_busy={node.n_busy}")
            want = -1 if node.exclusive or node.disabled or node.used >= S else node.used
            if node.bucket != want:
                _fail(f"{now}: {node.id} indexed in bucket {node.bucket}, expected {want}")
        elif s is LEAVINGPOOL:
            leaving += 1
        elif s is OFFLINE and (not node.disabled or node.n_busy):
            _fail(f"{now}: {node.id} is offline with scheduling "
                  f"{'disabled' if node.disabled else 'enabled'} and n_busy={node.n_busy}")
        if node.disabled and s is IDLE:
            _fail(f"{now}: {node.id} has scheduling disabled but is idle, not offline")
        if s is not IDLE and s is not NODE_RUNNING and node.bucket != -1:
            _fail(f"{now}: {node.id} in {s} is in the slot index")
        if node.requested and s is not CREATING:
            _fail(f"{now}: {node.id} requested but {s}")
    if present != sim.n_present:
        _fail(f"{now}: n_present {sim.n_present}, recount {present}")
    if billed != sim.n_billed:
        _fail(f"{now}: n_billed {sim.n_billed}, recount {billed}")
    if preempted != sim.n_preempted or usable != sim.n_usable:
        _fail(f"{now}: preempted/usable {sim.n_preempted}/{sim.n_usable}, "
              f"recount {preempted}/{usable}")
    if leaving != sim.n_leaving[0] + sim.n_leaving[1]:
        _fail(f"{now}: n_leaving {sim.n_leaving}, recount {leaving}")
    if abs(cpu - sim.cpu_total) > 1e-6 * max(1.0, cpu):
        _fail(f"{now}: cpu_total {sim.cpu_total}, recount {cpu}")
    counts = [0] * S
    for node in sim.nodes.values():
        if node.bucket >= 0:
            counts[node.bucket] += 1
    if counts != sim.index.count:
        _fail(f"{now}: slot index counts {sim.index.count}, recount {counts}")
    if sim.n_preempted > sim.n_present[1]:
        _fail(f"{now}: more preempted nodes than low-priority nodes")
    for kind in (0, 1):
        quota = sim.quota_nodes[kind]
        if quota is not None and sim.n_present[kind] > quota:
            _fail(f"{now}: {sim.n_present[kind]} nodes of kind {kind} exceed quota {quota}")
    for kind in (0, 1):
        candidates = [n for n in sim.nodes.values() if n.kind == kind and n.state is not LEAVINGPOOL]
        want = sorted(candidates, key=removal_rank)
        if sim._choose_for_removal(kind, len(want)) != want:
            _fail(f"{now}: scale-down choice of kind {kind} differs from the ranking of "
                  "docs/simulation-model.md#which-nodes-leave-on-scale-down")
    creating = sum(1 for n in sim.nodes.values() if n.requested)
    if creating != sim.n_req_creating:
        _fail(f"{now}: n_req_creating {sim.n_req_creating}, recount {creating}")
    if sim.alloc_state is STOPPING and not sim._in_resize and (
            creating or not leaving or not sim.resize_stopped):
        _fail(f"{now}: stopping with {leaving} leaving and {creating} requested creating")
    if sim.alloc_state is STEADY and not sim._in_resize:
        if leaving or creating:
            _fail(f"{now}: steady with {leaving} leaving and {creating} requested creating")
        for kind in (0, 1):
            if (sim.n_present[kind] != sim.target[kind] and not sim.quota_error[kind]
                    and not sim.resize_stopped):
                _fail(f"{now}: steady with {sim.n_present} nodes for targets {sim.target}")


def _check_order(sim) -> None:
    """Invariant 10 (docs/simulation-model.md#invariants): after a pass, no candidate fits any
    eligible node."""
    now = sim.kernel.now
    nodes = list(sim.nodes.values())
    for job in sim.jobs:
        if job.state is not JOB_ACTIVE:
            continue
        if job.max_parallel > 0 and job.n_assigned >= job.max_parallel:
            continue
        for task in job.tasks:
            if task.state is not ACTIVE or task.pending or task.blocked or task.gkey is None:
                continue
            if not task.is_jm and job.jm is not None and not job.jm_started:
                continue
            if task.gkey < 0:
                free = [n for n in nodes if n.bucket == 0 and task.job not in n.excluded]
                if len(free) >= task.inst:
                    _fail(f"{now}: multi-instance {task.key} fits on {len(free)} empty nodes")
                continue
            for n in nodes:
                if sim._eligible(n, task):
                    _fail(f"{now}: after a pass, candidate {task.key} fits on {n.id}")

