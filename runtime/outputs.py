"""The files one command writes, and the line that says which of them an interrupt left unwritten.

A command that writes files (``simulate --report-json/--timeline/--plot``, ``compare --plot``,
``test --junit``, ``fmt``) names them up front in an :class:`OutputFiles`, writes each through it
(atomically, by :mod:`.atomicwrite`), and runs inside :meth:`OutputFiles.reporting_interrupts`.
When Ctrl-C (SIGINT) or SIGTERM stops it, before or during the writing, one line on standard
error names the files written whole and those not written, e.g.::

    poolscale: interrupted: report.json written; timeline.csv and plot.png not written

and the interrupt goes on to the CLI, which exits 130 (SIGINT) or 143 (SIGTERM). A file not
written is as it was before the run: atomic writing never leaves a cut file.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import IO, Any, Iterable, Iterator, TextIO

from .atomicwrite import atomic_write
from .cli import Terminated

__all__ = ["OutputFiles", "names_text"]

#: how many names the interrupt line spells out before it says "and N more"
NAMES_SHOWN = 4


def names_text(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``; past :data:`NAMES_SHOWN` names, ``a, b, c, d and 5
    more`` (never "and 1 more": that name is shown)."""
    if len(names) > NAMES_SHOWN + 1:
        return ", ".join(names[:NAMES_SHOWN]) + f" and {len(names) - NAMES_SHOWN} more"
    if len(names) > 1:
        return ", ".join(names[:-1]) + " and " + names[-1]
    return names[0] if names else ""


class OutputFiles:
    """The files a run means to write, by the names the user gave, in the order it writes them.

    ``verb`` says what happens to a file (``written``; ``fmt`` says ``reformatted``). A file is
    pending until :meth:`open` has put it in place, or :meth:`skip` says it needs no writing
    after all.
    """

    def __init__(self, names: Iterable[str | None], *, verb: str = "written") -> None:
        self.pending = [n for n in names if n]
        self.done: list[str] = []
        self.verb = verb

    def open(self, name: str, mode: str = "w",
             **options: Any) -> contextlib.AbstractContextManager[IO[Any]]:
        """:func:`~.atomicwrite.atomic_write` of ``name``, counted as done once it is in place."""
        return atomic_write(name, mode, on_commit=lambda: self._commit(name), **options)

    def skip(self, name: str) -> None:
        """``name`` will not be written (it needs no change, or it cannot be): not pending."""
        if name in self.pending:
            self.pending.remove(name)

    def _commit(self, name: str) -> None:
        self.skip(name)
        self.done.append(name)

    def interrupted_line(self) -> str:
        """``interrupted: A written; B not written``, either half left out when it is empty."""
        parts = []
        if self.done:
            parts.append(f"{names_text(self.done)} {self.verb}")
        if self.pending:
            parts.append(f"{names_text(self.pending)} not {self.verb}")
        return "interrupted" + (": " + "; ".join(parts) if parts else "")

    @contextlib.contextmanager
    def reporting_interrupts(self, err: TextIO | None = None) -> Iterator["OutputFiles"]:
        """Run the block with SIGTERM raising :class:`~.cli.Terminated` (so clean-ups run, where
        the default action would kill the process mid-write), and on an interrupt write the
        :meth:`interrupted_line` to ``err`` (standard error) before letting it go on."""
        with _terminate_raises():
            try:
                yield self
            except (KeyboardInterrupt, Terminated):
                (err or sys.stderr).write(f"poolscale: {self.interrupted_line()}\n")
                raise


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


@contextlib.contextmanager
def _terminate_raises() -> Iterator[None]:
    """SIGTERM raises :class:`~.cli.Terminated` in the block (main thread only: no other thread
    may set a handler, and Python runs handlers only there)."""
    if (not hasattr(signal, "SIGTERM") or threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is None):
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

