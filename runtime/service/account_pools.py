"""The account's pool and node operations beyond create/get/list/delete/resize/autoscale
(those stay in account.py): what the Batch REST API offers on pools and their nodes —
patch and replace a pool's properties, node counts, node reboot, node files.

A mixin of :class:`~.account.Account`, so that account.py stays one concept (the account, its
engine thread and its lookups) and each group of REST operations has a module of its own. Its
methods use the account's engine-thread helpers (``_call``, ``_pool``, ``_node``, ``_note``).

Pool properties the engine does not model (``metadata``, ``applicationPackageReferences``,
``certificateReferences``, ``targetNodeCommunicationMode``, ``virtualMachineConfiguration``,
...) are kept as given in the pool's REST specification (``PoolEngine.rest_spec``, stored with
the pool) and shown by its view; a changed ``startTask`` runs on the nodes that join or reboot
afterwards, as on the service (a node that is running its start task finishes that attempt).
"""

from __future__ import annotations

import errno
import json
import os
import stat as _stat
from pathlib import Path
from typing import Any, Mapping

from . import errors as E
from .views import file_properties

__all__ = ["PoolOperations", "PATCHABLE", "REPLACED", "NODE_COUNT_STATES"]

#: Pool - Patch: the properties a patch may give, each replacing the pool's when present
PATCHABLE = ("startTask", "metadata", "applicationPackageReferences", "certificateReferences",
             "targetNodeCommunicationMode", "displayName", "resourceTags")
#: Pool - Update Properties: the properties it replaces (absent ones are removed or reset)
REPLACED = ("startTask", "metadata", "applicationPackageReferences", "certificateReferences",
            "targetNodeCommunicationMode")
#: what Pool - Update Properties requires (``certificateReferences`` too in 2024-02-01.19.0;
#: 2025-06-01 has no certificates, so an absent list is an empty one)
_REPLACE_REQUIRED = ("metadata", "applicationPackageReferences")
#: properties of the 2025-06-01 patch the engine models but poolscale does not change on a
#: pool that exists (the service allows it only on a pool without nodes)
_NOT_CHANGED = ("vmSize", "taskSlotsPerNode", "taskSchedulingPolicy",
                "enableInterNodeCommunication", "virtualMachineConfiguration",
                "networkConfiguration", "userAccounts", "mountConfiguration", "upgradePolicy")
_COMMUNICATION_MODES = ("default", "classic", "simplified")

#: a node's state as the engine names it -> its name in a pool's node counts (``NodeCounts``)
NODE_COUNT_STATES = {
    "creating": "creating", "idle": "idle", "offline": "offline", "preempted": "preempted",
    "rebooting": "rebooting", "reimaging": "reimaging", "running": "running",
    "starting": "starting", "starttaskfailed": "startTaskFailed",
    "leavingpool": "leavingPool", "unknown": "unknown", "unusable": "unusable",
    "waitingforstarttask": "waitingForStartTask", "deallocated": "deallocated",
    "deallocating": "deallocating", "upgradingos": "upgradingOS",
}

_REBOOT_OPTIONS = ("requeue", "terminate", "taskcompletion", "retaineddata")
#: why a node in these states cannot be rebooted, as the service's codes say it
_NOT_REBOOTABLE = {"creating": "NodeBeingCreated", "starting": "NodeBeingStarted",
                   "waitingforstarttask": "NodeBeingStarted", "rebooting": "NodeBeingRebooted"}


def _named_list(name: str, value: Any, fields: tuple[str, ...], required: str) -> list[dict]:
    """A list property of objects (``metadata``: name/value pairs, package references): a JSON
    list of objects whose ``fields`` are text and whose ``required`` field is there."""
    if not isinstance(value, list):
        raise E.invalid_property(name, value, "must be a list")
    for i, item in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(item, Mapping):
            raise E.invalid_property(where, item, "must be an object")
        if item.get(required) is None:
            raise E.missing_property(f"{where}.{required}")
        for key, v in item.items():
            if key in fields and v is not None and not isinstance(v, str):
                raise E.invalid_property(f"{where}.{key}", v, "must be text")
    return [dict(item) for item in value]


