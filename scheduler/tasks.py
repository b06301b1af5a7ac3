"""Jobs and tasks as the engine holds them
(docs/simulation-model.md#jobs, docs/simulation-model.md#tasks).

These are slotted records built once from the pydantic specs, so the hot paths read plain
attributes. A job manager is a :class:`Task` with ``is_jm`` set
(docs/simulation-model.md#job-manager-task: it is a task of its job
and counts as one). Exit options are resolved by :func:`exit_actions`
(docs/simulation-model.md#exit-conditions).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from typing import Any, Callable, Iterable

from .limits import RETRIES_AT_ONE_INSTANT
from .models import ExitConditions, JobSpec, TaskSpec

__all__ = [
    "ACTIVE", "PREPARING", "RUNNING", "COMPLETED", "SUCCESS", "FAILURE",
    "JOB_PENDING", "JOB_ACTIVE", "JOB_DISABLED", "JOB_TERMINATING", "JOB_COMPLETED",
    "MIN_FAILED_ATTEMPT", "UNLIMITED", "WALL_CLOCK_EXIT_CODE", "Task", "Job", "exit_actions", "expand_parents",
    "stretches_failures", "int_ids", "parents_named",
]

ACTIVE = "active"
PREPARING = "preparing"
RUNNING = "running"
COMPLETED = "completed"

SUCCESS = "success"
FAILURE = "failure"

JOB_PENDING = "pending"          # in the workload, not yet created
JOB_ACTIVE = "active"
JOB_DISABLED = "disabled"
JOB_TERMINATING = "terminating"
JOB_COMPLETED = "completed"

#: ``maxTaskRetryCount`` −1: retry without limit.
UNLIMITED = -1
#: A failing attempt (task, start task, preparation) that may be retried without limit, or more
#: than limits.RETRIES_AT_ONE_INSTANT times, lasts at least this long (choice): a zero-length
#: command that always fails would otherwise be retried forever (or 2^31 times) at one instant
#: and the clock would never move. With a smaller retry count the attempts keep their length,
#: zero included, as the Batch service does (docs/simulation-model.md).
MIN_FAILED_ATTEMPT = 1.0

#: The exit code of a task stopped by its ``maxWallClockTime``: 0xC000013A, the Windows
#: STATUS_CONTROL_C_EXIT the service reports for a task it ended, as the int32 the REST API
#: writes. Exit conditions can match it (docs/simulation-model.md#attempts-exit-codes-and-retries).
WALL_CLOCK_EXIT_CODE = -1073741510


def stretches_failures(max_retry: int) -> bool:
    """Whether a failing attempt with this ``maxTaskRetryCount`` lasts at least
    MIN_FAILED_ATTEMPT: retried without limit (-1) or more than RETRIES_AT_ONE_INSTANT times."""
    return not 0 <= max_retry <= RETRIES_AT_ONE_INSTANT
_NODE_ID = re.compile(r"tvm-(\d+)")
#: an id that a ``taskIdRanges`` entry can name: an integer as ``str(int)`` writes it
_INT_ID = re.compile(r"-?(0|[1-9][0-9]*)")


class Task:
    __slots__ = (
        "id", "job", "seq", "slots", "inst", "duration", "exit_codes", "max_retry", "wall",
        "retention", "exit_conditions", "depends", "affinity", "is_jm", "jm_spec", "submit_at",
        "share", "mem", "disk", "io",
        "state", "retry_count", "requeue_count", "recovery_count", "attempt", "node", "nodes",
        "submit_time", "first_start", "start_time", "attempt_end", "end_time", "exit_code", "result",
        "failure", "pending", "blocked", "qtoken", "dep_satisfies", "ran_before", "was_requeued",
        "last_nodes", "accepted", "gkey", "assign_no", "prep_wait", "simple", "always_ok",
    )

    id: str
    job: Job
    seq: int
    slots: int
    inst: int
    duration: float
    exit_codes: tuple[int, ...]
    max_retry: int
    wall: Any
    retention: Any
    exit_conditions: ExitConditions | None
    depends: list[str] | None
    affinity: int | None
    is_jm: bool
    jm_spec: Any
    submit_at: float
    share: float
    mem: float
    disk: float
    io: tuple[float, ...] | None
    state: str | None
    retry_count: int
    requeue_count: int
    recovery_count: int
    attempt: int
    # set while the task is assigned, or once it has run (None before): typed loosely so the
    # engine's hot paths need no narrowing at every use
    node: Any
    nodes: Any
    submit_time: Any
    first_start: Any
    start_time: Any
    attempt_end: Any
    end_time: Any
    exit_code: int | None
    result: str | None
    failure: tuple[str, str] | None     # (category, code), as the REST failureInfo
    pending: int
    blocked: bool
    qtoken: int
    dep_satisfies: bool
    ran_before: bool
    was_requeued: bool
    last_nodes: Any
    accepted: bool
    gkey: int | None
    assign_no: int
    prep_wait: int
    simple: bool
    always_ok: bool

    def __init__(self, job: Job, spec: Any, seq: int, *, slots_per_node: int,
                 is_jm: bool = False) -> None:
        # Built once per task of the workload (10^5 in a week of a busy pool), so the plain
        # spec (no multi-instance, dependency, affinity, exit conditions or profile) takes the
        # shortest path; every field is still set, as __slots__ requires.
        self.job = job
        self.id = spec.id
        self.seq = seq
        self.is_jm = is_jm
        slots = self.slots = spec.required_slots
        self.duration = spec.duration
        codes = spec.exit_codes
        self.exit_codes = codes = tuple(codes)
        c = spec.constraints
        retry = c.max_task_retry_count
        self.max_retry = job.max_retry if retry is None else retry
        self.wall = c.max_wall_clock_time
        self.retention = c.retention_time
        self.submit_at = 0.0
        p = spec.profile
        if is_jm:
            self.jm_spec = spec
            self.inst = 1
            self.exit_conditions = self.depends = self.affinity = None
            simple = False
        else:
            self.jm_spec = None
            mi = spec.multi_instance_settings
            self.inst = 1 if mi is None else mi.number_of_instances
            conditions = self.exit_conditions = spec.exit_conditions
            self.depends = (None if spec.depends_on is None
                            else (expand_parents(spec, job.int_task_ids) or None))
            aff = spec.affinity_info
            if aff is None:
                self.affinity = None
            else:
                m = _NODE_ID.fullmatch(aff.affinity_id)
                self.affinity = None if m is None else int(m.group(1))
            # fast-path flag: one instance, not a manager, no I/O or memory profile, no exit
            # conditions (see SchedulerMixin._place_simple and AttemptsMixin._on_exit)
            simple = mi is None and conditions is None
        if p is None:
            self.share = 100.0 * slots / slots_per_node
            self.mem = self.disk = 0.0
            self.io = None
        else:
            self.share = (100.0 * slots / slots_per_node if p.cpu_percent is None
                          else p.cpu_percent)
            self.mem = p.memory_mb
            self.disk = p.disk_gb
            io = (p.disk_read_bytes_per_second, p.disk_write_bytes_per_second,
                  p.disk_read_ops_per_second, p.disk_write_ops_per_second,
                  p.network_in_bytes_per_second, p.network_out_bytes_per_second)
            self.io = io if any(io) else None
            simple = simple and self.io is None and not self.mem and not self.disk
        self.simple = simple
        self.always_ok = not any(codes)
        self.state = self.node = self.nodes = None   # node: the primary node while assigned
        # attempt_end: when the last attempt stopped running; end_time: the task's completion,
        # later when it is killed while waiting or preparing again
        # (docs/simulation-model.md#attempts-exit-codes-and-retries,
        # run_seconds in docs/simulation-model.md#the-report)
        self.submit_time = self.first_start = self.start_time = self.attempt_end = None
        self.end_time = None
        self.exit_code = self.result = self.failure = None   # failure: (category, code)
        self.gkey = None          # placement group (engine), None: never placed
                                  # (docs/simulation-model.md#tasks-that-never-run)
        self.retry_count = self.requeue_count = self.recovery_count = self.attempt = 0
        self.pending = 0          # parents not yet completed
        self.assign_no = self.prep_wait = 0
        self.qtoken = -1
        # blocked: a parent completed without satisfying it, so the task never runs
        self.blocked = self.dep_satisfies = self.ran_before = self.was_requeued = False
        self.accepted = False
        self.last_nodes = ()

    @property
    def key(self) -> str:
        """``job/task``, as the event log and error messages name a task."""
        return f"{self.job.id}/{self.id}"

    def retries_left(self) -> bool:
        return self.max_retry == UNLIMITED or self.retry_count < self.max_retry

    def attempt_exit_code(self) -> int:
        """The exit code of the current attempt
        (docs/simulation-model.md#attempts-exit-codes-and-retries: ``exitCodes`` gives attempt
        1, 2, …; the last repeats). ``attempt`` counts the attempts that started running, so a
        task sent back while it was still preparing has used up no code."""
        codes = self.exit_codes
        i = self.attempt - 1
        return codes[i] if i < len(codes) else codes[-1]

    def __repr__(self) -> str:
        return f"Task({self.key}, {self.state})"


class Job:
    __slots__ = (
        "id", "seq", "spec", "priority", "creation_at", "state", "reason", "tasks", "assigned",
        "groups", "in_queue", "jm", "jm_started", "jm_queued", "max_parallel", "max_retry",
        "wall", "prep", "prep_wait", "release", "terminate_on_all", "exit_job_actions",
        "waiters", "n_releases", "n_excluded", "key", "n_submitted", "n_active", "n_assigned",
        "n_succeeded", "n_failed", "n_ready_inst", "n_ready_slots", "created_at", "ended_at",
        "completed_at", "specs", "by_id", "_ids", "schedule",
    )

    id: str
    seq: int
    spec: Any
    priority: int
    creation_at: Any
    state: str
    reason: Any
    tasks: Any
    by_id: Any
    _ids: Any
    assigned: Any
    groups: Any
    in_queue: bool
    jm: Any
    jm_started: bool
    jm_queued: bool
    max_parallel: Any
    max_retry: int
    wall: Any
    prep: Any
    prep_wait: bool
    release: Any
    terminate_on_all: bool
    exit_job_actions: bool
    waiters: Any
    n_releases: int
    n_excluded: int
    key: Any
    n_submitted: int
    n_active: int
    n_assigned: int
    n_succeeded: int
    n_failed: int
    n_ready_inst: int
    n_ready_slots: int
    created_at: Any
    ended_at: Any
    completed_at: Any
    schedule: str | None

    def __init__(self, spec: JobSpec, seq: int) -> None:
        self.id = spec.id
        self.seq = seq
        self.spec = spec
        self.priority = spec.priority
        self.creation_at = None   # resolved by the engine
        self.state = JOB_PENDING
        self.reason = None
        self.tasks = []            # accepted tasks, in order of acceptance
        self.by_id = None   # accepted tasks by id, made on first use
        self._ids = None
        self.assigned = {}   # tasks preparing or running
        self.groups = {}      # ready tasks: group key -> heap (seq, token, task)
        self.in_queue = False
        self.jm = None
        self.jm_started = False
        self.jm_queued = False
        self.max_parallel = spec.max_parallel_tasks
        self.max_retry = spec.constraints.max_task_retry_count
        self.wall = spec.constraints.max_wall_clock_time
        self.prep = spec.job_preparation_task
        self.prep_wait = self.prep is not None and self.prep.wait_for_success
        self.release = spec.job_release_task
        self.terminate_on_all = spec.on_all_tasks_complete == "terminatejob"
        self.exit_job_actions = spec.on_task_failure == "performexitoptionsjobaction"
        self.waiters = {}
        self.n_releases = 0
        self.n_excluded = 0
        self.key = None
        self.n_submitted = 0
        self.n_active = 0
        self.n_assigned = 0
        self.n_succeeded = 0
        self.n_failed = 0
        self.n_ready_inst = 0
        self.n_ready_slots = 0
        self.created_at = None
        self.ended_at = None
        self.completed_at = None
        self.schedule = None       # the id of the job schedule that made the job, if one did

    def int_task_ids(self) -> list[int]:
        """The job's task ids that a ``taskIdRanges`` entry can name, the manager's and those
        of tasks added by request included, as ascending integers (:func:`int_ids`; made once,
        then kept by RequestsMixin.add_task)."""
        if self._ids is None:
            spec = self.spec
            ids = [t.id for t in spec.tasks]
            if spec.job_manager_task is not None:
                ids.append(spec.job_manager_task.id)
            ids += [t.id for t in self.tasks]
            self._ids = int_ids(ids)
        return self._ids

    def accepted(self, task_id: str) -> "Task | None":
        """The accepted task ``task_id`` (docs/simulation-model.md#dependencies). The index is built
        on the first
        lookup and then kept by :meth:`accept`, so jobs without dependencies never pay for it."""
        by_id = self.by_id
        if by_id is None:
            by_id = self.by_id = {t.id: t for t in self.tasks}
        return by_id.get(task_id)

    def accept(self, task: "Task") -> None:
        self.tasks.append(task)
        if self.by_id is not None:
            self.by_id[task.id] = task

    @property
    def n_completed(self) -> int:
        return self.n_succeeded + self.n_failed

    def has_ready(self) -> bool:
        return bool(self.groups)

    def __repr__(self) -> str:
        return f"Job({self.id}, {self.state})"


def exit_actions(conditions: ExitConditions | None, code: int | None, *,
                 preprocessing: bool = False, upload_failed: bool = False) -> tuple[str, str]:
    """(jobAction, dependencyAction) for a completion with ``code`` (None: a system kill, or
    with ``preprocessing`` a task that could not start: its ``preProcessingError`` options, else
    ``default``), docs/simulation-model.md#exit-conditions. ``upload_failed``: the process
    exited with ``code`` but its output files did not upload (the live engine only): an
    ``exitCodes``/``exitCodeRanges`` entry for the code still wins, else ``fileUploadError``,
    else ``default``, and the defaults are a failure's."""
    opts = None
    if conditions is not None:
        if preprocessing and conditions.pre_processing_error is not None:
            opts = conditions.pre_processing_error
        elif code is not None:
            for m in conditions.exit_codes:
                if m.code == code:
                    opts = m.exit_options
                    break
            else:
                for r in conditions.exit_code_ranges:
                    if r.start <= code <= r.end:
                        opts = r.exit_options
                        break
                else:
                    if upload_failed:
                        opts = conditions.file_upload_error or conditions.default
                    elif code != 0:
                        opts = conditions.default
        else:
            opts = conditions.default
    ok = code == 0 and not upload_failed
    job_action = "none" if ok else "terminate"
    dep_action = "satisfy" if ok else "block"
    if opts is not None:
        job_action = opts.job_action or job_action
        dep_action = opts.dependency_action or dep_action
    return job_action, dep_action


#: A ``taskIdRanges`` entry wider than this is matched against the job's task ids instead of
#: being spelt out id by id (a range may cover 10^9 ids; a job holds far fewer tasks).
EXPAND_LIMIT = 100_000


def int_ids(ids: Iterable[str]) -> list[int]:
    """The ids a ``taskIdRanges`` entry can name, ascending: integers as ``str(int)`` writes
    them (one longer than Python reads, 4,300 digits, is no range's)."""
    return sorted({int(t) for t in ids if len(t) <= 4300 and _INT_ID.fullmatch(t)})


def _inside(ids: list[int], start: int, end: int) -> list[int]:
    return ids[bisect_left(ids, start):bisect_right(ids, end)]


def expand_parents(spec: TaskSpec, job_ids: Callable[[], list[int]] | None = None) -> list[str]:
    """Parent ids named by ``dependsOn``: ``taskIds`` and the integer ids of ``taskIdRanges``.

    ``job_ids()`` gives the job's integer task ids, ascending (:func:`int_ids`; the workload is
    known in advance). A range wider than :data:`EXPAND_LIMIT` becomes the job's ids inside it,
    plus — when some id of the range is no task of the job — the first such id: that parent
    never exists, so the dependent waits for ever (docs/simulation-model.md#dependencies),
    as with the full list. :func:`parents_named` counts the list without making it.
    """
    d = spec.depends_on
    if d is None:
        return []
    parents = list(d.task_ids)
    for r in d.task_id_ranges:
        if r.end - r.start < EXPAND_LIMIT or job_ids is None:
            parents.extend(str(i) for i in range(r.start, r.end + 1))
            continue
        inside = _inside(job_ids(), r.start, r.end)
        parents.extend(str(i) for i in inside)
        if len(inside) < r.end - r.start + 1:
            missing = r.start
            for i in inside:
                if i != missing:
                    break
                missing += 1
            parents.append(str(missing))
    return parents


def parents_named(spec: TaskSpec, job_ids: Callable[[], list[int]]) -> int:
    """``len(expand_parents(spec, job_ids))``, without spelling a range out: what the
    dependency limit counts before anything is built."""
    d = spec.depends_on
    if d is None:
        return 0
    n = len(d.task_ids)
    for r in d.task_id_ranges:
        width = r.end - r.start + 1
        if width <= EXPAND_LIMIT:
            n += width
        else:
            inside = len(_inside(job_ids(), r.start, r.end))
            n += inside + (inside < width)
    return n
