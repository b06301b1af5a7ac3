"""What ``poolscale simulate`` and ``poolscale compare`` share: options, inputs, running.

Inputs are read once and every problem with them is a :class:`~.cli.UsageError` (exit 2)
naming the file, line and field; a formula that does not compile is rendered with its caret and
gives exit 1. This module prints nothing itself except the progress display on standard error
(progress.py).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence

from .cli import UsageError, read_formula

__all__ = ["SimInputs", "load_inputs", "FormulaChoice", "load_formula", "check_outputs",
           "run_simulation", "parse_horizon", "report_document", "json_text"]

#: the file types matplotlib writes (``--plot`` picks one by the file's extension)
_PLOT_TYPES = ("png", "svg", "pdf", "jpg", "jpeg", "webp", "tif", "tiff", "eps", "ps", "svgz")


def check_outputs(**paths: str | None) -> None:
    """Refuse, before any simulating, an output path that cannot be written: a directory, a
    missing parent directory, or a plot type matplotlib does not write. ``paths`` maps an option
    name (``report_json``) to its value."""
    from pathlib import Path

    from .simview import picture_type

    for option, path in paths.items():
        if not path:
            continue
        flag = "--" + option.replace("_", "-")
        p = Path(path)
        if p.is_dir():
            raise UsageError(f"{flag}: {path} is a directory")
        if not p.parent.is_dir():
            raise UsageError(f"{flag}: the directory {p.parent} does not exist")
        if option == "plot" and picture_type(path) not in _PLOT_TYPES:
            raise UsageError(f"{flag}: {path} needs a picture type by its extension: "
                             + ", ".join("." + t for t in _PLOT_TYPES[:4]) + " ...")


def parse_horizon(text: str) -> float:
    """Seconds from ``PT36H`` / ``P7D`` (ISO-8601), ``36h`` / ``90m`` / ``7d``, or ``3600``."""
    from poolscale.scheduler.simulate import horizon_seconds

    try:
        return horizon_seconds(text)
    except ValueError as e:
        raise UsageError(f"--horizon: {e}") from None


@dataclass
class SimInputs:
    pool: Any
    pool_path: str
    workload: Any
    workload_path: str
    workload_kind: str
    notes: list[str]
    start: str
    horizon: float | None
    seed: int
    #: where in the workload file the pool is written, when the workload's jobs make it
    #: (poolInfo.autoPoolSpecification, no --pool); "" for a pool file
    pool_place: str = ""

    @property
    def pool_line(self) -> str:
        """``pool <name> (<vmSize>, <n> slots per node)``, the first words of a report's
        header; an auto pool is named for where it comes from (its id is made per job)."""
        from .simview import counted

        name = "made by the workload's jobs" if self.pool_place else self.pool.id
        return (f"pool {name} ({self.pool.vm_size}, "
                f"{counted(self.pool.task_slots_per_node, 'slot')} per node)")

    @property
    def run_pool(self) -> Any:
        """The pool to give the simulator: None when the workload's jobs make their own."""
        return None if self.pool_place else self.pool


