"""Durable account state (runtime/service/persist.py, recovery.py): what an account commits,
what a restart on the same data directory rebuilds, and which processes it ends first."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import psutil
import pytest

from poolscale.runtime.service.account import Account
from poolscale.runtime.service.local.environment import ATTEMPT_MARKER
from poolscale.runtime.service.persist import boot_id
from poolscale.runtime.service.recovery import kill_orphans
from poolscale.runtime.service.settings import AccountSettings
from poolscale.runtime.service.store import Store

POOL = {"id": "p", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 2, "taskSlotsPerNode": 2}


def _settings(tmp_path, **kw):
    return AccountSettings(data_dir=tmp_path / "data", kill_grace=0.2, **kw)


def _until(what, timeout=8.0, poll=0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s: {what}")
        time.sleep(poll)


def _py(code: str) -> str:
    return f"{sys.executable} -c \"{code}\""


#: what a restart changes by design: the nodes boot again (their state times, boot time and
#: start task's run are new) and the pool resizes to bring them back
_REBOOTED = ("stateTransitionTime", "lastBootTime", "startTaskInfo")


def _views(account):
    pool = account.get_pool("p")
    del pool["allocationStateTransitionTime"]
    return {
        "pool": pool,
        "nodes": [{k: v for k, v in n.items() if k not in _REBOOTED}
                  for n in account.list_nodes("p")],
        "job": account.get_job("j"),
        "tasks": account.list_tasks("j"),
        "t1": account.get_task("j", "t1"),
        "files": {t: account.read_task_file("j", t, "stdout.txt") for t in ("t0", "t1", "t2")},
    }


def _settled(account):
    """Every node idle and the pool steady (a restarted account's nodes boot again)."""
    nodes = account.list_nodes("p")
    return (account.get_pool("p")["allocationState"] == "steady" and len(nodes) == 2
            and all(n["state"] == "idle" for n in nodes))


def test_a_reopened_account_shows_what_it_showed_before_it_was_closed(tmp_path):
    settings = _settings(tmp_path)
    with Account(settings=settings) as a:
        a.create_pool(POOL)
        a.add_job({"id": "j", "poolInfo": {"poolId": "p"}, "priority": 7})
        for i, code in enumerate((0, 3, 0)):
            a.add_task("j", {"id": f"t{i}", "commandLine": _py(
                f"print('out {i}'); import sys; sys.exit({code})")})
        a.wait_for_job("j", timeout=8)
        a.update_job("j", priority=-5)
        _until(lambda: _settled(a))
        before = _views(a)
    assert [t["state"] for t in before["tasks"]] == ["completed"] * 3
    assert before["t1"]["executionInfo"]["exitCode"] == 3
    assert before["files"] == {"t0": b"out 0\n", "t1": b"out 1\n", "t2": b"out 2\n"}

    with Account(settings=settings) as b:
        _until(lambda: _settled(b))
        after = _views(b)
    assert after == before
    assert after["job"]["priority"] == -5


def test_a_task_running_at_a_clean_close_is_requeued_at_the_next_start(tmp_path):
    settings = _settings(tmp_path)
    with Account(settings=settings) as a:
        a.create_pool(POOL)
        a.add_job({"id": "j", "poolInfo": {"poolId": "p"}})
        a.add_task("j", {"id": "done", "commandLine": _py("print(1)")})
        a.add_task("j", {"id": "long", "commandLine": _py("import time; time.sleep(60)")})
        _until(lambda: a.get_task("j", "long")["state"] == "running"
               and a.get_task("j", "done")["state"] == "completed")
        done = a.get_task("j", "done")
    with Account(settings=settings) as b:
        long = b.get_task("j", "long")
        assert long["executionInfo"]["requeueCount"] == 1
        assert long["state"] in ("active", "running")
        assert b.get_task("j", "done") == done
        assert done["executionInfo"]["requeueCount"] == 0
        _until(lambda: b.get_task("j", "long")["state"] == "running")
    conn = sqlite3.connect(settings.store_path)
    try:
        assert conn.execute("SELECT requeue_count, attempt FROM tasks WHERE id = 'long'"
                            ).fetchone() == (1, 2)
    finally:
        conn.close()


def test_an_added_task_is_committed_before_add_task_returns(tmp_path):
    settings = _settings(tmp_path)
    with Account(settings=settings) as a:
        a.create_pool({**POOL, "targetDedicatedNodes": 0})
        a.add_job({"id": "j", "poolInfo": {"poolId": "p"}})
        a.add_task("j", {"id": "t1", "commandLine": "true"})
        conn = sqlite3.connect(settings.store_path)
        try:
            row = conn.execute("SELECT state, seq, requeue_count FROM tasks "
                               "WHERE job_id = 'j' AND id = 't1'").fetchone()
            job = conn.execute("SELECT state, pool_id FROM jobs WHERE id = 'j'").fetchone()
            pool = conn.execute("SELECT target_dedicated FROM pools WHERE id = 'p'").fetchone()
        finally:
            conn.close()
    assert row == ("active", 0, 0)
    assert job == ("active", "p")
    assert pool == (0,)


def test_durability_off_keeps_no_store(tmp_path):
    settings = _settings(tmp_path, durability="off")
    with Account(settings=settings) as a:
        a.create_pool({**POOL, "targetDedicatedNodes": 1})
        a.add_job({"id": "j", "poolInfo": {"poolId": "p"}})
        a.add_task("j", {"id": "t1", "commandLine": _py("print(5)")})
        a.wait_for_job("j", timeout=8)
        assert a.read_task_file("j", "t1", "stdout.txt") == b"5\n"
    assert not settings.store_path.exists()
    with Account(settings=settings) as b:
        assert b.list_pools() == []


def test_a_job_waiting_for_its_pool_and_a_deleted_job_survive_a_restart(tmp_path):
    settings = _settings(tmp_path)
    with Account(settings=settings) as a:
        a.add_job({"id": "waits", "poolInfo": {"poolId": "later"}})
        a.add_task("waits", {"id": "w1", "commandLine": _py("print(9)")})
        a.create_pool({**POOL, "targetDedicatedNodes": 0})
        a.add_job({"id": "gone", "poolInfo": {"poolId": "p"}})
        a.add_task("gone", {"id": "g1", "commandLine": "true"})
        a.delete_job("gone")
    with Account(settings=settings) as b:
        assert [j["id"] for j in b.list_jobs()] == ["waits"]
        assert b.list_tasks("waits") == [{"id": "w1", "state": "active"}]
        b.create_pool({**POOL, "id": "later", "targetDedicatedNodes": 1})
        b.wait_for_job("waits", timeout=8)
        assert b.read_task_file("waits", "w1", "stdout.txt") == b"9\n"
    conn = sqlite3.connect(settings.store_path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM tasks WHERE job_id = 'gone'").fetchone() == (0,)
    finally:
        conn.close()


def test_autoscale_runs_and_samples_survive_a_restart(tmp_path):
    settings = _settings(tmp_path, min_evaluation_interval=1.0, sample_period=0.1)
    formula = "$TargetDedicatedNodes = 1;"
    with Account(settings=settings, scale=0.1) as a:
        a.create_pool({"id": "p", "vmSize": "standard_d2s_v3", "enableAutoScale": True,
                       "autoScaleFormula": formula, "autoScaleEvaluationInterval": "PT5S"})
        pool = a.pools["p"]
        _until(lambda: len(pool.recorder) >= 3 and len(pool.runs) >= 1)
        a.close()
        stamps = list(pool.recorder.stamps())
        results = [r.results for r in pool.runs]
    with Account(settings=settings, scale=0.1) as b:
        again = b.pools["p"]
        assert list(again.recorder.stamps())[:len(stamps)] == stamps
        assert [r.results for r in again.runs][:len(results)] == results
        view = b.get_pool("p")
        assert view["enableAutoScale"] is True and view["autoScaleFormula"] == formula
        assert view["autoScaleEvaluationInterval"] == "PT5S"


# -- orphans --------------------------------------------------------------------------------

def _marked(tmp_path, node_root, uid):
    env = dict(os.environ, **{ATTEMPT_MARKER: uid, "AZ_BATCH_NODE_ROOT_DIR": str(node_root)})
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env,
                            start_new_session=True)


def _store_with(tmp_path, rows):
    store = Store.open(tmp_path / "s.db")
    for row in rows:
        store.put("attempts", row)
    store.commit()
    return store


def _row(uid, proc, **kw):
    p = psutil.Process(proc.pid)
    return {"uid": uid, "kind": "task", "state": "running", "pid": proc.pid, "pgid": proc.pid,
            "create_time": p.create_time(), "boot_id": boot_id(), **kw}


def test_orphans_are_found_by_pid_and_create_time_or_by_their_marker_and_nothing_else(tmp_path):
    root = tmp_path / "data" / "nodes"
    (root / "p" / "tvm-000001").mkdir(parents=True)
    node = root / "p" / "tvm-000001"
    elsewhere = tmp_path / "other" / "nodes" / "p" / "tvm-000001"
    elsewhere.mkdir(parents=True)
    recorded = _marked(tmp_path, node, "a1")
    unrecorded = _marked(tmp_path, node, "a2")
    foreign = _marked(tmp_path, elsewhere, "a3")
    reused = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                              start_new_session=True)
    try:
        store = _store_with(tmp_path, [
            _row("a1", recorded),
            {**_row("r1", reused), "create_time": psutil.Process(reused.pid).create_time() - 5},
            {**_row("b1", reused), "uid": "b1", "boot_id": "another-boot"},
            {"uid": "s1", "kind": "task", "state": "starting", "boot_id": boot_id()},
        ])
        killed = kill_orphans(store, root, boot_id())
        store.commit()
        assert sorted(killed) == ["a1", "a2"]
        assert recorded.wait(5) == -9 and unrecorded.wait(5) == -9
        assert foreign.poll() is None and reused.poll() is None
        states = {r["uid"]: r["state"] for r in store.rows("attempts")}
        assert states == {"a1": "orphan-killed", "r1": "gone", "b1": "gone", "s1": "gone"}
        store.close()
    finally:
        for p in (recorded, unrecorded, foreign, reused):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_a_deleted_pool_is_gone_after_a_restart_with_its_nodes_samples_and_runs(tmp_path):
    settings = _settings(tmp_path, min_evaluation_interval=1.0, sample_period=0.1)
    with Account(settings=settings, scale=0.1) as a:
        a.create_pool({"id": "p", "vmSize": "standard_d2s_v3", "enableAutoScale": True,
                       "autoScaleFormula": "$TargetDedicatedNodes = 1;",
                       "autoScaleEvaluationInterval": "PT5S"})
        a.create_pool({**POOL, "id": "kept", "targetDedicatedNodes": 1})
        _until(lambda: len(a.pools["p"].recorder) >= 2 and len(a.list_nodes("p")) == 1)
        a.delete_pool("p")
    with Account(settings=settings, scale=0.1) as b:
        assert [p["id"] for p in b.list_pools()] == ["kept"]
    conn = sqlite3.connect(settings.store_path)
    try:
        counts = [conn.execute(f"SELECT COUNT(*) FROM {t} WHERE pool_id = 'p'").fetchone()[0]
                  for t in ("nodes", "samples", "autoscale_runs")]
    finally:
        conn.close()
    assert counts == [0, 0, 0]


