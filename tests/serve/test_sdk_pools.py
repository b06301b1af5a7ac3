"""Pools and nodes through the official SDK (azure-batch 15.x) against ``poolscale serve``:
every Pools and Nodes operation served (runtime/service/rest/routes_pools.py) with the values a
program reads back, their error paths with the service's codes, conditional requests, node
files with a range, a node removed with each deallocation option, and the pool deleted through
the SDK's poller. Raw signed requests where the SDK cannot say it (a path that climbs out of
the node, an operation not served).
"""

from __future__ import annotations


import pytest

pytest.importorskip("azure.batch")
from azure.batch import models as m  # noqa: E402
from azure.batch.models._models import BatchNodeRebootOptions  # noqa: E402
from azure.core import MatchConditions  # noqa: E402
from azure.core.exceptions import (  # noqa: E402
    HttpResponseError, ResourceExistsError, ResourceNotFoundError,
)

from poolscale.runtime.service.views import poolscale_version  # noqa: E402
from served import image, wait_for  # noqa: E402

DEADLINE = 30.0
NODE = "tvm-000001"


def pool(pool_id="p1", nodes=1, vm_size="standard_d2s_v3", **extra):
    return m.BatchPoolCreateOptions(id=pool_id, vm_size=vm_size,
                                    virtual_machine_configuration=image(),
                                    target_dedicated_nodes=nodes, **extra)


def details(error):
    return {d.code: d.message for d in error.details}


def idle_nodes(client, pool_id, n):
    return wait_for(f"{n} idle nodes", lambda: (
        lambda nodes: nodes if len(nodes) == n else None)(
            list(client.list_nodes(pool_id, filter="state eq 'idle'"))))


@pytest.mark.parametrize("api_version", ["2025-06-01", "2024-02-01.19.0"])
def test_a_pool_is_added_read_patched_replaced_and_deleted(server, api_version):
    client = server.client(api_version=api_version)
    client.create_pool(pool(
        metadata=[m.BatchMetadataItem(name="team", value="vfx")],
        start_task=m.BatchStartTask(command_line="/bin/sh -c 'echo one'"),
        application_package_references=[m.BatchApplicationPackageReference(
            application_id="blender", version="4.2")]))
    got = client.get_pool("p1")
    assert (got.id, got.url, got.vm_size, got.state, got.target_dedicated_nodes) == (
        "p1", f"{server.endpoint}/pools/p1", "standard_d2s_v3", "active", 1)
    assert [(i.name, i.value) for i in got.metadata] == [("team", "vfx")]
    assert got.start_task.command_line == "/bin/sh -c 'echo one'"
    assert [(r.application_id, r.version) for r in got.application_package_references] == [
        ("blender", "4.2")]
    assert got.virtual_machine_configuration.node_agent_sku_id == "batch.node.ubuntu 22.04"
    assert got.etag.startswith("0x") and got.last_modified == got.creation_time
    assert client.pool_exists("p1") is True
    with pytest.raises(ResourceNotFoundError):          # 15.x raises on the HEAD's 404
        client.pool_exists("nope")

    # Pool - Patch replaces only what it names
    client.update_pool("p1", m.BatchPoolUpdateOptions(
        metadata=[m.BatchMetadataItem(name="team", value="fx")]))
    patched = client.get_pool("p1")
    assert [(i.name, i.value) for i in patched.metadata] == [("team", "fx")]
    assert patched.start_task.command_line == "/bin/sh -c 'echo one'"
    assert patched.etag != got.etag and patched.last_modified > got.last_modified

    # If-Match: a stale ETag changes nothing
    with pytest.raises(HttpResponseError) as e:
        client.update_pool("p1", m.BatchPoolUpdateOptions(metadata=[]), etag=got.etag,
                           match_condition=MatchConditions.IfNotModified)
    assert (e.value.status_code, e.value.error.code) == (412, "ConditionNotMet")
    assert len(client.get_pool("p1").metadata) == 1
    client.update_pool("p1", m.BatchPoolUpdateOptions(metadata=[]), etag=patched.etag,
                       match_condition=MatchConditions.IfNotModified)
    assert client.get_pool("p1").metadata == []

    # Pool - Update Properties replaces them all: no startTask given removes it
    client.replace_pool_properties("p1", m.BatchPoolReplaceOptions(
        metadata=[m.BatchMetadataItem(name="a", value="b")],
        application_package_references=[]))
    replaced = client.get_pool("p1")
    assert replaced.start_task is None
    assert [(i.name, i.value) for i in replaced.metadata] == [("a", "b")]
    assert replaced.application_package_references == []

    # lists: $filter, $select, paging
    client.create_pool(pool("p2", nodes=0))
    client.create_pool(pool("other", nodes=0))
    assert sorted(p.id for p in client.list_pools()) == ["other", "p1", "p2"]
    assert [p.id for p in client.list_pools(filter="startswith(id,'p')")] == ["p1", "p2"]
    assert [p.id for p in client.list_pools(max_results=1)] == ["other", "p1", "p2"]
    selected = list(client.list_pools(select=["id", "state"], filter="id eq 'p2'"))
    assert [(p.id, p.state, p.vm_size) for p in selected] == [("p2", "active", None)]
    one = client.get_pool("p2", select=["id", "vmSize"])
    assert (one.id, one.vm_size, one.state) == ("p2", "standard_d2s_v3", None)

    # errors
    with pytest.raises(ResourceExistsError) as e:
        client.create_pool(pool("P2"))
    assert (e.value.status_code, e.value.error.code) == (409, "PoolExists")
    with pytest.raises(ResourceNotFoundError) as e:
        client.get_pool("nope")
    assert (e.value.status_code, e.value.error.code) == (404, "PoolNotFound")
    with pytest.raises(HttpResponseError) as e:
        client.create_pool(pool("p3", task_slots_per_node=0))
    assert (e.value.status_code, e.value.error.code) == (400, "InvalidPropertyValue")
    assert details(e.value.error)["PropertyName"] == "taskSlotsPerNode"
    with pytest.raises(HttpResponseError) as e:
        client.update_pool("p1", m.BatchPoolUpdateOptions(
            metadata=[m.BatchMetadataItem(value="b")]))
    assert (e.value.status_code, e.value.error.code) == (400, "MissingRequiredProperty")
    assert details(e.value.error) == {"PropertyName": "metadata[0].name"}
    with pytest.raises(HttpResponseError) as e:
        client.replace_pool_properties("p1", m.BatchPoolReplaceOptions(
            application_package_references=[], metadata=None))
    assert (e.value.status_code, e.value.error.code) == (400, "MissingRequiredProperty")
    assert details(e.value.error) == {"PropertyName": "metadata"}

    client.begin_delete_pool("p1", polling_interval=0.1).result()
    with pytest.raises(ResourceNotFoundError) as e:
        client.get_pool("p1")
    assert e.value.error.code == "PoolNotFound"
    with pytest.raises(ResourceNotFoundError) as e:
        client.begin_delete_pool("p1", polling_interval=0.1).result()
    assert e.value.error.code == "PoolNotFound"


