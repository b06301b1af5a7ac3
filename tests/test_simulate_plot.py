"""What `simulate --plot` and `compare --plot` draw, read from the figure's artists (never from
pixels): the workload's demand, nodes by kind, preemptions, the autoscale strip, count axes, and
byte-identical files for equal runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from poolscale.runtime.cli import main

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples"
POOL = str(EX / "pool.json")
SPOT_POOL = str(EX / "low-priority-pool.json")
CSV = str(EX / "workload.csv")
AUTOSCALE, BUSY = str(EX / "autoscale.formula"), str(EX / "busy-pool.formula")

#: three multi-slot tasks on 4-slot nodes: slots held 4, 6, 9, 5, 3, 0 from 0, 60, 120, 600,
#: 660 and 1320 s, so 1, 2, 3, 2, 1, 0 nodes if none waited
WIDE = "submit_time,duration,slots\n0,600,4\n60,600,2\n120,1200,3\n"
WIDE_HOURS = [t / 3600 for t in (0, 60, 120, 600, 660, 1320, 3600)]
WIDE_NODES = [1, 2, 3, 2, 1, 0, 0]


@pytest.fixture
def figures(monkeypatch):
    """Every figure the command saves, kept for reading after it is written."""
    from matplotlib.figure import Figure

    saved = []
    real = Figure.savefig

    def keep(self, *args, **kwargs):
        saved.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return saved


def plot(capsys, figures, argv):
    code = main(argv + ["--no-progress"])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert len(figures) == 1
    return figures.pop()


def labelled(ax, prefix):
    """The artists of ``ax`` whose legend label starts with ``prefix``."""
    return [a for a in ax.get_children() if str(a.get_label()).startswith(prefix)]


def lines(ax, prefix):
    from matplotlib.lines import Line2D

    return [a for a in labelled(ax, prefix) if isinstance(a, Line2D)]


@pytest.fixture
def wide(tmp_path):
    p = tmp_path / "wide.csv"
    p.write_text(WIDE, encoding="utf-8")
    return str(p)


def test_the_demand_line_is_the_workloads_under_any_formula(capsys, figures, wide):
    demands = []
    for formula in (AUTOSCALE, BUSY):
        fig = plot(capsys, figures, ["simulate", "--pool", POOL, "--workload", wide, "--horizon",
                                     "1h", "--formula", formula,
                                     "--plot", str(Path(wide).with_suffix(".png"))])
        (demand,) = lines(fig.axes[0], "demand")
        demands.append((list(demand.get_xdata()), list(demand.get_ydata())))
    assert demands[0] == demands[1] == (WIDE_HOURS, WIDE_NODES)


def test_compare_draws_the_demand_once(capsys, figures, wide, tmp_path):
    fig = plot(capsys, figures, ["compare", "--pool", POOL, "--workload", wide, "--horizon", "1h",
                                 "--formula", AUTOSCALE, "--formula", BUSY,
                                 "--plot", str(tmp_path / "c.png")])
    top = fig.axes[0]
    (demand,) = lines(top, "demand")
    assert (list(demand.get_xdata()), list(demand.get_ydata())) == (WIDE_HOURS, WIDE_NODES)
    assert demand.get_label() == "demand: the workload's tasks if none waited (4 slots per node)"
    assert [a.get_label() for a in lines(top, "autoscale.formula")] == \
        ["autoscale.formula: dedicated nodes"]
    assert [a.get_label() for a in lines(top, "busy-pool.formula")] == \
        ["busy-pool.formula: dedicated nodes"]


def spot_run():
    """The low-priority example through the library, with its event log: what the plot of the
    same inputs must show."""
    from poolscale.scheduler.simulate import simulate
    from poolscale.scheduler.workload import read_workload

    pool = json.loads(Path(SPOT_POOL).read_text(encoding="utf-8"))
    return simulate(pool, read_workload(CSV))


def test_dedicated_and_low_priority_drawn_apart_and_preemptions_marked(capsys, figures, tmp_path):
    timeline = tmp_path / "t.csv"
    fig = plot(capsys, figures, ["simulate", "--pool", SPOT_POOL, "--workload", CSV,
                                 "--timeline", str(timeline),
                                 "--plot", str(tmp_path / "p.png")])
    top = fig.axes[0]
    rows = list(csv.DictReader(timeline.open(encoding="utf-8")))
    dedicated = [int(r["dedicated"]) for r in rows]
    low = [int(r["low_priority"]) for r in rows]
    assert max(low) > 0 and max(dedicated) > 0
    assert [a.get_label() for a in labelled(top, "dedicated")] == ["dedicated nodes"]
    assert [a.get_label() for a in labelled(top, "low-priority")] == ["low-priority nodes"]
    # the stack: dedicated below, dedicated + low-priority on top
    tops = [a for a in top.get_lines() if a.get_gid() in ("dedicated", "low-priority")]
    assert [list(a.get_ydata()) for a in tops] == [dedicated, [d + lp for d, lp in
                                                               zip(dedicated, low)]]

    events = spot_run().events_of("node.preempt")
    assert len(events) >= 2                      # the example's seed preempts several times
    (marks,) = lines(top, "preemptions")
    assert marks.get_label() == f"preemptions ({len(events)})"
    assert list(marks.get_xdata()) == [e[0] / 3600 for e in events]


def test_compare_draws_low_priority_apart_with_its_preemptions(capsys, figures, tmp_path):
    fig = plot(capsys, figures, ["compare", "--pool", SPOT_POOL, "--workload", CSV,
                                 "--formula", AUTOSCALE, "--plot", str(tmp_path / "c.png")])
    top = fig.axes[0]
    assert [a.get_label() for a in lines(top, "pool formula")] == [
        "pool formula: all nodes", "pool formula: low-priority nodes",
        f"pool formula: preemptions ({len(spot_run().events_of('node.preempt'))})"]
    assert [a.get_label() for a in lines(top, "autoscale.formula")] == \
        ["autoscale.formula: dedicated nodes"]


def strip_marks(fig, prefix):
    (marks,) = labelled(fig.axes[1], prefix)
    return sorted({round(seg[0][0] * 3600, 6) for seg in marks.get_segments()}), marks


def test_hundreds_of_evaluations_mark_only_the_target_changes(capsys, figures, tmp_path):
    from poolscale.scheduler.simulate import simulate
    from poolscale.scheduler.workload import read_workload

    fig = plot(capsys, figures, ["simulate", "--pool", POOL, "--workload", CSV,
                                 "--plot", str(tmp_path / "p.png")])
    run = simulate(json.loads(Path(POOL).read_text(encoding="utf-8")), read_workload(CSV))
    changes = [e[0] for e in run.events_of("pool.target")]
    assert len(run.runs) == 361 and 0 < len(changes) < 361
    assert labelled(fig.axes[1], "evaluation (") == []          # not all 361 of them
    times, marks = strip_marks(fig, "evaluation that changed the target")
    assert times == changes
    assert marks.get_label() == f"evaluation that changed the target ({len(changes)} of 361 " \
                                "evaluations)"


def test_few_evaluations_are_all_marked(capsys, figures, tmp_path):
    fig = plot(capsys, figures, ["simulate", "--pool", POOL, "--workload", CSV, "--horizon", "2h",
                                 "--plot", str(tmp_path / "p.png")])
    times, marks = strip_marks(fig, "evaluation (")
    assert times == [300.0 * k for k in range(25)]
    assert marks.get_label() == "evaluation (25)"


def test_a_fixed_pool_says_why_its_strip_is_empty(capsys, figures, tmp_path):
    fig = plot(capsys, figures, ["compare", "--pool", str(EX / "fixed-pool.json"), "--workload",
                                 CSV, "--horizon", "1h", "--formula", AUTOSCALE,
                                 "--plot", str(tmp_path / "c.png")])
    strip = fig.axes[1]
    assert [t.get_text() for t in strip.texts] == [
        "no evaluations: autoscale is off (a fixed pool)"]
    assert strip.texts[0].xy[1] == 0                     # the fixed pool's row, the first
    assert [t.get_text() for t in strip.get_yticklabels()] == ["fixed pool", "autoscale.formula"]
    assert [t.get_text() for t in strip.get_legend().get_texts()] == [
        "evaluation", "evaluation that changed the target"]


def test_a_stretch_of_failed_evaluations_is_one_band(capsys, figures, tmp_path):
    f = tmp_path / "fails.formula"
    f.write_text("$x = $CPUPercent.GetSample(TimeInterval_Hour * 1000);\n"
                 "$TargetDedicatedNodes = 1;\n", encoding="utf-8")
    fig = plot(capsys, figures, ["simulate", "--pool", POOL, "--workload", CSV, "--horizon", "2h",
                                 "--formula", str(f), "--plot", str(tmp_path / "p.png")])
    (band,) = labelled(fig.axes[1], "failed evaluations")
    assert band.get_label() == "failed evaluations (25)"
    (path,) = band.get_paths()
    xs = sorted({round(x * 3600, 6) for x, _ in path.vertices})
    assert xs == [0.0, 7200.0]         # from the first failure to the end of the run

    f.write_text("$x = $CPUPercent.GetSample(TimeInterval_Minute * 30);\n"  # 70 % of 30 min
                 "$TargetDedicatedNodes = 1;\n", encoding="utf-8")
    fig = plot(capsys, figures, ["simulate", "--pool", POOL, "--workload", CSV, "--horizon", "2h",
                                 "--formula", str(f), "--plot", str(tmp_path / "p.png")])
    (band,) = labelled(fig.axes[1], "failed evaluations")
    assert band.get_label() == "failed evaluations (5)"       # at 0, 5, 10, 15 and 20 minutes
    (path,) = band.get_paths()
    assert sorted({round(x * 3600, 6) for x, _ in path.vertices}) == [0.0, 1500.0]


def test_an_all_zero_panel_reads_0_to_1_in_whole_numbers(capsys, figures, tmp_path):
    late = tmp_path / "late.csv"
    late.write_text("submit_time,duration\n7200,60\n", encoding="utf-8")  # after the horizon
    for argv in (["simulate", "--formula", AUTOSCALE], ["compare", "--formula", AUTOSCALE]):
        fig = plot(capsys, figures, argv + ["--pool", POOL, "--workload", str(late), "--horizon",
                                            "1h", "--plot", str(tmp_path / "z.png")])
        for ax in (fig.axes[0], fig.axes[2]):
            low, high = ax.get_ylim()
            assert -0.1 < low <= 0 and 1 <= high < 1.1, (argv[0], ax.get_ylabel(), low, high)
            assert [t for t in ax.get_yticks() if low <= t <= high] == [0, 1]


@pytest.mark.parametrize("kind", ["png", "svg", "svgz", "pdf", "eps"])
def test_equal_runs_write_equal_files(capsys, figures, tmp_path, wide, kind, monkeypatch):
    import datetime
    import time

    from matplotlib.backends import backend_pdf

    written = []
    clock = iter([1_700_000_000.0, 1_800_000_000.0])     # the two files are written years apart
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    for name in ("a", "b"):
        now = next(clock)

        class Today(datetime.datetime):
            @classmethod
            def today(cls, now=now):
                return cls.fromtimestamp(now)

        monkeypatch.setattr(time, "time", lambda: now)                 # gzip
        monkeypatch.setattr(time, "ctime", lambda *_: time.asctime(time.gmtime(now)))  # PS
        monkeypatch.setattr(backend_pdf, "datetime", Today)            # PDF
        out = tmp_path / f"{name}.{kind}"
        plot(capsys, figures, ["simulate", "--pool", POOL, "--workload", wide, "--horizon", "1h",
                               "--plot", str(out)])
        written.append(out.read_bytes())
    assert written[0] == written[1]


def test_a_busy_demand_keeps_its_peaks_in_fewer_steps(capsys, figures, tmp_path):
    from poolscale.runtime.simplot import DEMAND_STEPS

    rows = [f"{2 * k + 0.25},1,1" for k in range(1500)] + ["1000.5,5,40"]   # 3,002 changes
    busy = tmp_path / "busy.csv"
    busy.write_text("submit_time,duration,slots\n" + "\n".join(rows) + "\n", encoding="utf-8")
    pool = json.loads(Path(POOL).read_text(encoding="utf-8"))
    pool["taskSlotsPerNode"] = 8
    (tmp_path / "pool.json").write_text(json.dumps(pool), encoding="utf-8")
    fig = plot(capsys, figures, ["simulate", "--pool", str(tmp_path / "pool.json"), "--workload",
                                 str(busy), "--horizon", "1h", "--plot", str(tmp_path / "p.png")])
    (demand,) = lines(fig.axes[0], "demand")
    assert len(demand.get_xdata()) == DEMAND_STEPS + 1
    assert demand.get_xdata()[-1] == 1.0
    assert sorted(set(demand.get_ydata())) == [0, 1, 6]      # the 5 s spike of 41 slots kept
    assert list(demand.get_ydata()[:4]) == [1, 1, 1, 1]       # a 1 s task in each 1.8 s slice


def test_demand_follows_job_creation_and_job_manager_tasks():
    from poolscale.scheduler.demand import demand_steps
    from poolscale.scheduler.models import load_workload

    workload = load_workload({"jobs": [
        {"id": "a", "creationTime": 100, "jobManagerTask": {"id": "jm", "duration": 30},
         "tasks": [{"id": "t1", "submitTime": 50, "duration": 10, "requiredSlots": 2},
                   {"id": "t2", "submitTime": 200, "duration": 0}]},
        {"id": "b", "jobManagerTask": {"id": "jm", "duration": 5, "requiredSlots": 3},
         "tasks": [{"id": "t", "submitTime": "2026-03-02T00:00:40Z", "duration": 20}]},
    ]})
    from poolscale.formula.timeparse import parse_iso_time

    times, slots = demand_steps(workload, parse_iso_time("2026-03-02T00:00:00Z").ticks)
    assert times.tolist() == [0.0, 40.0, 45.0, 60.0, 100.0, 110.0, 130.0]
    assert slots.tolist() == [0, 4, 1, 0, 3, 1, 0]


def test_demand_of_a_job_schedule_is_one_job_per_due_instant_up_to_the_end():
    from poolscale.scheduler.demand import demand_steps
    from poolscale.scheduler.models import load_workload

    workload = load_workload({"jobSchedules": [{
        "id": "s",
        "schedule": {"doNotRunUntil": 100, "recurrenceInterval": 1000, "doNotRunAfter": 2500},
        "jobSpecification": {
            "jobManagerTask": {"id": "jm", "duration": 30},
            "tasks": [{"id": "t", "submitTime": 10, "duration": 20, "requiredSlots": 2}]}}]})
    times, slots = demand_steps(workload, 0, 5000.0)
    assert times.tolist() == [0.0, 100.0, 110.0, 130.0, 1100.0, 1110.0, 1130.0,
                              2100.0, 2110.0, 2130.0]
    assert slots.tolist() == [0, 1, 3, 0, 1, 3, 0, 1, 3, 0]
    times, slots = demand_steps(workload, 0, 1500.0)          # the run ends before day 3
    assert times.tolist() == [0.0, 100.0, 110.0, 130.0, 1100.0, 1110.0, 1130.0]
