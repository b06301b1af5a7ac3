"""The account's pool and node operations for the REST API (runtime/service/account_pools.py):
the pool view as ``BatchPool`` (given properties echoed, times), patch and replace of a pool's
properties, node counts, node reboot with each option, the node view as ``BatchNode``, node
files, and what of it survives a restart.

Each test makes an account on a temporary data directory and runs tiny shell commands; waits
poll with a deadline.
"""

from __future__ import annotations

import os
import time

import pytest

from poolscale.runtime.service.account import Account
from poolscale.runtime.service.settings import AccountSettings
from poolscale.runtime.service.views import poolscale_version
from account_testing import accounts, error_of, poll

WAIT = 15.0
NODE = "tvm-000001"


@pytest.fixture
def account(tmp_path):
    yield from accounts(tmp_path, kill_grace=0.2)


def pool_spec(id="p1", nodes=1, **extra):
    return {"id": id, "vmSize": "STANDARD_D2_v3", "targetDedicatedNodes": nodes, **extra}


def node_state(acct, pool="p1", node=NODE):
    return acct.get_node(pool, node)["state"]


def idle(acct, pool="p1", node=NODE):
    poll(lambda: node_state(acct, pool, node) == "idle", f"{node} idle")


# -- the pool view ----------------------------------------------------------------------------

ECHOED = {
    "displayName": "render farm",
    "metadata": [{"name": "team", "value": "vfx"}],
    "applicationPackageReferences": [{"applicationId": "blender", "version": "4.2"}],
    "virtualMachineConfiguration": {"imageReference": {"publisher": "canonical",
                                                       "offer": "ubuntu", "sku": "22_04-lts"},
                                    "nodeAgentSKUId": "batch.node.ubuntu 22.04"},
    "targetNodeCommunicationMode": "simplified",
    "taskSchedulingPolicy": {"nodeFillType": "Pack"},
    "resizeTimeout": "PT10M",
    "startTask": {"commandLine": "/bin/sh -c 'echo up'", "waitForSuccess": True},
}


def test_a_pool_view_echoes_the_properties_given_and_carries_its_times(account):
    acct = account()
    added = acct.create_pool(pool_spec(**ECHOED))
    for name, value in ECHOED.items():
        assert added[name] == value, name
    idle(acct)
    view = acct.get_pool("p1")
    for name, value in ECHOED.items():
        assert view[name] == value, name
    assert view["enableInterNodeCommunication"] is False
    assert (view["state"], view["allocationState"]) == ("active", "steady")
    assert view["stateTransitionTime"] == view["creationTime"] == view["lastModified"]
    assert view["allocationStateTransitionTime"] >= view["creationTime"]
    # the defaults the service shows when they were not given
    acct.create_pool(pool_spec(id="plain", nodes=0))
    plain = acct.get_pool("plain")
    assert (plain["resizeTimeout"], plain["taskSchedulingPolicy"],
            plain["enableInterNodeCommunication"]) == ("PT15M", {"nodeFillType": "spread"}, False)
    assert "metadata" not in plain and "startTask" not in plain


def test_a_deleted_pool_is_deleting_from_its_deletion_until_gone(account):
    acct = account()
    acct.create_pool(pool_spec())
    acct.add_job({"id": "j", "poolInfo": {"poolId": "p1"}})
    acct.add_task("j", {"id": "t", "commandLine": "/bin/sleep 30"})
    poll(lambda: acct.get_task("j", "t")["state"] == "running", "task running")
    created = acct.get_pool("p1")
    acct.delete_pool("p1")
    deleting = [v for v in acct.list_pools() if v["id"] == "p1"]
    if deleting:        # the node may be gone already
        assert deleting[0]["state"] == "deleting"
        assert deleting[0]["stateTransitionTime"] >= created["creationTime"]
    poll(lambda: not any(v["id"] == "p1" for v in acct.list_pools()), "pool gone")
    assert error_of(lambda: acct.get_pool("p1")).code == "PoolNotFound"


