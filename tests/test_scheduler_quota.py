"""Core quotas shared by the pools of one account (scheduler/quota.py).

The service counts an account's dedicated and low-priority cores over all its pools. A
simulation has one pool and a fixed quota; the live service has several pools that read their
share again before each resize and each autoscale run. Two simulations sharing one
:class:`CoreQuota` stand for two pools of one account here: the first holds its nodes when the
second starts.
"""

from __future__ import annotations

import pytest

from poolscale.scheduler import Simulation
from poolscale.scheduler.quota import CoreQuota

T0 = "2026-01-05T00:00:00Z"


def pool(id: str, **kw) -> dict:
    return {"id": id, "vmSize": "STANDARD_D2_v3",
            "simulation": {"allocationTime": 0, "bootTime": 0, "coresPerNode": 2}, **kw}


def sharing(quota: CoreQuota):
    class SharedQuota(Simulation):
        def _init_pool(self, spec, core_quota=None):
            super()._init_pool(spec, quota)
    return SharedQuota


def kinds(sim, *wanted):
    # the event log only: the report's quota wording is the simulator's (one pool, its own quota)
    return [e for e in sim.events if e[1] in wanted]


def test_a_fixed_pool_gets_what_the_other_pools_leave():
    quota = CoreQuota(8, None)
    first = sharing(quota)(pool("a", targetDedicatedNodes=3), {"jobs": []}, start=T0, horizon=600).run()
    assert first.n_present == [3, 0]
    second = sharing(quota)(pool("b", targetDedicatedNodes=3), {"jobs": []}, start=T0, horizon=600).run()
    # 8 cores, 6 held by the first pool: one 2-core node, and the service's quota error
    assert second.n_present == [1, 0] and second.quota_nodes == [1, None]
    assert kinds(second, "pool.resize_error") == [(0.0, "pool.resize_error", "AccountCoreQuotaReached")]
    assert quota.held(0) == 8 and quota.held(1) == 0


def test_an_autoscale_pool_is_clamped_to_its_share():
    quota = CoreQuota(10, 4)
    sharing(quota)(pool("a", targetDedicatedNodes=4), {"jobs": []}, start=T0, horizon=600).run()
    formula = "$TargetDedicatedNodes = 5; $TargetLowPriorityNodes = 1;"
    second = sharing(quota)(pool("b", enableAutoScale=True, autoScaleFormula=formula),
                            {"jobs": []}, start=T0, horizon=600).run()
    # (10 - 8) // 2 = 1 dedicated node; the low-priority quota is the pool's alone: 4 // 2 = 2
    assert second.target == [1, 1] and second.n_present == [1, 1]
    assert second.max_nodes == [1, 2]
    assert ("pool.resize_error", "AccountCoreQuotaReached") in [e[1:] for e in second.events]


def test_nodes_for_counts_every_other_pools_nodes():
    class P:
        def __init__(self, present, cores):
            self.n_present, self.cores = present, cores

    quota = CoreQuota(20, 0)
    a, b, c = P([3, 5], 4), P([1, 0], 2), P([0, 0], 3)
    quota.pools = [a, b, c]
    assert quota.held(0) == 14 and quota.held(0, besides=a) == 2
    assert quota.nodes_for(c, 0) == 2          # 20 - 14 = 6 cores, 3 per node
    assert quota.nodes_for(a, 0) == 4          # 20 - 2 = 18 cores, 4 per node
    assert quota.nodes_for(c, 1) == 0
    assert CoreQuota(None, None).nodes_for(c, 0) is None
    b.n_present = [9, 0]                       # the others hold more than the quota
    assert quota.nodes_for(c, 0) == 0


@pytest.mark.parametrize("bad", [-1, 1.5, True, "8"])
def test_a_quota_is_a_whole_number(bad):
    with pytest.raises(ValueError, match=r"^dedicated core quota must be a whole number >= 0 or None, not "):
        CoreQuota(bad, None)


def test_a_node_limit_counts_every_pools_nodes_of_both_kinds():
    class P:
        def __init__(self, present, cores):
            self.n_present, self.cores = present, cores

    quota = CoreQuota(None, 100, max_nodes=10)
    a, b = P([3, 2], 4), P([1, 1], 2)
    quota.pools = [a, b]
    assert quota.nodes_for(b, 0) == 4        # 10 - (3 + 2) - b's 1 low-priority node
    assert quota.nodes_for(b, 1) == 4        # the cores allow 50; the node limit 10 - 5 - 1
    assert quota.nodes_for(a, 0) == 6        # 10 - 2 - 2
    with pytest.raises(ValueError, match=r"^max_nodes must be a whole number >= 0 or None, not -1$"):
        CoreQuota(None, None, max_nodes=-1)


def test_an_autoscale_pool_is_clamped_to_the_node_limit():
    quota = CoreQuota(None, None, max_nodes=3)
    formula = "$TargetDedicatedNodes = 1000;"
    sim = sharing(quota)(pool("a", enableAutoScale=True, autoScaleFormula=formula),
                         {"jobs": []}, start=T0, horizon=600).run()
    assert sim.target == [3, 0] and sim.n_present == [3, 0]
