"""The environment of a task process on a local node, as Azure Batch builds it.

``task_environment()`` is a pure function (no disk, no clock) so that the executor, recovery
and the documentation can all be checked against one table, :data:`SYSTEM_VARIABLES`.

Layers, later wins:

1. the engine's own environment (``os.environ`` when the engine runs), *minus* every
   ``AZ_BATCH_*`` and ``WATASK_*`` name: poolscale may itself run inside a Batch task, and a
   local task must not see the outer node's ids and directories;
2. the job's ``commonEnvironmentSettings``;
3. the task's ``environmentSettings``;
4. the system variables. They cannot be overridden: a user layer that names one is ignored for
   that name, and the name is returned in ``ignored`` so the engine can record a warning on the
   task (the REST view returns the user's settings unchanged).

Why a table and not a chain of ``if``: the documentation page lists the variables from the same
table, and a test compares what a real process sees with it, so the three cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from poolscale.runtime.service.ids import JOB_SEGMENT, split_job_id

__all__ = ["JOB_SEGMENT", "MASTER_PORT", "ATTEMPT_MARKER", "TASK_KINDS", "TaskContext", "Variable",
           "SYSTEM_VARIABLES", "SYSTEM_NAMES", "NOT_SET", "TaskEnvironment", "system_variables",
           "task_environment"]

#: Port of ``AZ_BATCH_MASTER_NODE`` on multi-instance tasks.
MASTER_PORT = 6000

#: Internal marker carried by every process of an attempt, so that recovery can find the
#: processes a killed service left behind even before their pid reached the store.
ATTEMPT_MARKER = "POOLSCALE_ATTEMPT"

#: Task kinds. The start task has no job; preparation and release have fixed task ids.
TASK_KINDS = ("task", "jobmanager", "starttask", "jobpreparation", "jobrelease")


@dataclass(frozen=True)
class TaskContext:
    """Everything the environment of one attempt depends on (all paths absolute).

    ``task_dir`` is the task's directory (``stdout.txt``, ``stderr.txt``, ``wd/``); the
    working directory is always ``task_dir / "wd"``. ``job_prep_dir`` is set only when the job
    has a preparation task. ``hosts`` (IPs, master first) is set only for a multi-instance task.
    ``certificates_dir`` (``AZ_BATCH_CERTIFICATES_DIR``) only on a pool that references
    certificates.
    """

    pool_id: str
    node_id: str
    is_dedicated: bool
    node_root: Path
    task_dir: Path
    attempt_uid: str
    kind: str = "task"
    job_id: str | None = None
    task_id: str | None = None
    account_name: str = "poolscale"
    account_url: str | None = None
    job_prep_dir: Path | None = None
    hosts: Sequence[str] = ()
    is_master: bool = False
    certificates_dir: Path | None = None
    base_env: Mapping[str, str] = field(default_factory=dict)
    common_env: Mapping[str, str] = field(default_factory=dict)
    task_env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ValueError(f"kind must be one of {TASK_KINDS}, not {self.kind!r}")
        if self.kind == "starttask" and self.job_id is not None:
            raise ValueError("a start task belongs to no job")
        if self.kind != "starttask" and self.job_id is None:
            raise ValueError(f"a {self.kind} needs a job_id")


def _job_task(c: TaskContext) -> bool:
    return c.kind != "starttask"


def _task_id(c: TaskContext) -> str:
    if c.kind in ("jobpreparation", "jobrelease"):
        return c.kind
    assert c.task_id is not None, "a job task needs a task_id"
    return c.task_id


@dataclass(frozen=True)
class Variable:
    """One system variable: its name, when it is set, and its value (``None`` = not set)."""

    name: str
    when: str  # a sentence for the docs table
    value: Callable[[TaskContext], str | None]


def _if(cond: Callable[[TaskContext], bool], value: Callable[[TaskContext], str]) -> Callable[[TaskContext], str | None]:
    return lambda c: value(c) if cond(c) else None


_multi = lambda c: bool(c.hosts)  # noqa: E731
_prep = lambda c: _job_task(c) and c.job_prep_dir is not None  # noqa: E731

#: Every system variable, in the order the docs list them.
SYSTEM_VARIABLES: tuple[Variable, ...] = (
    Variable("AZ_BATCH_ACCOUNT_NAME", "always", lambda c: c.account_name),
    Variable("AZ_BATCH_ACCOUNT_URL", "only when an account URL is configured", lambda c: c.account_url),
    Variable("AZ_BATCH_POOL_ID", "always", lambda c: c.pool_id),
    Variable("AZ_BATCH_NODE_ID", "always", lambda c: c.node_id),
    Variable("AZ_BATCH_NODE_IS_DEDICATED", "always", lambda c: "true" if c.is_dedicated else "false"),
    Variable("AZ_BATCH_NODE_ROOT_DIR", "always", lambda c: str(c.node_root)),
    Variable("AZ_BATCH_NODE_SHARED_DIR", "always", lambda c: str(c.node_root / "shared")),
    Variable("AZ_BATCH_NODE_STARTUP_DIR", "always", lambda c: str(c.node_root / "startup")),
    Variable("AZ_BATCH_NODE_MOUNTS_DIR", "always", lambda c: str(c.node_root / "fsmounts")),
    Variable("AZ_BATCH_TASK_DIR", "always", lambda c: str(c.task_dir)),
    Variable("AZ_BATCH_TASK_WORKING_DIR", "always", lambda c: str(c.task_dir / "wd")),
    Variable("AZ_BATCH_CERTIFICATES_DIR", "on a pool with certificate references: `certs/` in "
             "the task directory, holding them", lambda c: None if c.certificates_dir is None
             else str(c.certificates_dir)),
    Variable("AZ_BATCH_JOB_ID", "job tasks (not the start task): the full job id, colon included "
             "for a job schedule's job", _if(_job_task, lambda c: str(c.job_id))),
    Variable("AZ_BATCH_TASK_ID", "job tasks; `jobpreparation` / `jobrelease` for those", _if(_job_task, _task_id)),
    Variable("AZ_BATCH_JOB_PREP_DIR", "job tasks of a job with a preparation task",
             _if(_prep, lambda c: str(c.job_prep_dir))),
    Variable("AZ_BATCH_JOB_PREP_WORKING_DIR", "job tasks of a job with a preparation task",
             _if(_prep, lambda c: str(Path(str(c.job_prep_dir)) / "wd"))),
    Variable("AZ_BATCH_TASK_SHARED_DIR", "multi-instance tasks: the task directory on each node",
             _if(_multi, lambda c: str(c.task_dir))),
    Variable("AZ_BATCH_HOST_LIST", "multi-instance tasks: `ip,ip,...`", _if(_multi, lambda c: ",".join(c.hosts))),
    Variable("AZ_BATCH_NODE_LIST", "multi-instance tasks: `ip;ip;...`", _if(_multi, lambda c: ";".join(c.hosts))),
    Variable("AZ_BATCH_MASTER_NODE", f"multi-instance tasks: `ip:{MASTER_PORT}` of the master",
             _if(_multi, lambda c: f"{c.hosts[0]}:{MASTER_PORT}")),
    Variable("AZ_BATCH_IS_CURRENT_NODE_MASTER", "multi-instance tasks",
             _if(_multi, lambda c: "true" if c.is_master else "false")),
    # The 2015 names (work items became jobs; "TVM" became node).
    Variable("WATASK_ACCOUNT_NAME", "always (= AZ_BATCH_ACCOUNT_NAME)", lambda c: c.account_name),
    Variable("WATASK_POOL_NAME", "always (= AZ_BATCH_POOL_ID)", lambda c: c.pool_id),
    Variable("WATASK_TVM_NAME", "always (= AZ_BATCH_NODE_ID)", lambda c: c.node_id),
    Variable("WATASK_TVM_ROOT_DIR", "always (= AZ_BATCH_NODE_ROOT_DIR)", lambda c: str(c.node_root)),
    # A job schedule's job <scheduleId>:job-<n> is job n of work item <scheduleId>, as in 2015.
    Variable("WATASK_WORKITEM_NAME", "job tasks: the job id (= AZ_BATCH_JOB_ID) for a plain job, "
             "`<scheduleId>` for job `<scheduleId>:job-<n>` of a job schedule",
             _if(_job_task, lambda c: split_job_id(c.job_id)[0])),
    Variable("WATASK_JOB_NAME", f"job tasks: `{JOB_SEGMENT}` for a plain job, `job-<n>` for job "
             "`<scheduleId>:job-<n>` of a job schedule (the directory under "
             "`workitems/<WATASK_WORKITEM_NAME>/`)",
             _if(_job_task, lambda c: split_job_id(c.job_id)[1])),
    Variable("WATASK_TASK_NAME", "job tasks (= AZ_BATCH_TASK_ID)", _if(_job_task, _task_id)),
    Variable(ATTEMPT_MARKER, "always; internal, used only to find processes left by a killed service",
             lambda c: c.attempt_uid),
)

SYSTEM_NAMES: frozenset[str] = frozenset(v.name for v in SYSTEM_VARIABLES)

#: Never set (no ports are reserved), and removed from the engine's environment like the rest.
NOT_SET: tuple[str, ...] = ("WATASK_PORTRANGE_LOW", "WATASK_PORTRANGE_HIGH")

_INHERITED_PREFIXES = ("AZ_BATCH_", "WATASK_")


@dataclass(frozen=True)
class TaskEnvironment:
    env: dict[str, str]
    ignored: tuple[str, ...]  # user-set names dropped because they are system variables


def system_variables(c: TaskContext) -> dict[str, str]:
    """The system layer alone: name → value for every variable set in this context."""
    out: dict[str, str] = {}
    for v in SYSTEM_VARIABLES:
        value = v.value(c)
        if value is not None:
            out[v.name] = value
    return out


def task_environment(c: TaskContext) -> TaskEnvironment:
    """The full environment of one attempt (layers in the module docstring)."""
    env = {k: v for k, v in c.base_env.items()
           if not k.startswith(_INHERITED_PREFIXES) and k not in SYSTEM_NAMES}
    ignored: list[str] = []
    for layer in (c.common_env, c.task_env):
        for k, v in layer.items():
            if k in SYSTEM_NAMES or k in NOT_SET:
                if k not in ignored:
                    ignored.append(k)
                continue
            env[k] = v
    env.update(system_variables(c))
    return TaskEnvironment(env, tuple(ignored))
