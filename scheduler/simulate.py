"""``simulate(pool, workload, formula, ...)``: a Batch pool on a deterministic event clock.

:class:`Simulation` is the Batch engine (engine.py: the pool manager, jobs, the scheduling
pass, task attempts and the sampler) in the simulated world (simworld.py: drawn and declared
durations, outcomes and resource readings) on a virtual clock (kernel.py), plus what only a
simulation has: a horizon, a stop when the workload drains, and the report. It is pure: no
printing, no wall clock, and randomness only from streams derived from the seed (streams.py).
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any, Callable

from poolscale.formula.values import (
    MAX_TIMESTAMP_TICKS, TICKS_PER_SECOND, Timestamp, format_timestamp, timestamp_from_datetime,
)
from poolscale.formula.timeparse import parse_iso_time

from .documents import shown
from .durations import LONGEST, positive_seconds
from .autopooled import find_auto_pool
from .engine import Engine, _ticks, paused_gc
from .kernel import Kernel, TooManyEvents
from .limits import MAX_EVALUATIONS, MAX_EVENTS, MAX_SAMPLE_PERIODS, MAX_SECONDS
from .models import PoolSpec, Workload, absolute_instants, load_pool, load_workload
from .results import SimulationResult, build_report, instant_text
from .simworld import SimulatedWorld
from .streams import Streams
from .workload import LoadedWorkload

__all__ = [
    "Simulation", "simulate", "horizon_seconds", "start_text", "DEFAULT_START", "DRAIN_CAP_SECONDS",
    "MAX_SAMPLE_PERIODS", "paused_gc",
]

#: The start instant when neither the call nor the pool's simulation section gives one (choice:
#: a fixed instant, never the wall clock, so runs are reproducible).
DEFAULT_START = "2026-01-05T00:00:00Z"
#: Without a horizon, a run ends when the workload has drained, or this long after the last
#: submission (or the last instant a job schedule may make a job), whichever comes first.
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


class Simulation(SimulatedWorld, Engine):
    """One simulated pool and workload. Build it, call :meth:`run`, read :meth:`result`."""

    def __init__(self, pool: PoolSpec | dict | None,
                 workload: Workload | LoadedWorkload | dict | list,
                 formula: Any = None, *, start: Any = None, horizon: Any = None,
                 seed: int | None = None, progress: Callable[[float, float], None] | None = None,
                 log_events: bool = True) -> None:
        if isinstance(workload, LoadedWorkload):
            workload = workload.workload     # as read_csv / read_swf / read_workload return it
        workload = workload if isinstance(workload, Workload) else load_workload(workload)
        auto = find_auto_pool(workload)
        if auto is not None and pool is not None:
            raise ValueError("the workload's jobs make their own pool; drop --pool")
        if auto is None and pool is None:
            raise ValueError("no pool: give a pool file (--pool), or the workload's jobs a "
                             "poolInfo.autoPoolSpecification")
        pool = auto.pool if auto is not None else pool
        pool = pool if isinstance(pool, PoolSpec) else load_pool(pool)
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
        self._init_counters()
        with paused_gc():
            self._build_workload(workload)
        self._init_schedules(workload)
        if not self.track_mem and not self.track_io:
            self.kernel._advance = self._advance_plain
        self._init_horizon(horizon if horizon is not None else sim.horizon)
        if auto is not None:
            self._init_auto_pool(auto)
        self._ran = False
        self._released = False

    def _init_horizon(self, horizon: Any) -> None:
        try:
            h = None if horizon is None else horizon_seconds(horizon)
        except ValueError as e:
            raise ValueError(f"horizon: {e}") from None
        self.stop_when_drained = h is None
        if h is None:
            last = self.submissions[-1][0] if self.submissions else 0.0
            made = self._last_schedule_instant()     # a recurring one without an end: refused
            if made is not None:
                last = max(last, made)
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
        self._check_schedule_tasks(h)
        self.until = h
        self.horizon_report = h
        self._progress_step = max(h / 200.0, 1.0)
        self._next_progress = 0.0

    # -- running --------------------------------------------------------------------------

    def run(self, *, on_step: Callable[[bool], None] | None = None) -> "Simulation":
        if self._ran or self._released:
            raise RuntimeError("a Simulation runs once")
        self._ran = True
        k = self.kernel
        self._start()
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
        self.schedules = {}
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


def simulate(pool: PoolSpec | dict | None, workload: Workload | LoadedWorkload | dict | list,
             formula: Any = None, *,
             start: Any = None, horizon: Any = None, seed: int | None = None,
             progress: Callable[[float, float], None] | None = None,
             log_events: bool = True) -> SimulationResult:
    """Simulate ``workload`` on ``pool`` (autoscaled by ``formula`` or the pool's own formula).

    * ``pool``: a :class:`PoolSpec` or its JSON mapping; None when the workload's jobs make
      their own pool (``poolInfo.autoPoolSpecification``, autopooled.py); ``workload``: a
      :class:`Workload`, its mapping / list of jobs, or what the readers of
      ``scheduler.workload`` return.
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
