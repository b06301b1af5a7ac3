"""An Azure Batch account on this machine: pools of local nodes, jobs and tasks run for real.

:class:`Account` is the library face of the live service (the REST service is a thin layer
over it). Every pool is a :class:`~.poolengine.PoolEngine` — the simulator's Batch rules on
local nodes — and all pools share one :class:`~.livekernel.LiveKernel`: one real clock, one
engine thread that owns every engine object. A call from any thread becomes a *command* run on
that thread between two turns of the engine loop; it returns (or raises a
:class:`~.errors.BatchError` with the service's code) once the engine has taken it and
committed it. :meth:`Account.submit` hands a command over without waiting (a future, for an
event loop); inside a command the account's own calls run at once.

What is refused is refused as the service refuses it: an id that breaks the Batch id rule
(``InvalidPropertyValue``), a pool, job or task that exists (``PoolExists``, ``JobExists``,
``TaskExists``) or does not (``PoolNotFound``, ``JobNotFound``, ``TaskNotFound``,
``NodeNotFound``), a formula the checker refuses (its own code), a resize of a pool that
autoscale sizes or that is resizing.

A job may name a pool that does not exist yet, as on the service: it is accepted and its tasks
wait, active, until a pool with that id is created.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import logging
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from poolscale.formula.values import Option, timestamp_from_datetime
from poolscale.scheduler.models import JobSpec, TaskSpec
from poolscale.scheduler.plaintasks import task_from_rest
from poolscale.scheduler.quota import CoreQuota
from poolscale.scheduler.requests import USER_TERMINATE
from poolscale.scheduler.tasks import COMPLETED, JOB_ACTIVE, JOB_COMPLETED, Job, Task

from . import errors as E
from .account_autopools import AutoPool, AutoPoolOperations, floored_job, given_auto_pool
from .account_certs import CertificateOperations
from .account_jobs import JobOperations
from .account_pools import PoolOperations
from .account_schedules import JobSchedule, ScheduleOperations
from .ids import check_id, id_key
from .livekernel import LiveKernel, RealClock
from .local.nodedirs import NodeDirectories
from .local.storage import check_transfers, redact
from .poolengine import PoolEngine
from .settings import AccountSettings
from .views import job_view, node_view, pool_view, run_view, task_view

__all__ = ["Account"]

_OPTIONS = {o.value: o for o in Option}


def _option(value: str | Option | None, name: str = "nodeDeallocationOption") -> Option:
    if value is None:
        return Option.REQUEUE
    if isinstance(value, Option):
        return value
    found = _OPTIONS.get(str(value).lower())
    if found is None:
        raise E.invalid_property(name, value, "must be requeue, terminate, taskcompletion or "
                                 "retaineddata")
    return found


def _resize_timeout(value: str | float | None) -> float | None:
    """A resize's ``resizeTimeout`` in seconds (None: the pool's stays), at least 5 minutes as
    the service requires."""
    if value is None:
        return None
    from poolscale.scheduler.durations import duration_seconds

    try:
        seconds = duration_seconds(value)
    except (TypeError, ValueError) as e:
        raise E.invalid_property("resizeTimeout", value, str(e)) from None
    if seconds < 300.0:
        raise E.invalid_property("resizeTimeout", value, "must be at least PT5M")
    return seconds


def _model(cls: Any, spec: Mapping[str, Any] | Any, what: str) -> Any:
    """A pool/job/task specification as its model, or the Batch error for the first field
    the model refuses (the property named as the REST API names it)."""
    if isinstance(spec, cls):
        return spec
    if not isinstance(spec, Mapping):
        raise E.BatchError("InvalidRequestBody", f"the {what} must be a JSON object")
    try:
        return cls.model_validate(dict(spec))
    except ValueError as e:         # pydantic's ValidationError is a ValueError
        raise _refusal(e, what) from None


def _field_name(error: Mapping[str, Any]) -> str:
    """The REST name of the field a pydantic error is about: its place, or for a check across
    fields (a ``FieldError``, which pydantic places at the model) the field the check names,
    under the model's place (a check may name its field from the model itself: ``poolInfo``
    of the model at ``poolInfo``). The value shown stays the model's input, as given."""
    from poolscale.scheduler.models import FieldError

    loc = [str(p) for p in error.get("loc", ())]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, FieldError):
        if loc and cause.field.split(".")[0] == loc[-1]:
            loc.pop()
        loc.append(cause.field)
    return ".".join(loc)


