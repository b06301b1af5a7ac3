"""Task attempts that last their declared durations on the real clock.

The live engine's decisions must be the simulator's: same autoscale results at the same
instants, same placements, retries, requeues and final states. To show it, the differential
test runs the simulator's own world (node timers, start tasks, samples: scheduler/simworld.py)
on the live kernel, except for task attempts: those are launched here, as the live engine
launches a process, and reported back from another thread when they end — after their declared
duration, scaled, on the wall clock. Everything the live engine adds to a simulation is then in
play: the real clock, the inbox, reports from a foreign thread, the general paths of the rules
(no inlined fast path, no direct start at submission), a kill racing an exit.

Exact decisions on a real clock come from promises (runtime/service/livekernel.py): the launch
reserves the exit's heap key at the moment the simulator would schedule it, and the kernel never
runs past that key until the report arrives, however late the reporting thread is.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from typing import Any, Callable

from poolscale.scheduler.kernel import EXIT, WALLCLOCK
from poolscale.scheduler.simworld import SimulatedWorld, attempt_duration
from poolscale.scheduler.tasks import Task
from poolscale.scheduler.world import Promise

__all__ = ["DeclaredDurationWorld", "WallTimer"]


class WallTimer:
    """One thread that calls ``fn(*args)`` when each wall-clock deadline comes: one thread for
    any number of running attempts (a thread per attempt would cost a thread start each)."""

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self._monotonic = monotonic
        self._heap: list[tuple[float, int, Callable[..., None], tuple]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="poolscale-declared", daemon=True)
        self._thread.start()

    def call_at(self, deadline: float, fn: Callable[..., None], *args: Any) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._seq), fn, args))
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    if self._heap:
                        wait = self._heap[0][0] - self._monotonic()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
                if self._closed:
                    return
                _, _, fn, args = heapq.heappop(self._heap)
            fn(*args)


class DeclaredDurationWorld(SimulatedWorld):
    """The simulator's world with task attempts run as the live engine runs them (see the
    module docstring). The kernel must be a :class:`~.livekernel.LiveKernel`; ``_declared``
    (a :class:`WallTimer` on the same monotonic time as the kernel's clock) is set by whoever
    builds the engine."""

    _declared: WallTimer
    #: the promise of each running attempt's exit, by task
    _pending: dict[Task, Promise]

    def _launch_attempt(self, task: Task) -> None:
        k: Any = self.kernel
        now = k.now
        d = attempt_duration(task)
        w = task.wall
        if w is not None and w < d:
            # the engine's own wall-clock timer ends it; the "process" is killed then
            k.at(now + w, WALLCLOCK, self._on_wall, task, task.attempt)
            return
        promise = k.promise(now + d, EXIT, self._on_declared_exit)
        self._pending[task] = promise
        report = (task.attempt, task.attempt_exit_code())
        self._declared.call_at(k.clock.wall_at(now + d), k.keep, promise, task, report)

    def _on_declared_exit(self, task: Task, report: tuple[int, int]) -> None:
        self._pending.pop(task, None)
        self._on_reported_exit(task, report)

    def _stop_resources(self, task: Task) -> None:
        """The attempt ended some other way (requeue, kill, preemption): withdraw its exit."""
        super()._stop_resources(task)
        promise = self._pending.pop(task, None)
        if promise is not None:
            self.kernel.cancel(promise)  # type: ignore[attr-defined]
