"""`poolscale test`: unit tests for formulas, modelled on `promtool test rules`.

The format of a test file is in docs/testing.md; loading and running are in runtime/testing.py,
coverage in runtime/coverage.py and the JUnit report in runtime/junit.py. This module only
parses options and prints.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING

from ..cli import EXIT_FINDINGS, EXIT_OK, HelpFormatter, UsageError
from ..wording import counted

if TYPE_CHECKING:
    from ..outputs import OutputFiles


def add_parser(sub) -> None:
    p = sub.add_parser(
        "test", help="run formula unit tests from YAML files",
        description="Run the unit tests in each YAML test FILE: every test evaluates the file's "
                    "formula against a pool and a metric history and compares the run with "
                    "the expected values, error or results string. Every failure is reported, "
                    "as an expected/got block under the test's name and file:line.",
        epilog="Test file (docs/testing.md):\n"
               "  formula_file: busy-pool.formula\n"
               "  tests:\n"
               "    - name: a queue of 12 keeps 12 nodes\n"
               '      time: "2026-03-02T10:00:00Z"\n'
               "      samples: {$PendingTasks: \"12x20\"}\n"
               "      expect: {$TargetDedicatedNodes: 12, $NodeDeallocationOption: taskcompletion}\n"
               "Exit status: 0 every test passed, 1 a test failed (or coverage is below the "
               "threshold), 2 usage error.",
        formatter_class=HelpFormatter)
    p.add_argument("files", metavar="FILE", nargs="+", help="YAML test file")
    p.add_argument("--run", metavar="REGEX",
                   help="run only the tests whose name contains a match of REGEX")
    p.add_argument("--junit", metavar="PATH", help="also write a JUnit XML report to PATH")
    p.add_argument("--coverage", action="store_true",
                   help="report the statements and '?:' branches that no test exercised")
    p.add_argument("--coverage-threshold", metavar="N", type=_percent,
                   help="fail (exit 1) when coverage is below N percent (implies --coverage)")
    p.add_argument("--no-explain", dest="explain", action="store_false",
                   help="do not show the decision trace (as 'poolscale explain' prints it) "
                        "under a failing test")
    p.set_defaults(handler=run)


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected a percentage from 0 to 100, got {text!r}")
    return value


def _report(files, out, explain: bool = True) -> None:
    for f in files:
        for result in f.results:
            status = "PASS" if result.passed else "FAIL"
            out.write(f"{status} {result.location}: {result.name}\n")
            for failure in result.failures:
                for line in failure.lines():
                    out.write(f"  {line}\n")
            for step, trace in (result.traces if explain else ()):
                out.write(f"  trace{'' if step is None else ' ' + step}:\n")
                for line in trace.splitlines():
                    out.write(f"    {line}\n")


def _report_coverage(coverage, threshold: float | None, out) -> bool:
    """Print the coverage section; True when it is below the threshold."""
    from ..coverage import percent_text

    covered, total = coverage.covered, coverage.total
    out.write(f"coverage: {covered} of {total} statements and branches "
              f"({percent_text(covered, total)})\n")
    for item in coverage.uncovered():
        out.write(f"  {item}\n")
    for path in coverage.not_compiled:
        out.write(f"  {path}: not measured: the formula does not compile\n")
    if threshold is not None and coverage.below(threshold):
        out.write(f"coverage {percent_text(covered, total)} is below the threshold "
                  f"{threshold:g}%\n")
        return True
    return False


def run(args: argparse.Namespace) -> int:
    from ..outputs import OutputFiles

    outputs = OutputFiles([args.junit])
    with outputs.reporting_interrupts():
        return _test(args, outputs)


def _test(args: argparse.Namespace, outputs: OutputFiles) -> int:
    from ..coverage import CoverageSet
    from ..testing import TestFileError, load_test_file, run_test_file

    select = None
    if args.run is not None:
        try:
            select = re.compile(args.run)
        except re.error as e:
            raise UsageError(f"--run: invalid regular expression {args.run!r}: {e}") from None
    try:
        loaded = [load_test_file(path) for path in args.files]
    except TestFileError as e:
        raise UsageError(str(e)) from None
    if select is not None and not any(select.search(t.name) for f in loaded for t in f.tests):
        raise UsageError(f"--run {args.run!r} matches no test")
    measure = args.coverage or args.coverage_threshold is not None
    coverage = CoverageSet() if measure else None
    files = [run_test_file(f, select=select, coverage=coverage) for f in loaded]

    out = sys.stdout
    _report(files, out, args.explain)
    below = measure and _report_coverage(coverage, args.coverage_threshold, out)
    total = sum(len(f.results) for f in files)
    failed = sum(f.failed for f in files)
    out.write(f"{counted(total, 'test')}, {failed} failed\n")
    if args.junit is not None:
        from ..junit import write_junit

        try:  # replaced whole, or left as it was (runtime/atomicwrite.py)
            with outputs.open(args.junit, "w", encoding="utf-8", newline="\n") as f:
                write_junit(files, f)
        except OSError as e:
            raise UsageError(f"--junit: cannot write {args.junit}: {e.strerror or e}") from None
    return EXIT_FINDINGS if failed or below else EXIT_OK
