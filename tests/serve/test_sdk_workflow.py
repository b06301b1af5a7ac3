"""The whole Azure Batch workflow through the official SDK (azure-batch 15.x) against
``poolscale serve``, as a user's program runs it against the cloud: an autoscale pool, its
formula evaluated, a job and a task collection, completion, ``stdout.txt``, exit codes, retries,
a wall-clock kill, nodes listed with ``$filter``, nodes removed with each deallocation option,
the pool deleted. Then the same program's error paths. Both api-versions the SDKs send.
"""

from __future__ import annotations

import datetime as _dt

import pytest

pytest.importorskip("azure.batch")
from azure.batch import models as m  # noqa: E402
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError  # noqa: E402

from served import image, task, wait_for  # noqa: E402

FORMULA = "$TargetDedicatedNodes = 2;\n$NodeDeallocationOption = taskcompletion;"


@pytest.mark.parametrize("api_version", ["2025-06-01", "2024-02-01.19.0"])
def test_the_sdk_runs_the_whole_workflow(server, api_version):
    client = server.client(api_version=api_version)
    client.create_pool(m.BatchPoolCreateOptions(
        id="render", vm_size="standard_a1_v2", virtual_machine_configuration=image(),
        task_slots_per_node=2, enable_auto_scale=True, auto_scale_formula=FORMULA,
        auto_scale_evaluation_interval=_dt.timedelta(seconds=5)))

    run = client.evaluate_pool_auto_scale(
        "render", m.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula=FORMULA))
    assert run.results == ("$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;"
                           "$NodeDeallocationOption=taskcompletion")
    assert run.error is None

    client.create_job(m.BatchJobCreateOptions(id="frames",
                                              pool_info=m.BatchPoolInfo(pool_id="render")))
    tasks = [task(f"f{i:03d}", f"/bin/sh -c 'echo frame {i}'") for i in range(30)]
    tasks.append(task("flaky", "/bin/sh -c 'exit 3'", max_task_retry_count=2))
    tasks.append(task("slow", "/bin/sh -c 'sleep 30'",
                      max_wall_clock_time=_dt.timedelta(seconds=1)))
    result = client.create_tasks("frames", tasks, max_concurrency=4)
    assert sorted(r.status for r in result.result_values) == ["success"] * 32

    wait_for("every task to complete", lambda: all(
        t.state == m.BatchTaskState.COMPLETED for t in client.list_tasks("frames")))
    done = {t.id: t for t in client.list_tasks("frames")}
    assert len(done) == 32
    assert {done[f"f{i:03d}"].execution_info.exit_code for i in range(30)} == {0}
    assert {done[f"f{i:03d}"].execution_info.result for i in range(30)} == {"success"}
    flaky = done["flaky"].execution_info
    assert (flaky.exit_code, flaky.retry_count, flaky.result) == (3, 2, "failure")
    assert flaky.failure_info.code == "FailureExitCode"
    slow = done["slow"].execution_info
    assert (slow.exit_code, slow.result, slow.failure_info.code) == (-1073741510, "failure",
                                                                       "TaskEnded")
    stdout = b"".join(client.download_task_file("frames", "f007", "stdout.txt"))
    assert stdout == b"frame 7\n"

    failed = client.list_tasks("frames", filter="executionInfo/result eq 'failure'")
    assert sorted(t.id for t in failed) == ["flaky", "slow"]

    nodes = wait_for("two idle nodes", lambda: [
        n for n in client.list_nodes("render", filter="state eq 'idle'")] if len(
            list(client.list_nodes("render", filter="state eq 'idle'"))) == 2 else None)
    assert len(nodes) == 2

    client.disable_pool_auto_scale("render")
    client.begin_resize_pool("render", m.BatchPoolResizeOptions(target_dedicated_nodes=5),
                             polling_interval=0.2).result()
    wait_for("five idle nodes", lambda: len(
        list(client.list_nodes("render", filter="state eq 'idle'"))) == 5)
    for option in ("requeue", "terminate", "taskcompletion", "retaineddata"):
        node = next(iter(client.list_nodes("render", filter="state eq 'idle'")))
        client.begin_remove_nodes("render", m.BatchNodeRemoveOptions(
            node_ids=[node.id], node_deallocation_option=option), polling_interval=0.2).result()
        ids = {n.id for n in client.list_nodes("render")}
        assert node.id not in ids, option
    assert client.get_pool("render").current_dedicated_nodes == 1

    client.begin_delete_pool("render", polling_interval=0.2).result()
    with pytest.raises(ResourceNotFoundError) as e:
        client.get_pool("render")
    assert e.value.error.code == "PoolNotFound"


def test_the_sdk_sees_the_services_errors(server, client):
    client.create_pool(m.BatchPoolCreateOptions(id="p1", vm_size="standard_d2s_v3",
                                                virtual_machine_configuration=image(),
                                                target_dedicated_nodes=0))
    with pytest.raises(ResourceExistsError) as e:
        client.create_pool(m.BatchPoolCreateOptions(id="P1", vm_size="standard_d2s_v3",
                                                    virtual_machine_configuration=image()))
    assert (e.value.status_code, e.value.error.code) == (409, "PoolExists")

    with pytest.raises(ResourceNotFoundError) as e:
        client.get_job("nosuchjob")
    assert (e.value.status_code, e.value.error.code) == (404, "JobNotFound")

    with pytest.raises(HttpResponseError) as e:
        client.create_pool(m.BatchPoolCreateOptions(id="bad id!", vm_size="standard_d2s_v3",
                                                    virtual_machine_configuration=image()))
    assert (e.value.status_code, e.value.error.code) == (400, "InvalidPropertyValue")
    assert {d.code: d.message for d in e.value.error.details}["PropertyName"] == "id"

    with pytest.raises(HttpResponseError) as e:
        client.evaluate_pool_auto_scale("p1", m.BatchPoolEvaluateAutoScaleOptions(
            auto_scale_formula="$TargetDedicatedNodes = ;"))
    assert (e.value.status_code, e.value.error.code) == (400, "AutoScalingFormulaSyntaxError")
    assert {d.code: d.message for d in e.value.error.details} == {
        "Message": "Line 1, Col 25: unexpected ';'"}

    # 15.x raises on the 404 of a HEAD instead of returning False (its exception policy)
    assert client.pool_exists("p1") is True
    with pytest.raises(ResourceNotFoundError):
        client.pool_exists("p2")

    client.create_job(m.BatchJobCreateOptions(id="j1", pool_info=m.BatchPoolInfo(pool_id="p1")))
    client.create_task("j1", task("t1", "/bin/true"))
    with pytest.raises(ResourceExistsError) as e:
        client.create_task("j1", task("T1", "/bin/true"))
    assert e.value.error.code == "TaskExists"
