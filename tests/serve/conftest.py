"""Fixtures of the REST tests: a ``poolscale serve`` process and an azure-batch client on it."""

from __future__ import annotations

import pytest

from served import Served

pytest.importorskip("starlette", reason="the REST tests need poolscale[serve] (pip install -e '.[test]')")


@pytest.fixture
def server(tmp_path):
    served = Served(tmp_path / "data", "--min-evaluation-interval", "PT5S")
    yield served
    if served.proc is not None and served.proc.poll() is None:
        served.stop()


@pytest.fixture
def client(server):
    return server.client()
