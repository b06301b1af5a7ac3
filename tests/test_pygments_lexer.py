"""The Pygments lexer: token types, agreement with the formula tokenizer, the entry point."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml
from pygments.token import (
    Comment, Error, Keyword, Name, Number, Operator, Punctuation, String, Whitespace,
)

from poolscale.formula import FormulaError
from poolscale.formula.lexer import tokenize
from poolscale.formula.parser import parse
from poolscale.runtime.pygments_lexer import AutoscaleLexer

ROOT = Path(__file__).resolve().parent.parent


def tokens(text: str) -> list[tuple[object, str]]:
    return [(t, v) for t, v in AutoscaleLexer().get_tokens(text) if t is not Whitespace]


REPRESENTATIVE = """\
// scale with the queue
$busy = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 10) < 70 ? 1 :
        avg($pendingtasks.GetSample(TimeInterval_Minute * 10)); /* at least one */
$TargetDedicatedNodes = min(20, $busy) + .5e1;
max = time("2026-03-02T10:00:00Z").hour != 3 && !Done || 1;
$NodeDeallocationOption = TaskCompletion;
"""


def test_token_types_of_a_representative_formula():
    assert tokens(REPRESENTATIVE) == [
        (Comment.Single, "// scale with the queue"),
        (Name.Variable, "$busy"), (Operator, "="),
        (Name.Builtin, "$PendingTasks"), (Punctuation, "."), (Name.Function, "GetSamplePercent"),
        (Punctuation, "("), (Name.Constant, "TimeInterval_Minute"), (Operator, "*"),
        (Number, "10"), (Punctuation, ")"), (Operator, "<"), (Number, "70"), (Operator, "?"),
        (Number, "1"), (Operator, ":"),
        (Name.Function, "avg"), (Punctuation, "("), (Name.Builtin, "$pendingtasks"),
        (Punctuation, "."), (Name.Function, "GetSample"), (Punctuation, "("),
        (Name.Constant, "TimeInterval_Minute"), (Operator, "*"), (Number, "10"),
        (Punctuation, ")"), (Punctuation, ")"), (Punctuation, ";"),
        (Comment.Multiline, "/* at least one */"),
        (Name.Builtin, "$TargetDedicatedNodes"), (Operator, "="), (Name.Function, "min"),
        (Punctuation, "("), (Number, "20"), (Punctuation, ","), (Name.Variable, "$busy"),
        (Punctuation, ")"), (Operator, "+"), (Number, ".5e1"), (Punctuation, ";"),
        (Name.Variable, "max"), (Operator, "="), (Name.Function, "time"), (Punctuation, "("),
        (String.Double, '"2026-03-02T10:00:00Z"'), (Punctuation, ")"), (Punctuation, "."),
        (Name.Attribute, "hour"), (Operator, "!="), (Number, "3"), (Operator, "&&"),
        (Operator, "!"), (Name.Variable, "Done"), (Operator, "||"), (Number, "1"),
        (Punctuation, ";"),
        (Name.Builtin, "$NodeDeallocationOption"), (Operator, "="),
        (Keyword.Constant, "TaskCompletion"), (Punctuation, ";"),
    ]


def test_names_are_whole_names():
    assert tokens("$CurrentDedicated + $CurrentDedicatedNodes + $PendingTasksX + requeue_x;") == [
        (Name.Builtin, "$CurrentDedicated"), (Operator, "+"),
        (Name.Builtin, "$CurrentDedicatedNodes"), (Operator, "+"),
        (Name.Variable, "$PendingTasksX"), (Operator, "+"), (Name.Variable, "requeue_x"),
        (Punctuation, ";")]


def test_a_function_name_is_a_function_only_in_call_position():
    assert tokens("avg = avg (1); foo(2);") == [
        (Name.Variable, "avg"), (Operator, "="), (Name.Function, "avg"), (Punctuation, "("),
        (Number, "1"), (Punctuation, ")"), (Punctuation, ";"),
        (Name.Variable, "foo"), (Punctuation, "("), (Number, "2"), (Punctuation, ")"),
        (Punctuation, ";")]


def test_invalid_characters_are_errors():
    assert tokens("x = 1 # note") == [
        (Name.Variable, "x"), (Operator, "="), (Number, "1"), (Error, "#"), (Name.Variable, "note")]
    for bad in ("&", "|", "[", "]", "{", "'", "^", "@", "\\", "~", "`", "$", "\u00e9", "\u00a0", "\f"):
        assert (Error, bad) in tokens(f"x = a {bad} b;"), bad


def test_strings_and_comments_left_open():
    # a string cannot span lines: open at the end of a line with more text after it is an error
    assert tokens('x = "abc\ny;')[2] == (Error, '"abc')
    # at the very end of the text it is being typed (the REPL): still a string
    assert tokens('x = "abc')[-1] == (String.Double, '"abc')
    assert tokens("x = 1; /* open\nstill")[-1] == (Comment.Multiline, "/* open\nstill\n")


def test_the_text_is_preserved():
    text = REPRESENTATIVE + 'x = "a\\b" # é\r\ny = 1;\r'
    assert "".join(v for _, _, v in AutoscaleLexer().get_tokens_unprocessed(text)) == text


def _corpus_formulas():
    for path in sorted((ROOT / "tests" / "compliance").glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]:
            if "formula" in case:
                yield pytest.param(case["formula"], id=f"{path.stem}:{case['name']}")


def _parses(text: str) -> bool:
    try:
        parse(text)
    except FormulaError as e:
        return e.phase not in ("limits", "syntax")
    return True


@pytest.mark.parametrize("text", [p for p in _corpus_formulas() if _parses(p.values[0])])
def test_valid_formulas_have_no_error_tokens_and_the_formula_tokens(text):
    """Every corpus formula that gets past the syntax phase lexes without an Error
    token, into exactly the tokens of the formula tokenizer (plus comments). The corpus's
    syntax-error cases are left out when the tests are collected, not skipped one by one."""
    lexed = [(t, v) for t, v in tokens(text) if t not in Comment]
    assert not [v for t, v in lexed if t is Error]
    assert [v for _, v in lexed] == [t.text for t in tokenize(text)]


def test_entry_point_and_lookup():
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename

    names = {ep.name: ep.value for ep in entry_points(group="pygments.lexers")}
    assert names.get("autoscale") == "poolscale.runtime.pygments_lexer:AutoscaleLexer"
    assert type(get_lexer_by_name("autoscale")).__name__ == "AutoscaleLexer"
    assert type(get_lexer_by_name("batch-autoscale")).__name__ == "AutoscaleLexer"
    assert type(get_lexer_for_filename("busy-pool.formula")).__name__ == "AutoscaleLexer"


def test_pygmentize():
    proc = subprocess.run([sys.executable, "-m", "pygments", "-l", "autoscale", "-f", "raw"],
                          input="x = $CPUPercent.Count();\n", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[:3] == [
        "Token.Name.Variable\t'x'", "Token.Text.Whitespace\t' '", "Token.Operator\t'='"]
    assert "Token.Name.Builtin\t'$CPUPercent'" in proc.stdout
