"""Hostile pools and workloads: ``poolscale simulate`` and ``compare`` on random files, valid and
mutated, must end in exit status 0, 1 or 2 with one clear line on a bad file, never a
traceback, and in bounded time.

Each example builds a pool document and a workload (CSV, SWF, JSON or YAML jobs, or a
generator) from plausible values, then, most of the time, damages them: a leaf replaced by an
extreme value (1e308, NaN, 2**63, a 50-digit number, ``PT99999999999H``, a wrong type), a key
dropped or misspelt, the text cut short or given a stray byte. Runs are short (a few simulated
hours, or until a small workload drains).

The size here fits the suite (about 20 s). The suite's run is derandomized: the same cases on
every run, so a failure in CI reproduces by running the test again (a random run once drew a
case that hung a run of the suite, and no later run could say whether a fix held). A longer,
random run is a documented command::

    POOLSCALE_FUZZ_EXAMPLES=5000 POOLSCALE_FUZZ_RANDOM=1 python -m pytest -q -p no:cacheprovider tests/test_simulate_hostile.py
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from poolscale.runtime.cli import main

EXAMPLES = int(os.environ.get("POOLSCALE_FUZZ_EXAMPLES", "350"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                derandomize=not os.environ.get("POOLSCALE_FUZZ_RANDOM"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
#: The longest one example may take (seconds). Typical examples take well under a second.
SLOWEST = 20.0

EXTREMES: list[Any] = [
    1e308, -1e308, -1, 0, 1, 2**31, 2**63, 10**50, 1e-9, 5e-324, "NaN", "Infinity", "-Infinity",
    "PT99999999999H", "P99999999999999999999D", "-PT5M", "", "x", "1e308", None, True, [], {},
    [1, 2], {"kind": "lognormal", "mean": 1e-300, "stddev": 1}, "99999999999999999999 days, 0:00:00",
    "2026-03-02T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
    # valid but extreme: where the engine, not the reader, has to cope
    10**9, 2**31 - 1, -2**31, 3_153_600_000, 922_337_203_685, "P10675199DT2H48M5.4775807S", 0.5,
    {"start": -10**18, "end": 10**18}, {"numberOfInstances": 10**9},
]

#: What replaces a number or a duration, most of the time.
NUMBERS: list[Any] = [
    1e308, 1e308, "1e308", -1, 2**31 - 1, 2**63, 10**50, 1e-9, 5e-324, 0, 922_337_203_685,
    "PT99999999999H", "P10675199DT2H48M5.4775807S", {"kind": "lognormal", "mean": 1e-300, "stddev": 1},
    {"kind": "exponential", "mean": 9e11}, {"kind": "normal", "mean": 0, "stddev": 9e11},
]

FORMULAS = [
    "$TargetDedicatedNodes = 2;",
    "$TargetDedicatedNodes = min(10, $PendingTasks.GetSample(1) / 2);",
    "$TargetDedicatedNodes = 1e308; $TargetLowPriorityNodes = 1e308;",
    "$TargetDedicatedNodes = -5;",
    "$TargetLowPriorityNodes = $CurrentLowPriorityNodes > 0 ? 0 : 20; "
    "$NodeDeallocationOption = requeue;",
    "$s = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5); "
    "$TargetDedicatedNodes = $s < 70 ? 1 : max($PendingTasks.GetSample(TimeInterval_Minute * 5));",
    "$TargetDedicatedNodes = 3; $NodeDeallocationOption = taskcompletion;",
    "$TargetDedicatedNodes = 3; $NodeDeallocationOption = retaineddata;",
    "$TargetDedicatedNodes = rand() * 4; $TargetLowPriorityNodes = $CPUPercent.GetSample(1) / 10;",
    "$TargetDedicatedNodes = (",
]


_SECONDS = st.one_of(st.integers(0, 900), st.sampled_from(["PT2M", "PT0S", "0:01:30"]))


def _distribution() -> st.SearchStrategy:
    seconds = _SECONDS
    return st.one_of(
        seconds,
        st.fixed_dictionaries({"kind": st.just("uniform"), "low": st.just(0), "high": seconds}),
        st.fixed_dictionaries({"kind": st.just("exponential"), "mean": seconds}),
        st.fixed_dictionaries({"kind": st.just("normal"), "mean": seconds, "stddev": seconds}),
        st.fixed_dictionaries({"kind": st.just("lognormal"), "mean": seconds, "stddev": seconds}),
        st.fixed_dictionaries({"kind": st.just("triangular"), "low": st.just(0),
                               "mode": st.just(0), "high": seconds}),
    )


@st.composite
def pools(draw) -> dict:
    doc: dict[str, Any] = {
        "id": "fuzz",
        "vmSize": draw(st.sampled_from(["STANDARD_D2s_v3", "STANDARD_D1_v2", "Standard_E4-2s_v3",
                                        "NC6", "A8"])),
        "taskSlotsPerNode": draw(st.integers(1, 4)),
    }
    if draw(st.booleans()):
        doc["enableAutoScale"] = True
        doc["autoScaleFormula"] = draw(st.sampled_from(FORMULAS))
        doc["autoScaleEvaluationInterval"] = draw(st.sampled_from(["PT5M", "PT15M", 300]))
    else:
        doc["targetDedicatedNodes"] = draw(st.integers(0, 6))
        doc["targetLowPriorityNodes"] = draw(st.integers(0, 3))
        doc["resizeTimeout"] = draw(st.sampled_from(["PT5M", "PT15M"]))
        most = max(doc["targetDedicatedNodes"], doc["targetLowPriorityNodes"])
    if draw(st.booleans()):
        doc["startTask"] = {"commandLine": "x", "waitForSuccess": draw(st.booleans()),
                            "maxTaskRetryCount": draw(st.sampled_from([-1, 0, 2, 200]))}
    if draw(st.booleans()):
        doc["taskSchedulingPolicy"] = {"nodeFillType": draw(st.sampled_from(["pack", "spread"]))}
    # a small configured maximum always: a formula's 1e308 nodes are then 40 (at the default,
    # 100,000 nodes preempted every minute is a legitimately long run, not a fuzz finding)
    sim: dict[str, Any] = {"maxNodesPerKind": draw(st.sampled_from([0, 1, 5, 40]))}
    if "targetDedicatedNodes" in doc:
        sim["maxNodesPerKind"] = max(sim["maxNodesPerKind"], most)
    options = {
        "seed": st.integers(0, 5),
        "dedicatedCoreQuota": st.sampled_from([0, 8, 64]),
        "lowPriorityCoreQuota": st.sampled_from([0, 8, 64]),
        "allocationTime": _distribution(),
        "bootTime": _distribution(),
        "startTask": st.fixed_dictionaries({"duration": _distribution(),
                                            "failureProbability": st.sampled_from([0, 0.3, 1])}),
        "preemption": st.fixed_dictionaries({"meanTimeBetween": st.sampled_from([60, 900, "PT1H"]),
                                             "recoveryTime": _distribution()}),
        "nodeFailure": st.fixed_dictionaries({"meanTimeBetween": st.sampled_from([60, 1800]),
                                              "repairTime": _distribution()}),
        "samples": st.fixed_dictionaries({"period": st.sampled_from([10, 30, "PT1M"]),
                                          "delay": st.sampled_from([0, 15]),
                                          "lossRate": st.sampled_from([0, 0.2])}),
        "prices": st.fixed_dictionaries({"dedicated": st.sampled_from([0, 0.2])}),
    }
    for key in draw(st.lists(st.sampled_from(sorted(options)), unique=True, max_size=6)):
        sim[key] = draw(options[key])
    doc["simulation"] = sim
    return doc


_TASK = st.fixed_dictionaries(
    {"id": st.sampled_from(["a", "b", "1", "2", "3"]), "duration": _SECONDS},
    optional={
        "submitTime": st.sampled_from([0, 60, 3600, "2026-03-02T00:10:00Z"]),
        "requiredSlots": st.integers(1, 5),
        "exitCodes": st.lists(st.integers(-1, 2), min_size=1, max_size=3),
        "constraints": st.fixed_dictionaries({}, optional={
            "maxTaskRetryCount": st.sampled_from([-1, 0, 1, 150]),
            "maxWallClockTime": st.sampled_from(["PT1M", 30, "unlimited"]),
            "retentionTime": st.sampled_from(["PT1H", 0])}),
        "dependsOn": st.fixed_dictionaries({}, optional={
            "taskIds": st.lists(st.sampled_from(["a", "1", "zz"]), max_size=2),
            "taskIdRanges": st.lists(st.fixed_dictionaries(
                {"start": st.sampled_from([1, 2]), "end": st.sampled_from([2, 10**8])}),
                max_size=1)}),
        "multiInstanceSettings": st.fixed_dictionaries({"numberOfInstances": st.integers(1, 3)}),
        "profile": st.fixed_dictionaries({}, optional={
            "cpuPercent": st.sampled_from([0, 50, 400]), "memoryMB": st.sampled_from([0, 512]),
            "diskReadBytesPerSecond": st.sampled_from([0, 1000])}),
    })


@st.composite
def jobs_documents(draw) -> dict:
    jobs = []
    for i in range(draw(st.integers(1, 3))):
        tasks = draw(st.lists(_TASK, min_size=1 if i == 0 else 0, max_size=5,
                              unique_by=lambda t: t["id"]))
        for t in tasks:
            if "multiInstanceSettings" in t:
                t.pop("requiredSlots", None)
        job: dict[str, Any] = {"id": f"j{i}", "tasks": tasks,
                               "priority": draw(st.sampled_from([0, 100, -1000]))}
        if any("dependsOn" in t for t in tasks):
            job["usesTaskDependencies"] = True
        extras = {
            "constraints": st.fixed_dictionaries({"maxTaskRetryCount": st.sampled_from([0, 2, -1]),
                                                  "maxWallClockTime": st.sampled_from(["PT2H", 60])}),
            "onAllTasksComplete": st.sampled_from(["terminatejob", "noaction"]),
            "maxParallelTasks": st.sampled_from([-1, 1, 2]),
            "jobManagerTask": st.fixed_dictionaries({"id": st.just("jm"), "duration": st.sampled_from([0, 600]),
                                                     "killJobOnCompletion": st.booleans()}),
            "jobPreparationTask": st.fixed_dictionaries({"duration": st.sampled_from([0, 30]),
                                                         "failureProbability": st.sampled_from([0, 0.5, 1]),
                                                         "constraints": st.fixed_dictionaries(
                                                             {"maxTaskRetryCount": st.sampled_from([0, -1, 500])})}),
            "creationTime": st.sampled_from([0, 120, "2026-03-02T00:00:00Z"]),
        }
        for key in draw(st.lists(st.sampled_from(sorted(extras)), unique=True, max_size=3)):
            job[key] = draw(extras[key])
        if "jobPreparationTask" in job and draw(st.booleans()):
            job["jobReleaseTask"] = {"duration": draw(st.sampled_from([0, 60]))}
        jobs.append(job)
    return {"jobs": jobs}


@st.composite
def generators(draw) -> dict:
    kind = draw(st.sampled_from(["poisson", "diurnal", "bursts"]))
    spec: dict[str, Any] = {"kind": kind, "seed": draw(st.integers(0, 3)),
                            "duration": draw(_distribution())}
    if kind != "bursts" or draw(st.booleans()):
        spec["rate_per_hour"] = draw(st.sampled_from([5, 60, 400]))
    if draw(st.booleans()):
        spec["count"] = draw(st.integers(1, 60))
    else:
        spec["horizon"] = draw(st.sampled_from(["PT1H", "PT3H", 1800]))
    if kind == "bursts":
        spec["bursts"] = draw(st.one_of(
            st.fixed_dictionaries({"every": st.sampled_from(["PT1H", 900]), "size": st.integers(1, 30),
                                   "width": st.sampled_from([0, 60])}),
            st.lists(st.fixed_dictionaries({"at": st.sampled_from([0, 600]), "size": st.integers(1, 30)}),
                     min_size=1, max_size=2)))
    options = {"slots": st.one_of(st.integers(1, 3), st.fixed_dictionaries(
                   {"values": st.just([1, 2]), "weights": st.just([3, 1])})),
               "failure_probability": st.sampled_from([0, 0.5]),
               "tasks_per_job": st.integers(1, 10), "peak_hour": st.sampled_from([0, 14]),
               "amplitude": st.sampled_from([0, 1])}
    for key in draw(st.lists(st.sampled_from(sorted(options)), unique=True, max_size=3)):
        spec[key] = draw(options[key])
    return {"generator": spec}


_CELL = st.one_of(st.integers(-2, 4000).map(str), st.sampled_from(
    ["", "PT5M", "1e308", "nan", "inf", "-0", "2026-03-02T00:05:00Z", "x", "9" * 40, "1" * 5000]))


@st.composite
def csv_texts(draw) -> str:
    columns = draw(st.sampled_from([["submit_time", "duration"],
                                    ["submit_time", "duration", "slots", "job", "priority", "exit_code"],
                                    ["duration", "submit_time", "id"], ["submit_time", "duration", "bogus"]]))
    plausible = {"submit_time": st.integers(0, 7200).map(str), "duration": st.integers(0, 3600).map(str),
                 "slots": st.sampled_from(["1", "2", "5"]), "job": st.sampled_from(["j1", "j2"]),
                 "priority": st.just("0"), "exit_code": st.sampled_from(["0", "1"]),
                 "id": st.uuids().map(str), "bogus": st.just("?")}
    rows = []
    for _ in range(draw(st.integers(1, 8))):
        cells = [draw(plausible[c]) for c in columns]
        if draw(st.integers(0, 5)) == 0:
            cells[draw(st.integers(0, len(cells) - 1))] = draw(_CELL)
        rows.append(",".join(cells))
    return ",".join(columns) + "\n" + "\n".join(rows) + "\n"


@st.composite
def swf_texts(draw) -> str:
    lines = ["; a fuzzed trace"]
    for n in range(1, draw(st.integers(1, 8)) + 1):
        fields = [n, draw(st.integers(0, 7200)), -1, draw(st.sampled_from([0, 60, 3600, -1])),
                  draw(st.sampled_from([-1, 1, 4, 64])), -1, draw(st.sampled_from([-1, 1024])),
                  draw(st.sampled_from([-1, 2])), -1, -1, draw(st.sampled_from([1, 0, 5, -1])),
                  draw(st.integers(-1, 3)), -1, -1, draw(st.integers(-1, 2)), -1, -1, -1]
        text = [str(f) for f in fields]
        if draw(st.integers(0, 5)) == 0:
            text[draw(st.integers(0, 17))] = draw(_CELL) or "?"
        lines.append(" ".join(text))
    return "\n".join(lines) + "\n"


def _at(doc: Any, path: tuple) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _paths(doc: Any, here: tuple = ()) -> list[tuple]:
    """Every path to a value in ``doc`` (dicts and lists)."""
    out = [here] if here else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, here + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, here + (i,))
    return out


#: What a mutation may replace but not drop: the pool's small configured maximum of nodes.
_KEPT = (("simulation",), ("simulation", "maxNodesPerKind"))


def _is_number_like(value: Any) -> bool:
    """Numbers and durations: where most of the limits are (and were broken)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) or \
        isinstance(value, str) and value[:2] in ("PT", "P1", "0:") or isinstance(value, dict) \
        and "kind" in value


