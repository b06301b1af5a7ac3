"""Jobs and tasks over REST through the official azure-batch SDK (runtime/service/rest/
routes_jobs.py): create a job, add 250 tasks with ``create_tasks`` (4 threads), wait for them,
download ``stdout.txt``, exit codes, retries, a wall-clock kill, terminate/reactivate/delete,
task counts, files, job update/disable/enable/terminate/delete, and the error paths with the
service's codes.

The server runs in this process (uvicorn on a thread, the app ``poolscale serve`` builds) so
that a test makes its pools with the account library: pools have REST routes of their own,
tested elsewhere. Every request still goes over HTTP, signed by the SDK. Each test ends by
asserting that the app answered no request with an internal error.
"""

from __future__ import annotations

import time

import pytest

pytest.importorskip("starlette", reason="the REST tests need poolscale[serve]")
pytest.importorskip("azure.batch", reason="the SDK tests need azure-batch 15")

from azure.batch import models as m  # noqa: E402
from azure.batch.models import CreateTasksError  # noqa: E402
from azure.batch.models._models import BatchJobTerminateOptions  # noqa: E402  (not exported)
from azure.core import MatchConditions  # noqa: E402
from azure.core.exceptions import (  # noqa: E402
    HttpResponseError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError,
)
from served import in_process  # noqa: E402

from poolscale.runtime.commands.serve import DEV_ACCOUNT, DEV_KEY  # noqa: E402

WAIT = 20.0


@pytest.fixture
def batch(tmp_path):
    """An account served over HTTP on a free port (served.in_process)."""
    with in_process(tmp_path / "data") as served:
        yield served


def pool(batch, id="p", nodes=1, slots=4):
    batch.account.create_pool({"id": id, "vmSize": "STANDARD_D2_v3", "targetDedicatedNodes": nodes,
                               "taskSlotsPerNode": slots})


def job(batch, id="j", pool_id="p", **extra):
    batch.client.create_job(m.BatchJobCreateOptions(id=id, pool_info=m.BatchPoolInfo(pool_id=pool_id),
                                                    **extra))


def task(id, command, **extra):
    return m.BatchTaskCreateOptions(id=id, command_line=command, **extra)


def poll(condition, what, deadline=WAIT):
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def state(batch, job_id, task_id):
    return batch.client.get_task(job_id, task_id).state


def test_250_tasks_through_create_tasks_run_and_report_their_output(batch):
    pool(batch)
    job(batch, display_name="many", metadata=[m.BatchMetadataItem(name="k", value="v")])
    c = batch.client
    got = c.get_job("j")
    assert (got.id, got.state, got.display_name, got.pool_info.pool_id, got.metadata[0].value,
            got.url) == ("j", "active", "many", "p", "v", batch.endpoint + "/jobs/j")
    assert got.etag.startswith("0x") and got.last_modified == got.creation_time
    tasks = [task(f"t{i:03}", f"/bin/sh -c 'echo out {i}; exit {i % 3}'") for i in range(250)]
    result = c.create_tasks("j", tasks, max_concurrency=4)
    assert sorted(r.task_id for r in result.result_values) == [f"t{i:03}" for i in range(250)]
    assert {r.status for r in result.result_values} == {"success"}
    poll(lambda: c.get_job_task_counts("j").task_counts.completed == 250, "250 tasks")
    counts = c.get_job_task_counts("j")
    assert (counts.task_counts.active, counts.task_counts.running, counts.task_counts.succeeded,
            counts.task_counts.failed) == (0, 0, 84, 166)
    assert counts.task_slot_counts.completed == 250
    assert b"".join(c.download_task_file("j", "t007", "stdout.txt")) == b"out 7\n"
    assert b"".join(c.download_task_file("j", "t007", "stdout.txt", ocp_range="bytes=4-4")) \
        == b"7"
    t = c.get_task("j", "t005")
    assert (t.state, t.execution_info.exit_code, t.execution_info.result,
            t.execution_info.failure_info.code, t.node_info.node_id, t.node_info.pool_id,
            t.command_line, t.url) == (
        "completed", 2, "failure", "FailureExitCode", "tvm-000001", "p",
        "/bin/sh -c 'echo out 5; exit 2'", batch.endpoint + "/jobs/j/tasks/t005")
    assert (t.node_info.node_url, t.node_info.task_root_directory,
            t.node_info.task_root_directory_url) == (
        batch.endpoint + "/pools/p/nodes/tvm-000001", "workitems/j/job-1/t005",
        batch.endpoint + "/pools/p/nodes/tvm-000001/files/workitems%2Fj%2Fjob-1%2Ft005")
    listed = list(c.list_tasks("j"))
    assert len(listed) == 250 and {x.state for x in listed} == {"completed"}
    names = sorted(f.name for f in c.list_task_files("j", "t005"))
    assert names == ["stderr.txt", "stdout.txt", "wd"]
    raw = batch.request("HEAD", "/jobs/j/tasks/t005/files/stdout.txt")
    assert (raw.status, raw.headers["content-length"], raw.headers["ocp-batch-file-isdirectory"]) \
        == (200, "6", "false")


