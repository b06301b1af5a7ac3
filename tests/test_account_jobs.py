"""The account's job and task operations for the REST API (runtime/service/account_jobs.py):
full BatchJob/BatchTask views, job update/replace/disable/enable, task counts, preparation and
release status, task constraints, terminate/reactivate/delete, subtasks and task files.

Each test makes an account on a temporary data directory, runs tiny shell commands on one or
two local nodes, and asserts exact views, states and the service's error codes; after every
request that changes the engine the scheduler's invariants are checked on the engine thread.
"""

from __future__ import annotations

import os
import stat
import time

import pytest

from poolscale.runtime.service.account import Account
from poolscale.scheduler.invariants import check
from account_testing import accounts, error_of, poll

WAIT = 10.0
UNLIMITED = "P10675199DT2H48M5.4775807S"


@pytest.fixture
def account(tmp_path):
    yield from accounts(tmp_path)


def pool(id="p1", nodes=1, slots=2):
    return {"id": id, "vmSize": "STANDARD_D2_v3", "taskSlotsPerNode": slots,
            "targetDedicatedNodes": nodes}


def checked(acct: Account) -> None:
    """Every invariant of every pool's engine holds (run on the engine thread)."""
    acct._call(lambda: [check(p) for p in acct.pools.values()])


def state_of(acct, job, task):
    return acct.task_full_view(job, task)["state"]


def test_a_job_view_echoes_its_add_with_the_defaults_and_survives_a_restart(account):
    acct = account()
    view = acct.create_job({
        "id": "j", "poolInfo": {"poolId": "later"}, "displayName": "My job",
        "metadata": [{"name": "owner", "value": "me"}], "priority": 7,
        "constraints": {"maxWallClockTime": "PT1H"}, "onAllTasksComplete": "terminatejob",
        "usesTaskDependencies": True, "maxParallelTasks": 3,
    })
    assert {k: v for k, v in view.items() if k not in ("lastModified",)} == {
        "id": "j", "displayName": "My job", "metadata": [{"name": "owner", "value": "me"}],
        "usesTaskDependencies": True, "onAllTasksComplete": "terminatejob",
        "onTaskFailure": "noaction", "maxParallelTasks": 3, "allowTaskPreemption": False,
        "constraints": {"maxWallClockTime": "PT1H", "maxTaskRetryCount": 0},
        "state": "active", "priority": 7, "poolInfo": {"poolId": "later"},
        "executionInfo": {"poolId": "later"},
    }
    acct.create_pool(pool("later", nodes=0))
    placed = acct.job_full_view("j")
    # created with its pool, with no task: terminatejob ends it at once, as on the service
    assert placed["creationTime"] == placed["stateTransitionTime"] \
        == placed["previousStateTransitionTime"] == placed["executionInfo"]["startTime"] \
        == placed["executionInfo"]["endTime"] == placed["lastModified"]
    assert (placed["state"], placed["previousState"],
            placed["executionInfo"]["terminateReason"]) == (
        "completed", "terminating", "AllTasksComplete")
    acct.close()
    again = account()
    assert again.job_full_view("j") == placed
    assert [j["id"] for j in again.job_views()] == ["j"]


