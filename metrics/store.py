"""The metric history a run reads: visibility, windows and percentages
(docs/language.md#sample-series-and-windows).

One store serves many runs at different instants (the simulator evaluates
every five minutes against one growing history), so nothing here depends on,
or caches anything about, the evaluation time: ``now`` is an argument of every
query, and the delay cut-off ``t <= now - delay`` is applied per call.

Every query is one or two ``searchsorted`` calls on a series' stamps plus a
slice, so it is O(log n) and allocates only the result view. The returned
arrays are views of read-only arrays: numpy refuses writes to them and
refuses to make them writeable again, so a caller cannot corrupt the store.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from .loaders import (
    canonical_keys,
    series_from_csv,
    series_from_dataframe,
    series_from_mapping,
)
from .series import Series
from .variables import SERIES_VARIABLES, canonical_series_name

__all__ = [
    "DEFAULT_PERIOD", "SampleStore", "Window", "query_history_begin", "query_latest",
    "query_window",
]

#: 30 s in ticks: the service's sample period and the docs/language.md#the-sample-model default.
DEFAULT_PERIOD = 300_000_000

_CANONICAL = frozenset(SERIES_VARIABLES)
_EMPTY_PAIR = (Series.EMPTY.stamps, Series.EMPTY.values)


@dataclass(frozen=True, slots=True)
class Window:
    """The outcome of docs/language.md#window-arithmetic steps 2–5 for one window (lo, hi].

    ``values`` are the available samples, oldest first (read-only);
    ``available`` is their count; ``expected`` is (hi − lo) / P as a double;
    ``percent`` is what ``GetSamplePercent`` returns and what ``GetSample``
    compares with its minimum. The check itself (step 6) belongs to the
    evaluator, which knows the call's position for the error detail.
    """

    values: np.ndarray
    available: int
    expected: float
    percent: float


def _check_period_delay(period: int, delay: int) -> tuple[int, int]:
    period = operator.index(period)
    delay = operator.index(delay)
    if period <= 0:
        raise ValueError(f"period must be positive, got {period} ticks")
    if delay < 0:
        raise ValueError(f"delay must be 0 or more, got {delay} ticks")
    return period, delay


class SampleStore:
    """Named series plus the sample period P and the visibility delay
    (docs/language.md#the-sample-model).

    Keys are canonicalised (``pendingtasks`` → ``$PendingTasks``); an unknown name or two spellings
    of one series raise ValueError. A series with no entry has no samples
    (docs/language.md#the-sample-model: "A series with no data has no samples at all"). Times are
    int ticks (100 ns since 0001-01-01 UTC).
    """

    __slots__ = ("_series", "_arrays", "_period", "_delay")

    def __init__(
        self,
        series: Mapping[str, Series] | None = None,
        *,
        period: int = DEFAULT_PERIOD,
        delay: int = 0,
    ) -> None:
        self._period, self._delay = _check_period_delay(period, delay)
        series = {} if series is None else series
        names = canonical_keys(series.keys())
        table: dict[str, Series] = {}
        for canon, (key, s) in zip(names, series.items()):
            if not isinstance(s, Series):
                raise TypeError(f"series {key!r} must be a Series, not {type(s).__name__}")
            table[canon] = s
        self._series = table
        # The hot path unpacks a plain tuple instead of reading two attributes.
        self._arrays = {name: (s.stamps, s.values) for name, s in table.items()}

    # -- configuration ----------------------------------------------------

    @property
    def period(self) -> int:
        """P in ticks; ``GetSamplePeriod()`` returns it."""
        return self._period

    @property
    def delay(self) -> int:
        """Ticks a sample takes to become visible: t is visible at T when t <= T - delay."""
        return self._delay

    def replace(self, *, period: int | None = None, delay: int | None = None) -> "SampleStore":
        """A store over the same series with another period or delay (the series are shared)."""
        return SampleStore(
            self._series,
            period=self._period if period is None else period,
            delay=self._delay if delay is None else delay,
        )

    @property
    def names(self) -> tuple[str, ...]:
        """Canonical names of the series that were given, in docs/language.md#series-variables
        order."""
        return tuple(n for n in SERIES_VARIABLES if n in self._series)

    def __contains__(self, name: object) -> bool:
        return name in self._series

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}: {len(self._series[n])}" for n in self.names)
        return f"SampleStore({{{sizes}}}, period={self._period}, delay={self._delay})"

    # -- lookup -------------------------------------------------------------

    def _missing(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Slow path of a lookup: a series without data, or a non-canonical spelling."""
        if name in _CANONICAL:
            return _EMPTY_PAIR
        canon = canonical_series_name(name)
        if canon is None:
            raise KeyError(f"{name!r} is not a series variable")
        return self._arrays.get(canon, _EMPTY_PAIR)

    def series(self, name: str) -> Series:
        """All samples of *name*, visible or not; ``Series.EMPTY`` when it has none."""
        s = self._series.get(name)
        if s is not None:
            return s
        if name in _CANONICAL:
            return Series.EMPTY
        canon = canonical_series_name(name)
        if canon is None:
            raise KeyError(f"{name!r} is not a series variable")
        return self._series.get(canon, Series.EMPTY)

    # -- queries (the evaluator's hot path) -----------------------------------

    def window(self, name: str, lo: int, hi: int, now: int) -> Window:
        """docs/language.md#window-arithmetic steps 2–5 for the window (lo, hi] as seen by a run at
        *now*.

        The caller has already ordered the bounds (step 2), so lo > hi is a bug
        and raises ValueError. ``expected`` divides the tick counts as doubles,
        as .NET's ``TimeSpan / TimeSpan`` does.
        """
        stamps, values = self._arrays.get(name) or self._missing(name)
        return query_window(stamps, values, lo, hi, now - self._delay, self._period)

    def latest(self, name: str, n: float, now: int) -> np.ndarray:
        """``GetSample(n)``: the trunc(n) most recent visible samples, oldest first.

        n <= 0 or NaN gives an empty array and +inf gives every visible sample
        (docs/language.md#series-methods); a count larger than the history simply gives all of it.
        """
        stamps, values = self._arrays.get(name) or self._missing(name)
        return query_latest(stamps, values, n, now - self._delay)

    def count(self, name: str, now: int) -> int:
        """``Count()``: the number of visible samples in the whole history."""
        stamps, _ = self._arrays.get(name) or self._missing(name)
        return int(stamps.searchsorted(now - self._delay, "right"))

    def history_begin(self, name: str, now: int) -> int | None:
        """``HistoryBeginTime()``: the oldest visible stamp, or None (the evaluator's EmptyHistory)."""
        stamps, _ = self._arrays.get(name) or self._missing(name)
        return query_history_begin(stamps, now - self._delay)

    # -- loaders ------------------------------------------------------------

    @classmethod
    def from_mapping(
        cls,
        mapping: Mapping[str, Sequence[float | None] | str],
        *,
        end: Any,
        period: int = DEFAULT_PERIOD,
        delay: int = 0,
    ) -> "SampleStore":
        """A scenario's ``samples`` (docs/language.md#scenario-file): lists (None = missing) or
        notation strings, each with its last value stamped at *end*: ticks, a ``datetime`` (a
        naive one is UTC, as for ``Formula.evaluate(now=...)``) or a ``Timestamp``."""
        period, delay = _check_period_delay(period, delay)
        return cls(series_from_mapping(mapping, end=end, period=period), period=period, delay=delay)

    @classmethod
    def from_csv(
        cls, path_or_buffer: Any, *, period: int = DEFAULT_PERIOD, delay: int = 0
    ) -> "SampleStore":
        """A CSV with a ``timestamp`` column (ISO-8601 with a zone) and one column per
        series; an empty cell is a missing sample."""
        period, delay = _check_period_delay(period, delay)
        return cls(series_from_csv(path_or_buffer), period=period, delay=delay)

    @classmethod
    def from_dataframe(
        cls, df: Any, *, period: int = DEFAULT_PERIOD, delay: int = 0
    ) -> "SampleStore":
        """A DataFrame with a DatetimeIndex (or a ``timestamp`` column) and one column
        per series; NaN is a missing sample. pandas is imported only here."""
        period, delay = _check_period_delay(period, delay)
        return cls(series_from_dataframe(df), period=period, delay=delay)


# -- the queries, shared with metrics.recorder.SampleRecorder -----------------------------
# Each takes a series' stamps and values (sorted, available samples only) and the visibility
# cut-off ``cut = now - delay``; a sample stamped t is visible when t <= cut
# (docs/language.md#the-sample-model).


def query_window(stamps: np.ndarray, values: np.ndarray, lo: int, hi: int, cut: int,
                 period: int) -> Window:
    """docs/language.md#window-arithmetic steps 2–5 for the window (lo, hi]; lo > hi is a caller bug
    (ValueError)."""
    if hi < lo:
        raise ValueError(f"window lower bound {lo} is after its upper bound {hi}")
    top = hi if hi < cut else cut
    i = int(stamps.searchsorted(lo, "right"))
    j = int(stamps.searchsorted(top, "right")) if top > lo else i
    available = j - i
    expected = float(hi - lo) / period
    if expected == 0:
        percent = 100.0
    else:
        percent = (100.0 * available) / expected
        if percent > 100.0:
            percent = 100.0
    return Window(values[i:j], available, expected, percent)


def query_latest(stamps: np.ndarray, values: np.ndarray, n: float, cut: int) -> np.ndarray:
    """``GetSample(n)``: the trunc(n) most recent visible samples, oldest first."""
    j = int(stamps.searchsorted(cut, "right"))
    if not n > 0:  # also catches NaN
        return values[:0]
    if n >= j:
        return values[:j]
    return values[j - int(n) : j]


def query_history_begin(stamps: np.ndarray, cut: int) -> int | None:
    """The oldest visible stamp, or None."""
    if stamps.size and stamps[0] <= cut:
        return int(stamps[0])
    return None
