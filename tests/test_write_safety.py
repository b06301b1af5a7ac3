"""No write destroys data: every file a command writes is replaced whole or left as it was, and
an interrupted run says what it wrote and what it did not (runtime/atomicwrite.py,
runtime/outputs.py).

A full disk and Ctrl-C are faked by tests/faultydisk.py; one test fills a real 16 KiB tmpfs when
this machine lets it mount one, and one sends real signals to a `poolscale simulate` process.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faultydisk import FaultyDisk
from poolscale.formula.formatter import format_text
from poolscale.runtime.cli import main
from poolscale.runtime.outputs import OutputFiles, names_text
from poolscale.runtime.repl import ReplSession
from poolscale.runtime.scenario import scenario_from_dict

ROOT = Path(__file__).resolve().parent.parent
POOL = str(ROOT / "examples" / "pool.json")
BUSY_FORMULA = ROOT / "examples" / "busy-pool.formula"
BUSY_TESTS = ROOT / "examples" / "busy-pool.test.yaml"

#: 3,490 bytes that format to 5,990: larger than one 4 KiB block, as in the report of the bug
UGLY = "".join(f"value{i}=1+2+3+4+5+6+7+8+9+10+11+12;" for i in range(100))
OLD = b"old content, which must survive\n"
SMALL = "submit_time,duration,slots\n0,600,1\n60,600,2\n120,1200,1\n900,300,1\n"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def here(tmp_path, monkeypatch):
    """tmp_path as the working directory, so messages name files as a user types them."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "small.csv").write_text(SMALL)
    return tmp_path


def leftovers(directory) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.endswith(".tmp"))


# -- the interrupt line -------------------------------------------------------------------------

def test_the_interrupt_line_names_what_was_and_was_not_written():
    files = OutputFiles(["a", None, "b", "c", "d", "e", "f", "g"], verb="reformatted")
    assert files.interrupted_line() == "interrupted: a, b, c, d and 3 more not reformatted"
    files._commit("a")
    files.skip("b")
    assert files.interrupted_line() == (
        "interrupted: a reformatted; c, d, e, f and g not reformatted")
    assert OutputFiles([]).interrupted_line() == "interrupted"
    assert names_text(["x"]) == "x" and names_text(["x", "y"]) == "x and y"


# -- fmt ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EIO], ids=["ENOSPC", "EIO"])
def test_fmt_on_a_full_disk_leaves_the_formula_whole(capsys, here, error):
    f = here / "big.formula"
    f.write_text(UGLY)
    assert len(UGLY) < 4096 < len(format_text(UGLY))
    with FaultyDisk(here, free=4096, error=error):
        code, out, err = run(capsys, "fmt", "big.formula")
    assert f.read_bytes() == UGLY.encode()
    assert (code, out) == (2, "")
    assert err == (f"poolscale: cannot write big.formula: {os.strerror(error)}; the file is "
                   "unchanged\n")
    assert leftovers(here) == []


def test_fmt_keeps_the_mode_and_rewrites_through_a_symlink(capsys, here):
    f = here / "a.formula"
    f.write_text(UGLY)
    f.chmod(0o644)
    (here / "link.formula").symlink_to("a.formula")
    code, _, err = run(capsys, "fmt", "link.formula")
    assert (code, err) == (0, "reformatted: link.formula\n")
    assert stat.S_IMODE(f.stat().st_mode) == 0o644  # not the 0600 of a temporary file
    assert (here / "link.formula").is_symlink() and f.read_text() == format_text(UGLY)


def test_fmt_interrupted_names_the_files_reformatted_before(capsys, here):
    names = ["a.formula", "b.formula", "c.formula", "d.formula"]
    for name in names:
        (here / name).write_text(UGLY)
    (here / "b.formula").write_text(format_text(UGLY))  # nothing to do for this one
    with FaultyDisk(here, interrupt_after=len(format_text(UGLY)) + 1000):
        code, out, err = run(capsys, "fmt", *names)
    assert (code, out) == (130, "")
    assert err == ("reformatted: a.formula\n"
                   "poolscale: interrupted: a.formula reformatted; c.formula and d.formula not "
                   "reformatted\n")
    assert (here / "a.formula").read_text() == format_text(UGLY)
    assert (here / "c.formula").read_text() == UGLY == (here / "d.formula").read_text()
    assert leftovers(here) == []


