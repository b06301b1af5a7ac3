"""The live engine's SQLite store (``poolscale.runtime.service.store``).

What the engine relies on: every column of every table reads back exactly as written; the file is
in WAL mode so readers see the last committed turn while the engine writes the next; a writer
killed with SIGKILL mid-transaction leaves exactly what it committed; the schema version is
recorded and a newer one refused; a file that is not a store gives one clear line, not a traceback.
"""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import tomllib
from pathlib import Path

import pytest

from poolscale.runtime.service.store import (
    SCHEMA_VERSION,
    Store,
    StoreError,
    pack_values,
    unpack_values,
)

ROOT = Path(__file__).resolve().parent.parent

# One row per table with every column set; values chosen to catch lossy round trips (floats that
# are not short decimals, 64-bit integers, non-ASCII text, NaN inside a blob, empty strings).
SAMPLE_BLOB = pack_values([0.1 + 0.2, -0.0, math.nan, 1e-300, 2.0**60] + [float(i) for i in range(9)])
ROWS: dict[str, dict[str, object]] = {
    "meta": {"key": "boot_id", "value": "3f1c-é"},
    "pools": {
        "id": "pool-1", "spec": '{"vmSize": "standard_d2_v3"}', "state": "active",
        "allocation_state": "resizing", "allocation_state_time": 12.345678901234567,
        "target_dedicated": 3, "target_low_priority": 0, "dealloc_option": "requeue",
        "enable_auto_scale": 1, "auto_scale_formula": "$TargetDedicatedNodes = 2;",
        "eval_interval_s": 300.0, "autoscale_origin": 0.1 + 0.2, "autoscale_next_k": 7,
        "sample_next_k": 41, "next_node_num": 4, "resize_errors": "[]", "etag": "0x1",
        "created": 1.0, "modified": 2.5,
    },
    "nodes": {
        "pool_id": "pool-1", "num": 1, "id": "tvm-000001", "kind": 0, "state": "idle",
        "scheduling_enabled": 1, "life": 2, "inc": 3, "state_time": 9.75, "allocated": 1.125,
        "leave_option": None, "retain_until": 1e300, "start_task_attempts": 1,
        "start_task_info": '{"exitCode": 0}', "root": "/tmp/nodes/tvm-000001", "ip": "127.0.0.2",
        "tasks": '{"tasksRun": 2, "tasksSucceeded": 1, "recentTasks": []}',
    },
    "jobs": {
        "id": "job-1", "seq": 0, "pool_id": "pool-1", "spec": "{}", "state": "active",
        "reason": "", "priority": -1000, "created": 3.0, "ended": None, "completed": None,
        "jm_started": 0, "etag": "0x2", "modified": 3.0,
        "auto_pool": '{"poolLifetimeOption": "job", "pool": {"vmSize": "é"}}',
    },
    "tasks": {
        "job_id": "job-1", "id": "task-ü", "seq": 2**62, "spec": '{"commandLine": "/bin/true"}',
        "state": "completed", "result": "success", "exit_code": -1073741510,
        "failure_category": "ServerError", "failure_code": "TaskEnded", "retry_count": 1,
        "requeue_count": 2, "recovery_count": 0, "attempt": 3, "submit_time": 3.5,
        "first_start": 4.0, "start_time": 5.0, "end_time": 6.0 / 7.0,
        "node_ids": "tvm-000001,tvm-000002", "dep_satisfies": 1, "blocked": 0, "etag": "0x3",
        "modified": 7.0,
    },
    "certificates": {
        "key": "sha1-ab01", "thumbprint": "AB01", "algorithm": "sha1", "format": "pfx",
        "data": b"\x30\x82\x00\xff", "password": "pässword", "public_data": None,
        "state": "deletefailed", "state_time": "2026-12-07T23:00:00.000Z",
        "previous_state": "deleting", "previous_state_time": "2026-12-07T22:59:59.999Z",
        "delete_error": '{"code": "CertificateStateDeleteFailed"}',
    },
    "attempts": {
        "uid": "a-1", "job_id": "job-1", "task_id": "task-ü", "kind": "task", "pool_id": "pool-1",
        "node_num": 1, "instance": 0, "attempt_no": 3, "state": "exited", "pid": 4194303,
        "pgid": 4194303, "create_time": 1765130000.123456, "boot_id": "3f1c",
        "started_at": 5.0, "ended_at": 6.0, "exit_code": 0, "task_dir": "/tmp/x/wd",
    },
    "prep_records": {
        "pool_id": "pool-1", "node_num": 1, "job_id": "job-1", "state": "completed",
        "attempts": 1, "exit_code": 0,
    },
    "autoscale_runs": {
        "pool_id": "pool-1", "k": 0, "timestamp_ticks": 639006000000000000,
        "results": "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0", "error": None, "applied": 1,
    },
    "samples": {
        "pool_id": "pool-1", "k": 41, "stamp_ticks": 639006000000000001, "sample_values": SAMPLE_BLOB,
    },
    "auto_pools": {"pool_id": "ap_1", "id": "AP_1", "owner": "job-1", "lifetime": "job",
                   "keep_alive": 0, "spec": '{"poolLifetimeOption": "job"}'},
    "job_schedules": {"id": "s", "schedule_id": "S", "given": '{"schedule": {}}',
                      "extras": "{}", "created": 1.5, "modified": 2.5,
                      "history": '[["active", 1.5]]', "recurrence": '{"state": "active"}'},
    "task_dirs": {"path": "/tmp/x/wd", "delete_at": 604800.5},
    "rest_properties": {"job_id": "job-1", "task_id": "task-ü",
                        "body": '{"extras": {"displayName": "é"}, "modified": 7.25}'},
}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "poolscale.db"


