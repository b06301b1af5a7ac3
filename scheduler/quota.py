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

    def __init__(self, dedicated: int | None, low_priority: int | None, *,
                 max_nodes: int | None = None) -> None:
        """``max_nodes``: the most nodes the account's pools may hold together, both kinds
        (``None``: no such limit). A local account has one, so that a formula cannot fill a
        laptop's process table; it cuts a pool's share as a core quota does."""
        for name, value in (("dedicated", dedicated), ("low_priority", low_priority)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < 0):
                raise ValueError(f"{name} core quota must be a whole number >= 0 or None, "
                                 f"not {value!r}")
        if max_nodes is not None and (not isinstance(max_nodes, int) or isinstance(max_nodes, bool)
                                      or max_nodes < 0):
            raise ValueError(f"max_nodes must be a whole number >= 0 or None, not {max_nodes!r}")
        self.limit = [dedicated, low_priority]
        self.max_nodes = max_nodes
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
        by_cores = None
        if limit is not None:
            room = limit - self.held(kind, besides=pool)
            by_cores = room // pool.cores if room > 0 else 0
        if self.max_nodes is None:
            return by_cores
        others = sum(p.n_present[0] + p.n_present[1] for p in self.pools if p is not pool)
        by_count = max(0, self.max_nodes - others - pool.n_present[1 - kind])
        return by_count if by_cores is None else min(by_cores, by_count)
