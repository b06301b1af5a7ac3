"""An account's core quotas, shared by its pools (docs/simulation-model.md#quotas-and-the-configured-maximum).

Azure Batch counts core quotas per account: the dedicated cores of all its pools together, and
the low-priority cores likewise. A simulation has one pool, so its quota is that pool's alone
and fixed for the run (``Engine._init_pool`` turns it into a number of nodes once). The live
service runs several pools in one account: each pool's share is what the others leave, so it
is read again whenever the pool is about to ask for nodes or apply an autoscale run.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CoreQuota"]


class CoreQuota:
    """The account's quota in cores per node kind (``None``: unlimited), and the pools that
    share it. A pool registers with :meth:`Engine.share_core_quota`."""

    def __init__(self, dedicated: int | None, low_priority: int | None) -> None:
        for name, value in (("dedicated", dedicated), ("low_priority", low_priority)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < 0):
                raise ValueError(f"{name} core quota must be a whole number >= 0 or None, "
                                 f"not {value!r}")
        self.limit = [dedicated, low_priority]
        self.pools: list[Any] = []

    def held(self, kind: int, *, besides: Any = None) -> int:
        """Cores of ``kind`` that the pools hold (every node present counts: creating,
        starting, running, leaving; a preempted node too, as the service counts it until
        it is gone), leaving out the pool ``besides``."""
        return sum(p.n_present[kind] * p.cores for p in self.pools if p is not besides)

    def nodes_for(self, pool: Any, kind: int) -> int | None:
        """How many nodes of ``kind`` ``pool`` may hold in all, given what the other pools
        hold; ``None`` when the quota of that kind is unlimited."""
        limit = self.limit[kind]
        if limit is None:
            return None
        room = limit - self.held(kind, besides=pool)
        return room // pool.cores if room > 0 else 0
