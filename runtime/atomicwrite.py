"""Write a file so that no failure can destroy it: all of the new content, or the old file whole.

Opening a file with ``open(path, "w")`` empties it at once; a full disk, an I/O error or an
interrupt before the last byte then leaves a cut file and the old content gone (``poolscale fmt``
on a full disk once left a formula cut at 4,096 bytes). Here the new content goes to a temporary
file in the same directory, which is flushed and ``fsync``-ed and only then renamed over the
target (``os.replace``, atomic within one file system), and the directory is synced so that the
rename itself survives a crash where the platform allows. On any failure or interrupt
(``KeyboardInterrupt``, or ``SystemExit`` from a signal handler) the temporary file is removed
and the exception goes on: the old file is whole and nothing new or partial is left behind.

Two ways in, for the two kinds of writer:

* :func:`atomic_write` yields an open file object, text or binary, for code that writes to one:
  ``json``/``csv`` writers, ``fig.savefig(f, format="png")``, ``frame.to_csv(f)``;
* :func:`atomic_path` yields the path of the temporary file, for a library that insists on
  opening a path itself; what it leaves at that path is put in place the same way.

What replacing means for the file that was there:

* its permission bits are kept (and its owner and group where the process may set them), so a
  0644 formula stays 0644; a new file gets the mode ``open()`` would give it (0666 less the
  umask), not the 0600 of :func:`tempfile.mkstemp`;
* a file the process may not write is refused (``PermissionError``) as ``open()`` refuses it,
  even though its directory would allow replacing it;
* a symbolic link is followed: the file it points to is replaced and the link stays a link
  (as writing through the link with ``open()`` did). The temporary file goes beside the target,
  on its file system;
* a path that is not a regular file (a named pipe, a device), or any path under ``/dev`` or
  ``/proc`` (``/dev/stdout``, ``/dev/fd/3``), is written directly, since there is no file to
  replace;
* the new file is a new inode: other hard links to the old file keep the old content.

A writer killed outright (``SIGKILL``, power loss) can leave a temporary file, named
``.NAME.XXXXXXXX.tmp`` beside the target, never a cut target. Interrupts that arrive while the
file is being renamed into place, or while a failed write is being cleaned up, are held until
that step is done (in the main thread, where Python delivers signals), so the step is never cut
in half.

This module does I/O, so it lives in ``runtime``; the core packages never write files.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import threading
from typing import IO, Any, Callable, Iterator

__all__ = ["atomic_write", "atomic_path", "temporary_name"]

#: how many characters of the target's name its temporary file repeats: a name is at most 255
#: bytes, and 50 characters are at most 200 bytes of UTF-8, leaving room for the rest
_NAME_KEPT = 50
_SUFFIX = ".tmp"


def temporary_name(target: str) -> str:
    """A fresh name for the temporary file of ``target``: hidden, beside it, ending in ``.tmp``
    (so a directory walk for ``*.formula`` or ``*.csv`` never picks it up)."""
    directory, name = os.path.split(target)
    return os.path.join(directory, f".{name[:_NAME_KEPT]}.{os.urandom(4).hex()}{_SUFFIX}")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", *, encoding: str | None = None,
                 newline: str | None = None,
                 on_commit: Callable[[], object] | None = None) -> Iterator[IO[Any]]:
    """A file object whose content replaces ``path`` when the ``with`` block ends without error.

    ``mode`` is ``"w"`` (text; ``encoding`` defaults to UTF-8, ``newline`` as for ``open()``)
    or ``"wb"``. ``on_commit`` is called once the new file is in place, before an interrupt
    held during the rename is let through, so a caller that records what it has written
    never misses a file that was written.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', not {mode!r}")
    encoding = (encoding or "utf-8") if mode == "w" else None

    def open_file(fd_or_path: int | str) -> IO[Any]:
        return open(fd_or_path, mode, encoding=encoding, newline=newline)

    target = _target(path)
    if target is None:  # not a regular file: nothing to replace, write straight to it
        with open_file(os.fspath(path)) as direct:
            yield direct
        if on_commit is not None:
            on_commit()
        return
    with _replacing(target, open_file, on_commit) as f:
        yield f


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *,
                on_commit: Callable[[], object] | None = None) -> Iterator[str]:
    """The path of a temporary file, beside ``path`` and with its mode, for a writer that opens
    a path itself; whatever is there when the ``with`` block ends without error replaces
    ``path`` (synced first, as :func:`atomic_write` does). ``on_commit`` as there.

    The writer must write to the path it is given (reopening it with ``"w"`` is fine: the
    mode set on the file is kept) and must not rename or remove it.
    """
    target = _target(path)
    if target is None:
        yield os.fspath(path)
        if on_commit is not None:
            on_commit()
        return
    with _replacing(target, None, on_commit) as temp:
        yield temp


