"""The pool as a formula sees it at the instant of a run.

The evaluator reads the read-only scalars ($CurrentDedicatedNodes, ...) and the
current targets (the value of $TargetDedicatedNodes before it is assigned) from
this snapshot; it never reads a live pool, so a run is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolState:
    """Counts and targets of a pool at one instant (docs/language.md#read-only-scalars,
    docs/language.md#targets-and-the-deallocation-option, docs/language.md#scenario-file).

    ``target_dedicated`` / ``target_low_priority`` default to the current counts,
    as a scenario file's pool does.
    """

    current_dedicated: float = 0.0
    current_low_priority: float = 0.0
    target_dedicated: float | None = None
    target_low_priority: float | None = None
    task_slots_per_node: float = 1.0

    @property
    def dedicated_target(self) -> float:
        t = self.target_dedicated
        return float(self.current_dedicated if t is None else t)

    @property
    def low_priority_target(self) -> float:
        t = self.target_low_priority
        return float(self.current_low_priority if t is None else t)
