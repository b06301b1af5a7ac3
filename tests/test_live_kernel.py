"""The simulator's kernel on the real clock (runtime/service/livekernel.py).

Two kinds of test. The first kind runs real simulations of the shipped examples through the
kernel in chunks (the live loop's premise: ``Kernel.run(cap)`` over and over is the same run as
one ``Kernel.run(until)``) and through :meth:`LiveKernel.serve` itself, and compares events,
report and timeline with an ordinary run. The second kind drives a :class:`LiveKernel` directly
with a hand-set clock and a recorder: promised reports against timers at one instant, cancel,
commands and their acknowledgement, stopping, errors, waking and sleeping.

Threads meet through polling with a deadline (:func:`until`), never through sleep-and-hope;
nothing here waits longer than a few seconds even on a loaded machine.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from poolscale.runtime.service.livekernel import EngineStopped, LiveKernel, PromiseNotKept, RealClock
from poolscale.scheduler import Simulation
from poolscale.scheduler.kernel import AUTOSCALE, EXIT, NODE, SAMPLE, SUBMIT, WALLCLOCK, Kernel
from poolscale.scheduler.workload import read_csv
from poolscale.scheduler.world import Promise, Report

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEADLINE = 5.0  # seconds a poll waits before the test fails: generous, so never flaky


def until(condition, what: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


class ManualClock:
    """Engine time set by the test; ``scale`` wall seconds per engine second."""

    def __init__(self, t: float = 0.0, scale: float = 1.0) -> None:
        self.t = t
        self.scale = scale

    def now(self) -> float:
        return self.t

    def wall_seconds(self, engine_seconds: float) -> float:
        return engine_seconds * self.scale


# -- whole simulations, chunked and served ----------------------------------------------------------

WORKLOAD = read_csv((EXAMPLES / "workload.csv").read_text(), "workload.csv")
HORIZON = 12 * 3600.0


def cases():
    """(name, pool, formula): the example pool with the example formula, and the low-priority
    pool (preemption, start task) with its own."""
    return {
        "pool": (json.loads((EXAMPLES / "pool.json").read_text()), (EXAMPLES / "autoscale.formula").read_text()),
        "low-priority": (json.loads((EXAMPLES / "low-priority-pool.json").read_text()), None),
    }


CASES = cases()


def simulation(case: str, kernel_factory=None) -> Simulation:
    pool, formula = CASES[case]
    sim = Simulation(pool, WORKLOAD, formula, horizon=HORIZON, seed=3)
    if kernel_factory is not None:
        # swap the kernel before anything is scheduled, so Simulation.run itself drives it
        old = sim.kernel
        assert not old.heap and old.stream_at == math.inf
        sim.kernel = kernel_factory(old._pass, old._advance)
        sim.kernel._seq = old._seq
    return sim


def outcome(sim: Simulation):
    r = sim.result()
    return r.events, r.report, r.timeline_rows, [(t, run.results) for t, run in r.runs]


REFERENCE = {case: outcome(simulation(case).run()) for case in CASES}


def test_the_reference_runs_are_busy_enough_to_mean_something():
    # what the comparisons below stand on: failed tasks, start tasks, autoscaling, and on the
    # low-priority pool preemptions with their recoveries
    kinds = {case: [e[1] for e in events] for case, (events, *_) in REFERENCE.items()}
    for case, (events, report, timeline, runs) in REFERENCE.items():
        assert report["tasks"]["submitted"] == 138 and report["tasks"]["failed"] == 2, case
        assert len(timeline) == 1440 and len(runs) == 145, case
        assert kinds[case].count("starttask") > 0 and kinds[case].count("pool.target") > 0, case
    assert len(REFERENCE["pool"][0]) == 2192 and len(REFERENCE["low-priority"][0]) == 2219
    assert kinds["low-priority"].count("node.preempt") == 2 and kinds["low-priority"].count("task.recover") == 6


class ChunkedKernel(Kernel):
    """``run(until)`` as several ``run(cap)`` calls at the given steps, then ``run(until)``:
    what the live loop does with ``cap`` = the real clock's time."""

    def __init__(self, steps, schedule_pass, advance) -> None:
        super().__init__(schedule_pass, advance)
        self.steps = list(steps)
        self.calls = 0

    def run(self, until, *, on_step=None):
        cap = self.now
        for step in self.steps:
            cap = math.nextafter(cap, -math.inf) if step < 0 else cap + step
            if cap >= until:
                break
            super().run(cap, on_step=on_step)
            self.calls += 1
        super().run(until, on_step=on_step)


