"""``simulate(pool, workload, formula, ...)``: a Batch pool on a deterministic event clock.

The engine is :class:`Simulation`, assembled from the pool manager (pool.py), submissions and
jobs (jobs.py), the scheduling pass and placement (scheduling.py), task attempts (attempts.py)
and the sampler (sampler.py) over one :class:`~.kernel.Kernel`. It is pure: no
printing, no wall clock, and randomness only from streams derived from the seed (streams.py).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gc
import math
from operator import itemgetter
from typing import Any, Callable, Iterator

from poolscale.formula.values import (
    MAX_TIMESTAMP_TICKS, TICKS_PER_SECOND, Option, Timestamp, format_timestamp,
    timestamp_from_datetime,
)
from poolscale.formula.timeparse import parse_iso_time
from poolscale.metrics.recorder import SampleRecorder

from .documents import shown
from .durations import LONGEST, positive_seconds
from .kernel import AUTOSCALE, SAMPLE, SUBMIT, Kernel, TooManyEvents
from .limits import MAX_EVALUATIONS, MAX_EVENTS, MAX_SAMPLE_PERIODS, MAX_SECONDS
from .models import (
    PoolSpec, Workload, absolute_instants, load_pool, load_workload, resolve_time,
)
from .nodes import SlotIndex
from .pool import STEADY, SWEEP_AFTER_REMOVALS
from .results import SimulationResult, build_report, instant_text
from .sampler import SamplerMixin
from .simworld import SimulatedWorld
from .streams import Streams
from .tasks import Job, Task
from .workload import LoadedWorkload

__all__ = [
    "Simulation", "simulate", "horizon_seconds", "start_text", "DEFAULT_START", "DRAIN_CAP_SECONDS",
    "MAX_SAMPLE_PERIODS",
]

#: The start instant when neither the call nor the pool's simulation section gives one (choice:
#: a fixed instant, never the wall clock, so runs are reproducible).
DEFAULT_START = "2026-01-05T00:00:00Z"
#: Without a horizon, a run ends when the workload has drained, or this long after the last
#: submission, whichever comes first.
DRAIN_CAP_SECONDS = 7 * 86_400.0


def start_text(ticks: int) -> str:
    """The start as an ISO instant: to the millisecond as formulas print times, and to the tick
    (7 digits, as Azure writes them) when the start has a finer part, so that the text read
    back is the same instant."""
    text = format_timestamp(Timestamp(ticks))
    if ticks % 10_000:
        text = f"{text[:-5]}.{ticks % TICKS_PER_SECOND:07d}Z"
    return text


def _start_ticks(start: Any) -> int:
    if start is None:
        start = DEFAULT_START
    if isinstance(start, Timestamp):
        return start.ticks
    if isinstance(start, int) and not isinstance(start, bool):
        return start
    if isinstance(start, _dt.datetime):
        return timestamp_from_datetime(start).ticks
    if isinstance(start, str):
        ts = parse_iso_time(start.strip())
        if ts is None:
            raise ValueError(f"start {start!r} is not an ISO-8601 time with a zone")
        return ts.ticks
    raise TypeError(f"start must be an ISO string, datetime, Timestamp or ticks, not {start!r}")


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


def horizon_seconds(value: Any) -> float:
    """How long to simulate, in seconds: a duration as every duration is read (durations.py:
    ``PT36H``, ``36h``, ``7d``, ``7200``, ``1 day, 0:00:00``), or a ``timedelta``; more than 0
    and at most MAX_SECONDS. ``--horizon``, ``simulation.horizon`` and ``simulate(horizon=)``
    all read it so, and refuse the same values with the same words."""
    if isinstance(value, _dt.timedelta):
        value = value.total_seconds()
    seconds = positive_seconds(value)
    if seconds > MAX_SECONDS:
        raise ValueError(f"{shown(value)} is too long: {LONGEST}")
    return seconds


def _ticks(seconds: float) -> int:
    return int(round(seconds * TICKS_PER_SECOND))


class Simulation(SimulatedWorld, SamplerMixin):
    """One simulated pool and workload. Build it, call :meth:`run`, read :meth:`result`."""

    def __init__(self, pool: PoolSpec | dict, workload: Workload | LoadedWorkload | dict | list,
                 formula: Any = None, *, start: Any = None, horizon: Any = None,
                 seed: int | None = None, progress: Callable[[float, float], None] | None = None,
                 log_events: bool = True) -> None:
        pool = pool if isinstance(pool, PoolSpec) else load_pool(pool)
        if isinstance(workload, LoadedWorkload):
            workload = workload.workload     # as read_csv / read_swf / read_workload return it
        workload = workload if isinstance(workload, Workload) else load_workload(workload)
        sim = pool.simulation
        self.pool_spec = pool
        if start is None:
            start = sim.start
        if start is None:
            # no start of the run's own: the workload's first ISO instant, else DEFAULT_START
            instants = absolute_instants(workload)
            start = min(instants) if instants else None
        self.start_ticks = _start_ticks(start)
        self.start_iso = start_text(self.start_ticks)
        self.seed = int(seed if seed is not None else (sim.seed if sim.seed is not None else 0))
        self.streams = Streams(self.seed)
        self.progress = progress
        self.events: list[tuple] = []
        self._log = self.events.append if log_events else None
        self.kernel = Kernel(self._schedule_pass, self._advance)
        self._init_pool(pool)
        self._init_autoscale(pool, formula)
        self._init_samples(sim)
        self._init_tasks(workload)
        if not self.track_mem and not self.track_io:
            self.kernel._advance = self._advance_plain
        self._init_horizon(horizon if horizon is not None else sim.horizon)
        self._ran = False
        self._released = False

    def _init_pool(self, pool: PoolSpec) -> None:
        sim = pool.simulation
        self.slots = pool.task_slots_per_node
        self.cores = pool.cores_per_node
        self.pack = pool.node_fill_type == "pack"
        self.inter_node = pool.enable_inter_node_communication
        quotas = (sim.dedicated_core_quota, sim.low_priority_core_quota)
        self.quota_nodes = [None if q is None else q // self.cores for q in quotas]
        most = sim.max_nodes_per_kind
        #: the upper clamp of an applied target (docs/language.md#from-value-to-target), per kind
        self.max_nodes = [most if q is None else min(q, most) for q in self.quota_nodes]
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

    def _init_tasks(self, workload: Workload) -> None:
        self.n_submitted = self.n_active = self.n_running = 0
        self.n_succeeded = self.n_failed = self.n_rejected = 0
        self.active_inst = self.active_slots = self.running_inst = self.assigned_slots = 0
        self.wasted = 0.0
        self.queue: list = []
        #: start a submitted task at once when the pass would (see JobsMixin._on_submit);
        #: False takes the general path, for the equivalence tests
        self.direct_start = True
        self._qtok = 0
        self.submissions_done = False
        with paused_gc():
            self._build_workload(workload)

    def _init_horizon(self, horizon: Any) -> None:
        try:
            h = None if horizon is None else horizon_seconds(horizon)
        except ValueError as e:
            raise ValueError(f"horizon: {e}") from None
        self.stop_when_drained = h is None
        if h is None:
            last = self.submissions[-1][0] if self.submissions else 0.0
            h = last + DRAIN_CAP_SECONDS
        period = self.period_ticks / TICKS_PER_SECOND
        if h / period > MAX_SAMPLE_PERIODS:
            # every period is a sample the formula may read and a timeline row: a run this
            # long would take minutes and gigabytes before it said anything
            raise ValueError(
                f"the run would last {h:,.0f} s, {h / period:,.0f} sample periods of {period:g} s; "
                f"at most {MAX_SAMPLE_PERIODS:,} (shorten the horizon or the workload, or "
                "lengthen simulation.samples.period)")
        interval = self.interval_ticks / TICKS_PER_SECOND
        if self.autoscale and h / interval > MAX_EVALUATIONS:
            # each is a formula evaluation; only a sample period longer than the interval lets
            # a run get here past the sample limit
            raise ValueError(
                f"the run would last {h:,.0f} s, {h / interval:,.0f} autoscale evaluations every "
                f"{interval:g} s; at most {MAX_EVALUATIONS:,} (shorten the horizon or the "
                "workload, or lengthen autoScaleEvaluationInterval)")
        if self.start_ticks + _ticks(h) > MAX_TIMESTAMP_TICKS:
            raise ValueError("the run would end after 9999-12-31T23:59:59Z, the last instant a "
                             "formula can represent")
        self.until = h
        self.horizon_report = h
        self._progress_step = max(h / 200.0, 1.0)
        self._next_progress = 0.0

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

    # -- running --------------------------------------------------------------------------

    def run(self, *, on_step: Callable[[bool], None] | None = None) -> "Simulation":
        if self._ran or self._released:
            raise RuntimeError("a Simulation runs once")
        self._ran = True
        k = self.kernel
        if self.target[0] or self.target[1]:
            self._begin_resize()          # the initial sizing counts as a resize
                                          # (docs/simulation-model.md#allocation-states)
        if self.autoscale:
            for kind in (0, 1):           # the file's targets, cut to the quota in _init_autoscale
                self._note_quota_cut(kind, self.file_targets[kind], by_run=False)
        if self.target[0] or self.target[1]:
            self._resize()
        if self.submissions:
            k.set_stream(SUBMIT, self._on_submit, self.submissions[0][0], 0)
        else:
            self.submissions_done = True
        first = self.period_ticks / TICKS_PER_SECOND
        if first <= self.until:
            k.at(first, SAMPLE, self._on_sample, 1)
        if self.autoscale:
            k.at(0.0, AUTOSCALE, self._on_evaluate, 0)
        k.max_events = MAX_EVENTS
        with paused_gc():
            try:
                # docs/simulation-model.md#sample-timing-delay-and-loss: sample k covers
                # (start + (k−1)·P, start + k·P], so the start instant is
                # in no period: what completes at it is not counted by the first sample
                k.run(min(0.0, self.until), on_step=on_step)
                self.period_succeeded = self.period_failed = 0
                if self.until > 0.0:
                    k.run(self.until, on_step=on_step)
            except TooManyEvents as e:
                raise ValueError(
                    f"the run reached {e.limit:,} events at {instant_text(self.start_ticks, e.at)}"
                    f" ({e.at:,.0f} s after the start), the most one run may process (look for tasks retried without limit, or a "
                    "formula that replaces the pool at every evaluation; or shorten the "
                    "horizon)") from None
        if not self.stop_when_drained or k.stop_at == math.inf:
            k.finish(self.until)
        if self.progress is not None:
            self.progress(k.now, self.horizon_report)
        return self

    def release(self) -> None:
        """Break the engine's reference cycles (task ↔ job, task ↔ node, the kernel's bound
        handlers ↔ the simulation), so that reference counting frees a finished run at once.

        Otherwise ~10^5 tasks wait for a full pass of the cyclic collector, which walks every
        live object of the process (about 0.5 s after the benchmark's run). :func:`simulate`
        calls this after :meth:`result`; the simulation cannot be inspected afterwards.
        """
        for job in self.jobs:
            job.tasks = job.by_id = job.assigned = job.groups = job.waiters = None
            job.jm = None
        for node in self.nodes.values():
            node.tasks = node.prep = node.releases = None
        self.kernel.release()
        self.jobs, self.nodes, self.submissions, self.queue = [], {}, [], []
        self._released = True

    def result(self) -> SimulationResult:
        if self._released:
            raise RuntimeError("this Simulation was released: read its result before release()")
        with paused_gc():
            report = build_report(self)
        return SimulationResult(
            report=report,
            timeline_rows=self.timeline,
            runs=list(zip(self.run_times, self.runs)),
            events=self.events,
            samples=self.recorder,
            start_ticks=self.start_ticks,
            preemptions=self.preemption_times,
            target_changes=self.target_change_times,
        )


def simulate(pool: PoolSpec | dict, workload: Workload | LoadedWorkload | dict | list,
             formula: Any = None, *,
             start: Any = None, horizon: Any = None, seed: int | None = None,
             progress: Callable[[float, float], None] | None = None,
             log_events: bool = True) -> SimulationResult:
    """Simulate ``workload`` on ``pool`` (autoscaled by ``formula`` or the pool's own formula).

    * ``pool``: a :class:`PoolSpec` or its JSON mapping; ``workload``: a :class:`Workload`, its
      mapping / list of jobs, or what the readers of ``scheduler.workload`` return.
    * ``formula``: formula text or a compiled Formula; overrides the pool's. None with a fixed
      pool simulates fixed targets. A formula that does not compile raises ``FormulaError``.
    * ``start``: ISO string, aware datetime, Timestamp or ticks (default: the pool's
      ``simulation.start``, else the workload's earliest ISO submit or creation time, else
      DEFAULT_START); ``horizon``: seconds, ``timedelta``, or text as ``--horizon`` takes it
      (``PT36H``, ``36h``, ``7d``)
      (default: the pool's ``simulation.horizon``, else until the workload drains, capped at
      DRAIN_CAP_SECONDS after the last submission); ``seed``: default the pool's, else 0.
    * ``progress(sim_seconds, horizon_seconds)`` is called about 200 times per run.
    """
    with paused_gc():
        sim = Simulation(pool, workload, formula, start=start, horizon=horizon, seed=seed,
                         progress=progress, log_events=log_events)
        sim.run()
        result = sim.result()
        sim.release()
        return result
