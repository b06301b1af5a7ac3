"""Job schedules through the official azure-batch SDK (runtime/service/rest/routes_schedules.py):
the 11 operations with their statuses, conditions and pages, the refusals with the service's
codes, the ``:`` of a schedule's job ids in URLs, and a live short recurrence whose job manager
adds its job's tasks through the SDK.

Each server runs in this process (served.in_process), so each test ends by asserting that no
request was answered with an internal error.
"""

from __future__ import annotations

import datetime as _dt
import sys
import textwrap

import pytest

pytest.importorskip("starlette", reason="the REST tests need poolscale[serve]")
pytest.importorskip("azure.batch", reason="the SDK tests need azure-batch 15")

from azure.batch import models as m  # noqa: E402
from azure.core import MatchConditions  # noqa: E402
from azure.core.exceptions import (  # noqa: E402
    HttpResponseError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError,
)
from azure.core.rest import HttpRequest  # noqa: E402
from served import in_process, wait_for  # noqa: E402

from poolscale.runtime.commands.serve import DEV_KEY  # noqa: E402
from poolscale.runtime.service.rest.operations import CURRENT_VERSION  # noqa: E402

WAIT = 20.0
HOUR = _dt.timedelta(hours=1)


@pytest.fixture
def batch(tmp_path):
    """An account with the service's one-minute floor and an empty pool ``p``."""
    with in_process(tmp_path / "data") as served:
        served.account.create_pool({"id": "p", "vmSize": "STANDARD_D2_v3",
                                    "targetDedicatedNodes": 0})
        yield served


@pytest.fixture
def fast(tmp_path):
    """An account whose schedules may recur every second (--min-recurrence-interval PT1S) and
    a pool ``p`` of one node."""
    with in_process(tmp_path / "data", min_recurrence_interval="PT1S") as served:
        served.account.create_pool({"id": "p", "vmSize": "STANDARD_D2_v3",
                                    "targetDedicatedNodes": 1, "taskSlotsPerNode": 4})
        yield served


def spec(**job: object) -> m.BatchJobSpecification:
    return m.BatchJobSpecification(pool_info=m.BatchPoolInfo(pool_id="p"), **job)


def hourly(schedule_id: str = "s", **schedule: object) -> m.BatchJobScheduleCreateOptions:
    return m.BatchJobScheduleCreateOptions(
        id=schedule_id, schedule=m.BatchJobScheduleConfiguration(recurrence_interval=HOUR,
                                                                 **schedule),
        job_specification=spec())


def raw_error(raw) -> tuple:
    body = raw.json()
    return raw.status, body["code"], body["values"][0]


def test_add_get_list_exists_and_the_first_job(batch):
    c = batch.client
    for i in range(3):
        c.create_job_schedule(hourly(f"s{i}"))
    raw = batch.request("POST", "/jobschedules", body={
        "id": "t", "schedule": {"recurrenceInterval": "PT1H"},
        "jobSpecification": {"poolInfo": {"poolId": "p"}}})
    assert raw.status == 201
    assert raw.headers["dataserviceid"] == f"{batch.endpoint}/jobschedules/t"
    assert raw.headers["last-modified"]
    made = raw.headers["etag"]
    assert (made, batch.request("GET", "/jobschedules/t").headers["etag"]) == (
        made, made)                              # the first job made since changes no ETag
    c.update_job_schedule("t", m.BatchJobScheduleUpdateOptions(metadata=[]), etag=made,
                          match_condition=MatchConditions.IfNotModified)
    got = c.get_job_schedule("s0")
    assert (got.id, got.state, got.url, got.schedule.recurrence_interval,
            got.job_specification.pool_info.pool_id) == (
        "s0", "active", f"{batch.endpoint}/jobschedules/s0", HOUR, "p")
    assert got.execution_info.recent_job.id == "s0:job-1"
    assert [s.id for s in c.list_job_schedules(max_results=1)] == ["s0", "s1", "s2", "t"]
    assert [s.id for s in c.list_job_schedules(filter="startswith(id,'s')")] == ["s0", "s1",
                                                                                  "s2"]
    assert [s.id for s in c.list_job_schedules(filter="id eq 't'")] == ["t"]
    assert [s.id for s in c.list_job_schedules(filter="state eq 'disabled'")] == []
    assert [(s.id, s.state) for s in c.list_job_schedules(select=["id"])][0] == ("s0", None)
    raw = batch.request("GET", "/jobschedules/s0", query="$expand=stats")
    assert (raw.status, "stats" in raw.json(), raw.json()["odata.metadata"]) == (
        200, False, f"{batch.endpoint}/$metadata#jobschedules/@Element")
    assert c.job_schedule_exists("s0") is True
    with pytest.raises(ResourceNotFoundError):
        c.job_schedule_exists("nope")
    with pytest.raises(ResourceNotFoundError) as info:
        c.get_job_schedule("nope")
    assert info.value.error.code == "JobScheduleNotFound"
    assert [j.id for j in c.list_jobs_from_schedule("s0")] == ["s0:job-1"]
    with pytest.raises(ResourceExistsError) as info:
        c.create_job_schedule(hourly("s0"))
    assert info.value.error.code == "JobScheduleExists"


