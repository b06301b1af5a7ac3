"""PsutilSampleSource (runtime/service/local/psutil_source.py) with real processes.

Each test starts its processes in their own process groups, as the executor does, and tells the
source which node owns which group. Periods are about a second of real time; bounds that depend
on how much CPU the machine gives a process are wide (a loaded 2-core CI machine), the
aggregation and accounting checks are exact.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from poolscale.runtime.service.local.psutil_source import (
    GB,
    MB,
    NodeProcesses,
    ProcessGroup,
    PsutilSampleSource,
)
from poolscale.scheduler.world import SampleSource

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process groups and /proc I/O counters")

PY = sys.executable
WAIT = 10.0


def wait_for(predicate, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


class Groups:
    """Process groups started for a test, killed at its end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, argv: list[str], cwd: Path | None = None) -> ProcessGroup:
        p = subprocess.Popen(argv, cwd=cwd, start_new_session=True, stdin=subprocess.DEVNULL)
        self.procs.append(p)
        return ProcessGroup(p.pid, p.pid, psutil.Process(p.pid).create_time())

    def close(self) -> None:
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in self.procs:
            p.wait()


@pytest.fixture
def groups():
    g = Groups()
    yield g
    g.close()


class Nodes:
    """The live world's side of the contract: a mutable list the source reads at each call."""

    def __init__(self, *nodes: NodeProcesses) -> None:
        self.nodes = list(nodes)

    def __call__(self) -> list[NodeProcesses]:
        return self.nodes


def test_the_source_has_the_sample_source_shape():
    source = PsutilSampleSource(Nodes(), 1)
    assert isinstance(source, SampleSource)
    assert source.reader == "procfs"  # on Linux


#: Both ways of reading a process, where both work (Linux): they must agree.
READERS = pytest.mark.parametrize("reader", ["procfs", "psutil"])


@pytest.mark.parametrize("kwargs, message", [
    ({"network": "lan"}, "network must be 'host' or 'zero', not 'lan'"),
    ({"cores_per_node": 0}, "cores_per_node must be 1 or more, not 0"),
    ({"disk_entries": 0}, "disk_entries must be 1 or more, not 0"),
    ({"reader": "ps"}, "reader must be 'auto', 'procfs' or 'psutil', not 'ps'"),
])
def test_bad_settings_are_refused(kwargs, message):
    args = {"cores_per_node": 1, **kwargs}
    with pytest.raises(ValueError) as e:
        PsutilSampleSource(Nodes(), **args)
    assert str(e.value) == message


def group_cpu_seconds(pid: int) -> float:
    """The test's own count: user + system CPU of a leader and its live children."""
    leader = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [leader, *leader.children(recursive=True)])


@READERS
def test_a_cpu_burning_group_makes_its_node_busy_and_a_sleeping_one_idle(groups, tmp_path, reader):
    burn = f"{PY} -c 'while True: pass'"
    # Three attempts burning on one node, one of them a shell whose child burns: the group's
    # children count. Three, each its own session as the executor makes them, so that they get
    # over half a CPU even when other sessions keep the machine busy (sessions are scheduled
    # as groups).
    busy = [groups.start(["/bin/sh", "-c", f"{burn} & wait"]),
            groups.start([PY, "-c", "while True: pass"]),
            groups.start([PY, "-c", "while True: pass"])]
    idle = groups.start(["sleep", "30"])
    wait_for(lambda: len(psutil.Process(busy[0].pid).children()) == 1)
    nodes = Nodes(NodeProcesses("tvm-000001", None, True, busy),
                  NodeProcesses("tvm-000002", None, True, [idle]))
    source = PsutilSampleSource(nodes, cores_per_node=1, network="zero", reader=reader)
    source.resources(1, 2.0)
    given = []
    for k in range(2, 5):  # a second and third window only if the machine starved the first
        before = sum(group_cpu_seconds(g.pid) for g in busy)
        time.sleep(0.7)
        cpu, mem, disk, io = source.resources(k, 2.0)
        share = (sum(group_cpu_seconds(g.pid) for g in busy) - before) / source.last_period
        a, b = source.last_nodes["tvm-000001"], source.last_nodes["tvm-000002"]
        assert (a.processes, b.processes) == (4, 1)
        assert a.cpu_percent == pytest.approx(min(100.0, 100 * share), abs=8.0)  # what the CPUs gave
        assert b.cpu_percent < 2.0, b
        assert cpu == (a.cpu_percent + b.cpu_percent) / 2
        assert mem == (a.memory_bytes + b.memory_bytes) / 2 / MB
        assert (disk, io[4], io[5]) == (0.0, 0.0, 0.0)
        given.append(share)
        if share >= 0.6:
            assert a.cpu_percent > 50.0
            return
    # A machine busy enough to give three sessions under 0.6 CPU together cannot show the node
    # busy; the figures still had to agree with what it gave, above.
    pytest.skip(f"the machine gave the burning attempts under 0.6 CPU in every window: {given}")


