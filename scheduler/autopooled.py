"""Auto pools in the simulator: the run's one pool exists only while its owner lives
(docs/simulation-model.md#auto-pools).

A simulation is one pool's Batch rules. A workload whose jobs carry
``poolInfo.autoPoolSpecification`` names no pool of its own: the jobs make it. So the run's pool
*is* the auto pool, and what changes is that it is not always there. It starts absent (no
nodes, no autoscale, nothing billed); the job (or the schedule's first job) that owns it makes
it at its creation instant, before that instant's scheduling pass, so the job's tasks find a
pool that is allocating its nodes; the owner's end removes it at once (every node goes, billing
stops, autoscale stops). A pool made again later is a new pool: new id, no sample history, the
pool file's initial targets, the formula's first run at its creation.

Which event makes or removes a pool, and the id it gets, are autopools.py's rules, shared with
the live account; this layer only applies them to the engine's one pool. A workload that would
need two pools at once cannot be simulated by one engine, so it is refused (find_auto_pool at
construction, _refuse_second_pool during the run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from poolscale.formula.values import Option
from poolscale.metrics.recorder import SampleRecorder

from .autopools import auto_pool_id, creates_pool, deletes_pool
from .models import AutoPoolSpecification, Workload
from .nodes import LEAVINGPOOL
from .scheduled import SchedulesMixin
from .tasks import Job

__all__ = ["AutoPoolMixin", "AutoPoolRun", "MadePool", "find_auto_pool", "auto_pool_place",
           "with_auto_pool", "ONE_POOL"]

#: How every refusal of a workload that needs more than one pool begins.
ONE_POOL = "the simulator runs one pool"


@dataclass
class MadePool:
    """One auto pool of the run: its id and when it existed (seconds; ``deleted`` None while
    it still exists)."""

    id: str
    #: the job or schedule id the pool was made for (autopools.auto_pool_id)
    owner: str
    #: the schedule of the job that made it (None for a plain job's pool)
    schedule: str | None
    created: float
    deleted: float | None = None


@dataclass
class AutoPoolRun:
    """The auto pool of a run: its specification, the pools made from it in order, and what
    a re-made pool starts from."""

    spec: AutoPoolSpecification
    #: the targets a made pool starts with (the pool file's, cut to the quota for autoscale)
    targets: list[int]
    #: whether a made pool autoscales (the formula given to the run, or the pool's own)
    autoscale: bool
    pools: list[MadePool] = field(default_factory=list)
    #: auto pools made per owner id, for the n of auto_pool_id
    made: dict[str, int] = field(default_factory=dict)
    #: samples recorded by the pools already deleted (each pool records its own)
    retired_samples: int = 0

    @property
    def current(self) -> MadePool | None:
        """The pool that exists now, if any."""
        last = self.pools[-1] if self.pools else None
        return last if last is not None and last.deleted is None else None


def _auto_spec(job: Any) -> AutoPoolSpecification | None:
    return job.pool_info.auto_pool_specification


def _owners(workload: Workload) -> list[tuple[str, str, Any]]:
    """(name for a message, JSON pointer of its poolInfo, the job or jobSpecification) of
    every job and job schedule of ``workload``."""
    owners = [(f"job {j.id!r}", f"/jobs/{i}/poolInfo", j) for i, j in enumerate(workload.jobs)]
    owners += [(f"job schedule {s.id!r}", f"/jobSchedules/{i}/jobSpecification/poolInfo",
                s.job_specification) for i, s in enumerate(workload.job_schedules)]
    return owners


def find_auto_pool(workload: Workload) -> AutoPoolSpecification | None:
    """The one auto pool specification of ``workload``'s jobs and schedules, or None when no
    job makes a pool. A ValueError when one engine cannot run them: two different
    specifications, or jobs that make a pool beside jobs that do not."""
    owners = _owners(workload)
    making = [(name, _auto_spec(j)) for name, _, j in owners if _auto_spec(j) is not None]
    if not making:
        return None
    first_name, spec = making[0]
    for name, other in making[1:]:
        if other != spec:
            raise ValueError(f"{ONE_POOL}; {first_name} and {name} give different "
                             "autoPoolSpecifications (give every job the same one)")
    for name, _, j in owners:
        if _auto_spec(j) is None:
            named = j.pool_info.pool_id
            which = f"names pool {named!r}" if named is not None else "names no pool"
            raise ValueError(f"{ONE_POOL}; {name} {which} while {first_name} makes an auto pool "
                             "(give every job the same autoPoolSpecification)")
    return spec


def with_auto_pool(workload: Workload, pool: Any) -> Workload:
    """``workload`` with ``pool`` as the pool of every auto pool specification in it: how a
    caller adjusts the pool the jobs make (the local account's delays for a prediction)
    without a second way of naming the run's pool."""
    def job(j: Any) -> Any:
        auto = _auto_spec(j)
        if auto is None:
            return j
        auto = auto.model_copy(update={"pool": pool})
        return j.model_copy(update={"pool_info": j.pool_info.model_copy(
            update={"auto_pool_specification": auto})})

    return workload.model_copy(update={
        "jobs": [job(j) for j in workload.jobs],
        "job_schedules": [s.model_copy(update={"job_specification": job(s.job_specification)})
                          for s in workload.job_schedules]})


def auto_pool_place(workload: Workload) -> str | None:
    """Where the workload's auto pool is written (the JSON pointer of the first job's
    ``pool`` in it), for messages about that pool; None without one."""
    for _, pointer, j in _owners(workload):
        if _auto_spec(j) is not None:
            return f"{pointer}/autoPoolSpecification/pool"
    return None


class AutoPoolMixin(SchedulesMixin):
    """The engine's pool as an auto pool (see the module docstring); inert (``auto_pool`` None)
    for a pool of a pool file and for the live engine, whose account makes real pools."""

    def _init_auto_pool(self, spec: AutoPoolSpecification) -> None:
        """Make the pool an auto pool of ``spec``, absent until its owner's first job: called
        after the pool, autoscale and horizon are set up (the horizon's limits count the
        formula's runs as if the pool lived throughout)."""
        self.auto_pool = AutoPoolRun(spec, list(self.target), self.autoscale)
        self.pool_absent = True
        self.target = [0, 0]
        self.autoscale = False

    # -- the owner's events ----------------------------------------------------------------

    def _job_created(self, job: Job) -> None:
        super()._job_created(job)
        auto = self.auto_pool
        spec = None if auto is None else _auto_spec(job.spec)
        if auto is None or spec is None:
            return
        owner = job.schedule if spec.pool_lifetime_option == "jobschedule" else job.id
        assert owner is not None          # the model allows jobschedule on a schedule's job only
        if not creates_pool(spec, "job_created", first_job=owner not in auto.made):
            return
        current = auto.current
        if current is not None:
            self._refuse_second_pool(job, current)
        self._make_pool(owner, job.schedule)

    def _job_ended(self, job: Job) -> None:
        # The job's own pool goes first: the schedule that hears of the job next (super) may
        # make its next job at this instant, and that job's pool is a new one.
        auto = self.auto_pool
        current = None if auto is None else auto.current
        if auto is not None and current is not None and current.owner == job.id \
                and deletes_pool(auto.spec, "job_completed"):
            self._delete_pool()
        super()._job_ended(job)

    def _schedule_ended(self, schedule_id: str, *, deleted: bool) -> None:
        super()._schedule_ended(schedule_id, deleted=deleted)
        auto = self.auto_pool
        current = None if auto is None else auto.current
        event = "schedule_deleted" if deleted else "schedule_completed"
        if auto is not None and current is not None and current.schedule == schedule_id \
                and deletes_pool(auto.spec, event):
            self._delete_pool()

    def _refuse_second_pool(self, job: Job, current: MadePool) -> None:
        from .results import instant_text

        at = instant_text(self.start_ticks, self.kernel.now)
        raise ValueError(f"{ONE_POOL}; job {job.id!r} makes its auto pool at {at} while pool "
                         f"{current.id} of {current.owner!r} still exists (a pool lives until "
                         "its job or schedule completes, for ever with keepAlive)")

    # -- making and removing the pool -------------------------------------------------------

    def _make_pool(self, owner: str, schedule: str | None) -> None:
        """The pool comes up now as a new pool: the initial targets (a resize), autoscale from
        this instant (its first run now, at the rank of runs, after this instant's pass)."""
        auto = self.auto_pool
        assert auto is not None
        n = auto.made[owner] = auto.made.get(owner, 0) + 1
        made = MadePool(auto_pool_id(auto.spec.auto_pool_id_prefix, owner, n), owner, schedule,
                        self.kernel.now)
        auto.pools.append(made)
        if self._log is not None:
            self._log((self.kernel.now, "pool.created", made.id))
        self.pool_absent = False
        self.pool_made_at = self.kernel.now
        auto.retired_samples += len(self.recorder)
        self.recorder = SampleRecorder(period=self.recorder.period, delay=self.recorder.delay)
        self.option = Option.REQUEUE
        self.target = list(auto.targets)
        self.autoscale = auto.autoscale
        self._size_initially()
        if auto.autoscale:
            self._enable_autoscale(self.formula, self.interval_ticks)

    def _delete_pool(self) -> None:
        """The pool goes now: autoscale stops, every node leaves at once as a scale-down to 0
        with ``terminate`` would take it (what runs is killed; nodes already draining go too),
        so nothing is billed from this instant."""
        auto = self.auto_pool
        assert auto is not None and auto.current is not None
        made = auto.current
        made.deleted = self.kernel.now
        if self._log is not None:
            self._log((self.kernel.now, "pool.deleted", made.id))
        if self.autoscale:
            self._disable_autoscale()
        self.target = [0, 0]
        self.option = Option.TERMINATE
        self._resize()                  # every node not yet leaving
        for node in list(self.nodes.values()):
            if node.state is LEAVINGPOOL:
                for task in list(node.tasks):
                    if task.node is not None:
                        self._kill(task, by_job=False)
                self._clear_local(node)
                self._remove(node)
        # what the pool held of its last resize goes with it
        self.resize_errors = []
        self.quota_error = [False, False]
        self.resize_stopped = False
        self.pool_absent = True
        self.kernel.dirty = True