def test_retries_and_a_wall_clock_kill(batch):
    pool(batch)
    job(batch)
    c = batch.client
    c.create_task("j", task("retried", "/bin/sh -c 'exit 4'",
                            constraints=m.BatchTaskConstraints(max_task_retry_count=2)))
    c.create_task("j", task("slow", "sleep 30",
                            constraints=m.BatchTaskConstraints(max_wall_clock_time="PT1S")))
    poll(lambda: state(batch, "j", "retried") == state(batch, "j", "slow") == "completed",
         "the retried and the killed task")
    retried = c.get_task("j", "retried").execution_info
    assert (retried.retry_count, retried.exit_code, retried.result) == (2, 4, "failure")
    slow = c.get_task("j", "slow")
    assert (slow.execution_info.result, slow.execution_info.failure_info.code,
            slow.execution_info.exit_code, slow.constraints.max_wall_clock_time.total_seconds()) \
        == ("failure", "TaskEnded", -1073741510, 1.0)


def test_terminate_reactivate_delete_and_constraints(batch):
    pool(batch)
    job(batch)
    c = batch.client
    c.create_task("j", task("sleeper", "sleep 30"))
    c.create_task("j", task("fails", "false"))
    poll(lambda: state(batch, "j", "sleeper") == "running"
         and state(batch, "j", "fails") == "completed", "the tasks")
    c.replace_task("j", "sleeper", m.BatchTask(constraints=m.BatchTaskConstraints(
        max_task_retry_count=5)))
    assert c.get_task("j", "sleeper").constraints.max_task_retry_count == 5
    raw = batch.request("PUT", "/jobs/j/tasks/sleeper",
                        body={"constraints": {"maxTaskRetryCount": 5}})
    assert (raw.status, raw.body, raw.headers["etag"]) == (200, b"",
                                                           c.get_task("j", "sleeper").etag)
    whole = c.get_task("j", "sleeper")          # the task as a get returned it
    whole.constraints.max_task_retry_count = 6
    c.replace_task("j", "sleeper", whole)
    assert c.get_task("j", "sleeper").constraints.max_task_retry_count == 6
    c.terminate_task("j", "sleeper")
    ended = c.get_task("j", "sleeper")
    assert (ended.state, ended.execution_info.failure_info.code) == ("completed", "TaskEnded")
    with pytest.raises(ResourceExistsError) as info:
        c.terminate_task("j", "sleeper")
    assert info.value.error.code == "TaskCompleted"
    c.reactivate_task("j", "fails")
    assert c.get_task("j", "fails").execution_info.retry_count == 0
    poll(lambda: state(batch, "j", "fails") == "completed", "the reactivated task")
    c.delete_task("j", "sleeper")
    with pytest.raises(ResourceNotFoundError) as info:
        c.get_task("j", "sleeper")
    assert info.value.error.code == "TaskNotFound"
    counts = c.get_job_task_counts("j").task_counts
    assert (counts.completed, counts.failed) == (1, 1)