# -- patch and replace ----------------------------------------------------------------------------

def test_patch_replaces_only_the_properties_given(account):
    acct = account()
    acct.create_pool(pool_spec(nodes=0, **ECHOED))
    before = acct.get_pool("p1")
    time.sleep(0.01)
    view = acct.patch_pool("p1", {"metadata": [{"name": "team", "value": "fx"}]})
    assert view["metadata"] == [{"name": "team", "value": "fx"}]
    for name in ("applicationPackageReferences", "startTask", "targetNodeCommunicationMode",
                 "virtualMachineConfiguration"):
        assert view[name] == ECHOED[name], name
    assert view["lastModified"] > before["lastModified"]
    view = acct.patch_pool("p1", {"applicationPackageReferences": [],
                                  "startTask": {"commandLine": "/bin/true"},
                                  "targetNodeCommunicationMode": "classic"})
    assert (view["applicationPackageReferences"], view["startTask"],
            view["targetNodeCommunicationMode"]) == ([], {"commandLine": "/bin/true"}, "classic")
    assert acct.get_pool("p1")["startTask"] == {"commandLine": "/bin/true"}
    assert acct.pools["p1"].start_task.command_line == "/bin/true"


@pytest.mark.parametrize("changes, code, values", [
    ({"vmSize": "standard_d4_v3"}, "UnsupportedProperty", {"PropertyName": "vmSize"}),
    ({"colour": "red"}, "UnsupportedProperty", {"PropertyName": "colour"}),
    ({"metadata": [{"name": "a", "value": 3}]}, "InvalidPropertyValue",
     {"PropertyName": "metadata[0].value", "PropertyValue": "3", "Reason": "must be text"}),
    ({"metadata": {"a": "b"}}, "InvalidPropertyValue",
     {"PropertyName": "metadata", "PropertyValue": '{"a": "b"}', "Reason": "must be a list"}),
    ({"startTask": {"waitForSuccess": True}}, "MissingRequiredProperty",
     {"PropertyName": "startTask.commandLine"}),
    ({"startTask": {"commandLine": "x", "maxTaskRetryCount": -2}}, "InvalidPropertyValue",
     {"PropertyName": "startTask.maxTaskRetryCount"}),
    ({"targetNodeCommunicationMode": "fast"}, "InvalidPropertyValue",
     {"PropertyName": "targetNodeCommunicationMode"}),
])
def test_a_bad_patch_is_refused_with_the_property_named(account, changes, code, values):
    acct = account()
    acct.create_pool(pool_spec(nodes=0, metadata=[{"name": "keep", "value": "me"}]))
    e = error_of(lambda: acct.patch_pool("p1", changes))
    assert (e.code, e.status) == (code, 400)
    got = dict(e.values)
    assert {k: got[k] for k in values} == values
    assert acct.get_pool("p1")["metadata"] == [{"name": "keep", "value": "me"}]


def test_patch_of_a_missing_or_deleting_pool_is_refused(account):
    acct = account()
    e = error_of(lambda: acct.patch_pool("nope", {"metadata": []}))
    assert (e.code, e.status) == ("PoolNotFound", 404)
    e = error_of(lambda: acct.replace_pool_properties("nope", {
        "metadata": [], "applicationPackageReferences": [], "certificateReferences": []}))
    assert (e.code, e.status) == ("PoolNotFound", 404)


