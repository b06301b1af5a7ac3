"""runtime/atomicwrite.py: the new content whole, or the old file whole, and nothing else left."""

from __future__ import annotations

import errno
import os
import signal
import stat
import threading

import pytest

from faultydisk import FaultyDisk
from poolscale.runtime.atomicwrite import atomic_path, atomic_write

OLD = "old content\n" * 100


@pytest.fixture
def old(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text(OLD)
    path.chmod(0o644)
    return path


def listing(directory) -> list[str]:
    return sorted(os.listdir(directory))


def test_replaces_the_content(old):
    with atomic_write(old) as f:
        f.write("new\n")
    assert old.read_text() == "new\n"
    assert listing(old.parent) == ["data.txt"]


def test_binary_and_newline_options(tmp_path):
    path = tmp_path / "b.bin"
    with atomic_write(path, "wb") as f:
        f.write(b"\x00\x01")
    with atomic_write(tmp_path / "crlf.txt", newline="\r\n") as f:
        f.write("a\n")
    assert path.read_bytes() == b"\x00\x01"
    assert (tmp_path / "crlf.txt").read_bytes() == b"a\r\n"
    with pytest.raises(ValueError, match="mode must be 'w' or 'wb'"):
        with atomic_write(path, "a"):
            pass


@pytest.mark.parametrize("fault", [OSError(errno.EIO, "Input/output error"), KeyboardInterrupt(),
                                   SystemExit(143)])
def test_a_failure_in_the_block_leaves_the_old_file_and_no_temporary(old, fault):
    with pytest.raises(type(fault)):
        with atomic_write(old) as f:
            f.write("half of the new")
            f.flush()  # the bytes are on disk, in the temporary file
            assert len(listing(old.parent)) == 2
            raise fault
    assert old.read_text() == OLD
    assert listing(old.parent) == ["data.txt"]


def test_a_full_disk_leaves_the_old_file_and_no_temporary(old):
    with FaultyDisk(old.parent, free=4096):
        with pytest.raises(OSError) as e:
            with atomic_write(old) as f:
                f.write("x" * 10_000)
        assert e.value.errno == errno.ENOSPC
    assert old.read_text() == OLD
    assert listing(old.parent) == ["data.txt"]


def test_a_failing_fsync_leaves_the_old_file(old, monkeypatch):
    def fsync(fd):
        raise OSError(errno.EIO, "Input/output error")
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError, match="Input/output error"):
        with atomic_write(old) as f:
            f.write("new\n")
    assert old.read_text() == OLD
    assert listing(old.parent) == ["data.txt"]


def test_the_file_and_then_its_directory_are_synced(old, monkeypatch):
    synced = []
    real = os.fsync

    def fsync(fd):
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    with atomic_write(old) as f:
        f.write("new\n")
    with atomic_path(old) as temp:
        with open(temp, "w") as f:
            f.write("newer\n")
    assert synced == ["file", "dir", "file", "dir"]
    assert old.read_text() == "newer\n"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600, 0o755])
def test_the_mode_of_the_replaced_file_is_kept(old, mode):
    old.chmod(mode)
    with atomic_write(old) as f:
        f.write("new\n")
    assert stat.S_IMODE(old.stat().st_mode) == mode
    with atomic_path(old) as temp:
        with open(temp, "w") as f:  # a writer that reopens the path keeps the mode too
            f.write("newer\n")
    assert stat.S_IMODE(old.stat().st_mode) == mode


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="only root may give a file to another user")
def test_the_owner_of_the_replaced_file_is_kept_where_allowed(old):
    os.chown(old, 65534, 65534)
    with atomic_write(old) as f:
        f.write("new\n")
    assert (old.stat().st_uid, old.stat().st_gid) == (65534, 65534)


