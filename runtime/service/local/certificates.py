"""Certificates as files on a local node: what ``$AZ_BATCH_CERTIFICATES_DIR`` holds.

On a Linux node of Azure Batch every task (the start task too) finds the certificates its pool
references in ``certs/`` of its task directory, named ``sha1-<thumbprint>.cer``, or
``sha1-<thumbprint>.pfx`` with the password in ``sha1-<thumbprint>.pfx.pw``
(docs/serve.md#certificates). Here they are written before each process starts, so a task never
runs without them and a directory wiped between attempts gets them back.

Why the checks: a task may have replaced ``certs`` or a file in it by a symbolic link (tasks run
as the user who started poolscale); a link is never followed, so the private material of a pfx
is written only inside the task's own directory, with mode 0600.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterable

__all__ = ["install_certificates"]

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def install_certificates(directory: Path, files: Iterable[tuple[str, bytes, int]]) -> None:
    """Write ``files`` (``(name, bytes, mode)``) into ``directory``, made if missing (with its
    parent, the task directory). ``OSError`` for a link where the directory or a file goes, or
    any failure to write: the caller fails the process's start."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(directory).st_mode):
            raise NotADirectoryError(f"{directory} is not a directory") from None
    for name, data, mode in files:
        fd = os.open(directory / name, _FLAGS, mode)
        try:
            os.fchmod(fd, mode)             # the file may have been there with another mode
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
