"""The account's pool and node operations beyond create/get/list/delete/resize/autoscale
(those stay in account.py): what the Batch REST API offers on pools and their nodes —
patch and replace a pool's properties, node counts, node reboot, node files.

A mixin of :class:`~.account.Account`, so that account.py stays one concept (the account, its
engine thread and its lookups) and each group of REST operations has a module of its own. Its
methods use the account's engine-thread helpers (``_call``, ``_pool``, ``_node``, ``_note``).
"""

from __future__ import annotations

__all__ = ["PoolOperations"]


class PoolOperations:
    """Pool and node operations of :class:`~.account.Account` (see the module docstring)."""
