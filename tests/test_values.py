"""Value formatting (docs/language.md#value-formatting, docs/language.md#the-eval-command) and the
timestamp helpers (docs/language.md#timestamp-members)."""

from __future__ import annotations

import datetime as dt
import math
import struct
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from poolscale.formula.values import (
    INTERVAL_MAX,
    INTERVAL_MIN,
    MAX_TIMESTAMP_TICKS,
    MIN_TIMESTAMP_TICKS,
    TICKS_PER_DAY,
    TICKS_PER_HOUR,
    TICKS_PER_MILLISECOND,
    TICKS_PER_MINUTE,
    TICKS_PER_SECOND,
    UNIX_EPOCH_TICKS,
    Option,
    TimeInterval,
    Timestamp,
    format_double,
    format_interval,
    format_timestamp,
    format_value,
    format_vector,
    json_value,
    timestamp_field,
    timestamp_from_datetime,
    timestamp_to_datetime,
)

UTC = dt.timezone.utc


def g6_reference(x: float) -> str:
    """An independent, Decimal-only rendering of .NET G6, written from
    docs/language.md#value-formatting step by step."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    d = abs(Decimal(x))
    e = d.adjusted()
    q = d.quantize(Decimal(1).scaleb(e - 5), rounding=ROUND_HALF_UP)
    if q.adjusted() != e:  # rounding carried into a new digit
        e = q.adjusted()
        q = d.quantize(Decimal(1).scaleb(e - 5), rounding=ROUND_HALF_UP)
    digits = str(q.scaleb(5 - e).to_integral_exact()).rstrip("0")
    if -5 < e < 6:
        body = format(q.normalize(), "f")
        if "." in body:
            body = body.rstrip("0").rstrip(".")
    else:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        body = f"{mant}E{'+' if e >= 0 else '-'}{abs(e):02d}"
    return ("-" if x < 0 else "") + body


# ------------------------------------------------------------------ constants


def test_tick_constants():
    assert TICKS_PER_SECOND == 10_000_000
    assert TICKS_PER_MILLISECOND == 10_000
    assert TICKS_PER_MINUTE == 600_000_000
    assert TICKS_PER_HOUR == 36_000_000_000
    assert TICKS_PER_DAY == 864_000_000_000
    assert MAX_TIMESTAMP_TICKS == dt.date(9999, 12, 31).toordinal() * TICKS_PER_DAY - 1
    assert UNIX_EPOCH_TICKS == (dt.date(1970, 1, 1).toordinal() - 1) * TICKS_PER_DAY
    assert (INTERVAL_MIN, INTERVAL_MAX) == (-(2**63), 2**63 - 1)


def test_value_types_are_ordered_hashable_and_frozen():
    assert Timestamp(1) < Timestamp(2) and TimeInterval(-1) < TimeInterval(0)
    assert {Timestamp(5), Timestamp(5)} == {Timestamp(5)}
    with pytest.raises(AttributeError):
        Timestamp(1).ticks = 2  # type: ignore[misc]
    assert Option("taskcompletion") is Option.TASKCOMPLETION
    assert [o.value for o in Option] == ["requeue", "terminate", "taskcompletion", "retaineddata"]


# ------------------------------------------------------------------ G6

SPEC_TABLE = [
    (2 / 3, "0.666667"),
    (1e7, "1E+07"),
    (16777216.0, "1.67772E+07"),
    (123456.0, "123456"),
    (1234567.0, "1.23457E+06"),
    (0.0001, "0.0001"),
    (0.00001, "1E-05"),
    (0.00012345, "0.00012345"),
    (96.66666666666667, "96.6667"),
    (0.1 + 0.2, "0.3"),
    (123456.5, "123457"),
    (1000.125, "1000.13"),
    (999999.5, "1E+06"),
    (12345.65, "12345.6"),
    (-0.25, "-0.25"),
    (1e-300, "1E-300"),
    (math.inf, "Infinity"),
    (-math.inf, "-Infinity"),
    (math.nan, "NaN"),
]


@pytest.mark.parametrize(("value", "text"), SPEC_TABLE)
def test_g6_spec_table(value, text):
    assert format_double(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        # worked examples E10 and E12 and the percentage of the worked window example
        # (docs/language.md#e10-printing-vectors, #e12-g6-numbers, #worked-window-example)
        (12.5, "12.5"), (50.0, "50"), (87.123456, "87.1235"), (100.0, "100"),
        (12.5 / 3, "4.16667"), (50 / 3, "16.6667"), (87.123456 / 3, "29.0412"),
        (100 / 3, "33.3333"), (12.5 * 100000, "1.25E+06"), (50.0 * 100000, "5E+06"),
        (87.123456 * 100000, "8.71235E+06"), (100.0 * 100000, "1E+07"), (5.6, "5.6"),
        (400 / 6, "66.6667"), (-0.0, "0"), (0.0, "0"), (-0.0 * 1, "0"),
        # docs/language.md#functions rand() draws with seed 7
        (0.32383276483316237, "0.323833"), (0.15084917392450192, "0.150849"),
        (0.6509344730398537, "0.650934"),
    ],
)
def test_g6_worked_examples(value, text):
    assert format_double(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (999999.0, "999999"), (1e6, "1E+06"), (-1e6, "-1E+06"), (999999.4999, "999999"),
        (99999.95, "99999.9"),  # binary value below the tie
        (0.000099999949999, "9.99999E-05"), (0.00009999995, "0.0001"),
        (1e-5 * 0.99999999, "1E-05"), (123450.0, "123450"), (1234500.0, "1.2345E+06"),
        (1.5, "1.5"), (2.5e-5, "2.5E-05"), (1e100, "1E+100"), (1e16, "1E+16"),
        (5e-324, "4.94066E-324"), (1.7976931348623157e308, "1.79769E+308"),
        (-1234567.0, "-1.23457E+06"), (0.5, "0.5"), (1.000005, "1.00001"), (1.0000005, "1"),
        (2.000005, "2"), (1.000005e10, "1.00001E+10"), (1.25, "1.25"), (0.1, "0.1"),
        (1 / 3, "0.333333"),
        (4.5e15, "4.5E+15"), (-1.0, "-1"), (7.0, "7"),
    ],
)
def test_g6_edges(value, text):
    # 1.000005 lies just above its tie in binary, 2.000005 just below; 1.000005e10 is one.
    assert format_double(value) == g6_reference(value) == text


@pytest.mark.parametrize(
    "value",
    # exact binary ties at the sixth digit: printf would round these to even
    [1000.125, 123456.5, 999999.5, 0.5, 1.5, 2.5, 1.000005e10, 12345.25 * 1,
     100000.5, 100001.5, 0.125, 3.0517578125e-05, 1.1920928955078125e-07, 2**70 + 0.0,
     1.234565e5 * 2**-10],
)
def test_g6_ties_go_away_from_zero(value):
    assert format_double(value) == g6_reference(value)
    assert format_double(-value) == "-" + g6_reference(value)


def test_g6_tie_examples_differ_from_printf():
    assert "%.6g" % 1000.125 == "1000.12" and format_double(1000.125) == "1000.13"
    assert "%.6g" % 123456.5 == "123456" and format_double(123456.5) == "123457"


def test_g6_accepts_numpy_and_int():
    assert format_double(np.float64(2 / 3)) == "0.666667"
    assert format_double(3) == "3"
    assert format_double(np.float64(-0.0)) == "0"


@settings(max_examples=3000)
@given(st.floats(allow_nan=True, allow_infinity=True))
@example(12345.65)
@example(0.00009999995)
def test_g6_matches_decimal_reference(x):
    assert format_double(x) == g6_reference(x)


@settings(max_examples=1000)
@given(st.integers(min_value=1, max_value=999999), st.integers(min_value=-330, max_value=310))
def test_g6_matches_reference_near_ties(mantissa, exp):
    """Values built from a 7-digit decimal ending in 5: the ones printf gets wrong if any."""
    x = float(f"{mantissa}5e{exp}")
    assert format_double(x) == g6_reference(x)


@settings(max_examples=1000)
@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_g6_matches_reference_on_random_bit_patterns(bits):
    (x,) = struct.unpack("<d", bits.to_bytes(8, "little"))
    assert format_double(x) == g6_reference(x)


@settings(max_examples=500)
@given(st.integers(min_value=-(2**53), max_value=2**53))
def test_g6_integers(n):
    assert format_double(float(n)) == g6_reference(float(n))


# ------------------------------------------------------------------ vectors


def test_format_vector():
    assert format_vector(np.array([1.25e6, 5e6])) == "[1.25E+06,5E+06]"
    assert format_vector(np.array([], dtype=np.float64)) == "[]"
    assert format_vector([]) == "[]"
    assert format_vector([6.0, 2.0, 9.0, 4.0]) == "[6,2,9,4]"
    assert format_vector((math.nan, -math.inf, -0.0)) == "[NaN,-Infinity,0]"
    assert format_vector(np.array([12.5, 50, 87.123456, 100])) == "[12.5,50,87.1235,100]"


# ------------------------------------------------------------------ timestamps


def ts(text: str) -> Timestamp:
    return timestamp_from_datetime(dt.datetime.fromisoformat(text))


@pytest.mark.parametrize(
    ("ticks", "text"),
    [
        (MIN_TIMESTAMP_TICKS, "0001-01-01T00:00:00.000Z"),
        (MAX_TIMESTAMP_TICKS, "9999-12-31T23:59:59.999Z"),
        (UNIX_EPOCH_TICKS, "1970-01-01T00:00:00.000Z"),
        (ts("2026-03-01T03:30:00+00:00").ticks + 1234567, "2026-03-01T03:30:00.123Z"),
        (ts("2026-03-02T10:00:00+00:00").ticks, "2026-03-02T10:00:00.000Z"),
        (ts("2026-03-01T03:00:00+00:00").ticks + 9999999, "2026-03-01T03:00:00.999Z"),
        (ts("2024-02-29T23:59:59+00:00").ticks + 9990000, "2024-02-29T23:59:59.999Z"),
        (ts("2024-02-29T23:59:59+00:00").ticks + 9989999, "2024-02-29T23:59:59.998Z"),
    ],
)
def test_format_timestamp(ticks, text):
    assert format_timestamp(Timestamp(ticks)) == text


@settings(max_examples=500)
@given(st.datetimes(timezones=st.just(UTC)))
def test_timestamp_fields_match_datetime(d):
    t = timestamp_from_datetime(d)
    assert timestamp_to_datetime(t) == d
    assert timestamp_field(t, "year") == d.year
    assert timestamp_field(t, "month") == d.month
    assert timestamp_field(t, "day") == d.day
    assert timestamp_field(t, "weekday") == d.isoweekday() % 7
    assert timestamp_field(t, "hour") == d.hour
    assert timestamp_field(t, "minute") == d.minute
    assert timestamp_field(t, "second") == d.second
    assert format_timestamp(t) == (
        f"{d.year:04d}-{d:%m-%dT%H:%M:%S}.{d.microsecond // 1000:03d}Z"  # %Y does not pad
    )
    assert all(type(timestamp_field(t, m)) is float for m in ("year", "weekday", "second"))


def test_timestamp_field_examples():
    # docs/language.md#e8-time-members-offsets-and-time-strings: 2026-02-28 is a Saturday;
    # 2014-10-06 a Monday
    assert timestamp_field(ts("2026-02-28T22:30:00+00:00"), "weekday") == 6
    assert timestamp_field(ts("2014-10-06T10:20:00+00:00"), "weekday") == 1
    assert timestamp_field(Timestamp(0), "weekday") == 1  # 0001-01-01 was a Monday
    assert timestamp_field(Timestamp(TICKS_PER_DAY * 6), "weekday") == 0
    t = Timestamp(ts("2026-03-01T03:30:59+00:00").ticks + 9999999)
    assert timestamp_field(t, "second") == 59.0
    assert timestamp_field(t, "Hour") == 3.0  # service names match without regard to case
    with pytest.raises(ValueError):
        timestamp_field(t, "millisecond")


def test_timestamp_from_datetime_offsets_and_naive():
    aware = dt.datetime(2026, 3, 1, 5, 0, 0, 999900, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert format_timestamp(timestamp_from_datetime(aware)) == "2026-03-01T03:00:00.999Z"
    naive = dt.datetime(2026, 3, 2, 10)
    assert timestamp_from_datetime(naive) == timestamp_from_datetime(naive.replace(tzinfo=UTC))
    # UTC conversion near the ends of the range works where astimezone() would overflow
    plus1 = dt.timezone(dt.timedelta(hours=1))
    edge = dt.datetime(1, 1, 1, 1, 0, tzinfo=plus1)
    assert timestamp_from_datetime(edge) == Timestamp(0)
    with pytest.raises(ValueError):
        timestamp_from_datetime(dt.datetime(1, 1, 1, 0, 59, tzinfo=plus1))
    with pytest.raises(ValueError):
        minus1 = dt.timezone(-dt.timedelta(hours=1))
        timestamp_from_datetime(dt.datetime(9999, 12, 31, 23, 0, tzinfo=minus1))


def test_timestamp_to_datetime_drops_sub_microsecond_ticks():
    t = Timestamp(UNIX_EPOCH_TICKS + 19)
    assert timestamp_to_datetime(t) == dt.datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    assert timestamp_to_datetime(Timestamp(MAX_TIMESTAMP_TICKS)).year == 9999


# ------------------------------------------------------------------ intervals


@pytest.mark.parametrize(
    ("ticks", "text"),
    [
        (0, "00:00:00"),
        (1, "00:00:00.0000001"),
        (10, "00:00:00.0000010"),
        (TICKS_PER_MILLISECOND, "00:00:00.0010000"),
        (TICKS_PER_SECOND, "00:00:01"),
        (TICKS_PER_MINUTE, "00:01:00"),
        (TICKS_PER_HOUR, "01:00:00"),
        (TICKS_PER_DAY, "1.00:00:00"),
        (7 * TICKS_PER_DAY, "7.00:00:00"),
        (365 * TICKS_PER_DAY, "365.00:00:00"),
        (5 * TICKS_PER_MINUTE, "00:05:00"),
        (-5 * TICKS_PER_MINUTE, "-00:05:00"),
        (TICKS_PER_SECOND // 2, "00:00:00.5000000"),
        (-15 * TICKS_PER_SECOND // 10, "-00:00:01.5000000"),
        (TICKS_PER_DAY + TICKS_PER_HOUR + 29 * TICKS_PER_MINUTE + 44_7500000, "1.01:29:44.7500000"),
        (7 * TICKS_PER_DAY + 12 * TICKS_PER_HOUR, "7.12:00:00"),
        (90 * TICKS_PER_MINUTE, "01:30:00"),
        (90 * TICKS_PER_MINUTE // 4, "00:22:30"),
        (2500, "00:00:00.0002500"),
        (-1, "-00:00:00.0000001"),
        (-TICKS_PER_DAY - 1, "-1.00:00:00.0000001"),
        (INTERVAL_MAX, "10675199.02:48:05.4775807"),
        (INTERVAL_MIN, "-10675199.02:48:05.4775808"),
    ],
)
def test_format_interval(ticks, text):
    assert format_interval(TimeInterval(ticks)) == text


def parse_interval_text(text: str) -> int:
    """An independent reader of the .NET constant format ``[-][d.]hh:mm:ss[.fffffff]``."""
    neg = text.startswith("-")
    body = text.removeprefix("-")
    days = "0"
    if body.index(".") < body.index(":") if "." in body else False:
        days, body = body.split(".", 1)
    clock, _, frac = body.partition(".")
    assert frac == "" or (len(frac) == 7 and frac != "0000000")
    assert days == "0" or not days.startswith("0")
    h, m, s = (int(p) for p in clock.split(":"))
    assert h < 24 and m < 60 and s < 60 and len(clock) == 8
    ticks = (((int(days) * 24 + h) * 60 + m) * 60 + s) * TICKS_PER_SECOND + int(frac or 0)
    return -ticks if neg else ticks


@settings(max_examples=1000)
@given(st.integers(min_value=INTERVAL_MIN, max_value=INTERVAL_MAX))
def test_interval_round_trip(ticks):
    assert parse_interval_text(format_interval(TimeInterval(ticks))) == ticks


@settings(max_examples=500)
@given(st.timedeltas(min_value=dt.timedelta(days=-10**6), max_value=dt.timedelta(days=10**6)))
def test_interval_matches_timedelta(td):
    ticks = (td.days * 86400 + td.seconds) * TICKS_PER_SECOND + td.microseconds * 10
    mag = abs(td)
    expect = ("-" if td < dt.timedelta(0) else "") + (f"{mag.days}." if mag.days else "")
    h, rem = divmod(mag.seconds, 3600)
    expect += f"{h:02d}:{rem // 60:02d}:{rem % 60:02d}"
    if mag.microseconds:
        expect += f".{mag.microseconds * 10:07d}"
    assert format_interval(TimeInterval(ticks)) == expect


# ------------------------------------------------------------------ dispatch and JSON


def test_format_value_dispatch():
    assert format_value(2 / 3) == "0.666667"
    assert format_value(np.float64(1e7)) == "1E+07"
    assert format_value(np.array([6.0, 2.0])) == "[6,2]"
    assert format_value("a\\b") == "a\\b"
    assert format_value(Timestamp(UNIX_EPOCH_TICKS)) == "1970-01-01T00:00:00.000Z"
    assert format_value(TimeInterval(-TICKS_PER_SECOND)) == "-00:00:01"
    assert format_value(Option.TASKCOMPLETION) == "taskcompletion"
    assert format_value(3) == "3"
    with pytest.raises(TypeError):
        format_value(object())


def test_json_value():
    assert json_value(2 / 3) == 2 / 3 and type(json_value(np.float64(0.5))) is float
    assert json_value(math.nan) == "NaN"
    assert json_value(math.inf) == "Infinity"
    assert json_value(-math.inf) == "-Infinity"
    assert json_value(-0.0) == 0.0
    assert json_value(np.array([1.0, math.nan, -math.inf])) == [1.0, "NaN", "-Infinity"]
    assert json_value(np.array([])) == []
    assert json_value("raw") == "raw"
    assert json_value(Timestamp(UNIX_EPOCH_TICKS)) == "1970-01-01T00:00:00.000Z"
    assert json_value(TimeInterval(TICKS_PER_DAY)) == "1.00:00:00"
    assert json_value(Option.REQUEUE) == "requeue"
    with pytest.raises(TypeError):
        json_value(None)
