"""Series notation (docs/language.md#scenario-file): every form, the errors, and the round trip."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poolscale.metrics import NotationError, format_notation, parse_notation
from poolscale.metrics.notation import MAX_SAMPLES, parse_notation_array


def test_spec_example():
    assert parse_notation("1+2x3 _x2 9") == [1, 3, 5, 7, None, None, 9]


@pytest.mark.parametrize(
    "text, want",
    [
        ("", []),
        ("   \n\t ", []),
        ("5", [5]),
        ("-5", [-5]),
        ("2.5", [2.5]),
        (".5 5.", [0.5, 5.0]),
        ("_", [None]),
        ("_ _", [None, None]),
        ("_x3", [None, None, None]),
        ("_x0", []),
        ("7x2", [7, 7, 7]),
        ("7x0", [7]),
        ("1+2x3", [1, 3, 5, 7]),
        ("10-3x3", [10, 7, 4, 1]),
        ("-1-1x2", [-1, -2, -3]),
        ("-1+1x2", [-1, 0, 1]),
        ("1+0x2", [1, 1, 1]),
        ("1+2x0", [1]),
        ("0 1 2 _ 4", [0, 1, 2, None, 4]),
        ("1\t2\n3", [1, 2, 3]),
        ("007x01", [7, 7]),
    ],
)
def test_forms(text, want):
    assert parse_notation(text) == want


def test_kth_value_is_a_plus_k_times_b():
    got = parse_notation("0.1+0.1x9")
    assert got == [0.1 + k * 0.1 for k in range(10)]
    # repeated addition would differ: 0.1+0.1+0.1 != 0.1 + 2*0.1
    assert got[2] == 0.1 + 2 * 0.1
    down = parse_notation("1-0.1x10")
    assert down == [1 - k * 0.1 for k in range(11)]


def test_negative_zero_and_types():
    got = parse_notation("-0 3")
    assert math.copysign(1, got[0]) == -1
    assert all(type(v) is float for v in parse_notation("1 2x1 3+1x1"))


def test_array_form_uses_nan_for_missing():
    arr = parse_notation_array("1 _ 3")
    assert arr[0] == 1 and math.isnan(arr[1]) and arr[2] == 3
    with pytest.raises(TypeError):
        parse_notation_array([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text, index, item",
    [
        ("1 2 abc", 3, "abc"),
        ("1+2", 1, "1+2"),
        ("1 +2x3", 2, "+2x3"),
        ("1--2x3", 1, "1--2x3"),
        ("1+-2x3", 1, "1+-2x3"),
        ("1x-2", 1, "1x-2"),
        ("1x2.5", 1, "1x2.5"),
        ("_x", 1, "_x"),
        ("_+1x2", 1, "_+1x2"),
        ("1e5", 1, "1e5"),
        ("NaN", 1, "NaN"),
        ("inf", 1, "inf"),
        ("1X3", 1, "1X3"),
        ("1,2", 1, "1,2"),
        ("5 _ -", 3, "-"),
    ],
)
def test_errors_name_item_and_index(text, index, item):
    with pytest.raises(NotationError) as info:
        parse_notation(text)
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.index, err.item) == (index, item)
    assert f"item {index} {item!r}" in str(err)


@pytest.mark.parametrize(
    "text",
    [
        f"1x{MAX_SAMPLES}",
        f"_x{MAX_SAMPLES + 1}",
        f"0+1x{MAX_SAMPLES - 1} 5",
        "1x" + "9" * 5000,
        "_x99999999999999999999",
    ],
)
def test_expansion_cap(text):
    with pytest.raises(NotationError, match="limit"):
        parse_notation_array(text)


def test_expansion_up_to_the_cap_is_allowed():
    assert parse_notation_array(f"_x{MAX_SAMPLES - 1} 1").size == MAX_SAMPLES


def test_format_examples():
    assert format_notation([1, 3, 5, 7, None, None, 9]) == "1+2x3 _x2 9"
    assert format_notation([]) == ""
    assert format_notation([None]) == "_"
    assert format_notation([4, 4]) == "4x1"
    assert format_notation([1, 2]) == "1 2"
    assert format_notation([10, 7, 4, 1]) == "10-3x3"
    assert format_notation([0.5, 1e20]) == "0.5 100000000000000000000"
    assert format_notation([math.nan]) == "_"
    with pytest.raises(ValueError):
        format_notation([math.inf])


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15)
ramps = st.builds(
    lambda a, b, n: [a + k * b for k in range(n + 1)],
    st.integers(-100, 100).map(float),
    st.sampled_from([0.0, 1.0, -1.0, 0.1, -2.5, 3.0]),
    st.integers(0, 6),
)
pieces = st.one_of(
    st.lists(st.none() | finite, max_size=4),
    ramps,
    st.lists(st.just(-0.0) | st.just(0.0), max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(pieces, max_size=6).map(lambda ps: [v for p in ps for v in p]))
def test_format_round_trips_bit_for_bit(values):
    back = parse_notation(format_notation(values))
    assert len(back) == len(values)
    for got, want in zip(back, values):
        if want is None:
            assert got is None
        else:
            assert got == want and math.copysign(1, got) == math.copysign(1, want)