def test_a_task_view_shows_its_properties_constraints_history_and_node(account):
    acct = account()
    acct.create_pool(pool())
    acct.create_job({"id": "j", "poolInfo": {"poolId": "p1"},
                     "constraints": {"maxTaskRetryCount": 1}})
    results = acct.create_tasks("j", [
        {"id": "t", "commandLine": "/bin/sh -c 'exit 3'", "displayName": "three",
         "environmentSettings": [{"name": "A", "value": "1"}],
         "userIdentity": {"autoUser": {"scope": "task", "elevationLevel": "nonadmin"}},
         "constraints": {"retentionTime": "PT1H"}},
        {"id": "t", "commandLine": "true"},
    ])
    assert [(r["taskId"], r["status"]) for r in results] == [("t", "success"),
                                                             ("t", "clientError")]
    poll(lambda: state_of(acct, "j", "t") == "completed", "the task to fail twice")
    view = acct.task_full_view("j", "t")
    info = view.pop("executionInfo")
    assert (info["exitCode"], info["result"], info["retryCount"], info["failureInfo"]) == (
        3, "failure", 1, {"category": "usererror", "code": "FailureExitCode"})
    assert view["previousState"] == "running"
    assert view["stateTransitionTime"] == info["endTime"]
    assert view["previousStateTransitionTime"] == info["startTime"] == info["lastRetryTime"]
    assert "lastRequeueTime" not in info
    assert {k: view[k] for k in ("id", "displayName", "commandLine", "requiredSlots",
                                 "environmentSettings", "userIdentity", "constraints",
                                 "state", "nodeInfo")} == {
        "id": "t", "displayName": "three", "commandLine": "/bin/sh -c 'exit 3'",
        "requiredSlots": 1, "environmentSettings": [{"name": "A", "value": "1"}],
        "userIdentity": {"autoUser": {"scope": "task", "elevationLevel": "nonadmin"}},
        # the job's retry count, shown on the task as the service shows it
        "constraints": {"maxWallClockTime": UNLIMITED, "retentionTime": "PT1H",
                        "maxTaskRetryCount": 1},
        "state": "completed",
        "nodeInfo": {"affinityId": "tvm-000001", "nodeId": "tvm-000001", "poolId": "p1",
                     "taskRootDirectory": "workitems/j/job-1/t"},
    }
    assert view["lastModified"] == view["creationTime"]
    assert [t["id"] for t in acct.task_views("j")] == ["t"]
    acct.close()
    assert account().task_full_view("j", "t")["displayName"] == "three"


def test_kept_properties_of_the_wrong_type_are_refused_naming_them(account):
    acct = account()
    bad = error_of(lambda: acct.create_job({"id": "j", "poolInfo": {"poolId": "p"},
                                            "displayName": 5}))
    assert (bad.code, dict(bad.values)["PropertyName"]) == ("InvalidPropertyValue",
                                                           "displayName")
    assert error_of(lambda: acct.job_full_view("j")).code == "JobNotFound"
    acct.create_job({"id": "j", "poolInfo": {"poolId": "p"}})
    results = acct.create_tasks("j", [
        {"id": "a", "commandLine": "true"},
        {"id": "b", "commandLine": "true", "applicationPackageReferences": {"id": "x"}},
        {"id": "c", "commandLine": "true", "userIdentity": "root"},
        {"id": "d", "commandLine": "true", "displayName": "d"},
    ])
    assert [(r["taskId"], r["status"], r["error"].code if "error" in r else None,
             dict(r["error"].values)["PropertyName"] if "error" in r else None)
            for r in results] == [
        ("a", "success", None, None),
        ("b", "clientError", "InvalidPropertyValue", "applicationPackageReferences"),
        ("c", "clientError", "InvalidPropertyValue", "userIdentity"),
        ("d", "success", None, None)]
    assert [t["id"] for t in acct.task_views("j")] == ["a", "d"]
    missing = error_of(lambda: acct.create_tasks("nope", [{"id": "b", "commandLine": "true",
                                                           "userIdentity": "root"}]))
    assert missing.code == "JobNotFound"


def test_a_job_added_again_after_a_delete_shows_nothing_of_the_old_one(account):
    acct = account()
    acct.create_pool(pool(nodes=0))
    acct.create_job({"id": "j", "poolInfo": {"poolId": "p1"}, "displayName": "old",
                     "metadata": [{"name": "a", "value": "1"}]})
    acct.create_tasks("j", [{"id": "t", "commandLine": "true", "displayName": "old task"}])
    acct.disable_job("j", "wait")
    acct.delete_job("j")
    acct.create_job({"id": "J", "poolInfo": {"poolId": "p1"}})
    acct.create_tasks("J", [{"id": "t", "commandLine": "true"}])
    view = acct.job_full_view("j")
    assert ("displayName" in view, "metadata" in view, "previousState" in view) == (
        False, False, False)
    assert "displayName" not in acct.task_full_view("j", "t")
    acct.close()
    again = account()
    assert "displayName" not in again.job_full_view("j")
    assert "displayName" not in again.task_full_view("j", "t")


