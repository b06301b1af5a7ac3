"""The published OpenAPI document (runtime/service/rest/openapi.py): one path item per served
operation of the api-version, the parameters that apply, the bodies without the simulator's
fields, and a document schemathesis loads and generates requests from."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from poolscale.runtime.service.rest import openapi
from poolscale.runtime.service.rest.bodies import SIMULATOR_FIELDS
from poolscale.runtime.service.rest.openapi import openapi_document


@dataclass(frozen=True)
class Op:
    """The fields of rest/operations.py's Operation that the document reads."""

    method: str
    template: str
    handler: Any
    name: str
    versions: frozenset[str] | None = None


async def _handler(call):          # never called: the document only lists operations
    raise AssertionError


OPS = (
    Op("POST", "/pools", _handler, "create_pool"),
    Op("GET", "/pools", _handler, "list_pools"),
    Op("GET", "/pools/{poolId}", _handler, "get_pool"),
    Op("HEAD", "/pools/{poolId}", _handler, "pool_exists"),
    Op("PATCH", "/pools/{poolId}", _handler, "update_pool"),
    Op("DELETE", "/pools/{poolId}", _handler, "begin_delete_pool"),
    Op("POST", "/pools/{poolId}/resize", _handler, "begin_resize_pool"),
    Op("POST", "/pools/{poolId}/nodes/{nodeId}/start", _handler, "begin_start_node",
       frozenset({"2025-06-01", "2025-06-01.21.0"})),
    Op("POST", "/jobs", _handler, "create_job"),
    Op("DELETE", "/jobs/{jobId}", _handler, "begin_delete_job"),
    Op("POST", "/jobs/{jobId}/tasks", _handler, "create_task"),
    Op("GET", "/jobs/{jobId}/tasks", _handler, "list_tasks"),
    Op("POST", "/jobs/{jobId}/addtaskcollection", _handler, "create_task_collection"),
    Op("GET", "/jobs/{jobId}/tasks/{taskId}/files/{filePath:path}", _handler, "download_task_file"),
    Op("GET", "/jobs/{jobId}/tasks/{taskId}/files", _handler, "list_task_files"),
    Op("POST", "/jobs/{jobId}/tasks/{taskId}/terminate", _handler, "terminate_task"),
)
NOT_SERVED = (("GET", "/jobschedules", "job schedules are not served by poolscale"),)


@pytest.fixture(scope="module")
def doc() -> dict:
    return openapi_document(OPS, NOT_SERVED, "2025-06-01")


def params(doc: dict, path: str, method: str) -> dict[str, dict]:
    return {(p["in"], p["name"]): p for p in doc["paths"][path][method]["parameters"]}


def test_one_path_item_per_operation_of_the_version(doc):
    assert {path: sorted(item) for path, item in doc["paths"].items()} == {
        "/pools": ["get", "post"],
        "/pools/{poolId}": ["delete", "get", "head", "patch"],
        "/pools/{poolId}/resize": ["post"],
        "/pools/{poolId}/nodes/{nodeId}/start": ["post"],
        "/jobs": ["post"],
        "/jobs/{jobId}": ["delete"],
        "/jobs/{jobId}/tasks": ["get", "post"],
        "/jobs/{jobId}/addtaskcollection": ["post"],
        "/jobs/{jobId}/tasks/{taskId}/files/{filePath}": ["get"],
        "/jobs/{jobId}/tasks/{taskId}/files": ["get"],
        "/jobs/{jobId}/tasks/{taskId}/terminate": ["post"],
    }
    assert doc["paths"]["/pools"]["post"]["operationId"] == "create_pool"
    older = openapi_document(OPS, NOT_SERVED, "2024-02-01.19.0")
    assert "/pools/{poolId}/nodes/{nodeId}/start" not in older["paths"]
    assert older["info"]["version"] == "2024-02-01.19.0"
    assert doc["openapi"] == "3.0.3"
    assert doc["x-poolscale-not-served"] == [
        {"method": "GET", "path": "/jobschedules", "reason": "job schedules are not served by poolscale"}]


