"""Job schedules of the live account (runtime/service/account_schedules.py): the view, the id
space shared with jobs, recurrences on a scaled real clock (instants equal to the simulator's),
terminate, delete, the environment of a schedule's task, and a restart."""

from __future__ import annotations

import time

import pytest

from poolscale.runtime.service.account import Account
from poolscale.runtime.service.errors import BatchError
from poolscale.runtime.service.settings import AccountSettings

WAIT = 5.0


@pytest.fixture
def account(tmp_path):
    made = []

    def make(scale: float = 0.01, **settings) -> Account:
        acct = Account(settings=AccountSettings(data_dir=tmp_path / "data", **settings),
                       scale=scale)
        made.append(acct)
        return acct

    yield make
    for acct in made:
        acct.close()


def poll(condition, what, deadline=WAIT):
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def error_of(call) -> BatchError:
    with pytest.raises(BatchError) as info:
        call()
    return info.value


def schedule(id="s", interval="PT1M", pool="p1", command="exit 0", **extra):
    config = {} if interval is None else {"recurrenceInterval": interval}
    return {"id": id, "schedule": config,
            "jobSpecification": {"poolInfo": {"poolId": pool},
                                 "jobManagerTask": {"id": "jm", "commandLine": command}},
            **extra}


def with_pool(acct, id="p1"):
    acct.create_pool({"id": id, "vmSize": "STANDARD_D2_v3", "targetDedicatedNodes": 1})
    return acct


def job_ids(acct, schedule_id="s"):
    return [j["id"] for j in acct.list_jobs_of_schedule(schedule_id)]


def test_added_schedule_view(account):
    acct = account(scale=1.0)
    view = acct.add_job_schedule(schedule(interval="PT1H", displayName="nightly",
                                          metadata=[{"name": "k", "value": "v"}]))
    assert view["id"] == "s" and view["state"] == "active"
    assert view["displayName"] == "nightly"
    assert view["metadata"] == [{"name": "k", "value": "v"}]
    assert view["schedule"] == {"recurrenceInterval": "PT1H"}
    assert view["jobSpecification"] == schedule()["jobSpecification"]
    assert "previousState" not in view
    assert view["stateTransitionTime"] == view["creationTime"] == view["lastModified"]
    poll(lambda: acct.get_job_schedule("s")["executionInfo"].get("recentJob"), "job-1")
    got = acct.get_job_schedule("s")
    assert got["executionInfo"]["recentJob"] == {"id": "s:job-1"}
    assert got["executionInfo"]["nextRunTime"] > got["creationTime"]
    assert got["lastModified"] == view["lastModified"]
    assert [s["id"] for s in acct.list_job_schedules()] == ["s"]
    assert job_ids(acct) == ["s:job-1"]
    assert acct.get_job("s:job-1")["state"] == "active"


def test_ids_shared_with_jobs_and_duplicates(account):
    acct = account(scale=1.0)
    acct.add_job_schedule(schedule(interval="PT1H"))
    e = error_of(lambda: acct.add_job_schedule(schedule(id="S", interval="PT1H")))
    assert (e.code, e.status) == ("JobScheduleExists", 409)
    e = error_of(lambda: acct.add_job({"id": "s", "poolInfo": {"poolId": "p1"}}))
    assert (e.code, e.status) == ("JobScheduleWithSameIdExists", 409)
    acct.add_job({"id": "j", "poolInfo": {"poolId": "p1"}})
    e = error_of(lambda: acct.add_job_schedule(schedule(id="J")))
    assert (e.code, e.status) == ("JobWithSameIdExists", 409)
    e = error_of(lambda: acct.get_job_schedule("nope"))
    assert (e.code, e.status) == ("JobScheduleNotFound", 404)


def test_floor_and_missing_fields(account):
    acct = account(scale=1.0)
    e = error_of(lambda: acct.add_job_schedule(schedule(interval="PT30S")))
    assert (e.code, e.status) == ("InvalidPropertyValue", 400)
    assert dict(e.values)["PropertyName"] == "schedule.recurrenceInterval"
    e = error_of(lambda: acct.add_job_schedule({"id": "s", "schedule": {}}))
    assert (e.code, dict(e.values)["PropertyName"]) == ("MissingRequiredProperty", "jobSpecification")
    acct.close()
    lowered = account(scale=1.0, min_recurrence_interval=1.0)
    assert lowered.add_job_schedule(schedule(interval="PT30S"))["state"] == "active"


def test_recurrence_makes_numbered_jobs(account):
    acct = with_pool(account(scale=0.01))
    acct.add_job_schedule(schedule())
    poll(lambda: len(job_ids(acct)) >= 2, "two jobs")
    jobs = acct.list_jobs_of_schedule("s")
    assert [j["id"] for j in jobs[:2]] == ["s:job-1", "s:job-2"]
    view = acct.get_job_schedule("s")
    assert view["executionInfo"]["recentJob"]["id"] in {"s:job-2", "s:job-3"}
