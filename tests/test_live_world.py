"""Local nodes and real processes under the shared Batch rules (runtime/service/liveworld.py).

Each test runs a small pool for real: the engine on the live kernel and a scaled real clock,
nodes as directories under a temporary work root, tasks as process groups. What is asserted is
what Batch shows: exit codes, ``stdout.txt``, task states and counters, node states, and that no
process of an ended attempt is left (scanned with psutil, by the attempt marker every process
carries and the node directory it was given).
"""

from __future__ import annotations

import os
import threading
import time

import psutil
import pytest

from poolscale.runtime.service import recovery
from poolscale.runtime.service.livekernel import RealClock
from poolscale.runtime.service.liveworld import LocalWorld
from poolscale.runtime.service.local.environment import ATTEMPT_MARKER
from poolscale.runtime.service.local.nodedirs import NODE_SUBDIRS, NodeDirectories
from poolscale.runtime.service.settings import AccountSettings
from poolscale.scheduler import Simulation

from live_testing import ServingKernel

WALL_CLOCK_EXIT_CODE = -1073741510


class LocalRun(LocalWorld, Simulation):
    """A simulation's set-up and workload stream, run on local nodes and the real clock (the
    live engine with its own set-up comes later)."""


def pool(**extra):
    return {"id": "pool1", "vmSize": "STANDARD_D2_v3", "taskSlotsPerNode": 2,
            "targetDedicatedNodes": 1, **extra}


@pytest.fixture
def run_local(tmp_path):
    """``run_local(pool, workload, horizon=None, scale=0.01, timeout=8.0, **settings)``: run to
    the horizon (or until the workload drains) on a scaled real clock, within ``timeout`` wall
    seconds. Processes still running are killed when the test ends, not before: what a test
    asserts about processes is the engine's doing."""
    runs = []

    def run(pool_spec, workload, *, horizon=None, scale=0.01, timeout=8.0, **settings):
        sim = LocalRun(pool_spec, workload, horizon=horizon)
        old = sim.kernel
        assert not old.heap
        sim.kernel = ServingKernel(old._pass, old._advance, clock=RealClock(scale),
                                   promise_timeout=None)
        sim.kernel._seq = old._seq
        sim._init_local_world(AccountSettings(data_dir=tmp_path / "data", **settings),
                              NodeDirectories(tmp_path / "data" / "nodes"))
        runs.append(sim)
        errors = []

        def serve():
            try:
                sim.run()
            except BaseException as e:  # noqa: BLE001 - re-raised on the test's thread
                errors.append(e)

        thread = threading.Thread(target=serve, daemon=True)
        started = time.monotonic()
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            sim.kernel.stop()
            thread.join(5)
            pytest.fail(f"the live run did not end within {timeout} s")
        if errors:
            raise errors[0]
        sim.wall_seconds = time.monotonic() - started
        sim.node_dirs.drain_trash(5)
        return sim

    yield run
    for sim in runs:
        sim._close_local_world(5)
        sim.node_dirs.close(5)


def task(sim, job_id, task_id):
    for job in sim.jobs:
        if job.id == job_id:
            for t in job.tasks:
                if t.id == task_id:
                    return t
    raise KeyError((job_id, task_id))


def node_root(tmp_path, node_id="tvm-000001"):
    return tmp_path / "data" / "nodes" / "pool1" / node_id


def task_dir(tmp_path, job_id, task_id, node_id="tvm-000001"):
    return node_root(tmp_path, node_id) / "workitems" / job_id / "job-1" / task_id


def marked_processes(tmp_path):
    """Live processes started by this test's engine: they carry the attempt marker and a node
    root under this test's work root (other tests may run beside this one); recovery finds a
    killed run's processes the same way."""
    return recovery.marked_processes(tmp_path)