def test_cpu_percent_is_of_the_nodes_cores_over_the_period_and_at_most_100(groups):
    busy = groups.start([PY, "-c", "while True: pass"])
    clock = [0.0]
    nodes = Nodes(NodeProcesses("tvm-000001", None, True, [busy]))
    one = PsutilSampleSource(nodes, cores_per_node=1, network="zero", clock=lambda: clock[0])
    four = PsutilSampleSource(nodes, cores_per_node=4, network="zero", clock=lambda: clock[0])
    one.resources(1, 1.0)
    four.resources(1, 1.0)
    start = sum(psutil.Process(busy.pid).cpu_times()[:2])
    wait_for(lambda: sum(psutil.Process(busy.pid).cpu_times()[:2]) - start >= 0.3)
    clock[0] = 0.25  # the period, as the clock says: over 0.3 CPU seconds in it
    cpu_one = one.resources(2, 1.0)[0]
    cpu_four = four.resources(2, 1.0)[0]
    s1, s4 = one.last_nodes["tvm-000001"], four.last_nodes["tvm-000001"]
    assert (one.last_period, four.last_period) == (0.25, 0.25)
    assert s1.cpu_seconds >= 0.3 and s4.cpu_seconds >= 0.3
    assert cpu_one == s1.cpu_percent == 100.0
    assert cpu_four == s4.cpu_percent == 100.0 * s4.cpu_seconds / (4 * 0.25)


def test_means_are_zero_when_no_node_was_usable(groups):
    busy = groups.start([PY, "-c", "while True: pass"])
    nodes = Nodes(NodeProcesses("tvm-000001", None, True, [busy]))
    source = PsutilSampleSource(nodes, cores_per_node=1, network="zero")
    source.resources(1, 1.0)
    time.sleep(0.3)
    assert source.resources(2, 0.0)[:3] == (0.0, 0.0, 0.0)
    assert source.last_nodes["tvm-000001"].cpu_seconds > 0.0


@READERS
def test_memory_is_the_rss_of_the_nodes_processes_in_megabytes(groups, tmp_path, reader):
    hog = groups.start([PY, "-c", "import time; b = b'x' * (200 << 20); open('ready', 'w').close(); "
                        "time.sleep(30)"], cwd=tmp_path)
    other = groups.start(["sleep", "30"])
    wait_for(lambda: (tmp_path / "ready").exists())
    nodes = Nodes(NodeProcesses("tvm-000001", None, True, [hog]),
                  NodeProcesses("tvm-000002", None, False, [other]))  # leaving: not in the mean
    source = PsutilSampleSource(nodes, cores_per_node=1, network="zero", reader=reader)
    cpu, mem, disk, io = source.resources(1, 1.0)
    a = source.last_nodes["tvm-000001"]
    assert a.memory_bytes >= 200 << 20
    assert mem == a.memory_bytes / MB
    assert mem >= 200.0


def test_disk_is_the_bytes_of_the_files_under_the_node_in_gigabytes(tmp_path):
    root = tmp_path / "tvm-000001"
    (root / "shared").mkdir(parents=True)
    (root / "startup" / "wd").mkdir(parents=True)
    (root / "startup" / "stdout.txt").write_bytes(b"x" * 1000)
    outside = tmp_path / "big"
    outside.write_bytes(b"y" * 50_000)
    (root / "shared" / "link").symlink_to(outside)  # not followed, not counted
    nodes = Nodes(NodeProcesses("tvm-000001", root, True, []))
    source = PsutilSampleSource(nodes, cores_per_node=1, network="zero")
    assert source.resources(1, 1.0)[2] == 1000 / GB
    (root / "startup" / "wd" / "out.bin").write_bytes(b"z" * 3_000_001)
    assert source.resources(2, 1.0)[2] == 3_001_001 / GB
    assert source.last_nodes["tvm-000001"].disk_bytes == 3_001_001