def test_patch_changes_only_what_it_names_and_replace_resets_the_rest(account):
    acct = account()
    acct.create_pool(pool(nodes=0))
    acct.create_job({"id": "j", "poolInfo": {"poolId": "p1"}, "priority": 3,
                     "metadata": [{"name": "a", "value": "1"}], "maxParallelTasks": 2})
    patched = acct.patch_job("j", {"priority": 9, "constraints": {"maxTaskRetryCount": 4},
                                   "onAllTasksComplete": "terminatejob"})
    assert (patched["priority"], patched["metadata"], patched["maxParallelTasks"],
            patched["constraints"], patched["onAllTasksComplete"]) == (
        9, [{"name": "a", "value": "1"}], 2,
        {"maxWallClockTime": UNLIMITED, "maxTaskRetryCount": 4}, "terminatejob")
    # onAllTasksComplete terminatejob on a job whose tasks have all completed (none) ends it
    poll(lambda: acct.job_full_view("j")["state"] == "completed", "the job to end")
    assert acct.job_full_view("j")["executionInfo"]["terminateReason"] == "AllTasksComplete"
    refused = error_of(lambda: acct.patch_job("j", {"priority": 1}))
    assert (refused.code, refused.status) == ("JobCompleted", 409)

    acct.create_job({"id": "k", "poolInfo": {"poolId": "p1"}, "priority": 3,
                     "metadata": [{"name": "a", "value": "1"}], "maxParallelTasks": 2})
    replaced = acct.replace_job("k", {"poolInfo": {"poolId": "p1"}, "maxParallelTasks": 5})
    assert (replaced["priority"], "metadata" in replaced, replaced["maxParallelTasks"],
            replaced["constraints"]) == (0, False, 5,
                                         {"maxWallClockTime": UNLIMITED, "maxTaskRetryCount": 0})
    assert replaced["lastModified"] > replaced["creationTime"] or \
        replaced["lastModified"] == replaced["creationTime"]
    missing = error_of(lambda: acct.replace_job("k", {"priority": 1}))
    assert (missing.code, missing.values) == ("MissingRequiredProperty",
                                              (("PropertyName", "poolInfo"),))
    unknown = error_of(lambda: acct.patch_job("k", {"colour": "x"}))
    assert (unknown.code, unknown.values) == ("UnsupportedProperty",
                                              (("PropertyName", "colour"),))
    # a property of the job that no update changes is ignored (a replace may send the job
    # as a get returned it)
    assert acct.patch_job("k", {"displayName": "x", "state": "completed"})["state"] == "active"
    assert "displayName" not in acct.job_full_view("k")
    bad = error_of(lambda: acct.patch_job("k", {"priority": 5000}))
    assert (bad.code, dict(bad.values)["PropertyName"]) == ("InvalidPropertyValue", "priority")
    for change, name in (({"priority": True}, "priority"),
                         ({"maxParallelTasks": 2**40}, "maxParallelTasks"),
                         ({"allowTaskPreemption": "yes"}, "allowTaskPreemption"),
                         ({"constraints": []}, "constraints"),
                         ({"metadata": "x"}, "metadata"),
                         ({"metadata": [{"name": "a", "value": 1}]}, "metadata[0]")):
        bad = error_of(lambda: acct.patch_job("k", change))
        assert (bad.code, dict(bad.values)["PropertyName"]) == ("InvalidPropertyValue", name)
    moved = error_of(lambda: acct.patch_job("k", {"poolInfo": {"poolId": "other"}}))
    assert (moved.code, moved.status) == ("OperationInvalidForCurrentState", 409)
    assert error_of(lambda: acct.patch_job("nope", {})).code == "JobNotFound"
    acct.close()
    again = account()
    assert (again.job_full_view("k")["maxParallelTasks"], again.job_full_view("k")["priority"]) \
        == (5, 0)


def test_a_job_wall_clock_limit_set_by_an_update_ends_it(account):
    acct = account()
    acct.create_pool(pool(nodes=0))
    acct.create_job({"id": "j", "poolInfo": {"poolId": "p1"}})
    acct.patch_job("j", {"constraints": {"maxWallClockTime": "PT0.3S"}})
    poll(lambda: acct.job_full_view("j")["state"] == "completed", "the job's limit")
    assert acct.job_full_view("j")["executionInfo"]["terminateReason"] == "MaxWallClockTimeExpiry"
    checked(acct)


