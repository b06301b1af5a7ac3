"""Timing helpers: timeit-style autoranging, median of several rounds, and
interleaved rounds so that a ratio compares two callables under the same
machine conditions (frequency scaling, other load) instead of one after the other.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable


def autorange(fn: Callable[[], object], min_time: float) -> int:
    """The smallest 1, 2, 5, 10, 20, 50, ... calls that take at least ``min_time`` s
    (what ``timeit.Timer.autorange`` does, with a configurable floor)."""
    n = 1
    while True:
        for factor in (1, 2, 5):
            calls = n * factor
            if _loop(fn, calls) >= min_time:
                return calls
        n *= 10


def _loop(fn: Callable[[], object], calls: int) -> float:
    perf = time.perf_counter
    start = perf()
    for _ in range(calls):
        fn()
    return perf() - start


def per_call(fn: Callable[[], object], *, rounds: int, min_time: float) -> dict:
    """Seconds per call: median (and min, max) over ``rounds`` autoranged rounds."""
    calls = autorange(fn, min_time)
    samples = [_loop(fn, calls) / calls for _ in range(rounds)]
    return _summary(samples, calls)


def per_call_paired(fns: dict[str, Callable[[], object]], *, rounds: int,
                    min_time: float) -> dict[str, dict]:
    """Like :func:`per_call` for several callables, their rounds interleaved."""
    calls = {name: autorange(fn, min_time) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            samples[name].append(_loop(fn, calls[name]) / calls[name])
    return {name: _summary(samples[name], calls[name]) for name in fns}


def _summary(samples: list[float], calls: int) -> dict:
    return {"median_s": statistics.median(samples), "min_s": min(samples),
            "max_s": max(samples), "rounds": len(samples), "calls_per_round": calls}
