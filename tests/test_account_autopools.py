"""Auto pools in the live account (runtime/service/account_autopools.py): a job added with
``poolInfo.autoPoolSpecification`` gets a real pool, named by autopools.auto_pool_id, sized by
its own formula, and deleted when the job completes (unless ``keepAlive``).

Each test runs an account on a clock 10x faster than the wall with the evaluation floor lowered
(a development setting), so the auto pool's formula runs every 0.5 wall seconds.
"""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from poolscale.runtime.service.account import Account
from poolscale.runtime.service.errors import BatchError
from poolscale.runtime.service.settings import AccountSettings
from poolscale.scheduler.autopools import auto_pool_id

WAIT = 15.0
#: one node while a task waits, none otherwise
FORMULA = ("$TargetDedicatedNodes = max(0, $PendingTasks.GetSample(1)); "
           "$NodeDeallocationOption = taskcompletion;")


@pytest.fixture
def account(tmp_path):
    made = []

    def make(scale: float = 0.1) -> Account:
        acct = Account(settings=AccountSettings(data_dir=tmp_path / "data",
                                                min_evaluation_interval=5.0, sample_period=5.0),
                       scale=scale)
        made.append(acct)
        return acct

    yield make
    for acct in made:
        acct.close()


def auto_job(id="j", prefix="nightly", keep_alive=None, **pool):
    spec = {"autoPoolIdPrefix": prefix, "poolLifetimeOption": "job",
            "pool": {"vmSize": "STANDARD_D2_v3", "taskSlotsPerNode": 1, "enableAutoScale": True,
                     "autoScaleFormula": FORMULA, "autoScaleEvaluationInterval": "PT5S", **pool}}
    if keep_alive is not None:
        spec["keepAlive"] = keep_alive
    return {"id": id, "poolInfo": {"autoPoolSpecification": spec}}


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


def gone(acct, pool_id) -> bool:
    try:
        acct.get_pool(pool_id)
    except BatchError as e:
        assert e.code == "PoolNotFound"
        return True
    return False


def test_a_job_with_an_auto_pool_runs_on_it_and_the_pool_goes_when_the_job_completes(account):
    acct = account()
    spec = auto_job()
    view = acct.add_job(spec)
    pool_id = auto_pool_id("nightly", "j", 1)
    assert pool_id.startswith("nightly_") and len(pool_id) == len("nightly_") + 36
    assert view["executionInfo"]["poolId"] == pool_id
    assert view["poolInfo"] == {"autoPoolSpecification": spec["poolInfo"]["autoPoolSpecification"]}
    assert "poolId" not in view["poolInfo"]
    pool = acct.get_pool(pool_id)
    assert pool["enableAutoScale"] is True and pool["autoScaleFormula"] == FORMULA
    assert pool["autoScaleEvaluationInterval"] == "PT5S"
    acct.add_task("j", {"id": "t", "commandLine": "/bin/sh -c 'echo ran'"})
    poll(lambda: acct.get_pool(pool_id)["targetDedicatedNodes"] == 1, "the formula's node")
    assert acct.get_pool(pool_id)["autoScaleRun"]["results"].startswith("$TargetDedicatedNodes=1;")
    acct.wait_for_job("j", timeout=WAIT)
    assert acct.read_task_file("j", "t", "stdout.txt") == b"ran\n"
    assert not gone(acct, pool_id)          # the job is active (onAllTasksComplete noaction)
    acct.terminate_job("j")
    poll(lambda: gone(acct, pool_id), "the auto pool to be deleted")
    job = acct.get_job("j")
    assert job["state"] == "completed" and job["executionInfo"]["poolId"] == pool_id
    assert acct.list_pools() == []
    assert acct.auto_pools == {}


