"""YAML read the way the same document written in JSON reads.

Every poolscale input that may be YAML — scenarios and test files (runtime/), pool and workload
files (scheduler/) — goes through this one loader, so a value means the same in all of them.
PyYAML's safe loader follows YAML 1.1: an unquoted ``2026-03-02T10:00:00Z`` becomes a datetime,
``1e3`` a string, and a repeated key silently replaces the first. Here an ISO time stays a
string, ``1e3`` is a number, and a repeated key raises :class:`DuplicateKeyError`. PyYAML is
imported on first use, so importing this module costs nothing.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["DuplicateKeyError", "json_like_loader"]

_MERGE_TAG = "tag:yaml.org,2002:merge"
_LOADER: Any = None


class DuplicateKeyError(ValueError):
    """A key that appears twice in one mapping; ``line`` is 1-based."""

    def __init__(self, key: str, line: int) -> None:
        super().__init__(f"key {key!r} appears twice in one mapping (line {line})")
        self.key, self.line = key, line


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
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen = set()
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                    continue  # "<<" may repeat, and complex keys cannot clash with a scalar
                if key_node.value in seen:
                    raise DuplicateKeyError(key_node.value, key_node.start_mark.line + 1)
                seen.add(key_node.value)
            return super().construct_mapping(node, deep=deep)

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