def load_inputs(args: argparse.Namespace, progress: str = "off") -> SimInputs:
    """Pool and workload files, start, horizon and seed, resolved as the engine will;
    ``progress`` is the mode of the display while the workload is read (progress.py)."""
    from poolscale.formula.timeparse import parse_iso_time
    from poolscale.formula.values import Timestamp, format_timestamp
    from poolscale.scheduler.documents import InputFileError, read_pool
    from poolscale.scheduler.models import absolute_instants
    from poolscale.scheduler.simulate import start_text
    from poolscale.scheduler.workload import load_workload_file

    from .progress import ProgressDisplay

    if args.start is not None and parse_iso_time(args.start.strip()) is None:
        if re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+", args.start.strip()):
            raise UsageError(f"--start: {args.start!r} needs a time zone (Z or +hh:mm)")
        raise UsageError(f"--start: cannot parse {args.start!r} (use e.g. 2026-03-02T00:00:00Z)")
    horizon = parse_horizon(args.horizon) if args.horizon is not None else None
    try:
        pool = None if args.pool is None else read_pool(args.pool)
    except InputFileError as e:
        raise UsageError(str(e)) from None
    start, seed = _start_and_seed(args, pool)
    display = ProgressDisplay(f"reading {args.workload}", "", progress)
    try:
        loaded = load_workload_file(args.workload, seed=seed, start=start,
                                    max_slots=None if pool is None else pool.task_slots_per_node,
                                    progress=display)
    except InputFileError as e:
        raise UsageError(str(e)) from None
    finally:
        display.close()
    place = ""
    if pool is None:
        # no pool file: the workload's jobs make their pool (a JSON/YAML workload, whose
        # reading took no seed, start or slots from a pool)
        pool, place = _auto_pool(loaded.workload, args.workload)
        start, seed = _start_and_seed(args, pool)
    sim = pool.simulation
    if horizon is None:
        horizon = sim.horizon
    notes = list(loaded.notes)
    instants = absolute_instants(loaded.workload)
    if instants and args.start is None and sim.start is None:
        start = start_text(min(instants))     # as the engine picks it, to the tick
    elif instants:
        start_ticks = parse_iso_time(start).ticks
        early = [t for t in instants if t < start_ticks]
        if early:
            notes.append(f"{len(early):,} submit or creation time{'s' if len(early) > 1 else ''} "
                         f"before the start (the earliest {format_timestamp(Timestamp(min(early)))})"
                         f" count{'' if len(early) > 1 else 's'} as the start")
    slots = pool.task_slots_per_node
    wide = sum(1 for job in loaded.workload.jobs for t in job.tasks if t.required_slots > slots)
    if wide:
        notes.append(f"{wide:,} task{'s' if wide > 1 else ''} need{'' if wide > 1 else 's'} more "
                     f"than taskSlotsPerNode ({slots}) slots and can never run")
    if loaded.kind not in ("csv", "swf", "generator"):     # their tasks always have one
        notes.extend(_no_duration_note(loaded.workload))
    return SimInputs(pool, args.pool or args.workload, loaded.workload, args.workload,
                     loaded.kind, notes, start, horizon, seed, place)


def _start_and_seed(args: argparse.Namespace, pool: Any) -> tuple[str, int]:
    """The run's start and seed: the options, else the pool's ``simulation`` section (when
    there is a pool yet), else the defaults."""
    from poolscale.scheduler.simulate import DEFAULT_START

    sim = None if pool is None else pool.simulation
    start = (args.start or (sim and sim.start) or DEFAULT_START).strip()
    seed = args.seed if args.seed is not None else (
        sim.seed if sim is not None and sim.seed is not None else 0)
    return start, seed


def _auto_pool(workload: Any, path: str) -> tuple[Any, str]:
    """The pool the workload's jobs make, and where it is written; a usage error when they
    make none, or more than the simulator's one pool."""
    from poolscale.scheduler.autopooled import auto_pool_place, find_auto_pool

    try:
        spec = find_auto_pool(workload)
    except ValueError as e:
        raise UsageError(f"{path}: {e}") from None
    if spec is None:
        raise UsageError(f"--pool is needed: the jobs of {path} make no pool "
                         "(poolInfo.autoPoolSpecification)")
    return spec.pool, auto_pool_place(workload) or ""


def _no_duration_note(workload: Any) -> list[str]:
    """A note on the tasks (and job manager tasks) that give no ``duration``: the model runs
    them for 0 s, which a user who forgot the field would otherwise learn only from a report
    of instant tasks."""
    missing = [(job.id, task.id) for job in workload.jobs
               for task in ([job.job_manager_task] if job.job_manager_task else []) + job.tasks
               if "duration" not in task.model_fields_set]
    if not missing:
        return []
    job, task = missing[0]
    n = len(missing)
    which = f"job {job!r}, task {task!r}" if n == 1 else f"the first: job {job!r}, task {task!r}"
    return [f"{n:,} task{'s have' if n > 1 else ' has'} no duration and "
            f"run{'' if n > 1 else 's'} for 0 s ({which}); give "
            f"{'each' if n > 1 else 'it'} a duration such as 600 or PT10M"]


@dataclass
class FormulaChoice:
    """A formula to simulate with: its label (for tables and plots), source path and the
    compiled Formula; ``formula`` None means a fixed pool (no autoscale)."""

    label: str
    path: str | None
    formula: Any = None
    text: str | None = None
    warnings: list = field(default_factory=list)


