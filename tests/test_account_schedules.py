"""Job schedules of the live account (runtime/service/account_schedules.py): the view, the id
space shared with jobs, recurrences on a scaled real clock (instants equal to the simulator's),
terminate, delete, the environment of a schedule's task, and a restart."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from account_testing import accounts, error_of, poll

WAIT = 5.0


@pytest.fixture
def account(tmp_path):
    yield from accounts(tmp_path, scale=0.01)


def instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


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
    for call in (acct.get_job_schedule, acct.list_jobs_of_schedule, acct.disable_job_schedule,
                 acct.delete_job_schedule, lambda i: acct.update_job_schedule(i, {})):
        e = error_of(lambda: call("nope"))
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


def test_terminate_while_its_job_runs(account):
    acct = with_pool(account(scale=1.0))
    acct.add_job_schedule(schedule(interval="PT1H", command="sleep 30"))
    poll(lambda: job_ids(acct) and acct.get_task("s:job-1", "jm")["state"] == "running",
         "the job manager running")
    view = acct.terminate_job_schedule("s")
    assert view["state"] in ("terminating", "completed")
    poll(lambda: acct.get_job_schedule("s")["state"] == "completed", "completed")
    done = acct.get_job_schedule("s")
    assert done["previousState"] == "terminating"
    assert done["executionInfo"]["endTime"] == done["stateTransitionTime"]
    assert "nextRunTime" not in done["executionInfo"]
    assert acct.get_job("s:job-1")["executionInfo"]["terminateReason"] == "UserTerminate"
    e = error_of(lambda: acct.disable_job_schedule("s"))
    assert (e.code, e.status) == ("JobScheduleCompleted", 409)


def test_terminate_without_a_job_completes_in_the_call(account):
    acct = account(scale=1.0)
    acct.add_job_schedule(schedule(schedule={"doNotRunUntil": "2099-01-01T00:00:00Z"}))
    view = acct.terminate_job_schedule("s")
    assert (view["state"], view["previousState"]) == ("completed", "active")
    assert job_ids(acct) == []


def test_disable_and_enable(account):
    acct = account(scale=1.0)
    acct.add_job_schedule(schedule(interval="PT1H"))
    view = acct.disable_job_schedule("s")
    assert (view["state"], view["previousState"]) == ("disabled", "active")
    e = error_of(lambda: acct.add_job_schedule(schedule(interval="PT1H")))
    assert e.code == "JobScheduleExists"
    view = acct.enable_job_schedule("s")
    assert (view["state"], view["previousState"]) == ("active", "disabled")
    e = error_of(lambda: acct.enable_job_schedule("s"))
    assert (e.code, e.status) == ("OperationInvalidForCurrentState", 409)


def test_delete_removes_every_job(account):
    acct = with_pool(account(scale=0.01))
    acct.add_job_schedule(schedule())
    poll(lambda: len(job_ids(acct)) >= 2, "two jobs")
    acct.delete_job_schedule("s")
    e = error_of(lambda: acct.get_job_schedule("s"))
    assert (e.code, e.status) == ("JobScheduleNotFound", 404)
    for job_id in ("s:job-1", "s:job-2"):
        e = error_of(lambda: acct.get_job(job_id))
        assert e.code == "JobNotFound"
    assert [j["id"] for j in acct.list_jobs() if j["id"].startswith("s:")] == []


def test_update_and_replace(account):
    acct = account(scale=1.0)
    acct.add_job_schedule(schedule(interval="PT1H", metadata=[{"name": "a", "value": "1"}]))
    view = acct.update_job_schedule("s", {"metadata": [{"name": "b", "value": "2"}]})
    assert view["metadata"] == [{"name": "b", "value": "2"}]
    assert view["schedule"] == {"recurrenceInterval": "PT1H"}
    view = acct.replace_job_schedule("s", {"schedule": {"recurrenceInterval": "PT2H"},
                                          "jobSpecification": schedule()["jobSpecification"]})
    assert "metadata" not in view
    assert view["schedule"] == {"recurrenceInterval": "PT2H"}
    e = error_of(lambda: acct.replace_job_schedule("s", {"schedule": {}}))
    assert (e.code, dict(e.values)["PropertyName"]) == ("MissingRequiredProperty",
                                                        "jobSpecification")


def test_task_environment_of_a_schedule_job(account):
    acct = with_pool(account(scale=1.0))
    command = "/bin/sh -c 'echo $WATASK_WORKITEM_NAME $WATASK_JOB_NAME $AZ_BATCH_JOB_ID'"
    acct.add_job_schedule(schedule(interval="PT1H", command=command))
    poll(lambda: job_ids(acct) and acct.get_task("s:job-1", "jm")["state"] == "completed",
         "the job manager completed")
    out = acct.read_task_file("s:job-1", "jm", "stdout.txt").decode().split()
    assert out == ["s", "job-1", "s:job-1"]


def test_schedule_survives_a_restart(account):
    acct = account(scale=1.0)
    acct.add_job_schedule(schedule(interval="PT1H", metadata=[{"name": "a", "value": "1"}]))
    poll(lambda: job_ids(acct) == ["s:job-1"], "job-1")
    before = acct.get_job_schedule("s")
    acct.close()
    again = account(scale=1.0)
    after = again.get_job_schedule("s")
    for name in ("state", "creationTime", "schedule", "jobSpecification", "metadata"):
        assert after[name] == before[name]
    assert after["executionInfo"]["recentJob"] == {"id": "s:job-1"}
    assert after["executionInfo"]["nextRunTime"] == before["executionInfo"]["nextRunTime"]
    assert job_ids(again) == ["s:job-1"]
    e = error_of(lambda: again.add_job({"id": "S", "poolInfo": {"poolId": "p1"}}))
    assert e.code == "JobScheduleWithSameIdExists"


def test_instants_follow_the_recurrence_grid(account):
    """On a scaled clock the jobs are made at the schedule's grid instants, to the
    millisecond: creation + k * PT1M (the instants the simulator's driver gives)."""
    acct = with_pool(account(scale=0.01))
    created = acct.add_job_schedule(schedule())["creationTime"]
    poll(lambda: len(job_ids(acct)) >= 3, "three jobs")
    times = [j["creationTime"] for j in acct.list_jobs_of_schedule("s")[:3]]
    assert [(instant(t) - instant(created)).total_seconds() for t in times] == [0.0, 60.0, 120.0]


def test_a_due_instant_missed_while_down_is_made_at_restart(account):
    acct = with_pool(account(scale=0.01))
    acct.add_job_schedule(schedule(schedule={"recurrenceInterval": "PT1M",
                                             "startWindow": "PT10M"}))
    poll(lambda: job_ids(acct) == ["s:job-1"], "job-1")
    due = acct.get_job_schedule("s")["executionInfo"]["nextRunTime"]
    acct.close()
    time.sleep(0.7)                 # 70 engine seconds down: the instant PT1M passes
    again = account(scale=0.01)
    poll(lambda: "s:job-2" in job_ids(again), "job-2 made at restart")
    job2 = again.get_job("s:job-2")
    assert job2["creationTime"] >= due


def auto_pool_schedule(lifetime="jobschedule", command="exit 0"):
    auto = {"autoPoolIdPrefix": "nightly", "poolLifetimeOption": lifetime,
            "pool": {"vmSize": "STANDARD_D2_v3", "taskSlotsPerNode": 1,
                     "targetDedicatedNodes": 1}}
    return {"id": "s", "schedule": {"recurrenceInterval": "PT1M"},
            "jobSpecification": {"poolInfo": {"autoPoolSpecification": auto},
                                 "jobManagerTask": {"id": "jm", "commandLine": command}}}


def pool_ids(acct):
    return [p["id"] for p in acct.list_pools()]


def test_a_schedules_jobs_share_its_auto_pool_until_it_ends(account):
    from poolscale.scheduler.autopools import auto_pool_id

    acct = account(scale=0.01)
    acct.add_job_schedule(auto_pool_schedule())
    poll(lambda: len(job_ids(acct)) >= 2, "two jobs")
    pool_id = auto_pool_id("nightly", "s", 1)
    assert pool_ids(acct) == [pool_id]
    assert {j["executionInfo"]["poolId"] for j in acct.list_jobs_of_schedule("s")[:2]} == {
        pool_id}
    assert acct.get_job("s:job-1")["poolInfo"] == auto_pool_schedule()["jobSpecification"][
        "poolInfo"]
    acct.terminate_job_schedule("s")
    poll(lambda: acct.get_job_schedule("s")["state"] == "completed", "the schedule to end")
    poll(lambda: pool_ids(acct) == [], "the schedule's pool to be deleted")


def test_deleting_a_schedule_deletes_its_jobs_pools(account):
    from poolscale.scheduler.autopools import auto_pool_id

    acct = account(scale=1.0)
    acct.add_job_schedule(auto_pool_schedule(lifetime="job", command="sleep 30"))
    poll(lambda: job_ids(acct) == ["s:job-1"], "job-1")
    assert pool_ids(acct) == [auto_pool_id("nightly", "s:job-1", 1)]
    acct.delete_job_schedule("s")
    assert [j["id"] for j in acct.list_jobs()] == []
    poll(lambda: pool_ids(acct) == [], "the job's pool to be deleted")


def test_deleting_the_job_waiting_for_its_pool_frees_the_schedule(account):
    acct = account(scale=0.01)
    acct.add_job_schedule(schedule(pool="nowhere", schedule={"recurrenceInterval": "PT1M",
                                                             "startWindow": "PT10M"}))
    poll(lambda: job_ids(acct) == ["s:job-1"], "job-1")
    time.sleep(0.7)                 # the instant PT1M passes: pending behind job-1
    assert job_ids(acct) == ["s:job-1"]
    acct.delete_job("s:job-1")
    poll(lambda: job_ids(acct) == ["s:job-2"], "job-2 made once job-1 is deleted")


def test_a_changed_schedule_makes_no_job_by_itself(account):
    acct = with_pool(account(scale=1.0))
    acct.add_job_schedule(schedule(interval="PT1H", command="exit 0"))
    poll(lambda: job_ids(acct) == ["s:job-1"], "job-1")
    poll(lambda: acct.get_job("s:job-1")["state"] == "completed", "job-1 to complete")
    created = acct.get_job_schedule("s")["creationTime"]
    view = acct.update_job_schedule("s", {"schedule": {"recurrenceInterval": "PT2H"}})
    assert (instant(view["executionInfo"]["nextRunTime"]) - instant(created)).total_seconds() \
        == 7200.0
    assert view["schedule"] == {"recurrenceInterval": "PT2H"}
    assert view["lastModified"] > view["creationTime"]
    time.sleep(0.1)
    assert job_ids(acct) == ["s:job-1"]


@pytest.mark.parametrize("spec, code, name", [
    ({"id": "s", "schedule": {"recurrenceInterval": "banana"},
      "jobSpecification": {"poolInfo": {"poolId": "p"}}},
     "InvalidPropertyValue", "schedule.recurrenceInterval"),
    ({"id": "s", "schedule": {}, "jobSpecification": "x"},
     "InvalidPropertyValue", "jobSpecification"),
    ({"id": "s", "schedule": {}, "jobSpecification": {}},
     "MissingRequiredProperty", "jobSpecification.poolInfo.poolId"),
    ({"id": "a:b", "schedule": {}, "jobSpecification": {"poolInfo": {"poolId": "p"}}},
     "InvalidPropertyValue", "id"),
    ({"id": "s", "schedule": {"startWindow": "PT5S"},
      "jobSpecification": {"poolInfo": {"poolId": "p"}}},
     "InvalidPropertyValue", "schedule.startWindow"),
    ({"id": "s", "schedule": {}, "displayName": 7,
      "jobSpecification": {"poolInfo": {"poolId": "p"}}},
     "InvalidPropertyValue", "displayName"),
])
def test_a_bad_schedule_is_a_400_naming_its_field(account, spec, code, name):
    acct = account(scale=1.0)
    e = error_of(lambda: acct.add_job_schedule(spec))
    assert (e.code, e.status, dict(e.values).get("PropertyName")) == (code, 400, name)
    assert acct.list_job_schedules() == []


def test_a_schedule_under_a_floor_raised_since_comes_back(account):
    acct = account(scale=1.0, min_recurrence_interval=1.0)
    acct.add_job_schedule(schedule(interval="PT5S", schedule={"recurrenceInterval": "PT5S",
                                                              "doNotRunUntil": "2099-01-01T00:00:00Z"}))
    acct.close()
    again = account(scale=1.0)
    assert again.get_job_schedule("s")["schedule"]["recurrenceInterval"] == "PT5S"


_CHILD = """
import sys, time
from poolscale.runtime.service.account import Account
from poolscale.runtime.service.settings import AccountSettings
account = Account(settings=AccountSettings(data_dir=sys.argv[1]))
account.add_job_schedule({"id": "s", "schedule": {"recurrenceInterval": "PT1H"},
                          "jobSpecification": {"poolInfo": {"poolId": "p1"}}})
deadline = time.monotonic() + 5
while not account.list_jobs_of_schedule("s") and time.monotonic() < deadline:
    time.sleep(0.01)
account.disable_job_schedule("s")
print("acknowledged", flush=True)
time.sleep(60)
"""


def test_an_acknowledged_change_survives_kill_9(tmp_path, account):
    import signal
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path / "data")],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "acknowledged"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(5)
    again = account(scale=1.0)
    view = again.get_job_schedule("s")
    assert (view["state"], view["previousState"]) == ("disabled", "active")
    assert view["executionInfo"]["recentJob"] == {"id": "s:job-1"}
    assert job_ids(again) == ["s:job-1"]


