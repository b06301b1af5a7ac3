"""The workload's demand: the slots its tasks would hold if none of them ever waited.

A formula's run changes when tasks start (a slow formula queues them), so a demand read from a
run, such as ``$PendingTasks``, differs from one formula to the next and cannot be the yardstick
they are compared against. This is read from the workload alone: every task holds its
``requiredSlots`` (times its instances) from the moment it is submitted until its duration has
passed, once. Dependencies, retries, job preparation and release tasks are not counted: it is
what the user asked for, not what any pool could have done with it. A job schedule asks for
its job at every due instant of its grid (``doNotRunUntil`` + k x ``recurrenceInterval``,
before ``doNotRunAfter`` and the end of the run): a job the run makes late, because the one
before it was still active, is the pool's doing, not the workload's.
"""

from __future__ import annotations

import numpy as np

from .models import JobScheduleSpec, Workload, resolve_time
from .schedules import Recurrence

__all__ = ["demand_steps"]


def _schedule_instants(schedule: JobScheduleSpec, start_ticks: int, end: float) -> list[float]:
    """The due instants of a workload schedule (created at the start) up to ``end``."""
    return Recurrence(schedule.schedule, 0.0, start_ticks,
                      schedule_id=schedule.id).due_instants(end)


def demand_steps(workload: Workload, start_ticks: int, end: float = 0.0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``(times, slots)``: from ``times[i]`` (seconds after the start, ascending, the first 0)
    until the next time, the workload's tasks would hold ``slots[i]`` slots.

    Times are placed as the simulator places submissions: an ISO time resolves against
    ``start_ticks`` (one before the start counts as the start), and a task cannot come before
    its job's creation. A job manager task starts with its job (at its creation, else with its
    first task). A job schedule's jobs come at its due instants up to ``end`` seconds, their
    tasks at their offsets from each."""
    starts: list[float] = []
    durations: list[float] = []
    widths: list[int] = []
    for job in workload.jobs:
        created = resolve_time(job.creation_time, start_ticks)
        first: float | None = None
        for task in job.tasks:
            at: float = task.submit_time
            if type(at) is not float:
                at = resolve_time(at, start_ticks) or 0.0    # never None: a submit time is set
            if created is not None and at < created:
                at = created
            if first is None or at < first:
                first = at
            starts.append(at)
            durations.append(task.duration)
            widths.append(task.required_slots * task.instances)
        jm = job.job_manager_task
        if jm is not None:
            starts.append(created if created is not None else first or 0.0)
            durations.append(jm.duration)
            widths.append(jm.required_slots)
    for schedule in workload.job_schedules:
        spec = schedule.job_specification
        for created in _schedule_instants(schedule, start_ticks, end):
            for task in spec.tasks:
                starts.append(created + float(task.submit_time))
                durations.append(task.duration)
                widths.append(task.required_slots * task.instances)
            if spec.job_manager_task is not None:
                starts.append(created)
                durations.append(spec.job_manager_task.duration)
                widths.append(spec.job_manager_task.required_slots)
    begin = np.asarray(starts, dtype=np.float64)
    length = np.asarray(durations, dtype=np.float64)
    held = np.asarray(widths, dtype=np.int64)
    busy = length > 0                      # a task of no duration holds nothing
    begin, length, held = begin[busy], length[busy], held[busy]
    instants = np.concatenate(([0.0], begin, begin + length))
    change = np.concatenate(([0], held, -held))
    order = np.argsort(instants, kind="stable")
    instants, level = instants[order], np.cumsum(change[order])
    # the level after the last change at each instant
    last = np.append(instants[1:] != instants[:-1], True)
    return instants[last], level[last]
