"""Turning outside data (mappings, CSV files, DataFrames) into named series.

Each loader returns ``{canonical $Name: Series}`` and leaves the period and
delay to :class:`~poolscale.metrics.store.SampleStore`, which owns them. The
loaders are strict about names: an unknown column or two spellings of one
series is an error naming the offending key, because a silently ignored
column would make a scenario evaluate against no data at all.

The CSV path uses only the standard library so that ``poolscale eval`` does
not pay pandas' import time; pandas is imported inside
:func:`series_from_dataframe` alone.
"""

from __future__ import annotations

import csv
import io
import os
import re
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .notation import NotationError, parse_notation_array
from .series import Series, ticks_from_datetime, ticks_from_instant
from .variables import canonical_series_name

__all__ = [
    "canonical_keys",
    "parse_timestamp",
    "series_from_csv",
    "series_from_dataframe",
    "series_from_mapping",
]

_FRACTION = re.compile(r"[.,](\d+)", re.ASCII)
# Ticks per unit for the datetime64 resolutions pandas uses.
_TICKS_PER_UNIT = {"s": 10_000_000, "ms": 10_000, "us": 10}
_UNIX_EPOCH_TICKS = ticks_from_datetime(datetime(1970, 1, 1, tzinfo=timezone.utc))


def canonical_keys(names: Iterable[str], *, what: str = "series") -> list[str]:
    """Canonical names for *names*, in order; unknown or repeated series raise ValueError."""
    seen: dict[str, str] = {}
    out: list[str] = []
    for name in names:
        canon = canonical_series_name(name) if isinstance(name, str) else None
        if canon is None:
            raise ValueError(f"{what} {name!r} is not a series variable")
        if canon in seen:
            raise ValueError(
                f"{what} {name!r} names the same series as {seen[canon]!r} ({canon})"
            )
        seen[canon] = name
        out.append(canon)
    return out


def series_from_mapping(
    mapping: Mapping[str, Sequence[float | None] | str | Series], *, end: Any, period: int
) -> dict[str, Series]:
    """Series from lists or notation strings, each ending at *end*
    (docs/language.md#scenario-file): ticks, a datetime (naive = UTC) or a Timestamp."""
    end = ticks_from_instant(end)
    names = canonical_keys(mapping.keys(), what="samples key")
    out: dict[str, Series] = {}
    for canon, (key, raw) in zip(names, mapping.items()):
        if isinstance(raw, Series):
            out[canon] = raw
            continue
        if isinstance(raw, str):
            try:
                values: Any = parse_notation_array(raw)
            except NotationError as exc:
                raise NotationError(f"samples key {key!r}: {exc}", item=exc.item,
                                    index=exc.index) from exc
        elif isinstance(raw, (list, tuple, np.ndarray)):
            values = raw
        else:
            raise ValueError(
                f"samples key {key!r}: expected a list or a series-notation string, "
                f"not {type(raw).__name__}"
            )
        try:
            out[canon] = Series.from_values(values, end=end, period=period)
        except TypeError as exc:
            raise ValueError(f"samples key {key!r}: {exc}") from exc
    return out


def parse_timestamp(text: str) -> int:
    """Ticks of an ISO-8601 instant with a zone, keeping a 7th fractional digit.

    ``datetime.fromisoformat`` (3.11) accepts ``Z`` only as ``+00:00`` and drops
    digits past microseconds, so the fraction is read here separately: a tick
    is 100 ns and should survive a CSV round trip.
    """
    s = text.strip()
    if s[-1:] in ("Z", "z"):
        s = s[:-1] + "+00:00"
    extra = 0
    m = _FRACTION.search(s)
    if m is not None:
        digits = m.group(1)
        if len(digits) > 7:
            raise ValueError(f"timestamp {text!r} has more than 7 fractional digits")
        extra = int(digits.ljust(7, "0")) % 10  # the part below one microsecond
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(f"timestamp {text!r} is not ISO-8601") from None
    return ticks_from_datetime(dt) + extra


def _open_text(path_or_buffer: Any) -> tuple[io.TextIOBase, bool]:
    if isinstance(path_or_buffer, (str, os.PathLike)):
        return open(path_or_buffer, newline="", encoding="utf-8-sig"), True
    if hasattr(path_or_buffer, "read"):
        return path_or_buffer, False
    raise TypeError(f"expected a path or a text file, not {type(path_or_buffer).__name__}")