def no_marked_process_within(tmp_path, seconds=3.0):
    deadline = time.monotonic() + seconds
    while marked_processes(tmp_path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def node_events(sim, kind):
    return [e[2:] for e in sim.events if e[1] == kind]


# -- task attempts ---------------------------------------------------------------------------------


def test_a_task_is_a_process_with_its_exit_code_output_environment_and_retries(tmp_path, run_local):
    workload = {"jobs": [{
        "id": "job1", "commonEnvironmentSettings": [{"name": "GREETING", "value": "hello"},
                                                    {"name": "WHO", "value": "job"}],
        "tasks": [
            {"id": "fails", "commandLine": "sh -c 'echo hi; echo oops >&2; exit 3'",
             "constraints": {"maxTaskRetryCount": 1}},
            {"id": "greets",
             "commandLine": "sh -c 'echo \"$GREETING $WHO $AZ_BATCH_TASK_ID $AZ_BATCH_JOB_ID\"; pwd'",
             "environmentSettings": [{"name": "WHO", "value": "task"}]},
        ]}]}
    sim = run_local(pool(), workload)

    fails = task(sim, "job1", "fails")
    assert (fails.state, fails.result, fails.exit_code, fails.failure) == \
        ("completed", "failure", 3, ("usererror", "FailureExitCode"))
    assert (fails.attempt, fails.retry_count, fails.requeue_count) == (2, 1, 0)
    assert [e[3] for e in sim.events if e[1] == "task.retry"] == [3]
    fails_dir = task_dir(tmp_path, "job1", "fails")
    assert (fails_dir / "stdout.txt").read_text() == "hi\n"       # the second attempt's own
    assert (fails_dir / "stderr.txt").read_text() == "oops\n"

    greets = task(sim, "job1", "greets")
    assert (greets.state, greets.result, greets.exit_code, greets.failure) == \
        ("completed", "success", 0, None)
    greets_dir = task_dir(tmp_path, "job1", "greets")
    assert (greets_dir / "stdout.txt").read_text() == \
        f"hello task greets job1\n{os.path.realpath(greets_dir / 'wd')}\n"

    node = sim.nodes[1]
    assert node.state == "idle"
    root = node_root(tmp_path)
    assert sorted(p.relative_to(root).as_posix() for p in root.iterdir()) == \
        sorted(d for d in NODE_SUBDIRS if "/" not in d)
    assert sim.wall_seconds < 3


def test_a_program_that_cannot_start_fails_the_task_without_retries(tmp_path, run_local):
    workload = {"jobs": [{"id": "job1", "tasks": [
        {"id": "missing", "commandLine": "no-such-program-poolscale --flag",
         "constraints": {"maxTaskRetryCount": 3}}]}]}
    sim = run_local(pool(), workload)

    t = task(sim, "job1", "missing")
    assert (t.state, t.result, t.exit_code, t.failure) == \
        ("completed", "failure", None, ("usererror", "CommandProgramNotFound"))
    assert (t.attempt, t.retry_count) == (1, 0)
    assert [e for e in sim.events if e[1] == "task.end"][0][3:] == ("failure", None)


def test_the_wall_clock_kills_the_whole_process_group_with_batchs_exit_code(tmp_path, run_local):
    # 50 engine seconds = 0.5 wall seconds at scale 0.01; the process would sleep 30 s
    workload = {"jobs": [{"id": "job1", "tasks": [
        {"id": "slow", "commandLine": "sh -c 'echo started; sleep 30; echo never'",
         "constraints": {"maxWallClockTime": "PT50S", "maxTaskRetryCount": 2}}]}]}
    sim = run_local(pool(), workload)

    t = task(sim, "job1", "slow")
    assert (t.state, t.result, t.exit_code, t.failure) == \
        ("completed", "failure", WALL_CLOCK_EXIT_CODE, ("servererror", "TaskEnded"))
    assert (t.attempt, t.retry_count) == (1, 0)
    assert t.end_time - t.start_time == pytest.approx(50.0)     # engine time, the timer's
    assert (task_dir(tmp_path, "job1", "slow") / "stdout.txt").read_text() == "started\n"
    assert no_marked_process_within(tmp_path)
    assert sim.wall_seconds < 3


# -- start task ------------------------------------------------------------------------------------

_FAILS_ONCE = ("sh -c 'if [ -e \"$AZ_BATCH_NODE_SHARED_DIR/tried\" ]; then echo second; exit 0; fi; "
               "touch \"$AZ_BATCH_NODE_SHARED_DIR/tried\"; echo first; exit 1'")


def test_a_start_task_that_fails_once_succeeds_on_its_retry_and_the_node_becomes_idle(tmp_path, run_local):
    spec = pool(startTask={"commandLine": _FAILS_ONCE, "waitForSuccess": True,
                           "maxTaskRetryCount": 1})
    workload = {"jobs": [{"id": "job1", "tasks": [
        {"id": "after", "commandLine": "sh -c 'cat \"$AZ_BATCH_NODE_STARTUP_DIR/stdout.txt\"'"}]}]}
    sim = run_local(spec, workload)

    assert node_events(sim, "starttask") == [("tvm-000001", "failure"), ("tvm-000001", "success")]
    states = [e[3] for e in sim.events if e[1] == "node"]
    assert states[:4] == ["creating", "starting", "waitingforstarttask", "idle"]
    assert (node_root(tmp_path) / "startup" / "stdout.txt").read_text() == "second\n"
    t = task(sim, "job1", "after")
    assert (t.state, t.exit_code) == ("completed", 0)
    assert (task_dir(tmp_path, "job1", "after") / "stdout.txt").read_text() == "second\n"
    assert sim.nodes[1].state == "idle"


def test_a_start_task_that_keeps_failing_leaves_the_node_starttaskfailed(tmp_path, run_local):
    spec = pool(startTask={"commandLine": "sh -c 'exit 7'", "waitForSuccess": True,
                           "maxTaskRetryCount": 2})
    workload = {"jobs": [{"id": "job1", "tasks": [{"id": "waits", "commandLine": "true"}]}]}
    sim = run_local(spec, workload, horizon=60)     # 0.6 wall seconds

    assert node_events(sim, "starttask") == [("tvm-000001", "failure")] * 3
    assert sim.nodes[1].state == "starttaskfailed"
    t = task(sim, "job1", "waits")
    assert (t.state, t.attempt) == ("active", 0)


# -- job preparation and release ----------------------------------------------------------------------


def test_preparation_runs_before_the_task_and_release_after_the_job(tmp_path, run_local):
    workload = {"jobs": [{
        "id": "job1", "onAllTasksComplete": "terminatejob",
        "jobPreparationTask": {"commandLine": "sh -c 'echo prepared > prep.txt'"},
        "jobReleaseTask": {"commandLine": "sh -c 'echo \"released $AZ_BATCH_TASK_ID\" "
                                          "> \"$AZ_BATCH_NODE_SHARED_DIR/released.txt\"'"},
        "tasks": [{"id": "uses", "commandLine": "sh -c 'cat \"$AZ_BATCH_JOB_PREP_WORKING_DIR/prep.txt\"'"}],
    }]}
    sim = run_local(pool(), workload, horizon=100)  # 1 wall second

    kinds = [e[1] for e in sim.events if e[1] in ("prep.start", "prep.end", "task.start",
                                                  "release.start", "release.end")]
    assert kinds == ["prep.start", "prep.end", "task.start", "release.start", "release.end"]
    assert node_events(sim, "prep.end") == [("job1", "tvm-000001", "success")]
    assert (task_dir(tmp_path, "job1", "uses") / "stdout.txt").read_text() == "prepared\n"
    assert (node_root(tmp_path) / "shared" / "released.txt").read_text() == "released jobrelease\n"
    assert sim.jobs[0].state == "completed"
    assert sim.nodes[1].state == "idle"


def test_a_preparation_task_past_its_wall_clock_is_killed_and_fails(tmp_path, run_local):
    workload = {"jobs": [{
        "id": "job1",
        "jobPreparationTask": {"commandLine": "sh -c 'echo preparing; sleep 30'",
                               "constraints": {"maxWallClockTime": "PT50S"}},
        "tasks": [{"id": "never", "commandLine": "true"}],
    }]}
    sim = run_local(pool(), workload, horizon=100)  # 1 wall second

    ends = [e for e in sim.events if e[1] == "prep.end"]
    assert [e[2:] for e in ends] == [("job1", "tvm-000001", "failure")]
    starts = [e for e in sim.events if e[1] == "prep.start"]
    assert ends[0][0] - starts[0][0] == pytest.approx(50.0)
    prep = node_root(tmp_path) / "workitems" / "job1" / "job-1" / "jobpreparation"
    assert (prep / "stdout.txt").read_text() == "preparing\n"
    t = task(sim, "job1", "never")
    assert (t.state, t.attempt) == ("active", 0)       # the node is excluded for this job
    assert no_marked_process_within(tmp_path)


# -- scale-down ------------------------------------------------------------------------------------


def scaled_down_pool(option="requeue", **extra):
    """An autoscale pool with one node from the first evaluation (at 0: no samples yet, so
    ``Count()`` is 0) and none from the second (5 minutes later, when samples exist: 0.9 wall
    seconds at scale 0.003)."""
    formula = ("$TargetDedicatedNodes = $RunningTasks.Count() > 0 ? 0 : 1;\n"
               f"$NodeDeallocationOption = {option};\n")
    return {"id": "pool1", "vmSize": "STANDARD_D2_v3", "enableAutoScale": True,
            "autoScaleFormula": formula, "autoScaleEvaluationInterval": "PT5M", **extra}


def test_a_requeue_on_scale_down_kills_the_running_process_and_requeues_the_task(tmp_path, run_local):
    spec = scaled_down_pool()
    pid_file = tmp_path / "pid"
    workload = {"jobs": [{"id": "job1", "tasks": [
        {"id": "long", "commandLine": f"sh -c 'echo $$ > {pid_file}; exec sleep 30'"}]}]}
    sim = run_local(spec, workload, horizon=400, scale=0.003)

    t = task(sim, "job1", "long")
    assert (t.state, t.requeue_count, t.retry_count, t.attempt) == ("active", 1, 0, 1)
    assert [e[1:] for e in sim.events if e[1] in ("node.deallocate", "task.requeue")] == \
        [("node.deallocate", "tvm-000001", "requeue"), ("task.requeue", t.key)]
    assert [e[3] for e in sim.events if e[1] == "node"][-2:] == ["leavingpool", "removed"]
    assert sim.nodes == {}
    pid = int(pid_file.read_text())
    assert no_marked_process_within(tmp_path)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not node_root(tmp_path).exists()                    # the node's tree is gone
    assert sim.wall_seconds < 3


def test_a_node_removed_while_its_start_task_runs_kills_the_start_task(tmp_path, run_local):
    pid_file = tmp_path / "pid"
    spec = scaled_down_pool(startTask={"commandLine": f"sh -c 'echo $$ > {pid_file}; exec sleep 30'",
                                       "waitForSuccess": True})
    sim = run_local(spec, {"jobs": []}, horizon=400, scale=0.003)

    assert [e[3] for e in sim.events if e[1] == "node"] == \
        ["creating", "starting", "waitingforstarttask", "leavingpool", "removed"]
    assert node_events(sim, "starttask") == []
    pid = int(pid_file.read_text())
    assert no_marked_process_within(tmp_path)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not node_root(tmp_path).exists()


def test_a_terminate_on_scale_down_kills_the_running_process_and_fails_the_task(tmp_path, run_local):
    pid_file = tmp_path / "pid"
    workload = {"jobs": [{"id": "job1", "tasks": [
        {"id": "long", "commandLine": f"sh -c 'echo $$ > {pid_file}; exec sleep 30'",
         "constraints": {"maxTaskRetryCount": 3}}]}]}
    sim = run_local(scaled_down_pool("terminate"), workload, horizon=400, scale=0.003)

    t = task(sim, "job1", "long")
    assert (t.state, t.result, t.exit_code, t.failure) == \
        ("completed", "failure", None, ("usererror", "TaskEnded"))
    assert (t.requeue_count, t.retry_count, t.attempt) == (0, 0, 1)
    assert t.end_time == 300.0
    pid = int(pid_file.read_text())
    assert no_marked_process_within(tmp_path)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_taskcompletion_on_scale_down_lets_the_task_finish_before_the_node_leaves(tmp_path, run_local):
    # the task sleeps 1.2 wall seconds (400 engine seconds at scale 0.003); the scale-down comes
    # at 300; the run ends when the workload has drained
    out = tmp_path / "out.txt"
    workload = {"jobs": [{"id": "job1", "tasks": [
        {"id": "finishes", "commandLine": f"sh -c 'sleep 1.2; echo finished > {out}'"}]}]}
    sim = run_local(scaled_down_pool("taskcompletion"), workload, scale=0.003)

    t = task(sim, "job1", "finishes")
    assert (t.state, t.result, t.exit_code, t.requeue_count) == ("completed", "success", 0, 0)
    assert out.read_text() == "finished\n"
    deallocated = [e for e in sim.events if e[1] == "node.deallocate"]
    assert [(e[0], e[2:]) for e in deallocated] == [(300.0, ("tvm-000001", "taskcompletion"))]
    removed = [e[0] for e in sim.events if e[1] == "node" and e[3] == "removed"]
    assert removed == [t.end_time] and t.end_time > 300.0
    assert not node_root(tmp_path).exists()


def test_a_job_ended_by_its_wall_clock_kills_its_running_task(tmp_path, run_local):
    workload = {"jobs": [{"id": "job1", "constraints": {"maxWallClockTime": "PT50S"}, "tasks": [
        {"id": "long", "commandLine": "sh -c 'echo started; sleep 30'"}]}]}
    sim = run_local(pool(), workload)

    job = sim.jobs[0]
    assert (job.state, job.reason) == ("completed", "MaxWallClockTimeExpiry")
    t = task(sim, "job1", "long")
    assert (t.state, t.result, t.exit_code, t.failure, t.end_time) == \
        ("completed", "failure", None, ("usererror", "TaskEnded"), 50.0)
    assert (task_dir(tmp_path, "job1", "long") / "stdout.txt").read_text() == "started\n"
    assert no_marked_process_within(tmp_path)
    assert sim.wall_seconds < 3


def test_the_job_manager_runs_first_in_its_own_directory_and_ends_its_job(tmp_path, run_local):
    workload = {"jobs": [{
        "id": "job1",
        "jobManagerTask": {"id": "manager", "commandLine": "sh -c 'echo \"$AZ_BATCH_TASK_ID\"'"},
        "tasks": [{"id": "worker", "commandLine": "true"}]}]}
    sim = run_local(pool(), workload, horizon=60)     # 0.6 wall seconds

    jm = sim.jobs[0].jm
    assert (jm.state, jm.result, jm.exit_code) == ("completed", "success", 0)
    assert (task_dir(tmp_path, "job1", "manager") / "stdout.txt").read_text() == "manager\n"
    job = sim.jobs[0]
    assert (job.state, job.reason) == ("completed", "JMComplete")
    # the manager runs exclusively (runExclusive defaults to true), and its end ends the job:
    # the worker never runs and stays active, as in Batch
    assert [e[2] for e in sim.events if e[1] == "task.start"] == ["job1/manager"]
    worker = task(sim, "job1", "worker")
    assert (worker.state, worker.attempt) == ("active", 0)


# -- environment and nodes -------------------------------------------------------------------------


def test_a_task_sees_the_batch_environment_of_its_node_job_and_account(tmp_path, run_local):
    workload = {"jobs": [{
        "id": "job1",
        "commonEnvironmentSettings": [{"name": "FROM_JOB", "value": "j"},
                                      {"name": "BOTH", "value": "job"}],
        "jobPreparationTask": {"commandLine": "true"},
        "tasks": [{"id": "envtask", "commandLine": "env",
                   "environmentSettings": [{"name": "BOTH", "value": "task"},
                                           {"name": "AZ_BATCH_NODE_ID", "value": "mine"}]}]}]}
    sim = run_local(pool(), workload, account_url="https://acct.example.test")

    t = task(sim, "job1", "envtask")
    assert (t.state, t.exit_code) == ("completed", 0)
    lines = (task_dir(tmp_path, "job1", "envtask") / "stdout.txt").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines if "=" in line)
    root = os.path.realpath(node_root(tmp_path))
    tdir = f"{root}/workitems/job1/job-1/envtask"
    prep = f"{root}/workitems/job1/job-1/jobpreparation"
    batch = {k: v for k, v in env.items() if k.startswith(("AZ_BATCH_", "WATASK_"))}
    assert batch == {
        "AZ_BATCH_ACCOUNT_NAME": "poolscale", "AZ_BATCH_ACCOUNT_URL": "https://acct.example.test",
        "AZ_BATCH_POOL_ID": "pool1", "AZ_BATCH_NODE_ID": "tvm-000001",
        "AZ_BATCH_NODE_IS_DEDICATED": "true", "AZ_BATCH_NODE_ROOT_DIR": root,
        "AZ_BATCH_NODE_SHARED_DIR": f"{root}/shared", "AZ_BATCH_NODE_STARTUP_DIR": f"{root}/startup",
        "AZ_BATCH_NODE_MOUNTS_DIR": f"{root}/fsmounts", "AZ_BATCH_TASK_DIR": tdir,
        "AZ_BATCH_TASK_WORKING_DIR": f"{tdir}/wd", "AZ_BATCH_JOB_ID": "job1",
        "AZ_BATCH_TASK_ID": "envtask", "AZ_BATCH_JOB_PREP_DIR": prep,
        "AZ_BATCH_JOB_PREP_WORKING_DIR": f"{prep}/wd",
        "WATASK_ACCOUNT_NAME": "poolscale", "WATASK_POOL_NAME": "pool1",
        "WATASK_TVM_NAME": "tvm-000001", "WATASK_TVM_ROOT_DIR": root,
        "WATASK_WORKITEM_NAME": "job1", "WATASK_JOB_NAME": "job-1", "WATASK_TASK_NAME": "envtask",
    }
    assert (env["FROM_JOB"], env["BOTH"]) == ("j", "task")
    assert len(env[ATTEMPT_MARKER]) == 32
    assert env["PATH"] == os.environ["PATH"]


