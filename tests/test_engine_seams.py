"""The engine's rules draw nothing and read no simulated duration: the world does.

The simulator and the live engine share one set of Batch rules (scheduler/pool.py, jobs.py,
scheduling.py, attempts.py, sampler.py). What a simulation draws or declares — an allocation
time, a start task's failure, a task's duration or exit code, a resource reading — is launched
through the world's methods (scheduler/simworld.py), which the live engine replaces with real
nodes and processes. This test reads the rule modules and fails when a rule touches a draw or a
declared outcome outside the few places listed here with their reason, so a later edit cannot
quietly give the live engine a rule it does not run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SCHEDULER = Path(__file__).resolve().parent.parent / "scheduler"
RULES = ("pool.py", "jobs.py", "scheduling.py", "attempts.py", "sampler.py", "requests.py",
         "scheduled.py", "autopooled.py")

#: attribute names that belong to the simulated world: seeded streams, drawn or declared
#: durations, declared exit codes, distributions
WORLD_NAMES = {"streams", "duration", "attempt_exit_code", "always_ok", "sample", "random",
               "alloc_time", "boot_time", "st_duration", "st_fail_p", "st_rng",
               "failure_probability", "acc_cpu", "acc_mem", "acc_disk", "acc_io", "loss_rate"}

#: (module, function) -> why it may touch them
ALLOWED = {
    ("pool.py", "_draw"): "the draw helper of chaos and of the simulated world",
    ("pool.py", "_begin_incarnation"): "chaos: seeded preemption and failure timers",
    ("pool.py", "_on_preempt"): "chaos: the seeded recovery time",
    ("sampler.py", "_on_evaluate"): "the formula's rand() seed, the same on both clocks",
    ("sampler.py", "_advance"): "integrals of the simulated resources (no-ops live)",
    ("sampler.py", "_advance_plain"): "integrals of the simulated resources (no-ops live)",
    ("attempts.py", "_on_exit"): "the simulator's exit event; the live engine reports exits",
    ("scheduling.py", "_place_simple"): "the simulator's inlined start of a simple task",
}


def world_uses() -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for name in RULES:
        tree = ast.parse((SCHEDULER / name).read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Attribute) and node.attr in WORLD_NAMES:
                    found.setdefault((name, fn.name), set()).add(node.attr)
    return found


def test_rules_touch_the_world_only_where_listed():
    unexpected = {k: sorted(v) for k, v in world_uses().items() if k not in ALLOWED}
    assert unexpected == {}


@pytest.mark.parametrize("place", sorted(ALLOWED))
def test_each_allowance_is_still_needed(place):
    assert place in world_uses(), f"{place} no longer touches the world: drop its allowance"