def _checked_property(name: str, value: Any) -> Any:
    """A patched property's value as the pool keeps it, or the Batch error naming it."""
    if name == "metadata":
        return _named_list(name, value, ("name", "value"), "name")
    if name == "applicationPackageReferences":
        refs = _named_list(name, value, ("applicationId", "version"), "applicationId")
        if len(refs) > 10:
            raise E.invalid_property(name, f"{len(refs)} references", "at most 10")
        return refs
    if name == "certificateReferences":
        return _named_list(name, value, ("thumbprint", "thumbprintAlgorithm", "storeLocation",
                                         "storeName"), "thumbprint")
    if name == "targetNodeCommunicationMode":
        if not isinstance(value, str) or value.lower() not in _COMMUNICATION_MODES:
            raise E.invalid_property(name, value, "must be default, classic or simplified")
        return value
    if name == "displayName":
        if not isinstance(value, str) or len(value) > 1024:
            raise E.invalid_property(name, value, "must be text of at most 1024 characters")
        return value
    if name == "resourceTags":
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            raise E.invalid_property(name, value, "must be an object of text values")
        return dict(value)
    raise AssertionError(name)


def _start_task(value: Any) -> Any:
    """A start task as the engine's model, or the Batch error naming its first bad field
    (``startTask.commandLine``, ...)."""
    from poolscale.scheduler.models import StartTask

    from .account import _refusal

    if not isinstance(value, Mapping):
        raise E.invalid_property("startTask", value, "must be an object")
    if not value.get("commandLine"):
        raise E.missing_property("startTask.commandLine")
    try:
        return StartTask.model_validate(dict(value))
    except ValueError as e:
        error = _refusal(e, "startTask")
        values = dict(error.values)
        if "PropertyName" in values and not values["PropertyName"].startswith("startTask"):
            values["PropertyName"] = "startTask." + values["PropertyName"]
            error = E.BatchError(error.code, error.message, values)
        raise error from None


def _file_error(e: OSError, path: str) -> E.BatchError:
    """The Batch error for a node file the system refused: missing is ``FileNotFound``, a
    name too long ``InvalidPropertyValue`` (``filePath``), anything else ``IOError``."""
    if isinstance(e, (FileNotFoundError, NotADirectoryError)):
        return E.not_found("file", path)
    if e.errno == errno.ENAMETOOLONG:
        return E.invalid_property("filePath", path[:256], "the name is too long")
    return E.BatchError("IOError", f"the file {path[:256]!r}: {e.strerror}")


