"""Text -> ``Program``: the limits and syntax phases (docs/language.md#limits,
docs/language.md#syntax).

This is the only module that talks to Lark. The grammar lives in
``grammar/autoscale.lark``; tokens come from ``poolscale.formula.lexer`` (so that a
lexical problem is reported exactly where the parser reaches it); the LALR parser
calls ``_Builder`` at each reduction, so no Lark tree is ever built and no Lark
object escapes this module. Every failure becomes a ``FormulaLimitError`` or a
``FormulaSyntaxError`` with the message table of docs/language.md#syntax-errors.
"""

from __future__ import annotations

import functools

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedInput, UnexpectedToken
from lark.lexer import Lexer

from . import ast
from .diagnostics import Diagnostic, LineIndex, Span
from .errors import FormulaLimitError, FormulaSyntaxError
from .lexer import Tok, split_statements, tokenize

MAX_LENGTH = 8192
MAX_STATEMENTS = 100

SYNTAX = "AutoScalingFormulaSyntaxError"
_STATEMENT_START = frozenset({"NAME", "NUMBER", "STRING", "LPAR", "MINUS", "BANG"})
_OPERAND_END = frozenset({"NAME", "NUMBER", "STRING", "RPAR"})
_COMPARISON = frozenset({"REL_OP", "EQ_OP"})


class _Feed:
    """Hands pre-made tokens to Lark and raises the lexical error of an INVALID
    token only when the parser asks for it (everything before it has parsed)."""

    __future_interface__ = 0

    def __init__(self, lexer_conf=None) -> None:
        pass

    def lex(self, feed: "_Input"):
        for tok in feed.tokens:
            if tok.type == "INVALID":
                raise _LexicalProblem(tok)
            yield Token(tok.type, tok.text, tok.start, None, None, None, None, tok.end)


class _Input:
    __slots__ = ("tokens",)

    def __init__(self, tokens: list[Tok]) -> None:
        self.tokens = tokens


class _LexicalProblem(Exception):
    def __init__(self, tok: Tok) -> None:
        self.tok = tok


Lexer.register(_Feed)


def _span(first, last) -> Span:
    return Span(_start(first), _end(last))


def _start(x) -> int:
    return x.start_pos if isinstance(x, Token) else x.span.start


def _end(x) -> int:
    return x.end_pos if isinstance(x, Token) else x.span.end


def _args(node) -> tuple:
    return tuple(node) if node is not None else ()


class _Builder(Transformer):
    """Builds AST nodes at each LALR reduction (callbacks are the grammar's aliases)."""

    def start(self, items):
        return ast.Program(tuple(i for i in items if i is not None and not isinstance(i, Token)))

    def assign(self, c):
        name, _eq, value = c
        return ast.Assign(str(name), value, _span(name, value))

    def exprstmt(self, c):
        (expr,) = c
        return ast.ExprStmt(expr, expr.span)

    def cond(self, c):
        test, q, then, _colon, otherwise = c
        return ast.Cond(test, then, otherwise, q.start_pos, _span(test, otherwise))

    def _binary(cls):
        def build(self, c):
            left, op, right = c
            return cls(str(op), left, right, op.start_pos, _span(left, right))
        return build

    logic = _binary(ast.Logic)
    compare = _binary(ast.Compare)
    binary = _binary(ast.Binary)
    del _binary

    def unary(self, c):
        op, operand = c
        return ast.Unary(str(op), operand, op.start_pos, _span(op, operand))

    def method(self, c):
        receiver, _dot, name, lpar, args, rpar = c
        return ast.Method(receiver, str(name), _args(args), name.start_pos, lpar.start_pos,
                          _span(receiver, rpar))

    def member(self, c):
        receiver, _dot, name = c
        return ast.Member(receiver, str(name), name.start_pos, _span(receiver, name))

    def number(self, c):
        (tok,) = c
        return ast.Number(float(tok), str(tok), _span(tok, tok))

    def string(self, c):
        (tok,) = c
        return ast.String(str(tok)[1:-1], _span(tok, tok))

    def ref(self, c):
        (tok,) = c
        return ast.Ref(str(tok), _span(tok, tok))

    def call(self, c):
        name, lpar, args, rpar = c
        return ast.Call(str(name), _args(args), name.start_pos, lpar.start_pos, _span(name, rpar))

    def paren(self, c):
        lpar, inner, rpar = c
        # Parentheses leave no node; the inner expression's span grows to cover them
        # so that "the first character of the expression" includes a leading "(".
        return _with_span(inner, _span(lpar, rpar))

    def args(self, c):
        return tuple(x for x in c if not isinstance(x, Token))