def test_dependencies_are_rebuilt_a_waiting_task_runs_when_its_requeued_parent_completes(tmp_path):
    settings = _settings(tmp_path)
    flag = tmp_path / "go"
    waits = _py(f"import os, sys, time; time.sleep(0 if os.path.exists(r'{flag}') else 60)")
    with Account(settings=settings) as a:
        a.create_pool(POOL)
        a.add_job({"id": "j", "poolInfo": {"poolId": "p"}, "usesTaskDependencies": True})
        a.add_task("j", {"id": "first", "commandLine": _py("print(1)")})
        a.add_task("j", {"id": "slow", "commandLine": waits})
        a.add_task("j", {"id": "last", "commandLine": _py("print(3)"),
                         "dependsOn": {"taskIds": ["first", "slow"]}})
        _until(lambda: a.get_task("j", "slow")["state"] == "running"
               and a.get_task("j", "first")["state"] == "completed")
        assert a.get_task("j", "last")["state"] == "active"
    flag.write_text("")
    with Account(settings=settings) as b:
        b.wait_for_job("j", timeout=8)
        tasks = {t["id"]: t for t in b.list_tasks("j")}
        assert b.read_task_file("j", "last", "stdout.txt") == b"3\n"
    assert {k: (t["state"], t["executionInfo"]["requeueCount"], t["executionInfo"]["exitCode"])
            for k, t in tasks.items()} == {"first": ("completed", 0, 0),
                                           "slow": ("completed", 1, 0),
                                           "last": ("completed", 0, 0)}