# -- simulate, compare --------------------------------------------------------------------------

SIM = ["simulate", "--pool", POOL, "--workload", "small.csv", "--horizon", "2h", "--no-progress"]


@pytest.mark.parametrize("option, name, what", [
    ("--report-json", "r.json", "the report"),
    ("--timeline", "t.csv", "the timeline"),
    ("--plot", "p.png", "the plot"),
])
def test_simulate_on_a_full_disk_leaves_the_old_output(capsys, here, option, name, what):
    import matplotlib.pyplot  # noqa: F401  (its caches are set up before the disk fills)

    (here / name).write_bytes(OLD)
    with FaultyDisk(here, free=1000):
        code, out, err = run(capsys, *SIM, option, name)
    assert (code, out) == (2, "")
    assert err == f"poolscale: cannot write {what} {name}: No space left on device\n"
    assert (here / name).read_bytes() == OLD
    assert leftovers(here) == []


def test_compare_plot_on_a_full_disk_leaves_the_old_plot(capsys, here):
    import matplotlib.pyplot  # noqa: F401

    (here / "c.png").write_bytes(OLD)
    with FaultyDisk(here, free=4096):
        code, _, err = run(capsys, "compare", "--pool", POOL, "--workload", "small.csv",
                           "--horizon", "2h", "--no-progress", "--formula", str(BUSY_FORMULA),
                           "--plot", "c.png")
    assert (code, err) == (2, "poolscale: cannot write the plot c.png: No space left on device\n")
    assert (here / "c.png").read_bytes() == OLD
    assert leftovers(here) == []


def test_simulate_interrupted_while_writing_says_what_it_wrote(capsys, here):
    for name in ("t.csv", "p.png"):
        (here / name).write_bytes(OLD)
    with FaultyDisk(here, interrupt_after=20_000):  # the report is ~2.5 KB
        code, out, err = run(capsys, *SIM, "--report-json", "r.json", "--timeline", "t.csv",
                             "--plot", "p.png")
    assert (code, out) == (130, "")
    assert err == "poolscale: interrupted: r.json written; t.csv and p.png not written\n"
    assert json.loads((here / "r.json").read_text())["tasks"]["submitted"] == 4
    assert (here / "t.csv").read_bytes() == OLD == (here / "p.png").read_bytes()
    assert leftovers(here) == []