def test_job_update_disable_enable_terminate_and_delete(batch):
    pool(batch)
    job(batch, priority=1)
    c = batch.client
    c.update_job("j", m.BatchJobUpdateOptions(priority=50, max_parallel_tasks=3))
    got = c.get_job("j")
    assert (got.priority, got.max_parallel_tasks) == (50, 3)
    c.replace_job("j", m.BatchJob(pool_info=m.BatchPoolInfo(pool_id="p"), priority=7))
    got = c.get_job("j")
    assert (got.priority, got.max_parallel_tasks, got.last_modified > got.creation_time) == (
        7, -1, True)
    with pytest.raises(ResourceModifiedError):
        c.update_job("j", m.BatchJobUpdateOptions(priority=1), etag="0xNOTTHIS",
                     match_condition=MatchConditions.IfNotModified)
    c.update_job("j", m.BatchJobUpdateOptions(priority=9), etag=c.get_job("j").etag,
                 match_condition=MatchConditions.IfNotModified)
    assert c.get_job("j").priority == 9
    # a replace with the job as a get returned it: the read-only properties are ignored
    whole = c.get_job("j")
    whole.priority = 11
    c.replace_job("j", whole)
    assert (c.get_job("j").priority, c.get_job("j").state) == (11, "active")
    c.create_task("j", task("sleeper", "sleep 30"))
    poll(lambda: state(batch, "j", "sleeper") == "running", "the sleeper")
    c.begin_disable_job("j", m.BatchJobDisableOptions(disable_tasks="requeue"),
                        polling_interval=0).result()
    got = c.get_job("j")
    assert (got.state, got.previous_state) == ("disabled", "active")
    sleeper = c.get_task("j", "sleeper")
    assert (sleeper.state, sleeper.execution_info.requeue_count) == ("active", 1)
    c.begin_enable_job("j", polling_interval=0).result()
    assert c.get_job("j").state == "active"
    poll(lambda: state(batch, "j", "sleeper") == "running", "the sleeper again")
    c.begin_terminate_job("j", BatchJobTerminateOptions(termination_reason="enough"),
                          polling_interval=0).result()
    got = c.get_job("j")
    assert (got.state, got.execution_info.termination_reason) == ("completed", "enough")
    with pytest.raises(ResourceExistsError) as info:
        c.create_task("j", task("late", "true"))
    assert info.value.error.code == "JobCompleted"
    c.begin_delete_job("j", polling_interval=0).result()
    with pytest.raises(ResourceNotFoundError) as info:
        c.get_job("j")
    assert info.value.error.code == "JobNotFound"


def test_error_paths_carry_the_service_codes(batch):
    pool(batch)
    job(batch)
    c = batch.client
    with pytest.raises(ResourceExistsError) as info:
        job(batch)
    assert info.value.error.code == "JobExists"
    with pytest.raises(ResourceNotFoundError) as info:
        c.get_job("nope")
    assert info.value.error.code == "JobNotFound"
    raw = batch.request("POST", "/jobs", body={"id": "auto", "poolInfo": {
        "autoPoolSpecification": {"poolLifetimeOption": "job"}}})
    assert (raw.status, raw.json()["code"], raw.json()["values"]) == (
        400, "MissingRequiredProperty",
        [{"key": "PropertyName", "value": "poolInfo.autoPoolSpecification.pool"}])
    raw = batch.request("POST", "/jobs", body={"id": "auto", "poolInfo": {}})
    assert (raw.status, raw.json()["code"], raw.json()["values"]) == (
        400, "MissingRequiredProperty", [{"key": "PropertyName", "value": "poolInfo.poolId"}])
    with pytest.raises(ResourceNotFoundError) as info:
        c.create_task("nope", task("t", "true"))
    assert info.value.error.code == "JobNotFound"
    c.create_task("j", task("t", "true"))
    with pytest.raises(ResourceExistsError) as info:
        c.create_task("j", task("t", "true"))
    assert info.value.error.code == "TaskExists"
    with pytest.raises(CreateTasksError) as info:
        c.create_tasks("j", [task("ok1", "true"), task("bad id!", "true"), task("ok2", "true")])
    failures = info.value.failure_tasks
    assert [(f.task_id, f.error.code) for f in failures] == [("bad id!", "InvalidPropertyValue")]
    assert [c.get_task("j", t).id for t in ("ok1", "ok2")] == ["ok1", "ok2"]
    with pytest.raises(HttpResponseError) as info:
        c.create_task("j", task("neg", "true",
                                constraints=m.BatchTaskConstraints(max_task_retry_count=-5)))
    assert info.value.error.code == "InvalidPropertyValue"
    assert {d.code: d.message for d in info.value.error.details}["PropertyName"] \
        == "constraints.maxTaskRetryCount"
    with pytest.raises(ResourceNotFoundError) as info:
        c.get_task("j", "missing")
    assert info.value.error.code == "TaskNotFound"
    with pytest.raises(ResourceNotFoundError):     # a streamed answer: the SDK reads no body
        b"".join(c.download_task_file("j", "t", "nothere.txt"))
    raw = batch.request("GET", "/jobs/j/tasks/t/files/nothere.txt")
    assert (raw.status, raw.json()["code"]) == (404, "FileNotFound")
    raw = batch.request("GET", "/jobs/j/tasks/t/files/..%2F..%2Fx")
    assert (raw.status, raw.json()["code"]) == (400, "InvalidPropertyValue")


