"""The Batch engine both clocks share: one pool's manager, scheduler, attempts and sampler.

:class:`Engine` stacks the rule layers (pool.py, jobs.py, scheduling.py, attempts.py,
sampler.py, requests.py for what a user asks at any instant, and scheduled.py for the
job schedules that make jobs as time goes on) and builds their state from
a pool specification and jobs. It launches nothing by itself: a world supplies the launch methods (scheduler/simworld.py for the simulator; the live
engine in ``poolscale.runtime.service`` supplies real nodes and processes), and the clock is
its :class:`~.kernel.Kernel`, run on virtual time by :class:`~.simulate.Simulation` or on the
real clock by the live service. What is only the simulator's — the horizon, stopping when the
workload drains, the run's report — stays in simulate.py.
"""

from __future__ import annotations

import contextlib
import math
import gc
from operator import itemgetter
from typing import Any, Iterator

from poolscale.formula.values import TICKS_PER_SECOND, Option
from poolscale.metrics.recorder import SampleRecorder

from .kernel import AUTOSCALE, SAMPLE, SUBMIT
from .models import PoolSpec, Workload, resolve_time
from .nodes import SlotIndex
from .pool import STEADY, SWEEP_AFTER_REMOVALS
from .quota import CoreQuota
from .autopooled import AutoPoolMixin
from .tasks import Job, Task

__all__ = ["Engine", "paused_gc"]


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for a phase of a run (re-entrant).

    A run builds ~10^5 long-lived tasks, then allocates millions of short-lived acyclic objects
    (heap entries, tuples) that reference counting frees. Every collection pass would walk the
    tasks and reclaim nothing; with the collector running, passes cost ~7 % of a week-long run
    of the benchmark. :func:`simulate` pauses it across set-up, run and report together, so no
    pass falls between phases; the collector is restored exactly as it was.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _ticks(seconds: float) -> int:
    return int(round(seconds * TICKS_PER_SECOND))


