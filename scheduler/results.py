"""What a simulation returns: the report
(docs/simulation-model.md#the-report), the timeline, the runs and the event log."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from poolscale.formula.values import TICKS_PER_SECOND, Timestamp, format_timestamp

from .tasks import COMPLETED

__all__ = ["SimulationResult", "build_report", "instant_text"]


#: 1970-01-01 in microseconds since 0001-01-01 (the ticks' origin)
_EPOCH_US = 62_135_596_800 * 1_000_000


@dataclass
class SimulationResult:
    """``report``: a plain JSON-ready dict; ``timeline_rows``: one dict per sample instant
    (:attr:`timeline` is the same as a pandas DataFrame); ``runs``: ``(seconds, AutoScaleRun)``
    for every autoscale run; ``events``: the event log, tuples ``(seconds, kind, ...)`` (empty
    when the run was made with ``log_events=False``)."""

    report: dict[str, Any]
    timeline_rows: list[dict[str, Any]]
    runs: list[tuple[float, Any]]
    events: list[tuple] = field(default_factory=list)
    #: the recorded samples (a metrics.recorder.SampleRecorder), for replaying a run
    samples: Any = None
    #: the run's start in ticks (100 ns) since 0001-01-01, for the timeline's timestamps
    start_ticks: int | None = None
    #: the seconds at which a low-priority node was preempted, one per preemption (kept even
    #: without the event log: the plot marks them, and 30 s samples would blur them)
    preemptions: list[float] = field(default_factory=list)
    #: the seconds at which an autoscale run changed the pool's target (the plot marks them)
    target_changes: list[float] = field(default_factory=list)

    @cached_property
    def timeline(self):
        """The timeline as a pandas DataFrame, one row per sample instant: ``timestamp`` (UTC),
        then the columns ``TIMELINE_COLUMNS``, as ``--timeline`` writes them (pandas is
        imported only here, on first use)."""
        import pandas as pd

        from .sampler import TIMELINE_COLUMNS

        import numpy as np

        frame = pd.DataFrame(self.timeline_rows, columns=list(TIMELINE_COLUMNS))
        # microseconds since 1970 in datetime64[us]: every year a run may reach (1-9999) fits,
        # where pandas' default nanoseconds stop at 2262
        start_us = (self.start_ticks or 0) // 10 - _EPOCH_US
        offsets = np.round(frame["time"].to_numpy(dtype=float) * 1e6).astype(np.int64)
        stamps = pd.Series((start_us + offsets).astype("datetime64[us]"), index=frame.index)
        frame.insert(0, "timestamp", stamps.dt.tz_localize("UTC"))
        return frame

    def events_of(self, kind: str, subject: str | None = None) -> list[tuple]:
        """Events of one kind (and optionally one subject id), for tests."""
        return [e for e in self.events
                if e[1] == kind and (subject is None or (len(e) > 2 and e[2] == subject))]


def _pcts(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "p50": None, "p95": None, "p99": None, "max": None}
    a = np.asarray(values, dtype=np.float64)
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {"mean": float(a.mean()), "p50": float(p50), "p95": float(p95), "p99": float(p99),
            "max": float(a.max())}


#: a quota error's code -> the quota's field (REST and Python names) and the kind of node
_QUOTAS = {
    "AccountCoreQuotaReached": ("dedicatedCoreQuota", "dedicated_core_quota", "dedicated"),
    "AccountLowPriorityCoreQuotaReached":
        ("lowPriorityCoreQuota", "low_priority_core_quota", "low-priority"),
}


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def instant_text(start_ticks: int, seconds: float) -> str:
    """The instant ``seconds`` after a run's start as an ISO timestamp, as the timeline stamps
    its rows: what a message shows a user, never seconds or ticks since something."""
    return format_timestamp(Timestamp(start_ticks + round(seconds * TICKS_PER_SECOND)))


def _instant(sim, seconds: float) -> str:
    return instant_text(sim.start_ticks, seconds)


def _resize_error_message(sim, code: str, seen: dict) -> str:
    """What a resize error of the run did to the user's request, with its instants."""
    first, last, count = _instant(sim, seen["first"]), _instant(sim, seen["last"]), seen["count"]
    if code in _QUOTAS:
        field, attr, kind = _QUOTAS[code]
        quota = sim.quota_nodes[seen["kind"]]
        cores = getattr(sim.pool_spec.simulation, attr)
        holds = (f"the {field} of {_n(cores, 'core')} holds {_n(quota, 'node')} of "
                 f"{_n(sim.cores, 'core')}")
        asked, runs = seen["asked"], seen["runs"]
        if not sim.autoscale:
            text = (f"at {first} the pool's target of {_n(asked, kind + ' node')} is more than "
                    f"the quota allows: {holds}, so the pool stopped at {quota:,}")
            return text if count == 1 else f"{text} ({_n(count, 'resize')}, the last at {last})"
        initial = seen["target"]
        if not runs:
            return (f"at {first} the pool file's target of {_n(initial, kind + ' node')} is more "
                    f"than the quota allows: {holds}, so it was cut to {quota:,}")
        first_run = _instant(sim, seen["first_run"])
        also = "" if initial is None else f" (and so was the pool file's target of {initial:,})"
        if runs == 1:
            return (f"the autoscale evaluation at {first_run} asked for "
                    f"{_n(asked, kind + ' node')}: {holds}, so the target was cut to "
                    f"{quota:,}{also}")
        return (f"{runs:,} autoscale evaluations from {first_run} to {last} asked for more {kind} "
                f"nodes than the quota allows (up to {asked:,}): {holds}, so each target was "
                f"cut to {quota:,}{also}")
    if code == "AllocationTimedout":
        text = (f"at {first} the resize had not completed within resizeTimeout "
                f"({sim.resize_timeout:g} s): the nodes still being allocated were given up")
        return text if count == 1 else f"{text} ({_n(count, 'resize')}, the last at {last})"
    if code == "ResizeStopped":
        text = (f"at {first} a request stopped the resize before its targets were met: the pool "
                "kept the nodes it had")
        return text if count == 1 else f"{text} ({_n(count, 'resize')}, the last at {last})"
    return f"{_n(count, 'time')}, first at {first}, last at {last}"