def test_a_collection_of_more_than_100_tasks_is_refused_with_the_reason(batch):
    pool(batch, nodes=0)
    job(batch)
    body = {"value": [{"id": f"t{i}", "commandLine": "true"} for i in range(101)]}
    raw = batch.request("POST", "/jobs/j/addtaskcollection", body=body)
    assert raw.status == 400
    error = raw.json()
    assert error["code"] == "InvalidPropertyValue"
    assert {v["key"]: v["value"] for v in error["values"]} == {
        "PropertyName": "value", "PropertyValue": "101 tasks",
        "Reason": "a collection holds at most 100 tasks"}
    raw = batch.request("POST", "/jobs/j/addtaskcollection", body={"value": [
        {"id": "a", "commandLine": "true"}, {"id": "a", "commandLine": "true"}, {"id": "b"}]})
    assert raw.status == 200
    results = raw.json()["value"]
    assert [(r["taskId"], r["status"], r.get("error", {}).get("code")) for r in results] == [
        ("a", "success", None), ("a", "clienterror", "TaskExists"),
        ("b", "clienterror", "MissingRequiredProperty")]
    assert results[0]["location"] == batch.endpoint + "/jobs/j/tasks/a"
    assert results[0]["eTag"].startswith("0x")


def test_the_simulators_own_fields_are_refused(batch):
    pool(batch, nodes=0)
    job(batch)
    for method, path, body, name in (
            ("POST", "/jobs", {"id": "k", "poolInfo": {"poolId": "p"}, "tasks": []}, "tasks"),
            ("POST", "/jobs/j/tasks", {"id": "t", "commandLine": "true", "exitCodes": [0]},
             "exitCodes"),
            ("POST", "/jobs/j/addtaskcollection",
             {"value": [{"id": "a", "commandLine": "true"},
                        {"id": "b", "commandLine": "true", "duration": 5}]}, "value[1].duration"),
            ("PATCH", "/jobs/j", {"creationTime": 0}, "creationTime")):
        raw = batch.request(method, path, body=body)
        assert (raw.status, raw.json()["code"], raw.json()["values"][0]) == (
            400, "UnsupportedProperty", {"key": "PropertyName", "value": name})
    assert batch.account.task_views("j") == []


def test_the_api_version_az_batch_sends_serves_jobs_and_tasks_alike(batch):
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    pool(batch)
    c = BatchClient(endpoint=batch.endpoint, api_version="2024-02-01.19.0",
                    credential=AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY))
    c.create_job(m.BatchJobCreateOptions(id="az", pool_info=m.BatchPoolInfo(pool_id="p")))
    c.create_tasks("az", [task(f"t{i}", f"/bin/sh -c 'echo {i}'") for i in range(3)])
    poll(lambda: c.get_job_task_counts("az").task_counts.succeeded == 3, "three tasks")
    assert b"".join(c.download_task_file("az", "t2", "stdout.txt")) == b"2\n"
    # (azure-batch 15.1 cannot send a terminate without a reason: it fails building the
    # request, before anything is sent)
    c.begin_terminate_job("az", BatchJobTerminateOptions(termination_reason="done"),
                          polling_interval=0).result()
    assert (c.get_job("az").state, c.get_job("az").execution_info.termination_reason) == (
        "completed", "done")


def test_lists_page_and_filter(batch):
    pool(batch, nodes=0)
    job(batch)
    job(batch, id="other")
    c = batch.client
    c.create_tasks("j", [task(f"t{i:02}", "true") for i in range(30)])
    c.terminate_task("j", "t03")
    ids = [t.id for t in c.list_tasks("j", max_results=7)]
    assert ids == [f"t{i:02}" for i in range(30)]
    assert [t.id for t in c.list_tasks("j", filter="state eq 'completed'")] == ["t03"]
    assert [t.id for t in c.list_tasks("j", filter="startswith(id,'t2')", max_results=4,
                                       select=["id", "state"])] == [f"t2{i}" for i in range(10)]
    assert [j.id for j in c.list_jobs(filter="startswith(id,'ot')")] == ["other"]
    names = [f.name for f in c.list_task_files("j", "t03")]
    assert names == []          # it never ran


def test_a_get_with_select_carries_the_whole_jobs_and_tasks_etag(server):
    """If-Match compares with the whole resource's ETag, so a get projected by $select must
    answer that one, not a hash of the projection."""
    from urllib.parse import quote

    server.request("POST", "/pools", body={"id": "p", "vmSize": "standard_a1_v2",
                                           "targetDedicatedNodes": 0})
    server.request("POST", "/jobs", body={"id": "j", "poolInfo": {"poolId": "p"}})
    server.request("POST", "/jobs/j/tasks", body={"id": "t", "commandLine": "/bin/true"})
    for path in ("/jobs/j", "/jobs/j/tasks/t"):
        whole = server.request("GET", path)
        projected = server.request("GET", path, query="%24select=" + quote("id,state"))
        assert (whole.status, projected.status) == (200, 200)
        assert set(projected.json()) == {"odata.metadata", "id", "state"}
        assert projected.headers["etag"] == whole.headers["etag"] == whole.json()["eTag"]
