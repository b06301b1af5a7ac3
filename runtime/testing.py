"""Running formula unit tests (``poolscale test``), modelled on ``promtool test rules``.

Each step of each test is one evaluation of the file's formula, made exactly as ``poolscale
eval`` makes it, and compared with the test's expectations. Every mismatch is collected as a
:class:`Failure` (a run never stops at the first one); this module prints nothing. The test
files themselves are read by :mod:`poolscale.runtime.testfile`, whose names are re-exported
here.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from dataclasses import dataclass

import numpy as np

from poolscale.formula.trace import explain
from poolscale.formula import FormulaError, Option, compile_formula
from poolscale.formula.suggest import did_you_mean
from poolscale.formula.values import TimeInterval, Timestamp, format_value

from .run import failed_run
from .testfile import (
    Check, ErrorExpectation, Expectation, Expected, Step, TestCase, TestFile, TestFileError,
    format_offset, load_test_file,
)

__all__ = [
    "TestFileError", "TestFile", "TestCase", "Step", "Check", "Expectation", "Expected",
    "ErrorExpectation", "Failure", "TestResult", "FileResult", "load_test_file", "format_offset",
    "check_run", "run_test_file", "run_tests",
]


@dataclass(frozen=True, slots=True)
class Failure:
    """One mismatch: ``subject`` is a variable name, ``error`` or ``results``; ``step`` says
    which run of a timeline it came from."""

    subject: str
    expected: str
    got: str
    step: str | None = None
    #: poolscale's advice on the error got (``did you mean '$PendingTasks'?``), or the assigned
    #: name closest to an expected one the run never assigned, if any
    hint: str | None = None

    @property
    def heading(self) -> str:
        return self.subject if self.step is None else f"{self.step}: {self.subject}"

    def lines(self) -> list[str]:
        """The promtool-style block: the heading, then expected and got (and a hint), indented."""
        lines = [self.heading, f"  expected: {self.expected}", f"  got:      {self.got}"]
        return lines + ([f"  hint:     {self.hint}"] if self.hint else [])

    def summary(self) -> str:
        """The block on one line (a JUnit failure message)."""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{self.heading}: expected {self.expected}, got {self.got}{hint}"


@dataclass(frozen=True, slots=True)
class TestResult:
    __test__ = False

    path: str
    name: str
    line: int
    failures: tuple[Failure, ...]
    #: for each failing run: (step label or None, the decision trace of that run as text)
    traces: tuple[tuple[str | None, str], ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True, slots=True)
class FileResult:
    path: str
    results: tuple[TestResult, ...]

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.passed)


# --------------------------------------------------------------------------------------------
# comparing and running
# --------------------------------------------------------------------------------------------


def _number_text(x: float) -> str:
    """A double in full: the shortest text that reads back as the same double."""
    if x != x:
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x.is_integer() and abs(x) < 2**53:
        return str(int(x))
    return repr(x)


def _type_name(v) -> str:
    if isinstance(v, (np.ndarray, list, tuple)):
        return "doubleVec"
    if isinstance(v, str):
        return "string"
    if isinstance(v, Timestamp):
        return "timestamp"
    if isinstance(v, TimeInterval):
        return "timeinterval"
    if isinstance(v, Option):
        return "option"
    return "double"


def _vector_text(values) -> str:
    return "[" + ", ".join(_number_text(float(x)) for x in values) + "]"


def _expected_text(e: Expected) -> str:
    if e.kind == "number":
        return _number_text(e.value)
    if e.kind == "vector":
        return _vector_text(e.value)
    if e.kind == "approx":
        v = e.value
        shown = _vector_text(v) if isinstance(v, tuple) else _number_text(v)
        return f"{shown} ± {_number_text(e.tol)}"
    return e.value


_SLACK = 4 * sys.float_info.epsilon


def _same(a: float, b: float, tol: float | None) -> bool:
    """Equal (NaN equals NaN), or within ``tol``, inclusive. A few units in the last place of
    slack keep ``1.5`` within ``1.4 ± 0.1``, although the doubles nearest those decimals
    are 0.10000000000000009 apart."""
    if a != a or b != b:
        return a != a and b != b
    if a == b:
        return True
    if tol is None or math.isinf(a) or math.isinf(b):
        return False
    return abs(a - b) <= tol + _SLACK * max(abs(a), abs(b), tol)


def _matches(e: Expected, got) -> bool:
    if e.kind == "printed":
        return format_value(got) == e.value
    kind = _type_name(got)
    values = e.value if isinstance(e.value, tuple) else None
    tol = e.tol if e.kind == "approx" else None
    if values is None:
        return kind == "double" and _same(float(e.value), float(got), tol)
    return (kind == "doubleVec" and len(got) == len(values)
            and all(_same(x, float(g), tol) for x, g in zip(values, got)))


def _got_text(e: Expected, got) -> str:
    if got is None:
        return "(not assigned)"
    if e.kind == "printed":
        return format_value(got)
    kind = _type_name(got)
    want = "doubleVec" if isinstance(e.value, tuple) else "double"
    if kind == "double":
        shown = _number_text(float(got))
    elif kind == "doubleVec":
        shown = _vector_text(got)
    else:
        shown = format_value(got)
    return shown if kind == want else f"{shown} ({kind})"


def _actual(run, values: dict, exp: Expectation):
    if exp.slot is None:
        return values.get(exp.name)
    if not run.entries:
        return None  # nothing ran: the formula did not compile
    return {"dedicated": run.dedicated, "lowpriority": run.low_priority,
            "option": run.option}[exp.slot]


def _error_text(error) -> str:
    return "(none)" if error is None else f"{error.code}: {error.detail}"


def check_run(check: Check, run, step: str | None = None) -> list[Failure]:
    """Every way ``run`` differs from ``check``. A run with an error nobody expected fails
    with that error alone: the values it stopped at would only repeat the news."""
    if check.error is None:
        if run.error is not None:
            return [Failure("error", "(none)", _error_text(run.error), step)]
        failures = []
    else:
        want, err = check.error, run.error
        ok = (err is not None and err.code == want.code
              and (want.detail is None or err.detail == want.detail))
        failures = [] if ok else [Failure("error", str(want), _error_text(err), step)]
    values = run.values
    for exp in check.values:
        got = _actual(run, values, exp)
        if got is None or not _matches(exp.expected, got):
            hint = None
            if got is None and exp.slot is None and run.entries:
                # A misspelt name in `expect` (`$TargetDedicatedNode`) is a variable the run
                # never assigned: name the assigned one it was probably meant to be.
                hint = did_you_mean(exp.name, values)
            failures.append(Failure(exp.name, _expected_text(exp.expected),
                                    _got_text(exp.expected, got), step, hint))
    if check.results is not None and run.results != check.results:
        failures.append(Failure("results", check.results, run.results, step))
    return failures


def _formula_for(test_file: TestFile, coverage):
    """The compiled formula (instrumented when measuring coverage), or its compile error."""
    if coverage is not None:
        return coverage.formula(test_file)
    try:
        return compile_formula(test_file.source), None
    except FormulaError as e:
        return None, e


def run_test_file(test_file: TestFile, *, select: re.Pattern | None = None,
                  coverage=None) -> FileResult:
    """Run the tests of one file whose names ``select`` finds (all without it).

    ``coverage`` is a :class:`poolscale.runtime.coverage.CoverageSet`; the runs are then
    made with its instrumented formula and count towards its figures. A formula that does not
    compile fails every run with its limits, syntax or validation error, as the service would.
    """
    formula, error = _formula_for(test_file, coverage)
    results = []
    for case in test_file.tests:
        if select is not None and not select.search(case.name):
            continue
        failures: list[Failure] = []
        traces: list[tuple[str | None, str]] = []
        scenario = case.scenario
        for step in case.steps:
            if formula is None:
                run = failed_run(step.time, error)
            else:
                run = formula.evaluate(case.store, now=step.time, pool=scenario.pool,
                                       seed=scenario.seed)
            found = check_run(step.check, run, step.label)
            if formula is None and error.hint is not None:
                found = [dataclasses.replace(f, hint=error.hint) if f.subject == "error" else f
                         for f in found]
            if found and formula is not None:
                # The same trace `poolscale explain` shows: why the run decided what it did.
                trace = explain(formula, case.store, now=step.time, pool=scenario.pool,
                                seed=scenario.seed)
                traces.append((step.label, trace.render_text()))
            failures.extend(found)
        results.append(TestResult(test_file.path, case.name, case.line, tuple(failures),
                                  tuple(traces)))
    return FileResult(test_file.path, tuple(results))


def run_tests(paths, *, select: re.Pattern | None = None, coverage=None) -> list[FileResult]:
    """Load every file first (a :class:`TestFileError` stops before any test runs), then run."""
    files = [load_test_file(p) for p in paths]
    return [run_test_file(f, select=select, coverage=coverage) for f in files]
