"""The pictures of ``simulate --plot`` and ``compare --plot``, drawn for a pool owner.

Three panels share one time axis:

* **nodes**: dedicated and low-priority nodes drawn apart (stacked, preempted low-priority
  nodes hatched, each preemption marked where it happened), the target, and the workload's
  demand;
* **autoscale**: a strip per run with the evaluations that changed the target, the spans in
  which evaluations failed, and every evaluation only while they stay far enough apart to be
  told one from the next (hundreds of them would merge into a solid bar);
* **tasks**: the queue (and, for one run, the running tasks).

The demand line is read from the workload alone (scheduler/demand.py), so it is one yardstick
for every formula of a comparison, drawn once. Counts get whole-number ticks from 0, and a panel
with nothing in it gets 0..1 rather than matplotlib's ±0.06 around zero.

matplotlib is imported only here, when a plot is asked for, with the Agg backend (no display
needed). The picture goes to a binary file object the caller opens (runtime/atomicwrite.py),
without the date or random ids matplotlib would put in SVG and PDF files, so equal runs write
equal files.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import IO, Any

__all__ = ["plot_run", "plot_compare", "demand_line", "MOST_EVALUATION_MARKS", "DEMAND_STEPS"]

#: The most evaluations drawn one by one: on the ~1,000 pixels of the time axis they stay at
#: least 5 pixels apart. More (a day at the 5-minute default is 288) and only the evaluations
#: that changed the target are marked, as a solid bar of ticks says nothing.
MOST_EVALUATION_MARKS = 200

#: The most steps of the demand line drawn as they are (about two per pixel of the time axis).
DEMAND_STEPS = 2000

#: Metadata that would differ between two runs of the same input (or name a version), by type.
_NO_VOLATILE_METADATA = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}

_DEDICATED, _LOW_PRIORITY, _PREEMPTED = "tab:blue", "tab:cyan", "tab:red"
#: a comparison's runs, one colour each: not the demand's orange, nor the red of preemptions
#: and failures
_RUN_COLORS = ("tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
               "tab:cyan", "tab:gray")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _hours(seconds: float) -> float:
    return seconds / 3600.0


def demand_line(workload: Any, start_ticks: int, slots: int, end: float
                ) -> tuple[list[float], list[int]]:
    """``(hours, nodes)`` for a step line (``where="post"``) up to ``end`` seconds: the nodes the
    workload's tasks would fill if none waited, its slots ÷ ``slots`` per node, rounded up.

    A workload that changes its demand more than DEMAND_STEPS times is drawn at its highest in
    each of DEMAND_STEPS equal slices of the time axis: more steps than the axis has pixels
    would only slow the drawing, and the highest keeps every peak in sight."""
    import numpy as np

    from poolscale.scheduler.demand import demand_steps

    times, held = demand_steps(workload, start_ticks, end)
    n = int(np.searchsorted(times, end, side="right"))
    times, held = times[:n], held[:n]
    if n > DEMAND_STEPS and end > 0:
        edges = np.linspace(0.0, end, DEMAND_STEPS + 1)[:-1]
        highest = held[np.searchsorted(times, edges, side="right") - 1]  # in force at each edge
        slice_of = np.minimum((times / end * DEMAND_STEPS).astype(np.int64), DEMAND_STEPS - 1)
        np.maximum.at(highest, slice_of, held)
        times, held = edges, highest
    hours = (times / 3600.0).tolist() + [_hours(end)]
    nodes = (-(-held // slots)).tolist()
    return hours, nodes + nodes[-1:]


def _count_axis(ax, highest: float) -> None:
    """A count from 0 in whole numbers; 0..1 when nothing was counted. The lower limit sits a
    little below 0 so that a line along zero is not hidden by the axis."""
    from matplotlib.ticker import MaxNLocator

    top = max(1.0, highest) * 1.05
    ax.set_ylim(-0.02 * top, top)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _step_value(times: list[float], values: list[float], at: float) -> float:
    """The value a step series sampled at ``times`` had at ``at`` (the last sample not after)."""
    i = bisect_right(times, at) - 1
    return values[max(i, 0)] if values else 0.0


def _failed_spans(runs: list[tuple[float, Any]], end: float) -> list[tuple[float, float]]:
    """``(start, width)`` in hours of each stretch of failed evaluations: from the first failed
    one to the next evaluation that succeeded (or the run's end), so that a formula failing
    hundreds of times in a row is one band rather than hundreds of crosses."""
    spans = []
    since = last = None
    for t, run in runs:
        if run.error is not None:
            since = t if since is None else since
            last = t
        elif since is not None:
            spans.append((_hours(since), _hours(t - since)))
            since = None
    if since is not None:
        # the last stretch lasts until the evaluation that would have come next, or the run's
        # end; one failure at the very end is an evaluation interval wide
        interval = runs[1][0] - runs[0][0] if len(runs) > 1 else 0.0
        stop = min(last + interval, end) if end > since else last + interval
        spans.append((_hours(since), _hours(stop - since)))
    return spans


def _figure(plt, strips: int):
    """Nodes above, the autoscale strip (``strips`` rows) in the middle, tasks below."""
    fig, (top, middle, bottom) = plt.subplots(
        3, 1, figsize=(12, 7.5), sharex=True,
        gridspec_kw={"height_ratios": [3, 0.3 + 0.25 * strips, 1.3]})
    return fig, top, middle, bottom


def _draw_nodes(ax, rows: list[dict], label: str = "", color: str | None = None) -> float:
    """Dedicated and low-priority nodes apart: stacked areas for one run (``color`` None); for
    a comparison, lines in the run's colour, all its nodes solid and the low-priority ones
    dashed (so that the capacities of the formulas compare on the solid lines). Returns the
    highest count drawn."""
    hours = [_hours(r["time"]) for r in rows]
    ded = [r["dedicated"] for r in rows]
    low = [r["low_priority"] for r in rows]
    total = [d + lp for d, lp in zip(ded, low)]
    has_low = any(low) or any(r["target_low_priority"] for r in rows)
    prefix = f"{label}: " if label else ""
    if color is None:
        ax.fill_between(hours, 0, ded, step="post", color=_DEDICATED, alpha=0.35, linewidth=0,
                        label="dedicated nodes")
        ax.step(hours, ded, where="post", color=_DEDICATED, linewidth=1.0, gid="dedicated")
        if has_low:
            ax.fill_between(hours, ded, total, step="post", color=_LOW_PRIORITY, alpha=0.35,
                            linewidth=0, label="low-priority nodes")
            ax.step(hours, total, where="post", color=_LOW_PRIORITY, linewidth=1.0,
                    gid="low-priority")
        if any(r["preempted"] for r in rows):
            ax.fill_between(hours, [t - r["preempted"] for t, r in zip(total, rows)], total,
                            step="post", facecolor="none", edgecolor=_PREEMPTED, hatch="////",
                            linewidth=0, label="preempted (low-priority, not working)")
    elif has_low:
        ax.step(hours, total, where="post", color=color, linewidth=1.4,
                label=f"{prefix}all nodes")
        ax.step(hours, low, where="post", color=color, linewidth=1.1, linestyle="--",
                label=f"{prefix}low-priority nodes")
    else:
        ax.step(hours, ded, where="post", color=color, linewidth=1.4,
                label=f"{prefix}dedicated nodes")
    return max(total, default=0)


def _draw_preemptions(ax, result: Any, rows: list[dict], color: str, label: str,
                      kind_only: bool) -> None:
    """A downward triangle at each preemption, on top of the nodes it took from: the stack
    (one run) or the low-priority line (a comparison)."""
    if not result.preemptions:
        return
    times = [r["time"] for r in rows]
    height = [r["low_priority"] if kind_only else r["dedicated"] + r["low_priority"]
              for r in rows]
    xs = [_hours(t) for t in result.preemptions]
    ys = [_step_value(times, height, t) for t in result.preemptions]
    ax.plot(xs, ys, "v", color=color, markersize=7, markeredgecolor="black",
            markeredgewidth=0.5, linestyle="none",
            label=f"{label}preemptions ({len(xs)})")


def _draw_targets(ax, rows: list[dict]) -> float:
    """The target: one dashed line, or, with low-priority nodes asked for, the dedicated target
    and the total apart."""
    hours = [_hours(r["time"]) for r in rows]
    ded = [r["target_dedicated"] for r in rows]
    total = [d + r["target_low_priority"] for d, r in zip(ded, rows)]
    if any(r["target_low_priority"] for r in rows):
        ax.step(hours, ded, where="post", color="navy", linestyle=":", linewidth=1.0,
                label="target dedicated")
        ax.step(hours, total, where="post", color="black", linestyle="--", linewidth=0.9,
                label="target dedicated + low-priority")
    else:
        ax.step(hours, total, where="post", color="black", linestyle="--", linewidth=0.9,
                label="target")
    return max(total, default=0)


def _draw_demand(ax, workload: Any, start_ticks: int, slots: int, end: float) -> float:
    hours, nodes = demand_line(workload, start_ticks, slots, end)
    ax.step(hours, nodes, where="post", color="tab:orange", linewidth=1.0, alpha=0.9, zorder=2.5,
            label=f"demand: the workload's tasks if none waited ({slots} slots per node)")
    return max(nodes, default=0)


def _draw_autoscale(ax, row: int, result: Any, end: float, *, counted: bool) -> None:
    """One strip row: the evaluations (while few enough to tell apart), those that changed the
    target, and the stretches of failed ones, of one run. ``counted``: the legend says how
    many (one run); a comparison's legend names each kind of mark once, for every row."""
    runs = result.runs
    if not runs:
        ax.annotate("no evaluations: autoscale is off (a fixed pool)", (0.01, row),
                    xycoords=("axes fraction", "data"), va="center", fontsize=8, color="0.4")
        return
    changes = result.target_changes
    failed = sum(1 for _, run in runs if run.error is not None)

    def label(text: str, n: int) -> str:
        return f"{text} ({n})" if counted else text

    if runs and len(runs) <= MOST_EVALUATION_MARKS:
        ax.vlines([_hours(t) for t, _ in runs], row - 0.25, row + 0.25, color="0.6",
                  linewidth=0.7, label=label("evaluation", len(runs)))
    if changes:
        what = "evaluation that changed the target"
        shown = len(runs) <= MOST_EVALUATION_MARKS or not counted
        ax.vlines([_hours(t) for t in changes], row - 0.4, row + 0.4, color="black",
                  linewidth=0.8, label=label(what, len(changes)) if shown
                  else f"{what} ({len(changes)} of {len(runs)} evaluations)")
    spans = _failed_spans(runs, end)
    if spans:
        ax.broken_barh(spans, (row - 0.3, 0.6), facecolors=_PREEMPTED, alpha=0.6,
                       label=label("failed evaluations", failed))


def _strip_axis(ax, labels: list[str]) -> None:
    ax.set_ylim(len(labels) - 0.5, -0.5)        # first run on top
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", alpha=0.3)


def _legend(ax) -> None:
    """Beside the panel, each label once (the rows of the autoscale strip share theirs)."""
    handles, labels = ax.get_legend_handles_labels()
    first: dict[str, Any] = {}
    for handle, label in zip(handles, labels):
        first.setdefault(label, handle)
    if first:
        ax.legend(list(first.values()), list(first), loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  fontsize=8, borderaxespad=0)


def _finish(plt, fig, axes, *, title: str, start: str, out: IO[bytes], kind: str) -> None:
    """Labels, legends and grids, then the file."""
    top, middle, bottom = axes
    top.set_ylabel("nodes")
    top.set_title(title, fontsize=11)
    top.grid(alpha=0.3)
    bottom.grid(alpha=0.3)
    bottom.set_xlabel(f"hours since {start}")
    for ax in axes:
        _legend(ax)
    fig.tight_layout()
    _save(plt, fig, out, kind)
    plt.close(fig)


def _save(plt, fig, out: IO[bytes], kind: str) -> None:
    """The picture, the same bytes for the same figure: SVG ids from a fixed salt rather than a
    random one, no creation date in SVG and PDF, PostScript dated by SOURCE_DATE_EPOCH (0 when
    unset: it reads no other setting), and SVGZ gzipped without a time stamp."""
    import gzip
    import io
    import os

    with plt.rc_context({"svg.hashsalt": "poolscale"}):
        if kind == "svgz":
            svg = io.BytesIO()
            fig.savefig(svg, format="svg", dpi=110, metadata=_NO_VOLATILE_METADATA["svg"])
            out.write(gzip.compress(svg.getvalue(), mtime=0))
            return
        pinned = kind in ("ps", "eps") and "SOURCE_DATE_EPOCH" not in os.environ
        if pinned:
            os.environ["SOURCE_DATE_EPOCH"] = "0"
        try:
            fig.savefig(out, format=kind, dpi=110, metadata=_NO_VOLATILE_METADATA.get(kind))
        finally:
            if pinned:
                del os.environ["SOURCE_DATE_EPOCH"]


def plot_run(out: IO[bytes], result: Any, workload: Any, *, kind: str, slots: int, title: str,
             start: str) -> None:
    """One run: its nodes by kind against the workload's demand, its autoscale activity and
    its tasks, drawn as a ``kind`` picture to the binary file ``out``."""
    plt = _pyplot()
    rows = result.timeline_rows
    end = rows[-1]["time"] if rows else 0.0
    fig, top, middle, bottom = _figure(plt, 1)
    highest = _draw_nodes(top, rows)
    highest = max(highest, _draw_targets(top, rows))
    top.step([_hours(r["time"]) for r in rows], [r["usable"] for r in rows], where="post",
             color="tab:green", linewidth=0.8, label="nodes usable (idle or running)")
    highest = max(highest, _draw_demand(top, workload, result.start_ticks, slots, end))
    _draw_preemptions(top, result, rows, _PREEMPTED, "", kind_only=False)
    _count_axis(top, highest)
    _draw_autoscale(middle, 0, result, end, counted=True)
    _strip_axis(middle, ["autoscale"])
    hours = [_hours(r["time"]) for r in rows]
    queued = [r["active_tasks"] for r in rows]
    running = [r["running_tasks"] for r in rows]
    bottom.step(hours, queued, where="post", color="tab:red", label="queued ($ActiveTasks)")
    bottom.step(hours, running, where="post", color="tab:purple",
                label="running ($RunningTasks)")
    bottom.set_ylabel("tasks")
    _count_axis(bottom, max(queued + running, default=0))
    _finish(plt, fig, (top, middle, bottom), title=title, start=start, out=out, kind=kind)


def plot_compare(out: IO[bytes], runs: list[tuple[str, Any]], workload: Any, *, kind: str,
                 slots: int, title: str, start: str) -> None:
    """Every formula's nodes by kind on one time axis against the workload's demand (drawn
    once: it is the workload's, not a formula's), each formula's autoscale strip, and their
    queues below."""
    plt = _pyplot()
    fig, top, middle, bottom = _figure(plt, len(runs))
    colors = _RUN_COLORS
    end = max((r.timeline_rows[-1]["time"] for _, r in runs if r.timeline_rows), default=0.0)
    highest = _draw_demand(top, workload, runs[0][1].start_ticks, slots, end) if runs else 0
    most_queued = 0
    for i, (label, result) in enumerate(runs):
        c = colors[i % len(colors)]
        rows = result.timeline_rows
        highest = max(highest, _draw_nodes(top, rows, label, c))
        _draw_preemptions(top, result, rows, c, f"{label}: ", kind_only=True)
        _draw_autoscale(middle, i, result, end, counted=False)
        queued = [r["active_tasks"] for r in rows]
        bottom.step([_hours(r["time"]) for r in rows], queued, where="post", color=c,
                    label=label)
        most_queued = max([most_queued] + queued)
    _count_axis(top, highest)
    _strip_axis(middle, [label for label, _ in runs])
    bottom.set_ylabel("queued tasks")
    _count_axis(bottom, most_queued)
    _finish(plt, fig, (top, middle, bottom), title=title, start=start, out=out, kind=kind)
