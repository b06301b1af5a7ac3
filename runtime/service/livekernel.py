"""The simulator's event kernel on the real clock: :class:`LiveKernel` and :class:`RealClock`.

Why a subclass and not a second loop: the order of work within an instant (ranks, the ``dirty``
flag, the pass before the sample and before time moves) is the Batch model's, and it must be
the same on both clocks. So the live kernel never runs an event itself: it calls the unchanged
:meth:`Kernel.run` with ``until`` = the real clock's time, over and over. Running the kernel in
chunks is the same run as running it at once (tests/test_live_kernel.py checks that on real
simulations, with arbitrary chunk ends), so nothing the rules decide depends on where a chunk
ends or on how late the engine thread is.

What the live kernel adds around that loop (:meth:`LiveKernel.serve`, the engine thread):

* **An inbox** (``queue.SimpleQueue``; any thread may post). A :class:`~.world.Report` is pushed
  into the heap at its time, or, with no time, at the clock's time when it was posted; never
  before the engine's now (a report cannot change the past).
* **Promises**: an end known in advance (a test executor running a task for exactly its declared
  duration) reserves its heap key ``(at, rank, seq)`` on the engine thread at the moment it is
  launched, which is where the simulator would call ``kernel.at``. While a promise is open the
  kernel never runs past ``nextafter(at, -inf)``, whatever the real clock says; the keeper (any
  thread) then pushes the handler with the reserved key. So an end promised at T runs after what
  the simulator runs before it at T and before what it runs after it (the sample, the autoscale
  run), however late the keeper's thread was. The cap lives in :attr:`LiveKernel.stop_at`, which
  :meth:`Kernel.run` reads at every step, so a promise made in the middle of a run stops that run
  too. A promise at the current instant (a zero-length attempt) cannot be fenced that way (the
  kernel finishes an instant whatever ``stop_at`` says), so its key is pushed at once and the
  engine waits there for the keep.
* **Commands** (:meth:`LiveKernel.submit`, API calls): ``fn()`` runs on the engine thread after
  :meth:`Kernel.run` returned, at the clock's time (the kernel's clock moved there first, as
  :meth:`Kernel.finish` moves it), like a submission: whatever it schedules at that instant runs
  and a pass follows if it made the pool dirty. Its future is resolved only after
  :attr:`LiveKernel.on_commit` ran (commit before acknowledge: an acknowledged change is
  durable). An exception in ``fn`` goes to its future, not to the loop.
* **Stopping**: :meth:`LiveKernel.stop` (any thread) or a handler lowering ``stop_at`` (the drain
  of ``poolscale run``, as in the simulator) ends :meth:`serve` after the turn's commit. An
  exception in a heap handler (or in ``on_commit``) ends it too and is raised by :meth:`serve`
  and by :meth:`LiveKernel.join`; commands not run by then fail with :class:`EngineStopped`.
* **A watchdog** for promises: one still open ``promise_timeout`` wall seconds after its time
  would stall the engine for good (a keeper thread died, a kill forgot to cancel), so it raises
  :class:`PromiseNotKept` (``late_promise="raise"``, for tests) or is logged and cancelled
  (``"drop"``).

Between turns the engine thread sleeps in ``SimpleQueue.get(timeout)`` until the next heap or
stream entry is due or something is posted: no polling, no CPU while idle.
"""

from __future__ import annotations

import heapq
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, NamedTuple

from poolscale.scheduler.kernel import Handler, Kernel
from poolscale.scheduler.world import Promise, Report

__all__ = ["RealClock", "LiveKernel", "PromiseNotKept", "EngineStopped"]

_log = logging.getLogger(__name__)

#: The longest single sleep of the engine thread (wall seconds): far beyond any wait that
#: matters, and below the platform's lock timeout limit.
MAX_WAIT = 3600.0


