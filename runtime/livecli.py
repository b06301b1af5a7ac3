"""What ``poolscale run`` needs beside ``simcli``: runnable inputs, the live run, the prediction.

``poolscale run`` reads its pool and jobs exactly as ``simulate`` does (``simcli.load_inputs``:
same files, same ``file:line`` errors), runs the jobs for real
(:class:`~.service.workloadrun.WorkloadRun`), and then simulates the same pool and jobs with
each task lasting what it measured (:func:`~poolscale.scheduler.measured.measured_workload`):
the distance between the two reports is the prediction error a user of ``simulate`` can expect.
This module prints nothing but the progress display (on standard error).
"""

from __future__ import annotations

import math
from typing import Any

from .cli import UsageError
from .simcli import FormulaChoice, SimInputs

__all__ = ["runnable_notes", "run_pool", "prediction_pool", "predict", "prediction_rows",
           "run_document", "SIMULATOR_ONLY_FIELDS"]

#: task fields the simulator reads and a real run ignores (a process has its own duration and
#: exit code, and its own use of memory, disk and network)
SIMULATOR_ONLY_FIELDS = (("duration", "duration"), ("exit_codes", "exitCodes"),
                         ("profile", "profile"))


def _job_path(data: Any, j: int) -> list:
    """The path of job ``j`` in the jobs document (a ``{"tasks": [...]}`` file is one job: its
    root)."""
    if isinstance(data, list):
        return [j]
    if isinstance(data, dict) and "jobs" in data:
        return ["jobs", j]
    return []


def runnable_notes(inputs: SimInputs) -> list[str]:
    """Refuse (exit 2) a workload that cannot run for real: one with no command lines (CSV,
    SWF, a generator), an id that breaks the Batch rule, or a task without ``commandLine``
    (named by ``file:line``). Returns a
    note when tasks give fields only the simulator reads, and drops ``load_inputs``'s note on
    tasks without a duration (a real task needs none)."""
    from poolscale.scheduler.documents import parse_document, read_text

    from .simcli import _no_duration_note

    # a task without a duration is the rule here, not a slip: its process decides
    dropped = set(_no_duration_note(inputs.workload))
    inputs.notes[:] = [n for n in inputs.notes if n not in dropped]
    path = inputs.workload_path
    if inputs.workload_kind in ("csv", "swf", "generator"):
        raise UsageError(f"{path}: a {inputs.workload_kind} workload has no command lines to "
                         "run: give a JSON or YAML file of jobs whose tasks have a commandLine")
    _check_ids(inputs)
    jobs = inputs.workload.jobs
    missing = [(j, t) for j, job in enumerate(jobs) for t, task in enumerate(job.tasks)
               if not task.command_line.strip()]
    missing_jm = [j for j, job in enumerate(jobs)
                  if job.job_manager_task is not None
                  and not job.job_manager_task.command_line.strip()]
    if missing or missing_jm:
        text = read_text(path)
        data = parse_document(text, path)
        if missing:
            j, t = missing[0]
            doc = _job_path(data, j) + ["tasks", t]
        else:
            doc = _job_path(data, missing_jm[0]) + ["jobManagerTask"]
        more = len(missing) + len(missing_jm) - 1
        also = f" (and {more:,} more task{'s' if more > 1 else ''})" if more else ""
        raise _refusal(path, text, doc, f"commandLine is required to run a task for real{also}")
    given = sorted({shown for job in jobs for task in job.tasks
                    for attr, shown in SIMULATOR_ONLY_FIELDS
                    if attr in task.model_fields_set})
    if not given:
        return []
    return [f"{', '.join(given)} of the tasks {'is' if len(given) == 1 else 'are'} for the "
            "simulator only: a real run measures what each process does"]


def _refusal(path: str, text: str, doc: list, message: str) -> UsageError:
    """``file:line: field: message`` for the value at ``doc`` in the file's ``text``."""
    from poolscale.scheduler.documents import field_path, locate

    line = locate(text, doc)
    where = path if line is None else f"{path}:{line}"
    field = field_path(doc)
    return UsageError(f"{where}: {field}: {message}" if field else f"{where}: {message}")


def _check_ids(inputs: SimInputs) -> None:
    """The pool's, jobs' and tasks' ids by the Batch rule: they name the nodes' directories
    (the simulator, which touches no disk, takes any id). The first that breaks it is a usage
    error at its line."""
    from poolscale.scheduler.documents import parse_document, read_text

    from .service.ids import InvalidId, check_id

    try:
        check_id(inputs.pool.id)
    except InvalidId as e:
        text = read_text(inputs.pool_path)
        data = parse_document(text, inputs.pool_path)
        doc = ["pool", "id"] if isinstance(data, dict) and "pool" in data else ["id"]
        raise _refusal(inputs.pool_path, text, doc, e.reason) from None
    for j, job in enumerate(inputs.workload.jobs):
        tasks = ([("jobManagerTask", job.job_manager_task)] if job.job_manager_task else []) \
            + list(enumerate(job.tasks))
        for where, item in [(None, job), *tasks]:
            try:
                check_id(item.id)
            except InvalidId as e:
                text = read_text(inputs.workload_path)
                data = parse_document(text, inputs.workload_path)
                doc = _job_path(data, j)
                if where is not None:
                    doc = doc + (["jobManagerTask"] if where == "jobManagerTask"
                                 else ["tasks", where])
                raise _refusal(inputs.workload_path, text, doc + ["id"], e.reason) from None


