"""Answers as the service shapes them: JSON entities and lists with ``odata.metadata``, bodiless
answers, error bodies, and the headers that go with them (``ETag``, ``Last-Modified``,
``DataServiceId``).

An entity's ETag is a hash of its view, so it changes exactly when something a client can see
changes, and it needs no counter in the store: two reads of an unchanged pool give the same
ETag, across restarts too. ``lastModified`` is the view's own if the account gives one, else
its last state transition, else its creation.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from email.utils import format_datetime
from typing import Any, Mapping

from starlette.responses import Response

from ..errors import BatchError

__all__ = ["JSON_TYPE", "etag", "with_stamps", "http_date", "stamp_headers", "entity", "listing",
           "empty",
           "error", "json_response"]

#: the content type of every JSON answer of the service
JSON_TYPE = "application/json;odata=minimalmetadata"

_STAMPS = ("eTag", "lastModified")


def etag(view: Mapping[str, Any]) -> str:
    """A strong ETag for a view: ``0x`` and 15 hex digits of a hash of everything in it but its
    stamps (the service's ETags look alike)."""
    data = json.dumps({k: v for k, v in view.items() if k not in _STAMPS}, sort_keys=True,
                      separators=(",", ":"), default=str)
    return "0x" + hashlib.blake2b(data.encode(), digest_size=8).hexdigest().upper()[1:]


def with_stamps(view: Mapping[str, Any]) -> dict[str, Any]:
    """The view with ``eTag`` and ``lastModified`` filled in (see the module docstring); an
    ``eTag`` the view already has is kept (a route that hashes less than the whole view, as
    a job schedule's, stamps it first)."""
    out = dict(view)
    out["eTag"] = view.get("eTag") or etag(view)
    if not out.get("lastModified"):
        stamp = view.get("stateTransitionTime") or view.get("creationTime")
        if stamp:
            out["lastModified"] = stamp
    return out


def http_date(iso: str | None) -> str | None:
    """An ISO-8601 UTC instant (``2026-12-07T22:30:00.000Z``) as an HTTP date."""
    if not iso:
        return None
    when = _dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return format_datetime(when.astimezone(_dt.timezone.utc), usegmt=True)


def stamp_headers(view: Mapping[str, Any] | None) -> dict[str, str]:
    if view is None:
        return {}
    headers = {"ETag": view.get("eTag") or etag(view)}
    modified = http_date(view.get("lastModified") or view.get("stateTransitionTime")
                         or view.get("creationTime"))
    if modified:
        headers["Last-Modified"] = modified
    return headers


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return Response(data.encode("utf-8"), status_code=status, headers=dict(headers or {}),
                    media_type=JSON_TYPE)


def metadata_url(call: Any, metadata: str) -> str:
    return f"{call.base_url}/$metadata#{metadata}"


def entity(call: Any, view: Mapping[str, Any], *, status: int = 200,
           metadata: str = "pools/@Element") -> Response:
    """One resource: its view with ``odata.metadata`` first and its stamps, and the ``ETag``
    and ``Last-Modified`` headers."""
    stamped = with_stamps(view)
    body = {"odata.metadata": metadata_url(call, metadata), **stamped}
    return json_response(body, status, stamp_headers(stamped))


def listing(call: Any, items: list[Mapping[str, Any]], *, metadata: str = "pools",
            next_link: str | None = None) -> Response:
    """A list answer: ``value`` and, when there is more, ``odata.nextLink``."""
    body: dict[str, Any] = {"odata.metadata": metadata_url(call, metadata), "value": list(items)}
    if next_link:
        body["odata.nextLink"] = next_link
    return json_response(body)


def empty(call: Any, status: int, *, view: Mapping[str, Any] | None = None,
          url: str | None = None) -> Response:
    """A bodiless answer (201 of an add, 202 of an accepted change, 204, a HEAD), with the
    view's stamps and ``DataServiceId`` (the resource's URL) when given."""
    headers = stamp_headers(view)
    if url is not None:
        headers["DataServiceId"] = url
    return Response(status_code=status, headers=headers)


def error(e: BatchError, *, request_id: str, account_url: str | None,
          head: bool = False) -> Response:
    """The service's error answer for ``e`` (a HEAD gets the status alone)."""
    headers = dict(getattr(e, "headers", None) or {})
    if e.status == 401:
        headers["WWW-Authenticate"] = "SharedKey"
    if head:
        return Response(status_code=e.status, headers=headers)
    return json_response(e.body(request_id=request_id, account_url=account_url), e.status,
                         headers)
