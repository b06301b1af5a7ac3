"""A local Batch account from Python: one pool, one job, three tasks, run for real.

    python docs/examples/local/library.py

Everything lives under a temporary data directory and is gone afterwards.
"""

import tempfile

from poolscale.runtime.service.account import Account
from poolscale.runtime.service.errors import BatchError
from poolscale.runtime.service.settings import AccountSettings

with tempfile.TemporaryDirectory() as data, \
        Account(settings=AccountSettings(data_dir=data)) as acct:
    acct.create_pool({"id": "render", "vmSize": "STANDARD_D2_v3",
                      "taskSlotsPerNode": 2, "targetDedicatedNodes": 1})
    acct.add_job({"id": "frames", "poolInfo": {"poolId": "render"}})
    acct.add_tasks("frames", [
        {"id": "frame-1", "commandLine": "/bin/sh -c 'echo rendering frame 1'"},
        {"id": "frame-2", "commandLine": "/bin/sh -c 'echo $AZ_BATCH_TASK_ID on $AZ_BATCH_NODE_ID'"},
        {"id": "broken", "commandLine": "/bin/sh -c 'exit 3'",
         "constraints": {"maxTaskRetryCount": 1}},
    ])
    acct.wait_for_job("frames", timeout=60)
    for task in acct.list_tasks("frames"):
        info = task["executionInfo"]
        print(task["id"], task["state"], info["result"], "exit", info["exitCode"],
              "retries", info["retryCount"])
    print(acct.read_task_file("frames", "frame-2", "stdout.txt").decode(), end="")
    try:
        acct.add_task("frames", {"id": "frame-1", "commandLine": "/bin/true"})
    except BatchError as e:
        print(e.status, e.code)
