"""One pool of a live account: the shared Batch engine on local nodes and the real clock.

:class:`PoolEngine` is :class:`~poolscale.scheduler.engine.Engine` — every Batch rule the
simulator runs, plus the requests a user makes at any instant — in the :class:`~.liveworld.
LocalWorld` (nodes as directories, tasks as processes). It has no workload of its own: jobs and
tasks arrive as requests (:meth:`add_job`, ``add_task``), or, for ``poolscale run``, as the
same sorted stream of submissions the simulator reads. Every pool of an account shares one
:class:`~.livekernel.LiveKernel` (one clock, one engine thread) and one core quota.

Differences from a simulation, each for a reason:

* no horizon (``until`` is infinite) and no progress callback: the service runs until stopped;
* samples every ``AccountSettings.sample_period`` on the account's grid, none lost;
* an autoscale interval may be below the service's 5-minute floor only when the account's
  ``min_evaluation_interval`` says so (a development setting, named wherever it is used);
* the event log is a bounded ring (the live service runs for weeks), and every entry is also
  handed to ``on_event`` (the account persists what changed from it);
* tasks take the general paths of the rules (no inlined fast path, no direct start).
"""

from __future__ import annotations

import collections
import hashlib
import math
from types import SimpleNamespace
from typing import Any, Callable, Mapping

from poolscale.formula.values import TICKS_PER_SECOND
from poolscale.scheduler.engine import Engine, _ticks
from poolscale.scheduler.models import JobSpec, PoolSpec, load_pool
from poolscale.scheduler.quota import CoreQuota
from poolscale.scheduler.streams import Streams
from poolscale.scheduler.tasks import Job

from .liveworld import LocalWorld
from .records import PoolRecords
from .local.nodedirs import NodeDirectories
from .settings import AccountSettings

__all__ = ["PoolEngine", "EVENT_RING", "floored", "pool_seed", "rest_spec"]

#: how many event-log entries a pool keeps in memory (the store keeps the state itself)
EVENT_RING = 100_000

#: the service's floor of autoScaleEvaluationInterval, in seconds
SERVICE_FLOOR = 300.0