def test_parameters_where_they_apply(doc):
    listing = params(doc, "/jobs/{jobId}/tasks", "get")
    assert set(listing) == {("path", "jobId"), ("query", "api-version"), ("query", "timeOut"),
                            ("query", "maxresults"), ("query", "$filter"), ("query", "$select"),
                            ("query", "$expand"), ("header", "client-request-id")}
    assert listing[("query", "api-version")] == {
        "name": "api-version", "in": "query", "required": True,
        "schema": {"type": "string", "enum": ["2025-06-01"]},
        "description": "the api-version of the request"}
    assert listing[("query", "maxresults")]["schema"] == {"type": "integer", "minimum": 1,
                                                         "maximum": 1000}
    assert listing[("query", "$expand")]["schema"] == {"type": "string", "enum": ["stats"]}
    assert set(params(doc, "/pools/{poolId}", "get")) == {
        ("path", "poolId"), ("query", "api-version"), ("query", "timeOut"), ("query", "$select"),
        ("query", "$expand"), ("header", "If-Match"), ("header", "If-None-Match"),
        ("header", "If-Modified-Since"), ("header", "If-Unmodified-Since"),
        ("header", "client-request-id")}
    assert set(params(doc, "/pools", "post")) == {
        ("query", "api-version"), ("query", "timeOut"), ("header", "client-request-id")}
    assert set(params(doc, "/jobs/{jobId}/tasks/{taskId}/files", "get")) == {
        ("path", "jobId"), ("path", "taskId"), ("query", "api-version"), ("query", "timeOut"),
        ("query", "maxresults"), ("query", "$filter"), ("query", "recursive"),
        ("header", "client-request-id")}
    assert set(params(doc, "/pools/{poolId}", "delete")) == {
        ("path", "poolId"), ("query", "api-version"), ("query", "timeOut"),
        ("header", "If-Match"), ("header", "If-None-Match"), ("header", "If-Modified-Since"),
        ("header", "If-Unmodified-Since"), ("header", "client-request-id")}
    file = params(doc, "/jobs/{jobId}/tasks/{taskId}/files/{filePath}", "get")
    assert {key for key in file if key[0] == "header"} == {
        ("header", "If-Modified-Since"), ("header", "If-Unmodified-Since"), ("header", "ocp-range"),
        ("header", "client-request-id")}
    assert file[("path", "filePath")] == {"name": "filePath", "in": "path", "required": True,
                                          "schema": {"type": "string"}}
    assert ("query", "force") in params(doc, "/jobs/{jobId}", "delete")
    older = openapi_document(OPS, (), "2024-02-01.19.0")
    assert ("query", "force") not in params(older, "/jobs/{jobId}", "delete")


def test_success_statuses_are_the_sdks(doc):
    def statuses(path, method):
        return sorted(doc["paths"][path][method]["responses"])
    assert statuses("/pools", "post") == ["201", "default"]
    assert statuses("/pools", "get") == ["200", "default"]
    assert statuses("/pools/{poolId}", "head") == ["200", "404", "default"]
    assert statuses("/pools/{poolId}", "delete") == ["202", "default"]
    assert statuses("/jobs/{jobId}/addtaskcollection", "post") == ["200", "default"]
    assert statuses("/jobs/{jobId}/tasks/{taskId}/terminate", "post") == ["204", "default"]
    error = doc["paths"]["/pools"]["post"]["responses"]["default"]
    assert error["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/BatchError"}


def test_success_status_of_every_sdk_method_is_the_one_the_sdk_accepts():
    """Read from the SDK's generated operations: ``if response.status_code not in [...]``."""
    import os
    import re

    import azure.batch

    source = open(os.path.join(os.path.dirname(azure.batch.__file__), "_operations",
                               "_operations.py")).read()
    checked = {}
    for match in re.finditer(r"\n    def (\w+)\(.*?(?=\n    def |\n    @|\Z)", source, re.S):
        name, body = match.groups()[0], match.group(0)
        accepted = re.search(r"status_code not in \[([^\]]*)\]", body)
        if accepted is None:
            continue
        if name.startswith("_") and name.endswith("_internal"):   # behind a begin_ poller
            name = name[1:-len("_internal")]
            name = name if name.endswith("_properties") else "begin_" + name
        method = ("GET" if name.startswith(("list_", "get_", "download_")) and
                  not name.endswith("_properties") else
                  "HEAD" if name.endswith(("_exists", "_properties")) else "POST")
        checked[name] = (openapi.success_status(name, method),
                         accepted.group(1).split(",")[0].strip())
    assert len(checked) > 60
    assert {name: pair for name, pair in checked.items() if pair[0] != pair[1]} == {}
    assert checked["begin_delete_pool"] == ("202", "202")
    assert checked["replace_pool_properties"] == ("204", "204")


