"""How poolscale's messages put a count before a noun: ``1 node``, ``2 nodes``, ``1,024 tasks``.

One function for every summary line (check, test, simulate, compare), so a count reads the same
in all of them and none says "1 nodes".
"""

from __future__ import annotations

__all__ = ["counted"]


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` with thousands separators and ``noun`` in the number it takes (``plural``, or
    ``noun + "s"``, unless ``n`` is 1)."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {plural or noun + 's'}"