def pool_seed(account_seed: int, pool_id: str) -> int:
    """A pool's random streams (chaos, rand() of its formula): the account's seed mixed with the
    pool's id, so two pools of one account draw independently and every run draws the same."""
    digest = hashlib.sha256(f"{account_seed}:{pool_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def rest_spec(spec: Any) -> dict[str, Any]:
    """A pool's specification as a JSON object with the REST API's names: a copy of the dict
    given (so the caller's later changes do not reach it), or a model's REST dump."""
    import json

    if isinstance(spec, PoolSpec):
        return json.loads(spec.model_dump_json(by_alias=True, exclude_unset=True))
    return json.loads(json.dumps(dict(spec), default=str))


def floored(spec: Mapping[str, Any], settings: AccountSettings) -> tuple[dict, float | None]:
    """A copy of a raw pool body whose ``autoScaleEvaluationInterval`` below the service's floor
    (allowed down to ``settings.min_evaluation_interval``, a development setting) is raised to
    the floor, and that interval in seconds (None: the body's own stands). The pool model keeps
    the service's range, so a lowered interval is read this way wherever a pool body is
    checked (a pool added, a job's auto pool)."""
    raw = dict(spec)
    if not settings.development_interval:
        return raw, None
    for key in ("autoScaleEvaluationInterval", "auto_scale_evaluation_interval"):
        if key in raw:
            break
    else:
        return raw, None
    from poolscale.scheduler.durations import duration_seconds

    try:
        seconds = duration_seconds(raw[key])
    except (TypeError, ValueError):
        return raw, None
    if not settings.min_evaluation_interval <= seconds < SERVICE_FLOOR:
        return raw, None
    raw[key] = SERVICE_FLOOR
    return raw, seconds


def checked_pool(spec: dict | PoolSpec, settings: AccountSettings) -> tuple[PoolSpec, float]:
    """The pool's specification and its autoscale interval in seconds (a lowered one read as
    :func:`floored` says)."""
    if isinstance(spec, PoolSpec):
        return spec, spec.auto_scale_evaluation_interval
    raw, seconds = floored(spec, settings)
    pool = load_pool(raw)
    return pool, seconds if seconds is not None else pool.auto_scale_evaluation_interval


class PoolEngine(LocalWorld, Engine):
    """One live pool (see the module docstring)."""

    def __init__(self, spec: dict | PoolSpec, *, kernel: Any, start_ticks: int,
                 settings: AccountSettings, node_dirs: NodeDirectories,
                 core_quota: CoreQuota | None = None, seed: int = 0,
                 on_event: Callable[[tuple], None] | None = None,
                 on_job_ended: Callable[[Job], None] | None = None) -> None:
        pool, interval = checked_pool(spec, settings)
        #: the account's ear for a completed job (its schedule, its auto pool), engine thread
        self.on_job_ended = on_job_ended
        self.pool_spec = pool
        self.kernel = kernel
        self.start_ticks = start_ticks
        self.seed = pool_seed(seed, pool.id)
        self.streams = Streams(self.seed)
        self.progress = None
        self.events: collections.deque = collections.deque(maxlen=EVENT_RING)
        ring = self.events.append
        #: what the REST API reports of the pool and its nodes beyond the rules' state
        self.records = PoolRecords(kernel.now)
        observe = self.records.observe
        if on_event is None:
            def log(entry: tuple) -> None:
                ring(entry)
                observe(entry)
        else:
            def log(entry: tuple) -> None:
                ring(entry)
                observe(entry)
                on_event(entry)
        self._log = log
        self._init_pool(pool, core_quota)
        self._init_autoscale(pool, None)
        self.interval_ticks = _ticks(interval)
        self._init_samples(SimpleNamespace(samples=SimpleNamespace(
            period=settings.sample_period, delay=0.0, loss_rate=0.0)))
        self._init_counters()
        self.jobs: list[Job] = []
        self.submissions = []
        self.submissions_done = True
        self.next_seq = 0
        self.n_workload_tasks = 0
        self.track_mem = self.track_io = False
        self.until = math.inf
        self.horizon_report = math.inf
        self.stop_when_drained = False
        self._progress_step = math.inf
        self._next_progress = math.inf
        self.direct_start = False
        #: the formula's text as the user gave it (the pool's, or the last enabling's)
        self.formula_text = pool.auto_scale_formula if self.autoscale else None
        self.created_at = kernel.now
        #: the specification as added (REST names, JSON values), patched by the pool's
        #: property updates: the properties the engine does not model are echoed from it
        self.rest_spec = rest_spec(spec)
        #: when ``state`` last changed (creation, then deletion)
        self.state_time = kernel.now
        self._deleting = False
        self._init_local_world(settings, node_dirs)
        from .local.psutil_source import PsutilSampleSource

        self.sample_source = PsutilSampleSource(self._node_processes, self.cores or 1)

    @property
    def id(self) -> str:
        return self.pool_spec.id

    @property
    def deleting(self) -> bool:
        """The pool is being deleted: its nodes leave, then the account forgets it."""
        return self._deleting

    @deleting.setter
    def deleting(self, value: bool) -> None:
        if value != self._deleting:
            self._deleting = value
            self.state_time = self.kernel.now

    def _enable_autoscale(self, formula: Any, interval_ticks: int) -> None:
        super()._enable_autoscale(formula, interval_ticks)
        self.records.modified = self.kernel.now

    def _disable_autoscale(self) -> None:
        super()._disable_autoscale()
        self.records.modified = self.kernel.now

    def _start_task_process(self, node: Any, rule: Callable[[Any, Any], None]) -> None:
        self.records.start_task_started(node.id, self.kernel.now, node.st_attempts)
        super()._start_task_process(node, rule)

    def _on_start_task_exit(self, node: Any, report: tuple) -> None:
        (uid, _life, _rule), result = report
        procs = self._node_procs.get(node)
        if procs is not None and uid in procs:        # not an attempt the engine gave up
            failure = result.failure
            self.records.start_task_ended(
                node.id, self.kernel.now, result.exit_code,
                None if failure is None else (failure.category, failure.code, failure.message))
        super()._on_start_task_exit(node, report)

    def start(self) -> None:
        """The pool comes up at the kernel's now (engine thread)."""
        self._start()

    def add_job(self, spec: JobSpec, seq: int) -> Job:
        """``RequestsMixin.add_job`` (engine thread), with the job's task specifications kept
        for their processes. ``seq``: the account-wide creation order."""
        job = super().add_job(spec, seq)
        self._task_specs.setdefault(job, {}).update({t.id: t for t in spec.tasks})
        return job

    def _job_ended(self, job: Job) -> None:
        super()._job_ended(job)
        if self.on_job_ended is not None:
            self.on_job_ended(job)

    def add_task(self, job: Job, spec: Any, *, seq: int | None = None) -> Any:
        """``RequestsMixin.add_task``, with the specification kept for the task's process."""
        self._task_specs.setdefault(job, {})[spec.id] = spec
        return super().add_task(job, spec, seq=seq)

    def interval_seconds(self) -> float:
        return self.interval_ticks / TICKS_PER_SECOND
