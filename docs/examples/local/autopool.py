"""A job that brings its own pool: an auto pool sized by its formula, gone with the job.

    python docs/examples/local/autopool.py

The account runs 10x faster than the wall clock with the evaluation floor lowered to PT5S (a
development setting), so the formula runs every half second. Everything lives under a
temporary data directory and is gone afterwards.
"""

import logging
import tempfile
import time

from poolscale.runtime.service.account import Account
from poolscale.runtime.service.errors import BatchError
from poolscale.runtime.service.settings import AccountSettings

FORMULA = ("$TargetDedicatedNodes = max(0, $PendingTasks.GetSample(1)); "
           "$NodeDeallocationOption = taskcompletion;")

logging.basicConfig(level=logging.ERROR)   # the account's note is printed below instead

with tempfile.TemporaryDirectory() as data, \
        Account(settings=AccountSettings(data_dir=data, min_evaluation_interval=5.0,
                                         sample_period=5.0), scale=0.1) as acct:
    job = acct.add_job({"id": "nightly", "poolInfo": {"autoPoolSpecification": {
        "autoPoolIdPrefix": "render", "poolLifetimeOption": "job",
        "pool": {"vmSize": "STANDARD_D2_v3", "enableAutoScale": True,
                 "autoScaleFormula": FORMULA, "autoScaleEvaluationInterval": "PT5S"}}}})
    print("note:", *acct.notes)
    pool_id = job["executionInfo"]["poolId"]
    print("job poolInfo:", sorted(job["poolInfo"]))
    print("pool:", pool_id)
    acct.add_task("nightly", {"id": "frame", "commandLine": "/bin/sh -c 'echo rendered'"})
    deadline = time.monotonic() + 30
    pool = acct.get_pool(pool_id)
    while pool["targetDedicatedNodes"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
        pool = acct.get_pool(pool_id)
    print("sized by:", pool["autoScaleRun"]["results"].split(";")[0])
    acct.wait_for_job("nightly", timeout=60)
    print("ran:", acct.read_task_file("nightly", "frame", "stdout.txt").decode(), end="")
    acct.terminate_job("nightly")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            acct.get_pool(pool_id)
        except BatchError as e:
            print("after the job:", e.status, e.code)
            break
        time.sleep(0.05)