def test_replace_properties_requires_the_lists_and_removes_an_absent_start_task(account):
    acct = account()
    acct.create_pool(pool_spec(nodes=0, **ECHOED))
    e = error_of(lambda: acct.replace_pool_properties("p1", {
        "applicationPackageReferences": [], "certificateReferences": []}))
    assert (e.code, dict(e.values)) == ("MissingRequiredProperty", {"PropertyName": "metadata"})
    from test_account_certs import TP, cer      # a reference names a certificate the account has

    acct.add_certificate(cer())
    acct.patch_pool("p1", {"certificateReferences": [{"thumbprint": TP,
                                                      "thumbprintAlgorithm": "sha1"}]})
    view = acct.replace_pool_properties("p1", {
        "metadata": [{"name": "n", "value": "v"}], "applicationPackageReferences": []})
    assert "startTask" not in view
    assert (view["metadata"], view["applicationPackageReferences"],
            view["certificateReferences"], view["targetNodeCommunicationMode"]) == (
        [{"name": "n", "value": "v"}], [], [], "default")
    assert acct.pools["p1"].start_task is None
    view = acct.replace_pool_properties("p1", {
        "metadata": [], "applicationPackageReferences": [], "certificateReferences": [],
        "startTask": {"commandLine": "/bin/true"}, "targetNodeCommunicationMode": "classic"})
    assert (view["startTask"], view["targetNodeCommunicationMode"]) == (
        {"commandLine": "/bin/true"}, "classic")


def test_a_changed_start_task_runs_on_nodes_that_reboot_afterwards(account):
    acct = account()
    acct.create_pool(pool_spec(startTask={"commandLine": "/bin/sh -c 'echo one'"}))
    idle(acct)
    first = acct.get_node("p1", NODE)
    assert acct.read_node_file("p1", NODE, "startup/stdout.txt") == b"one\n"
    acct.patch_pool("p1", {"startTask": {"commandLine": "/bin/sh -c 'echo two'"}})
    assert acct.read_node_file("p1", NODE, "startup/stdout.txt") == b"one\n"
    assert acct.get_node("p1", NODE)["startTask"] == {"commandLine": "/bin/sh -c 'echo two'"}
    acct.reboot_node("p1", NODE)
    poll(lambda: acct.get_node("p1", NODE).get("lastBootTime", "") > first["lastBootTime"]
         and node_state(acct) == "idle", "rebooted")
    assert acct.read_node_file("p1", NODE, "startup/stdout.txt") == b"two\n"
    info = acct.get_node("p1", NODE)["startTaskInfo"]
    assert {k: info[k] for k in ("state", "exitCode", "result", "retryCount")} == {
        "state": "completed", "exitCode": 0, "result": "success", "retryCount": 0}


# -- node view ---------------------------------------------------------------------------------------

def test_a_node_view_reports_its_times_start_task_and_tasks(account):
    acct = account()
    acct.create_pool(pool_spec(startTask={
        "commandLine": "/bin/sh -c 'exit 3'", "maxTaskRetryCount": 1}))
    poll(lambda: node_state(acct) == "starttaskfailed", "start task failed")
    node = acct.get_node("p1", NODE)
    info = node["startTaskInfo"]
    assert {k: info[k] for k in ("state", "exitCode", "result", "retryCount", "failureInfo")} == {
        "state": "completed", "exitCode": 3, "result": "failure", "retryCount": 1,
        "failureInfo": {"category": "usererror", "code": "FailureExitCode",
                        "message": "The start task exited with an exit code representing a failure"}}
    assert info["startTime"] == info["lastRetryTime"] <= info["endTime"]
    assert node["allocationTime"] <= node["lastBootTime"] <= info["startTime"]
    assert node["stateTransitionTime"] == info["endTime"]
    assert node["nodeAgentInfo"] == {"version": poolscale_version(),
                                     "lastUpdateTime": node["allocationTime"]}
    assert (node["vmSize"], node["errors"], node["totalTasksRun"]) == ("STANDARD_D2_v3", [], 0)
    assert poolscale_version() == "0.1.0"

    acct.create_pool(pool_spec(id="p2"))
    idle(acct, "p2")
    acct.add_job({"id": "j", "poolInfo": {"poolId": "p2"}})
    acct.add_tasks("j", [{"id": "ok", "commandLine": "/bin/true"},
                         {"id": "bad", "commandLine": "/bin/sh -c 'exit 5'"}])
    acct.wait_for_job("j", timeout=WAIT)
    node = acct.get_node("p2", NODE)
    assert (node["totalTasksRun"], node["totalTasksSucceeded"]) == (2, 1)
    assert [(t["jobId"], t["taskId"], t["taskState"], t["executionInfo"]["result"],
             t["executionInfo"]["exitCode"]) for t in node["recentTasks"]] == [
        ("j", "ok", "completed", "success", 0), ("j", "bad", "completed", "failure", 5)]
    assert "startTask" not in node