def test_a_large_tree_is_walked_over_several_calls_within_the_budget(tmp_path, caplog):
    root = tmp_path / "tvm-000001"
    root.mkdir()
    for i in range(25):
        (root / f"f{i:02}").write_bytes(b"x" * 100)
    nodes = Nodes(NodeProcesses("tvm-000001", root, True, []))
    source = PsutilSampleSource(nodes, cores_per_node=1, network="zero", disk_entries=10)

    def disk() -> int:
        source.resources(0, 1.0)
        return source.last_nodes["tvm-000001"].disk_bytes

    # before the first complete walk: the partial sum; then the last complete total
    with caplog.at_level("INFO", logger="poolscale.runtime.service.local.psutil_source"):
        assert [disk() for _ in range(6)] == [1000, 2000, 2500, 2500, 2500, 2500]
    assert caplog.messages == ["the nodes' directories hold more than the 10 entries a sample walks: "
                               "a node's disk figure may be some samples old"]
    (root / "new").write_bytes(b"x" * 100)
    assert [disk() for _ in range(3)] == [2500, 2500, 2600]


def test_the_walk_budget_is_shared_by_the_nodes_taking_turns(tmp_path):
    small, big = tmp_path / "tvm-000001", tmp_path / "tvm-000002"
    small.mkdir()
    big.mkdir()
    for i in range(3):
        (small / f"f{i}").write_bytes(b"x" * 10)
    for i in range(30):
        (big / f"f{i:02}").write_bytes(b"x" * 100)
    nodes = Nodes(NodeProcesses("tvm-000001", small, True, []), NodeProcesses("tvm-000002", big, True, []))
    source = PsutilSampleSource(nodes, cores_per_node=1, network="zero", disk_entries=12)
    seen = []
    for k in range(5):
        source.resources(k, 1.0)
        seen.append((source.last_nodes["tvm-000001"].disk_bytes, source.last_nodes["tvm-000002"].disk_bytes))
    # 12 entries a call: first the small node (6, uses 3) then the big one (the 9 left); next
    # call the big one goes first (6 of 12), and so on
    assert seen == [(30, 900), (30, 1500), (30, 2400), (30, 3000), (30, 3000)]


def test_a_reimaged_node_is_walked_afresh(tmp_path):
    root = tmp_path / "tvm-000001"
    root.mkdir()
    (root / "old").write_bytes(b"x" * 500)
    nodes = Nodes(NodeProcesses("tvm-000001", root, True, []))
    source = PsutilSampleSource(nodes, cores_per_node=1, network="zero", disk_entries=10)
    source.resources(1, 1.0)
    assert source.last_nodes["tvm-000001"].disk_bytes == 500
    for i in range(25):
        (root / f"f{i:02}").write_bytes(b"x" * 100)
    source.resources(2, 1.0)  # a walk left half done
    assert source.last_nodes["tvm-000001"].disk_bytes == 500
    root.rename(tmp_path / "trash")
    root.mkdir()
    (root / "new").write_bytes(b"x" * 70)
    source.resources(3, 1.0)
    assert source.last_nodes["tvm-000001"].disk_bytes == 70
    root.rename(tmp_path / "trash2")
    source.resources(4, 1.0)
    assert source.last_nodes["tvm-000001"].disk_bytes == 0


