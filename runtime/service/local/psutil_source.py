"""``PsutilSampleSource``: the resource part of a sample, measured on this machine.

In the simulator a sample's CPU, memory, disk and I/O values are integrated from the tasks'
declared profiles. On the real clock the same series are *measured*: the processes of the
attempts running on each local node are read from ``/proc`` (Linux; with psutil elsewhere),
the nodes' directories are walked, and the per-node values are made
pool-wide as docs/simulation-model.md#samples defines (node-time means for ``$CPUPercent``,
``$MemoryBytes`` and ``$DiskBytes``, period totals for the six I/O series). The task and node
counts of a sample are the engine's own and do not come from here.

The live world calls :meth:`PsutilSampleSource.resources` once per sample period, on the engine
thread, so a call must be cheap and must never block: every read is a non-blocking read of the
kernel's process tables, and the one unbounded cost (walking a node's directory tree) is capped
per call. What each series means here, and what one machine cannot measure per node, is in
docs/running-locally.md#measured-samples; in short:

* **Which processes belong to a node.** The callable given at construction lists, per node, the
  process groups of the attempts running there (the executor starts each attempt as its own
  group). Every live process whose group id is one of them is the node's, wherever it was
  reparented; a process that left the group (``setsid``) is not seen.
* **CPU** is CPU seconds used in the period (Δ of user + system time, the times of reaped
  children included) ÷ (period × cores per node) × 100, at most 100, averaged over the nodes
  usable at the stamp. A process that exited and was reaped *inside the group* is counted to its
  end: its parent's "children" times absorb it, and what this source had already counted for it
  is taken off so it is not counted twice. A leader reaped by the executor is counted to its end
  only if the live world reports its final CPU time (:meth:`PsutilSampleSource.attempt_ended`).
* **Memory** is the resident set (RSS) of the node's processes at the stamp, in megabytes of
  2**20 bytes; **disk** the bytes of the files under the node's directory, in gigabytes of 2**30.
  Both are snapshots: a peak between two stamps is not seen.
* **Disk I/O** is the Δ of ``io_counters()`` (bytes that reached or will reach storage, and read
  and write *calls*) where the platform gives it for other processes (Linux), 0 elsewhere.
* **Network** cannot be measured per process without privileges: the host's
  ``net_io_counters()`` Δ is split among the nodes by their share of running attempts, or is 0
  with ``network="zero"`` (reproducible tests).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

_log = logging.getLogger(__name__)

__all__ = ["PsutilSampleSource", "ProcessGroup", "NodeProcesses", "NodeSample",
           "DISK_ENTRIES_PER_SAMPLE", "MB", "GB"]

#: The units of ``$MemoryBytes`` (megabytes) and ``$DiskBytes`` (gigabytes): binary, as the
#: workload loader's KB / 1024 = MB conversion (docs/simulate.md).
MB = float(1 << 20)
GB = float(1 << 30)

#: At most this many directory entries are examined per call, all nodes together. Each costs a
#: ``stat``: 3.7 to 7 µs on the shared 2-CPU machine this was measured on, depending on its
#: load, so a call spends at most 18 to 36 ms walking (far less when the trees are small). A
#: larger tree is walked over several calls, resuming where the last one stopped; until a walk
#: completes the previous complete total is reported (:class:`_DiskWalk`).
DISK_ENTRIES_PER_SAMPLE = 5_000

_ZERO_IO = (0.0, 0.0, 0.0, 0.0)

#: How many calls a gone leader's counted CPU waits for its end to be reported.
_GONE_CALLS = 3


class ProcessGroup(NamedTuple):
    """One running attempt: its process group and its leader (``pid`` and psutil's
    ``create_time``, as the executor's ``AttemptHandle`` holds them)."""

    pgid: int
    pid: int
    create_time: float | None = None


@dataclass(frozen=True)
class NodeProcesses:
    """What the live world tells the source about one node at a stamp."""

    node_id: str
    root: Path | None                  # the node's directory; None: no disk figure
    usable: bool                       # idle or running with scheduling enabled
    groups: Sequence[ProcessGroup] = ()  # the attempts running there


@dataclass(frozen=True)
class NodeSample:
    """One node's measured values for the last period (kept for node views and tests)."""

    cpu_percent: float       # 0-100, of the node's cores over the period
    cpu_seconds: float       # CPU seconds its processes used in the period
    memory_bytes: int        # RSS sum at the stamp
    disk_bytes: int          # file bytes under the node's directory (last complete walk)
    io: tuple[float, ...]    # disk read/write bytes, read/write calls, network in/out bytes
    processes: int           # processes found in the node's groups


class _Reading(NamedTuple):
    """One process read once: what deltas are taken from."""

    start: float                     # when it started (tells a reused pid from the old process)
    ppid: int
    cpu: float                       # user + system + children's user + system, seconds
    rss: int                         # bytes
    io: tuple[float, float, float, float] | None  # read/write bytes, read/write calls; None: unreadable


@dataclass
class _Seen:
    """The last reading of one process, and the node it was counted on."""

    node_id: str
    pgid: int
    reading: _Reading


class _DiskWalk:
    """Bytes of the regular files under a node's directory, counted with ``os.scandir`` and a
    budget of entries per call.

    Why incremental: a task may leave millions of files, and the walk runs on the engine thread.
    Each call examines at most the ``budget`` it is given, keeping its stack of directories still
    to read between calls; a small tree is walked afresh every call, a huge one over several calls.
    The value reported is the last *complete* walk's total (before the first walk completes,
    the partial sum so far, a lower bound). Symbolic links are neither followed nor counted;
    sizes are apparent sizes (``st_size``). If the root is replaced (the node was reimaged) the
    walk restarts.
    """

    __slots__ = ("root", "_ino", "_stack", "_partial", "total", "_open")

    def __init__(self, root: Path) -> None:
        self.root = root
        self._ino: int | None = None
        self._stack: list[str] = []
        self._open: Any = None           # a scandir iterator left half-read by the last call
        self._partial = 0
        self.total: int | None = None

    def measure(self, budget: int) -> tuple[int, int]:
        """Walk on for up to ``budget`` entries: (the bytes to report, the entries examined)."""
        try:
            ino = os.stat(self.root).st_ino
        except OSError:
            self._reset(None)
            self.total = 0
            return 0, 0
        if ino != self._ino:
            self._reset(ino)
            self.total = None
        if not self._stack and self._open is None:
            self._stack.append(str(self.root))
            self._partial = 0
        left = budget
        while left > 0:
            if self._open is None:
                if not self._stack:
                    break
                try:
                    self._open = os.scandir(self._stack.pop())
                except OSError:  # removed meanwhile, or unreadable: skip it
                    continue
            for entry in self._open:
                left -= 1
                try:
                    if entry.is_dir(follow_symlinks=False):
                        self._stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        self._partial += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    pass
                if left <= 0:
                    break
            else:
                self._open.close()
                self._open = None
        if self._open is None and not self._stack:
            self.total = self._partial
        return (self.total if self.total is not None else self._partial), budget - left

    def _reset(self, ino: int | None) -> None:
        if self._open is not None:
            self._open.close()
            self._open = None
        self._stack = []
        self._partial = 0
        self._ino = ino

    def close(self) -> None:
        self._reset(None)


@dataclass
class _NodeAcc:
    cpu: float = 0.0
    rss: int = 0
    io: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])
    processes: int = 0