def test_autoscale_resize_and_node_removal_with_each_option(server, client):
    # one core a node: the default quota (4 cores a CPU of this machine) holds 5 of them
    client.create_pool(pool(nodes=0, vm_size="standard_a1_v2"))
    with pytest.raises(HttpResponseError) as e:
        client.evaluate_pool_auto_scale("p1", m.BatchPoolEvaluateAutoScaleOptions(
            auto_scale_formula="$TargetDedicatedNodes = 1;"))
    assert (e.value.status_code, e.value.error.code) == (409, "OperationInvalidForCurrentState")
    client.enable_pool_auto_scale("p1", m.BatchPoolEnableAutoScaleOptions(
        auto_scale_formula="$TargetDedicatedNodes = 2;",
        auto_scale_evaluation_interval="PT5S"))
    auto = client.get_pool("p1")
    assert (auto.enable_auto_scale, auto.auto_scale_formula,
            auto.auto_scale_run.results) == (
        True, "$TargetDedicatedNodes = 2;",
        "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue")
    run = client.evaluate_pool_auto_scale("p1", m.BatchPoolEvaluateAutoScaleOptions(
        auto_scale_formula="$TargetDedicatedNodes = 4;"))
    assert (run.results, run.error) == (
        "$TargetDedicatedNodes=4;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue",
        None)
    with pytest.raises(HttpResponseError) as e:
        client.begin_resize_pool("p1", m.BatchPoolResizeOptions(target_dedicated_nodes=1))
    assert (e.value.status_code, e.value.error.code) == (409, "OperationInvalidForCurrentState")
    client.disable_pool_auto_scale("p1")
    assert client.get_pool("p1").enable_auto_scale is False

    client.begin_resize_pool("p1", m.BatchPoolResizeOptions(
        target_dedicated_nodes=5, resize_timeout="PT20M"), polling_interval=0.1).result()
    resized = client.get_pool("p1")
    assert (resized.allocation_state, resized.current_dedicated_nodes,
            resized.resize_timeout) == ("steady", 5, __import__("datetime").timedelta(minutes=20))
    idle_nodes(client, "p1", 5)
    with pytest.raises(HttpResponseError) as e:
        client.begin_resize_pool("p1", m.BatchPoolResizeOptions(
            target_dedicated_nodes=1, resize_timeout="PT1M"))
    assert details(e.value.error)["PropertyName"] == "resizeTimeout"
    for option in ("requeue", "terminate", "taskcompletion", "retaineddata"):
        node = next(iter(client.list_nodes("p1", filter="state eq 'idle'")))
        client.begin_remove_nodes("p1", m.BatchNodeRemoveOptions(
            node_ids=[node.id], node_deallocation_option=option),
            polling_interval=0.1).result()
        assert node.id not in {n.id for n in client.list_nodes("p1")}, option
    assert client.get_pool("p1").current_dedicated_nodes == 1
    with pytest.raises(HttpResponseError) as e:
        client.begin_remove_nodes("p1", m.BatchNodeRemoveOptions(node_ids=[]))
    assert details(e.value.error)["PropertyName"] == "nodeList"
    with pytest.raises(ResourceNotFoundError) as e:
        client.begin_remove_nodes("p1", m.BatchNodeRemoveOptions(node_ids=["tvm-999999"]))
    assert e.value.error.code == "NodeNotFound"
    client.begin_stop_pool_resize("p1", polling_interval=0.1).result()
    assert client.get_pool("p1").allocation_state == "steady"

    counts = list(client.list_pool_node_counts())
    assert [(c.pool_id, c.dedicated.idle, c.dedicated.total, c.low_priority.total)
            for c in counts] == [("p1", 1, 1, 0)]
    images = list(client.list_supported_images())
    assert [(i.node_agent_sku_id, i.image_reference.sku, i.os_type) for i in images] == [
        ("batch.node.ubuntu 22.04", "22_04-lts", "linux")]


