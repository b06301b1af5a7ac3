"""The scenario file of docs/language.md#scenario-file: validation, file formats and anchoring of
the samples."""

from __future__ import annotations

import json
import math

import pytest

from poolscale.formula.poolstate import PoolState
from poolscale.formula.timeparse import parse_time_string
from poolscale.formula.values import TICKS_PER_SECOND, TimeInterval, format_timestamp
from poolscale.runtime.scenario import (
    Scenario,
    ScenarioError,
    load_scenario,
    scenario_from_dict,
)

SPEC_EXAMPLE = {
    "time": "2026-03-02T10:00:00Z",
    "pool": {
        "currentDedicatedNodes": 2, "currentLowPriorityNodes": 0,
        "targetDedicatedNodes": 2, "targetLowPriorityNodes": 0,
        "taskSlotsPerNode": 1,
    },
    "samples": {"$PendingTasks": "0 1 2 _ 4", "CPUPercent": [10, 20, None, 40]},
    "period": "PT30S",
    "delay": "PT0S",
    "seed": 7,
}

T = parse_time_string("2026-03-02T10:00:00Z")


def error_of(d) -> str:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(d)
    return str(info.value)


# ------------------------------------------------------------------ the document


def test_spec_example():
    s = scenario_from_dict(SPEC_EXAMPLE)
    assert s.time == T
    assert s.pool == PoolState(current_dedicated=2.0, current_low_priority=0.0,
                               target_dedicated=2.0, target_low_priority=0.0,
                               task_slots_per_node=1.0)
    assert s.samples == {"$PendingTasks": [0.0, 1.0, 2.0, None, 4.0],
                         "$CPUPercent": [10.0, 20.0, None, 40.0]}
    assert s.period == TimeInterval(30 * TICKS_PER_SECOND)
    assert s.delay == TimeInterval(0)
    assert s.seed == 7


def test_empty_scenario_is_the_default():
    s = scenario_from_dict({})
    assert s == Scenario()
    assert s.time is None and s.seed is None and s.samples == {}
    assert s.pool == PoolState()
    assert s.pool.dedicated_target == 0.0 and s.pool.task_slots_per_node == 1.0
    assert s.period == TimeInterval(300_000_000) and s.delay == TimeInterval(0)


def test_null_counts_as_absent():
    s = scenario_from_dict({"time": None, "pool": None, "samples": None, "period": None,
                            "delay": None, "seed": None})
    assert s == Scenario()
    assert scenario_from_dict({"pool": {"targetDedicatedNodes": None,
                                        "currentDedicatedNodes": 3}}).pool.dedicated_target == 3


def test_pool_targets_default_to_current_counts():
    pool = scenario_from_dict({"pool": {"currentDedicatedNodes": 4,
                                        "currentLowPriorityNodes": 2,
                                        "targetLowPriorityNodes": 3}}).pool
    assert (pool.dedicated_target, pool.low_priority_target) == (4.0, 3.0)
    assert pool.current_low_priority == 2.0
    assert all(type(getattr(pool, f)) is float
               for f in ("current_dedicated", "current_low_priority", "target_low_priority"))


def test_time_forms():
    assert scenario_from_dict({"time": "2026-03-02"}).time == parse_time_string("2026-03-02")
    t = scenario_from_dict({"time": "2026-03-01T05:00:00.9999+02:00"}).time
    assert format_timestamp(t) == "2026-03-01T03:00:00.999Z"


def test_durations():
    s = scenario_from_dict({"period": "PT1M", "delay": "PT60S"})
    assert s.period == s.delay == TimeInterval(60 * TICKS_PER_SECOND)
    assert scenario_from_dict({"period": "PT0.5S"}).period == TimeInterval(5_000_000)


def test_sample_keys_match_loosely():
    s = scenario_from_dict({"samples": {"pendingtasks": [1], "$cpupercent": "1x2",
                                        "ActiveTasks": [], "$UsableNodeCount": ""}})
    assert s.samples == {"$PendingTasks": [1.0], "$CPUPercent": [1.0, 1.0, 1.0],
                         "$ActiveTasks": [], "$UsableNodeCount": []}


