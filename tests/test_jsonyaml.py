"""The YAML loader every value-bearing input shares (poolscale.metrics.jsonyaml)."""

from __future__ import annotations

import pytest
import yaml

from poolscale.metrics.jsonyaml import DuplicateKeyError, json_like_loader
from poolscale.runtime.yamllines import YamlError, load_yaml


def load(text: str):
    return yaml.load(text, Loader=json_like_loader())  # noqa: S506 - a SafeLoader subclass


def test_scalars_mean_what_json_would():
    assert load("t: 2026-03-02T10:00:00Z\nn: 1e3\nm: 1.5e-3\n") == {
        "t": "2026-03-02T10:00:00Z", "n": 1000.0, "m": 0.0015}


@pytest.mark.parametrize("text, key, line, first", [
    ("a: 1\nb:\n  c: 1\n  c: 2\n", "c", 4, 3),
    ('a: 1\n"a": 2\n', "a", 2, 1),                          # quoting does not make a new key
    ("base: &b {k: 0}\ny:\n  <<: *b\n  m: 1\n  m: 2\n", "m", 5, 4),
    ("1: a\n01: b\n", "01", 2, 1),                          # the same integer key
    ("~: a\nnull: b\n", "null", 2, 1),
])
def test_a_repeated_key_is_an_error_with_both_lines(text, key, line, first):
    with pytest.raises(DuplicateKeyError) as e:
        load(text)
    assert (e.value.key, e.value.line, e.value.first_line) == (key, line, first)
    with pytest.raises(YamlError) as y:
        load_yaml(text)
    assert (y.value.line, y.value.message) == (
        line, f"key {key!r} appears twice in one mapping (first on line {first})")


MERGE_OVER_MERGE = """\
jobs:
  - id: a
    constraints: &jc {maxTaskRetryCount: 1}
    tasks:
      - id: t1
        constraints: &tc {<<: *jc, maxTaskRetryCount: 2}
  - id: b
    constraints:
      <<: *tc
      maxTaskRetryCount: 3
"""


def test_keys_a_merge_overrides_are_not_repeats():
    # PyYAML copies merged keys into a merge source when another mapping merges it first; the
    # source's own override must not then look like a second copy of the key
    doc = load(MERGE_OVER_MERGE)
    assert doc["jobs"][0]["tasks"][0]["constraints"] == {"maxTaskRetryCount": 2}
    assert doc["jobs"][1]["constraints"] == {"maxTaskRetryCount": 3}
    assert load_yaml(MERGE_OVER_MERGE)["jobs"][1]["constraints"] == {"maxTaskRetryCount": 3}


def test_an_integer_key_and_a_string_key_are_different_keys():
    assert load('1: a\n"1": b\n') == {1: "a", "1": "b"}
