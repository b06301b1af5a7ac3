"""Local nodes and real processes: the launch methods of the live engine on this machine.

The Batch rules (``poolscale.scheduler``) decide; where a rule *launches* something it calls a
launch method of its world (scheduler/simworld.py lists them). :class:`LocalWorld` supplies them
for real, on a :class:`~.livekernel.LiveKernel`:

* **Nodes are directories** (:class:`~.local.nodedirs.NodeDirectories`): a node's tree is made
  when its allocation starts; allocation and boot end after the account's
  ``allocation_delay`` / ``boot_delay`` (engine seconds; 0: at once) through ordinary kernel
  timers, with the node's incarnation (``node.life``) as token, exactly as the simulator's
  drawn times do, so a node removed meanwhile drops its stale timer the same way. A node back
  on another VM (preemption, failure) gets a fresh tree. When a node loses its VM or leaves,
  its start, preparation and release tasks are killed (the rules' hooks ``_node_local_cleared``
  and ``_node_removed``), and a removed node's tree goes to the trash.
* **Attempts are process groups** (:class:`~.local.executor.ProcessExecutor`): a task attempt,
  a start task, a job preparation or release task runs its command line (no shell) in its
  directory with the environment Batch gives it (:func:`~.local.environment.task_environment`).
  The executor reports an exit from its own thread; the report is only *posted* to the kernel's
  inbox and the rule runs on the engine thread, with the attempt number (tasks) or the process
  uid (node processes) as token, so an exit that comes after the engine ended the attempt some
  other way (requeue, wall clock, job termination) changes nothing.
* **Ending an attempt kills it.** Every way a task attempt ends goes through the rule
  ``_unassign`` → :meth:`LocalWorld._stop_resources`, which kills the attempt's process group if
  it still runs (requeue, terminate, wall clock, job termination). The exit code is the rule's:
  a wall-clock kill is ``-1073741510`` (0xC000013A) whatever signal ended the process.
* **The start task** runs in ``startup/``; one the node does not wait for
  (``waitForSuccess`` false) runs beside its tasks (``_launch_background_start_task``).
* **A preparation task still running when its job ends** is killed (``_prep_stopped``).
* **A completed task's directory** is deleted on its nodes when its ``retentionTime`` has
  passed (``_task_retained``: a NODE timer, void if the node left or lost its VM meanwhile).
* **Multi-instance tasks** run their coordination command line on every instance's node, then,
  once all exited 0, their command line on the primary; the task's exit is the primary's, and
  its end ends the background services the coordination commands left in their process groups.
* **maxWallClockTime** is the engine's own WALLCLOCK timer (the shared ``_on_wall`` rule); a
  job preparation or release task's limit is a timer here that kills the process and reports
  the end as a failure (preparation) or as the release's end.
* **Start failures** (a command line that does not split, a program not found, a task
  directory that cannot be made) are no exit: the task completes as a failure with no exit
  code and failureInfo ``usererror`` / ``CommandProgramNotFound``, never retried; a start task
  or preparation task that cannot start counts as a failed attempt of it.
* **Resource files and output files** (local/storage.py) move on transfer threads, never on
  the engine thread: a task's resource files are downloaded after its attempt started (the
  task is ``running``, its slots held) and before its process starts, a multi-instance task's
  ``commonResourceFiles`` on each instance's node before its coordination commands; the end
  of the download is posted to the inbox as a process exit is. A download that fails is a
  start failure with the service's code (``BlobAccessDenied``, ``BlobNotFound``, ...): the
  task fails, no retry spent. Output files are uploaded after the process exits and before
  the exit is posted; an upload that fails completes the task as a failure with
  ``FileUploadMiscError`` (its exit code kept, no retry). Start, preparation and release
  tasks download theirs the same way before their processes start.
* **Resources read zero** for now: ``$CPUPercent``, ``$MemoryBytes``, ``$DiskBytes`` and the I/O
  series are 0 in every sample (measuring node process trees with psutil is a later step), and
  no sample is lost. The task counts of the samples are the engine's, as in the simulator.

Why a subclass of :class:`~poolscale.scheduler.simworld.SimulatedWorld`: what is not overridden
here stays the simulator's (chaos draws, the start task's stream cleanup), and the rules see one
world either way. The live engine's tasks take the rules' general paths only (no inlined fast
path, no direct start at submission): :meth:`LocalWorld._init_local_world` sets that up.

Not yet here (docs/running-locally.md#tasks-and-processes): resource sampling.
"""

from __future__ import annotations

import functools
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from poolscale.scheduler.kernel import EXIT, NODE, WALLCLOCK
from poolscale.scheduler.nodes import DEDICATED, REMOVED, Node
from poolscale.scheduler.simworld import SimulatedWorld
from poolscale.scheduler.tasks import FAILURE, RUNNING, Job, Task
from poolscale.scheduler.world import Report