def _with_span(node, span: Span):
    import dataclasses

    return dataclasses.replace(node, span=span)


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    """The parser, from the tables shipped with the package (see ``grammar_tables``), or built
    from the grammar when they do not match it; never from a cache file."""
    from .grammar_tables import grammar_text, load_tables

    grammar = grammar_text()
    shipped = load_tables(grammar, _Feed)
    if shipped is None:
        return build_from_grammar(grammar, transformer=_Builder())
    data, memo = shipped
    return Lark._load_from_dict(data, memo, transformer=_Builder())


def build_from_grammar(grammar: str, *, transformer: Transformer | None) -> Lark:
    """The LALR parser computed from the grammar's text (~45 ms)."""
    return Lark(grammar, parser="lalr", lexer=_Feed, transformer=transformer,
                maybe_placeholders=True)


def check_length(text: str, index: LineIndex | None = None) -> None:
    """The limits phase's first check, made before the text is lexed: a formula of megabytes
    costs no more than one of 8,193 characters to refuse."""
    if len(text) > MAX_LENGTH:
        index = index or LineIndex(text)
        raise FormulaLimitError([Diagnostic.at(
            index, MAX_LENGTH, "AutoScaleFormulaTooLong",
            f"the formula has {len(text)} characters; at most {MAX_LENGTH} are allowed")], text)


def check_limits(text: str, tokens: list[Tok], index: LineIndex | None = None) -> None:
    """The limits phase: length first, then the statement count (docs/language.md#limits)."""
    check_length(text, index)
    if len(tokens) > MAX_STATEMENTS:  # cheap pre-test: each statement has a token
        statements = split_statements(tokens)
        if len(statements) > MAX_STATEMENTS:
            index = index or LineIndex(text)
            raise FormulaLimitError([Diagnostic.at(
                index, statements[MAX_STATEMENTS][0].start, "AutoScaleFormulaTooManyStatements",
                f"the formula has {len(statements)} statements; at most {MAX_STATEMENTS} are allowed")],
                text)


def parse(text: str) -> ast.Program:
    """Run the limits and syntax phases; return the program or raise a FormulaError."""
    check_length(text)
    tokens = tokenize(text)
    check_limits(text, tokens)
    try:
        return _lark().parse(_Input(tokens))
    except _LexicalProblem as problem:
        offset, message = _lexical_message(problem.tok)
    except UnexpectedToken as e:
        offset, message = _syntax_message(e, tokens)
    except UnexpectedInput as e:  # pragma: no cover - the feed never produces others
        offset, message = getattr(e, "pos_in_stream", 0) or 0, "unexpected input"
    raise FormulaSyntaxError([Diagnostic.at(LineIndex(text), offset, SYNTAX, message)], text)


def _lexical_message(tok: Tok) -> tuple[int, str]:
    if tok.problem == "string":
        return tok.start, "unterminated string"
    if tok.problem == "comment":
        return tok.start, "unterminated comment"
    ch = tok.text
    if " " <= ch <= "~":
        return tok.start, f"unexpected character '{ch}'"
    return tok.start, f"unexpected character U+{ord(ch):04X}"


def _syntax_message(e: UnexpectedToken, tokens: list[Tok]) -> tuple[int, str]:
    tok = e.token
    if tok.type == "$END":
        return (tokens[-1].end if tokens else 0), "unexpected end of formula"
    offset = tok.start_pos
    previous = _previous(tokens, offset)
    if tok.type in _COMPARISON and previous is not None and previous.type in _OPERAND_END:
        return offset, "comparison operators cannot be chained; add parentheses"
    if tok.type in _STATEMENT_START and "SEMI" in _accepted(e):
        return offset, "';' probably missing before this statement"
    return offset, f"unexpected '{tok}'"


def _accepted(e: UnexpectedToken) -> set[str]:
    try:
        return set(e.accepts or e.expected)
    except Exception:  # pragma: no cover - interactive look-ahead is best effort
        return set(e.expected)


def _previous(tokens: list[Tok], offset: int) -> Tok | None:
    import bisect

    i = bisect.bisect_left([t.start for t in tokens], offset)
    return tokens[i - 1] if i > 0 else None
