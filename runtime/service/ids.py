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
"""

from __future__ import annotations

import re
from typing import Any

from poolscale.runtime.service.errors import BadRequest, invalid_property

__all__ = ["MAX_ID_LENGTH", "ID_RULE", "InvalidId", "check_id", "id_key"]

#: The longest id the service accepts.
MAX_ID_LENGTH = 64

#: The rule in words, as every refusal states it.
ID_RULE = (f"an id has 1 to {MAX_ID_LENGTH} characters, each an ASCII letter, a digit, "
           "a hyphen (-) or an underscore (_)")

_ALLOWED = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)
_FIRST_BAD = re.compile(r"[^A-Za-z0-9_-]", re.ASCII)


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


def id_key(value: str) -> str:
    """The form two ids are compared in: the service keeps an id's case but compares without
    it. Valid ids are ASCII, so lowering is exact (no locale, no Unicode folding)."""
    return value.lower()
