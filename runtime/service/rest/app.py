"""The ASGI application of ``poolscale serve``: every request goes through the same gate.

1. **Authentication** (auth.py): nothing runs, no body is read, before the shared key checks.
2. **api-version**: one of :data:`~.operations.SERVED_VERSIONS`; a missing one is
   ``MissingRequiredQueryParameter``, another ``InvalidQueryParameterValue``, as the service.
3. **Routing**: the path and method pick an :class:`~.operations.Operation`. A path no operation
   has is 400 ``InvalidUri`` (with a reason when it is an operation of the Batch API that
   poolscale does not serve, or one of another api-version); a known path with another method
   is 405 ``UnsupportedHttpVerb`` with ``Allow``.
4. **The handler**, which raises :class:`~..errors.BatchError` for every refusal. Anything else
   it raises is a bug: answered 500 ``InternalError``, logged with its traceback and counted in
   :attr:`BatchApp.internal_errors` (the tests and the fuzzer assert it stays 0). The service
   answers nothing else with a 5xx: the SDK retries a 5xx without end.

Every answer carries ``request-id`` (a new UUID, also at the end of an error's message),
``client-request-id`` when the client asked for it back, and ``DataServiceVersion: 3.0``.
The routing is hand-made rather than Starlette's Router because steps 2 and 3 answer with the
Batch codes, and the operation set depends on the api-version.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import logging
import re
import uuid
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.routing import compile_path

from ..errors import BatchError
from . import responses
from .auth import AuthFailure, verify
from .call import Call
from .operations import SERVED_VERSIONS, Operation

__all__ = ["MODULES", "BatchApp", "build_app"]

#: the modules of operations (``routes_*.py`` in this package), each with OPERATIONS and
#: NOT_SERVED
MODULES: tuple[str, ...] = ("routes_pools", "routes_jobs", "routes_schedules", "routes_certs")

_log = logging.getLogger("poolscale.serve")
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")


class _Route:
    __slots__ = ("regex", "convertors", "template", "operations", "not_served")

    def __init__(self, template: str) -> None:
        self.regex, _, self.convertors = compile_path(template)
        self.template = template
        self.operations: dict[str, Operation] = {}
        self.not_served: dict[str, str] = {}


def _load(modules: Iterable[str]) -> tuple[list[Operation], list[tuple[str, str, str]]]:
    operations: list[Operation] = []
    not_served: list[tuple[str, str, str]] = []
    for name in modules:
        module = importlib.import_module(f"{__package__}.{name}")
        operations.extend(module.OPERATIONS)
        not_served.extend(getattr(module, "NOT_SERVED", ()))
    return operations, not_served


class BatchApp:
    """The application (see the module docstring). ``clock`` gives the current UTC time for the
    authentication's clock-skew check (tests move it)."""

    def __init__(self, account: Any, *, account_name: str, key: bytes,
                 operations: Iterable[Operation], not_served: Iterable[tuple[str, str, str]] = (),
                 clock: Callable[[], _dt.datetime] | None = None) -> None:
        self.account = account
        self.account_name = account_name
        self.key = key
        self.clock = clock or (lambda: _dt.datetime.now(_dt.timezone.utc))
        self.internal_errors = 0
        self.operations = list(operations)
        self.not_served = list(not_served)
        routes: dict[str, _Route] = {}
        for op in self.operations:
            route = routes.setdefault(op.template, _Route(op.template))
            if op.method in route.operations:
                raise ValueError(f"two operations for {op.method} {op.template}")
            route.operations[op.method] = op
        for method, template, reason in self.not_served:
            routes.setdefault(template, _Route(template)).not_served[method] = reason
        self._routes = list(routes.values())

    # -- ASGI ------------------------------------------------------------------------------------

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        scope["app"] = self
        request = Request(scope, receive)
        request_id = str(uuid.uuid4())
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in reversed(scope["headers"])}
        base_url = self._base_url(scope, headers)
        head = scope["method"] == "HEAD"
        try:
            response = await self._answer(request, headers, base_url, request_id)
        except AuthFailure as e:
            response = responses.error(e, request_id=request_id, account_url=base_url, head=head)
        except BatchError as e:
            response = responses.error(e, request_id=request_id, account_url=base_url, head=head)
        except Exception:
            self.internal_errors += 1
            _log.exception("internal error answering %s %s (request-id %s)", scope["method"],
                           scope.get("path"), request_id)
            response = responses.error(BatchError("InternalError"), request_id=request_id,
                                       account_url=base_url, head=head)
        response.headers["request-id"] = request_id
        response.headers["DataServiceVersion"] = "3.0"
        client_id = headers.get("client-request-id")
        if client_id and headers.get("return-client-request-id", "").lower() == "true":
            response.headers["client-request-id"] = client_id[:256]
        await response(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _base_url(self, scope: dict, headers: Mapping[str, str]) -> str:
        """Where the client reached us: its Host header if it is a plain host[:port], else the
        address the server listens on."""
        host = headers.get("host", "")
        if not _HOST.fullmatch(host):
            server = scope.get("server") or ("127.0.0.1", None)
            host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
        return f"{scope.get('scheme', 'http')}://{host}"

    # -- the gate --------------------------------------------------------------------------------

    async def _answer(self, request: Request, headers: dict[str, str], base_url: str,
                      request_id: str) -> Any:
        scope = request.scope
        method = scope["method"]
        raw_path = scope.get("raw_path") or scope["path"].encode()
        raw_path = raw_path.decode("latin-1").split("?", 1)[0]
        query_string = scope.get("query_string", b"").decode("latin-1")
        verify(method, raw_path, query_string, headers, account=self.account_name, key=self.key,
               now=self.clock())
        query: dict[str, str] = {}
        for name, values in parse_qs(query_string, keep_blank_values=True).items():
            query.setdefault(name.lower(), values[0])
        version = query.get("api-version")
        if version is None:
            raise BatchError("MissingRequiredQueryParameter",
                             "The api-version query parameter is required.",
                             (("QueryParameterName", "api-version"),))
        if version not in SERVED_VERSIONS:
            raise BatchError("InvalidQueryParameterValue",
                             "Value for one of the query parameters specified in the request "
                             "URI is invalid.",
                             (("QueryParameterName", "api-version"),
                              ("QueryParameterValue", version[:64]),
                              ("Reason", "The api-version is not served; use one of "
                                         + ", ".join(sorted(SERVED_VERSIONS)))))
        operation, params = self._route(method, scope["path"], version)
        call = Call(request, self.account, version, params, query, base_url, request_id, headers)
        return await operation.handler(call)

    def _route(self, method: str, path: str, version: str) -> tuple[Operation, dict[str, str]]:
        for route in self._routes:
            match = route.regex.match(path)
            if match is None:
                continue
            params = {k: route.convertors[k].convert(v) for k, v in match.groupdict().items()}
            op = route.operations.get(method)
            if op is not None:
                if op.serves(version):
                    return op, params
                raise BatchError("InvalidUri", None,
                                 (("Reason", f"{method} {route.template} is not part of "
                                             f"api-version {version}"),))
            if method in route.not_served:
                raise BatchError("InvalidUri", None,
                                 (("Reason", route.not_served[method]),))
            allowed = sorted(m for m, o in route.operations.items() if o.serves(version))
            if not allowed:
                continue
            error = BatchError("UnsupportedHttpVerb", None,
                               (("AllowedHttpVerbs", ", ".join(allowed)),))
            error.headers = {"Allow": ", ".join(allowed)}
            raise error
        raise BatchError("InvalidUri", None, (("Reason", f"no resource at {path[:200]}"),))


def build_app(account: Any, *, account_name: str, key: bytes,
              modules: Iterable[str] | None = None, operations: Iterable[Operation] = (),
              clock: Callable[[], _dt.datetime] | None = None) -> BatchApp:
    """The application over ``account`` with the operations of ``modules`` (default
    :data:`MODULES`) and any extra ``operations`` (tests)."""
    from .openapi import openapi_handler

    loaded, not_served = _load(MODULES if modules is None else modules)
    published = Operation("GET", "/openapi.json", openapi_handler, "openapi")
    return BatchApp(account, account_name=account_name, key=key,
                    operations=[*loaded, published, *operations], not_served=not_served,
                    clock=clock)