def test_keep_alive_keeps_the_pool_after_its_job(account):
    acct = account()
    acct.add_job(auto_job(keep_alive=True, prefix="kept"))
    pool_id = auto_pool_id("kept", "j", 1)
    acct.terminate_job("j")
    poll(lambda: acct.get_job("j")["state"] == "completed", "the job to complete")
    acct.get_pool(pool_id)          # the kernel's event at the completion instant has run:
    time.sleep(0.2)                 # a deletion would have started by now
    assert acct.get_pool(pool_id)["state"] == "active"


def test_a_job_deleted_before_it_completed_takes_its_pool(account):
    acct = account()
    acct.add_job(auto_job(prefix=None))
    pool_id = auto_pool_id(None, "j", 1)
    assert len(pool_id) == 36 and pool_id == pool_id.upper()
    acct.delete_job("j")
    poll(lambda: gone(acct, pool_id), "the auto pool to be deleted")


def test_a_job_added_again_gets_a_new_pool_while_its_kept_pool_lives(account):
    acct = account()
    acct.add_job(auto_job(keep_alive=True))
    acct.delete_job("j")
    view = acct.add_job(auto_job(keep_alive=True))
    assert view["executionInfo"]["poolId"] == auto_pool_id("nightly", "j", 2)
    assert sorted(p["id"] for p in acct.list_pools()) == sorted(
        [auto_pool_id("nightly", "j", 1), auto_pool_id("nightly", "j", 2)])


@pytest.mark.parametrize("pool_info,code,name", [
    ({"poolId": "p", "autoPoolSpecification": {"poolLifetimeOption": "job",
                                               "pool": {"vmSize": "STANDARD_D2_v3"}}},
     "InvalidPropertyValue", "poolInfo"),
    ({}, "MissingRequiredProperty", "poolInfo.poolId"),
    ({"autoPoolSpecification": {"poolLifetimeOption": "jobschedule",
                                "pool": {"vmSize": "STANDARD_D2_v3"}}},
     "InvalidPropertyValue", "poolInfo.autoPoolSpecification.poolLifetimeOption"),
    ({"autoPoolSpecification": {"pool": {"vmSize": "STANDARD_D2_v3"}}},
     "MissingRequiredProperty", "poolInfo.autoPoolSpecification.poolLifetimeOption"),
    ({"autoPoolSpecification": {"poolLifetimeOption": "job", "autoPoolIdPrefix": "a" * 21,
                                "pool": {"vmSize": "STANDARD_D2_v3"}}},
     "InvalidPropertyValue", "poolInfo.autoPoolSpecification.autoPoolIdPrefix"),
    ({"autoPoolSpecification": {"poolLifetimeOption": "job", "pool": {}}},
     "MissingRequiredProperty", "poolInfo.autoPoolSpecification.pool.vmSize"),
    ({"autoPoolSpecification": {"poolLifetimeOption": "job",
                                "pool": {"vmSize": "STANDARD_D2_v3", "taskSlotsPerNode": 0}}},
     "InvalidPropertyValue", "poolInfo.autoPoolSpecification.pool.taskSlotsPerNode"),
    ({"autoPoolSpecification": {"poolLifetimeOption": "job",
                                "pool": {"vmSize": "STANDARD_D2_v3", "enableAutoScale": True,
                                         "autoScaleFormula": "$TargetDedicatedNodes = ;"}}},
     "AutoScalingFormulaSyntaxError", "poolInfo.autoPoolSpecification.pool.autoScaleFormula"),
    ({"autoPoolSpecification": {"poolLifetimeOption": "job",
                                "pool": {"vmSize": "STANDARD_D2_v3", "enableAutoScale": True,
                                         "autoScaleFormula": "$TargetDedicatedNodes = 1;",
                                         "autoScaleEvaluationInterval": "PT1S"}}},
     "InvalidPropertyValue", "poolInfo.autoPoolSpecification.pool.autoScaleEvaluationInterval"),
])
def test_refusals_name_the_property(account, pool_info, code, name):
    acct = account()
    e = error_of(lambda: acct.add_job({"id": "bad", "poolInfo": pool_info}))
    assert (e.code, e.status, dict(e.values)["PropertyName"]) == (code, 400, name)
    assert acct.list_jobs() == [] and acct.list_pools() == []


