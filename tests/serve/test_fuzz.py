"""The fuzzer: thousands of requests generated from the published OpenAPI document, signed as a
client signs them, against a real ``poolscale serve``. Whatever they hold, the server answers
each with a status below 500 (a Batch error body when it refuses), writes no traceback, and
keeps serving.

The account has no core quota, so no node is ever allocated and no generated command line
runs on this machine. Hypothesis is derandomized: the same requests every run.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from served import Served

schemathesis = pytest.importorskip("schemathesis")

VERSIONS = ("2025-06-01", "2024-02-01.19.0")
EXAMPLES = 1500          # per api-version: 3,000 requests in all


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    served = Served(tmp_path_factory.mktemp("fuzz") / "data", "--dedicated-core-quota", "0",
                    "--low-priority-core-quota", "0", "--min-evaluation-interval", "PT5S")
    yield served
    served.stop()


def _query_text(query: dict) -> str:
    pairs = []
    for name, value in (query or {}).items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((name, item if isinstance(item, str) else json.dumps(item)))
    return urlencode(pairs, quote_via=quote)


def _send(served: Served, case, version: str):
    path = quote(case.formatted_path, safe="/(),=")
    query = {k: v for k, v in (case.query or {}).items() if k.lower() != "api-version"}
    from schemathesis.core import NotSet

    given_body = None if isinstance(case.body, NotSet) else case.body
    body = raw = None
    if isinstance(given_body, str):
        raw = given_body.encode()
    elif isinstance(given_body, bytes):
        raw = given_body
    elif given_body is not None:
        body = given_body
    headers = {k: v for k, v in (case.headers or {}).items()
               if k.lower() not in ("authorization", "ocp-date", "content-length", "host")
               and v.isascii() and v.isprintable()}
    return served.request(case.method.upper(), path, body=body, raw_body=raw, headers=headers,
                          api_version=version, query=_query_text(query))


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_generated_requests_never_get_a_5xx_and_the_server_keeps_serving(fuzzed, version):
    document = fuzzed.request("GET", "/openapi.json", api_version=version).json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(
        [m for item in document["paths"].values() for m in item if m != "parameters"])
    cases = st.sampled_from(operations).flatmap(lambda op: op.as_strategy())
    seen: dict[int, int] = {}

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def one(case):
        response = _send(fuzzed, case, version)
        seen[response.status] = seen.get(response.status, 0) + 1
        assert response.status < 500, (case.method, case.formatted_path, response.body[:500])
        if response.status >= 400 and case.method.upper() != "HEAD":
            body = response.json()
            assert set(body) >= {"code", "message"}, body

    one()
    assert sum(seen.values()) >= EXAMPLES
    assert fuzzed.request("GET", "/openapi.json").status == 200
    log = fuzzed.log_text()
    assert "Traceback" not in log and "internal error" not in log
