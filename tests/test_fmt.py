"""`poolscale fmt` and ``poolscale.formula.formatter.format_text``.

Exact output for representative layouts (every comment placement, blank lines, long
``?:`` chains, CR LF, empty and comment-only files); the command end to end through
``main(argv)`` and once as a process; and hypothesis properties on generated formulas
with random comments and whitespace: idempotence, evaluation preservation and the
comments kept as a multiset. Budget: well under 30 s on two cores.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from poolscale.formula.errors import FormulaError, FormulaSyntaxError
from poolscale.formula.formatter import FormatError, format_text
from poolscale.formula.lexer import tokenize, tokenize_with_comments
from poolscale.formula.parser import parse
from poolscale.formula.printer import to_text
from poolscale.runtime.cli import main
from poolscale.runtime.run import evaluate_text
from test_properties import (
    SCENARIO, SEEDS, budget, formula_like, programs, sources, typed_formulas,
)

BUSY = ("$busy = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 10) < 70 ? 1 : "
        "avg($PendingTasks.GetSample(TimeInterval_Minute * 10));")
BUSY_FORMATTED = """\
$busy = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 10) < 70
    ? 1
    : avg($PendingTasks.GetSample(TimeInterval_Minute * 10));
"""

CASES = {
    "spacing, one statement per line, empty statements dropped":
        ("x=1+2*3;y=(a)-(b-c);;f( 1 ,2 )", "x = 1 + 2 * 3;\ny = a - (b - c);\nf(1, 2);\n"),
    "empty file": ("", ""),
    "whitespace and empty statements only": ("  \n\t;;\r\n ; \n", ""),
    "comment-only file": ("\n// a\n\n\n\n/* b */  \n\n", "// a\n\n/* b */\n"),
    "leading comments; blank-line groups collapse to one; leading blank lines dropped":
        ("\n\n// header\n\n\n\n// about x\n  x = 1;\n", "// header\n\n// about x\nx = 1;\n"),
    "trailing comments after and before the ';', several joined by one space":
        ("x = 1; // one\ny = 2 /* two */ ;\nz = 3; /* three */   // and more\n",
         "x = 1; // one\ny = 2; /* two */\nz = 3; /* three */ // and more\n"),
    "comments inside a statement move before it, in order, after its leading comments":
        ("// lead\nx = 1 +  // first part\n    2 /* second */ * 3; // trail\n",
         "// lead\n// first part\n/* second */\nx = 1 + 2 * 3; // trail\n"),
    "a comment before the ';' on a later line is inside the statement":
        ("x = 1\n// before the semicolon\n;\n", "// before the semicolon\nx = 1;\n"),
    "a block comment the next statement follows on its line leads that statement":
        ("x = 1; /* about y */ y = 2; /* z */ z = 3;",
         "x = 1;\n/* about y */\ny = 2;\n/* z */\nz = 3;\n"),
    "comments after the last statement stay at the end, blank line kept":
        ("x = 1;\n\n\n// the end\n/* really */", "x = 1;\n\n// the end\n/* really */\n"),
    "the last statement needs no ';': a comment on a later line is then a footer":
        ("x = 1 // one\n\n// footer", "x = 1; // one\n\n// footer\n"),
    "blank lines between statements, stray ';' lines ignored":
        ("a = 1;\n\n\n\nb = 2;\n;\n;\nc = 3;\n;\n\nd = 4;",
         "a = 1;\n\nb = 2;\nc = 3;\n\nd = 4;\n"),
    "block comments verbatim; blanks at line ends removed":
        ("    /* a block   \n       comment, kept as written */\nx = 1;\t// tab before   \n",
         "/* a block\n       comment, kept as written */\nx = 1; // tab before\n"),
    "CR LF and lone CR become LF, also inside comments":
        ("x = 1;\r\n/* a\r\n   b */\r\n\r\ny = 2; // crlf\r\nz = 3;\r// cr\r",
         "x = 1;\n/* a\n   b */\n\ny = 2; // crlf\nz = 3;\n// cr\n"),
    "a long ?: breaks before ? and :": (BUSY, BUSY_FORMATTED),
    "a ?: chain in the else branch continues; conditions and then branches stay whole":
        ("$TargetDedicatedNodes = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 10) < 70 ? "
         "1 : x > 100 ? (a ? b : c) : (a ? b : c) ? d : e; // cap",
         "$TargetDedicatedNodes = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 10) < 70\n"
         "    ? 1\n"
         "    : x > 100\n"
         "    ? a ? b : c\n"
         "    : (a ? b : c)\n"
         "    ? d\n"
         "    : e; // cap\n"),
    "a long expression statement ?: breaks the same way":
        ("$PendingTasks.GetSample(1) == 0 && $ActiveTasks.GetSample(1) == 0 && "
         "$RunningTasks.GetSample(1) == 0 ? stop() : 0;",
         "$PendingTasks.GetSample(1) == 0 && $ActiveTasks.GetSample(1) == 0 && "
         "$RunningTasks.GetSample(1) == 0\n    ? stop()\n    : 0;\n"),
    "a long statement that is not a ?: stays on one line":
        ("$TargetDedicatedNodes=max(0,min($CurrentDedicatedNodes+10,avg($PendingTasks.GetSample("
         "TimeInterval_Minute*15))))+($TaskSlotsPerNode*2);",
         "$TargetDedicatedNodes = max(0, min($CurrentDedicatedNodes + 10, avg($PendingTasks."
         "GetSample(TimeInterval_Minute * 15)))) + $TaskSlotsPerNode * 2;\n"),
}


@pytest.mark.parametrize("source, expected", CASES.values(), ids=list(CASES))
def test_exact_output(source: str, expected: str) -> None:
    assert format_text(source) == expected
    assert format_text(expected) == expected
    assert parse(expected) == parse(source)


def test_width_boundary() -> None:
    stmt = "x = a ? b : c;"  # 14 characters
    assert format_text(stmt, width=14) == stmt + "\n"
    assert format_text(stmt, width=13) == "x = a\n    ? b\n    : c;\n"
    # the width counts the statement, not its trailing comment
    assert format_text(stmt + " // " + "c" * 200, width=14) == stmt + " // " + "c" * 200 + "\n"
    assert format_text(BUSY, width=len(BUSY)) == BUSY + "\n"


def test_syntax_error_raises() -> None:
    with pytest.raises(FormulaSyntaxError) as e:
        format_text("x = 1 # note")
    assert e.value.detail == "Line 1, Col 7: unexpected character '#'"
    with pytest.raises(FormulaSyntaxError):
        format_text("x = 1; /* open")


def test_output_over_the_length_limit_is_refused() -> None:
    compact = "x=" + "1+" * 4000 + "1;"  # 8004 characters; spaced out, 16007
    assert len(compact) <= 8192 and parse(compact)
    with pytest.raises(FormatError, match="16007 characters, over the limit of 8192"):
        format_text(compact)


def test_deep_nesting() -> None:
    assert format_text("x = " + "(" * 4000 + "1" + ")" * 4000 + ";") == "x = 1;\n"
    assert format_text("x = " + "-" * 8000 + "1;") == "x = " + "-" * 8000 + "1;\n"
    chain = format_text("x = " + "a ? b : " * 450 + "c;")
    assert chain == "x = a\n" + "    ? b\n    : a\n" * 449 + "    ? b\n    : c;\n"


def test_tokenize_with_comments() -> None:
    text = 'x = 1 // a\n/* b\n c */ y "//s" /* open'
    got = [(t.type, t.text) for t in tokenize_with_comments(text)]
    assert got == [("NAME", "x"), ("EQUAL", "="), ("NUMBER", "1"), ("LINE_COMMENT", "// a"),
                   ("BLOCK_COMMENT", "/* b\n c */"), ("NAME", "y"), ("STRING", '"//s"'),
                   ("INVALID", "/* open")]
    plain = [t for t in tokenize_with_comments(text) if not t.type.endswith("_COMMENT")]
    assert plain == tokenize(text)


@budget(200)
@given(formula_like)
def test_tokenize_with_comments_adds_only_comments(text: str) -> None:
    tokens = tokenize_with_comments(text)
    comments = [t for t in tokens if t.type.endswith("_COMMENT")]
    assert [t for t in tokens if not t.type.endswith("_COMMENT")] == tokenize(text)
    assert all(text[t.start:t.end] == t.text for t in comments)
    assert all(a.end <= b.start for a, b in zip(tokens, tokens[1:]))


# ---------------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------------

UGLY = "x=1;y = x+2 // two\n"
PRETTY = "x = 1;\ny = x + 2; // two\n"


def run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def write(tmp_path):
    def make(name: str, content: str | bytes):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode("utf-8")
        path.write_bytes(content)
        return path
    return make


def test_rewrites_in_place(capsys, write):
    f, ok = write("a.formula", UGLY), write("b.formula", PRETTY)
    before = ok.stat().st_mtime_ns
    code, out, err = run(capsys, ["fmt", str(f), str(ok)])
    assert (code, out, err) == (0, "", f"reformatted: {f}\n")
    assert f.read_text(encoding="utf-8") == PRETTY
    assert ok.stat().st_mtime_ns == before  # an unchanged file is not written
    assert run(capsys, ["fmt", str(f), str(ok)]) == (0, "", "")


def test_check(capsys, write):
    f, ok = write("a.formula", UGLY), write("b.formula", PRETTY)
    code, out, err = run(capsys, ["fmt", "--check", str(f), str(ok)])
    assert (code, out, err) == (1, "", f"would reformat: {f}\n")
    assert f.read_text(encoding="utf-8") == UGLY
    assert run(capsys, ["fmt", "--check", str(ok)]) == (0, "", "")


def test_diff(capsys, write):
    f = write("a.formula", UGLY)
    expected = (f"--- {f}\n+++ {f}\n@@ -1 +1,2 @@\n"
                "-x=1;y = x+2 // two\n+x = 1;\n+y = x + 2; // two\n")
    code, out, err = run(capsys, ["fmt", "--diff", str(f)])
    assert (code, out, err) == (0, expected, "")
    assert f.read_text(encoding="utf-8") == UGLY
    code, out, err = run(capsys, ["fmt", "--diff", "--check", str(f)])
    assert (code, out, err) == (1, expected, f"would reformat: {f}\n")


def test_diff_marks_a_missing_final_line_break(capsys, write):
    f = write("a.formula", "x = 1;\ny=2")
    code, out, _ = run(capsys, ["fmt", "--diff", str(f)])
    assert out.endswith("-y=2\n\\ No newline at end of file\n+y = 2;\n")


def test_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbf" + UGLY.encode())))
    assert run(capsys, ["fmt", "-"]) == (0, PRETTY, "")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(UGLY.encode())))
    assert run(capsys, ["fmt", "--check", "-"]) == (1, "", "would reformat: <stdin>\n")


def test_directory(capsys, write, tmp_path):
    a, b = write("d/a.formula", UGLY), write("d/sub/b.formula", UGLY)
    other = write("d/notes.txt", UGLY)
    code, _, err = run(capsys, ["fmt", str(tmp_path / "d")])
    assert code == 0
    assert err == f"reformatted: {a}\nreformatted: {b}\n"
    assert a.read_text() == b.read_text() == PRETTY
    assert other.read_text() == UGLY
    write("empty/x.txt", "")
    code, _, err = run(capsys, ["fmt", str(tmp_path / "empty")])
    assert code == 2 and "no *.formula files under" in err


def test_a_formula_that_does_not_parse_is_reported_and_left_alone(capsys, write):
    bad, f = write("bad.formula", "x = 1;\ny = 2 # note\n"), write("a.formula", UGLY)
    code, out, err = run(capsys, ["fmt", str(bad), str(f)])
    assert code == 1 and out == ""
    assert err == (f"{bad}:2:7: AutoScalingFormulaSyntaxError unexpected character '#'\n"
                   "y = 2 # note\n      ^\n"
                   f"reformatted: {f}\n")
    assert bad.read_text() == "x = 1;\ny = 2 # note\n"
    assert f.read_text() == PRETTY


def test_over_the_limit_is_reported(capsys, write):
    f = write("long.formula", "x=" + "1+" * 4000 + "1;")
    code, _, err = run(capsys, ["fmt", str(f)])
    assert code == 1
    assert err.startswith(f"{f}: cannot format: the formatted formula would have 16007 characters")


def test_usage_errors_write_nothing(capsys, write, tmp_path):
    f = write("a.formula", UGLY)
    code, _, err = run(capsys, ["fmt", str(f), str(tmp_path / "missing.formula")])
    assert code == 2 and "missing.formula: cannot read: No such file or directory" in err
    assert f.read_text() == UGLY
    latin = write("latin.formula", b"x = 1; // caf\xe9\n")
    code, _, err = run(capsys, ["fmt", str(f), str(latin)])
    assert code == 2 and "not UTF-8" in err
    assert f.read_text() == UGLY
    assert run(capsys, ["fmt", "--width", "0", str(f)])[0] == 2
    assert run(capsys, ["fmt"])[0] == 2


def test_crlf_and_bom_are_normalised(capsys, write):
    f = write("a.formula", b"\xef\xbb\xbfx = 1;\r\n// c\r\n")
    assert run(capsys, ["fmt", "--check", str(f)])[0] == 1
    assert run(capsys, ["fmt", str(f)])[0] == 0
    assert f.read_bytes() == b"x = 1;\n// c\n"


def test_width_option(capsys, write):
    f = write("a.formula", "x = a ? b : c;\n")
    assert run(capsys, ["fmt", "--width", "10", str(f)])[0] == 0
    assert f.read_text() == "x = a\n    ? b\n    : c;\n"


def test_as_a_process_like_pre_commit(write):
    f = write("a.formula", UGLY)
    cmd = [sys.executable, "-m", "poolscale.runtime.cli", "fmt"]
    proc = subprocess.run(cmd + ["--check", str(f)], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", f"would reformat: {f}\n")
    proc = subprocess.run(cmd + [str(f)], capture_output=True, text=True)
    assert proc.returncode == 0 and f.read_text() == PRETTY
    proc = subprocess.run(cmd + ["-"], input="a=b", capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (0, "a = b;\n")


# ---------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------

def _parses(text: str) -> bool:
    try:
        parse(text)
        return True
    except FormulaError:
        return False


VALID_SEEDS = [s for s in SEEDS if _parses(s)]

_BLANKS = [" ", "  ", "\t", "\n", "\r\n", "\r", "\n\n", " \n \t\n", "\n\n\n"]


@st.composite
def laid_out(draw, base: str) -> str:
    """The tokens of ``base`` (comments dropped) with random whitespace and uniquely
    numbered comments of every kind between them, before the first and after the last,
    and now and then an empty statement after a ';'."""
    serial = iter(range(10**6))

    def piece() -> str:
        k = next(serial)
        kind = draw(st.integers(0, 12))
        if kind < 7:
            return _BLANKS[draw(st.integers(0, len(_BLANKS) - 1))]
        return [f" /* c{k} */ ", f"// c{k}\n", f"/* c{k}\r\n   more {k}  \n*/",
                f"//c{k} \t\r\n", f"/*c{k}*/", f"// c{k}\r"][kind - 7]

    def gap(optional: bool) -> str:
        count = draw(st.integers(0 if optional else 1, 3))
        return "".join(piece() for _ in range(count))

    out = [gap(True)]
    tokens = tokenize(base)
    for i, tok in enumerate(tokens):
        if i:
            out.append(gap(False))
        out.append(tok.text)
        if tok.type == "SEMI" and draw(st.integers(0, 7)) == 0:
            out.append(gap(False) + ";")
    out.append(gap(True))
    return "".join(out)


bases = st.one_of(sources, programs.map(to_text), typed_formulas(), st.sampled_from(VALID_SEEDS))
layouts = bases.flatmap(laid_out)
widths = st.sampled_from([10, 40, 100])


def _normalised_comment(text: str) -> str:
    return re.sub(r"[ \t]+(?=\n|\Z)", "", re.sub(r"\r\n|\r", "\n", text))


def _comments(text: str) -> Counter:
    return Counter(_normalised_comment(t.text) for t in tokenize_with_comments(text)
                   if t.type.endswith("_COMMENT"))


def _format_or_skip(text: str, width: int) -> str:
    assume(_parses(text))
    try:
        return format_text(text, width=width)
    except FormatError:
        assume(False)
        raise


@budget(250)
@given(layouts, widths)
def test_formatting_is_idempotent(text: str, width: int) -> None:
    once = _format_or_skip(text, width)
    assert format_text(once, width=width) == once
    assert parse(once) == parse(text)
    # the shape every formatted text has
    assert once == "" or (once.endswith("\n") and not once.startswith("\n"))
    assert "\r" not in once and "\n\n\n" not in once and not once.endswith("\n\n")
    assert not re.search(r"[ \t]\n", once)


@budget(250)
@given(layouts, widths)
def test_formatting_keeps_every_comment(text: str, width: int) -> None:
    once = _format_or_skip(text, width)
    assert _comments(once) == _comments(text)


POSITION = re.compile(r"^Line [0-9]+, Col [0-9]+: ")


@budget(120)
@given(typed_formulas().flatmap(laid_out), widths)
def test_formatting_preserves_evaluation(text: str, width: int) -> None:
    formatted = _format_or_skip(text, width)
    before, after = evaluate_text(text, SCENARIO), evaluate_text(formatted, SCENARIO)
    assert after.results == before.results
    assert (after.error is None) == (before.error is None)
    if before.error is not None:
        assert after.error.code == before.error.code
        assert POSITION.sub("", after.error.detail) == POSITION.sub("", before.error.detail)
