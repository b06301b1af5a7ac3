"""Placement through the filtered slot views (scheduler/nodes.py: SlotView).

A task of a job whose preparation task failed for good on some nodes, a job manager, and a
multi-instance task used to be placed by scanning every node of the pool on every attempt:
O(nodes) an attempt, O(nodes²) a run when the preparation task fails on every node, so a pool
a formula drives to its cap never finished (a hang the hostile-input test could draw). The
views must choose exactly the node the scan chose: the checks here run the scan, kept below as
the reference, against the views, event for event.
"""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from poolscale.scheduler import Simulation
from poolscale.scheduler.nodes import DEDICATED

from test_scheduler_invariants import scenarios


class ScanningSimulation(Simulation):
    """The placement of before the views: a scan of every node in id order."""

    def _find(self, task, excluded):
        if task.affinity is not None:
            node = self.nodes.get(task.affinity)
            if node is not None and self._eligible(node, task):
                return node
        if excluded or task.is_jm:
            best = None
            for node in self.nodes.values():
                if not self._eligible(node, task):
                    continue
                if best is None or (node.used > best.used if self.pack else node.used < best.used):
                    best = node
            return best
        return self.index.find_pack(task.slots) if self.pack else self.index.find_spread(task.slots)

    def _find_mi(self, task, excluded):
        nodes = self.index.empty_nodes()
        if excluded:
            nodes = [n for n in nodes if task.job not in n.excluded]
        return nodes[: task.inst] if len(nodes) >= task.inst else None


def _same_runs(pool, workload, seed, horizon=3000):
    a = Simulation(pool, workload, horizon=horizon, seed=seed).run().result()
    b = ScanningSimulation(pool, workload, horizon=horizon, seed=seed).run().result()
    assert a.events == b.events and a.report == b.report and a.timeline_rows == b.timeline_rows
    return a


@st.composite
def failing_preparations(draw):
    """The invariant scenarios with a preparation task on most jobs that often fails for good
    (exclusions), pools big enough to hold excluded and eligible nodes side by side, job
    managers restricted to dedicated nodes or exclusive, multi-instance tasks on one-slot
    pools, and node losses (exclusions cleared)."""
    _option, seed, pool, workload = draw(scenarios())
    r = random.Random(seed)
    sim = pool["simulation"]
    sim.pop("dedicatedCoreQuota", None)
    if r.random() < 0.5:
        sim["nodeFailure"] = {"meanTimeBetween": r.choice([300, 900]), "repairTime": 60}
    if "autoScaleFormula" not in pool:
        pool["targetDedicatedNodes"] = r.randint(2, 12)
        pool["targetLowPriorityNodes"] = r.randint(0, 6)
    for job in workload["jobs"]:
        if r.random() < 0.8:
            job["jobPreparationTask"] = {"duration": r.choice([0, 20]),
                                         "failureProbability": r.choice([0.3, 0.7, 1]),
                                         "waitForSuccess": r.random() < 0.8,
                                         "constraints": {"maxTaskRetryCount": r.choice([0, 0, 1])}}
        if pool["taskSlotsPerNode"] == 1:
            for task in job["tasks"]:
                if r.random() < 0.3:
                    task["multiInstanceSettings"] = {"numberOfInstances": r.randint(1, 3)}
                    task["requiredSlots"] = 1
        if r.random() < 0.5:
            job["jobManagerTask"] = {"id": "jm", "duration": r.choice([50, 500]),
                                     "runExclusive": r.random() < 0.5,
                                     "killJobOnCompletion": False,
                                     "allowLowPriorityNode": r.random() < 0.5,
                                     "requiredSlots": r.randint(1, pool["taskSlotsPerNode"])}
    return seed, pool, workload


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(failing_preparations())
def test_the_views_place_as_the_scan_did(case):
    seed, pool, workload = case
    _same_runs(pool, workload, seed)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_the_views_place_as_the_scan_did_on_the_invariant_scenarios(case):
    _option, seed, pool, workload = case
    _same_runs(pool, workload, seed)


