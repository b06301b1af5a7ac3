"""``poolscale repl``: an interactive shell for formulas.

The session keeps a *session formula*: the text of every input that ran
without error, in order. Each new input is appended to it and the whole
formula is evaluated again against the current scenario, so earlier
assignments are in scope and the run is exactly the run of the formula being
built; only the new statements' values are shown. An input is atomic: if any
phase fails (syntax, validation, evaluation, the target check), the error is
shown and nothing of the input is kept.

:class:`ReplSession` holds all of that logic and never touches a terminal, so
it is driven directly by tests and by the line mode (:func:`run_lines`, used
when standard input is not a terminal). The terminal is the thin prompt_toolkit
layer of :mod:`poolscale.runtime.repl_terminal` (highlighting, completion,
multi-line editing, history), loaded only by :func:`run_terminal`.

Output of an input, one line per statement:

* an assignment: ``name=value``, the value formatted as in the results string;
* an expression statement: ``= value``;
* a failure: ``error: CODE: Line L, Col C: text``, L counted from the input's
  first line (an error inside an earlier input, which a changed scenario can
  cause, says ``... of the session formula``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator


from poolscale.formula import FormulaError, PoolState, compile_formula
from poolscale.formula import ast
from poolscale.formula.diagnostics import LineIndex, caret_lines
from poolscale.formula.lexer import tokenize
from poolscale.formula.parser import MAX_LENGTH
from poolscale.formula.suggest import suggestion_suffix
from poolscale.formula.trace import explain
from poolscale.formula.timeparse import parse_duration, parse_iso_time
from poolscale.formula.types import SERIES, Type
from poolscale.formula.values import (
    Timestamp, format_double, format_timestamp, format_value, timestamp_from_datetime,
)
from poolscale.metrics.inputfile import cannot_read, not_utf8, read_file
from poolscale.metrics.jsonyaml import load_json
from poolscale.metrics.limits import (
    FORMULA_FILE_BYTES, SCENARIO_SAMPLES, InputLimitError, size_text)
from poolscale.metrics.notation import (
    NotationError, format_notation, notation_length, parse_notation)
from poolscale.metrics.variables import SERIES_VARIABLES, canonical_series_name

from .completion import META_COMMANDS, POOL_KEYS
from .scenario import Scenario, ScenarioError, interval_problem, load_scenario, scenario_from_dict

__all__ = ["Reply", "ReplSession", "is_complete", "history_path", "run_lines", "run_terminal"]

_LOCATION = re.compile(r"Line (\d+), Col (\d+): ", re.ASCII)
_QUIT = frozenset({":quit", ":q", ":exit"})

STOPPED = "stop(): the run ends here; later statements do not run"
NOT_RUN = "not run: stop() ended the run in an earlier input"


@dataclass
class Reply:
    """What one input produced: lines to print, whether it failed, whether to leave."""

    lines: list[str] = field(default_factory=list)
    failed: bool = False
    quit: bool = False

    @property
    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


def is_complete(text: str) -> bool:
    """Whether Enter should submit ``text``: it ends with ``;`` outside strings and
    comments, is a meta-command, or holds no statement at all (blank, comments)."""
    stripped = text.strip()
    if not stripped or stripped.startswith(":"):
        return True
    tokens = tokenize(text)
    return not tokens or tokens[-1].type == "SEMI"


def _utc_now() -> Timestamp:
    return timestamp_from_datetime(datetime.now(timezone.utc))


def _error(text: str) -> Reply:
    return Reply([f"error: {text}"], failed=True)


def _has_statements(text: str) -> bool:
    """Whether ``text`` is more than blanks and comments; text over the length limit counts
    as statements without being lexed, so that it meets AutoScaleFormulaTooLong at once."""
    return len(text) > MAX_LENGTH or bool(tokenize(text))


def _normalized(text: str) -> str:
    """``text`` as it joins the session formula: ending with ``;`` and a line break,
    so the next input starts on a line of its own (positions stay relative)."""
    tokens = tokenize(text)
    if tokens and tokens[-1].type != "SEMI":
        end = tokens[-1].end
        text = text[:end] + ";" + text[end:]
    if not text.endswith("\n"):
        text += "\n"
    return text


def _as_typed(base: str, typed: str, joined: str,
              error: FormulaError) -> tuple[FormulaError, str]:
    """The error to report for an input that failed once joined to the session formula, and
    the input text its caret is drawn under.

    Joining may supply a final ``;`` (Alt-Enter submits text without one). When the text as
    typed fails too, its own error is the one to show: for an unfinished statement that is
    "unexpected end of formula", where the joined text would blame a ``;`` the user never
    typed. Only when the typed text compiles (the supplied ``;`` pushed it over the length
    limit) is the joined text's error the real one."""
    if joined == typed:
        return error, joined
    try:
        compile_formula(base + typed)
    except FormulaError as own:
        return own, typed
    return error, joined


