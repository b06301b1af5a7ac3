"""SampleStore loaders: scenario mappings, CSV files and pandas DataFrames."""

from __future__ import annotations

import io
import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from poolscale.metrics import NotationError, SampleStore, Series

SEC = 10_000_000


def ticks(iso: str) -> int:
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (dt - datetime(1, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1) * 10


T = ticks("2026-03-02T10:00:00Z")


# -- mappings (the scenario file's "samples") -------------------------------------


def test_from_mapping_spec_sample():
    store = SampleStore.from_mapping(
        {"$PendingTasks": "0 1 2 _ 4", "CPUPercent": [10, 20, None, 40]}, end=T
    )
    assert store.period == 30 * SEC and store.delay == 0
    pt = store.series("$PendingTasks")
    assert pt.values.tolist() == [0, 1, 2, 4]
    assert pt.stamps.tolist() == [T - 120 * SEC, T - 90 * SEC, T - 60 * SEC, T]
    cpu = store.series("$CPUPercent")
    assert cpu.values.tolist() == [10, 20, 40]
    assert cpu.stamps.tolist() == [T - 90 * SEC, T - 60 * SEC, T]


def test_from_mapping_last_value_at_end_with_custom_period():
    store = SampleStore.from_mapping({"pendingtasks": "0 1 2"}, end=T, period=60 * SEC, delay=SEC)
    assert store.series("$PendingTasks").stamps.tolist() == [T - 120 * SEC, T - 60 * SEC, T]
    assert store.delay == SEC


def test_from_mapping_accepts_arrays_and_series():
    s = Series.from_values([1, 2], end=T, period=30 * SEC)
    store = SampleStore.from_mapping({"$CPUPercent": np.array([1.0, np.nan]), "$DiskBytes": s}, end=T)
    assert store.series("$CPUPercent").values.tolist() == [1.0]
    assert store.series("$DiskBytes") is s


@pytest.mark.parametrize(
    "mapping, match",
    [
        ({"$Bogus": [1]}, "'\\$Bogus' is not a series variable"),
        ({"PendingTasks": [1], "$pendingtasks": [2]}, "same series"),
        ({"$CPUPercent": 5}, "'\\$CPUPercent'"),
        ({"$CPUPercent": [1, True]}, "'\\$CPUPercent'.*True"),
        ({"$CPUPercent": [1, "2"]}, "'\\$CPUPercent'"),
    ],
)
def test_from_mapping_errors_name_the_key(mapping, match):
    with pytest.raises(ValueError, match=match):
        SampleStore.from_mapping(mapping, end=T)


def test_from_mapping_notation_error_names_key_and_item():
    with pytest.raises(NotationError) as info:
        SampleStore.from_mapping({"ActiveTasks": "1 2 x"}, end=T)
    assert "'ActiveTasks'" in str(info.value) and "item 3 'x'" in str(info.value)
    assert info.value.index == 3


def test_from_mapping_rejects_bad_period_and_delay():
    with pytest.raises(ValueError):
        SampleStore.from_mapping({}, end=T, period=0)
    with pytest.raises(ValueError):
        SampleStore.from_mapping({}, end=T, delay=-SEC)


# -- CSV -------------------------------------------------------------------------------

CSV = """timestamp,PendingTasks,$CPUPercent
2026-03-02T09:59:00Z,1,50
2026-03-02T10:00:00Z,3,
2026-03-02T09:59:30Z,,70.5
"""


def test_from_csv_file(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text(CSV, encoding="utf-8")
    store = SampleStore.from_csv(path, delay=30 * SEC)
    pt = store.series("$PendingTasks")
    assert pt.stamps.tolist() == [T - 60 * SEC, T] and pt.values.tolist() == [1, 3]
    cpu = store.series("$CPUPercent")
    assert cpu.stamps.tolist() == [T - 60 * SEC, T - 30 * SEC]
    assert cpu.values.tolist() == [50, 70.5]
    assert store.delay == 30 * SEC
    assert store.window("$CPUPercent", T - 90 * SEC, T, T).values.tolist() == [50, 70.5]
    assert store.window("$PendingTasks", T - 90 * SEC, T, T).values.tolist() == [1]


def test_from_csv_buffer_zones_and_fractions():
    text = (
        "Timestamp,$ActiveTasks\n"
        "2026-03-02T11:00:00+01:00,1\n"
        "\n"
        "2026-03-02T10:00:30.1234567Z,2\n"
        "2026-03-02 10:01:00.5+00:00, 3 \n"
    )
    store = SampleStore.from_csv(io.StringIO(text))
    s = store.series("$ActiveTasks")
    assert s.stamps.tolist() == [T, T + 30 * SEC + 1_234_567, T + 60 * SEC + 5_000_000]
    assert s.values.tolist() == [1, 2, 3]


def test_from_csv_with_bom_and_only_timestamps(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufefftimestamp,$FailedTasks\n2026-03-02T10:00:00Z,\n".encode("utf-8"))
    store = SampleStore.from_csv(str(path))
    assert store.names == ("$FailedTasks",)
    assert len(store.series("$FailedTasks")) == 0


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "no header"),
        ("$CPUPercent\n1\n", "timestamp"),
        ("timestamp,timestamp\n", "timestamp"),
        ("timestamp,$Bogus\n", "'\\$Bogus' is not a series variable"),
        ("timestamp,CPUPercent,cpupercent\n", "same series"),
        ("timestamp,CPUPercent\n2026-03-02T10:00:00Z,abc\n", "row 2, column 'CPUPercent'"),
        ("timestamp,CPUPercent\n2026-03-02T10:00:00,1\n", "row 2.*time zone"),
        ("timestamp,CPUPercent\nyesterday,1\n", "row 2.*ISO-8601"),
        ("timestamp,CPUPercent\n2026-03-02T10:00:00Z\n", "row 2 has 1 cells"),
        ("timestamp,CPUPercent\n2026-03-02T10:00:00.12345678Z,1\n", "7 fractional"),
        (
            "timestamp,CPUPercent\n2026-03-02T10:00:00Z,1\n2026-03-02T11:00:00+01:00,2\n",
            "\\$CPUPercent: two samples share",
        ),
    ],
)
def test_from_csv_errors(text, match):
    with pytest.raises(ValueError, match=match):
        SampleStore.from_csv(io.StringIO(text))


