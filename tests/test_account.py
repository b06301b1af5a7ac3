"""The library account (runtime/service/account.py): pools of local nodes, jobs and tasks run
for real, errors with the Batch service's codes.

Each test makes an account on a temporary data directory and a scaled real clock, runs tiny
shell commands, and asserts what a Batch user reads back: views, exit codes, files, states and
the error code and HTTP status of every refusal.
"""

from __future__ import annotations

import time

import psutil
import pytest

from poolscale.runtime.service.local.environment import ATTEMPT_MARKER
from account_testing import accounts, error_of, poll

WAIT = 15.0


@pytest.fixture
def account(tmp_path):
    yield from accounts(tmp_path)


def fixed_pool(id="p1", nodes=1, slots=2, **extra):
    return {"id": id, "vmSize": "STANDARD_D2_v3", "taskSlotsPerNode": slots,
            "targetDedicatedNodes": nodes, **extra}


def test_tasks_run_as_processes_and_report_what_batch_reports(account):
    acct = account()
    acct.create_pool(fixed_pool(nodes=2))
    acct.add_job({"id": "j1", "poolInfo": {"poolId": "p1"}})
    results = acct.add_tasks("j1", [
        {"id": "ok", "commandLine": "/bin/sh -c 'echo hello'"},
        {"id": "fails", "commandLine": "/bin/sh -c 'echo oops >&2; exit 3'"},
        {"id": "retried", "commandLine": "/bin/sh -c 'exit 4'",
         "constraints": {"maxTaskRetryCount": 2}},
    ])
    assert [(r["taskId"], r["status"]) for r in results] == [
        ("ok", "success"), ("fails", "success"), ("retried", "success")]
    acct.wait_for_job("j1", timeout=WAIT)
    tasks = {t["id"]: t for t in acct.list_tasks("j1")}
    assert {k: (t["state"], t["executionInfo"]["exitCode"], t["executionInfo"]["result"])
            for k, t in tasks.items()} == {
        "ok": ("completed", 0, "success"), "fails": ("completed", 3, "failure"),
        "retried": ("completed", 4, "failure")}
    assert tasks["fails"]["executionInfo"]["failureInfo"] == {"category": "usererror",
                                                              "code": "FailureExitCode"}
    assert tasks["retried"]["executionInfo"]["retryCount"] == 2
    assert acct.read_task_file("j1", "ok", "stdout.txt") == b"hello\n"
    assert acct.read_task_file("j1", "fails", "stderr.txt") == b"oops\n"
    assert acct.get_task("j1", "ok")["nodeInfo"]["nodeId"] in ("tvm-000001", "tvm-000002")
    nodes = acct.list_nodes("p1")
    assert [(n["id"], n["state"], n["isDedicated"]) for n in nodes] == [
        ("tvm-000001", "idle", True), ("tvm-000002", "idle", True)]
    pool = acct.get_pool("p1")
    assert (pool["allocationState"], pool["currentDedicatedNodes"]) == ("steady", 2)


