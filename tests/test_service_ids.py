"""The Batch id rule (runtime/service/ids.py): what passes, and the exact refusal."""

from __future__ import annotations

import pytest

from poolscale.runtime.service.ids import ID_RULE, InvalidId, check_id, id_key


@pytest.mark.parametrize("value", ["a", "tvm-000001", "Job_1-x", "0", "-", "_", "x" * 64])
def test_valid_ids_pass_unchanged(value):
    assert check_id(value) == value


@pytest.mark.parametrize(("value", "tail"), [
    ("..", "this one contains '.'"),
    ("a/b", "this one contains '/'"),
    ("", "this one is empty"),
    ("x" * 65, "this one has 65"),
    ("naïve", "this one contains 'ï'"),
    ("two words", "this one contains ' '"),
    ("tab\t", "this one contains '\\t'"),
    ("job:1", "this one contains ':'"),
])
def test_invalid_ids_name_the_property_and_the_reason(value, tail):
    with pytest.raises(InvalidId) as info:
        check_id(value, "taskId")
    e = info.value
    assert isinstance(e, ValueError)
    assert (e.code, e.property, e.value) == ("InvalidPropertyValue", "taskId", value)
    assert e.reason == f"{ID_RULE}; {tail}"
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    assert e.message == f"taskId {shown} is invalid: {ID_RULE}; {tail}"
    assert str(e) == f"InvalidPropertyValue: {e.message}"
    assert e.values == (("PropertyName", "taskId"), ("PropertyValue", value), ("Reason", e.reason))


def test_the_rule_in_words():
    assert ID_RULE == ("an id has 1 to 64 characters, each an ASCII letter, a digit, "
                       "a hyphen (-) or an underscore (_)")


def test_a_non_string_id_is_refused_by_type():
    with pytest.raises(InvalidId) as info:
        check_id(7)
    assert info.value.message == "id 7 is invalid: an id is a string, not int"
    assert info.value.values[1] == ("PropertyValue", "7")


def test_ids_compare_without_case():
    assert id_key("Render-Pool_1") == id_key("render-pool_1") == "render-pool_1"
    assert id_key("a") != id_key("b")
