"""The workload's demand: the slots its tasks would hold if none of them ever waited.

A formula's run changes when tasks start (a slow formula queues them), so a demand read from a
run, such as ``$PendingTasks``, differs from one formula to the next and cannot be the yardstick
they are compared against. This is read from the workload alone: every task holds its
``requiredSlots`` (times its instances) from the moment it is submitted until its duration has
passed, once. Dependencies, retries, job preparation and release tasks are not counted: it is
what the user asked for, not what any pool could have done with it.
"""

from __future__ import annotations

from itertools import accumulate

from .models import Workload, resolve_time

__all__ = ["demand_steps"]


def demand_steps(workload: Workload, start_ticks: int) -> tuple[list[float], list[int]]:
    """``(times, slots)``: from ``times[i]`` (seconds after the start, ascending, the first 0)
    until the next time, the workload's tasks would hold ``slots[i]`` slots.

    Times are placed as the simulator places submissions: an ISO time resolves against
    ``start_ticks`` (one before the start counts as the start), and a task cannot come before
    its job's creation. A job manager task starts with its job (at its creation, else with its
    first task)."""
    changes: dict[float, int] = {0.0: 0}

    def hold(at: float, slots: int, duration: float) -> None:
        if duration > 0 and slots > 0:
            changes[at] = changes.get(at, 0) + slots
            end = at + duration
            changes[end] = changes.get(end, 0) - slots

    for job in workload.jobs:
        created = resolve_time(job.creation_time, start_ticks)
        first = None
        for task in job.tasks:
            at = resolve_time(task.submit_time, start_ticks)
            if created is not None and at < created:
                at = created
            first = at if first is None or at < first else first
            hold(at, task.required_slots * task.instances, task.duration)
        jm = job.job_manager_task
        if jm is not None:
            hold(created if created is not None else first or 0.0, jm.required_slots, jm.duration)
    times = sorted(changes)
    return times, list(accumulate(changes[t] for t in times))
