"""Paging and filters as the real clients drive them: the azure-batch 15.x SDK follows
``odata.nextLink`` (re-quoting its parameters, overriding api-version) and the 14.x SDK uses it
verbatim; both must reach every item once. A list operation built on odata.select_page is served
in-process by uvicorn (no account needed)."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

import pytest

pytest.importorskip("uvicorn")
import uvicorn  # noqa: E402
from azure.core.exceptions import HttpResponseError  # noqa: E402

from poolscale.runtime.commands.serve import DEV_ACCOUNT, DEV_KEY  # noqa: E402
from poolscale.runtime.service.rest import responses  # noqa: E402
from poolscale.runtime.service.rest.app import BatchApp  # noqa: E402
from poolscale.runtime.service.rest.auth import decode_key  # noqa: E402
from poolscale.runtime.service.rest.odata import select_page  # noqa: E402
from poolscale.runtime.service.rest.operations import Operation  # noqa: E402
from served import signed_request  # noqa: E402

VIEWS = [{"id": f"t{i:02d}", "state": "active" if i % 3 else "running",
          "executionInfo": {"retryCount": 0, "requeueCount": 0}} for i in range(45)]
ACTIVE = [v["id"] for v in VIEWS if v["state"] == "active"]     # 30 of them


class Listing:
    """A task list over VIEWS that remembers the query of every request it answered."""

    def __init__(self) -> None:
        self.queries: list[dict[str, str]] = []

    async def __call__(self, call):
        self.queries.append(dict(call.query))
        items, link = select_page(call, VIEWS, "tasks")
        return responses.listing(call, items, metadata="tasks", next_link=link)


@pytest.fixture
def served():
    listing = Listing()
    app = BatchApp(None, account_name=DEV_ACCOUNT, key=decode_key(DEV_KEY),
                   operations=[Operation("GET", "/jobs/{jobId}/tasks", listing, "list_tasks")])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", listing, app
    server.should_exit = True
    thread.join(10)


def test_the_15x_sdk_pages_through_every_match_once(served):
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    endpoint, listing, app = served
    client = BatchClient(endpoint=endpoint, credential=AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY))
    tasks = list(client.list_tasks("j", filter="state eq 'active' and startswith(id, 't')",
                                   max_results=7, select=["id", "state"]))
    assert [t.id for t in tasks] == ACTIVE
    assert all(t.execution_info is None for t in tasks)          # $select kept id and state
    assert len(listing.queries) == 5                              # 7+7+7+7+2
    for query in listing.queries:
        assert query["$filter"] == "state eq 'active' and startswith(id, 't')"
        assert query["maxresults"] == "7"
        assert query["$select"] == "id,state"
    assert app.internal_errors == 0


def test_a_bad_filter_reaches_the_sdk_as_the_services_error(served):
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    endpoint, _, _ = served
    client = BatchClient(endpoint=endpoint, credential=AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY))
    with pytest.raises(HttpResponseError) as info:
        list(client.list_tasks("j", filter="state eq"))
    assert info.value.status_code == 400
    assert info.value.error.code == "InvalidQueryParameterValue"


def test_the_next_link_works_verbatim_as_the_14x_sdk_uses_it(served):
    endpoint, _, _ = served
    seen, path = [], "/jobs/j/tasks"
    query = "api-version=2024-02-01.19.0&maxresults=7&%24filter=state%20eq%20%27active%27"
    while True:
        response = signed_request(endpoint, DEV_ACCOUNT, DEV_KEY, "GET", path, query=query,
                                  api_version=None)
        assert response.status == 200, response.body
        body = response.json()
        seen.extend(item["id"] for item in body["value"])
        link = body.get("odata.nextLink")
        if link is None:
            break
        parts = urlsplit(link)
        assert f"{parts.scheme}://{parts.netloc}" == endpoint
        path, query = parts.path, parts.query         # the link as it is, nothing added
    assert seen == ACTIVE
