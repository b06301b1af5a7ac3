"""`poolscale run`: run a workload's tasks for real on local nodes, and show the prediction."""

from __future__ import annotations

import argparse
import sys

from ..cli import EXIT_FINDINGS, EXIT_OK, HelpFormatter, UsageError
from ..progress import add_progress_arguments

#: the exit status of a run Ctrl-C stopped (128 + SIGINT, as the shell reports it)
EXIT_INTERRUPTED = 130
#: the range of --scale: below it the engine would have more samples to take per wall second
#: than it can (at 0.001, 33 per second with the default 30 s period); above it nothing is
#: gained (an engine second would last over 16 wall minutes)
SCALE_RANGE = (0.001, 1000.0)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run", help="run a workload's tasks for real on local nodes, and compare with simulate",
        description="Run the jobs of the file J (--jobs J: JSON or YAML jobs and tasks, and "
                    "job schedules, the workload shape simulate reads, each task with a "
                    "commandLine) for real on "
                    "the pool that the pool file P (--pool P) describes: nodes are directories "
                    "on this machine, each task is a process run as you, by the same pool "
                    "manager, scheduler and autoscale rules as simulate, on the real clock. "
                    "When every task has ended it prints simulate's report of what was measured "
                    "and, beside it, what simulate predicts for the same pool and jobs when each "
                    "task lasts what it really lasted: node-hours, makespan and wait p95, "
                    "measured, predicted and the error in percent.",
        epilog="Tasks run as the user who runs poolscale, with the Batch task environment "
               "(AZ_BATCH_*); duration, exitCodes and profile of a task are for the simulator "
               "only. Submit times are seconds after the run's start (times with a date: after "
               "the workload's first). See docs/running-locally.md.\n"
               "Ctrl-C stops the run, kills its processes and prints the report so far.\n"
               "Exit status: 0 every task succeeded; 1 a task failed or could never run, or "
               "the formula does not compile; 2 usage error (bad option, unreadable or invalid "
               "pool or jobs file, a task without commandLine); 130 interrupted.",
        formatter_class=HelpFormatter)
    p.add_argument("--pool", metavar="P",
                   help="pool file: a Batch REST pool (JSON, or YAML by extension); leave it "
                        "out when the jobs make their own pool "
                        "(poolInfo.autoPoolSpecification)")
    p.add_argument("--jobs", required=True, metavar="J",
                   help="jobs file: .json/.yaml jobs and tasks with command lines")
    p.add_argument("--formula", metavar="F",
                   help="formula file (or - for standard input); overrides the pool's "
                        "autoScaleFormula, and turns autoscale on for a fixed pool")
    p.add_argument("--data", metavar="DIR",
                   help="directory for the nodes' directories, kept after the run (default: a "
                        "temporary directory, deleted at the end)")
    p.add_argument("--report-json", metavar="PATH",
                   help="write the measured report, the predicted one and the errors as JSON")
    p.add_argument("--json", action="store_true",
                   help="print that JSON instead of the tables")
    p.add_argument("--seed", type=int, metavar="N",
                   help="random seed of the pool's draws and of the prediction (default: the "
                        "pool's simulation.seed, else 0)")
    p.add_argument("--scale", type=float, default=1.0, metavar="X",
                   help="development setting: wall seconds per engine second, from 0.001 to "
                        "1000 (default 1, real time). 0.01 runs the pool's clock 100 times faster: a 5-minute "
                        "autoscale interval passes in 3 s, and a task's measured time is its "
                        "wall time x 100")
    add_progress_arguments(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..outputs import OutputFiles
    from ..simcli import check_outputs

    low, high = SCALE_RANGE
    if not low <= args.scale <= high:      # NaN too
        raise UsageError(f"--scale: must be from {low:g} to {high:g} wall seconds per engine "
                         f"second, got {args.scale:g}")
    check_outputs(report_json=args.report_json)
    outputs = OutputFiles([args.report_json])
    with outputs.reporting_interrupts():
        return _run(args, outputs)


def _run(args: argparse.Namespace, outputs) -> int:
    import shutil
    import tempfile

    from ..progress import progress_mode
    from ..simcli import load_formula, load_inputs

    mode = progress_mode(args)
    inputs = load_inputs(argparse.Namespace(pool=args.pool, workload=args.jobs, start=None,
                                            horizon=None, seed=args.seed), mode)
    from ..livecli import runnable_notes

    notes = runnable_notes(inputs)
    choice = load_formula(args.formula, inputs)
    if isinstance(choice, int):
        return choice
    if args.data:
        _make_data_dir(args.data)
    data = args.data or tempfile.mkdtemp(prefix="poolscale-run-")
    try:
        return _run_in(args, outputs, inputs, choice, notes, data, mode)
    finally:
        if not args.data:
            shutil.rmtree(data, ignore_errors=True)


def _make_data_dir(path: str) -> None:
    """--data exists as a directory, or is made: before anything runs, a path that cannot be
    one is a usage error, not a traceback from the first node's directory."""
    import os

    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"--data: {path} is not a directory")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--data: cannot make the directory {path}: {e.strerror or e}") from None