def test_simulate_interrupted_while_simulating_says_nothing_was_written(capsys, here,
                                                                       monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr("poolscale.runtime.simcli.run_simulation", interrupted)
    code, _, err = run(capsys, *SIM, "--report-json", "r.json", "--timeline", "t.csv")
    assert (code, err) == (130, "poolscale: interrupted: r.json and t.csv not written\n")
    code, _, err = run(capsys, *SIM)
    assert (code, err) == (130, "poolscale: interrupted\n")
    assert sorted(os.listdir(here)) == ["small.csv"]


# -- test --junit -------------------------------------------------------------------------------

@pytest.fixture
def busy_tests(here):
    shutil.copy(BUSY_FORMULA, here)
    shutil.copy(BUSY_TESTS, here)
    return BUSY_TESTS.name


def test_junit_on_a_full_disk_leaves_the_old_report(capsys, here, busy_tests):
    (here / "j.xml").write_bytes(OLD)
    with FaultyDisk(here, free=100):
        code, _, err = run(capsys, "test", busy_tests, "--junit", "j.xml")
    assert (code, err) == (2, "poolscale: --junit: cannot write j.xml: No space left on device\n")
    assert (here / "j.xml").read_bytes() == OLD
    assert leftovers(here) == []


def test_junit_interrupted_says_it_was_not_written(capsys, here, busy_tests):
    (here / "j.xml").write_bytes(OLD)
    with FaultyDisk(here, interrupt_after=100):
        code, _, err = run(capsys, "test", busy_tests, "--junit", "j.xml")
    assert (code, err) == (130, "poolscale: interrupted: j.xml not written\n")
    assert (here / "j.xml").read_bytes() == OLD
    assert leftovers(here) == []


# -- the REPL's :save ---------------------------------------------------------------------------

def test_repl_save_on_a_full_disk_leaves_the_old_file(here):
    s = ReplSession(scenario_from_dict({}))
    for i in range(50):
        s.handle(f"value{i} = {i} * 1000;")
    (here / "s.formula").write_bytes(OLD)
    with FaultyDisk(here, free=100):
        reply = s.handle(":save s.formula")
    assert reply.lines == ["error: cannot write s.formula: No space left on device"]
    assert (here / "s.formula").read_bytes() == OLD
    assert leftovers(here) == []
    assert s.handle(":save s.formula").lines == ["saved 50 input(s) to s.formula"]
    assert (here / "s.formula").read_text() == s.source


def test_repl_save_interrupted_leaves_the_old_file(here):
    s = ReplSession(scenario_from_dict({}))
    s.handle("x = 1;")
    (here / "s.formula").write_bytes(OLD)
    with FaultyDisk(here, interrupt_after=3):
        with pytest.raises(KeyboardInterrupt):
            s.handle(":save s.formula")
    assert (here / "s.formula").read_bytes() == OLD
    assert leftovers(here) == []


# -- real signals, a real full file system ------------------------------------------------------

def _ctrl_c_reaches_python() -> None:
    # A shell that started the test run in the background leaves SIGINT ignored, and a child
    # would inherit that; a user's Ctrl-C reaches a foreground process.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_writing_a_large_timeline(here, signum, status):
    """A 40-day run writes a timeline of 115,000 rows (about a second of writing): signal the
    process once its temporary file is there."""
    (here / "t.csv").write_bytes(OLD)
    proc = subprocess.Popen(
        [sys.executable, "-m", "poolscale.runtime.cli", "simulate", "--pool", POOL,
         "--workload", "small.csv", "--horizon", "40d", "--no-progress",
         "--report-json", "r.json", "--timeline", "t.csv", "--plot", "p.png"],
        cwd=here, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=_ctrl_c_reaches_python)
    try:
        deadline = time.monotonic() + 120
        while not glob.glob(str(here / ".t.csv.*.tmp")):
            assert proc.poll() is None, "simulate ended before it wrote its timeline"
            assert time.monotonic() < deadline, "no temporary timeline file appeared"
            time.sleep(0.005)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == status
    assert err == "poolscale: interrupted: r.json written; t.csv and p.png not written\n"
    assert (here / "t.csv").read_bytes() == OLD
    assert sorted(os.listdir(here)) == ["r.json", "small.csv", "t.csv"]


def test_an_output_to_dev_stdout_is_written_to_the_pipe(here):
    done = subprocess.run([sys.executable, "-m", "poolscale.runtime.cli", *SIM, "--json",
                           "--report-json", "/dev/stdout"], cwd=here, capture_output=True,
                          text=True, timeout=120)
    assert (done.returncode, done.stderr) == (0, "")
    report = json.JSONDecoder().raw_decode(done.stdout)[0]  # the file, then --json's copy
    assert report["tasks"]["submitted"] == 4
    assert sorted(os.listdir(here)) == ["small.csv"]


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 16 KiB tmpfs (four pages), or a skip where this process may not mount one."""
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(disk)],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"cannot mount a tmpfs: {e}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True, timeout=30)


def test_fmt_on_a_real_full_tmpfs_leaves_the_formula_whole(capsys, tiny_tmpfs, monkeypatch):
    monkeypatch.chdir(tiny_tmpfs)
    f = tiny_tmpfs / "big.formula"
    f.write_text(UGLY)                                   # one page
    (tiny_tmpfs / "filler").write_bytes(b"x" * 3 * 4096)  # the other three: the disk is full
    code, out, err = run(capsys, "fmt", "big.formula")
    assert f.read_bytes() == UGLY.encode()
    assert (code, out) == (2, "")
    assert err == ("poolscale: cannot write big.formula: No space left on device; the file is "
                   "unchanged\n")
    assert sorted(os.listdir(tiny_tmpfs)) == ["big.formula", "filler"]
    os.unlink(tiny_tmpfs / "filler")  # room for the new file beside the old: formatted whole
    assert run(capsys, "fmt", "big.formula")[0] == 0
    assert f.read_text() == format_text(UGLY)
