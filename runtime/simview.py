"""How a simulation is shown: the summary table, the side-by-side comparison and the timeline
CSV (the plots are runtime/simplot.py).

Tables are built as rows ``(section, label, values...)`` and drawn with ``rich`` when it is
installed, else as aligned plain text, so both look alike and tests can read either. The
timeline is written to a file object the caller opens, so that where and how a file is written
(atomically, runtime/atomicwrite.py) is decided in one place.
"""

from __future__ import annotations

import csv
import math
import os
from typing import IO, Any, Iterable

from .wording import counted

__all__ = ["summary_rows", "compare_rows", "schedule_lines", "render_table", "write_timeline_csv", "picture_type",
           "peak_nodes", "counted",
           "resize_error_lines"]

Row = tuple  # (section, label, value, value, ...)


# --------------------------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------------------------


def duration_text(seconds: float | None) -> str:
    """``0 s``, ``42 s``, ``8 m 21 s``, ``3 h 05 m``, ``2 d 04 h``; ``-`` when unknown."""
    if seconds is None or (isinstance(seconds, float) and not math.isfinite(seconds)):
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{seconds:.0f} s" if seconds >= 1 or seconds == 0 else f"{seconds:.2f} s"
    if s < 3600:
        return f"{s // 60} m {s % 60:02d} s"
    if s < 86_400:
        return f"{s // 3600} h {s % 3600 // 60:02d} m"
    return f"{s // 86_400} d {s % 86_400 // 3600:02d} h"


def _num(v: Any, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "-"
        return f"{v:,.{digits}f}"
    return str(v)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f} %"


def peak_nodes(timeline: list[dict]) -> int:
    """The most nodes present at any sample."""
    return max((r["dedicated"] + r["low_priority"] for r in timeline), default=0)


# --------------------------------------------------------------------------------------------
# rows
# --------------------------------------------------------------------------------------------

#: The figures a comparison lines up: (section, label, getter over (report, timeline)).
_FIGURES = [
    ("tasks", "submitted", lambda r, t: _num(r["tasks"]["submitted"])),
    ("tasks", "succeeded", lambda r, t: _num(r["tasks"]["succeeded"])),
    ("tasks", "failed", lambda r, t: _num(r["tasks"]["failed"])),
    ("tasks", "requeued", lambda r, t: _num(r["tasks"]["requeued"])),
    ("tasks", "active at end", lambda r, t: _num(r["tasks"]["active_at_end"])),
    ("tasks", "running at end", lambda r, t: _num(r["tasks"]["running_at_end"])),
    ("wait", "p50", lambda r, t: duration_text(r["wait_seconds"]["p50"])),
    ("wait", "p95", lambda r, t: duration_text(r["wait_seconds"]["p95"])),
    ("wait", "p99", lambda r, t: duration_text(r["wait_seconds"]["p99"])),
    ("wait", "max", lambda r, t: duration_text(r["wait_seconds"]["max"])),
    ("nodes", "node-hours dedicated", lambda r, t: _num(r["node_hours"]["dedicated"], 1)),
    ("nodes", "node-hours low-priority", lambda r, t: _num(r["node_hours"]["low_priority"], 1)),
    ("nodes", "cost", lambda r, t: _num((r.get("cost") or {}).get("total"))),
    ("nodes", "peak nodes", lambda r, t: _num(peak_nodes(t))),
    ("nodes", "utilization", lambda r, t: _pct(r.get("utilization"))),
    ("nodes", "under-provisioned time", lambda r, t: _pct(r.get("under_provisioned_share"))),
    ("nodes", "over-provisioned time", lambda r, t: _pct(r.get("over_provisioned_share"))),
    ("nodes", "resize errors", lambda r, t: _resize_errors(r)),
    ("autoscale", "evaluations", lambda r, t: _num(r["autoscale"]["evaluations"])),
    ("autoscale", "errors", lambda r, t: _errors(r["autoscale"])),
    ("autoscale", "target changes", lambda r, t: _num(r["autoscale"]["target_changes"])),
    ("run", "makespan", lambda r, t: duration_text(r.get("makespan_seconds"))),
]


