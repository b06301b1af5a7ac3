"""``ProcessExecutor``: one task attempt = one real process group on this machine.

Why each choice:

* **No shell.** Azure Batch does not run a command line under a shell, so a command line is
  split by POSIX word rules (``shlex.split``) and executed directly; pipes and ``$VAR`` need an
  explicit ``/bin/sh -c "..."``, as on the service.
* **Own process group** (``start_new_session=True``: pgid = pid of the leader). A kill signals
  the whole group, so children started by the task (``sh -c 'a & b'``) die with it and no orphan
  keeps running beside a rerun. A child that calls ``setsid()`` itself leaves the group: that is
  a documented limit (a cgroup per node would close it; not in this version).
* **One reaper thread over pidfds** (Linux >= 5.3: ``os.pidfd_open``; a ``selectors`` loop
  wakes when any leader exits, then ``os.wait4`` reaps that one pid and returns the CPU time
  it and its reaped children used, to its end), so a pool of many slots costs one thread. Elsewhere (macOS, old kernels) one daemon thread per attempt blocks in
  ``wait()``. Never a ``waitpid(-1)`` loop: it would also reap children of other code in the
  same process (``subprocess.run`` in a library, tests), whose owners would then see ``ECHILD``.
* **Exit codes.** A normal exit is its status; a death by signal N is ``128 + N`` (what a shell
  reports); a ``maxWallClockTime`` kill is ``0xC000013A`` as the int32 Batch reports in REST JSON
  (``-1073741510``), whatever the process did on SIGTERM.
* **Start failures** (a command line that does not split, a program not found or not
  executable, a task directory or output file that cannot be made) are not process exits:
  the attempt ends with no exit code and failureInfo ``usererror`` /
  ``CommandProgramNotFound``, which the engine never retries (preprocessing errors are not
  retried in Batch).

POSIX only (Linux, macOS): Windows would pass the command line whole and needs job objects
instead of process groups; it is not supported in this version.

The executor knows nothing of the engine: ``on_exit(handle, result)`` is called once per
attempt, from a waiter thread (or from ``start`` itself for a start failure); the live engine's
callback only posts the result to its inbox.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

_log = logging.getLogger(__name__)

#: ``0xC000013A`` (STATUS_CONTROL_C_EXIT) as a signed 32-bit int: Batch's exit code for a task
#: ended by its ``maxWallClockTime``.
WALLCLOCK_EXIT_CODE = 0xC000013A - (1 << 32)
assert WALLCLOCK_EXIT_CODE == -1073741510

#: Default seconds between SIGTERM and SIGKILL.
KILL_GRACE = 2.0

#: After SIGKILL, how long the waiter waits for the group to be empty before it reports anyway
#: (a member that is a zombie nobody reaps, e.g. under a PID 1 that does not wait, stays listed).
DRAIN_CAP = 2.0


@dataclass(frozen=True)
class FailureInfo:
    category: str  # "usererror" | "servererror"
    code: str
    message: str

    @property
    def pair(self) -> tuple[str, str]:
        """``(category, code)``, the shape the engine's task records keep (scheduler/tasks.py)."""
        return (self.category, self.code)


@dataclass(frozen=True)
class AttemptResult:
    """How an attempt ended. ``exit_code`` is None for a start failure."""

    exit_code: int | None
    failure: FailureInfo | None = None
    killed: str | None = None  # None, "kill" or "wallclock"
    start_time: float | None = None  # time.time() of the start (None if it never started)
    end_time: float = 0.0
    #: CPU seconds (user + system) of the leader and of every process it reaped, from the
    #: kernel's account at the reap (``os.wait4``): what the attempt used to its last instant,
    #: which no sampler can read once it is gone. None if it never started.
    cpu_seconds: float | None = None


@dataclass(frozen=True)
class AttemptSpec:
    """What to run: the task's command line, its directory (outputs go there), its environment."""

    command_line: str
    task_dir: Path
    env: Mapping[str, str]
    working_dir: Path | None = None  # default task_dir / "wd"
    uid: str = ""  # attempt uid: store key; the environment carries it as POOLSCALE_ATTEMPT

    @property
    def wd(self) -> Path:
        return self.working_dir if self.working_dir is not None else self.task_dir / "wd"


@dataclass(eq=False)
class AttemptHandle:
    """One started (or failed-to-start) attempt.

    ``(pid, create_time)`` identify the leader in the store (a pid alone may be reused after a
    crash; recovery compares ``psutil.Process(pid).create_time()`` with it); ``pgid`` is the
    group a kill signals (= pid, from ``start_new_session``).
    """

    spec: AttemptSpec
    pid: int | None = None
    pgid: int | None = None
    create_time: float | None = None
    start_time: float | None = None
    result: AttemptResult | None = None
    _proc: subprocess.Popen | None = field(default=None, repr=False)
    _kill_reason: str | None = field(default=None, repr=False)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wait(self, timeout: float | None = None) -> AttemptResult | None:
        """Block until the result is reported (for tests and the bare benchmark loop)."""
        self._done.wait(timeout)
        return self.result


