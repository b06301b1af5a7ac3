"""The certificate operations of api-version 2024-02-01.19.0 through a real ``poolscale serve``
(raw signed requests: no 15.x SDK has them): add, get, list, delete, cancel delete, with the
service's statuses, bodies and codes; the refusals; 2025-06-01 has no such path; a restart keeps
them; a pool that references one, whose task reads it from ``$AZ_BATCH_CERTIFICATES_DIR``, and
whose reference makes its deletion fail."""

from __future__ import annotations

import base64

from poolscale.runtime.service.rest.responses import http_date

V19 = "2024-02-01.19.0"

CER = base64.b64decode(
    "MIIBHjCBxaADAgECAgEBMAoGCCqGSM49BAMCMBkxFzAVBgNVBAMMDnBvb2xzY2FsZSB0ZXN0MB4XDTI2MDEwMTAw"
    "MDAwMFoXDTM2MDEwMTAwMDAwMFowGTEXMBUGA1UEAwwOcG9vbHNjYWxlIHRlc3QwWTATBgcqhkjOPQIBBggqhkjO"
    "PQMBBwNCAATZZ+t3xuwMeNmramEhojDY8sZ1zhfoQ0V3frc0PX4Ck4d+F00Mcio9+vIuA0Fwau0ad0guGTKaXaka"
    "EORCS7taMAoGCCqGSM49BAMCA0gAMEUCIEM24zLPuaNg6VD7iqOl8UmJKKDS/DS8nbySCoVxxQzYAiEA8qEo+5Hc"
    "OXPZ5DIeyVVWf9b+zUuTCHiIVcmE5GZ5+UY=")
TP = "931d238e4338a067ba70b26086aefaccf7236cf7"
CER_B64 = base64.b64encode(CER).decode()
PATH = f"/certificates(thumbprintAlgorithm=sha1,thumbprint={TP})"
ADD = {"thumbprint": TP, "thumbprintAlgorithm": "sha1", "data": CER_B64,
       "certificateFormat": "cer"}


def error(response):
    body = response.json()
    return response.status, body["code"], {v["key"]: v["value"] for v in body.get("values", [])}


def test_add_get_list_delete_cancel(server):
    added = server.request("POST", "/certificates", body=ADD, api_version=V19)
    assert (added.status, added.body) == (201, b"")
    url = server.endpoint + PATH
    assert added.headers["dataserviceid"] == url

    got = server.request("GET", PATH, api_version=V19)
    assert got.status == 200
    body = got.json()
    assert body == {"odata.metadata": server.endpoint + "/$metadata#certificates/@Element",
                    "thumbprint": TP, "thumbprintAlgorithm": "sha1", "state": "active",
                    "stateTransitionTime": body["stateTransitionTime"], "publicData": CER_B64,
                    "url": url, "eTag": body["eTag"], "lastModified": body["stateTransitionTime"]}
    assert got.headers["etag"] == body["eTag"] == added.headers["etag"]
    assert got.headers["last-modified"] == http_date(body["stateTransitionTime"])
    again = server.request("GET", PATH, api_version=V19, headers={"If-None-Match": body["eTag"]})
    assert (again.status, again.body) == (304, b"")

    listed = server.request("GET", "/certificates", api_version=V19,
                            query="$filter=state%20eq%20'active'&$select=thumbprint,state")
    assert listed.status == 200
    assert listed.json() == {"odata.metadata": server.endpoint + "/$metadata#certificates",
                             "value": [{"thumbprint": TP, "state": "active"}]}

    assert error(server.request("POST", "/certificates", body=ADD, api_version=V19))[:2] == \
        (409, "CertificateExists")
    assert error(server.request("POST", PATH + "/canceldelete", api_version=V19))[:2] == \
        (409, "CertificateStateActive")
    stale = server.request("DELETE", PATH, api_version=V19, headers={"If-Match": "0x0"})
    assert error(stale)[:2] == (412, "ConditionNotMet")

    deleted = server.request("DELETE", PATH, api_version=V19)
    assert (deleted.status, deleted.body) == (202, b"")
    assert error(server.request("GET", PATH, api_version=V19))[:2] == (404, "CertificateNotFound")
    assert error(server.request("DELETE", PATH, api_version=V19))[:2] == (404, "CertificateNotFound")
    assert server.request("GET", "/certificates", api_version=V19).json()["value"] == []


