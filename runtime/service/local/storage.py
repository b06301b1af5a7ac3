"""Resource files in, output files out: a task's transfers to and from Azure Blob Storage.

What Batch does on a node, done here on this machine (docs/running-locally.md#resource-and-output-files):

* **Before the command line runs**, every resource file of the task is downloaded into its
  working directory (``wd/``; a multi-instance task's ``commonResourceFiles`` into the task
  directory of each instance's node): an ``httpUrl`` to ``filePath``; a container
  (``storageContainerUrl`` with a SAS, or ``autoStorageContainerName`` in the account's
  auto-storage account) blob by blob, each blob under ``blobPrefix`` placed at its own name
  under ``filePath``. ``fileMode`` (octal) is applied to each file, 0770 when not given, as
  the service does on Linux nodes.
* **After the process exits**, each output file whose ``uploadCondition`` the exit meets is
  uploaded: ``filePattern`` (relative to ``wd/``, ``**`` for any depth of directories) picks
  the files, ``destination.container.containerUrl`` (with a SAS that allows writing) takes
  them, named ``path`` (a pattern without wildcards) or ``path/<name under the pattern's
  fixed part>``. What was done goes to ``fileuploadout.txt``, what failed to
  ``fileuploaderr.txt``, in the task directory, as the service writes them.

A transfer that fails raises :class:`TransferFailed` with the service's failure code (the
task's ``failureInfo.code``): ``BlobAccessDenied`` (403, a bad or expired SAS),
``BlobNotFound`` (404), ``BlobDownloadTimedOut``, ``BlobDownloadMiscError`` (anything else),
``ResourceDirectoryCreateFailed`` / ``ResourceFileCreateFailed`` / ``ResourceFileWriteFailed``
(this machine's disk), and ``FileUploadMiscError`` for any upload.

Why plain HTTP (``urllib``) and not the Azure SDK: a SAS URL needs no signing, so downloads,
container listings and uploads are one GET/PUT each and no Azure package is needed for them.
Only ``autoStorageContainerName`` needs the account key, to make a SAS: that is done with
``azure-storage-blob`` (an optional dependency), imported when first needed.

Secrets: a SAS is a bearer credential. Every message this module makes, logs or writes goes
through :func:`redact`, which replaces the value of ``sig=`` by ``REDACTED``.

Every function here blocks (network, disk): the live engine calls them on its transfer
threads, never on the engine thread (runtime/service/liveworld.py).
"""

from __future__ import annotations

import datetime as _dt
import glob
import http.client
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "TransferFailed", "Cancelled", "redact", "download_resource_files", "upload_output_files",
    "parse_connection_string", "check_auto_storage", "UPLOAD_LOG", "UPLOAD_ERRORS",
    "DEFAULT_FILE_MODE", "check_transfers", "NO_MANAGED_IDENTITY", "NO_AUTO_STORAGE",
    "AUTOSTORAGE_ENV", "auto_storage_setting",
]

#: The storage REST version sent with each request (any version since 2019 has what is used).
STORAGE_VERSION = "2021-08-06"

#: Seconds a single request may stall before it counts as timed out.
REQUEST_TIMEOUT = 60.0

#: The mode of a downloaded file that gives none (the service's default on Linux nodes).
DEFAULT_FILE_MODE = 0o770

#: Where the upload of output files reports, in the task directory (as on the service).
UPLOAD_LOG = "fileuploadout.txt"
UPLOAD_ERRORS = "fileuploaderr.txt"

_CHUNK = 1 << 20
#: a SAS signature: ``sig=`` (or its URL-encoded form) and its base64 value, URL-encoded or not
_SIG = re.compile(r"(?i)(sig(?:=|%3D))[A-Za-z0-9%+/=_-]*")
_WILDCARD = re.compile(r"[*?\[]")

#: What a request or a read may raise besides an HTTP status: the network, a broken answer.
_NETWORK_ERRORS = (urllib.error.URLError, OSError, ValueError, http.client.HTTPException)

