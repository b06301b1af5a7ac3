"""The two answers every resource shares: a get (conditions, then ``$select``) and a list
(``$filter``, paging, ``$select``).

A get's ETag is the whole resource's, whatever ``$select`` keeps: it is what a later
``If-Match`` compares with, so it is computed from the view before the projection (stamping the
projection would give another hash). Each route module calls these instead of spelling the
steps out again.
"""

from __future__ import annotations

from typing import Any, Mapping

from .conditions import check
from .odata import select_entity, select_page
from .responses import json_response, listing, metadata_url, stamp_headers, with_stamps

__all__ = ["read", "page"]


def read(call: Any, view: Mapping[str, Any], metadata: str) -> Any:
    """A get: 304 (or 412) when the request's conditions say so, else the view as ``$select``
    projects it, with the whole view's ``ETag`` and ``Last-Modified``."""
    stamped = with_stamps(view)
    not_modified = check(call, stamped, write=False)
    if not_modified is not None:
        return not_modified
    body = {"odata.metadata": metadata_url(call, metadata), **select_entity(call, stamped)}
    return json_response(body, 200, stamp_headers(stamped))


def page(call: Any, views: list[dict[str, Any]], kind: str, metadata: str) -> Any:
    """A list: the page of ``views`` the query asks for (``kind`` names the list's
    ``$filter`` properties), with ``odata.nextLink`` when there is more."""
    items, next_link = select_page(call, views, kind)
    return listing(call, items, metadata=metadata, next_link=next_link)
