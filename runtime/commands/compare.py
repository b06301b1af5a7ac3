"""`poolscale compare`: one workload under several formulas, side by side."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from ..cli import EXIT_OK, HelpFormatter, UsageError

if TYPE_CHECKING:
    from ..outputs import OutputFiles


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare", help="simulate one workload under several formulas and compare them",
        description="Replay the tasks of the workload file W (--workload W) on the pool that the "
                    "pool file P (--pool P) describes, once per formula file F (--formula F, "
                    "repeated), with the same start, horizon and seed, and print the main "
                    "figures of each run side by side. With a single --formula, the pool's own "
                    "autoScaleFormula (or its fixed size) is the other side.",
        epilog="Exit status: 0 compared, 1 a formula does not compile, 2 usage error.",
        formatter_class=HelpFormatter)
    from ..progress import add_progress_arguments
    from .simulate import add_input_arguments

    add_input_arguments(p)
    p.add_argument("--formula", metavar="F", action="append", required=True,
                   help="a formula file, or - for standard input once (repeat: --formula A "
                        "--formula B ...)")
    p.add_argument("--plot", metavar="PATH.png", help="plot every run's nodes and demand")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object with every run's report")
    add_progress_arguments(p)
    p.set_defaults(handler=run)


def _labels(paths: list[str | None]) -> list[str]:
    """Short, distinct column names: file names, or whole paths where names collide, and a
    ``#2``, ``#3`` ... on a path given more than once."""
    names = [os.path.basename(p) if p else "pool" for p in paths]
    labels = [p if names.count(n) > 1 and p else n for n, p in zip(names, paths)]
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


#: the widest label a table column shows whole (a column is 24 characters with its padding)
HEADER_WIDTH = 20


def _column_name(i: int) -> str:
    """A, B, ... Z, AA, AB, ... as spreadsheets name columns."""
    name = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        name = chr(ord("A") + r) + name
    return name


def _headers(labels: list[str]) -> tuple[list[str], list[str]]:
    """Column headers and legend lines. Labels that fit are the headers themselves; when one is
    wider, every column is a letter and the legend spells the labels out, rather than the table
    breaking file names in the middle of a word."""
    if all(len(label) <= HEADER_WIDTH for label in labels):
        return labels, []
    letters = [_column_name(i) for i in range(len(labels))]
    return letters, [f"{letter}  {label}" for letter, label in zip(letters, labels)]


def run(args: argparse.Namespace) -> int:
    from ..outputs import OutputFiles
    from ..simcli import check_outputs

    check_outputs(plot=args.plot)
    if args.formula.count("-") > 1:
        raise UsageError("--formula -: standard input can be read only once")
    outputs = OutputFiles([args.plot])
    with outputs.reporting_interrupts():
        return _compare(args, outputs)


def _compare(args: argparse.Namespace, outputs: OutputFiles) -> int:
    from ..progress import progress_mode
    from ..simcli import json_text, load_formula, load_inputs, report_document, run_simulation
    from ..simview import compare_rows, picture_type, render_table
    from .simulate import write_output

    mode = progress_mode(args)
    inputs = load_inputs(args, mode)
    paths: list[str | None] = list(args.formula)
    if len(paths) == 1:
        paths.insert(0, None)  # the pool's own formula, or its fixed size
    choices = []
    for path in paths:
        choice = load_formula(path, inputs)
        if isinstance(choice, int):
            return choice
        choices.append(choice)
    for choice, path, label in zip(choices, paths, _labels(paths)):
        if path is None:
            choice.label = "fixed pool" if choice.formula is None else "pool formula"
        else:
            choice.label = label
    results = [run_simulation(inputs, c, progress=mode) for c in choices]
    if inputs.horizon is None and len({r.report["simulated_seconds"] for r in results}) > 1:
        inputs.notes.append("without a horizon each run stopped when its workload drained (or "
                            "7 days after the last submission), at different times, so "
                            "node-hours and cost cover different spans: give --horizon to "
                            "compare them")

    if args.plot:
        title = f"{inputs.pool.id} on {inputs.workload_path} (seed {inputs.seed})"
        from ..simplot import plot_compare

        write_output(outputs, args.plot, "the plot",
                     lambda f: plot_compare(f, [(c.label, r) for c, r in zip(choices, results)],
                                            inputs.workload, kind=picture_type(args.plot),
                                            slots=inputs.pool.task_slots_per_node, title=title,
                                            start=inputs.start), "wb")

    out = sys.stdout
    if args.json:
        runs = []
        for c, r in zip(choices, results):
            doc = report_document(inputs, c, r.report)
            inputs_doc = doc.pop("inputs")
            runs.append({"label": c.label, "formula": inputs_doc["formula"], "report": doc})
        shared = report_document(inputs, choices[0], {})["inputs"]
        shared.pop("formula")
        out.write(json_text({"inputs": shared, "runs": runs}))
        return EXIT_OK
    from ..simview import counted, resize_error_lines, schedule_lines

    tasks = inputs.workload.task_count
    out.write(f"{inputs.pool_line} · workload "
              f"{inputs.workload_path} ({inputs.workload_kind}, {counted(tasks, 'task')}) · "
              f"start {inputs.start} · seed {inputs.seed}\n")
    for note in inputs.notes:
        out.write(f"note: {note}\n")
    for choice, result in zip(choices, results):
        for line in resize_error_lines(result.report):
            out.write(f"{choice.label}: {line}\n")
    out.write("\n")
    headers, legend = _headers([c.label for c in choices])
    for line in legend:
        out.write(f"{line}\n")
    if legend:
        out.write("\n")
    render_table(out, "Comparison", ["figure"] + headers,
                 compare_rows([(r.report, r.timeline_rows) for r in results]))
    # a formula that sizes the pool late makes a schedule's jobs late or skips them
    schedules = [(h, schedule_lines(r.report)[1:]) for h, r in zip(headers, results)]
    if any(lines for _, lines in schedules):
        out.write("\nSchedules\n")
        for header, lines in schedules:
            for line in lines:
                out.write(f"  {header}: {line.strip()}\n")
    if args.plot:
        out.write(f"\nwrote {args.plot}\n")
    return EXIT_OK