def test_nodes_are_allocated_and_booted_after_the_accounts_delays(tmp_path, run_local):
    workload = {"jobs": [{"id": "job1", "tasks": [{"id": "t", "commandLine": "true"}]}]}
    sim = run_local(pool(), workload, allocation_delay="PT10S", boot_delay="PT20S")

    states = [(e[0], e[3]) for e in sim.events if e[1] == "node"]
    assert states[:3] == [(0.0, "creating"), (10.0, "starting"), (30.0, "idle")]
    t = task(sim, "job1", "t")
    assert (t.state, t.exit_code, t.start_time) == ("completed", 0, 30.0)
    # the tree exists from the allocation's start
    assert sorted(p.name for p in node_root(tmp_path).iterdir()) == \
        sorted(d for d in NODE_SUBDIRS if "/" not in d)


# -- multi-instance tasks --------------------------------------------------------------------------


def mi_pool():
    return pool(taskSlotsPerNode=1, targetDedicatedNodes=2, enableInterNodeCommunication=True)


def test_a_multi_instance_task_coordinates_on_every_node_then_runs_on_the_primary(tmp_path, run_local):
    # every instance writes what it sees and leaves a service running in the background (the
    # subtask's coordination is the slower); the primary's command line reads what its
    # coordination wrote, once both are done; the services end with the task
    log = tmp_path / "order.log"
    coordination = ("sh -c 'echo \"$AZ_BATCH_IS_CURRENT_NODE_MASTER $AZ_BATCH_HOST_LIST "
                    "$AZ_BATCH_NODE_LIST\" > \"$AZ_BATCH_TASK_SHARED_DIR/seen.txt\"; "
                    "[ \"$AZ_BATCH_IS_CURRENT_NODE_MASTER\" = true ] || sleep 0.3; "
                    f"echo \"coordination $AZ_BATCH_NODE_ID\" >> {log}; "
                    "sleep 30 & echo coordinated'")
    workload = {"jobs": [{"id": "job1", "tasks": [{
        "id": "mpi", "commandLine": "sh -c 'cat \"$AZ_BATCH_TASK_SHARED_DIR/seen.txt\"; "
                                   f"echo \"$AZ_BATCH_MASTER_NODE\"; echo command >> {log}'",
        "multiInstanceSettings": {"numberOfInstances": 2,
                                  "coordinationCommandLine": coordination}}]}]}
    sim = run_local(mi_pool(), workload)

    t = task(sim, "job1", "mpi")
    assert (t.state, t.result, t.exit_code, t.retry_count) == ("completed", "success", 0, 0)
    primary = task_dir(tmp_path, "job1", "mpi", "tvm-000001")
    sub = task_dir(tmp_path, "job1", "mpi", "tvm-000002")
    hosts = "127.0.0.2,127.0.0.3 127.0.0.2;127.0.0.3"
    assert (primary / "stdout.txt").read_text() == f"true {hosts}\n127.0.0.2:6000\n"
    assert (sub / "seen.txt").read_text() == f"false {hosts}\n"
    for d in (primary, sub):
        assert (d / "coordination" / "stdout.txt").read_text() == "coordinated\n"
    assert not (sub / "stdout.txt").exists()          # the command line runs on the primary only
    *coordinated, last = log.read_text().splitlines()
    assert (sorted(coordinated), last) == (["coordination tvm-000001", "coordination tvm-000002"],
                                           "command")
    assert no_marked_process_within(tmp_path)