def _cell(text: str, row: int, column: str) -> float:
    t = text.strip()
    if not t:
        return np.nan
    try:
        return float(t)
    except ValueError:
        raise ValueError(f"row {row}, column {column!r}: {text!r} is not a number") from None


def series_from_csv(path_or_buffer: Any) -> dict[str, Series]:
    """Series from a CSV with a ``timestamp`` column and one column per series.

    Rows may come in any order; an empty cell is a missing sample. Row numbers
    in errors count the header as row 1, as a spreadsheet shows them.
    """
    handle, owned = _open_text(path_or_buffer)
    try:
        reader = csv.reader(handle)
        rows = [r for r in reader if r and any(c.strip() for c in r)]
    except csv.Error as exc:  # a cell past the csv module's field limit (a stray quote)
        raise ValueError(f"row {reader.line_num}: {exc}") from None
    finally:
        if owned:
            handle.close()
    if not rows:
        raise ValueError("CSV has no header row")
    header = [h.strip() for h in rows[0]]
    lowered = [h.lower() for h in header]
    if lowered.count("timestamp") != 1:
        raise ValueError("CSV header needs exactly one 'timestamp' column")
    t_col = lowered.index("timestamp")
    columns = [i for i in range(len(header)) if i != t_col]
    names = canonical_keys((header[i] for i in columns), what="CSV column")
    stamps: list[int] = []
    table: list[list[float]] = [[] for _ in columns]
    for row_no, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(f"row {row_no} has {len(row)} cells; the header has {len(header)}")
        try:
            stamps.append(parse_timestamp(row[t_col]))
        except ValueError as exc:
            raise ValueError(f"row {row_no}: {exc}") from None
        for slot, col in zip(table, columns):
            slot.append(_cell(row[col], row_no, header[col]))
    return {
        name: _pairs(stamps, values, name) for name, values in zip(names, table)
    }


def _pairs(stamps: Sequence[int] | np.ndarray, values: Any, name: str) -> Series:
    try:
        return Series.from_pairs(np.asarray(stamps, dtype=np.int64), values)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _dataframe_ticks(index: Any) -> np.ndarray:
    """int64 ticks of a pandas datetime index of any resolution; naive means UTC."""
    import pandas as pd

    idx = pd.DatetimeIndex(index)
    if idx.hasnans:
        raise ValueError("the DataFrame's timestamps contain NaT")
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    raw = idx.to_numpy()
    unit, _ = np.datetime_data(raw.dtype)
    counts = raw.view(np.int64)
    if unit == "ns":
        ticks = counts // 100
    elif unit in _TICKS_PER_UNIT:
        ticks = counts * _TICKS_PER_UNIT[unit]
    else:
        raise ValueError(f"unsupported datetime resolution {unit!r}")
    return ticks + _UNIX_EPOCH_TICKS


def series_from_dataframe(df: Any) -> dict[str, Series]:
    """Series from a DataFrame indexed by time (or with a ``timestamp`` column).

    NaN, ``None`` and ``pd.NA`` are missing samples. A naive time is taken as
    UTC, as everything in Batch is; an aware one is converted.
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, not {type(df).__name__}")
    columns = [c for c in df.columns]
    t_cols = [c for c in columns if isinstance(c, str) and c.strip().lower() == "timestamp"]
    if len(t_cols) > 1:
        raise ValueError("the DataFrame has more than one 'timestamp' column")
    if t_cols:
        times = pd.to_datetime(df[t_cols[0]])
        columns.remove(t_cols[0])
    elif isinstance(df.index, pd.DatetimeIndex):
        times = df.index
    else:
        raise ValueError("the DataFrame needs a DatetimeIndex or a 'timestamp' column")
    stamps = _dataframe_ticks(times)
    names = canonical_keys(columns, what="DataFrame column")
    out: dict[str, Series] = {}
    for name, col in zip(names, columns):
        try:
            values = df[col].to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"DataFrame column {col!r}: {exc}") from None
        out[name] = _pairs(stamps, values, name)
    return out