#: The well-known development storage account (Azurite's, as Azure's tools name it).
_DEV_STORAGE = {
    "AccountName": "devstoreaccount1",
    "AccountKey": "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
                  "KBHBeksoGMGw==",
    "BlobEndpoint": "http://127.0.0.1:10000/devstoreaccount1",
}


class TransferFailed(Exception):
    """A download or upload that failed: ``code`` is the task's ``failureInfo.code``, ``message``
    says what failed (SAS redacted)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = redact(message)
        super().__init__(f"{code}: {self.message}")

    @property
    def pair(self) -> tuple[str, str]:
        """``(category, code)``, the shape the engine's task records keep."""
        return ("usererror", self.code)


class Cancelled(Exception):
    """The attempt ended (killed, requeued) while its files were being transferred."""


def redact(text: Any) -> str:
    """``text`` with the signature of every SAS in it replaced by ``REDACTED``."""
    return _SIG.sub(r"\1REDACTED", str(text))


def _never() -> bool:
    return False


# -- HTTP ------------------------------------------------------------------------------------


def _split(url: str) -> tuple[str, str]:
    """``(url without its query, query)``: the container's address and its SAS."""
    base, _, query = url.partition("?")
    return base.rstrip("/"), query


def _join(base: str, sas: str, name: str = "", **params: str) -> str:
    url = base + ("/" + urllib.parse.quote(name, safe="/~") if name else "")
    query = urllib.parse.urlencode(params)
    if sas:
        query = f"{query}&{sas}" if query else sas
    return f"{url}?{query}" if query else url


def _request(url: str, method: str = "GET", data: Any = None,
             headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"x-ms-version": STORAGE_VERSION, **(headers or {})})
    return urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT)    # noqa: S310 (http(s) only)


def _download_failure(e: BaseException, url: str) -> TransferFailed:
    """The service's code for a failed GET of ``url``."""
    where = redact(url)
    if isinstance(e, urllib.error.HTTPError):
        code = {403: "BlobAccessDenied", 401: "BlobAccessDenied",
                404: "BlobNotFound"}.get(e.code, "BlobDownloadMiscError")
        return TransferFailed(code, f"GET {where}: HTTP {e.code} {e.reason}")
    if isinstance(e, (socket.timeout, TimeoutError)) or isinstance(
            getattr(e, "reason", None), (socket.timeout, TimeoutError)):
        return TransferFailed("BlobDownloadTimedOut", f"GET {where}: timed out")
    reason = getattr(e, "reason", None) or e
    return TransferFailed("BlobDownloadMiscError", f"GET {where}: {reason}")


# -- auto-storage ----------------------------------------------------------------------------


def parse_connection_string(text: str) -> dict[str, str]:
    """A storage connection string's settings (``AccountName``, ``AccountKey``,
    ``BlobEndpoint``, ...), with ``BlobEndpoint`` made from the protocol, account and suffix
    when not given; ``UseDevelopmentStorage=true`` is the local emulator's account. Raises
    ValueError for a string without an account name and key."""
    parts: dict[str, str] = {}
    for item in text.split(";"):
        if item.strip():
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"{redact(item.strip())!r} is not a key=value setting")
            parts[key.strip()] = value.strip()
    if parts.get("UseDevelopmentStorage", "").lower() == "true":
        parts = {**_DEV_STORAGE, **{k: v for k, v in parts.items() if k != "UseDevelopmentStorage"}}
    if not parts.get("AccountName") or not parts.get("AccountKey"):
        raise ValueError("a storage connection string needs AccountName and AccountKey")
    if not parts.get("BlobEndpoint"):
        protocol = parts.get("DefaultEndpointsProtocol", "https")
        suffix = parts.get("EndpointSuffix", "core.windows.net")
        parts["BlobEndpoint"] = f"{protocol}://{parts['AccountName']}.blob.{suffix}"
    return parts


def check_auto_storage(text: str) -> str:
    """``text`` if it is a usable connection string; ValueError (secret-free) otherwise."""
    parse_connection_string(text)
    return text


