"""Benchmark 7: tasks accepted per second by the library ``Account``, and ``get_task`` latency.

    python bench/bench_account.py [--quick] [--rounds N] [--tasks N] [--threads N] [--profile]

What ``poolscale serve`` does for the SDK's ``create_tasks`` (``addtaskcollection``: 100 tasks a
call, several threads) ends in :meth:`Account.add_tasks`; the REST layer can only be as fast as
that call. So this measures the account alone, in a temporary data directory (the store is
written, durability ``normal``: an acknowledged task is committed):

1. **add_tasks, pool exists**: N tasks (10,000; 2,000 with ``--quick``) ``{"id", "commandLine"}``
   added by T threads (4, as the SDK's ``create_tasks``) in calls of 100, to a job on a pool of
   0 nodes (nothing runs: the figure is the cost of accepting). Tasks per wall second, from the
   first call to the last return.
   Beside it, the process CPU time per task (every thread: callers, engine, SQLite): on a
   shared machine the rate follows the load, the CPU time much less.
   The same with ``add_tasks(..., view=False)`` (no task view per success, what the REST
   service's ``addtaskcollection`` needs); "n/a" for a version without it.
2. **add_tasks, waiting job**: the same to a job whose pool does not exist yet (the tasks wait,
   stored, until the pool is created).
3. **get_task**: 2,000 calls of ``get_task`` on random tasks of the job of (1) (N tasks), one
   thread, each timed: p50 and p99 in milliseconds.
4. ``--profile``: cProfile of one run of (1) on the engine thread (the account's command, the
   engine's rules, the store's commit) and, separately, of the callers' side (one thread, so the
   profile is of the work and not of the wait), top functions by own time.

Every timed phase starts after ``gc.collect()`` (a closed account leaves its cycles for the
collector: tens of thousands of objects a full collection in the next phase would walk).
Each figure is the best of the rounds (3; 1 with ``--quick``), rounds interleaved. To compare
two versions of the code in one run (same machine, same load), ``--before DIR`` runs the same
benchmark in a subprocess on the poolscale source tree at DIR (a checkout of the earlier commit;
its ``formula``, ``scheduler``, ``runtime`` ... folders are mapped to ``poolscale.*`` as the
installed package maps this tree's), rounds alternating, and prints both and their ratios.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import inspect
import io
import json
import os
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

POOL = {"id": "bench", "vmSize": "STANDARD_D2_v3", "targetDedicatedNodes": 0}
CHUNK = 100          # tasks per add_tasks call: the service's limit per addtaskcollection
GETS = 2_000         # get_task calls timed


def _account(data_dir: Path):
    from poolscale.runtime.service.account import Account

    return Account(data_dir)


def _chunks(n_tasks: int, threads: int) -> list[list[list[dict]]]:
    """The task bodies, in calls of ``CHUNK``, dealt to ``threads`` callers."""
    calls = [[{"id": f"t{i}", "commandLine": "/bin/true"}
              for i in range(start, min(start + CHUNK, n_tasks))]
             for start in range(0, n_tasks, CHUNK)]
    return [calls[k::threads] for k in range(threads)]


def add_rate(account, job_id: str, n_tasks: int, threads: int, **options) -> float:
    """Add ``n_tasks`` to ``job_id`` from ``threads`` threads; wall seconds. Every result must
    be a success (a benchmark that counted refusals would measure nothing). ``options`` go to
    ``add_tasks`` (``view=False``)."""
    work = _chunks(n_tasks, threads)
    failures: list = []
    barrier = threading.Barrier(threads + 1)

    def caller(calls: list[list[dict]]) -> None:
        barrier.wait()
        try:
            for body in calls:
                for r in account.add_tasks(job_id, body, **options):
                    if r["status"] != "success":
                        failures.append(r)
        except Exception as e:          # raised in the benchmark's thread, below
            failures.append(e)

    pool = [threading.Thread(target=caller, args=(w,)) for w in work]
    for t in pool:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in pool:
        t.join()
    seconds = time.perf_counter() - t0
    if failures:
        raise RuntimeError(f"{len(failures)} tasks refused or calls failed, first: "
                           f"{failures[0]!r}")
    return seconds


def get_latency(account, job_id: str, n_tasks: int, gets: int = GETS) -> list[float]:
    """``gets`` get_task calls on random tasks of the job, each timed (seconds)."""
    rng = random.Random(7)
    times = []
    for _ in range(gets):
        task_id = f"t{rng.randrange(n_tasks)}"
        t0 = time.perf_counter()
        view = account.get_task(job_id, task_id)
        times.append(time.perf_counter() - t0)
        if view["id"] != task_id:
            raise RuntimeError(f"get_task returned {view['id']!r} for {task_id!r}")
    return times


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def one_round(n_tasks: int, threads: int) -> dict:
    """One round of (1), (2) and (3), each in a fresh account."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="bench-account-") as tmp:
        with _account(Path(tmp) / "a") as account:
            account.create_pool(POOL)
            account.add_job({"id": "job", "poolInfo": {"poolId": "bench"}})
            gc.collect()    # an earlier account's garbage is not this phase's cost
            cpu = time.process_time()
            seconds = add_rate(account, "job", n_tasks, threads)
            out["add_cpu_us"] = (time.process_time() - cpu) / n_tasks * 1e6
            out["add_tasks_per_s"] = n_tasks / seconds
            n = account._call(lambda: len(account.jobs["job"].job.tasks))
            if n != n_tasks:
                raise RuntimeError(f"{n} tasks in the job, not {n_tasks}")
            times = get_latency(account, "job", n_tasks)
            out["get_p50_ms"] = _percentile(times, 0.50) * 1e3
            out["get_p99_ms"] = _percentile(times, 0.99) * 1e3
        out["noview_tasks_per_s"] = out["noview_cpu_us"] = float("nan")
        with _account(Path(tmp) / "c") as account:
            account.create_pool(POOL)
            account.add_job({"id": "job", "poolInfo": {"poolId": "bench"}})
            if "view" in inspect.signature(account.add_tasks).parameters:
                gc.collect()
                cpu = time.process_time()
                seconds = add_rate(account, "job", n_tasks, threads, view=False)
                out["noview_cpu_us"] = (time.process_time() - cpu) / n_tasks * 1e6
                out["noview_tasks_per_s"] = n_tasks / seconds
        with _account(Path(tmp) / "b") as account:
            account.add_job({"id": "job", "poolInfo": {"poolId": "later"}})
            gc.collect()    # an earlier account's garbage is not this phase's cost
            cpu = time.process_time()
            seconds = add_rate(account, "job", n_tasks, threads)
            out["waiting_cpu_us"] = (time.process_time() - cpu) / n_tasks * 1e6
            out["waiting_tasks_per_s"] = n_tasks / seconds
            n = account._call(lambda: len(account.jobs["job"].waiting))
            if n != n_tasks:
                raise RuntimeError(f"{n} tasks waiting, not {n_tasks}")
    return out


