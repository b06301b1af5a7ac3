"""Run one hostile case and say which property it broke (docs/hostile-input.md).

:func:`run_case` runs a case in this process with a wall-clock alarm and an address-space
limit and returns a :class:`Failure` (or None): an exit status other than 0, 1 or 2, an
exception escaping ``main`` (the CLI would print a traceback), "Traceback" on standard
error, ``fmt --check``/``--diff`` writing a file, a library exception other than the
documented ones, a timeout or a MemoryError. A failure carries a *signature* (command, kind,
exception type, innermost poolscale source line) that tells distinct failures apart, and
:func:`save_reproducer` writes its files with a script that replays it.
:func:`run_in_subprocess` runs a case as a real process under RLIMIT_AS, for what only a
process shows (the interpreter's own traceback, the peak resident set).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import re
import resource
import shlex
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable

from hostile_data import ROOT, seed_scenarios
from hostile_cases import Case, LibCase, reproducer

#: source folders of the package (the editable install maps poolscale.* onto them)
PRODUCT_DIRS = tuple(str(ROOT / d) + os.sep for d in ("formula", "metrics", "runtime", "scheduler",
                                                       "grammar"))

#: seconds one case may take (a simulation: a year of 30 s samples is documented and takes
#: ~20 s, so simulations get longer); the address space a case may add to the process.
TIMEOUT = float(os.environ.get("POOLSCALE_FUZZ_TIMEOUT", "5"))
SIM_TIMEOUT = float(os.environ.get("POOLSCALE_FUZZ_SIM_TIMEOUT", "30"))
MEMORY = int(float(os.environ.get("POOLSCALE_FUZZ_MEMORY_GB", "2")) * 2**30)


TRACEBACK = "Traceback (most recent call last)"


class CaseTimeout(BaseException):
    """The wall-clock alarm: a BaseException, so that no ``except Exception`` swallows it."""


@dataclasses.dataclass
class Failure:
    """A property broken by one case."""

    kind: str          # exit-status, traceback, stderr-traceback, exception, timeout, memory
    command: str
    detail: str        # the exception line, or the exit status and what was printed
    where: str         # innermost poolscale source line ("formula/trace.py:203 in traced")
    stack: str = ""
    case: Case | LibCase | None = None
    seconds: float = 0.0

    @property
    def signature(self) -> str:
        """What tells two failures apart: the command, the kind, the exception type and the
        code location (a timeout's location is where the alarm found it, which wanders; so
        timeouts are told apart by file only)."""
        where = self.where.split(":")[0] if self.kind in ("timeout", "memory") else self.where
        exc = self.detail.split(":")[0] if self.kind not in ("exit-status",) else self.detail
        return f"{self.command} | {self.kind} | {exc} | {where}"

    def describe(self, limit: int = 2000) -> str:
        return (f"{self.kind} in {self.command} after {self.seconds:.2f} s: {self.detail}\n"
                f"at {self.where}\n\n{reproducer(self.case, limit) if self.case else ''}"
                f"\n{self.stack[-3000:]}")


def _product_frame(tb) -> str:
    """The innermost frame of a traceback that is poolscale's own source (else the innermost
    frame outside this module: the alarm can ring in the standard library)."""
    found = other = "?"
    for frame, line in traceback.walk_tb(tb):
        path = frame.f_code.co_filename
        if path.startswith(PRODUCT_DIRS):
            found = f"{os.path.relpath(path, ROOT)}:{line} in {frame.f_code.co_name}"
        elif path != __file__ and not path.endswith("contextlib.py"):
            other = f"{os.path.basename(path)}:{line} in {frame.f_code.co_name}"
    return found if found != "?" else other


@contextlib.contextmanager
def bounded(seconds: float, memory: int):
    """Raise CaseTimeout after ``seconds`` of wall time; let the process grow by at most
    ``memory`` bytes of address space (beyond that, allocation raises MemoryError)."""
    def alarm(signum, frame):
        raise CaseTimeout(f"no result after {seconds:g} s")

    old_handler = signal.signal(signal.SIGALRM, alarm)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _vm_size() + memory
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    # ring again every half second: an exception raised where Python ignores it (a gc
    # callback, a __del__) must not let the case run on unbounded
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.5)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0  # pragma: no cover


def timeout_for(command: str) -> float:
    return SIM_TIMEOUT if command in ("simulate", "compare", "run", "lib:sim") else TIMEOUT


def _materialize(files: dict[str, bytes], root: str) -> None:
    for name, data in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def resolve_argv(argv: list[str], root: str) -> list[str]:
    return [root if a == "@@" else os.path.join(root, a[1:]) if a.startswith("@") else a
            for a in argv]


_STDIN_PATH = re.compile(rb"(?<=\s)@(@|[\w./-]+)")


def resolve_stdin(case: Case, root: str) -> bytes:
    """The REPL's meta-commands name files as ``@name`` too (``:load @s.json``)."""
    if case.command != "repl":
        return case.stdin
    base = root.encode()
    return _STDIN_PATH.sub(lambda m: base if m.group(1) == b"@" else
                           base + b"/" + m.group(1), case.stdin)


