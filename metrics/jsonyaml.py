"""YAML read the way the same document written in JSON reads.

The inputs whose values poolscale reads from YAML — scenarios and test files (runtime/), pool
and workload files (scheduler/) — go through this one loader, so a value means the same in all
of them.
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
