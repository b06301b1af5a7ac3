"""time(s) strings (docs/language.md#time-strings) and ISO-8601 durations
(docs/language.md#time-and-duration-formats)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poolscale.formula.timeparse import parse_duration, parse_iso_time, parse_time_string
from poolscale.formula.values import (
    INTERVAL_MAX,
    MAX_TIMESTAMP_TICKS,
    TICKS_PER_DAY,
    TICKS_PER_HOUR,
    TICKS_PER_MINUTE,
    TICKS_PER_SECOND,
    TimeInterval,
    Timestamp,
    format_interval,
    format_timestamp,
    timestamp_field,
    timestamp_from_datetime,
)

UTC = dt.timezone.utc


def printed(s: str) -> str | None:
    t = parse_time_string(s)
    return None if t is None else format_timestamp(t)


# ------------------------------------------------------------------ ISO / W3C-DTF


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02", "2026-03-02T00:00:00.000Z"),
        ("2026-03-02T10:00Z", "2026-03-02T10:00:00.000Z"),
        ("2026-03-02T10:00:00Z", "2026-03-02T10:00:00.000Z"),
        ("2026-03-02T10:00:00.1234567Z", "2026-03-02T10:00:00.123Z"),
        # docs/language.md#e8-time-members-offsets-and-time-strings
        ("2026-03-01T05:00:00.9999+02:00", "2026-03-01T03:00:00.999Z"),
        # docs/language.md#e9-interval-arithmetic-and-printing
        ("2026-03-01T08:30:15.25Z", "2026-03-01T08:30:15.250Z"),
        ("2026-03-01T03:30:00.1234567Z", "2026-03-01T03:30:00.123Z"),
        ("2026-03-02T10:00+14:00", "2026-03-01T20:00:00.000Z"),
        ("2026-03-02T10:00-14:00", "2026-03-03T00:00:00.000Z"),
        ("2026-03-02T10:00:00-05:30", "2026-03-02T15:30:00.000Z"),
        ("2026-03-02T10:00:00+00:00", "2026-03-02T10:00:00.000Z"),
        ("2026-03-02T10:00:00-00:00", "2026-03-02T10:00:00.000Z"),
        ("2026-03-02T10:00+14:59", "2026-03-01T19:01:00.000Z"),
        ("2024-02-29T23:59:59.9999999Z", "2024-02-29T23:59:59.999Z"),
        ("2026-01-01T00:30+01:00", "2025-12-31T23:30:00.000Z"),
        ("0001-01-01", "0001-01-01T00:00:00.000Z"),
        ("0001-01-01T00:00Z", "0001-01-01T00:00:00.000Z"),
        ("0001-01-01T01:00+01:00", "0001-01-01T00:00:00.000Z"),
        ("9999-12-31T23:59:59.9999999Z", "9999-12-31T23:59:59.999Z"),
        ("9999-12-31T22:59:59-01:00", "9999-12-31T23:59:59.000Z"),
        ("2026-03-02T10:00:00.1Z", "2026-03-02T10:00:00.100Z"),
    ],
)
def test_iso_accepted(text, expected):
    assert printed(text) == expected
    assert format_timestamp(parse_iso_time(text)) == expected


def test_iso_fraction_keeps_every_tick():
    base = parse_time_string("2026-03-02T10:00:00Z").ticks
    assert parse_time_string("2026-03-02T10:00:00.1234567Z").ticks == base + 1234567
    assert parse_time_string("2026-03-02T10:00:00.0000001Z").ticks == base + 1
    assert parse_time_string("2026-03-02T10:00:00.5Z").ticks == base + 5_000_000


@pytest.mark.parametrize(
    "text",
    [
        "",
        " 2026-03-02",
        "2026-03-02 ",
        "2026-03-02T10:00:00Z\n",
        "2026-03-02t10:00:00Z",  # lowercase t
        "2026-03-02T10:00:00z",  # lowercase z
        "2026-03-02T10:00:00.12345678Z",  # 8 fraction digits
        "2026-03-02T10:00:00.Z",
        "2026-03-02T10:00.5Z",  # a fraction only after seconds
        "2026-03-02T24:00:00Z",
        "2026-03-02T23:60:00Z",
        "2026-03-02T23:59:60Z",
        "2026-02-29",  # not a leap year
        "2026-02-30T10:00Z",
        "2026-13-01",
        "2026-00-10",
        "2026-01-00",
        "0000-12-31",
        "2026-03-02T10:00:00",  # a time of day needs a zone
        "2026-03-02T10:00",
        "2026-03-02T10Z",
        "2026-03-02T10:00:00+15:00",
        "2026-03-02T10:00:00+14:60",
        "2026-03-02T10:00:00+0200",
        "2026-03-02T10:00:00+2:00",
        "2026-03-02T10:00:00 Z",
        "2026-03-02Z",  # a zone needs a time of day (W3C-DTF)
        "2026-3-02",
        "26-03-02",
        "+2026-03-02",
        "20260302",
        "2026-03-02T1:00Z",
        "2026-03-02T10:00:00GMT",
        "２０２６-03-02",  # full-width digits are not ASCII digits
        "0001-01-01T00:00+00:01",  # before year 1 in UTC
        "9999-12-31T23:59:59-00:01",  # after year 9999 in UTC
        "9999-12-31T23:00-01:00",
        "2026-03-02T10:00:00.1234567",
    ],
)
def test_iso_rejected(text):
    assert parse_time_string(text) is None
    assert parse_iso_time(text) is None


@settings(max_examples=500)
@given(
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
    st.integers(min_value=0, max_value=9_999_999),
)
def test_iso_matches_datetime(local, offset_minutes, frac):
    local = local.replace(microsecond=0)
    sign = "-" if offset_minutes < 0 else "+"
    hh, mm = divmod(abs(offset_minutes), 60)
    text = f"{local.year:04d}-{local:%m-%dT%H:%M:%S}.{frac:07d}{sign}{hh:02d}:{mm:02d}"
    aware = local.replace(tzinfo=dt.timezone(dt.timedelta(minutes=offset_minutes)))
    assert parse_time_string(text) == Timestamp(timestamp_from_datetime(aware).ticks + frac)


# ------------------------------------------------------------------ RFC 1123


def test_rfc1123_example():
    t = parse_time_string("Mon, 06 Oct 2014 10:20:00 GMT")
    assert format_timestamp(t) == "2014-10-06T10:20:00.000Z"
    # docs/language.md#e8-time-members-offsets-and-time-strings
    assert timestamp_field(t, "weekday") == 1


@pytest.mark.parametrize(
    "text",
    [
        "Tue, 06 Oct 2014 10:20:00 GMT",  # day name does not match the date
        "mon, 06 Oct 2014 10:20:00 GMT",
        "MON, 06 Oct 2014 10:20:00 GMT",
        "Monday, 06 Oct 2014 10:20:00 GMT",
        "Mon, 6 Oct 2014 10:20:00 GMT",
        "Mon, 06 oct 2014 10:20:00 GMT",
        "Mon, 06 October 2014 10:20:00 GMT",
        "Mon,  06 Oct 2014 10:20:00 GMT",
        "Mon, 06 Oct 2014  10:20:00 GMT",
        "Mon 06 Oct 2014 10:20:00 GMT",
        "Mon, 06 Oct 2014 10:20 GMT",
        "Mon, 06 Oct 2014 10:20:00 UTC",
        "Mon, 06 Oct 2014 10:20:00 gmt",
        "Mon, 06 Oct 2014 10:20:00 +0000",
        "Mon, 06 Oct 2014 10:20:00.5 GMT",
        "Mon, 06 Oct 2014 10:20:00 GMT ",
        " Mon, 06 Oct 2014 10:20:00 GMT",
        "Mon, 06 Oct 2014 24:00:00 GMT",
        "Mon, 06 Oct 2014 10:60:00 GMT",
        "Mon, 06 Oct 2014 10:20:60 GMT",
        "Sun, 31 Feb 2014 10:20:00 GMT",  # impossible date
        "Mon, 01 Jan 0000 00:00:00 GMT",
        "Mon, 06 Oct 14 10:20:00 GMT",
    ],
)
def test_rfc1123_rejected(text):
    assert parse_time_string(text) is None


def test_rfc1123_is_not_iso():
    assert parse_iso_time("Mon, 06 Oct 2014 10:20:00 GMT") is None


@settings(max_examples=300)
@given(st.datetimes(min_value=dt.datetime(1, 1, 1),
                    max_value=dt.datetime(9999, 12, 31, 23, 59, 59)))
def test_rfc1123_matches_datetime(d):
    d = d.replace(microsecond=0)
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    text = (f"{days[d.weekday()]}, {d.day:02d} {months[d.month - 1]} {d.year:04d} "
            f"{d:%H:%M:%S} GMT")
    assert parse_time_string(text) == timestamp_from_datetime(d)
    wrong = days[(d.weekday() + 1) % 7]
    assert parse_time_string(wrong + text[3:]) is None


# ------------------------------------------------------------------ durations


@pytest.mark.parametrize(
    ("text", "ticks"),
    [
        ("PT30S", 30 * TICKS_PER_SECOND),
        ("PT0S", 0),
        ("P0D", 0),
        ("PT60S", 60 * TICKS_PER_SECOND),
        ("PT5M", 5 * TICKS_PER_MINUTE),
        ("PT168H", 168 * TICKS_PER_HOUR),
        ("P7D", 7 * TICKS_PER_DAY),
        ("P1DT2H3M4.5S", TICKS_PER_DAY + 2 * TICKS_PER_HOUR + 3 * TICKS_PER_MINUTE + 45_000_000),
        ("PT90M", 90 * TICKS_PER_MINUTE),
        ("PT0.0000001S", 1),
        ("PT1.1234567S", 11_234_567),
        ("PT1H30S", TICKS_PER_HOUR + 30 * TICKS_PER_SECOND),
        ("PT0000030S", 30 * TICKS_PER_SECOND),
        ("P10675199DT2H48M5.4775807S", INTERVAL_MAX),
    ],
)
def test_duration_accepted(text, ticks):
    assert parse_duration(text) == TimeInterval(ticks)


@pytest.mark.parametrize(
    "text",
    [
        "", "P", "PT", "P1DT", "T30S", "30S", "PT30", "pt30s", "PT30s", "-PT30S", "+PT30S",
        "P1Y", "P1M", "P1W", "P1M1D", "PT1.5M", "PT1.5H", "P1.5D", "PT.5S", "PT5.S",
        "PT1.12345678S", "PT30S ", " PT30S", "PT30S\n", "PT1S1M", "PT1M1H", "P1DT1D",
        "PT-5S", "PT1,5S", "PT３０S", "P10675199DT2H48M5.4775808S", "P" + "9" * 30 + "D",
        "PT" + "1" * 5000 + "S",
    ],
)
def test_duration_rejected(text):
    assert parse_duration(text) is None


@settings(max_examples=500)
@given(
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=100),
    st.integers(min_value=0, max_value=100),
    st.integers(min_value=0, max_value=100),
    st.integers(min_value=0, max_value=9_999_999),
)
def test_duration_components_add_up(d, h, m, s, frac):
    text = f"P{d}DT{h}H{m}M{s}.{frac:07d}S"
    expected = ((d * 24 + h) * 60 + m) * 60 * TICKS_PER_SECOND + s * TICKS_PER_SECOND + frac
    assert parse_duration(text) == TimeInterval(expected)


@settings(max_examples=500)
@given(st.integers(min_value=0, max_value=INTERVAL_MAX))
def test_duration_round_trips_through_the_printed_interval(ticks):
    secs, frac = divmod(ticks, TICKS_PER_SECOND)
    days, secs = divmod(secs, 86400)
    text = f"P{days}DT{secs}S" if not frac else f"P{days}DT{secs}.{frac:07d}S"
    parsed = parse_duration(text)
    assert parsed == TimeInterval(ticks)
    assert format_interval(parsed).startswith(f"{days}." if days else "")


def test_max_timestamp_parses():
    assert parse_time_string("9999-12-31T23:59:59.9999999Z") == Timestamp(MAX_TIMESTAMP_TICKS)
