"""`poolscale simulate`: replay a workload on a pool that a formula resizes, and report."""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING, Any, Callable

from ..cli import EXIT_OK, HelpFormatter, UsageError
from ..progress import add_progress_arguments

if TYPE_CHECKING:
    from ..outputs import OutputFiles


def add_parser(sub) -> None:
    p = sub.add_parser(
        "simulate", help="simulate a pool and its autoscale formula over a workload",
        description="Replay the tasks of the workload file W (--workload W) on the pool that the "
                    "pool file P (--pool P) describes, on a deterministic simulated clock: "
                    "nodes are allocated and booted, tasks are scheduled, samples are taken "
                    "every 30 s, and the pool's autoScaleFormula (or the formula file F of "
                    "--formula F) is evaluated every autoScaleEvaluationInterval and applied. "
                    "Prints a summary of waits, node-hours, cost, utilization and autoscale "
                    "activity; --report-json, --timeline and --plot write the details.",
        epilog="Workloads: CSV (submit_time,duration[,slots,job,priority,exit_code,id]), SWF "
               "traces, JSON/YAML jobs and tasks, or a JSON/YAML generator spec; see "
               "docs/simulate.md.\n"
               "Without --pool, the pool is the one the workload's jobs make "
               "(poolInfo.autoPoolSpecification), present only while its jobs live.\n"
               "The same inputs and seed always give the same report.\n"
               "Exit status: 0 simulated, 1 the formula does not compile, 2 usage error (bad "
               "option, unreadable or invalid pool/workload file).",
        formatter_class=HelpFormatter)
    add_input_arguments(p)
    p.add_argument("--formula", metavar="F",
                   help="formula file (or - for standard input); overrides the pool's "
                        "autoScaleFormula, and turns autoscale on for a fixed pool")
    p.add_argument("--report-json", metavar="PATH", help="write the report as JSON")
    p.add_argument("--timeline", metavar="PATH.csv",
                   help="write one CSV row per sample: nodes, targets, task counts")
    p.add_argument("--plot", metavar="PATH.png",
                   help="plot nodes against demand over time, evaluations marked")
    p.add_argument("--json", action="store_true",
                   help="print the report as JSON instead of the summary table")
    add_progress_arguments(p)
    p.set_defaults(handler=run)


def add_input_arguments(p: argparse.ArgumentParser) -> None:
    """The options `simulate` and `compare` share (defined here, so start-up stays light)."""
    p.add_argument("--pool", metavar="P",
                   help="pool file: a Batch REST pool (JSON, or YAML by extension) with an "
                        "optional 'simulation' section; leave it out when the workload's jobs "
                        "make their own pool (poolInfo.autoPoolSpecification)")
    p.add_argument("--workload", required=True, metavar="W",
                   help="workload: .csv, .swf, .json/.yaml jobs and tasks, or a .yaml/.json "
                        "generator spec (optionally .gz)")
    p.add_argument("--start", metavar="ISO",
                   help="simulation start, e.g. 2026-03-02T00:00:00Z (default: the pool's "
                        "simulation.start, else the workload's first ISO time, else "
                        "2026-01-05T00:00:00Z)")
    p.add_argument("--horizon", metavar="DURATION",
                   help="how long to simulate, more than 0: 36h, 90m, 7d, PT36H, 1:30:00 or "
                        "seconds (default: the pool's simulation.horizon, else until the "
                        "workload drains)")
    p.add_argument("--seed", type=int, metavar="N",
                   help="random seed (default: the pool's simulation.seed, else 0)")


def write_output(outputs: OutputFiles, path: str, what: str, write: Callable[[IO], None],
                 mode: str = "w", **options: Any) -> None:
    """``write(file)`` into ``path``, replaced whole (runtime/atomicwrite.py): a failure or an
    interrupt leaves what was there before. ``compare --plot`` writes through here too."""
    try:
        with outputs.open(path, mode, **options) as f:
            write(f)
    except OSError as e:
        raise UsageError(f"cannot write {what} {path}: {e.strerror or e}") from None


def run(args: argparse.Namespace) -> int:
    from ..outputs import OutputFiles
    from ..simcli import check_outputs

    check_outputs(report_json=args.report_json, timeline=args.timeline, plot=args.plot)
    outputs = OutputFiles([args.report_json, args.timeline, args.plot])
    with outputs.reporting_interrupts():
        return _simulate(args, outputs)


def _simulate(args: argparse.Namespace, outputs: OutputFiles) -> int:
    from ..progress import progress_mode
    from ..simcli import (
        drain_notes, json_text, load_formula, load_inputs, report_document, run_simulation,
    )
    from ..simview import picture_type, render_table, summary_rows, write_timeline_csv

    mode = progress_mode(args)
    inputs = load_inputs(args, mode)
    choice = load_formula(args.formula, inputs)
    if isinstance(choice, int):
        return choice
    result = run_simulation(inputs, choice, progress=mode)
    late = drain_notes(inputs, result.report)
    doc = report_document(inputs, choice, result.report, late)
    start_ticks = _start_ticks(inputs.start)

    if args.report_json:
        write_output(outputs, args.report_json, "the report", lambda f: f.write(json_text(doc)))
    if args.timeline:
        write_output(outputs, args.timeline, "the timeline",
                     lambda f: write_timeline_csv(f, result.timeline_rows, start_ticks),
                     newline="")
    if args.plot:
        pool = "the jobs' auto pools" if inputs.pool_place else inputs.pool.id
        title = (f"{pool}: {choice.label} on {inputs.workload_path} "
                 f"(seed {inputs.seed})")
        from ..simplot import plot_run

        write_output(outputs, args.plot, "the plot",
                     lambda f: plot_run(f, result, inputs.workload, kind=picture_type(args.plot),
                                        slots=inputs.pool.task_slots_per_node, title=title,
                                        start=inputs.start), "wb")

    out = sys.stdout
    if args.json:
        out.write(json_text(doc))
        return EXIT_OK
    from ..simview import counted, resize_error_lines, schedule_lines

    report = result.report
    tasks = counted(inputs.workload.task_count, "task")
    if inputs.workload.job_schedules:
        tasks += ", " + counted(len(inputs.workload.job_schedules), "job schedule")
    out.write(f"{inputs.pool_line} · {choice.label}\n"
              f"workload {inputs.workload_path} ({inputs.workload_kind}, "
              f"{tasks}) · start {inputs.start} · seed {inputs.seed}\n")
    for note in inputs.notes + late:
        out.write(f"note: {note}\n")
    for w in choice.warnings:
        out.write(f"warning: {choice.path}:{w.line}:{w.column}: {w.code}: {w.message}\n")
    for line in resize_error_lines(report):
        out.write(f"{line}\n")
    out.write("\n")
    render_table(out, "Simulation report", ["figure", "value"],
                 summary_rows(report, result.timeline_rows))
    block = schedule_lines(report)
    if block:
        out.write("\n" + "\n".join(block) + "\n")
    written = [p for p in (args.report_json, args.timeline, args.plot) if p]
    if written:
        out.write("\nwrote " + ", ".join(written) + "\n")
    return EXIT_OK


def _start_ticks(start: str) -> int:
    from poolscale.formula.timeparse import parse_iso_time

    return parse_iso_time(start).ticks
