"""Benchmark 3: the wall time of a whole ``poolscale eval`` process versus
``python -c "import numpy"``, and where the start-up time goes (-X importtime)."""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_formulas import EVAL_FORMULA, NOW_ISO, sample_values

SMALL_SCENARIO = {
    "pool": {"currentDedicatedNodes": 4, "targetDedicatedNodes": 4},
    "samples": {"$PendingTasks": "2+1x15 _ 18 20 22 21", "$CPUPercent": "55x19",
                "$ActiveTasks": "3x20"},
}
SMALL_FORMULA = """\
$busy = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 10) < 70 ? 1 :
        avg($PendingTasks.GetSample(TimeInterval_Minute * 10));
$TargetDedicatedNodes = min(20, $busy);
$NodeDeallocationOption = taskcompletion;
"""


def poolscale_command() -> list[str]:
    """The console script installed next to this interpreter (not a pyenv shim,
    which would add a bash start-up to every run), else ``python -m``."""
    script = Path(sys.executable).with_name("poolscale")
    if script.is_file():
        return [str(script)]
    found = shutil.which("poolscale")
    if found and "shims" not in found:
        return [found]
    return [sys.executable, "-m", "poolscale.runtime.cli"]


def write_inputs(folder: Path) -> dict[str, list[str]]:
    """Formula and scenario files; returns the eval arguments of each case."""
    day = {name: [None if math.isnan(x) else float(x) for x in values]
           for name, values in sample_values().items()}
    (folder / "day.formula").write_text(EVAL_FORMULA, encoding="utf-8")
    (folder / "day.json").write_text(json.dumps({
        "pool": {"currentDedicatedNodes": 4, "targetDedicatedNodes": 4}, "samples": day}),
        encoding="utf-8")
    (folder / "small.formula").write_text(SMALL_FORMULA, encoding="utf-8")
    (folder / "small.json").write_text(json.dumps(SMALL_SCENARIO), encoding="utf-8")
    return {
        "24 h scenario (3 x 2,880 samples), 6-statement formula":
            ["eval", str(folder / "day.formula"), "--scenario", str(folder / "day.json"),
             "--time", NOW_ISO],
        "small scenario (20 samples), 3-statement formula":
            ["eval", str(folder / "small.formula"), "--scenario", str(folder / "small.json"),
             "--time", NOW_ISO],
    }


def _wall(cmd: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise AssertionError(f"{cmd} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return elapsed


def _expected_results(args: list[str]) -> str:
    from poolscale.runtime.run import evaluate_text
    from poolscale.runtime.scenario import load_scenario
    from poolscale.formula.timeparse import parse_iso_time

    text = Path(args[1]).read_text(encoding="utf-8")
    return evaluate_text(text, load_scenario(args[3]), time=parse_iso_time(args[5])).results


def _importtime(cmd_tail: list[str], top: int) -> dict:
    """Run once under -X importtime; the slowest imports and self time by package."""
    cmd = [sys.executable, "-X", "importtime", "-m", "poolscale.runtime.cli", *cmd_tail]
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line[len("import time:"):].split("|")
        self_us, cumulative_us, raw = int(parts[0]), int(parts[1]), parts[2]
        depth = (len(raw) - len(raw.lstrip(" ")) - 1) // 2
        rows.append({"module": raw.strip(), "self_ms": self_us / 1e3,
                     "cumulative_ms": cumulative_us / 1e3, "depth": depth})
    by_package: dict[str, float] = {}
    for row in rows:
        parts = row["module"].split(".")
        key = ".".join(parts[:2]) if parts[0] == "poolscale" else parts[0]
        by_package[key] = by_package.get(key, 0.0) + row["self_ms"]
    total = sum(row["self_ms"] for row in rows)
    return {
        "total_import_ms": total,
        "top_cumulative": sorted(rows, key=lambda r: -r["cumulative_ms"])[:top],
        "top_self": sorted(rows, key=lambda r: -r["self_ms"])[:top],
        "self_ms_by_package": dict(sorted(by_package.items(), key=lambda kv: -kv[1])[:top]),
    }


_PHASES = """
import time
t0 = time.perf_counter()
import numpy
t1 = time.perf_counter()
import lark, lark.lexer, lark.exceptions
t2 = time.perf_counter()
import poolscale.runtime.cli, poolscale.runtime.run, poolscale.runtime.scenario
poolscale.runtime.cli.build_parser()
t3 = time.perf_counter()
from poolscale.formula.parser import _lark
_lark()
t4 = time.perf_counter()
print(" ".join(f"{(b - a) * 1e3:.3f}" for a, b in ((t0, t1), (t1, t2), (t2, t3), (t3, t4))))
"""

_PHASE_NAMES = ("import numpy", "import lark (numpy already in)",
                "import the rest of poolscale eval (incl. CLI parser)",
                "Lark parser from the shipped tables")


def _phases(runs: int) -> dict:
    """In a fresh process, one after the other: numpy, lark, the rest of the eval
    path's imports, and loading the parser from the tables shipped in the package (medians of ``runs``)."""
    cols: list[list[float]] = [[] for _ in _PHASE_NAMES]
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _PHASES], capture_output=True, text=True,
                             check=True).stdout.split()
        for col, value in zip(cols, out):
            col.append(float(value))
    return {name: statistics.median(col) for name, col in zip(_PHASE_NAMES, cols)}


