"""Workloads for the simulator: trace readers and seeded generators, all producing a
:class:`~poolscale.scheduler.models.Workload`.

Formats, chosen by the file name (``.gz`` is inflated first):

* ``.json`` / ``.yaml`` / ``.yml`` — jobs with their tasks (``{"jobs": [...]}``, a list of jobs, or
  ``{"tasks": [...]}`` for one job ``job-1``), in the Batch REST shape plus the simulation fields
  ``submitTime``, ``duration``, ``exitCodes``, and job schedules beside or instead of the jobs
  (``{"jobSchedules": [...]}``); or a generator spec ``{"generator": {...}}``.
* ``.csv`` — a header row, then one task per row (:func:`read_csv`).
* ``.swf`` — a Standard Workload Format trace (:func:`read_swf`).

Every reader is pure: no clock, no global randomness (generators take a seed). A problem is one
:class:`~poolscale.scheduler.documents.InputFileError` naming the file, the line and the field.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import math
import os
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from .documents import (
    InputFileError, field_path, from_validation_error, locate, parse_document, read_text,
)
from .durations import bounded_seconds
from .limits import MAX_SECONDS, MAX_TASKS

__all__ = [
    "Progress", "LoadedWorkload", "read_workload", "load_workload_file", "read_csv", "read_swf",
    "generate", "generator_from_data", "GeneratorSpec", "CSV_COLUMNS", "SWF_FIELDS",
    "TooManyTasks",
]

#: ``progress(done, total)``: how many of a file's ``total`` rows, records or tasks are read;
#: called every hundredth of them and at the end, ``done`` growing each time.
Progress = Callable[[int, int], None]

#: CSV columns and their defaults (None: required).
CSV_COLUMNS: dict[str, Any] = {
    "submit_time": None, "duration": None, "slots": 1, "job": "job-1", "priority": 0,
    "exit_code": 0, "id": None,
}

#: The 18 SWF fields, 1-based as in the format's definition; the ones poolscale reads are 1, 2,
#: 4, 5, 7, 8, 11, 12 and 15.
SWF_FIELDS = (
    "job_number", "submit_time", "wait_time", "run_time", "allocated_processors",
    "average_cpu_time", "used_memory", "requested_processors", "requested_time",
    "requested_memory", "status", "user_id", "group_id", "executable", "queue", "partition",
    "preceding_job", "think_time",
)


@dataclass
class LoadedWorkload:
    """A workload and what the reader did that a user should know (skipped or capped records)."""

    workload: Any
    source: str
    kind: str
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# the common path: rows -> Workload
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _gc_paused():
    """Build many models without the cyclic collector. Each of its passes walks every object
    alive, and 100,000 new task models would trigger dozens of them: about 40 % of the build
    time of a large trace. Nothing built here forms a cycle that must be freed meanwhile."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()



def _build(name: str, jobs: dict[str, dict], tasks: dict[str, list]) -> Any:
    """A validated Workload from ``jobs`` (id -> job fields) and ``tasks`` (id -> TaskSpecs)."""
    from pydantic import ValidationError

    from .models import JobSpec, Workload

    built = []
    for job_id, fields in jobs.items():
        try:
            built.append(JobSpec(id=job_id, tasks=tasks[job_id], **fields))
        except ValidationError as e:
            raise from_validation_error(name, None, {}, e) from None
    return Workload(jobs=built)


def _task(name: str, line: int, fields: dict, columns: dict[str, str] | None = None):
    """One validated TaskSpec; an error names ``line`` and the column the field came from."""
    from pydantic import ValidationError

    from .models import TaskSpec

    try:
        return TaskSpec(**fields)
    except ValidationError as e:
        err = e.errors()[0]
        loc = err.get("loc", ())
        key = str(loc[0]) if loc else None
        column = key if key is None else (columns or {}).get(key, key)
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        raise InputFileError(name, msg, line=line, field=column) from None


# --------------------------------------------------------------------------------------------
# the task limit of text files: rows are counted before any is read
# --------------------------------------------------------------------------------------------

#: Where ``str.splitlines`` breaks a line, besides ``\n``: the readers split lines that way.
_OTHER_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_BREAKS = r"\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def _row_pattern(comment: str, lines_end_in_newline: bool) -> re.Pattern:
    """The first character of a row: the first one on its line that is neither white space
    nor ``comment`` (a blank line or a comment is no row). ``^`` of MULTILINE starts a line
    after ``\n`` only; a lookbehind on every break is exact for any text, and slower."""
    start = "^" if lines_end_in_newline else rf"(?:\A|(?<=[{_BREAKS}]))"
    return re.compile(rf"{start}[^\S{_BREAKS}]*[^\s{re.escape(comment)}]", re.MULTILINE)


_ROW = {(c, nl): _row_pattern(c, nl) for c in "#;" for nl in (True, False)}


