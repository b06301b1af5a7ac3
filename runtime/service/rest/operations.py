"""What the REST layer serves: one :class:`Operation` per method and path of the Batch API.

Each ``routes_*.py`` module exports ``OPERATIONS`` (what it answers) and ``NOT_SERVED`` (what
the Batch API has and poolscale answers with ``InvalidUri`` and a reason, so that a client learns
at once that the operation is not there instead of meeting a 404 that reads like a missing
resource). docs/serve.md lists both tables; the published OpenAPI document is made from the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

__all__ = ["Operation", "SERVED_VERSIONS", "CURRENT_VERSION", "AZ_VERSION"]

#: the api-version of the azure-batch 15.x SDK (it sends the date without the ``.21.0`` suffix
#: of the specification's folder; both spellings are accepted)
CURRENT_VERSION = "2025-06-01"
#: the api-version ``az batch`` sends (azure-cli pins azure-batch 15.0.0b1), and the last one
#: with certificates
AZ_VERSION = "2024-02-01.19.0"
SERVED_VERSIONS = frozenset({CURRENT_VERSION, "2025-06-01.21.0", AZ_VERSION})


@dataclass(frozen=True)
class Operation:
    """One served operation.

    ``template``: a Starlette path (``/pools/{poolId}/nodes/{nodeId}/files/{filePath:path}``);
    ``handler``: ``async (call) -> Response``; ``name``: the azure-batch 15.x method that calls
    it (the docs list operations by it); ``versions``: the api-versions that have it (None: all
    served).
    """

    method: str
    template: str
    handler: Callable[[Any], Awaitable[Any]]
    name: str
    versions: frozenset[str] | None = None

    def serves(self, version: str) -> bool:
        return self.versions is None or version in self.versions
