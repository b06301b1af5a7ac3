"""A small deterministic discrete-event kernel (SimPy-style ties,
docs/simulation-model.md#order-of-work-within-an-instant).

The heap holds ``(time, rank, seq, handler, a, b)``. ``time`` is float seconds after the run's
start; ``rank`` orders the kinds of work that meet at one instant; ``seq`` is a global counter,
so two entries never compare past it (handlers and their arguments are never compared) and
events of one rank at one instant run in the order they were scheduled. Nothing depends on
hashing or on the wall clock, so equal inputs give equal runs (invariant 13,
docs/simulation-model.md#invariants).

The order of work within an instant (docs/simulation-model.md#order-of-work-within-an-instant)
is: state events (exits, wall-clock expiries, node timers, submissions), a scheduling pass, the
sample, the autoscale run, another pass. The first four are ranks here; the sample and the run
are ranks too. The scheduling pass is not an event: handlers set :attr:`Kernel.dirty` when
they change something a pass could use, and the kernel
calls the pass *before* it runs anything of rank ``SAMPLE`` or above at the same instant and
before time moves on. A pass may itself schedule work at the current instant (a zero-length
task); it runs before the sample because its rank is lower, and another pass follows it.

Besides the heap, the kernel reads one *stream*: a sorted source of events (the workload's
submissions) that the heap would only shuffle, since each of its entries is known in advance.
Its next entry is ``stream_at`` (infinity when the stream is done) with the stream's rank; it
runs where a heap entry ``(stream_at, rank, ·)`` would, after heap entries of the same instant
and rank. Its handler sets the next ``stream_at`` and ``stream_arg``. This saves a heap push
and pop per submission instant (~5 % of a busy week's run).

Cancelling is lazy: a handler receives a token it compares with the token on its object (an
attempt number, a node incarnation) and returns at once when they differ. That keeps
cancellation O(1) and the heap free of bookkeeping. A run that leaves very many stale entries
(a formula that replaces a large pool at every evaluation, each removed node holding its
preemption and failure timers) can :meth:`Kernel.discard` them: each leaves only its time, 8
bytes in a sorted array, and still runs as an empty event at that time. The clock stops there
and the count of events is the same as if it had stayed, so the run does not change at all,
down to the last bit of every integral.

A run processes at most ``max_events`` events (limits.MAX_EVENTS): past it :meth:`Kernel.run`
raises :class:`TooManyEvents`, so no combination of rates keeps a run going for hours.
"""

from __future__ import annotations

from array import array
from heapq import heapify, heappop, heappush, merge
from itertools import count
from math import inf
from typing import Any, Callable

__all__ = [
    "EXIT", "WALLCLOCK", "NODE", "SUBMIT", "SAMPLE", "AUTOSCALE", "RANK_NAMES", "Kernel",
    "TooManyEvents",
]

#: Kind ranks of step 1 of docs/simulation-model.md#order-of-work-within-an-instant:
#: exits first, then wall-clock expiries, node timers, submissions.
EXIT = 0
WALLCLOCK = 1
NODE = 2
SUBMIT = 3
#: Steps 3 and 4 of docs/simulation-model.md#order-of-work-within-an-instant: the sample at t, then
#: the autoscale run at t.
SAMPLE = 4
AUTOSCALE = 5

RANK_NAMES = ("exit", "wallclock", "node", "submit", "sample", "autoscale")

Handler = Callable[[Any, Any], None]


def _nothing() -> None:
    """The pass hook of a released kernel."""


#: Marks the heap entry of a discarded entry's time (see Kernel.discard).
_STOP = object()


class TooManyEvents(Exception):
    """The run reached the kernel's ``max_events`` at simulated time ``at`` (seconds)."""

    def __init__(self, limit: int, at: float) -> None:
        super().__init__(f"{limit:,} events by {at:,.0f} s")
        self.limit, self.at = limit, at


