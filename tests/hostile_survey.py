"""The long hostile-input survey: every distinct failure, not only the first.

    python tests/hostile_survey.py --minutes 30 --out /tmp/poolscale-fuzz

runs the case strategies of ``hostile_cases`` round-robin (hypothesis, generation only, a new
seed per chunk), keeps the smallest case of each failure signature, shrinks it (delta
debugging over its files), replays it once more as a real process, and writes
``summary.md`` plus one folder per failure whose ``run.sh`` / ``run.py`` replays it.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from hostile_cases import CLI_CASES, Case, LIB_CASES, LibCase
from hostile_runner import Failure, run_case, run_in_subprocess, save_reproducer, timeout_for

def shrink(failure: Failure, *, attempts: int = 400, seconds: float = 90.0) -> Failure:
    """A smaller case with the same signature: drop optional arguments, then delete chunks of
    each file and of standard input (delta debugging), within ``attempts`` re-runs and
    ``seconds``."""
    case = failure.case
    budget = [attempts]
    best = [failure]
    deadline = time.monotonic() + seconds

    def same(candidate) -> bool:
        if budget[0] <= 0 or time.monotonic() > deadline:
            return False
        budget[0] -= 1
        f = run_case(candidate)
        if f is not None and f.signature == failure.signature:
            best[0] = f
            return True
        return False

    if isinstance(case, Case):
        i = 1
        while i < len(case.argv):
            a = case.argv[i]
            width = 2 if a.startswith("--") and i + 1 < len(case.argv) and \
                not case.argv[i + 1].startswith("--") else 1
            if a.startswith("--") and a != "--plain":
                trial = dataclasses.replace(case, argv=case.argv[:i] + case.argv[i + width:])
                if same(trial):
                    case = trial
                    continue
            i += 1
        for name in list(case.files):
            data = _ddmin(case.files[name], lambda d: same(dataclasses.replace(
                case, files={**case.files, name: d})))
            case = dataclasses.replace(case, files={**case.files, name: data})
        case = dataclasses.replace(case, stdin=_ddmin(case.stdin, lambda d: same(
            dataclasses.replace(case, stdin=d))))
    else:
        for key, value in case.args.items():
            if isinstance(value, (bytes, str)):
                value = _ddmin(value, lambda d: same(LibCase(case.target,
                                                             {**case.args, key: d})))
                case = LibCase(case.target, {**case.args, key: value})
    result = best[0]
    result.case = case
    return result


def _ddmin(data, fails: Callable[[Any], bool]):
    """Delta debugging over a bytes or str value: the smallest piece found that still fails."""
    n = 2
    while len(data) >= 2:
        chunk = -(-len(data) // n)
        for start in range(0, len(data), chunk):
            candidate = data[:start] + data[start + chunk:]
            if fails(candidate):
                data, n = candidate, max(n - 1, 2)
                break
        else:
            if n >= len(data):
                break
            n = min(len(data), n * 2)
    return data


def survey(targets: list[str], minutes: float, out: Path, *, seed: int = 0, chunk: int = 100,
           shrink_seconds: float = 45.0, log: Callable[[str], None] = print) -> dict:
    """Run every target in turn, ``chunk`` cases at a time (hypothesis, generation only, a new
    seed per chunk) for ``minutes``; keep every distinct failure with its smallest case (saved
    under ``out/raw`` as soon as it is seen, ``out/summary.md`` rewritten after every round),
    then shrink each for at most ``shrink_seconds`` (timeouts and memory failures are kept as
    found: every try costs the whole bound), replay it as a real process, and save it under
    ``out``."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as with_seed

    strategies = {**CLI_CASES, **LIB_CASES}
    found: dict[str, dict] = {}
    stats = {t: {"cases": 0, "seconds": 0.0, "slowest": 0.0} for t in targets}
    deadline = time.monotonic() + minutes * 60
    round_no = 0
    while time.monotonic() < deadline:
        for target in targets:
            if time.monotonic() >= deadline:
                break

            @settings(max_examples=chunk, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=strategies[target]())
            def explore(case):
                if time.monotonic() >= deadline:
                    return
                started = time.perf_counter()
                failure = run_case(case)
                spent = time.perf_counter() - started
                st_ = stats[target]
                st_["cases"] += 1
                st_["seconds"] += spent
                st_["slowest"] = max(st_["slowest"], spent)
                if failure is None:
                    return
                entry = found.setdefault(failure.signature, {"count": 0, "failure": failure})
                entry["count"] += 1
                if entry["count"] == 1 or case.size() < entry["failure"].case.size():
                    entry["failure"] = failure
                    entry["folder"] = save_reproducer(failure, out / "raw").name
                if entry["count"] == 1:
                    log(f"new: {failure.signature} ({failure.detail[:120]})")

            try:
                with_seed(seed * 100_003 + round_no)(explore)()
            except Exception as e:  # noqa: BLE001 - a generator's own bug must not end a survey
                log(f"round {round_no} of {target} stopped: {type(e).__name__}: {e}"[:300])
            round_no += 1
        _write_summary(out, minutes, seed, stats, [
            (sig, e["count"], "raw/" + e["folder"], "not shrunk yet", e["failure"])
            for sig, e in sorted(found.items())])
        log(f"-- {sum(s['cases'] for s in stats.values())} cases, {len(found)} distinct failures")
    rows = []
    for signature, entry in sorted(found.items()):
        failure = entry["failure"]
        if failure.kind not in ("timeout", "memory") and shrink_seconds > 0:
            failure = shrink(failure, seconds=shrink_seconds)
        confirmed = ""
        if isinstance(failure.case, Case):
            proc, seconds, rss = run_in_subprocess(failure.case, timeout=timeout_for(
                failure.command))
            confirmed = (f"process: {proc.kind} {proc.detail[:80]}" if proc else
                         f"process: no failure ({seconds:.1f} s, {rss / 2**20:.0f} MB)")
        folder = save_reproducer(failure, out)
        rows.append((signature, entry["count"], folder.name, confirmed, failure))
        log(f"saved {folder.name}: {signature}")
    _write_summary(out, minutes, seed, stats, rows)
    return {"stats": stats, "failures": {sig: n for sig, n, *_ in rows}}


