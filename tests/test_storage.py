"""Resource files and output files (runtime/service/local/storage.py, their models in
scheduler/models.py, their place in the live engine in runtime/service/liveworld.py).

The models are checked without storage. Everything else runs against a real Azure Blob
Storage, the Azurite emulator (tests/azurite.py; skipped with a reason when it is not
installed): blobs are set up and read back with ``azure-storage-blob``, tasks run for real on
a local account, and each test asserts what a Batch user reads: the task's files, its
execution info (failure codes, retry count), the blobs written, and that no SAS signature
appears in a log, an error or a file.
"""

from __future__ import annotations

import http.server
import logging
import os
import threading
import time

import pytest
from pydantic import ValidationError

from poolscale.scheduler.models import (
    JobSpec, OutputFile, PoolSpec, ResourceFile, TaskSpec, load_workload,
)

WAIT = 15.0


# -- the models (no storage needed) ----------------------------------------------------------


def _refusal(cls, data) -> str:
    with pytest.raises(ValidationError) as info:
        cls.model_validate(data)
    return info.value.errors()[0]["msg"]


def test_resource_and_output_files_are_fields_of_every_task_kind():
    rf = {"httpUrl": "https://example.org/a.txt", "filePath": "in/a.txt", "fileMode": "0755"}
    of = {"filePattern": "../std*.txt",
          "destination": {"container": {"containerUrl": "https://acct.blob/c?sig=x",
                                        "path": "logs",
                                        "uploadHeaders": [{"name": "x-ms-meta-k", "value": "v"}]}},
          "uploadOptions": {"uploadCondition": "TaskCompletion"}}
    task = TaskSpec.model_validate({"id": "t", "resourceFiles": [rf], "outputFiles": [of],
                                    "multiInstanceSettings": {
                                        "numberOfInstances": 2,
                                        "commonResourceFiles": [{"storageContainerUrl":
                                                                 "https://acct.blob/c"}]}})
    assert task.resource_files == [ResourceFile(http_url="https://example.org/a.txt",
                                                file_path="in/a.txt", file_mode="0755")]
    assert task.output_files[0].upload_options.upload_condition == "taskcompletion"
    assert task.output_files[0].destination.container.upload_headers[0].name == "x-ms-meta-k"
    assert task.multi_instance_settings.common_resource_files[0].storage_container_url == \
        "https://acct.blob/c"
    job = JobSpec.model_validate({
        "id": "j", "jobManagerTask": {"id": "jm", "resourceFiles": [rf], "outputFiles": [of]},
        "jobPreparationTask": {"resourceFiles": [rf]}, "jobReleaseTask": {"resourceFiles": [rf]}})
    assert [len(t.resource_files) for t in (job.job_manager_task, job.job_preparation_task,
                                            job.job_release_task)] == [1, 1, 1]
    assert len(job.job_manager_task.output_files) == 1
    pool = PoolSpec.model_validate({"id": "p", "vmSize": "standard_d2_v3",
                                    "startTask": {"commandLine": "x", "resourceFiles": [rf]}})
    assert pool.start_task.resource_files[0].file_path == "in/a.txt"


def test_a_workload_task_with_files_loads_through_the_model():
    """The fast path of plain tasks (scheduler/plaintasks.py) leaves a task with files to the
    model, and builds plain tasks with the same (empty) file fields the model gives."""
    workload = load_workload({"tasks": [
        {"id": "plain", "duration": 5},
        {"id": "files", "duration": 5, "resourceFiles": [{"autoStorageContainerName": "in"}]}]})
    plain, files = workload.jobs[0].tasks
    assert (plain.resource_files, plain.output_files) == ([], [])
    assert plain == TaskSpec.model_validate({"id": "plain", "duration": 5})
    assert files.resource_files == [ResourceFile(auto_storage_container_name="in")]


@pytest.mark.parametrize("data, message", [
    ({"filePath": "a"}, "httpUrl: exactly one of autoStorageContainerName, storageContainerUrl "
                        "and httpUrl must be given, got 0"),
    ({"httpUrl": "https://h/a", "storageContainerUrl": "https://h/c", "filePath": "a"},
     "httpUrl: exactly one of autoStorageContainerName, storageContainerUrl and httpUrl must "
     "be given, got 2"),
    ({"httpUrl": "https://h/a"}, "filePath: is required with httpUrl"),
    ({"httpUrl": "https://h/a", "filePath": "a", "blobPrefix": "x"},
     "blobPrefix: applies to a container only, not to httpUrl"),
    ({"httpUrl": "https://h/a", "filePath": "../a"},
     "filePath: '../a' must be a relative path that stays inside the task's working directory"),
    ({"storageContainerUrl": "https://h/c", "filePath": "/etc"},
     "filePath: '/etc' must be a relative path that stays inside the task's working directory"),
    ({"storageContainerUrl": "https://h/c", "fileMode": "rwx"},
     "fileMode: 'rwx' is not an octal file mode such as 0755"),
    ({"httpUrl": "ftp://h/a", "filePath": "a"}, "httpUrl: must be an http:// or https:// URL"),
])
def test_a_resource_file_is_refused_as_the_service_refuses_it(data, message):
    assert _refusal(ResourceFile, data) == f"Value error, {message}"


def test_an_output_file_needs_its_three_parts_and_a_known_condition():
    ok = {"filePattern": "*.txt", "destination": {"container": {"containerUrl": "https://h/c"}},
          "uploadOptions": {"uploadCondition": "taskSuccess"}}
    OutputFile.model_validate(ok)
    for part in ok:
        assert _refusal(OutputFile, {k: v for k, v in ok.items() if k != part}) == "Field required"
    assert _refusal(OutputFile, {**ok, "uploadOptions": {"uploadCondition": "always"}}) == \
        "Input should be 'tasksuccess', 'taskfailure' or 'taskcompletion'"
    assert _refusal(OutputFile, {**ok, "destination": {"container": {"containerUrl": "c"}}}) == \
        "Value error, containerUrl: must be an http:// or https:// URL"
