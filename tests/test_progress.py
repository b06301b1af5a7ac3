"""Progress on standard error (runtime/progress.py): read and simulated, drawn only on a
terminal unless --progress asks for it, and never on standard output."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from poolscale.runtime.cli import main
from poolscale.runtime.progress import ProgressDisplay

ROOT = Path(__file__).resolve().parent.parent
POOL = str(ROOT / "examples" / "pool.json")
SMALL = "submit_time,duration,slots\n0,600,1\n60,600,2\n120,1200,1\n900,300,1\n"

#: what --progress writes for SMALL over two hours, away from a terminal
LINES = ["progress: reading {w}: 25%", "progress: reading {w}: 50%",
         "progress: reading {w}: 75%", "progress: reading {w}: 100%",
         *(f"progress: simulating pool formula: {p}% of simulated time"
           for p in range(10, 101, 10))]


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def small(tmp_path) -> str:
    p = tmp_path / "small.csv"
    p.write_text(SMALL, encoding="utf-8")
    return str(p)


def run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_progress_asked_for_is_one_line_a_tenth_on_standard_error(capsys, small):
    code, out, err = run(capsys, ["simulate", "--pool", POOL, "--workload", small,
                                  "--horizon", "2h", "--progress"])
    assert code == 0
    assert err.splitlines() == [line.format(w=small) for line in LINES]
    assert "progress:" not in out and "% of simulated time" not in out


def test_json_output_stays_json_with_progress(capsys, small):
    code, out, err = run(capsys, ["simulate", "--pool", POOL, "--workload", small,
                                  "--horizon", "2h", "--json", "--progress"])
    assert code == 0
    assert json.loads(out)["tasks"]["submitted"] == 4
    assert err.splitlines()[0] == f"progress: reading {small}: 25%"


def test_no_progress_off_a_terminal_unless_asked(capsys, small):
    for extra in ([], ["--no-progress"], ["--json"]):
        code, _, err = run(capsys, ["simulate", "--pool", POOL, "--workload", small,
                                    "--horizon", "2h", *extra])
        assert (code, err) == (0, "")


def test_compare_reads_with_progress_once(capsys, small):
    code, _, err = run(capsys, ["compare", "--pool", POOL, "--workload", small, "--horizon",
                                "2h", "--formula", str(ROOT / "examples" / "autoscale.formula"),
                                "--progress"])
    assert code == 0
    lines = err.splitlines()
    assert [ln for ln in lines if "reading" in ln] == [ln.format(w=small) for ln in LINES[:4]]
    assert sum("simulating" in ln and ": 100%" in ln for ln in lines) == 2


def test_progress_and_no_progress_exclude_each_other(capsys, small):
    code, out, err = run(capsys, ["simulate", "--pool", POOL, "--workload", small, "--progress",
                                  "--no-progress"])
    assert (code, out) == (2, "")
    assert err.endswith("poolscale simulate: error: argument --no-progress: not allowed with "
                        "argument --progress\n")


def test_lines_pass_each_tenth_once_and_say_how_far():
    stream = io.StringIO()
    display = ProgressDisplay("reading w.csv", "", "on", stream=stream)
    for done in (1, 3, 9, 10, 11, 50, 99, 100):
        display(done, 100)
    display.close()
    assert stream.getvalue().splitlines() == [f"progress: reading w.csv: {p}%"
                                              for p in (10, 50, 99, 100)]


def test_a_terminal_gets_a_bar_at_once_when_asked_and_after_half_a_second_by_default():
    asked, default = Terminal(), Terminal()
    for stream, mode in ((asked, "on"), (default, "auto")):
        display = ProgressDisplay("reading w.csv", "", mode, stream=stream)
        display(5, 10)
        display.close()
    assert "reading w.csv" in asked.getvalue() and "progress:" not in asked.getvalue()
    assert default.getvalue() == ""      # a quick step stays quiet


def test_off_draws_nothing_even_on_a_terminal():
    stream = Terminal()
    display = ProgressDisplay("reading w.csv", "", "off", stream=stream)
    display(5, 10)
    display.close()
    assert stream.getvalue() == ""
