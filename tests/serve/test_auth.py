"""Shared-key authentication and the api-version gate of ``poolscale serve``.

The string-to-sign is checked against the official SDK's own signing policy (azure-batch 15.x
``BatchSharedKeyAuthPolicy``) on the requests that matter: a filter with spaces and quotes, a
body, a HEAD, a file path with an encoded slash, an ``ocp-range``, the SDK's ``timeOut``.
"""

from __future__ import annotations

import datetime as _dt

import pytest

from poolscale.runtime.commands.serve import DEV_ACCOUNT, DEV_KEY
from poolscale.runtime.service.rest.auth import decode_key, sign, string_to_sign, verify, AuthFailure

KEY = decode_key(DEV_KEY)
NOW = _dt.datetime(2026, 12, 7, 22, 30, tzinfo=_dt.timezone.utc)


def sdk_authorization(method: str, url: str, headers: dict[str, str], body: bytes | None = None):
    """The Authorization header the SDK's policy computes for a request, and the request's
    headers as the SDK leaves them (lower-case names)."""
    from azure.batch._patch import BatchSharedKeyAuthPolicy
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.core.pipeline import PipelineContext, PipelineRequest
    from azure.core.rest import HttpRequest

    request = HttpRequest(method, url, headers=headers, content=body)
    policy = BatchSharedKeyAuthPolicy(AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY))
    policy.on_request(PipelineRequest(request, PipelineContext(None)))
    sent = {k.lower(): v for k, v in request.headers.items()}
    return sent.pop("authorization"), sent


CASES = [
    ("GET", "/pools", "api-version=2025-06-01&%24filter=state%20eq%20%27active%27%20and%20"
                      "startswith%28id%2C%27a%27%29&maxresults=7&timeOut=30", {}, None),
    ("POST", "/pools", "api-version=2025-06-01",
     {"content-type": "application/json; odata=minimalmetadata"}, b'{"id": "p"}'),
    ("HEAD", "/pools/render", "api-version=2025-06-01", {"if-none-match": '"0xABC"'}, None),
    ("GET", "/jobs/j/tasks/t/files/wd%2Fsub%20dir%2Fx.txt", "api-version=2024-02-01.19.0",
     {"ocp-range": "bytes=0-9"}, None),
    ("POST", "/pools/p/nodes/n/enablescheduling", "api-version=2025-06-01&timeOut=30", {}, None),
]


@pytest.mark.parametrize("method,path,query,headers,body", CASES)
def test_string_to_sign_is_the_sdks(method, path, query, headers, body):
    headers = {**headers, "ocp-date": "Mon, 07 Dec 2026 22:30:00 GMT",
               "client-request-id": "c1", "accept": "application/json"}
    if body is not None:
        headers["content-length"] = str(len(body))
    expected, sent = sdk_authorization(method, f"http://127.0.0.1:1{path}?{query}", headers, body)
    ours = string_to_sign(method, path, query, sent, DEV_ACCOUNT)
    assert f"SharedKey {DEV_ACCOUNT}:{sign(KEY, ours)}" == expected
    verify(method, path, query, {**sent, "authorization": expected}, account=DEV_ACCOUNT,
           key=KEY, now=NOW)   # accepted


def test_a_decoded_path_is_not_what_the_sdk_signed():
    path, query = "/jobs/j/tasks/t/files/wd%2Fx.txt", "api-version=2025-06-01"
    headers = {"ocp-date": "Mon, 07 Dec 2026 22:30:00 GMT"}
    expected, sent = sdk_authorization("GET", f"http://h{path}?{query}", headers)
    with pytest.raises(AuthFailure) as e:
        verify("GET", "/jobs/j/tasks/t/files/wd/x.txt", query,
               {**sent, "authorization": expected}, account=DEV_ACCOUNT, key=KEY, now=NOW)
    assert (e.value.code, e.value.status) == ("AuthenticationFailed", 403)