def _auto_storage_url(connection_string: str, container: str) -> str:
    """The URL, with a read-and-list SAS valid for an hour, of ``container`` in the account
    of the connection string."""
    try:
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas
    except ImportError:
        raise TransferFailed("BlobDownloadMiscError", "autoStorageContainerName needs the "
                             "azure-storage-blob package: pip install azure-storage-blob") from None
    parts = parse_connection_string(connection_string)
    expiry = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(hours=1)
    sas = generate_container_sas(parts["AccountName"], container, account_key=parts["AccountKey"],
                                 permission=ContainerSasPermissions(read=True, list=True),
                                 expiry=expiry)
    return f"{parts['BlobEndpoint'].rstrip('/')}/{urllib.parse.quote(container)}?{sas}"


# -- downloads -------------------------------------------------------------------------------


def download_resource_files(files: Iterable[Any], directory: Path, *,
                            auto_storage: str | None = None,
                            cancelled: Callable[[], bool] = _never) -> list[Path]:
    """Download ``files`` (ResourceFile models) into ``directory``, in order; the paths
    written. Raises :class:`TransferFailed` at the first failure, :class:`Cancelled` when
    ``cancelled()`` turns true between two blocks."""
    root = Path(os.path.abspath(directory))
    written: list[Path] = []
    for rf in files:
        if cancelled():
            raise Cancelled()
        mode = DEFAULT_FILE_MODE if rf.file_mode is None else int(rf.file_mode, 8)
        if rf.http_url is not None:
            target = _target(root, rf.file_path)
            _fetch(rf.http_url, target, mode, cancelled)
            written.append(target)
            continue
        if rf.storage_container_url is not None:
            url = rf.storage_container_url
        else:
            if not auto_storage:
                raise TransferFailed("BlobDownloadMiscError", "autoStorageContainerName needs "
                                     "the account's auto-storage connection string")
            url = _auto_storage_url(auto_storage, rf.auto_storage_container_name)
        base, sas = _split(url)
        under = rf.file_path or ""
        for name in _blob_names(base, sas, rf.blob_prefix or "", cancelled):
            target = _target(root, f"{under}/{name}" if under else name)
            _fetch(_join(base, sas, name), target, mode, cancelled)
            written.append(target)
    return written