def _check_rows(text: str, name: str, comment: str, what: str, header: int = 0) -> None:
    """Refuse a text of more than MAX_TASKS rows (plus ``header`` rows) before reading any.

    The line breaks bound the rows from above at the cost of a few ``str.count``; only a text
    with more lines than the limit (a 145 KB gzip holds 20 million) has its rows counted, as
    the readers split and skip them, stopping at the first row past the limit (~0.3 s)."""
    most = MAX_TASKS + header
    others = [c for c in _OTHER_BREAKS if c in text]     # a scan that finds none is quick
    if text.count("\n") + sum(text.count(c) for c in others) < most:
        return
    only_newlines = not others or others == ["\r"] and text.count("\r") == text.count("\r\n")
    rows = _ROW[comment, only_newlines].finditer(text)
    for n, m in enumerate(rows, 1):
        if n > most:
            at = m.start()
            line = 1 + sum(text.count(c, 0, at) for c in "\n" + _OTHER_BREAKS) \
                - text.count("\r\n", 0, at)
            raise InputFileError(
                name, f"more than {MAX_TASKS:,} {what}: a workload holds at most {MAX_TASKS:,} "
                      "tasks (split the file, or take a sample of it)", line=line)


def _check_task_count(data: Any, name: str, text: str) -> None:
    """Refuse a JSON or YAML workload of more than MAX_TASKS tasks (job managers included)
    before validating any: the error names the job whose tasks pass the limit."""
    from .models import one_job

    if isinstance(data, list):
        jobs, prefix = data, []
    elif isinstance(data, dict) and isinstance(data.get("jobs"), list):
        jobs, prefix = data["jobs"], ["jobs"]
    elif one_job(data):
        jobs, prefix = [data], None            # {"tasks": [...]}: one job, the document
    else:
        return
    n = 0
    for i, job in enumerate(jobs):
        if not isinstance(job, dict):
            continue
        tasks = job.get("tasks")
        n += len(tasks) if isinstance(tasks, list) else 0
        n += any(job.get(k) is not None for k in ("jobManagerTask", "job_manager_task"))
        if n > MAX_TASKS:
            path = ["tasks"] if prefix is None else [*prefix, i, "tasks"]
            raise InputFileError(name, f"more than {MAX_TASKS:,} tasks: a workload holds at "
                                       f"most {MAX_TASKS:,}", line=locate(text, path),
                                 field=field_path(path))


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


def _number(name: str, line: int, column: str, text: str, *, integer: bool = False,
            low: float | None = None, high: float | None = None) -> float:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        what = "an integer" if integer else "a number"
        raise InputFileError(name, f"expected {what}, got {text!r}", line=line, field=column) from None
    if not integer and not math.isfinite(value):
        raise InputFileError(name, f"expected a finite number, got {text!r}", line=line, field=column)
    if low is not None and value < low:
        raise InputFileError(name, f"must be at least {low:g}, got {text}", line=line, field=column)
    if high is not None and value > high:
        raise InputFileError(name, f"must be at most {high:g}, got {text}", line=line, field=column)
    return value


def _submit_time(name: str, line: int, text: str):
    """Seconds after the start, or an ISO-8601 instant with a zone (resolved against the
    simulation's start by the engine, see ``models.resolve_time``)."""
    from poolscale.formula.timeparse import parse_iso_time

    from .models import AbsoluteTime

    try:
        seconds = float(text)
    except ValueError:
        ts = parse_iso_time(text)
        if ts is None:
            raise InputFileError(
                name, f"{text!r} is neither seconds after the start nor an ISO-8601 time with "
                      "a zone (2026-03-02T10:00:00Z)", line=line, field="submit_time") from None
        return AbsoluteTime(ts.ticks)
    if not math.isfinite(seconds) or seconds < 0:
        raise InputFileError(name, f"seconds after the start must be 0 or more, got {text}",
                             line=line, field="submit_time")
    return seconds


def _duration(name: str, line: int, text: str) -> float:
    """A ``duration`` cell, read as every duration is (durations.py)."""
    try:
        return bounded_seconds(text)
    except ValueError as e:
        raise InputFileError(name, str(e), line=line, field="duration") from None


def _csv_header(lines: list[tuple[int, str]], name: str) -> tuple[int, list[str]]:
    """The header row's line and its columns, each known, once, the required ones there."""
    if not lines:
        raise InputFileError(name, "empty: expected a header row (submit_time,duration,...)")
    header_line, header_text = lines[0]
    header = [h.strip().lower().replace(" ", "_").replace("-", "_")
              for h in next(csv.reader([header_text]))]
    for col in header:
        if col not in CSV_COLUMNS:
            known = ", ".join(CSV_COLUMNS)
            raise InputFileError(name, f"unknown column {col!r} (known: {known})",
                                 line=header_line, field=col or "(empty)")
    if len(set(header)) != len(header):
        dup = next(c for c in header if header.count(c) > 1)
        raise InputFileError(name, "column appears twice", line=header_line, field=dup)
    for col in ("submit_time", "duration"):
        if col not in header:
            raise InputFileError(name, f"missing required column {col!r}", line=header_line)
    return header_line, header