def test_a_failing_coordination_command_fails_the_whole_attempt_which_is_retried(tmp_path, run_local):
    # the subtask's coordination fails (exit 4), the primary's would run for 30 s: each attempt
    # fails with the subtask's code and the primary's coordination is killed
    coordination = ("sh -c 'if [ \"$AZ_BATCH_IS_CURRENT_NODE_MASTER\" = true ]; then exec sleep 30; "
                    "fi; exit 4'")
    workload = {"jobs": [{"id": "job1", "tasks": [{
        "id": "mpi", "commandLine": "sh -c 'echo never'",
        "constraints": {"maxTaskRetryCount": 1},
        "multiInstanceSettings": {"numberOfInstances": 2,
                                  "coordinationCommandLine": coordination}}]}]}
    sim = run_local(mi_pool(), workload)

    t = task(sim, "job1", "mpi")
    assert (t.state, t.result, t.exit_code, t.failure) == \
        ("completed", "failure", 4, ("usererror", "FailureExitCode"))
    assert (t.attempt, t.retry_count) == (2, 1)
    assert not (task_dir(tmp_path, "job1", "mpi", "tvm-000001") / "stdout.txt").exists()
    assert no_marked_process_within(tmp_path)
    assert sim.wall_seconds < 3


def test_a_release_task_past_its_wall_clock_is_killed_and_the_job_completes(tmp_path, run_local):
    workload = {"jobs": [{
        "id": "job1", "onAllTasksComplete": "terminatejob",
        "jobPreparationTask": {"commandLine": "true"},
        "jobReleaseTask": {"commandLine": "sh -c 'echo releasing; sleep 30'",
                           "maxWallClockTime": "PT50S"},
        "tasks": [{"id": "quick", "commandLine": "true"}]}]}
    sim = run_local(pool(), workload, horizon=100)    # 1 wall second

    started = [e[0] for e in sim.events if e[1] == "release.start"]
    ended = [e[0] for e in sim.events if e[1] == "release.end"]
    assert len(started) == len(ended) == 1 and ended[0] - started[0] == pytest.approx(50.0)
    job = sim.jobs[0]
    assert (job.state, job.reason, job.completed_at) == ("completed", "AllTasksComplete", ended[0])
    release = node_root(tmp_path) / "workitems" / "job1" / "job-1" / "jobrelease"
    assert (release / "stdout.txt").read_text() == "releasing\n"
    assert no_marked_process_within(tmp_path)