def test_scheduling_state_shows_a_disabled_node(account):
    acct = account()
    acct.create_pool(pool_spec())
    idle(acct)
    acct.disable_scheduling("p1", NODE)
    assert acct.get_node("p1", NODE)["schedulingState"] == "disabled"
    assert node_state(acct) == "offline"
    acct.enable_scheduling("p1", NODE)
    assert acct.get_node("p1", NODE)["schedulingState"] == "enabled"


# -- node counts -----------------------------------------------------------------------------------

def test_node_counts_name_every_state_of_the_service(account):
    acct = account()
    assert acct.node_counts() == []
    acct.create_pool(pool_spec(nodes=2))
    acct.create_pool(pool_spec(id="empty", nodes=0))
    poll(lambda: all(n["state"] == "idle" for n in acct.list_nodes("p1")), "idle")
    acct.disable_scheduling("p1", "tvm-000002")
    zero = dict.fromkeys(("creating", "idle", "offline", "preempted", "rebooting", "reimaging",
                          "running", "starting", "startTaskFailed", "leavingPool", "unknown",
                          "unusable", "waitingForStartTask", "deallocated", "deallocating",
                          "upgradingOS", "total"), 0)
    assert acct.node_counts() == [
        {"poolId": "p1", "dedicated": {**zero, "idle": 1, "offline": 1, "total": 2},
         "lowPriority": zero},
        {"poolId": "empty", "dedicated": zero, "lowPriority": zero}]


# -- reboot --------------------------------------------------------------------------------------------

def _running_task(acct, command="/bin/sleep 30", **settings):
    acct.create_pool(pool_spec())
    acct.add_job({"id": "j", "poolInfo": {"poolId": "p1"}})
    acct.add_task("j", {"id": "t", "commandLine": command})
    poll(lambda: acct.get_task("j", "t")["state"] == "running", "task running")


def test_reboot_with_requeue_sends_the_task_back_and_boots_the_node_again(account):
    acct = account(boot_delay=0.5)
    _running_task(acct)
    booted = acct.get_node("p1", NODE)["lastBootTime"]
    acct.reboot_node("p1", NODE)
    assert node_state(acct) == "rebooting"
    assert acct.node_counts()[0]["dedicated"]["rebooting"] == 1
    task = acct.get_task("j", "t")
    assert (task["state"], task["executionInfo"]["requeueCount"]) == ("active", 1)
    e = error_of(lambda: acct.reboot_node("p1", NODE))
    assert (e.code, e.status) == ("NodeBeingRebooted", 409)
    poll(lambda: acct.get_task("j", "t")["state"] == "running", "task running again")
    assert acct.get_node("p1", NODE)["lastBootTime"] > booted


def test_reboot_with_terminate_ends_the_task_as_failed(account):
    acct = account()
    _running_task(acct)
    acct.reboot_node("p1", NODE, "terminate")
    task = acct.get_task("j", "t")
    assert (task["state"], task["executionInfo"]["result"],
            task["executionInfo"]["failureInfo"]) == (
        "completed", "failure", {"category": "usererror", "code": "TaskEnded"})
    idle(acct)


