"""The benchmark's pool, written plainly in SimPy: the baseline poolscale is measured against.

It models what the benchmark exercises, the way a SimPy user would write it: one process per
task attempt, one per node's start-up, a sampler process every 30 s and an autoscaler process
every interval; a greedy scheduling pass in priority order (FIFO within a job) with ``pack`` or
``spread`` placement; scale-down with ``taskcompletion`` (idle and booting nodes first, then the
least loaded, ties to the lowest id; a draining node leaves when empty).

The autoscale decision is either the real formula, compiled by poolscale and evaluated over a
poolscale ``SampleRecorder`` that the sampler fills (so both simulators make the same decisions
from the same kind of samples), or the benchmark's formula hand-written in Python
(:func:`pending_formula`), far cheaper than any formula evaluation. ``pip install simpy`` (the
``bench`` extra).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import simpy

CREATING, STARTING, IDLE, RUNNING, LEAVING = "creating", "starting", "idle", "running", "leaving"


@dataclass
class Node:
    id: int
    state: str = CREATING
    used: int = 0
    tasks: set = field(default_factory=set)
    billed_from: float = 0.0


@dataclass
class Task:
    seq: int
    priority: int
    job_order: int
    submit: float
    duration: float
    slots: int
    started: float | None = None
    ended: float | None = None
    node: Node | None = None


def pending_formula(now: float, samples: list[tuple[float, int]], current: int, slots: int,
                    cap: int, window: float = 300.0, period: float = 30.0) -> int:
    """``$TargetDedicatedNodes`` of the benchmark formula (bench/bench_simulate.py), in Python:
    under 70 % of the window's samples keep the current size, else the nodes for the largest
    ``$PendingTasks`` sample of the window, at most ``cap``."""
    inside = [v for t, v in samples[-int(window / period) - 1:] if now - window < t <= now]
    if 100.0 * len(inside) / (window / period) < 70:
        pending = current * slots
    else:
        pending = max(inside)
    return min(cap, math.ceil(pending / slots))


class SimPyPool:
    def __init__(self, env: simpy.Environment, *, slots: int, cap: int, fill: str = "pack",
                 interval: float = 300.0, period: float = 30.0, allocation: float = 120.0,
                 boot: float = 60.0) -> None:
        self.env, self.slots, self.cap, self.fill = env, slots, cap, fill
        self.interval, self.period, self.allocation, self.boot = interval, period, allocation, boot
        self.nodes: dict[int, Node] = {}
        self.free: dict[int, Node] = {}  # usable nodes with a free slot
        self.next_id = 0
        self.queue: list[tuple] = []  # (-priority, job order, seq, task)
        self.running = 0
        self.samples: list[tuple[float, int]] = []
        self.succeeded = 0
        self.node_seconds = 0.0
        self.busy_slot_seconds = 0.0
        self.waits: list[float] = []
        self.evaluations = 0
        self.target_changes = 0
        self.target = 0
        self.max_nodes = 0
        self.formula = None
        self.recorder = None
        self.start_ticks = 0

    # -- arrivals and tasks ----------------------------------------------------------------

    def arrivals(self, tasks: list[Task]):
        env = self.env
        for task in tasks:
            if task.submit > env.now:
                yield env.timeout(task.submit - env.now)
            heapq.heappush(self.queue, (-task.priority, task.job_order, task.seq, task))
            self.schedule()

    def run_task(self, task: Task, node: Node):
        yield self.env.timeout(task.duration)
        task.ended = self.env.now
        self.busy_slot_seconds += task.slots * task.duration
        node.used -= task.slots
        node.tasks.discard(task.seq)
        self.running -= 1
        self.succeeded += 1
        if node.state == LEAVING:
            if not node.tasks:
                self.remove(node)
        else:
            if not node.tasks:
                node.state = IDLE
            self.free[node.id] = node
        self.schedule()

    def schedule(self) -> None:
        """Greedy pass: every queued task that fits goes on a node; the rest keep their place."""
        if not self.queue or not self.free:
            return
        usable = list(self.free.values())  # usable nodes with a free slot
        skipped = []
        while self.queue and usable:
            entry = heapq.heappop(self.queue)
            task = entry[3]
            fits = [n for n in usable if self.slots - n.used >= task.slots]
            if not fits:
                skipped.append(entry)
                continue
            if self.fill == "pack":
                node = min(fits, key=lambda n: (-n.used, n.id))
            else:
                node = min(fits, key=lambda n: (n.used, n.id))
            node.used += task.slots
            node.tasks.add(task.seq)
            node.state = RUNNING
            if node.used >= self.slots:
                usable.remove(node)
                del self.free[node.id]
            task.started, task.node = self.env.now, node
            self.waits.append(self.env.now - task.submit)
            self.running += 1
            self.env.process(self.run_task(task, node))
        for entry in skipped:
            heapq.heappush(self.queue, entry)

    # -- nodes -------------------------------------------------------------------------------

    def start_node(self, node: Node):
        yield self.env.timeout(self.allocation)
        if node.state != CREATING:
            return
        node.state = STARTING
        yield self.env.timeout(self.boot)
        if node.state != STARTING:
            return
        node.state = IDLE
        self.free[node.id] = node
        self.schedule()

    def remove(self, node: Node) -> None:
        self.node_seconds += self.env.now - node.billed_from
        del self.nodes[node.id]
        self.free.pop(node.id, None)

    def resize(self, target: int) -> None:
        have = [n for n in self.nodes.values() if n.state != LEAVING]
        if len(have) < target:
            for _ in range(target - len(have)):
                node = Node(self.next_id, billed_from=self.env.now)
                self.next_id += 1
                self.nodes[node.id] = node
                self.env.process(self.start_node(node))
        elif len(have) > target:
            rank = {CREATING: 0, STARTING: 0, IDLE: 1, RUNNING: 2}
            victims = sorted(have, key=lambda n: (rank[n.state], n.used, n.id))[: len(have) - target]
            for node in victims:
                node.state = LEAVING  # taskcompletion: leave when the tasks are done
                self.free.pop(node.id, None)
                if not node.tasks:
                    self.remove(node)
        self.max_nodes = max(self.max_nodes, len(self.nodes))

    # -- sampling and autoscale ------------------------------------------------------------------

    def sampler(self):
        while True:
            yield self.env.timeout(self.period)
            active = len(self.queue)
            self.samples.append((self.env.now, active + self.running))
            if self.recorder is not None:
                usable = sum(1 for n in self.nodes.values() if n.state in (IDLE, RUNNING))
                self.recorder.append(self.start_ticks + round(self.env.now * 10_000_000), {
                    "$ActiveTasks": active, "$RunningTasks": self.running,
                    "$PendingTasks": active + self.running, "$SampleNodeCount": len(self.nodes),
                    "$UsableNodeCount": usable})

    def autoscaler(self):
        while True:
            self.evaluations += 1
            if self.formula is None:
                target = pending_formula(self.env.now, self.samples, len(self.nodes), self.slots,
                                         self.cap, period=self.period)
            else:
                target = self.evaluate()
            if target is not None and target != self.target:
                self.target_changes += 1
                self.target = target
                self.resize(target)
            yield self.env.timeout(self.interval)

    def evaluate(self) -> int | None:
        """The real formula, through poolscale's evaluator, over the samples recorded so far."""
        from poolscale.formula import PoolState

        run = self.formula.evaluate(
            self.recorder, now=self.start_ticks + round(self.env.now * 10_000_000),
            pool=PoolState(current_dedicated=float(len(self.nodes)), target_dedicated=float(self.target),
                           task_slots_per_node=float(self.slots)))
        if run.error is not None:
            return None
        return max(0, min(self.cap, int(run.dedicated)))