class Engine(AutoPoolMixin):
    """One pool's Batch rules and state (see the module docstring). Subclasses set ``kernel``,
    ``streams``, ``start_ticks``, ``_log`` and ``until`` before calling the ``_init_*``
    methods, and add a world before this class in their bases."""

    def _init_pool(self, pool: PoolSpec, core_quota: CoreQuota | None = None) -> None:
        """``core_quota``: the account's quota shared with other pools (the live service);
        None: the pool's own ``simulation`` quotas, fixed for the run (the simulator)."""
        sim = pool.simulation
        self.slots = pool.task_slots_per_node
        self.cores = pool.cores_per_node
        self.pack = pool.node_fill_type == "pack"
        self.inter_node = pool.enable_inter_node_communication
        quotas = (sim.dedicated_core_quota, sim.low_priority_core_quota)
        self.quota_nodes = [None if q is None else q // self.cores for q in quotas]
        most = sim.max_nodes_per_kind
        self.most_nodes = most
        #: the upper clamp of an applied target (docs/language.md#from-value-to-target), per kind
        self.max_nodes = [most if q is None else min(q, most) for q in self.quota_nodes]
        self.core_quota = core_quota
        self.alloc_time = sim.allocation_time
        self.boot_time = sim.boot_time
        self.start_task = pool.start_task
        self.st_duration = sim.start_task.duration
        self.st_fail_p = sim.start_task.failure_probability
        self.preempt_mean = sim.preemption.mean_time_between
        self.recovery_time = sim.preemption.recovery_time
        self.fail_mean = sim.node_failure.mean_time_between
        self.repair_time = sim.node_failure.repair_time
        self.prices = sim.prices
        self.resize_timeout = pool.resize_timeout
        self.index = SlotIndex(self.slots)
        self.nodes: dict[int, Any] = {}
        self.next_num = 1
        self.n_present = [0, 0]
        self.n_leaving = [0, 0]
        self.n_billed = [0, 0]
        self.n_preempted = 0
        self.preemption_times: list[float] = []
        self.n_usable = 0
        self.n_req_creating = 0
        self.n_removed = 0
        self.sweep_at = SWEEP_AFTER_REMOVALS
        self.target = [pool.target_dedicated_nodes or 0, pool.target_low_priority_nodes or 0]
        self.option = Option.REQUEUE
        self.alloc_state = STEADY
        self.resize_errors: list[str] = []
        #: every resize error of the run, for the report: code -> count, first and last
        #: instant (seconds), the kind and the most nodes asked (PoolMixin._record_resize_error)
        self.resize_error_log: dict[str, dict] = {}
        self.quota_error = [False, False]
        self.resize_stopped = False
        self.resize_gen = 0
        self._in_resize = False
        self._resize_again = False
        #: the auto pool this pool is, absent between its owners' lives (autopooled.py); None
        #: for a pool of its own (a pool file, the live engine's pools)
        self.auto_pool = None
        self.pool_absent = False
        #: when the pool was made: a sample is of the time after it (a new pool has none yet)
        self.pool_made_at = -math.inf
        if core_quota is not None:
            core_quota.pools.append(self)
            self._read_quota()

    def _init_autoscale(self, pool: PoolSpec, formula: Any) -> None:
        if formula is None and pool.enable_auto_scale:
            formula = pool.auto_scale_formula
        if isinstance(formula, str):
            from poolscale.formula import compile_formula

            formula = compile_formula(formula)
        self.formula = formula
        self.autoscale = formula is not None
        #: the pool file's targets, as written (an autoscale pool's are cut to the quota below)
        self.file_targets = list(self.target)
        if self.autoscale:
            # docs/simulation-model.md#quotas-and-the-configured-maximum: an autoscale pool's
            # targets are clamped to its quota, the file's initial
            # ones included (a fixed pool keeps a target above quota and records the error)
            self.target = [min(t, most) for t, most in zip(self.target, self.max_nodes)]
        self.interval_ticks = _ticks(pool.auto_scale_evaluation_interval)
        #: run k of the formula is at engine time ``autoscale_at + k · interval`` (its ``now``:
        #: ``autoscale_ticks + k · interval_ticks``); enabling autoscale later moves both, and
        #: ``autoscale_gen`` voids the runs of an earlier enabling
        self.autoscale_at = 0.0
        self.autoscale_ticks = self.start_ticks
        self.autoscale_gen = 0
        self.runs: list[Any] = []
        self.run_times: list[float] = []
        self.eval_errors = 0
        self.error_codes: dict[str, int] = {}
        self.target_changes = 0
        self.target_change_times: list[float] = []

    def _init_samples(self, sim) -> None:
        self.period_ticks = _ticks(sim.samples.period)
        if self.period_ticks <= 0:
            raise ValueError("simulation.samples.period must be at least 0.0000001 s "
                             "(PT0.0000001S), the finest time a formula sees")
        self.recorder = SampleRecorder(period=self.period_ticks, delay=_ticks(sim.samples.delay))
        self.loss_rate = sim.samples.loss_rate
        self.timeline: list[dict] = []
        self.cpu_total = self.mem_total = self.disk_total = 0.0
        self.io_rates = [0.0] * 6
        self.acc_usable = self.acc_cpu = self.acc_mem = self.acc_disk = 0.0
        self.acc_io = [0.0] * 6
        self.last_usable = self.last_cpu = self.last_mem = self.last_disk = 0.0
        self.last_io = [0.0] * 6
        self.acc_billed = [0.0, 0.0]
        self.acc_assigned = self.acc_under = self.acc_over = 0.0
        self.period_succeeded = self.period_failed = 0

    def _init_counters(self) -> None:
        """The task counters and the queue, empty."""
        self.n_submitted = self.n_active = self.n_running = 0
        self.n_succeeded = self.n_failed = self.n_rejected = 0
        self.active_inst = self.active_slots = self.running_inst = self.assigned_slots = 0
        self.wasted = 0.0
        self.queue: list = []
        #: start a submitted task at once when the pass would (see JobsMixin._on_submit);
        #: False takes the general path, for the equivalence tests
        self.direct_start = True
        self._qtok = 0
        #: component 6 of the queue order for the next task numbered (RequestsMixin.add_task)
        self.next_seq = 0
        self.submissions_done = False
        #: the workload's job schedules by id (SchedulesMixin._init_schedules); a live pool's
        #: engine has none (the account drives its schedules), and the schedule whose job is
        #: being made, while add_job makes it
        self.schedules: dict[str, Any] = {}
        self._making = None

    def _build_workload(self, workload: Workload) -> None:
        slots = self.slots
        self.jobs: list[Job] = []
        items: list[tuple] = []
        profiled: list[Task] = []    # tasks with a resource profile: memory, disk or I/O
        n_tasks = 0
        for jseq, spec in enumerate(workload.jobs):
            job = Job(spec, jseq)
            self.jobs.append(job)
            created = resolve_time(spec.creation_time, self.start_ticks)
            if created is None and not spec.tasks:
                # docs/simulation-model.md#job-fields: a job is created at its creationTime or with
                # its first task; a job with
                # neither (a job manager that adds the work, say) is created at the start (choice)
                created = 0.0
            job.creation_at = created
            if created is not None:
                items.append((created, job, None))
            if spec.job_manager_task is not None:
                jm = Task(job, spec.job_manager_task, -1, slots_per_node=slots, is_jm=True)
                jm.gkey = jm.slots if jm.slots <= slots else None
                job.jm = jm
                n_tasks += 1
            append = items.append
            start_ticks = self.start_ticks
            for tspec in spec.tasks:
                task = Task(job, tspec, 0, slots_per_node=slots)
                at: Any = tspec.submit_time
                if type(at) is not float:
                    at = resolve_time(at, start_ticks)
                if created is not None and at < created:
                    at = created  # a task cannot reach its job before the job exists (choice)
                task.submit_at = at
                if tspec.multi_instance_settings is None:   # _group_key, inlined
                    task.gkey = task.slots if task.slots <= slots else None
                else:
                    task.gkey = self._group_key(task, tspec)
                if tspec.profile is not None:
                    profiled.append(task)
                append((at, job, task))
            n_tasks += len(spec.tasks)
        items.sort(key=itemgetter(0))   # stable: workload order within an instant
        for seq, (_, _, submitted) in enumerate(items):
            if submitted is not None:
                submitted.seq = seq            # component 6 of
                                               # docs/simulation-model.md#queue-order-and-priorities
        self.submissions = items
        self.next_seq = len(items)
        self.n_workload_tasks = n_tasks
        profiled += [job.jm for job in self.jobs if job.jm is not None]
        self.track_mem = any(t.mem or t.disk for t in profiled)
        self.track_io = any(t.io is not None for t in profiled)

    def _group_key(self, task: Task, spec) -> int | None:
        """Placement group (docs/simulation-model.md#placement-and-fill-type); None for the
        never-placed tasks of docs/simulation-model.md#tasks-that-never-run."""
        if spec.multi_instance_settings is not None:
            if self.slots == 1 and self.inter_node:
                return -task.inst
            return None
        return task.slots if task.slots <= self.slots else None

    def use_general_paths(self) -> None:
        """Run every task through the general paths of the rules, as the live engine does: no
        start at submission without a pass, no inlined fast path for simple tasks. A run gives
        the same events either way (tests/test_golden_runs.py); the fast paths exist because
        they make a simulation faster, and they assume the simulated world. Tasks added later
        by request take the general paths too (RequestsMixin.add_task)."""
        self.direct_start = False
        # a workload's tasks wait in the submission stream until accepted (job.tasks holds
        # accepted ones only), so both are walked
        for _at, _job, task in self.submissions:
            if task is not None:
                task.simple = False
        for job in self.jobs:
            for task in job.tasks:
                task.simple = False
            if job.jm is not None:
                job.jm.simple = False

    def _start(self) -> None:
        """The pool comes up now (engine time 0 in a simulation): the initial sizing (a resize),
        the stream of submissions, the first sample at the next multiple of the sample period
        (samples keep the account's grid, so pools created later sample at the same instants),
        the first autoscale run at once, and each job schedule's first wake-up."""
        k = self.kernel
        self._size_initially()            # nothing for an auto pool, absent until its owner
                                          # (autopooled.py)
        if self.submissions:
            k.set_stream(SUBMIT, self._on_submit, self.submissions[0][0], 0)
        else:
            self.submissions_done = True
        self._arm_schedules()
        period = self.period_ticks / TICKS_PER_SECOND
        first_k = 1 if k.now == 0.0 else int(k.now // period) + 1
        first = first_k * self.period_ticks / TICKS_PER_SECOND
        if first <= self.until:
            k.at(first, SAMPLE, self._on_sample, first_k)
        if self.autoscale:
            if k.now == 0.0:
                k.at(0.0, AUTOSCALE, self._on_evaluate, 0)
            else:
                self._enable_autoscale(self.formula, self.interval_ticks)
