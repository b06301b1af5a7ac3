"""``Account.add_tasks`` on its fast paths: a plain task (an id and a command line, as the SDK's
``create_tasks`` sends most) is built by ``plaintasks.task_from_rest`` without pydantic's
validators, and is the model's task exactly; any other task, and every refusal, is the model's.
"""

from __future__ import annotations

import pytest

from poolscale.runtime.service.account import Account
from poolscale.runtime.service.settings import AccountSettings
from poolscale.scheduler.models import TaskSpec

POOL = {"id": "p", "vmSize": "STANDARD_D2_v3", "targetDedicatedNodes": 0}


@pytest.fixture
def acct(tmp_path):
    with Account(settings=AccountSettings(data_dir=tmp_path / "data")) as a:
        a.create_pool(POOL)
        a.add_job({"id": "j", "poolInfo": {"poolId": "p"}})
        yield a


@pytest.fixture
def validations(monkeypatch):
    """The tasks pydantic validated (``TaskSpec.model_validate``), by id."""
    seen: list = []
    real = TaskSpec.model_validate.__func__

    def counting(cls, obj, *args, **kwargs):
        seen.append(obj.get("id") if isinstance(obj, dict) else obj)
        return real(cls, obj, *args, **kwargs)

    monkeypatch.setattr(TaskSpec, "model_validate", classmethod(counting))
    return seen


def specs_of(acct: Account, *ids: str) -> list[TaskSpec]:
    def run():
        entry = acct.jobs["j"]
        return [entry.engine._task_spec(entry.find(i)) for i in ids]
    return acct._call(run)


def test_plain_tasks_skip_the_validators_and_equal_the_models_tasks(acct, validations):
    plain = [{"id": "a", "commandLine": "/bin/true"},
             {"id": "b", "commandLine": "echo hi", "requiredSlots": 1, "exitCodes": [0, 3]}]
    other = {"id": "c", "commandLine": "/bin/true", "constraints": {"maxTaskRetryCount": 2}}
    results = acct.add_tasks("j", plain + [other])
    assert [r["status"] for r in results] == ["success"] * 3
    assert validations == ["c"]
    for body, spec in zip(plain + [other], specs_of(acct, "a", "b", "c")):
        model = TaskSpec.model_validate(body)
        assert spec == model
        assert spec.model_fields_set == model.model_fields_set
        assert spec.model_dump_json(by_alias=True, exclude_unset=True) == \
            model.model_dump_json(by_alias=True, exclude_unset=True)


def test_a_task_the_fast_path_cannot_judge_gets_the_models_refusal(acct, validations):
    results = acct.add_tasks("j", [
        {"id": "neg", "commandLine": "/bin/true", "requiredSlots": 0},
        {"id": "typo", "commandLine": "/bin/true", "comandLine": "x"},
        {"id": "ok", "commandLine": "/bin/true"},
    ])
    assert [r["status"] for r in results] == ["clientError", "clientError", "success"]
    neg, typo = results[0]["error"], results[1]["error"]
    assert (neg.code, neg.status, neg.values) == ("InvalidPropertyValue", 400, (
        ("PropertyName", "requiredSlots"), ("PropertyValue", "0"),
        ("Reason", "Input should be greater than or equal to 1")))
    assert (typo.code, typo.status, typo.values) == ("InvalidPropertyValue", 400, (
        ("PropertyName", "comandLine"), ("PropertyValue", "x"),
        ("Reason", "Extra inputs are not permitted")))
    assert validations == ["neg", "typo"]


def test_without_views_a_success_is_its_id_and_status_alone(acct):
    results = acct.add_tasks("j", [{"id": "a", "commandLine": "/bin/true"},
                                   {"id": "A", "commandLine": "/bin/true"}], view=False)
    assert results[0] == {"taskId": "a", "status": "success"}
    assert (results[1]["status"], results[1]["error"].code) == ("clientError", "TaskExists")
    assert acct.add_tasks("j", [{"id": "b", "commandLine": "/bin/true"}])[0]["task"] == \
        {"id": "b", "state": "active", "executionInfo": {"retryCount": 0, "requeueCount": 0}}
    acct.add_job({"id": "w", "poolInfo": {"poolId": "later"}})
    assert acct.add_tasks("w", [{"id": "c", "commandLine": "/bin/true"}], view=False) == \
        [{"taskId": "c", "status": "success"}]