def test_a_check_across_fields_names_its_field(account):
    acct = account()
    e = error_of(lambda: acct.create_pool({
        "id": "p", "vmSize": "STANDARD_D2_v3", "enableAutoScale": True,
        "autoScaleFormula": "$TargetDedicatedNodes = 1;", "autoScaleEvaluationInterval": "PT1S"}))
    assert (e.code, dict(e.values)["PropertyName"]) == (
        "InvalidPropertyValue", "autoScaleEvaluationInterval")
    spec = auto_job()
    spec["poolInfo"]["autoPoolSpecification"]["poolLifetimeOption"] = "jobSchedule"
    e = error_of(lambda: acct.add_job(spec))
    assert dict(e.values)["PropertyName"] == "poolInfo.autoPoolSpecification.poolLifetimeOption"


def test_an_update_may_send_the_jobs_own_auto_pool_but_not_another(account):
    acct = account()
    spec = auto_job()
    acct.add_job(spec)
    own = acct.job_full_view("j")["poolInfo"]
    with_defaults = {"autoPoolSpecification": {**own["autoPoolSpecification"], "keepAlive": False}}
    view = acct.patch_job("j", {"poolInfo": with_defaults, "priority": 5})
    assert view["priority"] == 5 and view["poolInfo"] == own
    view = acct.replace_job("j", {"poolInfo": own, "priority": 3})
    assert view["priority"] == 3 and view["poolInfo"] == own
    other = {"autoPoolSpecification": {**own["autoPoolSpecification"], "keepAlive": True}}
    for pool_info in (other, {"poolId": "elsewhere"}):
        e = error_of(lambda: acct.patch_job("j", {"poolInfo": pool_info}))
        assert (e.code, e.status) == ("OperationInvalidForCurrentState", 409)
        assert e.message == "a job's pool can be changed only while the job is disabled"
    acct.disable_job("j")
    e = error_of(lambda: acct.replace_job("j", {"poolInfo": other}))
    assert e.message == "poolscale does not move a job to another pool"
    assert acct.get_job("j")["poolInfo"] == own


def schedule_job(n, lifetime="jobschedule", keep_alive=False, pool=None):
    from poolscale.scheduler.models import JobScheduleSpec

    # a schedule's body is read by the model, whose floor is the service's
    spec = auto_job(autoScaleEvaluationInterval="PT5M")["poolInfo"]["autoPoolSpecification"]
    if pool is not None:
        spec["pool"] = pool
    schedule = JobScheduleSpec.model_validate({
        "id": "s", "schedule": {"recurrenceInterval": "PT1H"},
        "jobSpecification": {"poolInfo": {"autoPoolSpecification": {
            **spec, "poolLifetimeOption": lifetime, "keepAlive": keep_alive}}}})
    return schedule.job(n)


def make_schedule_job(acct, n, **kw):
    model = schedule_job(n, **kw)
    return acct._call(lambda: acct._make_job(model, schedule_id="s")).pool_id


def test_a_schedules_pool_serves_its_jobs_and_goes_when_the_schedule_ends(account):
    acct = account()
    pool_id = auto_pool_id("nightly", "s", 1)
    assert make_schedule_job(acct, 1) == pool_id
    acct.terminate_job("s:job-1")
    poll(lambda: acct.get_job("s:job-1")["state"] == "completed", "the first job to complete")
    assert make_schedule_job(acct, 2) == pool_id        # not deleted by its job, reused
    assert [p["id"] for p in acct.list_pools()] == [pool_id]
    assert acct.get_job("s:job-2")["executionInfo"]["poolId"] == pool_id
    acct._call(lambda: acct._auto_pool_schedule_ended("s", deleted=False))
    poll(lambda: gone(acct, pool_id), "the schedule's pool to be deleted")


