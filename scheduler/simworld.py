"""The simulated world: what starts, lasts and ends in a simulation, and what it measures.

The engine's rules (pool.py, jobs.py, scheduling.py, attempts.py, sampler.py) decide; they never
draw a duration, a failure or a resource reading. Where a rule *launches* something — a node's
allocation or boot, a start task, a job preparation or release task, a task attempt — or reads
the resources of a sample, it calls one of the launch methods below. The simulator supplies them
here: the declared or drawn duration becomes a kernel timer, the declared exit code the outcome,
and the task profiles the resource readings. The live engine supplies the same methods from
real nodes and processes (``poolscale.runtime.service``), so both run one set of Batch rules.

Binding is by class (``Simulation(SimulatedWorld, Engine)``), so the simulator pays no
indirection per event beyond the call itself. The code here was moved verbatim from the rules:
the order of every ``kernel.at`` call, hence every tie at one instant, is what it was.

Chaos (preemption and node failure) is not here: it is a seeded rule the live engine can run
too, so a user can test that their application survives a preempted node (pool.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .kernel import EXIT, WALLCLOCK
from .nodes import IDLE, RUNNING as NODE_RUNNING, Node
from .tasks import MIN_FAILED_ATTEMPT, Job, Task, stretches_failures

if TYPE_CHECKING:       # the rules it calls back; at run time the class is a plain mixin
    from .sampler import SamplerMixin

    _Base = SamplerMixin
else:
    _Base = object

__all__ = ["SimulatedWorld", "attempt_duration"]


def attempt_duration(task: Task) -> float:
    """How long the current attempt of ``task`` lasts: its declared duration, or
    MIN_FAILED_ATTEMPT for a failing attempt that may be retried without end (so the clock
    moves; docs/simulation-model.md#attempts-exit-codes-and-retries)."""
    d = task.duration
    if d < MIN_FAILED_ATTEMPT and stretches_failures(task.max_retry) \
            and task.attempt_exit_code() != 0:
        d = MIN_FAILED_ATTEMPT
    return d


class SimulatedWorld(_Base):
    """The simulator's launch methods (see the module docstring)."""

    # -- nodes ------------------------------------------------------------------------

    def _launch_allocation(self, node: Node) -> None:
        """A requested (or recovered) node starts allocating: ``_on_allocated`` when it ends."""
        self._node_timer(self._draw(self.alloc_time, "allocation", node), self._on_allocated,
                         node, node.life)

    def _launch_boot(self, node: Node) -> None:
        """An allocated (or repaired) node boots: ``_on_booted`` when it is up."""
        self._node_timer(self._draw(self.boot_time, "boot", node), self._on_booted, node,
                         node.life)

    def _launch_start_task(self, node: Node) -> None:
        """One attempt of the pool's start task: ``_on_start_task_end(node, (life, failed))``.
        ``node.st_attempts`` is 0 at the first attempt of a boot."""
        if not node.st_attempts:
            node.st_rng = self.streams.rng("starttask", node.num, node.inc)
        rng = node.st_rng
        d = self.st_duration.sample(rng)
        failed = self.st_fail_p > 0 and rng.random() < self.st_fail_p
        if failed and d < MIN_FAILED_ATTEMPT \
                and stretches_failures(self.start_task.max_task_retry_count):
            d = MIN_FAILED_ATTEMPT
        self._node_timer(d, self._on_start_task_end, node, (node.life, failed))

    def _node_removed(self, node: Node) -> None:
        """The node left the pool: its start task's stream is no longer needed."""
        node.st_rng = None

    def _launch_background_start_task(self, node: Node) -> None:
        """A start task the node does not wait for (``waitForSuccess`` false) is not simulated:
        it holds no slot and decides nothing (docs/simulation-model.md#start-task). The live
        engine runs it."""

    def _node_local_cleared(self, node: Node) -> None:
        """The node's local work was ended by the rules (preemption, failure, removal): nothing
        of a simulated node runs on beyond what the rules track."""

    def _prep_stopped(self, node: Node, job: Job) -> None:
        """The job ended while its preparation task ran on ``node``: the rules dropped it."""

    def _task_retained(self, task: Task, until: float) -> None:
        """A completed task's directory is kept until ``until``: a simulated node has none (the
        retention that matters, ``retaineddata``, is the rules' ``node.retain_until``)."""

    # -- job preparation and release --------------------------------------------------

    def _launch_prep(self, node: Node, job: Job, rec) -> None:
        """One attempt of the job's preparation task: ``_on_prep_end(node, (job, rec, failed))``."""
        prep = job.prep
        d = prep.duration
        failed = False
        if prep.failure_probability > 0:
            rng = self.streams.rng("preparation", job.seq, node.num, node.inc, rec.attempts)
            failed = rng.random() < prep.failure_probability
        wall = prep.constraints.max_wall_clock_time
        if wall is not None and wall < d:
            d, failed = wall, True
        if failed and d < MIN_FAILED_ATTEMPT \
                and stretches_failures(prep.constraints.max_task_retry_count):
            d = MIN_FAILED_ATTEMPT
        self.kernel.after(d, EXIT, self._on_prep_end, node, (job, rec, failed))

    def _launch_release(self, node: Node, job: Job) -> None:
        """The job's release task on ``node``: ``_on_release_end(node, job)`` when it ends."""
        rel = job.release
        self.kernel.after(min(rel.duration, rel.wall_clock_limit), EXIT,
                          self._on_release_end, node, job)

    # -- task attempts ----------------------------------------------------------------

    def _launch_attempt(self, task: Task) -> None:
        """The attempt ``task.attempt`` starts now: ``_on_exit`` at its end, or ``_on_wall`` when
        its ``maxWallClockTime`` comes first."""
        now = self.kernel.now
        d = attempt_duration(task)
        w = task.wall
        if w is not None and w < d:
            self.kernel.at(now + w, WALLCLOCK, self._on_wall, task, task.attempt)
        else:
            self.kernel.at(now + d, EXIT, self._on_exit, task, task.attempt)

    def _start_resources(self, task: Task) -> None:
        """The attempt's CPU share, memory, disk and I/O rates join its nodes' totals."""
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

    def _stop_resources(self, task: Task) -> None:
        """The attempt ended (any way): its resources leave its nodes' totals."""
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

    # -- samples ----------------------------------------------------------------------

    def _sample_lost(self, k: int) -> bool:
        """Whether sample ``k`` never reaches the formula (the pool's ``lossRate``)."""
        return self.loss_rate > 0 and self.streams.uniform("sampleloss", k) < self.loss_rate

    def _sample_resources(self, du: float) -> tuple[float, float, float, list[float]]:
        """The resource part of a sample over a period with ``du`` usable node-seconds:
        CPU percent, memory, disk, and the six I/O counters, from the integrated task profiles."""
        cpu = (self.acc_cpu - self.last_cpu) / du if du > 0 else 0.0
        cpu = 0.0 if cpu < 0 else (100.0 if cpu > 100.0 else cpu)
        if self.track_mem and du > 0:
            mem = max(0.0, (self.acc_mem - self.last_mem) / du)
            disk = max(0.0, (self.acc_disk - self.last_disk) / du)
        else:
            mem = disk = 0.0
        if self.track_io:
            io = [max(0.0, a - b) for a, b in zip(self.acc_io, self.last_io)]
            self.last_io = list(self.acc_io)
        else:
            io = [0.0] * 6
        self.last_cpu = self.acc_cpu
        self.last_mem = self.acc_mem
        self.last_disk = self.acc_disk
        return cpu, mem, disk, io
