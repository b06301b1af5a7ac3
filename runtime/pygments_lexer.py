"""A Pygments lexer for Azure Batch autoscale formulas (``pygmentize -l autoscale``).

Registered under the ``pygments.lexers`` entry point, so any Pygments user
(Sphinx, MkDocs, ``pygmentize``, the REPL's highlighting) finds it by the alias
``autoscale`` or ``batch-autoscale`` or the ``*.formula`` file name.

It follows the tokens of docs/language.md#tokens and the name resolution of
docs/language.md#names-and-how-they-resolve:

* ``$``-names that are service variables (docs/language.md#variables) are ``Name.Builtin``; other
  ``$``-names and bare names are user variables, ``Name.Variable``;
* a known function name followed by ``(`` is ``Name.Function``, as is a name
  after ``.`` followed by ``(`` (a series method); a name after ``.`` without a
  call is a timestamp member, ``Name.Attribute``;
* ``TimeInterval_*`` constants are ``Name.Constant`` and the deallocation
  keywords ``Keyword.Constant``;
* every character that starts no token (``#``, ``[``, a lone ``&``, non-ASCII
  letters, …) is ``Error``, as is a string left open at the end of a line.

Service names match without regard to case, as in the language. Highlighting
is not checking: ``$PendingTasks.Foo()`` highlights ``Foo`` as a method.

A string or block comment still open at the very end of the text is
highlighted as a string or comment, not as an error, because in the REPL that
is the text being typed.
"""

from __future__ import annotations

import re

from pygments.lexer import RegexLexer, bygroups
from pygments.token import (
    Comment, Error, Keyword, Name, Number, Operator, Punctuation, String, Whitespace,
)

from poolscale.formula import builtins

__all__ = ["AutoscaleLexer"]

_NAME = r"[A-Za-z][A-Za-z0-9_]*"
_END = r"(?![A-Za-z0-9_])"            # a whole name, not the prefix of a longer one
# followed by "(": call position (docs/language.md#names-and-how-they-resolve rule 1)
_CALL = r"(?=[ \t\r\n]*\()"


def _alternatives(names) -> str:
    # Longest first, so that a name is never cut short by one of its prefixes.
    ordered = sorted(set(names), key=lambda n: (-len(n), n))
    return "(?i:" + "|".join(re.escape(n) for n in ordered) + ")"


def _service_variables() -> list[str]:
    return [*builtins.SERIES.values(), *builtins.SCALARS.values(),
            *(t.canonical for t in builtins.TARGETS.values())]


def _functions() -> list[str]:
    builtins._load()
    return [f.canonical for f in builtins.FUNCTIONS.values()]


class AutoscaleLexer(RegexLexer):
    """Azure Batch autoscale formulas (the poolscale language, docs/language.md#lexical-rules)."""

    name = "autoscale"
    aliases = ["autoscale", "batch-autoscale"]
    filenames = ["*.formula"]
    mimetypes = ["text/x-autoscale"]
    url = "https://learn.microsoft.com/azure/batch/batch-automatic-scaling"

    flags = 0

    tokens = {
        "root": [
            (r"[ \t\r\n]+", Whitespace),
            (r"//[^\r\n]*", Comment.Single),
            (r"/\*[\s\S]*?\*/", Comment.Multiline),
            (r"/\*[\s\S]*", Comment.Multiline),
            (r'"[^"\r\n]*"', String.Double),
            (r'"[^"\r\n]*(?=\n?\Z)', String.Double),
            (r'"[^"\r\n]*', Error),
            (r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", Number),
            (r"(\.)([ \t\r\n]*)(" + _NAME + ")" + _CALL,
             bygroups(Punctuation, Whitespace, Name.Function)),
            (r"(\.)([ \t\r\n]*)(" + _NAME + ")", bygroups(Punctuation, Whitespace, Name.Attribute)),
            (_alternatives(_service_variables()) + _END, Name.Builtin),
            (r"\$" + _NAME, Name.Variable),
            (_alternatives(_functions()) + _END + _CALL, Name.Function),
            (_alternatives(c for c, _ in builtins.CONSTANTS.values()) + _END, Name.Constant),
            (_alternatives(k for k, _ in builtins.KEYWORDS.values()) + _END, Keyword.Constant),
            (_NAME, Name.Variable),
            (r"<=|>=|==|!=|&&|\|\||[-+*/%!<>?:=]", Operator),
            (r"[(),.;]", Punctuation),
            (r".", Error),
        ],
    }
