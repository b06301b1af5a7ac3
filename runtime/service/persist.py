"""What an account writes to its store, and when: one transaction per engine turn.

Why rows are built at commit time and not when a rule changes something: an object a turn
changes ten times is written once, as it is when the turn ends; and the rules stay free of any
store call (the simulator runs the same rules with no store). What changed is told by the
engine's own change feed — every state change of a rule is an event-log entry
(``PoolEngine(on_event=...)``): ``task.*`` names the task, ``job*`` the job, ``node*`` and
``starttask`` a node, ``pool.*`` the pool, ``autoscale`` a new AutoScaleRun, ``sample`` a new
sample. The account's commands that change what no rule logs (a job waiting for its pool, a
deletion) note it themselves (:meth:`Persister.note_job`, ...).

The commit is :attr:`LiveKernel.on_commit`: the kernel resolves the futures of a turn's commands
only after it returned, so an acknowledged change is durable (commit before acknowledge).

Processes: every process an engine starts (``LocalWorld._spawn``) is recorded as an ``attempts``
row with its ``pid``, ``pgid``, ``create_time`` and the machine's boot id, in the commit of the
turn that started it; its end (reported on an executor thread) marks it ``exited`` at the next
commit. The row is committed *after* ``Popen`` (not before, as a two-phase start would): the
window between ``Popen`` and the commit is covered at recovery by the ``POOLSCALE_ATTEMPT``
marker every process carries (:mod:`.recovery`), which keeps process starts off the commit
path (one commit per turn, not one per start).
"""

from __future__ import annotations

import collections
import json
import time
from pathlib import Path
from typing import Any

from poolscale.formula.values import TICKS_PER_SECOND

from .ids import id_key
from .store import Store, pack_values

__all__ = ["Persister", "boot_id", "META_ENGINE_NOW", "META_WALL_NOW", "META_START_TICKS"]

#: ``meta`` keys: the engine time and the wall time of the last commit, the UTC ticks of engine
#: time 0
META_ENGINE_NOW = "engine_now"
META_WALL_NOW = "wall_now"
META_START_TICKS = "start_ticks"

_TASK_EVENTS = frozenset({"task.submit", "task.start", "task.end", "task.retry", "task.requeue",
                          "task.recover", "task.reject", "task.prepare", "task.unprepare"})
_JOB_EVENTS = frozenset({"job", "job.priority"})
_NODE_EVENTS = frozenset({"node", "node.deallocate", "node.disable", "node.enable", "starttask",
                          "node.preempt", "node.recover", "node.fail", "node.repair",
                          "node.remove", "node.leave"})