def _csv_fields(name: str, line: int, n: int, cells: list[str], at: dict[str, int],
                jobs: dict[str, dict], job_lines: dict[str, int]) -> tuple[str, dict]:
    """The job and the task fields of CSV row ``n`` (at ``line``), each cell checked in the
    order a message names the first problem, the row's job registered in ``jobs`` (a job's
    first row sets its priority, a later one must agree).

    The exact reading of any row: every cell through the helper that says what it means or
    what is wrong with it. Most rows take :func:`_plain_csv_row` instead."""
    cell = {col: cells[i].strip() for col, i in at.items()}     # a missing column: ""
    get = lambda col: cell[col] or None  # noqa: E731 - an empty cell takes the default
    for col in ("submit_time", "duration"):
        if get(col) is None:
            raise InputFileError(name, "required, but empty", line=line, field=col)
    job = get("job") or CSV_COLUMNS["job"]
    prio = int(_number(name, line, "priority", get("priority") or "0", integer=True,
                       low=-1000, high=1000))
    _job_priority(name, line, job, prio, jobs, job_lines)
    fields = {
        "id": get("id") or f"task-{n}",
        "submit_time": _submit_time(name, line, cell["submit_time"]),   # non-empty: above
        "duration": _duration(name, line, cell["duration"]),
        "required_slots": int(_number(name, line, "slots", get("slots") or "1",
                                      integer=True, low=1)),
        "exit_codes": [int(_number(name, line, "exit_code", get("exit_code") or "0",
                                   integer=True))],
    }
    return job, fields


def _job_priority(name: str, line: int, job: str, prio: int, jobs: dict[str, dict],
                  job_lines: dict[str, int]) -> None:
    """Register ``job`` at its first row; a later row must give it the same priority."""
    known = jobs.get(job)
    if known is None:
        jobs[job], job_lines[job] = {"priority": prio}, line
    elif known["priority"] != prio:
        raise InputFileError(
            name, f"job {job!r} has priority {known['priority']} on line {job_lines[job]} but "
                  f"{prio} here (priority belongs to the job)", line=line, field="priority")


def _plain_csv_row(cells: list[str], at: dict[str, int]) -> tuple | None:
    """``(job, priority, id or None, submit_time, duration, slots, exit_code)`` of a row
    whose every cell is plain (numbers that ``float`` and ``int`` take and that are in range,
    empty optional cells); None for any other row, which :func:`_csv_fields` reads.

    The values are those :func:`_csv_fields` gives the same row: a plain cell means what
    ``_number`` says, a duration of digits and one point what ``_duration`` says."""
    submit_text = cells[at["submit_time"]].strip()
    duration_text = cells[at["duration"]].strip()
    try:
        submit = float(submit_text)
        prio = int(cells[at["priority"]].strip() or "0")
        slots = int(cells[at["slots"]].strip() or "1")
        code = int(cells[at["exit_code"]].strip() or "0")
    except ValueError:
        return None
    digits = duration_text.replace(".", "", 1)
    if not (digits.isdigit() and digits.isascii() and 0.0 <= submit < math.inf
            and -1000 <= prio <= 1000 and slots >= 1):
        return None
    duration = float(duration_text)
    if duration == math.inf:
        return None             # more digits than a float holds: _number's message
    job = cells[at["job"]].strip() or CSV_COLUMNS["job"]
    return job, prio, cells[at["id"]].strip() or None, submit, duration, slots, code