def run(tasks: list[tuple[float, float, int, int, int]], *, horizon: float, slots: int, cap: int,
        fill: str = "pack", interval: float = 300.0, period: float = 30.0,
        allocation: float = 120.0, boot: float = 60.0, formula=None, start_ticks: int = 0,
        count_events: bool = False) -> dict:
    """Simulate ``tasks`` — (submit, duration, slots, priority, job order) in submission order —
    until ``horizon``; returns the figures the benchmark compares with poolscale's report.

    ``formula``: a compiled poolscale Formula evaluated over a poolscale SampleRecorder (the
    autoscale decisions are then made exactly as poolscale makes them); None uses
    :func:`pending_formula`. ``count_events`` counts SimPy's events (slower; not for timing).
    """
    env = _CountingEnvironment() if count_events else simpy.Environment()
    pool = SimPyPool(env, slots=slots, cap=cap, fill=fill, interval=interval, period=period,
                     allocation=allocation, boot=boot)
    if formula is not None:
        from poolscale.metrics.recorder import SampleRecorder

        pool.formula, pool.start_ticks = formula, start_ticks
        pool.recorder = SampleRecorder(period=round(period * 10_000_000))
    objs = [Task(i, p, j, s, d, k) for i, (s, d, k, p, j) in enumerate(tasks)]
    env.process(pool.arrivals(objs))
    env.process(pool.sampler())
    env.process(pool.autoscaler())
    env.run(until=horizon)
    for node in list(pool.nodes.values()):
        pool.node_seconds += horizon - node.billed_from
    waits = sorted(pool.waits)
    return {
        "succeeded": pool.succeeded,
        "started": len(waits),
        "running_at_end": pool.running,
        "active_at_end": len(pool.queue),
        "node_hours": pool.node_seconds / 3600.0,
        "max_nodes": pool.max_nodes,
        "evaluations": pool.evaluations,
        "target_changes": pool.target_changes,
        "wait_p50": waits[len(waits) // 2] if waits else 0.0,
        "wait_p95": waits[int(0.95 * (len(waits) - 1))] if waits else 0.0,
        "samples": len(pool.samples),
        "events": getattr(env, "events_run", None),
    }


class _CountingEnvironment(simpy.Environment):
    events_run = 0

    def step(self) -> None:
        self.events_run += 1
        super().step()