from .local.certificates import install_certificates
from .local.environment import TaskContext, task_environment
from .local.executor import (
    AttemptHandle, AttemptResult, AttemptSpec, FailureInfo, ProcessExecutor,
)
from .local.nodedirs import NodeDirectories, PathOutsideWorkRoot, node_ip
from .local.storage import (
    Cancelled, TransferFailed, download_resource_files, redact, upload_output_files,
)
from .settings import AccountSettings

__all__ = ["LocalWorld", "COORDINATION_DIR"]

_log = logging.getLogger(__name__)

#: Where, in a multi-instance task's directory on each node, the coordination command's
#: ``stdout.txt`` and ``stderr.txt`` go.
COORDINATION_DIR = "coordination"

#: Where a process runs: its context (task directory included) and its output directory
#: (None: the task directory), computed when it starts (see LocalWorld._spawn).
_Where = Callable[[], "tuple[TaskContext, Path | None]"]

#: What a started process's end becomes: called with its result on the executor's thread, it
#: posts the matching handler to the kernel's inbox.
_Route = Callable[[AttemptResult], None]

#: Threads that download resource files and upload output files, per pool: transfers wait on
#: the network, not the CPU, and more than a few at once would only share one link.
TRANSFER_THREADS = 4

#: Downloads for one process: each a list of ResourceFile models and the directory they go to.
_Downloads = Sequence["tuple[Sequence[Any], Path]"]


def _failure_pair(result: AttemptResult) -> tuple[str, str]:
    """The ``(category, code)`` of an attempt that could not start."""
    failure = result.failure
    return failure.pair if failure is not None else ("usererror", "CommandProgramNotFound")


def _settings_env(settings: Any) -> dict[str, str]:
    """``[{name, value}, ...]`` (EnvironmentSetting models) as a mapping, later names win."""
    return {s.name: s.value for s in settings or ()}


class _NodeProcess(NamedTuple):
    """A running start, preparation or release task (``kind`` as the environment names it;
    ``job`` None for the start task)."""

    handle: AttemptHandle
    kind: str
    job: Job | None


class _RunningAttempt:
    """The processes of one running task attempt: its command line's (``handle``, None until it
    starts), and for a multi-instance task the coordination commands of its instances, of which
    ``waiting`` have not yet exited 0."""

    __slots__ = ("number", "handle", "coordination", "waiting")

    def __init__(self, number: int) -> None:
        self.number = number
        self.handle: AttemptHandle | None = None
        self.coordination: list[AttemptHandle] = []
        self.waiting = 0