#: steps between caps: -1 is "just before the current cap"; the others are seconds
STEPS = st.lists(st.one_of(st.just(-1.0), st.sampled_from([0.0, 1e-9, 1.0, 7.3, 30.0, 60.0, 299.9, 300.0]),
                           st.floats(0.0, 2000.0)), min_size=1, max_size=400)

CHEAP = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@CHEAP
@given(case=st.sampled_from(sorted(CASES)), steps=STEPS)
def test_chunked_run_is_the_same_run(case, steps):
    kernels = []

    def factory(p, a):
        kernels.append(ChunkedKernel(steps, p, a))
        return kernels[-1]

    sim = simulation(case, factory).run()
    assert outcome(sim) == REFERENCE[case]
    assert kernels[0].calls > 0


def test_chunked_run_with_a_cap_just_before_and_at_every_instant():
    # the densest chunking there is: the kernel stops right before every instant that has work,
    # and then at it (the design note's prototype, on the low-priority pool)
    instants = sorted({e[0] for e in REFERENCE["low-priority"][0]})

    class EveryInstant(Kernel):
        def run(self, until, *, on_step=None):
            for t in instants:
                if t > self.now and t < until:
                    super().run(math.nextafter(t, -math.inf))
                    super().run(t)
            super().run(until, on_step=on_step)

    assert outcome(simulation("low-priority", EveryInstant).run()) == REFERENCE["low-priority"]


class SteppingClock:
    """A clock that moves by the given steps, one step per reading, then stays at ``end`` and
    stops the kernel (so :meth:`LiveKernel.serve` returns once it has run up to the horizon)."""

    def __init__(self, steps, end: float) -> None:
        self.steps = iter(steps)
        self.t = 0.0
        self.end = end
        self.kernel: LiveKernel | None = None
        self.stopped = False

    def now(self) -> float:
        self.t = min(self.end, self.t + next(self.steps, self.end))
        if self.t >= self.end and not self.stopped:
            self.stopped = True
            assert self.kernel is not None
            self.kernel.stop()
        return self.t

    def wall_seconds(self, engine_seconds: float) -> float:
        return 0.0          # never sleep: the next reading moves the clock


class ServedKernel(LiveKernel):
    """The simulation's ``run(until)`` becomes the live loop: :meth:`serve` on a stepping clock."""

    def run(self, until, *, on_step=None):
        if until > 0 and not self._serving:
            self.clock.end = until
            self.serve()
        else:
            super().run(until, on_step=on_step)


@CHEAP
@given(case=st.sampled_from(sorted(CASES)), steps=st.lists(st.floats(0.0, 3000.0), min_size=1, max_size=200))
def test_serving_a_simulation_is_the_same_run(case, steps):
    clock = SteppingClock(steps, HORIZON)
    commits = []

    def factory(p, a):
        k = ServedKernel(p, a, clock=clock, on_commit=lambda: commits.append(clock.t))
        clock.kernel = k
        return k

    sim = simulation(case, factory)
    sim.run()
    assert clock.stopped and commits[-1] == HORIZON
    assert outcome(sim) == REFERENCE[case]


# -- promises -------------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.log: list = []
        self.commits = 0
        self.kernel: LiveKernel | None = None

    def note(self, a, b=None) -> None:
        assert self.kernel is not None
        self.log.append((a, self.kernel.now) if b is None else (a, b, self.kernel.now))

    def commit(self) -> None:
        self.commits += 1


def live_kernel(clock, **options) -> tuple[LiveKernel, Recorder]:
    rec = Recorder()
    options.setdefault("promise_timeout", None)
    k = LiveKernel(lambda: rec.log.append(("pass", k.now)), clock=clock, on_commit=rec.commit, **options)
    rec.kernel = k
    return k, rec


def turns(k: LiveKernel, rec: Recorder, n: int = 3) -> None:
    """Make the engine go round its loop ``n`` more times (each post wakes it for one turn)."""
    for _ in range(n):
        seen = rec.commits
        k.post(Report(None, NODE, lambda a, b: None))
        until(lambda: rec.commits > seen, "an engine turn")


