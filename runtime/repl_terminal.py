"""The terminal layer of ``poolscale repl``, on prompt_toolkit.

Everything here is presentation: syntax highlighting (the Pygments lexer of
:mod:`poolscale.runtime.pygments_lexer`), completion (the pure
:func:`poolscale.runtime.completion.complete`), multi-line editing (Enter
submits only once the text ends with ``;``), history on disk, coloured errors.
What an input does is decided by :class:`poolscale.runtime.repl.ReplSession`.
This is the only module that imports prompt_toolkit; nothing imports it but
``ReplSession``'s ``run_terminal``, so the other commands never load it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from prompt_toolkit import PromptSession, print_formatted_text
from prompt_toolkit.completion import (
    CompleteEvent, Completer, Completion, PathCompleter, get_common_complete_suffix,
)
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.lexers import Lexer, PygmentsLexer
from prompt_toolkit.styles.pygments import pygments_token_to_classname

from poolscale.formula.values import format_timestamp

from .completion import complete
from .pygments_lexer import AutoscaleLexer
from .repl import ReplSession, is_complete

__all__ = ["run_terminal"]

BANNER = ("poolscale repl: statements end with ';' (Alt-Enter submits anyway); "
          ":help lists the commands, Ctrl-D leaves.")


def run_terminal(session: ReplSession, *, history: Path | None = None, input=None, output=None,
                 write: Callable[[str], object] | None = None, banner: bool = True) -> int:
    """Prompt, run, print, until ``:quit`` or Ctrl-D; Ctrl-C drops the text being typed.

    ``input``/``output`` are prompt_toolkit's (a pipe input and ``DummyOutput`` in
    tests); ``write`` receives the replies (default: printed, errors in red).
    """
    emit = write or _print
    prompt = PromptSession(
        message="poolscale> ", multiline=True, prompt_continuation=_continuation,
        key_bindings=_key_bindings(), lexer=ReplLexer(), completer=ReplCompleter(session),
        complete_while_typing=True, history=_history(history), input=input, output=output)
    if banner:
        emit(f"{BANNER}\ntime {format_timestamp(session.now())}\n")
    while True:
        try:
            text = prompt.prompt()
        except KeyboardInterrupt:
            continue
        except EOFError:
            return 0
        reply = session.handle(text)
        if reply.lines:
            emit(reply.text)
        if reply.quit:
            return 0


def _history(path: Path | None) -> History:
    if path is None:
        return InMemoryHistory()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
    except OSError:  # a read-only home: keep the session usable, without history
        return InMemoryHistory()
    return FileHistory(str(path))


def _continuation(width: int, line_number: int, wrap_count: int) -> str:
    return "." * (width - 1) + " "


def _print(text: str) -> None:
    for line in text.splitlines():
        style = "ansired" if line.startswith("error:") else (
            "ansiyellow" if line.startswith("warning:") else "")
        print_formatted_text(FormattedText([(style, line)]))


def _key_bindings() -> KeyBindings:
    kb = KeyBindings()

    @kb.add("enter")
    def _enter(event) -> None:
        buf = event.current_buffer
        state = buf.complete_state
        if state is not None and state.current_completion is not None:
            buf.complete_state = None  # keep the chosen completion, close the menu
            return
        doc = buf.document
        if is_complete(doc.text) and not doc.text_after_cursor.strip():
            buf.validate_and_handle()
        else:
            buf.insert_text("\n")

    @kb.add("escape", "enter")
    def _submit(event) -> None:
        event.current_buffer.validate_and_handle()

    @kb.add("tab")
    def _tab(event) -> None:
        # Computed here, synchronously (the completer is pure and fast), so that a
        # unique completion is in place before the next key: fast typing or pasted
        # input never races prompt_toolkit's background completion.
        buf = event.current_buffer
        if buf.complete_state is not None:
            buf.complete_next()
            return
        if buf.completer is None:
            return
        doc = buf.document
        found = list(buf.completer.get_completions(doc, CompleteEvent(completion_requested=True)))
        if len(found) == 1:
            buf.apply_completion(found[0])
        elif found:
            common = get_common_complete_suffix(doc, found)
            if common:
                buf.insert_text(common)
            buf.start_completion()

    return kb


class ReplLexer(Lexer):
    """Formula text through the Pygments lexer; a meta-command line gets its name as a
    keyword and, for ``:type``, its expression highlighted as formula text."""

    def __init__(self) -> None:
        self.formula = PygmentsLexer(AutoscaleLexer)
        self.pygments = AutoscaleLexer()

    def lex_document(self, document):
        text = document.text
        if not text.lstrip().startswith(":") or "\n" in text:
            return self.formula.lex_document(document)
        lead = text[: len(text) - len(text.lstrip())]
        command, sep, rest = text.lstrip().partition(" ")
        parts = [("", lead), ("class:pygments.keyword", command), ("", sep)]
        if command.lower() == ":type":
            parts += [("class:" + pygments_token_to_classname(tok), value)
                      for _, tok, value in self.pygments.get_tokens_unprocessed(rest)]
        else:
            parts.append(("", rest))
        return lambda lineno: parts if lineno == 0 else []


class ReplCompleter(Completer):
    """:func:`poolscale.runtime.completion.complete`, plus file names after
    ``:load``, ``:formula`` and ``:save``."""

    FILE_COMMANDS = (":load ", ":formula ", ":save ")

    def __init__(self, session: ReplSession) -> None:
        self.session = session
        self.paths = PathCompleter(expanduser=True)

    def get_completions(self, document, complete_event):
        before = document.text_before_cursor
        stripped = before.lstrip()
        for command in self.FILE_COMMANDS:
            if stripped.lower().startswith(command):
                arg = stripped[len(command):].lstrip()
                yield from self.paths.get_completions(Document(arg, len(arg)), complete_event)
                return
        cursor = len(before)
        variables = self.session.variables
        for c in complete(document.text, cursor, variables=variables):
            if c.start == cursor and not complete_event.completion_requested \
                    and not before.endswith("."):
                return  # nothing typed yet: wait for a first character, or Tab
            meta = f"variable: {variables[c.text]}" if c.kind == "variable" and \
                c.text in variables else c.kind
            yield Completion(c.text, start_position=c.start - cursor, display_meta=meta)
