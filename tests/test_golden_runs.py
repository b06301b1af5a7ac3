"""The simulator's outputs do not move while its engine is reshaped (tests/golden_cases.py).

The engine's rules are being given seams for a live clock; every such step must leave each
simulated run byte for byte the same: the event log, the report, the timeline and the
autoscale runs. The digests were written from the engine before the change.
"""

from __future__ import annotations

import json

import pytest

import golden_cases

EXPECTED = json.loads(golden_cases.DIGESTS.read_text())


def test_every_case_has_a_digest():
    assert sorted(EXPECTED) == sorted(golden_cases.cases())


@pytest.mark.parametrize("name", sorted(golden_cases.cases()))
def test_run_is_unchanged(name):
    assert golden_cases.digest(golden_cases.cases()[name]) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(golden_cases.cases()))
def test_general_paths_give_the_same_run(name):
    # the live engine takes no inlined fast path; its decisions must still be these
    assert golden_cases.digest(golden_cases.cases()[name], general_paths=True) == EXPECTED[name]