def _line_count(source: str) -> int:
    """Lines of the session formula (it ends with a line break, or is empty)."""
    return LineIndex(source).position(len(source))[0] - 1


class ReplSession:
    """The REPL without a terminal: session formula, scenario, meta-commands.

    ``clock`` gives the evaluation time when neither ``:time`` nor the scenario
    sets one (default: now, UTC, read at each evaluation). With ``caret`` (the
    terminal) an error positioned in the input is followed by its line and a caret.
    """

    def __init__(self, scenario: Scenario | None = None, *, time: Timestamp | None = None,
                 clock: Callable[[], Timestamp] | None = None, caret: bool = False) -> None:
        self.scenario = scenario if scenario is not None else scenario_from_dict({})
        self.time = time
        self.clock = clock or _utc_now
        self.caret = caret
        self.inputs: list[str] = []
        #: user variable -> static type of its last assignment in the session formula
        self.variables: dict[str, Type] = {}

    # -- state ---------------------------------------------------------------------------------

    @property
    def source(self) -> str:
        return "".join(self.inputs)

    def now(self) -> Timestamp:
        if self.time is not None:
            return self.time
        return self.scenario.time if self.scenario.time is not None else self.clock()

    def _seed(self) -> int:
        # Without a scenario seed, one fresh seed per evaluation (rand() is "seeded from system
        # entropy", docs/language.md#functions), shared by the two runs below so that they agree.
        return self.scenario.seed if self.scenario.seed is not None else secrets.randbits(64)

    # -- one input -----------------------------------------------------------------------------

    def handle(self, text: str) -> Reply:
        """Run one input: a meta-command line, or statements (possibly several lines).

        Never raises: an unexpected exception (a bug) is shown as an error line, so that it
        cannot end the session and lose the formula built so far."""
        try:
            return self._handle(text)
        except Exception as e:  # noqa: BLE001 - see above
            return _error(f"internal error: {type(e).__name__}: {e} (please report it; "
                          ":source shows the session formula, :save keeps it)")

    def _handle(self, text: str) -> Reply:
        if text.strip().startswith(":"):
            return self.meta(text.strip())
        return self.evaluate(text) if _has_statements(text) else Reply()

    def evaluate(self, text: str) -> Reply:
        """Append the statements of ``text`` to the session formula and run it; keep
        them only if the run has no error."""
        base = self.source
        typed = text
        if len(base) + len(text) <= MAX_LENGTH:  # else it fails the length check, unlexed
            text = _normalized(text)
        base_lines = _line_count(base)
        try:
            formula = compile_formula(base + text)
        except FormulaError as e:
            e, shown = _as_typed(base, typed, text, e)
            hint = e.hint
            if hint is None and e.phase == "syntax" and _swallowed_command(typed):
                hint = ("a line starting with ':' is a command only when no statement is "
                        "pending: end the statement before it with ';'")
            return self._failure(e.code, e.detail, base_lines, shown, hint)
        when = self.now()
        try:
            store = self.scenario.store(when)
        except ValueError as e:
            return _error(f"scenario: {e}")
        seed = self._seed()
        trace = explain(formula, store, now=when, pool=self.scenario.pool, seed=seed)
        shown, run = _statement_lines(trace, len(base)), trace.run
        if run.error is not None:
            return self._failure(run.error.code, run.error.detail, base_lines, text)
        self.inputs.append(text)
        self._learn(formula)
        return Reply(shown)

    def _failure(self, code: str, detail: str, base_lines: int, text: str,
                 hint: str | None = None) -> Reply:
        """The error line (positioned in the input when it lies there), the caret lines with
        ``caret``, and a ``hint:`` line when poolscale has one (did you mean ...?)."""
        reply = self._error_lines(code, detail, base_lines, text)
        if hint is not None:
            reply.lines.append(f"hint: {hint}")
        return reply

    def _error_lines(self, code: str, detail: str, base_lines: int, text: str) -> Reply:
        m = _LOCATION.match(detail)
        if m is None:
            return _error(f"{code}: {detail}")
        line, col, rest = int(m.group(1)), int(m.group(2)), detail[m.end():]
        if line <= base_lines:
            return _error(f"{code}: Line {line}, Col {col} of the session formula: {rest}")
        line -= base_lines
        reply = _error(f"{code}: Line {line}, Col {col}: {rest}")
        if self.caret:
            shown, marks = caret_lines(LineIndex(text).line_text(line), col)
            reply.lines += [f"  {shown}", f"  {marks}"]
        return reply

    def _learn(self, formula) -> None:
        """Record the user variables (and their types) the session formula assigns."""
        variables: dict[str, Type] = {}
        for stmt in formula.program.statements:
            if isinstance(stmt, ast.Assign) and formula.facts.names[id(stmt)].kind == "user":
                variables[stmt.name] = formula.facts.types[id(stmt.value)]
        self.variables = variables

    def _session_formula(self):
        """The session formula compiled, or a Reply with the error. Every kept input
        compiled together with the ones before it, so this fails only if the library
        changed under a long-lived session."""
        try:
            return compile_formula(self.source)
        except FormulaError as e:  # pragma: no cover
            return _error(f"{e.code}: {e.detail}")

    def _run_session(self):
        formula = self._session_formula()
        if isinstance(formula, Reply):
            return formula, None
        when = self.now()
        try:
            store = self.scenario.store(when)
        except ValueError as e:
            return _error(f"scenario: {e}"), None
        return formula, formula.evaluate(store, now=when, pool=self.scenario.pool, seed=self._seed())

    # -- meta-commands -------------------------------------------------------------------------

    def meta(self, line: str) -> Reply:
        command, *rest = line.split(None, 1)
        command, rest = command.lower(), (rest[0].strip() if rest else "")
        if command in _QUIT:
            return Reply(quit=True)
        handler = getattr(self, "_cmd_" + command[1:], None) if command[1:].isalpha() else None
        if handler is None:
            return _error(f"unknown command {command!r} (:help lists the commands)")
        return handler(rest)

    def _cmd_help(self, rest: str) -> Reply:
        lines = ["Statements end with ';' (a newline does not end one). Each input is added to the",
                 "session formula and the whole formula runs again; assignments print name=value,",
                 "expression statements '= value'. An input that fails is not kept.", ""]
        usage = {c: f"{c} {args}".rstrip() for c, (args, _) in META_COMMANDS.items()}
        width = max(map(len, usage.values()))
        lines += [f"  {usage[c]:<{width}}  {what}" for c, (_, what) in META_COMMANDS.items()]
        return Reply(lines)

    def _cmd_load(self, rest: str) -> Reply:
        if not rest:
            return _error(":load needs a scenario file")
        try:
            self.scenario = load_scenario(_unquote(rest))
        except ScenarioError as e:
            return _error(str(e))
        self.time = None
        series = ", ".join(self.scenario.samples) or "no series"
        return Reply([f"loaded {_unquote(rest)}: time {format_timestamp(self.now())}, {series}"])

    def _cmd_time(self, rest: str) -> Reply:
        if rest:
            when = self.clock() if rest.lower() == "now" else parse_iso_time(_unquote(rest))
            if when is None:
                return _error(f":time: cannot parse {rest!r} (use e.g. 2026-03-02T10:00:00Z)")
            self.time = when
            return Reply([f"time {format_timestamp(when)}"])
        if self.time is not None:
            origin = "set with :time"
        elif self.scenario.time is not None:
            origin = "the scenario's"
        else:
            origin = "now: the clock, read at each evaluation"
        return Reply([f"time {format_timestamp(self.now())} ({origin})"])

    def _cmd_samples(self, rest: str) -> Reply:
        if not rest:
            lines = [_series_line(n, v) for n, v in self.scenario.samples.items()]
            return Reply(lines or ["no samples"])
        parts = rest.split(None, 1)
        name = canonical_series_name(parts[0])
        if name is None:
            return _error(f":samples: {parts[0]!r} is not a series variable"
                          f"{suggestion_suffix(parts[0], SERIES_VARIABLES)}")
        if len(parts) == 1:
            return Reply([_series_line(name, self.scenario.samples.get(name, []))])
        others = sum(len(v) for k, v in self.scenario.samples.items() if k != name)
        try:
            values = _sample_values(_unquote(parts[1]), SCENARIO_SAMPLES - others)
        except ValueError as e:
            return _error(f":samples: {e}")
        samples = dict(self.scenario.samples)
        if values:
            samples[name] = values
        else:
            samples.pop(name, None)
        self.scenario = dataclasses.replace(self.scenario, samples=samples)
        return Reply([_series_line(name, values)])

    def _cmd_pool(self, rest: str) -> Reply:
        changes = {}
        folded = {k.lower(): f for k, f in POOL_KEYS.items()}
        for item in rest.split():
            key, eq, raw = item.partition("=")
            attr = folded.get(key.lower())
            if attr is None or not eq:
                return _error(f":pool: expected key=value with a key among {', '.join(POOL_KEYS)}; "
                              f"got {item!r}")
            if raw.lower() in ("none", "null") and attr.startswith("target"):
                changes[attr] = None  # a target that follows the current count again
                continue
            try:
                number = float(raw)
            except ValueError:
                number = math.nan
            if not math.isfinite(number) or number < 0:
                return _error(f":pool: {key} must be a finite number >= 0, got {raw!r}")
            changes[attr] = number
        if changes:
            pool = dataclasses.replace(self.scenario.pool, **changes)
            self.scenario = dataclasses.replace(self.scenario, pool=pool)
        return Reply([_pool_line(self.scenario.pool)])

    def _cmd_seed(self, rest: str) -> Reply:
        if rest:
            if rest.lower() in ("none", "null"):
                seed = None
            else:
                try:
                    seed = int(rest)
                except ValueError:
                    return _error(f":seed: expected an integer or none, got {rest!r}")
            self.scenario = dataclasses.replace(self.scenario, seed=seed)
        seed = self.scenario.seed
        return Reply([f"seed {seed}" if seed is not None else
                      "seed none (rand() draws from a fresh random seed at each evaluation)"])

    def _interval(self, key: str, rest: str, positive: bool) -> Reply:
        if rest:
            problem = interval_problem(_unquote(rest), positive=positive)
            if problem is not None:
                return _error(f":{key}: {problem}")
            value = parse_duration(_unquote(rest))
            self.scenario = dataclasses.replace(self.scenario, **{key: value})
        return Reply([f"{key} {format_value(getattr(self.scenario, key))}"])

    def _cmd_period(self, rest: str) -> Reply:
        return self._interval("period", rest, True)

    def _cmd_delay(self, rest: str) -> Reply:
        return self._interval("delay", rest, False)

    def _cmd_scenario(self, rest: str) -> Reply:
        lines = self._cmd_time("").lines + [_pool_line(self.scenario.pool)]
        lines += self._cmd_period("").lines + self._cmd_delay("").lines + self._cmd_seed("").lines
        lines += [_series_line(n, v) for n, v in self.scenario.samples.items()] or ["no samples"]
        return Reply(lines)

    def _cmd_vars(self, rest: str) -> Reply:
        formula, run = self._run_session()
        if run is None:
            return formula
        lines = [f"{name}={format_value(value)} ({self.variables.get(name, '?')})"
                 for name, value in run.entries[3:]]
        reply = Reply(lines or ["no user variables"])
        if run.error is not None:
            reply.lines.append(f"error: {run.error.code}: {run.error.detail}")
            reply.failed = True
        return reply

    def _cmd_results(self, rest: str) -> Reply:
        formula, run = self._run_session()
        if run is None:
            return formula
        reply = Reply([run.results])
        if run.error is not None:
            reply.lines.append(f"error: {run.error.code}: {run.error.detail}")
            reply.failed = True
        return reply

    def _cmd_explain(self, rest: str) -> Reply:
        from poolscale.formula.trace import explain

        formula = self._session_formula()
        if isinstance(formula, Reply):
            return formula
        when = self.now()
        try:
            store = self.scenario.store(when)
        except ValueError as e:
            return _error(f"scenario: {e}")
        trace = explain(formula, store, now=when, pool=self.scenario.pool, seed=self._seed())
        return Reply(trace.render_text().rstrip("\n").split("\n"), failed=trace.run.error is not None)

    def _cmd_type(self, rest: str) -> Reply:
        if not rest:
            return _error(":type needs an expression")
        if canonical_series_name(rest) is not None and rest.startswith("$"):
            return Reply([str(SERIES)])
        text = _normalized(rest)
        base = self.source
        try:
            formula = compile_formula(base + text)
        except FormulaError as e:
            return self._failure(e.code, e.detail, _line_count(base), text, e.hint)
        last = formula.program.statements[-1]
        node = last.value if isinstance(last, ast.Assign) else last.expr
        return Reply([str(formula.facts.types[id(node)])])

    def _cmd_lint(self, rest: str) -> Reply:
        formula = self._session_formula()
        if isinstance(formula, Reply):
            return formula
        lines = [f"warning: {w.code}: {w.detail}" for w in formula.warnings]
        return Reply(lines or ["no warnings"])

    def _cmd_source(self, rest: str) -> Reply:
        if not self.inputs:
            return Reply(["the session formula is empty"])
        lines = LineIndex(self.source)
        count = _line_count(self.source)
        return Reply([f"{i:>3}  {lines.line_text(i)}".rstrip() for i in range(1, count + 1)])

    def _cmd_save(self, rest: str) -> Reply:
        if not rest:
            return _error(":save needs a file name")
        path = _unquote(rest)
        from .atomicwrite import atomic_write

        try:  # replaced whole: a full disk or Ctrl-C leaves the file as it was
            with atomic_write(path) as f:
                f.write(self.source)
        except OSError as e:
            return _error(f"cannot write {path}: {e.strerror or e}")
        return Reply([f"saved {len(self.inputs)} input(s) to {path}"])

    def _cmd_formula(self, rest: str) -> Reply:
        if not rest:
            return _error(":formula needs a formula file")
        path = _unquote(rest)
        try:
            text = read_file(path, limit=FORMULA_FILE_BYTES, kind="a formula file").decode("utf-8")
        except InputLimitError as e:
            return _error(str(e))
        except OSError as e:
            return _error(cannot_read(path, e))
        except UnicodeDecodeError as e:
            return _error(not_utf8(path, e))
        text = text[1:] if text.startswith("\ufeff") else text
        return self.evaluate(text) if _has_statements(text) else Reply()

    def _cmd_undo(self, rest: str) -> Reply:
        if not self.inputs:
            return Reply(["nothing to undo"])
        dropped = self.inputs.pop()
        formula = self._session_formula()
        if not isinstance(formula, Reply):
            self._learn(formula)
        first = dropped.strip().splitlines()[0]
        return Reply([f"dropped: {first}" + (" ..." if dropped.strip().count("\n") else "")])

    def _cmd_reset(self, rest: str) -> Reply:
        self.inputs.clear()
        self.variables = {}
        return Reply(["the session formula is empty"])