def test_a_wall_clock_limit_raised_by_an_update_no_longer_ends_the_job(account):
    acct = account()
    acct.create_pool(pool(nodes=0))
    acct.create_job({"id": "j", "poolInfo": {"poolId": "p1"},
                     "constraints": {"maxWallClockTime": "PT0.3S"}})
    acct.patch_job("j", {"constraints": {"maxWallClockTime": "PT1H"}})
    time.sleep(0.6)
    view = acct.job_full_view("j")
    assert (view["state"], view["constraints"]["maxWallClockTime"]) == ("active", "PT1H")


def test_disable_requeues_or_ends_running_tasks_and_enable_runs_them_again(account):
    acct = account()
    acct.create_pool(pool())
    acct.create_job({"id": "j", "poolInfo": {"poolId": "p1"}})
    acct.create_tasks("j", [{"id": "a", "commandLine": "sleep 30"},
                            {"id": "b", "commandLine": "sleep 30"}])
    poll(lambda: state_of(acct, "j", "a") == state_of(acct, "j", "b") == "running",
         "both tasks to run")
    view = acct.disable_job("j", "requeue")
    checked(acct)
    assert (view["state"], view["previousState"]) == ("disabled", "active")
    a = acct.task_full_view("j", "a")
    assert (a["state"], a["executionInfo"]["requeueCount"], a["previousState"]) == (
        "active", 1, "running")
    assert a["executionInfo"]["lastRequeueTime"] == a["stateTransitionTime"]
    assert "lastRetryTime" not in a["executionInfo"]
    again = error_of(lambda: acct.disable_job("j", "wait"))
    assert (again.code, again.status) == ("JobDisabled", 409)
    time.sleep(0.2)
    assert state_of(acct, "j", "a") == "active"         # nothing starts while disabled
    enabled = acct.enable_job("j")
    assert (enabled["state"], enabled["previousState"]) == ("active", "disabled")
    poll(lambda: state_of(acct, "j", "a") == "running", "the task to run again")
    not_disabled = error_of(lambda: acct.enable_job("j"))
    assert (not_disabled.code, not_disabled.status) == ("OperationInvalidForCurrentState", 409)
    acct.disable_job("j", "terminate")
    checked(acct)
    ended = acct.task_full_view("j", "b")["executionInfo"]
    assert (ended["result"], ended["failureInfo"]["code"]) == ("failure", "TaskEnded")
    bad = error_of(lambda: acct.disable_job("j", "later"))
    assert (bad.code, dict(bad.values)["PropertyName"]) == ("InvalidPropertyValue", "disableTasks")
    acct.close()
    restarted = account()
    assert restarted.job_full_view("j")["previousState"] == "active"


def test_task_counts_come_from_one_snapshot(account):
    acct = account()
    acct.create_pool(pool(slots=4))
    acct.create_job({"id": "j", "poolInfo": {"poolId": "p1"}})
    acct.create_tasks("j", [
        {"id": "ok", "commandLine": "true"},
        {"id": "bad", "commandLine": "false"},
        {"id": "run", "commandLine": "sleep 30", "requiredSlots": 2},
        {"id": "wait", "commandLine": "true", "requiredSlots": 3},
    ])
    poll(lambda: acct.task_counts("j")["taskCounts"]["completed"] == 2, "two ends")
    assert acct.task_counts("j") == {
        "taskCounts": {"active": 1, "running": 1, "completed": 2, "succeeded": 1, "failed": 1},
        "taskSlotCounts": {"active": 3, "running": 2, "completed": 2, "succeeded": 1,
                           "failed": 1},
    }
    assert error_of(lambda: acct.task_counts("nope")).code == "JobNotFound"