def best(rounds: list[dict]) -> dict:
    """Best of the rounds: highest rates, lowest latencies and CPU times."""
    return {k: (max if k.endswith("_per_s") else min)(r[k] for r in rounds) for k in rounds[0]}


def _cell(fmt: str, value: float) -> str:
    return "n/a" if value != value else fmt.format(value)     # NaN: not measured


def profile(n_tasks: int, threads: int, top: int = 25) -> str:
    """cProfile of the engine thread during (1), and of one caller thread doing the same adds."""
    text = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="bench-account-") as tmp:
        with _account(Path(tmp) / "a") as account:
            account.create_pool(POOL)
            account.add_job({"id": "job", "poolInfo": {"poolId": "bench"}})
            engine = cProfile.Profile()
            account._call(engine.enable)      # cProfile profiles the thread that enables it
            seconds = add_rate(account, "job", n_tasks, threads)
            account._call(engine.disable)
            text.write(f"engine thread during {n_tasks} tasks from {threads} threads "
                       f"({n_tasks / seconds:,.0f} tasks/s under the profiler), by own time:\n")
            pstats.Stats(engine, stream=text).sort_stats("tottime").print_stats(top)
        with _account(Path(tmp) / "b") as account:
            account.create_pool(POOL)
            account.add_job({"id": "job", "poolInfo": {"poolId": "bench"}})
            caller = cProfile.Profile()
            caller.enable()
            for calls in _chunks(n_tasks, 1):
                for body in calls:
                    account.add_tasks("job", body)
            caller.disable()
            text.write("one caller thread (its own side of add_tasks), by own time:\n")
            pstats.Stats(caller, stream=text).sort_stats("tottime").print_stats(top)
    return text.getvalue()