@pytest.mark.parametrize("option", ["taskcompletion", "retaineddata"])
def test_reboot_after_task_completion_waits_for_the_task(account, tmp_path, option):
    acct = account(boot_delay=0.3)
    gate = tmp_path / "gate"
    _running_task(acct, f"/bin/sh -c 'while [ ! -e {gate} ]; do sleep 0.02; done'")
    acct.add_task("j", {"id": "later", "commandLine": "/bin/true"})
    acct.reboot_node("p1", NODE, option)
    node = acct.get_node("p1", NODE)
    assert (node["state"], node["schedulingState"]) == ("running", "enabled")
    e = error_of(lambda: acct.reboot_node("p1", NODE))
    assert e.code == "NodeBeingRebooted"
    time.sleep(0.1)
    assert acct.get_task("j", "later")["state"] == "active"    # no new task meanwhile
    gate.touch()
    poll(lambda: node_state(acct) == "rebooting", "rebooting")
    task = acct.get_task("j", "t")
    assert (task["state"], task["executionInfo"]["result"]) == ("completed", "success")
    acct.wait_for_job("j", timeout=WAIT)
    assert acct.get_node("p1", NODE)["schedulingState"] == "enabled"


def test_reboot_refusals(account):
    acct = account(allocation_delay=30.0)
    acct.create_pool(pool_spec())
    e = error_of(lambda: acct.reboot_node("p1", NODE))
    assert (e.code, e.status) == ("NodeBeingCreated", 409)
    e = error_of(lambda: acct.reboot_node("p1", NODE, "later"))
    assert (e.code, dict(e.values)) == ("InvalidPropertyValue", {
        "PropertyName": "nodeRebootOption", "PropertyValue": "later",
        "Reason": "must be requeue, terminate, taskcompletion or retaineddata"})
    assert error_of(lambda: acct.reboot_node("p1", "tvm-000009")).code == "NodeNotFound"
    assert error_of(lambda: acct.reboot_node("nope", NODE)).code == "PoolNotFound"


# -- node files --------------------------------------------------------------------------------------

def test_node_files_are_listed_read_and_deleted_inside_the_node(account, tmp_path):
    acct = account()
    acct.create_pool(pool_spec(startTask={"commandLine": "/bin/sh -c 'echo hi; mkdir -p a/b; "
                                                         "echo x > a/b/f.txt'"}))
    idle(acct)
    top = acct.list_node_files("p1", NODE)
    assert [(f["name"], f["isDirectory"]) for f in top] == [
        (n, True) for n in ("applications", "fsmounts", "shared", "startup", "volatile",
                            "workitems")]
    every = {f["name"]: f for f in acct.list_node_files("p1", NODE, recursive=True)}
    assert {"startup/stdout.txt", "startup/wd/a/b/f.txt", "startup/wd/a/b"} <= set(every)
    out = every["startup/stdout.txt"]
    assert (out["isDirectory"], out["properties"]["contentLength"],
            out["properties"]["contentType"], out["properties"]["fileMode"]) == (
        False, 3, "application/octet-stream", "0644")
    path, st = acct.node_file("p1", NODE, "startup/stdout.txt")
    assert (path.read_bytes(), st.st_size) == (b"hi\n", 3)
    assert acct.node_file("p1", NODE, "startup")[0].is_dir()

    e = error_of(lambda: acct.node_file("p1", NODE, "startup/none.txt"))
    assert (e.code, e.status) == ("FileNotFound", 404)
    for bad in ("../tvm-000002/startup", "/etc/passwd", "startup/../../x"):
        e = error_of(lambda: acct.node_file("p1", NODE, bad))
        assert (e.code, e.status, dict(e.values)["PropertyName"]) == (
            "InvalidPropertyValue", 400, "filePath"), bad
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    os.symlink(outside, path.parent / "link.txt")
    e = error_of(lambda: acct.node_file("p1", NODE, "startup/link.txt"))
    assert (e.code, e.status) == ("InvalidPropertyValue", 400)
    assert "startup/link.txt" not in {f["name"] for f in acct.list_node_files(
        "p1", NODE, recursive=True)}

    e = error_of(lambda: acct.delete_node_file("p1", NODE, "startup/wd/a"))
    assert (e.code, e.status, dict(e.values)) == (
        "OperationInvalidForCurrentState", 409, {"Reason": "DirectoryNotEmpty"})
    acct.delete_node_file("p1", NODE, "startup/wd/a/b/f.txt")
    assert not (path.parent / "wd/a/b/f.txt").exists()
    acct.delete_node_file("p1", NODE, "startup/wd/a", recursive=True)
    assert not (path.parent / "wd/a").exists()
    e = error_of(lambda: acct.delete_node_file("p1", NODE, "startup/wd/a"))
    assert (e.code, e.status) == ("FileNotFound", 404)
    e = error_of(lambda: acct.delete_node_file("p1", NODE, ""))
    assert (e.code, e.status) == ("InvalidPropertyValue", 400)
    long = "startup/" + "x" * 300
    for call in (lambda: acct.node_file("p1", NODE, long),
                 lambda: acct.delete_node_file("p1", NODE, long)):
        e = error_of(call)
        assert (e.code, e.status, dict(e.values)["PropertyName"],
                dict(e.values)["Reason"]) == (
            "InvalidPropertyValue", 400, "filePath", "the name is too long")
    assert outside.read_text() == "secret"