def _resize_errors(sim) -> list[dict[str, Any]]:
    """Every resize error of the run, in the order they first happened: the pool keeps only
    the last resize's, in ``pool_at_end``."""
    out = []
    for code, seen in sim.resize_error_log.items():
        entry: dict[str, Any] = {
            "code": code, "message": _resize_error_message(sim, code, seen),
            "count": seen["count"], "first": _instant(sim, seen["first"]),
            "last": _instant(sim, seen["last"]),
        }
        if seen["kind"] is not None:
            entry["nodes_asked"] = seen["asked"]
            entry["quota_nodes"] = sim.quota_nodes[seen["kind"]]
        out.append(entry)
    return out


def _by_state(jobs) -> dict[str, int]:
    """How many of ``jobs`` are in each state, states in alphabetical order."""
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.state] = counts.get(job.state, 0) + 1
    return dict(sorted(counts.items()))


def _schedules(sim) -> dict[str, Any]:
    """Per job schedule of the workload: its state at the end, the jobs it made and skipped,
    their states and tasks (job managers included), the creation instants of its first and
    last job, and when it completed (None while it has not)."""
    out = {}
    for sid, run in sim.schedules.items():
        rec, jobs = run.recurrence, run.jobs
        out[sid] = {
            "state": rec.state,
            "jobs_created": rec.n_created,
            "jobs_skipped": rec.n_skipped,
            "jobs": _by_state(jobs),
            "tasks": {"submitted": sum(j.n_submitted for j in jobs),
                      "succeeded": sum(j.n_succeeded for j in jobs),
                      "failed": sum(j.n_failed for j in jobs)},
            "first_job": _instant(sim, jobs[0].created_at) if jobs else None,
            "last_job": _instant(sim, jobs[-1].created_at) if jobs else None,
            "end_time": None if run.ended_at is None else _instant(sim, run.ended_at),
        }
    return out


