"""Benchmark 1: one evaluation of the 6-statement formula versus the same
computation written by hand with numpy over the same arrays."""

from __future__ import annotations

import numpy as np

from bench_formulas import EVAL_FORMULA, PERIOD, SERIES, TICKS_PER_HOUR, TICKS_PER_MINUTE
from bench_formulas import now_ticks, sample_values
from bench_timing import per_call_paired


class InsufficientData(Exception):
    pass


def reference(arrays: dict[str, tuple[np.ndarray, np.ndarray]], now: int, period: int) -> dict:
    """EVAL_FORMULA by hand: windows (now - d, now] found with searchsorted, the same
    percent rule and minimums, and a left-to-right sum (np.cumsum) for the average."""

    def window(name: str, lookback: int, minimum: float | None = None):
        stamps, values = arrays[name]
        i = stamps.searchsorted(now - lookback, "right")
        j = stamps.searchsorted(now, "right")
        percent = min(100.0, 100.0 * (j - i) / (lookback / period))
        if minimum is not None and percent < minimum:
            raise InsufficientData(f"{name}: wanted {minimum}%, received {percent}%")
        return values[i:j], percent

    _, pct = window("$PendingTasks", 10 * TICKS_PER_MINUTE)
    day, _ = window("$PendingTasks", 24 * TICKS_PER_HOUR, 70)
    pending = np.cumsum(day)[-1] / len(day)
    half_hour, _ = window("$CPUPercent", 30 * TICKS_PER_MINUTE, 70)
    cpu = half_hour.max()
    recent, _ = window("$ActiveTasks", 5 * TICKS_PER_MINUTE, 50)
    target = 1.0 if pct < 70 else min(20.0, max(0.0, pending / 4 + (2 if cpu > 80 else 0)))
    return {"pct": pct, "pending": pending, "cpu": cpu, "recent": recent,
            "dedicated": target, "option": "taskcompletion"}


def setup():
    from poolscale.formula import PoolState, compile_formula
    from poolscale.metrics import SampleStore, Series

    now = now_ticks()
    store = SampleStore({name: Series.from_values(v, end=now, period=PERIOD)
                         for name, v in sample_values().items()}, period=PERIOD, delay=0)
    arrays = {name: (store.series(name).stamps, store.series(name).values) for name in SERIES}
    formula = compile_formula(EVAL_FORMULA)
    pool = PoolState(current_dedicated=4, target_dedicated=4)
    return formula, store, arrays, now, pool


def verify(formula, store, arrays, now, pool) -> dict:
    """Both sides compute the same targets and variables, bit for bit."""
    run = formula.evaluate(store, now=now, pool=pool)
    if run.error is not None:
        raise AssertionError(f"the formula failed: {run.error}")
    ref = reference(arrays, now, PERIOD)
    v = run.values
    checks = {
        "dedicated": run.dedicated == float(ref["dedicated"]),
        "option": run.option.value == ref["option"],
        "$pct": v["$pct"] == ref["pct"],
        "$pending": v["$pending"] == float(ref["pending"]),
        "$cpu": v["$cpu"] == float(ref["cpu"]),
        "$recent": np.array_equal(v["$recent"], ref["recent"]),
    }
    bad = [name for name, ok in checks.items() if not ok]
    if bad:
        raise AssertionError(f"poolscale and the numpy reference disagree on {bad}: "
                             f"{run.results} vs {ref}")
    return {"dedicated": run.dedicated, "results": run.results}


def run(*, rounds: int, min_time: float) -> dict:
    formula, store, arrays, now, pool = setup()
    agreed = verify(formula, store, arrays, now, pool)
    timings = per_call_paired({
        "poolscale": lambda: formula.evaluate(store, now=now, pool=pool),
        "numpy": lambda: reference(arrays, now, PERIOD),
    }, rounds=rounds, min_time=min_time)
    ours, theirs = timings["poolscale"]["median_s"], timings["numpy"]["median_s"]
    return {
        "poolscale_us": ours * 1e6,
        "numpy_us": theirs * 1e6,
        "ratio": ours / theirs,
        "ratio_of_minimums": timings["poolscale"]["min_s"] / timings["numpy"]["min_s"],
        "target_ratio": 2.0,
        "samples_per_series": len(arrays["$PendingTasks"][0]),
        "verified": agreed,
        "timings": timings,
    }