@READERS
def test_disk_io_of_a_child_that_exited_is_counted_once(groups, tmp_path, reader):
    """A child writes 3 MB and burns CPU, is read by the source, then exits and is reaped by
    its shell: the shell's counters absorb the child's, and the next period must not count
    them again."""
    child = (f"{PY} -c \"import os, time\n"
             "f = open('out', 'wb'); f.write(b'x' * 3_000_000); f.close()\n"
             "t = time.process_time()\n"
             "while time.process_time() - t < 0.3: pass\n"
             "open('done', 'w').close()\n"
             "while not os.path.exists('go'): time.sleep(0.01)\"")
    g = groups.start(["/bin/sh", "-c", f"{child}; sleep 30"], cwd=tmp_path)
    nodes = Nodes(NodeProcesses("tvm-000001", None, True, [g]))
    source = PsutilSampleSource(nodes, cores_per_node=1, network="zero", reader=reader)
    wait_for(lambda: (tmp_path / "done").exists())
    source.resources(1, 1.0)
    first = source.last_nodes["tvm-000001"]
    assert first.processes == 2
    assert first.io[1] >= 3_000_000          # write bytes (whole pages)
    assert first.io[3] >= 1                  # write calls
    assert first.cpu_seconds >= 0.3
    (tmp_path / "go").touch()
    shell = psutil.Process(g.pid)
    wait_for(lambda: [c.name() for c in shell.children()] == ["sleep"])
    source.resources(2, 1.0)
    second = source.last_nodes["tvm-000001"]
    assert second.processes == 2             # the shell and its sleep
    assert second.io[1] == 0.0
    assert second.cpu_seconds < 0.15


def test_a_leader_reaped_between_two_samples_is_counted_when_its_end_is_reported(tmp_path):
    nodes = Nodes(NodeProcesses("tvm-000001", None, True, []))
    source = PsutilSampleSource(nodes, cores_per_node=1, network="zero")
    source.resources(1, 1.0)
    p = subprocess.Popen([PY, "-c", "import time\nt = time.process_time()\n"
                          "while time.process_time() - t < 0.3: pass"], start_new_session=True)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    final = usage.ru_utime + usage.ru_stime
    source.attempt_ended("tvm-000001", p.pid, final)
    source.resources(2, 1.0)
    assert source.last_nodes["tvm-000001"].cpu_seconds == final
    source.resources(3, 1.0)
    assert source.last_nodes["tvm-000001"].cpu_seconds == 0.0


def test_a_leader_seen_before_it_ended_adds_only_its_tail(groups, tmp_path):
    p = subprocess.Popen([PY, "-c", "import os, time\nt = time.process_time()\n"
                          "while time.process_time() - t < 0.2: pass\n"
                          "open('ready', 'w').close()\n"
                          "while not os.path.exists('go'): pass"],
                         cwd=tmp_path, start_new_session=True)
    g = ProcessGroup(p.pid, p.pid, psutil.Process(p.pid).create_time())
    nodes = Nodes(NodeProcesses("tvm-000001", None, True, [g]))
    source = PsutilSampleSource(nodes, cores_per_node=1, network="zero")
    wait_for(lambda: (tmp_path / "ready").exists())
    source.resources(1, 1.0)
    counted = source.last_nodes["tvm-000001"].cpu_seconds
    (tmp_path / "go").touch()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    final = usage.ru_utime + usage.ru_stime
    nodes.nodes = [NodeProcesses("tvm-000001", None, True, [])]  # the attempt ended
    source.attempt_ended("tvm-000001", p.pid, final)
    source.resources(2, 1.0)
    assert source.last_nodes["tvm-000001"].cpu_seconds == pytest.approx(final - counted, abs=1e-9)
    assert counted >= 0.2


BURN_THEN_WAIT = ("import os, time\nt = time.process_time()\n"
                  "while time.process_time() - t < 0.3: pass\n"
                  "open('ready', 'w').close()\n"
                  "while not os.path.exists('go'): time.sleep(0.01)\n"
                  "t = time.process_time()\n"
                  "while time.process_time() - t < 0.2: pass\n")


