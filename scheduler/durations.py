"""Durations, read the same wherever a user writes one.

``--horizon``, every duration of a pool file (``autoScaleEvaluationInterval``, the
``simulation`` section, distribution parameters), of a JSON or YAML workload (``duration``,
``maxWallClockTime`` …), a CSV ``duration`` cell and every duration of a generator spec go
through :func:`duration_seconds`, so a form that works in one place works in all of them. A
user copies durations between the command line, ``az batch pool show`` output and workload
files; three readers with three sets of forms (as there were) meant ``36h`` worked on the
command line and was an error in a pool file, and ``0:15:00`` the other way round.

The forms (letters in either case; white space around the value is ignored):

* a number of seconds, as a number or as text: ``600``, ``1.5``, ``"600"``;
* a number and a unit, ``s``, ``m`` (minutes), ``h``, ``d`` or ``w``: ``90s``, ``90m``,
  ``36h``, ``1.5h``, ``7d``, ``2w`` (a space may separate them: ``36 h``);
* ISO-8601, as the REST API writes durations: ``PT36H``, ``P7D``, ``P1DT2H30M``, ``PT0.5S``;
* as ``az`` prints one (Python's ``str(timedelta)``): ``0:15:00``, ``1 day, 0:00:00``,
  ``7 days, 2:30:00.5``.

A duration is never negative (``-5h``, ``-PT5H``, ``-0:15:00`` are refused by name), never
NaN, and is at most :data:`~.limits.MAX_SECONDS` (.NET's ``TimeSpan.MaxValue``). This module
is pure and light (no pydantic), so the CSV reader and the command line use it without loading
the models.
"""

from __future__ import annotations

import math
import re
from typing import Any

from poolscale.formula.timeparse import parse_duration
from poolscale.formula.values import TICKS_PER_SECOND

from .documents import shown
from .limits import MAX_SECONDS

__all__ = ["duration_seconds", "bounded_seconds", "positive_seconds", "NegativeDuration",
           "DURATION_FORMS", "LONGEST"]

#: The forms, as a message shows them (one of each).
DURATION_FORMS = "600, 90m, 36h, 7d, PT36H or 0:15:00"
#: What a duration longer than MAX_SECONDS is told (the REST API cannot write one either).
LONGEST = "the longest duration is P10675199DT2H48M5.4775807S (TimeSpan.MaxValue)"

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, "w": 7 * 86_400.0}
_WITH_UNIT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([smhdw])", re.ASCII | re.IGNORECASE)
#: An ISO-8601 duration as ``parse_duration`` reads it, but with components of any size: what
#: matches this and is refused by parse_duration is a duration past 2^63 - 1 ticks.
_ISO_SHAPE = re.compile(
    r"P(?=\d|T\d)(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d{1,7})?S)?)?", re.ASCII)
#: A duration as ``az batch ... show`` prints it: Python's ``str(timedelta)``, ``0:15:00`` or
#: ``7 days, 0:00:00`` (the SDK turns the REST ``PT15M`` into a timedelta, the CLI prints that).
_TIMEDELTA = re.compile(r"(?:(\d+) days?, )?(\d+):([0-5]\d):([0-5]\d(?:\.\d{1,6})?)", re.ASCII)
#: Plain decimal seconds as text (``float()`` would also take ``inf``, ``nan``, ``1_000``).
_SECONDS = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


class NegativeDuration(ValueError):
    """A duration written with a minus sign: a field that needs more than 0 (the horizon) says
    so in its own words instead."""


def duration_seconds(value: Any) -> float:
    """``value`` (a number, or text in one of the module's forms) as seconds, 0 or more;
    ``math.inf`` for one written in a valid form but longer than any tick count can hold
    (callers decide whether that is "unlimited" or too long). Raises ``ValueError`` with a
    message that quotes the value and says what is accepted."""
    if type(value) is str:
        return _text_seconds(value)
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as {DURATION_FORMS}, got {shown(value)}")
    if isinstance(value, int):
        if value < 0:
            raise NegativeDuration(f"a duration must be 0 or more, got {shown(value)}")
        return float(value) if value <= MAX_SECONDS else math.inf
    if isinstance(value, float):
        if math.isnan(value):
            raise ValueError("a duration must be a number, got NaN")
        if value < 0:
            raise NegativeDuration(f"a duration must be 0 or more, got {shown(value)}")
        return value
    if isinstance(value, str):
        return _text_seconds(value)
    raise ValueError(f"expected a duration such as {DURATION_FORMS}, got {type(value).__name__}")


def _text_seconds(value: str) -> float:
    try:
        seconds = float(value)        # the common case first: a CSV file's seconds
    except ValueError:
        pass
    else:
        if 0 <= seconds < math.inf and "_" not in value:
            return seconds + 0.0      # -0 is 0
    text = value.strip()
    if _SECONDS.fullmatch(text):
        return float(text)            # 1e999 reads as inf: too long
    m = _WITH_UNIT.fullmatch(text)
    if m is not None:
        return float(m.group(1)) * _UNITS[m.group(2).lower()]
    upper = text.upper()
    if upper[:1] == "P":
        ti = parse_duration(upper)
        if ti is not None:
            return ti.ticks / TICKS_PER_SECOND
        if _ISO_SHAPE.fullmatch(upper):
            return math.inf           # written as a duration, but past 2^63 - 1 ticks
    m = _TIMEDELTA.fullmatch(text)
    if m is not None:
        days, h, mi, sec = m.groups()
        if len(days or "") > 12:
            return math.inf
        return (int(days or 0) * 86_400 + int(h) * 3600 + int(mi) * 60) + float(sec)
    if text[:1] == "-" and text[1:].lstrip()[:1].isalnum():
        try:
            _text_seconds(text[1:])
        except ValueError:
            pass
        else:
            raise NegativeDuration(f"a duration must be 0 or more, got {shown(value)}")
    raise ValueError(f"cannot read {shown(value)} as a duration (use e.g. {DURATION_FORMS})")


def bounded_seconds(value: Any) -> float:
    """As :func:`duration_seconds`, and at most MAX_SECONDS, so that every duration converts
    to ticks without overflow: a longer one is refused, quoting the value."""
    seconds = duration_seconds(value)
    if seconds > MAX_SECONDS:
        raise ValueError(f"{shown(value)} is too long: {LONGEST}")
    return seconds


def positive_seconds(value: Any) -> float:
    """As :func:`duration_seconds`, and more than 0: for a span that must pass, such as the
    horizon (a run of no time simulates nothing but the enable-time evaluation). A negative
    one is told the same, rather than "0 or more", which would invite a 0."""
    try:
        seconds = duration_seconds(value)
    except NegativeDuration:
        seconds = -1.0
    if not seconds > 0:
        raise ValueError(f"must be more than 0, got {shown(value)}")
    return seconds
