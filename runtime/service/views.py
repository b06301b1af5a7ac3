"""What the account shows of its pools, nodes, jobs and tasks: plain dicts shaped as the Batch
REST API shapes them (camelCase names, ISO-8601 UTC times), so the REST service of the next
layer returns them as they are and a library user reads the names the Batch docs use.

Views are built on the engine thread from the engine's objects; they are snapshots: nothing in
them changes after they are made.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping, Sequence

from poolscale.formula.values import TICKS_PER_SECOND, Timestamp, format_timestamp
from poolscale.scheduler.nodes import DEDICATED, KIND_NAMES

from .ids import split_job_id
from .local.nodedirs import node_ip
from .settings import iso_duration

__all__ = ["iso", "pool_view", "node_view", "job_view", "task_view", "run_view",
           "job_properties", "task_properties", "job_history", "task_history", "task_root",
           "UNLIMITED_DURATION"]

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


def job_view(job: Any, pool_id: str | None, start_ticks: int, *, spec: Any = None,
             extras: Mapping[str, Any] | None = None,
             transitions: Sequence[tuple[str, float]] = (),
             modified: float | None = None,
             auto_pool: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A job as the REST ``BatchJob``. ``spec``: the job's model (its properties are echoed as
    added, with the service's defaults filled in); ``extras``: the properties of the add the
    engine does not model (``displayName``, ``metadata``, ...), echoed as given;
    ``transitions``: state changes the engine does not time (disable, enable), as ``(state,
    engine seconds)``; ``modified``: when a user last changed the job's properties;
    ``auto_pool``: the job's ``autoPoolSpecification`` as given, echoed in ``poolInfo`` in
    place of a ``poolId`` (the service leaves it empty for an auto pool's job), while
    ``executionInfo.poolId`` names the pool made for it."""
    state = job.state if job.state != "pending" else "active"
    view: dict[str, Any] = {"id": job.id}
    if extras:
        view.update(extras)
    if spec is not None:
        view.update(job_properties(spec))
    view.update({
        "state": state,
        "priority": job.priority,
        "poolInfo": ({"poolId": pool_id} if auto_pool is None
                     else {"autoPoolSpecification": dict(auto_pool)}),
        "creationTime": iso(start_ticks, job.created_at),
    })
    history = job_history(job, transitions)
    (state_at,) = [t for s, t in history[-1:]] or [job.created_at]
    view["stateTransitionTime"] = iso(start_ticks, state_at)
    if len(history) > 1:
        view["previousState"] = history[-2][0]
        view["previousStateTransitionTime"] = iso(start_ticks, history[-2][1])
    view["lastModified"] = iso(start_ticks, job.created_at if modified is None else modified)
    info: dict[str, Any] = {"startTime": iso(start_ticks, job.created_at), "poolId": pool_id}
    if job.reason is not None:
        info["terminateReason"] = job.reason
    if job.completed_at is not None:
        info["endTime"] = iso(start_ticks, job.completed_at)
    view["executionInfo"] = {k: v for k, v in info.items() if v is not None}
    return view


#: what the service shows of a job's properties that the add left out
_JOB_DEFAULTS = {
    "usesTaskDependencies": False, "onAllTasksComplete": "noaction",
    "onTaskFailure": "noaction", "maxParallelTasks": -1, "allowTaskPreemption": False,
}
#: a wall-clock limit that is not set, as the service writes it (.NET's TimeSpan.MaxValue)
UNLIMITED_DURATION = "P10675199DT2H48M5.4775807S"
_DURATIONS = frozenset({"maxWallClockTime", "retentionTime"})
#: the job model's fields a view never echoes: its workload, its creation instant (simulator
#: fields), and those the view states from the engine
_NOT_ECHOED = {"tasks", "creation_time", "id", "priority", "pool_info"}


def job_properties(spec: Any) -> dict[str, Any]:
    """The job's added properties as REST JSON (durations as ISO 8601), defaults filled."""
    out = dict(_JOB_DEFAULTS)
    out.update(_rest_json(spec.model_dump(by_alias=True, exclude_unset=True,
                                          exclude=_NOT_ECHOED)))
    constraints = out.get("constraints") or {}
    out["constraints"] = {"maxWallClockTime": constraints.get("maxWallClockTime",
                                                              UNLIMITED_DURATION),
                          "maxTaskRetryCount": constraints.get("maxTaskRetryCount", 0)}
    return out


def _rest_json(value: Any, key: str | None = None) -> Any:
    """A model dump as the REST API writes it: durations (seconds in the models) as ISO 8601."""
    if isinstance(value, dict):
        return {k: _rest_json(v, k) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_rest_json(v) for v in value]
    if key in _DURATIONS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return iso_duration(float(value))
    return value


def job_history(job: Any, transitions: Sequence[tuple[str, float]] = ()) -> list[tuple[str, float]]:
    """The job's states with the instants it entered them, in order: created active, the
    user's disable/enable (``transitions``), terminating, completed."""
    history = [("active", job.created_at)] if job.created_at is not None else []
    history += [t for t in transitions if t[1] is not None]
    if job.ended_at is not None:
        history.append(("terminating", job.ended_at))
    if job.completed_at is not None:
        history.append(("completed", job.completed_at))
    history.sort(key=lambda t: t[1])        # stable: same-instant changes keep their order
    return history