# -- formatting helpers ------------------------------------------------------------------------

def _statement_lines(trace, first: int) -> list[str]:
    """The values of the new statements (those at offset >= first), read from the
    decision trace, which is the run itself: it sees expression values and stop()."""
    lines: list[str] = []
    for event in trace.events:
        if event.kind != "statement":
            continue
        new, data = event.offset >= first, event.data
        if data.get("stopped"):
            lines.append(STOPPED if new else NOT_RUN)
            break
        if new and "value" in data:
            shown = format_value(data["value"])
            lines.append(f"{data['name']}={shown}" if "name" in data else f"= {shown}")
    return lines


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _sample_values(text: str, budget: int) -> list[float | None]:
    """Series notation, or a JSON list of numbers and nulls (as in a scenario file); at most
    ``budget`` values, what the session's other series leave of the scenario limit."""
    if text.lstrip().startswith("["):
        try:
            items = load_json(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"invalid JSON list: {e.msg}") from None
        except InputLimitError as e:
            raise ValueError(e.detail) from None
        if not isinstance(items, list) or not all(
                x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)) for x in items):
            raise ValueError("expected a list of numbers and nulls")
        _within(len(items), budget)
        return [None if x is None else float(x) for x in items]
    try:
        _within(notation_length(text), budget)
        return parse_notation(text)
    except NotationError as e:
        raise ValueError(str(e)) from None


