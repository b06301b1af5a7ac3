"""Runtime value types of the formula language and their printed forms (docs/language.md#types,
docs/language.md#value-formatting, docs/language.md#the-eval-command).

The results string is compared byte for byte with what the Azure Batch service prints, so every
formatter here works on exact quantities: doubles are rounded from their exact binary value
(never from a shortest repr that merely looks like a tie), and timestamps and intervals are
formatted from integer tick counts, never through floats.

This module is on the start-up path of ``poolscale eval``: it imports only the standard library
and numpy.
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal

import numpy as np

__all__ = [
    "TICKS_PER_SECOND", "TICKS_PER_MILLISECOND", "TICKS_PER_MINUTE", "TICKS_PER_HOUR",
    "TICKS_PER_DAY", "MIN_TIMESTAMP_TICKS", "MAX_TIMESTAMP_TICKS", "UNIX_EPOCH_TICKS",
    "INTERVAL_MIN", "INTERVAL_MAX", "Timestamp", "TimeInterval", "Option",
    "format_double", "format_vector", "format_timestamp", "format_interval", "format_value",
    "json_value", "timestamp_field", "timestamp_from_datetime", "timestamp_to_datetime",
]

TICKS_PER_SECOND = 10_000_000  # a tick is 100 ns, as in .NET
TICKS_PER_MILLISECOND = TICKS_PER_SECOND // 1000
TICKS_PER_MINUTE = 60 * TICKS_PER_SECOND
TICKS_PER_HOUR = 60 * TICKS_PER_MINUTE
TICKS_PER_DAY = 24 * TICKS_PER_HOUR

MIN_TIMESTAMP_TICKS = 0  # 0001-01-01T00:00:00
MAX_TIMESTAMP_TICKS = 3155378975999999999  # 9999-12-31T23:59:59.9999999
UNIX_EPOCH_TICKS = 621355968000000000  # 1970-01-01T00:00:00

INTERVAL_MIN = -(2**63)
INTERVAL_MAX = 2**63 - 1

_TICKS_PER_MICROSECOND = 10


@dataclass(frozen=True, slots=True, order=True)
class Timestamp:
    """A UTC instant in ticks since 0001-01-01T00:00:00.

    The constructor does not check the range: the evaluator must turn an out-of-range result
    into ``InvalidArgument`` at the operator's position, which a ``ValueError`` raised here
    could not carry. Use ``MIN_TIMESTAMP_TICKS <= ticks <= MAX_TIMESTAMP_TICKS`` to check.
    """

    ticks: int


@dataclass(frozen=True, slots=True, order=True)
class TimeInterval:
    """A signed duration in ticks; the service stores it as a 64-bit count (INTERVAL_MIN..MAX).

    Unchecked for the same reason as :class:`Timestamp`.
    """

    ticks: int


class Option(enum.Enum):
    """A deallocation keyword. It is a type of its own (docs/language.md#types), so it is not a
    ``str``."""

    REQUEUE = "requeue"
    TERMINATE = "terminate"
    TASKCOMPLETION = "taskcompletion"
    RETAINEDDATA = "retaineddata"


# --------------------------------------------------------------------------------------------
# double: .NET "G6"
# --------------------------------------------------------------------------------------------

# Ties go away from zero on the exact binary value; Decimal(float) is exact, so a context with
# six digits and ROUND_HALF_UP is the reference rounding. A private context keeps it
# independent of the thread's decimal context.
_G6_CONTEXT = Context(prec=6, rounding=ROUND_HALF_UP)
# Digits 7 to 17 of a "%.16e" rendering (string indices 7..17) when the value may be a tie.
_TIE_TAIL = "50000000000"
_INFINITIES = {math.inf: "Infinity", -math.inf: "-Infinity"}


def _layout(digits: str, exp: int) -> str:
    """Lay out significant ``digits`` (no trailing zeros) of d.ddddd × 10**exp as G6 does."""
    if -5 < exp < 6:
        if exp < 0:
            return "0." + "0" * (-exp - 1) + digits
        point = exp + 1
        if len(digits) <= point:
            return digits + "0" * (point - len(digits))
        return digits[:point] + "." + digits[point:]
    mantissa = digits[0] + "." + digits[1:] if len(digits) > 1 else digits
    return f"{mantissa}E{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _g6_decimal(ax: float) -> str:
    """The reference path: round the exact value with ties away from zero."""
    _sign, digit_tuple, dexp = _G6_CONTEXT.plus(Decimal(ax)).as_tuple()
    digits = "".join(map(str, digit_tuple))
    exp = len(digits) - 1 + dexp
    return _layout(digits.rstrip("0") or "0", exp)


def _g6_positive(ax: float) -> str:
    """G6 of a finite ``ax > 0``.

    CPython's printf-style formatting rounds the exact binary value correctly, and its ``%g``
    picks fixed or exponent notation with the same thresholds as G6, but it sends exact ties
    to even. A tie at six digits shows as a seventh digit of 5 in a 7-digit rendering and as
    "5" and ten zeros in a 17-digit one; only those rare values take the exact Decimal path.
    """
    if ("%.6e" % ax)[7] == "5" and ("%.16e" % ax)[7:18] == _TIE_TAIL:
        return _g6_decimal(ax)
    text = "%.6g" % ax
    return text.replace("e", "E") if "e" in text else text


def format_double(x: float) -> str:
    """Format a double as .NET ``G6`` (docs/language.md#value-formatting); negative zero prints
    ``0``."""
    if type(x) is not float:
        x = float(x)
    if x.is_integer():
        if -1e6 < x < 1e6:
            return str(int(x))  # int(-0.0) is 0, so -0 loses its sign as required
    elif x != x:
        return "NaN"
    elif x in _INFINITIES:
        return _INFINITIES[x]
    if x < 0:
        return "-" + _g6_positive(-x)
    return _g6_positive(x)


def format_vector(v) -> str:
    """Format a doubleVec as ``[a,b,c]`` with G6 elements; an empty vector is ``[]``."""
    if isinstance(v, np.ndarray):
        v = v.tolist()  # Python floats format faster than numpy scalars
    return "[" + ",".join([format_double(x) for x in v]) + "]"


# --------------------------------------------------------------------------------------------
# timestamp and timeinterval
# --------------------------------------------------------------------------------------------


def format_timestamp(ts: Timestamp) -> str:
    """``yyyy-MM-ddTHH:mm:ss.fffZ``; the fraction is truncated to milliseconds, not rounded."""
    days, rem = divmod(ts.ticks, TICKS_PER_DAY)
    date = _dt.date.fromordinal(days + 1)
    secs, frac = divmod(rem, TICKS_PER_SECOND)
    hour, secs = divmod(secs, 3600)
    minute, second = divmod(secs, 60)
    return (
        f"{date.year:04d}-{date.month:02d}-{date.day:02d}"
        f"T{hour:02d}:{minute:02d}:{second:02d}.{frac // TICKS_PER_MILLISECOND:03d}Z"
    )


def format_interval(ti: TimeInterval) -> str:
    """.NET ``TimeSpan`` constant format: ``[-][d.]hh:mm:ss[.fffffff]``.

    The sign stands in front of the whole value, so the magnitude is split into parts.
    """
    ticks = ti.ticks
    sign = "-" if ticks < 0 else ""
    secs, frac = divmod(abs(ticks), TICKS_PER_SECOND)
    days, secs = divmod(secs, 86400)
    hour, secs = divmod(secs, 3600)
    minute, second = divmod(secs, 60)
    text = f"{sign}{days}." if days else sign
    text += f"{hour:02d}:{minute:02d}:{second:02d}"
    if frac:
        text += f".{frac:07d}"
    return text


# --------------------------------------------------------------------------------------------
# dispatch
# --------------------------------------------------------------------------------------------


def _format_str(s: str) -> str:
    return s


def _format_option(o: Option) -> str:
    return o.value


_FORMATTERS = {
    float: format_double,
    np.float64: format_double,
    np.ndarray: format_vector,
    str: _format_str,
    Timestamp: format_timestamp,
    TimeInterval: format_interval,
    Option: _format_option,
    list: format_vector,
    tuple: format_vector,
}


def _formatter_for(v):
    """Find the formatter of a subclass (an Option member's type is Option itself)."""
    for cls, fmt in _FORMATTERS.items():
        if isinstance(v, cls):
            return fmt
    if isinstance(v, (int, np.integer, np.floating)) and not isinstance(v, bool):
        return lambda n: format_double(float(n))
    raise TypeError(f"no formula value of Python type {type(v).__name__}")


def format_value(v) -> str:
    """Print any runtime value as it appears in the results string
    (docs/language.md#value-formatting)."""
    fmt = _FORMATTERS.get(type(v))
    if fmt is None:
        fmt = _formatter_for(v)
    return fmt(v)


def _json_double(x: float):
    x = float(x)
    if math.isfinite(x):
        return x
    if x != x:
        return "NaN"
    return "Infinity" if x > 0 else "-Infinity"


def json_value(v):
    """The JSON form of a value for ``poolscale eval --json`` (docs/language.md#the-eval-command).

    Doubles stay numbers at full precision; the non-finite ones, which JSON cannot hold, become
    the strings the results string uses.
    """
    if isinstance(v, np.ndarray):
        return [_json_double(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [_json_double(x) for x in v]
    if isinstance(v, Option):
        return v.value
    if isinstance(v, (str, Timestamp, TimeInterval)):
        return format_value(v)
    if isinstance(v, (float, int, np.integer, np.floating)) and not isinstance(v, bool):
        return _json_double(v)
    raise TypeError(f"no formula value of Python type {type(v).__name__}")


# --------------------------------------------------------------------------------------------
# timestamp members and datetime bridges
# --------------------------------------------------------------------------------------------


def _date_of(ticks: int) -> _dt.date:
    return _dt.date.fromordinal(ticks // TICKS_PER_DAY + 1)


_MEMBERS = {
    "year": lambda t: _date_of(t).year,
    "month": lambda t: _date_of(t).month,
    "day": lambda t: _date_of(t).day,
    # Day 0 (0001-01-01) was a Monday, so day d is weekday (d + 1) % 7 counting Sunday as 0.
    "weekday": lambda t: (t // TICKS_PER_DAY + 1) % 7,
    "hour": lambda t: t % TICKS_PER_DAY // TICKS_PER_HOUR,
    "minute": lambda t: t % TICKS_PER_HOUR // TICKS_PER_MINUTE,
    "second": lambda t: t % TICKS_PER_MINUTE // TICKS_PER_SECOND,
}


def timestamp_field(ts: Timestamp, member: str) -> float:
    """A timestamp member (docs/language.md#timestamp-members), in UTC, as a double; ``second``
    drops the fraction.

    ``member`` is matched without regard to case, like every service-defined name.
    """
    get = _MEMBERS.get(member) or _MEMBERS.get(member.lower())
    if get is None:
        raise ValueError(f"unknown timestamp member {member!r}")
    return float(get(ts.ticks))


def timestamp_from_datetime(dt: _dt.datetime) -> Timestamp:
    """Convert an aware datetime (a naive one is taken as UTC) to a UTC Timestamp.

    Integer arithmetic avoids ``astimezone``, which fails near year 1 and 9999 even when the
    UTC result is in range. Raises ``ValueError`` when the UTC instant is outside 0001–9999.
    """
    ticks = (
        (dt.toordinal() - 1) * TICKS_PER_DAY
        + ((dt.hour * 60 + dt.minute) * 60 + dt.second) * TICKS_PER_SECOND
        + dt.microsecond * _TICKS_PER_MICROSECOND
    )
    offset = dt.utcoffset()
    if offset is not None:
        ticks -= (
            (offset.days * 86400 + offset.seconds) * TICKS_PER_SECOND
            + offset.microseconds * _TICKS_PER_MICROSECOND
        )
    if not MIN_TIMESTAMP_TICKS <= ticks <= MAX_TIMESTAMP_TICKS:
        raise ValueError(f"{dt.isoformat()} is outside the years 0001-9999 in UTC")
    return Timestamp(ticks)


_DATETIME_ORIGIN = _dt.datetime(1, 1, 1, tzinfo=_dt.timezone.utc)


def timestamp_to_datetime(ts: Timestamp) -> _dt.datetime:
    """A UTC-aware datetime; datetime holds microseconds, so sub-microsecond ticks are dropped."""
    return _DATETIME_ORIGIN + _dt.timedelta(microseconds=ts.ticks // _TICKS_PER_MICROSECOND)