def test_a_start_task_that_cannot_start_counts_as_failed_attempts(tmp_path, run_local):
    spec = pool(startTask={"commandLine": "no-such-program-poolscale", "maxTaskRetryCount": 1})
    sim = run_local(spec, {"jobs": []}, horizon=30)    # 0.3 wall seconds

    assert node_events(sim, "starttask") == [("tvm-000001", "failure")] * 2
    assert sim.nodes[1].state == "starttaskfailed"


# -- chaos -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("chaos", ["preemption", "failure"])
def test_a_node_that_loses_its_vm_loses_its_processes_and_comes_back_on_a_fresh_tree(
        tmp_path, run_local, chaos):
    # seed 1: the low-priority node is preempted at 52.7 s and recovered 10 s later (allocated
    # again); the dedicated node fails at 37.6 s and is repaired 10 s later (booted again). The
    # task running on it is killed, recovered (recoveryCount + 1) and started again there
    pids = tmp_path / "pids.txt"
    if chaos == "preemption":
        spec = {"targetLowPriorityNodes": 1, "simulation": {"seed": 1, "preemption": {
            "meanTimeBetween": "PT1M", "recoveryTime": "PT10S"}}}
        event, lost_at = "node.preempt", 52.705316608292264
    else:
        spec = {"targetDedicatedNodes": 1, "simulation": {"seed": 1, "nodeFailure": {
            "meanTimeBetween": "PT1M", "repairTime": "PT10S"}}}
        event, lost_at = "node.fail", 37.587340719408814
    spec.update(id="pool1", vmSize="STANDARD_D2_v3", startTask={
        "commandLine": "sh -c 'echo boot >> \"$AZ_BATCH_NODE_SHARED_DIR/boots.txt\"'"})
    workload = {"jobs": [{"id": "job1", "tasks": [
        {"id": "long", "commandLine": f"sh -c 'echo $$ >> {pids}; exec sleep 30'"}]}]}
    sim = run_local(spec, workload, horizon=100)      # 1 wall second

    assert [e[0] for e in sim.events if e[1] in ("node.preempt", "node.fail")] == \
        [e[0] for e in sim.events if e[1] == event] == [pytest.approx(lost_at)]
    assert [e[1:] for e in sim.events if e[1] == "task.recover"] == [("task.recover", "job1/long")]
    t = task(sim, "job1", "long")
    assert (t.state, t.recovery_count, t.requeue_count, t.retry_count, t.attempt) == \
        ("running", 1, 0, 0, 2)
    assert t.start_time > lost_at + 10
    first, second = (int(line) for line in pids.read_text().split())
    assert not psutil.pid_exists(first) or psutil.Process(first).status() == psutil.STATUS_ZOMBIE
    assert psutil.Process(second).environ()["AZ_BATCH_NODE_ID"] == "tvm-000001"
    # the tree was made again: the start task's file shows one boot, not two
    assert (node_root(tmp_path) / "shared" / "boots.txt").read_text() == "boot\n"
    assert sim.nodes[1].state == "running"


