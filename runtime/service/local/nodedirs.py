"""Local nodes as directory trees: the filesystem and the identity of a node, nothing else.

A local node is a directory ``<work root>/<poolId>/<nodeId>`` laid out as a Batch node is
(docs/running-locally.md#node-directories)::

    startup/wd/        the start task's directory (stdout.txt, stderr.txt appear on its first run)
    shared/            AZ_BATCH_NODE_SHARED_DIR: for every task on this node, not other nodes
    fsmounts/          AZ_BATCH_NODE_MOUNTS_DIR: empty (no mounts)
    applications/      reserved, empty
    volatile/          reserved, empty
    workitems/<jobId>/job-1/<taskId>/          a task (stdout.txt, stderr.txt, wd/)
    workitems/<jobId>/job-1/jobpreparation/    the job preparation task
    workitems/<jobId>/job-1/jobrelease/        the job release task
    workitems/<scheduleId>/job-<n>/...         the same for job <scheduleId>:job-<n> of a schedule

Node ids are the engine's: ``Node.id`` of ``poolscale.scheduler.nodes`` (``tvm-000001`` from the
node's number), passed in; this module never makes one up, so a directory, a store row and the
simulator's event log name a node alike. Its number gives its address (:func:`node_ip`).

Why the class owns no timer and posts no report: the engine schedules a node's allocation and
boot on its own kernel after the configured delays, so that the same Batch rules run on both
clocks; this layer only makes, names, wipes and deletes directories, and gives a node its IP.

Safety rules, each for a reason:

* **Ids are checked** by the Batch rule (:mod:`poolscale.runtime.service.ids`) before a path is
  built from them, so an id is always one plain path component (no ``..``, no ``/``).
* **Every computed path is resolved and must stay under the work root.** Tasks run as the user
  who started poolscale and may plant symlinks in their directories; a path that resolves
  outside raises :class:`PathOutsideWorkRoot` instead of being used.
* **A user's file path stays in its directory.** ``node_file``/``task_file`` take a path
  relative to a node's or a task's directory (what the file APIs receive); an absolute path or
  a ``..`` is refused (:class:`InvalidFilePath`), and the result must resolve inside that very
  directory, so a link cannot make one node's file API read another node's files.
* **A delete never follows a symlink.** The entry to delete is taken from its parent's resolved
  directory; a symlink is unlinked, never descended into (``shutil.rmtree`` does not follow
  links inside a tree either), so a link to ``$HOME`` in a task directory costs one unlink.
* **Removal is a rename.** ``remove`` and ``reimage`` move the node's tree into
  ``<work root>/.trash/<uuid>`` (atomic and O(1), so the engine thread never waits for a large
  tree to be deleted) and a background thread deletes it. Whatever a killed service left in
  the trash is deleted when the next one starts. ``.trash`` cannot be a pool: ids have no dots.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
import sys
import threading
import uuid
from collections import deque
from pathlib import Path

from poolscale.runtime.service.ids import check_id, split_job_id

from .environment import TASK_KINDS

__all__ = ["NodeDirectories", "PathOutsideWorkRoot", "InvalidFilePath", "NODE_SUBDIRS",
           "NODE_ROOT_MODE", "TRASH", "node_ip", "delete_entry", "PREPARATION_DIR", "RELEASE_DIR"]

_log = logging.getLogger(__name__)

#: The directories a new node has, relative to its root (parents before children).
NODE_SUBDIRS = ("applications", "fsmounts", "shared", "startup", "startup/wd", "volatile", "workitems")

#: Directory names of the job preparation and release tasks: their task kinds, which are also
#: their AZ_BATCH_TASK_ID (runtime/service/local/environment.py).
PREPARATION_DIR = "jobpreparation"
RELEASE_DIR = "jobrelease"
assert PREPARATION_DIR in TASK_KINDS and RELEASE_DIR in TASK_KINDS

#: Where removed trees wait for deletion, under the work root.
TRASH = ".trash"

#: Mode of a node's root: tasks of other users on this machine have no business in it.
NODE_ROOT_MODE = 0o700

#: Nodes per /24 block of 127.0.0.0/8: host parts 1..254 (no .0 or .255 address).
_HOSTS_PER_BLOCK = 254


class PathOutsideWorkRoot(ValueError):
    """A computed path resolves outside the directory it must stay in: the work root, or for
    a file path given by a user, the node or task directory it names a file of (a symlink
    planted in a node tree)."""

    def __init__(self, path: Path, resolved: str, base: Path, where: str = "the work root") -> None:
        self.path = path
        self.resolved = resolved
        super().__init__(f"{path} resolves to {resolved}, outside {where} {base}; it is not used")


class InvalidFilePath(ValueError):
    """A file path, given relative to a node or task directory, that names no file under it
    (absolute, or climbing with ``..``)."""

    def __init__(self, file_path: str, reason: str) -> None:
        self.file_path = file_path
        self.reason = reason
        super().__init__(f"file path {file_path!r} {reason}")


def node_ip(num: int, platform: str = sys.platform) -> str:
    """The IP address of node ``num`` (``tvm-<num>``, from 1), as multi-instance tasks see it.

    On Linux all of 127.0.0.0/8 is loopback, so each node gets its own address and a task can
    bind a port per node: node 1 is 127.0.0.2, node 253 is 127.0.0.254, node 254 is 127.0.1.1
    (127.0.0.1 stays the host's; no address ends in .0 or .255). Elsewhere (macOS) only
    127.0.0.1 is configured, so every node has it and tasks of different nodes share its ports.
    """
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise ValueError(f"a node number is an integer from 1, not {num!r}")
    if not platform.startswith("linux"):
        return "127.0.0.1"
    block, host = divmod(num, _HOSTS_PER_BLOCK)
    if block > 0xFFFF:
        raise ValueError(f"node number {num} is past the last loopback address")
    return f"127.{block >> 8}.{block & 0xFF}.{host + 1}"


def _node_parts(pool_id: str, node_id: str) -> tuple[str, str]:
    return (check_id(pool_id, "poolId"), check_id(node_id, "nodeId"))


def _job_parts(pool_id: str, node_id: str, job_id: str, segment: str | None) -> tuple[str, ...]:
    """The one place that decides where a job's tasks live on a node:
    ``workitems/<work item>/<segment>``, as the service lays them out. With ``segment`` None
    (every caller's default) both come from the job id (:func:`split_job_id`): a plain job is
    ``<jobId>/job-1``, the job ``<scheduleId>:job-<n>`` of a schedule is
    ``<scheduleId>/job-<n>``, so callers pass a job's id as it is and the colon never reaches
    the disk. An explicit ``segment`` takes ``job_id`` as the work item."""
    if segment is None:
        workitem, segment = split_job_id(job_id, "jobId")
    else:
        workitem, segment = check_id(job_id, "jobId"), check_id(segment, "segment")
    return (*_node_parts(pool_id, node_id), "workitems", workitem, segment)


def _file_parts(file_path: str) -> tuple[str, ...]:
    """The components of a file path relative to a directory: ``/``-separated, empty and ``.``
    components dropped; an absolute path, a ``..`` or a NUL character refused."""
    if not isinstance(file_path, str):
        raise InvalidFilePath(str(file_path), f"is a {type(file_path).__name__}, not text")
    if file_path.startswith("/"):
        raise InvalidFilePath(file_path, "is absolute; give it relative to the directory")
    if "\0" in file_path:
        raise InvalidFilePath(file_path, "contains a NUL character")
    parts = tuple(p for p in file_path.split("/") if p not in ("", "."))
    if ".." in parts:
        raise InvalidFilePath(file_path, "climbs out with '..'")
    return parts


class NodeDirectories:
    """The directory trees of the local nodes under one work root.

    Every method takes ids (checked; see the module docstring) and returns absolute paths
    built on the resolved work root. Thread-safe: the engine thread calls it; the trash thread
    touches only ``.trash``.
    """

    def __init__(self, work_root: str | os.PathLike[str]) -> None:
        os.makedirs(work_root, exist_ok=True)
        self.work_root = Path(os.path.realpath(work_root))
        self.trash = self._checked((TRASH,))
        os.makedirs(self.trash, exist_ok=True)
        self._pending: deque[Path] = deque()
        self._busy = 0  # entries queued or being deleted
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        leftovers = sorted(self.trash.iterdir())
        if leftovers:
            _log.info("emptying %d tree(s) left in %s by an earlier run", len(leftovers), self.trash)
            for entry in leftovers:
                self._enqueue(entry)

    # -- paths ---------------------------------------------------------------------------------

    def node_root(self, pool_id: str, node_id: str) -> Path:
        """``<work root>/<poolId>/<nodeId>`` (``AZ_BATCH_NODE_ROOT_DIR``)."""
        return self._checked(_node_parts(pool_id, node_id))

    def startup_dir(self, pool_id: str, node_id: str) -> Path:
        """The start task's directory (``AZ_BATCH_NODE_STARTUP_DIR``)."""
        return self._checked((*_node_parts(pool_id, node_id), "startup"))

    def job_dir(self, pool_id: str, node_id: str, job_id: str, segment: str | None = None) -> Path:
        """``workitems/<jobId>/<segment>`` on the node (see :func:`_job_parts`)."""
        return self._checked(_job_parts(pool_id, node_id, job_id, segment))

    def task_dir(self, pool_id: str, node_id: str, job_id: str, task_id: str,
                 segment: str | None = None) -> Path:
        """A task's directory (``AZ_BATCH_TASK_DIR``: ``stdout.txt``, ``stderr.txt``, ``wd/``).
        Not created here: the executor makes it on every attempt."""
        return self._checked((*_job_parts(pool_id, node_id, job_id, segment), check_id(task_id, "taskId")))

    def prep_dir(self, pool_id: str, node_id: str, job_id: str, segment: str | None = None) -> Path:
        """The job preparation task's directory (``AZ_BATCH_JOB_PREP_DIR``)."""
        return self._checked((*_job_parts(pool_id, node_id, job_id, segment), PREPARATION_DIR))

    def release_dir(self, pool_id: str, node_id: str, job_id: str, segment: str | None = None) -> Path:
        """The job release task's directory."""
        return self._checked((*_job_parts(pool_id, node_id, job_id, segment), RELEASE_DIR))

    def node_file(self, pool_id: str, node_id: str, file_path: str) -> Path:
        """A file of a node, by its path relative to the node's root (``startup/stdout.txt``,
        ``workitems/job1/job-1/t1/wd/result.csv``), as the node's file API names it. ``""`` is
        the root itself. The path must stay in this node's tree."""
        return self._file_under(_node_parts(pool_id, node_id), file_path, "the node directory")

    def task_file(self, pool_id: str, node_id: str, job_id: str, task_id: str, file_path: str,
                  segment: str | None = None) -> Path:
        """A file of a task, by its path relative to the task's directory (``stdout.txt``,
        ``wd/result.csv``), as the task's file API names it. The path must stay in the task's
        directory."""
        parts = (*_job_parts(pool_id, node_id, job_id, segment), check_id(task_id, "taskId"))
        return self._file_under(parts, file_path, "the task directory")

    # -- node life -------------------------------------------------------------------------------

    def create(self, pool_id: str, node_id: str) -> Path:
        """Make the node's tree and return its root. Idempotent: what exists is kept (a service
        restarted after a crash re-creates its nodes without wiping them), but an existing part
        must not lead outside the work root."""
        parts = _node_parts(pool_id, node_id)
        root = self._checked(parts)
        os.makedirs(root.parent, exist_ok=True)
        try:
            os.mkdir(root, NODE_ROOT_MODE)
        except FileExistsError:
            pass
        os.chmod(root, NODE_ROOT_MODE)  # mkdir's mode is filtered by the umask
        for sub in NODE_SUBDIRS:
            try:
                os.mkdir(root / sub)
            except FileExistsError:
                self._checked((*parts, *sub.split("/")))
        return root

    def reimage(self, pool_id: str, node_id: str) -> Path:
        """Wipe the node's tree and make a fresh one (after a preemption or a node failure the
        node's local data is gone, as on the service). The old tree goes to the trash."""
        self.remove(pool_id, node_id)
        return self.create(pool_id, node_id)

    def remove(self, pool_id: str, node_id: str) -> bool:
        """Move the node's tree to the trash (deleted in the background). False if there was
        none. If a task replaced the root by a symlink, the link is what goes."""
        return self._discard(_node_parts(pool_id, node_id))

    def remove_pool(self, pool_id: str) -> bool:
        """Move a deleted pool's directory (and any node trees left in it) to the trash."""
        return self._discard((check_id(pool_id, "poolId"),))

    def delete_task_dir(self, pool_id: str, node_id: str, job_id: str, task_id: str,
                        segment: str | None = None) -> bool:
        """Delete a task's directory (its ``retentionTime`` has passed): it leaves the job's
        directory at once and is deleted in the background. False if there was none. A symlink
        in its place is unlinked, not followed."""
        return self._discard((*_job_parts(pool_id, node_id, job_id, segment), check_id(task_id, "taskId")))

    # -- trash -----------------------------------------------------------------------------------

    def drain_trash(self, timeout: float | None = None) -> bool:
        """Wait until everything moved to the trash so far is deleted. False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._busy == 0, timeout)

    def close(self, timeout: float | None = None) -> None:
        """Stop the trash thread after it has emptied the queue (waits up to ``timeout``)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> NodeDirectories:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------------

    def _checked(self, parts: tuple[str, ...]) -> Path:
        """``<work root>/<parts>``, after checking that it resolves inside the work root."""
        path = self.work_root.joinpath(*parts)
        resolved = self._resolve(parts)
        root = str(self.work_root)
        if resolved != root and not resolved.startswith(root + os.sep):
            raise PathOutsideWorkRoot(path, resolved, self.work_root)
        return path

    def _file_under(self, base_parts: tuple[str, ...], file_path: str, where: str) -> Path:
        """``<base>/<file_path>``, checked to resolve inside ``<base>`` itself (not merely the
        work root: a node's file path must not reach another node's files)."""
        rel = _file_parts(file_path)
        base = self._checked(base_parts)
        base_real = self._resolve(base_parts)
        path = base.joinpath(*rel)
        resolved = self._resolve((*base_parts, *rel))
        if resolved != base_real and not resolved.startswith(base_real + os.sep):
            raise PathOutsideWorkRoot(path, resolved, base, where)
        return path

    def _resolve(self, parts: tuple[str, ...]) -> str:
        """What ``os.path.realpath`` gives for ``<work root>/<parts>``, for less: the work root
        is known to be real and the parts are plain names (checked ids or fixed names), so only
        a symlink can lead elsewhere. Components are looked at from the work root down; the
        first missing one ends the walk (nothing under it exists), and the first symlink hands
        the rest to ``realpath``. A task path costs ~6 ``lstat`` calls instead of ~15."""
        current = str(self.work_root)
        for i, part in enumerate(parts):
            current = current + os.sep + part
            try:
                mode = os.lstat(current).st_mode
            except (FileNotFoundError, NotADirectoryError):
                return os.path.join(current, *parts[i + 1:])
            except OSError:
                return os.path.realpath(os.path.join(current, *parts[i + 1:]))
            if stat.S_ISLNK(mode):
                return os.path.realpath(os.path.join(current, *parts[i + 1:]))
        return current

    def _discard(self, parts: tuple[str, ...]) -> bool:
        """Rename the entry ``<work root>/<parts>`` (a directory, a file or a symlink, never
        followed) into the trash. Its parent must resolve inside the work root; the entry
        itself is renamed, not resolved, so a symlink moves as a link."""
        entry = self._checked(parts[:-1]) / parts[-1]
        target = self.trash / uuid.uuid4().hex
        try:
            os.rename(entry, target)
        except FileNotFoundError:
            return False
        except OSError as e:
            if e.errno != errno.EXDEV:
                raise
            delete_entry(entry)  # a mount inside the work root: no rename across it, delete here
            return True
        self._enqueue(target)
        return True

    def _enqueue(self, entry: Path) -> None:
        with self._cond:
            self._pending.append(entry)
            self._busy += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._empty_trash, name="poolscale-trash",
                                                 daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _empty_trash(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closed)
                if not self._pending:
                    self._thread = None
                    return
                entry = self._pending.popleft()
            try:
                delete_entry(entry)
            except Exception as e:  # noqa: BLE001 - the thread must outlive one bad entry
                # e.g. a killed task's straggler still writing into it; the next start retries
                _log.warning("could not delete %s: %s", entry, e)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()


def list_tree(root: Path, recursive: bool = False) -> list[tuple[str, os.stat_result]]:
    """The entries under ``root`` as ``(name, stat)``, sorted by name: the first level, or every
    level when ``recursive``; ``name`` is ``/``-separated and relative to ``root``. An entry that
    resolves outside ``root`` (a symbolic link a task planted) is not listed, and a linked
    directory is not entered: a node's or a task's file list never shows what lies outside it."""
    real_root = os.path.realpath(root)
    out: list[tuple[str, os.stat_result]] = []

    def add(full: str, rel: str) -> bool:
        real = os.path.realpath(full)
        if real != real_root and not real.startswith(real_root + os.sep):
            return False
        try:
            st = os.stat(full)
        except OSError:                 # gone meanwhile
            return False
        out.append((rel, st))
        return stat.S_ISDIR(st.st_mode) and not os.path.islink(full)

    def walk(directory: str, prefix: str) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            rel = prefix + entry.name
            if add(entry.path, rel) and recursive:
                walk(entry.path, rel + "/")

    walk(str(root), "")
    out.sort(key=lambda e: e[0])
    return out


def delete_entry(path: Path) -> None:
    """Delete a file, a symlink (the link only) or a directory tree without following links.

    A tree a task made read-only (Go's module cache is, for one) cannot be emptied as it is:
    on a first failure the directories are made writable by their owner and the delete tried
    once more. Symlinks are skipped by that pass too, so it changes no mode outside the tree.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    try:
        shutil.rmtree(path)
        return
    except OSError:
        _make_writable(path)
    shutil.rmtree(path)


def _make_writable(top: Path) -> None:
    os.chmod(top, stat.S_IRWXU)
    for dirpath, dirnames, _ in os.walk(top):  # does not descend into links (followlinks=False)
        for name in dirnames:
            sub = os.path.join(dirpath, name)
            if not os.path.islink(sub):
                try:
                    os.chmod(sub, stat.S_IRWXU)
                except OSError:
                    pass