def boot_id() -> str:
    """This machine's boot: a process recorded under another boot cannot be alive."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        import psutil

        return f"boot-{psutil.boot_time():.0f}"


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def spec_json(spec: Any) -> str:
    """A job or task model as the JSON of the REST names it was read from (read back with
    ``model_validate_json``). The model's serializer is called directly: ``model_dump_json``
    adds a Python layer that cost as much as the serializing, once per task row written."""
    return type(spec).__pydantic_serializer__.to_json(spec, by_alias=True,
                                                      exclude_unset=True).decode()


class Persister:
    """The account's writer (engine thread), see the module docstring."""

    def __init__(self, store: Store, account: Any) -> None:
        self.store = store
        self.account = account
        self.boot = boot_id()
        #: per turn: what changed
        self._tasks: set[tuple[str, str]] = set()      # (job id key, task id)
        self._jobs: set[str] = set()                   # job id keys
        #: tasks added this turn to jobs that wait for their pool: (job id key, spec)
        self._waiting: list[tuple[str, Any]] = []
        self._pools: set[str] = set()                  # pool id keys
        self._nodes: set[str] = set()                  # pool id keys whose node rows change
        self._samples: set[str] = set()
        self._started: list[tuple[Any, str, Any, Any]] = []
        #: (uid, exit code) of processes that ended; appended on executor threads
        self._ended: collections.deque = collections.deque()
        #: the raw specification each pool was added with, by pool id key
        self.pool_specs: dict[str, str] = {}
        #: nodes written per pool (to delete the rows of nodes that left)
        self._node_nums: dict[str, set[int]] = {}
        #: AutoScaleRuns written per pool
        self._runs_written: dict[str, int] = {}
        #: samples written per pool
        self._samples_written: dict[str, int] = {}

    # -- the change feed (engine thread) ----------------------------------------------------

    def event_hook(self, pool_id: str) -> Any:
        """The ``on_event`` of the pool ``pool_id``'s engine."""
        key = id_key(pool_id)

        def on_event(entry: tuple) -> None:
            kind = entry[1]
            if kind in _TASK_EVENTS:
                job_id, _, task_id = entry[2].partition("/")
                self._tasks.add((id_key(job_id), task_id))
                if kind == "task.end":      # the node's task counts (records.py) changed
                    self._nodes.add(key)
            elif kind in _JOB_EVENTS:
                self._jobs.add(id_key(entry[2]))
            elif kind in _NODE_EVENTS or kind.startswith("node"):
                self._nodes.add(key)
                self._pools.add(key)
            elif kind == "sample":
                if entry[3] == "ok":
                    self._samples.add(key)
            elif kind == "autoscale" or kind.startswith("pool"):
                self._pools.add(key)
        return on_event

    def watch(self, pool: Any, raw_spec: str) -> None:
        """Record ``pool`` (just made) and its specification as added; its processes are
        recorded from now on."""
        key = id_key(pool.id)
        self.pool_specs[key] = raw_spec
        self._pools.add(key)
        self._nodes.add(key)
        pool.on_process_started = self.process_started
        pool.on_process_ended = self.process_ended

    def note_pool(self, pool_id: str) -> None:
        self._pools.add(id_key(pool_id))

    def note_pool_spec(self, pool: Any) -> None:
        """The pool's properties changed (Pool - Patch, Update Properties): its specification
        is written again, so a restart rebuilds it with them (a new start task included)."""
        key = id_key(pool.id)
        self.pool_specs[key] = json.dumps(pool.rest_spec)
        self._pools.add(key)

    def note_job(self, job_id: str) -> None:
        self._jobs.add(id_key(job_id))

    def note_auto_pool(self, pool_id: str) -> None:
        """An auto pool was made: its owner and lifetime are written (account_autopools.py)."""
        record = self.account.auto_pools.get(id_key(pool_id))
        if record is not None:
            self.store.put("auto_pools", record.row())

    def forget_auto_pool(self, pool_id: str) -> None:
        """An auto pool's owner ended (or the pool did not survive a restart)."""
        self.store.delete("auto_pools", (id_key(pool_id),))

    def note_schedule(self, schedule_id: str) -> None:
        """A job schedule was added or changed (account_schedules.py): its row is written."""
        schedule = self.account.job_schedules.get(id_key(schedule_id))
        if schedule is not None:
            self.store.put("job_schedules", schedule.row())

    def forget_schedule(self, schedule_id: str) -> None:
        """A job schedule was deleted."""
        self.store.delete("job_schedules", (id_key(schedule_id),))

    def note_waiting_task(self, job_id: str, spec: Any) -> None:
        """A task was added to a job that waits for its pool: its row alone is written (the
        job's other waiting tasks are already stored; writing them all again at every add
        made adding n tasks cost n² rows)."""
        self._waiting.append((id_key(job_id), spec))

    def note_task(self, job_id: str, task_id: str) -> None:
        self._tasks.add((id_key(job_id), task_id))

    def forget_pool(self, pool_id: str) -> None:
        """The pool was deleted (engine thread): its row and the rows of its nodes, samples
        and AutoScaleRuns are staged for deletion now, so that a pool created again with its
        id in the same turn is written over them."""
        key = id_key(pool_id)
        store = self.store
        store.delete("pools", (key,))
        nums = self._node_nums.pop(key, set())
        nums.update(r["num"] for r in store.query("SELECT num FROM nodes WHERE pool_id = ?", (key,)))
        for num in nums:
            store.delete("nodes", (key, num))
        for table in ("samples", "autoscale_runs"):
            for row in store.query(f"SELECT k FROM {table} WHERE pool_id = ?", (key,)):
                store.delete(table, (key, row["k"]))
        for written in (self.pool_specs, self._runs_written, self._samples_written):
            written.pop(key, None)
        for changed in (self._pools, self._nodes, self._samples):
            changed.discard(key)

    def forget_job(self, job_id: str) -> None:
        """The job was deleted (engine thread): its row and its tasks' rows are staged for
        deletion now (a job added again with its id in the same turn is written over them)."""
        key = id_key(job_id)
        store = self.store
        store.delete("jobs", (key,))
        for row in store.query("SELECT id FROM tasks WHERE job_id = ?", (key,)):
            store.delete("tasks", (key, row["id"]))
        for row in store.query("SELECT task_id FROM rest_properties WHERE job_id = ?", (key,)):
            store.delete("rest_properties", (key, row["task_id"]))
        self._jobs.discard(key)
        self._tasks = {t for t in self._tasks if t[0] != key}

    def forget_task(self, job_id: str, task_id: str) -> None:
        """The task was deleted (engine thread): its row is staged for deletion now."""
        key = id_key(job_id)
        self.store.delete("tasks", (key, task_id))
        self._tasks.discard((key, task_id))

    # -- processes --------------------------------------------------------------------------

    def process_started(self, pool: Any, uid: str, context: Any, handle: Any) -> None:
        """Engine thread, right after ``Popen``: staged at this turn's commit."""
        self._started.append((pool, uid, context, handle))

    def process_ended(self, uid: str, exit_code: int | None) -> None:
        """Any thread: the process ``uid`` ended."""
        self._ended.append((uid, exit_code))

    # -- the commit (engine thread) ---------------------------------------------------------

    def commit(self) -> None:
        """Stage every row the turn changed and write them in one transaction."""
        if not (self._tasks or self._jobs or self._waiting or self._pools or self._nodes
                or self._samples or self._started or self._ended or self.store.dirty):
            return
        account = self.account
        store = self.store
        for key in self._pools:
            pool = account.pools.get(key)
            if pool is None:
                continue
            store.put("pools", self.pool_row(pool))
            self._write_runs(pool)
        for key in self._nodes:
            pool = account.pools.get(key)
            self._write_nodes(key, pool)
        for key in self._samples:
            pool = account.pools.get(key)
            if pool is not None:
                self._write_sample(pool)
        for key in self._jobs:
            entry = account.jobs.get(key)
            if entry is None:
                store.delete("jobs", (key,))
                continue
            store.put("jobs", self.job_row(entry))
        jobs = account.jobs
        waiting_rows = []
        indexes: dict[str, dict] = {}
        for job_key, spec in self._waiting:
            entry = jobs.get(job_key)
            if entry is None or entry.job is not None:
                continue
            index = indexes.get(job_key)
            if index is None:
                index = indexes[job_key] = entry.index()
            # still waiting (not deleted in this turn: its row would be written again after
            # the deletion staged for it)
            if index.get(id_key(spec.id)) is spec:
                waiting_rows.append(waiting_task_values(entry, spec))
        task_rows, fresh_rows = [], []
        for job_key, task_id in self._tasks:
            entry = jobs.get(job_key)
            task = None
            if entry is not None and entry.job is not None:
                task = entry.job.accepted(task_id)
                if task is None and entry.job.jm is not None and entry.job.jm.id == task_id:
                    task = entry.job.jm
            if task is not None and task.accepted:
                values = task_values(entry, task)
                if values[4:13] == _FRESH_MIDDLE and values[14:] == _FRESH_END:
                    fresh_rows.append(values[:4] + values[13:14])
                else:
                    task_rows.append(values)
        for pool, uid, context, handle in self._started:
            store.put("attempts", self.attempt_row(pool, uid, context, handle))
        while self._ended:
            uid, code = self._ended.popleft()
            store.update("attempts", (uid,), state="exited", exit_code=code,
                         ended_at=time.time())
        self._tasks.clear()
        self._jobs.clear()
        self._waiting.clear()
        self._pools.clear()
        self._nodes.clear()
        self._samples.clear()
        self._started.clear()
        store.set_meta(META_ENGINE_NOW, repr(account.kernel.now))
        store.set_meta(META_WALL_NOW, repr(time.time()))
        store.set_meta(META_START_TICKS, str(account.start_ticks))
        if waiting_rows or task_rows or fresh_rows:
            self._commit_with_tasks(waiting_rows, task_rows, fresh_rows)
        else:
            store.commit()

    def _commit_with_tasks(self, waiting_rows: list[tuple], task_rows: list[tuple],
                           fresh_rows: list[tuple] = ()) -> None:
        """Commit what is staged and the turn's task rows, these in one ``executemany`` per
        kind of row, after the staged deletions (a job deleted and added again in one turn
        keeps only its new tasks' rows). Staging a dict per task cost more than the engine's
        whole work of accepting it. ``fresh_rows``: rows of tasks just accepted, given as
        ``(job_id, id, seq, spec, submit_time)``, the other columns being those of every task
        just accepted (:data:`FRESH_TASK_SQL`): binding 20 values a row cost more than
        SQLite's insert itself. If the commit fails, the rows are staged as any row, for the
        next commit."""
        store = self.store
        try:
            with store.transaction() as conn:
                if waiting_rows:
                    conn.executemany(store.put_statement("tasks", WAITING_TASK_COLUMNS),
                                     waiting_rows)
                if fresh_rows:
                    conn.executemany(FRESH_TASK_SQL, fresh_rows)
                if task_rows:
                    conn.executemany(store.put_statement("tasks", TASK_COLUMNS), task_rows)
        except BaseException:
            for values in fresh_rows:
                store.put("tasks", dict(zip(TASK_COLUMNS, values[:4] + _FRESH_MIDDLE
                                            + values[4:] + _FRESH_END)))
            for columns, rows in ((WAITING_TASK_COLUMNS, waiting_rows),
                                  (TASK_COLUMNS, task_rows)):
                for values in rows:
                    store.put("tasks", dict(zip(columns, values)))
            raise

    # -- rows ---------------------------------------------------------------------------------

    def pool_row(self, pool: Any) -> dict[str, Any]:
        key = id_key(pool.id)
        return {
            "id": key, "spec": self.pool_specs[key],
            "state": "deleting" if getattr(pool, "deleting", False) else "active",
            "allocation_state": pool.alloc_state,
            "target_dedicated": pool.target[0], "target_low_priority": pool.target[1],
            "enable_auto_scale": int(bool(pool.autoscale)),
            "auto_scale_formula": pool.formula_text,
            "eval_interval_s": pool.interval_seconds(),
            "next_node_num": pool.next_num,
            "resize_errors": _json(list(pool.resize_errors)),
            "etag": repr(self.account.kernel.now), "created": pool.created_at,
            "modified": pool.records.modified,
        }

    def _write_runs(self, pool: Any) -> None:
        key = id_key(pool.id)
        done = self._runs_written.get(key, 0)
        for k in range(done, len(pool.runs)):
            run = pool.runs[k]
            error = run.error
            self.store.put("autoscale_runs", {
                "pool_id": key, "k": k,
                "timestamp_ticks": pool.start_ticks + round(pool.run_times[k] * TICKS_PER_SECOND),
                "results": run.results,
                "error": None if error is None else _json(
                    {"code": error.code, "message": error.message,
                     "detail": getattr(error, "detail", None)}),
                "applied": int(error is None)})
        self._runs_written[key] = len(pool.runs)

    def runs_restored(self, pool_id: str, n: int) -> None:
        """``n`` runs of the pool came from the store: write only the ones after them."""
        self._runs_written[id_key(pool_id)] = n

    def _write_nodes(self, key: str, pool: Any) -> None:
        store = self.store
        before = self._node_nums.get(key, set())
        now = set(pool.nodes) if pool is not None else set()
        for num in before - now:
            store.delete("nodes", (key, num))
        if pool is not None:
            records = pool.records.nodes
            for num, node in pool.nodes.items():
                record = records.get(node.id)
                store.put("nodes", {
                    "pool_id": key, "num": num, "id": node.id, "kind": node.kind,
                    "state": node.state, "scheduling_enabled": int(not node.disabled),
                    "life": node.life, "inc": node.inc,
                    "retain_until": node.retain_until if node.retain_until != float("-inf")
                    else None,
                    "allocated": None if record is None else record.allocated,
                    "tasks": None if record is None else _json(record.task_counts())})
        self._node_nums[key] = now

    def _write_sample(self, pool: Any) -> None:
        """Every sample recorded since the last commit (a slow turn may hold several)."""
        key = id_key(pool.id)
        rec = pool.recorder
        # read where the recorder keeps them: a column per sample, once a period
        stamps, values = rec._stamps, rec._values
        for i in range(self._samples_written.get(key, 0), len(rec)):
            stamp = int(stamps[i])
            self.store.put("samples", {
                "pool_id": key, "k": (stamp - pool.start_ticks) // pool.period_ticks,
                "stamp_ticks": stamp, "sample_values": pack_values(values[:, i].tolist())})
        self._samples_written[key] = len(rec)

    def samples_restored(self, pool_id: str, n: int) -> None:
        """``n`` samples of the pool came from the store."""
        self._samples_written[id_key(pool_id)] = n

    def job_row(self, entry: Any) -> dict[str, Any]:
        job = entry.job
        spec = entry.spec
        row = {"id": id_key(spec.id), "seq": entry.seq, "pool_id": entry.pool_id,
               "spec": spec_json(spec), "auto_pool": _json(entry.auto_pool)}
        if job is None:
            row.update(state="waiting", priority=spec.priority)
        else:
            row.update(state=job.state, reason=job.reason, priority=job.priority,
                       created=job.created_at, ended=job.ended_at, completed=job.completed_at,
                       jm_started=int(bool(job.jm_started)))
        return row

    def attempt_row(self, pool: Any, uid: str, context: Any, handle: Any) -> dict[str, Any]:
        started = handle.pid is not None
        return {
            "uid": uid, "job_id": context.job_id if context is not None else None,
            "task_id": context.task_id if context is not None else None,
            "kind": context.kind if context is not None else "task",
            "pool_id": id_key(pool.id),
            "state": "running" if started else "exited",
            "pid": handle.pid, "pgid": handle.pgid, "create_time": handle.create_time,
            "boot_id": self.boot, "started_at": time.time(),
            "task_dir": str(context.task_dir) if context is not None else None,
        }


    def close(self) -> None:
        self.store.close()


