"""Messages read the same in every command: counts (check, test, simulate and compare share
one rule) and a file that cannot be read."""

from pathlib import Path

import pytest

from poolscale.runtime import report, simview
from poolscale.runtime.cli import main
from poolscale.runtime.commands import test as test_command
from poolscale.runtime.wording import counted

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_a_count_takes_its_noun_in_the_number_it_needs():
    assert counted(1, "node") == "1 node"
    assert counted(0, "node") == "0 nodes"
    assert counted(1024, "task") == "1,024 tasks"
    assert counted(2, "class", "classes") == "2 classes"


def test_every_summary_uses_the_one_rule():
    assert report.counted is simview.counted is test_command.counted is counted



@pytest.mark.parametrize("argv, prefix", [
    (["eval", "{nx}.formula"], ""),
    (["check", "{nx}.formula"], ""),
    (["fmt", "{nx}.formula"], ""),
    (["explain", "{nx}.formula"], ""),
    (["test", "{nx}.yaml"], ""),
    (["simulate", "--pool", "{nx}.json", "--workload", str(EXAMPLES / "workload.csv")], ""),
    (["eval", str(EXAMPLES / "autoscale.formula"), "--scenario", "{nx}.json"], "scenario: "),
])
def test_every_command_says_a_missing_file_the_same_way(argv, prefix, tmp_path, capsys):
    nx = str(tmp_path / "nothere")
    code = main([a.format(nx=nx) for a in argv])
    missing = next(a.format(nx=nx) for a in argv if "{nx}" in a)
    assert (code, capsys.readouterr().err) == (
        2, f"poolscale: {prefix}{missing}: cannot read: No such file or directory\n")
