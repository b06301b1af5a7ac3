"""A growing sample store for the simulator (docs/simulation-model.md,
docs/language.md#sample-series-and-windows).

The simulator appends one stamp every sample period and evaluates a formula every interval
against the history so far. :class:`SampleRecorder` answers the same queries as
:class:`~poolscale.metrics.store.SampleStore` (``period``, ``delay``, ``window``, ``latest``,
``count``, ``history_begin``) over preallocated numpy buffers that grow by doubling:

* appending a stamp is O(1) amortised (one row written, no copy of the history);
* a query is one or two ``searchsorted`` calls on the filled prefix, so O(log n);
* a query returns a read-only view; a later append never changes what a view shows, because
  appends only write past the filled prefix and growth copies into a new buffer.

Every series shares one stamp array: the simulator measures each value pool-wide and a lost stamp is missing
from every series at once. The query code itself is :mod:`metrics.store`'s, so both stores agree
on windows, percentages and visibility by construction.
"""

from __future__ import annotations

import operator
from typing import Iterable, Sequence

import numpy as np

from .series import Series
from .store import DEFAULT_PERIOD, Window, query_history_begin, query_latest, query_window
from .variables import SERIES_VARIABLES, canonical_series_name

__all__ = ["SampleRecorder"]

_INDEX = {name: i for i, name in enumerate(SERIES_VARIABLES)}


class SampleRecorder:
    """Every series variable (docs/language.md#series-variables), recorded stamp by stamp.

    ``append(stamp, values)`` takes the values in ``SERIES_VARIABLES`` order (or a mapping by
    canonical name; a missing name is 0). Stamps must strictly increase.
    """

    __slots__ = ("_period", "_delay", "_stamps", "_values", "_n", "_names")

    def __init__(self, *, period: int = DEFAULT_PERIOD, delay: int = 0, capacity: int = 1024,
                 names: Sequence[str] = SERIES_VARIABLES) -> None:
        period = operator.index(period)
        delay = operator.index(delay)
        if period <= 0:
            raise ValueError(f"period must be positive, got {period} ticks")
        if delay < 0:
            raise ValueError(f"delay must be 0 or more, got {delay} ticks")
        if tuple(names) != SERIES_VARIABLES:
            raise ValueError("a SampleRecorder records every series variable, in the order of SERIES_VARIABLES")
        self._period = period
        self._delay = delay
        capacity = max(16, int(capacity))
        self._stamps = np.empty(capacity, dtype=np.int64)
        self._values = np.empty((len(SERIES_VARIABLES), capacity), dtype=np.float64)
        self._n = 0
        self._names = SERIES_VARIABLES

    # -- configuration ------------------------------------------------------------------

    @property
    def period(self) -> int:
        return self._period

    @property
    def delay(self) -> int:
        return self._delay

    @property
    def names(self) -> tuple[str, ...]:
        return self._names if self._n else ()

    def __len__(self) -> int:
        return self._n

    def __contains__(self, name: object) -> bool:
        return self._n > 0 and name in _INDEX

    def __repr__(self) -> str:
        return f"SampleRecorder({self._n} stamps, period={self._period}, delay={self._delay})"

    # -- recording ----------------------------------------------------------------------

    def _grow(self) -> None:
        cap = 2 * self._stamps.shape[0]
        stamps = np.empty(cap, dtype=np.int64)
        stamps[: self._n] = self._stamps[: self._n]
        values = np.empty((self._values.shape[0], cap), dtype=np.float64)
        values[:, : self._n] = self._values[:, : self._n]
        self._stamps, self._values = stamps, values

    def append(self, stamp: int, values: Iterable[float] | dict) -> None:
        """Record one stamp. ``values``: one float per series in the order of
        ``SERIES_VARIABLES``, or a mapping."""
        n = self._n
        if n and stamp <= self._stamps[n - 1]:
            raise ValueError(f"stamp {stamp} is not after the last stamp {self._stamps[n - 1]}")
        if n == self._stamps.shape[0]:
            self._grow()
        self._stamps[n] = stamp
        if isinstance(values, dict):
            col = self._values[:, n]
            col[:] = 0.0
            for name, v in values.items():
                canon = canonical_series_name(name)
                if canon is None:
                    raise KeyError(f"{name!r} is not a series variable")
                col[_INDEX[canon]] = v
        else:
            self._values[:, n] = values
        self._n = n + 1

    # -- lookup ---------------------------------------------------------------------------

    def _arrays(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        i = _INDEX.get(name)
        if i is None:
            canon = canonical_series_name(name)
            if canon is None:
                raise KeyError(f"{name!r} is not a series variable")
            i = _INDEX[canon]
        n = self._n
        values = self._values[i, :n]
        values.flags.writeable = False
        return self._stamps[:n], values

    def series(self, name: str) -> Series:
        """A copy of every sample of *name* as an immutable :class:`Series`."""
        stamps, values = self._arrays(name)
        if not stamps.size:
            return Series.EMPTY
        return Series(stamps, values)

    def stamps(self) -> np.ndarray:
        """The recorded stamps (a read-only view)."""
        v = self._stamps[: self._n]
        v.flags.writeable = False
        return v

    # -- queries (same contract as SampleStore) --------------------------------------------

    def window(self, name: str, lo: int, hi: int, now: int) -> Window:
        stamps, values = self._arrays(name)
        return query_window(stamps, values, lo, hi, now - self._delay, self._period)

    def latest(self, name: str, n: float, now: int) -> np.ndarray:
        stamps, values = self._arrays(name)
        return query_latest(stamps, values, n, now - self._delay)

    def count(self, name: str, now: int) -> int:
        stamps, _ = self._arrays(name)
        return int(stamps.searchsorted(now - self._delay, "right"))

    def history_begin(self, name: str, now: int) -> int | None:
        stamps, _ = self._arrays(name)
        return query_history_begin(stamps, now - self._delay)

    def to_store(self):
        """A frozen :class:`SampleStore` with the same samples (for ``poolscale eval`` replays)."""
        from .store import SampleStore

        if not self._n:
            return SampleStore(period=self._period, delay=self._delay)
        return SampleStore({name: self.series(name) for name in SERIES_VARIABLES},
                           period=self._period, delay=self._delay)