def _target(root: Path, relative: str | None) -> Path:
    """Where a downloaded file goes: under ``root``, never outside it (a blob name with
    ``..`` parts, or a link left in the directory, is refused)."""
    if not relative:
        raise TransferFailed("ResourceFileCreateFailed", "a resource file has no file name")
    parts = [p for p in relative.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise TransferFailed("ResourceFileCreateFailed",
                             f"{relative!r} is not a path inside the working directory")
    target = root.joinpath(*parts)
    try:
        root.mkdir(parents=True, exist_ok=True)
        real_root = root.resolve()
        made = real_root
        for part in parts[:-1]:         # each step checked before the next is made
            made = (made / part).resolve()
            if not made.is_relative_to(real_root):
                raise TransferFailed("ResourceDirectoryCreateFailed",
                                     f"{relative!r} leads outside the working directory")
            made.mkdir(exist_ok=True)
        if target.is_symlink():
            target.unlink()             # replaced, never written through
    except OSError as e:
        raise TransferFailed("ResourceDirectoryCreateFailed",
                             f"cannot make the directory of {target}: {e.strerror or e}") from None
    return made / parts[-1]


def _fetch(url: str, target: Path, mode: int, cancelled: Callable[[], bool]) -> None:
    """GET ``url`` into ``target`` (replaced if it exists), then give it ``mode``."""
    try:
        response = _request(url)
    except _NETWORK_ERRORS as e:
        raise _download_failure(e, url) from None
    with response:
        try:
            out = open(target, "wb")
        except OSError as e:
            raise TransferFailed("ResourceFileCreateFailed",
                                 f"cannot create {target}: {e.strerror or e}") from None
        with out:
            while True:
                if cancelled():
                    raise Cancelled()
                try:
                    block = response.read(_CHUNK)
                except _NETWORK_ERRORS as e:
                    raise _download_failure(e, url) from None
                if not block:
                    break
                try:
                    out.write(block)
                except OSError as e:
                    raise TransferFailed("ResourceFileWriteFailed",
                                         f"cannot write {target}: {e.strerror or e}") from None
    try:
        os.chmod(target, mode)
    except OSError as e:
        raise TransferFailed("ResourceFileWriteFailed",
                             f"cannot set the mode of {target}: {e.strerror or e}") from None


def _blob_names(base: str, sas: str, prefix: str,
                cancelled: Callable[[], bool]) -> Iterator[str]:
    """The names of the container's blobs that start with ``prefix`` (List Blobs, page by
    page)."""
    marker = ""
    while True:
        if cancelled():
            raise Cancelled()
        params = {"restype": "container", "comp": "list"}
        if prefix:
            params["prefix"] = prefix
        if marker:
            params["marker"] = marker
        url = _join(base, sas, **params)
        try:
            with _request(url) as response:
                body = response.read()
        except _NETWORK_ERRORS as e:
            raise _download_failure(e, url) from None
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            raise TransferFailed("BlobDownloadMiscError",
                                 f"GET {redact(url)}: the listing is not XML") from None
        for blob in root.iter("Blob"):
            name = blob.findtext("Name")
            if name:
                yield name
        marker = root.findtext("NextMarker") or ""
        if not marker:
            return


# -- uploads ---------------------------------------------------------------------------------


def _condition_met(condition: str, exit_code: int | None) -> bool:
    if condition == "taskcompletion":
        return True
    if exit_code is None:
        return False
    return (exit_code == 0) == (condition == "tasksuccess")


def _matches(pattern: str, wd: Path) -> list[tuple[Path, str]]:
    """The files ``pattern`` picks (relative to ``wd``, ``**`` any depth), each with its name
    under the pattern's fixed leading directories: what follows ``path/`` in its blob name."""
    parts = pattern.replace("\\", "/").split("/")
    fixed = []
    for part in parts[:-1]:
        if part == "**" or _WILDCARD.search(part):
            break
        fixed.append(part)
    if os.path.isabs(pattern):
        base = Path(os.path.normpath("/" + "/".join(p for p in fixed if p)))
        spec = pattern
    else:
        base = Path(os.path.normpath(wd.joinpath(*fixed)))
        spec = os.path.join(glob.escape(str(wd)), pattern)
    out = []
    for name in sorted(glob.glob(spec, recursive=True)):
        path = Path(os.path.normpath(name))
        if path.is_file():
            out.append((path, os.path.relpath(path, base).replace(os.sep, "/")))
    return out


def upload_output_files(files: Iterable[Any], task_dir: Path, exit_code: int | None, *,
                        cancelled: Callable[[], bool] = _never) -> int:
    """Upload the output files (OutputFile models) of a task whose process exited with
    ``exit_code`` (None: it never started), from its working directory ``task_dir/wd``; the
    count of blobs written. Writes ``fileuploadout.txt`` and ``fileuploaderr.txt`` in
    ``task_dir``; raises :class:`TransferFailed` (``FileUploadMiscError``) if any upload
    failed, after trying every one."""
    wd = Path(os.path.abspath(task_dir)) / "wd"
    log: list[str] = []
    errors: list[str] = []
    uploaded = 0
    for of in files:
        condition = of.upload_options.upload_condition
        if not _condition_met(condition, exit_code):
            log.append(f"{of.file_pattern}: not uploaded, the exit does not meet {condition}")
            continue
        dest = of.destination.container
        base, sas = _split(dest.container_url)
        headers = {h.name: h.value for h in dest.upload_headers}
        matches = _matches(of.file_pattern, wd)
        if not matches:
            log.append(f"{of.file_pattern}: no file matches")
        single = not _WILDCARD.search(of.file_pattern)
        for path, name in matches:
            if cancelled():
                raise Cancelled()
            if single:
                blob = dest.path or path.name
            else:
                blob = f"{dest.path.rstrip('/')}/{name}" if dest.path else name
            url = _join(base, sas, blob)
            try:
                _put(url, path, headers)
            except _NETWORK_ERRORS as e:
                status = f"HTTP {e.code} {e.reason}" if isinstance(e, urllib.error.HTTPError) \
                    else str(getattr(e, "reason", None) or e)
                errors.append(f"{path}: upload to {redact(url)} failed: {status}")
                continue
            uploaded += 1
            log.append(f"{path}: uploaded to {redact(url)}")
    _write_log(task_dir / UPLOAD_LOG, log)
    _write_log(task_dir / UPLOAD_ERRORS, errors)
    if errors:
        raise TransferFailed("FileUploadMiscError",
                             f"{len(errors)} output file(s) not uploaded: {errors[0]}")
    return uploaded


def _put(url: str, path: Path, headers: dict[str, str]) -> None:
    """Put Blob: the file as a block blob, in one request."""
    size = path.stat().st_size
    with open(path, "rb") as body:
        with _request(url, "PUT", body, {"x-ms-blob-type": "BlockBlob",
                                         "Content-Length": str(size), **headers}):
            pass


def _write_log(path: Path, lines: list[str]) -> None:
    try:
        path.write_text("".join(redact(line) + "\n" for line in lines), encoding="utf-8")
    except OSError:
        pass        # the task directory went away meanwhile (the node left): nothing to tell


# -- what this machine cannot do (checked when a pool, job or task is added) -----------------

#: The reason a managed identity (``identityReference``) is refused.
NO_MANAGED_IDENTITY = "managed identities are not available locally"
#: The reason ``autoStorageContainerName`` is refused by an account without auto-storage.
NO_AUTO_STORAGE = ("the account has no auto-storage account (poolscale serve "
                   "--storage-connection-string, or POOLSCALE_AUTOSTORAGE)")


def check_transfers(spec: Any, prefix: str = "", *, auto_storage: bool) -> None:
    """Refuse, as the service refuses a property it cannot honour (``InvalidPropertyValue``
    naming the property), what a task model (task, job manager, start, preparation or release
    task) asks of storage that this account cannot give: a managed identity anywhere, or an
    ``autoStorageContainerName`` without an auto-storage account. ``prefix`` is the model's
    REST path (``jobManagerTask.``)."""
    from ..errors import invalid_property

    lists = [("resourceFiles", getattr(spec, "resource_files", ()))]
    multi = getattr(spec, "multi_instance_settings", None)
    if multi is not None:
        lists.append(("multiInstanceSettings.commonResourceFiles", multi.common_resource_files))
    for name, files in lists:
        for i, rf in enumerate(files):
            where = f"{prefix}{name}.{i}"
            if rf.identity_reference is not None:
                raise invalid_property(f"{where}.identityReference", rf.identity_reference,
                                       NO_MANAGED_IDENTITY)
            if rf.auto_storage_container_name is not None and not auto_storage:
                raise invalid_property(f"{where}.autoStorageContainerName",
                                       rf.auto_storage_container_name, NO_AUTO_STORAGE)
    for i, of in enumerate(getattr(spec, "output_files", ())):
        identity = of.destination.container.identity_reference
        if identity is not None:
            raise invalid_property(f"{prefix}outputFiles.{i}.destination.container."
                                   "identityReference", identity, NO_MANAGED_IDENTITY)


#: The environment variable that gives an account its auto-storage connection string.
AUTOSTORAGE_ENV = "POOLSCALE_AUTOSTORAGE"


def auto_storage_setting(given: str | None, environ: Any = None) -> str | None:
    """The ``auto_storage`` setting of an account started with ``given`` (a command-line
    option, None when not given): the option, else ``$POOLSCALE_AUTOSTORAGE``, else None. An
    empty string means "none" either way."""
    if given is None:
        given = (os.environ if environ is None else environ).get(AUTOSTORAGE_ENV)
    return given or None