@pytest.mark.parametrize("report_first", [True, False], ids=["report-then-sample", "sample-then-report"])
def test_an_attempt_counts_its_whole_cpu_once_across_samples(tmp_path, report_first):
    """A real attempt (ProcessExecutor): a shell whose child burns CPU before and after a
    sample. Over the samples, the node's CPU seconds add up to what the reap reported, whether
    the end is reported before or after the sample that finds the attempt gone."""
    from poolscale.runtime.service.local.executor import AttemptSpec, ProcessExecutor

    task_dir = tmp_path / "task"
    (task_dir / "wd").mkdir(parents=True)
    (task_dir / "wd" / "burn.py").write_text(BURN_THEN_WAIT)
    ex = ProcessExecutor()
    handle = ex.start(AttemptSpec(f"/bin/sh -c '{PY} burn.py; true'", task_dir, {"PATH": "/usr/bin:/bin"}))
    group = ProcessGroup(handle.pgid, handle.pid, handle.create_time)
    nodes = Nodes(NodeProcesses("tvm-000001", None, True, [group]))
    source = PsutilSampleSource(nodes, cores_per_node=1, network="zero")
    total = 0.0
    wait_for(lambda: (task_dir / "wd" / "ready").exists())
    source.resources(1, 1.0)
    first = source.last_nodes["tvm-000001"]
    assert first.processes == 2 and first.cpu_seconds >= 0.3
    total += first.cpu_seconds
    (task_dir / "wd" / "go").touch()
    result = handle.wait(WAIT)
    assert result.exit_code == 0 and result.cpu_seconds >= 0.5
    nodes.nodes = [NodeProcesses("tvm-000001", None, True, [])]  # the attempt ended
    if report_first:
        source.attempt_ended("tvm-000001", handle.pid, result.cpu_seconds)
    for k in (2, 3):
        source.resources(k, 1.0)
        total += source.last_nodes["tvm-000001"].cpu_seconds
        if not report_first and k == 2:
            source.attempt_ended("tvm-000001", handle.pid, result.cpu_seconds)
    assert total == pytest.approx(result.cpu_seconds, abs=0.02)
    source.resources(4, 1.0)
    assert source.last_nodes["tvm-000001"].cpu_seconds == 0.0


def _loopback_traffic(n: int) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    got = []

    def serve():
        conn, _ = server.accept()
        with conn:
            total = 0
            while total < n:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                total += len(chunk)
            got.append(total)

    t = threading.Thread(target=serve)
    t.start()
    with socket.create_connection(server.getsockname()) as c:
        c.sendall(b"n" * n)
    t.join(WAIT)
    server.close()
    assert got == [n]


def test_host_network_is_split_by_running_attempts(groups):
    a = [groups.start(["sleep", "30"]) for _ in range(2)]
    b = [groups.start(["sleep", "30"])]
    nodes = Nodes(NodeProcesses("tvm-000001", None, True, a),
                  NodeProcesses("tvm-000002", None, True, b),
                  NodeProcesses("tvm-000003", None, True, []))
    source = PsutilSampleSource(nodes, cores_per_node=1)
    source.resources(1, 1.0)
    _loopback_traffic(2_000_000)
    io = source.resources(2, 1.0)[3]
    s1, s2, s3 = (source.last_nodes[f"tvm-00000{i}"].io for i in (1, 2, 3))
    assert io[4] >= 2_000_000 and io[5] >= 2_000_000   # loopback: received and sent
    for i in (4, 5):
        assert s1[i] == pytest.approx(2 * s2[i], rel=1e-12)
        assert s3[i] == 0.0
        assert io[i] == pytest.approx(s1[i] + s2[i], rel=1e-12)


def test_network_zero_reports_no_traffic(groups):
    nodes = Nodes(NodeProcesses("tvm-000001", None, True, [groups.start(["sleep", "30"])]))
    source = PsutilSampleSource(nodes, cores_per_node=1, network="zero")
    source.resources(1, 1.0)
    _loopback_traffic(1_000_000)
    assert source.resources(2, 1.0)[3][4:] == (0.0, 0.0)


def test_cost_per_call_with_8_nodes_of_4_attempts(groups, tmp_path):
    """Measured, and bounded generously: the call runs on the engine thread once per period."""
    nodes = []
    for n in range(1, 9):
        root = tmp_path / f"tvm-{n:06}"
        (root / "workitems").mkdir(parents=True)
        nodes.append(NodeProcesses(f"tvm-{n:06}", root, True,
                                   [groups.start(["sleep", "30"]) for _ in range(4)]))
    source = PsutilSampleSource(Nodes(*nodes), cores_per_node=2)
    costs = []
    for k in range(1, 8):
        source.resources(k, 1.0)
        costs.append(source.last_cost)
    assert sum(s.processes for s in source.last_nodes.values()) == 32
    median = statistics.median(costs[1:])
    print(f"PsutilSampleSource.resources: 8 nodes x 4 processes, median {median * 1e3:.2f} ms "
          f"per call ({len(psutil.pids())} processes on the host)")
    assert median < 0.25
