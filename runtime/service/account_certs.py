"""The account's certificates (the Batch API of 2024-02-01.19.0 and before): add, get, list,
delete and cancel a failed deletion; a pool's ``certificateReferences`` name them, and each
process on a node of that pool finds them as files in ``$AZ_BATCH_CERTIFICATES_DIR``.

A mixin of :class:`~.account.Account` (it uses the account's ``_call``, ``pools`` and store).
Why certificates are kept apart from the engine: no Batch rule of the simulator reads them; they
matter only where a process starts (:meth:`CertificateOperations.certificate_files`, which the
local world calls) and where a pool is added (a reference to a certificate the account does not
have is refused, ``InvalidCertificateReferences``).

What the service does and this account does alike (docs/serve.md#certificates):

* the thumbprint is up to 40 hex digits (spaces removed), the algorithm ``sha1``; the data is
  base64 of at most 10 KiB; a ``pfx`` needs its password, a ``cer`` must not have one;
* the thumbprint must be the SHA-1 of the certificate: for a ``cer`` of its bytes (DER, or the
  DER inside a PEM); for a ``pfx`` of the certificate in it, read with the password (which checks
  the password too) when the ``cryptography`` package is installed, else taken on trust;
* deleting a certificate that a pool references fails: its state becomes ``deletefailed`` with a
  ``deleteCertificateError``, and ``canceldelete`` makes it ``active`` again. One that no pool
  references is gone at once (the service shows ``deleting`` for a while; nothing here takes
  time, so no request ever sees it).

The password is stored (it must be written next to the pfx on every node) but never shown: no
view, error or log line carries it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import json
import re
from typing import Any, Mapping

from . import errors as E

__all__ = ["CertificateOperations", "MAX_DATA_BYTES", "certificate_file_names"]

#: the largest certificate the service takes (its REST reference: "The maximum size is 10KB")
MAX_DATA_BYTES = 10 * 1024

_FIELDS = ("thumbprint", "thumbprintAlgorithm", "data", "certificateFormat", "password")
_THUMBPRINT = re.compile(r"[0-9A-Fa-f]{1,40}")
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)

ACTIVE, DELETING, DELETE_FAILED = "active", "deleting", "deletefailed"


def _now() -> str:
    now = _dt.datetime.now(_dt.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _key(algorithm: str, thumbprint: str) -> str:
    return f"{algorithm.lower()}-{thumbprint.replace(' ', '').lower()}"


def certificate_file_names(algorithm: str, thumbprint: str, fmt: str) -> tuple[str, ...]:
    """The files a certificate becomes on a Linux node, as Batch names them:
    ``<algorithm>-<lower-case thumbprint>.<format>``, and for a pfx its password beside it in
    ``….pfx.pw``."""
    base = f"{_key(algorithm, thumbprint)}.{fmt}"
    return (base, base + ".pw") if fmt == "pfx" else (base,)


class _Certificate:
    """One certificate of the account (see the module docstring)."""

    __slots__ = ("thumbprint", "algorithm", "format", "data", "password", "public_data",
                 "state", "state_time", "previous_state", "previous_state_time", "delete_error")

    def __init__(self, thumbprint: str, algorithm: str, fmt: str, data: bytes,
                 password: str | None, public_data: str | None) -> None:
        self.thumbprint, self.algorithm, self.format = thumbprint, algorithm, fmt
        self.data, self.password, self.public_data = data, password, public_data
        self.state, self.state_time = ACTIVE, _now()
        self.previous_state: str | None = None
        self.previous_state_time: str | None = None
        self.delete_error: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        return _key(self.algorithm, self.thumbprint)

    def move(self, state: str) -> None:
        self.previous_state, self.previous_state_time = self.state, self.state_time
        self.state, self.state_time = state, _now()

    def view(self) -> dict[str, Any]:
        """The REST ``Certificate`` (its ``url`` is the REST layer's to add)."""
        view: dict[str, Any] = {"thumbprint": self.thumbprint,
                                "thumbprintAlgorithm": self.algorithm,
                                "state": self.state, "stateTransitionTime": self.state_time}
        if self.previous_state is not None:
            view["previousState"] = self.previous_state
            view["previousStateTransitionTime"] = self.previous_state_time
        if self.public_data is not None:
            view["publicData"] = self.public_data
        if self.delete_error is not None:
            view["deleteCertificateError"] = self.delete_error
        return view

    def row(self) -> dict[str, Any]:
        return {"key": self.key, "thumbprint": self.thumbprint, "algorithm": self.algorithm,
                "format": self.format, "data": self.data, "password": self.password,
                "public_data": self.public_data, "state": self.state,
                "state_time": self.state_time, "previous_state": self.previous_state,
                "previous_state_time": self.previous_state_time,
                "delete_error": None if self.delete_error is None else json.dumps(self.delete_error)}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> _Certificate:
        cert = cls(row["thumbprint"], row["algorithm"], row["format"], bytes(row["data"]),
                   row["password"], row["public_data"])
        cert.state, cert.state_time = row["state"], row["state_time"]
        cert.previous_state, cert.previous_state_time = row["previous_state"], row["previous_state_time"]
        cert.delete_error = None if row["delete_error"] is None else json.loads(row["delete_error"])
        return cert


# -- checking an add ------------------------------------------------------------------------------

def _text(spec: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = spec.get(name)
    if value is None:
        if required:
            raise E.missing_property(name)
        return None
    if not isinstance(value, str):
        shown = "(hidden)" if name == "password" else value
        raise E.invalid_property(name, shown, "must be a string")
    return value


def _decode(data: str) -> bytes:
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise E.invalid_property("data", data, "is not base64") from None
    if not raw:
        raise E.invalid_property("data", data, "is empty")
    if len(raw) > MAX_DATA_BYTES:
        raise E.invalid_property("data", f"({len(raw)} bytes)",
                                 f"is larger than the {MAX_DATA_BYTES // 1024} KiB a certificate may be")
    return raw


def _der_of_cer(raw: bytes) -> bytes:
    """The DER bytes of a ``cer``: the data itself, or the first certificate of a PEM."""
    match = _PEM.search(raw)
    if match is None:
        return raw
    try:
        return base64.b64decode(b"".join(match.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        raise E.invalid_property("data", "(PEM)", "holds a PEM certificate that is not base64") from None


def _der_of_pfx(raw: bytes, password: str) -> bytes | None:
    """The DER bytes of the certificate in a ``pfx`` (None: the ``cryptography`` package is not
    installed, so the pfx cannot be read and is taken on trust)."""
    try:
        from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
    except ImportError:
        return None
    try:
        _key_, cert, _others = pkcs12.load_key_and_certificates(raw, password.encode("utf-8"))
    except (ValueError, TypeError):
        # a wrong password and damaged data look alike to PKCS #12; name both, show neither
        raise E.invalid_property("password", "(hidden)", "the pfx cannot be read with this "
                                 "password (or the data is not a pfx)") from None
    if cert is None:
        raise E.invalid_property("data", "(pfx)", "the pfx holds no certificate")
    return cert.public_bytes(Encoding.DER)


def _new_certificate(spec: Any) -> _Certificate:
    """The certificate a ``Certificate - Add`` body describes, or the Batch error for the first
    thing wrong with it (the password never quoted)."""
    if not isinstance(spec, Mapping):
        raise E.BatchError("InvalidRequestBody", "the certificate must be a JSON object")
    for name in spec:
        if name not in _FIELDS:
            raise E.BatchError("UnsupportedProperty", f"{E.shown(name)} is not a property of a "
                               "certificate to add", (("PropertyName", name),))
    thumbprint = _text(spec, "thumbprint").replace(" ", "")
    if not _THUMBPRINT.fullmatch(thumbprint):
        raise E.invalid_property("thumbprint", spec["thumbprint"], "must be up to 40 hex digits")
    algorithm = _text(spec, "thumbprintAlgorithm")
    if algorithm.lower() != "sha1":
        raise E.invalid_property("thumbprintAlgorithm", algorithm, "must be sha1")
    fmt = (_text(spec, "certificateFormat", required=False) or "pfx").lower()
    if fmt not in ("pfx", "cer"):
        raise E.invalid_property("certificateFormat", spec["certificateFormat"], "must be pfx or cer")
    raw = _decode(_text(spec, "data"))
    password = _text(spec, "password", required=False)
    if fmt == "pfx":
        if password is None:
            raise E.missing_property("password")
        der = _der_of_pfx(raw, password)
    else:
        if password is not None:
            raise E.invalid_property("password", "(hidden)", "must be omitted for a cer certificate")
        der = _der_of_cer(raw)
    if der is not None:
        actual = hashlib.sha1(der).hexdigest()
        if actual != thumbprint.lower():
            raise E.invalid_property("thumbprint", thumbprint,
                                     f"is not the SHA-1 thumbprint of the certificate ({actual})")
    public = base64.b64encode(der).decode("ascii") if der is not None else None
    return _Certificate(thumbprint, "sha1", fmt, raw, password, public)


def _pool_references(spec: Any) -> list[tuple[str, str]]:
    """``(algorithm, thumbprint)`` of each of a pool's ``certificateReferences`` that names
    both (the pool's model refuses the rest, naming the property)."""
    refs = spec.get("certificateReferences") if isinstance(spec, Mapping) else None
    out = []
    for ref in refs if isinstance(refs, list) else ():
        if isinstance(ref, Mapping) and isinstance(ref.get("thumbprint"), str) \
                and isinstance(ref.get("thumbprintAlgorithm"), str):
            out.append((ref["thumbprintAlgorithm"], ref["thumbprint"]))
    return out


class CertificateOperations:
    """Certificate operations of :class:`~.account.Account` (see the module docstring)."""

    # -- state (engine thread) ------------------------------------------------------------

    @property
    def _certificates(self) -> dict[str, _Certificate]:
        table = self.__dict__.get("_certificate_table")
        if table is None:
            table = self.__dict__["_certificate_table"] = {}
        return table

    def _certificate(self, algorithm: str, thumbprint: str) -> _Certificate:
        cert = self._certificates.get(_key(str(algorithm), str(thumbprint)))
        if cert is None:
            raise E.not_found("certificate", f"{algorithm}-{thumbprint}")
        return cert

    def _store_certificate(self, cert: _Certificate, *, gone: bool = False) -> None:
        persist = getattr(self, "_persist", None)
        if persist is not None:
            if gone:
                persist.store.delete("certificates", (cert.key,))
            else:
                persist.store.put("certificates", cert.row())

    def _restore_certificates(self, store: Any) -> None:
        """Recovery (before the pools): the certificates the store holds."""
        for row in store.rows("certificates"):
            cert = _Certificate.from_row(row)
            self._certificates[cert.key] = cert

    def _certificate_users(self, cert: _Certificate) -> list[str]:
        """The ids of the pools (deleting ones too: their nodes still hold it) whose
        ``certificateReferences`` name ``cert``."""
        users = []
        for pool in self.pools.values():
            for ref in pool.pool_spec.certificate_references:
                if _key(ref.thumbprint_algorithm, ref.thumbprint) == cert.key:
                    users.append(pool.id)
                    break
        return users

    def _check_certificate_references(self, spec: Any) -> None:
        """A pool add (engine thread): every certificate it references is in the account and
        not being deleted, else ``InvalidCertificateReferences``."""
        for algorithm, thumbprint in _pool_references(spec):
            cert = self._certificates.get(_key(algorithm, thumbprint))
            if cert is None or cert.state == DELETING:
                raise E.BatchError(
                    "InvalidCertificateReferences",
                    f"the certificate {algorithm}-{thumbprint} is not in the account"
                    if cert is None else f"the certificate {algorithm}-{thumbprint} is being deleted",
                    (("ThumbprintAlgorithm", algorithm), ("Thumbprint", thumbprint)))

    def certificate_files(self, pool_spec: Any) -> list[tuple[str, bytes, int]]:
        """What the pool's referenced certificates are on a node: ``(file name, bytes, mode)``
        (engine thread; the local world writes them into ``$AZ_BATCH_CERTIFICATES_DIR``). A pfx
        and its password file are private (0600), a cer is not (0644)."""
        files = []
        for ref in pool_spec.certificate_references:
            cert = self._certificates.get(_key(ref.thumbprint_algorithm, ref.thumbprint))
            if cert is None:
                continue
            names = certificate_file_names(cert.algorithm, cert.thumbprint, cert.format)
            if cert.format == "pfx":
                files.append((names[0], cert.data, 0o600))
                files.append((names[1], (cert.password or "").encode("utf-8"), 0o600))
            else:
                files.append((names[0], cert.data, 0o644))
        return files

    # -- operations -----------------------------------------------------------------------------

    def add_certificate(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Add a certificate (the REST ``Certificate - Add`` body: ``thumbprint``,
        ``thumbprintAlgorithm``, ``data``, ``certificateFormat``, ``password``); returns its
        view. ``CertificateExists`` if the account has it."""
        cert = _new_certificate(spec)

        def run() -> dict[str, Any]:
            if cert.key in self._certificates:
                raise E.exists("certificate", f"{cert.algorithm}-{cert.thumbprint}")
            self._certificates[cert.key] = cert
            self._store_certificate(cert)
            return cert.view()
        return self._call(run)

    def get_certificate(self, algorithm: str, thumbprint: str) -> dict[str, Any]:
        return self._call(lambda: self._certificate(algorithm, thumbprint).view())

    def list_certificates(self) -> list[dict[str, Any]]:
        return self._call(lambda: [c.view() for c in self._certificates.values()])

    def delete_certificate(self, algorithm: str, thumbprint: str) -> None:
        """Delete the certificate: gone at once if no pool references it; else its deletion
        fails (state ``deletefailed``, ``deleteCertificateError`` naming the pools), as the
        service's does. ``CertificateBeingDeleted`` while it is being deleted."""
        def run() -> None:
            cert = self._certificate(algorithm, thumbprint)
            if cert.state == DELETING:
                raise E.BatchError("CertificateBeingDeleted",
                                   f"the certificate {cert.algorithm}-{cert.thumbprint} is being deleted")
            users = self._certificate_users(cert)
            if not users:
                del self._certificates[cert.key]
                self._store_certificate(cert, gone=True)
                return
            cert.move(DELETING)
            cert.move(DELETE_FAILED)
            cert.delete_error = {
                "code": "CertificateStateDeleteFailed",
                "message": "The certificate is in use by the pools " + ", ".join(users)
                           + "; remove it from them, or delete them, and try again.",
                "values": [{"name": "PoolId", "value": pool_id} for pool_id in users]}
            self._store_certificate(cert)
        self._call(run)

    def cancel_delete_certificate(self, algorithm: str, thumbprint: str) -> None:
        """Make a certificate whose deletion failed ``active`` again
        (``CertificateStateActive`` if it is active)."""
        def run() -> None:
            cert = self._certificate(algorithm, thumbprint)
            if cert.state == ACTIVE:
                raise E.BatchError("CertificateStateActive",
                                   f"the certificate {cert.algorithm}-{cert.thumbprint} is active")
            if cert.state == DELETING:
                raise E.BatchError("CertificateBeingDeleted",
                                   f"the certificate {cert.algorithm}-{cert.thumbprint} is being deleted")
            cert.move(ACTIVE)
            cert.delete_error = None
            self._store_certificate(cert)
        self._call(run)
