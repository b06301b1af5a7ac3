"""Finding formulas to check: formula files, directories of them, and formulas
embedded in JSON / YAML documents, with a map back to the host file's lines.

Where formulas are embedded:

* a Batch pool spec (REST API, ``az batch pool create --json-file``): an
  ``autoScaleFormula`` string anywhere in the document;
* an ARM template (or compiled Bicep): ``scaleSettings.autoScale.formula``
  anywhere; an ARM expression ``[variables('x')]`` or
  ``[parameters('x')]`` (its ``defaultValue``) is followed to that string, any
  other expression is skipped with a note, since its value is not known offline;
* a formula test file (runtime/testing.py): a top-level ``formula`` string is
  the formula inline; a top-level ``formula_file`` names a formula file,
  relative to the test file, which is read and checked in its place (once, if
  it is also named directly).

Azure property names are case-insensitive, so the two Batch keys are matched
without regard to case; the test file's ``formula`` key is poolscale's own.

A finding in an embedded formula is reported at its line and column in the host
file when the formula's text appears there verbatim: a JSON string without
escapes (raw line breaks included: ARM accepts multi-line strings), a one-line
JSON string with escapes (mapped escape by escape), a YAML literal block scalar
(``|``) or a one-line YAML scalar. Otherwise (a multi-line JSON string written
with ``\\n``, a folded YAML scalar) it is reported as ``file#/json/pointer`` at
the formula's own line and column.
"""

from __future__ import annotations

import bisect
import os
import re
import sys
from dataclasses import dataclass, field

from poolscale.formula.diagnostics import Diagnostic, LineIndex
from poolscale.metrics.inputfile import cannot_read, not_utf8, read_file, read_stream
from poolscale.metrics.jsonyaml import check_yaml_graph, check_yaml_nesting, load_json
from poolscale.metrics.limits import DOCUMENT_BYTES, FORMULA_FILE_BYTES, InputLimitError

from .report import Finding, Location

FORMULA_SUFFIX = ".formula"
JSON_SUFFIXES = (".json",)
YAML_SUFFIXES = (".yaml", ".yml")

_BREAK = re.compile(r"\r\n|\r|\n")
_ARM_REFERENCE = re.compile(r"\[\s*(variables|parameters)\s*\(\s*'([^']*)'\s*\)\s*\]", re.I)


class EmbeddedError(Exception):
    """A path that cannot be checked: missing, unreadable, malformed, or holding no formula."""


# --------------------------------------------------------------------------- sources

class _Host:
    """A host document's text with its line index, shared by its formulas."""

    __slots__ = ("text", "_index")

    def __init__(self, text: str) -> None:
        self.text = text
        self._index: LineIndex | None = None

    @property
    def index(self) -> LineIndex:
        if self._index is None:
            self._index = LineIndex(self.text)
        return self._index


@dataclass(slots=True)
class Source:
    """One formula to check and where it came from.

    ``pointer`` is the JSON pointer of an embedded formula in its host
    document (None for a formula file). ``_locate`` maps a formula offset to a
    (line, column) of the host file, or gives None when it cannot.
    """

    path: str
    text: str
    pointer: str | None = None
    _host: _Host | None = field(default=None, repr=False)
    _locate: object = field(default=None, repr=False)
    _span: tuple[int, int] | None = field(default=None, repr=False)

    def findings(self, diagnostics) -> list[Finding]:
        """Findings for diagnostics of this formula, placed in the host file where possible."""
        index = LineIndex(self.text)
        return [self._finding(d, index) for d in diagnostics]

    def _finding(self, d: Diagnostic, index: LineIndex) -> Finding:
        start = d.offset
        line_end = _line_end(self.text, start)
        end = d.end_offset if d.end_offset is not None else _token_end(self.text, start, line_end)
        end = max(start, min(end, line_end))  # a range stays on its line
        line, column = index.position(start)
        severity = "warning" if d.severity == "warning" else "error"
        if self.pointer is None:
            return Finding(self.path, line, column, line, column + end - start, d.code, severity,
                           d.advice, index.line_text(line))
        host_start, host_end = self._map(start), self._map(end)
        if host_start is not None and host_end is not None and host_start[0] == host_end[0]:
            (hl, hc), (_, hec) = host_start, host_end
            return Finding(self.path, hl, hc, hl, hec, d.code, severity, d.advice,
                           self._host.index.line_text(hl))
        return Finding(f"{self.path}#{self.pointer}", line, column, line, column + end - start,
                       d.code, severity, d.advice, index.line_text(line), anchor=self._anchor())

    def _map(self, offset: int) -> tuple[int, int] | None:
        return self._locate(offset) if self._locate is not None else None

    def _anchor(self) -> Location | None:
        if self._host is None or self._span is None:
            return None
        index = self._host.index
        line, column = index.position(self._span[0])
        end_line, end_column = index.position(self._span[1])
        if end_line != line:
            end_column = len(index.line_text(line)) + 1
        return Location(self.path, line, column, line, max(end_column, column + 1))