def test_notation_is_expanded():
    s = scenario_from_dict({"samples": {"$ActiveTasks": "1+2x3 _x2 9"}})
    assert s.samples["$ActiveTasks"] == [1.0, 3.0, 5.0, 7.0, None, None, 9.0]


def test_seed_accepts_any_integer():
    assert scenario_from_dict({"seed": 0}).seed == 0
    assert scenario_from_dict({"seed": -3}).seed == -3
    assert scenario_from_dict({"seed": 2**70}).seed == 2**70


# ------------------------------------------------------------------ errors name the key


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"tiem": "x"}, "scenario: unknown key 'tiem'; did you mean 'time'?"),
        ({"Time": "2026-03-02"}, "scenario: unknown key 'Time'; did you mean 'time'?"),
        ({"pool": {"CurrentDedicatedNodes": 1}},
         "scenario: pool: unknown key 'CurrentDedicatedNodes'; "
         "did you mean 'currentDedicatedNodes'?"),
        ({"pool": {"current_dedicated": 1}},
         "scenario: pool: unknown key 'current_dedicated'; did you mean 'currentDedicatedNodes'?"),
        ({"samples": {"Foo": [1]}}, "scenario: samples: unknown series variable 'Foo'"),
        ({"samples": {"$CurrentDedicatedNodes": [1]}},
         "scenario: samples: unknown series variable '$CurrentDedicatedNodes'"),
        ({"samples": {"$$PendingTasks": [1]}},
         "scenario: samples: unknown series variable '$$PendingTasks'; "
         "did you mean '$PendingTasks'?"),
        ({"samples": {" PendingTasks": [1]}},
         "scenario: samples: unknown series variable ' PendingTasks'; "
         "did you mean '$PendingTasks'?"),
        ({"samples": {"$PendingTask": [1]}},
         "scenario: samples: unknown series variable '$PendingTask'; "
         "did you mean '$PendingTasks'?"),
        ({"samples": {"PendingTasks": [1], "$pendingTasks": [2]}},
         "scenario: samples: 'PendingTasks' and '$pendingTasks' name the same series "
         "$PendingTasks"),
        ({"samples": [1, 2]},
         "scenario: samples: expected a mapping of series to values, got list"),
        ({"samples": {"$ActiveTasks": 5}},
         "scenario: samples: '$ActiveTasks': expected a "
         "list of numbers and nulls or a series-notation string, got int"),
        ({"samples": {"$ActiveTasks": [1, "2"]}},
         "scenario: samples: '$ActiveTasks': item 2: expected a number or null, got str '2'"),
        ({"samples": {"$ActiveTasks": [1, True]}},
         "scenario: samples: '$ActiveTasks': item 2: expected a number or null, got bool True"),
        ({"samples": {"$ActiveTasks": [10**400]}},
         f"scenario: samples: '$ActiveTasks': item 1: {10**400!r} is too large for a double"),
        ({"pool": [1]}, "scenario: pool: expected a mapping, got list"),
        ({"pool": {"currentDedicatedNodes": True}},
         "scenario: pool: currentDedicatedNodes: expected a number, got bool True"),
        ({"pool": {"currentDedicatedNodes": "2"}},
         "scenario: pool: currentDedicatedNodes: expected a number, got str '2'"),
        ({"pool": {"taskSlotsPerNode": -1}},
         "scenario: pool: taskSlotsPerNode: must be a finite number >= 0, got -1"),
        ({"pool": {"targetDedicatedNodes": math.inf}},
         "scenario: pool: targetDedicatedNodes: must be a finite number >= 0, got inf"),
        ({"time": "2026-03-02T10:00:00"},
         "scenario: time: expected an ISO-8601 time such as '2026-03-02T10:00:00Z', "
         "got '2026-03-02T10:00:00'"),
        ({"time": "Mon, 06 Oct 2014 10:20:00 GMT"},
         "scenario: time: expected an ISO-8601 time such as '2026-03-02T10:00:00Z', "
         "got 'Mon, 06 Oct 2014 10:20:00 GMT'"),
        ({"time": 5}, "scenario: time: expected an ISO-8601 time such as '2026-03-02T10:00:00Z', "
                      "got 5"),
        ({"period": "30s"}, "scenario: period: expected an ISO-8601 duration such as 'PT30S', "
                            "got '30s'"),
        ({"period": 30}, "scenario: period: expected an ISO-8601 duration such as 'PT30S', got 30"),
        ({"period": "PT0S"}, "scenario: period: must be greater than 0, got 'PT0S'"),
        ({"delay": "-PT1S"}, "scenario: delay: must not be negative, got '-PT1S'"),
        ({"period": "-PT30S"}, "scenario: period: must not be negative, got '-PT30S'"),
        ({"delay": "-"}, "scenario: delay: expected an ISO-8601 duration such as 'PT30S', "
                         "got '-'"),
        ({"delay": "P1W"}, "scenario: delay: expected an ISO-8601 duration such as 'PT30S', "
                           "got 'P1W'"),
        ({"seed": 7.0}, "scenario: seed: expected an integer, got float 7.0"),
        ({"seed": True}, "scenario: seed: expected an integer, got bool True"),
        ({"seed": "7"}, "scenario: seed: expected an integer, got str '7'"),
        ([], "scenario: expected a mapping at the top level, got list"),
    ],
)
def test_errors_name_the_key(doc, message):
    assert error_of(doc) == message