# -- retention, background start tasks, ended preparations ------------------------------------------


def test_a_task_directory_is_deleted_when_its_retention_time_has_passed(tmp_path, run_local):
    workload = {"jobs": [{"id": "job1", "tasks": [
        {"id": "brief", "commandLine": "sh -c 'echo kept > out.txt'",
         "constraints": {"retentionTime": "PT10S"}},
        {"id": "default", "commandLine": "sh -c 'echo kept > out.txt'"}]}]}
    sim = run_local(pool(), workload, horizon=100)    # 1 wall second

    assert [task(sim, "job1", t).state for t in ("brief", "default")] == ["completed"] * 2
    assert not task_dir(tmp_path, "job1", "brief").exists()
    assert (task_dir(tmp_path, "job1", "default") / "wd" / "out.txt").read_text() == "kept\n"


def test_a_start_task_not_waited_for_runs_beside_the_tasks(tmp_path, run_local):
    spec = pool(startTask={"commandLine": "sh -c 'sleep 0.4; echo started'",
                           "waitForSuccess": False})
    workload = {"jobs": [{"id": "job1", "tasks": [{"id": "first", "commandLine": "true"}]}]}
    sim = run_local(spec, workload, horizon=100)       # 1 wall second

    t = task(sim, "job1", "first")
    assert (t.state, t.exit_code, t.start_time) == ("completed", 0, 0.0)
    ended = [(e[0], e[2:]) for e in sim.events if e[1] == "starttask"]
    assert [e[1] for e in ended] == [("tvm-000001", "success")] and ended[0][0] > t.end_time
    assert (node_root(tmp_path) / "startup" / "stdout.txt").read_text() == "started\n"
    assert "waitingforstarttask" not in [e[3] for e in sim.events if e[1] == "node"]


def test_a_failing_start_task_not_waited_for_is_retried_and_the_node_stays_usable(tmp_path, run_local):
    spec = pool(startTask={"commandLine": "sh -c 'exit 1'", "waitForSuccess": False,
                           "maxTaskRetryCount": 2})
    sim = run_local(spec, {"jobs": []}, horizon=60)    # 0.6 wall seconds

    assert node_events(sim, "starttask") == [("tvm-000001", "failure")] * 3
    assert sim.nodes[1].state == "idle"


