"""The pydantic models of pool, job and task files
(docs/simulation-model.md#the-pool-file, docs/simulation-model.md#job-fields,
docs/simulation-model.md#task-fields)."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from poolscale.scheduler.models import (
    AbsoluteTime, JobSpec, PoolSpec, TaskSpec, Workload, cores_from_vm_size, load_pool,
    load_workload, resolve_time,
)

# The shape `az batch pool show` prints (trimmed), including read-only and unsimulated fields.
AZ_POOL_SHOW = {
    "odata.metadata": "https://acct.westeurope.batch.azure.com/$metadata#pools/@Element",
    "id": "render", "displayName": "Render farm", "url": "https://acct/pools/render",
    "eTag": "0x8DC", "lastModified": "2026-03-01T10:00:00.000Z",
    "creationTime": "2026-03-01T09:00:00.000Z", "state": "active",
    "stateTransitionTime": "2026-03-01T09:00:00.000Z", "allocationState": "steady",
    "allocationStateTransitionTime": "2026-03-01T09:10:00.000Z", "vmSize": "standard_d4s_v3",
    "resizeTimeout": "PT15M", "currentDedicatedNodes": 3, "currentLowPriorityNodes": 0,
    "targetDedicatedNodes": 3, "targetLowPriorityNodes": 0, "enableAutoScale": True,
    "autoScaleFormula": "$TargetDedicatedNodes = 2;", "autoScaleEvaluationInterval": "PT15M",
    "autoScaleRun": {"timestamp": "2026-03-01T10:00:00Z", "results": "$TargetDedicatedNodes=2"},
    "enableInterNodeCommunication": False, "taskSlotsPerNode": 4,
    "taskSchedulingPolicy": {"nodeFillType": "Pack"},
    "virtualMachineConfiguration": {"imageReference": {"publisher": "canonical"},
                                    "nodeAgentSkuId": "batch.node.ubuntu 22.04"},
    "networkConfiguration": {"subnetId": "/subscriptions/x"},
    "startTask": {"commandLine": "/bin/sh -c 'apt-get install -y blender'",
                  "userIdentity": {"autoUser": {"elevationLevel": "admin"}},
                  "maxTaskRetryCount": 1, "waitForSuccess": True, "resourceFiles": []},
    "metadata": [{"name": "team", "value": "vfx"}], "mountConfiguration": [],
    "stats": {"url": "x"}, "resizeErrors": [], "userAccounts": [],
    "currentNodeCommunicationMode": "default",
}


def test_az_pool_show_loads_as_is():
    pool = PoolSpec.model_validate(AZ_POOL_SHOW)
    assert pool.id == "render"
    assert pool.cores_per_node == 4
    assert pool.task_slots_per_node == 4
    assert pool.node_fill_type == "pack"
    assert pool.auto_scale_evaluation_interval == 900.0
    assert pool.start_task.max_task_retry_count == 1
    assert pool.start_task.wait_for_success is True
    # read-only state is ignored: the simulation settings are all defaults
    assert pool.simulation.allocation_time.value == 120.0
    assert pool.target_dedicated_nodes == 3


# What `az batch pool show -o json` prints: the SDK's model turned to JSON by the CLI, so every
# property is present (unset ones as null) and durations are Python timedeltas printed as
# "0:15:00" (the shape of the Batch quickstart's documented output, with autoscale on).
AZ_CLI_POOL_SHOW = {
    "allocationState": "steady", "allocationStateTransitionTime": "2026-03-01T22:37:42.162124+00:00",
    "applicationLicenses": None, "applicationPackageReferences": None,
    "autoScaleEvaluationInterval": "0:15:00",
    "autoScaleFormula": "$TargetDedicatedNodes = 2;",
    "autoScaleRun": {"error": None, "results": "$TargetDedicatedNodes=2",
                     "timestamp": "2026-03-01T22:40:00.000000+00:00"},
    "certificateReferences": None, "cloudServiceConfiguration": None,
    "creationTime": "2026-03-01T22:35:56.500992+00:00", "currentDedicatedNodes": 2,
    "currentLowPriorityNodes": 0, "currentNodeCommunicationMode": None, "displayName": None,
    "eTag": "0x8D51CC1EC822005", "enableAutoScale": True, "enableInterNodeCommunication": False,
    "id": "cli-pool", "identity": None, "lastModified": "2026-03-01T22:35:56.500992+00:00",
    "metadata": None, "mountConfiguration": None, "networkConfiguration": None,
    "resizeErrors": None, "resizeTimeout": "1 day, 0:00:00",
    "startTask": {"commandLine": "/bin/sh -c true", "containerSettings": None,
                  "environmentSettings": None, "maxTaskRetryCount": None,
                  "resourceFiles": None, "userIdentity": None, "waitForSuccess": None},
    "state": "active", "stateTransitionTime": "2026-03-01T22:35:56.500992+00:00", "stats": None,
    "targetDedicatedNodes": 2, "targetLowPriorityNodes": 0,
    "targetNodeCommunicationMode": None, "taskSchedulingPolicy": None, "taskSlotsPerNode": 2,
    "url": "https://acct.eastus.batch.azure.com/pools/cli-pool", "userAccounts": None,
    "virtualMachineConfiguration": {"containerConfiguration": None, "dataDisks": None,
                                    "imageReference": {"offer": "ubuntu-server"},
                                    "nodeAgentSkuId": "batch.node.ubuntu 22.04"},
    "vmSize": "standard_a2_v2",
}


def test_az_cli_output_loads_as_is():
    pool = PoolSpec.model_validate(AZ_CLI_POOL_SHOW)
    assert pool.auto_scale_evaluation_interval == 900.0
    assert pool.resize_timeout == 86_400.0
    assert pool.node_fill_type == "spread"                  # null policy: the default
    assert pool.start_task.max_task_retry_count == 0        # null: as if left out
    assert pool.start_task.wait_for_success is True
    assert pool.start_task.environment_settings == []
    assert pool.cores_per_node == 2 and pool.task_slots_per_node == 2


@pytest.mark.parametrize("text, seconds", [
    ("0:00:30", 30.0), ("0:15:00", 900.0), ("2:03:04.5", 7384.5), ("1 day, 0:00:00", 86_400.0),
    ("7 days, 0:00:00", 604_800.0), ("10675199 days, 2:48:05.477581", None),   # TimeSpan.Max
])
def test_durations_as_the_cli_prints_them(text, seconds):
    from poolscale.scheduler.models import _optional_seconds, _seconds

    assert _optional_seconds(text) == seconds
    if seconds is not None:
        assert _seconds(text) == seconds


@pytest.mark.parametrize("text", ["0:60:00", "1:2:3", "15:00", "1 day 0:00:00", "-0:15:00", "0:15"])
def test_malformed_clock_durations_are_errors(text):
    from poolscale.scheduler.models import _seconds

    with pytest.raises(ValueError, match=f"^cannot read {text!r} as a duration|^a duration must be 0"):
        _seconds(text)


def test_snake_case_names_load_too():
    pool = PoolSpec(id="p", vm_size="D2", task_slots_per_node=2, target_dedicated_nodes=1)
    assert pool.task_slots_per_node == 2 and pool.cores_per_node == 2


@pytest.mark.parametrize("field", ["taskSlotPerNode", "autoscaleFormula", "targetDedicated"])
def test_a_misspelt_pool_field_is_an_error_naming_it(field):
    with pytest.raises(ValidationError) as e:
        PoolSpec.model_validate({"id": "p", "vmSize": "D2", field: 1})
    assert field in str(e.value)


def test_simulation_section_forbids_unknown_fields():
    with pytest.raises(ValidationError) as e:
        PoolSpec.model_validate({"id": "p", "vmSize": "D2", "simulation": {"sead": 1}})
    assert "simulation.sead" in str(e.value)


@pytest.mark.parametrize("size, cores", [
    ("STANDARD_D4s_v3", 4), ("Standard_NC6", 6), ("E4-2s_v3", 2), ("basic_a1", 1),
    ("standard_e64-16ds_v4", 16), ("Standard_HB120rs_v3", 120),
])
def test_cores_from_vm_size(size, cores):
    assert cores_from_vm_size(size) == cores


def test_vm_size_without_digits_is_an_error_unless_cores_are_given():
    with pytest.raises(ValidationError, match="vmSize"):
        PoolSpec.model_validate({"id": "p", "vmSize": "Standard_Custom"})
    pool = PoolSpec.model_validate({"id": "p", "vmSize": "Standard_Custom",
                                    "simulation": {"coresPerNode": 8}})
    assert pool.cores_per_node == 8


def test_task_slots_limits_and_old_names():
    assert PoolSpec.model_validate({"id": "p", "vmSize": "D2", "maxTasksPerNode": 8}).task_slots_per_node == 8
    assert PoolSpec.model_validate({"id": "p", "vmSize": "D2", "MaxTasksPerVM": 3}).task_slots_per_node == 3
    with pytest.raises(ValidationError, match="taskSlotsPerNode"):
        PoolSpec.model_validate({"id": "p", "vmSize": "D2", "taskSlotsPerNode": 9})


@pytest.mark.parametrize("interval, ok", [("PT5M", True), ("PT168H", True), ("P7D", True),
                                          ("PT4M59S", False), ("PT168H1S", False)])
def test_evaluation_interval_range(interval, ok):
    doc = {"id": "p", "vmSize": "D2", "autoScaleEvaluationInterval": interval}
    if ok:
        PoolSpec.model_validate(doc)
    else:
        with pytest.raises(ValidationError, match="InvalidAutoScaleEvaluationInterval"):
            PoolSpec.model_validate(doc)


def test_autoscale_needs_a_formula():
    with pytest.raises(ValidationError, match="autoScaleFormula"):
        PoolSpec.model_validate({"id": "p", "vmSize": "D2", "enableAutoScale": True})


def test_distributions_and_durations():
    pool = PoolSpec.model_validate({"id": "p", "vmSize": "D2", "simulation": {
        "allocationTime": {"kind": "uniform", "low": 60, "high": "PT3M"},
        "bootTime": "PT1M30S",
        "preemption": {"meanTimeBetween": "PT2H", "recoveryTime": {"kind": "exponential", "mean": 60}},
        "nodeFailure": {"meanTimeBetween": 86400, "repairTime": {"kind": "lognormal", "mean": 600, "stddev": 100}},
        "samples": {"period": "PT1M", "delay": 60, "lossRate": 0.1},
        "prices": {"dedicated": 0.2, "lowPriority": 0.04},
        "dedicatedCoreQuota": 100, "seed": 3, "start": "2026-03-02T00:00:00Z", "horizon": "P1D"}})
    s = pool.simulation
    assert (s.allocation_time.low, s.allocation_time.high) == (60.0, 180.0)
    assert s.boot_time.value == 90.0
    assert s.preemption.mean_time_between == 7200.0
    assert s.samples.period == 60.0 and s.samples.loss_rate == 0.1
    assert s.prices.low_priority == 0.04 and s.horizon == 86400.0
    rng = random.Random(1)
    draws = [s.allocation_time.sample(rng) for _ in range(50)]
    assert all(60 <= d <= 180 for d in draws)
    assert s.node_failure.repair_time.sample(rng) > 0
    with pytest.raises(ValidationError):
        PoolSpec.model_validate({"id": "p", "vmSize": "D2", "simulation": {"bootTime": "-PT1M"}})
    with pytest.raises(ValidationError):
        PoolSpec.model_validate({"id": "p", "vmSize": "D2",
                                 "simulation": {"allocationTime": {"kind": "gamma", "mean": 1}}})


def test_pool_envelope_form():
    pool = load_pool({"pool": {"id": "p", "vmSize": "D2"}, "simulation": {"seed": 9}})
    assert pool.simulation.seed == 9
    with pytest.raises(ValueError, match="unknown top-level"):
        load_pool({"pool": {"id": "p", "vmSize": "D2"}, "extra": 1})


def test_task_rest_fields_and_simulation_fields():
    t = TaskSpec.model_validate({
        "id": "t1", "commandLine": "render.sh", "url": "x", "eTag": "y", "state": "completed",
        "executionInfo": {"retryCount": 0}, "nodeInfo": {}, "resourceFiles": [],
        "constraints": {"maxWallClockTime": "P10675199DT2H48M5.4775807S", "retentionTime": "P1D",
                        "maxTaskRetryCount": -1},
        "requiredSlots": 2, "submitTime": 30, "duration": "PT10M", "exitCode": 3,
        "profile": {"cpuPercent": 50, "memoryMB": 512, "diskGB": 2, "networkInBytesPerSecond": 1e6},
    })
    assert t.constraints.max_wall_clock_time is None        # TimeSpan.MaxValue = unlimited
    assert t.constraints.retention_time == 86400.0
    assert t.duration == 600.0 and t.exit_codes == [3]
    assert t.profile.memory_mb == 512 and t.profile.network_in_bytes_per_second == 1e6
    with pytest.raises(ValidationError, match="duraton"):
        TaskSpec.model_validate({"id": "t", "duraton": 5})


def test_submit_times_are_seconds_or_instants():
    t = TaskSpec.model_validate({"id": "t", "submitTime": "2026-03-02T00:01:00Z"})
    assert isinstance(t.submit_time, AbsoluteTime)
    start = AbsoluteTime(0)
    from poolscale.formula.timeparse import parse_iso_time
    s = parse_iso_time("2026-03-02T00:00:00Z").ticks
    assert resolve_time(t.submit_time, s) == 60.0
    assert resolve_time(t.submit_time, s + 3600 * 10**7) == 0.0   # before the start: at once
    assert resolve_time(12.5, s) == 12.5
    assert start == AbsoluteTime(0)
    with pytest.raises(ValidationError):
        TaskSpec.model_validate({"id": "t", "submitTime": -1})


def test_job_rules():
    with pytest.raises(ValidationError, match="usesTaskDependencies"):
        JobSpec.model_validate({"id": "j", "tasks": [{"id": "a"}, {"id": "b", "dependsOn": {"taskIds": ["a"]}}]})
    with pytest.raises(ValidationError, match="not unique"):
        JobSpec.model_validate({"id": "j", "tasks": [{"id": "a"}, {"id": "a"}]})
    with pytest.raises(ValidationError, match="onTaskFailure"):
        JobSpec.model_validate({"id": "j", "tasks": [{"id": "a", "exitConditions": {
            "default": {"jobAction": "terminate"}}}]})
    with pytest.raises(ValidationError, match="jobPreparationTask"):
        JobSpec.model_validate({"id": "j", "jobReleaseTask": {"commandLine": "x"}})
    with pytest.raises(ValidationError):
        JobSpec.model_validate({"id": "j", "priority": 1001})
    job = JobSpec.model_validate({"id": "j", "onAllTasksComplete": "terminateJob",
                                  "onTaskFailure": "performExitOptionsJobAction",
                                  "jobManagerTask": {"id": "jm", "commandLine": "x"}})
    assert job.on_all_tasks_complete == "terminatejob"
    assert job.job_manager_task.kill_job_on_completion and job.job_manager_task.run_exclusive
    assert job.job_release_task is None


def test_multi_instance_needs_one_slot():
    with pytest.raises(ValidationError, match="multi-instance"):
        TaskSpec.model_validate({"id": "t", "requiredSlots": 2,
                                 "multiInstanceSettings": {"numberOfInstances": 3}})


def test_workload_forms():
    assert load_workload([{"id": "a"}, {"id": "b"}]).jobs[1].id == "b"
    w = load_workload({"tasks": [{"id": "1"}, {"id": "2"}]})
    assert w.jobs[0].id == "job-1" and w.task_count == 2
    with pytest.raises(ValidationError, match="not unique"):
        Workload.model_validate({"jobs": [{"id": "a"}, {"id": "a"}]})
    with pytest.raises(ValidationError):
        Workload.model_validate({"jobs": [], "extra": 1})


def test_a_null_is_a_missing_key_for_the_models_own_checks_too():
    # the models' "before" checks (old slot names, exitCode shorthand, the pool envelope) see
    # the object before the base drops its nulls, so they must read null as missing as well
    assert PoolSpec.model_validate({"id": "p", "vmSize": "D4", "taskSlotsPerNode": None,
                                    "maxTasksPerNode": 4}).task_slots_per_node == 4
    assert TaskSpec.model_validate({"id": "t", "duration": 1, "exitCode": 3,
                                    "exitCodes": None}).exit_codes == [3]
    assert TaskSpec.model_validate({"id": "t", "duration": 1, "exitCode": None}).exit_codes == [0]
    pool = load_pool({"pool": {"id": "p", "vmSize": "D2", "simulation": None},
                      "simulation": {"seed": 3}})
    assert pool.simulation.seed == 3


# ---- job schedules and auto pools (issue 13) ------------------------------------------------

from poolscale.scheduler.models import (  # noqa: E402
    AutoPoolSpecification, JobScheduleSpec, PoolInfo, ScheduleConfiguration, absolute_instants,
)

_AUTO = {"autoPoolIdPrefix": "nightly", "poolLifetimeOption": "JobSchedule",
         "pool": {"vmSize": "standard_d2s_v3", "targetDedicatedNodes": 2}}


def test_auto_pool_specification_is_read_not_ignored():
    info = PoolInfo.model_validate({"autoPoolSpecification": _AUTO})
    spec = info.auto_pool_specification
    assert (spec.auto_pool_id_prefix, spec.pool_lifetime_option, spec.keep_alive) == (
        "nightly", "jobschedule", False)
    assert (spec.pool.vm_size, spec.pool.target_dedicated_nodes, spec.pool.id) == (
        "standard_d2s_v3", 2, "autopool")


def test_pool_info_with_both_pool_id_and_auto_pool_is_an_error():
    with pytest.raises(ValidationError, match="poolInfo: give either poolId or "
                                              "autoPoolSpecification, not both"):
        PoolInfo.model_validate({"poolId": "p", "autoPoolSpecification": _AUTO})


def test_auto_pool_prefix_rules():
    with pytest.raises(ValidationError, match="at most 20 characters"):
        AutoPoolSpecification.model_validate({**_AUTO, "autoPoolIdPrefix": "x" * 21})
    with pytest.raises(ValidationError, match="autoPoolIdPrefix: 'a b' may hold only letters"):
        AutoPoolSpecification.model_validate({**_AUTO, "autoPoolIdPrefix": "a b"})
    with pytest.raises(ValidationError, match="poolLifetimeOption"):
        AutoPoolSpecification.model_validate({**_AUTO, "poolLifetimeOption": "forever"})


def test_a_plain_job_cannot_have_a_jobschedule_auto_pool():
    with pytest.raises(ValidationError, match="poolInfo.autoPoolSpecification.poolLifetimeOption: "
                                              "jobschedule applies only to job schedules"):
        JobSpec.model_validate({"id": "j", "poolInfo": {"autoPoolSpecification": _AUTO}})
    job = JobSpec.model_validate(
        {"id": "j", "poolInfo": {"autoPoolSpecification": {**_AUTO, "poolLifetimeOption": "job"}}})
    assert job.pool_info.auto_pool_specification.pool_lifetime_option == "job"


_SCHEDULE = {
    "id": "nightly", "displayName": "ignored", "state": "active",
    "schedule": {"doNotRunUntil": "2026-01-05T02:00:00Z", "recurrenceInterval": "P1D",
                 "startWindow": "PT4H", "doNotRunAfter": "2026-01-11T23:00:00Z"},
    "jobSpecification": {"poolInfo": {"autoPoolSpecification": _AUTO},
                         "tasks": [{"id": "t", "duration": 5, "submitTime": 60}]},
}


def test_job_schedule_loads_and_names_its_jobs():
    sch = JobScheduleSpec.model_validate(_SCHEDULE)
    assert sch.schedule.recurrence_interval == 86400.0
    assert sch.schedule.start_window == 14400.0
    assert sch.schedule.do_not_run_until.ticks < sch.schedule.do_not_run_after.ticks
    job = sch.job(3)
    assert (job.id, [t.id for t in job.tasks]) == ("nightly:job-3", ["t"])
    assert sch.job_specification.id == ""


def test_job_schedule_id_uses_the_batch_id_alphabet():
    with pytest.raises(ValidationError, match="id: 'a:b' may hold only letters"):
        JobScheduleSpec.model_validate({**_SCHEDULE, "id": "a:b"})
    with pytest.raises(ValidationError, match="at most 64 characters"):
        JobScheduleSpec.model_validate({**_SCHEDULE, "id": "x" * 65})


def test_job_specification_has_no_id():
    with pytest.raises(ValidationError, match="a jobSpecification has no id"):
        JobScheduleSpec.model_validate({**_SCHEDULE, "jobSpecification": {"id": "x"}})


@pytest.mark.parametrize("field", ["startWindow", "recurrenceInterval"])
def test_schedule_durations_must_be_positive(field):
    with pytest.raises(ValidationError, match=field):
        ScheduleConfiguration.model_validate({field: "PT0S"})


def test_do_not_run_after_must_follow_do_not_run_until():
    with pytest.raises(ValidationError, match="doNotRunAfter: must be later than doNotRunUntil"):
        ScheduleConfiguration.model_validate({"doNotRunUntil": 100, "doNotRunAfter": 100})
    assert ScheduleConfiguration.model_validate(
        {"doNotRunUntil": 100, "doNotRunAfter": 101}).do_not_run_after == 101.0
    with pytest.raises(ValidationError, match="doNotRunAfter: must be later than doNotRunUntil"):
        ScheduleConfiguration.model_validate({"doNotRunUntil": "2026-01-02T00:00:00Z",
                                              "doNotRunAfter": "2026-01-01T00:00:00Z"})
    # one relative, one absolute: only the run's start relates them, so both load
    assert ScheduleConfiguration.model_validate(
        {"doNotRunUntil": "2026-01-02T00:00:00Z", "doNotRunAfter": 5}).do_not_run_after == 5.0


def test_workload_schedules_share_the_job_id_space():
    base = {"schedule": {}, "jobSpecification": {}}
    with pytest.raises(ValidationError, match="jobSchedules\\[0\\]: id 'JOB' is already a job's "
                                              "or a schedule's id"):
        Workload.model_validate({"jobs": [{"id": "job"}], "jobSchedules": [{**base, "id": "JOB"}]})
    with pytest.raises(ValidationError, match="jobSchedules\\[1\\]: id 's' is already"):
        Workload.model_validate({"jobSchedules": [{**base, "id": "S"}, {**base, "id": "s"}]})


def test_a_schedules_first_instant_is_an_absolute_instant_of_the_workload():
    w = Workload.model_validate({"jobSchedules": [_SCHEDULE]})
    assert absolute_instants(w) == [w.job_schedules[0].schedule.do_not_run_until.ticks]
    assert absolute_instants(Workload.model_validate({"jobs": [{"id": "j"}]})) == []