def test_nodes_reboot_scheduling_and_files(server, client):
    client.create_pool(pool(start_task=m.BatchStartTask(
        command_line="/bin/sh -c 'echo one; mkdir -p d; echo x > d/f.txt'")))
    [node] = idle_nodes(client, "p1", 1)
    assert (node.id, node.url, node.vm_size, node.scheduling_state, node.is_dedicated) == (
        NODE, f"{server.endpoint}/pools/p1/nodes/{NODE}", "standard_d2s_v3", "enabled", True)
    got = client.get_node("p1", NODE)
    info = got.start_task_info
    assert (info.state, info.exit_code, info.result, info.retry_count) == (
        "completed", 0, "success", 0)
    assert got.node_agent_info.version == poolscale_version()
    assert got.allocation_time <= got.last_boot_time <= info.start_time
    assert got.start_task.command_line.startswith("/bin/sh")
    assert [n.id for n in client.list_nodes("p1", filter="startTaskInfo/exitCode eq 0")] == [NODE]

    client.disable_node_scheduling("p1", NODE, m.BatchNodeDisableSchedulingOptions(
        node_disable_scheduling_option="taskcompletion"))
    assert (client.get_node("p1", NODE).state,
            client.get_node("p1", NODE).scheduling_state) == ("offline", "disabled")
    client.enable_node_scheduling("p1", NODE)
    assert client.get_node("p1", NODE).state == "idle"

    client.update_pool("p1", m.BatchPoolUpdateOptions(
        start_task=m.BatchStartTask(command_line="/bin/sh -c 'echo two'")))
    assert b"".join(client.download_node_file("p1", NODE, "startup/stdout.txt")) == b"one\n"
    client.begin_reboot_node("p1", NODE, BatchNodeRebootOptions(node_reboot_kind="terminate"),
                             polling_interval=0.1).result()
    wait_for("the node idle again", lambda: client.get_node("p1", NODE).state == "idle")
    rebooted = client.get_node("p1", NODE)
    assert rebooted.last_boot_time > got.last_boot_time
    assert b"".join(client.download_node_file("p1", NODE, "startup/stdout.txt")) == b"two\n"
    with pytest.raises(HttpResponseError) as e:
        client.begin_reboot_node("p1", NODE, BatchNodeRebootOptions(node_reboot_kind="later"))
    assert (e.value.status_code, details(e.value.error)["PropertyName"]) == (
        400, "nodeRebootOption")
    with pytest.raises(ResourceNotFoundError) as e:
        client.get_node("p1", "tvm-000009")
    assert e.value.error.code == "NodeNotFound"

    # files: list, a range (answered 200), properties, delete
    names = {f.name: f for f in client.list_node_files("p1", NODE, recursive=True)}
    assert {"startup/stdout.txt", "startup/wd/d", "startup/wd/d/f.txt"} <= set(names)
    out = names["startup/stdout.txt"]
    assert (out.is_directory, out.properties.content_length, out.url) == (
        False, 4, f"{server.endpoint}/pools/p1/nodes/{NODE}/files/startup%2Fstdout.txt")
    top = [f.name for f in client.list_node_files("p1", NODE)]
    assert top == ["applications", "fsmounts", "shared", "startup", "volatile", "workitems"]
    assert [f.name for f in client.list_node_files(
        "p1", NODE, recursive=True, filter="startswith(name,'startup/wd/d')")] == [
        "startup/wd/d", "startup/wd/d/f.txt"]
    assert b"".join(client.download_node_file("p1", NODE, "startup/stdout.txt",
                                              ocp_range="bytes=1-2")) == b"wo"
    props = client.get_node_file_properties("p1", NODE, "startup/wd/d/f.txt")
    assert (props.content_length, props.is_directory) == (2, False)
    with pytest.raises(HttpResponseError) as e:
        client.delete_node_file("p1", NODE, "startup/wd/d")
    assert (e.value.status_code, e.value.error.code) == (409, "OperationInvalidForCurrentState")
    client.delete_node_file("p1", NODE, "startup/wd/d", recursive=True)
    with pytest.raises(ResourceNotFoundError) as e:
        client.get_node_file_properties("p1", NODE, "startup/wd/d/f.txt")
    with pytest.raises(ResourceNotFoundError) as e:   # a streamed answer: its body unread
        b"".join(client.download_node_file("p1", NODE, "startup/none.txt"))
    assert e.value.status_code == 404
    missing = server.request("GET", f"/pools/p1/nodes/{NODE}/files/startup%2Fnone.txt")
    assert (missing.status, missing.json()["code"]) == (404, "FileNotFound")
    climb = server.request("GET", f"/pools/p1/nodes/{NODE}/files/startup%2F..%2F..%2Fx")
    assert (climb.status, climb.json()["code"]) == (400, "InvalidPropertyValue")
    assert {v["key"]: v["value"] for v in climb.json()["values"]}["PropertyName"] == "filePath"