def _mutate(doc: Any, data) -> Any:
    """Damage ``doc``, mostly in one place (so that the rest stays valid and the damage reaches
    the engine), numbers and durations more often than the rest."""
    for _ in range(data.draw(st.sampled_from([1, 1, 1, 1, 2, 4]))):
        paths = _paths(doc)
        if not paths:
            return copy.deepcopy(data.draw(st.sampled_from(EXTREMES)))
        numbers = [p for p in paths if _is_number_like(_at(doc, p))]
        if numbers and data.draw(st.integers(0, 3)) > 0:
            paths = numbers
        path = data.draw(st.sampled_from(paths))
        parent = _at(doc, path[:-1])
        last = path[-1]
        how = data.draw(st.sampled_from(["extreme", "extreme", "extreme", "drop", "misspell"]))
        if path in _KEPT:
            how = "extreme"
        if how == "extreme":
            pool = NUMBERS if _is_number_like(parent[last]) and data.draw(st.integers(0, 4)) else \
                EXTREMES
            parent[last] = copy.deepcopy(data.draw(st.sampled_from(pool)))
        elif how == "drop":
            del parent[last]
        elif isinstance(parent, dict):
            parent[str(last) + "x"] = parent.pop(last)
    return doc


def _text(doc: Any, name: str) -> str:
    if name.endswith((".yaml", ".yml")):
        import yaml

        return yaml.safe_dump(doc, default_flow_style=False, allow_unicode=True)
    return json.dumps(doc)          # NaN and Infinity as Python's json writes (and reads) them


