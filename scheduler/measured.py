"""What a live run measured, as a workload the simulator can replay, and how far its
prediction is from the measurement.

``poolscale run`` runs jobs for real and then shows, beside the report of what happened, what
the simulator predicts for the same pool and jobs when each task lasts what it really lasted.
The difference is the prediction error a user can expect when they replay a workload to
choose a formula. The attempts are read from the engine's event log, which both clocks write
the same way: a ``task.start`` opens an attempt, and a ``task.retry`` or a ``task.end`` with an
exit code closes it with that code. An attempt ended by a requeue or a lost node is not a
measure of the task, and an attempt that never ended is left out.
"""

from __future__ import annotations

from typing import Any, Iterable

from .models import Workload
from .tasks import WALL_CLOCK_EXIT_CODE

__all__ = ["Attempt", "measured_attempts", "measured_workload", "prediction_error",
           "PREDICTED_FIGURES"]

#: the report figures compared: (name shown, path in the report)
PREDICTED_FIGURES = (
    ("node_hours", ("node_hours", "dedicated")),
    ("low_priority_node_hours", ("node_hours", "low_priority")),
    ("makespan_seconds", ("makespan_seconds",)),
    ("wait_p95_seconds", ("wait_seconds", "p95")),
)

Attempt = tuple[float, int]    # (seconds it ran, exit code)


def measured_attempts(events: Iterable[tuple]) -> dict[str, list[Attempt]]:
    """``job/task`` -> its attempts that ended with an exit code, in order."""
    started: dict[str, float] = {}
    out: dict[str, list[Attempt]] = {}
    for e in events:
        kind = e[1]
        if kind == "task.start":
            started[e[2]] = e[0]
        elif kind == "task.retry" or (kind == "task.end" and e[4] is not None):
            began = started.pop(e[2], None)
            if began is not None:
                out.setdefault(e[2], []).append((e[0] - began, e[-1]))
        elif kind in ("task.requeue", "task.recover", "task.end"):
            started.pop(e[2], None)
    return out


def measured_workload(workload: Workload, events: Iterable[tuple]) -> Workload:
    """``workload`` with each task that ran lasting the mean of its measured attempts and
    exiting with their codes in order. A task stopped by its wall clock gets a duration past
    it, so the replay stops it there too. A task that never ran keeps its declared duration. A
    job schedule's task lasts the mean of its attempts in every job the schedule made."""
    attempts = measured_attempts(events)
    jobs = [job.model_copy(update={"tasks": _measured_tasks(job.tasks, attempts, (job.id,))})
            for job in workload.jobs]
    schedules = []
    for schedule in workload.job_schedules:
        # one template task stands for its run in every job the schedule made: the mean of
        # all their attempts, the exit codes of the first job's
        made = sorted({key.split("/", 1)[0] for key in attempts
                       if key.startswith(f"{schedule.id}:job-")},
                      key=lambda job_id: int(job_id.rsplit("-", 1)[1]))
        spec = schedule.job_specification
        spec = spec.model_copy(update={"tasks": _measured_tasks(spec.tasks, attempts, made)})
        schedules.append(schedule.model_copy(update={"job_specification": spec}))
    return workload.model_copy(update={"jobs": jobs, "job_schedules": schedules})


def _measured_tasks(tasks: list, attempts: dict[str, list[Attempt]],
                    job_ids: Iterable[str]) -> list:
    """``tasks`` with the duration and exit codes measured for them in the jobs ``job_ids``."""
    out = []
    job_ids = list(job_ids)
    for task in tasks:
        runs = [attempts[key] for key in (f"{j}/{task.id}" for j in job_ids) if key in attempts]
        if not runs:
            out.append(task)
            continue
        seen = [attempt for run in runs for attempt in run]
        codes = [code for _, code in runs[0]]
        duration = sum(d for d, _ in seen) / len(seen)
        wall = task.constraints.max_wall_clock_time
        if codes[-1] == WALL_CLOCK_EXIT_CODE and wall is not None:
            duration = max(duration, wall) + 1.0
            codes = codes[:-1] or [0]
        out.append(task.model_copy(update={"duration": duration, "exit_codes": codes}))
    return out


def _figure(report: dict, path: tuple[str, ...]) -> Any:
    value: Any = report
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def prediction_error(measured: dict, predicted: dict) -> dict[str, dict[str, float | None]]:
    """For each compared figure: the measured and predicted values and the relative error
    ``(predicted - measured) / measured`` (None when measured is 0 or missing)."""
    out = {}
    for name, path in PREDICTED_FIGURES:
        m, p = _figure(measured, path), _figure(predicted, path)
        error = None
        if isinstance(m, (int, float)) and isinstance(p, (int, float)) and m:
            error = (p - m) / m
        out[name] = {"measured": m, "predicted": p, "error": error}
    return out
