"""Find the shell transcripts in README.md and docs/*.md, run them, and say where they drift.

A page that shows a command and its output makes a promise: a user who types the command in a
clone gets that output. This module turns every such transcript into something a test can
check, so the promise is kept by CI rather than by memory. The convention (also described in
docs/testing.md, "The documentation's commands"):

* A transcript is a fenced code block (no language, or ``console``/``shell``/``sh``/``bash``)
  with at least one line starting with ``$ ``. Other blocks (synopses, YAML, JSON, Python) are
  not run.
* ``$ COMMAND`` is run by ``/bin/sh`` from the repository root, with ``poolscale`` and
  ``python`` on PATH. A line ending in a backslash continues on the next, and a here-document
  (``<<'EOF'`` ... ``EOF``) belongs to its command.
* The lines after it, up to the next ``$`` line or the end of the block, are what the command
  prints: standard output and standard error together, as a terminal shows them. Spaces at the
  end of a line and blank lines at the end of the output are not compared.
* A line that is exactly ``...`` stands for any number of lines left out (an excerpt); the
  lines shown must still appear, in order, each whole.
* ``$ cd DIR`` makes the block's later commands run in DIR (relative to the repository root).
* ``$ echo $?`` shows the exit status of the command before it; without it the status is not
  checked (the output is).
* ``<!-- doctest: skip REASON -->`` on the line before the opening fence: the block is not run
  (a command that needs a terminal, say), and the test reports REASON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

#: a line of output standing for lines left out
OMITTED = "..."
#: the fence languages whose blocks may be transcripts
SHELL_LANGUAGES = frozenset({"", "console", "shell", "sh", "bash", "shell-session"})
#: the pseudo-command showing the previous command's exit status
EXIT_STATUS = "echo $?"

_FENCE = re.compile(r"^( *)(```+|~~~+)\s*([\w-]*)\s*$")
_SKIP = re.compile(r"^<!--\s*doctest:\s*skip\b\s*(.*?)\s*-->\s*$")
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")


@dataclass
class Command:
    """One ``$`` line (with its here-document) and the output the page shows for it."""

    text: str
    line: int                      # 1-based line of the ``$`` in the page
    expected: list[str] = field(default_factory=list)


@dataclass
class Transcript:
    """A fenced block of commands, run in order in one working directory."""

    page: str                      # the page's path relative to the repository root
    line: int                      # 1-based line of the opening fence
    commands: list[Command]
    skip: str | None = None        # the reason the block is not run

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def transcripts(page: str, text: str) -> list[Transcript]:
    """Every transcript of a Markdown page, in page order."""
    lines = text.splitlines()
    found: list[Transcript] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        indent, opener, language = fence.groups()
        close = _closing_fence(lines, i + 1, opener)
        # a block inside a list item is indented with it: the indent is not part of its text
        body = [b[len(indent):] if b.startswith(indent) else b.lstrip(" ") for b in lines[i + 1:close]]
        if language.lower() in SHELL_LANGUAGES and any(b.startswith("$ ") for b in body):
            skip = _SKIP.match(lines[i - 1].strip()) if i > 0 else None
            found.append(Transcript(page, i + 1, _commands(body, i + 2),
                                    skip=(skip.group(1) or "no reason given") if skip else None))
        i = close + 1
    return found


def _closing_fence(lines: list[str], start: int, opener: str) -> int:
    for j in range(start, len(lines)):
        if lines[j].strip().startswith(opener[0] * len(opener)) and not lines[j].strip().strip(opener[0]):
            return j
    return len(lines)


def _commands(body: list[str], first_line: int) -> list[Command]:
    commands: list[Command] = []
    j = 0
    while j < len(body):
        line = body[j]
        if not line.startswith("$ "):
            if commands:
                commands[-1].expected.append(line)
            j += 1              # text before the first command: a caption, not output
            continue
        text, start = line[2:], j
        while text.endswith("\\") and j + 1 < len(body):     # a command continued on the next line
            j += 1
            text = f"{text}\n{body[j]}"
        heredoc = _HEREDOC.search(text)
        if heredoc:
            end = next((k for k in range(j + 1, len(body)) if body[k] == heredoc.group(2)), len(body))
            text = "\n".join([text, *body[j + 1:end + 1]])
            j = end
        commands.append(Command(text, first_line + start))
        j += 1
    return commands


def bare(command: str) -> str:
    """The command without a trailing ``# comment``, to recognise ``cd`` and ``echo $?``."""
    return re.sub(r"\s+#.*", "", command).strip()


def normalised(lines: list[str]) -> list[str]:
    """Lines as compared: no spaces at line ends, no blank lines at the end."""
    out = [line.rstrip() for line in lines]
    while out and not out[-1]:
        out.pop()
    return out


def output_drift(expected: list[str], actual: list[str]) -> str | None:
    """None when ``actual`` is what ``expected`` shows (``...`` lines standing for any lines),
    else a description of the first difference."""
    expected, actual = normalised(expected), normalised(actual)
    if OMITTED not in expected:
        if expected == actual:
            return None
        return _first_difference(expected, actual)
    # an excerpt: the shown pieces appear in order; the first piece starts the output and the
    # last one ends it unless an ``...`` stands before or after it
    pieces: list[list[str]] = [[]]
    for line in expected:
        if line == OMITTED:
            pieces.append([])
        else:
            pieces[-1].append(line)
    at = 0
    for n, piece in enumerate(pieces):
        if not piece:
            continue
        if n == 0:
            found = 0 if actual[:len(piece)] == piece else -1
        elif n == len(pieces) - 1:
            found = len(actual) - len(piece) if len(actual) - len(piece) >= at and \
                actual[len(actual) - len(piece):] == piece else -1
        else:
            found = next((k for k in range(at, len(actual) - len(piece) + 1)
                          if actual[k:k + len(piece)] == piece), -1)
        if found < 0:
            return f"the shown lines\n  {_quoted(piece)}\nare not in the output (after line {at})"
        at = found + len(piece)
    return None


def _first_difference(expected: list[str], actual: list[str]) -> str:
    for n, (want, got) in enumerate(zip(expected, actual), 1):
        if want != got:
            return f"line {n} differs:\n  shown:   {want!r}\n  printed: {got!r}"
    if len(expected) > len(actual):
        return f"the output ends after line {len(actual)}; the page shows more: {expected[len(actual)]!r}"
    return f"the output goes on after line {len(expected)}: {actual[len(expected)]!r}"


def _quoted(lines: list[str]) -> str:
    return "\n  ".join(repr(line) for line in lines)


def pages(root: Path) -> list[Path]:
    """README.md and every docs/*.md, so a new page's commands are checked without listing it."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]
