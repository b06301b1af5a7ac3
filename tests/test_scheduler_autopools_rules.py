"""Auto pool ids and lifetimes (scheduler/autopools.py): pure, no kernel."""

from __future__ import annotations

import re

import pytest

from poolscale.scheduler.autopools import auto_pool_id, creates_pool, deletes_pool
from poolscale.scheduler.models import AutoPoolSpecification

GUID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-5[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}")


def spec(lifetime: str, keep_alive: bool = False) -> AutoPoolSpecification:
    return AutoPoolSpecification.model_validate(
        {"poolLifetimeOption": lifetime, "keepAlive": keep_alive, "pool": {"vmSize": "standard_d2s_v3"}})


def test_auto_pool_id_is_prefix_and_a_deterministic_guid():
    a = auto_pool_id("nightly", "nightly:job-1", 1)
    assert a == "nightly_241B3EB9-9326-5979-A16A-5B988EB62DC8"
    assert a == auto_pool_id("nightly", "nightly:job-1", 1)
    prefix, guid = a.split("_", 1)
    assert prefix == "nightly" and GUID.fullmatch(guid)
    assert a != auto_pool_id("nightly", "nightly:job-1", 2)
    assert a != auto_pool_id("nightly", "nightly:job-2", 1)
    assert a != auto_pool_id("nightly", "nightly:job-1", 1, account="other")
    bare = auto_pool_id(None, "j", 1)
    assert len(bare) == 36 and GUID.fullmatch(bare)
    assert auto_pool_id("", "j", 1) == bare
    assert len(auto_pool_id("x" * 20, "j", 1)) == 57


@pytest.mark.parametrize("lifetime, first_job, made", [
    ("job", True, True), ("job", False, True), ("jobschedule", True, True),
    ("jobschedule", False, False),
])
def test_which_job_creation_makes_a_pool(lifetime, first_job, made):
    assert creates_pool(spec(lifetime), "job_created", first_job=first_job) is made
    assert creates_pool(spec(lifetime), "job_completed") is False


@pytest.mark.parametrize("lifetime, removed_by", [
    ("job", {"job_completed", "schedule_deleted"}),
    ("jobschedule", {"schedule_completed", "schedule_deleted"}),
])
def test_which_event_removes_the_pool(lifetime, removed_by):
    events = ("job_created", "job_completed", "schedule_completed", "schedule_deleted")
    assert {e for e in events if deletes_pool(spec(lifetime), e)} == removed_by
    assert not any(deletes_pool(spec(lifetime, keep_alive=True), e) for e in events)


def test_an_unknown_event_is_an_error():
    with pytest.raises(ValueError, match="unknown auto pool event 'job_ended'"):
        deletes_pool(spec("job"), "job_ended")