@pytest.mark.parametrize("deleted", [False, True])
def test_a_schedules_kept_pool_outlives_it(account, deleted):
    acct = account()
    pool_id = make_schedule_job(acct, 1, keep_alive=True)
    acct._call(lambda: acct._auto_pool_schedule_ended("s", deleted=deleted))
    time.sleep(0.2)
    assert acct.get_pool(pool_id)["state"] == "active"


def test_a_schedules_jobs_with_lifetime_job_get_a_pool_each(account):
    acct = account()
    first = make_schedule_job(acct, 1, lifetime="job")
    second = make_schedule_job(acct, 2, lifetime="job")
    assert (first, second) == (auto_pool_id("nightly", "s:job-1", 1),
                               auto_pool_id("nightly", "s:job-2", 1))
    acct.terminate_job("s:job-1")
    poll(lambda: gone(acct, first), "the first job's pool to be deleted")
    assert acct.get_pool(second)["state"] == "active"
    acct._call(lambda: acct._auto_pool_schedule_ended("s", deleted=False))
    time.sleep(0.2)                 # a schedule's completion leaves its job's own pool
    assert acct.get_pool(second)["state"] == "active"
    acct._call(lambda: acct._auto_pool_schedule_ended("s", deleted=True))
    poll(lambda: gone(acct, second), "the pool of the deleted schedule's job to go")


def test_a_pool_deleted_by_a_user_is_no_ones_auto_pool(account):
    acct = account()
    first = make_schedule_job(acct, 1)
    acct.delete_pool(first)
    poll(lambda: gone(acct, first), "the pool to be deleted")
    assert acct.auto_pools == {}
    # the schedule's next job makes a pool again rather than wait for the one deleted
    second = make_schedule_job(acct, 2)
    assert second == auto_pool_id("nightly", "s", 2)
    # nor does it take one on its way out (a pool whose nodes are still leaving)
    acct._call(lambda: setattr(acct.pools[second.lower()], "deleting", True))
    assert make_schedule_job(acct, 3) == auto_pool_id("nightly", "s", 3)


def test_after_a_restart_the_pool_still_goes_with_its_job(tmp_path):
    settings = AccountSettings(data_dir=tmp_path / "data", min_evaluation_interval=5.0,
                               sample_period=5.0, kill_grace=0.2)
    spec = auto_job()
    kept_id, pool_id = auto_pool_id("kept", "k", 1), auto_pool_id("nightly", "j", 1)
    with Account(settings=settings, scale=0.1) as a:
        a.add_job(spec)
        a.add_job(auto_job(id="k", prefix="kept", keep_alive=True))
        before = a.get_job("j")
    db = sqlite3.connect(settings.store_path)
    rows = db.execute("SELECT pool_id, id, owner, lifetime, keep_alive FROM auto_pools "
                      "ORDER BY owner").fetchall()
    db.close()
    assert rows == [(pool_id.lower(), pool_id, "j", "job", 0),
                    (kept_id.lower(), kept_id, "k", "job", 1)]
    with Account(settings=settings, scale=0.1) as a:
        assert a.get_job("j") == before
        assert a.get_pool(pool_id)["autoScaleEvaluationInterval"] == "PT5S"
        a.add_task("j", {"id": "t", "commandLine": "/bin/sh -c 'echo ran'"})
        a.wait_for_job("j", timeout=WAIT)
        a.terminate_job("j")
        a.terminate_job("k")
        poll(lambda: gone(a, pool_id), "the restored auto pool to be deleted")
        poll(lambda: a.get_job("k")["state"] == "completed", "the kept pool's job to complete")
        time.sleep(0.2)
        assert [p["id"] for p in a.list_pools()] == [kept_id]
        ended = a.job_full_view("j"), a.list_tasks("j")
    with Account(settings=settings, scale=0.1) as a:
        # a completed job whose pool is gone reads back as it was, not waiting for a pool
        assert (a.job_full_view("j"), a.list_tasks("j")) == ended
        assert ended[0]["state"] == "completed" and ended[0]["poolInfo"] == spec["poolInfo"]
        assert ended[1][0]["executionInfo"]["exitCode"] == 0
        assert [p["id"] for p in a.list_pools()] == [kept_id]


