"""The Pools and Nodes operations of the Batch REST API (azure-batch 15.x ``*_pool*``,
``*_node*`` methods): pools add, list, get, exists, patch, update properties, delete, autoscale
(enable, disable, evaluate), resize, stop resize, remove nodes, node counts, supported images;
nodes list, get, reboot, disable and enable scheduling; node files list, get (a range of it),
properties and delete.

Each handler reads the request, makes one :class:`~..account.Account` call through
``call.run`` and shapes the answer as the service does (status, body, ``ETag`` /
``Last-Modified`` / ``DataServiceId``). The views get their ``url`` here (the account does not
know the address the client used). Conditional headers (``If-Match``, ...) are checked against
the view as it is just before a change: a write whose condition fails changes nothing.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import quote

from ..errors import BatchError, invalid_property, missing_property
from .bodies import rest_body
from .call import parse_json_object, read_limited
from .conditions import check
from .files import file_response, file_url
from .odata import check_expand, max_results
from .answers import page, read
from .operations import Operation
from .responses import empty, json_response, listing, metadata_url, with_stamps

__all__ = ["OPERATIONS", "NOT_SERVED", "SUPPORTED_IMAGES", "REMOVE_NODES_MAX"]

#: the most nodes one removenodes request names (the service's limit)
REMOVE_NODES_MAX = 100

#: ``/supportedimages``: the one image a local node is, so that a program that picks its
#: ``nodeAgentSKUId`` from this list (as ``az batch pool supported-images list`` users do) finds
#: one; any image reference is accepted by a pool add all the same (docs/serve.md)
SUPPORTED_IMAGES = (
    {"nodeAgentSKUId": "batch.node.ubuntu 22.04",
     "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy",
                        "sku": "22_04-lts", "version": "latest"},
     "osType": "linux", "capabilities": [], "verificationType": "verified"},
)


# -- helpers ------------------------------------------------------------------------------------

def _pool_url(call: Any, pool_id: str) -> str:
    return f"{call.base_url}/pools/{quote(pool_id, safe='')}"


def _node_url(call: Any, pool_id: str, node_id: str) -> str:
    return f"{_pool_url(call, pool_id)}/nodes/{quote(node_id, safe='')}"


def _pool(call: Any, view: Mapping[str, Any]) -> dict[str, Any]:
    """A pool view with its ``url`` and stamps."""
    return with_stamps({**view, "url": _pool_url(call, view["id"])})


def _node(call: Any, pool_id: str, view: Mapping[str, Any]) -> dict[str, Any]:
    """A node view with its ``url``, its recent tasks' ``taskUrl`` and its stamps."""
    out = {**view, "url": _node_url(call, pool_id, view["id"])}
    if "recentTasks" in view:
        out["recentTasks"] = [
            {"taskUrl": f"{call.base_url}/jobs/{quote(t['jobId'], safe='')}/tasks/"
                        f"{quote(t['taskId'], safe='')}", **t}
            for t in view["recentTasks"]]
    return with_stamps(out)


async def _body(call: Any, kind: str) -> dict[str, Any]:
    return rest_body(await call.body(), kind)


async def _optional_body(call: Any, kind: str) -> dict[str, Any]:
    """A body the operation may be sent without (reboot, disable scheduling): none is ``{}``."""
    raw = await read_limited(call.request)
    if not raw.strip():
        return {}
    return rest_body(parse_json_object(raw), kind)


def _field(body: Mapping[str, Any], name: str, kind: type, what: str,
           required: bool = False) -> Any:
    """``body[name]`` if it is a ``kind`` (a JSON true or false is no number), None if
    absent (or null)."""
    value = body.get(name)
    if value is None:
        if required:
            raise missing_property(name)
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise invalid_property(name, value, f"must be {what}")
    return value


def _only(body: Mapping[str, Any], names: tuple[str, ...]) -> None:
    """Refuse a property the operation does not have (``UnsupportedProperty``, named)."""
    for name in body:
        if name not in names:
            raise BatchError("UnsupportedProperty", None, (("PropertyName", name),))


def _flag(call: Any, name: str) -> bool:
    value = call.query.get(name.lower())
    if value is None or value.lower() == "false":
        return False
    if value.lower() == "true":
        return True
    raise BatchError("InvalidQueryParameterValue", None, (
        ("QueryParameterName", name), ("QueryParameterValue", value[:64]),
        ("Reason", "must be true or false")))