def test_a_signature_over_lower_cased_query_names_is_accepted_too():
    # the Batch documentation's rule lower-cases query names; the Python SDK does not
    query = "api-version=2025-06-01&timeOut=30"
    headers = {"ocp-date": "Mon, 07 Dec 2026 22:30:00 GMT"}
    text = string_to_sign("GET", "/pools", query, headers, DEV_ACCOUNT, lower_query_names=True)
    assert text.endswith("\napi-version:2025-06-01\ntimeout:30")
    headers["authorization"] = f"SharedKey {DEV_ACCOUNT}:{sign(KEY, text)}"
    verify("GET", "/pools", query, headers, account=DEV_ACCOUNT, key=KEY, now=NOW)


def _refusal(server, **kwargs):
    response = server.request("GET", "/pools", **kwargs)
    body = response.json()
    values = {v["key"]: v["value"] for v in body.get("values", [])}
    return response, body["code"], values


def test_every_unauthenticated_request_is_refused_with_the_services_error(server):
    response, code, values = _refusal(server, headers={"authorization": ""})
    assert (response.status, code) == (401, "AuthenticationFailed")
    assert response.headers["www-authenticate"] == "SharedKey"
    assert "no Authorization header" in values["AuthenticationErrorDetail"]

    response, code, _ = _refusal(server, headers={"authorization": "Bearer abc"})
    assert (response.status, code) == (400, "InvalidAuthenticationInfo")

    response, code, values = _refusal(server, sign_as=("someoneelse", DEV_KEY))
    assert (response.status, code) == (403, "AuthenticationFailed")
    assert values["AuthenticationErrorDetail"].startswith(
        "The account being accessed ('poolscale') does not match")

    other_key = "QUJD" * 22
    response, code, values = _refusal(server, sign_as=(DEV_ACCOUNT, other_key))
    assert (response.status, code) == (403, "AuthenticationFailed")
    assert values["AuthenticationErrorDetail"].startswith("The MAC signature found in the "
                                                          "HTTP request is not the same")
    assert "\n/poolscale/pools\napi-version:2025-06-01'." in values["AuthenticationErrorDetail"]


@pytest.mark.parametrize("minutes,accepted", [(-16, False), (16, False), (-14, True), (14, True)])
def test_a_request_more_than_15_minutes_off_the_clock_is_refused(server, minutes, accepted):
    when = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(minutes=minutes)
    if accepted:      # authenticated: the gate goes on to the pool list
        response = server.request("GET", "/pools", date=when)
        assert (response.status, response.json()["value"]) == (200, [])
    else:
        response, code, values = _refusal(server, date=when)
        assert (response.status, code) == (403, "AuthenticationFailed")
        assert values["AuthenticationErrorDetail"].startswith("Request date header too old")


def test_the_api_version_is_required_and_must_be_served(server):
    response, code, values = _refusal(server, api_version=None)
    assert (response.status, code, values) == (400, "MissingRequiredQueryParameter",
                                               {"QueryParameterName": "api-version"})
    response, code, values = _refusal(server, api_version="2023-05-01.17.0")
    assert (response.status, code) == (400, "InvalidQueryParameterValue")
    assert values["QueryParameterName"] == "api-version"
    assert values["QueryParameterValue"] == "2023-05-01.17.0"


def test_an_unknown_path_is_invalid_uri_with_the_services_headers(server):
    response = server.request("GET", "/nosuchthing", headers={"client-request-id": "abc",
                                                              "return-client-request-id": "true"})
    body = response.json()
    assert (response.status, body["code"]) == (400, "InvalidUri")
    assert response.headers["content-type"] == "application/json;odata=minimalmetadata"
    assert response.headers["client-request-id"] == "abc"
    assert response.headers["dataserviceversion"] == "3.0"
    request_id = response.headers["request-id"]
    assert f"\nRequestId:{request_id}\nTime:" in body["message"]["value"]
    assert body["odata.metadata"] == (server.endpoint + "/$metadata#Microsoft.Azure.Batch."
                                      "Protocol.Entities.Container.errors/@Element")