def test_a_promise_kept_late_runs_at_its_reserved_place_among_the_entries_of_its_instant():
    k, rec = live_kernel(ManualClock(20.0))    # the clock is past T = 10 all along
    k.at(5.0, SUBMIT, rec.note, "before T")
    k.at(10.0, EXIT, rec.note, "exit scheduled before the promise")
    promise = k.promise(10.0, EXIT, rec.note)
    k.at(10.0, EXIT, rec.note, "exit scheduled after the promise")
    k.at(10.0, WALLCLOCK, rec.note, "wallclock")
    k.at(10.0, SAMPLE, rec.note, "sample")
    k.at(10.0, AUTOSCALE, rec.note, "autoscale")
    k.at(15.0, EXIT, rec.note, "after T")
    k.serve_in_thread()
    until(lambda: rec.log, "the entry before T")
    turns(k, rec)
    # three turns later the engine still waits before T, whatever the clock says
    assert rec.log == [("before T", 5.0)] and k.open_promises() == 1
    assert k.stop_at == math.nextafter(10.0, -math.inf)
    keeper = threading.Thread(target=k.keep, args=(promise, "the promised exit", "code 0"))
    keeper.start()
    keeper.join()
    until(lambda: len(rec.log) == 8, "the rest of the run")
    k.stop()
    assert k.join(DEADLINE)
    assert rec.log == [("before T", 5.0), ("exit scheduled before the promise", 10.0),
                       ("the promised exit", "code 0", 10.0), ("exit scheduled after the promise", 10.0),
                       ("wallclock", 10.0), ("sample", 10.0), ("autoscale", 10.0), ("after T", 15.0)]
    assert k.open_promises() == 0 and k.stop_at == math.inf


def test_the_promised_key_is_the_one_reserved():
    k, _ = live_kernel(ManualClock())
    k.at(3.0, NODE, print)
    handler = print
    p = k.promise(7.5, EXIT, handler)
    assert p == Promise(7.5, EXIT, 1, handler)
    k.keep(p, "a", "b")            # on the engine thread: pushed at once, with the reserved key
    assert sorted(k.heap)[1][:3] == (7.5, EXIT, 1)


def test_a_promise_made_during_a_run_stops_that_run_before_its_time():
    # Kernel.run reads stop_at at every step, so a launch in the middle of a run fences it
    k, rec = live_kernel(ManualClock())
    promises = []
    k.at(1.0, SUBMIT, lambda a, b: promises.append(k.promise(4.0, EXIT, rec.note)))
    k.at(3.0, SAMPLE, rec.note, "sample at 3")
    k.at(4.0, SAMPLE, rec.note, "sample at 4")
    k.run(100.0)
    assert rec.log == [("sample at 3", 3.0)]
    k.keep(promises[0], "exit")
    k.run(100.0)
    assert rec.log == [("sample at 3", 3.0), ("exit", 4.0), ("sample at 4", 4.0)]


def test_a_promise_at_its_own_instant_waits_for_its_keep_before_the_sample():
    # a zero-length attempt: the end is promised at the instant of the launch, and the kernel
    # finishes an instant whatever stop_at says, so the engine waits at the reserved key
    k, rec = live_kernel(ManualClock(50.0))

    def launch(a, b):
        p = k.promise(k.now, EXIT, rec.note)
        threading.Timer(0.05, k.keep, args=(p, "zero-length exit")).start()
        rec.note("launch")

    k.at(10.0, SUBMIT, launch)
    k.at(10.0, SAMPLE, rec.note, "sample")
    k.at(10.0, SUBMIT, rec.note, "submit after the launch")
    k.serve_in_thread()
    until(lambda: len(rec.log) == 4, "the instant's work")
    k.stop()
    assert k.join(DEADLINE)
    assert rec.log == [("launch", 10.0), ("zero-length exit", 10.0), ("submit after the launch", 10.0),
                       ("sample", 10.0)]


def test_a_stop_while_waiting_at_a_promise_of_the_current_instant_withdraws_it():
    k, rec = live_kernel(ManualClock(50.0))
    k.at(10.0, SUBMIT, lambda a, b: (k.promise(k.now, EXIT, rec.note), rec.note("launch")))
    k.at(10.0, SAMPLE, rec.note, "sample")
    k.at(20.0, NODE, rec.note, "later")
    k.serve_in_thread()
    until(lambda: rec.log, "the launch")
    k.stop()                        # nobody keeps the promise: the engine must not hang
    assert k.join(DEADLINE)
    assert rec.log == [("launch", 10.0), ("sample", 10.0)] and k.open_promises() == 0 and rec.commits == 1


