"""The live benchmark (bench/bench_live.py): what it measures runs for real on a few tasks, its
figures are the ratios and percentiles it says, and it prints the verdict of each target and
"n/a" for the durability cost while the account writes no store."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture
def bench_live(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_live

    yield bench_live
    sys.modules.pop("bench_live", None)


def test_the_bare_loop_does_the_engines_per_task_work(bench_live, tmp_path):
    seconds = bench_live.bare_loop(tmp_path, 5, workers=2)
    assert seconds > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t0", "t1", "t2", "t3", "t4"]
    for i in range(5):
        assert sorted(p.name for p in (tmp_path / f"t{i}").iterdir()) == \
            ["stderr.txt", "stdout.txt", "wd"]


def test_the_engine_run_completes_every_task_through_the_account(bench_live, tmp_path):
    r = bench_live.engine_throughput(tmp_path / "data", 12)
    assert r["seconds"] > 0
    # the account of this branch writes no store yet; the benchmark reads that from the run
    assert r["store_written"] is (tmp_path / "data" / "poolscale.db").exists()
    task_dirs = tmp_path / "data" / "nodes" / "bench" / "tvm-000001" / "workitems" / "bench" / "job-1"
    assert sorted(p.name for p in task_dirs.iterdir()) == sorted(f"t{i}" for i in range(12))


def test_latency_is_taken_for_every_task_in_order_of_the_steps(bench_live, tmp_path):
    r = bench_live.engine_latency(tmp_path / "data", 6, warmup=1)
    assert r["tasks"] == 6
    for popen, started, ack in zip(r["to_popen_ms"], r["to_started_ms"], r["to_ack_ms"]):
        # the Popen call comes before the process has started; the start before the ack
        assert 0 < popen <= started <= ack
    assert len(r["to_popen_ms"]) == len(r["to_started_ms"]) == len(r["to_ack_ms"]) == 6


def test_percentiles_are_nearest_rank(bench_live):
    values = [float(v) for v in range(100, 0, -1)]      # 100 .. 1, unsorted
    assert bench_live.percentiles(values) == {"p50": 50.5, "p90": 90.0, "p99": 99.0,
                                              "max": 100.0}
    assert bench_live.percentiles([3.0]) == {"p50": 3.0, "p90": 3.0, "p99": 3.0, "max": 3.0}


def fake_runs(monkeypatch, bench_live, *, wired: bool, calls: list):
    """Replace the measurements by fixed seconds: bare 1 s (8 threads) or 4 s (1 thread),
    engine 2.5 s with durability normal and 2 s off."""
    def bare(root, tasks, workers=8):
        calls.append(("bare", workers))
        return 1.0 if workers == 8 else 4.0

    def engine(root, tasks, durability="normal", profile=False):
        calls.append(("engine", durability))
        return {"seconds": 2.5 if durability == "normal" else 2.0, "store_written": wired}

    def latency(root, tasks):
        return {"tasks": tasks, "to_popen_ms": [1.0, 2.0, 3.0],
                "to_started_ms": [4.0, 5.0, 30.0], "to_ack_ms": [5.0, 6.0, 31.0]}
    monkeypatch.setattr(bench_live, "bare_loop", bare)
    monkeypatch.setattr(bench_live, "engine_throughput", engine)
    monkeypatch.setattr(bench_live, "engine_latency", latency)


def test_without_a_store_the_durability_cost_is_not_measured(bench_live, monkeypatch, capsys):
    calls: list = []
    fake_runs(monkeypatch, bench_live, wired=False, calls=calls)
    r = bench_live.run(rounds=2, tasks=1000, latency_tasks=3)
    assert calls == [("bare", 8), ("engine", "normal"), ("bare", 1)] * 2
    assert r["tasks_per_second"] == {"bare": 1000.0, "bare_one_thread": 250.0, "engine": 400.0}
    assert r["ratio"] == 0.4 and r["ratio_one_thread"] == 0.25
    assert r["durability"] == {"store_wired": False}
    assert r["latency"]["to_started_ms"]["p50"] == 5.0
    bench_live.print_result(r)
    out = capsys.readouterr().out.splitlines()
    assert "   ratio engine / bare (target >= 0.5x)              0.40 x   BELOW TARGET" in out
    assert "   p50 add -> started (target <= 20 ms)              5.00 ms  ok" in out
    assert "   durability normal / off                      n/a (store not wired)" in out


def test_with_a_store_off_runs_in_every_round_and_the_cost_is_a_ratio(bench_live, monkeypatch,
                                                                       capsys):
    calls: list = []
    fake_runs(monkeypatch, bench_live, wired=True, calls=calls)
    r = bench_live.run(rounds=2, tasks=1000, latency_tasks=3)
    assert calls == [("bare", 8), ("engine", "normal"), ("engine", "off"), ("bare", 1)] * 2
    assert r["durability"] == {"store_wired": True, "normal_tasks_per_second": 400.0,
                               "off_tasks_per_second": 500.0, "normal_over_off": 0.8}
    bench_live.print_result(r)
    out = capsys.readouterr().out.splitlines()
    assert "   engine, durability off                             500 tasks/s" in out
    assert "   durability normal / off                           0.80 x   (no target)" in out


def test_a_ratio_at_target_is_ok_and_a_slow_start_is_over(bench_live, monkeypatch, capsys):
    calls: list = []
    fake_runs(monkeypatch, bench_live, wired=False, calls=calls)
    r = bench_live.run(rounds=1, tasks=1000, latency_tasks=3)
    r["ratio"] = 0.5
    r["latency"]["to_started_ms"]["p50"] = 20.5
    bench_live.print_result(r)
    out = capsys.readouterr().out.splitlines()
    assert "   ratio engine / bare (target >= 0.5x)              0.50 x   ok" in out
    assert "   p50 add -> started (target <= 20 ms)             20.50 ms  OVER TARGET" in out


def test_the_profile_is_of_the_engine_thread_and_names_where_starts_go(bench_live, tmp_path):
    r = bench_live.engine_throughput(tmp_path / "data", 10, profile=True)
    p = r["profile"]
    parts = p["parts_s"]
    assert list(parts) == [label for label, _f, _n in bench_live.PARTS]
    # the profiler was enabled on the engine thread: it saw every process start
    assert 0 < parts["    subprocess.Popen"] <= parts["  ProcessExecutor.start"] \
        <= parts["LocalWorld._spawn (environment + start)"] <= p["busy_s"]
    assert len(p["top"]) == 15
    assert [row["tottime_s"] for row in p["top"]] == \
        sorted((row["tottime_s"] for row in p["top"]), reverse=True)
