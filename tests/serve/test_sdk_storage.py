"""Resource files and output files through the SDK and ``poolscale serve``, with Azurite as the
blob storage: the three resource-file sources, output files on their upload condition, and a
download failure as the task's failureInfo without a retry."""

from __future__ import annotations

import pytest

pytest.importorskip("azure.storage.blob")
from azure.batch import models as m  # noqa: E402

from served import Served  # noqa: E402
from served import image, wait_for  # noqa: E402


@pytest.fixture
def stored(azurite, tmp_path):
    served = Served(tmp_path / "data", "--storage-connection-string", azurite.connection_string)
    yield served
    served.stop()


def test_the_sdk_moves_files_through_blob_storage(azurite, stored):
    inputs = azurite.container("inputs")
    inputs.upload_blob("scene/a.txt", b"alpha\n")
    inputs.upload_blob("scene/b.txt", b"beta\n")
    inputs.upload_blob("other.txt", b"not this\n")
    auto = azurite.container("autoin")
    auto.upload_blob("conf.ini", b"[render]\n")
    azurite.container("outputs")
    client = stored.client()
    client.create_pool(m.BatchPoolCreateOptions(
        id="p", vm_size="standard_a1_v2", virtual_machine_configuration=image(),
        target_dedicated_nodes=1))
    client.create_job(m.BatchJobCreateOptions(id="j", pool_info=m.BatchPoolInfo(pool_id="p")))
    out = m.OutputFileDestination(container=m.OutputFileBlobContainerDestination(
        container_url=azurite.sas_url("outputs", write=True), path="results"))
    client.create_task("j", m.BatchTaskCreateOptions(
        id="render", command_line="/bin/sh -c 'cat scene/a.txt scene/b.txt cfg/conf.ini one.txt "
                                  "> out.txt'",
        resource_files=[
            m.ResourceFile(storage_container_url=azurite.sas_url("inputs"), blob_prefix="scene/"),
            m.ResourceFile(auto_storage_container_name="autoin", file_path="cfg"),
            m.ResourceFile(http_url=azurite.blob_url("inputs", "other.txt"), file_path="one.txt",
                           file_mode="0600"),
        ],
        output_files=[
            m.OutputFile(file_pattern="out.txt", destination=out, upload_options=m.OutputFileUploadConfiguration(
                upload_condition=m.OutputFileUploadCondition.TASK_SUCCESS)),
            m.OutputFile(file_pattern="out.txt", destination=m.OutputFileDestination(
                container=m.OutputFileBlobContainerDestination(
                    container_url=azurite.sas_url("outputs", write=True), path="failed.txt")),
                upload_options=m.OutputFileUploadConfiguration(
                    upload_condition=m.OutputFileUploadCondition.TASK_FAILURE)),
        ]))
    bad_url = azurite.blob_url("inputs", "missing.txt")
    client.create_task("j", m.BatchTaskCreateOptions(
        id="nofile", command_line="/bin/true",
        constraints=m.BatchTaskConstraints(max_task_retry_count=3),
        resource_files=[m.ResourceFile(http_url=bad_url, file_path="x.txt")]))
    wait_for("both tasks to complete", lambda: all(
        t.state == m.BatchTaskState.COMPLETED for t in client.list_tasks("j")))

    render = client.get_task("j", "render").execution_info
    assert (render.exit_code, render.result) == (0, "success")
    assert azurite.blobs("outputs") == {"results": b"alpha\nbeta\n[render]\nnot this\n"}

    nofile = client.get_task("j", "nofile").execution_info
    assert (nofile.result, nofile.retry_count) == ("failure", 0)
    assert (nofile.failure_info.category, nofile.failure_info.code) == ("usererror",
                                                                       "BlobNotFound")
    assert bad_url.split("sig=")[1].split("&")[0] not in stored.log_text()
