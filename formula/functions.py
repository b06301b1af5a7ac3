"""The 19 functions of docs/language.md#functions, registered with their overloads.

Each implementation is ``impl(state, lparen, *args)``; ``lparen`` is the offset
of the call's ``(``, where runtime errors are positioned. A doubleVecList
argument arrives already flattened: a list of floats when every argument was a
double, else a read-only float64 array.

Sums run left to right from +0 (docs/language.md#functions "Summation order"): Python's ``sum`` uses
compensated summation since 3.12 and numpy's ``sum`` is pairwise, so neither is
used; ``np.add.accumulate`` is a strictly sequential running sum.
"""

from __future__ import annotations

import math

import numpy as np

from .builtins import function
from .errors import EvaluationError, StopRun
from .timeparse import parse_time_string
from .types import DOUBLE, LIST, NONE, STRING, TIMESTAMP, VEC
from .values import format_double

_nan = math.nan


def _empty(name: str, lparen: int):
    return EvaluationError("EmptyVector", lparen, f"{name}() received an empty list")


def _total(xs) -> float:
    if isinstance(xs, np.ndarray):
        return float(np.add.accumulate(xs)[-1]) + 0.0 if len(xs) else 0.0
    total = 0.0
    for x in xs:
        total += x
    return total


def _has_nan(xs) -> bool:
    if isinstance(xs, np.ndarray):
        return bool(np.isnan(xs).any())
    return any(x != x for x in xs)


def _extreme(xs, larger: bool) -> float:
    """The first largest (smallest) element; NaN if any element is NaN."""
    if isinstance(xs, np.ndarray):
        i = xs.argmax() if larger else xs.argmin()  # first occurrence; NaN wins
        return float(xs[i])
    best = xs[0]
    for x in xs:
        if x != x:
            return _nan
        if (x > best) if larger else (x < best):
            best = x
    return best


@function("avg", [LIST], DOUBLE)
def avg(state, lparen, xs):
    if not len(xs):
        raise _empty("avg", lparen)
    return _total(xs) / len(xs)


@function("len", [LIST], DOUBLE)
def len_(state, lparen, xs):
    return float(len(xs))


@function("max", [LIST], DOUBLE)
def max_(state, lparen, xs):
    if not len(xs):
        raise _empty("max", lparen)
    return _extreme(xs, True)


@function("min", [LIST], DOUBLE)
def min_(state, lparen, xs):
    if not len(xs):
        raise _empty("min", lparen)
    return _extreme(xs, False)


@function("range", [LIST], DOUBLE)
def range_(state, lparen, xs):
    if not len(xs):
        raise _empty("range", lparen)
    return _extreme(xs, True) - _extreme(xs, False)


@function("sum", [LIST], DOUBLE)
def sum_(state, lparen, xs):
    return _total(xs)


@function("norm", [LIST], DOUBLE)
def norm(state, lparen, xs):
    a = np.asarray(xs, dtype=np.float64)
    return math.sqrt(_total(a * a)) if len(a) else 0.0


@function("std", [LIST], DOUBLE)
def std(state, lparen, xs):
    n = len(xs)
    if not n:
        raise _empty("std", lparen)
    if _has_nan(xs):
        return _nan
    if n == 1:
        return 0.0
    a = np.asarray(xs, dtype=np.float64)
    mean = _total(a) / n
    d = a - mean
    return math.sqrt(_total(d * d) / (n - 1))


@function("percentile", [VEC, DOUBLE], DOUBLE)
def percentile(state, lparen, v, p):
    if p != p or p < 0 or p > 100:
        raise EvaluationError("InvalidArgument", lparen,
                              f"percentile() needs p between 0 and 100, got {format_double(p)}")
    n = len(v)
    if not n:
        raise _empty("percentile", lparen)
    if _has_nan(v):
        return _nan
    k = math.ceil((p * n) / 100) - 1
    k = 0 if k < 0 else (n - 1 if k > n - 1 else k)
    return float(np.sort(v)[k])


@function("val", [VEC, DOUBLE], DOUBLE)
def val(state, lparen, v, i):
    n = len(v)
    if i != i or i in (math.inf, -math.inf) or not (0 <= math.trunc(i) < n):
        raise EvaluationError("IndexOutOfRange", lparen,
                              f"val() index {format_double(i)} is out of range for a vector of length {n}")
    return float(v[math.trunc(i)])


@function("rand", [], DOUBLE)
def rand(state, lparen):
    return state.random()


@function("stop", [], NONE)
def stop(state, lparen):
    raise StopRun()


@function("time", [], TIMESTAMP)
def time_now(state, lparen):
    return state.now_stamp


@function("time", [STRING], TIMESTAMP)
def time_parse(state, lparen, s):
    ts = parse_time_string(s)
    if ts is None:
        raise EvaluationError("InvalidTimestamp", lparen, f'time() cannot parse "{s}"')
    return ts


def _logarithm(name: str, ufunc) -> None:
    def scalar(state, lparen, x):
        return float(ufunc(x))

    def vector(state, lparen, xs):
        return ufunc(np.asarray(xs, dtype=np.float64))

    function(name, [DOUBLE], DOUBLE)(scalar)
    # any other argument list (choice, docs/language.md#functions)
    function(name, [LIST], VEC)(vector)


_logarithm("lg", np.log2)
_logarithm("ln", np.log)
_logarithm("log", np.log10)


def _round_half_away(a: np.ndarray) -> np.ndarray:
    t = np.trunc(a)
    # a - trunc(a) is exact for doubles, so the half test has no rounding error
    # (the classic floor(x + 0.5) rounds 0.49999999999999994 up).
    return np.where(np.abs(a - t) >= 0.5, t + np.copysign(1.0, a), t)


def _rounding(name: str, vec_fn) -> None:
    def scalar(state, lparen, x):
        return float(vec_fn(np.float64(x)))

    def vector(state, lparen, v):
        return vec_fn(v)

    function(name, [DOUBLE], DOUBLE)(scalar)
    function(name, [VEC], VEC)(vector)


_rounding("ceil", np.ceil)
_rounding("floor", np.floor)
_rounding("round", _round_half_away)
