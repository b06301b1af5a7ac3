"""One metric history as two immutable numpy arrays.

A formula only ever sees *available* samples (docs/language.md#the-sample-model: visible and not
missing), and every method counts or returns them. Storing only the present samples makes each query
a pair of ``searchsorted`` calls and a slice: a missing sample needs no representation because
nothing ever asks for it. A NaN given as input is therefore treated as missing rather than kept as a
value (a NaN sample cannot come from the service, and keeping it would make "available" ambiguous).

The arrays are private copies marked read-only, and what callers see are
views of them. numpy refuses to make a view writeable when its base is not,
so neither the store nor its callers can corrupt a series by accident.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, Iterable, Sequence

import numpy as np

__all__ = [
    "MAX_TICKS",
    "TICKS_PER_SECOND",
    "Series",
    "ticks_from_datetime",
    "ticks_from_instant",
]

TICKS_PER_SECOND = 10_000_000

#: .NET ``DateTime.MaxValue.Ticks`` (9999-12-31T23:59:59.9999999); stamps lie in
#: [0, MAX_TICKS] so that every one of them prints as a timestamp (docs/language.md#time-values).
MAX_TICKS = 3_155_378_975_999_999_999

_EPOCH = datetime(1, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def ticks_from_datetime(dt: datetime) -> int:
    """Ticks of an aware datetime; naive ones are refused, as a guess could shift data by hours."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"timestamp {dt.isoformat()} has no time zone")
    return (dt - _EPOCH) // _MICROSECOND * 10


def ticks_from_instant(when: Any, what: str = "end") -> int:
    """Ticks of an instant a caller gives: ticks (an int), a ``datetime`` or a
    ``poolscale.formula.Timestamp``, the forms ``Formula.evaluate(now=...)`` takes.

    A naive datetime is UTC here, as it is for ``evaluate``'s ``now`` and for a naive
    DataFrame index: samples built with ``end=dt`` and a run at ``now=dt`` must name the
    same instant whatever the machine's zone. (Text is different: an ISO time in a file
    needs a zone, see :func:`ticks_from_datetime`.) The range is checked here so that an
    empty mapping refuses a bad ``end`` as a full one does.
    """
    if isinstance(when, datetime):
        if when.tzinfo is None or when.utcoffset() is None:
            when = when.replace(tzinfo=timezone.utc)
        ticks = ticks_from_datetime(when)
    else:
        # A Timestamp is recognised by its int ``ticks``: metrics does not import formula.
        raw = getattr(when, "ticks", when)
        if isinstance(raw, bool) or not isinstance(raw, (int, np.integer)):
            raise TypeError(f"{what} must be ticks, a datetime or a Timestamp, "
                            f"not {type(when).__name__}")
        ticks = int(raw)
    if ticks < 0:
        raise ValueError(f"{what} tick {ticks} is before 0001-01-01")
    if ticks > MAX_TICKS:
        raise ValueError(f"{what} tick {ticks} is after 9999-12-31")
    return ticks


def _frozen(array: np.ndarray) -> np.ndarray:
    """A read-only view over a read-only private copy (see the module docstring)."""
    base = np.array(array, copy=True)
    base.flags.writeable = False
    view = base.view()
    return view


def _as_float_array(values: Iterable[float | None] | np.ndarray) -> np.ndarray:
    """float64 values with ``None`` as NaN, refusing anything that is not a number.

    ``np.asarray(..., dtype=float)`` alone would quietly turn ``True`` into 1.0
    and ``"5"`` into 5.0; a scenario with such a value is a usage error.
    """
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "fiu":
            raise TypeError(f"sample values must be numbers, not {values.dtype}")
        return np.asarray(values, dtype=np.float64).reshape(-1)
    items = values if isinstance(values, (list, tuple)) else list(values)
    for index, v in enumerate(items):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(
                f"sample {index + 1} is {v!r}; a sample is a number or None (missing)"
            )
    return np.array([np.nan if v is None else v for v in items], dtype=np.float64)


def _check_range(stamps: np.ndarray) -> None:
    if stamps.size and (stamps[0] < 0 or stamps[-1] > MAX_TICKS):
        raise ValueError(
            "sample stamps must lie between 0001-01-01 and 9999-12-31 "
            f"(ticks 0..{MAX_TICKS}); got {int(stamps[0])}..{int(stamps[-1])}"
        )


