"""The seams between the Batch rules and the world they run in: a clock, an inbox of reports,
nodes, task attempts and resource samples.

Why these exist: the same pool manager and scheduler run on two clocks. On the virtual clock
(:class:`~.simulate.Simulation`) time is :attr:`Kernel.now <.kernel.Kernel.now>` and every
duration, failure and node delay is a seeded draw, so nothing here is used. On the real clock
(``poolscale.runtime.service``) nodes are directories, attempts are processes and samples are
measured; the engine reaches them only through the protocols below, so the rules stay in one
place and never learn which world they run in.

This module is pure, as the rest of ``poolscale.scheduler``: protocols and named tuples only, no
threads, no wall clock, no I/O. Implementations live in ``poolscale.runtime.service`` (which this
package never imports); the protocols are structural (``typing.Protocol``), so an implementation
does not inherit from them; they are ``runtime_checkable``, so a test can assert that an
implementation has every method.

Times are *engine seconds*: seconds after the engine's origin, on the engine's own clock (the
virtual one, or the real one divided by its scale). Only a :class:`Clock` converts to wall time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

from .kernel import Handler

__all__ = ["Clock", "Report", "Promise", "Inbox", "NodeProvider", "Executor", "SampleSource"]


@runtime_checkable
class Clock(Protocol):
    """The real clock in engine seconds. The virtual clock is :attr:`Kernel.now` itself and
    needs no object; only the live kernel holds a clock, to know how far it may run and how long
    it may sleep."""

    def now(self) -> float:
        """Engine seconds since the engine's origin (wall elapsed / scale)."""
        ...

    def wall_seconds(self, engine_seconds: float) -> float:
        """How many wall seconds ``engine_seconds`` of engine time take (for waits)."""
        ...


class Report(NamedTuple):
    """Something that happened outside the engine thread (a process exited, a node booted, an
    API call), to run as ``handler(a, b)`` at ``at`` with ``rank`` (kernel.EXIT, NODE, ...).

    ``at`` is engine seconds, or None for "when it was observed" (the clock's time at the post).
    Either way it never runs before the engine's now: a report cannot change the past.
    """

    at: float | None
    rank: int
    handler: Handler
    a: Any = None
    b: Any = None


class Promise(NamedTuple):
    """A report announced before it happens: ``handler`` will run at ``at`` with ``rank`` and the
    heap sequence number ``seq`` reserved when the promise was made.

    Why: an attempt whose end is known in advance (a test executor that runs each task for
    exactly its declared duration) must end at the instant, and in the tie order, the simulator
    gives it. The reserved ``seq`` is taken where the simulator would call ``kernel.at``, and the
    engine does not run past ``at`` while the promise is open, so a late thread cannot let a
    sample or an autoscale run at ``at`` overtake the end it announced.
    """

    at: float
    rank: int
    seq: int
    handler: Handler


@runtime_checkable
class Inbox(Protocol):
    """How the world hands reports to the engine thread (the live kernel implements it)."""

    def post(self, report: Report) -> None:
        """Any thread: queue ``report`` and wake the engine."""
        ...

    def promise(self, at: float, rank: int, handler: Handler) -> Promise:
        """Engine thread: reserve the heap key ``(at, rank, seq)`` now; the engine will not pass
        ``at`` until the promise is kept or cancelled."""
        ...

    def keep(self, promise: Promise, a: Any = None, b: Any = None) -> None:
        """Any thread: ``promise.handler(a, b)`` runs at the promised key."""
        ...

    def cancel(self, promise: Promise) -> bool:
        """Engine thread: the promised handler will not run (an attempt killed before its end,
        which the engine decides on its own thread). True if this call withdrew it, False if it
        had run or was withdrawn already."""
        ...


@runtime_checkable
class NodeProvider(Protocol):
    """Allocates, boots, reimages and removes the machines of a pool. ``allocate`` and ``boot``
    report back through the inbox (``engine._on_allocated(node, token)``,
    ``engine._on_booted(node, token)``); ``token`` is the node's incarnation, so a report about a
    node that was removed or recreated meanwhile is dropped by the engine's token check."""

    def allocate(self, node: Any, token: int) -> None: ...

    def boot(self, node: Any, token: int) -> None: ...

    def reimage(self, node: Any) -> None:
        """Wipe the node's local data (preemption, failure, a recreated node)."""
        ...

    def remove(self, node: Any) -> None:
        """The node left the pool: release its resources (may finish in the background)."""
        ...

    def root(self, node: Any) -> Path | None:
        """The node's local directory, None where nodes are not directories."""
        ...

    def node_ip(self, node: Any) -> str:
        """The address other instances of a multi-instance task use (AZ_BATCH_HOST_LIST)."""
        ...


@runtime_checkable
class Executor(Protocol):
    """Starts, kills and reports attempts (task, start task, job preparation/release).

    The shape of ``poolscale.runtime.service.local.executor.ProcessExecutor``: the exit callback
    is given to the executor when it is built (``on_exit(handle, result)``, called exactly once
    per started attempt, from any thread, also for an attempt that could not start); the live
    engine's callback only posts a :class:`Report`. The spec and handle types are the
    executor's own (the local one: ``AttemptSpec``, ``AttemptHandle`` with ``pid``, ``pgid``,
    ``create_time`` for recovery); the engine passes them through without looking inside.
    """

    def start(self, spec: Any) -> Any:
        """Start one attempt; returns its handle at once (the process runs on)."""
        ...

    def kill(self, handle: Any, reason: str = "kill") -> bool:
        """End the attempt (its whole process group); ``reason="wallclock"`` reports Batch's
        wall-clock exit code. Idempotent; False if the attempt had already ended. An executor that
        promised the attempt's end cancels that promise here."""
        ...


@runtime_checkable
class SampleSource(Protocol):
    """The resource part of sample ``k`` (the task and node counts come from the engine, as in
    the simulator): over the period's ``du`` usable node-seconds, the pool's CPU percent, the
    ``$MemoryBytes`` and ``$DiskBytes`` values in the units docs/simulation-model.md gives them
    (megabytes, gigabytes), and the six period totals (disk read/write bytes, disk read/write
    operations, network in/out bytes)."""

    def resources(self, k: int, du: float) -> tuple[float, float, float, tuple[float, ...]]: ...