def test_from_csv_rejects_non_files():
    with pytest.raises(TypeError):
        SampleStore.from_csv(42)


# -- DataFrame ------------------------------------------------------------------------


def test_from_dataframe_with_nan():
    pd = pytest.importorskip("pandas")
    index = pd.DatetimeIndex(
        ["2026-03-02T09:59:00Z", "2026-03-02T09:59:30Z", "2026-03-02T10:00:00Z"]
    )
    df = pd.DataFrame({"PendingTasks": [1.0, np.nan, 3.0], "$CPUPercent": [5, 6, 7]}, index=index)
    store = SampleStore.from_dataframe(df, period=30 * SEC, delay=0)
    pt = store.series("$PendingTasks")
    assert pt.stamps.tolist() == [T - 60 * SEC, T] and pt.values.tolist() == [1, 3]
    assert store.series("$CPUPercent").values.tolist() == [5, 6, 7]
    w = store.window("$PendingTasks", T - 90 * SEC, T, T)
    assert (w.available, w.expected, w.percent) == (2, 3.0, 200 / 3)


def test_from_dataframe_timestamp_column_naive_as_utc_and_other_units():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {
            "timestamp": ["2026-03-02 10:00:00", "2026-03-02 09:59:30"],
            "$RunningTasks": pd.array([4, None], dtype="Int64"),
        }
    )
    s = SampleStore.from_dataframe(df).series("$RunningTasks")
    assert s.stamps.tolist() == [T] and s.values.tolist() == [4]
    idx = pd.DatetimeIndex(["2026-03-02T11:00:00.0000001+01:00"]).as_unit("ns")
    s2 = SampleStore.from_dataframe(pd.DataFrame({"$RunningTasks": [1]}, index=idx))
    assert s2.series("$RunningTasks").stamps.tolist() == [T + 1]
    idx_s = pd.DatetimeIndex(["2026-03-02T10:00:00"]).as_unit("s")
    s3 = SampleStore.from_dataframe(pd.DataFrame({"$RunningTasks": [1]}, index=idx_s))
    assert s3.series("$RunningTasks").stamps.tolist() == [T]