def test_every_table_round_trips_exactly(db: Path) -> None:
    with Store.open(db) as store:
        assert set(store._pk) == set(ROWS) | {"schema_version"}, "a table has no round-trip row"
        for table, row in ROWS.items():
            assert set(row) == set(store._columns[table]), f"{table}: test row misses columns"
            store.put(table, row)
        assert store.commit() == len(ROWS)
    with Store.open(db) as store:
        for table, row in ROWS.items():
            assert store.rows(table) == [row], table
            for col, value in row.items():
                got = store.rows(table)[0][col]
                assert type(got) is type(value), (table, col)
    blob = unpack_values(SAMPLE_BLOB)
    assert pack_values(blob) == SAMPLE_BLOB and len(blob) == 14 and math.isnan(blob[2])


def _pool(**extra: object) -> dict[str, object]:
    row = {"id": "p", "spec": "{}", "state": "active", "allocation_state": "steady",
           "enable_auto_scale": 0, "next_node_num": 1, "etag": "e"}
    row.update(extra)
    return row


def test_staging_merges_touches_deletes_and_replaces(db: Path) -> None:
    with Store.open(db) as store:
        store.put("pools", _pool(target_dedicated=1))
        store.put("pools", {"id": "p", "target_low_priority": 5})  # same turn: merged by column
        state = {"n": 0}
        store.touch("meta", ("k",), lambda: {"key": "k", "value": str(state["n"])})
        state["n"] = 3  # the row is built at commit, from the object's state then
        assert store.dirty == 2
        store.commit()
        assert store.dirty == 0 and store.commit() == 0
        assert store.meta() == {"k": "3"}
        pool = store.rows("pools")[0]
        assert (pool["target_dedicated"], pool["target_low_priority"]) == (1, 5)

        store.update("pools", ("p",), target_dedicated=9)  # some columns: the others kept
        store.update("pools", ("gone",), target_dedicated=9)  # no such row: nothing happens
        store.commit()
        pool = store.rows("pools")
        assert len(pool) == 1 and (pool[0]["target_dedicated"], pool[0]["target_low_priority"]) == (9, 5)
        with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):  # a new row must be whole
            store.put("pools", {"id": "q", "target_dedicated": 1})
            store.commit()
        store._dirty.clear()

        store.touch("meta", ("k",), lambda: {"key": "k", "value": "built"})
        store.update("meta", ("k",), value="updated")  # an update on top of a touched row
        store.commit()
        assert store.meta() == {"k": "updated"}

        store.delete("pools", ("p",))
        store.put("pools", _pool())  # delete then add in one turn: the old columns are gone
        store.commit()
        assert store.rows("pools")[0]["target_dedicated"] is None

        store.delete("meta", ("k",))
        store.commit()
        assert store.meta() == {}


def test_wal_mode_and_durability_settings(db: Path) -> None:
    for durability, level in (("off", 0), ("normal", 1), ("full", 2)):
        with Store.open(db, durability=durability) as store:
            assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == level
            assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert store.query("PRAGMA journal_mode")[0]["journal_mode"] == "wal"
            assert store._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    # WAL is a property of the file: a plain connection sees it too
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(ValueError, match="off, normal, full"):
        Store.open(db, durability="fast")