def split_command_line(command_line: str) -> list[str]:
    """POSIX word rules, no shell. Raises ValueError on unbalanced quotes or an empty line."""
    argv = shlex.split(command_line, posix=True)
    if not argv:
        raise ValueError("the command line is empty")
    return argv


def _resolve_program(program: str, env: Mapping[str, str], wd: Path) -> str | None:
    """The executable as exec would find it: a path with a slash is relative to the task's wd;
    a bare name is looked up on the *task's* PATH (its environment, not the engine's)."""
    if "/" in program:
        path = Path(program) if os.path.isabs(program) else wd / program
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which(program, path=env.get("PATH", os.defpath))


def _os_error(e: OSError) -> str:
    """``<reason>: <path>`` of a failed file operation."""
    return f"{e.strerror or e}: {e.filename}" if e.filename else str(e.strerror or e)


#: stdout.txt and stderr.txt: made or truncated, never inherited by another process
_OUTPUT_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
_DEVNULL: list[int] = []


def _devnull() -> int:
    """One descriptor of /dev/null for every task's stdin (subprocess.DEVNULL opens it anew for
    each process, a file open on the engine thread per task start)."""
    if not _DEVNULL:
        _DEVNULL.append(os.open(os.devnull, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)))
    return _DEVNULL[0]


def _make_dirs(task_dir: Path, wd: Path) -> None:
    """The task's directory and its working directory, with as few system calls as the common
    case allows: ``os.makedirs`` tries the leaf first and climbs on ENOENT (three calls for a
    new task); here the task directory is made, then ``wd`` (two)."""
    for path in (task_dir, wd):
        try:
            os.mkdir(path)
        except FileExistsError:
            if not path.is_dir():       # a file where the directory goes: as makedirs says it
                raise
        except FileNotFoundError:
            os.makedirs(path, exist_ok=True)


_BOOT_TIME: list[float] = []    # psutil.boot_time(), read once: it reads /proc/stat each call
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _create_time(pid: int) -> float | None:
    """psutil's create time of our own child (not reaped yet, so it cannot be another process).

    On Linux it is computed as psutil computes it — the boot time plus the process's start in
    clock ticks from ``/proc/<pid>/stat`` — with the boot time read once: psutil's own call
    reads ``/proc/stat`` every time, which cost 0.55 ms of the engine thread per task start,
    about a fifth of it (bench/README.md). Recovery compares the stored value with psutil's, so
    the two must agree (a test checks). psutil is imported here, not at module level: the live
    engine's dependency only."""
    import psutil

    if sys.platform.startswith("linux"):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
            fields = stat[stat.rindex(b")") + 2:].split()
            if not _BOOT_TIME:
                _BOOT_TIME.append(psutil.boot_time())
            return int(fields[19]) / _CLOCK_TICKS + _BOOT_TIME[0]
        except (OSError, ValueError, IndexError):
            pass
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def _reap_with_usage(proc: subprocess.Popen) -> tuple[int, float | None]:
    """Wait for the leader and reap it with ``os.wait4``, which also returns its resource usage
    (its own CPU time and that of every child it reaped); ``Popen.wait`` would throw that away.
    The code goes into ``proc.returncode`` as ``Popen`` would put it (-N for signal N), so a
    later ``proc.wait()`` returns it without waiting again."""
    if proc.returncode is None and hasattr(os, "wait4"):
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except ChildProcessError:  # reaped already (it cannot be by us: nothing else waits)
            return proc.wait(), None
        proc.returncode = os.waitstatus_to_exitcode(status)
        return proc.returncode, usage.ru_utime + usage.ru_stime
    return proc.wait(), None


def _group_alive(pgid: int) -> bool:
    """Whether the process group still has a member that is not a zombie.

    ``killpg(pgid, 0)`` alone counts zombies: members orphaned by the leader are reparented to
    PID 1 (or a subreaper), and a container's PID 1 may reap them late or never, which would
    hold a kill report for the whole drain cap. On Linux the group is read from ``/proc``.
    """
    if _PROC.is_dir():
        return _proc_group_alive(pgid)
    return _killpg_alive(pgid)


_PROC = Path("/proc")