async def _checked_pool(call: Any, pool_id: str) -> dict[str, Any]:
    """The pool's stamped view, after the request's conditions held for a write."""
    view = _pool(call, await call.run(call.account.get_pool, pool_id))
    check(call, view, write=True)
    return view


async def _changed(call: Any, pool_id: str, status: int) -> Any:
    """The bodiless answer of a pool change: the pool's stamps as they are now."""
    view = _pool(call, await call.run(call.account.get_pool, pool_id))
    return empty(call, status, view=view, url=view["url"])


# -- pools --------------------------------------------------------------------------------------

async def create_pool(call: Any) -> Any:
    body = await _body(call, "pool")
    view = _pool(call, await call.run(call.account.create_pool, body))
    return empty(call, 201, view=view, url=view["url"])


async def list_pools(call: Any) -> Any:
    views = [_pool(call, v) for v in await call.run(call.account.list_pools)]
    return page(call, views, "pools", "pools")


async def get_pool(call: Any) -> Any:
    check_expand(call.query)
    view = _pool(call, await call.run(call.account.get_pool, call.path["poolId"]))
    return read(call, view, "pools/@Element")


async def pool_exists(call: Any) -> Any:
    view = _pool(call, await call.run(call.account.get_pool, call.path["poolId"]))
    not_modified = check(call, view, write=False)
    if not_modified is not None:
        return not_modified
    return empty(call, 200, view=view)


async def update_pool(call: Any) -> Any:
    pool_id = call.path["poolId"]
    body = await _body(call, "pool-update")
    await _checked_pool(call, pool_id)
    view = _pool(call, await call.run(call.account.patch_pool, pool_id, body))
    return empty(call, 200, view=view, url=view["url"])


async def replace_pool_properties(call: Any) -> Any:
    pool_id = call.path["poolId"]
    body = await _body(call, "pool-replace")
    await _checked_pool(call, pool_id)
    view = _pool(call, await call.run(call.account.replace_pool_properties, pool_id, body))
    return empty(call, 204, view=view, url=view["url"])


async def delete_pool(call: Any) -> Any:
    pool_id = call.path["poolId"]
    await _checked_pool(call, pool_id)
    await call.run(call.account.delete_pool, pool_id)
    return empty(call, 202)


async def enable_pool_auto_scale(call: Any) -> Any:
    pool_id = call.path["poolId"]
    body = await _body(call, "pool-enable-autoscale")
    _only(body, ("autoScaleFormula", "autoScaleEvaluationInterval"))
    formula = _field(body, "autoScaleFormula", str, "text")
    interval = _field(body, "autoScaleEvaluationInterval", str, "an ISO-8601 duration")
    view = await _checked_pool(call, pool_id)
    if formula is None:
        formula = view.get("autoScaleFormula")
        if formula is None:        # a pool that does not autoscale needs its formula
            raise missing_property("autoScaleFormula")
    await call.run(call.account.enable_autoscale, pool_id, formula, interval)
    return await _changed(call, pool_id, 200)


async def disable_pool_auto_scale(call: Any) -> Any:
    pool_id = call.path["poolId"]
    await call.run(call.account.disable_autoscale, pool_id)
    return await _changed(call, pool_id, 200)


async def evaluate_pool_auto_scale(call: Any) -> Any:
    pool_id = call.path["poolId"]
    body = await _body(call, "pool-evaluate-autoscale")
    _only(body, ("autoScaleFormula",))
    formula = _field(body, "autoScaleFormula", str, "text", required=True)
    run = await call.run(call.account.evaluate_autoscale, pool_id, formula)
    view = _pool(call, await call.run(call.account.get_pool, pool_id))
    data = {"odata.metadata": metadata_url(
        call, "Microsoft.Azure.Batch.Protocol.Entities.AutoScaleRun"), **run}
    headers = {"DataServiceId": view["url"], "ETag": view["eTag"]}
    return json_response(data, 200, headers)


async def resize_pool(call: Any) -> Any:
    pool_id = call.path["poolId"]
    body = await _body(call, "pool-resize")
    _only(body, ("targetDedicatedNodes", "targetLowPriorityNodes", "resizeTimeout",
                 "nodeDeallocationOption"))
    dedicated = _field(body, "targetDedicatedNodes", int, "a whole number") or 0
    low = _field(body, "targetLowPriorityNodes", int, "a whole number") or 0
    timeout = _field(body, "resizeTimeout", str, "an ISO-8601 duration")
    option = _field(body, "nodeDeallocationOption", str, "text")
    await _checked_pool(call, pool_id)
    await call.run(call.account.resize_pool, pool_id, dedicated, low, option, timeout)
    return await _changed(call, pool_id, 202)


