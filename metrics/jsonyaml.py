"""JSON and YAML read alike, and within bounds.

The inputs whose values poolscale reads from YAML — scenarios and test files (runtime/), pool
and workload files (scheduler/) — go through this one loader, so a value means the same in all
of them.
PyYAML's safe loader follows YAML 1.1: an unquoted ``2026-03-02T10:00:00Z`` becomes a datetime,
``1e3`` a string, and a repeated key silently replaces the first. Here an ISO time stays a
string, ``1e3`` is a number, and a repeated key raises :class:`DuplicateKeyError`. PyYAML is
imported on first use, so importing this module costs nothing.

Both formats are held to the bounds of ``poolscale.metrics.limits`` before anything is built
from them: nesting depth (JSON is measured on its text before ``json`` recurses into it, YAML
on the parser's events before libyaml's recursive composer runs, and again on the composed
graph, where an alias can deepen it), the nodes YAML aliases add when expanded (the "billion laughs"
document is a few hundred bytes), and the digits of an integer (Python refuses to convert more
than 4,300). A document past one raises :class:`~poolscale.metrics.limits.InputLimitError`
with the line when there is one; ``source`` is ``<document>`` and the reader names its file.
"""

from __future__ import annotations

import re
from typing import Any

from .limits import NESTING_DEPTH, NUMBER_DIGITS, YAML_ALIAS_NODES, InputLimitError

__all__ = ["DuplicateKeyError", "json_like_loader", "load_json", "check_json_nesting",
           "check_yaml_nesting", "check_yaml_graph"]

_DOCUMENT = "<document>"
_LONG_INTEGER = re.compile(r"\d{%d,}" % (NUMBER_DIGITS + 1))

_MERGE_TAG = "tag:yaml.org,2002:merge"
_INT_TAG = "tag:yaml.org,2002:int"
_STR_TAG = "tag:yaml.org,2002:str"
_LOADER: Any = None


class DuplicateKeyError(ValueError):
    """A key that appears twice in one mapping; ``line`` and ``first_line`` are 1-based."""

    def __init__(self, key: str, line: int, first_line: int) -> None:
        super().__init__(f"key {key!r} appears twice in one mapping (line {line})")
        self.key, self.line, self.first_line = key, line, first_line


def json_like_loader() -> Any:
    """The loader class (a ``SafeLoader`` subclass, the C one when PyYAML has it), built once.

    PyYAML's own loader tables are left untouched: the subclass gets new resolver lists.
    """
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc, valid-type]
        def __init__(self, stream: Any) -> None:
            if isinstance(stream, (str, bytes)):
                check_yaml_nesting(stream)
            super().__init__(stream)
            self._keys_checked: set[int] = set()

        def flatten_mapping(self, node: Any) -> None:
            # Check a mapping's own keys once, before PyYAML flattens it: flattening copies the
            # keys a mapping merges in (<<) into its node, and a merge source deeper in the
            # document is flattened before it is built, so a later check would see a merged
            # key beside the mapping's own and call a valid override a repeat.
            if id(node) not in self._keys_checked:
                self._keys_checked.add(id(node))
                seen: dict[Any, int] = {}
                for key_node, _ in node.value:
                    if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                        continue  # "<<" may repeat, and complex keys cannot clash with a scalar
                    # the key as the mapping will hold it: 1 and "1" differ, 1 and 01 do not
                    key = self.construct_object(key_node)
                    line = key_node.start_mark.line + 1
                    if key in seen:
                        raise DuplicateKeyError(key_node.value, line, seen[key])
                    seen[key] = line
            super().flatten_mapping(node)

        def construct_document(self, node: Any) -> Any:
            check_yaml_graph(node, resolver=self)
            return super().construct_document(node)

    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+$"),
        list("-+0123456789"),
    )
    _LOADER = Loader
    return Loader


# --------------------------------------------------------------------------------------------
# bounds
# --------------------------------------------------------------------------------------------


def load_json(text: str, **options: Any) -> Any:
    """``json.loads(text, **options)`` once the text is known to keep the bounds."""
    import json

    check_json_nesting(text)
    try:
        return json.loads(text, **options)
    except json.JSONDecodeError:
        raise
    except ValueError as e:
        found = _LONG_INTEGER.search(text)
        if found is None:
            raise
        raise _long_integer(text.count("\n", 0, found.start()) + 1) from e


def check_json_nesting(text: str) -> None:
    """Raise InputLimitError if arrays and objects nest deeper than NESTING_DEPTH.

    Measured on the text, in a few vectorised passes, so that ``json`` never recurses into a
    document 100,000 levels deep: only brackets outside strings count, and a quote escaped by
    a backslash does not end a string (escaped backslashes are dropped first). The depth is
    measured on the quotes and brackets alone (``bytes.translate`` drops the rest: a tenth of
    a large workload's bytes); only a document past the bound is measured again with the
    places of its marks, to name the line.
    """
    if text.count("[") + text.count("{") <= NESTING_DEPTH:
        return
    import numpy as np

    raw = text.encode("utf-8", "surrogatepass")
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    depth = _depths(np.frombuffer(raw.translate(None, _NOT_MARKS), dtype=np.uint8))
    if not depth.size or depth.max() <= NESTING_DEPTH:
        return
    codes = np.frombuffer(raw, dtype=np.uint8)
    where = np.flatnonzero((codes == 0x22) | (codes == 0x5B) | (codes == 0x5D)
                           | (codes == 0x7B) | (codes == 0x7D))
    first = int(np.argmax(_depths(codes[where]) > NESTING_DEPTH))
    raise _too_deep(raw.count(b"\n", 0, int(where[first])) + 1)


