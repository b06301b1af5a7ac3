"""Node and task files over REST: a file's headers, its bytes (a range of them), list entries.

The service answers a file read with the file's bytes and headers that describe it:
``ocp-creation-time``, ``ocp-batch-file-isdirectory``, ``ocp-batch-file-url``,
``ocp-batch-file-mode``, ``Content-Length``, ``Last-Modified``. A read with ``ocp-range`` (the
SDK's) or ``Range`` (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``) gets those bytes with status
**200**, not 206: the azure-batch SDK accepts only 200 for a file download. A range that starts
past the end is 416 ``InvalidRange``; one that is not ``bytes=…`` is 400 ``InvalidHeaderValue``.
The file mode is shown as octal permission bits (``0644``), the form a resource file's
``fileMode`` takes. Bytes are read in a worker thread, 64 KiB at a time, so a large file
neither blocks other requests nor sits whole in memory.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import stat as _stat
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

from starlette.responses import Response, StreamingResponse

from ..errors import BatchError

__all__ = ["file_url", "file_headers", "file_response", "file_entry", "byte_range"]

CHUNK = 64 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def file_url(call: Any, owner_path: str, name: str) -> str:
    """The file's URL: ``owner_path`` is ``/jobs/j/tasks/t`` or ``/pools/p/nodes/n``."""
    return f"{call.base_url}{owner_path}/files/{quote(name, safe='')}"


def _http_time(seconds: float) -> str:
    return format_datetime(_dt.datetime.fromtimestamp(seconds, _dt.timezone.utc), usegmt=True)


def _mode(st: os.stat_result) -> str:
    return format(_stat.S_IMODE(st.st_mode), "04o")


def file_headers(st: os.stat_result, url: str) -> dict[str, str]:
    """The headers of a file read or a file's HEAD."""
    directory = _stat.S_ISDIR(st.st_mode)
    return {
        "ocp-creation-time": _http_time(st.st_ctime),
        "ocp-batch-file-isdirectory": "true" if directory else "false",
        "ocp-batch-file-url": url,
        "ocp-batch-file-mode": _mode(st),
        "Last-Modified": _http_time(st.st_mtime),
        "Content-Length": "0" if directory else str(st.st_size),
    }


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The first and one-past-last byte a range header asks for (None: the whole file)."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        raise BatchError("InvalidHeaderValue", "A range must be bytes=first-last, bytes=first- "
                         "or bytes=-count.", (("HeaderName", "ocp-range"),
                                              ("HeaderValue", header[:64])))
    first, last = match.group(1), match.group(2)
    if first == "":
        count = int(last)
        return max(0, size - count), size
    start = int(first)
    end = size if last == "" else min(size, int(last) + 1)
    if start >= size or end <= start:
        raise BatchError("InvalidRange", f"The range {header[:64]} is outside the file's "
                         f"{size} bytes.", (("HeaderName", "ocp-range"),))
    return start, end


def _chunks(path: Path, start: int, end: int) -> Iterator[bytes]:
    with open(path, "rb") as f:
        f.seek(start)
        left = end - start
        while left > 0:
            data = f.read(min(CHUNK, left))
            if not data:
                return
            left -= len(data)
            yield data


def file_response(call: Any, path: Path, st: os.stat_result, url: str, *,
                  head: bool = False) -> Response:
    """A file's answer: headers only for a HEAD, else its bytes (the asked range of them)."""
    headers = file_headers(st, url)
    if head or _stat.S_ISDIR(st.st_mode):
        return Response(status_code=200, headers=headers)
    span = byte_range(call.header("ocp-range") or call.header("range"), st.st_size)
    start, end = span or (0, st.st_size)
    headers["Content-Length"] = str(end - start)
    return StreamingResponse(_chunks(path, start, end), status_code=200, headers=headers,
                             media_type="application/octet-stream")


def file_entry(call: Any, owner_path: str, name: str, st: os.stat_result) -> dict[str, Any]:
    """One entry of a file list (``NodeFile``)."""
    from ..views import file_properties

    directory = _stat.S_ISDIR(st.st_mode)
    properties = file_properties(st)
    return {"name": name, "url": file_url(call, owner_path, name), "isDirectory": directory,
            "properties": properties}