def test_refusals_carry_the_service_codes(account):
    acct = account()
    assert acct.notes == []
    acct.create_pool(fixed_pool())
    e = error_of(lambda: acct.create_pool(fixed_pool()))
    assert (e.code, e.status) == ("PoolExists", 409)
    e = error_of(lambda: acct.create_pool(fixed_pool(id="P1")))      # ids ignore case
    assert e.code == "PoolExists"
    e = error_of(lambda: acct.create_pool(fixed_pool(id="bad id")))
    assert (e.code, e.status) == ("InvalidPropertyValue", 400)
    assert dict(e.values)["PropertyName"] == "id"
    e = error_of(lambda: acct.create_pool({"id": "p2"}))
    assert (e.code, e.status, dict(e.values)) == ("MissingRequiredProperty", 400,
                                                  {"PropertyName": "vmSize"})
    e = error_of(lambda: acct.get_pool("nope"))
    assert (e.code, e.status) == ("PoolNotFound", 404)
    acct.add_job({"id": "j1", "poolInfo": {"poolId": "p1"}})
    e = error_of(lambda: acct.add_job({"id": "J1", "poolInfo": {"poolId": "p1"}}))
    assert (e.code, e.status) == ("JobExists", 409)
    e = error_of(lambda: acct.add_job({"id": "j2"}))
    assert (e.code, dict(e.values)) == ("MissingRequiredProperty", {"PropertyName": "poolInfo.poolId"})
    e = error_of(lambda: acct.get_job("nope"))
    assert (e.code, e.status) == ("JobNotFound", 404)
    acct.add_task("j1", {"id": "t1", "commandLine": "/bin/true"})
    e = error_of(lambda: acct.add_task("j1", {"id": "T1", "commandLine": "/bin/true"}))
    assert (e.code, e.status) == ("TaskExists", 409)
    results = acct.add_tasks("j1", [{"id": "t2", "commandLine": "/bin/true"},
                                    {"id": "t1", "commandLine": "/bin/true"},
                                    {"commandLine": "/bin/true"}])
    assert [(r["status"], r.get("error") and r["error"].code) for r in results] == [
        ("success", None), ("clientError", "TaskExists"), ("clientError", "MissingRequiredProperty")]
    e = error_of(lambda: acct.get_task("j1", "nope"))
    assert (e.code, e.status) == ("TaskNotFound", 404)
    e = error_of(lambda: acct.enable_autoscale("p1", "$TargetDedicatedNodes = ;"))
    assert (e.code, e.status) == ("AutoScalingFormulaSyntaxError", 400)
    e = error_of(lambda: acct.enable_autoscale("p1", "$TargetDedicatedNodes = 1;", "PT10S"))
    assert (e.code, e.status) == ("InvalidAutoScaleEvaluationInterval", 400)
    e = error_of(lambda: acct.get_node("p1", "tvm-000009"))
    assert (e.code, e.status) == ("NodeNotFound", 404)
    e = error_of(lambda: acct.remove_nodes("p1", ["tvm-000001"], "later"))
    assert (e.code, dict(e.values)["PropertyName"]) == ("InvalidPropertyValue", "nodeDeallocationOption")


def test_a_job_waits_for_its_pool(account):
    acct = account()
    acct.add_job({"id": "early", "poolInfo": {"poolId": "later"}})
    acct.add_task("early", {"id": "t", "commandLine": "/bin/sh -c 'echo ran'"})
    assert acct.get_task("early", "t")["state"] == "active"
    acct.create_pool(fixed_pool(id="later"))
    acct.wait_for_job("early", timeout=WAIT)
    assert acct.read_task_file("early", "t", "stdout.txt") == b"ran\n"


def test_autoscale_on_the_real_clock_with_a_development_interval(account):
    # 5 s evaluations (a development setting) on a clock 10x faster than the wall: a run every 0.5 s
    acct = account(scale=0.1, min_evaluation_interval=5.0, sample_period=5.0)
    assert acct.notes == ["autoscale evaluation interval floor lowered to PT5S (development setting)"]
    formula = "$TargetDedicatedNodes = 2; $NodeDeallocationOption = taskcompletion;"
    acct.create_pool({"id": "auto", "vmSize": "STANDARD_D2_v3", "enableAutoScale": True,
                      "autoScaleFormula": formula, "autoScaleEvaluationInterval": "PT5S"})
    poll(lambda: acct.get_pool("auto")["currentDedicatedNodes"] == 2, "the formula's two nodes")
    pool = acct.get_pool("auto")
    assert pool["enableAutoScale"] is True and pool["autoScaleFormula"] == formula
    assert pool["autoScaleEvaluationInterval"] == "PT5S"
    assert pool["autoScaleRun"]["results"] == (
        "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion")
    run = acct.evaluate_autoscale("auto", "$TargetDedicatedNodes = $CurrentDedicatedNodes + 1;")
    assert run["results"].startswith("$TargetDedicatedNodes=3;")
    assert acct.get_pool("auto")["targetDedicatedNodes"] == 2      # evaluated, not applied
    acct.enable_autoscale("auto", "$TargetDedicatedNodes = 1;")
    poll(lambda: acct.get_pool("auto")["currentDedicatedNodes"] == 1, "the scale-down")
    e = error_of(lambda: acct.resize_pool("auto", 3))
    assert e.code == "OperationInvalidForCurrentState"
    acct.disable_autoscale("auto")
    acct.resize_pool("auto", 3)
    poll(lambda: acct.get_pool("auto")["currentDedicatedNodes"] == 3, "the resize")


def processes_of(attempt_prefix: str = "") -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["environ"]):
        env = p.info.get("environ") or {}
        if ATTEMPT_MARKER in env and env[ATTEMPT_MARKER].startswith(attempt_prefix):
            found.append(p)
    return found