def _always_failing_preparation(nodes_per_kind: int, fill: str = "pack") -> tuple[dict, dict]:
    """The hang as the hostile test drew it (a formula asking 1e308 nodes, capped), at a size a
    test can afford: every node fails job j1's preparation task, and jobs have managers."""
    pool = {"id": "fuzz", "vmSize": "NC6", "taskSlotsPerNode": 3, "enableAutoScale": True,
            "autoScaleFormula": f"$TargetDedicatedNodes = {nodes_per_kind}; "
                                f"$TargetLowPriorityNodes = {nodes_per_kind};",
            "autoScaleEvaluationInterval": "PT15M",
            "startTask": {"commandLine": "x", "waitForSuccess": False, "maxTaskRetryCount": 200},
            "taskSchedulingPolicy": {"nodeFillType": fill}, "simulation": {}}
    workload = {"jobs": [
        {"id": "j0", "priority": 0,
         "tasks": [{"id": "a", "duration": 473, "multiInstanceSettings": {"numberOfInstances": 3}}]},
        {"id": "j1", "priority": -1000,
         "jobManagerTask": {"id": "jm", "killJobOnCompletion": True, "duration": 600},
         "jobPreparationTask": {"failureProbability": 1, "duration": 0,
                                "constraints": {"maxTaskRetryCount": 0}},
         "onAllTasksComplete": "terminatejob",
         "tasks": [{"id": "a", "duration": 230},
                   {"id": "3", "duration": "PT2M", "submitTime": 3600,
                    "multiInstanceSettings": {"numberOfInstances": 2}}]},
        {"id": "j2", "priority": -1000,
         "jobManagerTask": {"id": "jm", "duration": 600, "killJobOnCompletion": False,
                            "allowLowPriorityNode": False},
         "tasks": [{"id": "2", "duration": "PT2M", "submitTime": 60}]},
    ]}
    return pool, workload


def test_a_small_always_failing_preparation_places_as_the_scan_did():
    for fill in ("pack", "spread"):
        pool, workload = _always_failing_preparation(40, fill)
        result = _same_runs(pool, workload, seed=0, horizon=1800)
        assert len(result.events) == 802
        unprepared = [e[3] for e in result.events if e[1] == "task.unprepare"]
        assert len(unprepared) == 80 == len(set(unprepared))   # j1's manager tried every node
        assert unprepared[:3] == ["tvm-000001", "tvm-000004", "tvm-000005"]
        assert [e for e in result.events if e[1] == "task.start"] == [
            (180.0, "task.start", "j2/jm", "tvm-000002"), (180.0, "task.start", "j2/2", "tvm-000003")]


#: A regression guard, not a benchmark: the run takes about a second; with the scan of every
#: node per attempt it took over 30 s.
GUARD_SECONDS = 15.0


def test_ten_thousand_nodes_failing_a_preparation_task_end_quickly():
    pool, workload = _always_failing_preparation(5000)
    sim = Simulation(pool, workload, horizon=1800, seed=0)
    t0 = time.perf_counter()

    def guard(_busy):
        if time.perf_counter() - t0 > GUARD_SECONDS:
            pytest.fail(f"over {GUARD_SECONDS} s: does placement scan the pool again?")

    result = sim.run(on_step=guard).result()
    assert len(result.events) == 90_082
    assert sum(1 for n in sim.nodes.values() if sim.jobs[1] in n.excluded) == 10_000
    unprepared = [e for e in result.events if e[1] == "task.unprepare"]
    assert len(unprepared) == 10_000
    assert unprepared[-1] == (780.0, "task.unprepare", "j1/jm", "tvm-000002")
    assert result.report["tasks"]["succeeded"] == 2
    assert result.report["pool_at_end"]["usable"] == 10_000


def test_a_node_whose_exclusions_clear_while_indexed_is_seen_again_after_touch():
    # The pool clears a node's exclusions (PoolMixin._clear_local) and calls touch: a
    # view that refused the node must look at it again even if the node never left its bucket.
    from poolscale.scheduler.nodes import Node, SlotIndex

    index = SlotIndex(2)
    nodes = [Node(num, DEDICATED) for num in (1, 2)]
    for node in nodes:
        index.register(node)
        index.put(node)
    job = object()
    nodes[0].excluded.add(job)
    view = index.view((job, False), lambda n: job not in n.excluded)
    assert view.find(1, pack=True) is nodes[1]
    nodes[1].excluded.add(job)
    assert view.find(1, pack=True) is None          # both refused, both left the view's heap
    nodes[0].excluded.clear()
    assert view.find(1, pack=True) is None          # not looked at again yet
    index.touch(nodes[0])
    assert view.find(1, pack=True) is nodes[0]
    assert view.lowest_empty(1) == [nodes[0]] and view.lowest_empty(2) is None