@_gc_paused()
def read_csv(text: str, name: str = "workload.csv", *,
             progress: Progress | None = None) -> LoadedWorkload:
    """Tasks from CSV text with a header row.

    Columns (any order, case-insensitive): ``submit_time`` (seconds after the simulation start,
    or an ISO-8601 instant with a zone), ``duration`` (seconds, or ``PT5M``), and the optional
    ``slots`` (1), ``job`` (``job-1``), ``priority`` (0; a job's priority, so every row of a job
    must agree), ``exit_code`` (0) and ``id`` (``task-N``, N the row's number). Blank lines and
    lines starting with ``#`` are skipped. Jobs are listed in the order of their first row;
    the engine creates each when its first task is submitted. At most MAX_TASKS rows
    (limits.py), counted before any is read. ``progress(rows read, rows)`` is told every
    hundredth row.

    A plain row (:func:`_plain_csv_row`) is read by ``int`` and ``float`` alone and its task
    built without the model's per-field work (plaintasks.py); any other row is read cell by
    cell (:func:`_csv_fields`) and a task past the model's bounds built by the model, so every
    message is the one the exact reading gives.
    """
    from .plaintasks import progress_step, task_from_fields

    _check_rows(text, name, "#", "rows", header=1)
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines())
             if ln.strip() and not ln.lstrip().startswith("#")]
    header_line, header = _csv_header(lines, name)
    width = len(header)
    # each column's cell; a column the file lacks reads the empty cell each row gets last
    at = {col: header.index(col) if col in header else width for col in CSV_COLUMNS}
    total = len(lines) - 1
    step = progress_step(total)

    jobs: dict[str, dict] = {}
    job_lines: dict[str, int] = {}
    tasks: dict[str, list] = {}
    ids: dict[str, dict[str, int]] = {}
    rows = csv.reader(io.StringIO("\n".join(ln for _, ln in lines[1:])))
    for n, (line, _), row in zip(range(1, total + 1), lines[1:], rows):
        if len(row) != width:
            if len(row) > width:  # fewer is fine: missing trailing cells take defaults
                raise InputFileError(name, f"expected at most {width} fields "
                                           f"({','.join(header)}), got {len(row)}", line=line)
            row += [""] * (width - len(row))
        row.append("")
        plain = _plain_csv_row(row, at)
        if plain is not None:
            job, prio, task_id, submit, duration, slots, code = plain
            _job_priority(name, line, job, prio, jobs, job_lines)
            fields = {"id": task_id or f"task-{n}", "submit_time": submit, "duration": duration,
                      "required_slots": slots, "exit_codes": [code]}
        else:
            job, fields = _csv_fields(name, line, n, row, at, jobs, job_lines)
        task_id = fields["id"]
        seen = ids.get(job)
        if seen is None:
            seen = ids[job] = {}
            tasks[job] = []
        if task_id in seen:
            raise InputFileError(name, f"task id {task_id!r} repeats in job {job!r} "
                                       f"(first on line {seen[task_id]})", line=line, field="id")
        seen[task_id] = line
        tasks[job].append(task_from_fields(fields) or _task(name, line, fields, {"id": "id"}))
        if progress is not None and n % step == 0:
            progress(n, total)
    if not jobs:
        raise InputFileError(name, "no tasks: the file has a header row only",
                             line=header_line)
    if progress is not None and total % step:
        progress(total, total)
    return LoadedWorkload(_build(name, jobs, tasks), name, "csv")


# --------------------------------------------------------------------------------------------
# SWF
# --------------------------------------------------------------------------------------------

#: SWF status (field 11) -> the task's exit code. 1 completed, 0 failed, 5 cancelled; 2, 3, 4
#: are the partial executions of a checkpointed job; -1 is unknown.
SWF_STATUS_EXIT = {1: 0, 2: 0, 3: 0, 4: 0, -1: 0, 0: 1, 5: 1}


#: The SWF field a task field comes from, as an error names it.
_SWF_COLUMNS = {"submit_time": "field 2 (submit_time)", "duration": "field 4 (run_time)",
                "required_slots": "field 5 (allocated_processors)"}


def _swf_job_id(user: int, queue: int) -> str:
    u = f"user-{user}" if user >= 0 else "user-unknown"
    return u if queue < 0 else f"{u}-queue-{queue}"


def _swf_values(name: str, line: int, parts: list[str]) -> list[float]:
    """The 18 numbers of a record, or the error of the first field that is not a finite one."""
    values = []
    for i, p in enumerate(parts):
        try:
            v = float(p)
        except ValueError:
            raise InputFileError(name, f"expected a number, got {p!r}", line=line,
                                 field=f"field {i + 1} ({SWF_FIELDS[i]})") from None
        if not math.isfinite(v):
            raise InputFileError(name, f"expected a finite number, got {p!r}", line=line,
                                 field=f"field {i + 1} ({SWF_FIELDS[i]})")
        values.append(v)
    return values