def test_refusals(server):
    def add(**change):
        body = {k: v for k, v in {**ADD, **change}.items() if v is not None}
        return error(server.request("POST", "/certificates", body=body, api_version=V19))

    assert add(data="%%%") == (400, "InvalidPropertyValue", {
        "PropertyName": "data", "PropertyValue": "%%%", "Reason": "is not base64"})
    assert add(certificateFormat="pfx") == (400, "MissingRequiredProperty",
                                            {"PropertyName": "password"})
    assert add(thumbprint="ab" * 20) == (400, "InvalidPropertyValue", {
        "PropertyName": "thumbprint", "PropertyValue": "ab" * 20,
        "Reason": f"is not the SHA-1 thumbprint of the certificate ({TP})"})
    assert add(password="hunter2") == (400, "InvalidPropertyValue", {
        "PropertyName": "password", "PropertyValue": "(hidden)",
        "Reason": "must be omitted for a cer certificate"})
    assert "hunter2" not in server.log_text()
    bad_json = server.request("POST", "/certificates", raw_body=b"[1]", api_version=V19,
                              headers={"content-type": "application/json"})
    assert error(bad_json)[:2] == (400, "InvalidRequestBody")

    # the certificate operations are not part of the SDK's api-version
    for method, path in (("POST", "/certificates"), ("GET", "/certificates"), ("GET", PATH),
                         ("DELETE", PATH), ("POST", PATH + "/canceldelete")):
        answer = server.request(method, path, body=ADD if method == "POST" else None,
                                api_version="2025-06-01")
        template = path if path == "/certificates" else path.replace(
            f"sha1,thumbprint={TP}", "{thumbprintAlgorithm},thumbprint={thumbprint}")
        assert error(answer) == (400, "InvalidUri", {
            "Reason": f"{method} {template} is not part of api-version 2025-06-01"})
    assert server.request("GET", "/certificates", api_version=V19).json()["value"] == []


def test_a_restart_keeps_them(server):
    assert server.request("POST", "/certificates", body=ADD, api_version=V19).status == 201
    before = server.request("GET", PATH, api_version=V19).json()
    server.kill()
    server.restart()
    after = server.request("GET", PATH, api_version=V19).json()
    # a new port: the address-bearing properties (and the ETag, a hash over them) differ
    moved = {"odata.metadata", "url", "eTag"}
    assert {k: v for k, v in after.items() if k not in moved} == \
        {k: v for k, v in before.items() if k not in moved}
    assert after["url"] == server.endpoint + PATH


def test_a_pool_installs_them_for_its_tasks(server):
    import time

    assert server.request("POST", "/certificates", body=ADD, api_version=V19).status == 201
    ref = {"thumbprint": TP, "thumbprintAlgorithm": "sha1", "storeLocation": "CurrentUser",
           "storeName": "My", "visibility": ["task"]}
    pool = {"id": "p", "vmSize": "standard_a1_v2", "targetDedicatedNodes": 1,
            "certificateReferences": [ref]}
    unknown = {**pool, "certificateReferences": [{**ref, "thumbprint": "ab" * 20}]}
    assert error(server.request("POST", "/pools", body=unknown, api_version=V19)) == (
        409, "InvalidCertificateReferences", {"ThumbprintAlgorithm": "sha1", "Thumbprint": "ab" * 20})
    assert server.request("POST", "/pools", body=pool, api_version=V19).status == 201
    assert server.request("GET", "/pools/p", api_version=V19).json()["certificateReferences"] == [ref]
    assert server.request("POST", "/jobs", body={"id": "j", "poolInfo": {"poolId": "p"}},
                          api_version=V19).status == 201
    task = {"id": "t", "commandLine": "/bin/sh -c 'cat \"$AZ_BATCH_CERTIFICATES_DIR/sha1-"
                                      + TP + ".cer\" | base64 -w0'"}
    assert server.request("POST", "/jobs/j/tasks", body=task, api_version=V19).status == 201
    deadline = time.monotonic() + 20
    while server.request("GET", "/jobs/j/tasks/t", api_version=V19).json()["state"] != "completed":
        assert time.monotonic() < deadline, "the task did not complete"
        time.sleep(0.05)
    out = server.request("GET", "/jobs/j/tasks/t/files/stdout.txt", api_version=V19)
    assert (out.status, out.body) == (200, CER_B64.encode())

    # the pool uses it: its deletion fails, and can be cancelled
    assert server.request("DELETE", PATH, api_version=V19).status == 202
    failed = server.request("GET", PATH, api_version=V19).json()
    assert (failed["state"], failed["previousState"], failed["deleteCertificateError"]["values"]) == \
        ("deletefailed", "deleting", [{"name": "PoolId", "value": "p"}])
    assert server.request("POST", PATH + "/canceldelete", api_version=V19).status == 204
    assert server.request("GET", PATH, api_version=V19).json()["state"] == "active"
