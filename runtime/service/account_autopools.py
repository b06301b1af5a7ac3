"""Auto pools of the live account: the pool a job (or a job schedule) makes for itself.

A job added with ``poolInfo.autoPoolSpecification`` gets a real pool, made by the path of
``create_pool`` with the id ``auto_pool_id(prefix, owner, n)``, and is placed on it; the pool
goes through the path of ``delete_pool`` when its owner ends. Which event makes or removes a
pool is decided by ``poolscale.scheduler.autopools`` alone (the simulator asks the same
functions, so both clocks agree); this mixin only applies the decisions to the account.

The owner is the job (lifetime ``job``) or the job schedule (``jobschedule``, passed by the
schedule driver). What the account must remember across a restart — which pool belongs to
which owner, its lifetime and ``keepAlive`` — is one :class:`AutoPool` per pool, stored in the
``auto_pools`` table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from poolscale.scheduler.autopools import auto_pool_id, creates_pool, deletes_pool
from poolscale.scheduler.kernel import SUBMIT
from poolscale.scheduler.models import AutoPoolSpecification, JobSpec, JobSpecification

from . import errors as E
from .account_jobs import _prefixed
from .ids import id_key, split_job_id
from .poolengine import checked_pool, floored, rest_spec

__all__ = ["AutoPool", "AutoPoolOperations", "AUTO_POOL", "given_auto_pool", "floored_job",
           "job_model"]

#: where an auto pool's specification sits in a job, as a refusal names it
AUTO_POOL = "poolInfo.autoPoolSpecification"


@dataclass
class AutoPool:
    """One auto pool that exists: its id, its owner (a job id for lifetime ``job``, a schedule
    id for ``jobschedule``), its specification (the model the rules read) and the
    specification as given (JSON, echoed by the job view and stored)."""

    pool_id: str
    owner: str
    spec: AutoPoolSpecification
    given: dict[str, Any]

    def row(self) -> dict[str, Any]:
        """The ``auto_pools`` row."""
        return {"pool_id": id_key(self.pool_id), "id": self.pool_id, "owner": self.owner,
                "lifetime": self.spec.pool_lifetime_option, "keep_alive": int(self.spec.keep_alive),
                "spec": json.dumps(self.given)}


def given_auto_pool(spec: Any) -> dict[str, Any] | None:
    """The ``autoPoolSpecification`` of a raw job body as given (a JSON copy), or None."""
    info = spec.get("poolInfo") if isinstance(spec, Mapping) else None
    auto = info.get("autoPoolSpecification") if isinstance(info, Mapping) else None
    if not isinstance(auto, Mapping):
        return None
    return rest_spec(auto)


def job_model(data: Mapping[str, Any]) -> JobSpec:
    """A known job's model read again (a restart, an update). A job a schedule made
    (``<scheduleId>:job-<n>``) is read as its schedule's ``jobSpecification`` under its id, as
    the schedule made it, so what only a schedule's job may hold (an auto pool of lifetime
    ``jobschedule``) stays legal."""
    data = dict(data)
    job_id = data.get("id")
    if isinstance(job_id, str) and ":" in job_id:
        del data["id"]
        return JobSpecification.model_validate(data).model_copy(update={"id": job_id})
    return JobSpec.model_validate(data)


def _floored_auto(auto: Mapping[str, Any], settings: Any) -> dict[str, Any]:
    """``auto`` with its pool's lowered evaluation interval read as create_pool reads it."""
    out = dict(auto)
    if isinstance(out.get("pool"), Mapping):
        out["pool"] = floored(out["pool"], settings)[0]
    return out


def floored_job(spec: Any, settings: Any) -> Any:
    """A raw job body whose auto pool's evaluation interval below the service's floor (allowed
    by the development setting ``min_evaluation_interval``) is read at the floor, so the job
    model accepts it; the pool itself is made from the body as given."""
    auto = given_auto_pool(spec)
    if auto is None:
        return spec
    info = dict(spec["poolInfo"])
    info["autoPoolSpecification"] = _floored_auto(auto, settings)
    return {**spec, "poolInfo": info}


