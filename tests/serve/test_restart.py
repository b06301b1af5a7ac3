"""``poolscale serve`` killed with SIGKILL in the middle of a run and started again on the same
data directory: the SDK sees every pool, job and task it added, none lost; what had completed
keeps its result; what was running runs again and completes."""

from __future__ import annotations

import pytest

pytest.importorskip("azure.batch")
from azure.batch import models as m  # noqa: E402

from served import image, task, wait_for  # noqa: E402

QUICK, LONG = 150, 4


@pytest.mark.slow
def test_a_kill_9_loses_no_pool_job_or_task(server):
    client = server.client()
    client.create_pool(m.BatchPoolCreateOptions(
        id="farm", vm_size="standard_d2s_v3", virtual_machine_configuration=image(),
        target_dedicated_nodes=2, task_slots_per_node=4))
    client.create_job(m.BatchJobCreateOptions(id="night", pool_info=m.BatchPoolInfo(pool_id="farm")))
    long = [task(f"long{i}", "/bin/sh -c 'sleep 4; echo done'") for i in range(LONG)]
    client.create_tasks("night", long)
    wait_for("the long tasks to run", lambda: sum(
        t.state == m.BatchTaskState.RUNNING for t in client.list_tasks("night")) == LONG)
    quick = [task(f"q{i:03d}", f"/bin/sh -c 'exit {i % 3}'") for i in range(QUICK)]
    client.create_tasks("night", quick, max_concurrency=4)
    client.create_job(m.BatchJobCreateOptions(id="later", pool_info=m.BatchPoolInfo(pool_id="nopool")))
    before = {t.id: (t.state, t.execution_info.exit_code if t.execution_info else None)
              for t in client.list_tasks("night")}
    assert len(before) == QUICK + LONG

    server.kill()
    server.restart()
    client = server.client()

    assert [p.id for p in client.list_pools()] == ["farm"]
    assert sorted(j.id for j in client.list_jobs()) == ["later", "night"]
    listed = list(client.list_tasks("night", max_results=40))         # four pages
    assert sorted(t.id for t in listed) == sorted(before)
    for t in listed:
        state, code = before[t.id]
        if state == m.BatchTaskState.COMPLETED:
            assert (t.state, t.execution_info.exit_code) == (state, code), t.id

    wait_for("every task to complete after the restart", lambda: all(
        t.state == m.BatchTaskState.COMPLETED for t in client.list_tasks("night")), timeout=90)
    after = {t.id: t for t in client.list_tasks("night")}
    assert {after[f"q{i:03d}"].execution_info.exit_code for i in range(QUICK)} == {0, 1, 2}
    for i in range(QUICK):
        assert after[f"q{i:03d}"].execution_info.exit_code == i % 3
    for i in range(LONG):
        info = after[f"long{i}"].execution_info
        assert (info.exit_code, info.requeue_count) == (0, 1), f"long{i}"
        out = b"".join(client.download_task_file("night", f"long{i}", "stdout.txt"))
        assert out == b"done\n"
