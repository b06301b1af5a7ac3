"""Completion for the REPL: given the text and the cursor, the names that fit there.

Pure (no terminal, no prompt_toolkit) so that it is tested as a function and the
REPL's prompt_toolkit ``Completer`` stays a three-line adapter.

What is offered depends on where the cursor is (docs/language.md#names-and-how-they-resolve):

* after ``.`` on a series variable: the series methods (docs/language.md#series-methods);
  after ``.`` on anything else: the timestamp members (docs/language.md#timestamp-members);
* a word starting with ``$``: the service variables (series, pool scalars,
  targets) and the ``$``-user variables;
* any other word: the functions, the ``TimeInterval_*`` constants, the
  deallocation keywords and the bare user variables;
* inside a string or a comment: nothing.

Matching is a case-insensitive prefix match, as service names ignore case; the
canonical spelling is what gets inserted. The legacy aliases
``$TargetDedicated`` / ``$TargetLowPriority`` and the deprecated
``$CurrentDedicated`` are valid but never offered: completion steers towards
the names the lints do not question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from poolscale.formula import builtins

__all__ = ["Candidate", "complete", "META_COMMANDS", "POOL_KEYS", "assigned_names"]

# The tokens of formula/lexer.py plus the comments it skips: completion must know
# when the cursor sits inside a comment or a string.
_SCAN = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<comment>//[^\r\n]*|/\*.*?\*/)
  | (?P<open_comment>/\*.*)
  | (?P<string>"[^"\r\n]*")
  | (?P<open_string>"[^"\r\n]*)
  | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>\$?[A-Za-z][A-Za-z0-9_]*)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL | re.ASCII,
)

#: the REPL's meta-commands: name -> (arguments, what it does); also the :help text
META_COMMANDS: dict[str, tuple[str, str]] = {
    ":help": ("", "this list"),
    ":load": ("SCENARIO", "use a scenario file (JSON or YAML); clears :time"),
    ":time": ("[ISO|now]", "show or set the evaluation time"),
    ":samples": ('[$Var ["notation"]]', 'show or set a series (notation or JSON list; "" clears)'),
    ":pool": ("[key=value ...]", "show or set the pool (currentDedicatedNodes=2 ...)"),
    ":seed": ("[N|none]", "show or set the rand() seed"),
    ":period": ("[DURATION]", "show or set the sample period (PT30S)"),
    ":delay": ("[DURATION]", "show or set the sample delay (PT0S)"),
    ":scenario": ("", "show the whole scenario"),
    ":vars": ("", "the user variables, with their values and types"),
    ":results": ("", "the results string of the session formula"),
    ":explain": ("", "the decision trace of the session formula"),
    ":type": ("EXPR", "the static type of EXPR (nothing is evaluated or kept)"),
    ":lint": ("", "the lint warnings of the session formula"),
    ":source": ("", "the session formula, with line numbers"),
    ":save": ("FILE", "write the session formula to FILE"),
    ":formula": ("FILE", "evaluate a formula file as one input"),
    ":undo": ("", "drop the last kept input"),
    ":reset": ("", "forget every input (the scenario stays)"),
    ":quit": ("", "leave (also :q, :exit, Ctrl-D)"),
}

#: ``:pool`` keys: the scenario file's camelCase names (docs/language.md#scenario-file) -> PoolState
#: fields
POOL_KEYS: dict[str, str] = {
    "currentDedicatedNodes": "current_dedicated",
    "currentLowPriorityNodes": "current_low_priority",
    "targetDedicatedNodes": "target_dedicated",
    "targetLowPriorityNodes": "target_low_priority",
    "taskSlotsPerNode": "task_slots_per_node",
}


@dataclass(frozen=True, slots=True)
class Candidate:
    """One completion: ``text`` replaces ``text[start:cursor]``; ``kind`` is shown beside it."""

    text: str
    start: int
    kind: str


# Kinds in the order candidates are listed; within a kind, case-insensitive alphabetical order.
_KIND_ORDER = ("variable", "target", "scalar", "series", "function", "method", "member",
               "constant", "keyword", "command", "pool key")


def _service_dollar_names() -> list[tuple[str, str]]:
    legacy = set(builtins.DEPRECATED) | set(builtins.ALIASES.values())
    names = [(n, "series") for n in builtins.SERIES.values()]
    names += [(n, "scalar") for n in builtins.SCALARS.values() if n not in legacy]
    names += [(t.canonical, "target") for t in builtins.TARGETS.values() if t.canonical not in legacy]
    return names


def _bare_names() -> list[tuple[str, str]]:
    builtins._load()
    names = [(f.canonical, "function") for f in builtins.FUNCTIONS.values()]
    names += [(c, "constant") for c, _ in builtins.CONSTANTS.values()]
    names += [(k, "keyword") for k, _ in builtins.KEYWORDS.values()]
    return names


def _methods() -> list[tuple[str, str]]:
    builtins._load()
    return [(m.canonical, "method") for m in builtins.METHODS.values()]


def _members() -> list[tuple[str, str]]:
    return [(m, "member") for m in builtins.MEMBERS.values()]


def _scan(text: str) -> list[tuple[str, str, int, int]]:
    return [(m.lastgroup, m.group(), m.start(), m.end()) for m in _SCAN.finditer(text)]


def assigned_names(text: str) -> list[str]:
    """User variables assigned in ``text`` (``NAME =`` at the start of a statement), in order."""
    toks = [t for t in _scan(text) if t[0] not in ("ws", "comment")]
    found: list[str] = []
    for i, (kind, value, _, _) in enumerate(toks):
        if (kind == "name" and i + 1 < len(toks) and toks[i + 1][1] == "="
                and (i == 0 or toks[i - 1][1] == ";")
                and builtins.resolve(value).kind == "user" and value not in found):
            found.append(value)
    return found


def _rank(c: Candidate) -> tuple:
    return (_KIND_ORDER.index(c.kind) if c.kind in _KIND_ORDER else len(_KIND_ORDER),
            c.text.casefold(), c.text)


def _matching(pool, word: str, start: int) -> list[Candidate]:
    folded = word.casefold()
    seen: set[tuple[str, str]] = set()
    out = []
    for text, kind in pool:
        if text.casefold().startswith(folded) and (text, kind) not in seen:
            seen.add((text, kind))
            out.append(Candidate(text, start, kind))
    return sorted(out, key=_rank)


def complete(text: str, cursor: int | None = None, *,
             variables: Mapping[str, object] | None = None) -> list[Candidate]:
    """The candidates for the word that ends at ``cursor`` (default: the end of ``text``).

    ``variables`` are the user variables known so far (name -> anything, e.g. the
    type); the ones assigned earlier in ``text`` itself are added. With nothing
    typed yet (``x = |``) every name that fits is returned; a caller completing
    while the user types may prefer to wait for a first character.
    """
    cursor = len(text) if cursor is None else cursor
    prefix = text[:cursor]
    if prefix.lstrip().startswith(":"):
        return _complete_meta(prefix, variables)
    return _complete_formula(prefix, variables)


def _complete_formula(prefix: str, variables) -> list[Candidate]:
    cursor = len(prefix)
    toks = _scan(prefix)
    if toks:
        kind, value, _, end = toks[-1]
        if kind in ("open_comment", "open_string") or (
                kind == "comment" and value.startswith("//")):
            return []
    word, start = "", cursor
    if toks and toks[-1][0] == "name":
        word, start = toks[-1][1], toks[-1][2]
        toks = toks[:-1]
    elif toks and toks[-1][1] == "$":
        word, start = "$", toks[-1][2]
        toks = toks[:-1]
    significant = [t for t in toks if t[0] not in ("ws", "comment")]
    before = significant[-1] if significant else None
    if not word and before is not None and before[3] == cursor and before[0] in ("number", "string"):
        return []
    if before is not None and before[1] == ".":
        receiver = significant[-2] if len(significant) > 1 else None
        if receiver is not None and receiver[0] == "name" and \
                builtins.resolve(receiver[1]).kind == "series":
            return _matching(_methods(), word, start)
        return _matching(_members(), word, start)
    users = list(variables or ())
    users += [n for n in assigned_names(prefix) if n not in users]
    pool: list[tuple[str, str]] = [(n, "variable") for n in users
                                   if builtins.resolve(n).kind == "user"]
    if word.startswith("$"):
        pool = [p for p in pool if p[0].startswith("$")] + _service_dollar_names()
    elif word:
        pool = [p for p in pool if not p[0].startswith("$")] + _bare_names()
    else:
        pool = pool + _service_dollar_names() + _bare_names()
    return _matching(pool, word, start)


def _complete_meta(prefix: str, variables) -> list[Candidate]:
    lead = len(prefix) - len(prefix.lstrip())
    body = prefix[lead:]
    command, sep, rest = body.partition(" ")
    if not sep:  # still typing the command's name
        return _matching([(c, "command") for c in META_COMMANDS], command, lead)
    offset = lead + len(command) + 1
    command = command.lower()
    if command == ":type":
        inner = _complete_formula(rest, variables)
        return [Candidate(c.text, c.start + offset, c.kind) for c in inner]
    if command == ":samples":
        if rest.strip() and " " in rest.lstrip():
            return []  # past the series name: the notation is free text
        word = rest.lstrip()
        series = [(n, "series") for n in builtins.SERIES.values()]
        # the name may be written without its '$', as in a scenario file
        # (docs/language.md#scenario-file)
        wanted = word if word.startswith("$") else "$" + word
        return _matching(series, wanted, _start_of(prefix, word))
    if command == ":pool":
        word = rest.rsplit(" ", 1)[-1]
        if "=" in word:
            return []
        keys = [(k + "=", "pool key") for k in POOL_KEYS]
        return _matching(keys, word, _start_of(prefix, word))
    return []


def _start_of(prefix: str, word: str) -> int:
    """Where ``word``, the tail of ``prefix``, starts."""
    return len(prefix) - len(word)