def test_a_schedule_job_is_read_by_its_id_with_a_colon_both_spellings(batch):
    c = batch.client
    c.create_job_schedule(hourly())
    assert c.get_job("s:job-1").id == "s:job-1"           # the SDK sends /jobs/s%3Ajob-1
    raw = c.send_request(HttpRequest("GET", f"{batch.endpoint}/jobs/s:job-1",
                                     params={"api-version": CURRENT_VERSION}))
    assert (raw.status_code, raw.json()["id"]) == (200, "s:job-1")
    raw = batch.request("GET", "/jobs/s%3Ajob-1")
    assert (raw.status, raw.json()["id"]) == (200, "s:job-1")


def test_jobs_and_schedules_share_one_id_space(batch):
    batch.client.create_job_schedule(hourly("shared"))
    raw = batch.request("POST", "/jobs", body={"id": "shared", "poolInfo": {"poolId": "p"}})
    assert (raw.status, raw.json()["code"]) == (409, "JobScheduleWithSameIdExists")
    batch.client.create_job(m.BatchJobCreateOptions(id="plain",
                                                    pool_info=m.BatchPoolInfo(pool_id="p")))
    raw = batch.request("POST", "/jobschedules", body={
        "id": "plain", "schedule": {"recurrenceInterval": "PT1H"},
        "jobSpecification": {"poolInfo": {"poolId": "p"}}})
    assert (raw.status, raw.json()["code"]) == (409, "JobWithSameIdExists")


def test_update_replace_and_conditions(batch):
    c = batch.client
    c.create_job_schedule(hourly())
    before = c.get_job_schedule("s")
    c.update_job_schedule("s", m.BatchJobScheduleUpdateOptions(
        metadata=[m.BatchMetadataItem(name="team", value="render")]))
    after = c.get_job_schedule("s")
    assert [(i.name, i.value) for i in after.metadata] == [("team", "render")]
    assert after.etag != before.etag
    assert after.last_modified > before.last_modified
    assert after.schedule.recurrence_interval == HOUR          # a patch keeps what it omits
    with pytest.raises(ResourceModifiedError) as info:
        c.update_job_schedule("s", m.BatchJobScheduleUpdateOptions(metadata=[]),
                              etag=before.etag, match_condition=MatchConditions.IfNotModified)
    assert (info.value.status_code, info.value.error.code) == (412, "ConditionNotMet")
    assert [i.name for i in c.get_job_schedule("s").metadata] == ["team"]
    c.update_job_schedule("s", m.BatchJobScheduleUpdateOptions(metadata=[]),
                          etag=after.etag, match_condition=MatchConditions.IfNotModified)
    c.replace_job_schedule("s", m.BatchJobSchedule(
        schedule=m.BatchJobScheduleConfiguration(recurrence_interval=2 * HOUR),
        job_specification=spec(priority=7)))
    replaced = c.get_job_schedule("s")
    assert (replaced.schedule.recurrence_interval, replaced.job_specification.priority,
            replaced.metadata) == (2 * HOUR, 7, None)
    raw = batch.request("GET", "/jobschedules/s", headers={"If-None-Match": replaced.etag})
    assert raw.status == 304