# -- restart ------------------------------------------------------------------------------------------

def test_patched_properties_and_node_counts_survive_a_restart(tmp_path):
    settings = AccountSettings(data_dir=tmp_path / "data", kill_grace=0.2)
    with Account(settings=settings) as a:
        a.create_pool(pool_spec(startTask={"commandLine": "/bin/sh -c 'echo one'"}))
        poll(lambda: a.get_node("p1", NODE)["state"] == "idle", "idle")
        a.add_job({"id": "j", "poolInfo": {"poolId": "p1"}})
        a.add_task("j", {"id": "t", "commandLine": "/bin/true"})
        a.wait_for_job("j", timeout=WAIT)
        patched = a.patch_pool("p1", {"startTask": {"commandLine": "/bin/sh -c 'echo two'"},
                                      "metadata": [{"name": "k", "value": "v"}]})
        node = a.get_node("p1", NODE)
    with Account(settings=settings) as b:
        poll(lambda: b.get_node("p1", NODE)["state"] == "idle", "idle again")
        view = b.get_pool("p1")
        for name in ("startTask", "metadata", "lastModified", "creationTime",
                     "stateTransitionTime"):
            assert view[name] == patched[name], name
        again = b.get_node("p1", NODE)
        assert (again["allocationTime"], again["totalTasksRun"], again["recentTasks"]) == (
            node["allocationTime"], 1, node["recentTasks"])
        assert b.read_node_file("p1", NODE, "startup/stdout.txt") == b"two\n"


# -- resize and removal ----------------------------------------------------------------------------

def test_a_resize_timeout_becomes_the_pools_and_must_be_five_minutes(account):
    acct = account()
    acct.create_pool(pool_spec(nodes=0))
    acct.resize_pool("p1", 1, 0, resize_timeout="PT20M")
    assert acct.get_pool("p1")["resizeTimeout"] == "PT20M"
    poll(lambda: acct.get_pool("p1")["allocationState"] == "steady", "steady")
    e = error_of(lambda: acct.resize_pool("p1", 2, 0, resize_timeout="PT1M"))
    assert (e.code, dict(e.values)) == ("InvalidPropertyValue", {
        "PropertyName": "resizeTimeout", "PropertyValue": "PT1M",
        "Reason": "must be at least PT5M"})


def test_removing_a_node_that_is_leaving_is_refused(account):
    acct = account()
    _running_task(acct)
    acct.remove_nodes("p1", [NODE], "taskcompletion")
    assert node_state(acct) == "leavingpool"
    e = error_of(lambda: acct.remove_nodes("p1", [NODE], "requeue"))
    assert (e.code, e.status, e.message) == (
        "OperationInvalidForCurrentState", 409, f"{NODE} is already leaving the pool")
