"""Auto pools: the id a made pool gets, and which owner event makes or removes it.

An auto pool (``poolInfo.autoPoolSpecification``) is an ordinary pool whose life follows its
owner. With ``poolLifetimeOption: job`` every job gets its own pool (on a schedule: one per job
the schedule makes), removed when that job completes; with ``jobschedule`` the schedule's first
job makes it and it goes when the schedule completes or is deleted. ``keepAlive: true`` means
never removed automatically. Both drivers (simulator, live account) ask these functions, so
the two clocks agree.

Ids are ``<autoPoolIdPrefix>_<UUID>`` (the bare UUID without a prefix), like the service's
prefix plus a trailing GUID. The UUID is derived from the account, the owner and a counter
(uuid5), not drawn at random, so a simulated run replays with the same ids.
"""

from __future__ import annotations

import uuid
from typing import Literal

from .models import AutoPoolSpecification

__all__ = ["EVENTS", "auto_pool_id", "creates_pool", "deletes_pool"]

Event = Literal["job_created", "job_completed", "schedule_completed", "schedule_deleted"]
EVENTS: tuple[str, ...] = ("job_created", "job_completed", "schedule_completed", "schedule_deleted")

#: A fixed namespace for the uuid5 ids (any constant would do; this one names the project).
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "poolscale.autopool")


def auto_pool_id(prefix: str | None, owner_id: str, n: int, account: str = "poolscale") -> str:
    """The id of the ``n``-th auto pool made for ``owner_id`` (a job or a schedule id): at most
    20 + 1 + 36 = 57 characters, within the 64 a pool id may have."""
    guid = str(uuid.uuid5(_NAMESPACE, f"{account}\n{owner_id}\n{n}")).upper()
    return guid if not prefix else f"{prefix}_{guid}"


def _check(event: str) -> None:
    if event not in EVENTS:
        raise ValueError(f"unknown auto pool event {event!r}; one of {', '.join(EVENTS)}")


def creates_pool(spec: AutoPoolSpecification, event: str, *, first_job: bool = True) -> bool:
    """Whether ``event`` makes a pool: every job's creation for lifetime ``job``, only the
    schedule's first job (``first_job``) for lifetime ``jobschedule``."""
    _check(event)
    if event != "job_created":
        return False
    return spec.pool_lifetime_option == "job" or first_job


def deletes_pool(spec: AutoPoolSpecification, event: str) -> bool:
    """Whether ``event`` removes the owner's pool: the job's completion for lifetime ``job``,
    the schedule's completion or deletion for ``jobschedule``; never with ``keepAlive``. A job
    deleted before it completed counts as completed (the driver says ``job_completed``)."""
    _check(event)
    if spec.keep_alive:
        return False
    if spec.pool_lifetime_option == "job":
        # A job's own pool also goes if its schedule is deleted with the job still active.
        return event in ("job_completed", "schedule_deleted")
    return event in ("schedule_completed", "schedule_deleted")