#: Every byte but the quote and the brackets, which alone make the nesting of JSON text.
_NOT_MARKS = bytes(b for b in range(256) if b not in b'"[]{}')


def _depths(marks: Any) -> Any:
    """The nesting depth after each of ``marks`` (quotes and brackets, as uint8 codes): a
    bracket counts only outside strings, which start and end at the quotes."""
    import numpy as np

    step = np.zeros(256, np.int8)
    step[[0x5B, 0x7B]] = 1
    step[[0x5D, 0x7D]] = -1
    inside = np.cumsum(marks == 0x22, dtype=np.int32) & 1
    return np.cumsum(np.where(inside, 0, step[marks]), dtype=np.int64)


def check_yaml_nesting(text: str | bytes) -> None:
    """Raise InputLimitError if the YAML text nests deeper than NESTING_DEPTH, before anything
    composes it.

    libyaml's composer (PyYAML's C loader) recurses in C once per level: PyYAML 6.0.3 and older
    bundle a libyaml with no nesting limit, so ``[`` * 100,000 overflowed the C stack and killed
    the process (SIGSEGV), and the pure-Python composer raises RecursionError. The parser's
    event stream is flat, so counting levels on it is safe at any depth; it costs about a
    seventh of a full load. Syntax errors are left to the load, which reports them the same way,
    except the newer libyaml's own refusal of 10,000 levels, which is this limit too.
    """
    import yaml
    from yaml.events import MappingEndEvent, MappingStartEvent, SequenceEndEvent, SequenceStartEvent

    opening, closing = (MappingStartEvent, SequenceStartEvent), (MappingEndEvent, SequenceEndEvent)
    parser = getattr(yaml, "CBaseLoader", yaml.BaseLoader)(text)
    depth = 0
    try:
        while True:
            event = parser.get_event()
            if event is None:
                return
            kind = type(event)
            if kind in opening:
                depth += 1
                if depth > NESTING_DEPTH:
                    raise _too_deep(event.start_mark.line + 1)
            elif kind in closing:
                depth -= 1
    except yaml.YAMLError as exc:
        if getattr(exc, "problem", None) == "exceeded maximum nesting depth":
            raise _too_deep(exc.problem_mark.line + 1) from None
        return
    finally:
        parser.dispose()


def check_yaml_graph(root: Any, *, resolver: Any = None) -> None:
    """Raise InputLimitError if a composed YAML document nests deeper than NESTING_DEPTH, its
    aliases, expanded, would add more than YAML_ALIAS_NODES nodes (or refer to a node that
    contains them, which would never end), or it holds an integer of over NUMBER_DIGITS.

    With ``resolver`` (the loader), a node whose explicit tag says something other than the
    value does (``!!int x``, ``!!set``, ``!!timestamp``, ``!!binary``) is a YAML error at its
    line: those build values of other types than JSON's, or fail with a plain ValueError or
    KeyError inside PyYAML; only ``!!str`` is taken, as it asks for what a quote asks.

    One pass over the distinct nodes: an alias is the same node object reached twice, so each
    node's expanded size and height are computed once and reused.
    """
    if root is None:
        return
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        children = _children(node)
        if not children and node.tag == _INT_TAG and len(node.value) > NUMBER_DIGITS:
            raise _long_integer(node.start_mark.line + 1)
        if resolver is not None and not children_done:
            _check_tag(node, resolver)
        if children_done:
            open_nodes.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            height[key] = 1 + max((height[id(c)] for c in children), default=0) if _is_collection(node) else 0
            if height[key] > NESTING_DEPTH:
                raise _too_deep(node.start_mark.line + 1)
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise InputLimitError(_DOCUMENT, "a YAML alias refers to a node that contains it "
                                             "(its expansion never ends)",
                                  line=node.start_mark.line + 1)
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)
    added = size[id(root)] - len(size)
    if added > YAML_ALIAS_NODES:
        raise InputLimitError(_DOCUMENT, f"its aliases expand to {added:,} more nodes; a "
                                         f"YAML input may add at most {YAML_ALIAS_NODES:,} "
                                         f"(docs/limits.md)")


def _check_tag(node: Any, resolver: Any) -> None:
    import yaml

    if isinstance(node, yaml.ScalarNode):
        if node.tag == _STR_TAG:
            return
        implicit = resolver.resolve(yaml.ScalarNode, node.value, (True, False)) \
            if node.style in (None, "") else _STR_TAG
    else:
        implicit = resolver.resolve(type(node), None, (True, False))
    if node.tag != implicit:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise yaml.constructor.ConstructorError(
            None, None, f"explicit tag {tag}: poolscale reads YAML as JSON's types, so the "
                        f"only explicit tag it takes is !!str", node.start_mark)


def _is_collection(node: Any) -> bool:
    return isinstance(node.value, list)


def _children(node: Any) -> list:
    value = node.value
    if not isinstance(value, list):
        return []
    if value and isinstance(value[0], tuple):
        return [part for pair in value for part in pair]
    return value


def _too_deep(line: int) -> InputLimitError:
    return InputLimitError(_DOCUMENT, f"nested more than {NESTING_DEPTH} levels deep, the "
                                      f"limit for any JSON or YAML input (docs/limits.md)",
                           line=line)


def _long_integer(line: int) -> InputLimitError:
    return InputLimitError(_DOCUMENT, f"an integer of more than {NUMBER_DIGITS:,} digits "
                                      f"(docs/limits.md)", line=line)
