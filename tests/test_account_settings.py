"""AccountSettings (runtime/service/settings.py): defaults, durations in every form, and the
exact message of every refusal (it names the field and quotes the value)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from poolscale.runtime.service.settings import (
    AccountSettings,
    SettingsError,
    default_core_quota,
    iso_duration,
)
from poolscale.scheduler.nodes import DEDICATED, LOW_PRIORITY


@pytest.fixture
def three_cpus(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 3)


def test_defaults(tmp_path: Path, monkeypatch, three_cpus):
    monkeypatch.chdir(tmp_path)
    s = AccountSettings()
    assert dataclasses.asdict(s) == {
        "name": "poolscale",
        "data_dir": tmp_path / ".poolscale",
        "account_url": None,
        "dedicated_core_quota": 12,
        "low_priority_core_quota": 12,
        "max_local_nodes": 64,
        "allocation_delay": 0.0,
        "boot_delay": 0.0,
        "min_evaluation_interval": 300.0,
        "min_recurrence_interval": 60.0,
        "sample_period": 30.0,
        "durability": "normal",
        "kill_grace": 2.0,
        "auto_storage": None,
    }
    assert s.work_root == tmp_path / ".poolscale" / "nodes"
    assert s.store_path == tmp_path / ".poolscale" / "poolscale.db"
    assert s.development_interval is False
    assert s.interval_note is None


def test_the_default_quota_is_four_cores_per_cpu(monkeypatch, three_cpus):
    assert default_core_quota() == 12
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown: count one CPU
    assert default_core_quota() == 4
    assert AccountSettings(low_priority_core_quota=0).dedicated_core_quota == 4


def test_explicit_quotas_are_kept(three_cpus):
    s = AccountSettings(dedicated_core_quota=0, low_priority_core_quota=1000)
    assert (s.dedicated_core_quota, s.low_priority_core_quota) == (0, 1000)


def test_core_quotas_are_indexed_by_node_kind():
    s = AccountSettings(dedicated_core_quota=8, low_priority_core_quota=20)
    assert s.core_quotas[DEDICATED] == 8
    assert s.core_quotas[LOW_PRIORITY] == 20


def test_the_data_dir_is_made_absolute_once(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = AccountSettings(data_dir="run-data")
    monkeypatch.chdir("/")
    assert s.data_dir == tmp_path / "run-data"
    assert s.work_root == tmp_path / "run-data" / "nodes"


@pytest.mark.parametrize("written", [5, 5.0, "5", "5s", "PT5S", "0:00:05"])
def test_a_lowered_floor_is_a_development_setting_that_says_so(written):
    s = AccountSettings(min_evaluation_interval=written)
    assert s.min_evaluation_interval == 5.0
    assert s.development_interval is True
    assert s.interval_note == "autoscale evaluation interval floor lowered to PT5S (development setting)"


def test_the_service_floor_written_as_text_is_not_a_development_setting():
    s = AccountSettings(min_evaluation_interval="PT5M")
    assert (s.min_evaluation_interval, s.development_interval, s.interval_note) == (300.0, False, None)


def test_durations_in_every_form():
    s = AccountSettings(allocation_delay="1.5s", boot_delay="PT2M", sample_period="90m", kill_grace="0")
    assert (s.allocation_delay, s.boot_delay, s.sample_period, s.kill_grace) == (1.5, 120.0, 5400.0, 0.0)


def test_settings_are_frozen():
    s = AccountSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.boot_delay = 1.0  # type: ignore[misc]


FORMS = "600, 90m, 36h, 7d, PT36H or 0:15:00"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "Pool Scale"},
     "name: an account name has 3 to 24 characters, lowercase letters and digits only, got 'Pool Scale'"),
    ({"name": "ab"},
     "name: an account name has 3 to 24 characters, lowercase letters and digits only, got 'ab'"),
    ({"data_dir": ""}, "data_dir: must be a directory path, got ''"),
    ({"data_dir": 3}, "data_dir: must be a directory path, got 3"),
    ({"account_url": "ftp://x"}, "account_url: must be an http:// or https:// URL, got 'ftp://x'"),
    ({"dedicated_core_quota": -1}, "dedicated_core_quota: must be at least 0, got -1"),
    ({"low_priority_core_quota": 2.5}, "low_priority_core_quota: must be a whole number, got 2.5"),
    ({"dedicated_core_quota": True}, "dedicated_core_quota: must be a whole number, got True"),
    ({"max_local_nodes": 0}, "max_local_nodes: must be at least 1, got 0"),
    ({"allocation_delay": "soon"}, f"allocation_delay: cannot read 'soon' as a duration (use e.g. {FORMS})"),
    ({"boot_delay": "-5s"}, "boot_delay: a duration must be 0 or more, got '-5s'"),
    ({"kill_grace": float("nan")}, "kill_grace: a duration must be a number, got NaN"),
    ({"min_evaluation_interval": "PT10M"},
     "min_evaluation_interval: must lie in [PT1S, PT5M] (PT5M is the service's floor; a lower one is a "
     "development setting), got 'PT10M'"),
    ({"min_evaluation_interval": 0.5},
     "min_evaluation_interval: must lie in [PT1S, PT5M] (PT5M is the service's floor; a lower one is a "
     "development setting), got 0.5"),
    ({"min_recurrence_interval": "PT2M"},
     "min_recurrence_interval: must lie in [PT1S, PT1M] (PT1M is the service's floor for a job "
     "schedule's recurrenceInterval and startWindow; a lower one is a development setting), "
     "got 'PT2M'"),
    ({"min_recurrence_interval": 0.5},
     "min_recurrence_interval: must lie in [PT1S, PT1M] (PT1M is the service's floor for a job "
     "schedule's recurrenceInterval and startWindow; a lower one is a development setting), "
     "got 0.5"),
    ({"sample_period": "0s"}, "sample_period: must be at least 0.1 s, got '0s'"),
    ({"durability": "fast"}, "durability: must be one of off, normal, full, got 'fast'"),
])
def test_refusals_name_the_field_and_the_value(kwargs, message):
    with pytest.raises(SettingsError) as info:
        AccountSettings(**kwargs)
    ((field, value),) = kwargs.items()
    assert str(info.value) == message
    assert (info.value.field, info.value.value is value) == (field, True)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(("seconds", "text"), [
    (5.0, "PT5S"), (90.0, "PT1M30S"), (300.0, "PT5M"), (0.5, "PT0.5S"), (0.0, "PT0S"),
    (7200.0, "PT2H"), (3661.25, "PT1H1M1.25S"),
])
def test_iso_duration(seconds, text):
    assert iso_duration(seconds) == text


def test_min_recurrence_interval_is_read_as_a_duration():
    assert AccountSettings(min_recurrence_interval="PT5S").min_recurrence_interval == 5.0