def test_an_operation_has_a_body_exactly_when_the_sdk_sends_one():
    """Read from the SDK's request builders: a change sends a body when its builder sets a
    content type."""
    import os
    import re

    import azure.batch

    source = open(os.path.join(os.path.dirname(azure.batch.__file__), "_operations",
                               "_operations.py")).read()
    builders = re.finditer(r"\ndef build_batch_(\w+)_request\((.*?)\) -> HttpRequest:(.*?)"
                           r"return HttpRequest\(method=\"(\w+)\"", source, re.S)
    schemas = openapi._model_schemas()
    wrong, count = {}, 0
    for builder in builders:
        name, code, method = builder.group(1), builder.group(3), builder.group(4)
        if method in ("GET", "HEAD", "DELETE"):
            continue
        if name.endswith("_internal"):
            name = "begin_" + name[:-len("_internal")]
        count += 1
        has_body = openapi._request_body(name, method, schemas) is not None
        if has_body != ("content_type" in code):
            wrong[name] = has_body
    assert count > 30
    assert wrong == {}


@pytest.mark.parametrize("name, model", [
    ("begin_resize_pool", "BatchPoolResizeOptions"),
    ("enable_pool_auto_scale", "BatchPoolEnableAutoScaleOptions"),
    ("evaluate_pool_auto_scale", "BatchPoolEvaluateAutoScaleOptions"),
    ("begin_remove_nodes", "BatchNodeRemoveOptions"),
    ("begin_disable_job", "BatchJobDisableOptions"),
    ("begin_terminate_job", "BatchJobTerminateOptions"),
    ("begin_reboot_node", "BatchNodeRebootOptions"),
    ("begin_reimage_node", "BatchNodeReimageOptions"),
    ("begin_deallocate_node", "BatchNodeDeallocateOptions"),
    ("disable_node_scheduling", "BatchNodeDisableSchedulingOptions"),
])
def test_action_bodies_have_the_sdks_properties(name, model):
    from azure.batch.models import _models

    names = set()
    for klass in getattr(_models, model).__mro__:
        for attr, field in vars(klass).items():
            if type(field).__name__ == "_RestField":
                names.add(field._rest_name_input or attr)
    assert set(openapi._ACTION_BODIES[name]["properties"]) == names


def test_bodies_have_no_simulator_field(doc):
    schemas = doc["components"]["schemas"]
    for section, model in (("pool", "PoolSpec"), ("job", "JobSpec"), ("task", "TaskSpec"),
                           ("jobManagerTask", "JobManagerTask"),
                           ("jobPreparationTask", "JobPreparationTask"),
                           ("jobReleaseTask", "JobReleaseTask")):
        assert set(SIMULATOR_FIELDS[section]) & set(schemas[model]["properties"]) == set()
    assert "simulat" not in json.dumps(doc).lower()
    assert not {"SimulationSettings", "Profile", "Constant", "StartTaskSimulation"} & set(schemas)
    # exitConditions.exitCodes is the REST API's own and stays
    assert "exitCodes" in schemas["ExitConditions"]["properties"]


def test_body_schemas(doc):
    schemas = doc["components"]["schemas"]
    body = doc["paths"]["/pools"]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json; odata=minimalmetadata"]["schema"] == {
        "$ref": "#/components/schemas/PoolSpec"}
    pool = schemas["PoolSpec"]
    assert pool["required"] == ["id", "vmSize"]
    assert pool["additionalProperties"] is False
    assert pool["properties"]["id"]["pattern"] == "^[A-Za-z0-9_-]{1,64}$"
    assert pool["properties"]["resizeTimeout"]["anyOf"][0] == {
        "type": "string", "format": "duration", "description": "an ISO-8601 duration such as PT5M"}
    # a REST property the account accepts and does not model is described, not refused
    assert pool["properties"]["virtualMachineConfiguration"] == {
        "description": "accepted; poolscale does not model it"}
    assert pool["properties"]["startTask"] == {"default": None, "nullable": True,
                                               "allOf": [{"$ref": "#/components/schemas/StartTask"}]}
    assert schemas["TaskSpec"]["required"] == ["commandLine", "id"]
    patch = doc["paths"]["/pools/{poolId}"]["patch"]["requestBody"]["content"][
        "application/json; odata=minimalmetadata"]["schema"]
    assert "required" not in patch and "id" not in patch["properties"]
    collection = doc["paths"]["/jobs/{jobId}/addtaskcollection"]["post"]["requestBody"]["content"][
        "application/json; odata=minimalmetadata"]["schema"]
    assert collection["properties"]["value"]["maxItems"] == 100
    assert "requestBody" not in doc["paths"]["/pools"]["get"]
    assert "requestBody" not in doc["paths"]["/jobs/{jobId}/tasks/{taskId}/terminate"]["post"]


