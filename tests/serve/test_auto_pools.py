"""Auto pools through the official azure-batch SDK: a job given
``poolInfo.autoPoolSpecification`` gets a pool of its own, named ``<prefix>_<UUID>``, an
ordinary pool while it lives (get, autoscale, tasks run on it), deleted when the job ends
unless ``keepAlive``."""

from __future__ import annotations

import datetime as _dt
import re

import pytest

pytest.importorskip("starlette", reason="the REST tests need poolscale[serve]")
pytest.importorskip("azure.batch", reason="the SDK tests need azure-batch 15")

from azure.batch import models as m  # noqa: E402
from azure.batch.models._models import BatchJobTerminateOptions  # noqa: E402  (not exported)
from azure.core.exceptions import ResourceNotFoundError  # noqa: E402
from served import image, in_process, task, wait_for  # noqa: E402

WAIT = 20.0
FORMULA = "$TargetDedicatedNodes = 1; $NodeDeallocationOption = taskcompletion;"


@pytest.fixture
def batch(tmp_path):
    with in_process(tmp_path / "data", min_evaluation_interval="PT1S") as served:
        yield served


def auto_job(batch, job_id: str, *, keep_alive: bool = False) -> None:
    spec = m.BatchAutoPoolSpecification(
        auto_pool_id_prefix="render", pool_lifetime_option="job", keep_alive=keep_alive,
        pool=m.BatchPoolSpecification(
            vm_size="standard_d2s_v3", virtual_machine_configuration=image(),
            task_slots_per_node=2, enable_auto_scale=True, auto_scale_formula=FORMULA,
            auto_scale_evaluation_interval=_dt.timedelta(seconds=1)))
    batch.client.create_job(m.BatchJobCreateOptions(
        id=job_id, pool_info=m.BatchPoolInfo(auto_pool_specification=spec)))


def gone(client, pool_id: str) -> bool:
    try:
        client.get_pool(pool_id)
    except ResourceNotFoundError as e:
        return e.error.code == "PoolNotFound"
    return False


def terminate(client, job_id: str) -> None:
    client.begin_terminate_job(job_id, BatchJobTerminateOptions(termination_reason="done"),
                               polling_interval=0.1).result()


def test_a_job_runs_on_its_auto_pool_which_goes_with_the_job(batch):
    c = batch.client
    auto_job(batch, "frames")
    job = c.get_job("frames")
    pool_id = job.execution_info.pool_id
    assert re.fullmatch(r"render_[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}",
                        pool_id), pool_id
    assert job.pool_info.pool_id is None
    assert (job.pool_info.auto_pool_specification.auto_pool_id_prefix,
            job.pool_info.auto_pool_specification.pool_lifetime_option) == ("render", "job")
    pool = c.get_pool(pool_id)
    assert (pool.id, pool.vm_size, pool.enable_auto_scale, pool.auto_scale_formula) == (
        pool_id, "standard_d2s_v3", True, FORMULA)
    assert pool_id in [p.id for p in c.list_pools()]
    run = wait_for("the formula's run", lambda: c.get_pool(pool_id).auto_scale_run, WAIT)
    assert run.error is None
    assert "$TargetDedicatedNodes=1" in run.results
    c.create_tasks("frames", [task(f"f{i}", f"/bin/sh -c 'echo {i}'") for i in range(3)])
    wait_for("three tasks", lambda: c.get_job_task_counts("frames").task_counts.succeeded == 3,
             WAIT)
    assert [t.node_info.pool_id for t in c.list_tasks("frames")] == [pool_id] * 3
    terminate(c, "frames")
    wait_for("the auto pool's deletion", lambda: gone(c, pool_id), WAIT)
    assert c.get_job("frames").execution_info.pool_id == pool_id


def test_keep_alive_keeps_the_pool_after_its_job(batch):
    c = batch.client
    auto_job(batch, "kept", keep_alive=True)
    pool_id = c.get_job("kept").execution_info.pool_id
    terminate(c, "kept")
    assert c.get_job("kept").state == "completed"
    assert c.get_pool(pool_id).state == "active"
    assert pool_id in [p.id for p in c.list_pools()]


def test_an_auto_pool_refuses_the_simulation_section(batch):
    raw = batch.request("POST", "/jobs", body={"id": "sim", "poolInfo": {
        "autoPoolSpecification": {"poolLifetimeOption": "job", "pool": {
            "vmSize": "standard_d2s_v3", "simulation": {}}}}})
    assert (raw.status, raw.json()["code"], raw.json()["values"][0]) == (
        400, "UnsupportedProperty",
        {"key": "PropertyName", "value": "poolInfo.autoPoolSpecification.pool.simulation"})


def test_a_schedules_jobs_share_its_auto_pool_which_goes_with_the_schedule(tmp_path):
    with in_process(tmp_path / "data", min_evaluation_interval="PT1S",
                    min_recurrence_interval="PT1S") as batch:
        c = batch.client
        now = _dt.datetime.now(_dt.timezone.utc)
        spec = m.BatchAutoPoolSpecification(
            auto_pool_id_prefix="nightly", pool_lifetime_option="jobschedule",
            pool=m.BatchPoolSpecification(vm_size="standard_d2s_v3",
                                          virtual_machine_configuration=image(),
                                          target_dedicated_nodes=1))
        c.create_job_schedule(m.BatchJobScheduleCreateOptions(
            id="s", schedule=m.BatchJobScheduleConfiguration(
                recurrence_interval=_dt.timedelta(seconds=1),
                do_not_run_after=now + _dt.timedelta(seconds=2.5)),
            job_specification=m.BatchJobSpecification(
                pool_info=m.BatchPoolInfo(auto_pool_specification=spec),
                all_tasks_complete_mode="terminatejob",
                job_manager_task=m.BatchJobManagerTask(id="jm", command_line="true"))))
        wait_for("the schedule's completion",
                 lambda: c.get_job_schedule("s").state == "completed", WAIT)
        jobs = [c.get_job(j.id) for j in c.list_jobs_from_schedule("s")]
        assert len(jobs) >= 2
        pools = {j.execution_info.pool_id for j in jobs}
        assert len(pools) == 1
        (pool_id,) = pools
        assert pool_id.startswith("nightly_")
        assert [j.state for j in jobs] == ["completed"] * len(jobs)
        wait_for("the schedule's auto pool's deletion", lambda: gone(c, pool_id), WAIT)