def _within(count: int, budget: int) -> None:
    if count > budget:
        raise ValueError(f"{count:,} samples would make {SCENARIO_SAMPLES - budget + count:,} "
                         f"in all; a scenario may hold at most {SCENARIO_SAMPLES:,} "
                         "(docs/limits.md)")


def _swallowed_command(text: str) -> bool:
    """Whether a line after the first of ``text`` starts with a meta-command (``:samples``):
    the statement above lacked its ``;``, so the command became part of it (a line may
    rightly start with the ``:`` of ``?:``, so it is not taken as a command)."""
    for line in text.splitlines()[1:]:
        word = line.strip().split(maxsplit=1)[0] if line.strip() else ""
        if word in META_COMMANDS:
            return True
    return False


def _series_line(name: str, values) -> str:
    if not values:
        return f"{name}: no samples"
    try:
        shown = format_notation(values)
    except ValueError:
        shown = " ".join("_" if v is None else format_double(v) for v in values)
    return f"{name}: {shown} ({len(values)} sample{'s' if len(values) != 1 else ''})"


def _pool_line(pool: PoolState) -> str:
    values = {"currentDedicatedNodes": pool.current_dedicated,
              "currentLowPriorityNodes": pool.current_low_priority,
              "targetDedicatedNodes": pool.dedicated_target,
              "targetLowPriorityNodes": pool.low_priority_target,
              "taskSlotsPerNode": pool.task_slots_per_node}
    return "pool " + " ".join(f"{k}={format_double(float(v))}" for k, v in values.items())