def test_terminate_reactivate_and_delete_a_task(account):
    acct = account()
    acct.create_pool(pool())
    acct.create_job({"id": "j", "poolInfo": {"poolId": "p1"}})
    acct.create_tasks("j", [{"id": "long", "commandLine": "sleep 30"},
                            {"id": "ok", "commandLine": "true"},
                            {"id": "flaky", "commandLine": "/bin/sh -c 'test -e again'"}])
    poll(lambda: state_of(acct, "j", "long") == "running"
         and state_of(acct, "j", "ok") == state_of(acct, "j", "flaky") == "completed",
         "the tasks to start and end")
    ended = acct.terminate_task("j", "long")
    checked(acct)
    assert (ended["state"], ended["executionInfo"]["result"],
            ended["executionInfo"]["failureInfo"]) == (
        "completed", "failure", {"category": "usererror", "code": "TaskEnded"})
    twice = error_of(lambda: acct.terminate_task("j", "long"))
    assert (twice.code, twice.status) == ("TaskCompleted", 409)
    succeeded = error_of(lambda: acct.reactivate_task("j", "ok"))
    assert (succeeded.code, succeeded.status) == ("TaskSucceeded", 409)

    # the failed task runs again once the file it needs exists
    flaky = acct.task_full_view("j", "flaky")["nodeInfo"]["taskRootDirectory"]
    assert flaky == "workitems/j/job-1/flaky"
    wd = acct.task_file("j", "flaky", "wd")[0]
    (wd / "again").write_text("")
    view = acct.reactivate_task("j", "flaky")
    assert (view["state"], view["executionInfo"]) == (
        "active", {"retryCount": 0, "requeueCount": 0,
                   "startTime": view["executionInfo"]["startTime"]})
    poll(lambda: state_of(acct, "j", "flaky") == "completed", "the reactivated task")
    assert acct.task_full_view("j", "flaky")["executionInfo"]["result"] == "success"
    checked(acct)       # (only while nothing runs: the live engine does not count CPU)

    acct.create_tasks("j", [{"id": "sleeper", "commandLine": "sleep 30"}])
    acct.create_tasks("j", [{"id": "after", "commandLine": "true"}])
    poll(lambda: state_of(acct, "j", "sleeper") == "running", "the sleeper")
    active = error_of(lambda: acct.reactivate_task("j", "sleeper"))
    assert (active.code, active.status) == ("TaskNotCompleted", 409)
    acct.delete_task("j", "sleeper")
    assert error_of(lambda: acct.task_full_view("j", "sleeper")).code == "TaskNotFound"
    assert error_of(lambda: acct.get_task("j", "sleeper")).code == "TaskNotFound"
    assert error_of(lambda: acct.delete_task("j", "sleeper")).code == "TaskNotFound"
    acct.delete_task("j", "after")
    poll(lambda: acct.task_counts("j")["taskCounts"]["running"] == 0, "nothing running")
    checked(acct)
    assert acct.task_counts("j")["taskCounts"] == {
        "active": 0, "running": 0, "completed": 3, "succeeded": 2, "failed": 1}
    # the id is free again
    assert acct.create_tasks("j", [{"id": "sleeper", "commandLine": "true"}])[0]["status"] \
        == "success"
    acct.delete_task("j", "sleeper")
    acct.close()
    again = account()
    assert [t["id"] for t in again.task_views("j")] == ["long", "ok", "flaky"]
    assert error_of(lambda: again.get_task("j", "after")).code == "TaskNotFound"


def test_a_task_of_a_job_waiting_for_its_pool_is_deleted(account):
    acct = account()
    acct.create_job({"id": "j", "poolInfo": {"poolId": "later"}})
    acct.create_tasks("j", [{"id": "a", "commandLine": "true"},
                            {"id": "b", "commandLine": "true"}])
    acct.delete_task("j", "a")
    acct.create_tasks("j", [{"id": "c", "commandLine": "true"}])
    assert error_of(lambda: acct.get_task("j", "a")).code == "TaskNotFound"
    assert [t["id"] for t in acct.task_views("j")] == ["b", "c"]
    acct.close()
    assert [t["id"] for t in account().task_views("j")] == ["b", "c"]


def test_terminating_an_active_task_completes_it_without_running(account):
    acct = account()
    acct.create_pool(pool(nodes=0))
    acct.create_job({"id": "j", "poolInfo": {"poolId": "p1"}, "usesTaskDependencies": True})
    acct.create_tasks("j", [{"id": "a", "commandLine": "true"},
                            {"id": "b", "commandLine": "true", "dependsOn": {"taskIds": ["a"]}}])
    view = acct.terminate_task("j", "a")
    checked(acct)
    assert (view["state"], view["previousState"], view["executionInfo"]["result"]) == (
        "completed", "active", "failure")
    assert "startTime" not in view["executionInfo"]
    acct.terminate_task("j", "b")           # waiting for its parent: not ready, still ends
    checked(acct)
    assert acct.task_counts("j")["taskCounts"]["failed"] == 2