def _run_in(args, outputs, inputs, choice, notes, data, mode) -> int:
    from poolscale.formula.timeparse import parse_iso_time
    from poolscale.scheduler.measured import prediction_error

    from ..livecli import (
        predict, prediction_rows, refuse_never_placed, run_document, run_pool,
    )
    from ..progress import ProgressDisplay
    from ..service.settings import AccountSettings, SettingsError
    from ..service.workloadrun import WorkloadRun
    from ..simcli import json_text
    from .simulate import write_output

    try:
        settings = AccountSettings(data_dir=data)
    except SettingsError as e:
        raise UsageError(f"--data: {e}") from None
    try:
        live = WorkloadRun(run_pool(inputs, choice), inputs.workload,
                           reference_ticks=parse_iso_time(inputs.start).ticks,
                           settings=settings, scale=args.scale, seed=inputs.seed)
    except ValueError as e:
        raise UsageError(f"cannot run: {e}") from None
    try:
        refuse_never_placed(inputs, live.never_placed())
    except UsageError:
        live.close()
        raise
    bar = ProgressDisplay(f"running {inputs.workload_path}", "of tasks ended", mode)
    try:
        live.run(lambda r: bar(r.tasks_done, r.n_workload_tasks))
        bar(live.tasks_done, live.n_workload_tasks)     # where it ended (100 % when drained)
    finally:
        bar.close()
    measured = live.report()
    predicted = error = None
    if not live.interrupted:
        prediction = predict(inputs, choice, settings, live.events)
        predicted = prediction.report
        error = prediction_error(measured, predicted)
    doc = run_document(inputs, choice, scale=args.scale, notes=notes, measured=measured,
                       predicted=predicted, error=error, interrupted=live.interrupted)
    if args.report_json:
        write_output(outputs, args.report_json, "the report", lambda f: f.write(json_text(doc)))
    status = _status(live, measured)
    out = sys.stdout
    if args.json:
        out.write(json_text(doc))
        return status
    _show(out, args, inputs, choice, notes, live, measured, predicted, error, prediction_rows)
    return status


def _status(live, report: dict) -> int:
    if live.interrupted:
        return EXIT_INTERRUPTED
    t = report["tasks"]
    return EXIT_FINDINGS if t["failed"] or t["rejected"] or t["not_submitted"] else EXIT_OK


def _show(out, args, inputs, choice, notes, live, measured, predicted, error,
          prediction_rows) -> None:
    from ..simview import counted, render_table, resize_error_lines, summary_rows

    scale = "" if args.scale == 1 else f" · scale {args.scale:g} (development setting)"
    out.write(f"{inputs.pool_line} · {choice.label}{scale}\n"
              f"jobs {inputs.workload_path} ({counted(inputs.workload.task_count, 'task')}) "
              f"· seed {inputs.seed}\n")
    for note in inputs.notes + notes:
        out.write(f"note: {note}\n")
    for w in choice.warnings:
        out.write(f"warning: {choice.path}:{w.line}:{w.column}: {w.code}: {w.message}\n")
    for line in resize_error_lines(measured):
        out.write(f"{line}\n")
    if live.interrupted:
        out.write("interrupted: the run stopped before its tasks had ended; their processes "
                  "were killed\n")
    out.write("\n")
    rows = [(s, "ran" if (s, label) == ("run", "simulated") else label, *v)
            for s, label, *v in summary_rows(measured, live.timeline)]
    render_table(out, "Run report (measured)", ["figure", "value"], rows)
    if predicted is not None:
        out.write("\n")
        render_table(out, "Prediction: simulate with the measured task times",
                     ["figure", "measured", "predicted", "error"],
                     prediction_rows(error, measured, predicted))
    if args.report_json:
        out.write(f"\nwrote {args.report_json}\n")
