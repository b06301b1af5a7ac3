"""The event kernel (the order of docs/simulation-model.md#order-of-work-within-an-instant), the
random streams and the growing sample recorder."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from poolscale.metrics.recorder import SampleRecorder
from poolscale.metrics.series import Series
from poolscale.metrics.store import SampleStore
from poolscale.metrics.variables import SERIES_VARIABLES
from poolscale.scheduler.kernel import AUTOSCALE, EXIT, NODE, SAMPLE, SUBMIT, WALLCLOCK, Kernel
from poolscale.scheduler.streams import Streams


def make_kernel(log):
    k = Kernel(lambda: log.append(("pass", k.now)))
    return k


def test_ties_break_by_time_then_rank_then_order_of_scheduling():
    log = []
    k = make_kernel(log)
    note = lambda a, b: log.append((a, k.now))
    k.at(5.0, SUBMIT, note, "submit")
    k.at(5.0, EXIT, note, "exit-1")
    k.at(5.0, NODE, note, "node")
    k.at(5.0, WALLCLOCK, note, "wall")
    k.at(5.0, EXIT, note, "exit-2")
    k.at(1.0, SUBMIT, note, "early")
    k.run(10.0)
    assert [e[0] for e in log] == ["early", "exit-1", "exit-2", "wall", "node", "submit"]


def test_the_pass_runs_before_the_sample_and_before_time_moves_on():
    log = []
    k = make_kernel(log)

    def dirtying(a, b):
        log.append((a, k.now))
        k.dirty = True

    k.at(30.0, SUBMIT, dirtying, "submit")
    k.at(30.0, AUTOSCALE, dirtying, "run")
    k.at(30.0, SAMPLE, lambda a, b: log.append(("sample", k.now)))
    k.at(40.0, EXIT, lambda a, b: log.append(("exit", k.now)))
    k.run(100.0)
    assert log == [("submit", 30.0), ("pass", 30.0), ("sample", 30.0), ("run", 30.0),
                   ("pass", 30.0), ("exit", 40.0)]


def test_work_scheduled_by_a_pass_at_the_same_instant_runs_before_the_sample():
    log = []
    k = Kernel(lambda: (log.append("pass"), k.at(k.now, EXIT, lambda a, b: log.append("zero-length exit"))))
    k.at(30.0, SUBMIT, lambda a, b: (log.append("submit"), setattr(k, "dirty", True)))
    k.at(30.0, SAMPLE, lambda a, b: log.append("sample"))
    k.run(100.0)
    assert log == ["submit", "pass", "zero-length exit", "sample"]


@pytest.mark.parametrize("fast", [False, True], ids=["stepped", "fast"])
def test_the_stream_runs_where_a_heap_entry_of_its_rank_would(fast):
    log = []
    advance = (lambda old, new: None) if fast else None
    k = Kernel(lambda: log.append(("pass", k.now)), advance)
    times = [5.0, 5.0, 9.0]   # two entries at 5: the handler takes both in one call

    def submit(i, _):
        log.append(("submit", k.now, i))
        k.dirty = True
        while i < len(times) and times[i] == k.now:
            i += 1
        k.stream_at = times[i] if i < len(times) else float("inf")
        k.stream_arg = i

    k.set_stream(SUBMIT, submit, times[0], 0)
    k.at(5.0, SAMPLE, lambda a, b: log.append(("sample", k.now)))
    k.at(5.0, NODE, lambda a, b: log.append(("node", k.now)))
    k.at(9.0, EXIT, lambda a, b: log.append(("exit", k.now)))
    k.at(12.0, EXIT, lambda a, b: log.append(("exit", k.now)))
    assert k.peek() == 5.0
    k.run(100.0, on_step=None if fast else (lambda after_pass: None))
    assert log == [("node", 5.0), ("submit", 5.0, 0), ("pass", 5.0), ("sample", 5.0),
                   ("exit", 9.0), ("submit", 9.0, 2), ("pass", 9.0), ("exit", 12.0)]
    assert k.events_run == 6 and k.peek() is None


def test_until_and_stop_at_and_advance():
    spans = []
    k = Kernel(lambda: None, lambda old, new: spans.append((old, new)))
    for t in (1.0, 2.0, 3.0, 7.0):
        k.at(t, EXIT, lambda a, b: None)
    k.run(5.0)
    assert spans == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]
    assert k.peek() == 7.0
    k.finish(5.0)
    assert spans[-1] == (3.0, 5.0) and k.now == 5.0
    with pytest.raises(ValueError):
        k.at(4.0, EXIT, lambda a, b: None)


def test_streams_are_pure_functions_of_their_keys():
    a, b = Streams(7), Streams(7)
    assert a.rng("allocation", 3, 1).random() == b.rng("allocation", 3, 1).random()
    assert a.rng("allocation", 3, 1).random() != a.rng("allocation", 3, 2).random()
    assert a.rng("boot", 3, 1).random() != a.rng("allocation", 3, 1).random()
    assert Streams(8).uniform("sampleloss", 5) != a.uniform("sampleloss", 5)
    u = [a.uniform("x", i) for i in range(2000)]
    assert 0.45 < sum(u) / len(u) < 0.55 and all(0 <= x < 1 for x in u)


# -- the recorder answers exactly as a SampleStore over the same samples -------------------

BASE = 639_000_000_000_000_000
P = 300_000_000


def _both(values, lost, delay):
    rec = SampleRecorder(period=P, delay=delay, capacity=16)
    stamps, kept = [], []
    for k, (v, gone) in enumerate(zip(values, lost), start=1):
        if not gone:
            rec.append(BASE + k * P, [v] * len(SERIES_VARIABLES))
            stamps.append(BASE + k * P)
            kept.append(v)
    series = Series(np.array(stamps, dtype=np.int64), np.array(kept, dtype=np.float64))
    store = SampleStore({name: series for name in SERIES_VARIABLES} if stamps else {},
                        period=P, delay=delay)
    return rec, store


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=80),
       data=st.data(), delay=st.sampled_from([0, P, 2 * P + 7]))
def test_recorder_queries_equal_sample_store(values, data, delay):
    lost = data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values)))
    rec, store = _both(values, lost, delay)
    end = BASE + (len(values) + 1) * P
    for _ in range(5):
        now = data.draw(st.integers(BASE, end))
        a = data.draw(st.integers(BASE - P, end))
        b = data.draw(st.integers(BASE - P, end))
        lo, hi = min(a, b), max(a, b)
        for name in ("$PendingTasks", "pendingtasks"):
            w1, w2 = rec.window(name, lo, hi, now), store.window("$PendingTasks", lo, hi, now)
            assert (w1.available, w1.expected, w1.percent) == (w2.available, w2.expected, w2.percent)
            assert list(w1.values) == list(w2.values)
        n = data.draw(st.sampled_from([0, 1, 3, 1e9, float("inf"), float("nan")]))
        assert list(rec.latest("$CPUPercent", n, now)) == list(store.latest("$CPUPercent", n, now))
        assert rec.count("$CPUPercent", now) == store.count("$CPUPercent", now)
        assert rec.history_begin("$CPUPercent", now) == store.history_begin("$CPUPercent", now)


def test_recorder_views_are_read_only_and_survive_growth():
    rec = SampleRecorder(period=P, capacity=16)
    for k in range(1, 11):
        rec.append(BASE + k * P, [float(k)] * len(SERIES_VARIABLES))
    view = rec.latest("$ActiveTasks", 3, BASE + 100 * P)
    assert list(view) == [8.0, 9.0, 10.0]
    with pytest.raises(ValueError):
        view[0] = 1.0
    for k in range(11, 200):                      # forces several reallocations
        rec.append(BASE + k * P, [float(k)] * len(SERIES_VARIABLES))
    assert list(view) == [8.0, 9.0, 10.0]
    assert len(rec) == 199 and rec.count("$ActiveTasks", BASE + 1000 * P) == 199
    with pytest.raises(ValueError):
        rec.append(BASE + 5 * P, [0.0] * len(SERIES_VARIABLES))
    with pytest.raises(KeyError):
        rec.window("$Nope", BASE, BASE + P, BASE + P)
    rec.append(BASE + 500 * P, {"$PendingTasks": 4, "cpupercent": 50})
    assert rec.latest("$PendingTasks", 1, BASE + 500 * P)[0] == 4.0
    assert rec.latest("$ActiveTasks", 1, BASE + 500 * P)[0] == 0.0
    assert rec.to_store().latest("$CPUPercent", 1, BASE + 500 * P)[0] == 50.0


def test_recorder_growth_is_amortised():
    rec = SampleRecorder(period=P, capacity=16)
    caps = set()
    for k in range(1, 5000):
        rec.append(BASE + k * P, [0.0] * len(SERIES_VARIABLES))
        caps.add(rec._stamps.shape[0])
    assert len(caps) <= 10          # doubling: 16 → 8192 in 9 steps