def test_a_preparation_task_still_running_when_its_job_ends_is_killed(tmp_path, run_local):
    pid_file = tmp_path / "pid"
    workload = {"jobs": [{
        "id": "job1", "constraints": {"maxWallClockTime": "PT50S"},
        "jobPreparationTask": {"commandLine": f"sh -c 'echo $$ > {pid_file}; exec sleep 30'"},
        "tasks": [{"id": "waits", "commandLine": "true"}]}]}
    sim = run_local(pool(), workload, horizon=100)    # 1 wall second

    assert [(e[0], e[2:]) for e in sim.events if e[1] == "prep.end"] == \
        [(50.0, ("job1", "tvm-000001", "killed"))]
    job = sim.jobs[0]
    assert (job.state, job.reason) == ("completed", "MaxWallClockTimeExpiry")
    t = task(sim, "job1", "waits")
    assert (t.state, t.failure, t.attempt) == ("completed", ("usererror", "TaskEnded"), 0)
    pid = int(pid_file.read_text())
    assert no_marked_process_within(tmp_path)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_preemption_kills_a_running_preparation_task(tmp_path, run_local):
    # seed 1: the node is preempted at 52.7 s and recovered at 62.7 s; the preparation task
    # (which never ends by itself) is killed with the VM and runs again on the new one
    pids = tmp_path / "pids.txt"
    spec = {"id": "pool1", "vmSize": "STANDARD_D2_v3", "targetLowPriorityNodes": 1,
            "simulation": {"seed": 1, "preemption": {"meanTimeBetween": "PT1M",
                                                     "recoveryTime": "PT10S"}}}
    workload = {"jobs": [{
        "id": "job1",
        "jobPreparationTask": {"commandLine": f"sh -c 'echo $$ >> {pids}; exec sleep 30'"},
        "tasks": [{"id": "waits", "commandLine": "true"}]}]}
    sim = run_local(spec, workload, horizon=100)      # 1 wall second

    assert [(e[0], e[2:]) for e in sim.events if e[1] == "prep.end"] == \
        [(pytest.approx(52.705316608292264), ("job1", "tvm-000001", "killed"))]
    assert len([e for e in sim.events if e[1] == "prep.start"]) == 2
    first, second = (int(line) for line in pids.read_text().split())
    assert not psutil.pid_exists(first) or psutil.Process(first).status() == psutil.STATUS_ZOMBIE
    assert psutil.Process(second).environ()["AZ_BATCH_TASK_ID"] == "jobpreparation"


def test_a_task_that_cannot_start_applies_its_preprocessing_error_options(tmp_path, run_local):
    # default would block the dependent; preProcessingError satisfies it
    workload = {"jobs": [{"id": "job1", "usesTaskDependencies": True, "tasks": [
        {"id": "missing", "commandLine": "no-such-program-poolscale",
         "exitConditions": {"preProcessingError": {"dependencyAction": "satisfy"},
                            "default": {"dependencyAction": "block"}}},
        {"id": "exits2", "commandLine": "sh -c 'exit 2'",
         "exitConditions": {"preProcessingError": {"dependencyAction": "satisfy"},
                            "default": {"dependencyAction": "block"}}},
        {"id": "after", "commandLine": "true", "dependsOn": {"taskIds": ["missing"]}},
        {"id": "blocked", "commandLine": "true", "dependsOn": {"taskIds": ["exits2"]}}]}]}
    sim = run_local(pool(), workload, horizon=30)     # 0.3 wall seconds

    missing, exits2 = task(sim, "job1", "missing"), task(sim, "job1", "exits2")
    assert (missing.state, missing.exit_code, missing.failure, missing.dep_satisfies) == \
        ("completed", None, ("usererror", "CommandProgramNotFound"), True)
    assert (exits2.state, exits2.exit_code, exits2.dep_satisfies) == ("completed", 2, False)
    after, blocked = task(sim, "job1", "after"), task(sim, "job1", "blocked")
    assert (after.state, after.exit_code) == ("completed", 0)
    assert (blocked.state, blocked.blocked, blocked.attempt) == ("active", True, 0)


# -- the simulator's decisions with real processes ---------------------------------------------------


def test_processes_lasting_the_declared_durations_make_the_simulators_decisions(tmp_path, run_local):
    # the same jobs as simulated tasks (declared durations and exit codes) and as processes
    # that sleep those durations and exit with those codes: with events at least 10 engine
    # seconds (0.1 wall seconds) apart, the live run places, retries and kills as the simulator
    # does, never earlier and only as much later as starting processes takes
    scale = 0.01
    declared = [("t0", 30, [0], None), ("t1", 65, [0], None), ("t2", 12, [3, 0], None),
                ("t3", 55, [0], None), ("t4", 80, [0], "PT30S"), ("t5", 30, [5], None)]
    sim_tasks, live_tasks = [], []
    for tid, duration, codes, wall in declared:
        constraints = {"maxTaskRetryCount": 1, **({"maxWallClockTime": wall} if wall else {})}
        sim_tasks.append({"id": tid, "duration": duration, "exitCodes": codes,
                          "constraints": constraints})
        # the code of attempt n is codes[n - 1] (the last one repeats), counted in a file
        count = tmp_path / f"{tid}.attempts"
        script = (f"echo x >> {count}; n=$(wc -l < {count}); sleep {duration * scale}; "
                  + "".join(f"[ $n -le {i + 1} ] && exit {c}; " for i, c in enumerate(codes))
                  + f"exit {codes[-1]}")
        live_tasks.append({"id": tid, "commandLine": f"sh -c '{script}'",
                           "constraints": constraints})
    spec = pool(taskSlotsPerNode=1, targetDedicatedNodes=2,
                simulation={"allocationTime": "PT0S", "bootTime": "PT0S"})
    simulated = Simulation(spec, {"jobs": [{"id": "job1", "tasks": sim_tasks}]}).run()
    live = run_local(spec, {"jobs": [{"id": "job1", "tasks": live_tasks}]}, scale=scale)

    def starts(run):
        return [(e[0], e[2], e[3]) for e in run.events if e[1] == "task.start"]

    def final(run):
        return [(t.id, t.state, t.result, t.exit_code, t.retry_count, t.failure)
                for t in sorted(run.jobs[0].tasks, key=lambda t: t.id)]

    want, got = starts(simulated), starts(live)
    assert [s[1:] for s in got] == [s[1:] for s in want]          # order and nodes
    assert len(want) == 8 and ("job1/t5", "tvm-000001") == want[-1][1:]
    for (at, _, _), (want_at, _, _) in zip(got, want):
        assert want_at - 1e-9 <= at <= want_at + 8.0
    assert final(live) == final(simulated)
    assert final(simulated)[4] == ("t4", "completed", "failure", WALL_CLOCK_EXIT_CODE, 0,
                                   ("servererror", "TaskEnded"))
    assert live.wall_seconds < 3


