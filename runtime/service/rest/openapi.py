"""The OpenAPI 3.0 document of what ``poolscale serve`` answers under one api-version, built
from the served operations themselves, so it can never list an operation that is not there.

Why build it instead of shipping the official Batch specification: the official one describes
every operation of the service and properties poolscale does not model; a client generator or a
fuzzer (schemathesis) pointed at it would test what poolscale never claimed. This document holds
one path item per served :class:`~poolscale.runtime.service.rest.operations.Operation` of the
api-version, its path parameters, the query parameters that apply (``api-version``,
``timeOut``; ``maxresults``, ``$filter``, ``$select``, ``$expand`` on the lists and gets that
take them), the request body schemas (from the simulator's pydantic models, which the account
validates with, without the simulator's own fields, which the REST layer refuses: bodies.py),
the responses, and the shared-key scheme in words. The operations answered with ``InvalidUri``
are listed under ``x-poolscale-not-served``.

The models' JSON Schema (draft 2020-12) is turned into OpenAPI 3.0's dialect here: ``null`` in
an ``anyOf`` becomes ``nullable``, ``const`` an ``enum`` of one, numeric
``exclusiveMinimum``/``exclusiveMaximum`` the boolean form, ``$defs`` move to
``components/schemas``. Durations, which the models read from ISO-8601 text (``PT5M``) or a
number of seconds, are described as either.

:func:`openapi_handler` serves it at ``GET /openapi.json`` (authenticated like every request).
No Starlette import at module level.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from typing import Any, Iterable, Mapping

from poolscale.runtime.service.rest.bodies import SIMULATOR_FIELDS
from poolscale.runtime.service.rest.odata import DEFAULT_MAX_RESULTS
from poolscale.runtime.service.rest.operations import AZ_VERSION

__all__ = ["openapi_document", "openapi_handler", "success_status", "body_schema_name"]

#: The statuses the azure-batch 15.x SDK accepts for the operations whose answer is not the
#: plain 200 of a read (``_operations.py``'s ``status_code not in [...]``); every ``begin_``
#: (long-running) operation answers 202.
_STATUS = {
    "create_pool": "201", "create_job": "201", "create_task": "201", "create_job_schedule": "201",
    "create_node_user": "201", "create_task_collection": "200",
    "replace_pool_properties": "204", "terminate_task": "204", "reactivate_task": "204",
    "disable_job_schedule": "204", "enable_job_schedule": "204", "upload_node_logs": "200",
}


def success_status(name: str, method: str) -> str:
    """The success status of an operation, by its SDK method name: the SDK's own table, 202 for
    a long-running ``begin_`` operation, 200 for a read, and any 2xx for an operation this
    module does not know."""
    if name in _STATUS:
        return _STATUS[name]
    if name.startswith("begin_"):
        return "202"
    if method in ("GET", "HEAD") or name.startswith(("update_", "replace_", "delete_",
                                                      "enable_", "disable_", "evaluate_")):
        return "200"
    return "2XX"


# --------------------------------------------------------------------------------------------
# JSON Schema (pydantic, 2020-12) -> OpenAPI 3.0 schema objects
# --------------------------------------------------------------------------------------------

_DURATION = {"anyOf": [{"type": "string", "format": "duration",
                        "description": "an ISO-8601 duration such as PT5M"},
                       {"type": "number", "description": "seconds"}]}

#: the Batch id rule (ids.py), for the ids a body names
_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "minLength": 1, "maxLength": 64}


def _to_oas30(node: Any) -> Any:
    """One JSON Schema node in OpenAPI 3.0's dialect (see the module docstring)."""
    if isinstance(node, list):
        return [_to_oas30(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _to_oas30(value) for key, value in node.items() if key != "title"}
    if "$ref" in out:
        out["$ref"] = out["$ref"].replace("#/$defs/", "#/components/schemas/")
    if "const" in out:
        out["enum"] = [out.pop("const")]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), (int, float)) and not isinstance(out[bound], bool):
            out[plain] = out[bound]
            out[bound] = True
    out.pop("examples", None)
    for key in ("anyOf", "oneOf"):
        options = out.get(key)
        if isinstance(options, list) and any(o == {"type": "null"} for o in options):
            rest = [o for o in options if o != {"type": "null"}]
            del out[key]
            if len(rest) == 1:
                only = rest[0]
                if "$ref" in only:
                    out["allOf"] = [only]
                else:
                    out.update(only)
            elif rest:
                out[key] = rest
            out["nullable"] = True
    if out.get("anyOf") and any(o == {} for o in out["anyOf"]):
        del out["anyOf"]                      # "anything": no constraint at all
    return out


