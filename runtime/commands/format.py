"""`poolscale fmt`: rewrite formulas in canonical form (poolscale.formula.formatter).

Every file is read before any is written, so a missing or unreadable path (exit
2) leaves all of them untouched. Each file is replaced whole (runtime/atomicwrite.py):
a full disk or an interrupt leaves it as it was, and an interrupt names the files
reformatted before it. Standard output carries only formula text (``-``) and diffs;
what happened to each file goes to standard error.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import TYPE_CHECKING

from ..cli import EXIT_FINDINGS, EXIT_OK, HelpFormatter, UsageError, read_formula

if TYPE_CHECKING:
    from ..outputs import OutputFiles

STDIN_NAME = "<stdin>"
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "fmt", help="rewrite formulas in canonical form",
        description="Rewrite each formula at PATH in canonical form: one statement per line, "
                    "canonical spacing and parentheses, comments kept, long ?: chains broken "
                    "one branch per line (docs/fmt.md). Formatting never changes what a formula "
                    "evaluates to. PATH is a formula file, a directory (every *.formula file "
                    "below it) or '-' (standard input, formatted to standard output).",
        epilog="Exit status: 0 nothing to change, or every file rewritten; 1 a formula does not "
               "parse (it is left untouched) or, with --check, a file would change; "
               "2 usage error (missing or unreadable path).",
        formatter_class=HelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="formula file, directory, or - for standard input")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 and list the files that would change")
    p.add_argument("--diff", action="store_true",
                   help="write nothing; print a unified diff of the changes")
    p.add_argument("--width", type=_width, default=None, metavar="N",
                   help="break a ?: statement longer than N characters (default: 100)")
    p.set_defaults(handler=run)


def _width(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    from ..outputs import OutputFiles

    files = _read_all(args.paths)
    writing = not (args.check or args.diff)
    outputs = OutputFiles([p for p, _ in files if p != "-"] if writing else [],
                          verb="reformatted")
    with outputs.reporting_interrupts():
        return _format_all(args, files, outputs)


def _format_all(args: argparse.Namespace, files: list[tuple[str, str]],
                outputs: OutputFiles) -> int:
    from poolscale.formula import FormulaError
    from poolscale.formula.formatter import DEFAULT_WIDTH, FormatError, format_text

    from .. import report
    from ..embedded import Source

    width = args.width or DEFAULT_WIDTH
    err, out = sys.stderr, sys.stdout
    status = EXIT_OK
    for path, raw in files:
        name = STDIN_NAME if path == "-" else path
        # docs/language.md#text-lines-and-columns
        text = raw[1:] if raw.startswith("\ufeff") else raw
        try:
            formatted = format_text(text, width=width)
        except FormulaError as e:
            outputs.skip(path)
            err.write(report.format_text(Source(name, text).findings(e.diagnostics[:1])))
            status = EXIT_FINDINGS
            continue
        except FormatError as e:
            outputs.skip(path)
            err.write(f"{name}: cannot format: {e}\n")
            status = EXIT_FINDINGS
            continue
        changed = formatted != raw
        if args.diff and changed:
            out.write(unified_diff(raw, formatted, name))
        if args.check or args.diff:
            if changed and args.check:
                err.write(f"would reformat: {name}\n")
                status = EXIT_FINDINGS
        elif path == "-":
            out.write(formatted)
        elif changed:
            _write(outputs, path, formatted)
            err.write(f"reformatted: {name}\n")
        else:
            outputs.skip(path)
    return status


def _read_all(paths: list[str]) -> list[tuple[str, str]]:
    """(path, text) of every formula named, each file once, in command-line order
    (a directory's files sorted); raises UsageError before anything is written."""
    from ..embedded import FORMULA_SUFFIX, formula_files

    files: list[str] = []
    for path in paths:
        if path == "-":
            files.append(path)
        elif os.path.isdir(path):
            found = formula_files(path)
            if not found:
                raise UsageError(f"no *{FORMULA_SUFFIX} files under {path}")
            files += found
        elif not os.path.exists(path):
            raise UsageError(f"{path}: cannot read: No such file or directory")
        else:
            files.append(path)
    seen: set[str] = set()
    out = []
    for path in files:
        key = path if path == "-" else os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            out.append((path, _read(path)))
    return out


def _read(path: str) -> str:
    """The text of a file or of standard input (``-``), byte-order mark kept:
    a file that has one is rewritten without it."""
    return read_formula(path, keep_bom=True)


def _write(outputs: OutputFiles, path: str, text: str) -> None:
    """Replace the file whole (runtime/atomicwrite.py): a full disk or an interrupt leaves the
    old formula as it was, never a cut one."""
    try:
        with outputs.open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    except OSError as e:
        reason = e.strerror or e
        raise UsageError(f"cannot write {path}: {reason}; the file is unchanged") from None


def unified_diff(before: str, after: str, name: str) -> str:
    """A unified diff from ``before`` to ``after``, headed ``--- name`` / ``+++ name``
    (apply with ``patch -p0``); a last line without a line break is marked as
    ``diff`` marks it."""
    import difflib

    out = []
    for line in difflib.unified_diff(_lines(before), _lines(after), name, name):
        out.append(line)
        if not line.endswith(("\n", "\r")):
            out.append("\n\\ No newline at end of file\n")
    return "".join(out)


def _lines(text: str) -> list[str]:
    # Only LF, CR LF and CR break lines (docs/language.md#text-lines-and-columns); str.splitlines
    # would also split a comment at a form feed or U+2028.
    return _LINE.findall(text)
