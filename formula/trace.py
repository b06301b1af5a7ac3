"""The decision trace of one run: what ``poolscale explain`` shows.

A ``Trace`` records, in evaluation order, every statement's value, every
``?:`` (which branch ran, and the condition's value), every ``&&``/``||`` that
skipped its right operand, and every series method call (the window, the
samples it used, the percentage available and the minimum it had to meet),
plus the error and where it arose.

It is produced by compiling the formula once more with ``_TracingCompiler``,
which wraps the very closures ``Formula.evaluate`` uses: the traced run is
the same computation, not a second interpreter that could drift from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import ast
from .builtins import lookup_method
from .compiler import _Compiler
from .depth import deep_stack
from .errors import EvaluationError, StopRun
from .formula import Formula
from .methods import DEFAULT_PCT, _instants, _lookbacks, is_window_form
from .outcome import AutoScaleRun
from .poolstate import PoolState
from .state import RunState
from .types import DOUBLE, INTERVAL
from .values import (
    MAX_TIMESTAMP_TICKS, MIN_TIMESTAMP_TICKS, Option, Timestamp, TimeInterval, format_double,
    format_interval, format_timestamp, format_value, json_value,
)


@dataclass
class Event:
    """One step of a run. ``kind``: statement | branch | shortcut | sample | error."""

    kind: str
    offset: int
    line: int = 0
    column: int = 0
    text: str = ""                       # the source text of the node
    data: dict = field(default_factory=dict)


@dataclass
class Trace:
    source: str
    run: AutoScaleRun
    events: list[Event]

    def to_dict(self) -> dict:
        return {
            "run": self.run.to_dict(),
            "events": [{"kind": e.kind, "line": e.line, "column": e.column, "text": e.text,
                        **{k: _jsonable(v) for k, v in e.data.items()}} for e in self.events],
        }

    def render_text(self) -> str:
        """Each statement, the decisions inside it, then its value."""
        lines: list[str] = []
        pending: list[str] = []  # the value line of the statement being shown

        def flush():
            lines.extend(pending)
            pending.clear()

        for e in self.events:
            where = f"{e.line}:{e.column}"
            d = e.data
            if e.kind == "statement":
                flush()
                lines.append(f"{where}  {_short(e.text)}")
                if "value" in d:
                    shown = format_value(d["value"])
                    pending.append(f"        => {d['name']} = {shown}" if "name" in d else f"        => {shown}")
                elif d.get("stopped"):
                    pending.append("        => stop(): the run ends here")
            elif e.kind == "branch":
                lines.append(f"{where}    ?: condition {_short(d['condition'])} = {format_value(d['value'])}"
                             f" ({'true' if d['taken'] == 'then' else 'false'}) -> {d['taken']} branch "
                             f"{_short(d['branch'])}")
            elif e.kind == "shortcut":
                lines.append(f"{where}    {d['op']}: left = {format_value(d['left'])}, right operand "
                             f"{_short(d['right'])} not evaluated")
            elif e.kind == "sample":
                lines.append(f"{where}    {_sample_line(d)}")
            elif e.kind == "error":
                lines.append(f"{where}    error {d['code']}: {d['detail']}")
        flush()
        lines.append(f"results: {self.run.results}")
        if self.run.error is not None:
            lines.append(f"error: {self.run.error.code}: {self.run.error.message}")
            lines.append(self.run.error.detail)
        return "\n".join(lines) + "\n"


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_RUNTIME_VALUES = (float, np.ndarray, Timestamp, TimeInterval, Option)


def _jsonable(v):
    """Runtime values as ``eval --json`` writes them; event texts and numbers pass through."""
    return json_value(v) if isinstance(v, _RUNTIME_VALUES) else v


def _sample_line(d: dict) -> str:
    head = f"{d['series']}.{d['method']}({d['args']})"
    if "window" not in d:
        return f"{head} -> {format_value(d['result'])}" if "result" in d else head
    lo, hi = d["window"]
    text = (f"{head}: window ({lo}, {hi}], expected {format_double(d['expected'])}, "
            f"available {d['available']} = {format_double(d['percent'])}%")
    if "minimum" in d:
        verdict = "ok" if d["percent"] >= d["minimum"] else "FAILS"
        text += f", minimum {format_double(d['minimum'])}% {verdict}"
    if "samples" in d:
        text += f"; samples {format_value(d['samples'])}"
    return text


def explain(formula: Formula, store=None, *, now, pool: PoolState | None = None,
            seed: int | None = None) -> Trace:
    """Run ``formula`` once as ``Formula.evaluate`` would, recording its decisions.

    The traced run is packaged exactly as ``Formula.evaluate`` packages a run,
    so ``trace.run`` is the run itself (``rand()`` draws included)."""
    from .formula import _ticks
    from .outcome import AutoScaleRunError

    compiler = _TracingCompiler(formula)
    with deep_stack(_TracingCompiler.FRAMES_PER_LEVEL):
        statements = [compiler.statement_traced(s) for s in formula.program.statements]
    state = RunState(store if store is not None else _store(), _ticks(now), pool or PoolState(), seed)
    error = None
    try:
        with np.errstate(all="ignore"), deep_stack():
            for st in statements:
                st(state)
    except StopRun:
        pass
    except EvaluationError as e:
        error = e
    events = compiler.events
    if error is not None:
        events.append(Event("error", error.offset, data={"code": error.code,
                                                         "detail": formula._detail(error.offset, error.text)}))
    for e in events:
        e.line, e.column = formula.index.position(e.offset)
    run = formula._package(state, None if error is None else
                           AutoScaleRunError(error.code, formula._detail(error.offset, error.text)))
    return Trace(formula.source, run, events)


def _store():
    from .formula import _empty_store

    return _empty_store()


class _TracingCompiler(_Compiler):
    #: ``expr`` -> this ``_expr`` -> the base ``_expr`` -> an operator -> ``expr``
    FRAMES_PER_LEVEL = 4

    def __init__(self, formula: Formula) -> None:
        super().__init__(formula.facts)
        self.source = formula.source
        self.events: list[Event] = []

    def text(self, node) -> str:
        return self.source[node.span.start:node.span.end]

    def statement_traced(self, stmt):
        events, text = self.events, self.text(stmt)
        if isinstance(stmt, ast.Assign):
            run, name, res = self.statement(stmt), stmt.name, self.facts.names[id(stmt)]
        else:
            value, name, res = self.expr(stmt.expr), None, None

            def run(s):
                data["value"] = value(s)

        def traced(s):
            nonlocal data
            data = {} if name is None else {"name": name}
            events.append(Event("statement", stmt.span.start, text=text, data=data))
            try:
                run(s)
            except StopRun:
                data["stopped"] = True
                raise
            if name is not None:
                data["value"] = _read_back(s, res, name)
        data: dict = {}
        return traced

    def _expr(self, node):
        if isinstance(node, ast.Cond):
            return self.cond(node)
        if isinstance(node, ast.Logic):
            return self.logic(node)
        if isinstance(node, ast.Method) and id(node) in self.facts.forms:
            return self.traced_method(node)
        return super()._expr(node)

    def cond(self, node: ast.Cond):
        c, t, e = self.expr(node.cond), self.expr(node.then), self.expr(node.otherwise)
        events, cond_text = self.events, self.text(node.cond)
        texts = {"then": self.text(node.then), "else": self.text(node.otherwise)}

        def traced(s):
            value = c(s)
            taken = "then" if value != 0 else "else"
            events.append(Event("branch", node.qmark, text=self.text(node), data={
                "condition": cond_text, "value": value, "taken": taken, "branch": texts[taken]}))
            return t(s) if taken == "then" else e(s)
        return traced

    def logic(self, node: ast.Logic):
        l, r = self.expr(node.left), self.expr(node.right)
        events, right_text, op = self.events, self.text(node.right), node.op
        text = self.text(node)

        def traced(s):
            left = l(s)
            if (left == 0) if op == "&&" else (left != 0):
                events.append(Event("shortcut", node.op_offset, text=text,
                                    data={"op": op, "left": left, "right": right_text}))
                return 0.0 if op == "&&" else 1.0
            return 1.0 if r(s) != 0 else 0.0
        return traced

    def traced_method(self, node: ast.Method):
        form = self.facts.forms[id(node)]
        impl = form.impl
        from .methods import Site

        site = Site(self.facts.names[id(node.receiver)].canonical, node.lparen)
        args = [self.expr(a) for a in node.args]
        events = self.events
        args_text = ", ".join(self.text(a) for a in node.args)
        method_name = lookup_method(node.name).canonical

        def traced(s):
            values = [a(s) for a in args]
            data = {"series": site.series, "method": method_name, "args": args_text}
            window = _window_of(s, site, form, values, method_name)
            if window is not None:
                data.update(window)
            event = Event("sample", node.lparen, text=self.text(node), data=data)
            events.append(event)
            result = impl(s, site, *values)
            data["result"] = result
            if window is not None and is_window_form(form):
                data["samples"] = result
            return result
        return traced


def _read_back(s: RunState, res, name: str):
    if res.kind == "target":
        slot = res.target.slot
        return s.option if slot == "option" else getattr(s, slot).current
    return s.vars.get(name)


def _window_of(s, site, form, values, method_name):
    """The window a window-form call looks at, as GetSample/GetSamplePercent compute it."""
    params = form.params
    if not params or params[0] is DOUBLE:
        return None
    minimum = None
    if method_name == "GetSample":
        minimum = values[-1] if params[-1] is DOUBLE else DEFAULT_PCT
        values = values[:-1] if params[-1] is DOUBLE else values
    try:
        if params[0] is INTERVAL:
            lo, hi = _lookbacks(s, site, method_name, values[0], values[1] if len(values) > 1 else None)
        else:
            lo, hi = _instants(s, values[0], values[1] if len(values) > 1 else None)
    except EvaluationError:
        return None
    w = s.store.window(site.series, lo, hi, s.now)
    out = {"window": (_instant_text(lo), _instant_text(hi)),
           "expected": w.expected, "available": w.available, "percent": w.percent}
    if minimum is not None:
        out["minimum"] = minimum
    return out


def _instant_text(ticks: int) -> str:
    """A window bound as a timestamp. A look-back can reach before 0001-01-01 (a run at year 1,
    or ``TimeInterval_Year * 20000``): the run only counts the samples it has there, so such
    a bound is shown as the first timestamp minus the rest, ``0001-01-01T00:00:00.000Z - 00:10:00``."""
    if ticks < MIN_TIMESTAMP_TICKS:
        first = format_timestamp(Timestamp(MIN_TIMESTAMP_TICKS))
        return f"{first} - {format_interval(TimeInterval(MIN_TIMESTAMP_TICKS - ticks))}"
    if ticks > MAX_TIMESTAMP_TICKS:
        last = format_timestamp(Timestamp(MAX_TIMESTAMP_TICKS))
        return f"{last} + {format_interval(TimeInterval(ticks - MAX_TIMESTAMP_TICKS))}"
    return format_timestamp(Timestamp(ticks))
