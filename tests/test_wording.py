"""Counts read the same in every summary: check, test, simulate and compare share one rule."""

from poolscale.runtime import report, simview
from poolscale.runtime.commands import test as test_command
from poolscale.runtime.wording import counted


def test_a_count_takes_its_noun_in_the_number_it_needs():
    assert counted(1, "node") == "1 node"
    assert counted(0, "node") == "0 nodes"
    assert counted(1024, "task") == "1,024 tasks"
    assert counted(2, "class", "classes") == "2 classes"


def test_every_summary_uses_the_one_rule():
    assert report.counted is simview.counted is test_command.counted is counted
