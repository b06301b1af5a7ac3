"""The names the service defines: variables, constants, keywords, functions,
methods and members (docs/language.md#names-and-how-they-resolve, docs/language.md#variables,
docs/language.md#functions, docs/language.md#time-values,
docs/language.md#sample-series-and-windows).

Service names match without regard to case, so every table is keyed by the
lower-cased name and gives back the canonical spelling (used by lints and by
runtime error details). Functions and methods are registered with their
overloads by the ``@function`` / ``@method`` decorators in ``functions.py`` and
``methods.py``; an overload is picked from the static argument types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from poolscale.metrics.variables import SERIES_VARIABLES

from .types import DOUBLE, INTERVAL, LIST, OPTION, VEC, Type
from .values import (
    TICKS_PER_DAY, TICKS_PER_HOUR, TICKS_PER_MILLISECOND, TICKS_PER_MINUTE, TICKS_PER_SECOND,
    Option, TimeInterval,
)

#: lower-cased series name -> canonical ``$Name``
SERIES: dict[str, str] = {name.lower(): name for name in SERIES_VARIABLES}

#: read-only scalars (docs/language.md#read-only-scalars): lower-cased -> canonical
SCALARS: dict[str, str] = {n.lower(): n for n in (
    "$CurrentDedicatedNodes", "$CurrentLowPriorityNodes", "$TaskSlotsPerNode", "$CurrentDedicated")}
DEPRECATED = {"$CurrentDedicated": "$CurrentDedicatedNodes"}


@dataclass(frozen=True, slots=True)
class Target:
    """A read-write service variable (docs/language.md#targets-and-the-deallocation-option).
    ``slot`` is the shared value it names ('dedicated', 'lowpriority' or 'option'); ``alias`` says
    whether this spelling is the legacy alias, which records assignments in a slot of its own."""

    canonical: str
    slot: str
    alias: bool
    type: Type


TARGETS: dict[str, Target] = {t.canonical.lower(): t for t in (
    Target("$TargetDedicatedNodes", "dedicated", False, DOUBLE),
    Target("$TargetDedicated", "dedicated", True, DOUBLE),
    Target("$TargetLowPriorityNodes", "lowpriority", False, DOUBLE),
    Target("$TargetLowPriority", "lowpriority", True, DOUBLE),
    Target("$NodeDeallocationOption", "option", False, OPTION),
)}
FULL_NAMES = {"dedicated": "$TargetDedicatedNodes", "lowpriority": "$TargetLowPriorityNodes",
              "option": "$NodeDeallocationOption"}
ALIASES = {"dedicated": "$TargetDedicated", "lowpriority": "$TargetLowPriority"}

#: TimeInterval_* constants (docs/language.md#time-interval-constants):
#: lower-cased -> (canonical, value)
CONSTANTS: dict[str, tuple[str, TimeInterval]] = {c.lower(): (c, TimeInterval(t)) for c, t in (
    ("TimeInterval_Zero", 0),
    ("TimeInterval_100ns", 1),
    ("TimeInterval_Microsecond", 10),
    ("TimeInterval_Millisecond", TICKS_PER_MILLISECOND),
    ("TimeInterval_Second", TICKS_PER_SECOND),
    ("TimeInterval_Minute", TICKS_PER_MINUTE),
    ("TimeInterval_Hour", TICKS_PER_HOUR),
    ("TimeInterval_Day", TICKS_PER_DAY),
    ("TimeInterval_Week", 7 * TICKS_PER_DAY),
    ("TimeInterval_Year", 365 * TICKS_PER_DAY),
)}

#: deallocation keywords: lower-cased -> (canonical, value)
KEYWORDS: dict[str, tuple[str, Option]] = {o.value: (o.value, o) for o in Option}

#: timestamp members (docs/language.md#timestamp-members): lower-cased -> canonical
MEMBERS: dict[str, str] = {m: m for m in ("year", "month", "day", "weekday", "hour", "minute", "second")}


@dataclass(frozen=True, slots=True)
class Form:
    """One overload: parameter types (``LIST`` alone = a doubleVecList), result type
    and the implementation."""

    params: tuple
    result: Type
    impl: Callable

    def accepts(self, args: tuple[Type, ...]) -> bool:
        if self.params == (LIST,):
            return all(a is DOUBLE or a is VEC for a in args)
        return self.params == args


@dataclass(slots=True)
class Callable_:
    canonical: str
    forms: list[Form] = field(default_factory=list)

    def match(self, args: tuple[Type, ...]) -> Form | None:
        for form in self.forms:
            if form.accepts(args):
                return form
        return None


FUNCTIONS: dict[str, Callable_] = {}
METHODS: dict[str, Callable_] = {}


def _register(table: dict[str, Callable_], name: str, params, result: Type):
    def decorate(impl):
        entry = table.setdefault(name.lower(), Callable_(name))
        entry.forms.append(Form(tuple(params), result, impl))
        return impl
    return decorate


def function(name: str, params, result: Type):
    """Register ``impl(env, lparen, *args)`` as an overload of function ``name``."""
    return _register(FUNCTIONS, name, params, result)


def method(name: str, params, result: Type):
    """Register ``impl(env, call, *args)`` as an overload of series method ``name``."""
    return _register(METHODS, name, params, result)


def lookup_function(name: str) -> Callable_ | None:
    """The function a call names; a ``$``-name is never a function
    (docs/language.md#names-and-how-they-resolve)."""
    if name.startswith("$"):
        return None
    _load()
    return FUNCTIONS.get(name.lower())


def lookup_method(name: str) -> Callable_ | None:
    _load()
    return METHODS.get(name.lower())


def _load() -> None:
    # The implementations register themselves on import; importing them here
    # (not at module top) avoids an import cycle with the evaluator's helpers.
    if not FUNCTIONS:
        from . import functions, methods  # noqa: F401


# -- name resolution in value position (docs/language.md#names-and-how-they-resolve, rule 3) --

@dataclass(frozen=True, slots=True)
class Resolved:
    """What a name in value or assignment position is.

    kind: 'series' | 'scalar' | 'target' | 'constant' | 'keyword' | 'user'
    """

    kind: str
    canonical: str
    target: Target | None = None
    value: object = None


def resolve(name: str) -> Resolved:
    if name.startswith("$"):
        key = name.lower()
        if key in SERIES:
            return Resolved("series", SERIES[key])
        if key in SCALARS:
            return Resolved("scalar", SCALARS[key])
        if key in TARGETS:
            t = TARGETS[key]
            return Resolved("target", t.canonical, t)
        return Resolved("user", name)
    key = name.lower()
    if key in CONSTANTS:
        canonical, value = CONSTANTS[key]
        return Resolved("constant", canonical, value=value)
    if key in KEYWORDS:
        canonical, value = KEYWORDS[key]
        return Resolved("keyword", canonical, value=value)
    return Resolved("user", name)


def value_names() -> tuple[str, ...]:
    """Every service name that can stand in value position, canonically spelt: series,
    scalars, targets, constants and keywords (what an unknown name may have meant)."""
    return (*SERIES.values(), *SCALARS.values(), *(t.canonical for t in TARGETS.values()),
            *(c for c, _ in CONSTANTS.values()), *(k for k, _ in KEYWORDS.values()))


def type_list(types) -> str:
    """``(double, doubleVec)`` as in the TypeError texts of docs/language.md#validation-errors."""
    return "(" + ", ".join(str(t) for t in types) + ")"


VECTOR_ACCEPTING = frozenset({DOUBLE, VEC})
__all__ = ["SERIES", "SCALARS", "TARGETS", "CONSTANTS", "KEYWORDS", "MEMBERS", "FUNCTIONS",
           "METHODS", "Form", "Resolved", "resolve", "lookup_function", "lookup_method",
           "function", "method", "type_list", "INTERVAL", "VECTOR_ACCEPTING"]