class Kernel:
    """The event heap, the clock and the pass hook.

    ``schedule_pass`` is called as described in the module docstring; ``advance(old, new)`` is
    called once each time the clock moves forward, before the first event of the new instant
    runs, so integrators can add ``(new - old) × rate`` with rates that were constant in between.
    """

    __slots__ = ("heap", "now", "dirty", "_seq", "_pass", "_advance", "events_run", "stop_at",
                 "stream_at", "stream_arg", "_stream", "_stream_rank", "max_events", "_stops",
                 "_next_stop")

    def __init__(self, schedule_pass: Callable[[], None],
                 advance: Callable[[float, float], None] | None = None) -> None:
        self.heap: list[tuple] = []
        self.now = 0.0
        self.dirty = False
        self._seq = count()
        self._pass = schedule_pass
        self._advance = advance
        self.events_run = 0
        #: a handler may lower this to end the run after the current instant's work
        self.stop_at = inf
        #: the stream's next entry: its time (inf: none) and its handler's first argument
        self.stream_at = inf
        self.stream_arg: Any = None
        self._stream: Any = None
        self._stream_rank = 0
        #: the most events :meth:`run` processes in all (handlers run, stale ones included)
        self.max_events: float = inf
        #: times of the stale entries :meth:`discard` took out of the heap, ascending; the
        #: earliest not yet run is ``_stops[_next_stop]``, and it alone is in the heap
        self._stops = array("d")
        self._next_stop = 0

    def set_stream(self, rank: int, handler: Handler, first_at: float, arg: Any = None) -> None:
        """Read a sorted stream: ``handler(arg, None)`` runs at ``first_at`` with ``rank``; each
        call sets :attr:`stream_at` and :attr:`stream_arg` for the next entry (or
        ``stream_at = inf`` at the end)."""
        if first_at < self.now:
            raise ValueError(f"cannot start a stream at {first_at} before now ({self.now})")
        self._stream = handler
        self._stream_rank = rank
        self.stream_at = first_at
        self.stream_arg = arg

    def at(self, time: float, rank: int, handler: Handler, a: Any = None, b: Any = None) -> None:
        """Schedule ``handler(a, b)`` at ``time`` (never before now)."""
        if time < self.now:
            raise ValueError(f"cannot schedule at {time} before now ({self.now})")
        heappush(self.heap, (time, rank, next(self._seq), handler, a, b))

    def after(self, delay: float, rank: int, handler: Handler, a: Any = None, b: Any = None) -> None:
        heappush(self.heap, (self.now + delay, rank, next(self._seq), handler, a, b))

    def peek(self) -> float | None:
        """The time of the next event (heap or stream), or None when there is none."""
        t = self.heap[0][0] if self.heap else inf
        t = min(t, self.stream_at)
        return None if t == inf else t

    def run(self, until: float, *, on_step: Callable[[bool], None] | None = None) -> None:
        """Run every event with time <= ``until`` (and <= ``stop_at``), then a last pass.

        ``on_step(after_pass)`` (tests) is called after every handler (False) and every
        pass (True).
        """
        if on_step is None and self._advance is not None:
            self._run_fast(until)
            return
        heap = self.heap
        entry: Any
        advance: Any = self._advance
        passes = self._pass
        srank = self._stream_rank
        while True:
            st = self.stream_at
            if heap:
                entry = heap[0]
                t = entry[0]
                rank = entry[1]
                if st < t or (st == t and srank < rank):
                    t, rank, entry = st, srank, None
            elif st != inf:
                t, rank, entry = st, srank, None
            else:
                break
            if t != self.now:
                if self.dirty:
                    self.dirty = False
                    passes()
                    if on_step is not None:
                        on_step(True)
                    continue
                if t > until or t > self.stop_at:
                    break
                if advance is not None:
                    advance(self.now, t)
                self.now = t
            elif self.dirty and rank >= SAMPLE:
                self.dirty = False
                passes()
                if on_step is not None:
                    on_step(True)
                continue
            if self.events_run >= self.max_events:
                raise TooManyEvents(self.events_run, t)
            self.events_run += 1
            if entry is None:
                self._stream(self.stream_arg, None)
            else:
                heappop(heap)
                entry[3](entry[4], entry[5])
            if on_step is not None:
                on_step(False)
        if self.dirty:
            self.dirty = False
            passes()
            if on_step is not None:
                on_step(True)

    def _run_fast(self, until: float) -> None:
        """:meth:`run` without the test hook: the same steps with the clock in a local."""
        heap = self.heap
        entry: Any
        advance: Any = self._advance
        passes = self._pass
        stream: Any = self._stream
        srank = self._stream_rank
        st = self.stream_at
        now = self.now
        events = 0
        budget = self.max_events - self.events_run
        while True:
            if heap:
                entry = heap[0]
                t = entry[0]
                if st < t or (st == t and srank < entry[1]):
                    t = st
                    entry = None
            elif st != inf:
                t = st
                entry = None
            else:
                break
            if t != now:
                if self.dirty:
                    self.dirty = False
                    passes()
                    continue
                if t > until or t > self.stop_at:
                    break
                advance(now, t)
                self.now = now = t
            elif self.dirty and (srank if entry is None else entry[1]) >= SAMPLE:
                self.dirty = False
                passes()
                continue
            if events >= budget:
                self.events_run += events
                raise TooManyEvents(self.events_run, t)
            events += 1
            if entry is None:
                stream(self.stream_arg, None)
                st = self.stream_at
            else:
                heappop(heap)
                entry[3](entry[4], entry[5])
        self.events_run += events
        if self.dirty:
            self.dirty = False
            passes()

    def discard(self, stale: Callable[[tuple], bool]) -> int:
        """Take the entries ``stale(entry)`` picks out of the heap: entries whose handler would
        find its token stale and return, so only their times matter. Those times stay, sorted,
        and run as empty events one after the other (one heap entry at a time), so the run is
        unchanged. Returns how many entries were taken. O(heap + stops): the caller makes it
        rare enough to cost O(1) per stale entry."""
        keep = []
        times = []
        taken = 0
        for entry in self.heap:
            if entry[4] is _STOP:           # the next kept stop: back among the others
                times.append(entry[0])
            elif stale(entry):
                times.append(entry[0])
                taken += 1
            else:
                keep.append(entry)
        if not taken:
            return 0
        times.sort()
        stops = self._stops
        self._stops = array("d", merge(stops[self._next_stop:], times))
        self._next_stop = 0
        keep.append(self._stop_entry())
        heapify(keep)
        self.heap[:] = keep       # the same list: a running loop holds it
        return taken

    def _stop_entry(self) -> tuple:
        """The heap entry of the next kept stop: an empty event of rank NODE, as the node timers
        it stands for."""
        t = self._stops[self._next_stop]
        self._next_stop += 1
        return (t, NODE, next(self._seq), self._on_stop, _STOP, None)

    def _on_stop(self, _a: Any, _b: Any) -> None:
        """A discarded entry's time has come: nothing happens but the clock; then the next."""
        if self._next_stop < len(self._stops):
            heappush(self.heap, self._stop_entry())
        else:
            self._stops = array("d")
            self._next_stop = 0

    def release(self) -> None:
        """Drop the pending events and the handlers (bound methods of the simulation), so a
        finished run holds no reference cycle through its kernel."""
        self.heap.clear()
        self._stops = array("d")
        self._pass = _nothing
        self._advance = None
        self._stream = None

    def finish(self, until: float) -> None:
        """Move the clock to ``until`` (the horizon) so integrals cover the whole run."""
        if until > self.now and until != float("inf"):
            if self._advance is not None:
                self._advance(self.now, until)
            self.now = until