async def stop_pool_resize(call: Any) -> Any:
    pool_id = call.path["poolId"]
    await _checked_pool(call, pool_id)
    await call.run(call.account.stop_resize, pool_id)
    return await _changed(call, pool_id, 202)


async def remove_nodes(call: Any) -> Any:
    pool_id = call.path["poolId"]
    body = await _body(call, "pool-remove-nodes")
    _only(body, ("nodeList", "resizeTimeout", "nodeDeallocationOption"))
    nodes = _field(body, "nodeList", list, "a list of node ids", required=True)
    if not 1 <= len(nodes) <= REMOVE_NODES_MAX:
        raise invalid_property("nodeList", f"{len(nodes)} nodes",
                               f"must name 1 to {REMOVE_NODES_MAX} nodes")
    for i, node_id in enumerate(nodes):
        if not isinstance(node_id, str):
            raise invalid_property(f"nodeList[{i}]", node_id, "must be a node id")
    timeout = _field(body, "resizeTimeout", str, "an ISO-8601 duration")
    option = _field(body, "nodeDeallocationOption", str, "text")
    await _checked_pool(call, pool_id)
    await call.run(call.account.remove_nodes, pool_id, nodes, option, timeout)
    return await _changed(call, pool_id, 202)


async def list_pool_node_counts(call: Any) -> Any:
    counts = await call.run(call.account.node_counts)
    return page(call, counts, "nodecounts", "poolnodecounts")


async def list_supported_images(call: Any) -> Any:
    """The one local image (``$filter`` is accepted; the one image is verified, the filter
    users give)."""
    limit = max_results(call.query)
    return listing(call, [dict(i) for i in SUPPORTED_IMAGES][:limit], metadata="supportedimages")


# -- nodes --------------------------------------------------------------------------------------

async def list_nodes(call: Any) -> Any:
    pool_id = call.path["poolId"]
    views = [_node(call, pool_id, v) for v in await call.run(call.account.list_nodes, pool_id)]
    return page(call, views, "nodes", "nodes")


async def get_node(call: Any) -> Any:
    pool_id = call.path["poolId"]
    view = _node(call, pool_id, await call.run(call.account.get_node, pool_id,
                                               call.path["nodeId"]))
    return read(call, view, "nodes/@Element")


async def _node_changed(call: Any, status: int) -> Any:
    pool_id, node_id = call.path["poolId"], call.path["nodeId"]
    view = _node(call, pool_id, await call.run(call.account.get_node, pool_id, node_id))
    return empty(call, status, view=view, url=view["url"])


async def reboot_node(call: Any) -> Any:
    body = await _optional_body(call, "node-reboot")
    _only(body, ("nodeRebootOption",))
    option = _field(body, "nodeRebootOption", str, "text")
    await call.run(call.account.reboot_node, call.path["poolId"], call.path["nodeId"],
                   option or "requeue")
    return await _node_changed(call, 202)


async def disable_node_scheduling(call: Any) -> Any:
    body = await _optional_body(call, "node-disable-scheduling")
    _only(body, ("nodeDisableSchedulingOption",))
    option = _field(body, "nodeDisableSchedulingOption", str, "text") or "requeue"
    await call.run(call.account.disable_scheduling, call.path["poolId"], call.path["nodeId"],
                   option.lower())
    return await _node_changed(call, 200)


async def enable_node_scheduling(call: Any) -> Any:
    await call.run(call.account.enable_scheduling, call.path["poolId"], call.path["nodeId"])
    return await _node_changed(call, 200)


# -- node files -----------------------------------------------------------------------------------

def _owner(call: Any) -> str:
    return (f"/pools/{quote(call.path['poolId'], safe='')}"
            f"/nodes/{quote(call.path['nodeId'], safe='')}")


async def list_node_files(call: Any) -> Any:
    recursive = _flag(call, "recursive")
    entries = await call.run(call.account.list_node_files, call.path["poolId"],
                             call.path["nodeId"], recursive)
    owner = _owner(call)
    views = [{"name": e["name"], "url": file_url(call, owner, e["name"]),
              "isDirectory": e["isDirectory"], "properties": e["properties"]} for e in entries]
    return page(call, views, "nodefiles", "files")


async def _node_file(call: Any, *, head: bool) -> Any:
    path = call.path["filePath"]
    target, st = await call.run(call.account.node_file, call.path["poolId"],
                                call.path["nodeId"], path)
    return file_response(call, target, st, file_url(call, _owner(call), path), head=head)