def test_delayed_and_skipped_jobs_come_as_the_simulator_makes_them(account):
    """The same schedule on the live account and in the simulator: a manager of about 150 s on
    a two-minute grid with a one-minute window. Job 1 at 0 holds the instant 120 until it ends
    at ~150 (inside the window: job 2 then, late); job 2 ends at ~300, when 240's window has
    closed (skipped); job 3 at 360 on the grid. The live manager is a real process, so the
    late instant is compared within its start-up time; the grid instants and the skip are
    exact."""
    from poolscale.scheduler import Simulation

    config = {"recurrenceInterval": "PT2M", "startWindow": "PT1M"}
    acct = with_pool(account(scale=0.01))
    poll(lambda: acct.list_nodes("p1") and acct.list_nodes("p1")[0]["state"] == "idle",
         "the node idle")
    created = instant(acct.add_job_schedule(schedule(
        command="sleep 1.5", schedule=config))["creationTime"])
    poll(lambda: len(job_ids(acct)) >= 3, "three jobs")
    live = [(j["id"], (instant(j["creationTime"]) - created).total_seconds())
            for j in acct.list_jobs_of_schedule("s")[:3]]
    sim = Simulation(
        {"id": "p1", "vmSize": "STANDARD_D2_v3", "targetDedicatedNodes": 1,
         "simulation": {"allocationTime": 0, "bootTime": 0}},
        {"jobSchedules": [{"id": "s", "schedule": {**config, "doNotRunAfter": 400},
                           "jobSpecification": {"jobManagerTask": {
                               "id": "jm", "commandLine": "sleep 1.5", "duration": 150}}}]},
        horizon=400).run()
    simulated = [(j.id, j.created_at) for j in sim.jobs]
    assert [j for j, _ in live] == [j for j, _ in simulated] == ["s:job-1", "s:job-2", "s:job-3"]
    assert [simulated[0][1], simulated[2][1]] == [live[0][1], live[2][1]] == [0.0, 360.0]
    assert simulated[1][1] == 150.0 and 150.0 <= live[1][1] < 180.0  # late, inside the window
    assert [e for e in sim.result().events if e[1] == "schedule.skip"] == \
        [(300.0, "schedule.skip", "s", 1)]


def test_terminating_a_schedule_whose_job_waits_for_its_pool_completes_both(account):
    acct = account(scale=0.01)                      # the pool "p1" does not exist
    acct.add_job_schedule(schedule())
    poll(lambda: job_ids(acct) == ["s:job-1"], "job-1")
    view = acct.terminate_job_schedule("s")
    assert view["state"] == "completed"
    job = acct.get_job("s:job-1")
    assert (job["state"], job["executionInfo"]["terminateReason"]) == ("completed",
                                                                      "UserTerminate")