def _is_duration(field: Any) -> bool:
    """Whether a pydantic field reads a duration (its validator comes from durations.py)."""
    for item in getattr(field, "metadata", ()):
        func = getattr(item, "func", None)
        if getattr(func, "__module__", "").endswith(".durations"):
            return True
    return False


#: the top-level bodies in the REST API's words (the models' docstrings speak of simulation)
_DESCRIPTIONS = {
    "PoolSpec": "A pool, as Pool - Add takes it (docs/serve.md).",
    "JobSpec": "A job, as Job - Add takes it (docs/serve.md).",
    "TaskSpec": "A task, as Task - Add takes it (docs/serve.md).",
    "JobManagerTask": "The job manager task of a job.",
    "PoolInfo": "Which pool a job runs on: a named pool (poolId) or an auto pool made for it "
                "(autoPoolSpecification), exactly one of them.",
    "JobScheduleSpec": "A job schedule, as Job Schedule - Add takes it (docs/serve.md).",
    "JobSpecification": "The job a schedule makes at each recurrence (a job without an id).",
}

#: a schedule's times over REST: rfc3339 instants (the models also read seconds after a
#: simulation's start, which bodies.py refuses) and ISO-8601 durations
_SCHEDULE_CONFIGURATION = {
    "doNotRunUntil": {"type": "string", "format": "date-time", "nullable": True},
    "doNotRunAfter": {"type": "string", "format": "date-time", "nullable": True},
    "startWindow": {**_DURATION, "nullable": True},
    "recurrenceInterval": {**_DURATION, "nullable": True},
}


def _model_schemas() -> dict[str, dict]:
    """``components/schemas`` of the pool, job and task models, without the simulator's
    fields (a copy of the one made at the first call: pydantic takes ~0.1 s to make them)."""
    return copy.deepcopy(_made_model_schemas())