def _token_end(text: str, offset: int, line_end: int) -> int:
    """The end of the token at ``offset`` (one character when none starts there). Only the
    rest of the line is lexed: a diagnostic in a megabyte of text costs one line."""
    from poolscale.formula.lexer import tokenize

    tokens = tokenize(text[offset:line_end])
    if tokens and tokens[0].start == 0:
        return offset + tokens[0].end
    return offset + 1


def _line_end(text: str, offset: int) -> int:
    m = _BREAK.search(text, offset)
    return m.start() if m else len(text)


# --------------------------------------------------------------------------- discovery

@dataclass(slots=True)
class Discovery:
    """What one command-line path holds: formulas, notes about skipped ones, files read."""

    sources: list[Source] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def discover(path: str) -> Discovery:
    """The formulas at ``path``: a formula file, a directory or a JSON / YAML document.

    Raises EmbeddedError for a missing or unreadable path, malformed JSON / YAML,
    a document with no formula in it and a directory with no formula files.
    """
    found = Discovery()
    if path == "-":
        try:
            data = read_stream(sys.stdin.buffer, limit=FORMULA_FILE_BYTES, source="<stdin>",
                               kind="a formula")
        except InputLimitError as e:
            raise EmbeddedError(str(e)) from None
        found.sources.append(Source("<stdin>", _decode(data, path)))
        found.files.append("<stdin>")
        return found
    if os.path.isdir(path):
        files = formula_files(path)
        if not files:
            raise EmbeddedError(f"no *{FORMULA_SUFFIX} files under {path}")
        found.sources.extend(Source(f, read_text(f)) for f in files)
        found.files.extend(files)
        return found
    text = read_text(path)
    found.files.append(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix in JSON_SUFFIXES:
        _from_json(path, text, found)
    elif suffix in YAML_SUFFIXES:
        _from_yaml(path, text, found)
    else:
        found.sources.append(Source(path, text))
    return found


def formula_files(directory: str) -> list[str]:
    """Every ``*.formula`` file below ``directory``, sorted by path as a string (so
    ``a.formula`` comes before ``a/b.formula``); symlinked folders are not followed."""
    out = []
    for root, _dirs, files in os.walk(directory):
        out.extend(os.path.join(root, name) for name in files if name.endswith(FORMULA_SUFFIX))
    return sorted(out, key=lambda p: os.path.relpath(p, directory).replace(os.sep, "/"))


def read_text(path: str) -> str:
    """A file's text: UTF-8, one leading byte-order mark dropped
    (docs/language.md#text-lines-and-columns). A JSON or YAML document may hold up to
    DOCUMENT_BYTES, any other file is a formula (docs/limits.md)."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix in JSON_SUFFIXES or suffix in YAML_SUFFIXES:
        limit, kind = DOCUMENT_BYTES, "a JSON or YAML document"
    else:
        limit, kind = FORMULA_FILE_BYTES, "a formula file"
    try:
        data = read_file(path, limit=limit, kind=kind)
    except InputLimitError as e:
        raise EmbeddedError(str(e)) from None
    except OSError as e:
        raise EmbeddedError(cannot_read(path, e)) from None
    return _decode(data, path)


def _decode(data: bytes, path: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise EmbeddedError(not_utf8(path, e)) from None
    return text[1:] if text.startswith("\ufeff") else text


# --------------------------------------------------------------------------- which keys

@dataclass(slots=True)
class _Hit:
    pointer: str
    value: str
    kind: str  # "formula", "reference" (a formula file's path) or "expression" (ARM)


def formulas_in(document, path: str = "the document") -> list[_Hit]:
    """The formula-bearing keys of a loaded document, in document order."""
    hits: list[_Hit] = []
    if isinstance(document, dict):
        for key, kind in (("formula", "formula"), ("formula_file", "reference")):
            value = document.get(key)
            if isinstance(value, str):
                hits.append(_Hit(f"/{key}", value, kind))
    batch: list[_Hit] = []
    try:
        _walk(document, "", batch)
    except RecursionError:
        raise EmbeddedError(f"{path}: nested too deeply") from None
    hits += [_resolve(document, hit) if _is_expression(hit.value) else hit for hit in batch]
    out, seen = [], set()
    for hit in hits:
        if hit.pointer not in seen:
            seen.add(hit.pointer)
            out.append(hit)
    return out


def _walk(node, pointer: str, hits: list[_Hit]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{pointer}/{_escape(key)}"
            name = str(key).lower()
            if name == "autoscaleformula" and isinstance(value, str):
                hits.append(_Hit(here, value, "formula"))
            elif name == "scalesettings" and isinstance(value, dict):
                for k1, auto in value.items():
                    if str(k1).lower() == "autoscale" and isinstance(auto, dict):
                        for k2, formula in auto.items():
                            if str(k2).lower() == "formula" and isinstance(formula, str):
                                hits.append(_Hit(f"{here}/{_escape(k1)}/{_escape(k2)}",
                                                 formula, "formula"))
            _walk(value, here, hits)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk(value, f"{pointer}/{i}", hits)


def _escape(key) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _is_expression(value: str) -> bool:
    """An ARM template expression: ``[...]``; ``[[`` escapes a literal ``[``."""
    v = value.strip()
    return v.startswith("[") and not v.startswith("[[") and v.endswith("]")


def _resolve(document, hit: _Hit) -> _Hit:
    """Follow ``[variables('x')]`` / ``[parameters('x')]`` to a string in the same document."""
    m = _ARM_REFERENCE.fullmatch(hit.value.strip())
    if m and isinstance(document, dict):
        section, name = m.group(1).lower(), m.group(2)
        table_key = _key(document, section)
        table = document.get(table_key) if table_key is not None else None
        entry_key = _key(table, name) if isinstance(table, dict) else None
        if entry_key is not None:
            value = table[entry_key]
            pointer = f"/{_escape(table_key)}/{_escape(entry_key)}"
            if section == "parameters":
                default = _key(value, "defaultValue") if isinstance(value, dict) else None
                value = value.get(default) if default is not None else None
                pointer += f"/{_escape(default)}"
            if isinstance(value, str) and not _is_expression(value):
                return _Hit(pointer, value, "formula")
    return _Hit(hit.pointer, hit.value, "expression")


def _key(table, name: str):
    """The key of ``table`` equal to ``name`` ignoring case (ARM names ignore case)."""
    if not isinstance(table, dict):
        return None
    if name in table:
        return name
    return next((k for k in table if str(k).lower() == name.lower()), None)


def _collect(path: str, hits: list[_Hit], found: Discovery, source_for) -> None:
    if not hits:
        raise EmbeddedError(f"{path}: no autoscale formula found (looked for autoScaleFormula, "
                            "scaleSettings.autoScale.formula and a top-level formula)")
    for hit in hits:
        if hit.kind == "formula":
            found.sources.append(source_for(hit))
        elif hit.kind == "reference":
            referenced = os.path.normpath(os.path.join(os.path.dirname(path), hit.value))
            try:
                text = read_text(referenced)
            except EmbeddedError as e:
                raise EmbeddedError(f"{path}: formula_file: {e}") from None
            found.sources.append(Source(referenced, text))
            found.files.append(referenced)
        elif hit.kind == "expression":
            found.notes.append(f"{path}#{hit.pointer}: skipped: an ARM template expression "
                               f"({hit.value.strip()[:60]}) has no value offline")


# --------------------------------------------------------------------------- JSON

def _from_json(path: str, text: str, found: Discovery) -> None:
    import json

    try:
        # strict=False: raw line breaks inside strings, which ARM templates allow.
        document = load_json(text, strict=False)
    except json.JSONDecodeError as e:
        raise EmbeddedError(f"{path}: malformed JSON: {e.msg} (line {e.lineno}, col {e.colno})") from None
    except InputLimitError as e:
        raise EmbeddedError(_limit_message(path, e)) from None
    hits = formulas_in(document, path)
    host = _Host(text)
    spans: dict[str, tuple[int, int]] | None = None

    def source_for(hit: _Hit) -> Source:
        nonlocal spans
        if spans is None:
            try:
                spans = json_string_spans(text)
            except (RecursionError, IndexError, ValueError):
                spans = {}
        span = spans.get(hit.pointer)
        locate = _json_locator(host, span, hit.value) if span else None
        return Source(path, hit.value, hit.pointer, host, locate, span)

    _collect(path, hits, found, source_for)


_WS = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?(?:Infinity|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|true|false|null|NaN")


def json_string_spans(text: str) -> dict[str, tuple[int, int]]:
    """JSON pointer -> (offset of the opening quote, offset after the closing quote)
    of every string value in a valid JSON document (later duplicate keys win, as in json.loads)."""
    from json.decoder import scanstring

    spans: dict[str, tuple[int, int]] = {}

    def ws(pos: int) -> int:
        return _WS.match(text, pos).end()

    def value(pos: int, pointer: str) -> int:
        pos = ws(pos)
        ch = text[pos]
        if ch == '"':
            _, end = scanstring(text, pos + 1, False)
            spans[pointer] = (pos, end)
            return end
        if ch == "{":
            pos = ws(pos + 1)
            if text[pos] == "}":
                return pos + 1
            while True:
                key, pos = scanstring(text, pos + 1, False)
                pos = ws(pos) + 1  # the ':'
                pos = ws(value(pos, f"{pointer}/{_escape(key)}"))
                if text[pos] == "}":
                    return pos + 1
                pos = ws(pos + 1)  # after ','
        if ch == "[":
            pos = ws(pos + 1)
            if text[pos] == "]":
                return pos + 1
            i = 0
            while True:
                pos = ws(value(pos, f"{pointer}/{i}"))
                if text[pos] == "]":
                    return pos + 1
                pos, i = pos + 1, i + 1
        m = _SCALAR.match(text, pos)
        if m is None:
            raise ValueError(f"unexpected {ch!r} at {pos}")
        return m.end()

    value(0, "")
    return spans


def _json_locator(host: _Host, span: tuple[int, int], value: str):
    """Formula offset -> host (line, col) for a JSON string, or None if it cannot be exact."""
    raw_start = span[0] + 1
    raw = host.text[raw_start:span[1] - 1]
    if raw == value:
        return lambda offset: host.index.position(raw_start + offset)
    if "\n" in value or "\r" in value:
        return None  # written with \n escapes: the formula's lines are not the file's
    table = _escape_offsets(raw)
    if len(table) != len(value) + 1:
        return None
    return lambda offset: (host.index.position(raw_start + table[offset])
                           if 0 <= offset < len(table) else None)


def _escape_offsets(raw: str) -> list[int]:
    """For each code point of a JSON string's value, its offset in the raw text (plus the end)."""
    out, i, n = [], 0, len(raw)
    while i < n:
        out.append(i)
        if raw[i] != "\\":
            i += 1
        elif raw[i + 1] != "u":
            i += 2
        elif (0xD800 <= int(raw[i + 2:i + 6], 16) < 0xDC00 and raw[i + 6:i + 8] == "\\u"
              and 0xDC00 <= int(raw[i + 8:i + 12] or "0", 16) < 0xE000):
            i += 12  # a surrogate pair decodes to one code point
        else:
            i += 6
    out.append(i)
    return out


# --------------------------------------------------------------------------- YAML

def _from_yaml(path: str, text: str, found: Discovery) -> None:
    import yaml

    try:
        check_yaml_nesting(text)
    except InputLimitError as e:
        raise EmbeddedError(_limit_message(path, e)) from None
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        check_yaml_graph(node, resolver=loader)
        document = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as e:
        raise EmbeddedError(f"{path}: malformed YAML: {_yaml_problem(e)}") from None
    except InputLimitError as e:
        raise EmbeddedError(_limit_message(path, e)) from None
    finally:
        loader.dispose()
    hits = formulas_in(document, path)
    host = _Host(text)

    def source_for(hit: _Hit) -> Source:
        scalar = _yaml_node(node, hit.pointer)
        if scalar is None:
            return Source(path, hit.value, hit.pointer, host)
        span = (scalar.start_mark.index, scalar.end_mark.index)
        return Source(path, hit.value, hit.pointer, host, _yaml_locator(host, scalar, hit.value), span)

    _collect(path, hits, found, source_for)


def _limit_message(path: str, e: InputLimitError) -> str:
    return f"{path}:{e.line}: {e.detail}" if e.line is not None else f"{path}: {e.detail}"


def _yaml_problem(e) -> str:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    return f"{problem} (line {mark.line + 1}, col {mark.column + 1})" if mark else problem


def _yaml_node(node, pointer: str):
    import yaml

    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, yaml.MappingNode):
            matches = [v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == token]
            if not matches:
                return None
            node = matches[-1]
        elif isinstance(node, yaml.SequenceNode) and token.isdigit() and int(token) < len(node.value):
            node = node.value[int(token)]
        else:
            return None
    return node if isinstance(node, yaml.ScalarNode) else None


def _yaml_locator(host: _Host, scalar, value: str):
    """Formula offset -> host (line, col) for a literal block or a one-line scalar, when the
    formula's text stands verbatim in the file; else None."""
    start = scalar.start_mark
    if scalar.style == "|":
        return _block_locator(host, start.line + 2, value)
    if scalar.style == ">" or "\n" in value or start.line != scalar.end_mark.line:
        return None
    base = start.index + (1 if scalar.style in ("'", '"') else 0)
    if host.text[base:base + len(value)] != value:
        return None
    return lambda offset: host.index.position(base + offset)


def _block_locator(host: _Host, first_line: int, value: str):
    """A literal block's lines are the file's lines from ``first_line`` on, less the indentation."""
    lines = value.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final line break (clip / keep chomping) starts no line of its own
    index = host.index
    indent = None
    for k, line in enumerate(lines):
        if line:
            hosted = _host_line(index, first_line + k)
            if hosted is None or not hosted.endswith(line):
                return None
            indent = len(hosted) - len(line)
            break
    indent = indent or 0
    for k, line in enumerate(lines):
        hosted = _host_line(index, first_line + k)
        if hosted is None or (hosted[indent:] != line and (line or hosted.strip(" "))):
            return None
    formula = LineIndex(value)

    def locate(offset: int):
        line, column = formula.position(offset)
        if line > len(lines):
            return None
        return first_line + line - 1, indent + column

    return locate


def _host_line(index: LineIndex, line: int) -> str | None:
    try:
        return index.line_text(line)
    except IndexError:
        return None
