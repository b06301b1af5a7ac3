"""The task rows of a turn (runtime/service/persist.py): written by one ``executemany`` per kind
of row at the turn's commit, never staged one dict at a time, exactly as the staged rows were
(the same columns and values); kept for the next commit when a commit fails.
"""

from __future__ import annotations

import sqlite3

import pytest

from poolscale.runtime.service.account import Account
from poolscale.runtime.service.persist import (
    TASK_COLUMNS, WAITING_TASK_COLUMNS, task_row, task_values, waiting_task_row,
)
from poolscale.runtime.service.settings import AccountSettings
from poolscale.runtime.service.store import Store
from poolscale.scheduler.models import TaskSpec

POOL = {"id": "p", "vmSize": "STANDARD_D2_v3", "targetDedicatedNodes": 0}


def _rows(path, job="j") -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT {', '.join(TASK_COLUMNS)} FROM tasks WHERE job_id = ? "
                            "ORDER BY id", (job,)).fetchall()
    finally:
        conn.close()


@pytest.fixture
def puts(monkeypatch):
    """Rows staged one by one with ``Store.put``, by table."""
    staged: dict[str, int] = {}
    real = Store.put

    def counting(self, table, row):
        staged[table] = staged.get(table, 0) + 1
        return real(self, table, row)

    monkeypatch.setattr(Store, "put", counting)
    return staged


@pytest.mark.parametrize("pool_first", [True, False], ids=["on-its-pool", "waiting"])
def test_a_collection_is_durable_when_add_tasks_returns_without_a_row_staged_per_task(
        tmp_path, puts, pool_first):
    settings = AccountSettings(data_dir=tmp_path / "data")
    with Account(settings=settings) as a:
        if pool_first:
            a.create_pool(POOL)
        a.add_job({"id": "j", "poolInfo": {"poolId": "p"}})
        a.add_tasks("j", [{"id": f"t{i}", "commandLine": "/bin/true"} for i in range(100)])
        assert puts.get("tasks", 0) == 0
        rows = _rows(settings.store_path)
    assert len(rows) == 100
    t0 = dict(zip(TASK_COLUMNS, rows[0]))
    assert (t0["job_id"], t0["id"], t0["state"], t0["retry_count"], t0["requeue_count"]) == \
        ("j", "t0", "active", 0, 0)
    assert t0["spec"] == '{"id":"t0","commandLine":"/bin/true"}'
    assert t0["seq"] == (0 if pool_first else None)


def test_the_values_are_the_rows_by_column(tmp_path):
    settings = AccountSettings(data_dir=tmp_path / "data")
    with Account(settings=settings) as a:
        a.add_job({"id": "w", "poolInfo": {"poolId": "p"}})
        a.add_task("w", {"id": "x", "commandLine": "/bin/true"})
        a.create_pool(POOL)
        a.add_job({"id": "J", "poolInfo": {"poolId": "p"}})
        a.add_task("J", {"id": "y", "commandLine": "/bin/true", "requiredSlots": 1})

        def rows():
            entry, moved = a.jobs["j"], a.jobs["w"]     # "w" has its pool now
            task = entry.job.tasks[0]
            spec = moved.engine._task_spec(moved.job.tasks[0])
            return task_row(entry, task), task_values(entry, task), \
                waiting_task_row(moved, spec)
        row, values, waiting = a._call(rows)
    assert list(row) == list(TASK_COLUMNS) and tuple(row.values()) == values
    assert row["job_id"] == "j" and row["id"] == "y" and row["node_ids"] is None
    assert waiting == {"job_id": "w", "id": "x", "seq": None,
                       "spec": '{"id":"x","commandLine":"/bin/true"}', "state": "active",
                       "retry_count": 0, "requeue_count": 0, "recovery_count": 0, "attempt": 0}
    assert list(waiting) == list(WAITING_TASK_COLUMNS)


def test_task_rows_of_a_failed_commit_are_written_by_the_next(tmp_path):
    settings = AccountSettings(data_dir=tmp_path / "data")
    a = Account(settings=settings)
    try:
        a.create_pool(POOL)
        a.add_job({"id": "j", "poolInfo": {"poolId": "p"}})
        persister = a._persist

        def fail_once():
            real = persister.store.transaction

            def failing():
                persister.store.transaction = real
                raise sqlite3.OperationalError("disk I/O error")
            persister.store.transaction = failing
            entry = a.jobs["j"]
            for i in range(3):
                entry.engine.add_task(entry.job, TaskSpec(id=f"t{i}", command_line="/bin/true"))
            with pytest.raises(sqlite3.OperationalError):
                persister.commit()
            assert persister.store.dirty >= 3      # staged again, for the next commit
            persister.commit()
        a._call(fail_once)
        assert [r[1] for r in _rows(settings.store_path)] == ["t0", "t1", "t2"]
    finally:
        a.close()


def test_a_just_accepted_tasks_row_is_its_full_row_and_replaces_an_older_one(tmp_path):
    settings = AccountSettings(data_dir=tmp_path / "data")
    with Account(settings=settings) as a:
        a.create_pool(POOL)
        a.add_job({"id": "j", "poolInfo": {"poolId": "p"}})
        store = a._persist.store

        def stale_row():        # a row left for t1 with every column set otherwise
            with store.transaction() as conn:
                conn.execute(store.put_statement("tasks", TASK_COLUMNS), (
                    "j", "t1", 9, "{}", "completed", "failure", 3, "UserError", "X", 1, 2, 3,
                    4, 5.0, 6.0, 7.0, 8.0, "tvm-1", 1, 1))
        a._call(stale_row)
        a.add_tasks("j", [{"id": f"t{i}", "commandLine": "/bin/true"} for i in range(3)])

        def expected():
            entry = a.jobs["j"]
            return [task_values(entry, t) for t in entry.job.tasks]
        rows = a._call(expected)
        assert _rows(settings.store_path) == rows
    assert rows[1][:5] == ("j", "t1", 1, '{"id":"t1","commandLine":"/bin/true"}', "active")
    assert rows[1][5:] == (None, None, None, None, 0, 0, 0, 0, rows[1][13], None, None, None,
                           None, 0, 0)


def test_a_waiting_task_added_and_removed_in_one_turn_leaves_no_row(tmp_path):
    settings = AccountSettings(data_dir=tmp_path / "data")
    with Account(settings=settings) as a:
        a.add_job({"id": "j", "poolInfo": {"poolId": "later"}})

        def add_then_drop():            # one command, so one turn and one commit
            a.add_tasks("j", [{"id": f"t{i}", "commandLine": "/bin/true"} for i in range(3)])
            entry = a.jobs["j"]
            entry.waiting = [s for s in entry.waiting if s.id != "t1"]   # as a deletion does
            a._persist.store.delete("tasks", ("j", "t1"))
        a.submit(add_then_drop).result(10)
        assert [r[1] for r in _rows(settings.store_path)] == ["t0", "t2"]
