"""Making live accounts, waiting for them and catching their errors: the helpers every account
test uses.

The live account works on its own thread, so a test polls for what it expects with a deadline
(never a bare sleep): on a loaded 2-core machine a state may take a while, and a deadline that
runs out names what never came.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from poolscale.runtime.service.account import Account
from poolscale.runtime.service.errors import BatchError
from poolscale.runtime.service.settings import AccountSettings

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


def accounts(tmp_path: Path, *, scale: float = 1.0,
             **defaults: Any) -> Iterator[Callable[..., Account]]:
    """The body of an ``account`` fixture (``yield from accounts(tmp_path, ...)``): it yields
    ``make(scale=..., **settings)``, which opens an account on ``tmp_path / "data"`` with these
    defaults, and closes every account made when the test ends."""
    made: list[Account] = []

    def make(scale: float = scale, **settings: Any) -> Account:
        acct = Account(settings=AccountSettings(data_dir=tmp_path / "data",
                                                **{**defaults, **settings}), scale=scale)
        made.append(acct)
        return acct

    yield make
    for acct in made:
        acct.close()
