"""The series variables of docs/language.md#series-variables and how a user-written name maps onto
one.

Scenario files, CSV headers and DataFrame columns name series loosely (``PendingTasks``,
``$pendingtasks``), while the formula checker, error details (docs/language.md#window-arithmetic:
"⟨$Name⟩ is the canonical variable name") and the store all key on the canonical ``$Name``. Keeping
the one table and the one normalisation here means every loader agrees on which spellings are the
same series.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

__all__ = ["PERCENT_SERIES", "SERIES_VARIABLES", "canonical_series_name", "is_series_variable"]

#: Canonical names, in the order of the docs/language.md#series-variables table.
SERIES_VARIABLES: tuple[str, ...] = (
    "$CPUPercent",
    "$WallClockSeconds",
    "$MemoryBytes",
    "$DiskBytes",
    "$DiskReadBytes",
    "$DiskWriteBytes",
    "$DiskReadOps",
    "$DiskWriteOps",
    "$NetworkInBytes",
    "$NetworkOutBytes",
    "$SampleNodeCount",
    "$ActiveTasks",
    "$RunningTasks",
    "$PendingTasks",
    "$SucceededTasks",
    "$FailedTasks",
    "$PreemptedNodeCount",
    "$UsableNodeCount",
)

#: The series whose samples are percentages, 0 to 100 (not fractions): a formula that compares
#: them with 0.7 means 70 (the ``FractionForPercent`` lint). Every other series counts tasks,
#: nodes, bytes, operations or seconds.
PERCENT_SERIES: frozenset[str] = frozenset({"$CPUPercent"})

# Keyed by the lower-cased name without its '$', so one dict lookup serves
# both the '$'-prefixed and the bare spelling.
_BY_FOLDED: Mapping[str, str] = MappingProxyType(
    {name[1:].lower(): name for name in SERIES_VARIABLES}
)

_CANONICAL: frozenset[str] = frozenset(SERIES_VARIABLES)


def canonical_series_name(name: str) -> str | None:
    """Return the canonical ``$Name`` for *name*, or ``None`` if it is no series.

    Matching ignores case and accepts at most one leading ``$`` (docs/language.md#scenario-file:
    keys name series "with or without the ``$``"). Surrounding whitespace is not stripped: a key
    with stray blanks is a different key, and saying so is kinder than guessing.
    """
    if name in _CANONICAL:  # the common case costs one set lookup
        return name
    if not isinstance(name, str):
        return None
    bare = name[1:] if name.startswith("$") else name
    return _BY_FOLDED.get(bare.lower())


def is_series_variable(name: str) -> bool:
    """True when *name* is exactly a canonical series name (case-sensitive)."""
    return name in _CANONICAL