def refuse_never_placed(inputs: SimInputs, tasks: list) -> None:
    """A usage error at the first task of ``tasks`` (``WorkloadRun.never_placed``): no node
    of the pool can hold it, so a real run would never end."""
    if not tasks:
        return
    from poolscale.scheduler.documents import parse_document, read_text

    first = tasks[0]
    j = next(i for i, job in enumerate(inputs.workload.jobs) if job.id == first.job.id)
    job = inputs.workload.jobs[j]
    path = inputs.workload_path
    text = read_text(path)
    doc = _job_path(parse_document(text, path), j)
    if first.is_jm:
        doc = doc + ["jobManagerTask"]
    else:
        doc = doc + ["tasks", next(i for i, t in enumerate(job.tasks) if t.id == first.id)]
    slots = inputs.pool.task_slots_per_node
    more = len(tasks) - 1
    also = f" (and {more:,} more task{'s' if more > 1 else ''})" if more else ""
    why = (f"requiredSlots {first.slots} is more than the pool's taskSlotsPerNode ({slots})"
           if first.slots > slots else "a multi-instance task this pool cannot host")
    raise _refusal(path, text, doc, f"{why}: no node can ever run it, and the run would never "
                   f"end{also}")


def run_pool(inputs: SimInputs, choice: FormulaChoice) -> Any:
    """The pool to run: the file's, with the formula of ``--formula`` when one is given."""
    if choice.path is None or choice.text is None or choice.path.endswith("#/autoScaleFormula"):
        return inputs.pool
    return inputs.pool.model_copy(update={"enable_auto_scale": True,
                                          "auto_scale_formula": choice.text})


def prediction_pool(pool: Any, settings: Any) -> Any:
    """``pool`` as the simulator should see the local account: nodes allocated and booted
    after the account's delays (0: at once, the default), within its core quotas and its
    cap on local nodes, instead of the cloud's times and limits in the pool's ``simulation``;
    and no horizon, since the real run ended when its workload drained."""
    from poolscale.scheduler.models import Constant

    sim = pool.simulation.model_copy(update={
        "allocation_time": Constant(value=settings.allocation_delay),
        "boot_time": Constant(value=settings.boot_delay),
        "horizon": None,              # a real run ends when its workload drains
        "dedicated_core_quota": settings.dedicated_core_quota,
        "low_priority_core_quota": settings.low_priority_core_quota,
        "max_nodes_per_kind": min(pool.simulation.max_nodes_per_kind, settings.max_local_nodes),
    })
    return pool.model_copy(update={"simulation": sim})


def predict(inputs: SimInputs, choice: FormulaChoice, settings: Any, events: list) -> Any:
    """What the simulator predicts for the same pool, formula and jobs, each task lasting the
    mean of its measured attempts and exiting with their codes (a SimulationResult)."""
    from poolscale.scheduler.autopooled import with_auto_pool
    from poolscale.scheduler.measured import measured_workload
    from poolscale.scheduler.simulate import simulate

    workload = measured_workload(inputs.workload, events)
    pool = prediction_pool(inputs.pool, settings)
    if inputs.pool_place:                    # the jobs make their pool: adjust theirs
        workload, pool = with_auto_pool(workload, pool), None
    try:
        return simulate(pool, workload, choice.formula, start=inputs.start, seed=inputs.seed)
    except ValueError as e:
        raise UsageError(f"cannot simulate the prediction: {e}") from None


def _hours(v: Any) -> str:
    return "-" if v is None else f"{v:.4f}"


def _seconds(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.2f} s"


def _error(e: Any) -> str:
    return "-" if e is None else f"{100 * e:+.1f} %"


#: the prediction block's rows: label, key in prediction_error's result, how a value is shown
_PREDICTION_ROWS = (
    ("node-hours dedicated", "node_hours", _hours),
    ("node-hours low-priority", "low_priority_node_hours", _hours),
    ("makespan", "makespan_seconds", _seconds),
    ("wait p95", "wait_p95_seconds", _seconds),
)


def prediction_rows(error: dict, measured: dict, predicted: dict) -> list[tuple]:
    """The prediction table: ``(section, label, measured, predicted, error)`` rows; the task
    counts' error is the difference (they should agree)."""
    rows = []
    for label, key, show in _PREDICTION_ROWS:
        e = error[key]
        if key == "low_priority_node_hours" and not e["measured"] and not e["predicted"]:
            continue
        rows.append(("figures", label, show(e["measured"]), show(e["predicted"]),
                     _error(e["error"])))
    for key in ("succeeded", "failed"):
        m, p = measured["tasks"][key], predicted["tasks"][key]
        rows.append(("tasks", key, f"{m:,}", f"{p:,}", f"{p - m:+,}"))
    return rows


def run_document(inputs: SimInputs, choice: FormulaChoice, *, scale: float, notes: list[str],
                 measured: dict, predicted: dict | None, error: dict | None,
                 interrupted: bool) -> dict:
    """What ``--report-json`` and ``--json`` write: the inputs, the measured report, the
    predicted one and the error of each figure (``predicted``/``error`` null when the run was
    interrupted: a partial run predicts nothing)."""
    from .simcli import _clean

    return _clean({
        "inputs": {
            "pool": inputs.pool_path, "jobs": inputs.workload_path, "formula": choice.path,
            "start": inputs.start, "seed": inputs.seed, "scale": scale,
            "notes": inputs.notes + list(notes),
        },
        "interrupted": interrupted,
        "measured": measured,
        "predicted": predicted,
        "error": error,
    })