# -- the steps ---------------------------------------------------------------------------------

#: where the system names streams rather than files (``/dev/stdout``, ``/dev/fd/3``,
#: ``/proc/self/fd/1``): their links lead to pipes and terminals that cannot be renamed over
_STREAM_DIRECTORIES = ("/dev/", "/proc/")


def _target(path: str | os.PathLike[str]) -> str | None:
    """The file to replace: ``path`` with its symbolic links followed; None for a path to be
    written directly: a stream the system names, or anything that exists and is not a regular
    file (a pipe, a device). A file the process may not write is refused here, as
    ``open(path, "w")`` would refuse it."""
    if os.name == "posix" and os.path.abspath(path).startswith(_STREAM_DIRECTORIES):
        return None
    target = os.path.realpath(path)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fspath(path))
    if not stat.S_ISREG(st.st_mode):
        return None
    if not os.access(target, os.W_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
    return target


def _create_temporary(target: str) -> tuple[int, str]:
    """Create the temporary file of ``target`` (``O_EXCL``: never someone else's file) with the
    mode the target has, or the mode ``open()`` would give a new file. Returns (fd, path)."""
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None
    for _ in range(100):
        temp = temporary_name(target)
        try:
            # 0o666 less the umask, applied by the kernel: what open(path, "w") creates
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of 32 random bits
        raise FileExistsError(errno.EEXIST, "no free temporary file name", target)
    try:
        if st is not None:
            _copy_owner_and_mode(fd, st)
    except BaseException:
        os.close(fd)
        _remove(temp)
        raise
    return fd, temp


def _copy_owner_and_mode(fd: int, st: os.stat_result) -> None:
    if hasattr(os, "fchown") and (st.st_uid, st.st_gid) != _owner(fd):
        with contextlib.suppress(PermissionError):  # not ours to give away: keep the mode at least
            os.fchown(fd, st.st_uid, st.st_gid)
    if hasattr(os, "fchmod"):  # after fchown, which may clear set-id bits
        os.fchmod(fd, stat.S_IMODE(st.st_mode))


def _owner(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_uid, st.st_gid


@contextlib.contextmanager
def _replacing(target: str, open_file: Callable[[int], IO[Any]] | None,
               on_commit: Callable[[], object] | None) -> Iterator[Any]:
    """Create the temporary file of ``target`` and yield it, opened with ``open_file`` (or its
    path when that is None); after the caller's writing, sync it and rename it over ``target``;
    on any exception, remove it. Signals are held while the file is created, renamed or removed,
    so each of those steps is whole and the temporary file is always known."""
    fd, temp, f = -1, None, None
    done = False
    try:
        with _held_signals():
            fd, temp = _create_temporary(target)
            if open_file is not None:
                f = open_file(fd)
            else:
                os.close(fd)
            fd = -1
        yield f if f is not None else temp
        with _held_signals():
            if f is not None:
                f.flush()
                os.fsync(f.fileno())
                f.close()
            else:
                _sync_file(temp)
            os.replace(temp, target)
            done = True
            _sync_directory(os.path.dirname(target))
            if on_commit is not None:
                on_commit()
    finally:
        if not done:
            with _held_signals():
                with contextlib.suppress(OSError):  # the write has failed already
                    if f is not None:
                        f.close()
                    elif fd >= 0:
                        os.close(fd)
                if temp is not None:
                    _remove(temp)


def _sync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_directory(directory: str) -> None:
    """Make the rename durable. Not every platform or file system can open or sync a directory
    (Windows cannot); the file is in place either way, so a refusal here is not an error."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory or ".", flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


#: the signals a command turns into exceptions (SIGINT, and SIGTERM where the CLI catches it)
_HELD = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None))
              if s is not None)


@contextlib.contextmanager
def _held_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the length of the block, then deliver them to the handlers
    that were in place. Keeps a rename or a clean-up from being cut half-way by Ctrl-C. Only the
    main thread can set handlers, and only it runs them, so elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    previous = {}
    try:
        for signum in _HELD:
            if signal.getsignal(signum) is None:  # set outside Python: cannot be put back
                continue
            previous[signum] = signal.signal(signum, lambda s, _frame: arrived.append(s))
    except (ValueError, OSError):  # pragma: no cover - an embedding that forbids handlers
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(arrived):
            signal.raise_signal(signum)