def test_a_job_deleted_and_added_again_in_one_turn_keeps_only_its_new_tasks(tmp_path):
    settings = _settings(tmp_path)
    with Account(settings=settings) as a:
        a.create_pool({**POOL, "targetDedicatedNodes": 0})
        a.add_job({"id": "j", "poolInfo": {"poolId": "p"}})
        a.add_tasks("j", [{"id": "old1", "commandLine": "true"},
                          {"id": "both", "commandLine": "true"}])

        # delete and add again on the engine thread in one command: one turn, one commit
        def turn():
            from poolscale.runtime.service.account import _JobEntry
            from poolscale.scheduler.models import JobSpec, TaskSpec

            entry = a._job("j")
            entry.engine.terminate_job(entry.job, "UserTerminate")
            del a.jobs["j"]
            a._note("forget_job", "j")
            spec = JobSpec.model_validate({"id": "j", "poolInfo": {"poolId": "p"}})
            new = _JobEntry(spec, "p", next(a._job_seq))
            a.jobs["j"] = new
            a._note("note_job", "j")
            a._place_job(new, a.pools["p"])
            new.engine.add_task(new.job, TaskSpec.model_validate(
                {"id": "both", "commandLine": "echo new"}))
        a._call(turn)
    with Account(settings=settings) as b:
        assert [t["id"] for t in b.list_tasks("j")] == ["both"]
        assert b.get_task("j", "both")["executionInfo"]["requeueCount"] == 0


