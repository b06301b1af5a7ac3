"""Run a workload for real on one live pool until it drains: the engine of ``poolscale run``.

:class:`WorkloadRun` is a :class:`~.poolengine.PoolEngine` (the simulator's Batch rules on
local nodes, tasks as processes) whose jobs and tasks come from the same sorted stream of
submissions a simulation reads (``Engine._build_workload``), on its own
:class:`~.livekernel.LiveKernel`. It stops by the simulator's rule for a run without a
horizon (``stop_when_drained``: every submission made, no task active or running), so that the
report :func:`~poolscale.scheduler.results.build_report` makes of it is the report ``simulate``
makes of the same workload, and the two can be set side by side.

Choices, each for a reason:

* **Submit times** are read against ``reference_ticks``, the start ``simulate`` would pick for
  the same files (the pool's ``simulation.start``, else the workload's first ISO instant, else
  its default), so an ISO submit time is an offset from the run's start on both clocks and the
  prediction replays the same stream. The report's ``start`` is the real UTC instant the run
  began (to the millisecond): a formula's ``time()`` reads the real clock, as on the service.
* **Seed**: the report shows the seed given; the pool's draws (low-priority chaos, ``rand()``)
  come from it mixed with the pool's id, as every live pool's do (``pool_seed``).
* **The event log** is a full list, not the service's bounded ring: a run is bounded by its
  workload, and the prediction reads every attempt from it
  (:func:`~poolscale.scheduler.measured.measured_workload`).
* **The engine thread** serves the kernel while the calling thread waits, calls the progress
  callback every ``poll`` seconds, and takes Ctrl-C: a ``KeyboardInterrupt`` there stops the
  engine after its current turn (never in the middle of a rule), and :meth:`close` kills the
  processes still running. The report of an interrupted run is what happened up to the stop
  (its running tasks are ``running_at_end``).
"""

from __future__ import annotations

import datetime as _dt
import time
from typing import Any, Callable

from poolscale.formula.values import timestamp_from_datetime
from poolscale.scheduler.autopooled import find_auto_pool
from poolscale.scheduler.models import PoolSpec, Workload
from poolscale.scheduler.quota import CoreQuota
from poolscale.scheduler.results import build_report
from poolscale.scheduler.simulate import start_text

from .livekernel import LiveKernel, RealClock
from .local.nodedirs import NodeDirectories
from .poolengine import PoolEngine
from .settings import AccountSettings

__all__ = ["WorkloadRun"]

#: ticks in a millisecond: the real start is shown to the millisecond
_MS_TICKS = 10_000


class WorkloadRun(PoolEngine):
    """One pool and one workload run for real (see the module docstring).

    ``pool``/``workload``: as loaded for ``simulate``; ``reference_ticks``: the instant the
    workload's ISO times are offsets from; ``settings``: the account's (``data_dir``, quotas,
    delays); ``scale``: wall seconds per engine second (1: real time; below 1 a development
    setting that runs engine time faster). Build it, :meth:`run` it, read :meth:`report` and
    ``events``.
    """

    def __init__(self, pool: PoolSpec, workload: Workload, *, reference_ticks: int,
                 settings: AccountSettings, scale: float = 1.0, seed: int = 0,
                 wall_clock: Callable[[], _dt.datetime] | None = None) -> None:
        now = (wall_clock or (lambda: _dt.datetime.now(_dt.timezone.utc)))()
        start_ticks = timestamp_from_datetime(now).ticks // _MS_TICKS * _MS_TICKS
        kernel = LiveKernel(self._schedule_pass, self._advance, clock=RealClock(scale),
                            promise_timeout=None)
        super().__init__(pool, kernel=kernel, start_ticks=start_ticks, settings=settings,
                         node_dirs=NodeDirectories(settings.work_root),
                         core_quota=CoreQuota(*settings.core_quotas,
                                              max_nodes=settings.max_local_nodes),
                         seed=seed)
        self.seed = seed
        self.start_iso = start_text(start_ticks)
        self.events: list[tuple] = []          # type: ignore[assignment]
        self._log = self.events.append
        self._build_stream(workload, reference_ticks)
        auto = find_auto_pool(workload)
        if auto is not None:
            # the jobs make their pool (``pool`` is its specification): absent until then
            self._init_auto_pool(auto)
        self.use_general_paths()
        self.stop_when_drained = True
        #: whether Ctrl-C stopped the run before the workload drained
        self.interrupted = False
        #: wall seconds from the start of :meth:`run` to the engine's stop
        self.wall_seconds = 0.0
        self._closed = False

    def _build_stream(self, workload: Workload, reference_ticks: int) -> None:
        """The simulator's submission stream and job schedules, their ISO times read against
        ``reference_ticks`` (the only use either makes of the start)."""
        real = self.start_ticks
        self.start_ticks = reference_ticks
        try:
            self._build_workload(workload)
            self._init_schedules(workload)      # the simulator's schedule layer, on this clock
        finally:
            self.start_ticks = real
        self.submissions_done = not self.submissions   # the stream sets it at its end

    def never_placed(self) -> list[Any]:
        """The workload's tasks no node of this pool can ever hold (``requiredSlots`` above
        ``taskSlotsPerNode``, a multi-instance task the pool cannot host): a simulation counts
        them active until its cap, a real run would wait for them for ever."""
        tasks = [t for _at, _job, t in self.submissions if t is not None and t.gkey is None]
        return tasks + [job.jm for job in self.jobs if job.jm is not None and job.jm.gkey is None]

    @property
    def tasks_done(self) -> int:
        """Tasks completed so far, succeeded or failed (read from any thread, for a display)."""
        return self.n_succeeded + self.n_failed

    def run(self, on_progress: Callable[[WorkloadRun], None] | None = None, *,
            poll: float = 0.1) -> WorkloadRun:
        """Run until the workload drains (or Ctrl-C), then end every process. ``on_progress``
        is called on the calling thread every ``poll`` wall seconds while the engine runs."""
        k = self.kernel
        began = time.monotonic()
        try:
            self._start()              # engine time 0, on this thread, before the engine's
            if self.submissions_done:
                self._check_drained()  # an empty workload has drained at once
            k.serve_in_thread("poolscale-run")
            try:
                while not k.join(poll):
                    if on_progress is not None:
                        on_progress(self)
            except KeyboardInterrupt:
                self.interrupted = True
                k.stop()
                k.join()
        finally:
            self.wall_seconds = time.monotonic() - began
            self.close()
        return self

    def close(self, timeout: float | None = 10.0) -> None:
        """Kill the processes still running and wait for the node directories' clean-up."""
        if self._closed:
            return
        self._closed = True
        self._close_local_world(timeout)
        self.node_dirs.close(timeout)

    def report(self) -> dict[str, Any]:
        """``simulate``'s report, of what ran (call after :meth:`run`)."""
        return build_report(self)
