"""The canonical layout of a formula file, comments kept: what ``poolscale fmt`` writes.

The code itself is printed by ``poolscale.formula.printer`` (spacing, minimal
parentheses, numbers as written), so formatting cannot change what a formula
means: the formatted text parses to the same tree. This module adds the layout
around it (docs/fmt.md has the rules with examples):

* One statement per line, ending in ``;``; empty statements are dropped.
* Comments are kept, text verbatim (line breaks become LF and blanks at line ends
  are removed). Each comment is one of:

  - *trailing*: it starts on the line where a statement ends (before or after the
    statement's ``;``, nothing but comments in between). It stays at the end of the
    statement's last line, after one space; several are joined by single spaces.
    Comments after the ``;`` that the next statement follows on the same line
    (``x = 1; /* y */ y = 2;``) lead that statement instead (standalone).
  - *inner*: it lies inside a statement, or between a statement's end and its ``;``
    on a later line. It moves, on a line of its own, to just before the statement
    (after the statement's leading comments), in text order. (After a last statement
    with no ``;``, a comment on a later line is standalone.)
  - *standalone*: any other comment. It goes on a line of its own before the next
    statement (or at the end of the file), in text order.

* A blank line in the input between two of these lines (statements and
  standalone comments) is kept as exactly one blank line; blank lines at the start
  and the end of the file are dropped.
* A statement whose one-line text (with its ``;``, without trailing comments) is
  longer than ``width`` code points, and whose whole expression is a ``?:``, is
  broken before each ``?`` and ``:`` of its else-chain, every such line indented by
  four spaces (a ``?:`` in an else branch continues the chain; one in a condition
  or a then branch stays on its line)::

      $busy = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 10) < 70
          ? 1
          : avg($PendingTasks.GetSample(TimeInterval_Minute * 10));

  Other long statements stay on one line.
* The text ends with one LF (an empty text stays empty). CR LF and lone CR line
  breaks become LF.

The layout depends only on the tree, the comments and where the blank lines are,
so formatting formatted text changes nothing (idempotence).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import ast
from .lexer import Tok, tokenize_with_comments
from .parser import MAX_LENGTH, parse
from .printer import to_text

__all__ = ["format_text", "FormatError", "DEFAULT_WIDTH", "INDENT"]

DEFAULT_WIDTH = 100
INDENT = "    "

_BREAK = re.compile(r"\r\n|\r|\n")
_BLANK_LINE = re.compile(r"(?:\r\n|\r(?!\n)|\n)[ \t]*(?:\r|\n)")  # CR LF is one break
_LINE_END_BLANKS = re.compile(r"[ \t]+(?=\n|\Z)")
_COMMENTS = frozenset({"LINE_COMMENT", "BLOCK_COMMENT"})


class FormatError(ValueError):
    """Formatted text that would no longer be the same formula: over the length limit."""


def format_text(text: str, *, width: int = DEFAULT_WIDTH) -> str:
    """The canonical text of ``text``; raises FormulaError when it does not parse.

    Raises FormatError when the canonical text would be longer than the limit of
    8192 code points (docs/language.md#limits): it would then fail where the original runs.
    """
    program = parse(text)
    tokens = tokenize_with_comments(text)
    lines: list[str] = []
    for item in _items(text, program.statements, tokens):
        if item.blank_before and lines:
            lines.append("")
        lines.extend(item.render(width))
    out = "".join(line + "\n" for line in lines)
    if len(out) > MAX_LENGTH:
        raise FormatError(f"the formatted formula would have {len(out)} characters, over the "
                          f"limit of {MAX_LENGTH}; shorten it (or its comments) first")
    return out


# --------------------------------------------------------------------------- items

@dataclass(slots=True)
class _Comment:
    """A standalone comment: a line of its own."""

    tok: Tok
    blank_before: bool = False

    @property
    def start(self) -> int:
        return self.tok.start

    @property
    def end(self) -> int:
        return self.tok.end

    def render(self, width: int) -> list[str]:
        return [_comment_text(self.tok)]


@dataclass(slots=True)
class _Statement:
    """A statement with the comments that travel with it."""

    stmt: object
    start: int
    end: int  # the end of its ';' or last trailing comment, whichever is later
    inner: list[Tok] = field(default_factory=list)
    trailing: list[Tok] = field(default_factory=list)
    blank_before: bool = False

    def render(self, width: int) -> list[str]:
        out = [_comment_text(c) for c in self.inner]
        code = _statement_lines(self.stmt, width)
        if self.trailing:
            code[-1] += " " + " ".join(_comment_text(c) for c in self.trailing)
        return out + code


def _items(text: str, statements, tokens: list[Tok]) -> list:
    """Standalone comments and statements, in text (and output) order, blank lines marked."""
    items: list = []
    i, n = 0, len(tokens)
    for index, stmt in enumerate(statements):
        start, end = stmt.span.start, stmt.span.end
        while i < n and tokens[i].start < start:  # before the statement: standalone
            if tokens[i].type in _COMMENTS:
                items.append(_Comment(tokens[i]))
            i += 1
        item = _Statement(stmt, start, end)
        while i < n and tokens[i].start < end:
            if tokens[i].type in _COMMENTS:
                item.inner.append(tokens[i])
            i += 1
        following = statements[index + 1].span.start if index + 1 < len(statements) else None
        i = _after(text, tokens, i, following, item)
        items.append(item)
    items.extend(_Comment(t) for t in tokens[i:] if t.type in _COMMENTS)
    for before, after in zip(items, items[1:]):
        after.blank_before = bool(_BLANK_LINE.search(text, before.end, after.start))
    return items


def _after(text: str, tokens: list[Tok], i: int, following: int | None,
           item: _Statement) -> int:
    """Take the statement's ``;`` and the comments that belong to it from the tokens
    after it (up to the next statement, which starts at offset ``following``); return
    the index of the first token left for the caller (standalone comments)."""
    n, prev_end = len(tokens), item.end
    same_line, terminated, broke = True, False, False
    after_semi: int | None = None  # index of the first trailing comment after the ';'
    kept, end_before = 0, item.end  # the trailing comments before it, the item's end then
    pending: list[int] = []  # comments on later lines, before any ';'
    while i < n and (following is None or tokens[i].start < following):
        tok = tokens[i]
        same_line = same_line and not _BREAK.search(text, prev_end, tok.start)
        if tok.type not in _COMMENTS:  # the terminating ';', or an empty statement's
            if not terminated:
                terminated = True
                item.end = max(item.end, tok.end)
                item.inner += [tokens[k] for k in pending]
                pending = []
        elif same_line:
            if terminated and after_semi is None:
                after_semi, kept, end_before = i, len(item.trailing), item.end
            item.trailing.append(tok)
            item.end = max(item.end, tok.end)
        elif not terminated:  # inner if the ';' follows, else (no ';' at all) standalone
            pending.append(i)
        else:
            broke = True
            break
        prev_end = tok.end
        i += 1
    if (after_semi is not None and not broke and following is not None
            and not _BREAK.search(text, prev_end, following)):
        # "x = 1; /* y */ y = 2;": comments after the ';' that the next statement
        # follows on the same line lead that statement instead.
        del item.trailing[kept:]
        item.end = end_before
        return after_semi
    return pending[0] if pending else i  # pending: the last statement has no ';'


# --------------------------------------------------------------------------- text

def _comment_text(tok: Tok) -> str:
    return _LINE_END_BLANKS.sub("", _BREAK.sub("\n", tok.text))


def _statement_lines(stmt, width: int) -> list[str]:
    flat = to_text(stmt)
    expr = stmt.value if isinstance(stmt, ast.Assign) else stmt.expr
    if len(flat) <= width or not isinstance(expr, ast.Cond):
        return [flat]
    head = f"{stmt.name} = " if isinstance(stmt, ast.Assign) else ""
    lines = [head + _condition(expr.cond)]
    node = expr
    while True:
        lines.append(f"{INDENT}? {to_text(node.then)}")
        node = node.otherwise
        if not isinstance(node, ast.Cond):
            break
        lines.append(f"{INDENT}: {_condition(node.cond)}")
    lines.append(f"{INDENT}: {to_text(node)};")
    return lines


def _condition(node) -> str:
    # A condition binds tighter than ?: (docs/language.md#grammar), so only a ?: needs parentheses.
    text = to_text(node)
    return f"({text})" if isinstance(node, ast.Cond) else text
