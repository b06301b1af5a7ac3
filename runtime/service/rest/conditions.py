"""Conditional requests: ``If-Match``, ``If-None-Match``, ``If-Modified-Since`` and
``If-Unmodified-Since`` against a resource's ETag and last-modified time.

A write whose condition fails is refused with 412 ``ConditionNotMet`` and changes nothing; a
read whose condition fails is answered 304 without a body (HTTP gives a 304 no body, so the
service's ``ConditionNotMet`` row for reads is a bare status). Both ``If-Match`` and
``If-None-Match`` on one request is 400 ``MultipleConditionHeadersNotSupported``, as the
service answers.
"""

from __future__ import annotations

import datetime as _dt
from email.utils import parsedate_to_datetime
from typing import Any, Mapping

from starlette.responses import Response

from ..errors import BatchError
from .responses import etag as _etag

__all__ = ["check"]


def _tags(header: str) -> set[str]:
    return {t.strip().removeprefix("W/").strip('"') for t in header.split(",") if t.strip()}


def _instant(call: Any, name: str) -> _dt.datetime | None:
    text = call.header(name)
    if not text:
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise BatchError("InvalidHeaderValue", f"{name} is not an HTTP date",
                         (("HeaderName", name), ("HeaderValue", text[:64]))) from None
    if when is None or when.tzinfo is None:
        raise BatchError("InvalidHeaderValue", f"{name} is not an HTTP date",
                         (("HeaderName", name), ("HeaderValue", text[:64])))
    return when


def _modified(view: Mapping[str, Any]) -> _dt.datetime | None:
    stamp = view.get("lastModified") or view.get("stateTransitionTime") or view.get("creationTime")
    if not stamp:
        return None
    # HTTP dates have whole seconds
    return _dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).replace(microsecond=0)


def check(call: Any, view: Mapping[str, Any], *, write: bool) -> Response | None:
    """Apply the request's conditions to ``view`` (see the module docstring): None to go on,
    a 304 response for a read, :class:`BatchError` 412 for a write."""
    if_match, if_none = call.header("if-match"), call.header("if-none-match")
    since, unmodified = _instant(call, "if-modified-since"), _instant(call, "if-unmodified-since")
    if if_match is None and if_none is None and since is None and unmodified is None:
        return None
    if if_match is not None and if_none is not None:
        raise BatchError("MultipleConditionHeadersNotSupported")
    tag = view.get("eTag") or _etag(view)
    modified = _modified(view)
    failed = False
    if if_match is not None:
        tags = _tags(if_match)
        failed = "*" not in tags and tag not in tags
    if if_none is not None:
        tags = _tags(if_none)
        failed = failed or "*" in tags or tag in tags
    if since is not None and modified is not None:
        failed = failed or modified <= since
    if unmodified is not None and modified is not None:
        failed = failed or modified > unmodified
    if not failed:
        return None
    if write or if_match is not None or unmodified is not None:
        raise BatchError("ConditionNotMet")
    return Response(status_code=304, headers={"ETag": tag})