def _before_env(tree: Path) -> dict:
    """An environment whose ``poolscale`` is the source tree at ``tree``: a folder of links
    ``poolscale/<sub> -> tree/<sub>`` first on ``PYTHONPATH`` (ahead of the installed tree)."""
    site = Path(tempfile.mkdtemp(prefix="bench-before-"))
    pkg = site / "poolscale"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for sub in ("formula", "metrics", "runtime", "scheduler", "grammar"):
        (pkg / sub).symlink_to(tree.resolve() / sub)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def _run_subprocess(env: dict, n_tasks: int, threads: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one-round", "--tasks", str(n_tasks),
                          "--threads", str(threads)], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _table(rows: dict[str, dict]) -> str:
    names = [("add_tasks_per_s", "add_tasks, pool exists (tasks/s)", "{:,.0f}"),
             ("add_cpu_us", "  process CPU per task (us)", "{:.1f}"),
             ("noview_tasks_per_s", "add_tasks(view=False), pool exists (tasks/s)", "{:,.0f}"),
             ("noview_cpu_us", "  process CPU per task (us)", "{:.1f}"),
             ("waiting_tasks_per_s", "add_tasks, waiting job (tasks/s)", "{:,.0f}"),
             ("waiting_cpu_us", "  process CPU per task (us)", "{:.1f}"),
             ("get_p50_ms", "get_task p50 (ms)", "{:.3f}"),
             ("get_p99_ms", "get_task p99 (ms)", "{:.3f}")]
    cols = list(rows)
    lines = ["| | " + " | ".join(cols) + (" | after / before |" if len(cols) == 2 else " |"),
             "|---" * (len(cols) + 1 + (len(cols) == 2)) + "|"]
    for key, label, fmt in names:
        cells = [_cell(fmt, rows[c][key]) for c in cols]
        if len(cols) == 2:
            a, b = rows[cols[1]][key], rows[cols[0]][key]
            cells.append(_cell("{:.2f}x", a / b))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--tasks", type=int)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--before", type=Path, metavar="DIR",
                        help="also run on the poolscale source tree at DIR, rounds alternating")
    parser.add_argument("--one-round", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n_tasks = args.tasks or (2_000 if args.quick else 10_000)
    rounds = args.rounds or (1 if args.quick else 3)
    if args.one_round:
        print(json.dumps(one_round(n_tasks, args.threads)))
        return 0
    if args.profile:
        print(profile(n_tasks, args.threads))
        return 0
    here_env = dict(os.environ)
    envs = {"this tree": here_env}
    if args.before is not None:
        envs = {"before": _before_env(args.before), "after": here_env}
    results: dict[str, list[dict]] = {name: [] for name in envs}
    for _ in range(rounds):
        for name, env in envs.items():
            results[name].append(_run_subprocess(env, n_tasks, args.threads))
    print(f"{n_tasks} tasks, {args.threads} threads, calls of {CHUNK}, best of {rounds} rounds")
    print(_table({name: best(r) for name, r in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