def test_reader_sees_last_commit_while_a_write_is_open(db: Path) -> None:
    with Store.open(db) as store:
        store.set_meta("turn", "1")
        store.commit()
        seen: list[dict[str, str]] = []
        store.set_meta("turn", "2")  # staged before the transaction: written as it begins
        with store.transaction() as conn:
            conn.execute("INSERT INTO task_dirs(path, delete_at) VALUES ('/d', 1.0)")
            assert conn.execute("SELECT value FROM meta WHERE key='turn'").fetchone()[0] == "2"
            # another thread, its own read connection: not blocked, and sees turn 1 only
            def look() -> None:
                seen.append(store.meta() | {"dirs": str(len(store.rows("task_dirs")))})

            t = threading.Thread(target=look)
            t.start()
            t.join(5)
            assert seen == [{"turn": "1", "dirs": "0"}]
            assert store.meta() == {"turn": "1"}  # this thread's reader too
        assert store.meta() == {"turn": "2"} and len(store.rows("task_dirs")) == 1


def test_failed_transaction_writes_nothing_and_keeps_rows_staged(db: Path) -> None:
    with Store.open(db) as store:
        store.set_meta("a", "1")
        with pytest.raises(RuntimeError):
            with store.transaction():
                store.set_meta("b", "2")
                raise RuntimeError("rule failed")
        assert store.meta() == {} and store.dirty == 2
        store.commit()
        assert store.meta() == {"a": "1", "b": "2"}


def test_foreign_keys_are_checked_at_commit(db: Path) -> None:
    task = {"job_id": "j", "id": "t", "spec": "{}", "state": "active"}
    with Store.open(db) as store:
        store.put("tasks", task)  # staged before its job: fine, checked at COMMIT
        store.put("jobs", {"id": "j", "seq": 0, "spec": "{}"})
        store.commit()
        store.put("tasks", task | {"job_id": "missing"})
        with pytest.raises(sqlite3.IntegrityError):
            store.commit()
        assert [r["job_id"] for r in store.rows("tasks")] == ["j"]


def test_only_one_thread_writes(db: Path) -> None:
    with Store.open(db) as store:
        store.set_meta("a", "1")
        errors: list[Exception] = []

        def other() -> None:
            try:
                store.set_meta("b", "2")
            except StoreError as exc:
                errors.append(exc)

        t = threading.Thread(target=other)
        t.start()
        t.join(5)
        assert len(errors) == 1 and "one thread" in str(errors[0])
        store.release_writer()  # handed over: now the other thread may write, and not this one
        t = threading.Thread(target=lambda: (store.set_meta("b", "2"), store.commit()))
        t.start()
        t.join(5)
        assert store.meta() == {"a": "1", "b": "2"}  # rows staged before the hand-over go too
        with pytest.raises(StoreError, match="one thread"):
            store.commit()


CHILD = textwrap.dedent(
    """
    import os, sys, time
    from poolscale.runtime.service.store import Store
    store = Store.open(sys.argv[1])
    for turn in range(3):                      # three committed turns, 5 rows each
        for i in range(5):
            store.put("task_dirs", {"path": f"/c/{turn}/{i}", "delete_at": float(i)})
        store.commit()
    store.put("task_dirs", {"path": "/staged-only", "delete_at": 0.0})  # never committed
    print("committed", os.path.getsize(sys.argv[1] + "-wal"), flush=True)
    store._conn.execute("PRAGMA cache_size = 2")  # spill the open turn into the WAL file
    with store.transaction() as conn:          # a turn in progress when the kill comes
        for i in range(2000):
            conn.execute("INSERT INTO task_dirs VALUES (?, ?)", (f"/open/{i}", 1.0))
        conn.execute("UPDATE task_dirs SET delete_at = -1")
        print("open", flush=True)
        time.sleep(60)
    """
)


