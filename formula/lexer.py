"""The tokenizer: one pass, never fails.

The limits phase counts statements on a token stream "from a tokenizer that never fails"
(docs/language.md#limits), and the syntax phase must report a lexical problem only when the parser
reaches it (docs/language.md#syntax-errors: the first point, left to right, where the text stops
being a formula). So this module turns every character into some token: a character that starts no
token, an unterminated string and an unterminated block comment each become an ``INVALID`` token,
and ``poolscale.formula.parser`` raises when the parser pulls one.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Order matters only where two alternatives can start at the same character;
# Python's regex alternation is ordered, so longer operators come first.
# re.ASCII: a NUMBER is ASCII digits only; without it \d also matches other
# scripts' digits ('٣', '３'), which float() would then read as numbers.
_TOKEN = re.compile(
    r"""
    (?P<WS>[ \t\r\n]+)
  | (?P<LINE_COMMENT>//[^\r\n]*)
  | (?P<BLOCK_COMMENT>/\*.*?\*/)
  | (?P<OPEN_COMMENT>/\*)
  | (?P<NUMBER>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<NAME>\$?[A-Za-z][A-Za-z0-9_]*)
  | (?P<STRING>"[^"\r\n]*")
  | (?P<OPEN_STRING>"[^"\r\n]*)
  | (?P<REL_OP><=|>=|<|>)
  | (?P<EQ_OP>==|!=)
  | (?P<ANDAND>&&)
  | (?P<OROR>\|\|)
  | (?P<EQUAL>=)
  | (?P<BANG>!)
  | (?P<PLUS>\+)
  | (?P<MINUS>-)
  | (?P<STAR>\*)
  | (?P<SLASH>/)
  | (?P<PERCENT>%)
  | (?P<QMARK>\?)
  | (?P<COLON>:)
  | (?P<LPAR>\()
  | (?P<RPAR>\))
  | (?P<COMMA>,)
  | (?P<DOT>\.)
  | (?P<SEMI>;)
    """,
    re.VERBOSE | re.DOTALL | re.ASCII,
)

_SKIP = frozenset({"WS", "LINE_COMMENT", "BLOCK_COMMENT"})


class Tok(NamedTuple):
    """A token: its terminal name, its text and its code-point offsets."""

    type: str
    text: str
    start: int
    end: int
    #: for INVALID tokens, why: "character", "string" or "comment"
    problem: str = ""


def tokenize(text: str) -> list[Tok]:
    """All tokens of ``text``, comments and whitespace dropped. Never raises."""
    out: list[Tok] = []
    append = out.append
    match = _TOKEN.match
    pos, n = 0, len(text)
    while pos < n:
        m = match(text, pos)
        if m is None:
            append(Tok("INVALID", text[pos], pos, pos + 1, "character"))
            pos += 1
            continue
        kind = m.lastgroup
        end = m.end()
        if kind not in _SKIP:
            if kind == "OPEN_COMMENT":
                append(Tok("INVALID", text[pos:], pos, n, "comment"))
                break
            if kind == "OPEN_STRING":
                append(Tok("INVALID", m.group(), pos, end, "string"))
            else:
                append(Tok(kind, m.group(), pos, end))
        pos = end
    return out


_COMMENT_KINDS = frozenset({"LINE_COMMENT", "BLOCK_COMMENT"})


def tokenize_with_comments(text: str) -> list[Tok]:
    """The tokens of ``tokenize`` with the comments in place: ``LINE_COMMENT`` and
    ``BLOCK_COMMENT`` tokens, in text order. Whitespace is still dropped. Never raises.

    For ``poolscale fmt``, which must keep every comment. Built on ``tokenize`` so
    that both agree on every other token: a comment can only lie in a gap between
    two of its tokens (an unterminated ``/*`` is an INVALID token, not a gap).
    """
    out: list[Tok] = []
    pos = 0
    for tok in tokenize(text):
        if tok.start > pos:
            _comments_in(text, pos, tok.start, out)
        out.append(tok)
        pos = tok.end
    if pos < len(text):
        _comments_in(text, pos, len(text), out)
    return out


def _comments_in(text: str, pos: int, end: int, out: list[Tok]) -> None:
    """Append the comments of a gap that holds only whitespace and comments."""
    match = _TOKEN.match
    while pos < end:
        m = match(text, pos, end)
        kind = m.lastgroup
        if kind in _COMMENT_KINDS:
            out.append(Tok(kind, m.group(), pos, m.end()))
        pos = m.end()


def split_statements(tokens: list[Tok]) -> list[list[Tok]]:
    """The non-empty statements of a token stream: pieces between ``;`` tokens."""
    pieces: list[list[Tok]] = []
    current: list[Tok] = []
    for tok in tokens:
        if tok.type == "SEMI":
            if current:
                pieces.append(current)
                current = []
        else:
            current.append(tok)
    if current:
        pieces.append(current)
    return pieces
