"""The mutable state of one run: variables, target slots, the option, the clock.

Targets follow docs/language.md#targets-and-the-deallocation-option: a full name and its alias share
one current value (what a read returns) but record assignments in separate slots; the full name wins
at the end. The offset of the last assignment to each slot is kept because an ``InvalidTargetValue``
is positioned at the target name of that assignment (docs/language.md#error-codes).
"""

from __future__ import annotations

import random

from .poolstate import PoolState
from .values import Option, Timestamp

UNSET = None


class TargetSlots:
    __slots__ = ("current", "full", "full_at", "alias", "alias_at")

    def __init__(self, initial: float) -> None:
        self.current = initial
        self.full = UNSET
        self.full_at = -1
        self.alias = UNSET
        self.alias_at = -1

    def assign(self, value: float, alias: bool, offset: int) -> None:
        self.current = value
        if alias:
            self.alias, self.alias_at = value, offset
        else:
            self.full, self.full_at = value, offset

    def final(self) -> tuple[float, int]:
        """The final value and the offset of the deciding assignment (-1: none)."""
        if self.full is not UNSET:
            return self.full, self.full_at
        if self.alias is not UNSET:
            return self.alias, self.alias_at
        return self.current, -1


class RunState:
    """Everything a compiled formula reads and writes during one run."""

    __slots__ = ("vars", "store", "now", "pool", "seed", "_rng", "dedicated", "lowpriority",
                 "option", "now_stamp")

    def __init__(self, store, now: int, pool: PoolState, seed: int | None = None,
                 rng: random.Random | None = None) -> None:
        self.vars: dict[str, object] = {}
        self.store = store
        self.now = now
        self.now_stamp = Timestamp(now)
        self.pool = pool
        self.seed = seed
        self._rng = rng
        self.dedicated = TargetSlots(pool.dedicated_target)
        self.lowpriority = TargetSlots(pool.low_priority_target)
        self.option = Option.REQUEUE

    def random(self) -> float:
        """The next ``rand()`` draw. A run's generator is fresh and seeded
        (docs/language.md#functions); it is made on the first draw so that runs without ``rand()``
        pay nothing."""
        rng = self._rng
        if rng is None:
            rng = self._rng = random.Random(self.seed)
        return rng.random()
