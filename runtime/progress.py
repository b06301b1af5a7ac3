"""Progress of a long step (reading a large workload, simulating) on standard error.

The core reports progress through a plain callback, ``progress(done, total)``, and knows
nothing of terminals or clocks; this module draws it. Three modes, from the command's options:

* ``auto`` (the default): a rich progress bar when standard error is a terminal, shown once
  the step has taken half a second (short steps stay quiet); nothing otherwise, so pipes, CI
  logs and ``--json`` runs see no progress at all;
* ``on`` (``--progress``): the bar at once on a terminal; elsewhere one plain line at every
  tenth of the step (``progress: reading big.csv: 30%``), which a log keeps readable;
* ``off`` (``--no-progress``): nothing.

Standard output is never written: it carries the report.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import IO

__all__ = ["ProgressDisplay", "progress_mode", "add_progress_arguments"]

#: how long a step runs before ``auto`` draws its bar (seconds)
BAR_DELAY = 0.5


def add_progress_arguments(p: argparse.ArgumentParser) -> None:
    """``--no-progress`` and ``--progress``, which exclude each other (simulate, compare)."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--no-progress", action="store_true",
                       help="no progress display (by default a bar is drawn on standard error "
                            "when it is a terminal, for steps over 0.5 s)")
    group.add_argument("--progress", action="store_true",
                       help="show progress on standard error even when it is not a terminal: "
                            "a line at every tenth of reading the workload and of simulating")


def progress_mode(args: argparse.Namespace) -> str:
    """``off``, ``on`` or ``auto`` from ``--no-progress`` / ``--progress``."""
    if getattr(args, "no_progress", False):
        return "off"
    return "on" if getattr(args, "progress", False) else "auto"


class ProgressDisplay:
    """``display(done, total)`` draws how far a step is; ``close()`` ends the drawing.

    ``label`` names the step (``reading big.csv``), ``unit`` follows the percentage in the
    bar and the lines (``of simulated time``; empty for a file read)."""

    def __init__(self, label: str, unit: str = "", mode: str = "auto",
                 stream: IO[str] | None = None) -> None:
        self.label, self.unit = label, unit
        self.stream = stream if stream is not None else sys.stderr
        terminal = _is_terminal(self.stream)
        self.style = ("bar" if terminal and mode in ("auto", "on")
                      else "lines" if mode == "on" else None)
        self.delay = BAR_DELAY if mode == "auto" else 0.0
        self.t0 = time.monotonic()
        self.bar = self.task = None
        self.next_tenth = 1

    def __call__(self, done: float, total: float) -> None:
        if self.style == "lines":
            self._line(done, total)
        elif self.style == "bar":
            self._bar(done, total)

    def _line(self, done: float, total: float) -> None:
        """One line each time the step passes another tenth, with how far it is."""
        share = min(done, total) / total if total > 0 else 1.0
        tenths = int(10 * share)
        if tenths < self.next_tenth:
            return
        self.next_tenth = tenths + 1
        unit = f" {self.unit}" if self.unit else ""
        self.stream.write(f"progress: {self.label}: {int(100 * share)}%{unit}\n")
        self.stream.flush()

    def _bar(self, done: float, total: float) -> None:
        if self.bar is None:
            if time.monotonic() - self.t0 < self.delay:
                return
            try:
                from rich.console import Console
                from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
            except ImportError:
                self.style = None
                return
            unit = f" {self.unit}" if self.unit else ""
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                TextColumn("{task.percentage:>3.0f}%" + unit),
                                TimeRemainingColumn(), console=Console(file=self.stream),
                                transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=max(total, 1.0))
        self.bar.update(self.task, completed=min(done, total), total=max(total, 1.0))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):     # no isatty, or a closed stream
        return False