def test_task_constraints_change_what_the_task_is_allowed(account):
    acct = account()
    acct.create_pool(pool(nodes=0))
    acct.create_job({"id": "j", "poolInfo": {"poolId": "p1"},
                     "constraints": {"maxTaskRetryCount": 3}})
    acct.create_tasks("j", [{"id": "t", "commandLine": "false",
                             "constraints": {"maxTaskRetryCount": 0}}])
    view = acct.update_task_constraints("j", "t", {"maxTaskRetryCount": 2,
                                                   "maxWallClockTime": "PT1M"})
    assert view["constraints"] == {"maxWallClockTime": "PT1M", "retentionTime": "PT168H",
                                   "maxTaskRetryCount": 2}
    assert view["lastModified"] >= view["creationTime"]
    # left out: the job's retry count again
    assert acct.update_task_constraints("j", "t", {})["constraints"]["maxTaskRetryCount"] == 3
    acct.update_task_constraints("j", "t", {"maxTaskRetryCount": 2})
    bad = error_of(lambda: acct.update_task_constraints("j", "t", {"maxTaskRetryCount": -2}))
    assert (bad.code, dict(bad.values)["PropertyName"]) == (
        "InvalidPropertyValue", "constraints.maxTaskRetryCount")
    acct.resize_pool("p1", 1)
    poll(lambda: state_of(acct, "j", "t") == "completed", "the task to fail")
    assert acct.task_full_view("j", "t")["executionInfo"]["retryCount"] == 2
    done = error_of(lambda: acct.update_task_constraints("j", "t", {}))
    assert (done.code, done.status) == ("TaskCompleted", 409)
    acct.close()
    assert account().task_full_view("j", "t")["constraints"]["maxTaskRetryCount"] == 2


def test_task_files_are_listed_read_and_deleted_inside_the_task_directory(account):
    acct = account()
    acct.create_pool(pool())
    acct.create_job({"id": "j", "poolInfo": {"poolId": "p1"}})
    acct.create_tasks("j", [{"id": "t", "commandLine":
                             "/bin/sh -c 'echo hello; mkdir -p sub; printf abc > sub/f.txt'"},
                            {"id": "never", "commandLine": "true", "requiredSlots": 5}])
    poll(lambda: state_of(acct, "j", "t") == "completed", "the task")
    top = acct.list_task_files("j", "t")
    assert [(name, stat.S_ISDIR(st.st_mode)) for name, st in top] == [
        ("stderr.txt", False), ("stdout.txt", False), ("wd", True)]
    assert dict(top)["stdout.txt"].st_size == 6
    deep = acct.list_task_files("j", "t", recursive=True)
    assert [name for name, _ in deep] == ["stderr.txt", "stdout.txt", "wd", "wd/sub",
                                          "wd/sub/f.txt"]
    path, st = acct.task_file("j", "t", "wd/sub/f.txt")
    assert (path.read_bytes(), st.st_size) == (b"abc", 3)
    assert error_of(lambda: acct.task_file("j", "t", "nope.txt")).code == "FileNotFound"
    escape = error_of(lambda: acct.task_file("j", "t", "../never/stdout.txt"))
    assert (escape.code, dict(escape.values)["PropertyName"]) == ("InvalidPropertyValue",
                                                                 "filePath")
    assert acct.list_task_files("j", "never") == []
    full = error_of(lambda: acct.delete_task_file("j", "t", "wd/sub"))
    assert (full.code, full.status) == ("OperationInvalidForCurrentState", 409)
    acct.delete_task_file("j", "t", "stdout.txt")
    acct.delete_task_file("j", "t", "wd/sub", recursive=True)
    assert [name for name, _ in acct.list_task_files("j", "t", recursive=True)] == [
        "stderr.txt", "wd"]
    assert not os.path.exists(path)