def test_schedule_bodies_are_the_schedule_schema_without_simulator_fields():
    from poolscale.runtime.service.rest.app import MODULES, _load

    document = openapi_document(*_load(MODULES), "2025-06-01")
    content = "application/json; odata=minimalmetadata"
    add = document["paths"]["/jobschedules"]["post"]["requestBody"]
    assert (add["required"], add["content"][content]["schema"]) == (
        True, {"$ref": "#/components/schemas/JobScheduleSpec"})
    patch = document["paths"]["/jobschedules/{jobScheduleId}"]["patch"]["requestBody"]
    assert "id" not in patch["content"][content]["schema"]["properties"]
    assert "requestBody" not in document["paths"]["/jobschedules/{jobScheduleId}/terminate"]["post"]
    schemas = document["components"]["schemas"]
    assert schemas["JobScheduleSpec"]["required"] == ["id", "schedule", "jobSpecification"]
    assert {"tasks", "creationTime", "id"} & set(schemas["JobSpecification"]["properties"]) == set()
    assert "simulation" not in schemas["AutoPoolBody"]["properties"]
    assert schemas["ScheduleConfiguration"]["properties"]["doNotRunUntil"] == {
        "type": "string", "format": "date-time", "nullable": True}
    assert schemas["ScheduleConfiguration"]["properties"]["startWindow"]["anyOf"][0][
        "format"] == "duration"


def test_no_draft_2020_keywords_are_left(doc):
    text = json.dumps(doc)
    assert '"$defs' not in text and '{"type": "null"}' not in text and '"const"' not in text


def test_valid_openapi_30(doc):
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(doc)


def test_schemathesis_loads_it_and_generates_requests_for_every_operation(doc):
    import schemathesis

    schema = schemathesis.openapi.from_dict(doc)
    labels, bodies = [], {}
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        seen: list = []

        @settings(max_examples=2, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(operation.as_strategy())
        def draw(case):
            seen.append(case)

        draw()
        assert seen, operation.label
        bodies[operation.label] = [case.body for case in seen]
    assert sorted(labels) == sorted(f"{op.method} {openapi._oas_path(op.template)}" for op in OPS)
    for body in bodies["POST /pools"]:
        assert isinstance(body, dict) and {"id", "vmSize"} <= set(body)
        assert "simulation" not in body


def _call(version: str, scope: dict) -> SimpleNamespace:
    async def run(fn, *args):
        return fn(*args)
    return SimpleNamespace(api_version=version, run=run, query={},
                           request=SimpleNamespace(scope=scope))


def test_handler_serves_the_document_of_the_apps_operations_under_the_requests_version():
    app = SimpleNamespace(operations=OPS, not_served=NOT_SERVED)
    response = asyncio.run(openapi.openapi_handler(_call("2024-02-01.19.0", {"app": app})))
    assert response.status_code == 200
    assert response.media_type == "application/json"
    assert json.loads(response.body) == openapi_document(OPS, NOT_SERVED, "2024-02-01.19.0")


def test_the_app_serves_it_at_openapi_json_signed_like_every_request():
    """Through the real gate (in process): a shared-key signed GET, and the document of every
    operation the app answers, /openapi.json itself included."""
    import datetime as _dt
    from email.utils import format_datetime

    from starlette.testclient import TestClient

    from poolscale.runtime.commands.serve import DEV_ACCOUNT, DEV_KEY
    from poolscale.runtime.service.rest import app as app_module
    from poolscale.runtime.service.rest.auth import decode_key, sign, string_to_sign

    app = app_module.build_app(None, account_name=DEV_ACCOUNT, key=decode_key(DEV_KEY))
    query = "api-version=2024-02-01.19.0"
    headers = {"ocp-date": format_datetime(_dt.datetime.now(_dt.timezone.utc), usegmt=True)}
    text = string_to_sign("GET", "/openapi.json", query, headers, DEV_ACCOUNT)
    with TestClient(app, raise_server_exceptions=False) as client:
        unsigned = client.get(f"/openapi.json?{query}", headers=headers)
        headers["authorization"] = f"SharedKey {DEV_ACCOUNT}:{sign(decode_key(DEV_KEY), text)}"
        response = client.get(f"/openapi.json?{query}", headers=headers)
    assert unsigned.status_code == 401
    assert response.status_code == 200
    assert response.json() == openapi_document(app.operations, app.not_served, "2024-02-01.19.0")
    assert response.json()["paths"]["/openapi.json"]["get"]["operationId"] == "openapi"
    assert app.internal_errors == 0


def test_the_server_publishes_its_document_at_openapi_json(server):
    response = server.request("GET", "/openapi.json", api_version="2024-02-01.19.0")
    assert response.status == 200
    document = response.json()
    assert document["openapi"].startswith("3.0")
    assert "/openapi.json" in document["paths"]
    unsigned = server.request("GET", "/openapi.json", headers={"authorization": ""})
    assert unsigned.status == 401
