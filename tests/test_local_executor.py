"""ProcessExecutor (runtime/service/local/executor.py) with real processes.

Every test asserts exact exit codes and files. Nothing asserts how fast a process ends: waits
have generous timeouts (a loaded 2-core CI machine), and a test is fast because its processes
are (`/bin/true`, `sh -c`), or because the kill grace is short.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from poolscale.runtime.service.local.executor import (
    WALLCLOCK_EXIT_CODE,
    AttemptSpec,
    ProcessExecutor,
    split_command_line,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="process groups are POSIX")

WAIT = 15.0  # generous: a failure shows up as a timeout, never as flakiness


def make_task(tmp_path: Path, name: str = "t1") -> Path:
    task_dir = tmp_path / name
    (task_dir / "wd").mkdir(parents=True)
    return task_dir


def env(marker: str = "", **extra: str) -> dict[str, str]:
    out = {"PATH": "/usr/bin:/bin", **extra}
    if marker:
        out["POOLSCALE_ATTEMPT"] = marker
    return out


def processes_with_marker(marker: str) -> list[psutil.Process]:
    """Every live (non-zombie) process carrying the marker, wherever it was reparented."""
    found = []
    for p in psutil.process_iter(["status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if p.environ().get("POOLSCALE_ATTEMPT") == marker:
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def wait_for(predicate, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def run(tmp_path: Path, command_line: str, **kw) -> tuple[Path, object]:
    task_dir = make_task(tmp_path)
    handle = ProcessExecutor().start(AttemptSpec(command_line, task_dir, env(**kw)))
    result = handle.wait(WAIT)
    assert result is not None, "no report"
    return task_dir, result


def test_true_exits_zero_with_empty_outputs(tmp_path):
    task_dir, result = run(tmp_path, "/bin/true")
    assert (result.exit_code, result.failure, result.killed) == (0, None, None)
    assert (task_dir / "stdout.txt").read_bytes() == b""
    assert (task_dir / "stderr.txt").read_bytes() == b""
    assert result.start_time is not None and result.end_time >= result.start_time


def test_outputs_in_task_dir_and_cwd_is_wd(tmp_path):
    task_dir, result = run(tmp_path, "/bin/sh -c 'pwd; echo err >&2; echo made > here.txt; exit 3'")
    assert result.exit_code == 3
    assert result.failure is None  # a non-zero exit is the engine's business (retries), not a start failure
    assert (task_dir / "stdout.txt").read_text() == f"{task_dir / 'wd'}\n"
    assert (task_dir / "stderr.txt").read_text() == "err\n"
    assert (task_dir / "wd" / "here.txt").read_text() == "made\n"
    assert not (task_dir / "wd" / "stdout.txt").exists()


def test_no_shell_posix_word_rules(tmp_path):
    # Quotes group words; $HOME, > and ; are plain characters, since there is no shell.
    task_dir, result = run(tmp_path, """printf '%s|' "a b" 'c  d' $HOME '>' x\\ y ';'""", HOME="/nowhere")
    assert result.exit_code == 0
    assert (task_dir / "stdout.txt").read_text() == "a b|c  d|$HOME|>|x y|;|"


def test_program_found_on_the_tasks_path(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "mytool"
    tool.write_text("#!/bin/sh\necho mine\n")
    tool.chmod(0o755)
    task_dir, result = run(tmp_path, "mytool", PATH=f"{bindir}:/usr/bin:/bin")
    assert result.exit_code == 0
    assert (task_dir / "stdout.txt").read_text() == "mine\n"


def test_relative_program_is_relative_to_wd(tmp_path):
    task_dir = make_task(tmp_path)
    script = task_dir / "wd" / "run.sh"
    script.write_text("#!/bin/sh\nexit 7\n")
    script.chmod(0o755)
    result = ProcessExecutor().start(AttemptSpec("./run.sh", task_dir, env())).wait(WAIT)
    assert result is not None and result.exit_code == 7


@pytest.mark.parametrize("command_line", [
    "no-such-program-poolscale --flag",
    "/nonexistent/dir/prog",
    "./missing.sh",
    "'unbalanced",
    "   ",
])
def test_start_failure_is_command_program_not_found(tmp_path, command_line):
    reports = []
    task_dir = make_task(tmp_path)
    ex = ProcessExecutor(on_exit=lambda h, r: reports.append((h, r)))
    handle = ex.start(AttemptSpec(command_line, task_dir, env()))
    # Reported synchronously, exactly once, with no exit code and no process.
    assert len(reports) == 1 and reports[0][0] is handle
    result = reports[0][1]
    assert result.exit_code is None and handle.pid is None and result.start_time is None
    assert result.cpu_seconds is None
    assert result.failure.pair == ("usererror", "CommandProgramNotFound")
    assert result.failure.message  # says which: not found, or the line does not split
    assert ex.kill(handle) is False


def test_not_executable_is_a_start_failure(tmp_path):
    task_dir = make_task(tmp_path)
    (task_dir / "wd" / "data.txt").write_text("x")
    result = ProcessExecutor().start(AttemptSpec("./data.txt", task_dir, env())).wait(WAIT)
    assert result.exit_code is None and result.failure.code == "CommandProgramNotFound"


def test_task_directory_made_if_missing(tmp_path):
    task_dir = tmp_path / "workitems" / "j" / "job-1" / "t"
    result = ProcessExecutor().start(AttemptSpec("/bin/sh -c 'echo ok'", task_dir, env())).wait(WAIT)
    assert result.exit_code == 0
    assert (task_dir / "stdout.txt").read_text() == "ok\n" and (task_dir / "wd").is_dir()


def test_a_task_directory_that_cannot_be_made_is_a_start_failure(tmp_path):
    task_dir = tmp_path / "t"
    task_dir.mkdir()
    (task_dir / "wd").write_text("a file where the working directory goes")
    result = ProcessExecutor().start(AttemptSpec("/bin/true", task_dir, env())).wait(WAIT)
    assert (result.exit_code, result.failure.pair) == (None, ("usererror", "CommandProgramNotFound"))
    assert result.failure.message == f"cannot make the task directory: File exists: {task_dir / 'wd'}"


def test_an_output_file_that_cannot_be_opened_is_a_start_failure(tmp_path):
    task_dir = make_task(tmp_path)
    (task_dir / "stderr.txt").mkdir()
    result = ProcessExecutor().start(AttemptSpec("/bin/true", task_dir, env())).wait(WAIT)
    assert (result.exit_code, result.failure.pair) == (None, ("usererror", "CommandProgramNotFound"))
    assert result.failure.message == \
        f"cannot open the output files: Is a directory: {task_dir / 'stderr.txt'}"


def test_each_attempt_truncates_outputs(tmp_path):
    task_dir = make_task(tmp_path)
    ex = ProcessExecutor()
    ex.start(AttemptSpec("/bin/sh -c 'echo first-attempt-long-line'", task_dir, env())).wait(WAIT)
    ex.start(AttemptSpec("/bin/sh -c 'echo 2'", task_dir, env())).wait(WAIT)
    assert (task_dir / "stdout.txt").read_text() == "2\n"


def test_signal_death_is_128_plus_n(tmp_path):
    _, result = run(tmp_path, "/bin/sh -c 'kill -USR1 $$'")
    assert result.exit_code == 128 + signal.SIGUSR1
    assert result.killed is None


def test_own_process_group_and_session(tmp_path):
    task_dir = make_task(tmp_path)
    handle = ProcessExecutor().start(AttemptSpec("/bin/sh -c 'ps -o pgid= -o sid= -p $$'", task_dir, env()))
    assert handle.wait(WAIT).exit_code == 0
    pgid, sid = (task_dir / "stdout.txt").read_text().split()
    assert int(pgid) == int(sid) == handle.pid == handle.pgid != os.getpgid(0)


def test_identity_for_recovery(tmp_path):
    # (pid, create_time) as psutil reports it for the live leader: what recovery compares.
    marker = f"t-{uuid.uuid4()}"
    ex = ProcessExecutor(kill_grace=5.0)
    spec = AttemptSpec("sleep 60", make_task(tmp_path), env(marker), uid=marker)
    handle = ex.start(spec)
    assert handle.spec.uid == marker
    assert handle.create_time == psutil.Process(handle.pid).create_time()
    assert psutil.Process(handle.pid).environ()["POOLSCALE_ATTEMPT"] == marker
    ex.close(WAIT)


def test_on_exit_called_once_from_the_reaper(tmp_path):
    calls = []
    done = threading.Event()

    def on_exit(h, r):
        calls.append((h, r, threading.current_thread().name))
        done.set()

    handle = ProcessExecutor(on_exit=on_exit).start(AttemptSpec("/bin/sh -c 'exit 5'", make_task(tmp_path), env()))
    assert done.wait(WAIT)
    handle.wait(WAIT)
    assert len(calls) == 1
    h, r, thread = calls[0]
    assert h is handle and r.exit_code == 5
    assert thread in ("poolscale-reaper", f"reap-{handle.pid}")  # pidfd reaper, or the fallback


def test_kill_leaves_no_process(tmp_path):
    # A leader with a background child and a grandchild: SIGTERM to the group ends all three.
    marker = f"t-{uuid.uuid4()}"
    task_dir = make_task(tmp_path)
    ex = ProcessExecutor(kill_grace=5.0)
    handle = ex.start(AttemptSpec("/bin/sh -c 'sleep 60 & /bin/sh -c \"sleep 60\" & sleep 60'",
                                  task_dir, env(marker)))
    assert wait_for(lambda: len(processes_with_marker(marker)) >= 4)  # sh, sleep, sh, sleep
    assert ex.kill(handle) is True
    result = handle.wait(WAIT)
    assert result is not None and result.killed == "kill"
    assert result.exit_code == 128 + signal.SIGTERM
    assert processes_with_marker(marker) == []
    assert ex.running() == []


def test_kill_escalates_to_sigkill_after_grace(tmp_path):
    # The whole group ignores SIGTERM; only the SIGKILL after the grace ends it.
    marker = f"t-{uuid.uuid4()}"
    task_dir = make_task(tmp_path)
    ex = ProcessExecutor(kill_grace=0.3)
    handle = ex.start(AttemptSpec("/bin/sh -c 'trap \"\" TERM; sleep 60 & sleep 60; sleep 60'", task_dir, env(marker)))
    assert wait_for(lambda: len(processes_with_marker(marker)) >= 3)
    ex.kill(handle)
    result = handle.wait(WAIT)
    assert result is not None and result.exit_code == 128 + signal.SIGKILL
    assert processes_with_marker(marker) == []


def test_kill_reaches_members_left_when_the_leader_exits_on_term(tmp_path):
    # The leader dies on SIGTERM at once; a member ignoring SIGTERM outlives it. The report
    # waits until the SIGKILL after the grace has ended that member too.
    marker = f"t-{uuid.uuid4()}"
    task_dir = make_task(tmp_path)
    ex = ProcessExecutor(kill_grace=0.3)
    handle = ex.start(AttemptSpec("/bin/sh -c '/bin/sh -c \"trap \\\"\\\" TERM; sleep 60\" & sleep 60'",
                                  task_dir, env(marker)))
    assert wait_for(lambda: len(processes_with_marker(marker)) >= 4)
    ex.kill(handle)
    result = handle.wait(WAIT)
    assert result is not None and result.killed == "kill"
    assert processes_with_marker(marker) == []


def test_wallclock_kill_reports_0xC000013A(tmp_path):
    marker = f"t-{uuid.uuid4()}"
    task_dir = make_task(tmp_path)
    ex = ProcessExecutor(kill_grace=5.0)
    handle = ex.start(AttemptSpec("sleep 60", task_dir, env(marker)))
    assert wait_for(lambda: len(processes_with_marker(marker)) == 1)
    assert ex.kill(handle, reason="wallclock") is True
    result = handle.wait(WAIT)
    assert result.exit_code == WALLCLOCK_EXIT_CODE == -1073741510
    assert result.exit_code & 0xFFFFFFFF == 0xC000013A
    assert result.killed == "wallclock"
    assert processes_with_marker(marker) == []


def test_kill_after_exit_is_a_no_op(tmp_path):
    ex = ProcessExecutor()
    handle = ex.start(AttemptSpec("/bin/true", make_task(tmp_path), env()))
    assert handle.wait(WAIT).exit_code == 0
    assert ex.kill(handle) is False
    assert handle.result.exit_code == 0 and handle.result.killed is None


def test_end_group_ends_members_left_behind_by_a_leader_that_exited(tmp_path):
    # A coordination command starts a service in the background and exits 0; the service stays
    # in the attempt's process group until end_group, even when it ignores SIGTERM.
    marker = f"t-{uuid.uuid4()}"
    ex = ProcessExecutor(kill_grace=0.3)
    handle = ex.start(AttemptSpec("/bin/sh -c '(trap \"\" TERM; sleep 60) & sleep 60 & exit 0'",
                                  make_task(tmp_path), env(marker)))
    assert handle.wait(WAIT).exit_code == 0
    assert wait_for(lambda: len(processes_with_marker(marker)) >= 2)
    assert ex.kill(handle) is False                     # the attempt itself has ended
    assert ex.end_group(handle) is True
    assert wait_for(lambda: processes_with_marker(marker) == [])
    assert ex.end_group(handle) is False                # nothing left to signal


def test_end_group_of_a_running_attempt_kills_it(tmp_path):
    marker = f"t-{uuid.uuid4()}"
    ex = ProcessExecutor(kill_grace=5.0)
    handle = ex.start(AttemptSpec("sleep 60", make_task(tmp_path), env(marker)))
    assert wait_for(lambda: len(processes_with_marker(marker)) == 1)
    assert ex.end_group(handle) is True
    result = handle.wait(WAIT)
    assert result.killed == "kill" and result.exit_code == 128 + signal.SIGTERM
    assert processes_with_marker(marker) == []


def test_kill_twice_reports_once(tmp_path):
    calls = []
    # SIGTERM is ignored (and the ignore inherited by sleep), so the attempt is surely still
    # running at the second kill; the SIGKILL after the grace ends it.
    ex = ProcessExecutor(on_exit=lambda h, r: calls.append(r), kill_grace=0.3)
    marker = f"t-{uuid.uuid4()}"
    handle = ex.start(AttemptSpec("/bin/sh -c 'trap \"\" TERM; sleep 60'", make_task(tmp_path), env(marker)))
    assert wait_for(lambda: len(processes_with_marker(marker)) == 2)  # sleep started: the trap is set
    assert ex.kill(handle) is True
    assert ex.kill(handle, reason="wallclock") is True  # still running: the first reason stands
    handle.wait(WAIT)
    assert wait_for(lambda: len(calls) == 1)
    assert calls[0].killed == "kill" and calls[0].exit_code == 128 + signal.SIGKILL
    with pytest.raises(ValueError):
        ex.kill(handle, reason="other")


def test_close_kills_everything(tmp_path):
    marker = f"t-{uuid.uuid4()}"
    ex = ProcessExecutor(kill_grace=5.0)
    handles = [ex.start(AttemptSpec("sleep 60", make_task(tmp_path, f"t{i}"), env(marker))) for i in range(3)]
    assert wait_for(lambda: len(processes_with_marker(marker)) == 3)
    ex.close(WAIT)
    assert all(h.result is not None and h.result.killed == "kill" for h in handles)
    assert processes_with_marker(marker) == []


def test_many_concurrent_attempts_each_reported_once(tmp_path):
    reports = []
    lock = threading.Lock()

    def on_exit(h, r):
        with lock:
            reports.append((h, r.exit_code))

    ex = ProcessExecutor(on_exit=on_exit)
    handles = [ex.start(AttemptSpec(f"/bin/sh -c 'exit {i}'", make_task(tmp_path, f"t{i}"), env())) for i in range(16)]
    for h in handles:
        h.wait(WAIT)
    assert wait_for(lambda: len(reports) == 16)
    assert sorted(code for _, code in reports) == list(range(16))
    assert {id(h) for h, _ in reports} == {id(h) for h in handles}


def test_split_command_line():
    assert split_command_line("a 'b c' \"d\\\"e\"") == ["a", "b c", 'd"e']
    with pytest.raises(ValueError):
        split_command_line("")
    with pytest.raises(ValueError):
        split_command_line("'x")


def test_thread_per_attempt_fallback(tmp_path):
    # macOS and kernels without pidfd_open take this path; force it here.
    marker = f"t-{uuid.uuid4()}"
    ex = ProcessExecutor(kill_grace=5.0)
    ex._use_pidfd = False
    done = ex.start(AttemptSpec("/bin/sh -c 'exit 4'", make_task(tmp_path, "a"), env()))
    assert done.wait(WAIT).exit_code == 4
    handle = ex.start(AttemptSpec("/bin/sh -c 'sleep 60 & sleep 60'", make_task(tmp_path, "b"), env(marker)))
    assert wait_for(lambda: len(processes_with_marker(marker)) >= 3)
    ex.kill(handle, reason="wallclock")
    assert handle.wait(WAIT).exit_code == WALLCLOCK_EXIT_CODE
    assert processes_with_marker(marker) == []


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "thread"])
def test_cpu_seconds_of_the_attempt_to_its_end_children_included(tmp_path, pidfd):
    # The leader is a shell; the CPU is burnt by a child it waits for. Nobody can read the
    # attempt's processes once they are reaped: the reap itself reports what they used.
    task_dir = make_task(tmp_path)
    (task_dir / "wd" / "burn.py").write_text(
        "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n")
    ex = ProcessExecutor()
    ex._use_pidfd = pidfd and ex._use_pidfd
    handle = ex.start(AttemptSpec(f"/bin/sh -c '{sys.executable} burn.py; exit 3'", task_dir, env()))
    result = handle.wait(WAIT)
    assert result.exit_code == 3
    assert 0.3 <= result.cpu_seconds < 5.0
    assert handle._proc.wait() == 3  # Popen keeps the code it would have read itself


def test_a_failing_callback_does_not_stop_later_reports(tmp_path):
    seen = []

    def on_exit(h, r):
        seen.append(r.exit_code)
        if r.exit_code == 1:
            raise RuntimeError("engine bug")

    ex = ProcessExecutor(on_exit=on_exit)
    first = ex.start(AttemptSpec("/bin/sh -c 'exit 1'", make_task(tmp_path, "a"), env()))
    first.wait(WAIT)
    assert wait_for(lambda: seen == [1])
    second = ex.start(AttemptSpec("/bin/sh -c 'exit 2'", make_task(tmp_path, "b"), env()))
    assert second.wait(WAIT).exit_code == 2
    assert wait_for(lambda: seen == [1, 2])
    ex.close()


def test_wallclock_code_whatever_the_process_does_on_term(tmp_path):
    # The task ignores SIGTERM and dies by the SIGKILL after the grace: still 0xC000013A.
    marker = f"t-{uuid.uuid4()}"
    ex = ProcessExecutor(kill_grace=0.3)
    handle = ex.start(AttemptSpec("/bin/sh -c 'trap \"\" TERM; sleep 60'", make_task(tmp_path), env(marker)))
    assert wait_for(lambda: len(processes_with_marker(marker)) == 2)
    ex.kill(handle, reason="wallclock")
    result = handle.wait(WAIT)
    assert (result.exit_code, result.killed) == (WALLCLOCK_EXIT_CODE, "wallclock")
    assert processes_with_marker(marker) == []


def test_the_create_time_is_psutils(tmp_path):
    # recovery compares the stored create time with psutil's: the fast reading must equal it
    import psutil

    from poolscale.runtime.service.local.executor import _create_time

    task_dir = make_task(tmp_path)
    ex = ProcessExecutor()
    handle = ex.start(AttemptSpec("/bin/sh -c 'sleep 5'", task_dir, env(f"t-{uuid.uuid4()}")))
    try:
        assert handle.create_time == pytest.approx(psutil.Process(handle.pid).create_time(), abs=1e-6)
        assert _create_time(handle.pid) == handle.create_time
    finally:
        ex.kill(handle)
        handle.wait(WAIT)