# -- drivers -----------------------------------------------------------------------------------

class InputLineError(ValueError):
    """A line of standard input that line mode cannot take: too long, or not UTF-8."""


def bounded_lines(stream: BinaryIO, limit: int = FORMULA_FILE_BYTES) -> Iterator[str]:
    """The lines of a byte stream (standard input in line mode), decoded as UTF-8, each at
    most ``limit`` bytes: a line without an end (``/dev/zero``) is refused once it passes the
    limit, instead of being read until memory runs out, and a line that is not UTF-8 is
    refused by number, whatever the locale says about decoding standard input."""
    number = 0
    while True:
        raw = stream.readline(limit + 1)
        if not raw:
            return
        number += 1
        if len(raw) > limit:
            raise InputLineError(f"<stdin>: a line longer than {size_text(limit)}, the limit "
                                 f"for a line of REPL input (docs/limits.md)")
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputLineError(f"<stdin>: line {number} is not UTF-8 (byte {e.start + 1})") from None


def run_lines(session: ReplSession, lines: Iterable[str], write: Callable[[str], object]) -> int:
    """Line mode (standard input is not a terminal): no prompt, no echo, only output.

    A meta-command is a line starting with ``:`` while no statement is pending;
    statement lines gather until the text ends with ``;`` (at the end of the input,
    whatever is pending runs as is). Returns 1 if any input failed, else 0.
    """
    failed = False
    pending = _Pending()
    for number, line in enumerate(lines):
        if number == 0 and line.startswith("\ufeff"):
            line = line[1:]
        if pending.blank and line.strip().startswith(":"):
            reply = session.handle(line)
        else:
            if not pending.add(line):
                continue
            reply = session.handle(pending.take())
        write(reply.text)
        failed |= reply.failed
        if reply.quit:
            return int(failed)
    if not pending.blank:
        reply = session.handle(pending.take())
        write(reply.text)
        failed |= reply.failed
    return int(failed)