def test_what_arrives_while_waiting_at_a_promise_runs_in_the_next_turn_without_a_sleep():
    k, rec = live_kernel(ManualClock(50.0))
    promises = []
    k.at(10.0, SUBMIT, lambda a, b: promises.append(k.promise(k.now, EXIT, rec.note)))
    k.serve_in_thread()
    until(lambda: promises, "the launch")
    k.post(Report(None, NODE, rec.note, "posted meanwhile"))
    k.keep(promises[0], "kept")
    until(lambda: len(rec.log) == 2, "the report posted during the wait")
    k.stop()
    assert k.join(DEADLINE)
    assert rec.log == [("kept", 10.0), ("posted meanwhile", 50.0)]


def test_cancel_unblocks_the_cap_and_the_handler_never_runs():
    k, rec = live_kernel(ManualClock(20.0))
    p = k.promise(10.0, EXIT, rec.note)
    k.at(10.0, SAMPLE, rec.note, "sample")
    k.at(15.0, NODE, rec.note, "node")
    k.serve_in_thread()
    turns(k, rec)
    assert rec.log == []
    withdrawn = k.submit(lambda: (k.cancel(p), k.cancel(p)))
    assert withdrawn.result(DEADLINE) == (True, False)
    until(lambda: len(rec.log) == 2, "the entries after the cancelled promise")
    k.keep(p, "too late")           # a keep racing a kill: dropped
    turns(k, rec)
    k.stop()
    assert k.join(DEADLINE)
    assert rec.log == [("sample", 10.0), ("node", 15.0)]


def test_cancelling_a_kept_promise_before_its_time_leaves_an_empty_event():
    k, rec = live_kernel(ManualClock())
    p = k.promise(10.0, EXIT, rec.note)
    k.keep(p, "exit")
    assert k.cancel(p) is True and k.cancel(p) is False
    k.run(20.0)
    assert rec.log == [] and k.events_run == 1 and k.now == 10.0


def test_cancelling_an_open_promise_leaves_an_empty_event_too():
    # as the simulator's stale exit timer: the clock stops at the promised instant, so the
    # integrals behind the samples add up in the same steps on both clocks
    k, rec = live_kernel(ManualClock())
    steps = []
    k._advance = lambda old, new: steps.append((old, new))
    p = k.promise(10.0, EXIT, rec.note)
    assert k.cancel(p) is True
    k.at(15.0, NODE, rec.note, "node")
    k.run(20.0)
    assert rec.log == [("node", 15.0)] and k.events_run == 2
    assert steps == [(0.0, 10.0), (10.0, 15.0)]


def test_promise_and_cancel_belong_to_the_engine_thread():
    k, _ = live_kernel(ManualClock(5.0))
    k.at(5.0, NODE, print)
    k.run(5.0)
    with pytest.raises(ValueError, match=r"^cannot promise at 4\.0 before now \(5\.0\)$"):
        k.promise(4.0, EXIT, print)
    p = k.promise(6.0, EXIT, print)
    errors = []

    def elsewhere():
        for call in (lambda: k.promise(7.0, EXIT, print), lambda: k.cancel(p)):
            try:
                call()
            except RuntimeError as e:
                errors.append(str(e))

    t = threading.Thread(target=elsewhere)
    t.start()
    t.join()
    assert errors == ["promise() belongs to the engine thread", "cancel() belongs to the engine thread"]


def test_an_unkept_promise_raises_after_the_timeout():
    clock = ManualClock(0.0, scale=0.001)
    k, rec = live_kernel(clock, promise_timeout=0.2)
    k.promise(1.0, EXIT, rec.note)
    clock.t = 100.0                 # 99 engine s late = 0.099 wall s: within the timeout
    k.serve_in_thread()
    turns(k, rec, 1)
    clock.t = 1000.0                # 0.999 wall s late
    with pytest.raises(PromiseNotKept, match=r"^promise of 'Recorder\.note' at 1\.0 \(rank 0\) not kept "
                                             r"0\.999 wall seconds after its time \(promise_timeout 0\.2\)$"):
        k.join(DEADLINE)


def test_an_unkept_promise_is_dropped_after_the_timeout_when_asked(caplog):
    clock = ManualClock(0.0, scale=0.001)
    k, rec = live_kernel(clock, promise_timeout=0.2, late_promise="drop")
    k.promise(1.0, EXIT, rec.note)
    k.at(2.0, NODE, rec.note, "after the promise")
    clock.t = 1000.0
    k.serve_in_thread()
    until(lambda: rec.log, "the entry after the dropped promise")
    k.stop()
    assert k.join(DEADLINE)
    assert rec.log == [("after the promise", 2.0)] and k.open_promises() == 0
    assert "not kept 0.999 wall seconds after its time (promise_timeout 0.2): dropped" in caplog.text
    with pytest.raises(ValueError, match=r"^late_promise must be 'raise' or 'drop', not 'ignore'$"):
        LiveKernel(print, clock=clock, late_promise="ignore")


