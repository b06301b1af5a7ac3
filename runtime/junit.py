"""JUnit XML for ``poolscale test --junit``: what CI systems read to show test results.

One ``<testsuite>`` per test file and one ``<testcase>`` per test that ran (tests left out by
``--run`` are not listed). A failing test has one ``<failure>`` whose ``message`` is its first
mismatch in one line and whose text holds every expected/got block, as the console shows them.
``errors`` is always 0: a formula that does not compile fails its tests like any other error
of a run. The document carries no times or host names, so the same tests give the same bytes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import IO

from .testing import FileResult, TestResult

__all__ = ["junit_xml", "write_junit"]

# Characters XML 1.0 cannot hold even escaped; a formula's string value may contain them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _failure_text(result: TestResult) -> str:
    return "\n".join(line for f in result.failures for line in f.lines()) + "\n"


def _testcase(parent: ET.Element, result: TestResult) -> None:
    path = _xml_text(result.path)
    case = ET.SubElement(parent, "testcase", {
        "name": _xml_text(result.name), "classname": path, "file": path,
        "line": str(result.line)})
    if result.failures:
        first = result.failures[0].summary()
        more = len(result.failures) - 1
        message = first if not more else f"{first} (and {more} more)"
        failure = ET.SubElement(case, "failure", {"message": _xml_text(message),
                                                  "type": "failure"})
        failure.text = _xml_text(_failure_text(result))


def junit_xml(files: list[FileResult]) -> str:
    total = sum(len(f.results) for f in files)
    failed = sum(f.failed for f in files)
    root = ET.Element("testsuites", {"name": "poolscale test", "tests": str(total),
                                     "failures": str(failed), "errors": "0"})
    for f in files:
        suite = ET.SubElement(root, "testsuite", {
            "name": _xml_text(f.path), "tests": str(len(f.results)), "failures": str(f.failed),
            "errors": "0", "skipped": "0"})
        for result in f.results:
            _testcase(suite, result)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(files: list[FileResult], out: IO[str]) -> None:
    """Write the report to ``out``, a UTF-8 text file opened with ``newline="\\n"`` (the caller
    opens it, atomically: runtime/atomicwrite.py)."""
    out.write(junit_xml(files))
