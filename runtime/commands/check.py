"""`poolscale check`: lint formulas without evaluating them."""

from __future__ import annotations

import argparse
import sys

from ..cli import EXIT_FINDINGS, EXIT_OK, HelpFormatter, UsageError

FORMATS = ("text", "json", "github", "sarif")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "check", help="check formulas for errors and lint warnings without evaluating them",
        description="Parse and check every formula at PATH (limits, syntax, validation and the "
                    "lint warnings) without evaluating it. PATH is a formula file, a directory "
                    "(every *.formula file below it), '-' for standard input, or a .json / .yaml "
                    "/ .yml document with formulas embedded: a Batch pool spec (autoScaleFormula, "
                    "anywhere), an ARM template or compiled Bicep (scaleSettings.autoScale.formula)"
                    " or a formula test file (a top-level 'formula' string).",
        epilog="Output (text): 'path:line:col: CODE message', the source line and a caret; a "
               "summary on standard error.\n"
               "Exit status: 0 no errors (warnings alone do not fail the check), 1 an error, or "
               "a warning with --strict, 2 usage error (missing or unreadable path, malformed "
               "JSON/YAML, no formula).",
        formatter_class=HelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH", help="formula file, directory, JSON/YAML "
                                                            "document, or - for standard input")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="text (default), json (one object per line), github (workflow "
                        "commands) or sarif (SARIF 2.1.0)")
    p.add_argument("--strict", action="store_true", help="warnings fail the check too (exit 1)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from poolscale.formula import FormulaError, compile_formula

    from .. import report
    from ..embedded import EmbeddedError, discover
    from ..version import package_version

    sources, notes, files = [], [], []
    for path in args.paths:
        try:
            found = discover(path)
        except EmbeddedError as e:
            raise UsageError(str(e)) from None
        sources += found.sources
        notes += found.notes
        files += found.files

    sources = _unique(sources, key=lambda s: (_real(s.path), s.pointer))
    files = _unique(files, key=_real)
    findings = []
    for source in sources:
        try:
            warnings = compile_formula(source.text).warnings
        except FormulaError as e:
            findings += source.findings(e.diagnostics)
            continue
        if warnings:
            findings += source.findings(warnings)

    err = sys.stderr
    for note in notes:
        err.write(f"poolscale: note: {note}\n")
    if args.format == "text":
        sys.stdout.write(report.format_text(findings))
        err.write(report.summary(len(files), findings, formulas=len(sources)) + "\n")
    elif args.format == "json":
        sys.stdout.write(report.format_json(findings))
    elif args.format == "github":
        sys.stdout.write(report.format_github(findings))
    else:
        sys.stdout.write(report.format_sarif(findings, version=package_version()))
    failing = any(f.severity == "error" or args.strict for f in findings)
    return EXIT_FINDINGS if failing else EXIT_OK


def _unique(items, key):
    """Each formula (file) once: a file named twice, or also found in a directory or
    through a test file's formula_file, is checked once."""
    seen, out = set(), []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            out.append(item)
    return out


def _real(path: str) -> str:
    import os

    return path if path == "<stdin>" else os.path.realpath(path)