def _damage_text(text: str, data) -> str:
    how = data.draw(st.sampled_from(["keep"] * 12 + ["cut", "byte"]))
    if how == "cut":
        return text[: data.draw(st.integers(0, len(text)))]
    if how == "byte":
        at = data.draw(st.integers(0, len(text)))
        return text[:at] + data.draw(st.sampled_from(["\x00", "\ufeff", "\r", "'", "{", "\u2028"])) + text[at:]
    return text


def _run(argv: list[str]) -> tuple[int, float]:
    t0 = time.perf_counter()
    code = main(argv)
    return code, time.perf_counter() - t0


@FUZZ
@given(data=st.data())
def test_hostile_pools_and_workloads_end_cleanly_and_quickly(data, capsys):
    capsys.readouterr()             # capsys is shared by the examples: start from nothing
    pool = data.draw(pools(), label="pool")
    kind = data.draw(st.sampled_from(["csv", "swf", "json", "yaml", "generator.yaml",
                                      "generator.json"]), label="workload kind")
    if kind == "csv":
        workload, wname = data.draw(csv_texts(), label="csv"), "w.csv"
    elif kind == "swf":
        workload, wname = data.draw(swf_texts(), label="swf"), "w.swf"
    else:
        doc = data.draw(generators() if kind.startswith("generator") else jobs_documents(),
                        label="workload")
        wname = "w." + kind.rsplit(".", 1)[-1]
        if data.draw(st.booleans(), label="mutate workload"):
            doc = _mutate(doc, data)
        workload = _text(doc, wname)
    if data.draw(st.booleans(), label="mutate pool"):
        pool = _mutate(pool, data)
    pname = data.draw(st.sampled_from(["pool.json", "pool.yaml"]), label="pool file")
    pool_text = _damage_text(_text(pool, pname), data)
    workload = _damage_text(workload, data)
    argv = ["--no-progress"]
    horizon = data.draw(st.sampled_from([None, "30m", "2h", "PT6H", "0"]), label="horizon")
    if horizon is not None:
        argv += ["--horizon", horizon]
    argv += ["--seed", str(data.draw(st.integers(0, 3), label="seed"))]
    command = data.draw(st.sampled_from(["simulate", "simulate", "compare"]), label="command")
    with tempfile.TemporaryDirectory() as tmp:
        p, w = Path(tmp) / pname, Path(tmp) / wname
        p.write_text(pool_text, encoding="utf-8", errors="surrogatepass")
        w.write_text(workload, encoding="utf-8", errors="surrogatepass")
        f = Path(tmp) / "a.formula"
        f.write_text(data.draw(st.sampled_from(FORMULAS), label="formula"), encoding="utf-8")
        extra = ["--formula", str(f)] if command == "compare" or data.draw(st.booleans()) else []
        code, elapsed = _run([command, "--pool", str(p), "--workload", str(w), *extra, *argv])
    out, err = capsys.readouterr()
    event(f"exit {code}")
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in err
    if code == 2:
        assert err.startswith("poolscale: ") and err.count("\n") == 1, err
    assert elapsed < SLOWEST, f"{elapsed:.1f} s"


@pytest.mark.parametrize("depth", [100_000])
def test_a_pool_nested_a_hundred_thousand_deep_is_a_file_error(capsys, tmp_path, depth):
    p = tmp_path / "pool.json"
    p.write_text('{"id": "p", "vmSize": "D2", "metadata": ' + "[" * depth + "]" * depth + "}")
    w = tmp_path / "w.csv"
    w.write_text("submit_time,duration\n0,1\n")
    code = main(["simulate", "--pool", str(p), "--workload", str(w), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"poolscale: {p}") and err.count("\n") == 1