def test_a_pool_stored_as_deleting_is_gone_after_a_restart(tmp_path):
    settings = _settings(tmp_path)
    with Account(settings=settings) as a:
        a.create_pool({**POOL, "id": "going", "targetDedicatedNodes": 1})
        a.create_pool({**POOL, "id": "kept", "targetDedicatedNodes": 0})
        _until(lambda: len(a.list_nodes("going")) == 1)
    store = Store.open(settings.store_path)     # as a crash in the middle of a deletion leaves it
    store.update("pools", ("going",), state="deleting")
    store.commit()
    store.close()
    with Account(settings=settings) as b:
        assert [p["id"] for p in b.list_pools()] == ["kept"]
    conn = sqlite3.connect(settings.store_path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM nodes WHERE pool_id = 'going'").fetchone() == (0,)
        assert conn.execute("SELECT id FROM pools").fetchall() == [("kept",)]
    finally:
        conn.close()


def test_tasks_added_in_several_calls_to_a_waiting_job_all_survive(tmp_path):
    # each call writes only the tasks it added (writing the job's whole waiting list at every
    # call cost n² rows); every one of them must still be stored
    settings = _settings(tmp_path)
    with Account(settings=settings) as a:
        a.add_job({"id": "waits", "poolInfo": {"poolId": "later"}})
        for c in range(3):
            a.add_tasks("waits", [{"id": f"t{c}-{i}", "commandLine": "true"} for i in range(4)])
    with Account(settings=settings) as b:
        assert sorted(t["id"] for t in b.list_tasks("waits")) == sorted(
            f"t{c}-{i}" for c in range(3) for i in range(4))