def test_a_pool_whose_owner_ended_before_the_restart_goes_at_the_restart(tmp_path):
    settings = AccountSettings(data_dir=tmp_path / "data", min_evaluation_interval=5.0,
                               sample_period=5.0, kill_grace=0.2)
    pool_id = auto_pool_id("nightly", "j", 1)
    with Account(settings=settings, scale=0.1) as a:
        a.add_job(auto_job(keep_alive=True))
        a.terminate_job("j")
        poll(lambda: a.get_job("j")["state"] == "completed", "the job to complete")
    # as if the account had stopped between the job's end and its pool's deletion: the stored
    # pool is no longer kept alive
    db = sqlite3.connect(settings.store_path)
    given = json.loads(db.execute("SELECT spec FROM auto_pools").fetchone()[0])
    given["keepAlive"] = False
    db.execute("UPDATE auto_pools SET keep_alive = 0, spec = ?", (json.dumps(given),))
    db.commit()
    db.close()
    with Account(settings=settings, scale=0.1) as a:
        poll(lambda: gone(a, pool_id), "the pool to go at the restart")
        assert a.get_job("j")["state"] == "completed"
        assert a.auto_pools == {}
    db = sqlite3.connect(settings.store_path)
    assert db.execute("SELECT COUNT(*) FROM auto_pools").fetchone() == (0,)
    assert db.execute("SELECT COUNT(*) FROM pools").fetchone() == (0,)
    db.close()


def _targets(results: str) -> list[str]:
    """An AutoScaleRun's results without the formula's own variables: what it sets."""
    return [r for r in results.split(";")
            if r.startswith(("$TargetDedicatedNodes", "$TargetLowPriorityNodes",
                             "$NodeDeallocationOption"))]


def test_the_account_and_the_simulator_make_and_size_the_pool_alike(tmp_path):
    """One lifecycle, two mechanics (the account makes and deletes a real pool, the
    simulator toggles its one pool): the pool is made at the job's creation instant, its
    formula runs first at that instant with the same targets, and it goes at the job's end."""
    pytest.importorskip("poolscale.scheduler.autopooled",
                        reason="the simulator's auto pools are on branch issue13-simauto")
    from poolscale.scheduler import Simulation

    # max(1, ...): at its creation instant the simulated pool has a sample (its grid is the
    # run's) and the live pool none yet (its first is due on the account's grid), so a
    # formula must not rest on that first sample for the two to agree
    formula = ("$TargetDedicatedNodes = max(1, $PendingTasks.GetSample(1)); "
               "$NodeDeallocationOption = taskcompletion;")
    auto = auto_job(prefix="same", autoScaleEvaluationInterval="PT5M", autoScaleFormula=formula)
    auto = auto["poolInfo"]["autoPoolSpecification"]
    pool_id = auto_pool_id("same", "j", 1)
    sim = Simulation(None, {"jobs": [{
        "id": "j", "creationTime": 600.0, "poolInfo": {"autoPoolSpecification": auto},
        "onAllTasksComplete": "terminatejob",
        "tasks": [{"id": "t", "submitTime": 600.0, "duration": 30}]}]}, horizon=3600).run()
    result = sim.result()
    made = [e for e in result.events if e[1] in ("pool.created", "pool.deleted")]
    completed = result.events_of("job", "j")[-1]
    assert completed[3] == "completed"
    assert made == [(600.0, "pool.created", pool_id), (completed[0], "pool.deleted", pool_id)]
    sim_first = result.runs[0]

    with Account(settings=AccountSettings(data_dir=tmp_path / "data"), scale=0.01) as acct:
        # the job and its task in one command, as the simulator submits them at one instant
        acct.submit(lambda: (acct.add_job({"id": "j", "poolInfo": {"autoPoolSpecification": auto}}),
                             acct.add_task("j", {"id": "t", "commandLine": "/bin/true"}))).result()
        entry = acct._call(lambda: acct.jobs["j"])
        pool = entry.engine
        assert pool.id == pool_id
        poll(lambda: acct._call(lambda: len(pool.runs)) > 0, "the first autoscale run")
        live = acct._call(lambda: (entry.job.created_at, pool.created_at, pool.run_times[0],
                                   pool.runs[0].results))
        acct.wait_for_job("j", timeout=WAIT)
        acct.terminate_job("j")
        poll(lambda: gone(acct, pool_id), "the auto pool to be deleted")
        ended = acct._call(lambda: (entry.job.completed_at, pool.state_time))
    job_at, created, first_run, results = live
    assert created - job_at == 600.0 - 600.0 and first_run - created == sim_first[0] - 600.0
    assert _targets(results) == _targets(sim_first[1].results) == [
        "$TargetDedicatedNodes=1", "$TargetLowPriorityNodes=0",
        "$NodeDeallocationOption=taskcompletion"]
    assert ended[1] == ended[0]         # deleted at the job's completion instant