class _Pending:
    """The statement lines gathered in line mode, and whether they are complete yet (what
    :func:`is_complete` says of their text) in time linear in their length.

    Asking ``is_complete`` after every line reads the whole text each time: 20,000 lines that
    never end with ``;`` took minutes. Strings and ``//`` comments end at a line break, so the
    tokens of earlier lines never change, and only the new line is read; after an unclosed
    ``/*``, the comment is read again only once a line brings a ``*/``."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0                # characters gathered
        self.blank = True            # nothing but white space so far
        self.last: str | None = None  # the type of the last token before any open comment
        self.comment: list[str] | None = None  # the text from an unclosed /*, in parts

    def add(self, line: str) -> bool:
        """Append ``line``; whether the text now ends with ``;`` (or holds no statement).
        A statement is at most FORMULA_FILE_BYTES characters, as a formula file is: lines
        that never end one are not gathered without bound."""
        self.size += len(line)
        if self.size > FORMULA_FILE_BYTES:
            raise InputLineError(f"<stdin>: a statement longer than "
                                 f"{size_text(FORMULA_FILE_BYTES)}, the limit for a statement of "
                                 f"REPL input (docs/limits.md)")
        self.parts.append(line)
        self.blank = self.blank and not line.strip()
        if self.comment is not None:
            self.comment.append(line)
            if "*/" not in line:
                return False
            line, self.comment = "".join(self.comment), None
        tokens = tokenize(line)
        if tokens and tokens[-1].problem == "comment":
            self.comment = [tokens[-1].text]
            tokens.pop()
        if tokens:
            self.last = tokens[-1].type
        return self.comment is None and self.last in (None, "SEMI")

    def take(self) -> str:
        """The text gathered, and start afresh."""
        text = "".join(self.parts)
        self.__init__()
        return text


def history_path(environ=None) -> Path:
    """``$XDG_STATE_HOME/poolscale/history``, or ``~/.local/state/poolscale/history``."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_STATE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "poolscale" / "history"


def run_terminal(session: ReplSession, **options) -> int:
    """The interactive shell (prompt_toolkit); see :mod:`poolscale.runtime.repl_terminal`."""
    from .repl_terminal import run_terminal as run

    return run(session, **options)