async def get_node_file(call: Any) -> Any:
    return await _node_file(call, head=False)


async def get_node_file_properties(call: Any) -> Any:
    return await _node_file(call, head=True)


async def delete_node_file(call: Any) -> Any:
    recursive = _flag(call, "recursive")
    await call.run(call.account.delete_node_file, call.path["poolId"], call.path["nodeId"],
                   call.path["filePath"], recursive)
    return empty(call, 200)


# -- the tables ---------------------------------------------------------------------------------

_POOL = "/pools/{poolId}"
_NODE = "/pools/{poolId}/nodes/{nodeId}"
_FILE = "/pools/{poolId}/nodes/{nodeId}/files/{filePath:path}"

OPERATIONS: tuple[Operation, ...] = (
    Operation("POST", "/pools", create_pool, "create_pool"),
    Operation("GET", "/pools", list_pools, "list_pools"),
    Operation("GET", _POOL, get_pool, "get_pool"),
    Operation("HEAD", _POOL, pool_exists, "pool_exists"),
    Operation("PATCH", _POOL, update_pool, "update_pool"),
    Operation("DELETE", _POOL, delete_pool, "begin_delete_pool"),
    Operation("POST", _POOL + "/updateproperties", replace_pool_properties,
              "replace_pool_properties"),
    Operation("POST", _POOL + "/enableautoscale", enable_pool_auto_scale,
              "enable_pool_auto_scale"),
    Operation("POST", _POOL + "/disableautoscale", disable_pool_auto_scale,
              "disable_pool_auto_scale"),
    Operation("POST", _POOL + "/evaluateautoscale", evaluate_pool_auto_scale,
              "evaluate_pool_auto_scale"),
    Operation("POST", _POOL + "/resize", resize_pool, "begin_resize_pool"),
    Operation("POST", _POOL + "/stopresize", stop_pool_resize, "begin_stop_pool_resize"),
    Operation("POST", _POOL + "/removenodes", remove_nodes, "begin_remove_nodes"),
    Operation("GET", "/nodecounts", list_pool_node_counts, "list_pool_node_counts"),
    Operation("GET", "/supportedimages", list_supported_images, "list_supported_images"),
    Operation("GET", _POOL + "/nodes", list_nodes, "list_nodes"),
    Operation("GET", _NODE, get_node, "get_node"),
    Operation("POST", _NODE + "/reboot", reboot_node, "begin_reboot_node"),
    Operation("POST", _NODE + "/disablescheduling", disable_node_scheduling,
              "disable_node_scheduling"),
    Operation("POST", _NODE + "/enablescheduling", enable_node_scheduling,
              "enable_node_scheduling"),
    Operation("GET", _NODE + "/files", list_node_files, "list_node_files"),
    Operation("GET", _FILE, get_node_file, "download_node_file"),
    Operation("HEAD", _FILE, get_node_file_properties, "get_node_file_properties"),
    Operation("DELETE", _FILE, delete_node_file, "delete_node_file"),
)

_NO_USERS = ("node users are not served by poolscale: a local node runs every task as the "
             "user running poolscale serve")
_NO_REMOTE = "remote login is not served by poolscale: a local node is a directory on this machine"
_NO_VM = ("not served by poolscale: a local node has no VM of its own to {} (reboot "
          "restarts its processes)")

#: the Pools and Nodes operations of the Batch API poolscale answers with ``InvalidUri``
NOT_SERVED: tuple[tuple[str, str, str], ...] = (
    ("POST", _NODE + "/users", _NO_USERS),
    ("PUT", _NODE + "/users/{userName}", _NO_USERS),
    ("DELETE", _NODE + "/users/{userName}", _NO_USERS),
    ("GET", _NODE + "/remoteloginsettings", _NO_REMOTE),
    ("POST", _NODE + "/uploadbatchservicelogs",
     "uploading service logs is not served by poolscale: its log is the serve process's "
     "standard error"),
    ("GET", _NODE + "/extensions",
     "VM extensions are not served by poolscale: a local node has none"),
    ("GET", _NODE + "/extensions/{extensionName}",
     "VM extensions are not served by poolscale: a local node has none"),
    ("POST", _NODE + "/reimage", _NO_VM.format("reimage")),
    ("POST", _NODE + "/start", _NO_VM.format("start")),
    ("POST", _NODE + "/deallocate", _NO_VM.format("deallocate")),
    ("GET", "/poolusagemetrics",
     "pool usage metrics are not served by poolscale: it bills nothing"),
)