def _compare(command: list[str], baseline: list[str], runs: int, env: dict | None = None) -> dict:
    _wall(command, env)  # warm-up: the page cache (and .pyc files) if missing
    _wall(baseline, env)
    ours, theirs = [], []
    for _ in range(runs):  # interleaved, so both see the same machine state
        ours.append(_wall(command, env))
        theirs.append(_wall(baseline, env))
    a, b = statistics.median(ours), statistics.median(theirs)
    return {"poolscale_ms": a * 1e3, "numpy_ms": b * 1e3, "ratio": a / b,
            "poolscale_min_ms": min(ours) * 1e3, "numpy_min_ms": min(theirs) * 1e3}


def _bytecode_env(folder: Path) -> dict | None:
    """This environment sets PYTHONDONTWRITEBYTECODE, so every process compiles all of
    poolscale from source (site-packages ship their .pyc). An installed poolscale has its
    .pyc files: the variant measures that, with a private cache folder for both commands.
    The environment of this process and of the main measurement is left as it is."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return None
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
    return env


def run(*, runs: int, top: int = 12) -> dict:
    command = poolscale_command()
    baseline = [sys.executable, "-c", "import numpy"]
    with tempfile.TemporaryDirectory(prefix="poolscale-bench-") as tmp:
        cases = write_inputs(Path(tmp))
        out: dict = {"poolscale_command": command, "baseline_command": baseline,
                     "runs": runs, "cases": {},
                     "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE")}
        for label, args in cases.items():
            expected = _expected_results(args)
            got = subprocess.run(command + args, capture_output=True, text=True)
            if got.stdout.splitlines()[:1] != [expected]:
                raise AssertionError(f"{label}: the CLI printed {got.stdout!r}, expected {expected!r}")
            out["cases"][label] = _compare(command + args, baseline, runs)
        env = _bytecode_env(Path(tmp))
        if env is not None:
            label, args = next(iter(cases.items()))
            out["with_bytecode_cache"] = {"case": label,
                                          **_compare(command + args, baseline, runs, env)}
        first = next(iter(cases.values()))
        out["importtime"] = _importtime(first, top)
        out["phases_ms"] = _phases(max(3, runs // 3))
    main = next(iter(out["cases"].values()))
    out.update(ratio=main["ratio"], target_ratio=2.5,
               poolscale_ms=main["poolscale_ms"], numpy_ms=main["numpy_ms"])
    return out
