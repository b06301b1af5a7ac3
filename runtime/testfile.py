"""The test files of ``poolscale test``: their model and their loader.

A YAML test file names one formula and lists tests. A test is one run at ``time``, or a
``timeline`` of runs over one metric history; each run is checked against expected values, an
expected error and/or the exact results string (the format is in ``docs/testing.md``).

Every problem with a test file itself (bad YAML, an unknown key, a missing formula file, a bad
series) is a :class:`TestFileError` positioned at ``file:line``, so that a misspelt key can never
turn into a test that silently checks nothing. The pool, samples, period, delay and seed of a test
are validated by the scenario reader (docs/language.md#scenario-file), whose errors are
re-positioned.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field

from poolscale.formula.builtins import resolve
from poolscale.formula.diagnostics import LineIndex
from poolscale.formula.errors import ERROR_MESSAGES
from poolscale.formula.suggest import suggestion_suffix
from poolscale.formula.timeparse import parse_duration, parse_iso_time
from poolscale.formula.values import (
    TICKS_PER_DAY, TICKS_PER_HOUR, TICKS_PER_MINUTE, TICKS_PER_SECOND, TimeInterval, Timestamp,
    format_timestamp,
)
from poolscale.metrics.inputfile import cannot_read, not_utf8, read_file
from poolscale.metrics.limits import (
    DOCUMENT_BYTES, FORMULA_FILE_BYTES, SCENARIO_SAMPLES, InputLimitError)
from poolscale.metrics.store import SampleStore
from poolscale.metrics.variables import SERIES_VARIABLES, canonical_series_name

from .scenario import _POOL_FIELDS, Scenario, ScenarioError, scenario_from_dict
from .yamllines import LineList, LineMap, YamlError, load_yaml

__all__ = [
    "TestFileError", "TestFile", "TestCase", "Step", "Check", "Expectation", "Expected",
    "ErrorExpectation", "load_test_file", "format_offset", "RUN_ERROR_CODES",
]

# the evaluation interval's default (docs/language.md#evaluation-schedule)
DEFAULT_EVERY = TimeInterval(5 * TICKS_PER_MINUTE)
DEFAULT_SEED = 0  # a test is reproducible even when its formula calls rand()
MAX_STEPS = 10_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_FILE_KEYS = ("formula", "formula_file", "tests")
_SCENARIO_KEYS = ("pool", "samples", "period", "delay", "seed")
_TEST_KEYS = ("name", "time", *_SCENARIO_KEYS, "expect", "expect_error", "results")
_TIMELINE_KEYS = ("name", "timeline", *_SCENARIO_KEYS, "expect_steps")
_STEP_KEYS = ("at", "expect", "expect_error", "results")
_NAME = re.compile(r"\$?[A-Za-z][A-Za-z0-9_]*")
_OFFSET = re.compile(r"\+(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d{1,7})?)s)?")
#: the run errors a test may expect (the interval error belongs to enabling autoscale)
RUN_ERROR_CODES = tuple(c for c in ERROR_MESSAGES if c != "InvalidAutoScaleEvaluationInterval")
_HINTS = {("timeline test", key): " (a timeline test checks its runs with expect_steps)"
          for key in ("expect", "expect_error", "results")}
_HINTS[("timeline test", "time")] = " (a timeline runs from timeline.start to timeline.end)"
_HINTS[("test", "expect_steps")] = " (expect_steps belongs to a test with a timeline)"
_NOT_VALUES = {"series": "a sample series", "scalar": "a read-only pool variable",
               "constant": "a constant", "keyword": "a deallocation keyword"}


class TestFileError(Exception):
    """A test file that cannot be used as written: a usage error, positioned ``path:line``."""

    __test__ = False  # not a pytest test class

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path, self.line, self.message = path, line, message
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


# --------------------------------------------------------------------------------------------
# the model of a test file
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expected:
    """An expected value. ``kind`` is ``number`` / ``vector`` (compared exactly, NaN equal to
    NaN), ``approx`` (``value`` a number or a tuple, within ``tol``) or ``printed`` (a string,
    compared with the value as the results string prints it)."""

    kind: str
    value: object
    tol: float = 0.0


@dataclass(frozen=True, slots=True)
class Expectation:
    """``name`` as written in the test; ``slot`` is the target slot it names, or None for a
    user variable."""

    name: str
    slot: str | None
    expected: Expected


@dataclass(frozen=True, slots=True)
class ErrorExpectation:
    code: str
    detail: str | None = None

    def __str__(self) -> str:
        return self.code if self.detail is None else f"{self.code}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Check:
    """What one run must produce. An empty check still requires the run to have no error."""

    values: tuple[Expectation, ...] = ()
    error: ErrorExpectation | None = None
    results: str | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """One run of a test at ``time``; ``offset`` is its distance from a timeline's start
    (None for a single-run test)."""

    time: Timestamp
    offset: int | None
    check: Check

    @property
    def label(self) -> str | None:
        if self.offset is None:
            return None
        return f"at {format_offset(self.offset)} ({format_timestamp(self.time)})"


@dataclass(frozen=True, slots=True)
class TestCase:
    """A test: its scenario (the pool, ``rand()`` seed), the sample store built with the last
    sample of every series at ``anchor``, and the runs to make."""

    __test__ = False

    name: str
    line: int
    scenario: Scenario
    store: SampleStore
    anchor: Timestamp
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class TestFile:
    """A loaded test file. ``formula_path`` names the formula in reports: the formula file,
    or the test file itself for an inline formula; ``position`` maps an offset of ``source``
    to the (line, column) at which it appears there (None: the formula's own positions)."""

    __test__ = False

    path: str
    formula_path: str
    source: str
    tests: tuple[TestCase, ...]
    position: object = field(default=None, compare=False)


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Reader:
    """Turns one decoded test file into a :class:`TestFile`; knows where to point errors."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.test = ""  # "test 'name': " while reading a test
        self.samples_left = SCENARIO_SAMPLES  # the file's tests share the limit

    def fail(self, line: int | None, message: str) -> TestFileError:
        return TestFileError(self.path, line, self.test + message)

    def mapping(self, value, line: int, what: str) -> LineMap:
        if not isinstance(value, LineMap):
            raise self.fail(line, f"{what}: expected a mapping, got {_kind(value)}")
        return value

    def keys(self, m: LineMap, allowed, what: str) -> None:
        for key in m:
            if key not in allowed:
                hint = _HINTS.get((what, key), "")
                raise self.fail(m.key_lines.get(key, m.line),
                                f"unknown key {key!r} in {what}{hint}; allowed: "
                                + ", ".join(allowed))

    # -- the file ------------------------------------------------------------------------------

    def file(self, doc, text: str) -> TestFile:
        if doc is None:
            raise self.fail(None, "the file is empty; it needs 'formula' or 'formula_file' "
                                  "and 'tests'")
        doc = self.mapping(doc, 1, "the top level")
        self.keys(doc, _FILE_KEYS, "the top level")
        source, formula_path, position = self.formula(doc, text)
        if "tests" not in doc:
            raise self.fail(doc.line, "missing key 'tests'")
        tests = doc["tests"]
        if not isinstance(tests, LineList):
            raise self.fail(doc.key_lines["tests"], f"tests: expected a list, got {_kind(tests)}")
        cases = []
        seen: dict[str, int] = {}
        for number, (raw, line) in enumerate(zip(tests, tests.item_lines), start=1):
            self.test = f"test {number}: "
            raw = self.mapping(raw, line, "a test")
            name = raw.get("name")
            if isinstance(name, str) and name in seen:
                self.test = f"test {name!r}: "
                raise self.fail(raw.line, f"the name is already used by the test on line "
                                          f"{seen[name]}; test names must be unique")
            case = self.case(raw)
            seen[case.name] = case.line
            cases.append(case)
        self.test = ""
        return TestFile(self.path, formula_path, source, tuple(cases), position)

    def formula(self, doc: LineMap, text: str):
        if ("formula" in doc) == ("formula_file" in doc):
            both = "formula" in doc
            raise self.fail(doc.line, "give either 'formula' or 'formula_file'"
                                      + (", not both" if both else ""))
        if "formula" in doc:
            source = doc["formula"]
            if not isinstance(source, str):
                raise self.fail(doc.key_lines["formula"],
                                f"formula: expected the formula text, got {_kind(source)}")
            position = _inline_position(source, text, doc.scalars.get("formula"))
            # Positions that cannot be placed in the file are the formula's own, so say so.
            return source, self.path if position else f"{self.path} (formula)", position
        name = doc["formula_file"]
        line = doc.key_lines["formula_file"]
        if not isinstance(name, str) or not name:
            raise self.fail(line, f"formula_file: expected a path, got {_kind(name)}")
        path = os.path.normpath(os.path.join(os.path.dirname(self.path), name))
        try:
            data = read_file(path, limit=FORMULA_FILE_BYTES, kind="a formula file").decode("utf-8")
        except InputLimitError as e:
            raise self.fail(line, f"formula file {e}") from None
        except OSError as e:
            raise self.fail(line, "formula_file: " + cannot_read(path, e)) from None
        except UnicodeDecodeError as e:
            raise self.fail(line, "formula_file: " + not_utf8(path, e)) from None
        return (data[1:] if data.startswith("\ufeff") else data), path, None

    # -- one test ------------------------------------------------------------------------------

    def case(self, t: LineMap) -> TestCase:
        name = t.get("name")
        if not isinstance(name, str) or not name:
            raise self.fail(t.key_lines.get("name", t.line),
                            "missing key 'name'" if "name" not in t
                            else f"name: expected a non-empty string, got {_kind(name)}")
        if _CONTROL.search(name):
            # names are printed as they are (PASS/FAIL lines, JUnit): an escape sequence in one
            # would reach the terminal or the CI log
            raise self.fail(t.key_lines["name"], f"name: {name!r} holds a control character")
        self.test = f"test {name!r}: "
        if "timeline" in t:
            self.keys(t, _TIMELINE_KEYS, "timeline test")
            start, end, every = self.timeline(t)
            scenario = self.scenario(t, None)
            times = [Timestamp(start.ticks + k * every) for k in range((end.ticks - start.ticks)
                                                                        // every + 1)]
            checks = self.steps(t, times, start)
            steps = tuple(Step(at, at.ticks - start.ticks, c) for at, c in zip(times, checks))
            anchor = end
        else:
            self.keys(t, _TEST_KEYS, "test")
            if "time" not in t:
                raise self.fail(t.line, "missing key 'time' (the evaluation time, e.g. "
                                        "2026-03-02T10:00:00Z)")
            if t["time"] is None:
                raise self.fail(t.key_lines["time"], "time: expected an ISO-8601 time such as "
                                                     "'2026-03-02T10:00:00Z', got null")
            scenario = self.scenario(t, t["time"])
            anchor = scenario.time
            steps = (Step(anchor, None, self.check(t)),)
        try:
            store = scenario.store(anchor)
        except ValueError as e:  # samples stamped before year 1
            raise self.fail(t.key_lines.get("samples", t.line), f"samples: {e}") from None
        return TestCase(name, t.line, scenario, store, anchor, steps)

    def scenario(self, t: LineMap, time) -> Scenario:
        """The docs/language.md#scenario-file keys, validated by the scenario reader; its errors are
        re-positioned."""
        doc = {key: t[key] for key in _SCENARIO_KEYS if key in t}
        if time is not None:
            doc["time"] = time
        for key, allowed in (("pool", _POOL_FIELDS), ("samples", None)):
            sub = t.get(key)
            if isinstance(sub, LineMap):
                for name in sub:
                    bad = (name not in allowed if allowed is not None
                           else not isinstance(name, str) or canonical_series_name(name) is None)
                    if bad:
                        what = (f"unknown key {name!r}; allowed: " + ", ".join(allowed)
                                if allowed is not None else f"unknown series variable {name!r}"
                                f"{suggestion_suffix(name, SERIES_VARIABLES)}")
                        raise self.fail(sub.key_lines.get(name, sub.line), f"{key}: {what}")
        try:
            scenario = scenario_from_dict(doc, sample_budget=self.samples_left)
            self.samples_left -= sum(map(len, scenario.samples.values()))
        except ScenarioError as e:
            line, node = t.line, t
            for part in (e.key or "").split("."):
                if isinstance(node, LineMap) and part in node.key_lines:
                    line, node = node.key_lines[part], node[part]
            message = str(e).removeprefix("scenario: ")
            raise self.fail(line, message) from None
        if scenario.seed is None:
            scenario = dataclasses.replace(scenario, seed=DEFAULT_SEED)
        return scenario

    def timeline(self, t: LineMap) -> tuple[Timestamp, Timestamp, int]:
        line = t.key_lines["timeline"]
        tl = self.mapping(t["timeline"], line, "timeline")
        self.keys(tl, ("start", "end", "every"), "timeline")
        bounds = []
        for key in ("start", "end"):
            if key not in tl:
                raise self.fail(tl.line, f"timeline: missing key {key!r}")
            value = tl[key]
            stamp = parse_iso_time(value) if isinstance(value, str) else None
            if stamp is None:
                raise self.fail(tl.key_lines[key], f"timeline: {key}: expected an ISO-8601 time "
                                                   f"such as '2026-03-02T10:00:00Z', got {value!r}")
            bounds.append(stamp)
        start, end = bounds
        every = DEFAULT_EVERY
        if "every" in tl:
            raw = tl["every"]
            every = parse_duration(raw) if isinstance(raw, str) else None
            if every is None or every.ticks == 0:
                raise self.fail(tl.key_lines["every"], "timeline: every: expected an ISO-8601 "
                                                       f"duration such as 'PT5M', got {raw!r}")
        span = end.ticks - start.ticks
        if span < 0:
            raise self.fail(tl.key_lines["end"], "timeline: end is before start")
        if span % every.ticks:
            raise self.fail(tl.key_lines.get("every", tl.line),
                            f"timeline: end - start ({format_offset(span)[1:]}) is not a whole "
                            f"number of steps of {format_offset(every.ticks)[1:]}")
        if span // every.ticks + 1 > MAX_STEPS:
            raise self.fail(tl.line, f"timeline: more than {MAX_STEPS} steps")
        return start, end, every.ticks

    def steps(self, t: LineMap, times: list[Timestamp], start: Timestamp) -> list[Check]:
        checks = [Check()] * len(times)
        if "expect_steps" not in t:
            return checks
        raw, line = t["expect_steps"], t.key_lines["expect_steps"]
        if isinstance(raw, LineMap):
            return self.compact_steps(raw, times)
        if not isinstance(raw, LineList):
            raise self.fail(line, f"expect_steps: expected a list of steps or a mapping of "
                                  f"variables to per-step lists, got {_kind(raw)}")
        placed: dict[int, int] = {}
        for entry, entry_line in zip(raw, raw.item_lines):
            entry = self.mapping(entry, entry_line, "expect_steps")
            self.keys(entry, _STEP_KEYS, "a step")
            if "at" not in entry:
                raise self.fail(entry.line, "expect_steps: missing key 'at'")
            index = self.step_index(entry["at"], entry.key_lines["at"], times, start)
            if index in placed:
                raise self.fail(entry.line, f"expect_steps: step {entry['at']!r} is already "
                                            f"checked on line {placed[index]}")
            placed[index] = entry.line
            checks[index] = self.check(entry)
        return checks

    def step_index(self, at, line: int, times: list[Timestamp], start: Timestamp) -> int:
        ticks = None
        if isinstance(at, str):
            if at.startswith("+"):
                ticks = _parse_offset(at)
                ticks = None if ticks is None else start.ticks + ticks
            else:
                stamp = parse_iso_time(at)
                ticks = None if stamp is None else stamp.ticks
        if ticks is None:
            raise self.fail(line, f"at: expected an ISO-8601 time or an offset from the start "
                                  f"such as '+10m' or '+PT10M', got {at!r}")
        every = times[1].ticks - times[0].ticks if len(times) > 1 else 1
        index, rest = divmod(ticks - times[0].ticks, every)
        if rest or not 0 <= index < len(times):
            raise self.fail(line, f"at: {at!r} is not a step of the timeline (from "
                                  f"{format_timestamp(times[0])} to {format_timestamp(times[-1])})")
        return index

    def compact_steps(self, raw: LineMap, times: list[Timestamp]) -> list[Check]:
        per_step: list[list[Expectation]] = [[] for _ in times]
        slots = {}
        for name, values in raw.items():
            line = raw.key_lines.get(name, raw.line)
            slot = self.target_or_variable(name, line, slots)
            if not isinstance(values, LineList) or len(values) != len(times):
                got = f"{len(values)} values" if isinstance(values, list) else _kind(values)
                raise self.fail(line, f"expect_steps: {name}: expected a list of {len(times)} "
                                      f"values (one per step, null to skip one), got {got}")
            for k, (value, vline) in enumerate(zip(values, values.item_lines)):
                if value is not None:
                    per_step[k].append(Expectation(name, slot, self.expected(value, vline, name)))
        return [Check(tuple(e)) for e in per_step]

    # -- expectations --------------------------------------------------------------------------

    def check(self, m: LineMap) -> Check:
        values: tuple[Expectation, ...] = ()
        if "expect" in m:
            line = m.key_lines["expect"]
            exp = self.mapping(m["expect"], line, "expect")
            slots: dict[str, str] = {}
            values = tuple(
                Expectation(name, self.target_or_variable(name, exp.key_lines.get(name, line), slots),
                            self.expected(value, exp.key_lines.get(name, line), name))
                for name, value in exp.items())
        error = None
        if "expect_error" in m:
            error = self.error(m["expect_error"], m.key_lines["expect_error"])
        results = m.get("results")
        if "results" in m and not isinstance(results, str):
            raise self.fail(m.key_lines["results"],
                            f"results: expected the results string, got {_kind(results)}")
        return Check(values, error, results)

    def target_or_variable(self, name, line: int, slots: dict) -> str | None:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise self.fail(line, f"{name!r} is not a variable name")
        res = resolve(name)
        if res.kind == "user":
            return None
        if res.kind != "target":
            raise self.fail(line, f"{name} is {_NOT_VALUES[res.kind]}; expectations name "
                                  "targets and user variables")
        slot = res.target.slot
        if slot in slots:
            raise self.fail(line, f"{name} and {slots[slot]} name the same target")
        slots[slot] = name
        return slot

    def expected(self, value, line: int, name: str) -> Expected:
        def bad() -> TestFileError:
            return self.fail(line, f"{name}: expected a number, a list of numbers, a string "
                                   f"or {{approx: x, tol: t}}, got {_kind(value)}")

        if isinstance(value, str):
            return Expected("printed", value)
        if isinstance(value, LineMap):
            self.keys(value, ("approx", "tol"), "an approximate value")
            if "approx" not in value or "tol" not in value:
                raise self.fail(line, f"{name}: an approximate value needs both 'approx' and 'tol'")
            target = self.numbers(value["approx"], line, name)
            tol = value["tol"]
            if not _is_number(tol) or not tol >= 0:
                raise self.fail(line, f"{name}: tol: expected a number >= 0, got {_kind(tol)}")
            return Expected("approx", target, float(tol))
        if _is_number(value) or isinstance(value, list):
            number = self.numbers(value, line, name)
            return Expected("vector" if isinstance(number, tuple) else "number", number)
        raise bad()

    def numbers(self, value, line: int, name: str):
        """A number, or a list of numbers as a tuple, as doubles."""
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            if not _is_number(item):
                raise self.fail(line, f"{name}: expected a number, got {_kind(item)}")
            try:
                out.append(float(item))
            except OverflowError:
                raise self.fail(line, f"{name}: {item} is too large for a double") from None
        return tuple(out) if isinstance(value, list) else out[0]

    def error(self, raw, line: int) -> ErrorExpectation:
        m = self.mapping(raw, line, "expect_error")
        self.keys(m, ("code", "detail"), "expect_error")
        code = m.get("code")
        if code not in RUN_ERROR_CODES:
            raise self.fail(m.key_lines.get("code", line),
                            f"expect_error: code: {code!r} is not an error code of a run; one of "
                            + ", ".join(RUN_ERROR_CODES))
        detail = m.get("detail")
        if "detail" in m and not isinstance(detail, str):
            raise self.fail(m.key_lines["detail"],
                            f"expect_error: detail: expected a string, got {_kind(detail)}")
        return ErrorExpectation(code, detail)


def _parse_offset(text: str) -> int | None:
    """``+10m``, ``+1h30m``, ``+90s``, ``+1d`` or ``+PT10M``: ticks from a timeline's start."""
    if text[1:2] == "P":
        d = parse_duration(text[1:])
        return None if d is None else d.ticks
    m = _OFFSET.fullmatch(text)
    if m is None or not any(m.groups()):
        return None
    days, hours, minutes, seconds = m.groups()
    ticks = (int(days or 0) * TICKS_PER_DAY + int(hours or 0) * TICKS_PER_HOUR
             + int(minutes or 0) * TICKS_PER_MINUTE)
    if seconds:
        whole, _, frac = seconds.partition(".")
        ticks += int(whole) * TICKS_PER_SECOND + int(frac.ljust(7, "0") or 0)
    return ticks


def format_offset(ticks: int) -> str:
    """``+1h30m``: an offset in the compact form ``at`` accepts (``+0s`` for none)."""
    parts = []
    days, rest = divmod(ticks, TICKS_PER_DAY)
    hours, rest = divmod(rest, TICKS_PER_HOUR)
    minutes, rest = divmod(rest, TICKS_PER_MINUTE)
    seconds, frac = divmod(rest, TICKS_PER_SECOND)
    for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")):
        if n:
            parts.append(f"{n}{unit}")
    if seconds or frac or not parts:
        parts.append(f"{seconds}.{frac:07d}".rstrip("0").rstrip(".") + "s")
    return "+" + "".join(parts)


def _inline_position(source: str, text: str, scalar):
    """Map offsets of an inline formula to (line, column) in the test file, for a literal
    block (``formula: |``) or a one-line scalar; None when the text cannot be verified to
    sit there verbatim (folded or escaped scalars), so positions stay the formula's own."""
    if scalar is None:
        return None
    style, line, column = scalar
    file_lines = text.splitlines()
    own = source.splitlines() or [""]
    if style == "|":
        body = [ln for ln in file_lines[line:line + len(own)] if ln.strip()]
        indent = min((len(ln) - len(ln.lstrip(" ")) for ln in body), default=0)
        shift_line, shift_col = line, indent
    elif "\n" not in source and style in (None, "'", '"'):
        shift_line, shift_col = line - 1, column - 1 + (style is not None)
    else:
        return None
    for k, own_line in enumerate(own):
        there = file_lines[shift_line + k] if shift_line + k < len(file_lines) else ""
        if there[shift_col:shift_col + len(own_line)] != own_line:
            return None
    index = LineIndex(source)

    def position(offset: int) -> tuple[int, int]:
        ln, col = index.position(offset)
        return ln + shift_line, col + shift_col
    return position


def load_test_file(path: str | os.PathLike) -> TestFile:
    """Read and validate a test file; raise :class:`TestFileError` for any problem with it."""
    name = os.fspath(path)
    try:
        text = read_file(name, limit=DOCUMENT_BYTES, kind="a test file").decode("utf-8-sig")
    except InputLimitError as e:
        raise TestFileError(name, None, e.detail) from None
    except OSError as e:
        raise TestFileError(name, None, f"cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise TestFileError(name, None, f"not UTF-8 (byte {e.start})") from None
    try:
        doc = load_yaml(text)
    except YamlError as e:
        raise TestFileError(name, e.line, e.message) from None
    return _Reader(name).file(doc, text)