class LocalWorld(SimulatedWorld):
    """The live engine's launch methods on local nodes (see the module docstring).

    The engine class puts it first in its bases (``class E(LocalWorld, Engine)``), builds its
    state, sets ``kernel`` to a :class:`~.livekernel.LiveKernel`, then calls
    :meth:`_init_local_world` before the pool starts.
    """

    local_settings: AccountSettings
    node_dirs: NodeDirectories
    executor: ProcessExecutor
    pool_id: str
    #: the running task attempts and their processes
    _attempts: dict[Task, _RunningAttempt]
    #: measures the resource series of each sample (None: they read 0)
    sample_source: Any
    #: the running start, preparation and release tasks of each node, by uid
    _node_procs: dict[Node, dict[str, _NodeProcess]]
    #: what each started process's exit becomes, by uid (read and popped on executor threads)
    _routes: dict[str, _Route]
    #: the task specifications of each job, by task id (for command lines and environments)
    _task_specs: dict[Job, dict[str, Any]]
    _base_env: dict[str, str]
    #: the transfer threads (made at the first transfer) and whether the world is closing
    _transfer_pool: ThreadPoolExecutor | None
    _closing: bool
    #: the VM (``node.inc``) each present node's directory tree was made for
    _tree_inc: dict[Node, int]
    #: the account's store hooks (runtime/service/persist.py): ``(engine, uid, context,
    #: handle)`` on the engine thread right after a process started, ``(uid, exit code)`` on
    #: any thread when it ended; None: nothing recorded
    on_process_started: Callable[[Any, str, TaskContext, AttemptHandle], None] | None = None
    on_process_ended: Callable[[str, int | None], None] | None = None
    #: the account's certificates as files for this pool's nodes, ``(name, bytes, mode)`` from
    #: the pool's specification (runtime/service/account_certs.py); None: no account
    certificate_files: Callable[[Any], list[tuple[str, bytes, int]]] | None = None

    def _init_local_world(self, settings: AccountSettings, node_dirs: NodeDirectories, *,
                          base_env: Mapping[str, str] | None = None) -> None:
        """Attach the world to this engine: its settings, its nodes' directories, and a
        :class:`ProcessExecutor` reporting to the kernel. ``base_env`` is the environment tasks
        inherit (default: this process's, as it is now)."""
        self.local_settings = settings
        self.node_dirs = node_dirs
        self.pool_id = self.pool_spec.id
        self.executor = ProcessExecutor(self._on_process_exit, kill_grace=settings.kill_grace)
        self._base_env = dict(os.environ if base_env is None else base_env)
        self._attempts = {}
        #: measures the resource series (PoolEngine attaches one; None: they read 0)
        self.sample_source = None
        self._node_procs = {}
        self._routes = {}
        self._task_specs = {}
        self._tree_inc = {}
        self._transfer_pool = None
        self._closing = False
        # the rules' general paths: what the inlined simulator-only paths stand for
        # (a workload's tasks are in the submission stream: job.tasks holds accepted ones only)
        self.direct_start = False
        for _at, job, task in self.submissions:
            if task is not None:
                task.simple = False
            if job.jm is not None:
                job.jm.simple = False

    def _close_local_world(self, timeout: float | None = None) -> None:
        """Kill every process still running and wait for the reports (engine stop, tests);
        transfers under way stop at their next block, those not begun never begin."""
        self._closing = True
        if self._transfer_pool is not None:
            self._transfer_pool.shutdown(wait=False, cancel_futures=True)
        self.executor.close(timeout)

    # -- processes ------------------------------------------------------------------------

    def _spawn(self, command_line: str, uid: str, where: _Where, route: _Route) -> AttemptHandle:
        """Start the process ``uid``. ``where()`` gives its context, whose task directory it
        runs in (``wd/``), and the directory of its ``stdout.txt`` and ``stderr.txt`` (None: the
        task directory); ``route(result)`` runs on the executor's thread when it ends (also at
        once, from here, when it cannot start).

        A directory that resolves outside the work root (a task replaced a directory by a
        symbolic link) is not used: the process fails to start, as when its directory cannot
        be made, and the engine goes on."""
        self._routes[uid] = route
        try:
            context, output_dir = where()
        except PathOutsideWorkRoot as e:
            return self._not_started(command_line, uid, str(e))
        if context.certificates_dir is not None and self.certificate_files is not None:
            try:
                install_certificates(context.certificates_dir,
                                     self.certificate_files(self.pool_spec))
            except OSError as e:
                return self._not_started(command_line, uid,
                                         f"cannot install the pool's certificates: {e}")
        env = task_environment(context).env
        task_dir = context.task_dir
        handle = self.executor.start(AttemptSpec(
            command_line, task_dir if output_dir is None else output_dir, env,
            working_dir=task_dir / "wd", uid=uid))
        if self.on_process_started is not None:
            self.on_process_started(self, uid, context, handle)
        return handle

    def _not_started(self, command_line: str, uid: str, message: str,
                     code: str = "CommandProgramNotFound") -> AttemptHandle:
        """A process refused before the executor saw it, reported as the executor reports a
        start failure (``code``: its failureInfo code)."""
        handle = AttemptHandle(AttemptSpec(command_line, Path(), {}, uid=uid))
        handle.result = AttemptResult(None, FailureInfo("usererror", code, message),
                                      end_time=time.time())
        self._on_process_exit(handle, handle.result)
        return handle

    def _on_process_exit(self, handle: AttemptHandle, result: AttemptResult) -> None:
        """The executor's callback (any thread): hand the end to its route, which posts it."""
        if self.on_process_ended is not None:
            self.on_process_ended(handle.spec.uid, result.exit_code)
        route = self._routes.pop(handle.spec.uid, None)
        if route is not None:
            route(result)

    # -- transfers (resource files in, output files out) ----------------------------------------

    def _transfer(self, work: Callable[[], Any],
                  report: Callable[[BaseException | None], None]) -> None:
        """Run ``work()`` on a transfer thread, then ``report(error)`` there (None: it
        succeeded); ``report`` only posts to the inbox. A transfer asked for while the world
        closes reports :class:`Cancelled` at once."""
        def run() -> None:
            try:
                work()
                error = None
            except BaseException as e:      # reported, never lost: the engine decides
                error = e
            report(error)

        pool = self._transfer_pool
        if pool is None:
            pool = self._transfer_pool = ThreadPoolExecutor(
                TRANSFER_THREADS, thread_name_prefix=f"poolscale-files-{self.pool_id}")
        try:
            pool.submit(run)
        except RuntimeError:                # shut down: the world is closing
            report(Cancelled())

    def _download(self, downloads: _Downloads, cancelled: Callable[[], bool]) -> Callable[[], None]:
        """The work of downloading each list of resource files into its directory."""
        auto_storage = self.local_settings.auto_storage

        def work() -> None:
            for files, directory in downloads:
                download_resource_files(files, directory, auto_storage=auto_storage,
                                        cancelled=cancelled)
        return work

    def _transfer_failure(self, error: BaseException, what: str) -> tuple[str, str] | None:
        """Engine thread: the failureInfo ``(category, code)`` of a failed transfer, logged
        (its SAS redacted); None for a transfer cancelled because its attempt ended."""
        if isinstance(error, Cancelled):
            return None
        if isinstance(error, TransferFailed):
            _log.warning("%s: %s", what, error)
            return error.pair
        _log.error("%s: transfer failed: %s", what, redact(repr(error)))
        return ("usererror", "BlobDownloadMiscError")

    def _post(self, handler: Callable[[Any, Any], None], a: Any, b: Any) -> None:
        """Any thread: run ``handler(a, b)`` on the engine thread, stamped when observed."""
        self.kernel.post(Report(None, EXIT, handler, a, b))  # type: ignore[attr-defined]

    def _context(self, node: Node, task_dir: Path, kind: str, uid: str, *,
                 job: Job | None = None, task_id: str | None = None,
                 env: Mapping[str, str] | None = None, hosts: tuple[str, ...] = (),
                 is_master: bool = False) -> TaskContext:
        s = self.local_settings
        prep_dir = None
        if job is not None and job.prep is not None:
            prep_dir = self.node_dirs.prep_dir(self.pool_id, node.id, job.id)
        return TaskContext(
            pool_id=self.pool_id, node_id=node.id, is_dedicated=node.kind == DEDICATED,
            node_root=self.node_dirs.node_root(self.pool_id, node.id), task_dir=task_dir,
            attempt_uid=uid, kind=kind,
            job_id=None if job is None else job.id, task_id=task_id,
            account_name=s.name, account_url=s.account_url, job_prep_dir=prep_dir,
            hosts=hosts, is_master=is_master, base_env=self._base_env,
            certificates_dir=(task_dir / "certs" if self.pool_spec.certificate_references
                              else None),
            common_env=({} if job is None
                        else _settings_env(job.spec.common_environment_settings)),
            task_env=env or {})

    # -- nodes ------------------------------------------------------------------------------

    def _launch_allocation(self, node: Node) -> None:
        """The node's directory tree is made now; ``_on_allocated`` after the account's
        allocation delay."""
        self._fresh_tree(node)
        self._node_timer(self.local_settings.allocation_delay, self._on_allocated, node, node.life)

    def _launch_boot(self, node: Node) -> None:
        """``_on_booted`` after the account's boot delay (on a fresh tree if the node was
        repaired after a failure: its local data is gone)."""
        self._fresh_tree(node)
        self._node_timer(self.local_settings.boot_delay, self._on_booted, node, node.life)

    def _fresh_tree(self, node: Node) -> None:
        """The node's tree for its current VM (``node.inc``): made at its first allocation,
        wiped and made again when the node comes back on another VM (recovered after a
        preemption, repaired after a failure), kept while the VM is the same."""
        made = self._tree_inc.get(node)
        if made == node.inc:
            return
        self._tree_inc[node] = node.inc
        try:
            if made is None:
                self.node_dirs.create(self.pool_id, node.id)
            else:
                self.node_dirs.reimage(self.pool_id, node.id)
        except PathOutsideWorkRoot as e:
            # a task replaced the pool's directory by a link: the node has no tree, and what
            # would run on it fails to start (LocalWorld._spawn)
            _log.warning("directory of %s not made: %s", node.id, e)

    def _launch_start_task(self, node: Node) -> None:
        """One attempt of the pool's start task, in the node's ``startup`` directory; its end
        (exit code 0 or not) goes to ``_on_start_task_end``."""
        self._start_task_process(node, self._on_start_task_end)

    def _launch_background_start_task(self, node: Node) -> None:
        """The same for a start task the node does not wait for (``waitForSuccess`` false):
        it runs beside the node's tasks; its end goes to ``_on_background_start_task_end``."""
        self._start_task_process(node, self._on_background_start_task_end)

    def _start_task_process(self, node: Node, rule: Callable[[Node, Any], None]) -> None:
        st = self.start_task
        uid = uuid.uuid4().hex

        def where() -> tuple[TaskContext, None]:
            startup = self.node_dirs.startup_dir(self.pool_id, node.id)
            return self._context(node, startup, "starttask", uid,
                                 env=_settings_env(st.environment_settings)), None

        self._spawn_on_node(node, st.command_line, uid, where, self._on_start_task_exit,
                            (uid, node.life, rule), "starttask", files=st.resource_files)

    def _on_start_task_exit(self, node: Node, report: tuple[tuple, AttemptResult]) -> None:
        (uid, life, rule), result = report
        if self._forget_node_proc(node, uid):
            rule(node, (life, result.exit_code != 0))

    def _node_removed(self, node: Node) -> None:
        """The node left the pool: what still runs on it (start, preparation, release tasks)
        is killed, and its tree goes to the trash."""
        super()._node_removed(node)
        self._tree_inc.pop(node, None)
        self._kill_node_procs(node)
        self._node_procs.pop(node, None)
        try:
            self.node_dirs.remove(self.pool_id, node.id)
        except PathOutsideWorkRoot as e:    # a task replaced the pool's directory by a link
            _log.warning("directory of %s not removed: %s", node.id, e)

    def _node_local_cleared(self, node: Node) -> None:
        """The node lost its VM (preemption, failure) or leaves at once (requeue, terminate):
        its start, preparation and release tasks are killed with it (its tasks were ended by
        the rules already). The tree is made again when the node comes back."""
        self._kill_node_procs(node)

    def _kill_node_procs(self, node: Node) -> None:
        procs = self._node_procs.get(node)
        if not procs:
            return
        for uid, proc in list(procs.items()):
            del procs[uid]
            self._routes.pop(uid, None)
            self.executor.kill(proc.handle)

    def _spawn_on_node(self, node: Node, command_line: str, uid: str, where: _Where,
                       handler: Callable[[Node, Any], None], token: tuple, kind: str,
                       job: Job | None = None, files: Sequence[Any] = ()) -> None:
        """Start a start, preparation or release task on ``node``; at its end
        ``handler(node, (token, result))`` runs on the engine thread. ``token[0]`` is ``uid``,
        by which the node's running processes are kept.

        With resource ``files``, they are downloaded into its ``wd/`` first, on a transfer
        thread; meanwhile the process is kept with a handle that has no process (a kill then
        only forgets it, and the download stops), and a download that fails is a start
        failure of the process with the download's code."""
        route = functools.partial(self._route_node_exit, handler, node, token)
        procs = self._node_procs.setdefault(node, {})
        if files:
            try:
                context, output_dir = where()
            except PathOutsideWorkRoot:
                pass                        # _spawn reports it as a start failure
            else:
                procs[uid] = _NodeProcess(AttemptHandle(AttemptSpec(command_line, Path(), {},
                                                                    uid=uid)), kind, job)

                def cancelled() -> bool:
                    return self._closing or uid not in self._node_procs.get(node, {})

                staged = (uid, command_line, (lambda: (context, output_dir)), route, kind, job)
                self._transfer(self._download([(files, context.task_dir / "wd")], cancelled),
                               lambda error: self._post(self._on_node_staged, node,
                                                        (staged, error)))
                return
        procs[uid] = _NodeProcess(self._spawn(command_line, uid, where, route), kind, job)

    def _on_node_staged(self, node: Node, report: tuple[tuple, BaseException | None]) -> None:
        """Engine thread: the resource files of a start, preparation or release task are in
        (or failed): its process starts (or fails to start), unless it was killed meanwhile."""
        (uid, command_line, where, route, kind, job), error = report
        procs = self._node_procs.get(node)
        if procs is None or uid not in procs:
            return                          # killed or forgotten meanwhile
        if error is None:
            procs[uid] = _NodeProcess(self._spawn(command_line, uid, where, route), kind, job)
            return
        failure = self._transfer_failure(error, f"{kind} on {node.id}")
        if failure is not None:
            self._routes[uid] = route
            message = error.message if isinstance(error, TransferFailed) else redact(error)
            self._not_started(command_line, uid, message, failure[1])

    def _route_node_exit(self, handler: Callable[[Node, Any], None], node: Node, token: Any,
                         result: AttemptResult) -> None:
        """Executor thread: a node process ended; ``handler(node, (token, result))`` runs on the
        engine thread."""
        self._post(handler, node, (token, result))

    def _forget_node_proc(self, node: Node, uid: str) -> bool:
        """Engine thread: whether ``uid`` was still a running process of ``node`` (it is not
        from now on). False for the end of a process the engine gave up already."""
        procs = self._node_procs.get(node)
        return procs is not None and procs.pop(uid, None) is not None

    def _kill_node_proc(self, node: Node, uid: str, reason: str = "kill") -> bool:
        procs = self._node_procs.get(node)
        proc = None if procs is None else procs.pop(uid, None)
        if proc is None:
            return False
        self._routes.pop(uid, None)
        self.executor.kill(proc.handle, reason)
        return True

    # -- job preparation and release ----------------------------------------------------------

    def _launch_prep(self, node: Node, job: Job, rec: Any) -> None:
        """One attempt of the job's preparation task in its ``jobpreparation`` directory, ended
        by its exit or by its ``maxWallClockTime`` (a failure); then ``_on_prep_end``."""
        prep = job.prep
        uid = uuid.uuid4().hex

        def where() -> tuple[TaskContext, None]:
            prep_dir = self.node_dirs.prep_dir(self.pool_id, node.id, job.id)
            return self._context(node, prep_dir, "jobpreparation", uid, job=job,
                                 env=_settings_env(prep.environment_settings)), None

        token = (uid, job, rec)
        self._spawn_on_node(node, prep.command_line, uid, where, self._on_prep_exit, token,
                            "jobpreparation", job, files=prep.resource_files)
        wall = prep.constraints.max_wall_clock_time
        if wall is not None:
            self.kernel.at(self.kernel.now + wall, WALLCLOCK, self._on_prep_wall, node, token)

    def _on_prep_exit(self, node: Node, report: tuple[tuple[str, Job, Any], AttemptResult]) -> None:
        (uid, job, rec), result = report
        if self._forget_node_proc(node, uid):
            self._on_prep_end(node, (job, rec, result.exit_code != 0))

    def _on_prep_wall(self, node: Node, token: tuple[str, Job, Any]) -> None:
        uid, job, rec = token
        if self._kill_node_proc(node, uid, "wallclock"):
            self._on_prep_end(node, (job, rec, True))

    def _prep_stopped(self, node: Node, job: Job) -> None:
        """The job ended while its preparation task ran on ``node``: the process is killed."""
        procs = self._node_procs.get(node, {})
        for uid in [uid for uid, p in procs.items()
                    if p.kind == "jobpreparation" and p.job is job]:
            self._kill_node_proc(node, uid)

    def _launch_release(self, node: Node, job: Job) -> None:
        """The job's release task in its ``jobrelease`` directory, ended by its exit or by its
        wall-clock limit (at most PT15M); then ``_on_release_end``."""
        rel = job.release
        uid = uuid.uuid4().hex

        def where() -> tuple[TaskContext, None]:
            rel_dir = self.node_dirs.release_dir(self.pool_id, node.id, job.id)
            return self._context(node, rel_dir, "jobrelease", uid, job=job,
                                 env=_settings_env(rel.environment_settings)), None

        token = (uid, job)
        self._spawn_on_node(node, rel.command_line, uid, where, self._on_release_exit, token,
                            "jobrelease", job, files=rel.resource_files)
        self.kernel.at(self.kernel.now + rel.wall_clock_limit, WALLCLOCK, self._on_release_wall,
                       node, token)

    def _on_release_exit(self, node: Node, report: tuple[tuple[str, Job], AttemptResult]) -> None:
        (uid, job), _result = report
        if self._forget_node_proc(node, uid):
            self._on_release_end(node, job)

    def _on_release_wall(self, node: Node, token: tuple[str, Job]) -> None:
        uid, job = token
        if self._kill_node_proc(node, uid, "wallclock"):
            self._on_release_end(node, job)

    # -- task attempts --------------------------------------------------------------------------

    def _task_spec(self, task: Task) -> Any:
        """The specification a task was built from (its command line, its environment)."""
        if task.is_jm:
            return task.jm_spec
        job = task.job
        specs = self._task_specs.get(job)
        if specs is None:
            specs = self._task_specs[job] = {t.id: t for t in job.spec.tasks}
        return specs[task.id]

    def _launch_attempt(self, task: Task) -> None:
        """The attempt ``task.attempt`` starts now: its command line's process, whose exit goes
        to ``_on_reported_exit``; its ``maxWallClockTime`` is the engine's WALLCLOCK timer.

        A multi-instance task first runs its coordination command line on every instance's
        node (blocking, as in Batch: each is expected to start its background services and
        return); the command line starts on the primary when all of them exited 0, and a
        coordination command that fails fails the whole attempt with its exit code. Without a
        coordination command line the primary starts at once."""
        attempt = task.attempt
        run = self._attempts[task] = _RunningAttempt(attempt)
        w = task.wall
        if w is not None:
            k = self.kernel
            k.at(k.now + w, WALLCLOCK, self._on_wall, task, attempt)
        if task.nodes is not None:
            common = self._task_spec(task).multi_instance_settings.common_resource_files
            if common:
                self._stage(task, run, [(common, n) for n in task.nodes], "",
                            self._launch_instances)
                return
        self._launch_instances(task, run)

    def _launch_instances(self, task: Task, run: _RunningAttempt) -> None:
        """The coordination command lines of a multi-instance task, or the command line."""
        if task.nodes is not None:
            coordination = self._task_spec(task).multi_instance_settings.coordination_command_line
            if coordination:
                self._launch_coordination(task, run, coordination)
                return
        self._launch_command(task, run)

    def _stage(self, task: Task, run: _RunningAttempt, downloads: list[tuple[Sequence[Any], Node]],
               under: str, then: Callable[[Task, _RunningAttempt], None]) -> None:
        """Download each list of resource files into the task's directory on its node (``under``
        it: ``"wd"`` or ``""``) on a transfer thread, then ``then(task, run)`` on the engine
        thread, unless the attempt ended meanwhile (the download stops at its next block). A
        directory outside the work root goes on to ``then``, whose process start reports it."""
        try:
            dirs = [(files, self.node_dirs.task_dir(self.pool_id, node.id, task.job.id, task.id))
                    for files, node in downloads]
        except PathOutsideWorkRoot:
            then(task, run)
            return
        if under:
            dirs = [(files, d / under) for files, d in dirs]

        def cancelled() -> bool:
            return self._closing or self._attempts.get(task) is not run

        attempt = run.number
        self._transfer(self._download(dirs, cancelled),
                       lambda error: self._post(self._on_staged, task, (attempt, error, then)))

    def _on_staged(self, task: Task, report: tuple[int, BaseException | None, Any]) -> None:
        """Engine thread: a task attempt's resource files are in, or failed (a start failure
        with the download's code: the task fails, no retry spent)."""
        attempt, error, then = report
        run = self._attempts.get(task)
        if run is None or run.number != attempt or task.attempt != attempt \
                or task.state is not RUNNING:
            return                      # the attempt ended meanwhile
        if error is None:
            then(task, run)
            return
        failure = self._transfer_failure(error, f"task {task.job.id}/{task.id}")
        if failure is not None:
            self._on_start_failure(task, (attempt, failure))

    def _instance_context(self, task: Task, node: Node, instance: int,
                          uid: str) -> TaskContext:
        """The environment of one instance (0: the primary) of the attempt of ``task``."""
        spec = self._task_spec(task)
        job = task.job
        hosts: tuple[str, ...] = ()
        if task.nodes is not None:
            hosts = tuple(node_ip(n.num) for n in task.nodes)
        task_dir = self.node_dirs.task_dir(self.pool_id, node.id, job.id, task.id)
        return self._context(node, task_dir, "jobmanager" if task.is_jm else "task", uid,
                             job=job, task_id=task.id,
                             env=_settings_env(spec.environment_settings), hosts=hosts,
                             is_master=bool(hosts) and instance == 0)

    def _launch_command(self, task: Task, run: _RunningAttempt) -> None:
        """The task's command line on its (primary) node, after its resource files."""
        files = self._task_spec(task).resource_files
        if files:
            self._stage(task, run, [(files, task.node)], "wd", self._spawn_command)
        else:
            self._spawn_command(task, run)

    def _spawn_command(self, task: Task, run: _RunningAttempt) -> None:
        uid = uuid.uuid4().hex
        spec = self._task_spec(task)
        outputs = None
        if spec.output_files:
            try:
                task_dir = self.node_dirs.task_dir(self.pool_id, task.node.id, task.job.id,
                                                   task.id)
                outputs = (spec.output_files, task_dir)
            except PathOutsideWorkRoot:
                pass                        # the process cannot start either (_spawn)
        route = functools.partial(self._route_task_exit, task, run.number, outputs)
        run.handle = self._spawn(spec.command_line, uid,
                                 lambda: (self._instance_context(task, task.node, 0, uid), None),
                                 route)

    def _launch_coordination(self, task: Task, run: _RunningAttempt, command_line: str) -> None:
        """The coordination command line on every instance's node; its ``stdout.txt`` and
        ``stderr.txt`` go to ``coordination/`` in that node's task directory (the primary's own
        are its command line's)."""
        nodes = task.nodes
        run.waiting = len(nodes)
        for i, node in enumerate(nodes):
            uid = uuid.uuid4().hex
            route = functools.partial(self._route_coordination_exit, task, (run.number, i))
            where = functools.partial(self._coordination_where, task, node, i, uid)
            run.coordination.append(self._spawn(command_line, uid, where, route))

    def _coordination_where(self, task: Task, node: Node, instance: int,
                            uid: str) -> tuple[TaskContext, Path]:
        ctx = self._instance_context(task, node, instance, uid)
        return ctx, ctx.task_dir / COORDINATION_DIR

    def _route_coordination_exit(self, task: Task, token: tuple[int, int],
                                 result: AttemptResult) -> None:
        """Executor thread: one instance's coordination command ended."""
        self._post(self._on_coordination_exit, task, (token, result))

    def _on_coordination_exit(self, task: Task,
                              report: tuple[tuple[int, int], AttemptResult]) -> None:
        (attempt, _instance), result = report
        run = self._attempts.get(task)
        if run is None or run.number != attempt or task.attempt != attempt \
                or task.state is not RUNNING:
            return                      # the attempt ended meanwhile
        if result.exit_code is None:
            self._on_start_failure(task, (attempt, _failure_pair(result)))
        elif result.exit_code != 0:
            self._on_reported_exit(task, (attempt, result.exit_code))
        else:
            run.waiting -= 1
            if not run.waiting:
                self._launch_command(task, run)

    def _route_task_exit(self, task: Task, attempt: int,
                         outputs: tuple[Sequence[Any], Path] | None, result: AttemptResult) -> None:
        """Executor thread: the attempt's process ended (or never started: the rule
        ``_on_start_failure``). With output files (``(files, task directory)``) they are
        uploaded first, on a transfer thread, and a failed upload ends the attempt instead."""
        if result.exit_code is None:
            self._post(self._on_start_failure, task, (attempt, _failure_pair(result)))
            return
        exit_report = (attempt, result.exit_code, getattr(result, "cpu_seconds", None))
        if outputs is None:
            self._post(self._on_task_process_exit, task, exit_report)
            return
        files, task_dir = outputs

        def upload() -> None:
            upload_output_files(files, task_dir, result.exit_code,
                                cancelled=lambda: self._closing)

        def uploaded(error: BaseException | None) -> None:
            if error is None or isinstance(error, Cancelled):
                self._post(self._on_task_process_exit, task, exit_report)
            else:
                self._post(self._on_upload_failed, task, (attempt, result.exit_code, error))
        self._transfer(upload, uploaded)

    def _on_upload_failed(self, task: Task, report: tuple[int, int, BaseException]) -> None:
        """Engine thread: the attempt's process exited with ``code`` but its output files did
        not all upload: the task completes as a failure with the upload's failureInfo and the
        process's exit code, is not retried, and its ``exitConditions.fileUploadError``
        options apply (an ``exitCodes`` entry for its code first, else ``default``)."""
        attempt, code, error = report
        if attempt != task.attempt or task.state is not RUNNING:
            return
        failure = self._transfer_failure(error, f"task {task.job.id}/{task.id}")
        if failure is None:
            return
        if not isinstance(error, TransferFailed):
            failure = ("usererror", "FileUploadMiscError")
        self._retain(task)
        self._log_end(task, FAILURE, code)
        self._unassign(task)
        self._complete(task, FAILURE, code, failure, upload_failed=True)

    def _task_retained(self, task: Task, until: float) -> None:
        """The task completed: its directory on each of its nodes is deleted at ``until``, its
        ``retentionTime`` later, unless the node left or lost its VM meanwhile (the directory
        went with its tree)."""
        if until > self.until:
            return                      # after the end of the run: never
        for node in (task.nodes or (task.node,)):
            self.kernel.at(until, NODE, self._on_retention_over, node, (node.inc, task))

    def _on_retention_over(self, node: Node, token: tuple[int, Task]) -> None:
        inc, task = token
        if node.state is not REMOVED and node.inc == inc:
            try:
                self.node_dirs.delete_task_dir(self.pool_id, node.id, task.job.id, task.id)
            except PathOutsideWorkRoot as e:    # a task replaced the job's directory by a link
                _log.warning("task directory of %s/%s on %s not deleted: %s", task.job.id,
                             task.id, node.id, e)

    def _start_resources(self, task: Task) -> None:
        """Nothing to add: resources are not measured yet (every reading is 0)."""

    def _stop_resources(self, task: Task) -> None:
        """The attempt ended, whichever way: if its process group still runs (requeue,
        terminate, wall clock, job termination), it is killed, and so is whatever the
        coordination commands of a multi-instance task left running. An exit report that comes
        later is dropped by the rule's attempt check."""
        run = self._attempts.pop(task, None)
        if run is None:
            return
        if run.handle is not None:
            self.executor.kill(run.handle)
        for handle in run.coordination:
            self.executor.end_group(handle)

    # -- samples --------------------------------------------------------------------------------

    def _sample_lost(self, k: int) -> bool:
        """No sample is lost on a live pool."""
        return False

    def _sample_resources(self, du: float) -> tuple[float, float, float, list[float]]:
        """CPU, memory, disk and the six I/O counters of the period, measured by the sample
        source over the nodes' process groups and directories (docs/running-locally.md#measured-samples);
        all 0 without a source. The count series are the engine's, as in the simulator."""
        source = self.sample_source
        if source is None:
            return 0.0, 0.0, 0.0, [0.0] * 6
        cpu, mem, disk, io = source.resources(len(self.timeline), du)
        return cpu, mem, disk, list(io)

    def _node_processes(self) -> list[Any]:
        """What the sample source measures: each present node's directory, whether it is usable,
        and the process groups of the attempts running there (task attempts, coordination
        commands, start, preparation and release tasks)."""
        from .local.psutil_source import NodeProcesses, ProcessGroup

        groups: dict[Node, list[Any]] = {}

        def add(node: Node, handle: AttemptHandle | None) -> None:
            if handle is not None and handle.pid is not None:
                groups.setdefault(node, []).append(
                    ProcessGroup(handle.pgid or handle.pid, handle.pid, handle.create_time))

        for task, run in self._attempts.items():
            nodes = task.nodes or ((task.node,) if task.node is not None else ())
            if nodes:
                add(nodes[0], run.handle)
            for node, handle in zip(nodes, run.coordination):
                add(node, handle)
        for node, procs in self._node_procs.items():
            for proc in procs.values():
                add(node, proc.handle)
        out = []
        for node in self.nodes.values():
            usable = (node.state == "idle" or node.state == "running") \
                and not getattr(node, "disabled", False)
            out.append(NodeProcesses(node.id, self.node_dirs.node_root(self.pool_id, node.id),
                                     usable, tuple(groups.get(node, ()))))
        return out

    def _on_task_process_exit(self, task: Task, report: tuple[int, int, float | None]) -> None:
        """Engine thread: a task attempt's process exited. Its CPU to the end goes to the sample
        source (a sample may not have read its last part), then the rule takes the exit."""
        attempt, code, cpu = report
        run = self._attempts.get(task)
        source = self.sample_source
        if source is not None and cpu is not None and run is not None \
                and run.number == attempt and run.handle is not None and run.handle.pid:
            nodes = task.nodes or ((task.node,) if task.node is not None else ())
            if nodes:
                source.attempt_ended(nodes[0].id, run.handle.pid, cpu)
        self._on_reported_exit(task, (attempt, code))
