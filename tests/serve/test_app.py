"""The gate every request goes through (runtime/service/rest/app.py), on a test operation set:
body limits, refusals of method and path, operations of one api-version, and the count of
internal errors."""

from __future__ import annotations

import datetime as _dt
import json
from email.utils import format_datetime

import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from poolscale.runtime.commands.serve import DEV_ACCOUNT, DEV_KEY  # noqa: E402
from poolscale.runtime.service.rest import responses  # noqa: E402
from poolscale.runtime.service.rest.app import BatchApp  # noqa: E402
from poolscale.runtime.service.rest.auth import decode_key, sign, string_to_sign  # noqa: E402
from poolscale.runtime.service.rest.call import BODY_LIMIT  # noqa: E402
from poolscale.runtime.service.rest.operations import AZ_VERSION, Operation  # noqa: E402


async def echo(call):
    body = await call.body()
    return responses.entity(call, {"id": "e", "got": body, "version": call.api_version},
                            metadata="things/@Element")


async def boom(call):
    raise KeyError("a bug")


async def thing(call):
    return responses.empty(call, 200, view={"id": call.path["thingId"],
                                            "creationTime": "2026-12-07T22:30:00.000Z"})


OPS = [Operation("POST", "/echo", echo, "echo"),
       Operation("GET", "/boom", boom, "boom"),
       Operation("HEAD", "/boom", boom, "boom_exists"),
       Operation("GET", "/things/{thingId}", thing, "get_thing"),
       Operation("DELETE", "/things/{thingId}", thing, "delete_thing", versions=frozenset({AZ_VERSION}))]
NOT_SERVED = [("POST", "/things/{thingId}/reimage", "reimaging is not served by poolscale")]


@pytest.fixture
def app():
    return BatchApp(None, account_name=DEV_ACCOUNT, key=decode_key(DEV_KEY), operations=OPS,
                    not_served=NOT_SERVED)


def request(app, method, path, *, body=None, version="2025-06-01", headers=None):
    headers = dict(headers or {})
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["content-length"] = str(len(data))
    headers["ocp-date"] = format_datetime(_dt.datetime.now(_dt.timezone.utc), usegmt=True)
    query = f"api-version={version}"
    text = string_to_sign(method, path, query, {k.lower(): v for k, v in headers.items()},
                          DEV_ACCOUNT)
    headers["authorization"] = f"SharedKey {DEV_ACCOUNT}:{sign(decode_key(DEV_KEY), text)}"
    with TestClient(app, raise_server_exceptions=False) as client:
        return client.request(method, f"{path}?{query}", content=data, headers=headers)


def values(response):
    return {v["key"]: v["value"] for v in response.json().get("values", [])}


def test_a_json_object_body_reaches_the_handler(app):
    response = request(app, "POST", "/echo", body={"a": [1, 2]})
    assert response.status_code == 200
    body = response.json()
    assert body["odata.metadata"] == "http://testserver/$metadata#things/@Element"
    assert body["got"] == {"a": [1, 2]}
    assert response.headers["etag"] == body["eTag"]


@pytest.mark.parametrize("raw,reason", [
    (b"{", "Expecting property name enclosed in double quotes at line 1 column 2"),
    (b"[1]", "found a JSON list"),
    (b'{"a": NaN}', "NaN is not a JSON number"),
    (b"\xff{}", "not UTF-8 at byte 0"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
])
def test_a_body_that_is_not_a_json_object_is_invalid_request_body(app, raw, reason):
    response = request(app, "POST", "/echo", body=raw)
    assert (response.status_code, response.json()["code"]) == (400, "InvalidRequestBody")
    assert values(response)["Reason"].startswith(reason)


def test_a_body_over_1_mib_is_refused_before_it_is_read(app):
    response = request(app, "POST", "/echo", body=b"{" + b" " * BODY_LIMIT + b"}")
    assert (response.status_code, response.json()["code"]) == (413, "RequestBodyTooLarge")


def test_method_path_and_version_refusals(app):
    response = request(app, "PUT", "/echo", body={})
    assert (response.status_code, response.json()["code"]) == (405, "UnsupportedHttpVerb")
    assert response.headers["allow"] == "POST"
    response = request(app, "POST", "/things/t1/reimage", body={})
    assert (response.status_code, response.json()["code"]) == (400, "InvalidUri")
    assert values(response) == {"Reason": "reimaging is not served by poolscale"}
    response = request(app, "DELETE", "/things/t1")
    assert (response.status_code, values(response)) == (
        400, {"Reason": "DELETE /things/{thingId} is not part of api-version 2025-06-01"})
    assert request(app, "DELETE", "/things/t1", version=AZ_VERSION).status_code == 200


def test_a_bug_in_a_handler_is_a_counted_internal_error_never_a_traceback(app):
    response = request(app, "GET", "/boom")
    assert (response.status_code, response.json()["code"]) == (500, "InternalError")
    assert "KeyError" not in response.text
    head = request(app, "HEAD", "/boom")
    assert (head.status_code, head.content) == (500, b"")
    assert app.internal_errors == 2


def test_bodiless_answers_carry_the_views_stamps(app):
    response = request(app, "GET", "/things/t7")
    assert response.status_code == 200
    assert response.headers["etag"] == responses.etag({"id": "t7", "creationTime":
                                                       "2026-12-07T22:30:00.000Z"})
    assert response.headers["last-modified"] == "Mon, 07 Dec 2026 22:30:00 GMT"