def test_notation_error_names_the_series():
    message = error_of({"samples": {"$ActiveTasks": "1 2 x"}})
    assert message.startswith("scenario: samples: '$ActiveTasks': ")
    assert "'x'" in message


def test_error_key_attribute():
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict({"pool": {"taskSlotsPerNode": "1"}})
    assert info.value.key == "pool.taskSlotsPerNode"
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict({"bogus": 1})
    assert info.value.key is None
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict({"samples": {"$ActiveTasks": [1, "2"]}})
    assert info.value.key == "samples.$ActiveTasks"


# ------------------------------------------------------------------ the store


def test_store_anchors_the_last_sample_at_now():
    """docs/language.md#worked-window-example: the last value is stamped at T; with delay 60 s the
    two newest are not visible."""
    s = scenario_from_dict({"samples": {"$PendingTasks": "3 4 5 6 7 8 9 10"}, "delay": "PT60S"})
    store = s.store(T)
    assert store.period == 30 * TICKS_PER_SECOND and store.delay == 60 * TICKS_PER_SECOND
    assert store.latest("$PendingTasks", 8, T.ticks).tolist() == [3, 4, 5, 6, 7, 8]
    assert store.count("$PendingTasks", T.ticks) == 6
    assert format_timestamp(type(T)(store.history_begin("$PendingTasks", T.ticks))) == \
        "2026-03-02T09:56:30.000Z"
    window = store.window("$PendingTasks", T.ticks - 180 * TICKS_PER_SECOND, T.ticks, T.ticks)
    assert window.values.tolist() == [5, 6, 7, 8]
    assert format(window.percent, ".4f") == "66.6667"


def test_store_follows_the_effective_time():
    """``--time`` overrides ``time``; the samples move with it."""
    s = scenario_from_dict({"time": "2026-01-01T00:00:00Z", "samples": {"ActiveTasks": [1, 2]}})
    store = s.store(T)
    assert store.latest("$ActiveTasks", 2, T.ticks).tolist() == [1, 2]
    assert store.history_begin("$ActiveTasks", T.ticks) == T.ticks - 30 * TICKS_PER_SECOND


