"""SampleStore: the docs/language.md#worked-window-example worked example, and windows/GetSample(n)
against brute force."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poolscale.metrics import SampleStore, Series, Window

SEC = 10_000_000
PT = "$PendingTasks"


def ticks(iso: str) -> int:
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (dt - datetime(1, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1) * 10


T = ticks("2026-03-02T10:00:00Z")


@pytest.fixture
def example() -> SampleStore:
    """docs/language.md#worked-window-example: P = 30 s, delay = 60 s, $PendingTasks = 3 4 5 6 7 8 9
    10 ending at T."""
    return SampleStore.from_mapping(
        {"$PendingTasks": "3 4 5 6 7 8 9 10"}, end=T, period=30 * SEC, delay=60 * SEC
    )


# -- the worked window example (docs/language.md#worked-window-example) -------------


def test_worked_example_stamps(example):
    s = example.series(PT)
    assert s.stamps[0] == ticks("2026-03-02T09:56:30Z")
    assert s.stamps[-1] == T
    assert np.all(np.diff(s.stamps) == 30 * SEC)


def test_worked_example_lookback_180s(example):
    w = example.window(PT, ticks("2026-03-02T09:57:00Z"), T, T)
    assert isinstance(w, Window)
    assert w.values.tolist() == [5, 6, 7, 8]
    assert w.available == 4
    assert w.expected == 6.0
    assert w.percent == 400 / 6
    assert f"{w.percent:.6g}" == "66.6667"
    assert w.percent < 70 and w.percent >= 60


def test_worked_example_two_lookbacks(example):
    w = example.window(PT, ticks("2026-03-02T09:56:00Z"), ticks("2026-03-02T09:58:00Z"), T)
    assert w.values.tolist() == [3, 4, 5, 6]
    assert (w.available, w.expected, w.percent) == (4, 4.0, 100.0)


def test_worked_example_latest_count_history(example):
    assert example.latest(PT, 8, T).tolist() == [3, 4, 5, 6, 7, 8]
    assert example.count(PT, T) == 6
    assert example.history_begin(PT, T) == ticks("2026-03-02T09:56:30Z")
    assert example.period == 30 * SEC


def test_worked_example_without_delay(example):
    w = example.replace(delay=0).window(PT, ticks("2026-03-02T09:57:00Z"), T, T)
    assert w.values.tolist() == [5, 6, 7, 8, 9, 10]
    assert (w.available, w.expected, w.percent) == (6, 6.0, 100.0)


# -- edge cases ---------------------------------------------------------------------


def test_zero_length_window_is_empty_at_100_percent(example):
    w = example.window(PT, T - 60 * SEC, T - 60 * SEC, T)
    assert (w.values.size, w.available, w.expected, w.percent) == (0, 0, 0.0, 100.0)


def test_window_shorter_than_period_is_0_or_100(example):
    hit = example.window(PT, T - 70 * SEC, T - 60 * SEC, T)  # holds 09:59:00
    miss = example.window(PT, T - 80 * SEC, T - 70 * SEC, T)
    assert hit.values.tolist() == [8] and hit.percent == 100.0
    assert miss.available == 0 and miss.percent == 0.0
    assert miss.expected == 10 / 30


def test_reversed_bounds_are_a_caller_bug(example):
    with pytest.raises(ValueError):
        example.window(PT, T, T - 1, T)


def test_absent_series_has_no_samples(example):
    w = example.window("$CPUPercent", T - 300 * SEC, T, T)
    assert (w.available, w.percent, w.expected) == (0, 0.0, 10.0)
    assert example.latest("$CPUPercent", math.inf, T).size == 0
    assert example.count("$CPUPercent", T) == 0
    assert example.history_begin("$CPUPercent", T) is None
    assert example.series("$CPUPercent") is Series.EMPTY


def test_history_begin_respects_visibility(example):
    assert example.history_begin(PT, ticks("2026-03-02T09:57:29Z")) is None
    assert example.history_begin(PT, ticks("2026-03-02T09:57:30Z")) == ticks(
        "2026-03-02T09:56:30Z"
    )


def test_non_canonical_lookup_and_unknown_name(example):
    assert example.count("pendingtasks", T) == 6
    assert example.series("$PENDINGTASKS") is example.series(PT)
    with pytest.raises(KeyError):
        example.window("$Nope", 0, 1, 1)
    with pytest.raises(KeyError):
        example.series("$TargetDedicatedNodes")


def test_results_are_read_only(example):
    arrays = [
        example.window(PT, T - 600 * SEC, T, T).values,
        example.latest(PT, 3, T),
        example.latest(PT, 0, T),
        example.series(PT).stamps,
        example.series(PT).values,
    ]
    for arr in arrays:
        with pytest.raises(ValueError):
            arr[...] = 0
        with pytest.raises(ValueError):
            arr.flags.writeable = True
    assert example.latest(PT, 8, T).tolist() == [3, 4, 5, 6, 7, 8]


def test_constructor_validation():
    s = Series.from_values([1, 2], end=100, period=10)
    with pytest.raises(ValueError):
        SampleStore({"$Bogus": s})
    with pytest.raises(ValueError):
        SampleStore({"$CPUPercent": s, "cpupercent": s})
    with pytest.raises(TypeError):
        SampleStore({"$CPUPercent": [1, 2]})
    with pytest.raises(ValueError):
        SampleStore(period=0)
    with pytest.raises(ValueError):
        SampleStore(delay=-1)
    store = SampleStore({"cpupercent": s}, period=10)
    assert store.names == ("$CPUPercent",)
    assert "$CPUPercent" in store and list(store) == ["$CPUPercent"]
    assert "SampleStore(" in repr(store)
    assert SampleStore().names == ()


def test_store_ignores_later_mutation_of_inputs():
    raw = np.array([1.0, 2.0, 3.0])
    store = SampleStore({"$CPUPercent": Series.from_values(raw, end=30, period=10)}, period=10)
    raw[:] = 99
    assert store.latest("$CPUPercent", 3, 30).tolist() == [1, 2, 3]


# -- brute force ---------------------------------------------------------------------


@st.composite
def stores(draw):
    """A store over one series: grid samples with holes, or arbitrary stamps."""
    period = draw(st.integers(1, 40))
    delay = draw(st.integers(0, 300))
    if draw(st.booleans()):
        n = draw(st.integers(0, 40))
        mask = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        end = draw(st.integers(period * n, period * n + 500))
        values = [float(k) if present else None for k, present in enumerate(mask)]
        series = Series.from_values(values, end=end, period=period)
        pairs = [(end - period * (n - 1 - k), v) for k, v in enumerate(values) if v is not None]
    else:
        stamps = sorted(draw(st.sets(st.integers(0, 2000), max_size=40)))
        values = [float(k) for k in range(len(stamps))]
        order = draw(st.permutations(range(len(stamps))))
        series = Series.from_pairs([stamps[i] for i in order], [values[i] for i in order])
        pairs = list(zip(stamps, values))
    return SampleStore({PT: series}, period=period, delay=delay), pairs


@st.composite
def bounds(draw, period: int):
    lo = draw(st.integers(-50, 2100))
    kind = draw(st.sampled_from(["any", "short", "zero"]))
    if kind == "zero":
        hi = lo
    elif kind == "short":
        hi = lo + draw(st.integers(1, max(1, period - 1)))
    else:
        hi = lo + draw(st.integers(0, 2200))
    return lo, hi


@settings(max_examples=400, deadline=None)
@given(data=st.data(), built=stores())
def test_window_matches_brute_force(data, built):
    store, pairs = built
    lo, hi = data.draw(bounds(store.period))
    now = data.draw(st.integers(-50, 2600))
    want = [v for t, v in pairs if lo < t <= hi and t <= now - store.delay]
    w = store.window(PT, lo, hi, now)
    expected = (hi - lo) / store.period
    assert w.values.tolist() == want
    assert w.available == len(want) and type(w.available) is int
    assert w.expected == expected and type(w.expected) is float
    percent = 100.0 if expected == 0 else min(100.0, (100.0 * len(want)) / expected)
    assert w.percent == percent and type(w.percent) is float


N_CASES = [-1, 0, 0.5, 3.9, math.nan, math.inf, -math.inf, 10**9, 1e300, 1, 2, 7]


@settings(max_examples=300, deadline=None)
@given(built=stores(), now=st.integers(-50, 2600), n=st.sampled_from(N_CASES) | st.integers(-3, 50))
def test_latest_matches_brute_force(built, now, n):
    store, pairs = built
    visible = [v for t, v in pairs if t <= now - store.delay]
    if math.isnan(n) or n <= 0:
        want = []
    elif math.isinf(n):
        want = visible
    else:
        k = math.trunc(n)
        want = visible[max(0, len(visible) - k) :] if k else []
    assert store.latest(PT, n, now).tolist() == want
    assert store.count(PT, now) == len(visible)
    begin = store.history_begin(PT, now)
    assert begin == (min(t for t, _ in pairs if t <= now - store.delay) if visible else None)


from hypothesis import given, settings, strategies as st


@settings(max_examples=300, deadline=None)
@given(end=st.integers(-2**80, 2**80), period=st.integers(-2**80, 2**80),
       delay=st.integers(-2**80, 2**80), count=st.integers(0, 3))
def test_from_mapping_refuses_any_out_of_range_time_with_a_value_error(end, period, delay, count):
    """A period of 2**63 ticks or more once escaped as OverflowError (numpy's int64)."""
    from poolscale.metrics import SampleStore

    try:
        SampleStore.from_mapping({"$PendingTasks": [1.0] * count}, end=end, period=period,
                                 delay=delay)
    except ValueError:
        pass