def test_what_create_pool_refuses_of_a_pools_references_refuses_the_job(account):
    acct = account()
    pool = {"vmSize": "STANDARD_D2_v3",
            "certificateReferences": [{"thumbprint": "ab", "thumbprintAlgorithm": "sha1"}]}
    e = error_of(lambda: acct.add_job({"id": "j", "poolInfo": {"autoPoolSpecification": {
        "poolLifetimeOption": "job", "pool": pool}}}))
    same = error_of(lambda: acct.create_pool({"id": "p", **pool}))
    assert (e.status, e.code, e.message, e.values) == (
        409, "InvalidCertificateReferences", same.message,
        (("ThumbprintAlgorithm", "sha1"), ("Thumbprint", "ab")))
    assert same.values == e.values
    e = error_of(lambda: acct.add_job({"id": "j", "poolInfo": {"autoPoolSpecification": {
        "poolLifetimeOption": "job", "pool": {"vmSize": "STANDARD_D2_v3", "startTask": {
            "commandLine": "true", "resourceFiles": [{"autoStorageContainerName": "c"}]}}}}}))
    assert (e.code, dict(e.values)["PropertyName"]) == (
        "InvalidPropertyValue",
        "poolInfo.autoPoolSpecification.pool.startTask.resourceFiles.0.autoStorageContainerName")
    assert acct.list_jobs() == [] and acct.list_pools() == []


def test_a_schedules_pool_and_jobs_come_back_after_a_restart(tmp_path):
    settings = AccountSettings(data_dir=tmp_path / "data", kill_grace=0.2)
    pool_id = auto_pool_id("nightly", "s", 1)
    with Account(settings=settings, scale=0.1) as a:
        assert make_schedule_job(a, 1) == pool_id
        before = a.job_full_view("s:job-1")
    with Account(settings=settings, scale=0.1) as a:
        assert a.job_full_view("s:job-1") == before
        assert before["poolInfo"]["autoPoolSpecification"]["poolLifetimeOption"] == "jobschedule"
        # a schedule's job may be updated (its jobschedule pool is legal on it)
        assert a.patch_job("s:job-1", {"priority": 9})["priority"] == 9
        assert a.replace_job("s:job-1", {"poolInfo": before["poolInfo"]})["priority"] == 0
        a.terminate_job("s:job-1")
        poll(lambda: a.get_job("s:job-1")["state"] == "completed", "the job to complete")
        assert make_schedule_job(a, 2) == pool_id       # still the schedule's pool
        a._call(lambda: a._auto_pool_schedule_ended("s", deleted=True))
        poll(lambda: gone(a, pool_id), "the schedule's pool to be deleted")
