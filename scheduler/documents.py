"""Reading the simulator's input files, and saying exactly where a bad one is wrong.

A pool or workload file is JSON or YAML; its structure is checked by the pydantic models of
``models.py``. A pydantic error holds a path of keys (``jobs, 0, tasks, 3, duration``) but no
position, so :func:`locate` finds the line by composing the same text as YAML (a JSON document
is a YAML flow document, so one walker serves both) and following the path through the nodes.
Every problem becomes one :class:`InputFileError`, rendered ``file:line: field: message`` —
the form the CLI prints before exiting with status 2.

YAML means what the same document in JSON would mean (``poolscale.metrics.jsonyaml``, shared
with the scenario and test readers): an unquoted ISO instant stays a string, ``1e3`` is a
number, and a key repeated in one mapping is an error, as ``json`` reads it here.
"""

from __future__ import annotations

import os
from typing import Any

from poolscale.metrics.inputfile import inflate, read_file
from poolscale.metrics.jsonyaml import (
    DuplicateKeyError,
    check_yaml_nesting,
    json_like_loader,
    load_json,
)
from poolscale.metrics.limits import DOCUMENT_BYTES, WORKLOAD_BYTES, InputLimitError

__all__ = [
    "InputFileError", "shown", "read_text", "parse_document", "locate", "field_path",
    "from_validation_error", "read_pool", "pool_from_data",
]


class InputFileError(ValueError):
    """A file the simulator cannot use: ``path``, the 1-based ``line`` (or None), the ``field``
    (``taskSlotsPerNode``, ``jobs[0].tasks[3].duration``; or None) and the ``message``."""

    def __init__(self, path: str, message: str, *, line: int | None = None,
                 field: str | None = None) -> None:
        self.path, self.line, self.field, self.message = path, line, field, message
        where = path if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


def shown(value: Any) -> str:
    """A number or text from a file as a message quotes it: whole when short, and an integer of
    hundreds of digits by its size (``str()`` of one past 4,300 digits raises)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**18:
        return f"a {'negative ' if value < 0 else ''}{value.bit_length() * 0.30103 + 1:.0f}-digit number"
    if isinstance(value, float):
        return f"{value:.15g}"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_text(path: str | os.PathLike, *, limit: int = WORKLOAD_BYTES,
              kind: str = "a workload file") -> str:
    """UTF-8 text of a file (a leading byte-order mark dropped); ``.gz`` files are inflated.
    At most ``limit`` bytes are read, and at most ``limit`` inflated (docs/limits.md)."""
    name = os.fspath(path)
    try:
        data = read_file(name, limit=limit, kind=kind)
        if name.endswith(".gz"):
            data = inflate(data, limit=limit, source=name, kind=kind)
        return data.decode("utf-8-sig")
    except InputLimitError as e:
        raise InputFileError(name, e.detail) from None
    except OSError as e:
        raise InputFileError(name, f"cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise InputFileError(name, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except EOFError as e:  # a truncated .gz
        raise InputFileError(name, f"cannot inflate: {e}") from None


# --------------------------------------------------------------------------------------------
# JSON / YAML
# --------------------------------------------------------------------------------------------

def _no_duplicates(name: str):
    def hook(pairs: list[tuple[str, Any]]) -> dict:
        out: dict = {}
        for key, value in pairs:
            if key in out:
                raise InputFileError(name, f"key {key!r} appears twice in one object")
            out[key] = value
        return out
    return hook


def _is_yaml(name: str) -> bool:
    base = name[:-3] if name.endswith(".gz") else name
    return os.path.splitext(base)[1].lower() in (".yaml", ".yml")


def parse_document(text: str, name: str) -> Any:
    """The document in ``text``: YAML when ``name`` ends in .yaml/.yml, JSON otherwise."""
    if _is_yaml(name):
        import yaml

        try:
            return yaml.load(text, Loader=json_like_loader())  # noqa: S506 - a SafeLoader subclass
        except DuplicateKeyError as e:
            raise InputFileError(name, f"key {e.key!r} appears twice in one mapping",
                                 line=e.line) from None
        except InputLimitError as e:
            raise InputFileError(name, e.detail, line=e.line) from None
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            problem = " ".join(str(e.problem or e.context or e).split())
            raise InputFileError(name, f"invalid YAML: {problem}",
                                 line=mark.line + 1 if mark else None) from None
        except yaml.YAMLError as e:
            raise InputFileError(name, f"invalid YAML: {' '.join(str(e).split())}") from None
    import json

    try:
        return load_json(text, object_pairs_hook=_no_duplicates(name))
    except json.JSONDecodeError as e:
        raise InputFileError(name, f"invalid JSON (column {e.colno}): {e.msg}",
                             line=e.lineno) from None
    except InputLimitError as e:
        raise InputFileError(name, e.detail, line=e.line) from None


# --------------------------------------------------------------------------------------------
# where a pydantic error points
# --------------------------------------------------------------------------------------------


#: Fields the models accept under other names (models.py renames them before validation), so an
#: error on ``taskSlotsPerNode`` points at the ``maxTasksPerNode`` the file wrote.
_WRITTEN_AS = {
    "taskSlotsPerNode": ("maxTasksPerNode", "MaxTasksPerVM", "maxTasksPerVM"),
    "exitCodes": ("exitCode",),
}


def _walk(data: Any, loc: tuple) -> list:
    """The parts of ``loc`` that index ``data``; pydantic adds union tags and validator names
    (``constant``, ``function-after[...]``) that are not in the document, and those are dropped."""
    path: list = []
    cur = data
    for part in loc:
        if isinstance(cur, dict) and part not in cur:
            part = next((old for old in _WRITTEN_AS.get(part, ()) if old in cur), part)
        if isinstance(cur, dict) and part in cur:
            path.append(part)
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            path.append(part)
            cur = cur[part]
    return path


def field_path(path: list) -> str:
    """``["jobs", 0, "tasks", 3, "duration"]`` -> ``jobs[0].tasks[3].duration``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def locate(text: str, path: list) -> int | None:
    """The 1-based line of the value at ``path`` in ``text`` (JSON or YAML), else None."""
    import yaml

    try:
        check_yaml_nesting(text)
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, InputLimitError):
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _message(err: dict) -> str:
    msg = err.get("msg", "invalid")
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if err.get("type") == "extra_forbidden":
        msg = "unknown field (check its spelling and case)"
    return msg