@dataclass(frozen=True, slots=True, eq=False, init=False)
class Series:
    """The present samples of one series: ``stamps`` (int64 ticks, strictly ascending)
    and ``values`` (float64), both read-only and of equal length.

    The plain constructor takes already-sorted stamps and validates them; use
    :meth:`from_pairs` for unsorted input and :meth:`from_values` for a grid.
    """

    stamps: np.ndarray
    values: np.ndarray

    EMPTY: ClassVar["Series"]

    def __init__(self, stamps: Sequence[int] | np.ndarray, values: Iterable[float | None]) -> None:
        st = np.asarray(stamps)
        if st.size == 0:
            st = st.astype(np.int64)
        if st.ndim != 1 or st.dtype.kind not in "iu":
            raise TypeError("stamps must be a 1-D sequence of integer ticks")
        st = st.astype(np.int64, copy=False)
        vals = _as_float_array(values)
        if vals.shape != st.shape:
            raise ValueError(f"{st.size} stamps but {vals.size} values")
        if st.size > 1 and not bool(np.all(st[1:] > st[:-1])):
            raise ValueError("stamps must be strictly ascending (use Series.from_pairs to sort)")
        _check_range(st)
        present = ~np.isnan(vals)
        if not present.all():
            st, vals = st[present], vals[present]
        object.__setattr__(self, "stamps", _frozen(st))
        object.__setattr__(self, "values", _frozen(vals))

    # -- constructors -----------------------------------------------------

    @classmethod
    def from_values(
        cls, values: Sequence[float | None] | np.ndarray, *, end: int, period: int
    ) -> "Series":
        """Values on a grid whose last point is *end*, one *period* apart going back.

        This is the scenario-file layout (docs/language.md#scenario-file): the last value is the
        sample stamped at the evaluation time.
        """
        end = operator.index(end)
        period = operator.index(period)
        if period <= 0:
            raise ValueError(f"period must be positive, got {period} ticks")
        if period > MAX_TICKS:
            raise ValueError(f"period of {period} ticks is longer than the time line "
                             f"(0001-01-01 to 9999-12-31 is {MAX_TICKS} ticks)")
        vals = _as_float_array(values)
        n = vals.size
        if n and end - period * (n - 1) < 0:
            raise ValueError(
                f"{n} samples {period} ticks apart ending at tick {end} would start before 0001-01-01"
            )
        if end > MAX_TICKS:
            raise ValueError(f"end tick {end} is after 9999-12-31")
        if end < 0:
            raise ValueError(f"end tick {end} is before 0001-01-01")
        stamps = end - period * np.arange(n - 1, -1, -1, dtype=np.int64)
        return cls(stamps, vals)

    @classmethod
    def from_pairs(
        cls, stamps: Sequence[int] | np.ndarray, values: Iterable[float | None]
    ) -> "Series":
        """Samples in any order; two samples with one stamp are an error, not a merge."""
        st = np.asarray(stamps)
        if st.size == 0:
            st = st.astype(np.int64)
        if st.ndim != 1 or st.dtype.kind not in "iu":
            raise TypeError("stamps must be a 1-D sequence of integer ticks")
        vals = _as_float_array(values)
        if vals.shape != st.shape:
            raise ValueError(f"{st.size} stamps but {vals.size} values")
        order = np.argsort(st, kind="stable")
        st, vals = st[order].astype(np.int64), vals[order]
        if st.size > 1:
            dup = np.flatnonzero(st[1:] == st[:-1])
            if dup.size:
                raise ValueError(f"two samples share the stamp {int(st[dup[0]])} (ticks)")
        return cls(st, vals)

    # -- conveniences -----------------------------------------------------

    def __len__(self) -> int:
        return int(self.stamps.size)

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Series):
            return NotImplemented
        return bool(
            np.array_equal(self.stamps, other.stamps)
            and np.array_equal(self.values, other.values)
        )

    def __hash__(self) -> int:
        return hash((self.stamps.tobytes(), self.values.tobytes()))

    def __repr__(self) -> str:
        if not self.stamps.size:
            return "Series(<empty>)"
        return (
            f"Series(<{self.stamps.size} samples, ticks {int(self.stamps[0])}"
            f"..{int(self.stamps[-1])}>)"
        )


Series.EMPTY = Series(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))