def _refusal(e: Exception, what: str) -> E.BatchError:
    """The Batch error for a specification the model (or the formula checker) refused: the
    formula's own code, or the first refused field named as the REST API names it."""
    code = getattr(e, "code", None)
    if code is not None and hasattr(e, "detail") and code in E.ERROR_CODES:
        return E.formula_refused(e)
    from pydantic import ValidationError

    if isinstance(e, ValidationError):
        first = e.errors()[0]
        name = _field_name(first) or what
        if first.get("type") == "missing":
            return E.missing_property(name)
        value = first.get("input")
        if "sig=" in repr(value).lower():   # a SAS is a secret: never echoed
            value = redact(value)
        return E.invalid_property(name, value, first.get("msg", "invalid"))
    return E.invalid_property(what, None, str(e))


class _JobEntry:
    """A job the account knows: its model, its pool's id, and its engine object once its pool
    exists (``job`` None: waiting for the pool, with the tasks added meanwhile).

    :meth:`find` is the job's task index: a task by its id compared without case, in O(1)
    (a get, and the duplicate check of every task added, scanned every task of the job before:
    adding n tasks cost n² id comparisons). The index follows the list it indexes, the engine
    job's ``tasks`` (accepted tasks, appended by the engine's rules, by recovery, by a pool
    created for a waiting job) or ``waiting``: tasks appended are indexed at the next lookup,
    and a list replaced or shortened is indexed again from its start."""

    __slots__ = ("spec", "pool_id", "job", "engine", "waiting", "seq", "auto_pool",
                 "_keys", "_listed", "_indexed")

    def __init__(self, spec: JobSpec, pool_id: str, seq: int,
                 auto_pool: dict[str, Any] | None = None) -> None:
        self.spec, self.pool_id, self.seq = spec, pool_id, seq
        #: the job's ``autoPoolSpecification`` as given (echoed by its view), or None
        self.auto_pool = auto_pool
        self.job: Job | None = None
        self.engine: PoolEngine | None = None
        self.waiting: list[TaskSpec] = []
        self._keys: dict[str, Any] = {}
        self._listed: list | None = None
        self._indexed = 0

    def index(self) -> dict[str, Any]:
        """id key -> the accepted :class:`Task` (a job on its pool) or the :class:`TaskSpec`
        (a job waiting for its pool); the first of two tasks with one key wins, as a scan
        would find it. Engine thread."""
        listed = self.job.tasks if self.job is not None else self.waiting
        keys = self._keys
        if listed is not self._listed or len(listed) < self._indexed:
            keys = self._keys = {}
            self._listed, self._indexed = listed, 0
        n = len(listed)
        if n > self._indexed:
            add = keys.setdefault
            for task in listed[self._indexed:]:
                add(task.id.lower(), task)      # id_key, inlined (ids are ASCII)
            self._indexed = n
        return keys

    def find(self, task_id: str) -> Any:
        """The task ``task_id`` (see :meth:`index`), or None."""
        return self.index().get(id_key(task_id))