@_gc_paused()
def read_swf(text: str, name: str = "workload.swf", *, max_slots: int | None = None,
             progress: Progress | None = None) -> LoadedWorkload:
    """Tasks from a Standard Workload Format trace.

    Each record (18 whitespace-separated numbers; ``;`` starts a comment) becomes one task:

    * id ``swf-<field 1, job number>``;
    * ``submitTime`` = field 2 (seconds since the log began: the log's time zero is the
      simulation start);
    * ``duration`` = field 4, run time; a record whose run time is -1 (unknown) is skipped;
    * ``requiredSlots`` = field 5, allocated processors (field 8, requested, when it is -1; 1
      when both are), capped at ``max_slots`` — the pool's ``taskSlotsPerNode`` in the CLI —
      because a task wider than a node would never be placed (and a ``$PendingTasks`` formula
      would keep nodes up for it for ever). A trace's multi-node jobs thus run on one node;
    * ``exitCodes`` from field 11, status: 1 (completed) and 2/3/4 (checkpointed parts) and -1
      (unknown) give 0; 0 (failed) and 5 (cancelled) give 1 (a failed attempt; the default
      ``maxTaskRetryCount`` 0 means it is not retried);
    * ``profile.memoryMB`` = field 7 (KB per processor) × slots / 1024, when field 7 is given;
    * the job: one per user (field 12) and queue (field 15), ``user-3-queue-1`` (``user-3``
      without a queue), priority 0, created at its first task's submission. Fields 3, 6, 9, 10,
      13, 14, 16, 17 and 18 are not used.

    At most MAX_TASKS records (limits.py; skipped ones included), counted before any is read.
    ``progress(lines read, lines)`` is told every hundredth line. A record without a memory
    profile, in the model's bounds, is built without the model's per-field work
    (plaintasks.py).
    """
    from .plaintasks import progress_step, task_from_fields

    _check_rows(text, name, ";", "records")
    jobs: dict[str, dict] = {}
    tasks: dict[str, list] = {}
    skipped = capped = 0
    widest = 0
    seen: set[str] = set()
    lines = text.splitlines()
    step = progress_step(len(lines))
    isfinite = math.isfinite
    for line, raw in enumerate(lines, 1):
        if progress is not None and line % step == 0:
            progress(line, len(lines))
        body = raw.split(";", 1)[0].strip()
        if not body:
            continue
        parts = body.split()
        if len(parts) != 18:
            raise InputFileError(name, f"an SWF record has 18 fields, this one {len(parts)}",
                                 line=line)
        try:
            values = list(map(float, parts))
        except ValueError:
            values = None
        if values is None or not all(map(isfinite, values)):
            values = _swf_values(name, line, parts)     # raises: the first field that is wrong
        run_time = values[3]
        if run_time == -1:
            skipped += 1
            continue
        if run_time < 0:
            raise InputFileError(name, f"run time must be -1 or at least 0, got {parts[3]}",
                                 line=line, field="field 4 (run_time)")
        submit = values[1]
        if submit < 0:
            raise InputFileError(name, f"submit time must be 0 or more, got {parts[1]}",
                                 line=line, field="field 2 (submit_time)")
        procs = int(values[4]) if values[4] > 0 else int(values[7]) if values[7] > 0 else 1
        widest = max(widest, procs)
        slots = procs
        if max_slots is not None and procs > max_slots:
            slots, capped = max_slots, capped + 1
        status = int(values[10])
        if status not in SWF_STATUS_EXIT:
            raise InputFileError(name, f"unknown status {parts[10]} (known: 1, 0, 5, 2, 3, 4, -1)",
                                 line=line, field="field 11 (status)")
        job = _swf_job_id(int(values[11]), int(values[14]))
        task_id = f"swf-{parts[0]}"
        if task_id in seen:
            raise InputFileError(name, f"job number {parts[0]} repeats", line=line,
                                 field="field 1 (job_number)")
        seen.add(task_id)
        fields: dict[str, Any] = {"id": task_id, "submit_time": submit, "duration": run_time,
                                  "required_slots": slots,
                                  "exit_codes": [SWF_STATUS_EXIT[status]]}
        if values[6] > 0:
            fields["profile"] = {"memoryMB": values[6] * slots / 1024}
        if job not in jobs:
            jobs[job], tasks[job] = {}, []
        tasks[job].append(task_from_fields(fields) or _task(name, line, fields, _SWF_COLUMNS))
    if progress is not None and len(lines) % step:
        progress(len(lines), len(lines))
    if not tasks:
        raise InputFileError(name, "no usable records (every record missing or with run time -1)")
    notes = []
    if skipped:
        notes.append(f"skipped {skipped} record{'s' * (skipped > 1)} with run time -1")
    if capped:
        notes.append(f"capped {capped} record{'s' * (capped > 1)} wider than a node to "
                     f"{max_slots} slots (widest: {widest} processors)")
    return LoadedWorkload(_build(name, jobs, tasks), name, "swf", notes)


# --------------------------------------------------------------------------------------------
# generators
# --------------------------------------------------------------------------------------------

_GENERATOR_MODELS = None