def test_killed_writer_leaves_exactly_the_committed_rows(db: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        committed = int(child.stdout.readline().split()[1])
        assert child.stdout.readline() == "open\n"
        # the uncommitted turn is partly on disk: recovery must ignore those WAL frames
        assert os.path.getsize(f"{db}-wal") > committed
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(5)
    assert child.returncode == -signal.SIGKILL
    with Store.open(db) as store:
        rows = store.rows("task_dirs")
        assert rows == sorted(
            ({"path": f"/c/{t}/{i}", "delete_at": float(i)} for t in range(3) for i in range(5)),
            key=lambda r: r["path"],
        )
        store.put("task_dirs", {"path": "/after", "delete_at": 2.0})  # and it is writable again
        store.commit()
        assert len(store.rows("task_dirs")) == 16


def test_schema_version_is_recorded_and_newer_is_refused(db: Path) -> None:
    with Store.open(db) as store:
        assert store.schema_version == SCHEMA_VERSION == 6
        assert [r["version"] for r in store.rows("schema_version")] == [1, 2, 3, 4, 5, 6]
    with Store.open(db) as store:  # reopening applies nothing twice
        assert len(store.rows("schema_version")) == 6
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO schema_version VALUES (?, 'later')", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"schema version 7 is newer than this poolscale knows \(6\)"):
        Store.open(db)


@pytest.mark.parametrize(
    "content",
    [os.urandom(4096), b"SQLite format 3\x00" + b"\xff" * 4080, b"not a database\n", b"\x00" * 100],
    ids=["random", "damaged-header", "text", "zeros"],
)
def test_a_file_that_is_not_a_store_gives_one_clear_line(db: Path, content: bytes) -> None:
    db.write_bytes(content)
    with pytest.raises(StoreError) as info:
        Store.open(db)
    message = str(info.value)
    assert message.startswith(f"{db}: not a poolscale store") and "\n" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_an_unrelated_sqlite_database_or_a_directory_is_refused(db: Path, tmp_path: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE invoices(n INT)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a poolscale store .*invoices"):
        Store.open(db)
    with pytest.raises(StoreError, match="is a directory"):
        Store.open(tmp_path)


def test_the_schema_ships_with_the_package() -> None:
    """The wheel lists packages explicitly: a new package or data file must be named there."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    for package, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            name = ".".join([package, *rel.parts])
            assert name in listed, f"{name} is missing from [tool.setuptools] packages"
    # schema/ has no __init__.py: setuptools wants such a data folder listed as a package too
    assert "poolscale.runtime.service.schema" in listed
    assert "*.sql" in config["package-data"]["poolscale.runtime.service.schema"]
    assert sorted(p.name for p in (ROOT / "runtime" / "service" / "schema").iterdir()) == ["001.sql", "002.sql", "003.sql", "004.sql", "005.sql", "006.sql"]


def test_migrations_apply_in_order_once_and_a_failed_one_changes_nothing(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from poolscale.runtime.service import store as store_module

    shipped = store_module.migrations()
    n = len(shipped)
    with Store.open(db):
        pass  # every shipped version
    add_column = f"-- {n + 1:03d}: a later release adds a column\nALTER TABLE pools ADD COLUMN note TEXT;\n"
    broken = "CREATE TABLE later(x INT);\nTHIS IS NOT SQL;\n"
    monkeypatch.setattr(store_module, "migrations",
                        lambda: shipped + [(n + 1, add_column), (n + 2, broken)])
    with pytest.raises(StoreError, match=rf"schema migration {n + 2:03d} failed: .*syntax error"):
        Store.open(db)
    conn = sqlite3.connect(db)
    # the first later one committed on its own; the broken one rolled back whole (its first
    # statement included)
    assert [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")] == \
        list(range(1, n + 2))
    assert "note" in [c[1] for c in conn.execute("PRAGMA table_info(pools)")]
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'later'").fetchone() is None
    conn.close()
    monkeypatch.setattr(store_module, "migrations", lambda: shipped + [(n + 1, add_column)])
    with Store.open(db) as store:
        assert store.schema_version == n + 1 and "note" in store._columns["pools"]


def test_staging_mistakes_are_named(db: Path) -> None:
    with Store.open(db) as store:
        with pytest.raises(StoreError, match="no table 'pool'"):
            store.put("pool", {"id": "p"})
        with pytest.raises(StoreError, match="primary key column 'id'"):
            store.put("pools", {"state": "active"})
        store.set_meta("a", "1")
        store.put("meta", {"key": "k", "valu": "typo"})
        with pytest.raises(StoreError, match="meta: no column valu"):
            store.commit()
        store._dirty.clear()
        store.touch("meta", ("k",), lambda: {"key": "other", "value": "v"})
        with pytest.raises(StoreError, match=r"built for \('k',\) has primary key \('other',\)"):
            store.commit()
        assert store.meta() == {}
