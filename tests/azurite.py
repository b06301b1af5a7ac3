"""A real Azure Blob Storage for the tests: Azurite, the storage emulator, in a subprocess.

Why a real one and not a fake: resource and output files go through the storage REST API
(List Blobs, Get Blob, Put Blob with a SAS); a fake would only check what the fake's author
believed about it. Azurite is Microsoft's own emulator of that API.

The session fixture :func:`azurite` starts ``azurite-blob`` from ``.ci/azurite`` (installed by
``.ci/install-azurite``) on a free loopback port, in memory, without telemetry, and accepting
the storage API version that the installed ``azure-storage-blob`` sends; it waits until the
port answers and stops the emulator at the end of the session. Without the emulator (or
without ``azure-storage-blob``, which the tests use to set up and check blobs) the tests that
use it are skipped, with a reason that says how to install it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AZURITE_BLOB = ROOT / ".ci" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
INSTALL = ".ci/install-azurite (npm install --prefix .ci/azurite azurite@3.35.0)"

#: The emulator's well-known account (public: it is the same in every Azurite).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

#: How long the emulator may take to listen on a loaded machine.
START_DEADLINE = 60.0


@dataclass
class Azurite:
    """A running emulator: ``endpoint`` is the account's blob endpoint
    (``http://127.0.0.1:<port>/devstoreaccount1``)."""

    port: int
    log: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
                f"BlobEndpoint={self.endpoint};")

    def service(self):
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)

    def container(self, name: str):
        """A new, empty container (ContainerClient)."""
        client = self.service().get_container_client(name)
        client.create_container()
        return client

    def sas_url(self, container: str, *, read=True, list=True, write=False,
                expiry: dt.timedelta = dt.timedelta(hours=1)) -> str:
        """The container's URL with a SAS of these permissions."""
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        sas = generate_container_sas(
            ACCOUNT, container, account_key=KEY,
            permission=ContainerSasPermissions(read=read, list=list, write=write),
            expiry=dt.datetime.now(dt.timezone.utc) + expiry)
        return f"{self.endpoint}/{container}?{sas}"

    def blob_url(self, container: str, blob: str, **permissions) -> str:
        base, _, sas = self.sas_url(container, **permissions).partition("?")
        return f"{base}/{blob}?{sas}"

    def blobs(self, container: str) -> dict[str, bytes]:
        """Every blob of the container, by name."""
        client = self.service().get_container_client(container)
        return {b.name: client.download_blob(b.name).readall() for b in client.list_blobs()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return "node not found"
    try:
        return "node " + subprocess.run([node, "--version"], capture_output=True, text=True,
                                        timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "node not runnable"


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    """The running emulator (:class:`Azurite`); skips when it is not installed."""
    if not AZURITE_BLOB.exists():
        pytest.skip(f"Azurite is not installed: run {INSTALL} ({_node_version()})")
    pytest.importorskip("azure.storage.blob",
                        reason="the storage tests need azure-storage-blob: pip install "
                               "azure-storage-blob")
    port = _free_port()
    log = tmp_path_factory.mktemp("azurite") / "azurite.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(AZURITE_BLOB), "--blobHost", "127.0.0.1", "--blobPort", str(port),
             "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--silent"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=tmp_path_factory.getbasetemp())
    try:
        deadline = time.monotonic() + START_DEADLINE
        while not _listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                text = log.read_text(errors="replace")[-2000:]
                pytest.fail(f"Azurite did not start on port {port} ({_node_version()}): {text}")
            time.sleep(0.1)
        yield Azurite(port, log)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