def load_formula(path: str | None, inputs: SimInputs) -> FormulaChoice | int:
    """The formula of ``--formula`` (or the pool's own when ``path`` is None), compiled; on a
    compile error the rendered diagnostic is printed and the exit status (1) is returned."""
    from poolscale.formula import FormulaError, compile_formula

    from .cli import EXIT_FINDINGS

    if path is None:
        pool = inputs.pool
        if not pool.enable_auto_scale:
            return FormulaChoice(label="fixed pool", path=None)
        text = pool.auto_scale_formula or ""
        where = f"{inputs.pool_path}#{inputs.pool_place}/autoScaleFormula"  # as check names it
        label = "pool formula"
    else:
        text = read_formula(path)
        where = "<stdin>" if path == "-" else path
        label = where
    try:
        formula = compile_formula(text)
    except FormulaError as e:
        sys.stderr.write(e.render(where) + "\n")   # stdout is the report (--json included)
        return EXIT_FINDINGS
    return FormulaChoice(label=label, path=where, formula=formula, text=text,
                         warnings=list(formula.warnings))


def run_simulation(inputs: SimInputs, choice: FormulaChoice, *, progress: str = "auto",
                   log_events: bool = False):
    """Simulate; the engine's own ``ValueError`` (a setting it refuses) is a usage error.
    ``progress`` is the display's mode (progress.py: ``auto``, ``on``, ``off``).

    The event log (``result.events``) is kept only when ``log_events`` is asked for: the
    commands read the report, timeline and runs, never the log, and skipping it saves a tuple
    per event."""
    from poolscale.scheduler.simulate import simulate

    from .progress import ProgressDisplay

    bar = ProgressDisplay(f"simulating {choice.label}", "of simulated time", progress)
    try:
        return simulate(inputs.run_pool, inputs.workload, choice.formula, start=inputs.start,
                        horizon=inputs.horizon, seed=inputs.seed, progress=bar,
                        log_events=log_events)
    except ValueError as e:
        raise UsageError(f"cannot simulate: {e}") from None
    finally:
        bar.close()


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities (which JSON lacks) become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def drain_notes(inputs: SimInputs, report: dict) -> list[str]:
    """What a run without a horizon left unfinished when it stopped at its workload's drain:
    the node-hours and cost it reports stop there, while the pool was still changing."""
    if inputs.horizon is not None:
        return []
    from poolscale.formula.timeparse import parse_iso_time
    from poolscale.scheduler.results import instant_text

    from .simview import duration_text

    notes = []
    end = report["pool_at_end"]
    seconds = report["simulated_seconds"]
    at = (f"at {instant_text(parse_iso_time(report['start']).ticks, seconds)} "
          f"({duration_text(seconds)} in)")
    unfinished = report["tasks"]["active_at_end"] + report["tasks"]["running_at_end"]
    if unfinished:
        # not drained: the run went on to its cap, 7 days after the last submission
        return [f"without a horizon the run stopped {at}, 7 days after the last submission, "
                f"with {unfinished:,} task{'s' if unfinished != 1 else ''} still active or "
                "running: give --horizon to follow them"]
    if end["allocation_state"] != "steady":
        nodes = end["dedicated"] + end["low_priority"]
        notes.append(f"the run stopped when the workload drained, {at}, while the pool was "
                     f"still {end['allocation_state']} ({nodes} node{'s' if nodes != 1 else ''},"
                     f" target {end['target_dedicated'] + end['target_low_priority']}); "
                     "node-hours and cost stop there: give --horizon to follow the pool")
    terminating = report["jobs"].get("terminating", 0)
    if terminating:
        notes.append(f"{terminating} job{'s were' if terminating > 1 else ' was'} still "
                     f"terminating (release tasks running) when the run stopped, {at}; "
                     "give --horizon to follow them")
    return notes


def report_document(inputs: SimInputs, choice: FormulaChoice, report: dict,
                    notes: Sequence[str] = ()) -> dict:
    """The report with what produced it; a pure function of the inputs (no clock, no paths
    resolved), so equal runs write equal files."""
    return _clean({
        "inputs": {
            "pool": inputs.pool_path, "workload": inputs.workload_path,
            "workload_format": inputs.workload_kind, "formula": choice.path,
            "start": inputs.start, "horizon_seconds": inputs.horizon, "seed": inputs.seed,
            "notes": inputs.notes + list(notes),
        },
        **report,
    })


def json_text(doc: Any) -> str:
    import json

    return json.dumps(doc, indent=2, allow_nan=False) + "\n"
