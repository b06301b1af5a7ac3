"""The series methods of docs/language.md#series-methods and the window arithmetic of
docs/language.md#window-arithmetic.

Each implementation is ``impl(state, site, *args)``; ``site`` names the series
(canonical) and the offset of the ``(`` after the method name, where runtime
errors are positioned. The store answers the window query; the checks that
have error details (negative look-back, pct range, minimum percentage) live
here because only the evaluator knows positions.
"""

from __future__ import annotations

from dataclasses import dataclass

from .builtins import method
from .errors import EvaluationError
from .types import DOUBLE, INTERVAL, TIMESTAMP, VEC
from .values import TimeInterval, Timestamp, format_double, format_interval

DEFAULT_PCT = 70.0


@dataclass(frozen=True, slots=True)
class Site:
    series: str
    lparen: int


def _lookbacks(state, site: Site, name: str, a: TimeInterval, b: TimeInterval | None):
    a_t = a.ticks
    if b is None:  # the common single look-back: the window (T - a, T]
        if a_t < 0:
            raise _negative(site, name, a)
        now = state.now
        return now - a_t, now
    for d in (a, b):
        if d.ticks < 0:
            raise _negative(site, name, d)
    b_t = b.ticks
    now = state.now
    return now - max(a_t, b_t), now - min(a_t, b_t)


def _negative(site: Site, name: str, d: TimeInterval) -> EvaluationError:
    return EvaluationError("InvalidArgument", site.lparen,
                           f"{name}() needs look-backs that are not negative, got {format_interval(d)}")


def _instants(state, a: Timestamp, b: Timestamp | None):
    a_t = a.ticks
    b_t = state.now if b is None else b.ticks
    return (a_t, b_t) if a_t <= b_t else (b_t, a_t)


def _check_pct(site: Site, pct: float) -> None:
    if pct != pct or pct < 0 or pct > 100:
        raise EvaluationError("InvalidArgument", site.lparen,
                              f"GetSample() needs a percent between 0 and 100, got {format_double(pct)}")


def _sample(state, site: Site, lo: int, hi: int, pct: float):
    window = state.store.window(site.series, lo, hi, state.now)
    if window.percent < pct:
        raise EvaluationError(
            "InsufficientSampleData", site.lparen,
            f"Insufficient data from data set: {site.series} wanted {format_double(pct)}%, "
            f"received {format_double(window.percent)}%")
    return window.values


def _percent(state, site: Site, lo: int, hi: int) -> float:
    return state.store.window(site.series, lo, hi, state.now).percent


@method("GetSample", [DOUBLE], VEC)
def get_sample_count(state, site, n):
    return state.store.latest(site.series, n, state.now)


@method("GetSample", [INTERVAL], VEC)
def get_sample_lookback(state, site, d, pct=DEFAULT_PCT, b=None):
    lo, hi = _lookbacks(state, site, "GetSample", d, b)
    _check_pct(site, pct)
    return _sample(state, site, lo, hi, pct)


@method("GetSample", [INTERVAL, DOUBLE], VEC)
def get_sample_lookback_pct(state, site, d, pct):
    return get_sample_lookback(state, site, d, pct)


@method("GetSample", [INTERVAL, INTERVAL], VEC)
def get_sample_between(state, site, a, b):
    return get_sample_lookback(state, site, a, DEFAULT_PCT, b)


@method("GetSample", [INTERVAL, INTERVAL, DOUBLE], VEC)
def get_sample_between_pct(state, site, a, b, pct):
    return get_sample_lookback(state, site, a, pct, b)


@method("GetSample", [TIMESTAMP], VEC)
def get_sample_since(state, site, s, pct=DEFAULT_PCT, b=None):
    _check_pct(site, pct)
    lo, hi = _instants(state, s, b)
    return _sample(state, site, lo, hi, pct)


@method("GetSample", [TIMESTAMP, DOUBLE], VEC)
def get_sample_since_pct(state, site, s, pct):
    return get_sample_since(state, site, s, pct)


@method("GetSample", [TIMESTAMP, TIMESTAMP], VEC)
def get_sample_instants(state, site, a, b):
    return get_sample_since(state, site, a, DEFAULT_PCT, b)


@method("GetSample", [TIMESTAMP, TIMESTAMP, DOUBLE], VEC)
def get_sample_instants_pct(state, site, a, b, pct):
    return get_sample_since(state, site, a, pct, b)


@method("GetSamplePercent", [INTERVAL], DOUBLE)
def percent_lookback(state, site, d):
    lo, hi = _lookbacks(state, site, "GetSamplePercent", d, None)
    return state.store.window(site.series, lo, hi, state.now).percent


@method("GetSamplePercent", [INTERVAL, INTERVAL], DOUBLE)
def percent_between(state, site, a, b):
    return _percent(state, site, *_lookbacks(state, site, "GetSamplePercent", a, b))


@method("GetSamplePercent", [TIMESTAMP], DOUBLE)
def percent_since(state, site, s):
    return _percent(state, site, *_instants(state, s, None))


@method("GetSamplePercent", [TIMESTAMP, TIMESTAMP], DOUBLE)
def percent_instants(state, site, a, b):
    return _percent(state, site, *_instants(state, a, b))


@method("GetSamplePeriod", [], INTERVAL)
def sample_period(state, site):
    return TimeInterval(state.store.period)


@method("Count", [], DOUBLE)
def count(state, site):
    return float(state.store.count(site.series, state.now))


@method("HistoryBeginTime", [], TIMESTAMP)
def history_begin(state, site):
    t = state.store.history_begin(site.series, state.now)
    if t is None:
        raise EvaluationError("EmptyHistory", site.lparen, f"{site.series} has no samples")
    return Timestamp(t)


def is_window_form(form) -> bool:
    """A window-form GetSample (the ones that enforce a minimum percentage)."""
    return form.impl is not get_sample_count and form.result is VEC