def test_a_new_file_gets_the_mode_open_gives_it(tmp_path):
    umask = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "new.txt") as f:
            f.write("x")
        os.umask(0o077)
        with atomic_write(tmp_path / "private.txt") as f:
            f.write("x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o644  # not mkstemp's 0600
    assert stat.S_IMODE((tmp_path / "private.txt").stat().st_mode) == 0o600


def test_a_symlink_is_followed_and_stays_a_link(old):
    link = old.parent / "link.txt"
    link.symlink_to(old.name)
    with atomic_write(link) as f:
        f.write("through the link\n")
    assert link.is_symlink() and os.readlink(link) == old.name
    assert old.read_text() == "through the link\n"
    assert listing(old.parent) == ["data.txt", "link.txt"]


def test_a_symlink_to_another_directory_writes_there(tmp_path):
    there = tmp_path / "there"
    there.mkdir()
    (there / "real.txt").write_text(OLD)
    here = tmp_path / "here"
    here.mkdir()
    (here / "link.txt").symlink_to(there / "real.txt")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(here / "link.txt") as f:
            f.write("new")
            # the temporary file is beside the target, not the link
            assert len(listing(there)) == 2 and listing(here) == ["link.txt"]
            raise KeyboardInterrupt
    assert (there / "real.txt").read_text() == OLD and listing(there) == ["real.txt"]
    with atomic_write(here / "link.txt") as f:
        f.write("new")
    assert (there / "real.txt").read_text() == "new" and (here / "link.txt").is_symlink()


def test_a_file_it_may_not_write_is_refused_as_open_refuses_it(old, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, how: False)  # root may write anything
    with pytest.raises(PermissionError):
        with atomic_write(old) as f:
            f.write("new\n")
    assert old.read_text() == OLD and listing(old.parent) == ["data.txt"]


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError):
        with atomic_write(tmp_path):
            pass


def test_a_missing_directory_is_the_error_open_gives(tmp_path):
    with pytest.raises(FileNotFoundError):
        with atomic_write(tmp_path / "no" / "such.txt"):
            pass


def test_a_named_pipe_is_written_directly(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo).read()))
    reader.start()
    with atomic_write(fifo) as f:
        f.write("through the pipe\n")
    reader.join(5)
    assert got == ["through the pipe\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still a pipe, not replaced by a file
    assert listing(tmp_path) == ["pipe"]


def test_on_commit_runs_once_the_file_is_in_place(old):
    seen = []
    with atomic_write(old, on_commit=lambda: seen.append(old.read_text())) as f:
        f.write("new\n")
        assert seen == []
    assert seen == ["new\n"]
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(old, on_commit=lambda: seen.append("no")) as f:
            raise KeyboardInterrupt
    assert seen == ["new\n"]


def test_ctrl_c_during_the_rename_is_held_until_the_file_is_in_place(old):
    """SIGINT arriving while the file is being put in place does not cut that step: the new
    file is in place and counted, and the interrupt is raised after."""
    seen = []

    def commit():
        os.kill(os.getpid(), signal.SIGINT)  # delivered now, were it not held
        seen.append("committed")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(old, on_commit=commit) as f:
            f.write("new\n")
    assert seen == ["committed"]
    assert old.read_text() == "new\n" and listing(old.parent) == ["data.txt"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_atomic_path_for_a_writer_that_wants_a_path(old):
    with atomic_path(old) as temp:
        assert os.path.dirname(temp) == str(old.parent) and temp.endswith(".tmp")
        with open(temp, "w") as f:
            f.write("by path\n")
    assert old.read_text() == "by path\n" and listing(old.parent) == ["data.txt"]
    with pytest.raises(OSError):
        with atomic_path(old) as temp:
            with open(temp, "w") as f:
                f.write("half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert old.read_text() == "by path\n" and listing(old.parent) == ["data.txt"]


@pytest.mark.parametrize("name", ["n" * 250, "\u00e9" * 127, "\U0001f600" * 63],
                         ids=["ascii", "two-byte", "four-byte"])
def test_a_long_name_still_has_room_for_its_temporary(tmp_path, name):
    path = tmp_path / name  # up to 255 bytes of UTF-8
    with atomic_write(path) as f:
        f.write("x")
    assert path.read_text() == "x"


def test_works_outside_the_main_thread(old):
    errors = []

    def write():
        try:
            with atomic_write(old) as f:
                f.write("from a thread\n")
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
    t = threading.Thread(target=write)
    t.start()
    t.join()
    assert errors == [] and old.read_text() == "from a thread\n"