@lru_cache(maxsize=1)
def _made_model_schemas() -> dict[str, dict]:
    from poolscale.scheduler import models as m

    sections = {"pool": m.PoolSpec, "job": m.JobSpec, "task": m.TaskSpec,
                "jobManagerTask": m.JobManagerTask, "jobPreparationTask": m.JobPreparationTask,
                "jobReleaseTask": m.JobReleaseTask}
    refused = {model.__name__: set(SIMULATOR_FIELDS[section]) for section, model in sections.items()}
    refused["JobSpecification"] = refused["JobSpec"] | {"id"}
    # an auto pool's pool is a pool body without an id (the service names the pool)
    refused["AutoPoolBody"] = refused["PoolSpec"] | {"id"}
    schemas: dict[str, dict] = {}
    classes: dict[str, Any] = {}
    for model in (m.PoolSpec, m.JobSpec, m.TaskSpec, m.JobScheduleSpec):
        raw = model.model_json_schema(by_alias=True)
        for name, schema in {**raw.pop("$defs", {}), model.__name__: raw}.items():
            schemas[name] = schema
    for cls in vars(m).values():
        if isinstance(cls, type) and cls.__name__ in schemas:
            classes[cls.__name__] = cls
    for name, schema in schemas.items():
        cls = classes.get(name)
        props = schema.get("properties", {})
        for drop in refused.get(name, ()):
            props.pop(drop, None)
        if name in refused and "required" in schema:
            schema["required"] = [r for r in schema["required"] if r not in refused[name]]
        if cls is not None:
            for field_name, field in cls.model_fields.items():
                alias = field.alias or field_name
                if alias in props and _is_duration(field):
                    nullable = "anyOf" in props[alias] and {"type": "null"} in props[alias]["anyOf"]
                    props[alias] = copy.deepcopy(_DURATION)
                    if nullable:
                        props[alias]["nullable"] = True
            # the REST properties the models accept and do not model (IGNORED): any value
            for ignored in sorted(getattr(cls, "IGNORED", ())):
                if (ignored not in props and ignored not in refused.get(name, ())
                        and schema.get("type") == "object"):
                    props[ignored] = {"description": "accepted; poolscale does not model it"}
    for name in ("PoolSpec", "JobSpec", "TaskSpec", "JobManagerTask", "JobScheduleSpec"):
        schemas[name]["properties"]["id"] = dict(_ID)
    schemas["ScheduleConfiguration"]["properties"] = copy.deepcopy(_SCHEDULE_CONFIGURATION)
    for name, text in _DESCRIPTIONS.items():
        schemas[name]["description"] = text
    # the account requires a task's command line (the models allow an empty one)
    task = schemas["TaskSpec"]
    task["required"] = sorted(set(task.get("required", [])) | {"commandLine"})
    task["properties"]["commandLine"] = {"type": "string", "minLength": 1}
    schemas["PoolSpec"]["properties"]["vmSize"] = {
        "type": "string", "pattern": "[0-9]",
        "description": "a VM size whose name holds its core count (standard_d2s_v3)"}
    _prune(schemas, ("PoolSpec", "JobSpec", "TaskSpec", "JobScheduleSpec"))
    return {name: _to_oas30(schema) for name, schema in schemas.items()}


