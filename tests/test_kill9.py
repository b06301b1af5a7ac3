"""``kill -9`` of a live account at random instants, again and again, on one data directory.

A child process runs an :class:`Account` with a pool and a job of tasks; each task is a Python
process that sleeps a seeded time in short steps, writing a line per step to its own log file
(outside the node trees, so reruns append to it) and exits with a seeded code. The parent
SIGKILLs the child at seeded random instants, or makes it kill itself right before or after a
seeded commit, and starts it again on the same data directory, until the child says the job is
done. Then it checks what the issue promises:

* every task completed exactly once in the store, with the exit code it declares, and its
  ``stdout.txt`` on its node;
* its ``requeueCount`` is the number of crashes it was running through (the store said
  ``running`` when the child was killed);
* two processes of one task never ran at once (the step lines of its attempts never
  interleave: the orphan of a crash was ended before the rerun started);
* no process with this run's ``POOLSCALE_ATTEMPT`` marker is alive at the end.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from poolscale.runtime.service.local.nodedirs import NodeDirectories
from poolscale.runtime.service.recovery import marked_processes

TASK = r"""
import os, sys, time
log = open(sys.argv[1], "a", buffering=1)
uid = os.environ["POOLSCALE_ATTEMPT"]
log.write(f"start {uid} {time.time()!r}\n")
end = time.time() + float(sys.argv[2])
while time.time() < end:
    log.write(f"step {uid} {time.time()!r}\n")
    time.sleep(0.02)
print("done", sys.argv[3])
log.write(f"end {uid} {time.time()!r}\n")
sys.exit(int(sys.argv[3]))
"""

CHILD = r"""
import json, os, signal, sys
from pathlib import Path
from poolscale.runtime.service import persist

if os.environ.get("CRASH_AT"):      # "n:before" / "n:after": die at the n-th commit
    n, when = os.environ["CRASH_AT"].split(":")
    commit, calls = persist.Persister.commit, [0]

    def crashing_commit(self):
        calls[0] += 1
        if calls[0] == int(n) and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        commit(self)
        if calls[0] == int(n) and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)

    persist.Persister.commit = crashing_commit
from poolscale.runtime.service.account import Account
from poolscale.runtime.service.settings import AccountSettings

data, tasks = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())
account = Account(settings=AccountSettings(data_dir=data, kill_grace=0.2))
if not account.list_pools():
    account.create_pool({"id": "p", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 2,
                         "taskSlotsPerNode": 4})
if not account.list_jobs():
    account.add_job({"id": "j", "poolInfo": {"poolId": "p"}})
account.add_tasks("j", tasks)           # those already there are refused as TaskExists
print("serving", flush=True)
account.wait_for_job("j", timeout=120, poll=0.02)
print("done", flush=True)
account.close()
"""


def _tasks(rng: random.Random, n: int, script: Path, logs: Path) -> tuple[list[dict], dict]:
    tasks, codes = [], {}
    for i in range(n):
        code = rng.choice((0, 0, 0, 1, 7))
        # most tasks are short; every eighth outlives a restart, so that a crash leaves
        # orphans that would still run beside their reruns if recovery did not end them
        sleep = rng.uniform(2.5, 3.5) if i % 8 == 0 else rng.uniform(0.1, 1.0)
        tid = f"t{i:02d}"
        codes[tid] = code
        tasks.append({"id": tid, "commandLine":
                      f"{sys.executable} {script} {logs / (tid + '.log')} {sleep:.3f} {code}"})
    return tasks, codes


def _running_in_store(db: Path) -> set[tuple]:
    """The task runs the store holds: ``(task id, requeueCount, retryCount, start time)``. A
    kill during a restart's recovery, before its commit, finds the same run as the kill
    before: the task did not run again in between, so it is one crash it ran through."""
    if not db.exists():
        return set()
    conn = sqlite3.connect(db)
    try:
        return set(conn.execute(
            "SELECT id, requeue_count, retry_count, start_time FROM tasks "
            "WHERE state IN ('running', 'preparing')"))
    except sqlite3.OperationalError:        # killed before the schema was committed
        return set()
    finally:
        conn.close()


def _attempts(log: Path) -> dict[str, tuple[float, float]]:
    """Each attempt's first and last line time in the task's log."""
    spans: dict[str, list[float]] = {}
    for line in log.read_text().splitlines():
        _kind, uid, at = line.split()
        span = spans.setdefault(uid, [float(at), float(at)])
        span[1] = float(at)
    return {uid: (lo, hi) for uid, (lo, hi) in spans.items()}


def _run_with_kills(tmp_path: Path, seed: int, n_tasks: int, kills: int, budget: float) -> None:
    rng = random.Random(seed)
    data, logs = tmp_path / "data", tmp_path / "logs"
    logs.mkdir()
    script, child = tmp_path / "task.py", tmp_path / "child.py"
    script.write_text(TASK)
    child.write_text(CHILD)
    tasks, codes = _tasks(rng, n_tasks, script, logs)
    spec = tmp_path / "tasks.json"
    spec.write_text(json.dumps(tasks))
    db = data / "poolscale.db"
    crashes_through = {t: 0 for t in codes}
    counted: set[tuple] = set()
    deadline = time.monotonic() + budget
    done = False
    rounds = 0
    while not done:
        assert time.monotonic() < deadline, f"not done after {rounds} rounds"
        env = dict(os.environ)
        env.pop("CRASH_AT", None)
        at_commit = rounds < kills and rounds % 2 == 1
        if at_commit:
            # the child kills itself right before or after its n-th commit (the first is the
            # recovery's own, before the engine serves)
            env["CRASH_AT"] = f"{rng.randint(1, 40)}:{rng.choice(('before', 'after'))}"
        proc = subprocess.Popen([sys.executable, str(child), str(data), str(spec)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if rounds < kills and not at_commit:
            # at a random instant: the first may land while the account is still starting
            time.sleep(rng.uniform(0.2, 2.5))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        rounds += 1
        if proc.returncode == -signal.SIGKILL:
            for run in _running_in_store(db) - counted:
                crashes_through[run[0]] += 1
                counted.add(run)
            continue
        assert proc.returncode == 0, err[-3000:]
        done = "done" in out.split()

    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT id, state, exit_code, requeue_count, node_ids FROM tasks "
                            "WHERE job_id = 'j' ORDER BY id").fetchall()
    finally:
        conn.close()
    assert [r[0] for r in rows] == sorted(codes)            # none lost, none duplicated
    dirs = NodeDirectories(data / "nodes")
    for tid, state, code, requeues, node in rows:
        assert (state, code) == ("completed", codes[tid]), tid
        assert requeues == crashes_through[tid], tid
        out = dirs.task_dir("p", node, "j", tid) / "stdout.txt"
        assert out.read_text() == f"done {codes[tid]}\n", tid
        spans = sorted(_attempts(logs / f"{tid}.log").values())
        assert len(spans) >= requeues + 1, tid
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert end < start, f"{tid}: two attempts ran at once: {spans}"
    assert marked_processes(data / "nodes") == []
    assert sum(crashes_through.values()) > 0        # the kills did land in runs


def test_kill9_at_random_instants_loses_and_duplicates_nothing(tmp_path):
    _run_with_kills(tmp_path, seed=11, n_tasks=40, kills=6, budget=55.0)


@pytest.mark.slow
def test_kill9_many_times(tmp_path):
    _run_with_kills(tmp_path, seed=23, n_tasks=80, kills=15, budget=240.0)