#: The columns of a task's row, in the order :func:`task_values` gives them.
TASK_COLUMNS = ("job_id", "id", "seq", "spec", "state", "result", "exit_code",
                "failure_category", "failure_code", "retry_count", "requeue_count",
                "recovery_count", "attempt", "submit_time", "first_start", "start_time",
                "end_time", "node_ids", "dep_satisfies", "blocked")
#: The columns of the row of a task waiting for its job's pool (:func:`waiting_task_values`).
WAITING_TASK_COLUMNS = ("job_id", "id", "seq", "spec", "state", "retry_count",
                        "requeue_count", "recovery_count", "attempt")


#: The values of a task just accepted, in its row, between ``spec`` and ``submit_time``
#: (``state`` to ``attempt``) and after it (``first_start`` to ``blocked``).
_FRESH_MIDDLE = ("active", None, None, None, None, 0, 0, 0, 0)
_FRESH_END = (None, None, None, None, 0, 0)


def _fresh_task_sql() -> str:
    """The upsert of a row whose values past ``spec`` are those of a task just accepted,
    written as literals; only ``job_id``, ``id``, ``seq``, ``spec`` and ``submit_time`` are
    bound. On a conflict every column is set, as the full row's upsert sets it."""
    literal = {None: "NULL", 0: "0", "active": "'active'"}
    values = ["?"] * 4 + [literal[v] for v in _FRESH_MIDDLE] + ["?"] + \
        [literal[v] for v in _FRESH_END]
    names = ", ".join(f'"{c}"' for c in TASK_COLUMNS)
    sets = ", ".join(f'"{c}" = excluded."{c}"' for c in TASK_COLUMNS[2:])
    return (f'INSERT INTO "tasks" ({names}) VALUES ({", ".join(values)}) '
            f'ON CONFLICT ("job_id", "id") DO UPDATE SET {sets}')


