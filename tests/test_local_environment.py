"""The environment of a local task (runtime/service/local/environment.py), against a table.

The expected values are written out here by hand, not derived from SYSTEM_VARIABLES, so a
change to the table that changes what a task sees fails a test. A real process checks that the
environment reaches the task exactly as built.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from poolscale.runtime.service.local.environment import (
    NOT_SET,
    SYSTEM_NAMES,
    SYSTEM_VARIABLES,
    TaskContext,
    task_environment,
)
from poolscale.runtime.service.local.executor import AttemptSpec, ProcessExecutor

ROOT = Path("/w/pool1/tvm-000001")
TASK_DIR = ROOT / "workitems/job1/job-1/t1"
PREP_DIR = ROOT / "workitems/job1/job-1/jobpreparation"
SCHEDULE_TASK_DIR = ROOT / "workitems/nightly/job-3/t1"

ALWAYS = {
    "AZ_BATCH_ACCOUNT_NAME": "poolscale",
    "AZ_BATCH_POOL_ID": "pool1",
    "AZ_BATCH_NODE_ID": "tvm-000001",
    "AZ_BATCH_NODE_IS_DEDICATED": "true",
    "AZ_BATCH_NODE_ROOT_DIR": "/w/pool1/tvm-000001",
    "AZ_BATCH_NODE_SHARED_DIR": "/w/pool1/tvm-000001/shared",
    "AZ_BATCH_NODE_STARTUP_DIR": "/w/pool1/tvm-000001/startup",
    "AZ_BATCH_NODE_MOUNTS_DIR": "/w/pool1/tvm-000001/fsmounts",
    "WATASK_ACCOUNT_NAME": "poolscale",
    "WATASK_POOL_NAME": "pool1",
    "WATASK_TVM_NAME": "tvm-000001",
    "WATASK_TVM_ROOT_DIR": "/w/pool1/tvm-000001",
    "POOLSCALE_ATTEMPT": "a-1",
}


def job_vars(task_id: str, task_dir: str) -> dict[str, str]:
    return {
        "AZ_BATCH_TASK_DIR": task_dir,
        "AZ_BATCH_TASK_WORKING_DIR": task_dir + "/wd",
        "AZ_BATCH_JOB_ID": "job1",
        "AZ_BATCH_TASK_ID": task_id,
        "WATASK_WORKITEM_NAME": "job1",
        "WATASK_JOB_NAME": "job-1",
        "WATASK_TASK_NAME": task_id,
    }


PREP = {
    "AZ_BATCH_JOB_PREP_DIR": "/w/pool1/tvm-000001/workitems/job1/job-1/jobpreparation",
    "AZ_BATCH_JOB_PREP_WORKING_DIR": "/w/pool1/tvm-000001/workitems/job1/job-1/jobpreparation/wd",
}

CASES = [
    ("plain task",
     dict(kind="task", job_id="job1", task_id="t1", task_dir=TASK_DIR),
     {**ALWAYS, **job_vars("t1", str(TASK_DIR))}),
    ("start task: no job variables",
     dict(kind="starttask", task_dir=ROOT / "startup"),
     {**ALWAYS, "AZ_BATCH_TASK_DIR": str(ROOT / "startup"), "AZ_BATCH_TASK_WORKING_DIR": str(ROOT / "startup/wd")}),
    ("job with a preparation task",
     dict(kind="task", job_id="job1", task_id="t1", task_dir=TASK_DIR, job_prep_dir=PREP_DIR),
     {**ALWAYS, **job_vars("t1", str(TASK_DIR)), **PREP}),
    ("preparation task: fixed task id",
     dict(kind="jobpreparation", job_id="job1", task_dir=PREP_DIR, job_prep_dir=PREP_DIR),
     {**ALWAYS, **job_vars("jobpreparation", str(PREP_DIR)), **PREP}),
    ("release task: fixed task id",
     dict(kind="jobrelease", job_id="job1", task_dir=ROOT / "workitems/job1/job-1/jobrelease"),
     {**ALWAYS, **job_vars("jobrelease", str(ROOT / "workitems/job1/job-1/jobrelease"))}),
    ("low-priority node, account URL configured",
     dict(kind="task", job_id="job1", task_id="t1", task_dir=TASK_DIR, is_dedicated=False,
          account_name="acct", account_url="https://acct.local"),
     {**ALWAYS, **job_vars("t1", str(TASK_DIR)), "AZ_BATCH_NODE_IS_DEDICATED": "false",
      "AZ_BATCH_ACCOUNT_NAME": "acct", "WATASK_ACCOUNT_NAME": "acct",
      "AZ_BATCH_ACCOUNT_URL": "https://acct.local"}),
    ("task of a job schedule's job: work item and job name apart, the full id in AZ_BATCH_JOB_ID",
     dict(kind="task", job_id="nightly:job-3", task_id="t1", task_dir=SCHEDULE_TASK_DIR),
     {**ALWAYS, **job_vars("t1", str(SCHEDULE_TASK_DIR)), "AZ_BATCH_JOB_ID": "nightly:job-3",
      "WATASK_WORKITEM_NAME": "nightly", "WATASK_JOB_NAME": "job-3"}),
    ("job manager of a job schedule's job",
     dict(kind="jobmanager", job_id="nightly:job-12", task_id="jm", task_dir=ROOT / "workitems/nightly/job-12/jm"),
     {**ALWAYS, **job_vars("jm", str(ROOT / "workitems/nightly/job-12/jm")), "AZ_BATCH_JOB_ID": "nightly:job-12",
      "WATASK_WORKITEM_NAME": "nightly", "WATASK_JOB_NAME": "job-12"}),
    ("release task of a job schedule's job",
     dict(kind="jobrelease", job_id="s:job-1", task_dir=ROOT / "workitems/s/job-1/jobrelease"),
     {**ALWAYS, **job_vars("jobrelease", str(ROOT / "workitems/s/job-1/jobrelease")), "AZ_BATCH_JOB_ID": "s:job-1",
      "WATASK_WORKITEM_NAME": "s", "WATASK_JOB_NAME": "job-1"}),
    ("multi-instance, not the master",
     dict(kind="task", job_id="job1", task_id="t1", task_dir=TASK_DIR,
          hosts=("127.0.0.2", "127.0.0.3"), is_master=False),
     {**ALWAYS, **job_vars("t1", str(TASK_DIR)),
      "AZ_BATCH_TASK_SHARED_DIR": str(TASK_DIR),
      "AZ_BATCH_HOST_LIST": "127.0.0.2,127.0.0.3",
      "AZ_BATCH_NODE_LIST": "127.0.0.2;127.0.0.3",
      "AZ_BATCH_MASTER_NODE": "127.0.0.2:6000",
      "AZ_BATCH_IS_CURRENT_NODE_MASTER": "false"}),
]


def context(**kw) -> TaskContext:
    base = dict(pool_id="pool1", node_id="tvm-000001", is_dedicated=True, node_root=ROOT, attempt_uid="a-1")
    return TaskContext(**{**base, **kw})


@pytest.mark.parametrize("name,kw,expected", CASES, ids=[c[0] for c in CASES])
def test_system_variables_table(name, kw, expected):
    result = task_environment(context(**kw))
    assert result.env == expected
    assert result.ignored == ()


def test_layers_later_wins_and_system_not_overridable():
    result = task_environment(context(
        kind="task", job_id="job1", task_id="t1", task_dir=TASK_DIR,
        base_env={"PATH": "/bin", "A": "base", "B": "base", "HOME": "/h"},
        common_env={"A": "job", "B": "job", "AZ_BATCH_NODE_ID": "evil", "WATASK_PORTRANGE_LOW": "1"},
        task_env={"B": "task", "AZ_BATCH_TASK_ID": "evil", "POOLSCALE_ATTEMPT": "evil"},
    ))
    env = result.env
    assert (env["PATH"], env["HOME"], env["A"], env["B"]) == ("/bin", "/h", "job", "task")
    assert env["AZ_BATCH_NODE_ID"] == "tvm-000001"
    assert env["AZ_BATCH_TASK_ID"] == "t1"
    assert env["POOLSCALE_ATTEMPT"] == "a-1"
    assert "WATASK_PORTRANGE_LOW" not in env
    assert result.ignored == ("AZ_BATCH_NODE_ID", "WATASK_PORTRANGE_LOW", "AZ_BATCH_TASK_ID", "POOLSCALE_ATTEMPT")


def test_engine_environment_does_not_leak_batch_names():
    # poolscale itself running inside an Azure Batch task: the outer node's names must not reach
    # a local task, even those the local task does not get (job prep dir, host list, port range).
    outer = {"AZ_BATCH_JOB_PREP_DIR": "/outer", "AZ_BATCH_HOST_LIST": "10.0.0.1", "AZ_BATCH_CUSTOM": "x",
             "WATASK_PORTRANGE_HIGH": "9", "KEEP": "1"}
    env = task_environment(context(kind="starttask", task_dir=ROOT / "startup", base_env=outer)).env
    assert env["KEEP"] == "1"
    assert not set(outer) - {"KEEP"} & set(env)


def test_table_shape():
    names = [v.name for v in SYSTEM_VARIABLES]
    assert len(names) == len(set(names)) == len(SYSTEM_NAMES)
    assert not set(NOT_SET) & SYSTEM_NAMES
    assert all(v.when for v in SYSTEM_VARIABLES)  # the docs table reads it


@pytest.mark.parametrize("kw", [dict(kind="starttask", job_id="j"), dict(kind="task"), dict(kind="other", job_id="j")])
def test_invalid_contexts(kw):
    with pytest.raises(ValueError):
        context(task_dir=TASK_DIR, **kw)


def test_the_docs_list_every_system_variable_as_the_table_says():
    # docs/running-locally.md "Environment variables" is this table in words: same names, same
    # order, the same "when" sentence; a variable added or reworded here must be written there.
    page = (Path(__file__).resolve().parent.parent / "docs" / "running-locally.md").read_text("utf-8")
    section = page.split("\n## Environment variables\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ", 1) for line in section.splitlines() if line.startswith("| `")]
    documented = [(name.strip("| `"), when.rstrip(" |")) for name, when in rows]
    assert documented == [(v.name, v.when) for v in SYSTEM_VARIABLES]


def test_real_process_sees_exactly_the_built_environment(tmp_path):
    task_dir = tmp_path / "workitems/job1/job-1/t1"
    (task_dir / "wd").mkdir(parents=True)
    built = task_environment(context(kind="task", job_id="job1", task_id="t1", task_dir=task_dir,
                                     node_root=tmp_path, base_env={"PATH": "/usr/bin:/bin"},
                                     task_env={"GREETING": "hello world"}))
    handle = ProcessExecutor().start(AttemptSpec("env -0", task_dir, built.env))
    result = handle.wait(10)
    assert result is not None and result.exit_code == 0
    seen = dict(item.split("=", 1) for item in (task_dir / "stdout.txt").read_text().split("\0") if item)
    assert seen == built.env
    assert seen["GREETING"] == "hello world"
    assert seen["AZ_BATCH_TASK_WORKING_DIR"] == str(task_dir / "wd")


def test_a_job_schedule_jobs_task_runs_in_its_schedule_directory(tmp_path):
    # The directory layer and the environment split the job id alike: a real process of job
    # nightly:job-2 runs in workitems/nightly/job-2/<task>/wd and sees the 2015 names split.
    from poolscale.runtime.service.local.nodedirs import NodeDirectories

    dirs = NodeDirectories(tmp_path / "nodes")
    try:
        root = dirs.create("pool1", "tvm-000001")
        task_dir = dirs.task_dir("pool1", "tvm-000001", "nightly:job-2", "t1")
        (task_dir / "wd").mkdir(parents=True)
        built = task_environment(context(kind="task", job_id="nightly:job-2", task_id="t1", task_dir=task_dir,
                                         node_root=root, base_env={"PATH": "/usr/bin:/bin"}))
        handle = ProcessExecutor().start(AttemptSpec("sh -c 'pwd -P; env -0'", task_dir, built.env))
        result = handle.wait(10)
        assert result is not None and result.exit_code == 0
        cwd, env_text = (task_dir / "stdout.txt").read_text().split("\n", 1)
        seen = dict(item.split("=", 1) for item in env_text.split("\0") if item)
        assert cwd == str(root / "workitems" / "nightly" / "job-2" / "t1" / "wd")
        assert {k: seen[k] for k in ("AZ_BATCH_JOB_ID", "WATASK_WORKITEM_NAME", "WATASK_JOB_NAME",
                                     "AZ_BATCH_TASK_DIR")} == {
            "AZ_BATCH_JOB_ID": "nightly:job-2", "WATASK_WORKITEM_NAME": "nightly", "WATASK_JOB_NAME": "job-2",
            "AZ_BATCH_TASK_DIR": str(root / "workitems" / "nightly" / "job-2" / "t1")}
    finally:
        dirs.close()