@pytest.mark.parametrize("option,state,result,requeued", [
    ("requeue", "active", None, 1),
    ("terminate", "completed", "failure", 0),
    ("taskcompletion", "completed", "success", 0),
])
def test_removing_a_node_follows_its_deallocation_option(account, option, state, result, requeued):
    acct = account()
    acct.create_pool(fixed_pool(nodes=1, slots=1))
    acct.add_job({"id": "j", "poolInfo": {"poolId": "p1"}})
    acct.add_task("j", {"id": "long", "commandLine": "/bin/sh -c 'sleep 1.5; echo done'"})
    poll(lambda: acct.get_task("j", "long")["state"] == "running", "the task to start")
    acct.remove_nodes("p1", ["tvm-000001"], option)
    if option == "taskcompletion":
        acct.wait_for_job("j", timeout=WAIT)
    else:
        poll(lambda: acct.get_task("j", "long")["state"] == state, f"the task to be {state}")
    task = acct.get_task("j", "long")
    assert task["state"] == state
    assert task["executionInfo"]["requeueCount"] == requeued
    assert task["executionInfo"].get("result") == result
    if option == "terminate":
        assert task["executionInfo"]["failureInfo"] == {"category": "usererror", "code": "TaskEnded"}
    poll(lambda: acct.get_pool("p1")["currentDedicatedNodes"] == 0, "the node to leave")
    assert acct.get_pool("p1")["targetDedicatedNodes"] == 0


def test_priority_terminate_and_waiting(account):
    acct = account()
    acct.create_pool(fixed_pool(nodes=1, slots=1))
    acct.add_job({"id": "j", "poolInfo": {"poolId": "p1"}})
    acct.add_task("j", {"id": "sleeper", "commandLine": "/bin/sh -c 'sleep 30'"})
    poll(lambda: acct.get_task("j", "sleeper")["state"] == "running", "the task to start")
    assert acct.update_job("j", priority=500)["priority"] == 500
    with pytest.raises(TimeoutError, match=r"^job 'j' did not complete within 0\.2 s$"):
        acct.wait_for_job("j", timeout=0.2)
    acct.terminate_job("j")
    view = acct.wait_for_job("j", timeout=WAIT)
    assert view["state"] == "completed"
    assert view["executionInfo"]["terminateReason"] == "UserTerminate"
    task = acct.get_task("j", "sleeper")
    assert (task["state"], task["executionInfo"]["failureInfo"]["code"]) == ("completed", "TaskEnded")
    e = error_of(lambda: acct.add_task("j", {"id": "late", "commandLine": "/bin/true"}))
    assert e.code == "JobCompleted"
    e = error_of(lambda: acct.update_job("j", priority=5000))
    assert (e.code, dict(e.values)["PropertyName"]) == ("InvalidPropertyValue", "priority")


def test_a_busy_task_shows_in_the_formulas_cpu_samples(account):
    # one-core node, 1 s samples: a task burning CPU for a few seconds makes $CPUPercent high,
    # measured over the node's process group, and the formula reads it
    acct = account(sample_period=1.0)
    acct.create_pool({"id": "cpu", "vmSize": "STANDARD_D1_v2", "enableAutoScale": True,
                      "autoScaleFormula": "$TargetDedicatedNodes = 1;"})
    acct.add_job({"id": "j", "poolInfo": {"poolId": "cpu"}})
    burn = "python3 -c 'import time\nend = time.time() + 4\nwhile time.time() < end: pass'"
    acct.add_task("j", {"id": "burn", "commandLine": burn})
    poll(lambda: acct.get_task("j", "burn")["state"] == "running", "the burner to start")
    time.sleep(2.5)
    run = acct.evaluate_autoscale("cpu", "$c = max($CPUPercent.GetSample(TimeInterval_Second * 2));"
                                         " $TargetDedicatedNodes = 1;")
    cpu = float(run["results"].rsplit("$c=", 1)[1])
    assert cpu > 20.0, run["results"]
    idle = acct.evaluate_autoscale("cpu", "$TargetDedicatedNodes = 1;")
    assert idle["results"].startswith("$TargetDedicatedNodes=1;")


