"""The account's job and task operations beyond add/get/list/terminate/delete (those stay in
account.py): what the Batch REST API offers on jobs and tasks — patch and replace a job,
disable and enable it, task counts, preparation and release status, task constraints,
terminate, reactivate and delete a task, subtasks, task files.

A mixin of :class:`~.account.Account`, so that account.py stays one concept (the account, its
engine thread and its lookups) and each group of REST operations has a module of its own. Its
methods use the account's engine-thread helpers (``_call``, ``_job``, ``_task``, ``_note``).
"""

from __future__ import annotations

__all__ = ["JobOperations"]


class JobOperations:
    """Job and task operations of :class:`~.account.Account` (see the module docstring)."""