def test_store_missing_samples_and_period():
    s = scenario_from_dict({"samples": {"CPUPercent": [10, 20, None, 40]}, "period": "PT1M"})
    store = s.store(T)
    assert store.latest("$CPUPercent", math.inf, T.ticks).tolist() == [10, 20, 40]
    assert store.history_begin("$CPUPercent", T.ticks) == T.ticks - 3 * 60 * TICKS_PER_SECOND
    assert store.count("$PendingTasks", T.ticks) == 0


# ------------------------------------------------------------------ files


def test_load_json(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(SPEC_EXAMPLE), encoding="utf-8")
    assert load_scenario(path) == scenario_from_dict(SPEC_EXAMPLE)
    assert load_scenario(str(path)) == scenario_from_dict(SPEC_EXAMPLE)


def test_load_json_with_bom(tmp_path):
    path = tmp_path / "s.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"seed": 3}).encode())
    assert load_scenario(path).seed == 3


YAML_EXAMPLE = """\
time: 2026-03-02T10:00:00Z   # unquoted: must stay a string, not a datetime
pool:
  currentDedicatedNodes: 2
  currentLowPriorityNodes: 0
  targetDedicatedNodes: 2
  targetLowPriorityNodes: 0
  taskSlotsPerNode: 1
samples:
  $PendingTasks: 0 1 2 _ 4
  CPUPercent: [10, 20, null, 40]
period: PT30S
delay: PT0S
seed: 7
"""


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".txt", ""])
def test_load_yaml(tmp_path, suffix):
    path = tmp_path / f"scenario{suffix}"
    path.write_text(YAML_EXAMPLE, encoding="utf-8")
    assert load_scenario(path) == scenario_from_dict(SPEC_EXAMPLE)


def test_yaml_scalars_mean_what_json_means(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("time: 2026-03-02\nsamples:\n  CPUPercent: [1e3, -2E-1, .5, 1_0]\n",
                    encoding="utf-8")
    s = load_scenario(path)
    assert s.time == parse_time_string("2026-03-02")
    assert s.samples["$CPUPercent"] == [1000.0, -0.2, 0.5, 10.0]


def test_yaml_loader_leaves_pyyaml_untouched(tmp_path):
    import yaml

    path = tmp_path / "s.yaml"
    path.write_text("time: 2026-03-02T10:00:00Z\n", encoding="utf-8")
    load_scenario(path)
    assert not isinstance(yaml.safe_load("t: 2026-03-02T10:00:00Z")["t"], str)
    assert yaml.safe_load("x: 1e3")["x"] == "1e3"


def test_empty_yaml_is_empty_scenario(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("# nothing\n", encoding="utf-8")
    assert load_scenario(path) == Scenario()


def test_other_suffix_tries_json_first(tmp_path):
    path = tmp_path / "scenario.conf"
    path.write_text('{"seed": 5, "period": "PT1M"}', encoding="utf-8")
    assert load_scenario(path).seed == 5


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("s.json", '{"seed": 1, "seed": 2}', "key 'seed' appears twice"),
        ("s.yaml", "seed: 1\nseed: 2\n", "key 'seed' appears twice"),
        ("s.yaml", "samples:\n  CPUPercent: [1]\n  CPUPercent: [2]\n",
         "key 'CPUPercent' appears twice"),
        ("s.json", '{"seed": 1,}', "invalid JSON at line 1"),
        ("s.json", "", "invalid JSON at line 1, column 1"),
        ("s.yaml", "seed: [1\n", "invalid YAML"),
        ("s.yaml", "- 1\n- 2\n", "expected a mapping at the top level, got list"),
        ("s.txt", "{seed: [", "invalid YAML"),
        ("s.yaml", "pool:\n  currentDedicatedNodes: yes\n",
         "pool: currentDedicatedNodes: expected a number, got bool True"),
        ("s.json", '{"samples": {"Foo": []}}', "scenario: samples: unknown series variable 'Foo'"),
    ],
)
def test_file_errors(tmp_path, name, text, fragment):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert fragment in str(info.value)
    assert str(info.value).startswith("scenario: ")


def test_unreadable_files(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.json")
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path)
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"time": "\xe9"}')
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_scenario(bad)
