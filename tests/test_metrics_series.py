"""Series construction and the docs/language.md#series-variables variable table."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from poolscale.metrics import SERIES_VARIABLES, Series, canonical_series_name
from poolscale.metrics.series import MAX_TICKS


def test_series_variables_table_order():
    assert SERIES_VARIABLES == (
        "$CPUPercent", "$WallClockSeconds", "$MemoryBytes", "$DiskBytes",
        "$DiskReadBytes", "$DiskWriteBytes", "$DiskReadOps", "$DiskWriteOps",
        "$NetworkInBytes", "$NetworkOutBytes", "$SampleNodeCount", "$ActiveTasks",
        "$RunningTasks", "$PendingTasks", "$SucceededTasks", "$FailedTasks",
        "$PreemptedNodeCount", "$UsableNodeCount",
    )  # fmt: skip


@pytest.mark.parametrize(
    "name, want",
    [
        ("$PendingTasks", "$PendingTasks"),
        ("PendingTasks", "$PendingTasks"),
        ("pendingtasks", "$PendingTasks"),
        ("$CPUPERCENT", "$CPUPercent"),
        ("$$CPUPercent", None),
        (" CPUPercent", None),
        ("$TargetDedicatedNodes", None),
        ("", None),
        ("$", None),
    ],
)
def test_canonical_series_name(name, want):
    assert canonical_series_name(name) == want


def test_every_variable_canonicalises_to_itself():
    for name in SERIES_VARIABLES:
        assert canonical_series_name(name) == name
        assert canonical_series_name(name[1:].upper()) == name


def test_from_values_grid_and_missing():
    s = Series.from_values([1, None, 3, math.nan, 5], end=1000, period=10)
    assert s.stamps.tolist() == [960, 980, 1000]
    assert s.values.tolist() == [1, 3, 5]
    assert s.stamps.dtype == np.int64 and s.values.dtype == np.float64
    assert len(s) == 3


def test_from_values_keeps_infinities():
    s = Series.from_values([math.inf, -math.inf], end=10, period=10)
    assert s.values.tolist() == [math.inf, -math.inf]


def test_from_values_validation():
    with pytest.raises(ValueError):
        Series.from_values([1], end=10, period=0)
    with pytest.raises(ValueError):
        Series.from_values([1, 2, 3], end=10, period=10)  # would start before year 1
    with pytest.raises(ValueError):
        Series.from_values([1], end=MAX_TICKS + 1, period=10)
    with pytest.raises(TypeError):
        Series.from_values([1, True], end=100, period=10)
    with pytest.raises(TypeError):
        Series.from_values([1, "2"], end=100, period=10)
    with pytest.raises(TypeError):
        Series.from_values([1], end=1.5, period=10)


def test_from_pairs_sorts_and_rejects_duplicates():
    s = Series.from_pairs([30, 10, 20], [3.0, 1.0, None])
    assert s.stamps.tolist() == [10, 30] and s.values.tolist() == [1, 3]
    with pytest.raises(ValueError, match="share the stamp 10"):
        Series.from_pairs([10, 20, 10], [1, 2, 3])
    with pytest.raises(ValueError):
        Series.from_pairs([1, 2], [1])
    with pytest.raises(TypeError):
        Series.from_pairs([1.5, 2.0], [1, 2])
    with pytest.raises(ValueError):
        Series.from_pairs([-1], [1])


def test_plain_constructor_requires_ascending():
    with pytest.raises(ValueError):
        Series([2, 1], [1, 2])
    with pytest.raises(ValueError):
        Series([1, 1], [1, 2])
    assert Series([], []) == Series.EMPTY


def test_empty_and_equality():
    assert len(Series.EMPTY) == 0
    assert Series.EMPTY.stamps.dtype == np.int64
    a = Series.from_values([1, 2], end=20, period=10)
    assert a == Series.from_pairs([20, 10], [2, 1])
    assert a != Series.from_pairs([20, 10], [2, 5])
    assert hash(a) == hash(Series.from_pairs([20, 10], [2, 1]))
    assert "2 samples" in repr(a) and "empty" in repr(Series.EMPTY)


def test_series_is_immutable():
    s = Series.from_values([1, 2], end=20, period=10)
    with pytest.raises(AttributeError):
        s.values = np.zeros(2)  # type: ignore[misc]
    with pytest.raises(ValueError):
        s.values[0] = 9
    with pytest.raises(ValueError):
        s.stamps.flags.writeable = True


def test_importing_metrics_does_not_import_pandas():
    code = "import sys, poolscale.metrics; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