def _errors(a: dict) -> str:
    if not a.get("errors"):
        return "0"
    codes = ", ".join(f"{code} {n}" for code, n in (a.get("error_codes") or {}).items())
    return f"{a['errors']} ({codes})" if codes else str(a["errors"])


def _resize_errors(report: dict) -> str:
    """``12 (AccountCoreQuotaReached 12)``: how often each resize error happened in the run."""
    errors = report.get("resize_errors") or []
    if not errors:
        return "0"
    total = sum(e["count"] for e in errors)
    return f"{total:,} (" + ", ".join(f"{e['code']} {e['count']:,}" for e in errors) + ")"


def auto_pool_text(report: dict) -> str:
    """``2 made, 1 deleted (lifetime job, prefix nightly)``: the pools a run's jobs made."""
    auto = report["auto_pool"]
    pools = auto["pools"]
    deleted = sum(1 for p in pools if p["deleted"] is not None)
    how = f"lifetime {auto['lifetime']}"
    if auto["id_prefix"]:
        how += f", prefix {auto['id_prefix']}"
    if auto["keep_alive"]:
        how += ", keepAlive"
    return f"{len(pools):,} made, {deleted:,} deleted ({how})"


def resize_error_lines(report: dict) -> list[str]:
    """One ``resize error: CODE: what it did`` line per resize error of the run, for the lines
    above a summary: the table only counts them."""
    return [f"resize error: {e['code']}: {e['message']}" for e in report.get("resize_errors") or []]


def summary_rows(report: dict, timeline: list[dict]) -> list[Row]:
    """The summary of one run: every comparison figure, plus what only one run shows."""
    rows: list[Row] = []
    for section, label, get in _FIGURES:
        if label == "cost" and report.get("cost") is None:
            continue
        if label == "resize errors" and not report.get("resize_errors"):
            continue
        if label == "node-hours low-priority" and not report["node_hours"]["low_priority"]:
            continue
        rows.append((section, label, get(report, timeline)))
    t = report["tasks"]
    for key in ("rejected", "not_submitted", "retries", "requeues", "recoveries"):
        if t.get(key):
            rows.insert(_after(rows, "tasks"), ("tasks", key.replace("_", " "), _num(t[key])))
    if report.get("auto_pool"):
        rows.insert(_after(rows, "nodes"), ("nodes", "auto pools", auto_pool_text(report)))
    if report.get("wasted_work_seconds"):
        rows.insert(_after(rows, "nodes"), ("nodes", "wasted work",
                                           duration_text(report["wasted_work_seconds"])))
    end = report.get("pool_at_end") or {}
    rows.append(("run", "simulated", duration_text(report.get("simulated_seconds"))))
    dedicated = end.get("dedicated", 0)
    nodes = counted(dedicated, "node")
    if end.get("low_priority"):
        nodes = f"{dedicated:,} + {counted(end['low_priority'], 'low-priority node')}"
    rows.append(("run", "pool at end", f"{nodes}, {end.get('allocation_state', '?')}"))
    rows.append(("run", "events", _num(report.get("events_processed"))))
    return rows


def schedule_lines(report: dict) -> list[str]:
    """The "Schedules" block under a summary, one line per job schedule of the run (none
    without schedules): ``nightly: completed · 7 jobs, 0 skipped · 147 tasks, 147 succeeded,
    0 failed``, the jobs' states named when some did not complete. The table holds figures
    every run has; a workload has any number of schedules."""
    schedules = report.get("schedules") or {}
    if not schedules:
        return []
    lines = ["Schedules"]
    for sid, s in schedules.items():
        jobs = counted(s["jobs_created"], "job")
        unfinished = {state: n for state, n in s["jobs"].items() if state != "completed"}
        if unfinished:
            jobs += " (" + ", ".join(f"{n:,} {state}" for state, n in unfinished.items()) + ")"
        t = s["tasks"]
        lines.append(f"  {sid}: {s['state']} · {jobs}, {s['jobs_skipped']:,} skipped · "
                     f"{counted(t['submitted'], 'task')}, {t['succeeded']:,} succeeded, "
                     f"{t['failed']:,} failed")
    return lines