class PsutilSampleSource:
    """The live :class:`~poolscale.scheduler.world.SampleSource` of one pool.

    ``nodes()`` is called once per :meth:`resources` call, on the same thread, and lists the
    pool's present nodes (:class:`NodeProcesses`). ``cores_per_node`` is the pool's (the
    denominator of a node's CPU percent). ``network`` is ``"host"`` (the host's traffic split by
    running attempts) or ``"zero"``. ``disk_entries`` bounds the directory walk per call, all
    nodes together (shared fairly, the nodes taking turns to go first).
    ``clock`` (monotonic seconds) measures the period; the first period starts at construction.
    ``reader`` is how a process is read: ``"procfs"`` (Linux, two file reads per process),
    ``"psutil"`` (anywhere psutil runs) or ``"auto"`` (the first that works here).

    Not thread-safe, and it need not be: :meth:`resources` and :meth:`attempt_ended` are both
    called on the engine thread (the sample event, the handling of an exit report).
    """

    def __init__(self, nodes: Callable[[], Iterable[NodeProcesses]], cores_per_node: int, *,
                 network: str = "host", disk_entries: int = DISK_ENTRIES_PER_SAMPLE,
                 clock: Callable[[], float] = time.monotonic, reader: str = "auto") -> None:
        import psutil  # the live engine's dependency only: never on the CLI start-up path

        if network not in ("host", "zero"):
            raise ValueError(f"network must be 'host' or 'zero', not {network!r}")
        if cores_per_node < 1:
            raise ValueError(f"cores_per_node must be 1 or more, not {cores_per_node!r}")
        if reader not in ("auto", "procfs", "psutil"):
            raise ValueError(f"reader must be 'auto', 'procfs' or 'psutil', not {reader!r}")
        if disk_entries < 1:
            raise ValueError(f"disk_entries must be 1 or more, not {disk_entries!r}")
        self._psutil = psutil
        self._nodes = nodes
        self.cores = cores_per_node
        self.network = network
        self.disk_entries = disk_entries
        self._clock = clock
        self._last_time = clock()
        self._seen: dict[int, _Seen] = {}          # pid -> last reading
        # Leaders reaped by the executor: (node, pid) -> (CPU counted for them and for what they
        # reaped, calls left to claim it) once gone; -> final CPU once their end is reported.
        self._gone: dict[tuple[str, int], tuple[float, int]] = {}
        self._ended: dict[tuple[str, int], float] = {}
        self._tails: dict[str, float] = {}         # node -> CPU of ended leaders not yet counted
        self._walks: dict[str, _DiskWalk] = {}
        self._disk_turn = 0
        self._walk_noted = False
        self._net = self._net_counters()
        self._has_io = hasattr(psutil.Process, "io_counters")
        if reader == "auto":
            reader = "procfs" if os.path.isfile(f"/proc/{os.getpid()}/stat") else "psutil"
        self.reader = reader
        self._read = self._read_procfs if reader == "procfs" else self._read_psutil
        self._tick = float(os.sysconf("SC_CLK_TCK")) if reader == "procfs" else 1.0
        self._page = os.sysconf("SC_PAGE_SIZE") if reader == "procfs" else 1
        #: Per-node values of the last call, by node id.
        self.last_nodes: dict[str, NodeSample] = {}
        #: Wall seconds the last call took (the cost on the engine thread).
        self.last_cost = 0.0
        #: The last period's length on ``clock`` (the CPU percent's denominator, with the cores).
        self.last_period = 0.0

    # -- the seam ----------------------------------------------------------------------------

    def resources(self, k: int, du: float) -> tuple[float, float, float, tuple[float, ...]]:
        """Sample ``k``'s ``($CPUPercent, $MemoryBytes in MB, $DiskBytes in GB, (disk read
        bytes, disk write bytes, disk read ops, disk write ops, network in, network out))``.
        ``du`` is the engine's usable node-seconds of the period: as in the simulator, the means
        are 0 when no node was usable."""
        t0 = time.perf_counter()
        now = self._clock()
        period = self.last_period = now - self._last_time
        self._last_time = now
        nodes = list(self._nodes())
        accs = self._measure_processes(nodes)
        net_in, net_out = self._network_delta()
        running = sum(len(n.groups) for n in nodes)
        disk_by_node = self._disk_bytes(nodes)
        samples: dict[str, NodeSample] = {}
        for n in nodes:
            acc = accs[n.node_id]
            cpu_s = max(0.0, acc.cpu)
            pct = 100.0 * cpu_s / (self.cores * period) if period > 0 else 0.0
            share = len(n.groups) / running if running else 0.0
            samples[n.node_id] = NodeSample(
                cpu_percent=min(100.0, pct), cpu_seconds=cpu_s, memory_bytes=acc.rss,
                disk_bytes=disk_by_node[n.node_id], processes=acc.processes,
                io=(*(max(0.0, v) for v in acc.io), net_in * share, net_out * share))
        for gone in set(self._walks) - set(samples):
            self._walks.pop(gone).close()
        self.last_nodes = samples
        usable = [samples[n.node_id] for n in nodes if n.usable]
        if du > 0 and usable:
            cpu = sum(s.cpu_percent for s in usable) / len(usable)
            mem = sum(s.memory_bytes for s in usable) / len(usable) / MB
            disk = sum(s.disk_bytes for s in usable) / len(usable) / GB
        else:
            cpu = mem = disk = 0.0
        io = tuple(sum(s.io[i] for s in samples.values()) for i in range(6))
        self.last_cost = time.perf_counter() - t0
        return cpu, mem, disk, io

    def attempt_ended(self, node_id: str, pid: int, cpu_seconds: float) -> None:
        """An attempt's leader was reaped with ``cpu_seconds`` of CPU: user + system of it and of
        every process it reaped (``AttemptResult.cpu_seconds``, from ``os.wait4``). What they
        used after this source last read them is added to the node's next sample; without this
        call that tail is not counted.

        The live world calls it on the engine thread when it handles the exit report, which may
        come before or after the sample that finds the leader gone: either way the CPU this
        source counted for the leader and the group members reaped under it is taken off the
        final figure, so nothing is counted twice."""
        key = (node_id, pid)
        if key in self._gone:
            self._add_tail(node_id, cpu_seconds - self._gone.pop(key)[0])
        else:  # the next call finds it gone (or finds it never was seen: nothing counted)
            self._ended[key] = cpu_seconds

    def _add_tail(self, node_id: str, tail: float) -> None:
        if tail > 0:
            self._tails[node_id] = self._tails.get(node_id, 0.0) + tail

    # -- processes ---------------------------------------------------------------------------

    def _measure_processes(self, nodes: list[NodeProcesses]) -> dict[str, _NodeAcc]:
        accs = {n.node_id: _NodeAcc() for n in nodes}
        for ended_on, tail in self._tails.items():
            if ended_on in accs:
                accs[ended_on].cpu += tail
        self._tails = {}
        group_node = {g.pgid: n.node_id for n in nodes for g in n.groups}
        current: dict[int, _Seen] = {}
        if group_node:
            for pid in self._psutil.pids():
                try:
                    pgid = os.getpgid(pid)
                except OSError:
                    continue
                node_id = group_node.get(pgid)
                if node_id is None:
                    continue
                r = self._read(pid)
                if r is None:  # gone meanwhile
                    continue
                acc = accs[node_id]
                prev = self._seen.get(pid)
                same = prev is not None and prev.reading.start == r.start and prev.node_id == node_id
                if not same:  # new since the last call: all it used is in this period
                    prev = None
                io = r.io
                if io is None:  # a zombie's counters may be unreadable: no change then
                    io = prev.reading.io if prev is not None and prev.reading.io is not None else _ZERO_IO
                    r = r._replace(io=io)
                old_cpu, old_io = (prev.reading.cpu, prev.reading.io or _ZERO_IO) if prev is not None else (0.0, _ZERO_IO)
                acc.cpu += r.cpu - old_cpu
                for i in range(4):
                    acc.io[i] += io[i] - old_io[i]
                acc.rss += r.rss
                acc.processes += 1
                current[pid] = _Seen(node_id, pgid, r)
        self._account_vanished(current, accs)
        self._seen = current
        return accs

    def _account_vanished(self, current: dict[int, _Seen], accs: dict[str, _NodeAcc]) -> None:
        """A process that vanished since the last call was reaped. If its parent is still one of
        the node's processes, the parent's children times and I/O now hold all of it: what was
        counted for it already is taken off. If it was a leader reaped by the executor (its
        parent is this process), what was counted for it and for the group members that
        vanished under it is kept until its end is reported (:meth:`attempt_ended`)."""
        vanished = {pid: old for pid, old in self._seen.items()
                    if pid not in current or current[pid].reading.start != old.reading.start}
        me = os.getpid()
        for pid, old in vanished.items():
            parent = current.get(old.reading.ppid)
            if parent is not None and parent.node_id == old.node_id:
                acc = accs[old.node_id]
                acc.cpu -= old.reading.cpu
                old_io = old.reading.io or _ZERO_IO
                for i in range(4):
                    acc.io[i] -= old_io[i]
        self._gone = {k: (c, left - 1) for k, (c, left) in self._gone.items() if left > 1}
        for pid, old in vanished.items():
            if old.reading.ppid != me:
                continue
            counted = old.reading.cpu + sum(
                v.reading.cpu for v in vanished.values()
                if v is not old and v.pgid == old.pgid and v.reading.ppid in vanished)
            self._gone[(old.node_id, pid)] = (counted, _GONE_CALLS)
        for key, final in self._ended.items():
            counted = self._gone.pop(key, (0.0, 0))[0]
            if key[0] in accs:
                accs[key[0]].cpu += max(0.0, final - counted)
        self._ended = {}

    def _read_procfs(self, pid: int) -> _Reading | None:
        """Linux: ``/proc/<pid>/stat`` (parent, CPU times, start, RSS) and ``/proc/<pid>/io``,
        two reads per process. psutil reads the same files, at three to four times the cost per
        process (it opens ``stat`` again to guard against a reused pid; the start time here does
        that job)."""
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            return None
        # fields after "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt
        # majflt cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime
        # vsize rss ...
        x = stat[stat.rfind(b")") + 2:].split()
        tick = self._tick
        cpu = (int(x[11]) + int(x[12]) + int(x[13]) + int(x[14])) / tick
        reading = _Reading(int(x[19]) / tick, int(x[1]), cpu, int(x[21]) * self._page, None)
        try:
            with open(f"/proc/{pid}/io", "rb") as f:
                lines = f.read().split(b"\n")
        except OSError:
            return reading
        # rchar wchar syscr syscw read_bytes write_bytes cancelled_write_bytes
        v = {k: float(n) for k, _, n in (line.partition(b": ") for line in lines if line)}
        return reading._replace(io=(v[b"read_bytes"], v[b"write_bytes"], v[b"syscr"], v[b"syscw"]))

    def _read_psutil(self, pid: int) -> _Reading | None:
        """Elsewhere (macOS): psutil. I/O counters of other processes are not available there."""
        psutil = self._psutil
        try:
            proc = psutil.Process(pid)
            with proc.oneshot():
                t = proc.cpu_times()
                ppid = proc.ppid()
                try:
                    rss = int(proc.memory_info().rss)
                except psutil.ZombieProcess:
                    rss = 0
                io = None
                if self._has_io:
                    try:
                        c = proc.io_counters()
                        io = (float(c.read_bytes), float(c.write_bytes),
                              float(c.read_count), float(c.write_count))
                    except (psutil.AccessDenied, psutil.ZombieProcess):
                        pass
                else:
                    io = _ZERO_IO
            start = proc.create_time()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None
        cpu = t.user + t.system + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)
        return _Reading(start, ppid, cpu, rss, io)

    # -- disk and network --------------------------------------------------------------------

    def _disk_bytes(self, nodes: list[NodeProcesses]) -> dict[str, int]:
        """Each node's file bytes, walking on within the call's budget: each node in turn gets an
        equal part of what is left, so what a small tree does not use goes to the nodes after
        it; the node that goes first rotates from call to call, so none is always last."""
        out = {n.node_id: 0 for n in nodes}
        rooted = [n for n in nodes if n.root is not None]
        if rooted:
            first = self._disk_turn % len(rooted)
            self._disk_turn += 1
            rooted = rooted[first:] + rooted[:first]
        left = self.disk_entries
        for i, n in enumerate(rooted):
            walk = self._walks.get(n.node_id)
            if walk is None or walk.root != n.root:
                walk = self._walks[n.node_id] = _DiskWalk(n.root)  # type: ignore[arg-type]
            out[n.node_id], used = walk.measure(left // (len(rooted) - i))
            left -= used
            if walk.total is None and not self._walk_noted:
                self._walk_noted = True
                _log.info("the nodes' directories hold more than the %d entries a sample walks: "
                          "a node's disk figure may be some samples old", self.disk_entries)
        return out

    def _net_counters(self) -> tuple[float, float] | None:
        if self.network == "zero":
            return None
        c = self._psutil.net_io_counters()
        return None if c is None else (float(c.bytes_recv), float(c.bytes_sent))

    def _network_delta(self) -> tuple[float, float]:
        """The host's bytes received and sent since the last call (0 with ``network="zero"``,
        and for a counter that went backwards, e.g. an interface removed)."""
        prev, self._net = self._net, self._net_counters()
        if prev is None or self._net is None:
            return 0.0, 0.0
        return max(0.0, self._net[0] - prev[0]), max(0.0, self._net[1] - prev[1])