def _proc_group_alive(pgid: int) -> bool:
    for entry in os.scandir(_PROC):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"{entry.path}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        # fields: state ppid pgrp ...
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def _killpg_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member we may not signal: the group exists
        return True
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class ProcessExecutor:
    """Starts, kills and reports task attempts as process groups (see the module docstring)."""

    def __init__(self, on_exit: Callable[[AttemptHandle, AttemptResult], None] | None = None,
                 kill_grace: float = KILL_GRACE) -> None:
        self._on_exit = on_exit
        self.kill_grace = kill_grace
        self._live: set[AttemptHandle] = set()
        self._live_lock = threading.Lock()
        self._reaper: _PidfdReaper | None = None
        self._use_pidfd = hasattr(os, "pidfd_open")

    # -- start -------------------------------------------------------------------------------

    def start(self, spec: AttemptSpec) -> AttemptHandle:
        """Start one attempt. Each attempt truncates ``stdout.txt``/``stderr.txt`` in the task dir."""
        handle = AttemptHandle(spec)
        wd = spec.wd
        # The node provider makes the node's tree; a task's own directory is made here, on
        # every attempt, so that a retention sweep or a reimage between attempts cannot turn
        # into a start failure. One that cannot be made (a task left a file where a directory
        # goes) is a start failure of this attempt, never an error of the caller.
        try:
            _make_dirs(spec.task_dir, wd)
        except OSError as e:
            return self._start_failed(handle, f"cannot make the task directory: {_os_error(e)}")
        try:
            argv = split_command_line(spec.command_line)
        except ValueError as e:
            return self._start_failed(handle, f"the command line cannot be split: {e}")
        program = _resolve_program(argv[0], spec.env, wd)
        if program is None:
            return self._start_failed(handle, f"program not found or not executable: {argv[0]}")
        argv[0] = program
        start_time = time.time()
        with contextlib.ExitStack() as files:
            try:
                out = os.open(spec.task_dir / "stdout.txt", _OUTPUT_FLAGS, 0o644)
                files.callback(os.close, out)
                err = os.open(spec.task_dir / "stderr.txt", _OUTPUT_FLAGS, 0o644)
                files.callback(os.close, err)
            except OSError as e:  # a task left a directory where an output file goes
                return self._start_failed(handle, f"cannot open the output files: {_os_error(e)}")
            try:
                proc = subprocess.Popen(argv, cwd=wd, env=dict(spec.env), stdin=_devnull(),
                                        stdout=out, stderr=err, start_new_session=True, close_fds=True)
            except OSError as e:  # raced away, not executable after all, wd missing
                return self._start_failed(handle, f"cannot start {argv[0]}: {e.strerror or e}")
        handle._proc, handle.pid, handle.pgid, handle.start_time = proc, proc.pid, proc.pid, start_time
        handle.create_time = _create_time(proc.pid)
        with self._live_lock:
            self._live.add(handle)
        if self._use_pidfd:
            try:
                if self._reaper is None:
                    self._reaper = _PidfdReaper(self._leader_exited)
                self._reaper.add(handle, os.pidfd_open(proc.pid))
                return handle
            except OSError:  # pidfds not permitted here (seccomp, old kernel): fall back for good
                self._use_pidfd = False
        threading.Thread(target=self._reap, args=(handle,), name=f"reap-{proc.pid}", daemon=True).start()
        return handle

    def _start_failed(self, handle: AttemptHandle, message: str) -> AttemptHandle:
        result = AttemptResult(None, FailureInfo("usererror", "CommandProgramNotFound", message),
                               end_time=time.time())
        self._report(handle, result)
        return handle

    # -- kill --------------------------------------------------------------------------------

    def kill(self, handle: AttemptHandle, reason: str = "kill") -> bool:
        """SIGTERM to the group now, SIGKILL after ``kill_grace``. ``reason="wallclock"`` makes the
        reported exit code ``0xC000013A``. Returns False if the attempt had already been reported."""
        if reason not in ("kill", "wallclock"):
            raise ValueError(f"reason must be 'kill' or 'wallclock', not {reason!r}")
        with handle._lock:
            if handle.result is not None or handle._proc is None or handle._kill_reason is not None:
                return handle.result is None and handle._proc is not None
            handle._kill_reason = reason
        pgid = handle._proc.pid
        _signal_group(pgid, signal.SIGTERM)
        timer = threading.Timer(self.kill_grace, self._escalate, args=(pgid, handle))
        timer.daemon = True
        timer.start()
        return True

    @staticmethod
    def _escalate(pgid: int, handle: AttemptHandle) -> None:
        if handle.result is None and _group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)

    def end_group(self, handle: AttemptHandle) -> bool:
        """End what is left of an attempt's process group after its leader was reported: the
        background services a multi-instance coordination command starts and leaves running
        until the task ends. SIGTERM now, SIGKILL after ``kill_grace`` to those still there. An
        attempt still running is killed (:meth:`kill`). Returns whether anything was signalled.

        Safe against pid reuse: the group id is the leader's pid, which Linux does not hand out
        again while a process of that group lives, and a group with no live member is left
        alone."""
        if handle.result is None:
            return self.kill(handle)
        pgid = handle.pgid
        if pgid is None or not _group_alive(pgid):
            return False
        _signal_group(pgid, signal.SIGTERM)
        timer = threading.Timer(self.kill_grace, self._escalate_group, args=(pgid,))
        timer.daemon = True
        timer.start()
        return True

    @staticmethod
    def _escalate_group(pgid: int) -> None:
        if _group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)

    # -- reap --------------------------------------------------------------------------------

    def _reap(self, handle: AttemptHandle) -> None:
        """Fallback waiter: one thread per attempt."""
        assert handle._proc is not None
        self._finish(handle)  # blocks until the leader exits

    def _leader_exited(self, handle: AttemptHandle) -> None:
        """Called on the pidfd reaper thread. A killed attempt drains on its own thread, so that
        one slow kill (up to the grace) never delays the exit reports of the others."""
        if handle._kill_reason is not None:
            threading.Thread(target=self._finish, args=(handle,), name=f"drain-{handle.pid}", daemon=True).start()
        else:
            self._finish(handle)

    def _finish(self, handle: AttemptHandle) -> None:
        proc = handle._proc
        assert proc is not None
        rc, cpu_seconds = _reap_with_usage(proc)
        if handle._kill_reason is not None:
            # The leader is gone; members of its group (background children) may not be. Report
            # only once the group is empty, so "killed" means "nothing of it still runs".
            self._drain(proc.pid)
        exit_code = 128 - rc if rc < 0 else rc
        if handle._kill_reason == "wallclock":
            exit_code = WALLCLOCK_EXIT_CODE
        self._report(handle, AttemptResult(exit_code, None, handle._kill_reason, handle.start_time, time.time(),
                                           cpu_seconds))

    def _drain(self, pgid: int) -> None:
        deadline = time.monotonic() + self.kill_grace
        killed_at: float | None = None
        while _group_alive(pgid):
            now = time.monotonic()
            if killed_at is None and now >= deadline:
                _signal_group(pgid, signal.SIGKILL)
                killed_at = now
            elif killed_at is not None and now - killed_at > DRAIN_CAP:
                return
            time.sleep(0.01)

    def _report(self, handle: AttemptHandle, result: AttemptResult) -> None:
        with handle._lock:
            handle.result = result
        with self._live_lock:
            self._live.discard(handle)
        handle._done.set()
        if self._on_exit is not None:
            self._on_exit(handle, result)

    # -- shutdown ----------------------------------------------------------------------------

    def running(self) -> list[AttemptHandle]:
        with self._live_lock:
            return list(self._live)

    def close(self, timeout: float | None = None) -> None:
        """Kill every running attempt and wait for their reports (service stop, tests)."""
        handles = self.running()
        for h in handles:
            self.kill(h)
        for h in handles:
            h.wait(timeout)
        if self._reaper is not None:
            self._reaper.stop()
            self._reaper = None


