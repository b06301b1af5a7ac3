"""A ``poolscale serve`` process for the REST tests, and raw signed requests to it.

:class:`Served` starts the real command (``python -m poolscale.runtime.cli serve --port 0``) so
the tests cover the CLI too, reads the first line for the endpoint, and can stop it (SIGINT),
kill it (SIGKILL) and start it again on the same data directory.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json as _json
import signal
import subprocess
import sys
import time
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import http.client
import socket
import threading
from types import SimpleNamespace

from poolscale.runtime.commands.serve import DEV_ACCOUNT, DEV_KEY
from poolscale.runtime.service.rest.auth import decode_key, sign, string_to_sign

__all__ = ["Served", "RawResponse", "signed_request", "wait_for", "image", "task", "in_process"]

START_TIMEOUT = 30.0


class Served:
    """A running ``poolscale serve`` (see the module docstring)."""

    def __init__(self, data: Path, *extra: str, account: str = DEV_ACCOUNT,
                 key: str = DEV_KEY) -> None:
        self.data = Path(data)
        self.extra = extra
        self.account = account
        self.key = key
        self.proc: subprocess.Popen | None = None
        self.endpoint = ""
        self.start()

    def command(self) -> list[str]:
        args = [sys.executable, "-m", "poolscale.runtime.cli", "serve", "--port", "0",
                "--data", str(self.data), *self.extra]
        if self.account != DEV_ACCOUNT or self.key != DEV_KEY:
            args += ["--account", self.account, "--key", self.key]
        return args

    def start(self) -> None:
        self.log = open(self.data.parent / f"{self.data.name}-serve.log", "ab")
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=self.log,
                                     text=True, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        line = self.proc.stdout.readline()
        if not line.startswith("poolscale serve: endpoint="):
            self.proc.kill()
            raise RuntimeError(f"serve did not start: {line!r}; log: {self.log_text()[-2000:]}")
        assert time.monotonic() < deadline
        self.first_line = line.rstrip("\n")
        self.endpoint = line.split("endpoint=", 1)[1].split()[0]

    def log_text(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return (self.data.parent / f"{self.data.name}-serve.log").read_text(errors="replace")

    def client(self, **kwargs: Any) -> Any:
        from azure.batch import BatchClient
        from azure.core.credentials import AzureNamedKeyCredential

        return BatchClient(endpoint=self.endpoint,
                           credential=AzureNamedKeyCredential(self.account, self.key), **kwargs)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> int:
        """Stop the server with ``sig`` and wait; its exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.proc.stdout.close()
            self.log.close()

    def kill(self) -> None:
        """SIGKILL the server (not its task processes: they are in sessions of their own, as
        after a crash; the next start ends them)."""
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.start()

    def request(self, method: str, path: str, **kwargs: Any) -> "RawResponse":
        return signed_request(self.endpoint, self.account, self.key, method, path, **kwargs)


class RawResponse:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return _json.loads(self.body)


def signed_request(endpoint: str, account: str, key: str, method: str, path: str, *,
                   body: Any = None, headers: dict[str, str] | None = None,
                   api_version: str | None = "2025-06-01", query: str = "",
                   sign_as: tuple[str, str] | None = None, date: _dt.datetime | None = None,
                   raw_body: bytes | None = None) -> RawResponse:
    """A request signed as the SDK signs it (``sign_as``: another account/key to sign with;
    ``date``: another ``ocp-date``). ``path`` is sent as given (percent-encode it yourself)."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    data = raw_body
    if body is not None:
        data = _json.dumps(body).encode()
        headers.setdefault("content-type", "application/json; odata=minimalmetadata")
    if data is not None:
        headers["content-length"] = str(len(data))
    when = date or _dt.datetime.now(_dt.timezone.utc)
    headers.setdefault("ocp-date", format_datetime(when, usegmt=True))
    parts = [query] if query else []
    if api_version is not None:
        parts.insert(0, f"api-version={api_version}")
    qs = "&".join(parts)
    name, secret = sign_as or (account, key)
    if "authorization" not in headers:
        text = string_to_sign(method, path, qs, headers, name)
        headers["authorization"] = f"SharedKey {name}:{sign(decode_key(secret), text)}"
    elif headers["authorization"] == "":
        del headers["authorization"]
    url = urlsplit(endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.request(method, path + (f"?{qs}" if qs else ""), body=data, headers=headers)
        response = conn.getresponse()
        return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()},
                           response.read())
    finally:
        conn.close()


def wait_for(what: str, predicate: Any, timeout: float = 60.0, every: float = 0.05) -> Any:
    """Poll ``predicate`` until it gives something true (returned), or fail after ``timeout``
    seconds saying what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def image() -> Any:
    """The virtual machine configuration a Batch pool names (an Ubuntu image; a local node
    runs on this machine whatever it says)."""
    from azure.batch import models as m

    return m.VirtualMachineConfiguration(
        image_reference=m.BatchVmImageReference(publisher="canonical",
                                                offer="0001-com-ubuntu-server-jammy",
                                                sku="22_04-lts"),
        node_agent_sku_id="batch.node.ubuntu 22.04")


def task(task_id: str, command: str, **constraints: Any) -> Any:
    """A task to add through the SDK, with ``constraints`` (``max_task_retry_count=2``, ...)."""
    from azure.batch import models as m

    return m.BatchTaskCreateOptions(
        id=task_id, command_line=command,
        constraints=m.BatchTaskConstraints(**constraints) if constraints else None)


@contextlib.contextmanager
def in_process(data: Path, **settings: Any) -> Any:
    """An account served over HTTP on a free port by uvicorn on a thread of this process, so a
    test can also call the account directly (``settings``: more AccountSettings). Yields
    ``.account``, ``.client`` (the SDK), ``.request(method, path, ...)`` (a raw signed
    request), ``.app`` and ``.endpoint``; on leaving, asserts that the app answered no request
    with an internal error."""
    import uvicorn

    from poolscale.runtime.service.account import Account
    from poolscale.runtime.service.rest.app import build_app
    from poolscale.runtime.service.settings import AccountSettings

    sock = socket.socket()
    # without it a kept-alive connection waits ~40 ms per answer (Nagle and delayed ACKs)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    endpoint = "http://127.0.0.1:%d" % sock.getsockname()[1]
    account = Account(settings=AccountSettings(data_dir=data, account_url=endpoint, **settings))
    app = build_app(account, account_name=DEV_ACCOUNT, key=decode_key(DEV_KEY))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    client = BatchClient(endpoint=endpoint,
                         credential=AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY))

    def request(method: str, path: str, **kwargs: Any) -> RawResponse:
        return signed_request(endpoint, DEV_ACCOUNT, DEV_KEY, method, path, **kwargs)

    try:
        yield SimpleNamespace(account=account, client=client, request=request, app=app,
                              endpoint=endpoint)
    finally:
        server.should_exit = True
        thread.join(10)
        account.close()
        sock.close()
    assert app.internal_errors == 0