# -- reports, commands, stopping --------------------------------------------------------------------


def test_reports_run_at_their_time_never_before_now():
    clock = ManualClock(0.0)
    k, rec = live_kernel(clock)
    k.at(60.0, NODE, rec.note, "timer")
    clock.t = 60.0
    k.run(60.0)                     # the engine's now is 60
    k.post(Report(20.0, EXIT, rec.note, "from the past"))
    k.post(Report(70.0, EXIT, rec.note, "from the future"))
    clock.t = 65.0
    k.post(Report(None, SUBMIT, rec.note, "observed"))   # stamped with the clock at the post
    clock.t = 100.0
    k.stop()
    k.serve()
    assert rec.log == [("timer", 60.0), ("from the past", 60.0), ("observed", 65.0), ("from the future", 70.0)]


def test_a_post_from_another_thread_wakes_a_sleeping_serve_promptly():
    clock = RealClock()
    k, rec = live_kernel(clock)
    k.at(1e9, NODE, rec.note, "far away")        # a timed sleep, not an endless one
    woke = []
    k.serve_in_thread()
    until(lambda: rec.commits >= 1, "the first turn")
    delays = []
    for _ in range(5):
        time.sleep(0.02)                         # let it fall asleep in the inbox
        seen = rec.commits
        posted = time.monotonic()
        k.post(Report(None, SUBMIT, lambda a, b: woke.append(time.monotonic())))
        until(lambda: rec.commits > seen, "the report's turn")
        delays.append(woke[-1] - posted)
    k.stop()
    assert k.join(DEADLINE)
    assert statistics.median(delays) < 0.05, delays


def test_commands_run_at_the_clock_and_resolve_after_the_commit():
    clock = ManualClock(100.0)
    order: list = []
    advanced: list = []
    k = LiveKernel(lambda: order.append(("pass", k.now)), lambda old, new: advanced.append((old, new)),
                   clock=clock, on_commit=lambda: order.append("commit"))
    k.at(50.0, NODE, lambda a, b: order.append(("timer", k.now)))

    def command():
        order.append(("command", k.now))
        k.dirty = True
        k.at(k.now, SUBMIT, lambda a, b: order.append(("scheduled by the command", k.now)))
        return "done"

    k.serve_in_thread()
    future = k.submit(command)
    future.add_done_callback(lambda f: order.append(("ack", f.result())))
    assert future.result(DEADLINE) == "done"
    k.stop()
    assert k.join(DEADLINE)
    start = order.index(("command", 100.0))
    assert order[start:start + 5] == [("command", 100.0), ("scheduled by the command", 100.0),
                                      ("pass", 100.0), "commit", ("ack", "done")]
    assert order[0] == ("timer", 50.0) and advanced[:2] == [(0.0, 50.0), (50.0, 100.0)]


def test_a_command_that_raises_fails_its_future_and_the_loop_goes_on():
    k, rec = live_kernel(ManualClock(1.0))
    k.serve_in_thread()
    failing = k.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing.result(DEADLINE)
    assert k.submit(lambda: "still serving").result(DEADLINE) == "still serving"
    k.stop()
    assert k.join(DEADLINE)


def test_stop_commits_and_ends_serve_and_later_commands_fail():
    k, rec = live_kernel(ManualClock(1.0))
    k.serve_in_thread()
    until(lambda: rec.commits >= 1, "the first turn")
    seen = rec.commits
    k.stop()
    assert k.join(DEADLINE) and rec.commits == seen + 1
    late = k.submit(lambda: "never")
    with pytest.raises(EngineStopped, match=r"^the engine has stopped$"):
        late.result(DEADLINE)
    with pytest.raises(RuntimeError, match=r"^a LiveKernel serves once$"):
        k.serve()


