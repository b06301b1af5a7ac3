"""What the REST API accepts in a request body that the simulator's models would also accept:
everything but the simulator's own fields.

The account builds its pools, jobs and tasks with the simulator's models (scheduler/models.py),
which take the Batch REST properties *and* a few of poolscale's own: a pool's ``simulation``
section, a task's ``duration``, ``exitCodes`` (or ``exitCode``), ``submitTime`` and ``profile``,
the job's inline ``tasks`` and simulated ``creationTime``, the ``duration`` and
``failureProbability`` of preparation and release tasks. Through the REST API those would let a
caller fake what a real run decides (a task that "exits" 3 without running, a job "created"
yesterday), and the Batch REST API has no such properties, so :func:`rest_body` refuses them
with the service's ``UnsupportedProperty`` (400), naming the property by its path
(``jobManagerTask.exitCodes``, ``value[3].duration``), before the account sees the body. The
snake_case spellings the models also accept (``exit_codes``) are refused alike.

A job schedule's ``jobSpecification`` is a job and is checked as one
(``jobSpecification.tasks``, ``jobSpecification.jobManagerTask.duration``). Its ``schedule``
times are instants: the models also take a number there (seconds after a simulation's start),
which means nothing to a live account, so a number is ``InvalidPropertyValue`` naming
``schedule.doNotRunUntil`` / ``schedule.doNotRunAfter``.

Only these names are refused, and only where the models give them that meaning: a task's
``exitConditions.exitCodes`` is the REST API's own and passes. Every other property passes to
the account unchanged (the account and its models refuse what they do not know).
"""

from __future__ import annotations

from typing import Any, Mapping

from poolscale.runtime.service.errors import BatchError, invalid_property

__all__ = ["SIMULATOR_FIELDS", "BODY_KINDS", "rest_body"]

#: The simulator's fields, by the section of a body they are refused in (camelCase, as the
#: models' aliases spell them; the snake_case spellings are added below).
SIMULATOR_FIELDS: Mapping[str, tuple[str, ...]] = {
    "pool": ("simulation",),
    "job": ("tasks", "creationTime"),
    "task": ("submitTime", "duration", "exitCodes", "exitCode", "profile"),
    "jobManagerTask": ("duration", "exitCodes", "exitCode", "profile"),
    "jobPreparationTask": ("duration", "failureProbability"),
    "jobReleaseTask": ("duration", "failureProbability"),
}


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


_REFUSED = {section: frozenset(names) | frozenset(_snake(n) for n in names)
            for section, names in SIMULATOR_FIELDS.items()}

#: Which section rules each kind of body is checked by (its top level first). Kinds without a
#: simulator field (resize, autoscale, disable, terminate, ...) are listed so that a typo in a
#: handler's kind is an error, not a silent pass.
BODY_KINDS: Mapping[str, str | None] = {
    "pool": "pool", "pool-update": "pool", "pool-replace": "pool",
    "pool-resize": None, "pool-enable-autoscale": None, "pool-evaluate-autoscale": None,
    "pool-remove-nodes": None,
    "job": "job", "job-update": "job", "job-replace": "job",
    "job-disable": None, "job-terminate": None,
    "task": "task", "task-replace": "task", "task-collection": "task-collection",
    "node-reboot": None, "node-reimage": None, "node-deallocate": None,
    "node-disable-scheduling": None, "certificate": None,
    "job-schedule": "job-schedule", "job-schedule-update": "job-schedule",
    "job-schedule-replace": "job-schedule",
}

#: the instants of a schedule's ``schedule`` section (rfc3339 text over REST)
_SCHEDULE_INSTANTS = ("doNotRunUntil", "doNotRunAfter")

_REASON = "a poolscale simulation field, not a property of the Batch REST API"


def _refuse(path: str) -> BatchError:
    return BatchError("UnsupportedProperty",
                      f"The request body has the property {path}, which the Batch REST API "
                      "does not have (it is a poolscale simulation field).",
                      (("PropertyName", path), ("Reason", _REASON)))


def _check(body: Any, section: str, prefix: str) -> None:
    if not isinstance(body, Mapping):
        return
    refused = _REFUSED[section]
    for name in body:
        if name in refused:
            raise _refuse(prefix + name)
    if section == "job":
        for sub in ("jobManagerTask", "jobPreparationTask", "jobReleaseTask"):
            _check(body.get(sub), sub, f"{prefix}{sub}.")
        info = body.get("poolInfo")
        auto = info.get("autoPoolSpecification") if isinstance(info, Mapping) else None
        if isinstance(auto, Mapping):
            _check(auto.get("pool"), "pool", f"{prefix}poolInfo.autoPoolSpecification.pool.")


def _check_schedule(body: Any) -> None:
    if not isinstance(body, Mapping):
        return
    _check(body.get("jobSpecification"), "job", "jobSpecification.")
    schedule = body.get("schedule")
    if isinstance(schedule, Mapping):
        for name in _SCHEDULE_INSTANTS:
            value = schedule.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                raise invalid_property(f"schedule.{name}", value,
                                       "must be an rfc3339 date-time, not a number")


def rest_body(body: dict, kind: str) -> dict:
    """``body`` unchanged if it holds no simulator field for a ``kind`` body
    (:data:`BODY_KINDS`); otherwise ``UnsupportedProperty`` naming the first one found."""
    if kind not in BODY_KINDS:
        raise ValueError(f"rest_body knows no body kind {kind!r}; the kinds are "
                         f"{', '.join(BODY_KINDS)}")
    section = BODY_KINDS[kind]
    if section == "task-collection":
        tasks = body.get("value") if isinstance(body, Mapping) else None
        if isinstance(tasks, list):
            for i, task in enumerate(tasks):
                _check(task, "task", f"value[{i}].")
    elif section == "job-schedule":
        _check_schedule(body)
    elif section is not None:
        _check(body, section, "")
    return body
