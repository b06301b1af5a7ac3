"""An account started on a data directory that holds a store: end what the last run left
running, then rebuild its pools, nodes, jobs and tasks from the rows.

Order, and why:

1. **Orphans first** (:func:`kill_orphans`). A task process of the previous run may still run
   (the service was killed with ``kill -9``, its children were not). Its task is about to be
   requeued; if the old process went on, two attempts of one task would run side by side. A
   process is ours when its pid has the ``create_time`` the store recorded (a pid alone may
   have been reused), or when it carries the ``POOLSCALE_ATTEMPT`` marker and runs on a node
   of this account's work root (a process started after the last commit has no row yet).
   Anything that matches neither is never touched. Each is killed with its whole process
   group. Rows of another boot of the machine are marked gone: nothing of them survived.
2. **Rebuild through the rules** (:func:`restore`). Derived state (the ready queue, the slot
   index, counters, dependency waiters) is not stored: it is rebuilt by the calls a fresh
   submission makes (``PoolEngine.add_job``, ``add_task`` with the stored ``seq``, so each task
   keeps its place in the queue). A completed task is put back completed (no attempt, no
   process; its files stay in its node's tree). A task that was running or preparing goes back
   to ``active`` with ``requeueCount`` + 1, as when its node reboots; its ``attempt`` count
   stays (that attempt counted). Nodes come back with their ids and their directory trees (not
   reimaged) and boot again: the start task reruns. The invariants of the engine
   (``scheduler/invariants.py``) are checked before the engine thread serves anything.

What is not carried over a restart: timers of the previous run (a job's ``maxWallClockTime``
counts again from the restart, retention deletions of task directories are not re-armed),
preparation records (a job preparation task reruns on a node that needs it), and the state of a
job manager task (it runs again). Autoscale restarts with a run at once (its next runs keep the
interval from there); samples resume on the account's grid, and the formula sees every stored
sample, with a gap for the time the service was down.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from poolscale.scheduler.models import TaskSpec
from poolscale.scheduler.tasks import (
    COMPLETED, FAILURE, JOB_COMPLETED, JOB_DISABLED, JOB_TERMINATING, PREPARING,
    RUNNING, SUCCESS, Task, int_ids,
)

from .account_autopools import job_model
from .ids import id_key
from .local.environment import ATTEMPT_MARKER
from .persist import META_ENGINE_NOW, META_START_TICKS, META_WALL_NOW, Persister
from .store import Store, unpack_values

__all__ = ["open_state", "kill_orphans", "restore", "marked_processes"]

_log = logging.getLogger(__name__)

#: how long recovery waits for a killed process group to be gone (wall seconds)
KILL_WAIT = 5.0


def open_state(account: Any) -> Persister | None:
    """Open the account's store (none with ``durability="off"``: the account lives in memory
    only), recover what it holds, and return the writer the kernel commits through."""
    settings = account.settings
    if settings.durability == "off":
        return None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store.open(settings.store_path, durability=settings.durability)
    persister = Persister(store, account)
    try:
        meta = store.meta()
        if META_START_TICKS in meta:
            kill_orphans(store, settings.work_root, persister.boot)
            restore(account, store, persister, meta)
        persister.commit()              # what recovery changed, before anything is served
    except BaseException:
        store.close()
        raise
    store.release_writer()              # the engine thread writes from now on
    account.kernel.on_commit = persister.commit
    return persister


# -- 1. orphans -----------------------------------------------------------------------------

def _under(path: str | None, root: Path) -> bool:
    if not path:
        return False
    try:
        return Path(path).resolve().is_relative_to(root.resolve())
    except OSError:
        return False


def marked_processes(work_root: Path) -> list[Any]:
    """Live processes (psutil) carrying the ``POOLSCALE_ATTEMPT`` marker whose node lies under
    ``work_root``: the processes an account on this data directory started."""
    import psutil

    found = []
    for proc in psutil.process_iter():
        try:
            env = proc.environ()
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
        except (psutil.Error, OSError):
            continue
        if ATTEMPT_MARKER in env and _under(env.get("AZ_BATCH_NODE_ROOT_DIR"), work_root):
            found.append(proc)
    return found


def _ours(pid: int | None, create_time: float | None) -> bool:
    """Whether ``pid`` is still the process recorded with ``create_time`` (not a reused pid)."""
    if pid is None or create_time is None:
        return False
    import psutil

    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - create_time) < 0.01 and \
            proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_gone(procs: list[Any]) -> None:
    import psutil

    deadline = time.monotonic() + KILL_WAIT
    for proc in procs:
        while time.monotonic() < deadline:
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.Error:
                break
            time.sleep(0.01)


def kill_orphans(store: Store, work_root: Path, boot: str) -> list[str]:
    """End every process the previous run of this data directory left (see the module
    docstring); returns the uids of the attempts killed (marked ``orphan-killed``; rows of
    processes already gone are marked ``gone``). Rows are staged, committed by the caller."""
    import psutil

    killed: list[str] = []
    victims: list[Any] = []
    for row in store.rows("attempts", "state IN ('starting', 'running')"):
        uid = row["uid"]
        if row["boot_id"] == boot and _ours(row["pid"], row["create_time"]):
            victims.append(psutil.Process(row["pid"]))
            _kill_group(row["pgid"] or row["pid"])
            killed.append(uid)
            store.update("attempts", (uid,), state="orphan-killed", ended_at=time.time())
        else:
            store.update("attempts", (uid,), state="gone")
    for proc in marked_processes(work_root):
        try:
            uid = proc.environ().get(ATTEMPT_MARKER, "")
            pgid = os.getpgid(proc.pid)
        except (psutil.Error, OSError):
            continue
        victims.append(proc)
        _kill_group(pgid)
        if uid not in killed:
            killed.append(uid)
            _log.info("killed process %d of attempt %s (started after the last commit)",
                      proc.pid, uid)
    _wait_gone(victims)
    return killed


# -- 2. rebuild -------------------------------------------------------------------------------

def _engine_time(meta: dict[str, str], scale: float) -> float:
    """Where the engine's clock resumes: the last commit's engine time plus the wall time
    since, in engine seconds (the service was down for that long)."""
    then = float(meta.get(META_ENGINE_NOW, "0"))
    wall = float(meta.get(META_WALL_NOW, repr(time.time())))
    return then + max(0.0, time.time() - wall) / scale


def _pool_spec(row: dict[str, Any]) -> dict[str, Any]:
    """The pool's specification as added, with its autoscale setting and targets as they were
    at the last commit (enable/disable autoscale and resizes change them)."""
    raw = dict(json.loads(row["spec"]))
    for names in (("enableAutoScale", "enable_auto_scale"),
                  ("autoScaleFormula", "auto_scale_formula"),
                  ("autoScaleEvaluationInterval", "auto_scale_evaluation_interval"),
                  ("targetDedicatedNodes", "target_dedicated_nodes"),
                  ("targetLowPriorityNodes", "target_low_priority_nodes")):
        for name in names:
            raw.pop(name, None)
    if row["enable_auto_scale"]:
        from .settings import iso_duration

        raw["enableAutoScale"] = True
        raw["autoScaleFormula"] = row["auto_scale_formula"]
        raw["autoScaleEvaluationInterval"] = iso_duration(row["eval_interval_s"])
    else:
        raw["targetDedicatedNodes"] = row["target_dedicated"]
        raw["targetLowPriorityNodes"] = row["target_low_priority"]
    return raw


def _reuse_node_numbers(pool: Any, nums: dict[int, list[int]]) -> None:
    """The pool's next nodes of each kind take the stored numbers first (so they come back
    with their ids and their directory trees), then new ones after the stored ``next_num``."""
    request = pool._request_node

    def request_node(kind: int) -> Any:
        free = nums.get(kind)
        if not free:
            return request(kind)
        saved = pool.next_num
        pool.next_num = free.pop(0)
        try:
            return request(kind)
        finally:
            pool.next_num = saved

    pool._request_node = request_node


def restore(account: Any, store: Store, persister: Persister, meta: dict[str, str]) -> None:
    """Rebuild the account's pools, jobs and tasks from the store (see the module docstring),
    on the calling thread, before the engine thread serves."""
    from poolscale.scheduler.invariants import check

    from .account import _JobEntry
    from .livekernel import RealClock
    from .poolengine import PoolEngine

    account.start_ticks = int(meta[META_START_TICKS])
    now = _engine_time(meta, account.clock.scale)
    account.clock = RealClock(account.clock.scale, start_at=now)
    account.kernel.clock = account.clock
    account.kernel.now = now

    account._restore_certificates(store)
    for row in store.rows("pools"):
        if row["state"] == "deleting":
            # its nodes were leaving: after the restart they are gone, and so is the pool
            persister.forget_pool(row["id"])
            continue
        raw = _pool_spec(row)
        pool = PoolEngine(raw, kernel=account.kernel, start_ticks=account.start_ticks,
                          settings=account.settings, node_dirs=account.node_dirs,
                          core_quota=account.quota, seed=account.seed,
                          on_event=persister.event_hook(raw["id"]),
                          on_job_ended=account._on_job_ended)
        pool.created_at = row["created"]
        pool.certificate_files = account.certificate_files
        if row["enable_auto_scale"]:
            pool.formula_text = row["auto_scale_formula"]
        key = id_key(pool.id)
        account.pools[key] = pool
        persister.watch(pool, row["spec"])
        for sample in store.rows("samples", "pool_id = ?", (key,)):
            pool.recorder.append(sample["stamp_ticks"], unpack_values(sample["sample_values"]))
        for run in store.rows("autoscale_runs", "pool_id = ?", (key,)):
            error = None if run["error"] is None else SimpleNamespace(**json.loads(run["error"]))
            pool.runs.append(SimpleNamespace(results=run["results"], error=error))
            pool.run_times.append((run["timestamp_ticks"] - account.start_ticks) / 10_000_000)
        persister.runs_restored(pool.id, len(pool.runs))
        persister.samples_restored(pool.id, len(pool.recorder))
        nums: dict[int, list[int]] = {}
        stored_nodes = store.rows("nodes", "pool_id = ?", (key,))
        for node in stored_nodes:
            nums.setdefault(node["kind"], []).append(node["num"])
        pool.next_num = max(pool.next_num, row["next_node_num"])
        _reuse_node_numbers(pool, nums)
        pool.start()
        pool.state_time = row["created"]
        if row["modified"] is not None:
            pool.records.modified = row["modified"]
        for node in stored_nodes:
            record = pool.records.nodes.get(node["id"])
            if record is not None:
                record.restore(node["allocated"],
                               json.loads(node["tasks"]) if node["tasks"] else None)

    seqs = [-1]
    for row in sorted(store.rows("jobs"), key=lambda r: r["seq"]):
        seqs.append(row["seq"])
        spec = job_model(json.loads(row["spec"]))
        entry = _JobEntry(spec, row["pool_id"], row["seq"],
                          json.loads(row["auto_pool"]) if row["auto_pool"] else None)
        account.jobs[id_key(spec.id)] = entry
        tasks = store.rows("tasks", "job_id = ?", (row["id"],))
        pool = account.pools.get(id_key(row["pool_id"]))
        if pool is None and row["state"] != "waiting":
            # it ended without its pool (terminated while waiting, or its auto pool is gone):
            # the job is rebuilt on a stand-in
            pool = account._stand_in_pool(entry, persister)
        if pool is None or row["state"] == "waiting":
            if row["priority"] is not None and row["priority"] != spec.priority:
                entry.spec = spec.model_copy(update={"priority": row["priority"]})
            entry.waiting = [TaskSpec.model_validate_json(t["spec"]) for t in tasks]
            if pool is not None:
                account._place_job(entry, pool)
            continue
        _restore_job(pool, entry, row, tasks)
    account._job_seq = itertools.count(max(seqs) + 1)
    account._restore_rest(store.rows("rest_properties"))
    # after pools and jobs: an auto pool whose owner job has ended (or is gone) goes now
    ended = {key for key, entry in account.jobs.items()
             if entry.job is not None and entry.job.state == JOB_COMPLETED}
    ended |= {id_key(r["owner"]) for r in store.rows("auto_pools")
              if r["lifetime"] == "job" and id_key(r["owner"]) not in account.jobs}
    account._persist = persister        # what this changes is staged as the engine's changes
    account._restore_auto_pools(store.rows("auto_pools"), ended)
    # after pools and jobs: each schedule re-armed, its job's end while down heard now
    account._restore_schedules(store.rows("job_schedules"))

    for pool in account.pools.values():
        check(pool)


def _restore_job(pool: Any, entry: Any, row: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    spec = entry.spec
    job = pool.add_job(spec, entry.seq)
    entry.job, entry.engine = job, pool
    job.created_at = row["created"]
    if row["priority"] is not None and row["priority"] != job.priority:
        pool.set_job_priority(job, row["priority"])
    job.key = (-job.priority, 1, job.created_at, job.seq, 1)
    jm_id = spec.job_manager_task.id if spec.job_manager_task is not None else None
    for trow in sorted(rows, key=lambda r: (r["seq"] is None, r["seq"] or 0)):
        if trow["id"] == jm_id or trow["seq"] is None:
            continue                    # the job manager runs again (module docstring)
        if trow["state"] == COMPLETED:
            _restore_completed(pool, job, trow)
        else:
            _restore_active(pool, job, trow)
    state = row["state"]
    if state in (JOB_TERMINATING, JOB_COMPLETED) and job.state not in (JOB_TERMINATING,
                                                                        JOB_COMPLETED):
        pool._terminate(job, row["reason"] or "UserTerminate")
        job.ended_at = row["ended"]
    if state == JOB_COMPLETED and job.state != JOB_COMPLETED:
        pool._job_completed(job)
    if state in (JOB_TERMINATING, JOB_COMPLETED) and row["ended"] is not None:
        # a job that ended itself again as it was rebuilt (terminatejob with no task left)
        # keeps when and why it ended the first time
        job.ended_at = row["ended"]
        job.reason = row["reason"] or job.reason
    if job.state == JOB_COMPLETED and row["completed"] is not None:
        job.completed_at = row["completed"]
    if state == JOB_DISABLED:
        pool._disable(job)


def _node_of(pool: Any, node_id: str) -> Any:
    """The pool's node ``node_id``, or a stand-in naming it (the node left the pool: its id
    is all a completed task's view and file reads need)."""
    for node in pool.nodes.values():
        if node.id == node_id:
            return node
    return SimpleNamespace(id=node_id)


