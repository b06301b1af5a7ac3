"""``Account.submit`` and ``Account.submit_tasks``: a command handed to the engine thread without
a thread waiting for it, so an event loop can ``await asyncio.wrap_future(...)``; the future
resolves after the commit (what it acknowledges is durable), carries the account's errors, and
a command may call the account's own methods (they run inside it instead of waiting on the
engine thread from the engine thread, which never returned).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from poolscale.runtime.service.account import Account
from poolscale.runtime.service.errors import BatchError
from poolscale.runtime.service.settings import AccountSettings

POOL = {"id": "p", "vmSize": "STANDARD_D2_v3", "targetDedicatedNodes": 0}
TIMEOUT = 10.0


@pytest.fixture
def settings(tmp_path):
    return AccountSettings(data_dir=tmp_path / "data")


@pytest.fixture
def acct(settings):
    with Account(settings=settings) as a:
        a.create_pool(POOL)
        a.add_job({"id": "j", "poolInfo": {"poolId": "p"}})
        yield a


def test_a_submitted_command_runs_on_the_engine_thread_and_may_call_the_account(acct):
    def command():
        acct.add_task("j", {"id": "t1", "commandLine": "/bin/true"})
        return threading.current_thread().name, acct.get_task("J", "T1")["id"]

    future = acct.submit(command)
    assert future.result(TIMEOUT) == ("poolscale-engine", "t1")


def test_an_event_loop_awaits_submitted_tasks_and_they_are_committed(acct, settings):
    async def main():
        futures = [acct.submit_tasks("j", [{"id": f"t{k}-{i}", "commandLine": "/bin/true"}
                                           for i in range(50)], view=False)
                   for k in range(4)]
        return await asyncio.wait_for(
            asyncio.gather(*(asyncio.wrap_future(f) for f in futures)), TIMEOUT)

    results = asyncio.run(main())
    assert [len(r) for r in results] == [50] * 4
    assert results[2][7] == {"taskId": "t2-7", "status": "success"}
    conn = sqlite3.connect(settings.store_path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM tasks WHERE job_id = 'j'").fetchone() == (200,)
    finally:
        conn.close()


def test_a_submitted_refusal_is_the_futures_exception(acct):
    with pytest.raises(BatchError) as info:
        acct.submit_tasks("nope", [{"id": "t", "commandLine": "/bin/true"}]).result(TIMEOUT)
    assert (info.value.code, info.value.status) == ("JobNotFound", 404)
    with pytest.raises(BatchError) as info:
        acct.submit(lambda: acct.get_pool("nope")).result(TIMEOUT)
    assert info.value.code == "PoolNotFound"


def test_a_closed_account_fails_the_future_at_once(settings):
    a = Account(settings=settings)
    a.close()
    future = a.submit(lambda: 1)
    assert future.done()
    with pytest.raises(RuntimeError, match="the account is closed"):
        future.result(0)
