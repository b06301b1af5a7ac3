"""The Certificates operations of the Batch REST API, api-version 2024-02-01.19.0 only (the
service removed them after it; the azure-batch 15.x SDK and ``az batch`` 2.91 have no method for
them, so a client sends them as plain signed requests): add, list, get, delete, cancel a failed
deletion. Under another api-version their paths are ``InvalidUri``, as an operation of another
api-version is (rest/app.py).

Each handler makes one :class:`~..account.Account` call through ``call.run`` and answers as the
service does: 201 for an add, 202 for a delete, 204 for a cancelled deletion (bodiless, with
``ETag`` / ``Last-Modified`` / ``DataServiceId`` when there is a certificate to stamp them from),
a ``Certificate`` for a get, a page of them for a list. The views get their ``url`` here. The
certificate's path is the OData key syntax
``/certificates(thumbprintAlgorithm=sha1,thumbprint=…)``; no body is checked by rest/bodies.py
(a certificate has no simulator field to refuse).
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import quote

from .conditions import check
from .answers import page, read
from .operations import AZ_VERSION, Operation
from .responses import empty, with_stamps

__all__ = ["OPERATIONS", "NOT_SERVED", "CERTIFICATE_PATH"]

#: the path of one certificate (a Starlette template)
CERTIFICATE_PATH = "/certificates(thumbprintAlgorithm={thumbprintAlgorithm},thumbprint={thumbprint})"

_VERSIONS = frozenset({AZ_VERSION})


def _url(call: Any, view: Mapping[str, Any]) -> str:
    return (f"{call.base_url}/certificates(thumbprintAlgorithm="
            f"{quote(view['thumbprintAlgorithm'], safe='')},"
            f"thumbprint={quote(view['thumbprint'], safe='')})")


def _certificate(call: Any, view: Mapping[str, Any]) -> dict[str, Any]:
    """A certificate view with its ``url`` and stamps."""
    return with_stamps({**view, "url": _url(call, view)})


def _key(call: Any) -> tuple[str, str]:
    return call.path["thumbprintAlgorithm"], call.path["thumbprint"]


async def _checked(call: Any) -> dict[str, Any]:
    """The certificate's stamped view, after the request's conditions held for a write."""
    view = _certificate(call, await call.run(call.account.get_certificate, *_key(call)))
    check(call, view, write=True)
    return view


async def add_certificate(call: Any) -> Any:
    body = await call.body()
    view = _certificate(call, await call.run(call.account.add_certificate, body))
    return empty(call, 201, view=view, url=view["url"])


async def list_certificates(call: Any) -> Any:
    views = [_certificate(call, v) for v in await call.run(call.account.list_certificates)]
    return page(call, views, "certificates", "certificates")


async def get_certificate(call: Any) -> Any:
    view = _certificate(call, await call.run(call.account.get_certificate, *_key(call)))
    return read(call, view, "certificates/@Element")


async def delete_certificate(call: Any) -> Any:
    await _checked(call)
    await call.run(call.account.delete_certificate, *_key(call))
    return empty(call, 202)


async def cancel_delete_certificate(call: Any) -> Any:
    await _checked(call)
    await call.run(call.account.cancel_delete_certificate, *_key(call))
    view = _certificate(call, await call.run(call.account.get_certificate, *_key(call)))
    return empty(call, 204, view=view, url=view["url"])


#: named as the last SDK with certificates names them (azure-batch 14.x ``certificate.add``,
#: ...), in the 15.x style of the other modules
OPERATIONS: tuple[Operation, ...] = (
    Operation("POST", "/certificates", add_certificate, "create_certificate", _VERSIONS),
    Operation("GET", "/certificates", list_certificates, "list_certificates", _VERSIONS),
    Operation("GET", CERTIFICATE_PATH, get_certificate, "get_certificate", _VERSIONS),
    Operation("DELETE", CERTIFICATE_PATH, delete_certificate, "begin_delete_certificate",
              _VERSIONS),
    Operation("POST", CERTIFICATE_PATH + "/canceldelete", cancel_delete_certificate,
              "cancel_certificate_deletion", _VERSIONS),
)

#: every certificate operation of 2024-02-01.19.0 is served
NOT_SERVED: tuple[tuple[str, str, str], ...] = ()
