"""Waiting for a live account and catching its errors: the helpers every account test uses.

The live account works on its own thread, so a test polls for what it expects with a deadline
(never a bare sleep): on a loaded 2-core machine a state may take a while, and a deadline that
runs out names what never came.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import pytest

from poolscale.runtime.service.errors import BatchError

#: seconds a test waits for a state before it fails
WAIT = 15.0


def poll(condition: Callable[[], Any], what: str, deadline: float = WAIT) -> Any:
    """``condition()``'s first true value, polled every 20 ms; AssertionError naming ``what``
    after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def error_of(call: Callable[[], Any]) -> BatchError:
    """The BatchError ``call()`` raises (the test fails if it raises none)."""
    with pytest.raises(BatchError) as info:
        call()
    return info.value