class _PidfdReaper:
    """One thread waiting on the pidfds of every running leader (Linux)."""

    def __init__(self, on_exit: Callable[[AttemptHandle], None]) -> None:
        self._on_exit = on_exit
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._incoming: list[tuple[int, AttemptHandle]] = []
        self._lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="poolscale-reaper", daemon=True)
        self._thread.start()

    def add(self, handle: AttemptHandle, pidfd: int) -> None:
        # Registered by the reaper thread itself (selectors are not thread-safe); a leader that
        # exited already leaves a readable pidfd, so nothing is missed meanwhile.
        with self._lock:
            self._incoming.append((pidfd, handle))
        os.write(self._wake_w, b"a")

    def stop(self) -> None:
        self._stopping = True
        os.write(self._wake_w, b"q")
        self._thread.join(5)

    def _loop(self) -> None:
        try:
            while True:
                for key, _ in self._selector.select():
                    if key.data is None:
                        os.read(self._wake_r, 4096)
                        if self._stopping:
                            return
                        with self._lock:
                            incoming, self._incoming = self._incoming, []
                        for pidfd, handle in incoming:
                            self._selector.register(pidfd, selectors.EVENT_READ, handle)
                    else:
                        self._selector.unregister(key.fd)
                        os.close(key.fd)
                        try:
                            self._on_exit(key.data)
                        except Exception:  # one bad callback must not stop every later report
                            _log.exception("exit report of pid %s failed", key.data.pid)
        finally:
            fds = [key.fd for key in self._selector.get_map().values()] + [fd for fd, _ in self._incoming]
            self._selector.close()
            for fd in fds:
                if fd != self._wake_r:
                    os.close(fd)
            os.close(self._wake_r)
            os.close(self._wake_w)