def _restore_counts(task: Task, row: dict[str, Any]) -> None:
    task.retry_count = row["retry_count"] or 0
    task.requeue_count = row["requeue_count"] or 0
    task.recovery_count = row["recovery_count"] or 0
    task.attempt = row["attempt"] or 0
    task.first_start = row["first_start"]
    task.start_time = row["start_time"]
    if row["submit_time"] is not None:
        task.submit_time = row["submit_time"]


def _restore_completed(pool: Any, job: Any, row: dict[str, Any]) -> None:
    """A completed task, as ``_accept`` and ``_complete`` leave it, without running anything:
    counted, indexed for its dependants, holding no node."""
    spec = TaskSpec.model_validate_json(row["spec"])
    pool._task_specs.setdefault(job, {})[spec.id] = spec
    seq = row["seq"]
    task = Task(job, spec, seq, slots_per_node=pool.slots)
    task.simple = False
    task.gkey = pool._group_key(task, spec)
    pool.next_seq = max(pool.next_seq, seq + 1)
    pool.n_workload_tasks += 1
    task.accepted = True
    job.accept(task)
    job.n_submitted += 1
    pool.n_submitted += 1
    ids = job._ids
    if ids is not None and int_ids((spec.id,)) and int(spec.id) not in ids:
        import bisect

        bisect.insort(ids, int(spec.id))
    _restore_counts(task, row)
    task.state = COMPLETED
    task.result = SUCCESS if row["result"] == SUCCESS else FAILURE
    task.exit_code = row["exit_code"]
    task.failure = ((row["failure_category"], row["failure_code"])
                    if row["failure_category"] is not None else None)
    task.end_time = row["end_time"]
    task.dep_satisfies = bool(row["dep_satisfies"])
    task.blocked = bool(row["blocked"])
    if row["node_ids"]:
        task.last_nodes = tuple(_node_of(pool, n) for n in row["node_ids"].split(","))
    if task.result is SUCCESS:
        job.n_succeeded += 1
        pool.n_succeeded += 1
    else:
        job.n_failed += 1
        pool.n_failed += 1


def _restore_active(pool: Any, job: Any, row: dict[str, Any]) -> None:
    """An active task is submitted again at its queue place; one that was running or
    preparing is requeued, as after a node reboot."""
    spec = TaskSpec.model_validate_json(row["spec"])
    task = pool.add_task(job, spec, seq=row["seq"])
    _restore_counts(task, row)
    if row["state"] in (RUNNING, PREPARING):
        task.requeue_count += 1
        task.was_requeued = True
    if row["node_ids"]:
        task.last_nodes = tuple(_node_of(pool, n) for n in row["node_ids"].split(","))