class _Stdio:
    """Standard streams as a terminal-less process has them in a UTF-8 desktop locale
    (en_US.UTF-8): stdin and stdout strict UTF-8, stderr with backslash escapes, each over
    bytes (``.buffer``). (Under the C or C.UTF-8 locale Python makes stdin and stdout
    surrogateescape instead: undecodable bytes then reach poolscale as lone surrogates.)"""

    def __init__(self, stdin: bytes) -> None:
        self.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
        self.stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
        self.stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace",
                                       write_through=True)

    @contextlib.contextmanager
    def installed(self):
        saved = sys.stdin, sys.stdout, sys.stderr
        sys.stdin, sys.stdout, sys.stderr = self.stdin, self.stdout, self.stderr
        try:
            yield self
        finally:
            sys.stdin, sys.stdout, sys.stderr = saved

    def text(self, stream) -> str:
        stream.flush()
        return stream.buffer.getvalue().decode("utf-8", "replace")


def run_case(case: Case | LibCase) -> Failure | None:
    """Run one case in this process and return the first property it breaks, or None."""
    if isinstance(case, LibCase):
        return _run_lib(case)
    from poolscale.runtime.cli import main

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="poolscale-fuzz-") as root:
        _materialize(case.files, root)
        argv = resolve_argv(case.argv, root)
        before = _snapshot(root) if case.command == "fmt" else None
        stdio = _Stdio(resolve_stdin(case, root))
        failure = None
        try:
            with stdio.installed(), bounded(timeout_for(case.command), MEMORY):
                code = main(argv)
        except SystemExit as e:   # sys.exit(status) is a way to end, if the status is one
            code = 0 if e.code is None else e.code
        except BaseException as e:  # noqa: BLE001 - every other escape is the finding
            failure = _from_exception(e, case.command, time.perf_counter() - started)
            code = None
        if failure is None:
            err = stdio.text(stdio.stderr)
            if code not in (0, 1, 2):
                failure = Failure("exit-status", case.command, f"exit status {code!r}", "?",
                                  err[-2000:])
            elif CaseTimeout.__name__ in err:   # the alarm rang where Python only prints it
                failure = Failure("timeout", case.command, "CaseTimeout: printed as unraisable",
                                  "?", err[-3000:])
            elif TRACEBACK in err:
                failure = Failure("stderr-traceback", case.command,
                                  err.strip().splitlines()[-1][:300], "?", err[-3000:])
            elif before is not None:
                failure = _fmt_property(case, before, _snapshot(root))
            elif code in (0, 1):
                failure = _json_property(case, stdio.text(stdio.stdout))
        if failure is not None:
            failure.case = case
            failure.seconds = time.perf_counter() - started
        return failure


def _snapshot(root: str) -> dict[str, bytes]:
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


