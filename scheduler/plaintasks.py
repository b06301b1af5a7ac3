"""Tasks of the plain, common shape, built without pydantic's per-field machinery.

Validating a :class:`~.models.TaskSpec` runs about ten validators, several in Python (nulls and
ignored REST properties dropped, ``exitCode`` folded, times and durations read, the defaults
deep-copied): about 25 µs a task, so a 100,000-task file took longer to read than to simulate.
Almost every task of a real workload is plain: an id, perhaps a command line, a submit time, a
duration, slots and exit codes, each a string or number in range. For such a task the readers
check those values here, by the model's own rules (a number's range inlined, a written time or
duration through the model's own validators), and build the TaskSpec directly; the tests
(tests/test_workload_fast.py) hold the two ways equal, field by field, value type and fields
set included.

Anything else (another field, a value of another type or out of range) is no fast path's to
judge: :func:`build_workload` then validates that task through the model, and when anything in
the document is wrong it validates the whole document as before, so every error, and its
count of other problems, is the model's own, word for word. The CSV and SWF readers do the
same with :func:`task_from_fields`, their own cell-by-cell reading giving their messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .limits import MAX_SECONDS
from .models import (
    AbsoluteTime, JobSpec, TaskConstraints, TaskSpec, Workload, _seconds, _sim_time,
    one_job, validate_workload,
)

__all__ = ["plain_task", "task_from_fields", "task_from_rest", "build_workload", "progress_step"]

if TYPE_CHECKING:
    from .workload import Progress

#: The least and the most an integer of the fast paths may be (a 64-bit integer, as every
#: integer of the Batch REST API is); any other goes through the model.
INT_LOW, INT_HIGH = -(1 << 63), (1 << 63) - 1

#: The fields a CSV row or an SWF record gives, as ``TaskSpec(**fields)`` records them set.
_READER_FIELDS = frozenset(("id", "submit_time", "duration", "required_slots", "exit_codes"))

_new = object.__new__
_set = object.__setattr__
_DEFAULT_CONSTRAINTS: TaskConstraints | None = None


def plain_task(task_id: str, submit_time: float | AbsoluteTime, duration: float, slots: int,
               exit_codes: list[int], given: frozenset[str], command_line: str = "") -> TaskSpec:
    """The TaskSpec pydantic would build from these values, which the caller has checked by
    the model's rules: ``submit_time`` a float in [0, MAX_SECONDS] or an AbsoluteTime,
    ``duration`` a float in [0, MAX_SECONDS], ``slots`` an int in [1, 2^63), ``exit_codes`` a
    new non-empty list of ints. ``given`` names the fields the input set (``fields_set``).

    Fields are in the model's order, as its ``__dict__`` holds them; the default constraints
    are one shared TaskConstraints (the model is frozen, so no task can change them)."""
    global _DEFAULT_CONSTRAINTS
    constraints = _DEFAULT_CONSTRAINTS
    if constraints is None:
        constraints = _DEFAULT_CONSTRAINTS = TaskConstraints()
    task = _new(TaskSpec)
    _set(task, "__dict__", {
        "id": task_id, "command_line": command_line, "required_slots": slots,
        "constraints": constraints, "exit_conditions": None, "depends_on": None,
        "environment_settings": [], "multi_instance_settings": None, "affinity_info": None,
        "resource_files": [], "output_files": [], "submit_time": submit_time, "duration": duration, "exit_codes": exit_codes,
        "profile": None,
    })
    _set(task, "__pydantic_fields_set__", set(given))
    _set(task, "__pydantic_extra__", None)
    _set(task, "__pydantic_private__", None)
    return task


def task_from_fields(fields: dict) -> TaskSpec | None:
    """``TaskSpec(**fields)`` for the fields a CSV row or an SWF record gives (``id``,
    ``submit_time``, ``duration``, ``required_slots``, ``exit_codes``; the reader has read
    each), when each is plain and within the model's bounds; None otherwise (a profile, a
    value past a bound), and the model builds the task or words the error."""
    if len(fields) != 5:
        return None
    submit, duration = fields["submit_time"], fields["duration"]
    slots, codes = fields["required_slots"], fields["exit_codes"]
    if type(submit) is float:
        if not 0.0 <= submit <= MAX_SECONDS:
            return None
    elif type(submit) is not AbsoluteTime:
        return None
    if type(duration) is not float or not 0.0 <= duration <= MAX_SECONDS:
        return None
    if type(slots) is not int or not 1 <= slots <= INT_HIGH or type(codes) is not list or not codes:
        return None
    for code in codes:
        if type(code) is not int or not INT_LOW <= code <= INT_HIGH:
            return None
    return plain_task(fields["id"], submit, duration, slots, codes, _READER_FIELDS)


def _fields_of_rest() -> dict[str, str]:
    return {info.alias or name: name for name, info in TaskSpec.model_fields.items()}


#: A task's REST property -> its field, for the properties the fast path reads.
_PLAIN_PROPERTIES = {alias: name for alias, name in _fields_of_rest().items()
                     if name in ("id", "command_line", "required_slots", "submit_time",
                                 "duration", "exit_codes")}
#: The REST properties of a task the model drops unread (read-only state, files, identity).
_IGNORED = TaskSpec.IGNORED


def task_from_rest(data: Any) -> TaskSpec | None:
    """The TaskSpec of a decoded REST task (``{"id", "commandLine", "submitTime", "duration",
    "requiredSlots", "exitCodes"}``, null and ignored properties dropped as the model drops
    them), or None when the task is not plain or not valid: the model then decides."""
    if type(data) is not dict:
        return None
    if None in data.values():      # a null property is dropped, as if left out
        data = {key: value for key, value in data.items() if value is not None}
    given = _GIVEN.get(tuple(data))
    if given is None:
        given = _given(data)
        if given is None:
            return None
    get = data.get
    task_id = get("id")
    command_line = get("commandLine", "")
    if type(task_id) is not str or type(command_line) is not str:
        return None
    slots = get("requiredSlots", 1)
    if type(slots) is not int or not 1 <= slots <= INT_HIGH:
        return None
    submit = get("submitTime", 0.0)
    kind = type(submit)
    if kind is float or kind is int:       # _sim_time's rule for a number, inlined
        if not 0.0 <= submit <= MAX_SECONDS:
            return None
        submit = float(submit)
    else:
        try:
            submit = _sim_time(submit)
        except ValueError:
            return None
        if type(submit) is float:
            if not 0.0 <= submit <= MAX_SECONDS:
                return None
        elif type(submit) is not AbsoluteTime:
            return None
    duration = get("duration", 0.0)
    kind = type(duration)
    if kind is float or kind is int:       # _seconds' rule for a number, inlined
        if not 0.0 <= duration <= MAX_SECONDS:
            return None
        duration = float(duration)
    else:
        try:
            duration = _seconds(duration)
        except ValueError:
            return None
        if type(duration) is not float or not 0.0 <= duration <= MAX_SECONDS:
            return None
    codes = get("exitCodes")
    if codes is None:
        codes = [0]
    else:
        if type(codes) is not list or not codes:
            return None
        for code in codes:
            if type(code) is not int or not INT_LOW <= code <= INT_HIGH:
                return None
        codes = list(codes)
    return plain_task(task_id, submit, duration, slots, codes, given, command_line)


#: The properties of a plain task, in the order of a file's keys -> the fields they set.
_GIVEN: dict[tuple, frozenset[str]] = {}


def _given(data: dict) -> frozenset[str] | None:
    """The fields a task of these properties sets, or None when one is not the fast path's
    (another field, or a field by its snake_case name); the REST properties the model ignores
    set none. Remembered by the keys' order: a file's tasks mostly share one."""
    names = []
    for key in data:
        name = _PLAIN_PROPERTIES.get(key)
        if name is not None:
            names.append(name)
        elif key not in _IGNORED:
            return None
    if len(_GIVEN) < 64:
        _GIVEN[tuple(data)] = frozenset(names)
    return frozenset(names)


def _jobs_of(data: Any) -> list | None:
    """The job documents of a workload document, as ``models.load_workload`` reads its
    shapes (a bare list of jobs, ``{"jobs": [...]}`` perhaps beside ``jobSchedules``,
    ``{"tasks": [...]}`` for one job ``job-1``); None for any other document, which the model
    judges."""
    if isinstance(data, list):
        return data
    if one_job(data):
        job = dict(data)
        job.setdefault("id", "job-1")
        return [job]
    if isinstance(data, dict) and data and set(data) <= {"jobs", "jobSchedules"} \
            and isinstance(data.get("jobs", []), list):
        return data.get("jobs", [])
    return None


def _tasks_of(jobs: list) -> int | None:
    """How many tasks the jobs list, or None when a job or its task list is not a plain
    dict and list (the model judges those)."""
    total = 0
    for job in jobs:
        if type(job) is not dict:
            return None
        tasks = job.get("tasks", [])
        if type(tasks) is not list:
            return None
        total += len(tasks)
    return total


def progress_step(total: int) -> int:
    """Report every hundredth of the tasks (at least every task of a small workload)."""
    return max(1, total // 100)


def build_workload(data: Any, progress: Progress | None = None) -> Workload:
    """The :class:`Workload` of a decoded workload document, equal to what
    ``models.validate_workload`` makes of it, and the same pydantic ValidationError when the
    document is wrong. ``progress(done, total)`` is told
    the tasks built, every hundredth of them and at the end."""
    from pydantic import ValidationError

    jobs = _jobs_of(data)
    total = None if jobs is None else _tasks_of(jobs)
    if jobs is None or total is None:
        return validate_workload(data)
    step = progress_step(total)
    done = 0
    built: list[JobSpec] = []
    try:
        for job in jobs:
            tasks: list[TaskSpec] = []
            append = tasks.append
            for item in job.get("tasks", ()):
                task = task_from_rest(item)
                append(task if task is not None else TaskSpec.model_validate(item))
                done += 1
                if progress is not None and done % step == 0:
                    progress(done, total)
            built.append(JobSpec.model_validate({**job, "tasks": tasks} if "tasks" in job else job))
        # the schedules are few and small: the model reads them, and the ids they share with
        # the jobs (Workload._unique)
        doc: dict[str, Any] = {"jobs": built}
        if isinstance(data, dict) and "jobSchedules" in data:     # the fields the file sets
            doc = {"jobSchedules": data["jobSchedules"]}
            if "jobs" in data:
                doc["jobs"] = built
        workload = Workload.model_validate(doc)
    except ValidationError:
        return validate_workload(data)      # raises: the whole document's errors, as ever
    if progress is not None and done % step:
        progress(done, total)
    return workload

