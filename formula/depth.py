"""Room on the Python stack for deeply nested formulas.

A formula of 8192 characters can nest about 8000 levels deep (``----…1``,
``!!!!…0``, ``(((…)))`` around operators). The checker, the compiler and the
compiled closures recurse once or twice per level; since CPython 3.11 a
Python-to-Python call does not consume C stack, so raising the interpreter's
recursion limit for the duration of one phase is safe and keeps every phase a
plain, readable recursive walk.
"""

from __future__ import annotations

import contextlib
import sys

#: three frames per level for 8192 levels, with room for the caller's frames
NEEDED = 3 * 8192 + 2000


@contextlib.contextmanager
def deep_stack():
    old = sys.getrecursionlimit()
    if old >= NEEDED:
        yield
        return
    sys.setrecursionlimit(NEEDED)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)
