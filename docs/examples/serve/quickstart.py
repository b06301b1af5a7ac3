"""An Azure Batch program, unchanged but for its endpoint: run it against ``poolscale serve``.

    python docs/examples/serve/quickstart.py [ENDPOINT [ACCOUNT KEY]]

ENDPOINT defaults to http://127.0.0.1:8765 and the account to poolscale's development account.
It creates a pool that its autoscale formula sizes to two nodes, a job, four tasks in one
collection, waits for them, prints each one's exit code and standard output, and deletes the
pool and the job again.
"""

import datetime
import sys
import time

from azure.batch import BatchClient
from azure.batch import models
from azure.core.credentials import AzureNamedKeyCredential

DEV_ACCOUNT = "poolscale"
DEV_KEY = "tF570VO4V94EoncA48TTWV0OV9WZFKUd1T1RX1gxf34EuMsyubBmJvabRHRHAAdQt1BRzTMu+7QK9rOKUV+yZQ=="

endpoint = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8765"
account, key = (sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else (DEV_ACCOUNT, DEV_KEY)
client = BatchClient(endpoint=endpoint, credential=AzureNamedKeyCredential(account, key))

formula = "$TargetDedicatedNodes = 2;"
client.create_pool(models.BatchPoolCreateOptions(
    id="render",
    vm_size="standard_d2s_v3",
    virtual_machine_configuration=models.VirtualMachineConfiguration(
        image_reference=models.BatchVmImageReference(
            publisher="canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts"),
        node_agent_sku_id="batch.node.ubuntu 22.04"),
    enable_auto_scale=True,
    auto_scale_formula=formula,
    auto_scale_evaluation_interval=datetime.timedelta(minutes=5)))
run = client.evaluate_pool_auto_scale(
    "render", models.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula=formula))
print(f"pool render: {run.results}")

client.create_job(models.BatchJobCreateOptions(
    id="frames", pool_info=models.BatchPoolInfo(pool_id="render")))
tasks = [models.BatchTaskCreateOptions(id=f"frame{i}", command_line=f"/bin/sh -c 'echo rendered frame {i}'")
         for i in range(4)]
client.create_tasks("frames", tasks)
print(f"job frames: {len(tasks)} tasks added")

deadline = time.monotonic() + 120
while any(t.state != models.BatchTaskState.COMPLETED for t in client.list_tasks("frames")):
    if time.monotonic() > deadline:
        sys.exit("the tasks did not complete in 2 minutes")
    time.sleep(0.5)
for t in sorted(client.list_tasks("frames"), key=lambda t: t.id):
    out = b"".join(client.download_task_file("frames", t.id, "stdout.txt")).decode()
    print(f"{t.id}: exit code {t.execution_info.exit_code}, stdout: {out.strip()}")

client.begin_delete_job("frames", polling_interval=1).result()
client.begin_delete_pool("render", polling_interval=1).result()
print("pool and job deleted")
