"""What the account keeps of jobs and tasks beside the engine, for the REST API.

The engine models what runs; a Batch client also reads back properties that change nothing on
local nodes (``displayName``, ``metadata``, ``userIdentity``, ...: *extras*, echoed as given),
when a user last changed a job or a task (``lastModified``), and when a job was disabled or
enabled (the engine times only its creation, termination and completion). :class:`Kept` holds
them by ``(job id key, task id)`` (``""`` for the job itself) and stages each change in the
store's ``rest_properties`` table in the turn that made it, so they survive a restart.

The extras are checked for their JSON type when they are added (:func:`check_extras`): the
engine never reads them, so nothing else would refuse a wrong one, and a client reading one
back would fail far from its cause.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from . import errors as E
from .ids import id_key

__all__ = ["Kept", "JOB_EXTRAS", "TASK_EXTRAS", "JOB_KEY", "extras", "check_extras",
           "check_metadata", "MAX_DISPLAY_NAME"]

#: a job's properties that the engine does not model and a get echoes as they were added
JOB_EXTRAS = ("displayName", "metadata", "networkConfiguration")
#: a task's properties that the engine does not model and a get echoes as they were added
#: (``resourceFiles`` and ``outputFiles`` are the task model's own: the engine transfers them)
TASK_EXTRAS = ("displayName", "containerSettings", "userIdentity",
               "applicationPackageReferences", "authenticationTokenSettings")
#: the task id under which a job's own kept properties are keyed
JOB_KEY = ""


def extras(spec: Any, names: Iterable[str]) -> dict[str, Any]:
    """The properties ``names`` that ``spec`` (an add's body) gives, as given."""
    if not isinstance(spec, Mapping):
        return {}
    return {k: spec[k] for k in names if spec.get(k) is not None}


#: the JSON type each kept property must have (module docstring)
_OBJECT, _LIST = "an object", "a list of objects"
_EXTRA_TYPES = {"networkConfiguration": _OBJECT, "containerSettings": _OBJECT,
                "userIdentity": _OBJECT, "authenticationTokenSettings": _OBJECT,
                "applicationPackageReferences": _LIST}
#: the longest displayName the service takes
MAX_DISPLAY_NAME = 1024


def check_extras(spec: Mapping[str, Any], names: Iterable[str]) -> None:
    """Refuse a kept property of the wrong JSON type (``InvalidPropertyValue`` naming it)."""
    for name in names:
        value = spec.get(name)
        if value is None:
            continue
        if name == "displayName":
            if not isinstance(value, str) or len(value) > MAX_DISPLAY_NAME:
                raise E.invalid_property(name, value, f"must be text of at most "
                                                      f"{MAX_DISPLAY_NAME} characters")
        elif name == "metadata":
            check_metadata(value)
        elif _EXTRA_TYPES[name] is _OBJECT:
            if not isinstance(value, Mapping):
                raise E.invalid_property(name, value, "must be an object")
        elif not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise E.invalid_property(name, value, "must be a list of objects")


def check_metadata(value: Any) -> None:
    """``metadata``: a list of ``{"name", "value"}`` objects with text in both."""
    if not isinstance(value, list):
        raise E.invalid_property("metadata", value, "must be a list of name/value pairs")
    for i, item in enumerate(value):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) \
                or not isinstance(item.get("value"), str):
            raise E.invalid_property(f"metadata[{i}]", item,
                                     "must be an object with text name and value")


class Kept:
    """The kept properties of an account's jobs and tasks (see the module docstring). Engine
    thread; ``store`` (the account's, None without one) gets each change staged."""

    __slots__ = ("extras", "modified", "transitions")

    def __init__(self) -> None:
        #: (job id key, task id or JOB_KEY) -> the extras as given
        self.extras: dict[tuple[str, str], dict[str, Any]] = {}
        #: (job id key, task id or JOB_KEY) -> engine seconds of the last change by a user
        self.modified: dict[tuple[str, str], float] = {}
        #: job id key -> [(state, engine seconds)] of its disables and enables
        self.transitions: dict[str, list[tuple[str, float]]] = {}

    def keep(self, store: Any, job_id: str, task_id: str = JOB_KEY, *,
             extras: Mapping[str, Any] | None = None, modified: float | None = None,
             transition: tuple[str, float] | None = None) -> None:
        """Remember what is given (``extras`` replace the old ones; empty: none)."""
        key = (id_key(job_id), task_id)
        if extras is not None:
            if extras:
                self.extras[key] = dict(extras)
            else:
                self.extras.pop(key, None)
        if modified is not None:
            self.modified[key] = modified
        if transition is not None:
            self.transitions.setdefault(key[0], []).append(transition)
        if store is None:
            return
        body: dict[str, Any] = {"extras": self.extras.get(key),
                                "modified": self.modified.get(key)}
        if key[1] == JOB_KEY:
            body["transitions"] = self.transitions.get(key[0])
        if not any(body.values()):
            store.delete("rest_properties", key)
            return
        store.put("rest_properties", {"job_id": key[0], "task_id": key[1],
                                      "body": json.dumps(body)})

    def forget(self, store: Any, job_id: str, task_id: str | None = None) -> None:
        """A task was deleted (or, with no ``task_id``, a job with all its tasks)."""
        jk = id_key(job_id)
        keys = {k for k in (*self.extras, *self.modified)
                if k[0] == jk and (task_id is None or k[1] == task_id)}
        if task_id is None:
            self.transitions.pop(jk, None)
            keys.add((jk, JOB_KEY))
        for key in keys:
            self.extras.pop(key, None)
            self.modified.pop(key, None)
            if store is not None:
                store.delete("rest_properties", key)

    def restore(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Read back the ``rest_properties`` rows (recovery, before the engine serves)."""
        for row in rows:
            key = (row["job_id"], row["task_id"])
            body = json.loads(row["body"])
            if body.get("extras"):
                self.extras[key] = body["extras"]
            if body.get("modified") is not None:
                self.modified[key] = body["modified"]
            if body.get("transitions"):
                self.transitions[key[0]] = [tuple(t) for t in body["transitions"]]