def _write_summary(out: Path, minutes: float, seed: int, stats: dict, rows: list) -> None:
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Hostile-input survey", "",
             f"{sum(s['cases'] for s in stats.values())} cases in {minutes:g} min, seed {seed}.",
             "", "| target | cases | seconds | slowest case (s) |", "|---|---|---|---|"]
    lines += [f"| {t} | {s['cases']} | {s['seconds']:.0f} | {s['slowest']:.1f} |"
              for t, s in stats.items()]
    lines += ["", "| signature | hits | folder | as a process |", "|---|---|---|---|"]
    lines += [f"| `{sig}` | {n} | {folder} | {conf} |" for sig, n, folder, conf, _ in rows]
    lines += [""]
    for sig, n, folder, conf, failure in rows:
        lines += [f"## {folder}: {sig}", "", "```", failure.describe(600), "```", ""]
    (out / "summary.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        description="Survey: run the hostile-input cases for a while, collect every distinct "
                    "failure (not only the first), shrink each, and write reproducers.")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--targets", nargs="*", default=[*CLI_CASES, *LIB_CASES],
                        help="commands and lib:* targets (default: all)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "poolscale-fuzz")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk", type=int, default=100, help="cases per target per round")
    parser.add_argument("--shrink-seconds", type=float, default=45.0,
                        help="time to shrink each failure (0: keep the smallest case found)")
    args = parser.parse_args(argv)
    unknown = set(args.targets) - set(CLI_CASES) - set(LIB_CASES)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}")
    result = survey(args.targets, args.minutes, args.out, seed=args.seed, chunk=args.chunk,
                    shrink_seconds=args.shrink_seconds,
                    log=lambda m: print(m, file=sys.__stdout__, flush=True))
    print(f"{len(result['failures'])} distinct failures; see {args.out / 'summary.md'}")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