def test_links_planted_by_tasks_never_make_the_engine_use_or_delete_a_path_outside(
        tmp_path, run_local, caplog):
    # one task links a sibling's directory to outside the work root; another replaces a job's
    # directory by such a link before a retention deletion is due there. The sibling fails to
    # start, the deletion is refused and logged, nothing outside is touched, and the engine
    # goes on to run the next task
    outside = tmp_path / "outside"
    outside.mkdir()
    root = '"$AZ_BATCH_NODE_ROOT_DIR/workitems'
    workload = {"jobs": [
        {"id": "job1", "tasks": [
            {"id": "planter",
             "commandLine": f"sh -c 'ln -s {outside} \"$AZ_BATCH_TASK_DIR/../victim\"'"},
            {"id": "victim", "commandLine": "sh -c 'echo ran'", "submitTime": 10},
            {"id": "after", "commandLine": "sh -c 'echo fine'", "submitTime": 40}]},
        {"id": "job2", "tasks": [
            {"id": "kept", "commandLine": "true", "constraints": {"retentionTime": "PT20S"}}]},
        {"id": "job3", "tasks": [
            {"id": "vandal", "submitTime": 10, "commandLine":
             f"sh -c 'mv {root}/job2\" {root}/moved\"; ln -s {outside} {root}/job2\"'"}]}]}
    sim = run_local(pool(), workload, horizon=60)     # 0.6 wall seconds

    victim = task(sim, "job1", "victim")
    assert (victim.state, victim.exit_code, victim.failure) == \
        ("completed", None, ("usererror", "CommandProgramNotFound"))
    after = task(sim, "job1", "after")
    assert (after.state, after.exit_code) == ("completed", 0)
    assert (task_dir(tmp_path, "job1", "after") / "stdout.txt").read_text() == "fine\n"
    assert task(sim, "job3", "vandal").exit_code == 0
    assert list(outside.iterdir()) == []
    assert (node_root(tmp_path) / "workitems" / "moved" / "job-1" / "kept" / "wd").is_dir()
    refused = [r.getMessage() for r in caplog.records if "not deleted" in r.getMessage()]
    assert len(refused) == 1 and refused[0].startswith("task directory of job2/kept on tvm-000001")


def test_a_pool_directory_replaced_by_a_link_is_neither_removed_nor_followed(
        tmp_path, run_local, caplog):
    # the task moves its pool's directory away and puts a link to outside in its place; when
    # the scale-down removes the node, its directory is not looked for through the link
    outside = tmp_path / "outside"
    outside.mkdir()
    pool_dir = tmp_path / "data" / "nodes" / "pool1"
    moved = tmp_path / "moved-pool"
    workload = {"jobs": [{"id": "job1", "tasks": [{"id": "vandal", "commandLine":
        f"sh -c 'mv {pool_dir} {moved}; ln -s {outside} {pool_dir}; exec sleep 30'"}]}]}
    sim = run_local(scaled_down_pool(), workload, horizon=400, scale=0.003)

    t = task(sim, "job1", "vandal")
    assert (t.state, t.requeue_count) == ("active", 1)
    assert sim.nodes == {}
    assert list(outside.iterdir()) == []
    assert (moved / "tvm-000001" / "workitems" / "job1" / "job-1" / "vandal" / "wd").is_dir()
    refused = [r.getMessage() for r in caplog.records if "not removed" in r.getMessage()]
    assert len(refused) == 1 and refused[0].startswith("directory of tvm-000001 not removed")
    assert no_marked_process_within(tmp_path)


def test_a_node_coming_back_under_a_pool_directory_replaced_by_a_link_gets_no_tree(
        tmp_path, run_local, caplog):
    # seed 1: preempted at 52.7 s, recovered at 62.7 s. Meanwhile the pool's directory is a
    # link to outside: the node's new tree is not made through it, and the recovered task,
    # started again there, fails to start instead of running outside the work root
    outside = tmp_path / "outside"
    outside.mkdir()
    pool_dir = tmp_path / "data" / "nodes" / "pool1"
    spec = {"id": "pool1", "vmSize": "STANDARD_D2_v3", "targetLowPriorityNodes": 1,
            "simulation": {"seed": 1, "preemption": {"meanTimeBetween": "PT1M",
                                                     "recoveryTime": "PT10S"}}}
    workload = {"jobs": [{"id": "job1", "tasks": [{"id": "vandal", "commandLine":
        f"sh -c 'mv {pool_dir} {tmp_path / 'moved'}; ln -s {outside} {pool_dir}; "
        "exec sleep 30'"}]}]}
    sim = run_local(spec, workload, horizon=100)      # 1 wall second

    t = task(sim, "job1", "vandal")
    assert (t.state, t.recovery_count, t.exit_code, t.failure) == \
        ("completed", 1, None, ("usererror", "CommandProgramNotFound"))
    assert list(outside.iterdir()) == []
    refused = [r.getMessage() for r in caplog.records if "not made" in r.getMessage()]
    assert len(refused) == 1 and refused[0].startswith("directory of tvm-000001 not made")