class RealClock:
    """Engine seconds on the wall clock: ``start_at + (monotonic() - origin) / scale``.

    ``scale`` < 1 runs engine time faster than wall time (0.01: an engine hour in 36 wall
    seconds; the differential test's setting); ``monotonic`` is injectable so tests can drive the
    clock; ``start_at`` is the engine time at the clock's creation (0 for a fresh engine, the
    stored engine time after a restart).
    """

    __slots__ = ("scale", "start_at", "_monotonic", "_origin")

    def __init__(self, scale: float = 1.0, monotonic: Callable[[], float] = time.monotonic, *,
                 start_at: float = 0.0) -> None:
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a positive finite number of wall seconds per engine second, not {scale!r}")
        self.scale = float(scale)
        self.start_at = float(start_at)
        self._monotonic = monotonic
        self._origin = monotonic()

    def now(self) -> float:
        return self.start_at + (self._monotonic() - self._origin) / self.scale

    def wall_seconds(self, engine_seconds: float) -> float:
        return engine_seconds * self.scale

    def wall_at(self, engine_time: float) -> float:
        """The reading of :attr:`monotonic` at which the clock shows ``engine_time``."""
        return self._origin + (engine_time - self.start_at) * self.scale

    @property
    def monotonic(self) -> Callable[[], float]:
        """The wall-clock source (seconds), for timers that must agree with this clock."""
        return self._monotonic


class PromiseNotKept(RuntimeError):
    """A promise stayed open ``promise_timeout`` wall seconds after its time."""


class EngineStopped(RuntimeError):
    """The engine stopped (or failed) before it ran the command."""


class _Keep(NamedTuple):
    promise: Promise
    a: Any
    b: Any


class _Command(NamedTuple):
    fn: Callable[[], Any]
    future: Future


#: The inbox item :meth:`LiveKernel.stop` posts.
_STOP = object()


def _no_commit() -> None:
    """The default commit hook: nothing is durable."""