def test_disable_enable_terminate_delete(batch):
    c = batch.client
    c.create_job_schedule(hourly())
    raw = batch.request("POST", "/jobschedules/s/disable")
    assert (raw.status, raw.body) == (204, b"")
    assert c.get_job_schedule("s").state == "disabled"
    c.disable_job_schedule("s")                         # a disabled schedule: a no-op
    c.enable_job_schedule("s")
    enabled = c.get_job_schedule("s")
    assert (enabled.state, enabled.previous_state) == ("active", "disabled")
    with pytest.raises(ResourceExistsError) as info:
        c.enable_job_schedule("s")
    assert info.value.error.code == "OperationInvalidForCurrentState"
    c.begin_terminate_job_schedule("s", polling_interval=0.1).result()
    ended = c.get_job_schedule("s")
    assert ended.state == "completed"
    assert ended.execution_info.end_time is not None
    assert c.get_job("s:job-1").state == "completed"
    assert [j.id for j in c.list_jobs_from_schedule("s", filter="state eq 'completed'")] == [
        "s:job-1"]
    assert [j.id for j in c.list_jobs_from_schedule("s", filter="state eq 'active'")] == []
    with pytest.raises(ResourceExistsError) as info:
        c.begin_terminate_job_schedule("s", polling_interval=0.1).result()
    assert info.value.error.code == "JobScheduleCompleted"
    c.begin_delete_job_schedule("s", polling_interval=0.1).result()
    with pytest.raises(ResourceNotFoundError):
        c.get_job_schedule("s")
    with pytest.raises(ResourceNotFoundError):
        c.get_job("s:job-1")
    assert [s.id for s in c.list_job_schedules()] == []


def test_a_start_window_under_the_floor_is_refused(batch):
    with pytest.raises(HttpResponseError) as info:
        batch.client.create_job_schedule(hourly(start_window=_dt.timedelta(seconds=30)))
    assert (info.value.status_code, info.value.error.code,
            {d.code: d.message for d in info.value.error.details}["PropertyName"]) == (
        400, "InvalidPropertyValue", "schedule.startWindow")


def test_simulator_fields_and_numeric_times_are_refused_before_the_account(batch):
    body = {"id": "s", "schedule": {"recurrenceInterval": "PT1H"},
            "jobSpecification": {"poolInfo": {"poolId": "p"},
                                 "tasks": [{"id": "t", "commandLine": "true"}]}}
    assert raw_error(batch.request("POST", "/jobschedules", body=body)) == (
        400, "UnsupportedProperty", {"key": "PropertyName", "value": "jobSpecification.tasks"})
    body["jobSpecification"] = {"poolInfo": {"poolId": "p"},
                                "jobManagerTask": {"id": "jm", "commandLine": "true",
                                                   "duration": 5}}
    assert raw_error(batch.request("POST", "/jobschedules", body=body)) == (
        400, "UnsupportedProperty",
        {"key": "PropertyName", "value": "jobSpecification.jobManagerTask.duration"})
    body["jobSpecification"] = {"poolInfo": {"autoPoolSpecification": {
        "poolLifetimeOption": "jobschedule", "pool": {"vmSize": "d2", "simulation": {}}}}}
    assert raw_error(batch.request("POST", "/jobschedules", body=body)) == (
        400, "UnsupportedProperty", {"key": "PropertyName", "value":
                                     "jobSpecification.poolInfo.autoPoolSpecification.pool."
                                     "simulation"})
    body = {"id": "s", "schedule": {"doNotRunUntil": 60, "recurrenceInterval": "PT1H"},
            "jobSpecification": {"poolInfo": {"poolId": "p"}}}
    assert raw_error(batch.request("POST", "/jobschedules", body=body)) == (
        400, "InvalidPropertyValue", {"key": "PropertyName", "value": "schedule.doNotRunUntil"})
    assert raw_error(batch.request("PUT", "/jobschedules/s", body={
        "schedule": {"doNotRunAfter": 1.5}, "jobSpecification": {"poolInfo": {"poolId": "p"}}})) \
        == (400, "InvalidPropertyValue", {"key": "PropertyName",
                                          "value": "schedule.doNotRunAfter"})


