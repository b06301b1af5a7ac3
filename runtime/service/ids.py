"""Ids of pools, nodes, jobs and tasks, checked by the Batch rule before anything uses them.

The Batch service accepts an id of 1 to 64 characters, each an ASCII letter, a digit, a hyphen
or an underscore, and compares ids without regard to case (two pools ``Render`` and ``render``
cannot coexist in one account). The live engine checks the rule for a second reason: ids become
directory names under the work root (``<poolId>/<nodeId>/workitems/<jobId>/job-1/<taskId>``),
so an id such as ``..`` or ``a/b`` must be refused before it reaches the disk. The rule admits
no dot and no separator, so a valid id is always one plain path component.

The check lives here, not in ``scheduler/models.py``: simulator workloads whose ids break the
rule (they never touch a disk) must keep loading. :class:`InvalidId` is the Batch error
``InvalidPropertyValue`` (``runtime/service/errors.py``): the account raises it as it is, and the
REST layer turns it into the service's 400 body naming the property, like any other
:class:`~poolscale.runtime.service.errors.BatchError`.

One exception to the rule: the jobs a job schedule makes are named ``<scheduleId>:job-<n>``
(``nightly:job-3``), as the service names them. The colon is allowed in that shape only, and only
where the service makes the id (:func:`check_job_id` with ``allow_schedule=True``); a job id a
user gives may never hold one. On a node such a job lives at
``workitems/<scheduleId>/job-<n>/`` and a plain job at ``workitems/<jobId>/job-1/``:
:func:`split_job_id` gives the two directory names, each a valid id, so the colon never reaches
the disk.
"""

from __future__ import annotations

import re
from typing import Any

from poolscale.runtime.service.errors import BadRequest, invalid_property

__all__ = ["MAX_ID_LENGTH", "ID_RULE", "JOB_SEGMENT", "InvalidId", "check_id", "check_job_id",
           "split_job_id", "id_key"]

#: The longest id the service accepts.
MAX_ID_LENGTH = 64

#: The rule in words, as every refusal states it.
ID_RULE = (f"an id has 1 to {MAX_ID_LENGTH} characters, each an ASCII letter, a digit, "
           "a hyphen (-) or an underscore (_)")

_ALLOWED = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)
_FIRST_BAD = re.compile(r"[^A-Za-z0-9_-]", re.ASCII)

#: The directory segment of a plain job's tasks under ``workitems/<jobId>/``: every plain job
#: is the first (and only) job of its work item, as in the 2015 design.
JOB_SEGMENT = "job-1"

#: A job of a job schedule: ``<scheduleId>:job-<n>``, n from 1 without leading zeros.
_SCHEDULE_JOB = re.compile(r"([^:]*):(job-[1-9][0-9]*)", re.ASCII)

#: Why a colon is refused in an id a user gives.
_COLON_REASON = ("; this one contains ':', which only the jobs a job schedule makes have "
                 "(<scheduleId>:job-<n>)")


class InvalidId(BadRequest, ValueError):
    """An id that breaks the Batch rule: Batch error ``InvalidPropertyValue`` (HTTP 400).

    ``property`` is the REST property that held it (``id`` in a pool, job or task body,
    ``poolInfo.poolId`` in a job, ...), ``value`` the id as given, ``reason`` what is wrong; the
    error's ``values`` list the three as ``PropertyName``, ``PropertyValue`` and ``Reason``, as
    :func:`~poolscale.runtime.service.errors.invalid_property` does for any property. It stays a
    ``ValueError`` too, for callers that check ids without caring about Batch.
    """

    def __init__(self, property: str, value: Any, reason: str) -> None:
        self.property = property
        self.value = value
        self.reason = reason
        detail = invalid_property(property, value, reason)
        super().__init__(detail.code, detail.message, detail.values)


def check_id(value: Any, property: str = "id") -> str:
    """``value`` if it is a valid Batch id; otherwise :class:`InvalidId` naming ``property``."""
    if not isinstance(value, str):
        raise InvalidId(property, value, f"an id is a string, not {type(value).__name__}")
    if not value:
        raise InvalidId(property, value, ID_RULE + "; this one is empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidId(property, value, ID_RULE + f"; this one has {len(value)}")
    if not _ALLOWED.fullmatch(value):
        bad = _FIRST_BAD.search(value)
        assert bad is not None
        raise InvalidId(property, value, ID_RULE + f"; this one contains {bad.group()!r}")
    return value


def check_job_id(value: Any, property: str = "id", *, allow_schedule: bool = False) -> str:
    """``value`` if it is a valid job id; otherwise :class:`InvalidId` naming ``property``.

    A job id a user gives (``allow_schedule=False``, the default) follows the Batch rule of
    :func:`check_id`; a colon is refused with a reason that says where colons come from. The
    schedule driver, which names the jobs it makes, passes ``allow_schedule=True`` so that
    ``<scheduleId>:job-<n>`` (with a valid schedule id) is accepted too.
    """
    if allow_schedule and isinstance(value, str) and _SCHEDULE_JOB.fullmatch(value):
        split_job_id(value, property)
        return value
    if isinstance(value, str) and ":" in value and len(value) <= MAX_ID_LENGTH:
        raise InvalidId(property, value, ID_RULE + _COLON_REASON)
    return check_id(value, property)


def split_job_id(job_id: Any, property: str = "jobId") -> tuple[str, str]:
    """The two directory names of a job on a node: ``(work item, segment)``.

    ``"nightly:job-3"`` (a job schedule's job) gives ``("nightly", "job-3")``, a plain ``"job1"``
    gives ``("job1", "job-1")``. Both names are valid ids, so each is one plain path component;
    anything else (a colon in another shape, an id that breaks the rule) is :class:`InvalidId`
    naming ``property``. Lookups of existing jobs use it as they are: it never refuses an id
    that :func:`check_job_id` accepted.
    """
    if isinstance(job_id, str):
        match = _SCHEDULE_JOB.fullmatch(job_id)
        if match is not None:
            schedule_id, segment = match.groups()
            try:
                check_id(schedule_id, property)
            except InvalidId as e:
                tail = e.reason[len(ID_RULE) + 2:]  # check_id's reasons all start with the rule
                raise InvalidId(property, job_id,
                                f"{ID_RULE}; its job schedule id {schedule_id!r} breaks it ({tail})") from None
            return schedule_id, segment
    return check_job_id(job_id, property), JOB_SEGMENT


def id_key(value: str) -> str:
    """The form two ids are compared in: the service keeps an id's case but compares without
    it. Valid ids are ASCII, so lowering is exact (no locale, no Unicode folding)."""
    return value.lower()
