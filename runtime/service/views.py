"""What the account shows of its pools, nodes, jobs and tasks: plain dicts shaped as the Batch
REST API shapes them (camelCase names, ISO-8601 UTC times), so the REST service of the next
layer returns them as they are and a library user reads the names the Batch docs use.

Views are built on the engine thread from the engine's objects; they are snapshots: nothing in
them changes after they are made.
"""

from __future__ import annotations

from typing import Any

from poolscale.formula.values import TICKS_PER_SECOND, Timestamp, format_timestamp
from poolscale.scheduler.nodes import DEDICATED, KIND_NAMES

from .local.nodedirs import node_ip
from .settings import iso_duration

__all__ = ["iso", "pool_view", "node_view", "job_view", "task_view", "run_view"]

_ROUND = 10_000     # ticks per millisecond: views show milliseconds, as the service does


def iso(start_ticks: int, seconds: float | None) -> str | None:
    """Engine seconds as an ISO-8601 UTC instant (None stays None)."""
    if seconds is None:
        return None
    ticks = start_ticks + round(seconds * TICKS_PER_SECOND)
    return format_timestamp(Timestamp(ticks - ticks % _ROUND))


def run_view(pool: Any, t: float, run: Any) -> dict[str, Any]:
    """An AutoScaleRun: its instant, results string and error, as the service reports it."""
    view: dict[str, Any] = {"timestamp": iso(pool.start_ticks, t), "results": run.results}
    if run.error is not None:
        error = run.error
        view["error"] = {"code": error.code, "message": error.message,
                         "values": [{"name": "Message", "value": error.detail}]
                         if getattr(error, "detail", None) else []}
    return view


def pool_view(pool: Any, *, state: str = "active") -> dict[str, Any]:
    spec = pool.pool_spec
    st = pool.start_ticks
    view: dict[str, Any] = {
        "id": spec.id,
        "vmSize": spec.vm_size,
        "state": state,
        "allocationState": pool.alloc_state,
        "currentDedicatedNodes": pool.n_present[0],
        "currentLowPriorityNodes": pool.n_present[1],
        "targetDedicatedNodes": pool.target[0],
        "targetLowPriorityNodes": pool.target[1],
        "taskSlotsPerNode": pool.slots,
        "enableAutoScale": pool.autoscale,
        "resizeErrors": [{"code": code} for code in pool.resize_errors],
    }
    if pool.autoscale:
        view["autoScaleFormula"] = pool.formula_text
        view["autoScaleEvaluationInterval"] = iso_duration(pool.interval_seconds())
    if pool.runs:
        view["autoScaleRun"] = run_view(pool, pool.run_times[-1], pool.runs[-1])
    view["creationTime"] = iso(st, pool.created_at)
    return view


def node_view(pool: Any, node: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": node.id,
        "state": node.state,
        "schedulingState": "disabled" if getattr(node, "scheduling_disabled", False) else "enabled",
        "isDedicated": node.kind == DEDICATED,
        "ipAddress": node_ip(node.num),
        "runningTasksCount": len(node.tasks) if node.tasks is not None else 0,
        "runningTaskSlotsCount": node.used,
        "kind": KIND_NAMES[node.kind],
    }
    return view


def job_view(job: Any, pool_id: str | None, start_ticks: int) -> dict[str, Any]:
    state = job.state if job.state != "pending" else "active"
    view: dict[str, Any] = {
        "id": job.id,
        "state": state,
        "priority": job.priority,
        "poolInfo": {"poolId": pool_id},
        "creationTime": iso(start_ticks, job.created_at),
    }
    if job.reason is not None:
        view["executionInfo"] = {"terminateReason": job.reason,
                                 "endTime": iso(start_ticks, job.completed_at)}
    return view


def task_view(task: Any, start_ticks: int) -> dict[str, Any]:
    info: dict[str, Any] = {
        "retryCount": task.retry_count,
        "requeueCount": task.requeue_count,
        "startTime": iso(start_ticks, task.start_time),
        "endTime": iso(start_ticks, task.end_time) if task.state == "completed" else None,
    }
    if task.state == "completed":
        info["exitCode"] = task.exit_code
        info["result"] = task.result
        if task.failure is not None:
            category, code = task.failure
            info["failureInfo"] = {"category": category, "code": code}
    view: dict[str, Any] = {
        "id": task.id,
        "state": task.state,
        "executionInfo": {k: v for k, v in info.items() if v is not None},
    }
    nodes = task.nodes or ((task.node,) if task.node is not None else task.last_nodes or ())
    if nodes:
        view["nodeInfo"] = {"nodeId": nodes[0].id}
    return view
