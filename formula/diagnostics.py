"""Positions, diagnostics and the caret renderer.

Positions are stored as code-point offsets into the formula text and turned into ``Line L, Col C``
only when a diagnostic is made or printed (docs/language.md#text-lines-and-columns: LF, CR LF and a
lone CR are each one break; a tab is one column).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open range ``[start, end)`` of code-point offsets."""

    start: int
    end: int

    def cover(self, other: "Span") -> "Span":
        return Span(min(self.start, other.start), max(self.end, other.end))


class LineIndex:
    """Maps offsets to 1-based (line, column) pairs for one text."""

    __slots__ = ("text", "_starts")

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts = [0] + [m.end() for m in _BREAK.finditer(text)]

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._starts, offset) - 1
        return line + 1, offset - self._starts[line] + 1

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its break."""
        start = self._starts[line - 1]
        end = self._starts[line] if line < len(self._starts) else len(self.text)
        return _BREAK.sub("", self.text[start:end])


def location(line: int, column: int) -> str:
    """The ``Line L, Col C`` prefix used by every detail text."""
    return f"Line {line}, Col {column}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding: an error or a lint warning, with its resolved position."""

    code: str
    message: str
    offset: int
    line: int
    column: int
    severity: str = "error"
    end_offset: int | None = field(default=None, compare=False)
    #: poolscale's advice beside the message, such as ``did you mean '$PendingTasks'?``
    #: (:mod:`.suggest`). Kept apart from ``message`` because the message of an error is
    #: the service's detail text, which an AutoScaleRun carries byte for byte.
    hint: str | None = field(default=None, compare=False)

    @classmethod
    def at(cls, index: LineIndex, offset: int, code: str, message: str, *,
           severity: str = "error", end: int | None = None, hint: str | None = None) -> "Diagnostic":
        line, column = index.position(offset)
        return cls(code, message, offset, line, column, severity, end, hint)

    @property
    def detail(self) -> str:
        """``Line L, Col C: message``: the service's detail (never the hint)."""
        return f"{location(self.line, self.column)}: {self.message}"

    @property
    def advice(self) -> str:
        """The message and the hint, ``message; hint``: what poolscale's own reports show."""
        return self.message if self.hint is None else f"{self.message}; {self.hint}"


def render_caret(index: LineIndex, diagnostic: Diagnostic) -> str:
    """The source line of a diagnostic with a caret under its column."""
    width = 1
    if diagnostic.end_offset is not None:
        end_line, end_col = index.position(diagnostic.end_offset)
        if end_line == diagnostic.line and end_col > diagnostic.column:
            width = end_col - diagnostic.column
    shown, marks = caret_lines(index.line_text(diagnostic.line), diagnostic.column, width)
    return f"{shown}\n{marks}"


#: characters of a long source line shown around the column (a one-line formula of 600 KB
#: would otherwise be printed whole, and 8 KB of spaces under it, for one message)
SHOWN_COLUMNS = 160


def caret_lines(source: str, column: int, width: int = 1) -> tuple[str, str]:
    """``source`` (clipped to SHOWN_COLUMNS around the 1-based ``column``, with ``…`` where it
    is cut) and the line of ``width`` carets under it. Tabs before the column are kept as tabs
    so that the caret lines up in a terminal whatever its tab width."""
    col = column - 1
    if len(source) > SHOWN_COLUMNS:
        start = max(0, min(col - SHOWN_COLUMNS // 2, len(source) - SHOWN_COLUMNS))
        end = start + SHOWN_COLUMNS
        head, tail = ("…" if start else ""), ("…" if end < len(source) else "")
        width = max(1, min(width, end - col))
        source, col = head + source[start:end] + tail, col - start + len(head)
    prefix = "".join("\t" if ch == "\t" else " " for ch in source[:col])
    return source, prefix + "^" * max(width, 1)