def _generator_models():
    """The pydantic models of a generator spec, built on first use (pydantic stays lazy)."""
    global _GENERATOR_MODELS
    if _GENERATOR_MODELS is not None:
        return _GENERATOR_MODELS
    from typing import Annotated, Literal, Union

    from pydantic import BaseModel, ConfigDict, Field, model_validator
    from pydantic.alias_generators import to_camel

    from .models import Constant, Distribution, OptionalSeconds, Seconds

    class _Spec(BaseModel):
        model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True,
                                  extra="forbid", frozen=True, allow_inf_nan=False)

    class SlotChoice(_Spec):
        values: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1)]
        weights: list[Annotated[float, Field(ge=0)]] | None = None

        @model_validator(mode="after")
        def _same_length(self):
            if self.weights is not None and len(self.weights) != len(self.values):
                raise ValueError("slots.weights needs one weight per value")
            if self.weights is not None and sum(self.weights) <= 0:
                raise ValueError("slots.weights must not all be 0")
            return self

    class Burst(_Spec):
        at: Seconds
        size: Annotated[int, Field(ge=1)]
        width: Seconds = 60.0

    class PeriodicBursts(_Spec):
        every: Seconds
        size: Annotated[int, Field(ge=1)]
        width: Seconds = 60.0
        first: Seconds | None = None

        @model_validator(mode="after")
        def _positive(self):
            if self.every <= 0:
                raise ValueError("bursts.every must be greater than 0")
            return self

    class GeneratorSpec(_Spec):
        kind: Literal["poisson", "diurnal", "bursts"]
        seed: int | None = None
        rate_per_hour: Annotated[float, Field(ge=0)] = 0.0
        count: Annotated[int, Field(ge=1)] | None = None
        horizon: OptionalSeconds = None
        duration: Distribution = Field(default_factory=lambda: Constant(value=300.0))
        slots: Union[Annotated[int, Field(ge=1)], SlotChoice] = 1
        failure_probability: Annotated[float, Field(ge=0, le=1)] = 0.0
        failure_exit_code: int = 1
        priority: Annotated[int, Field(ge=-1000, le=1000)] = 0
        tasks_per_job: Annotated[int, Field(ge=1)] | None = None
        job_prefix: str = "job"
        peak_hour: Annotated[float, Field(ge=0, lt=24)] = 14.0
        amplitude: Annotated[float, Field(ge=0, le=1)] = 0.8
        bursts: Union[PeriodicBursts, list[Burst], None] = None

        @model_validator(mode="after")
        def _consistent(self):
            if self.kind in ("poisson", "diurnal") and self.rate_per_hour <= 0:
                raise ValueError(f"a {self.kind} generator needs ratePerHour > 0")
            if self.kind == "bursts" and self.bursts is None:
                raise ValueError("a bursts generator needs bursts (a list, or every/size)")
            if self.kind != "bursts" and self.bursts is not None:
                raise ValueError("bursts belongs to kind: bursts")
            periodic = isinstance(self.bursts, PeriodicBursts)
            if self.count is None and self.horizon is None and (self.rate_per_hour > 0 or periodic):
                raise ValueError("give count (tasks) or horizon (how long arrivals go on)")
            return self

    _GENERATOR_MODELS = GeneratorSpec
    return GeneratorSpec


def __getattr__(attr: str):  # GeneratorSpec is built lazily, so pydantic is not imported early
    if attr == "GeneratorSpec":
        return _generator_models()
    raise AttributeError(attr)


def _start_hour(start: Any) -> float:
    """Hour of day (UTC) of the simulation start; 0 (midnight) when none is given."""
    if start is None:
        return 0.0
    if isinstance(start, str):
        from poolscale.formula.timeparse import parse_iso_time

        ts = parse_iso_time(start)
        if ts is None:
            raise ValueError(f"start {start!r} is not an ISO-8601 time with a zone")
        start = ts
    if hasattr(start, "ticks"):  # a Timestamp
        return (start.ticks % (86_400 * 10_000_000)) / (3_600 * 10_000_000)
    if isinstance(start, datetime):
        s = start.astimezone(timezone.utc) if start.tzinfo else start
        return s.hour + s.minute / 60 + (s.second + s.microsecond / 1e6) / 3600
    raise TypeError(f"start must be an ISO string, a datetime or a Timestamp, not {type(start).__name__}")


class TooManyTasks(ValueError):
    """A generator spec that makes more than MAX_TASKS tasks; ``field`` is the key (snake_case)
    that asks for them."""

    def __init__(self, message: str, field: str | None) -> None:
        super().__init__(message)
        self.field = field


def _about(n: float) -> str:
    """A number of tasks as a message says it: ``168,000,000``, ``8.64e+13``."""
    return f"{n:,.0f}" if n < 1e15 else f"{n:.3g}" if n < math.inf else "more than 1e+308"