def _fmt_property(case: Case, before: dict, after: dict) -> Failure | None:
    """fmt --check / --diff never write (docs/fmt.md); no file appears or disappears."""
    if set(before) != set(after):
        return Failure("fmt-files", "fmt", f"files changed from {sorted(before)} to "
                                           f"{sorted(after)}", "runtime/commands/format.py")
    changed = sorted(n for n in before if before[n] != after[n])
    if changed and ("--check" in case.argv or "--diff" in case.argv):
        return Failure("fmt-wrote", "fmt", f"{case.argv[1]} rewrote {changed}",
                       "runtime/commands/format.py")
    return None


def _json_property(case: Case, stdout: str) -> Failure | None:
    """What a command prints as JSON is JSON: one document (``--json``, ``--format sarif``) or
    one per line (``check --format json``), without NaN or Infinity, which JSON lacks."""
    argv = case.argv
    if "--json" in argv:
        documents = [stdout]
    elif case.command == "check" and "--format" in argv:
        form = argv[argv.index("--format") + 1]
        documents = ([stdout] if form == "sarif" else
                     stdout.splitlines() if form == "json" else [])
    else:
        return None

    def reject(constant: str):
        raise ValueError(f"{constant} is not JSON")

    for doc in documents:
        if not doc.strip():
            continue
        try:
            json.loads(doc, parse_constant=reject)
        except ValueError as e:
            return Failure("bad-json", case.command, f"{type(e).__name__}: {str(e)[:200]}", "?",
                           doc[:2000])
    return None


def _from_exception(e: BaseException, command: str, seconds: float) -> Failure:
    if isinstance(e, CaseTimeout) and isinstance(e.__context__, MemoryError):
        e = e.__context__   # the alarm rang while running out of memory took its time
    kind = ("timeout" if isinstance(e, CaseTimeout) else
            "memory" if isinstance(e, MemoryError) else
            "exit-status" if isinstance(e, SystemExit) else
            "traceback" if not command.startswith("lib:") else "exception")
    detail = f"SystemExit({e.code!r})" if isinstance(e, SystemExit) else \
        f"{type(e).__name__}: {str(e)[:300]}"
    stack = "".join(traceback.format_exception(type(e), e, e.__traceback__, limit=-25))
    return Failure(kind, command, detail, _product_frame(e.__traceback__), stack, seconds=seconds)


# --------------------------------------------------------------------------- library targets

def _lib_formula(a: dict, root: str) -> None:
    from poolscale.formula import FormulaError, compile_formula, lint
    from poolscale.formula.formatter import FormatError, format_text
    from poolscale.formula.printer import to_text
    from poolscale.formula.trace import explain
    from poolscale.runtime.scenario import ScenarioError, scenario_from_dict

    text = a["text"]
    lint(text)
    try:
        scenario = scenario_from_dict(seed_scenarios()[a["scenario"]])
        store = scenario.store(_timestamp(a["now"]))
    except (ScenarioError, ValueError):
        scenario, store = None, None
    for strict in (a["strict"], not a["strict"]):
        try:
            formula = compile_formula(text, strict=strict)
        except FormulaError as e:
            e.render("f.formula")
            continue
        formula.warnings
        to_text(formula.program)
        pool = scenario.pool if scenario else None
        run = formula.evaluate(store, now=a["now"], pool=pool, seed=1)
        json.dumps(run.to_dict())
        run.results
        trace = explain(formula, store, now=a["now"], pool=pool, seed=1)
        trace.render_text()
        json.dumps(trace.to_dict())
    try:
        out = format_text(text, width=a["width"])
    except (FormulaError, FormatError):
        return
    again = format_text(out, width=a["width"])
    assert again == out, "format_text is not idempotent"


def _timestamp(ticks: int):
    from poolscale.formula.values import Timestamp

    return Timestamp(ticks)


