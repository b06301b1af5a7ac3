"""What the benchmarks print (bench/): the SimPy comparison is a ratio with its meaning and no
target; reading is held to half of simulating."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_load
    import bench_simulate

    yield bench_simulate, bench_load
    for name in ("bench_load", "bench_simulate"):
        sys.modules.pop(name, None)


def simulate_result(speedup: float) -> dict:
    return {
        "tasks": 100_000, "horizon_days": 7.0, "rounds": 3, "workload_build_s": 0.9,
        "poolscale": {"wall_s": 1.5, "setup_s": 0.2, "loop_s": 1.1, "report_s": 0.2,
                      "events": 900_000, "peak_nodes": 498},
        "tasks_per_second": 66_000.0, "per_event_us": {"poolscale": 1.6, "bare_heapq": 0.2},
        "per_event_ratio": 8.0,
        "simpy": {"same_formula_s": 1.5 * speedup, "hand_formula_s": 2.0, "events": 2_000_000},
        "speedup_vs_simpy": speedup, "speedup_vs_simpy_hand_formula": 1.33,
        "agreement": {"tasks_succeeded": [1, 1], "node_hours": [1.0, 1.0], "node_hours_diff": 0.0,
                      "peak_nodes": [498, 497], "wait_p95_s": [1.0, 1.0]},
    }


def test_the_simpy_comparison_has_no_target(bench, capsys):
    bench_simulate, _ = bench
    bench_simulate.print_result(simulate_result(2.07))
    simpy = [ln for ln in capsys.readouterr().out.splitlines() if "SimPy" in ln]
    assert "BELOW TARGET" not in "\n".join(simpy) and ">= 5x" not in "\n".join(simpy)
    assert "   SimPy model time / simulate time                  2.07 x   (no target)" in simpy
    assert ("     the SimPy model of the same pool, tasks and formula takes 2.07 times as long "
            "as simulate") in simpy


def test_reading_is_held_to_half_of_simulating(bench, capsys):
    _, bench_load = bench
    result = {"tasks": 100_000, "rounds": 3, "file_bytes": {"csv": 4 << 20, "json": 20 << 20},
              "load_s": {"csv": 0.6, "json": 1.2}, "simulate_s": 2.0,
              "ratio": {"csv": 0.3, "json": 0.6}, "target_ratio": 0.5,
              "tasks_per_second": {"csv": 166_667, "json": 83_333}}
    bench_load.print_result(result)
    out = capsys.readouterr().out.splitlines()
    assert "   read CSV / simulate (target <= 0.5x)              0.30 x   ok" in out
    assert "   read JSON / simulate (target <= 0.5x)             0.60 x   OVER TARGET" in out