#: a job manager that adds three tasks to its own job through the SDK, as a real one does
JOB_MANAGER = textwrap.dedent("""\
    import os
    from azure.batch import BatchClient, models as m
    from azure.core.credentials import AzureNamedKeyCredential

    client = BatchClient(endpoint=os.environ["AZ_BATCH_ACCOUNT_URL"],
                         credential=AzureNamedKeyCredential(os.environ["AZ_BATCH_ACCOUNT_NAME"],
                                                            os.environ["BATCH_KEY"]))
    job = os.environ["AZ_BATCH_JOB_ID"]
    client.create_tasks(job, [m.BatchTaskCreateOptions(id=f"part{i}", command_line="true")
                              for i in range(3)])
    print("added to", job)
""")


def test_a_short_recurrence_makes_jobs_whose_manager_adds_their_tasks(fast, tmp_path):
    c = fast.client
    script = tmp_path / "manager.py"
    script.write_text(JOB_MANAGER)
    now = _dt.datetime.now(_dt.timezone.utc)
    c.create_job_schedule(m.BatchJobScheduleCreateOptions(
        id="nightly",
        schedule=m.BatchJobScheduleConfiguration(recurrence_interval=_dt.timedelta(seconds=2),
                                                 do_not_run_after=now + _dt.timedelta(seconds=5)),
        job_specification=spec(
            all_tasks_complete_mode="terminatejob",
            common_environment_settings=[m.EnvironmentSetting(name="BATCH_KEY", value=DEV_KEY)],
            job_manager_task=m.BatchJobManagerTask(
                id="manager", command_line=f"{sys.executable} {script}",
                kill_job_on_completion=False))))
    wait_for("the schedule's completion",
             lambda: c.get_job_schedule("nightly").state == "completed", WAIT)
    jobs = [j.id for j in c.list_jobs_from_schedule("nightly")]
    assert len(jobs) >= 2
    assert jobs == [f"nightly:job-{n}" for n in range(1, len(jobs) + 1)]
    for job_id in jobs:
        assert c.get_job(job_id).state == "completed"
        tasks = sorted((t.id, t.state, t.execution_info.exit_code) for t in c.list_tasks(job_id))
        assert tasks == [("manager", "completed", 0)] + [
            (f"part{i}", "completed", 0) for i in range(3)], job_id


def test_terminate_waits_for_the_running_job_and_the_poller_sees_it_complete(fast):
    c = fast.client
    c.create_job_schedule(m.BatchJobScheduleCreateOptions(
        id="s", schedule=m.BatchJobScheduleConfiguration(recurrence_interval=HOUR),
        job_specification=spec(
            job_manager_task=m.BatchJobManagerTask(id="jm", command_line="sleep 30"),
            job_preparation_task=m.BatchJobPreparationTask(command_line="true"),
            job_release_task=m.BatchJobReleaseTask(command_line="sleep 1"))))
    wait_for("the job manager running", lambda: c.get_task("s:job-1", "jm").state == "running",
             WAIT)
    poller = c.begin_terminate_job_schedule("s", polling_interval=0.1)
    assert c.get_job_schedule("s").state == "terminating"
    raw = fast.request("POST", "/jobschedules/s/terminate")
    assert (raw.status, raw.json()["code"]) == (409, "JobScheduleBeingTerminated")
    poller.result()
    assert (c.get_job_schedule("s").state, c.get_job("s:job-1").state,
            c.get_job("s:job-1").execution_info.termination_reason) == (
        "completed", "completed", "UserTerminate")
    c.begin_delete_job_schedule("s", polling_interval=0.1).result()
    with pytest.raises(ResourceNotFoundError):
        c.get_job_schedule("s")
    assert [j.id for j in c.list_jobs()] == []
