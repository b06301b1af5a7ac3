"""What the Batch REST API shows of a pool and its nodes that the rules do not keep: when the
pool's allocation state and properties last changed, and, per node, when it was allocated,
last changed state and last booted, its start task's last run, and the tasks it ran.

Why a record beside the engine and not fields of it: the rules (``poolscale.scheduler``) decide
and log every change as an event-log entry; these times and counts are only *reported*, so
they are read off that same feed (:meth:`PoolRecords.observe`, called with every entry the
pool's engine logs) and the simulator runs without them. The start task's exit code and
failure are the one thing the feed does not carry (a rule only learns "failed or not"): the
live world hands them over itself (:meth:`PoolRecords.start_task_started`,
:meth:`PoolRecords.start_task_ended`).

Times are engine seconds; the views (views.py) turn them into ISO-8601 instants.
"""

from __future__ import annotations

import collections
from typing import Any

from poolscale.scheduler.nodes import (
    IDLE, OFFLINE, REBOOTING, REMOVED, STARTING, WAITINGFORSTARTTASK,
)
from poolscale.scheduler.tasks import SUCCESS

__all__ = ["PoolRecords", "NodeRecord", "RECENT_TASKS"]

#: how many of a node's latest tasks its ``recentTasks`` lists (running ones included)
RECENT_TASKS = 10

_BOOTING = (STARTING, REBOOTING)
_BOOTED = (WAITINGFORSTARTTASK, IDLE, OFFLINE)


class NodeRecord:
    """One node's reported times and counts (see the module docstring)."""

    __slots__ = ("state", "state_time", "allocated", "booted", "start_task", "tasks_run",
                 "tasks_succeeded", "recent")

    def __init__(self, t: float) -> None:
        self.state: str | None = None
        self.state_time = t
        #: when the pool asked for the node (the service's ``allocationTime``)
        self.allocated = t
        self.booted: float | None = None
        #: the start task's last run: ``{"state", "startTime", "endTime", "exitCode",
        #: "result", "retryCount", "lastRetryTime", "failureInfo"}`` (engine seconds), or None
        self.start_task: dict[str, Any] | None = None
        self.tasks_run = 0
        self.tasks_succeeded = 0
        #: task key (``job/task``) -> ``{"jobId", "taskId", "taskState", "executionInfo"}``,
        #: oldest first
        self.recent: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()


    def task_counts(self) -> dict[str, Any]:
        """What the store keeps of the tasks the node ran (restored by :meth:`restore`)."""
        return {"tasksRun": self.tasks_run, "tasksSucceeded": self.tasks_succeeded,
                "recentTasks": list(self.recent.values())}

    def restore(self, allocated: float | None, counts: dict[str, Any] | None) -> None:
        """The node came back after a restart: its allocation time and task counts as they
        were (a task that was running then is not: it was requeued)."""
        if allocated is not None:
            self.allocated = allocated
        if counts:
            self.tasks_run = counts.get("tasksRun", 0)
            self.tasks_succeeded = counts.get("tasksSucceeded", 0)
            self.recent.clear()
            for task in counts.get("recentTasks", ()):
                if task.get("taskState") == "completed":
                    self.recent[f"{task['jobId']}/{task['taskId']}"] = task


class PoolRecords:
    """A pool's reported times and its nodes' records (see the module docstring)."""

    def __init__(self, t: float) -> None:
        #: when ``allocationState`` last changed
        self.allocation_state_time = t
        #: when a property of the pool last changed (targets, autoscale, patched properties):
        #: the service's ``lastModified`` (a node's change is not the pool's)
        self.modified = t
        self.nodes: dict[str, NodeRecord] = {}
        #: running task key -> the id of the node it runs on
        self._task_node: dict[str, str] = {}

    def observe(self, entry: tuple) -> None:
        """One event-log entry of the pool's engine."""
        kind = entry[1]
        if kind == "node":
            self._node_state(entry[0], entry[2], entry[3])
        elif kind == "task.start":
            self._task_started(entry[0], entry[2], entry[3].partition(",")[0])
        elif kind == "task.end":
            self._task_ended(entry[0], entry[2], entry[3], entry[4])
        elif kind == "task.requeue" or kind == "task.recover":
            node_id = self._task_node.pop(entry[2], None)
            record = self.nodes.get(node_id) if node_id is not None else None
            if record is not None:
                record.recent.pop(entry[2], None)
        elif kind == "pool.state":
            self.allocation_state_time = entry[0]
        elif kind == "pool.target":
            self.modified = entry[0]

    def _node_state(self, t: float, node_id: str, state: str) -> None:
        if state == REMOVED:
            self.nodes.pop(node_id, None)
            return
        record = self.nodes.get(node_id)
        if record is None:
            record = self.nodes[node_id] = NodeRecord(t)
        if record.state in _BOOTING and state in _BOOTED:
            record.booted = t
        record.state = state
        record.state_time = t

    def _task_started(self, t: float, key: str, node_id: str) -> None:
        record = self.nodes.get(node_id)
        if record is None:
            return
        self._task_node[key] = node_id
        job_id, _, task_id = key.partition("/")
        record.recent.pop(key, None)
        record.recent[key] = {"jobId": job_id, "taskId": task_id, "taskState": "running",
                              "executionInfo": {"startTime": t}}
        while len(record.recent) > RECENT_TASKS:
            record.recent.popitem(last=False)

    def _task_ended(self, t: float, key: str, result: str, exit_code: int | None) -> None:
        node_id = self._task_node.pop(key, None)
        record = self.nodes.get(node_id) if node_id is not None else None
        if record is None:
            return
        record.tasks_run += 1
        if result == SUCCESS:
            record.tasks_succeeded += 1
        seen = record.recent.get(key)
        if seen is not None:
            seen["taskState"] = "completed"
            info = seen["executionInfo"]
            info["endTime"] = t
            info["result"] = result
            if exit_code is not None:
                info["exitCode"] = exit_code

    # -- the start task (from the live world) -----------------------------------------------

    def start_task_started(self, node_id: str, t: float, attempts: int) -> None:
        """An attempt of the start task began on the node; ``attempts``: how many failed
        before it since the node booted."""
        record = self.nodes.get(node_id)
        if record is None:
            return
        if attempts == 0 or record.start_task is None:
            record.start_task = {"state": "running", "startTime": t, "retryCount": attempts}
        else:
            info = record.start_task
            for key in ("endTime", "exitCode", "result", "failureInfo"):
                info.pop(key, None)
            # the service's startTime is the latest attempt's start
            info.update(state="running", startTime=t, retryCount=attempts, lastRetryTime=t)

    def start_task_ended(self, node_id: str, t: float, exit_code: int | None,
                         failure: tuple[str, str, str] | None) -> None:
        """The start task's attempt ended with ``exit_code`` (None: it did not start);
        ``failure``: ``(category, code, message)`` when it failed."""
        record = self.nodes.get(node_id)
        info = record.start_task if record is not None else None
        if info is None:
            return
        info.update(state="completed", endTime=t)
        if exit_code is not None:
            info["exitCode"] = exit_code
        if exit_code == 0 and failure is None:
            info["result"] = "success"
        else:
            info["result"] = "failure"
            category, code, message = failure or (
                "usererror", "FailureExitCode",
                "The start task exited with an exit code representing a failure")
            info["failureInfo"] = {"category": category, "code": code, "message": message}
