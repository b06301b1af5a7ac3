"""What the simulator tells its user (issue 10 §2): durations read the same wherever they are
written, and what became of the user's request is said in the user's terms."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from poolscale.runtime.cli import main
from poolscale.scheduler.documents import InputFileError, read_pool
from poolscale.scheduler.simulate import horizon_seconds, simulate
from poolscale.scheduler.workload import load_workload_file, read_csv

T0 = "2026-03-02T00:00:00Z"


def run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def pool_doc(**fields) -> dict:
    return {"id": "p", "vmSize": "STANDARD_D2s_v3", "taskSlotsPerNode": 1,
            "targetDedicatedNodes": 1, **fields}


# --------------------------------------------------------------------------------------------
# durations: one reader for --horizon, pool files, workload files and generators
# --------------------------------------------------------------------------------------------

#: every form, with the seconds it means
FORMS = [
    ("5400", 5400.0), ("90m", 5400.0), ("1.5h", 5400.0), ("1.5 H", 5400.0), ("PT90M", 5400.0),
    ("pt1h30m", 5400.0), ("1:30:00", 5400.0), ("2d", 172_800.0), ("P2D", 172_800.0),
    ("2 days, 0:00:00", 172_800.0), ("1w", 604_800.0), ("45s", 45.0), ("0:00:45.5", 45.5),
]


@pytest.mark.parametrize("text, seconds", FORMS)
def test_every_duration_form_reads_the_same_in_every_place(tmp_path, text, seconds):
    assert horizon_seconds(text) == seconds
    pool = read_pool(write(tmp_path, "p.json", json.dumps(pool_doc(
        simulation={"bootTime": text, "horizon": text, "samples": {"delay": text}}))))
    sim = pool.simulation
    assert (sim.boot_time.value, sim.horizon, sim.samples.delay) == (seconds,) * 3
    csv = read_csv(f"submit_time,duration\n0,\"{text}\"\n", "w.csv").workload
    assert csv.jobs[0].tasks[0].duration == seconds
    js = load_workload_file(write(tmp_path, "w.json", json.dumps(
        {"tasks": [{"id": "t", "duration": text}]}))).workload
    assert js.jobs[0].tasks[0].duration == seconds
    gen = load_workload_file(write(tmp_path, "g.json", json.dumps(
        {"generator": {"kind": "poisson", "ratePerHour": 60, "count": 2,
                       "duration": text}})), seed=1).workload
    assert [t.duration for t in gen.jobs[0].tasks] == [seconds, seconds]


@pytest.mark.parametrize("value, message", [
    ("-5h", "--horizon: must be more than 0, got '-5h'"),
    ("-PT5H", "--horizon: must be more than 0, got '-PT5H'"),
    ("-0:15:00", "--horizon: must be more than 0, got '-0:15:00'"),
    ("0", "--horizon: must be more than 0, got '0'"),
    ("PT0S", "--horizon: must be more than 0, got 'PT0S'"),
    ("soon", "--horizon: cannot read 'soon' as a duration (use e.g. 600, 90m, 36h, 7d, PT36H "
             "or 0:15:00)"),
    ("nan", "--horizon: cannot read 'nan' as a duration (use e.g. 600, 90m, 36h, 7d, PT36H "
            "or 0:15:00)"),
])
def test_a_bad_horizon_is_one_line_and_exit_2(capsys, tmp_path, value, message):
    pool = write(tmp_path, "p.json", json.dumps(pool_doc()))
    work = write(tmp_path, "w.csv", "submit_time,duration\n0,60\n")
    for argv in (["--horizon", value], [f"--horizon={value}"]):
        code, out, err = run(capsys, ["simulate", "--pool", pool, "--workload", work] + argv)
        assert (code, out, err) == (2, "", f"poolscale: {message}\n")


@pytest.mark.parametrize("value, message", [
    (0, "must be more than 0, got 0"),
    ("-5h", "must be more than 0, got '-5h'"),
    ("soon", "cannot read 'soon' as a duration (use e.g. 600, 90m, 36h, 7d, PT36H or 0:15:00)"),
])
def test_a_bad_horizon_in_the_pool_file_names_its_line(tmp_path, value, message):
    path = write(tmp_path, "p.json", json.dumps(pool_doc(simulation={"horizon": value}),
                                                indent=1))
    with pytest.raises(InputFileError) as e:
        read_pool(path)
    assert str(e.value) == f"{path}:7: simulation.horizon: {message}"


@pytest.mark.parametrize("value, message", [
    (0, "horizon: must be more than 0, got 0"),
    (dt.timedelta(hours=-1), "horizon: must be more than 0, got -3600"),
    ("-5h", "horizon: must be more than 0, got '-5h'"),
])
def test_the_library_refuses_the_same_horizons(value, message):
    with pytest.raises(ValueError) as e:
        simulate(pool_doc(), {"tasks": [{"id": "t", "duration": 60}]}, start=T0, horizon=value)
    assert str(e.value) == message


@pytest.mark.parametrize("text, message", [
    ("-5m", "a duration must be 0 or more, got '-5m'"),
    ("5x", "cannot read '5x' as a duration (use e.g. 600, 90m, 36h, 7d, PT36H or 0:15:00)"),
])
def test_a_bad_csv_duration_reads_as_in_every_other_file(text, message):
    with pytest.raises(InputFileError) as e:
        read_csv(f"submit_time,duration\n0,{text}\n", "w.csv")
    assert str(e.value) == f"w.csv:2: duration: {message}"