def _lib_store(a: dict, root: str) -> None:
    from poolscale.metrics.store import SampleStore

    with contextlib.suppress(ValueError, TypeError):
        store = SampleStore.from_mapping(a["mapping"], end=a["end"], period=a["period"],
                                         delay=a["delay"])
        _query(store, a["end"])
    path = os.path.join(root, "m.csv")
    with open(path, "wb") as f:
        f.write(a["csv"])
    with contextlib.suppress(ValueError, TypeError):
        _query(SampleStore.from_csv(path, period=a["period"], delay=a["delay"]), a["end"])
    with contextlib.suppress(ValueError, TypeError):
        text = a["csv"].decode("utf-8", "replace")
        _query(SampleStore.from_csv(io.StringIO(text)), a["end"])


def _query(store, now: int) -> None:
    for name in store.names:
        store.count(name, now)
        store.history_begin(name, now)
        store.latest(name, 5, now)
        store.window(name, now - 10**10, now, now)


def _lib_scenario(a: dict, root: str) -> None:
    from poolscale.runtime.scenario import ScenarioError, load_scenario

    path = os.path.join(root, a["name"])
    with open(path, "wb") as f:
        f.write(a["data"])
    try:
        scenario = load_scenario(path)
    except ScenarioError:
        return
    with contextlib.suppress(ValueError):   # the CLI's documented "scenario: ..." usage error
        scenario.store(scenario.time or _timestamp(a["now"]))


def _lib_testfile(a: dict, root: str) -> None:
    from poolscale.runtime.coverage import CoverageSet
    from poolscale.runtime.testfile import TestFileError, load_test_file
    from poolscale.runtime.testing import run_test_file

    with open(os.path.join(root, "busy-pool.formula"), "wb") as f:
        f.write(a["formula"])
    path = os.path.join(root, "t.test.yaml")
    with open(path, "wb") as f:
        f.write(a["data"])
    try:
        test_file = load_test_file(path)
    except TestFileError as e:
        str(e)
        return
    coverage = CoverageSet()
    result = run_test_file(test_file, coverage=coverage)
    for r in result.results:
        for failure in r.failures:
            str(failure)
    coverage.uncovered()


def _lib_sim(a: dict, root: str) -> None:
    from poolscale.formula import FormulaError
    from poolscale.scheduler.documents import InputFileError, read_pool
    from poolscale.scheduler.simulate import simulate
    from poolscale.scheduler.workload import read_workload

    pool_path = os.path.join(root, a["pool_name"])
    work_path = os.path.join(root, a["workload_name"])
    for path, data in ((pool_path, a["pool"]), (work_path, a["workload"])):
        with open(path, "wb") as f:
            f.write(data)
    try:
        pool = read_pool(pool_path)
        workload = read_workload(work_path, seed=3, start="2026-03-02T00:00:00Z",
                                 max_slots=pool.task_slots_per_node)
    except InputFileError:
        return
    try:
        result = simulate(pool, workload, a["formula"], start=a["start"], horizon=a["horizon"],
                          seed=a["seed"], log_events=False)
    except (FormulaError, ValueError):
        return
    json.dumps(result.report, default=str)


#: target -> (function, what it documents it may raise beyond what it handles itself)
LIB_TARGETS: dict[str, Callable[[dict, str], None]] = {
    "formula": _lib_formula, "store": _lib_store, "scenario": _lib_scenario,
    "testfile": _lib_testfile, "sim": _lib_sim,
}


def _run_lib(case: LibCase) -> Failure | None:
    import warnings

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="poolscale-fuzz-") as root:
        try:
            with bounded(timeout_for(case.command), MEMORY), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                LIB_TARGETS[case.target](case.args, root)
        except BaseException as e:  # noqa: BLE001 - every escape is the finding
            failure = _from_exception(e, case.command, time.perf_counter() - started)
            failure.case = case
            return failure
    return None


