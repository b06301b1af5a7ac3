"""What the account shows of its pools, nodes, jobs and tasks: plain dicts shaped as the Batch
REST API shapes them (camelCase names, ISO-8601 UTC times), so the REST service of the next
layer returns them as they are and a library user reads the names the Batch docs use.

Views are built on the engine thread from the engine's objects; they are snapshots: nothing in
them changes after they are made.
"""

from __future__ import annotations

import functools
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
    """A pool as the REST ``BatchPool``: what the engine knows (state, allocation, nodes,
    targets, autoscale), the properties it does not model echoed as they were given (so a get
    returns what an add or a patch sent), and its times. ``url``, ``eTag`` and
    ``odata.metadata`` are the REST layer's."""
    spec = pool.pool_spec
    st = pool.start_ticks
    records = pool.records
    view: dict[str, Any] = {
        "id": spec.id,
        "vmSize": spec.vm_size,
        "state": "deleting" if pool.deleting else state,
        "allocationState": pool.alloc_state,
        "currentDedicatedNodes": pool.n_present[0],
        "currentLowPriorityNodes": pool.n_present[1],
        "targetDedicatedNodes": pool.target[0],
        "targetLowPriorityNodes": pool.target[1],
        "taskSlotsPerNode": pool.slots,
        "enableAutoScale": pool.autoscale,
        "resizeErrors": [{"code": code} for code in pool.resize_errors],
        "resizeTimeout": iso_duration(pool.resize_timeout),
        "enableInterNodeCommunication": spec.enable_inter_node_communication,
        "taskSchedulingPolicy": {"nodeFillType": spec.task_scheduling_policy.node_fill_type},
    }
    if pool.start_task is not None:
        view["startTask"] = pool.start_task.model_dump(by_alias=True, exclude_unset=True)
    raw = pool.rest_spec
    for name in ECHOED_POOL_PROPERTIES:
        if name in raw and raw[name] is not None:
            view[name] = raw[name]
    if pool.autoscale:
        view["autoScaleFormula"] = pool.formula_text
        view["autoScaleEvaluationInterval"] = iso_duration(pool.interval_seconds())
    if pool.runs:
        view["autoScaleRun"] = run_view(pool, pool.run_times[-1], pool.runs[-1])
    view["creationTime"] = iso(st, pool.created_at)
    view["stateTransitionTime"] = iso(st, pool.state_time)
    view["allocationStateTransitionTime"] = iso(st, records.allocation_state_time)
    view["lastModified"] = iso(st, records.modified)
    return view


#: the pool's properties a view echoes as they were given (or patched): the ones the engine
#: does not model (accepted, shown, changing nothing; docs/serve.md), and those whose exact
#: spelling the user chose (``startTask``, ``taskSchedulingPolicy``); ``resizeTimeout`` is the
#: engine's (a resize changes it)
ECHOED_POOL_PROPERTIES = (
    "displayName", "enableInterNodeCommunication", "taskSchedulingPolicy",
    "startTask", "cloudServiceConfiguration", "virtualMachineConfiguration",
    "networkConfiguration", "certificateReferences", "applicationPackageReferences",
    "applicationLicenses", "userAccounts", "metadata", "mountConfiguration", "identity",
    "targetNodeCommunicationMode", "upgradePolicy", "resourceTags",
)


def node_view(pool: Any, node: Any) -> dict[str, Any]:
    """A node as the REST ``BatchNode`` (``url`` and the recent tasks' ``taskUrl`` are the
    REST layer's): its state and scheduling, its times, its start task's last run, the tasks
    it ran, and the pool's start task as it is now."""
    st = pool.start_ticks
    record = pool.records.nodes.get(node.id)
    disabled = node.disabled if node.reboot is None else node.reboot[1]
    view: dict[str, Any] = {
        "id": node.id,
        "state": node.state,
        "schedulingState": "disabled" if disabled else "enabled",
        "isDedicated": node.kind == DEDICATED,
        "ipAddress": node_ip(node.num),
        "vmSize": pool.pool_spec.vm_size,
        "runningTasksCount": len(node.tasks) if node.tasks is not None else 0,
        "runningTaskSlotsCount": node.used,
        "kind": KIND_NAMES[node.kind],
        "totalTasksRun": 0,
        "totalTasksSucceeded": 0,
        "errors": [],
    }
    if record is not None:
        view["stateTransitionTime"] = iso(st, record.state_time)
        view["allocationTime"] = iso(st, record.allocated)
        if record.booted is not None:
            view["lastBootTime"] = iso(st, record.booted)
        view["totalTasksRun"] = record.tasks_run
        view["totalTasksSucceeded"] = record.tasks_succeeded
        if record.recent:
            view["recentTasks"] = [_recent_task(st, t) for t in record.recent.values()]
        if record.start_task is not None:
            view["startTaskInfo"] = _timed(st, record.start_task)
        view["nodeAgentInfo"] = {"version": poolscale_version(),
                                 "lastUpdateTime": iso(st, record.allocated)}
    if pool.start_task is not None:
        view["startTask"] = pool.rest_spec.get("startTask") or pool.start_task.model_dump(
            by_alias=True, exclude_unset=True)
    return view


_TIMES = ("startTime", "endTime", "lastRetryTime")


def _timed(start_ticks: int, info: dict[str, Any]) -> dict[str, Any]:
    """A record's dict with its engine-second times as ISO-8601 instants."""
    return {k: iso(start_ticks, v) if k in _TIMES else v for k, v in info.items()}


def _recent_task(start_ticks: int, task: dict[str, Any]) -> dict[str, Any]:
    return {**task, "executionInfo": _timed(start_ticks, task["executionInfo"])}


@functools.lru_cache(maxsize=1)
def poolscale_version() -> str:
    """poolscale's version: what a node's agent reports (``nodeAgentInfo.version``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("poolscale")
    except PackageNotFoundError:
        return "0+unknown"


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
