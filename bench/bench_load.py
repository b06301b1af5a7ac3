"""Benchmark 5: reading a workload file against simulating it, in the same run.

    python bench/bench_load.py [--quick] [--rounds N]     (or through python bench/run.py)

The workload is benchmark 4's (bench_simulate.py): 100,000 tasks over 7 days. It is written
once as a CSV file and as a JSON file (the REST shape: ``{"jobs": [{"id", "priority",
"tasks": [{"id", "commandLine", "submitTime", "duration", "requiredSlots", "exitCodes"}]}]}``)
in a temporary directory; then, rounds interleaved, ``load_workload_file`` reads each (read,
parse, validate, build the models: everything ``poolscale simulate --workload`` does before
it simulates) and ``simulate`` runs the workload read.

Target (issue 10): reading a 100,000-task CSV or JSON workload takes at most half the time of
simulating it. Times are the best of the rounds; the ratio is load / simulate.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_simulate  # noqa: E402

#: the most time reading may take, as a fraction of simulating the same workload
TARGET = 0.5


def write_files(workload, folder: Path) -> dict[str, Path]:
    """The workload as a CSV file and as a JSON file in ``folder``; the paths by format."""
    csv_path, json_path = folder / "bench-workload.csv", folder / "bench-workload.json"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["submit_time", "duration", "slots", "job", "priority", "exit_code", "id"])
        for job in workload.jobs:
            for t in job.tasks:
                w.writerow([repr(t.submit_time), repr(t.duration), t.required_slots, job.id,
                            job.priority, t.exit_codes[0], t.id])
    doc = {"jobs": [{"id": job.id, "priority": job.priority, "tasks": [
        {"id": t.id, "commandLine": f"/bin/sh -c 'run {t.id}'", "submitTime": t.submit_time,
         "duration": t.duration, "requiredSlots": t.required_slots, "exitCodes": list(t.exit_codes)}
        for t in job.tasks]} for job in workload.jobs]}
    json_path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return {"csv": csv_path, "json": json_path}


def time_load(path: Path):
    from poolscale.scheduler.workload import load_workload_file

    t0 = time.perf_counter()
    loaded = load_workload_file(path)
    return time.perf_counter() - t0, loaded.workload


def run(*, quick: bool = False, rounds: int | None = None) -> dict:
    spec = bench_simulate.case(20_000, 2.0) if quick else bench_simulate.case()
    rounds = rounds or (1 if quick else 3)
    pool, generated, _ = bench_simulate.build(spec)
    horizon = spec["horizon"]
    loads: dict[str, list[float]] = {"csv": [], "json": []}
    sims: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_files(generated, Path(tmp))
        sizes = {kind: p.stat().st_size for kind, p in paths.items()}
        for _ in range(rounds):   # interleaved, so a busy machine slows every side alike
            for kind, path in paths.items():
                seconds, workload = time_load(path)
                loads[kind].append(seconds)
                if workload.task_count != spec["tasks"]:
                    raise AssertionError(f"{kind}: read {workload.task_count} tasks, "
                                         f"wrote {spec['tasks']}")
            sims.append(bench_simulate.run_poolscale(pool, workload, horizon)["wall_s"])
    simulate_s = min(sims)
    best = {kind: min(v) for kind, v in loads.items()}
    return {
        "tasks": spec["tasks"], "rounds": rounds, "file_bytes": sizes,
        "load_s": best, "all_load_s": loads,
        "simulate_s": simulate_s, "all_simulate_s": sims,
        "ratio": {kind: s / simulate_s for kind, s in best.items()},
        "target_ratio": TARGET,
        "tasks_per_second": {kind: spec["tasks"] / s for kind, s in best.items()},
    }


def print_result(r: dict) -> None:
    print(f"\n5. Reading a {r['tasks']:,}-task workload against simulating it "
          f"(best of {r['rounds']})")
    for kind in ("csv", "json"):
        size = r["file_bytes"][kind] / 2**20
        print(f"   {'read ' + kind.upper() + f' ({size:.1f} MiB)':44s} {r['load_s'][kind]:9.2f} s"
              f"   {r['tasks_per_second'][kind]:9,.0f} tasks/s")
    print(f"   {'simulate':44s} {r['simulate_s']:9.2f} s")
    for kind in ("csv", "json"):
        ratio = r["ratio"][kind]
        verdict = "ok" if ratio <= r["target_ratio"] else "OVER TARGET"
        print(f"   {'read ' + kind.upper() + ' / simulate (target <= 0.5x)':44s} {ratio:9.2f} x   "
              f"{verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 tasks over 2 days, one round")
    parser.add_argument("--rounds", type=int, help="rounds (default 3, 1 with --quick)")
    parser.add_argument("--out", help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    r = run(quick=args.quick, rounds=args.rounds)
    print_result(r)
    if args.out:
        Path(args.out).write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