def _check_planned(spec) -> None:
    """Refuse, before drawing anything, a spec that makes more than MAX_TASKS tasks: the
    arrivals at the rate (``count``, or ``ratePerHour`` x ``horizon``) and every burst's
    arrivals, which are all drawn before the count and the horizon cut them."""
    horizon, count, rate = spec.horizon, spec.count, spec.rate_per_hour
    at_rate = 0.0
    if rate > 0:
        at_rate = math.inf if horizon is None else rate * (horizon / 3600.0)
        if count is not None and count <= at_rate:
            if count > MAX_TASKS:
                raise TooManyTasks(f"{_about(count)} tasks: a workload holds at most "
                                   f"{MAX_TASKS:,}", "count")
            at_rate = count
        elif at_rate > MAX_TASKS:
            raise TooManyTasks(f"{rate:g} an hour for {horizon:g} s make about "
                               f"{_about(at_rate)} tasks: a workload holds at most {MAX_TASKS:,}",
                               "rate_per_hour")
    bursts = spec.bursts
    in_bursts: float = 0
    if isinstance(bursts, list):
        in_bursts = sum(b.size for b in bursts)
    elif bursts is not None:
        first = bursts.first if bursts.first is not None else bursts.every
        if horizon is not None:
            windows = max(0.0, math.ceil((horizon - first) / bursts.every)) \
                if (horizon - first) / bursts.every < 1e18 else math.inf
        else:
            windows = -(-count // bursts.size)     # count is given (the spec's own check)
        in_bursts = windows * bursts.size
    if in_bursts > MAX_TASKS or at_rate + in_bursts > MAX_TASKS:
        raise TooManyTasks(f"the bursts make {_about(in_bursts)} tasks"
                           + (f", besides about {_about(at_rate)} at the rate" if at_rate else "")
                           + f": a workload holds at most {MAX_TASKS:,}", "bursts")


def _arrivals(spec, rng: random.Random, start: Any) -> list[float]:
    """Arrival instants (seconds after the start), ascending, before horizon and count cuts.
    More than MAX_TASKS of them raise :class:`TooManyTasks` (a Poisson count can pass an
    expected number under the limit); :func:`_check_planned` has refused larger plans."""
    horizon = spec.horizon
    # without a horizon arrivals still stop at the longest duration: no submit time is later
    limit = horizon if horizon is not None else MAX_SECONDS
    count = spec.count if spec.count is not None else math.inf
    most = min(count, MAX_TASKS + 1)
    out: list[float] = []
    rate = spec.rate_per_hour / 3600.0
    if rate > 0:
        if spec.kind == "diurnal":
            # Lewis–Shedler thinning of a homogeneous process at the peak rate.
            peak, amp, h0 = spec.peak_hour, spec.amplitude, _start_hour(start)
            top = rate * (1 + amp)
            t = 0.0
            while len(out) < most:
                t += rng.expovariate(top)
                if t >= limit:
                    break
                hour = (h0 + t / 3600.0) % 24
                if rng.random() * (1 + amp) < 1 + amp * math.cos(2 * math.pi * (hour - peak) / 24):
                    out.append(t)
        else:
            t = 0.0
            while len(out) < most:
                t += rng.expovariate(rate)
                if t >= limit:
                    break
                out.append(t)
        if len(out) > MAX_TASKS:
            raise TooManyTasks(f"more than {MAX_TASKS:,} tasks arrived at the rate: a workload "
                               f"holds at most {MAX_TASKS:,}", "rate_per_hour")
    bursts = spec.bursts
    if bursts is not None:
        if isinstance(bursts, list):
            windows = [(b.at, b.size, b.width) for b in bursts]
        else:
            windows, at = [], bursts.first if bursts.first is not None else bursts.every
            end = limit if horizon is not None else at + bursts.every * math.ceil(count / bursts.size)
            while at < end:
                windows.append((at, bursts.size, bursts.width))
                at += bursts.every
        for at, size, width in windows:
            if len(out) + size > MAX_TASKS:
                raise TooManyTasks(f"the bursts make more than {MAX_TASKS:,} tasks: a workload "
                                   f"holds at most {MAX_TASKS:,}", "bursts")
            out.extend(at + rng.random() * width for _ in range(size))
        out = sorted(t for t in out if t < limit)
    return out if count == math.inf else out[: int(count)]


def _rounded(seconds: float) -> float:
    """To the millisecond, as a generator writes times, and never past the longest duration
    (which rounding up could pass)."""
    r = round(seconds, 3)
    return r if r <= MAX_SECONDS else MAX_SECONDS


@_gc_paused()
def generate(spec: Any, *, seed: int = 0, start: Any = None) -> Any:
    """A Workload from a generator spec (a ``GeneratorSpec`` or its mapping).

    A spec that makes more than MAX_TASKS tasks (limits.py) raises :class:`TooManyTasks`, a
    ValueError, before anything is drawn. The spec's own ``seed`` wins over ``seed``. ``start`` (ISO string, datetime or Timestamp)
    places the diurnal peak: the rate follows ``ratePerHour × (1 + amplitude × cos(2π (h −
    peakHour) / 24))``, h the UTC hour of day of the arrival.
    """
    from .models import TaskSpec
    from .plaintasks import task_from_fields

    model = _generator_models()
    if not isinstance(spec, model):
        spec = model.model_validate(spec)
    _check_planned(spec)
    rng = random.Random(spec.seed if spec.seed is not None else seed)
    times = _arrivals(spec, rng, start)
    per_job = spec.tasks_per_job or max(1, len(times))
    slot_values, slot_weights = ([spec.slots], None) if isinstance(spec.slots, int) else \
        (spec.slots.values, spec.slots.weights)
    jobs: dict[str, dict] = {}
    tasks: dict[str, list] = {}
    width = len(str(len(times)))
    for i, t in enumerate(times):
        job = f"{spec.job_prefix}-{i // per_job + 1}"
        if job not in jobs:
            jobs[job], tasks[job] = {"priority": spec.priority}, []
        slots = slot_values[0] if len(slot_values) == 1 else \
            rng.choices(slot_values, weights=slot_weights)[0]
        fail = spec.failure_probability > 0 and rng.random() < spec.failure_probability
        fields: dict[str, Any] = {
            "id": f"task-{i + 1:0{width}d}", "submit_time": _rounded(t),
            "duration": _rounded(spec.duration.sample(rng)), "required_slots": slots,
            "exit_codes": [spec.failure_exit_code if fail else 0]}
        tasks[job].append(task_from_fields(fields) or TaskSpec(**fields))
    return _build("generator", jobs, tasks)


def _generator_error(name: str, text: str, spec: dict, e: TooManyTasks) -> InputFileError:
    """The file error of a generator past the task limit, at the key as the file spells it."""
    key = e.field
    if key is not None and key not in spec:
        camel = key.split("_")[0] + "".join(w.title() for w in key.split("_")[1:])
        key = camel if camel in spec else None
    path = ["generator"] + ([key] if key else [])
    return InputFileError(name, str(e), line=locate(text, path), field=field_path(path))


def generator_from_data(data: Any, name: str, text: str | None = None):
    """The validated generator spec under a document's ``generator`` key."""
    from pydantic import ValidationError

    try:
        return _generator_models().model_validate(data.get("generator"))
    except ValidationError as e:
        raise from_validation_error(name, text, data.get("generator"), e,
                                    prefix=["generator"]) from None


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------


def _kind(name: str) -> str:
    base = name[:-3] if name.endswith(".gz") else name
    ext = os.path.splitext(base)[1].lower()
    kinds = {".csv": "csv", ".swf": "swf", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}
    if ext not in kinds:
        raise InputFileError(name, f"unknown workload format {ext or '(no extension)'!r}: use "
                                   ".csv, .swf, .json, .yaml or .yml (optionally .gz)")
    return kinds[ext]


@_gc_paused()
def load_workload_file(path: str | os.PathLike, *, seed: int = 0, start: Any = None,
                       max_slots: int | None = None,
                       progress: Progress | None = None) -> LoadedWorkload:
    """Read any workload file (see the module doc). ``seed`` and ``start`` feed generators;
    ``max_slots`` caps SWF records (pass the pool's ``taskSlotsPerNode``). ``progress(done,
    total)`` hears how many of a file's rows, records or tasks are read, every hundredth of
    them (the command line draws it; a generator's tasks are not counted)."""
    from pydantic import ValidationError

    from .models import load_workload, one_job

    name = os.fspath(path)
    kind = _kind(name)
    text = read_text(name)
    if kind == "csv":
        return read_csv(text, name, progress=progress)
    if kind == "swf":
        return read_swf(text, name, max_slots=max_slots, progress=progress)
    data = parse_document(text, name)
    if isinstance(data, dict) and "generator" in data:
        extra = sorted(set(data) - {"generator"})
        if extra:
            raise InputFileError(name, "a generator file holds only the generator key",
                                 field=extra[0], line=None)
        spec = generator_from_data(data, name, text)
        try:
            loaded = LoadedWorkload(generate(spec, seed=seed, start=start), name, "generator")
        except TooManyTasks as e:
            raise _generator_error(name, text, data["generator"], e) from None
        n = loaded.workload.task_count
        loaded.notes.append(f"generated {n:,} task{'s' if n != 1 else ''} "
                            f"({spec.kind}, seed {spec.seed if spec.seed is not None else seed})")
        return loaded
    if data is None:
        raise InputFileError(name, "empty workload file")
    if isinstance(data, dict) and not {"jobs", "tasks", "jobSchedules"} & set(data):
        raise InputFileError(name, "no workload: expected a 'jobs' list, a 'tasks' list, a "
                                   "'jobSchedules' list or a 'generator'")
    _check_task_count(data, name, text)
    try:
        loaded = LoadedWorkload(load_workload(data, progress), name, kind)
    except ValidationError as e:
        # load_workload wraps a bare list of jobs as {"jobs": [...]} and a {"tasks": [...]} job
        # as {"jobs": [job]}; the error path is cut back to what is in the file.
        if isinstance(data, list):
            doc, strip = {"jobs": data}, 1
        elif one_job(data):
            doc, strip = {"jobs": [data]}, 2
        else:
            doc, strip = data, 0
        raise from_validation_error(name, text, doc, e, strip=strip) from None
    except ValueError as e:
        raise InputFileError(name, str(e)) from None
    if not loaded.workload.task_count and not loaded.workload.job_schedules:
        raise InputFileError(name, "no tasks")   # as for a CSV or SWF file without any
    return loaded


def read_workload(path: str | os.PathLike, *, seed: int = 0, start: Any = None,
                  max_slots: int | None = None) -> Any:
    """The Workload in a file (:func:`load_workload_file` without the notes)."""
    return load_workload_file(path, seed=seed, start=start, max_slots=max_slots).workload