def test_preparation_and_release_status_per_node(account):
    acct = account()
    acct.create_pool(pool())
    acct.create_job({"id": "plain", "poolInfo": {"poolId": "p1"}})
    none = error_of(lambda: acct.preparation_release_status("plain"))
    assert (none.code, none.status) == ("JobPreparationTaskNotSpecified", 409)
    acct.create_job({"id": "j", "poolInfo": {"poolId": "p1"},
                     "jobPreparationTask": {"commandLine": "true"},
                     "jobReleaseTask": {"commandLine": "true"}})
    assert acct.preparation_release_status("j") == []
    acct.create_tasks("j", [{"id": "t", "commandLine": "true"}])
    poll(lambda: state_of(acct, "j", "t") == "completed", "the task")
    (status,) = acct.preparation_release_status("j")
    prep = status["jobPreparationTaskExecutionInfo"]
    assert (status["poolId"], status["nodeId"], "jobReleaseTaskExecutionInfo" in status) == (
        "p1", "tvm-000001", False)
    assert {k: prep[k] for k in ("state", "result", "exitCode", "retryCount",
                                 "taskRootDirectory")} == {
        "state": "completed", "result": "success", "exitCode": 0, "retryCount": 0,
        "taskRootDirectory": "workitems/j/job-1/jobpreparation"}
    assert prep["startTime"] <= prep["endTime"]
    acct.terminate_job("j")
    poll(lambda: acct.job_full_view("j")["state"] == "completed", "the release task")
    (status,) = acct.preparation_release_status("j")
    release = status["jobReleaseTaskExecutionInfo"]
    assert (release["state"], release["result"], release["taskRootDirectory"]) == (
        "completed", "success", "workitems/j/job-1/jobrelease")


def test_a_multi_instance_task_lists_one_subtask_per_other_node(account):
    acct = account()
    acct.create_pool({**pool(nodes=2, slots=1), "enableInterNodeCommunication": True})
    acct.create_job({"id": "j", "poolInfo": {"poolId": "p1"}})
    acct.create_tasks("j", [{"id": "mi", "commandLine": "true",
                             "multiInstanceSettings": {"numberOfInstances": 2,
                                                       "coordinationCommandLine": "true"}},
                            {"id": "one", "commandLine": "true"}])
    poll(lambda: state_of(acct, "j", "mi") == "completed", "the multi-instance task")
    (sub,) = acct.list_subtasks("j", "mi")
    primary = acct.task_full_view("j", "mi")["nodeInfo"]["nodeId"]
    other = ({"tvm-000001", "tvm-000002"} - {primary}).pop()
    assert {k: sub[k] for k in ("id", "state", "exitCode", "result", "nodeInfo")} == {
        "id": 1, "state": "completed", "exitCode": 0, "result": "success",
        "nodeInfo": {"affinityId": other, "nodeId": other, "poolId": "p1",
                     "taskRootDirectory": "workitems/j/job-1/mi/1"}}
    assert acct.list_subtasks("j", "one") == []


def test_a_job_waiting_for_its_pool_is_terminated_at_once_and_stays_so(account):
    # the service completes a terminated job whose pool does not exist; its tasks stay
    # active and never run, not even when a pool of that id comes later, nor after a restart
    acct = account()
    acct.add_job({"id": "j", "poolInfo": {"poolId": "later"}})
    acct.add_tasks("j", [{"id": "a", "commandLine": "exit 0"}, {"id": "b", "commandLine": "exit 0"}])
    acct.terminate_job("j")
    view = acct.get_job("j")
    assert (view["state"], view["executionInfo"]["terminateReason"]) == ("completed",
                                                                        "UserTerminate")
    assert [t["state"] for t in acct.list_tasks("j")] == ["active", "active"]
    assert error_of(lambda: acct.add_task("j", {"id": "c", "commandLine": "exit 0"})).code \
        == "JobCompleted"
    acct.create_pool(pool("later"))
    poll(lambda: [n["state"] for n in acct.list_nodes("later")] == ["idle"], "the node idle")
    time.sleep(0.2)
    assert [t["state"] for t in acct.list_tasks("j")] == ["active", "active"]
    acct.close()
    again = account()
    view = again.get_job("j")
    assert (view["state"], view["executionInfo"]["terminateReason"]) == ("completed",
                                                                        "UserTerminate")
    assert [t["id"] for t in again.list_tasks("j")] == ["a", "b"]
    again.terminate_task("j", "a")          # a change after the restart is stored too
    again.close()
    third = account()
    assert [t["state"] for t in third.list_tasks("j")] == ["completed", "active"]