def build_report(sim) -> dict[str, Any]:
    """The report of a finished :class:`Simulation` (keys documented in docs/simulation-model.md)."""
    waits: list[float] = []
    runs: list[float] = []
    turnarounds: list[float] = []
    slowdowns: list[float] = []
    bounded: list[float] = []
    requeued = 0
    first_submit = None
    last_end = None
    retries = requeues = recoveries = 0
    add_wait, add_run, add_turn = waits.append, runs.append, turnarounds.append
    add_slow, add_bounded = slowdowns.append, bounded.append
    for job in sim.jobs:
        for task in job.tasks:
            if task.was_requeued:
                requeued += 1
            retries += task.retry_count
            requeues += task.requeue_count
            recoveries += task.recovery_count
            submitted = task.submit_time
            if first_submit is None or submitted < first_submit:
                first_submit = submitted
            first = task.first_start
            if first is not None:
                add_wait(first - submitted)
            if task.state is COMPLETED:
                end = task.end_time
                if last_end is None or end > last_end:
                    last_end = end
                started = task.start_time
                if started is not None:
                    run = task.attempt_end - started      # the last attempt
                                                          # (docs/simulation-model.md#the-report)
                    turn = end - submitted
                    add_run(run)
                    add_turn(turn)
                    if run > 0:
                        add_slow(turn / run)
                    # max(1.0, turn / max(run, 10.0)), without the two calls
                    b = turn / (10.0 if 10.0 > run else run)
                    add_bounded(b if b > 1.0 else 1.0)
    hours = [sim.acc_billed[0] / 3600.0, sim.acc_billed[1] / 3600.0]
    prices = sim.prices
    cost = None
    if prices.dedicated is not None or prices.low_priority is not None:
        d = hours[0] * (prices.dedicated or 0.0)
        lp = hours[1] * (prices.low_priority or 0.0)
        cost = {"dedicated": d, "low_priority": lp, "total": d + lp}
    provisioned = sim.slots * (sim.acc_billed[0] + sim.acc_billed[1])
    duration = sim.kernel.now
    wait = _pcts(waits)
    report: dict[str, Any] = {
        "pool": sim.pool_spec.id,
        "seed": sim.seed,
        "start": sim.start_iso,
        "simulated_seconds": duration,
        "tasks": {
            "submitted": sim.n_submitted,
            "succeeded": sim.n_succeeded,
            "failed": sim.n_failed,
            "requeued": requeued,
            "active_at_end": sim.n_active,
            "running_at_end": sim.n_running,
            "rejected": sim.n_rejected,
            "not_submitted": sim.n_workload_tasks - sim.n_submitted - sim.n_rejected,
            "retries": retries,
            "requeues": requeues,
            "recoveries": recoveries,
        },
        "wait_seconds": {k: wait[k] for k in ("p50", "p95", "p99", "max", "mean")},
        "run_seconds": _pcts(runs),
        "turnaround_seconds": _pcts(turnarounds),
        "slowdown": _pcts(slowdowns),
        "bounded_slowdown": _pcts(bounded),
        "node_hours": {"dedicated": hours[0], "low_priority": hours[1]},
        "cost": cost,
        "utilization": (sim.acc_assigned / provisioned) if provisioned > 0 else None,
        "wasted_work_seconds": sim.wasted,
        "under_provisioned_share": sim.acc_under / duration if duration > 0 else None,
        "over_provisioned_share": sim.acc_over / duration if duration > 0 else None,
        "autoscale": {
            "enabled": sim.formula is not None,
            "evaluations": len(sim.runs),
            "errors": sim.eval_errors,
            "error_codes": dict(sorted(sim.error_codes.items())),
            "target_changes": sim.target_changes,
        },
        "makespan_seconds": (last_end - first_submit) if last_end is not None else None,
        "jobs": _by_state(sim.jobs),
        "pool_at_end": {
            "allocation_state": sim.alloc_state,
            "dedicated": sim.n_present[0],
            "low_priority": sim.n_present[1],
            "target_dedicated": sim.target[0],
            "target_low_priority": sim.target[1],
            "preempted": sim.n_preempted,
            "usable": sim.n_usable,
            "resize_errors": list(sim.resize_errors),
            "nodes_requested": sim.next_num - 1,
        },
        "resize_errors": _resize_errors(sim),
        "samples": {"taken": len(sim.timeline), "recorded": _recorded(sim)},
        "events_processed": sim.kernel.events_run,
    }
    if sim.schedules:       # only then: a run without schedules reports as it always has
        report["schedules"] = _schedules(sim)
    if sim.auto_pool is not None:
        report["auto_pool"] = _auto_pool(sim, hours[0] + hours[1])
    return report


def _recorded(sim) -> int:
    """Samples recorded in the run: each auto pool made records its own (autopooled.py)."""
    auto = sim.auto_pool
    return len(sim.recorder) + (0 if auto is None else auto.retired_samples)


def _auto_pool(sim, node_hours: float) -> dict[str, Any]:
    """The auto pool of a run whose jobs made their pool: the pools made, in order, with the
    instants they existed, and their node-hours (nothing is billed while no pool exists)."""
    auto = sim.auto_pool
    spec = auto.spec
    return {
        "id_prefix": spec.auto_pool_id_prefix,
        "lifetime": spec.pool_lifetime_option,
        "keep_alive": spec.keep_alive,
        "pools": [{"id": p.id, "created": _instant(sim, p.created),
                   "deleted": None if p.deleted is None else _instant(sim, p.deleted)}
                  for p in auto.pools],
        "node_hours": node_hours,
    }