def test_operations_not_served_are_invalid_uri_with_their_reason(server, client):
    answer = server.request("GET", "/poolusagemetrics")
    assert (answer.status, answer.json()["code"]) == (400, "InvalidUri")
    assert {v["key"]: v["value"] for v in answer.json()["values"]} == {
        "Reason": "pool usage metrics are not served by poolscale: it bills nothing"}
    client.create_pool(pool())
    idle_nodes(client, "p1", 1)
    reimage = server.request("POST", f"/pools/p1/nodes/{NODE}/reimage", body={})
    assert (reimage.status, reimage.json()["code"]) == (400, "InvalidUri")
    assert {v["key"]: v["value"] for v in reimage.json()["values"]} == {
        "Reason": "not served by poolscale: a local node has no VM of its own to reimage "
                  "(reboot restarts its processes)"}
    with pytest.raises(HttpResponseError) as e:
        client.get_node_remote_login_settings("p1", NODE)
    assert (e.value.status_code, e.value.error.code) == (400, "InvalidUri")


def test_in_process_a_node_links_its_recent_tasks_and_a_get_honours_if_none_match(tmp_path):
    """Jobs are added through the account itself here (this module serves pools and nodes)."""
    from test_app import request

    from poolscale.runtime.commands.serve import DEV_ACCOUNT, DEV_KEY
    from poolscale.runtime.service.account import Account
    from poolscale.runtime.service.rest.app import build_app
    from poolscale.runtime.service.rest.auth import decode_key
    from poolscale.runtime.service.settings import AccountSettings

    with Account(settings=AccountSettings(data_dir=tmp_path / "data")) as account:
        app = build_app(account, account_name=DEV_ACCOUNT, key=decode_key(DEV_KEY),
                        modules=("routes_pools",))
        account.create_pool({"id": "p1", "vmSize": "standard_d2s_v3",
                             "targetDedicatedNodes": 1})
        account.add_job({"id": "j", "poolInfo": {"poolId": "p1"}})
        account.add_task("j", {"id": "t", "commandLine": "/bin/true"})
        account.wait_for_job("j", timeout=DEADLINE)
        node = request(app, "GET", f"/pools/p1/nodes/{NODE}").json()
        assert [(t["taskUrl"], t["jobId"], t["taskId"], t["taskState"]) for t in
                node["recentTasks"]] == [("http://testserver/jobs/j/tasks/t", "j", "t",
                                          "completed")]
        assert (node["totalTasksRun"], node["totalTasksSucceeded"]) == (1, 1)
        got = request(app, "GET", "/pools/p1")
        etag = got.headers["etag"]
        assert got.json()["eTag"] == etag
        again = request(app, "GET", "/pools/p1", headers={"If-None-Match": etag})
        assert (again.status_code, again.content) == (304, b"")
        assert request(app, "HEAD", "/pools/p1", headers={"If-None-Match": etag}
                       ).status_code == 304
        assert app.internal_errors == 0