def task_view(task: Any, start_ticks: int, *, spec: Any = None,
              extras: Mapping[str, Any] | None = None, pool_id: str | None = None,
              modified: float | None = None) -> dict[str, Any]:
    """A task as the REST ``BatchTask``. Without ``spec`` (the task's model) only its id,
    state and execution are shown (what an add's result needs); with it, its properties as
    added, its constraints with the job's defaults filled in, its state history and its node.
    ``extras``: the properties of the add the engine does not model, echoed as given;
    ``modified``: when a user last changed its constraints."""
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
    if task.retry_count and task.attempt > 1 and task.start_time is not None:
        # the last attempt that started was a retry: when it started
        info["lastRetryTime"] = iso(start_ticks, task.start_time)
    if task.requeue_count and task.attempt_end is not None:
        # when its last attempt stopped: a requeue's instant, unless an attempt ran since
        info["lastRequeueTime"] = iso(start_ticks, task.attempt_end)
    view: dict[str, Any] = {
        "id": task.id,
        "state": task.state,
        "executionInfo": {k: v for k, v in info.items() if v is not None},
    }
    nodes = task.nodes or ((task.node,) if task.node is not None else task.last_nodes or ())
    if nodes:
        view["nodeInfo"] = {"nodeId": nodes[0].id}
    if spec is None:
        return view
    full: dict[str, Any] = {"id": task.id}
    if extras:
        full.update(extras)
    full.update(task_properties(task, spec))
    created = task.submit_time
    full["creationTime"] = iso(start_ticks, created)
    full["lastModified"] = iso(start_ticks, created if modified is None else modified)
    full["state"] = task.state
    history = task_history(task)
    full["stateTransitionTime"] = iso(start_ticks, history[-1][1])
    if len(history) > 1:
        full["previousState"] = history[-2][0]
        full["previousStateTransitionTime"] = iso(start_ticks, history[-2][1])
    full["executionInfo"] = view["executionInfo"]
    if nodes:
        node = nodes[0]
        full["nodeInfo"] = {"affinityId": node.id, "nodeId": node.id, "poolId": pool_id,
                            "taskRootDirectory": task_root(task.job.id, task.id)}
    return full


def task_root(job_id: str, task_id: str) -> str:
    """A task's directory relative to its node's root, as ``nodeInfo.taskRootDirectory``."""
    return "/".join(("workitems", *split_job_id(job_id), task_id))


_TASK_NOT_ECHOED = {"id", "submit_time", "duration", "exit_codes", "profile", "constraints"}


def task_properties(task: Any, spec: Any) -> dict[str, Any]:
    """The task's added properties as REST JSON, with its constraints as they apply (the
    job's retry count where the task gave none, as the service shows it)."""
    out: dict[str, Any] = {"commandLine": spec.command_line,
                           "requiredSlots": getattr(spec, "required_slots", 1)}
    out.update(_rest_json(spec.model_dump(by_alias=True, exclude_unset=True,
                                          exclude=_TASK_NOT_ECHOED)))
    out["constraints"] = {
        "maxWallClockTime": UNLIMITED_DURATION if task.wall is None else iso_duration(task.wall),
        "retentionTime": iso_duration(task.retention),
        "maxTaskRetryCount": task.max_retry,
    }
    return out


def task_history(task: Any) -> list[tuple[str, float]]:
    """The task's last state change and the one before it, as far as the engine's times tell
    (submission, its last attempt's start and end, its completion): ``[(previous state,
    since), (state, since)]``, or one entry for a task still waiting for its first run."""
    submit = task.submit_time or 0.0
    back = task.attempt_end             # when its last attempt stopped running
    start = task.start_time
    state = task.state
    if state == "running":
        return [("active", back if back is not None and back <= start else submit),
                ("running", start)]
    if state == "completed":
        end = task.end_time if task.end_time is not None else submit
        if start is not None and back is not None and back == end:
            return [("running", start), ("completed", end)]
        return [("active", back if back is not None else submit), ("completed", end)]
    since = back if back is not None else submit
    if state == "preparing":
        return [("active", since), ("preparing", since)]
    if back is not None and start is not None:
        return [("running", start), ("active", back)]
    return [("active", submit)]


def file_properties(st: Any) -> dict[str, Any]:
    """A node or task file's ``properties`` as the service lists them (``FileProperties``),
    from its ``os.stat_result``; the mode as octal permission bits (``0644``), as a resource
    file's ``fileMode`` is written."""
    import datetime as _dt
    import stat as _stat

    def when(seconds: float) -> str:
        t = _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc)
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"

    return {"creationTime": when(st.st_ctime), "lastModified": when(st.st_mtime),
            "contentLength": 0 if _stat.S_ISDIR(st.st_mode) else st.st_size,
            "contentType": "application/octet-stream",
            "fileMode": format(_stat.S_IMODE(st.st_mode), "04o")}
