"""The account's task index (``_JobEntry.index``): a task is found by its id, compared without
case, in constant time, whichever way it entered its job (added, restored after a restart,
moved from a job's waiting list when its pool is created), and adding tasks never compares a
new id with every id of the job.

The work of a lookup is counted, not timed: ``id_key`` (the account's id comparison) is
wrapped, and a get or an add may call it a fixed number of times per task, not once per task of
the job (which a scan did: 1,000 calls for a get on a job of 1,000 tasks).
"""

from __future__ import annotations

import pytest

from poolscale.runtime.service import account as account_module
from poolscale.runtime.service.account import Account
from poolscale.runtime.service.errors import BatchError
from poolscale.runtime.service.settings import AccountSettings

POOL = {"id": "p", "vmSize": "STANDARD_D2_v3", "targetDedicatedNodes": 0}


def tasks(start: int, stop: int) -> list[dict]:
    return [{"id": f"Task{i}", "commandLine": "/bin/true"} for i in range(start, stop)]


def add_all(acct: Account, job: str, n: int) -> None:
    for start in range(0, n, 100):
        results = acct.add_tasks(job, tasks(start, min(n, start + 100)))
        assert {r["status"] for r in results} == {"success"}


@pytest.fixture
def acct(tmp_path):
    with Account(settings=AccountSettings(data_dir=tmp_path / "data")) as a:
        yield a


@pytest.fixture
def id_keys(monkeypatch):
    """How many times the account compares an id (calls of ``id_key``)."""
    calls = [0]
    real = account_module.id_key

    def counting(value: str) -> str:
        calls[0] += 1
        return real(value)

    monkeypatch.setattr(account_module, "id_key", counting)
    return calls


@pytest.mark.parametrize("pool_first", [True, False], ids=["on-its-pool", "waiting"])
def test_a_get_finds_its_task_without_regard_to_case_and_without_a_scan(acct, id_keys,
                                                                        pool_first):
    if pool_first:
        acct.create_pool(POOL)
    acct.add_job({"id": "j", "poolInfo": {"poolId": "p"}})
    add_all(acct, "j", 1_000)
    id_keys[0] = 0
    assert acct.get_task("j", "task737")["id"] == "Task737"
    assert acct.get_task("J", "TASK0")["id"] == "Task0"
    assert id_keys[0] <= 6          # a scan: 2,000
    with pytest.raises(BatchError) as info:
        acct.get_task("j", "Task1000")
    assert (info.value.code, info.value.status) == ("TaskNotFound", 404)


def test_adding_to_a_large_job_does_not_compare_with_every_task(acct, id_keys):
    acct.create_pool(POOL)
    acct.add_job({"id": "j", "poolInfo": {"poolId": "p"}})
    add_all(acct, "j", 2_000)
    id_keys[0] = 0
    results = [r for start in range(1_000, 2_100, 100)
               for r in acct.add_tasks("j", tasks(start, start + 100))]
    assert [r["status"] for r in results] == ["clientError"] * 1_000 + ["success"] * 100
    assert id_keys[0] <= 4 * 1_100   # a scan of the job at each call: 11 x 2,000


def test_an_existing_id_in_another_case_is_refused_in_the_same_and_a_later_call(acct):
    acct.create_pool(POOL)
    acct.add_job({"id": "j", "poolInfo": {"poolId": "p"}})
    add_all(acct, "j", 300)
    results = acct.add_tasks("j", [{"id": "TASK5", "commandLine": "/bin/true"},
                                   {"id": "new", "commandLine": "/bin/true"},
                                   {"id": "NEW", "commandLine": "/bin/true"}])
    assert [(r["status"], r.get("error") and r["error"].code) for r in results] == \
        [("clientError", "TaskExists"), ("success", None), ("clientError", "TaskExists")]
    assert acct.get_task("j", "New")["id"] == "new"


def test_tasks_of_a_waiting_job_are_found_once_its_pool_exists(acct):
    acct.add_job({"id": "j", "poolInfo": {"poolId": "p"}})
    add_all(acct, "j", 250)
    assert acct.get_task("j", "task249")["state"] == "active"
    acct.create_pool(POOL)          # the waiting tasks become the engine's
    assert acct.get_task("j", "task249")["id"] == "Task249"
    results = acct.add_tasks("j", tasks(249, 251))
    assert [r["status"] for r in results] == ["clientError", "success"]
    assert acct.get_task("j", "TASK250")["id"] == "Task250"


@pytest.mark.parametrize("pool_first", [True, False], ids=["on-its-pool", "waiting"])
def test_tasks_restored_after_a_restart_are_found_and_keep_their_ids(tmp_path, pool_first):
    settings = AccountSettings(data_dir=tmp_path / "data")
    with Account(settings=settings) as first:
        if pool_first:
            first.create_pool(POOL)
        first.add_job({"id": "j", "poolInfo": {"poolId": "p"}})
        add_all(first, "j", 300)
    with Account(settings=settings) as again:
        assert again.get_task("j", "task299")["id"] == "Task299"
        results = again.add_tasks("j", tasks(299, 301))
        assert [r["status"] for r in results] == ["clientError", "success"]
        assert again.get_task("j", "task300")["id"] == "Task300"