class PoolOperations:
    """Pool and node operations of :class:`~.account.Account` (see the module docstring)."""

    # -- pool properties ----------------------------------------------------------------------

    def patch_pool(self, pool_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Pool - Patch: each property given replaces the pool's (``startTask``, ``metadata``,
        ``applicationPackageReferences``, ``certificateReferences``,
        ``targetNodeCommunicationMode``, ``displayName``, ``resourceTags``); the others stay.
        An empty list removes the metadata or references. Returns the pool's view."""
        if not isinstance(changes, Mapping):
            raise E.BatchError("InvalidRequestBody", "the pool update must be a JSON object")
        new: dict[str, Any] = {}
        for name, value in changes.items():
            if name in _NOT_CHANGED:
                raise E.BatchError("UnsupportedProperty",
                                   f"poolscale does not change {name} of an existing pool",
                                   {"PropertyName": name})
            if name not in PATCHABLE:
                raise E.BatchError("UnsupportedProperty", None, {"PropertyName": name})
            if value is None:
                continue                    # null means what leaving it out means
            new[name] = value
        start = _start_task(new["startTask"]) if "startTask" in new else None
        checked = {k: v if k == "startTask" else _checked_property(k, v) for k, v in new.items()}
        return self._call(lambda: self._change_properties(pool_id, checked, start, ()))

    def replace_pool_properties(self, pool_id: str, props: Mapping[str, Any]) -> dict[str, Any]:
        """Pool - Update Properties: ``metadata`` and ``applicationPackageReferences`` are
        required and replace the pool's, as ``certificateReferences`` does (absent: none);
        ``startTask`` replaces it, or removes it when absent; ``targetNodeCommunicationMode``
        absent is ``default``.
        Returns the pool's view."""
        if not isinstance(props, Mapping):
            raise E.BatchError("InvalidRequestBody", "the pool properties must be a JSON object")
        for name in props:
            if name not in REPLACED:
                raise E.BatchError("UnsupportedProperty", None, {"PropertyName": name})
        for name in _REPLACE_REQUIRED:
            if props.get(name) is None:
                raise E.missing_property(name)
        checked = {k: _checked_property(k, props[k]) for k in REPLACED
                   if k != "startTask" and props.get(k) is not None}
        checked.setdefault("certificateReferences", [])
        checked.setdefault("targetNodeCommunicationMode", "default")
        start = None
        if props.get("startTask") is not None:
            start = _start_task(props["startTask"])
            checked["startTask"] = props["startTask"]
        removed = () if start is not None else ("startTask",)
        return self._call(lambda: self._change_properties(pool_id, checked, start, removed))

    def _change_properties(self, pool_id: str, changes: dict[str, Any], start: Any,
                           removed: tuple[str, ...]) -> dict[str, Any]:
        """Engine thread: apply checked property changes to the pool, keep them in its
        specification (and its store row), and return its view."""
        from .views import pool_view

        pool = self._pool(pool_id, change=True)
        refs = None
        if "certificateReferences" in changes:
            # checked before anything changes: the account must have them (account_certs.py)
            from poolscale.scheduler.models import CertificateReference

            from .account import _refusal
            try:
                refs = [CertificateReference.model_validate(r)
                        for r in changes["certificateReferences"]]
            except ValueError as e:
                raise _refusal(e, "certificateReferences") from None
            self._check_certificate_references(changes)
        spec = dict(pool.rest_spec)
        for name in removed:
            spec.pop(name, None)
            spec.pop("start_task", None)
        for name, value in changes.items():
            spec[name] = json.loads(json.dumps(value))
        if "startTask" in changes or "startTask" in removed:
            spec.pop("start_task", None)
            pool.start_task = start
            pool.pool_spec = pool.pool_spec.model_copy(update={"start_task": start})
        if refs is not None:
            # what each process of the pool finds in $AZ_BATCH_CERTIFICATES_DIR from now on
            pool.pool_spec = pool.pool_spec.model_copy(update={"certificate_references": refs})
        pool.rest_spec = spec
        pool.records.modified = self.kernel.now
        if self._persist is not None:
            self._persist.note_pool_spec(pool)
        return pool_view(pool)

    # -- node counts --------------------------------------------------------------------------

    def node_counts(self) -> list[dict[str, Any]]:
        """Per pool, its nodes of each kind by state, with the service's state names
        (``PoolNodeCounts``: ``{"poolId", "dedicated": {...}, "lowPriority": {...}}``)."""
        names = tuple(dict.fromkeys(NODE_COUNT_STATES.values()))

        def run() -> list[dict[str, Any]]:
            self._forget_deleted()
            out = []
            for pool in self.pools.values():
                counts = ({n: 0 for n in names}, {n: 0 for n in names})
                for node in pool.nodes.values():
                    kind = counts[node.kind]
                    kind[NODE_COUNT_STATES.get(node.state, "unknown")] += 1
                for kind in counts:
                    kind["total"] = sum(kind.values())
                out.append({"poolId": pool.id, "dedicated": counts[0],
                            "lowPriority": counts[1]})
            return out
        return self._call(run)

    # -- node reboot ----------------------------------------------------------------------------

    def reboot_node(self, pool_id: str, node_id: str, option: str | None = "requeue") -> None:
        """Reboot the node (``nodeRebootOption``: ``requeue`` by default, ``terminate``,
        ``taskcompletion``, ``retaineddata``): it is ``rebooting`` (after its tasks, for the
        last two), then boots and runs the pool's start task again."""
        from poolscale.formula.values import Option

        name = "requeue" if option is None else option
        if not isinstance(name, str) or name.lower() not in _REBOOT_OPTIONS:
            raise E.invalid_property("nodeRebootOption", option,
                                     "must be requeue, terminate, taskcompletion or retaineddata")
        opt = Option(name.lower())

        def run() -> None:
            pool = self._pool(pool_id)
            node = self._node(pool, node_id)
            if node.reboot is not None:
                raise E.BatchError("NodeBeingRebooted",
                                   f"the node {node.id!r} reboots once its tasks end")
            if not pool.reboot_node(node, opt):
                code = _NOT_REBOOTABLE.get(node.state, "OperationNotValidOnNode")
                raise E.BatchError(code, f"the node {node.id!r} is {node.state}; a node is "
                                   "rebooted when idle, running, offline, starttaskfailed or "
                                   "unusable")
        self._call(run)

    # -- node files -----------------------------------------------------------------------------

    def _node_path(self, pool_id: str, node_id: str, path: str) -> Path:
        """The node's file ``path`` (relative to its root), resolved on the engine thread and
        kept inside the node's tree: a path that climbs out (``..``, absolute) or leads out
        through a symlink is a 400 naming ``filePath``."""
        def where() -> Path:
            pool = self._pool(pool_id)
            node = self._node(pool, node_id)
            return self.node_dirs.node_file(pool.id, node.id, path)
        try:
            return self._call(where)
        except ValueError as e:         # InvalidFilePath, PathOutsideWorkRoot
            raise E.invalid_property("filePath", path, str(e)) from None

    def node_file(self, pool_id: str, node_id: str, path: str) -> tuple[Path, os.stat_result]:
        """A file (or directory) of a node and its ``stat``; ``FileNotFound`` if it does not
        exist, ``IOError`` if it cannot be read. The REST layer streams it, a range of it, or
        its properties."""
        target = self._node_path(pool_id, node_id, path)
        try:
            st = target.stat()
            if _stat.S_ISREG(st.st_mode):   # readable: a stream must not fail after its headers
                os.close(os.open(target, os.O_RDONLY | os.O_NONBLOCK))
            return target, st
        except OSError as e:
            raise _file_error(e, path) from None

    def list_node_files(self, pool_id: str, node_id: str,
                        recursive: bool = False) -> list[dict[str, Any]]:
        """The node's files under its root: the first level, or every level when
        ``recursive`` (directories included), each ``{"name", "isDirectory", "properties"}``
        with ``name`` relative to the root (``/``-separated), sorted by name. An entry that
        resolves outside the node's tree (a symlink a task planted) is not listed."""
        from .local.nodedirs import list_tree

        root = self._node_path(pool_id, node_id, "")
        return [{"name": name, "isDirectory": _stat.S_ISDIR(st.st_mode),
                 "properties": file_properties(st)} for name, st in list_tree(root, recursive)]

    def delete_node_file(self, pool_id: str, node_id: str, path: str,
                         recursive: bool = False) -> None:
        """Delete a node's file, or a directory: an empty one, or with everything in it when
        ``recursive``. A directory with entries and no ``recursive`` is refused (409
        ``OperationInvalidForCurrentState``); the node's root is never deleted."""
        from .local.nodedirs import delete_entry

        target = self._node_path(pool_id, node_id, path)
        if not path.strip("/."):
            raise E.invalid_property("filePath", path, "the node's root directory is not deleted")
        try:
            st = os.lstat(target)
            if not _stat.S_ISDIR(st.st_mode):
                target.unlink(missing_ok=True)
            elif recursive:
                delete_entry(target)
            else:
                os.rmdir(target)
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise E.BatchError("OperationInvalidForCurrentState",
                                   f"the directory {path!r} is not empty; delete it with "
                                   "recursive=true", {"Reason": "DirectoryNotEmpty"}) from None
            raise _file_error(e, path) from None