def test_from_dataframe_errors():
    pd = pytest.importorskip("pandas")
    idx = pd.DatetimeIndex(["2026-03-02T10:00:00Z"])
    with pytest.raises(ValueError, match="not a series variable"):
        SampleStore.from_dataframe(pd.DataFrame({"Bogus": [1]}, index=idx))
    with pytest.raises(ValueError, match="DatetimeIndex"):
        SampleStore.from_dataframe(pd.DataFrame({"$CPUPercent": [1]}))
    with pytest.raises(ValueError, match="NaT"):
        SampleStore.from_dataframe(
            pd.DataFrame({"$CPUPercent": [1]}, index=pd.DatetimeIndex([pd.NaT]))
        )
    with pytest.raises(ValueError, match="share the stamp"):
        SampleStore.from_dataframe(
            pd.DataFrame({"$CPUPercent": [1, 2]}, index=idx.append(idx))
        )
    with pytest.raises(ValueError, match="'\\$CPUPercent'"):
        SampleStore.from_dataframe(pd.DataFrame({"$CPUPercent": ["x"]}, index=idx))
    with pytest.raises(TypeError):
        SampleStore.from_dataframe({"$CPUPercent": [1]})


def test_dataframe_and_csv_agree():
    pd = pytest.importorskip("pandas")
    from_csv = SampleStore.from_csv(io.StringIO(CSV))
    df = pd.read_csv(io.StringIO(CSV))
    from_df = SampleStore.from_dataframe(df)
    for name in from_csv.names:
        assert from_csv.series(name) == from_df.series(name)
    assert not math.isnan(from_df.series("$CPUPercent").values.sum())


def test_a_cell_past_the_csv_field_limit_is_a_value_error():
    """A stray quote made the rest of the file one cell: _csv.Error escaped."""
    import io

    from poolscale.metrics import SampleStore

    text = "timestamp,$PendingTasks\n2026-03-02T10:00:00Z,\"1\n" + "2026-03-02T10:00:30Z,1\n" * 10_000
    with pytest.raises(ValueError, match=r"^row \d+: field larger than field limit \(131072\)$"):
        SampleStore.from_csv(io.StringIO(text))


# -- the time a mapping ends at: ticks, datetime or Timestamp (README: "or datetime objects") --

def test_from_mapping_end_may_be_a_datetime_or_a_timestamp():
    from poolscale.formula import Timestamp

    aware = datetime(2026, 3, 2, 11, 0, tzinfo=timezone(timedelta(hours=1)))  # 10:00 UTC
    naive = datetime(2026, 3, 2, 10, 0)  # taken as UTC, as Formula.evaluate(now=...) takes it
    for end in (aware, naive, Timestamp(T)):
        store = SampleStore.from_mapping({"$PendingTasks": [1, 2]}, end=end)
        assert store.series("$PendingTasks").stamps.tolist() == [T - 30 * SEC, T]


def test_a_formula_reads_samples_ending_at_the_same_naive_datetime_as_its_now():
    from poolscale.formula import compile_formula

    when = datetime(2026, 3, 2, 10, 0)
    store = SampleStore.from_mapping({"$PendingTasks": "0+1x9"}, end=when)
    run = compile_formula("n = $PendingTasks.GetSample(1);").evaluate(store, now=when)
    assert run.results.endswith("n=[9]")


@pytest.mark.parametrize("end, error, match", [
    ("2026-03-02T10:00:00Z", TypeError,
     "end must be ticks, a datetime or a Timestamp, not str"),
    (1.5, TypeError, "end must be ticks, a datetime or a Timestamp, not float"),
    (True, TypeError, "end must be ticks, a datetime or a Timestamp, not bool"),
    (-1, ValueError, "end tick -1 is before 0001-01-01"),
])
def test_from_mapping_refuses_an_end_that_is_no_instant(end, error, match):
    with pytest.raises(error, match=match):
        SampleStore.from_mapping({}, end=end)
