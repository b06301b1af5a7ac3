"""Ids of pools, nodes, jobs and tasks, checked by the Batch rule before anything uses them.

The Batch service accepts an id of 1 to 64 characters, each an ASCII letter, a digit, a hyphen
or an underscore, and compares ids without regard to case (two pools ``Render`` and ``render``
cannot coexist in one account). The live engine checks the rule for a second reason: ids become
directory names under the work root (``<poolId>/<nodeId>/workitems/<jobId>/job-1/<taskId>``),
so an id such as ``..`` or ``a/b`` must be refused before it reaches the disk. The rule admits
no dot and no separator, so a valid id is always one plain path component.

The check lives here, not in ``scheduler/models.py``: simulator workloads whose ids break the
rule (they never touch a disk) must keep loading. The REST layer reuses :func:`check_id` and
turns :class:`InvalidId` into the service's error body through :attr:`InvalidId.code` and
:attr:`InvalidId.values`.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MAX_ID_LENGTH", "ID_RULE", "InvalidId", "check_id", "id_key"]

#: The longest id the service accepts.
MAX_ID_LENGTH = 64

#: The rule in words, as every refusal states it.
ID_RULE = (f"an id has 1 to {MAX_ID_LENGTH} characters, each an ASCII letter, a digit, "
           "a hyphen (-) or an underscore (_)")

_ALLOWED = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)
_FIRST_BAD = re.compile(r"[^A-Za-z0-9_-]", re.ASCII)


class InvalidId(ValueError):
    """An id that breaks the Batch rule; Batch error code ``InvalidPropertyValue``.

    ``property`` is the REST property that held it (``id`` in a pool, job or task body,
    ``poolInfo.poolId`` in a job, ...), ``value`` the id as given, ``reason`` what is wrong.
    """

    code = "InvalidPropertyValue"

    def __init__(self, property: str, value: Any, reason: str) -> None:
        self.property = property
        self.value = value
        self.reason = reason
        super().__init__(f"{property} {_shown(value)} is invalid: {reason}")

    @property
    def values(self) -> dict[str, str]:
        """The error's detail as the service lists it (``PropertyName``, ``PropertyValue``,
        ``Reason``)."""
        return {"PropertyName": self.property, "PropertyValue": str(self.value), "Reason": self.reason}


def _shown(value: Any) -> str:
    """The value as a message quotes it, cut at 60 characters (an id may be a whole file's
    worth of text; ``poolscale.scheduler.documents.shown`` does the same but would load the
    scheduler's models for a module the REST layer imports on every request)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
