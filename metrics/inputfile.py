"""Reading an input file whole, never more than its bound.

Every reader of poolscale reads its file in one piece (the formats need the whole text), so
the bound is applied while reading: at most ``limit + 1`` bytes are ever requested, and one
byte over is enough to know the file is too large. That is what keeps ``/dev/zero``,
``/dev/urandom``, a FIFO or a file that grows while it is read from exhausting memory, and a
gzip bomb is inflated only up to the same bound. Errors of the file system (missing, a
directory, no permission) are raised as the ``OSError`` they are; each reader words them.
"""

from __future__ import annotations

import os
from typing import BinaryIO

from .limits import InputLimitError, size_text

__all__ = ["read_file", "read_stream", "inflate", "cannot_read", "not_utf8"]


def cannot_read(path: str, exc: OSError) -> str:
    """The one message for a file that cannot be opened or read, path first as in every other
    file message: ``f.formula: cannot read: No such file or directory``."""
    return f"{path}: cannot read: {exc.strerror or exc}"


def not_utf8(path: str, exc: UnicodeDecodeError) -> str:
    """The one message for a file that is not UTF-8: ``f.formula: not UTF-8 (byte 5)``."""
    return f"{path}: not UTF-8 (byte {exc.start})"


def read_stream(stream: BinaryIO, *, limit: int, source: str, kind: str) -> bytes:
    """All of ``stream`` (standard input, an open file), or InputLimitError past ``limit``."""
    chunks, size = [], 0
    while size <= limit:
        chunk = stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    data = b"".join(chunks)
    if len(data) > limit:
        raise _too_large(source, limit, kind)
    return data


def read_file(path: str | os.PathLike, *, limit: int, kind: str) -> bytes:
    """The bytes of the file at ``path``, or InputLimitError past ``limit``."""
    name = os.fspath(path)
    with open(name, "rb") as f:
        return read_stream(f, limit=limit, source=name, kind=kind)


def inflate(data: bytes, *, limit: int, source: str, kind: str) -> bytes:
    """The content of gzip ``data`` (every member), at most ``limit`` bytes of it.

    Raises EOFError for a truncated stream and ``gzip.BadGzipFile``/``zlib.error`` (OSError)
    for a damaged one, as :func:`gzip.decompress` does.
    """
    import gzip
    import io

    with gzip.GzipFile(fileobj=io.BytesIO(data)) as z:
        out = z.read(limit + 1)
    if len(out) > limit:
        raise InputLimitError(source, f"inflates to more than {size_text(limit)}, the limit "
                                      f"for {kind} (docs/limits.md)")
    return out


def _too_large(source: str, limit: int, kind: str) -> InputLimitError:
    return InputLimitError(source, f"larger than {size_text(limit)}, the limit for {kind} "
                                   f"(docs/limits.md)")
