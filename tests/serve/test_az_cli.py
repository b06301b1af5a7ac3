"""``az batch`` against ``poolscale serve`` (docs/serve.md "az batch"): run when azure-cli is
installed (``az`` on the PATH, or ``POOLSCALE_AZ`` naming it), skipped otherwise — azure-cli is a
733 MB install that the suite does not make."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from served import Served
from served import wait_for

AZ = os.environ.get("POOLSCALE_AZ") or shutil.which("az")
pytestmark = pytest.mark.skipif(AZ is None, reason="azure-cli is not installed (pip install "
                                "azure-cli, or set POOLSCALE_AZ to its az)")


def test_az_batch_runs_the_docs_commands(tmp_path):
    served = Served(tmp_path / "data", "--min-evaluation-interval", "PT10S")
    env = {**os.environ, "AZURE_BATCH_ACCOUNT": served.account,
           "AZURE_BATCH_ACCESS_KEY": served.key, "AZURE_BATCH_ENDPOINT": served.endpoint,
           "AZURE_CONFIG_DIR": str(tmp_path / "azconfig")}

    def az(*args, check=True):
        result = subprocess.run([AZ, "batch", *args], capture_output=True, text=True, env=env,
                                timeout=120, cwd=tmp_path)
        if check:
            assert result.returncode == 0, result.stderr
        return result

    try:
        az("pool", "create", "--id", "render", "--vm-size", "standard_a1_v2",
           "--target-dedicated-nodes", "1", "--image",
           "canonical:0001-com-ubuntu-server-jammy:22_04-lts", "--node-agent-sku-id",
           "batch.node.ubuntu 22.04")
        assert az("pool", "list", "--query", "[].id", "-o", "tsv").stdout == "render\n"
        az("job", "create", "--id", "frames", "--pool-id", "render")
        az("task", "create", "--job-id", "frames", "--task-id", "t1", "--command-line",
           "/bin/sh -c 'echo hello from az'", "-o", "none")
        query = "{state:state,exitCode:executionInfo.exitCode,result:executionInfo.result}"
        shown = wait_for("the task to complete", lambda: (lambda v: v if v["state"] ==
                         "completed" else None)(json.loads(az("task", "show", "--job-id",
                         "frames", "--task-id", "t1", "--query", query).stdout)), every=0.5)
        assert shown == {"exitCode": 0, "result": "success", "state": "completed"}
        az("task", "file", "download", "--job-id", "frames", "--task-id", "t1", "--file-path",
           "stdout.txt", "--destination", "./out.txt")
        assert (tmp_path / "out.txt").read_text() == "hello from az\n"
        wait_for("an idle node", lambda: az("node", "list", "--pool-id", "render", "--filter",
                                            "state eq 'idle'", "--query", "[].state", "-o",
                                            "tsv").stdout == "idle\n")
        az("pool", "autoscale", "enable", "--pool-id", "render", "--auto-scale-formula",
           "$TargetDedicatedNodes = 2;", "--auto-scale-evaluation-interval", "PT10S")
        run = az("pool", "autoscale", "evaluate", "--pool-id", "render", "--auto-scale-formula",
                 "$TargetDedicatedNodes = 2;", "--query", "results")
        assert json.loads(run.stdout) == ("$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;"
                                          "$NodeDeallocationOption=requeue")
        missing = az("task", "show", "--job-id", "frames", "--task-id", "nope", check=False)
        assert missing.returncode != 0
        assert missing.stderr.startswith("ERROR: (TaskNotFound) The task 'nope' does not exist.")
    finally:
        served.stop()
