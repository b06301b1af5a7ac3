"""A disk that fails under the code being tested: full after N bytes, or Ctrl-C mid-write.

Use it as ``with FaultyDisk(tmp_path, free=4096): ...``. A real full file system needs a mount
(see the tmpfs test in test_write_safety.py); this fake works anywhere. Every file opened for writing under ``root`` - by ``open()``, ``io.open()``,
``os.fdopen()`` or ``Path.write_text()``, and so by csv, json, matplotlib and Pillow alike - gets
a raw file whose ``write`` stores bytes until the disk's ``free`` bytes are used, and then fails
with ``OSError(ENOSPC)`` (or another ``errno``), as a full disk does; or, with
``interrupt_after``, raises ``KeyboardInterrupt`` once that many bytes are written, as Ctrl-C
arriving mid-write does. Bytes really reach the file, so a cut file is left cut, as it would be.
"""

from __future__ import annotations

import builtins
import errno
import io
import os


class FaultyDisk:
    def __init__(self, root, *, free: int | None = None, error: int = errno.ENOSPC,
                 interrupt_after: int | None = None) -> None:
        self.root = os.path.realpath(root)
        self.free = free
        self.error = error
        self.interrupt_after = interrupt_after
        self.written = 0

    def covers(self, file) -> bool:
        if isinstance(file, int):
            path = os.readlink(f"/proc/self/fd/{file}")
        else:
            path = os.path.realpath(os.fspath(file))
        return path == self.root or path.startswith(self.root + os.sep)

    def __enter__(self) -> "FaultyDisk":
        """Install the faults until the ``with`` block ends."""
        real_open = io.open

        def faulty_open(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None,
                        closefd=True, opener=None):
            if not set(mode) & set("wax+") or not self.covers(file):
                return real_open(file, mode, buffering, encoding, errors, newline, closefd, opener)
            raw = _FaultyFile(self, file, mode.replace("t", ""), closefd=closefd, opener=opener)
            if buffering == 0:
                return raw
            buffered = (io.BufferedRandom if "+" in mode else io.BufferedWriter)(raw)
            if "b" in mode:
                return buffered
            text = io.TextIOWrapper(buffered, encoding=io.text_encoding(encoding), errors=errors,
                                    newline=newline, line_buffering=buffering == 1)
            text.mode = mode
            return text

        self._saved = builtins.open, io.open
        builtins.open = io.open = faulty_open
        return self

    def __exit__(self, *exc) -> None:
        builtins.open, io.open = self._saved


class _FaultyFile(io.FileIO):
    def __init__(self, disk: FaultyDisk, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.disk = disk

    def write(self, b) -> int:
        disk = self.disk
        data = memoryview(b).cast("B")
        if disk.interrupt_after is not None and disk.written + len(data) > disk.interrupt_after:
            cut = max(disk.interrupt_after - disk.written, 0)
            disk.written += super().write(data[:cut])
            disk.interrupt_after = None  # one Ctrl-C
            raise KeyboardInterrupt
        if disk.free is not None:
            room = disk.free - disk.written
            if room <= 0:
                raise OSError(disk.error, os.strerror(disk.error))
            data = data[:room]
        n = super().write(data)
        disk.written += n
        return n