def _after(rows: list[Row], section: str) -> int:
    idx = [i for i, r in enumerate(rows) if r[0] == section]
    return idx[-1] + 1 if idx else len(rows)


def compare_rows(runs: list[tuple[dict, list[dict]]]) -> list[Row]:
    """One row per figure, one value per run."""
    rows = []
    for section, label, get in _FIGURES:
        values = [get(report, timeline) for report, timeline in runs]
        if label == "node-hours low-priority" and all(r["node_hours"]["low_priority"] == 0
                                                      for r, _ in runs):
            continue
        if label == "cost" and all(r.get("cost") is None for r, _ in runs):
            continue
        if label == "resize errors" and not any(r.get("resize_errors") for r, _ in runs):
            continue
        rows.append((section, label, *values))
    return rows


# --------------------------------------------------------------------------------------------
# drawing tables
# --------------------------------------------------------------------------------------------


def render_table(out, title: str, headers: list[str], rows: Iterable[Row], *,
                 use_rich: bool | None = None) -> None:
    """Rows grouped by section under ``headers`` (first header names the figure column)."""
    rows = list(rows)
    if use_rich is None:
        try:
            import rich  # noqa: F401
            use_rich = True
        except ImportError:
            use_rich = False
    if use_rich:
        _rich_table(out, title, headers, rows)
    else:
        _plain_table(out, title, headers, rows)


def _rich_table(out, title: str, headers: list[str], rows: list[Row]) -> None:
    from rich.console import Console
    from rich.table import Table

    class _PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            # rich's own handler exits with status 1, which says "findings"; a reader that
            # went away (``| head``) is the command line's to handle: quietly, status 0
            self.quiet = True
            raise BrokenPipeError

    # wide enough for the figure column (33) and data columns of 20 characters, each with its
    # padding and rule (23), so no header of the compare table's width limit is folded
    console = _PipeConsole(file=out, width=max(100, 36 + 23 * (len(headers) - 1)),
                           highlight=False)
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column(headers[0], no_wrap=True)
    for h in headers[1:]:
        table.add_column(h, justify="right", overflow="fold")
    section = None
    for row in rows:
        if row[0] != section:
            if section is not None:
                table.add_section()
            section = row[0]
            table.add_row(f"{row[0]:<10}{row[1]}", *row[2:])
            continue
        table.add_row(f"{'':<10}{row[1]}", *row[2:])
    console.print(table)


def _plain_table(out, title: str, headers: list[str], rows: list[Row]) -> None:
    labels = [f"{r[0] if i == 0 or rows[i - 1][0] != r[0] else '':<10}{r[1]}"
              for i, r in enumerate(rows)]
    width0 = max([len(headers[0])] + [len(x) for x in labels])
    widths = [max([len(headers[i])] + [len(r[i + 1]) for r in rows]) for i in range(1, len(headers))]
    out.write(f"{title}\n")
    out.write(f"{headers[0]:<{width0}}  " + "  ".join(f"{h:>{w}}" for h, w in zip(headers[1:], widths)) + "\n")
    section = None
    for label, row in zip(labels, rows):
        if section is not None and row[0] != section:
            out.write("\n")
        section = row[0]
        out.write(f"{label:<{width0}}  " + "  ".join(f"{v:>{w}}" for v, w in zip(row[2:], widths)) + "\n")


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------


def write_timeline_csv(out: IO[str], timeline: list[dict], start_ticks: int) -> None:
    """One row per sample instant: the engine's timeline columns after an ISO ``timestamp``.
    ``out`` is a text file opened with ``newline=""``, as the csv module wants."""
    from poolscale.scheduler.results import instant_text
    from poolscale.scheduler.sampler import TIMELINE_COLUMNS

    w = csv.writer(out)
    w.writerow(("timestamp",) + TIMELINE_COLUMNS)
    for row in timeline:
        w.writerow([instant_text(start_ticks, row["time"])]
                   + [_csv_value(row.get(c)) for c in TIMELINE_COLUMNS])


def _csv_value(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def picture_type(path: str) -> str:
    """The picture type a plot file gets, by its extension (``png`` for ``run.PNG``)."""
    return os.path.splitext(path)[1].lower().lstrip(".")
