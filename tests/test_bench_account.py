"""The account benchmark (bench/bench_account.py): a round really adds every task it counts and
gets the tasks it times, a failed call fails the round instead of shortening it, another
source tree is imported as ``poolscale`` for the before/after run, and the table gives ratios
and "n/a" for what a version cannot measure."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_account

    yield bench_account
    sys.modules.pop("bench_account", None)


def test_a_round_measures_every_path_on_tasks_it_really_added(bench):
    r = bench.one_round(300, 2)
    assert sorted(r) == sorted(["add_tasks_per_s", "add_cpu_us", "noview_tasks_per_s",
                                "noview_cpu_us", "waiting_tasks_per_s", "waiting_cpu_us",
                                "get_p50_ms", "get_p99_ms"])
    assert all(v > 0 and math.isfinite(v) for v in r.values())
    assert r["get_p50_ms"] <= r["get_p99_ms"]


def test_a_refused_task_or_a_failed_call_fails_the_round(bench, tmp_path):
    with bench._account(tmp_path / "a") as account:
        account.create_pool(bench.POOL)
        account.add_job({"id": "job", "poolInfo": {"poolId": "bench"}})
        account.add_task("job", {"id": "t5", "commandLine": "/bin/true"})
        with pytest.raises(RuntimeError, match="1 tasks refused or calls failed.*TaskExists"):
            bench.add_rate(account, "job", 200, 2)
        with pytest.raises(RuntimeError, match="2 tasks refused or calls failed.*TypeError"):
            bench.add_rate(account, "job", 200, 2, colour="red")


def test_the_before_tree_is_the_one_imported(bench, tmp_path):
    tree = tmp_path / "tree"
    for sub in ("formula", "metrics", "runtime", "scheduler", "grammar"):
        (tree / sub).mkdir(parents=True)
        (tree / sub / "__init__.py").write_text(f"WHERE = {sub!r}\n")
    env = bench._before_env(tree)
    out = subprocess.run([sys.executable, "-c", "import poolscale.runtime as r; "
                          "print(r.WHERE, r.__file__)"], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out[0] == "runtime" and out[1].endswith("poolscale/runtime/__init__.py")
    assert Path(out[1]).resolve() == (tree / "runtime" / "__init__.py").resolve()


def test_the_table_gives_ratios_and_na(bench):
    row = {"add_tasks_per_s": 10_000.0, "add_cpu_us": 50.0, "noview_tasks_per_s": math.nan,
           "noview_cpu_us": math.nan, "waiting_tasks_per_s": 5_000.0, "waiting_cpu_us": 40.0,
           "get_p50_ms": 1.0, "get_p99_ms": 2.0}
    after = {**row, "add_tasks_per_s": 30_000.0, "noview_tasks_per_s": 35_000.0,
             "get_p50_ms": 0.05}
    lines = bench._table({"before": row, "after": after}).splitlines()
    assert lines[2] == "| add_tasks, pool exists (tasks/s) | 10,000 | 30,000 | 3.00x |"
    assert lines[4] == "| add_tasks(view=False), pool exists (tasks/s) | n/a | 35,000 | n/a |"
    assert lines[8] == "| get_task p50 (ms) | 1.000 | 0.050 | 0.05x |"