class Account(PoolOperations, JobOperations, CertificateOperations, AutoPoolOperations,
              ScheduleOperations):
    """A Batch account on this machine (see the module docstring).

    ``data_dir``: where node directories (and the state store) live; ``settings`` overrides
    every account setting (``AccountSettings``); ``scale``: wall seconds per engine second (1:
    real time; tests run faster). The engine thread starts at once; :meth:`close` stops it and
    ends every task process.
    """

    def __init__(self, data_dir: str | Path | None = None, *,
                 settings: AccountSettings | None = None, scale: float = 1.0,
                 seed: int = 0, wall_clock: Callable[[], _dt.datetime] | None = None) -> None:
        if settings is None:
            settings = AccountSettings(data_dir=Path(data_dir) if data_dir else Path(".poolscale"))
        self.settings = settings
        self.seed = seed
        now = (wall_clock or (lambda: _dt.datetime.now(_dt.timezone.utc)))()
        #: the UTC instant of engine time 0, in ticks
        self.start_ticks = timestamp_from_datetime(now).ticks
        self.node_dirs = NodeDirectories(settings.work_root)
        self.quota = CoreQuota(*settings.core_quotas, max_nodes=settings.max_local_nodes)
        self.clock = RealClock(scale)
        self.kernel = LiveKernel(self._pass, self._advance, clock=self.clock,
                                 promise_timeout=None)
        self.pools: dict[str, PoolEngine] = {}
        self.jobs: dict[str, _JobEntry] = {}
        #: the auto pools that exist, by pool id key (account_autopools.py)
        self.auto_pools: dict[str, AutoPool] = {}
        self.auto_pools_made: dict[str, int] = {}
        #: job schedules by id key (account_schedules.py)
        self.job_schedules: dict[str, JobSchedule] = {}
        self._job_seq = itertools.count()
        self._closed = False
        #: what a user of this account must know about how it differs from the service
        #: (a lowered evaluation floor); also logged once at creation
        self.notes: list[str] = []
        if settings.development_interval:
            self.notes.append(settings.interval_note)
            logging.getLogger("poolscale.account").warning(settings.interval_note)
        # durable state (runtime/service/persist.py, recovery.py): open the store, end what a
        # killed run left running, rebuild from the rows; the kernel commits every turn
        from .recovery import open_state

        self._thread: threading.Thread | None = None
        self._persist = open_state(self)
        self._thread = self.kernel.serve_in_thread()

    # -- the engine thread ------------------------------------------------------------------

    def _pass(self) -> None:
        for pool in self.pools.values():
            pool._schedule_pass()

    def _advance(self, old: float, new: float) -> None:
        for pool in self.pools.values():
            pool._advance(old, new)

    def _note(self, what: str, *ids: str) -> None:
        """Tell the store's writer what a command changed that no rule logs (persist.py)."""
        if self._persist is not None:
            getattr(self._persist, what)(*ids)

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the engine thread between two turns and return its result (or raise
        its error) once the engine has taken it. On the engine thread itself (a command
        submitted with :meth:`submit` that calls the account), ``fn`` runs at once, in that
        command."""
        if self._closed:
            raise RuntimeError("the account is closed")
        if threading.current_thread() is self._thread:
            return fn()
        return self.kernel.submit(fn).result()

    def submit(self, fn: Callable[[], Any]) -> Future:
        """Run ``fn()`` on the engine thread, as every call of the account does, without
        waiting for it: the future gets its result (or its exception) once the engine has run
        it and committed what it changed (an acknowledged change is durable, as for a call
        that waits). For an event loop, ``await asyncio.wrap_future(account.submit(fn))``
        waits without holding a worker thread. ``fn`` may call the account's methods (they
        run at once, inside it) but must not block: the engine stops while it runs. Any
        thread; after :meth:`close` the future holds a ``RuntimeError``."""
        if self._closed:
            future: Future = Future()
            future.set_exception(RuntimeError("the account is closed"))
            return future
        return self.kernel.submit(fn)

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop the engine and end every task process (their tasks are requeued at the next
        start, as after a node reboot)."""
        if self._closed:
            return
        self._closed = True
        self.kernel.stop()
        self.kernel.join(timeout)
        for pool in self.pools.values():
            pool._close_local_world(timeout)
        self.node_dirs.close(timeout)
        if self._persist is not None:
            self._persist.close()

    def __enter__(self) -> Account:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- lookups (engine thread) --------------------------------------------------------------

    def _pool(self, pool_id: str, *, change: bool = False) -> PoolEngine:
        """The pool; ``change``: the call would change it, which a pool being deleted refuses."""
        self._forget_deleted()
        pool = self.pools.get(id_key(pool_id))
        if pool is None:
            raise E.not_found("pool", pool_id)
        if change and pool.deleting:
            raise E.BatchError("PoolBeingDeleted", f"the pool {pool.id!r} is being deleted")
        return pool

    def _forget_deleted(self) -> None:
        """A pool being deleted is gone once its last node has left."""
        for key, pool in list(self.pools.items()):
            if pool.deleting and not pool.nodes:
                del self.pools[key]
                self.quota.pools.remove(pool)
                self._note("forget_pool", pool.id)
                self._auto_pool_gone(pool.id)
                # no node, so no process: what is left is its reaper thread and transfer
                # threads, which a long-running server would otherwise keep for every pool
                # ever deleted
                pool._close_local_world(0)

    def _job(self, job_id: str) -> _JobEntry:
        entry = self.jobs.get(id_key(job_id))
        if entry is None:
            raise E.not_found("job", job_id)
        return entry

    def _task(self, job_id: str, task_id: str) -> tuple[_JobEntry, Task]:
        entry = self._job(job_id)
        if entry.job is not None:
            task = entry.find(task_id)
            if task is not None:
                return entry, task
            jm = entry.job.jm
            if jm is not None and id_key(jm.id) == id_key(task_id):
                return entry, jm
        raise E.not_found("task", task_id)

    def _check_transfers(self, spec: Any, prefix: str = "") -> None:
        """What a task asks of storage that this account cannot give is refused when it is
        added (local/storage.py: a managed identity, auto-storage without a connection
        string), not when it runs."""
        check_transfers(spec, prefix, auto_storage=self.settings.auto_storage is not None)

    def _node(self, pool: PoolEngine, node_id: str) -> Any:
        for node in pool.nodes.values():
            if node.id == node_id:
                return node
        raise E.not_found("node", node_id)

    # -- pools ----------------------------------------------------------------------------------

    def create_pool(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Add a pool (the REST ``Pool - Add`` body: ``id``, ``vmSize``, ``taskSlotsPerNode``,
        targets or ``enableAutoScale`` with ``autoScaleFormula``, ``startTask``, ...). Its
        nodes are allocated at once (after the account's delays)."""
        if not isinstance(spec, Mapping):
            raise E.BatchError("InvalidRequestBody", "the pool must be a JSON object")
        if "id" not in spec:
            raise E.missing_property("id")
        check_id(spec["id"], "id")
        return self._call(lambda: pool_view(self._create_pool_now(spec)))

    def _create_pool_now(self, spec: Mapping[str, Any]) -> PoolEngine:
        """Make the pool ``spec`` (its id checked) now, engine thread: the one path of a pool
        added by a user and of an auto pool; jobs waiting for its id are placed on it."""
        self._forget_deleted()
        existing = self.pools.get(id_key(spec["id"]))
        if existing is not None:
            if existing.deleting:
                raise E.BatchError("PoolBeingDeleted",
                                   f"the pool {existing.id!r} is being deleted")
            raise E.exists("pool", spec["id"])
        self._check_certificate_references(spec)
        try:
            pool = PoolEngine(spec, kernel=self.kernel, start_ticks=self.start_ticks,
                              settings=self.settings, node_dirs=self.node_dirs,
                              core_quota=self.quota, seed=self.seed,
                              on_event=None if self._persist is None
                              else self._persist.event_hook(spec["id"]),
                              on_job_ended=self._on_job_ended)
        except E.BatchError:
            raise
        except Exception as e:         # the model's refusal, or the formula's
            raise _refusal(e, "pool") from None
        if pool.pool_spec.start_task is not None:      # nothing runs before start()
            self._check_transfers(pool.pool_spec.start_task, "startTask.")
        pool.created_at = self.kernel.now
        pool.certificate_files = self.certificate_files
        self.pools[id_key(pool.id)] = pool
        if self._persist is not None:
            self._persist.watch(pool, json.dumps(dict(spec), default=str))
        pool.start()
        for entry in self.jobs.values():
            if entry.job is None and id_key(entry.pool_id) == id_key(pool.id):
                self._place_job(entry, pool)
        return pool

    def get_pool(self, pool_id: str) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            pool = self._pool(pool_id)
            return pool_view(pool, state="deleting" if pool.deleting else "active")
        return self._call(run)

    def list_pools(self) -> list[dict[str, Any]]:
        def run() -> list[dict[str, Any]]:
            self._forget_deleted()
            return [pool_view(p, state="deleting" if p.deleting else "active")
                    for p in self.pools.values()]
        return self._call(run)

    def delete_pool(self, pool_id: str) -> None:
        """Delete the pool: it is ``deleting`` while its nodes leave (running tasks are
        requeued, as the service does), then gone."""
        self._call(lambda: self._delete_pool_now(self._pool(pool_id, change=True)))

    def _delete_pool_now(self, pool: PoolEngine) -> None:
        """Start deleting ``pool`` (engine thread): the one path of a user's delete and of an
        auto pool whose owner ended."""
        if pool.autoscale:
            pool._disable_autoscale()
        pool.deleting = True
        pool.resize(0, 0, Option.REQUEUE)
        self._forget_deleted()

    def resize_pool(self, pool_id: str, dedicated: int = 0, low_priority: int = 0,
                    option: str | Option | None = None,
                    resize_timeout: str | float | None = None) -> None:
        """Resize a fixed pool; ``resize_timeout`` (``PT15M``, or seconds; at least 5 minutes)
        becomes the pool's, as the service keeps the timeout of the last resize."""
        opt = _option(option)
        timeout = _resize_timeout(resize_timeout)

        def run() -> None:
            pool = self._pool(pool_id, change=True)
            if pool.autoscale:
                raise E.BatchError("OperationInvalidForCurrentState",
                                   f"the pool {pool.id!r} is sized by its autoscale formula")
            if pool.alloc_state != "steady":
                raise E.BatchError("PoolBeingResized", f"the pool {pool.id!r} is resizing")
            for name, n in (("targetDedicatedNodes", dedicated),
                            ("targetLowPriorityNodes", low_priority)):
                if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                    raise E.invalid_property(name, n, "must be a whole number >= 0")
            pool.resize(dedicated, low_priority, opt, resize_timeout=timeout)
        self._call(run)

    def stop_resize(self, pool_id: str) -> None:
        def run() -> None:
            pool = self._pool(pool_id, change=True)
            if pool.autoscale:
                raise E.BatchError("OperationInvalidForCurrentState",
                                   f"the pool {pool.id!r} is sized by its autoscale formula")
            pool.stop_resize()
        self._call(run)

    def enable_autoscale(self, pool_id: str, formula: str,
                         interval: str | float | None = None) -> dict[str, Any]:
        """Enable autoscale (or change its formula or interval): the first run is at once and
        its AutoScaleRun is returned."""
        compiled = self._compile(formula)
        seconds = self._interval(interval)

        def run() -> dict[str, Any]:
            pool = self._pool(pool_id, change=True)
            if pool.alloc_state != "steady" and not pool.autoscale:
                raise E.BatchError("PoolBeingResized", f"the pool {pool.id!r} is resizing")
            pool.formula_text = formula
            ticks = round(seconds * 10_000_000) if seconds is not None else pool.interval_ticks
            pool._enable_autoscale(compiled, ticks)
            self._note("note_pool", pool.id)
            return pool_view(pool)
        return self._call(run)

    def disable_autoscale(self, pool_id: str) -> None:
        def run() -> None:
            pool = self._pool(pool_id, change=True)
            pool._disable_autoscale()
            self._note("note_pool", pool.id)
        self._call(run)

    def evaluate_autoscale(self, pool_id: str, formula: str) -> dict[str, Any]:
        """Evaluate ``formula`` on the pool's samples now, without applying it: the
        AutoScaleRun the service's ``evaluateautoscale`` returns."""
        compiled = self._compile(formula)

        def run() -> dict[str, Any]:
            pool = self._pool(pool_id)
            if not pool.autoscale:
                raise E.BatchError("OperationInvalidForCurrentState",
                                   f"the pool {pool.id!r} does not autoscale")
            state = pool.pool_state()
            now = self.kernel.now
            result = compiled.evaluate(pool.recorder, now=self.start_ticks + round(now * 10_000_000),
                                       pool=state, seed=pool.streams.seed_of("evaluate", round(now)))
            return run_view(pool, now, result)
        return self._call(run)

    def _compile(self, formula: str) -> Any:
        if not isinstance(formula, str):
            raise E.invalid_property("autoScaleFormula", formula, "must be text")
        from poolscale.formula import FormulaError, compile_formula

        try:
            return compile_formula(formula)
        except FormulaError as e:
            raise E.formula_refused(e) from None

    def _interval(self, interval: str | float | None) -> float | None:
        if interval is None:
            return None
        from poolscale.scheduler.durations import duration_seconds

        try:
            seconds = duration_seconds(interval)
        except (TypeError, ValueError) as e:
            raise E.invalid_property("autoScaleEvaluationInterval", interval, str(e)) from None
        floor = self.settings.min_evaluation_interval
        if not floor <= seconds <= 168 * 3600.0:
            raise E.BatchError("InvalidAutoScaleEvaluationInterval",
                               f"the interval must lie between {floor:g} s and 168 h")
        return seconds

    # -- nodes ----------------------------------------------------------------------------------

    def list_nodes(self, pool_id: str) -> list[dict[str, Any]]:
        def run() -> list[dict[str, Any]]:
            pool = self._pool(pool_id)
            return [node_view(pool, n) for n in pool.nodes.values()]
        return self._call(run)

    def get_node(self, pool_id: str, node_id: str) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            pool = self._pool(pool_id)
            return node_view(pool, self._node(pool, node_id))
        return self._call(run)

    def remove_nodes(self, pool_id: str, node_ids: Iterable[str],
                     option: str | Option | None = None,
                     resize_timeout: str | float | None = None) -> None:
        """Remove these nodes (their tasks as ``option`` says); a node already leaving is
        refused (``OperationInvalidForCurrentState``) before anything changes."""
        opt = _option(option)
        timeout = _resize_timeout(resize_timeout)
        ids = list(node_ids)

        def run() -> None:
            pool = self._pool(pool_id, change=True)
            nodes = [self._node(pool, i) for i in ids]
            try:
                pool.remove_nodes(nodes, opt, resize_timeout=timeout)
            except ValueError as e:         # a node already leaving the pool
                raise E.BatchError("OperationInvalidForCurrentState", str(e)) from None
        self._call(run)

    def disable_scheduling(self, pool_id: str, node_id: str, option: str = "requeue") -> None:
        if option not in ("requeue", "terminate", "taskcompletion"):
            raise E.invalid_property("nodeDisableSchedulingOption", option,
                                     "must be requeue, terminate or taskcompletion")

        def run() -> None:
            pool = self._pool(pool_id)
            pool.disable_scheduling(self._node(pool, node_id), _option(option))
        self._call(run)

    def enable_scheduling(self, pool_id: str, node_id: str) -> None:
        def run() -> None:
            pool = self._pool(pool_id)
            pool.enable_scheduling(self._node(pool, node_id))
        self._call(run)

    def read_node_file(self, pool_id: str, node_id: str, path: str) -> bytes:
        def where() -> Path:
            pool = self._pool(pool_id)
            node = self._node(pool, node_id)
            return self.node_dirs.node_file(pool.id, node.id, path)
        return self._read(where)

    def _read(self, where: Callable[[], Path]) -> bytes:
        try:
            target = self._call(where)
        except ValueError as e:         # a path that leaves its directory
            raise E.invalid_property("filePath", None, str(e)) from None
        try:
            return target.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise E.not_found("file", str(target.name)) from None

    # -- jobs -----------------------------------------------------------------------------------

    def add_job(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Add a job (``id``, ``poolInfo.poolId``, ``priority``, ``constraints``,
        ``jobManagerTask``, ``jobPreparationTask``, ``jobReleaseTask``,
        ``commonEnvironmentSettings``, ``onAllTasksComplete``, ``usesTaskDependencies``)."""
        if isinstance(spec, Mapping) and "id" in spec:
            check_id(spec["id"], "id")
        model = _model(JobSpec, floored_job(spec, self.settings), "job")
        pool_id = model.pool_info.pool_id
        given = given_auto_pool(spec)
        if model.pool_info.auto_pool_specification is not None:
            self._check_auto_pool(given)
        elif not pool_id:
            raise E.missing_property("poolInfo.poolId")
        for task, prefix in ((model.job_manager_task, "jobManagerTask."),
                             (model.job_preparation_task, "jobPreparationTask."),
                             (model.job_release_task, "jobReleaseTask.")):
            if task is not None:
                self._check_transfers(task, prefix)

        def run() -> dict[str, Any]:
            if id_key(model.id) in self.jobs:
                raise E.exists("job", model.id)
            if id_key(model.id) in self.job_schedules:
                raise E.BatchError("JobScheduleWithSameIdExists",
                                   f"a job schedule has the id {model.id!r}: jobs and job "
                                   "schedules cannot share an id")
            return self._job_view(self._make_job(model, pool_id, auto_pool=given))
        return self._call(run)

    def _make_job(self, model: JobSpec, pool_id: str | None = None, *,
                  schedule_id: str | None = None,
                  auto_pool: Mapping[str, Any] | None = None) -> _JobEntry:
        """Create the job ``model`` now (engine thread), on ``pool_id`` if that pool exists,
        else waiting for it: the one path of a job added by a user and of a job made by a job
        schedule. The caller has checked the id. A job with an auto pool runs on the pool its
        rules give (account_autopools.py; ``schedule_id``: the schedule that makes the job,
        the owner of a ``jobschedule`` pool; ``auto_pool``: the specification as given)."""
        if model.pool_info.auto_pool_specification is not None:
            pool_id = self._auto_pool_for(model, auto_pool, schedule_id)
            if auto_pool is None:
                auto_pool = self.auto_pools[id_key(pool_id)].given
        assert pool_id is not None
        entry = _JobEntry(model, pool_id, next(self._job_seq),
                          None if auto_pool is None else dict(auto_pool))
        self.jobs[id_key(model.id)] = entry
        self._note("note_job", model.id)
        pool = self.pools.get(id_key(pool_id))
        if pool is not None:
            self._place_job(entry, pool)
        return entry

    def _on_job_ended(self, job: Job) -> None:
        """A job on one of the pools has completed (engine thread): its job schedule may make
        the next job, its auto pool may go."""
        self._schedule_job_ended(job.id)
        self._auto_pool_job_ended(job.id)

    def _place_job(self, entry: _JobEntry, pool: PoolEngine) -> None:
        job = pool.add_job(entry.spec, entry.seq)
        entry.job, entry.engine = job, pool
        for spec in entry.waiting:
            pool.add_task(job, spec)
        entry.waiting = []

    def _job_view(self, entry: _JobEntry) -> dict[str, Any]:
        if entry.job is None:
            return {"id": entry.spec.id, "state": "active", "priority": entry.spec.priority,
                    "poolInfo": {"poolId": entry.pool_id}}
        return job_view(entry.job, entry.pool_id, self.start_ticks, auto_pool=entry.auto_pool)

    def get_job(self, job_id: str) -> dict[str, Any]:
        return self._call(lambda: self._job_view(self._job(job_id)))

    def list_jobs(self) -> list[dict[str, Any]]:
        return self._call(lambda: [self._job_view(e) for e in self.jobs.values()])

    def update_job(self, job_id: str, *, priority: int | None = None) -> dict[str, Any]:
        """Change a job's priority; it takes effect in the queue at once."""
        if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool)
                                     or not -1000 <= priority <= 1000):
            raise E.invalid_property("priority", priority, "must be a whole number from -1000 to 1000")

        def run() -> dict[str, Any]:
            entry = self._job(job_id)
            if priority is not None:
                if entry.job is not None:
                    entry.engine.set_job_priority(entry.job, priority)
                else:
                    entry.spec = entry.spec.model_copy(update={"priority": priority})
                    self._note("note_job", entry.spec.id)
            return self._job_view(entry)
        return self._call(run)

    def terminate_job(self, job_id: str, reason: str | None = None) -> None:
        """Terminate the job: its running tasks are killed, its active ones never run, its
        release tasks run, and it completes. A job still waiting for its pool completes at
        once (its tasks stay active, as on the service)."""
        self._call(lambda: self._terminate_entry(self._job(job_id), reason or USER_TERMINATE))

    def _terminate_entry(self, entry: _JobEntry, reason: str) -> None:
        """Engine thread: terminate ``entry``'s job. One waiting for a pool that does not exist
        is placed on a stand-in engine first (never started: no task of it runs), so that it
        ends by the engine's own rules and reads back completed after a restart."""
        if entry.job is None:
            self._place_job(entry, self._stand_in_pool(entry))
            self._note("note_job", entry.spec.id)
        entry.engine.terminate_job(entry.job, reason)

    def delete_job(self, job_id: str) -> None:
        """Terminate the job if it runs, then forget it (its task directories stay until their
        retention ends)."""
        def run() -> None:
            entry = self._job(job_id)
            if entry.job is not None and entry.job.state == JOB_ACTIVE:
                entry.engine.terminate_job(entry.job, "UserTerminate")
            del self.jobs[id_key(entry.spec.id)]
            self._note("forget_job", entry.spec.id)
            self._forget_rest(entry.spec.id)
            self._schedule_job_ended(entry.spec.id)     # its schedule may make the next
            if entry.auto_pool is not None:     # a job deleted counts as one completed
                self._auto_pool_job_ended(entry.spec.id)
        self._call(run)

    def wait_for_job(self, job_id: str, timeout: float | None = None,
                     poll: float = 0.05) -> dict[str, Any]:
        """Block until every task of the job has completed (or the job has), then return the
        job's view; ``TimeoutError`` after ``timeout`` wall seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def done() -> bool:
            entry = self._job(job_id)
            job = entry.job
            if job is None:
                return False
            if job.state == JOB_COMPLETED:
                return True
            return bool(job.tasks) and not entry.waiting and all(t.state == COMPLETED for t in job.tasks)

        while not self._call(done):
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id!r} did not complete within {timeout:g} s")
            time.sleep(poll)
        return self.get_job(job_id)

    # -- tasks ----------------------------------------------------------------------------------

    def add_task(self, job_id: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Add one task (``id``, ``commandLine``, ``environmentSettings``, ``constraints``,
        ``exitConditions``, ``dependsOn``, ``requiredSlots``, ``multiInstanceSettings``)."""
        result = self.add_tasks(job_id, [spec])[0]
        if "error" in result:
            raise result["error"]
        return result["task"]

    def add_tasks(self, job_id: str, specs: Iterable[Mapping[str, Any]], *,
                  view: bool = True) -> list[dict[str, Any]]:
        """Add tasks as one collection: one result per task, in order, each ``{"taskId",
        "status": "success", "task"}`` or ``{"taskId", "status": "clientError", "error"}``
        (the BatchError). Tasks taken are submitted at one instant, in this order.

        ``view`` False: a success is ``{"taskId", "status": "success"}`` alone, for a caller
        that answers only the status of each task (the service's ``addtaskcollection``, whose
        results need no task view); the engine thread then builds no view per task."""
        return self._call(self._adding(job_id, specs, view))

    def submit_tasks(self, job_id: str, specs: Iterable[Mapping[str, Any]], *,
                     view: bool = True) -> Future:
        """:meth:`add_tasks` without waiting: the tasks are checked in the calling thread, and
        the future gives what ``add_tasks`` returns (or raises what it raises) once the engine
        has taken and committed them (see :meth:`submit`)."""
        return self.submit(self._adding(job_id, specs, view))

    def _adding(self, job_id: str, specs: Iterable[Mapping[str, Any]],
                view: bool) -> Callable[[], list[dict[str, Any]]]:
        """Check the tasks here (the calling thread: their ids, the plain ones by the fast
        path, the others by the model) and return the engine-thread command that adds them."""
        prepared: list[tuple[str, str, TaskSpec | None, E.BatchError | None]] = []
        for spec in specs:
            # a dict first: isinstance against typing.Mapping costs more than the fast path
            task_id = spec.get("id") if type(spec) is dict or isinstance(spec, Mapping) \
                else None
            try:
                if task_id is None:
                    raise E.missing_property("id")
                check_id(task_id, "id")
                if not spec.get("commandLine"):
                    raise E.missing_property("commandLine")
                model = task_from_rest(spec)        # None: not plain; the model decides
                if model is None:                   # (a plain task moves no files)
                    model = _model(TaskSpec, spec, "task")
                    self._check_transfers(model)
                prepared.append((task_id, id_key(task_id), model, None))
            except E.BatchError as e:
                prepared.append((str(task_id), "", None, e))

        def run() -> list[dict[str, Any]]:
            entry = self._job(job_id)
            job = entry.job
            if job is not None and job.state != JOB_ACTIVE and job.state != "disabled":
                code = "JobCompleted" if job.state == JOB_COMPLETED else "JobBeingTerminated"
                raise E.BatchError(code, f"the job {entry.spec.id!r} is {job.state}")
            index = entry.index()
            taken = set()           # ids taken by this call (the index is of the job's list)
            dependencies = entry.spec.uses_task_dependencies
            waiting = None
            if job is None:
                waiting = entry.waiting
                note = self._persist.note_waiting_task if self._persist is not None else None
            else:
                add, start_ticks = entry.engine.add_task, self.start_ticks
            out = []
            for task_id, key, model, error in prepared:
                if error is None:
                    if key in index or key in taken:
                        error = E.exists("task", task_id)
                    elif model.depends_on is not None and not dependencies:
                        error = E.BatchError("TaskDependenciesNotSpecifiedOnJob",
                                             f"the job {entry.spec.id!r} does not set "
                                             "usesTaskDependencies")
                if error is not None:
                    out.append({"taskId": task_id, "status": "clientError", "error": error})
                    continue
                taken.add(key)
                if waiting is not None:
                    waiting.append(model)
                    if note is not None:
                        note(entry.spec.id, model)
                    result = {"taskId": task_id, "status": "success"}
                    if view:
                        result["task"] = {"id": task_id, "state": "active"}
                else:
                    task = add(job, model)
                    result = {"taskId": task_id, "status": "success"}
                    if view:
                        result["task"] = task_view(task, start_ticks)
                out.append(result)
            return out
        return run

    def get_task(self, job_id: str, task_id: str) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            entry = self._job(job_id)
            if entry.job is None:
                spec = entry.find(task_id)
                if spec is None:
                    raise E.not_found("task", task_id)
                return {"id": spec.id, "state": "active", "executionInfo": {
                    "retryCount": 0, "requeueCount": 0}}
            return task_view(self._task(job_id, task_id)[1], self.start_ticks)
        return self._call(run)

    def list_tasks(self, job_id: str, state: str | None = None) -> list[dict[str, Any]]:
        def run() -> list[dict[str, Any]]:
            entry = self._job(job_id)
            if entry.job is None:
                views = [{"id": s.id, "state": "active"} for s in entry.waiting]
            else:
                views = [task_view(t, self.start_ticks) for t in entry.job.tasks]
            return [v for v in views if state is None or v["state"] == state]
        return self._call(run)

    def read_task_file(self, job_id: str, task_id: str, path: str) -> bytes:
        """A file of the task's directory on its node (``stdout.txt``, ``stderr.txt``,
        ``wd/...``), from its last run."""
        def where() -> Path:
            entry, task = self._task(job_id, task_id)
            nodes = task.nodes or ((task.node,) if task.node is not None else task.last_nodes)
            if not nodes:
                raise E.not_found("file", path)
            return self.node_dirs.task_file(entry.engine.id, nodes[0].id, entry.job.id,
                                            task.id, path)
        return self._read(where)