class LiveKernel(Kernel):
    """:class:`Kernel` driven by a real clock from one engine thread (see the module docstring).

    ``schedule_pass`` and ``advance`` are the kernel's hooks, as for :class:`Kernel`; ``clock``
    gives engine seconds (:class:`RealClock`); ``on_commit()`` runs on the engine thread after
    every turn (the store's group commit). Every method but :meth:`post`, :meth:`keep`,
    :meth:`submit`, :meth:`stop` and :meth:`join` belongs to the engine thread (the thread that
    built the kernel until :meth:`serve` runs, then the serving thread).
    """

    __slots__ = ("clock", "on_commit", "promise_timeout", "late_promise", "_inbox", "_held",
                 "_open", "_open_times", "_kept", "_gated", "_stop_request", "_promise_cap",
                 "_stop_eff", "_owner", "_lock", "_closed", "_serving", "_commands", "_error",
                 "_thread")

    def __init__(self, schedule_pass: Callable[[], None],
                 advance: Callable[[float, float], None] | None = None, *, clock: Any,
                 on_commit: Callable[[], None] | None = None, promise_timeout: float | None = 10.0,
                 late_promise: str = "raise") -> None:
        if late_promise not in ("raise", "drop"):
            raise ValueError(f"late_promise must be 'raise' or 'drop', not {late_promise!r}")
        # read by the stop_at property, which Kernel.__init__ sets
        self._stop_request = math.inf
        self._promise_cap = math.inf
        self._stop_eff = math.inf
        super().__init__(schedule_pass, advance)
        self.max_events = math.inf     # the event budget is a simulator limit
        self.clock = clock
        self.on_commit = on_commit if on_commit is not None else _no_commit
        self.promise_timeout = promise_timeout
        self.late_promise = late_promise
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        #: inbox items taken out while waiting, to handle at the next drain (in order)
        self._held: list = []
        #: seq -> promise, for promises neither kept nor cancelled
        self._open: dict[int, Promise] = {}
        #: (at, seq) of the open promises, a min-heap; closed ones are skipped lazily
        self._open_times: list[tuple[float, int]] = []
        #: seq -> (a, b) of kept promises whose heap entry has not run yet
        self._kept: dict[int, tuple[Any, Any]] = {}
        #: seqs of promises made at their own instant: their entry is in the heap already
        self._gated: set[int] = set()
        self._owner = threading.get_ident()
        self._lock = threading.Lock()
        self._closed = False
        self._serving = False
        self._commands: list[_Command] = []
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    # -- stop_at: the handlers' stop request, capped by the earliest open promise ------------------

    @property
    def stop_at(self) -> float:  # type: ignore[override]
        """What :meth:`Kernel.run` reads: the earlier of a handler's stop request and the last
        instant before the earliest open promise."""
        return self._stop_eff

    @stop_at.setter
    def stop_at(self, value: float) -> None:
        self._stop_request = value
        self._stop_eff = min(value, self._promise_cap)

    @property
    def stop_requested(self) -> float:
        """The stop a handler asked for (``inf``: none): what the simulator's ``stop_at`` means
        after a run (``poolscale run`` drained), without the promise cap."""
        return self._stop_request

    def _update_cap(self) -> None:
        times = self._open_times
        while times and times[0][1] not in self._open:
            heapq.heappop(times)
        self._promise_cap = math.nextafter(times[0][0], -math.inf) if times else math.inf
        self._stop_eff = min(self._stop_request, self._promise_cap)

    # -- the inbox (world.Inbox) -----------------------------------------------------------------

    def post(self, report: Report) -> None:
        """Any thread: run ``report.handler(a, b)`` at ``report.at`` (None: the clock's time now),
        or at the engine's now if that is later."""
        if report.at is None:
            report = report._replace(at=self.clock.now())
        self._inbox.put(report)

    def promise(self, at: float, rank: int, handler: Handler) -> Promise:
        """Engine thread: reserve the heap key ``(at, rank, seq)`` now (see the module docstring)."""
        self._check_owner("promise")
        if at < self.now:
            raise ValueError(f"cannot promise at {at} before now ({self.now})")
        p = Promise(at, rank, next(self._seq), handler)
        self._open[p.seq] = p
        heapq.heappush(self._open_times, (at, p.seq))
        if at <= self.now:
            # the kernel finishes the current instant whatever stop_at says: wait at the key
            self._gated.add(p.seq)
            heapq.heappush(self.heap, (at, rank, p.seq, self._fire, p, None))
        self._update_cap()
        return p

    def keep(self, promise: Promise, a: Any = None, b: Any = None) -> None:
        """Any thread: ``promise.handler(a, b)`` runs at the promised key. A keep after a cancel
        is dropped."""
        if self._on_engine_thread():
            self._apply_keep(promise, a, b)
        else:
            self._inbox.put(_Keep(promise, a, b))

    def cancel(self, promise: Promise) -> bool:
        """Engine thread: the promised handler will not run. True if this call withdrew it."""
        self._check_owner("cancel")
        seq = promise.seq
        if self._open.pop(seq, None) is not None:
            if seq not in self._gated and promise.at >= self.now:
                # the simulator leaves a cancelled timer in its heap, where it runs as an empty
                # event; so does this, so the clock stops at the same instants on both clocks
                # (the integrals behind samples add up in the same steps, bit for bit)
                heapq.heappush(self.heap, (promise.at, promise.rank, seq, self._fire, promise, None))
            self._update_cap()
            return True
        # kept, entry not run yet: it stays in the heap and runs as an empty event
        return self._kept.pop(seq, None) is not None

    def open_promises(self) -> int:
        """How many promises are neither kept nor cancelled."""
        return len(self._open)

    def _apply_keep(self, promise: Promise, a: Any, b: Any) -> None:
        seq = promise.seq
        if self._open.pop(seq, None) is None:
            return                          # cancelled meanwhile (a kill raced the end)
        if promise.at < self.now:           # the cap makes this impossible; never run the past
            raise RuntimeError(f"promise at {promise.at} kept after the engine passed it ({self.now})")
        self._kept[seq] = (a, b)
        if seq not in self._gated:
            heapq.heappush(self.heap, (promise.at, promise.rank, seq, self._fire, promise, None))
        self._update_cap()

    def _fire(self, promise: Promise, _b: Any) -> None:
        """The heap entry of a promise: the kept handler, nothing if cancelled."""
        seq = promise.seq
        args = self._kept.pop(seq, None)
        if args is None and seq in self._gated and seq in self._open:
            args = self._await_keep(promise)
        self._gated.discard(seq)
        if args is not None:
            promise.handler(*args)

    def _await_keep(self, promise: Promise) -> tuple[Any, Any] | None:
        """Block until ``promise`` is kept (or cancelled by the watchdog); other inbox items wait
        for the next turn, keeps of other promises are applied at once. A stop withdraws the
        promise and ends the run with the current instant, so that stopping never hangs on a
        keeper: the attempt stays running, as every attempt does when the engine stops."""
        seq = promise.seq
        while seq in self._open:
            try:
                item = self._inbox.get(timeout=self._watchdog_wait())
            except queue.Empty:
                self._check_promises()
                continue
            if type(item) is _Keep:
                self._apply_keep(*item)
                continue
            self._held.append(item)
            if item is _STOP:
                self.cancel(promise)
                self.stop_at = self.now     # and the run ends with this instant
        return self._kept.pop(seq, None)

    # -- commands and stopping (any thread) -------------------------------------------------------

    def submit(self, fn: Callable[[], Any]) -> Future:
        """Any thread: run ``fn()`` on the engine thread; the future gets its result (or its
        exception) after the turn's ``on_commit`` ran."""
        future: Future = Future()
        with self._lock:
            if not self._closed:
                self._inbox.put(_Command(fn, future))
                return future
        future.set_exception(EngineStopped("the engine has stopped"))
        return future

    def stop(self) -> None:
        """Any thread: :meth:`serve` returns after committing the current turn."""
        self._inbox.put(_STOP)

    def serve_in_thread(self, name: str = "poolscale-engine") -> threading.Thread:
        """Run :meth:`serve` on a new daemon thread; :meth:`join` waits for it."""
        if self._thread is not None:
            raise RuntimeError("the engine thread was started already")
        self._thread = threading.Thread(target=self._serve_quietly, name=name, daemon=True)
        self._thread.start()
        return self._thread

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the engine thread; False if it still runs after ``timeout``. Raises what
        ended :meth:`serve`, if it failed."""
        if self._thread is None:
            raise RuntimeError("the engine thread was not started (serve_in_thread)")
        self._thread.join(timeout)
        if self._thread.is_alive():
            return False
        if self._error is not None:
            raise self._error
        return True

    def _serve_quietly(self) -> None:
        try:
            self.serve()
        except BaseException:  # kept in self._error for join(); logged, not printed by threading
            _log.error("the engine thread stopped on an error", exc_info=True)

    # -- the engine thread's loop ----------------------------------------------------------------

    def serve(self) -> None:
        """The engine thread's loop: drain the inbox, run to the clock (never past an open
        promise), run the commands, commit, acknowledge, sleep until something is due."""
        if self._serving or self._closed:
            raise RuntimeError("a LiveKernel serves once")
        self._serving = True
        self._owner = threading.get_ident()
        try:
            self._serve()
        except BaseException as e:
            self._error = e
            raise
        finally:
            self._close()

    def _serve(self) -> None:
        while True:
            stopping = self._drain()
            cap = self.clock.now()
            self.run(cap)                   # stop_at keeps it before the earliest open promise
            done = self._run_commands(cap) if self._commands else ()
            self.on_commit()
            self._commands = []
            for future, ok, value in done:
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            if stopping or self._stop_request != math.inf:
                return
            self._check_promises()
            self._wait()

    def _drain(self) -> bool:
        """Move everything posted into the heap (reports, keeps) or the turn's command list.
        True if a stop was posted."""
        items, self._held = self._held, []
        get = self._inbox.get_nowait
        try:
            while True:
                items.append(get())
        except queue.Empty:
            pass
        stopping = False
        for item in items:
            kind = type(item)
            if kind is Report:
                at = item.at if item.at > self.now else self.now
                self.at(at, item.rank, item.handler, item.a, item.b)
            elif kind is _Keep:
                self._apply_keep(*item)
            elif kind is _Command:
                self._commands.append(item)
            elif item is _STOP:
                stopping = True
            else:
                raise TypeError(f"not an inbox item: {item!r}")
        return stopping

    def _run_commands(self, cap: float) -> list[tuple[Future, bool, Any]]:
        """Run the turn's commands at ``cap`` (never past a stop or an open promise), then what
        they scheduled at that instant and a pass if they made the pool dirty."""
        target = min(cap, self.stop_at)
        if target > self.now:
            if self._advance is not None:
                self._advance(self.now, target)
            self.now = target
        done = []
        for fn, future in self._commands:
            if not future.set_running_or_notify_cancel():
                continue
            try:
                done.append((future, True, fn()))
            except Exception as e:
                done.append((future, False, e))
        self.run(self.now)
        return done

    def _wait(self) -> None:
        """Sleep until the next heap or stream entry is due, something is posted, or an open
        promise is due for the watchdog."""
        if self._held:
            return                          # taken out of the inbox during the turn
        nxt = self.heap[0][0] if self.heap else math.inf
        if self.stream_at < nxt:
            nxt = self.stream_at
        if nxt > self._promise_cap:
            nxt = math.inf                  # it waits for a keep, not for the clock
        timeout = self._watchdog_wait()
        if nxt != math.inf:
            due = self.clock.wall_seconds(nxt - self.clock.now())
            if due <= 0:
                return
            timeout = min(timeout, due)
        try:
            self._held.append(self._inbox.get(timeout=timeout))
        except queue.Empty:
            pass

    def _watchdog_wait(self) -> float:
        """Wall seconds until the earliest open promise is late for the watchdog (MAX_WAIT with
        no watchdog or no open promise)."""
        if self.promise_timeout is None or not self._open_times:
            return MAX_WAIT
        at = self._open_times[0][0]
        late = self.clock.wall_seconds(self.clock.now() - at)
        return min(MAX_WAIT, max(0.0, self.promise_timeout - late) + 0.001)

    def _check_promises(self) -> None:
        if self.promise_timeout is None:
            return
        while self._open_times:
            self._update_cap()
            if not self._open_times:
                return
            at, seq = self._open_times[0]
            late = self.clock.wall_seconds(self.clock.now() - at)
            if late <= self.promise_timeout:
                return
            p = self._open[seq]
            message = (f"promise of {getattr(p.handler, '__qualname__', p.handler)!r} at {at} (rank {p.rank}) "
                       f"not kept {late:.3f} wall seconds after its time (promise_timeout {self.promise_timeout})")
            if self.late_promise == "raise":
                raise PromiseNotKept(message)
            _log.warning("%s: dropped", message)
            self.cancel(p)

    def _close(self) -> None:
        """No more commands; fail those not run."""
        with self._lock:
            self._closed = True
        pending = [c for c in self._commands]
        items = self._held
        try:
            while True:
                items.append(self._inbox.get_nowait())
        except queue.Empty:
            pass
        pending += [item for item in items if type(item) is _Command]
        for _fn, future in pending:
            if future.done():
                continue
            if future.running() or future.set_running_or_notify_cancel():
                error = EngineStopped("the engine stopped before it acknowledged this command")
                error.__cause__ = self._error
                future.set_exception(error)
        self._commands = []
        self._held = []

    # -- threads -----------------------------------------------------------------------------------

    def _on_engine_thread(self) -> bool:
        return threading.get_ident() == self._owner

    def _check_owner(self, what: str) -> None:
        if threading.get_ident() != self._owner:
            raise RuntimeError(f"{what}() belongs to the engine thread")