def test_a_handler_lowering_stop_at_ends_serve_after_its_instant():
    k, rec = live_kernel(ManualClock(100.0))
    k.at(5.0, SUBMIT, lambda a, b: setattr(k, "stop_at", k.now))   # as the drain of a run does
    k.at(5.0, SAMPLE, rec.note, "same instant")
    k.at(6.0, NODE, rec.note, "later")
    k.promise(50.0, EXIT, rec.note)                                   # caps stop_at, not the request
    assert k.stop_requested == math.inf and k.stop_at == math.nextafter(50.0, -math.inf)
    k.serve()
    assert rec.log == [("same instant", 5.0)] and k.now == 5.0 and rec.commits == 1
    assert k.stop_requested == 5.0 and k.stop_at == 5.0


def test_a_handler_exception_ends_serve_and_fails_waiting_commands():
    clock = ManualClock(0.0)
    k, rec = live_kernel(clock)

    def boom(a, b):
        raise ValueError("boom")

    k.at(5.0, NODE, boom)
    k.serve_in_thread()
    until(lambda: rec.commits >= 1, "the first turn")
    pending = k.submit(lambda: "never acknowledged")
    clock.t = 10.0
    with pytest.raises(ValueError, match="^boom$"):
        k.join(DEADLINE)
    with pytest.raises(EngineStopped, match="^the engine stopped before it acknowledged this command$") as e:
        pending.result(DEADLINE)
    assert isinstance(e.value.__cause__, ValueError)
    with pytest.raises(ValueError, match="^boom$"):
        k.join(0)


def test_serve_raises_a_handler_exception_on_its_own_thread():
    k, _ = live_kernel(ManualClock(10.0))
    k.at(1.0, NODE, lambda a, b: [][0])
    with pytest.raises(IndexError):
        k.serve()


def test_an_idle_serve_uses_no_cpu():
    clock = RealClock()
    k, rec = live_kernel(clock, promise_timeout=10.0)
    k.at(3600.0, NODE, rec.note, "an hour away")
    k.promise(7200.0, EXIT, rec.note)            # open, due much later: the watchdog sleeps too
    k.serve_in_thread()
    until(lambda: rec.commits >= 1, "the first turn")
    cpu, wall = time.process_time(), time.monotonic()
    time.sleep(0.5)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    commits = rec.commits
    k.stop()
    assert k.join(DEADLINE)
    assert cpu < 0.05 and commits == 1, (cpu, wall, commits)


# -- the real clock and the seams ------------------------------------------------------------------


def test_real_clock_scales_wall_time_into_engine_time():
    wall = [1000.0]
    clock = RealClock(0.01, lambda: wall[0])
    assert clock.now() == 0.0
    wall[0] = 1000.5
    assert clock.now() == pytest.approx(50.0) and clock.wall_seconds(50.0) == 0.5
    resumed = RealClock(2.0, lambda: wall[0], start_at=3600.0)
    wall[0] = 1010.5
    assert resumed.now() == 3605.0 and resumed.wall_seconds(5.0) == 10.0
    # the wall reading at which an engine time comes, for timers on the same source
    assert resumed.wall_at(3605.0) == 1010.5 and resumed.wall_at(3700.0) == 1200.5
    assert clock.wall_at(0.0) == 1000.0 and clock.wall_at(100.0) == 1001.0
    assert resumed.monotonic() == 1010.5
    assert RealClock().scale == 1.0
    for bad in (0, -1.0, math.inf, math.nan, "1"):
        with pytest.raises(ValueError, match=r"^scale must be a positive finite number of wall seconds per engine second"):
            RealClock(bad)


def test_the_live_pieces_have_the_shape_of_the_seams():
    from poolscale.runtime.service.local.executor import ProcessExecutor
    from poolscale.scheduler.world import Clock, Executor, Inbox

    k, _ = live_kernel(ManualClock())
    assert isinstance(RealClock(), Clock) and isinstance(k, Inbox) and isinstance(ProcessExecutor(), Executor)
    assert not isinstance(ManualClock(), Inbox) and not isinstance(k, Executor)


def test_the_scheduler_and_its_seams_import_nothing_of_the_runtime():
    # the core is pure: the protocols live in poolscale.scheduler, their implementations in
    # poolscale.runtime.service, which the scheduler never imports
    code = ("import importlib, pkgutil, sys\n"
            "import poolscale.scheduler as s\n"
            "names = [m.name for m in pkgutil.iter_modules(s.__path__)]\n"
            "assert 'world' in names\n"
            "for n in names: importlib.import_module('poolscale.scheduler.' + n)\n"
            "print(sorted(m for m in sys.modules if m.startswith('poolscale.runtime')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (out.stdout, out.returncode) == ("[]\n", 0), out.stderr
