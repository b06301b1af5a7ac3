"""YAML that remembers where things are: the line of every mapping key and list item.

Test files report their problems at ``file:line``, so the loader keeps positions that PyYAML
drops when it builds plain dicts and lists. Scalars mean what the scenario reader makes them
mean (``runtime/scenario.py``: times stay strings, ``1e3`` is a number), and a repeated key
is an error naming both lines.
"""

from __future__ import annotations

from poolscale.metrics.jsonyaml import DuplicateKeyError, json_like_loader
from poolscale.metrics.limits import InputLimitError

__all__ = ["LineMap", "LineList", "YamlError", "load_yaml"]



class LineMap(dict):
    """A mapping with its 1-based ``line``, ``key_lines`` (key -> line) and ``scalars`` (key ->
    (style, line, column) of a scalar value; style is None for a plain scalar, or one of
    ``' " | >``)."""

    line = 0
    key_lines: dict = {}
    scalars: dict = {}


class LineList(list):
    """A list with its 1-based ``line`` and ``item_lines``."""

    line = 0
    item_lines: list = []


class YamlError(Exception):
    """Invalid YAML; ``line`` is 1-based, or None when PyYAML gives no position."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


_LOADER = None


def _loader():
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml

    class Loader(json_like_loader()):  # type: ignore[misc, valid-type]
        pass

    def construct_map(loader, node):
        data = LineMap()
        data.line = node.start_mark.line + 1
        yield data
        try:
            data.update(loader.construct_mapping(node))   # checks for repeated keys first
        except DuplicateKeyError as e:
            raise YamlError(e.line, f"key {e.key!r} appears twice in one mapping "
                                    f"(first on line {e.first_line})") from None
        data.key_lines, data.scalars = {}, {}
        for key, value in node.value:  # merged keys included, own keys last
            if isinstance(key, yaml.ScalarNode):
                data.key_lines[key.value] = key.start_mark.line + 1
                if isinstance(value, yaml.ScalarNode):
                    data.scalars[key.value] = (value.style, value.start_mark.line + 1,
                                               value.start_mark.column + 1)

    def construct_seq(loader, node):
        data = LineList()
        data.line = node.start_mark.line + 1
        yield data
        data.extend(loader.construct_sequence(node))
        data.item_lines = [item.start_mark.line + 1 for item in node.value]

    Loader.add_constructor("tag:yaml.org,2002:map", construct_map)
    Loader.add_constructor("tag:yaml.org,2002:seq", construct_seq)
    _LOADER = Loader
    return Loader


def load_yaml(text: str):
    """The document in ``text``, its mappings and lists as :class:`LineMap` / :class:`LineList`."""
    import yaml

    try:
        return yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass
    except InputLimitError as e:
        raise YamlError(e.line, e.detail) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = " ".join(str(e.problem or e.context or e).split())
        raise YamlError(mark.line + 1 if mark else None, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as e:
        raise YamlError(None, f"invalid YAML: {' '.join(str(e).split())}") from None