def save_reproducer(failure: Failure, directory: str | os.PathLike) -> Path:
    """Write the case's files, a ``run.sh`` that replays it, and ``failure.txt``."""
    case = failure.case
    digest = hashlib.sha1(failure.signature.encode()).hexdigest()[:10]
    out = Path(directory) / digest
    shutil.rmtree(out, ignore_errors=True)    # a smaller case replaces a larger one whole
    out.mkdir(parents=True)
    (out / "failure.txt").write_text(failure.signature + "\n\n" + failure.describe(400) + "\n")
    if isinstance(case, Case):
        _materialize(case.files, str(out / "files"))
        (out / "files").mkdir(exist_ok=True)
        if case.stdin:
            (out / "stdin").write_bytes(resolve_stdin(case, "files"))
        argv = resolve_argv(case.argv, "files")
        script = "cd \"$(dirname \"$0\")\" && poolscale " + " ".join(map(shlex.quote, argv))
        (out / "run.sh").write_text(   # the memory bound and strict streams of the test
            f"#!/bin/sh\nulimit -v {MEMORY // 1024}\nexport PYTHONIOENCODING=utf-8:strict\n"
            + script
            + (" < stdin" if case.stdin else "") + "\necho \"exit $?\"\n")
    else:
        (out / "run.py").write_text(
            "# replays the library case: python run.py\n"
            "import sys\nfrom math import inf, nan\n"
            f"sys.path.insert(0, {str(ROOT / 'tests')!r})\n"
            "from hostile_cases import LibCase\nfrom hostile_runner import run_case\n"
            f"case = LibCase({case.target!r}, {case.args!r})\n"
            "failure = run_case(case)\n"
            "print(failure.describe() if failure else 'no failure')\n")
    return out


# ============================================================================ subprocess slice

def run_in_subprocess(case: Case, *, timeout: float, memory: int = MEMORY,
                      startup: float = 10.0) -> tuple[Failure | None, float, int]:
    """Run ``case`` as a real ``poolscale`` process (``python -m poolscale.runtime.cli``, its
    standard streams strict UTF-8) under RLIMIT_AS ``memory``; return the failure (or None),
    the wall time and the process's peak resident set in bytes. ``startup`` is added to
    ``timeout`` for the interpreter and the imports."""
    import subprocess

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    # standard streams as under a UTF-8 desktop locale (en_US.UTF-8): strict UTF-8; the C and
    # C.UTF-8 locales would make them surrogateescape and hide undecodable input
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUTF8"}
    env.update(LC_ALL="C.UTF-8", PYTHONIOENCODING="utf-8:strict")
    with tempfile.TemporaryDirectory(prefix="poolscale-fuzz-") as root:
        _materialize(case.files, root)
        argv = [sys.executable, "-m", "poolscale.runtime.cli", *resolve_argv(case.argv, root)]
        stdin_path, err_path = os.path.join(root, ".stdin"), os.path.join(root, ".stderr")
        with open(stdin_path, "wb") as f:
            f.write(resolve_stdin(case, root))
        started = time.perf_counter()
        with open(stdin_path, "rb") as fin, open(err_path, "wb") as ferr:
            proc = subprocess.Popen(argv, stdin=fin, stdout=subprocess.DEVNULL, stderr=ferr,
                                    preexec_fn=limit, env=env, cwd=root)
        timed_out = False
        while True:  # wait4 gives this child's own peak RSS
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - started > timeout + startup:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                timed_out = True
                break
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        with open(err_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    rss = usage.ru_maxrss * 1024
    failure = None
    if timed_out:
        failure = Failure("timeout", case.command, f"killed after {seconds:.1f} s", "?")
    elif proc.returncode not in (0, 1, 2):
        failure = Failure("exit-status", case.command, f"exit status {proc.returncode}", "?",
                          text[-3000:])
    elif TRACEBACK in text:
        failure = Failure("stderr-traceback", case.command, text.strip().splitlines()[-1][:300],
                          "?", text[-3000:])
    if failure is not None:
        failure.case, failure.seconds = case, seconds
    return failure, seconds, rss
