"""Findings and the report formats: text, json, github, sarif.

Pure functions from findings to strings, shared by ``poolscale check`` and ``poolscale test``.
Positions are 1-based; columns count code points (docs/language.md#text-lines-and-columns), so a tab
is one column and SARIF is told ``columnKind: unicodeCodePoints``. ``end_column`` is exclusive (the
column just after the range), as SARIF defines it; a range never spans lines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .wording import counted

#: short descriptions of the lint codes (docs/language.md#lint-warnings); error codes use their
#: fixed error.message (docs/language.md#error-codes).
LINT_DESCRIPTIONS: dict[str, str] = {
    "NonCanonicalCase": "A service-defined name is spelled with non-canonical case.",
    "DollarAndBareName": "The formula uses both $x and x, which are two different variables.",
    "ImplicitSingleSample": "A doubleVec is used where one value is needed.",
    "DeprecatedName": "A deprecated service variable is used.",
    "LatestSampleOnly": "A target depends on metric data only through GetSample(1).",
    "UnguardedGetSample": "A window GetSample can fail with InsufficientSampleData: nothing tests "
                          "the sample data before it runs and its minimum percent is not 0.",
    "FractionForPercent": "A fraction (between 0 and 1) is used where a percentage (0 to 100) "
                          "is meant.",
    "MisspeltTarget": "A user variable is one letter away from a target, so assigning it "
                      "changes nothing.",
    "NoTargetAssigned": "The formula assigns no target.",
}

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


@dataclass(frozen=True, slots=True)
class Location:
    """A range in a file: 1-based line and column, ``end_column`` exclusive."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True, slots=True)
class Finding:
    """One error or warning at a place in a file.

    ``path`` is the file, or ``file#/json/pointer`` when the finding lies in an
    embedded formula whose lines cannot be mapped onto the file's (the position
    is then the formula's own line and column). ``anchor`` is then the formula's
    place in the file itself, for consumers that can only point at files
    (GitHub annotations, SARIF).
    """

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    code: str
    severity: str  # "error" or "warning"
    message: str
    source_line: str = ""
    anchor: Location | None = None

    def file_location(self) -> Location:
        """Where the finding is in a real file (the anchor for an unmapped embedded formula)."""
        if self.anchor is not None:
            return self.anchor
        return Location(self.path, self.line, self.column, self.end_line, self.end_column)

    def file_message(self) -> str:
        """The message, with the formula's own position when it is reported at an anchor."""
        if self.anchor is None:
            return self.message
        pointer = self.path[self.path.find("#/"):]
        return f"{self.message} (formula at {pointer}, line {self.line}, col {self.column})"


def format_text(findings) -> str:
    """``path:line:col: CODE message``, then the source line and a caret, per finding."""
    from poolscale.formula.diagnostics import caret_lines

    out = []
    for f in findings:
        width = f.end_column - f.column if f.end_line == f.line else 1
        shown, marks = caret_lines(f.source_line, f.column, width)
        out.append(f"{f.path}:{f.line}:{f.column}: {f.code} {f.message}\n{shown}\n{marks}\n")
    return "".join(out)


def format_json(findings) -> str:
    """One JSON object per line (the flake8 / mypy convention)."""
    return "".join(json.dumps({
        "path": f.path, "line": f.line, "column": f.column, "end_line": f.end_line,
        "end_column": f.end_column, "code": f.code, "severity": f.severity,
        "message": f.message}) + "\n" for f in findings)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_github(findings) -> str:
    """GitHub Actions workflow commands (``::error file=...::message``), one per line."""
    out = []
    for f in findings:
        loc = f.file_location()
        command = "error" if f.severity == "error" else "warning"
        props = ",".join(f"{key}={_escape_property(str(value))}" for key, value in (
            ("file", loc.path), ("line", loc.line), ("col", loc.column),
            ("endLine", loc.end_line), ("endColumn", loc.end_column), ("title", f.code)))
        out.append(f"::{command} {props}::{_escape_data(f.file_message())}\n")
    return "".join(out)


def summary(files: int, findings, *, formulas: int | None = None) -> str:
    """``3 files, 1 error, 2 warnings`` (formulas are named when they differ from files)."""
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = sum(1 for f in findings if f.severity != "error")
    head = counted(files, "file")
    if formulas is not None and formulas != files:
        head += f" ({counted(formulas, 'formula')})"
    return f"{head}, {counted(errors, 'error')}, {counted(warnings, 'warning')}"


def _uri(path: str) -> str:
    """A URI reference for a path: relative paths stay relative (to the checkout root)."""
    import os
    from pathlib import Path, PurePath
    from urllib.parse import quote

    if os.path.isabs(path):
        return Path(path).as_uri()
    return quote(PurePath(path).as_posix(), safe="/")


def _description(code: str) -> str:
    from poolscale.formula import ERROR_MESSAGES

    return ERROR_MESSAGES.get(code) or LINT_DESCRIPTIONS.get(code) or code


def format_sarif(findings, *, version: str | None = None) -> str:
    """A SARIF 2.1.0 log with one run: a rule per code used, a result per finding."""
    findings = list(findings)
    rule_ids: list[str] = []
    for f in findings:
        if f.code not in rule_ids:
            rule_ids.append(f.code)
    index = {code: i for i, code in enumerate(rule_ids)}
    severity = {f.code: f.severity for f in findings}
    rules = [{"id": code, "name": code, "shortDescription": {"text": _description(code)},
              "defaultConfiguration": {"level": "error" if severity[code] == "error" else "warning"}}
             for code in rule_ids]
    results = []
    for f in findings:
        loc = f.file_location()
        results.append({
            "ruleId": f.code, "ruleIndex": index[f.code],
            "level": "error" if f.severity == "error" else "warning",
            "message": {"text": f.file_message()},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": _uri(loc.path)},
                "region": {"startLine": loc.line, "startColumn": loc.column,
                           "endLine": loc.end_line, "endColumn": loc.end_column}}}],
        })
    driver = {"name": "poolscale", "rules": rules}
    if version:
        driver["version"] = version
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0",
           "runs": [{"tool": {"driver": driver}, "columnKind": "unicodeCodePoints",
                     "results": results}]}
    return json.dumps(log, indent=2) + "\n"
