"""poolscale benchmarks: ``python bench/run.py [--quick] [--profile]``.

Every figure is a ratio against a baseline measured in the same run, so the
results travel between machines better than absolute times:

1. one evaluation of a 6-statement formula over 24 h of 30 s samples versus the
   same computation hand-written with numpy (target: at most 2x);
2. ``compile_formula`` of a realistic 8 KB, 100-statement formula, and its phases
   (target: at most 20 ms);
3. a whole ``poolscale eval`` process versus ``python -c "import numpy"``
   (target: at most 2.5x), with the imports that make up the start-up;
4. ``simulate`` on 100,000 tasks over 7 days (bench_simulate.py): tasks per wall second
   (target: at least 50,000), cost per event against a bare heapq loop (target: at most
   10x), and how many times as long the same pool written plainly in SimPy takes (reported,
   no target; needs ``pip install -e '.[bench]'``, skipped without SimPy);
5. reading that workload from a CSV and from a JSON file against simulating it
   (bench_load.py; target: reading takes at most half the time of simulating);
6. the live engine running 2,000 tasks ``/bin/true`` as real processes on one node of 8
   slots (bench_live.py): tasks per second against a bare loop of 8 threads doing the same
   per-task work (target: at least 0.5x), latency from ``add_task`` to the process started
   (target: p50 at most 20 ms), and the cost of the store's durability (no target).
8. ``poolscale serve`` through the official SDK (bench_serve.py): tasks accepted per second by
   ``create_tasks`` (100 per call, 4 threads) against a bare FastAPI endpoint that only parses
   the body (target: at least 0.3x), and ``get_task`` p50/p99 against the same endpoint.
(7, the account's own add_tasks rate, is ``python bench/bench_account.py``.)

Prints a table and writes ``bench/results.json``. These are scripts, not tests:
pytest collects only ``tests/`` (testpaths) and only ``test_*.py`` files.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_compile  # noqa: E402
import bench_eval  # noqa: E402
import bench_load  # noqa: E402
import bench_startup  # noqa: E402


def _versions() -> dict:
    import lark
    import numpy

    return {"python": platform.python_version(), "numpy": numpy.__version__,
            "lark": lark.__version__, "platform": platform.platform(),
            "machine": platform.machine(), "cpus": os.cpu_count(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")}


def _verdict(value: float, target: float) -> str:
    return "ok" if value <= target else "OVER TARGET"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and runs (a smoke run)")
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile evaluation and compilation and print the top functions")
    parser.add_argument("--only",
                        choices=("eval", "compile", "startup", "simulate", "load", "live",
                                 "serve"),
                        action="append",
                        help="run only these benchmarks (repeatable)")
    parser.add_argument("--out", default=str(HERE / "results.json"), help="where to write the JSON")
    args = parser.parse_args(argv)

    rounds, min_time, runs = (3, 0.05, 5) if args.quick else (9, 0.2, 15)
    only = set(args.only or ("eval", "compile", "startup", "simulate", "load", "live", "serve"))
    results: dict = {"when": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                     "quick": args.quick, "environment": _versions()}

    if "eval" in only:
        r = results["eval"] = bench_eval.run(rounds=rounds, min_time=min_time)
        print(f"\n1. Evaluation, 6 statements, {r['samples_per_series']} samples per series "
              f"(median of {rounds} rounds)")
        print(f"   {'poolscale Formula.evaluate':44s} {r['poolscale_us']:9.1f} us")
        print(f"   {'hand-written numpy':44s} {r['numpy_us']:9.1f} us")
        print(f"   {'ratio (target <= 2x)':44s} {r['ratio']:9.2f} x   {_verdict(r['ratio'], 2.0)}")
        print(f"   {'ratio of the fastest rounds':44s} {r['ratio_of_minimums']:9.2f} x")
        print(f"   same targets: yes ($TargetDedicatedNodes = {r['verified']['dedicated']!r})")

    if "compile" in only:
        r = results["compile"] = bench_compile.run(rounds=rounds, min_time=min_time)
        print(f"\n2. compile_formula, {r['chars']} characters, {r['statements']} statements "
              f"(median of {rounds} rounds)")
        for name, ms in r["phases_ms"].items():
            print(f"   {name:44s} {ms:9.3f} ms")
        print(f"   {'compile_formula (target <= 20 ms)':44s} {r['compile_ms']:9.3f} ms"
              f"   {_verdict(r['compile_ms'], 20.0)}")

    if "startup" in only:
        r = results["startup"] = bench_startup.run(runs=runs)
        print(f"\n3. Whole process, median of {runs} runs after a warm-up "
              f"({' '.join(Path(c).name for c in r['poolscale_command'][:1])} vs python -c 'import numpy')")
        for label, case in r["cases"].items():
            print(f"   {label}")
            print(f"     poolscale eval {case['poolscale_ms']:7.1f} ms   import numpy "
                  f"{case['numpy_ms']:7.1f} ms   ratio {case['ratio']:5.2f} x   "
                  f"{_verdict(case['ratio'], 2.5)}")
        cached = r.get("with_bytecode_cache")
        if cached:
            print("   the same first case with .pyc files cached (this environment sets "
                  "PYTHONDONTWRITEBYTECODE=1,\n   so the figures above include compiling "
                  "poolscale's sources in every process):")
            print(f"     poolscale eval {cached['poolscale_ms']:7.1f} ms   import numpy "
                  f"{cached['numpy_ms']:7.1f} ms   ratio {cached['ratio']:5.2f} x")
        print("   in a fresh process (medians):")
        for name, ms in r["phases_ms"].items():
            print(f"     {name:50s} {ms:7.1f} ms")
        imp = r["importtime"]
        print(f"   -X importtime: {imp['total_import_ms']:.1f} ms of imports; self time by package:")
        for name, ms in list(imp["self_ms_by_package"].items())[:8]:
            print(f"     {name:32s} {ms:7.1f} ms")
        print("   slowest imports (cumulative):")
        for row in imp["top_cumulative"]:
            print(f"     {'  ' * row['depth']}{row['module']:{max(1, 48 - 2 * row['depth'])}s}"
                  f" {row['cumulative_ms']:7.1f} ms")

    if "simulate" in only:
        try:
            import simpy  # noqa: F401
        except ImportError:
            print("\n4. simulate: skipped (SimPy is not installed: pip install -e '.[bench]')")
        else:
            import bench_simulate

            r = results["simulate"] = bench_simulate.run(quick=args.quick, profile=args.profile)
            bench_simulate.print_result(r)

    if "load" in only:
        r = results["load"] = bench_load.run(quick=args.quick)
        bench_load.print_result(r)

    if "live" in only:
        import bench_live

        r = results["live"] = bench_live.run(quick=args.quick, profile=args.profile)
        bench_live.print_result(r)

    if "serve" in only:
        import bench_serve

        r = results["serve"] = bench_serve.run(quick=args.quick)
        bench_serve.print_result(r)

    if args.profile:
        import bench_profile

        r = results["profile"] = bench_profile.run()
        for key, what in (("evaluate", "evaluations of the 6-statement formula"),
                          ("compile", "compiles of the 8 KB formula")):
            p = r[key]
            print(f"\ncProfile: {p['runs']} {what}; cumulative time of the parts "
                  "(profiler overhead included):")
            whole = next(iter(p["parts_s"].values())) or 1.0
            for label, seconds in p["parts_s"].items():
                print(f"   {label:48s} {seconds:7.3f} s  {100 * seconds / whole:5.1f} %")
            print(p["text"])

    summary = {}
    if "eval" in results:
        summary["eval_ratio"] = results["eval"]["ratio"]
    if "compile" in results:
        summary["compile_ms"] = results["compile"]["compile_ms"]
    if "startup" in results:
        summary["startup_ratio"] = results["startup"]["ratio"]
    if "simulate" in results:
        summary["simulate_tasks_per_s"] = results["simulate"]["tasks_per_second"]
        summary["simulate_event_ratio"] = results["simulate"]["per_event_ratio"]
        summary["simulate_speedup_vs_simpy"] = results["simulate"]["speedup_vs_simpy"]
    if "load" in results:
        summary["load_csv_ratio"] = results["load"]["ratio"]["csv"]
        summary["load_json_ratio"] = results["load"]["ratio"]["json"]
    if "live" in results:
        summary["live_throughput_ratio"] = results["live"]["ratio"]
        summary["live_latency_p50_ms"] = results["live"]["latency"]["to_started_ms"]["p50"]
        if results["live"]["durability"]["store_wired"]:
            summary["live_durability_normal_over_off"] = \
                results["live"]["durability"]["normal_over_off"]
    if "serve" in results:
        summary["serve_tasks_ratio"] = results["serve"]["ratio"]
        summary["serve_get_task_p50_ms"] = results["serve"]["get_task_ms"]["poolscale"]["p50"]
    results["summary"] = summary
    Path(args.out).write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print("\nsummary:", ", ".join(f"{k} = {v:.2f}" for k, v in summary.items()),
          f"  (written to {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
