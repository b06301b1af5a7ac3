"""Parsing of time strings (docs/language.md#time-strings) and ISO-8601 durations
(docs/language.md#time-and-duration-formats).

``time(s)`` must accept exactly what the service accepts and fail on everything else, so the
grammar is a pair of anchored ASCII-only regular expressions followed by integer range checks.
``datetime.strptime`` is avoided on purpose: it depends on the locale for day and month names,
accepts one-digit fields, and cannot represent the 7-digit fractions of a tick.
"""

from __future__ import annotations

import datetime as _dt
import re

from poolscale.formula.values import (
    INTERVAL_MAX,
    MAX_TIMESTAMP_TICKS,
    MIN_TIMESTAMP_TICKS,
    TICKS_PER_DAY,
    TICKS_PER_HOUR,
    TICKS_PER_MINUTE,
    TICKS_PER_SECOND,
    Timestamp,
    TimeInterval,
)

__all__ = ["parse_time_string", "parse_iso_time", "parse_duration"]

# re.ASCII keeps \d from matching other scripts' digits; every pattern is used with fullmatch,
# so a trailing newline is not silently accepted the way "$" would accept it.
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?"
    r"(?:(Z)|([+-])(\d{2}):(\d{2})))?",
    re.ASCII,
)

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # date.weekday() order
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_RFC1123 = re.compile(
    rf"({'|'.join(_DAY_NAMES)}), (\d{{2}}) ({'|'.join(_MONTH_NAMES)}) (\d{{4}}) "
    r"(\d{2}):(\d{2}):(\d{2}) GMT",
    re.ASCII,
)

_DURATION = re.compile(
    r"P(?:(\d+)D)?"
    r"(?:(T)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d{1,7}))?S)?)?",
    re.ASCII,
)

_MAX_OFFSET_HOURS = 14
_MAX_COMPONENT_DIGITS = 19  # INTERVAL_MAX has 19 digits


def _date_ticks(year: int, month: int, day: int) -> int | None:
    """Ticks at midnight of a calendar date, or None for an impossible date."""
    try:
        ordinal = _dt.date(year, month, day).toordinal()
    except ValueError:
        return None
    return (ordinal - 1) * TICKS_PER_DAY


def _clock_ticks(hour: int, minute: int, second: int) -> int | None:
    """Ticks since midnight; hour 24 and leap second 60 are rejected, as the service does."""
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour * TICKS_PER_HOUR + minute * TICKS_PER_MINUTE + second * TICKS_PER_SECOND


def _in_range(ticks: int) -> Timestamp | None:
    if MIN_TIMESTAMP_TICKS <= ticks <= MAX_TIMESTAMP_TICKS:
        return Timestamp(ticks)
    return None


def parse_iso_time(s: str) -> Timestamp | None:
    """The ISO / W3C-DTF form of docs/language.md#time-strings alone; None when ``s`` is not one.

    A date alone is midnight UTC and takes no zone; a time of day requires a zone (``Z`` or
    ``±hh:mm``). The ``time`` key of a scenario and ``--time`` take only this form
    (docs/language.md#time-and-duration-formats).
    """
    m = _ISO.fullmatch(s)
    if m is None:
        return None
    year, month, day, hh, mi, ss, frac, zulu, sign, oh, om = m.groups()
    date = _date_ticks(int(year), int(month), int(day))
    if date is None:
        return None
    if hh is None:
        return _in_range(date)
    if zulu is None and sign is None:
        return None  # a time of day without a zone is ambiguous; the service rejects it
    clock = _clock_ticks(int(hh), int(mi), int(ss or 0))
    if clock is None:
        return None
    ticks = date + clock
    if frac:
        ticks += int(frac.ljust(7, "0"))
    if sign is not None:
        off_h, off_m = int(oh), int(om)
        if off_h > _MAX_OFFSET_HOURS or off_m > 59:
            return None
        offset = off_h * TICKS_PER_HOUR + off_m * TICKS_PER_MINUTE
        ticks += -offset if sign == "+" else offset  # local = UTC + offset
    return _in_range(ticks)


def _parse_rfc1123(s: str) -> Timestamp | None:
    m = _RFC1123.fullmatch(s)
    if m is None:
        return None
    day_name, day, month_name, year, hh, mi, ss = m.groups()
    try:
        date = _dt.date(int(year), _MONTH_NAMES.index(month_name) + 1, int(day))
    except ValueError:
        return None
    if _DAY_NAMES[date.weekday()] != day_name:
        return None
    clock = _clock_ticks(int(hh), int(mi), int(ss))
    if clock is None:
        return None
    return _in_range((date.toordinal() - 1) * TICKS_PER_DAY + clock)


def parse_time_string(s: str) -> Timestamp | None:
    """Parse the argument of ``time(s)`` (docs/language.md#time-strings); None when the run must
    fail.

    Both accepted forms are fixed-width at the start, so the first character decides which
    grammar to try: a digit for ISO, a letter for RFC 1123.
    """
    if not s:
        return None
    if s[0].isalpha():
        return _parse_rfc1123(s)
    return parse_iso_time(s)


def parse_duration(s: str) -> TimeInterval | None:
    """Parse ``P[nD][T[nH][nM][n[.f]S]]`` (docs/language.md#time-and-duration-formats); None when
    ``s`` is not one.

    At least one component is required, and a ``T`` must be followed by one. Components are
    not limited to their clock range (``PT90M`` is 90 minutes), but the total must fit the
    64-bit tick count of a time interval.
    """
    m = _DURATION.fullmatch(s)
    if m is None:
        return None
    days, t_mark, hours, minutes, seconds, frac = m.groups()
    if t_mark is not None and hours is None and minutes is None and seconds is None:
        return None
    if days is None and t_mark is None:
        return None
    if any(n is not None and len(n.lstrip("0")) > _MAX_COMPONENT_DIGITS
           for n in (days, hours, minutes, seconds)):
        return None  # overflows anyway; and int() refuses very long digit strings
    ticks = (
        int(days or 0) * TICKS_PER_DAY
        + int(hours or 0) * TICKS_PER_HOUR
        + int(minutes or 0) * TICKS_PER_MINUTE
        + int(seconds or 0) * TICKS_PER_SECOND
    )
    if frac:
        ticks += int(frac.ljust(7, "0"))
    if ticks > INTERVAL_MAX:
        return None
    return TimeInterval(ticks)
