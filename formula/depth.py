"""Room on the Python stack for deeply nested formulas.

A formula of 8192 characters can nest about 8000 levels deep (``----…1``,
``!!!!…0``, ``(((…)))`` around operators). The checker, the compiler and the
compiled closures recurse once or twice per level; since CPython 3.11 a
Python-to-Python call does not consume C stack, so raising the interpreter's
recursion limit for the duration of one phase is safe and keeps every phase a
plain, readable recursive walk.

A compiler that wraps the evaluator's (the decision trace of ``explain``, test
coverage) adds a frame per level: it asks for ``frames_per_level=4``.
"""

from __future__ import annotations

import contextlib
import sys

#: the deepest nesting a formula can have: one level per character
MAX_LEVELS = 8192
#: frames the caller and the interpreter may already hold
_MARGIN = 2000


def needed(frames_per_level: int = 3) -> int:
    """The recursion limit that ``frames_per_level`` frames for every level need."""
    return frames_per_level * MAX_LEVELS + _MARGIN


NEEDED = needed()


@contextlib.contextmanager
def deep_stack(frames_per_level: int = 3):
    limit = needed(frames_per_level)
    old = sys.getrecursionlimit()
    if old >= limit:
        yield
        return
    sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)
