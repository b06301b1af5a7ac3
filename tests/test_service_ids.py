"""The Batch id rule (runtime/service/ids.py): what passes, and the exact refusal."""

from __future__ import annotations

import pytest

from poolscale.runtime.service.ids import (
    ID_RULE,
    JOB_SEGMENT,
    InvalidId,
    check_id,
    check_job_id,
    id_key,
    split_job_id,
)


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


# -- jobs of a job schedule: <scheduleId>:job-<n> ------------------------------------------------

COLON_REASON = (f"{ID_RULE}; this one contains ':', which only the jobs a job schedule makes "
                "have (<scheduleId>:job-<n>)")


@pytest.mark.parametrize(("job_id", "parts"), [
    ("nightly:job-3", ("nightly", "job-3")),
    ("Nightly_1:job-1", ("Nightly_1", "job-1")),
    ("s:job-120", ("s", "job-120")),
    ("job1", ("job1", "job-1")),
    ("job-1", ("job-1", "job-1")),
    ("x" * 64 + ":job-7", ("x" * 64, "job-7")),
])
def test_split_job_id_gives_the_work_item_and_the_segment(job_id, parts):
    assert split_job_id(job_id) == parts
    assert all(check_id(p) == p for p in parts)


@pytest.mark.parametrize(("job_id", "reason"), [
    ("s:job-0", COLON_REASON),
    ("s:job-01", COLON_REASON),
    ("s:job-", COLON_REASON),
    ("s:job-1:job-2", COLON_REASON),
    ("s:Job-1", COLON_REASON),
    ("s:1", COLON_REASON),
    (":job-1", f"{ID_RULE}; its job schedule id '' breaks it (this one is empty)"),
    ("../x:job-1", f"{ID_RULE}; its job schedule id '../x' breaks it (this one contains '.')"),
    ("..", f"{ID_RULE}; this one contains '.'"),
])
def test_split_job_id_refuses_every_other_shape(job_id, reason):
    with pytest.raises(InvalidId) as info:
        split_job_id(job_id)
    assert (info.value.code, info.value.property, info.value.value) == ("InvalidPropertyValue", "jobId", job_id)
    assert info.value.reason == reason


def test_a_user_job_id_may_not_hold_a_colon():
    assert check_job_id("job1") == "job1"
    with pytest.raises(InvalidId) as info:
        check_job_id("nightly:job-3")
    e = info.value
    assert (e.property, e.value, e.reason) == ("id", "nightly:job-3", COLON_REASON)
    assert e.message == f"id 'nightly:job-3' is invalid: {COLON_REASON}"


def test_the_schedule_driver_may_name_its_jobs():
    assert check_job_id("nightly:job-3", allow_schedule=True) == "nightly:job-3"
    assert check_job_id("job1", allow_schedule=True) == "job1"
    for bad in ("nightly:job-0", "a:b", "a b:job-1"):
        with pytest.raises(InvalidId) as info:
            check_job_id(bad, "jobId", allow_schedule=True)
        assert info.value.property == "jobId"
    with pytest.raises(InvalidId) as info:
        check_job_id("a b:job-1", allow_schedule=True)
    assert info.value.reason == f"{ID_RULE}; its job schedule id 'a b' breaks it (this one contains ' ')"


def test_a_long_id_with_a_colon_is_refused_by_its_length():
    with pytest.raises(InvalidId) as info:
        check_job_id("x" * 60 + ":abcd")
    assert info.value.reason == f"{ID_RULE}; this one has 65"


def test_the_plain_job_segment():
    assert JOB_SEGMENT == "job-1"
