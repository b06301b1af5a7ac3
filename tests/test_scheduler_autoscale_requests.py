"""Autoscale enabled and disabled at any instant (the live service's requests).

In a simulation the pool's formula runs from the start; a live pool can have autoscale
enabled later, its formula or interval changed, or autoscale disabled. Run 0 of an enabling is
at once and run k is ``k`` intervals later, with the formula's ``now`` counted the same way;
an enabling voids the runs of the one before.
"""

from __future__ import annotations

from poolscale.formula import compile_formula
from poolscale.scheduler import Simulation
from poolscale.scheduler.kernel import SUBMIT

T0 = "2026-01-05T00:00:00Z"
POOL = {"id": "p", "vmSize": "STANDARD_D1_v2", "targetDedicatedNodes": 1,
        "simulation": {"allocationTime": 0, "bootTime": 0}}


def at(sim: Simulation, t: float, fn) -> None:
    sim.kernel.at(t, SUBMIT, lambda _a, _b: fn())


def autoscale_log(sim):
    return [e for e in sim.events if e[1] in ("autoscale", "pool.target")]


def test_autoscale_enabled_later_runs_from_then():
    sim = Simulation(POOL, {"jobs": []}, start=T0, horizon=1800)
    formula = compile_formula("$TargetDedicatedNodes = 2; $t = time();")
    at(sim, 450, lambda: sim._enable_autoscale(formula, 300 * 10_000_000))
    at(sim, 1400, sim._disable_autoscale)
    sim.run()
    assert autoscale_log(sim) == [
        (450.0, "autoscale", 0, "ok"), (450.0, "pool.target", 2, 0, "requeue"),
        (750.0, "autoscale", 1, "ok"), (1050.0, "autoscale", 2, "ok"), (1350.0, "autoscale", 3, "ok"),
    ]
    # the formula's now is the instant of each run
    assert [run.results.rsplit("$t=", 1)[1] for run in sim.runs] == [
        "2026-01-05T00:07:30.000Z", "2026-01-05T00:12:30.000Z", "2026-01-05T00:17:30.000Z",
        "2026-01-05T00:22:30.000Z"]
    assert sim.n_present == [2, 0] and sim.autoscale is False


def test_a_new_enabling_voids_the_runs_of_the_last_one():
    sim = Simulation(POOL, {"jobs": []}, start=T0, horizon=1200)
    one = compile_formula("$TargetDedicatedNodes = 3;")
    two = compile_formula("$TargetDedicatedNodes = 1;")
    at(sim, 100, lambda: sim._enable_autoscale(one, 300 * 10_000_000))
    at(sim, 500, lambda: sim._enable_autoscale(two, 600 * 10_000_000))
    sim.run()
    assert autoscale_log(sim) == [
        (100.0, "autoscale", 0, "ok"), (100.0, "pool.target", 3, 0, "requeue"),
        (400.0, "autoscale", 1, "ok"),
        (500.0, "autoscale", 0, "ok"), (500.0, "pool.target", 1, 0, "requeue"),
        (1100.0, "autoscale", 1, "ok"),
    ]
