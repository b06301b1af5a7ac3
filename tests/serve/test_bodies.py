"""The REST API refuses the simulator's own fields in request bodies (runtime/service/rest/bodies.py)."""

from __future__ import annotations

import pytest

from poolscale.runtime.service.errors import BatchError
from poolscale.runtime.service.rest.bodies import BODY_KINDS, SIMULATOR_FIELDS, rest_body
from poolscale.scheduler import models

REASON = "a poolscale simulation field, not a property of the Batch REST API"


def refused(body: dict, kind: str) -> BatchError:
    with pytest.raises(BatchError) as info:
        rest_body(body, kind)
    return info.value


@pytest.mark.parametrize("kind, body, path", [
    ("pool", {"id": "p", "vmSize": "d2", "simulation": {"coresPerNode": 2}}, "simulation"),
    ("pool-replace", {"simulation": None}, "simulation"),
    ("pool-update", {"startTask": {"commandLine": "x"}, "simulation": {}}, "simulation"),
    ("task", {"id": "t", "commandLine": "x", "duration": 5}, "duration"),
    ("task", {"id": "t", "commandLine": "x", "exitCodes": [3]}, "exitCodes"),
    ("task", {"id": "t", "commandLine": "x", "exitCode": 3}, "exitCode"),
    ("task", {"id": "t", "commandLine": "x", "exit_codes": [3]}, "exit_codes"),
    ("task", {"id": "t", "commandLine": "x", "submitTime": 10}, "submitTime"),
    ("task", {"id": "t", "commandLine": "x", "submit_time": 10}, "submit_time"),
    ("task", {"id": "t", "commandLine": "x", "profile": {"cpuPercent": 5}}, "profile"),
    ("task-replace", {"constraints": {}, "duration": 1}, "duration"),
    ("task-collection", {"value": [{"id": "a", "commandLine": "x"},
                                   {"id": "b", "commandLine": "x", "profile": {}}]}, "value[1].profile"),
    ("job", {"id": "j", "poolInfo": {"poolId": "p"}, "tasks": []}, "tasks"),
    ("job", {"id": "j", "creationTime": "2026-01-01T00:00:00Z"}, "creationTime"),
    ("job", {"id": "j", "jobManagerTask": {"id": "m", "commandLine": "x", "exitCodes": [1]}},
     "jobManagerTask.exitCodes"),
    ("job", {"id": "j", "jobPreparationTask": {"commandLine": "x", "failureProbability": 0.5}},
     "jobPreparationTask.failureProbability"),
    ("job", {"id": "j", "jobPreparationTask": {"commandLine": "x"},
             "jobReleaseTask": {"commandLine": "x", "failure_probability": 0.5}},
     "jobReleaseTask.failure_probability"),
    ("job-replace", {"poolInfo": {"autoPoolSpecification": {"pool": {"vmSize": "d2",
                                                                      "simulation": {}}}}},
     "poolInfo.autoPoolSpecification.pool.simulation"),
    ("job-update", {"priority": 1, "tasks": [{"id": "t"}]}, "tasks"),
])
def test_simulator_fields_are_refused_by_path(kind, body, path):
    error = refused(body, kind)
    assert error.code == "UnsupportedProperty" and error.status == 400
    assert error.values == (("PropertyName", path), ("Reason", REASON))
    assert error.message == (f"The request body has the property {path}, which the Batch REST API "
                             "does not have (it is a poolscale simulation field).")


@pytest.mark.parametrize("kind, body", [
    ("pool", {"id": "p", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 2,
              "startTask": {"commandLine": "echo hi", "waitForSuccess": True},
              "virtualMachineConfiguration": {"imageReference": {"publisher": "x"}}}),
    ("task", {"id": "t", "commandLine": "x", "exitConditions": {
        "exitCodes": [{"code": 3, "exitOptions": {"jobAction": "terminate"}}]}}),
    ("task", {"id": "t", "commandLine": "x", "executionInfo": {"exitCode": 0}}),
    ("task-collection", {"value": [{"id": "a", "commandLine": "x"}, "not an object"]}),
    ("task-collection", {"value": "not a list"}),
    ("job", {"id": "j", "poolInfo": {"poolId": "p"}, "jobManagerTask": "not an object"}),
    ("pool-resize", {"targetDedicatedNodes": 1, "duration": 5}),
    ("job-terminate", {"terminateReason": "x"}),
])
def test_everything_else_passes_unchanged(kind, body):
    assert rest_body(body, kind) is body


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="rest_body knows no body kind 'tasks'"):
        rest_body({}, "tasks")
    assert "task-collection" in BODY_KINDS


def _rest_names(sdk_model: type) -> set[str]:
    """The REST property names of an azure-batch 15.x model."""
    names = set()
    for klass in sdk_model.__mro__:
        for attr, field in vars(klass).items():
            if type(field).__name__ == "_RestField":
                names.add(field._rest_name_input or attr)
    return names


@pytest.mark.parametrize("section, ours, sdk_name", [
    ("pool", models.PoolSpec, "BatchPoolCreateOptions"),
    ("job", models.JobSpec, "BatchJobCreateOptions"),
    ("task", models.TaskSpec, "BatchTaskCreateOptions"),
    ("jobManagerTask", models.JobManagerTask, "BatchJobManagerTask"),
    ("jobPreparationTask", models.JobPreparationTask, "BatchJobPreparationTask"),
    ("jobReleaseTask", models.JobReleaseTask, "BatchJobReleaseTask"),
])
def test_the_refused_fields_are_exactly_the_models_fields_the_rest_api_lacks(section, ours, sdk_name):
    """A simulator field added to a model later must be added to the table too (the SDK's
    models are the REST API's properties)."""
    from azure.batch import models as sdk    # a test dependency: the REST API's properties
    names = {field.alias or name for name, field in ours.model_fields.items()}
    # a property of the older api-version served (2024-02-01.19.0) that 15.x dropped is REST too
    older = {"pool": {"certificateReferences"}}.get(section, set())
    extra = names - _rest_names(getattr(sdk, sdk_name)) - older
    shorthand = {"exitCode"} if "exitCodes" in extra else set()   # the models' one-code form
    assert extra | shorthand == set(SIMULATOR_FIELDS[section])
