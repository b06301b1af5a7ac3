"""One REST request as a handler sees it (:class:`Call`).

A handler needs the account, the request's api-version, its path parameters, its query
parameters, its JSON body and the address the client used (to write URLs back: ``url``,
``odata.metadata``, ``odata.nextLink`` must point where the client can follow them, which is the
``Host`` it sent, not the address the server bound). The app checks authentication and the
api-version before a handler runs, so a handler starts from a request that may be executed.
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any, Callable, Mapping

from ..errors import BatchError

__all__ = ["Call", "BODY_LIMIT"]

#: the largest request body taken: the service's documented limit for a task collection
#: (1 MiB), applied to every body (no Batch body needs more)
BODY_LIMIT = 1024 * 1024


class Call:
    """A request on its way through a handler (see the module docstring)."""

    __slots__ = ("request", "account", "api_version", "path", "query", "base_url",
                 "request_id", "headers", "_body")

    def __init__(self, request: Any, account: Any, api_version: str, path: dict[str, str],
                 query: Mapping[str, str], base_url: str, request_id: str,
                 headers: Mapping[str, str]) -> None:
        self.request = request
        self.account = account
        self.api_version = api_version
        self.path = path
        self.query = query
        self.base_url = base_url
        self.request_id = request_id
        self.headers = headers
        self._body: Any = None

    def header(self, name: str) -> str | None:
        """A request header's value (the first one sent), by its name in any case."""
        return self.headers.get(name.lower())

    async def body(self) -> dict[str, Any]:
        """The request's JSON object. Refused as the service refuses it: over 1 MiB is 413
        ``RequestBodyTooLarge`` (before it is read whole), anything but a UTF-8 JSON object is
        400 ``InvalidRequestBody`` with the parser's reason."""
        if self._body is None:
            self._body = parse_json_object(await read_limited(self.request))
        return self._body

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking :class:`Account` call off the event loop (it waits for the engine
        thread), so that other requests — file downloads among them — go on meanwhile."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))


async def read_limited(request: Any) -> bytes:
    """The request body, refused with ``RequestBodyTooLarge`` once it passes :data:`BODY_LIMIT`
    (by its Content-Length before reading, or while reading a chunked one)."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise BatchError("InvalidHeaderValue", "Content-Length must be a whole number",
                             (("HeaderName", "Content-Length"), ("HeaderValue", length[:64])))
        if int(length) > BODY_LIMIT:
            raise too_large(int(length))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > BODY_LIMIT:
            raise too_large(size)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(size: int) -> BatchError:
    return BatchError("RequestBodyTooLarge",
                      f"The request body is {size} bytes; at most {BODY_LIMIT} are taken.",
                      (("MaxLimit", BODY_LIMIT),))


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """A body as a JSON object, or ``InvalidRequestBody`` saying where it went wrong."""
    if not raw.strip():
        raise BatchError("InvalidRequestBody", "The request body is empty; a JSON object is "
                         "required.", (("Reason", "empty body"),))
    try:
        text = raw.decode("utf-8-sig")
        value = json.loads(text, parse_constant=_no_constant)
    except UnicodeDecodeError as e:
        raise BatchError("InvalidRequestBody", "The request body is not UTF-8.",
                         (("Reason", f"not UTF-8 at byte {e.start}"),)) from None
    except json.JSONDecodeError as e:
        raise BatchError("InvalidRequestBody", "The request body is not valid JSON.",
                         (("Reason", f"{e.msg} at line {e.lineno} column {e.colno}"),)) from None
    except RecursionError:
        raise BatchError("InvalidRequestBody", "The request body is not valid JSON.",
                         (("Reason", "nested too deeply"),)) from None
    except ValueError as e:
        raise BatchError("InvalidRequestBody", "The request body is not valid JSON.",
                         (("Reason", str(e)),)) from None
    if not isinstance(value, dict):
        raise BatchError("InvalidRequestBody", "The request body must be a JSON object.",
                         (("Reason", f"found a JSON {type(value).__name__}"),))
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