def _located(error: Any) -> tuple[dict, tuple, str | None]:
    """A pydantic error, its location and the field a model check named: a check a model
    makes across its fields (a ``models.FieldError``) is placed at that field, not at the
    model."""
    from .models import FieldError

    loc = tuple(error.get("loc", ()))
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, FieldError):
        return {**error, "msg": cause.message}, loc + (cause.field,), cause.field
    return dict(error), loc, None


def from_validation_error(name: str, text: str | None, data: Any, exc: Exception, *,
                          prefix: list | None = None, strip: int = 0) -> InputFileError:
    """One :class:`InputFileError` for a pydantic ``ValidationError`` (its first error, with a
    count of the others) or a plain ``ValueError`` raised by a model loader.

    ``data`` is what was validated; the error's path through it, less its first ``strip``
    parts (wrappers a loader added) and after ``prefix`` (where ``data`` sits in the file),
    is the field named and the path followed to find the line.
    """
    errors = exc.errors() if hasattr(exc, "errors") else []
    if not errors:
        return InputFileError(name, str(exc))
    first, loc, named = _located(errors[0])
    walked = _walk(data, loc)
    missing = _missing_beside(errors, loc)
    if len(missing) > 1:
        # every field the object lacks, named at once: fixing them one run at a time ("and 1
        # more problem") is how a user meets a list the message could have given
        message = "missing required fields: " + ", ".join(missing)
        more = len(errors) - len(missing)
    else:
        if missing:
            walked.append(loc[-1])     # the field the document lacks: name it
        elif named is not None and not (walked and walked[-1] in (named, *_WRITTEN_AS.get(named, ()))):
            walked.append(named)       # written otherwise (snake_case): still name the field
        message = _message(first)
        more = len(errors) - 1
    path = (prefix or []) + walked[strip:]
    message += f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    line = locate(text, path) if text is not None and (path or missing) else None
    return InputFileError(name, message, line=line, field=field_path(path) or None)


def _missing_beside(errors: list, loc: tuple) -> list[str]:
    """When the first error is a missing field, every field missing from the same object, in
    the order pydantic lists them (the model's field order); else nothing."""
    if not (errors[0].get("type") == "missing" and loc and isinstance(loc[-1], str)):
        return []
    parent = loc[:-1]
    return [str(err["loc"][-1]) for err in errors
            if err.get("type") == "missing" and tuple(err.get("loc", ()))[:-1] == parent
            and isinstance(err["loc"][-1], str)]


# --------------------------------------------------------------------------------------------
# pool files
# --------------------------------------------------------------------------------------------


def pool_from_data(data: Any, name: str = "pool", text: str | None = None):
    """A :class:`~poolscale.scheduler.models.PoolSpec` from a decoded pool document.

    Fields are named relative to the pool (``taskSlotsPerNode``, ``simulation.bootTime``) in
    both shapes of the file: a REST pool, or ``{"pool": {...}, "simulation": {...}}``.
    """
    from pydantic import ValidationError

    from .models import load_pool

    if not isinstance(data, dict):
        raise InputFileError(name, "a pool file holds one object (a Batch REST pool)")
    try:
        return load_pool(data)
    except ValidationError as e:
        envelope = isinstance(data.get("pool"), dict) and "id" not in data
        if not envelope:
            raise from_validation_error(name, text, data, e) from None
        merged = dict(data["pool"])
        if "simulation" in data:
            merged["simulation"] = data["simulation"]
        errors = e.errors()
        path = _walk(merged, _located(errors[0])[1]) if errors else []
        in_doc = path if path[:1] == ["simulation"] and "simulation" in data else ["pool"] + path
        err = from_validation_error(name, None, merged, e)
        raise InputFileError(name, err.message, field=err.field,
                             line=locate(text, in_doc) if text else None) from None
    except ValueError as e:
        raise InputFileError(name, str(e)) from None


def read_pool(path: str | os.PathLike):
    """Read, parse and validate a pool file (JSON, or YAML by its extension)."""
    name = os.fspath(path)
    text = read_text(name, limit=DOCUMENT_BYTES, kind="a pool file")
    return pool_from_data(parse_document(text, name), name, text)