def _prune(schemas: dict[str, dict], roots: Iterable[str]) -> None:
    """Drop the schemas no root reaches any more (the simulation section's)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        todo.extend(re.findall(r"#/\$defs/([A-Za-z0-9_]+)", repr(schemas[name])))
    for name in list(schemas):
        if name not in seen:
            del schemas[name]


def _partial(schema: dict) -> dict:
    out = copy.deepcopy(schema)
    out.pop("required", None)
    return out


# --------------------------------------------------------------------------------------------
# request bodies by operation
# --------------------------------------------------------------------------------------------

def _obj(properties: dict, required: Iterable[str] = ()) -> dict:
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = list(required)
    return out


_NODE_OPTION = {"type": "string", "enum": ["requeue", "terminate", "taskcompletion", "retaineddata"]}
_COUNT = {"type": "integer", "minimum": 0}

#: the bodies of the action operations (the Batch REST API's shapes)
_ACTION_BODIES: dict[str, dict] = {
    "begin_resize_pool": _obj({"targetDedicatedNodes": _COUNT, "targetLowPriorityNodes": _COUNT,
                               "resizeTimeout": _DURATION, "nodeDeallocationOption": _NODE_OPTION}),
    "enable_pool_auto_scale": _obj({"autoScaleFormula": {"type": "string"},
                                    "autoScaleEvaluationInterval": _DURATION}),
    "evaluate_pool_auto_scale": _obj({"autoScaleFormula": {"type": "string"}}, ["autoScaleFormula"]),
    "begin_remove_nodes": _obj({"nodeList": {"type": "array", "items": {"type": "string"},
                                             "minItems": 1, "maxItems": 100},
                                "resizeTimeout": _DURATION, "nodeDeallocationOption": _NODE_OPTION},
                               ["nodeList"]),
    "begin_disable_job": _obj({"disableTasks": {"type": "string",
                                                "enum": ["requeue", "terminate", "wait"]}},
                              ["disableTasks"]),
    "begin_terminate_job": _obj({"terminateReason": {"type": "string"}}),
    "replace_task": _obj({"constraints": {"$ref": "#/components/schemas/TaskConstraints"}}),
    "begin_reboot_node": _obj({"nodeRebootOption": _NODE_OPTION}),
    "begin_reimage_node": _obj({"nodeReimageOption": _NODE_OPTION}),
    "begin_deallocate_node": _obj({"nodeDeallocateOption": _NODE_OPTION}),
    "disable_node_scheduling": _obj({"nodeDisableSchedulingOption": {
        "type": "string", "enum": ["requeue", "terminate", "taskcompletion"]}}),
}


#: the changes that take no body (the 15.x SDK's request builders that set no content type)
_BODILESS = frozenset((
    "disable_pool_auto_scale", "begin_stop_pool_resize", "begin_enable_job", "disable_job_schedule",
    "enable_job_schedule", "begin_terminate_job_schedule", "terminate_task", "reactivate_task",
    "begin_start_node", "enable_node_scheduling",
))


def body_schema_name(name: str) -> str | None:
    """Which model schema an operation's body is (``PoolSpec``, ``JobSpec``, ``TaskSpec``,
    ``JobScheduleSpec``), by
    its SDK method name; None for the other bodies."""
    if name in ("create_pool", "update_pool", "replace_pool_properties"):
        return "PoolSpec"
    if name in ("create_job", "update_job", "replace_job"):
        return "JobSpec"
    if name == "create_task":
        return "TaskSpec"
    if name in ("create_job_schedule", "update_job_schedule", "replace_job_schedule"):
        return "JobScheduleSpec"
    return None


def _request_body(name: str, method: str, schemas: Mapping[str, dict]) -> dict | None:
    model = body_schema_name(name)
    if model is not None:
        schema: dict = {"$ref": f"#/components/schemas/{model}"}
        if name.startswith(("update_", "replace_")):      # a patch or a replace: no id in it
            schema = _partial(schemas[model])
            schema["properties"].pop("id", None)
    elif name == "create_task_collection":
        schema = _obj({"value": {"type": "array", "minItems": 1, "maxItems": 100,
                                 "items": {"$ref": "#/components/schemas/TaskSpec"}}}, ["value"])
    elif name in _ACTION_BODIES:
        schema = _ACTION_BODIES[name]
    elif method in ("POST", "PUT", "PATCH") and name not in _BODILESS:
        schema = {"type": "object"}
    else:
        return None
    required = method in ("PUT", "PATCH") or name.startswith(("create_", "evaluate_",
                                                              "begin_remove_", "begin_disable_"))
    return {"required": required,
            "content": {"application/json; odata=minimalmetadata": {"schema": schema}}}


# --------------------------------------------------------------------------------------------
# parameters and responses
# --------------------------------------------------------------------------------------------

_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[A-Za-z_]+)?\}")


def _oas_path(template: str) -> str:
    """A Starlette template as an OpenAPI path (``{filePath:path}`` -> ``{filePath}``)."""
    return _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", template)


def _query(name: str, schema: dict, description: str, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema,
            "description": description}


_LISTS_WITHOUT_SELECT = ("list_pool_node_counts", "list_task_files", "list_node_files")
_EXPANDABLE = ("list_pools", "list_jobs", "list_tasks", "list_jobs_from_schedule",
               "get_pool", "get_job", "get_task", "get_job_schedule")


#: the operations that take the conditional headers (the 15.x SDK's request builders; its
#: ``etag``/``match_condition`` give If-Match / If-None-Match on the same ones)
_CONDITIONAL = frozenset((
    "begin_delete_pool", "pool_exists", "get_pool", "update_pool", "enable_pool_auto_scale",
    "begin_resize_pool", "begin_stop_pool_resize", "begin_remove_nodes", "begin_delete_job",
    "get_job", "update_job", "replace_job", "begin_disable_job", "begin_enable_job",
    "begin_terminate_job", "delete_task", "get_task", "replace_task", "terminate_task",
    "reactivate_task",
))
#: the file operations, which take only the time conditions (and downloads a range)
_FILE_CONDITIONAL = frozenset(("download_task_file", "download_node_file",
                               "get_task_file_properties", "get_node_file_properties"))


def _header(name: str, description: str) -> dict:
    return {"name": name, "in": "header", "required": False, "schema": {"type": "string"},
            "description": description}


def _condition_headers(name: str) -> list[dict]:
    out = []
    if name in _CONDITIONAL:
        out += [_header("If-Match", "answer only if the resource's ETag is this one (else 412)"),
                _header("If-None-Match", "answer only if the resource's ETag is not this one "
                                         "(else 304 for a read, 412 for a change)")]
    if name in _CONDITIONAL or name in _FILE_CONDITIONAL:
        out += [_header("If-Modified-Since", "an RFC 1123 date: answer only if the resource "
                                             "changed since"),
                _header("If-Unmodified-Since", "an RFC 1123 date: answer only if the resource "
                                               "has not changed since")]
    if name.startswith("download_"):
        out.append(_header("ocp-range", "bytes=first-last: that part of the file (answered "
                                        "with 200, as the SDK expects)"))
    return out


def _parameters(op: Any, version: str) -> list[dict]:
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in _PATH_PARAM.findall(op.template)]
    params.append(_query("api-version", {"type": "string", "enum": [version]},
                         "the api-version of the request", required=True))
    params.append(_query("timeOut", {"type": "integer", "minimum": 1, "maximum": 30},
                         "the longest the server may spend on the request, in seconds"))
    name = op.name
    if op.method == "GET" and name.startswith("list_"):
        params.append(_query("maxresults", {"type": "integer", "minimum": 1,
                                            "maximum": DEFAULT_MAX_RESULTS},
                             "the most items in one page"))
        if name != "list_subtasks":
            params.append(_query("$filter", {"type": "string"}, "an OData filter (docs/serve.md)"))
    if op.method == "GET" and (name.startswith("list_") and name not in _LISTS_WITHOUT_SELECT
                               or name.startswith("get_") and "file" not in name
                               and name != "get_job_task_counts"):
        params.append(_query("$select", {"type": "string"},
                             "a comma-separated list of top-level properties to return"))
    if op.method == "GET" and name in _EXPANDABLE:
        params.append(_query("$expand", {"type": "string", "enum": ["stats"]},
                             "stats (accepted; poolscale keeps no statistics)"))
    if "file" in name and (name.startswith("list_") or op.method == "DELETE"):
        params.append(_query("recursive", {"type": "boolean"}, "whether to include subfolders"))
    if version != AZ_VERSION and name in ("begin_delete_job", "begin_terminate_job"):
        params.append(_query("force", {"type": "boolean"},
                             "whether to act even if nodes have not run the job release task"))
    params.extend(_condition_headers(name))
    params.append({"name": "client-request-id", "in": "header", "required": False,
                   "schema": {"type": "string", "format": "uuid"},
                   "description": "the caller's request id, echoed when asked"})
    return params


_ERROR = {
    "type": "object", "required": ["code", "message"],
    "properties": {
        "odata.metadata": {"type": "string"},
        "code": {"type": "string"},
        "message": {"type": "object", "required": ["value"],
                    "properties": {"lang": {"type": "string"}, "value": {"type": "string"}}},
        "values": {"type": "array", "items": {"type": "object", "properties": {
            "key": {"type": "string"}, "value": {"type": "string"}}}},
    },
}


def _responses(op: Any) -> dict:
    status = success_status(op.name, op.method)
    ok: dict[str, Any] = {"description": "success"}
    if op.method == "GET" and "file" in op.name and not op.name.startswith("list_"):
        ok["content"] = {"application/octet-stream": {"schema": {"type": "string",
                                                                 "format": "binary"}}}
    elif op.method == "GET" and op.name.startswith("list_"):
        ok["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/List"}}}
    elif op.method == "GET" or op.name in ("evaluate_pool_auto_scale", "create_task_collection",
                                           "update_pool", "update_job", "replace_job",
                                           "replace_task"):
        ok["content"] = {"application/json": {"schema": {"type": "object"}}}
    responses = {status: ok}
    if op.method == "HEAD":
        responses["404"] = {"description": "it does not exist (no body)"}
    responses["default"] = {"description": "a Batch error (docs/serve.md)",
                            "content": {"application/json": {"schema": {
                                "$ref": "#/components/schemas/BatchError"}}}}
    return responses


_SECURITY = (
    "Shared key, as Azure Batch: header `Authorization: SharedKey <account>:<signature>`, the "
    "signature being base64(HMAC-SHA256(base64-decoded key, string-to-sign)). The string to sign "
    "is the verb, then the content-encoding, content-language, content-length (\"0\" for a "
    "bodiless write), content-md5, content-type, date, if-modified-since, if-match, "
    "if-none-match, if-unmodified-since and range headers, one a line; then every `ocp-` "
    "header as `name:value` lines sorted by name; then `/<account><path as sent>` and each "
    "query parameter as `\\nname:value` in sorted order. `ocp-date` (or `Date`) must be within "
    "15 minutes of the server's clock. The azure-batch SDK and `az batch` sign this way with "
    "`AzureNamedKeyCredential(account, key)`; docs/serve.md gives the development account.")


def openapi_document(operations: Iterable[Any], not_served: Iterable[tuple[str, str, str]],
                     version: str) -> dict:
    """The OpenAPI 3.0 document of ``operations`` (:class:`Operation`) served under
    ``version``; ``not_served`` are the ``(method, template, reason)`` answered with
    ``InvalidUri``."""
    schemas = _model_schemas()
    paths: dict[str, dict] = {}
    names: set[str] = set()
    for op in operations:
        if op.versions is not None and version not in op.versions:
            continue
        item = paths.setdefault(_oas_path(op.template), {})
        method = op.method.lower()
        operation_id = op.name if op.name not in names else f"{op.name}_{method}"
        names.add(operation_id)
        entry: dict[str, Any] = {"operationId": operation_id, "parameters": _parameters(op, version),
                                 "responses": _responses(op)}
        body = _request_body(op.name, op.method, schemas)
        if body is not None:
            entry["requestBody"] = body
        item[method] = entry
    schemas["BatchError"] = _ERROR
    schemas["List"] = {"type": "object", "required": ["value"], "properties": {
        "odata.metadata": {"type": "string"},
        "value": {"type": "array", "items": {"type": "object"}},
        "odata.nextLink": {"type": "string"}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "poolscale serve: the Azure Batch data-plane API of a local account",
                 "version": version,
                 "description": "What `poolscale serve` answers under this api-version "
                                "(docs/serve.md). Operations listed in x-poolscale-not-served "
                                "are answered with 400 InvalidUri."},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(schemas.items())),
                       "securitySchemes": {"sharedKey": {"type": "apiKey", "in": "header",
                                                         "name": "Authorization",
                                                         "description": _SECURITY}}},
        "security": [{"sharedKey": []}],
        "x-poolscale-not-served": [{"method": method, "path": _oas_path(template), "reason": reason}
                                   for method, template, reason in not_served],
    }


# --------------------------------------------------------------------------------------------
# the handler
# --------------------------------------------------------------------------------------------

def _served(call: Any) -> tuple[list[Any], list[tuple[str, str, str]]]:
    """The operations and not-served rows of the app that answers ``call`` (the app puts itself
    in the request's scope as ``app``, as Starlette does)."""
    app = call.request.scope["app"]
    return list(app.operations), list(app.not_served)


async def openapi_handler(call: Any) -> Any:
    """``GET /openapi.json?api-version=...``: the document of the request's api-version. It is
    made for each request (about 1.5 ms once the models' schemas exist, which the first request
    makes, ~0.1 s), off the event loop."""
    from starlette.responses import JSONResponse

    operations, not_served = _served(call)
    document = await call.run(openapi_document, operations, not_served, call.api_version)
    return JSONResponse(document)