class AutoPoolOperations:
    """Auto pools of :class:`~.account.Account` (see the module docstring). Engine-thread
    state: ``auto_pools`` (pool id key -> :class:`AutoPool`) and ``auto_pools_made`` (owner id
    key -> the counter of the last id made for it)."""

    def _check_auto_pool(self, given: Mapping[str, Any]) -> None:
        """The checks create_pool makes of a pool body, made of a job's auto pool when the job
        is added (calling thread), so a bad pool is a 400 naming
        ``poolInfo.autoPoolSpecification.pool.<field>`` then, not a failure when it is made."""
        body = {**given.get("pool", {}), "id": "autopool"}
        prefix = f"{AUTO_POOL}.pool"
        from .account import _refusal

        try:
            pool, _ = checked_pool(body, self.settings)
        except ValueError as e:
            raise _prefixed(_refusal(e, "pool"), prefix) from None
        if pool.enable_auto_scale:
            try:
                self._compile(pool.auto_scale_formula)
            except E.BatchError as e:       # the formula's own code, naming where it is
                raise E.BatchError(e.code, e.message, (
                    ("PropertyName", f"{prefix}.autoScaleFormula"),) + tuple(e.values)) from None
        try:
            self._check_certificate_references(body)
            if pool.start_task is not None:
                self._check_transfers(pool.start_task, "startTask.")
        except E.BatchError as e:
            raise _prefixed(e, prefix) from None

    def _same_auto_pool(self, entry: Any, pool_info: Mapping[str, Any]) -> bool:
        """Whether a job update's ``poolInfo`` is the job's own auto pool (a job's pool does
        not change): no ``poolId`` and an ``autoPoolSpecification`` equal to the job's once
        read (so the defaults a client fills in do not count as a change)."""
        if pool_info.get("poolId") is not None:
            return False
        given = given_auto_pool({"poolInfo": pool_info})
        if given is None:
            return False
        try:
            spec = AutoPoolSpecification.model_validate(_floored_auto(given, self.settings))
        except ValueError:
            return False
        return spec == entry.spec.pool_info.auto_pool_specification

    def _auto_pool_for(self, model: JobSpec, given: Mapping[str, Any] | None,
                       schedule_id: str | None) -> str:
        """The id of the pool the job ``model`` (about to be created, engine thread) runs on:
        a pool made now if ``creates_pool`` says so, else its schedule's pool."""
        spec = model.pool_info.auto_pool_specification
        assert spec is not None
        if given is None:
            given = json.loads(spec.model_dump_json(by_alias=True, exclude_unset=True))
        owner = schedule_id if spec.pool_lifetime_option == "jobschedule" else model.id
        if owner is None:
            raise E.invalid_property(f"{AUTO_POOL}.poolLifetimeOption", "jobschedule",
                                     "jobschedule applies only to job schedules")
        current = self._auto_pool_of(owner)
        if not creates_pool(spec, "job_created", first_job=current is None):
            assert current is not None
            return current.pool_id
        made = self.auto_pools_made
        n = made.get(id_key(owner), 0)
        while True:         # an id still taken (a kept-alive pool of an owner added again)
            n += 1
            pool_id = auto_pool_id(spec.auto_pool_id_prefix, owner, n)
            if id_key(pool_id) not in self.pools:
                break
        made[id_key(owner)] = n
        body = {**dict(given.get("pool", {})), "id": pool_id}
        self._create_pool_now(body)
        record = AutoPool(pool_id, owner, spec, dict(given))
        self.auto_pools[id_key(pool_id)] = record
        self._note("note_auto_pool", pool_id)
        return pool_id

    def _auto_pool_gone(self, pool_id: str) -> None:
        """The pool ``pool_id`` is gone (deleted by its owner's end or by a user): it is no
        one's auto pool any more (engine thread)."""
        if self.auto_pools.pop(id_key(pool_id), None) is not None:
            self._note("forget_auto_pool", pool_id)

    def _auto_pool_of(self, owner: str) -> AutoPool | None:
        """The auto pool of ``owner`` (the last made) that exists and is not being deleted,
        if any: a pool on its way out serves no new job and needs no second deletion."""
        key = id_key(owner)
        found = [r for r in self.auto_pools.values() if id_key(r.owner) == key
                 and not getattr(self.pools.get(id_key(r.pool_id)), "deleting", True)]
        return found[-1] if found else None

    def _auto_pool_job_ended(self, job_id: str) -> None:
        """The job ``job_id`` completed (or was deleted before it did): its own pool goes if
        ``deletes_pool`` says so (engine thread)."""
        record = self._auto_pool_of(job_id)
        if record is not None and record.spec.pool_lifetime_option == "job" \
                and deletes_pool(record.spec, "job_completed"):
            self._remove_auto_pool(record)

    def _auto_pool_schedule_ended(self, schedule_id: str, *, deleted: bool) -> None:
        """The job schedule ``schedule_id`` completed (``deleted``: was deleted): the pools
        of the schedule and of its jobs go where ``deletes_pool`` says so (the schedule's own,
        lifetime ``jobschedule``; a job's own, lifetime ``job``, when the schedule is deleted
        with the job still there). For the schedule driver (engine thread)."""
        key = id_key(schedule_id)
        event = "schedule_deleted" if deleted else "schedule_completed"
        for record in list(self.auto_pools.values()):
            owner = record.owner
            mine = id_key(owner) == key or (
                ":" in owner and id_key(split_job_id(owner)[0]) == key)
            if mine and deletes_pool(record.spec, event):
                self._remove_auto_pool(record)

    def _remove_auto_pool(self, record: AutoPool) -> None:
        """Delete the record's pool at this instant, as a kernel event: the owner's end is
        heard inside a pool's own rules (a job's completion), where the pool cannot be taken
        apart. The record stays until the pool is gone (``_auto_pool_gone``), so a restart
        before the deletion still finds the pool's owner ended and deletes it then."""
        self.kernel.at(self.kernel.now, SUBMIT, self._delete_auto_pool, record.pool_id)

    def _delete_auto_pool(self, pool_id: str, _: Any = None) -> None:
        pool = self.pools.get(id_key(pool_id))
        if pool is not None and not pool.deleting:
            self._delete_pool_now(pool)

    def _stand_in_pool(self, entry: Any, persist: Any = None) -> Any:
        """An engine for a job that has ended without its pool: a job terminated while it
        waited for a pool that does not exist, or one restored after its auto pool was deleted.
        It has the pool's id (and an auto pool's specification), is never started nor listed,
        and holds the job so that it keeps its state, times and tasks as its view shows them;
        a pool created later with that id finds the job placed and leaves it."""
        from .poolengine import PoolEngine

        auto = entry.spec.pool_info.auto_pool_specification
        body = (auto.pool.model_copy(update={"id": entry.pool_id}) if auto is not None
                else {"id": entry.pool_id, "vmSize": "STANDARD_D2_v3"})
        if persist is None:                 # recovery passes its persister: none on self yet
            persist = getattr(self, "_persist", None)
        return PoolEngine(body, kernel=self.kernel, start_ticks=self.start_ticks,
                          settings=self.settings, node_dirs=self.node_dirs, seed=self.seed,
                          on_event=None if persist is None else _job_events(persist, entry),
                          on_job_ended=self._on_job_ended)

    def _restore_auto_pools(self, rows: list[dict[str, Any]], ended: set[str]) -> None:
        """Read back the ``auto_pools`` rows (recovery, after pools and jobs): a pool that did
        not survive is forgotten, and one whose owner job ``ended`` (its end was not yet
        applied) goes now."""
        for row in rows:
            if row["pool_id"] not in self.pools:
                self._note("forget_auto_pool", row["id"])
                continue
            given = json.loads(row["spec"])
            spec = AutoPoolSpecification.model_validate(_floored_auto(given, self.settings))
            record = AutoPool(row["id"], row["owner"], spec, given)
            self.auto_pools[row["pool_id"]] = record
            if id_key(record.owner) in ended:
                self._auto_pool_job_ended(record.owner)


def _job_events(persist: Any, entry: Any) -> Any:
    """The ``on_event`` of a stand-in engine: its job's and tasks' changes are stored (the
    tasks get their rows' order); it has no pool row of its own to store."""
    hook = persist.event_hook(entry.pool_id)

    def on_event(event: tuple) -> None:
        if event[1].startswith(("task", "job")):
            hook(event)
    return on_event