def test_more_refusals_and_a_pool_deleted(account):
    acct = account()
    acct.create_pool(fixed_pool(nodes=1))
    acct.add_job({"id": "j", "poolInfo": {"poolId": "p1"}})
    e = error_of(lambda: acct.add_task("j", {"id": "t"}))
    assert (e.code, dict(e.values)) == ("MissingRequiredProperty", {"PropertyName": "commandLine"})
    e = error_of(lambda: acct.add_task("j", {"id": "t", "commandLine": "/bin/true",
                                             "dependsOn": {"taskIds": ["x"]}}))
    assert (e.code, e.status) == ("TaskDependenciesNotSpecifiedOnJob", 400)
    e = error_of(lambda: acct.evaluate_autoscale("p1", "$TargetDedicatedNodes = 1;"))
    assert (e.code, e.status) == ("OperationInvalidForCurrentState", 409)
    acct.add_task("j", {"id": "t", "commandLine": "/bin/true"})
    acct.wait_for_job("j", timeout=WAIT)
    e = error_of(lambda: acct.read_task_file("j", "t", "wd/none.txt"))
    assert (e.code, e.status) == ("FileNotFound", 404)
    e = error_of(lambda: acct.read_task_file("j", "t", "../../../../etc/passwd"))
    assert e.code == "InvalidPropertyValue"
    acct.delete_pool("p1")
    poll(lambda: not acct.list_pools(), "the deleted pool to go")
    e = error_of(lambda: acct.get_pool("p1"))
    assert e.code == "PoolNotFound"


def test_a_deleted_pool_leaves_no_thread_behind(account):
    """A long-running server creates and deletes pools: each pool's process reaper must go
    with it (it did not: one thread and three descriptors stayed for every pool deleted)."""
    import threading

    def reapers():
        return sum(t.name == "poolscale-reaper" for t in threading.enumerate())

    acct = account()
    before = reapers()
    for i in range(3):
        acct.create_pool(fixed_pool(id=f"p{i}", nodes=1))
        acct.add_job({"id": f"j{i}", "poolInfo": {"poolId": f"p{i}"}})
        acct.add_task(f"j{i}", {"id": "t", "commandLine": "/bin/true"})
        acct.wait_for_job(f"j{i}", timeout=WAIT)
    assert reapers() == before + 3
    for i in range(3):
        acct.delete_pool(f"p{i}")
    poll(lambda: not acct.list_pools(), "the deleted pools to go")
    poll(lambda: reapers() == before, "the deleted pools' reapers to stop")


def test_dependencies_through_the_account(account):
    acct = account()
    acct.create_pool(fixed_pool(nodes=1, slots=2))
    acct.add_job({"id": "j", "poolInfo": {"poolId": "p1"}, "usesTaskDependencies": True})
    acct.add_tasks("j", [
        {"id": "first", "commandLine": "/bin/sh -c 'sleep 0.3; echo 1'"},
        {"id": "second", "commandLine": "/bin/sh -c 'echo 2'", "dependsOn": {"taskIds": ["first"]}},
    ])
    acct.wait_for_job("j", timeout=WAIT)
    first, second = acct.get_task("j", "first"), acct.get_task("j", "second")
    assert first["executionInfo"]["endTime"] <= second["executionInfo"]["startTime"]
    assert acct.read_task_file("j", "second", "stdout.txt") == b"2\n"


def test_spot_preemption_on_purpose(account):
    # a low-priority pool with seeded preemption (the pool's simulation.preemption): seed 0 of
    # this account preempts node 1 64.7 s of engine time after it was requested, while its task runs; the task's
    # process is killed, the task returns to the queue and runs again once the node is back
    acct = account(scale=0.02)
    acct.create_pool({"id": "spot", "vmSize": "STANDARD_D2_v3", "targetLowPriorityNodes": 1,
                      "simulation": {"preemption": {"meanTimeBetween": "PT1M",
                                                    "recoveryTime": "PT10S"}}})
    acct.add_job({"id": "j", "poolInfo": {"poolId": "spot"}})
    acct.add_task("j", {"id": "t", "commandLine": "/bin/sh -c 'sleep 2; echo survived'"})
    acct.wait_for_job("j", timeout=WAIT)
    events = acct._call(lambda: list(acct.pools["spot"].events))
    preempted = [e for e in events if e[1] == "node.preempt"]
    created = next(e[0] for e in events if e[1] == "node" and e[3] == "creating")
    assert preempted and preempted[0][0] - created == pytest.approx(64.68991965094965)
    starts = [e for e in events if e[1] == "task.start"]
    assert len(starts) >= 2 and ("task.recover" in [e[1] for e in events])
    assert acct.read_task_file("j", "t", "stdout.txt") == b"survived\n"
    assert acct.get_task("j", "t")["executionInfo"]["result"] == "success"