def task_values(entry: Any, task: Any) -> tuple:
    """A task's row as values in :data:`TASK_COLUMNS` order: everything its view shows and
    recovery needs. A tuple, not a dict: a turn that adds a collection writes a row per task,
    and the tuples go to ``executemany`` as they are."""
    failure = task.failure
    nodes = task.nodes or ((task.node,) if task.node is not None else task.last_nodes or ())
    spec = entry.engine._task_spec(task) if not task.is_jm else task.jm_spec
    return (
        id_key(entry.spec.id), task.id, task.seq, spec_json(spec), task.state, task.result,
        task.exit_code, failure[0] if failure else None, failure[1] if failure else None,
        task.retry_count, task.requeue_count, task.recovery_count, task.attempt,
        task.submit_time, task.first_start, task.start_time, task.end_time,
        ",".join(n.id for n in nodes) or None if nodes else None,
        int(bool(task.dep_satisfies)), int(bool(task.blocked)),
    )


#: The statement of :meth:`Persister._commit_with_tasks`'s ``fresh_rows``.
FRESH_TASK_SQL = _fresh_task_sql()


def task_row(entry: Any, task: Any) -> dict[str, Any]:
    """A task's row as a dict (:func:`task_values` by column name)."""
    return dict(zip(TASK_COLUMNS, task_values(entry, task)))


def waiting_task_values(entry: Any, spec: Any) -> tuple:
    """A task added to a job whose pool does not exist yet (no engine task: no seq), in
    :data:`WAITING_TASK_COLUMNS` order."""
    return (id_key(entry.spec.id), spec.id, None, spec_json(spec), "active", 0, 0, 0, 0)


def waiting_task_row(entry: Any, spec: Any) -> dict[str, Any]:
    """A waiting task's row as a dict (:func:`waiting_task_values` by column name)."""
    return dict(zip(WAITING_TASK_COLUMNS, waiting_task_values(entry, spec)))
