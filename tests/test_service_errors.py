"""Batch errors (runtime/service/errors.py): the code table, the error object, the REST body as
the service shapes it, ids refused as ``InvalidPropertyValue``, and the Azure SDK reading the
body back."""

from __future__ import annotations

import base64
import json
import pickle
import re
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from poolscale.runtime.service.errors import (
    ERROR_CODES, BadRequest, BatchError, Conflict, NotFound, exists, formula_refused,
    invalid_property, missing_property, not_found,
)
from poolscale.runtime.service.ids import ID_RULE, InvalidId, check_id

T = datetime(2026, 12, 7, 20, 55, 9, 138452, tzinfo=timezone.utc)
URL = "https://acct.westeurope.batch.azure.com"
METADATA = URL + "/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element"


# -- the table -------------------------------------------------------------------------------

@pytest.mark.parametrize("row", list(ERROR_CODES.values()), ids=list(ERROR_CODES))
def test_every_row_has_an_error_status_and_a_one_line_message(row):
    assert ERROR_CODES[row.code] is row
    assert re.fullmatch(r"[A-Z][A-Za-z]+", row.code)
    assert HTTPStatus(row.status).value == row.status and 400 <= row.status <= 599
    # one sentence on one line: the service's request id and time follow after a line break
    assert row.message.strip() == row.message and row.message.endswith(".")
    assert "\n" not in row.message and len(row.message) > 10


def test_the_table_holds_the_services_list():
    """Statuses as the service's list gives them, for every class of status and every code the
    account raises (a second transcription: a slip in either fails here)."""
    by_status: dict[int, set[str]] = {}
    for row in ERROR_CODES.values():
        by_status.setdefault(row.status, set()).add(row.code)
    assert {s: len(c) for s, c in sorted(by_status.items())} == {
        400: 37, 403: 4, 404: 13, 405: 1, 409: 45, 411: 1, 412: 1, 413: 1, 416: 1, 500: 2, 503: 2}
    assert by_status[403] == {"AuthenticationFailed", "InsufficientAccountPermissions",
                              "AccountIsDisabled", "IOError"}
    assert by_status[503] == {"ServerBusy", "TooManyEnableAutoScaleRequests"}
    assert by_status[500] == {"InternalError", "OperationTimedOut"}
    assert {c: ERROR_CODES[c].status for c in [
        "PoolExists", "PoolNotFound", "PoolBeingDeleted", "PoolBeingResized", "JobExists",
        "JobNotFound", "JobCompleted", "JobNotActive", "JobBeingTerminated", "TaskExists",
        "TaskNotFound", "TaskCompleted", "NodeNotFound", "FileNotFound", "InvalidPropertyValue",
        "MissingRequiredProperty", "RequestBodyTooLarge", "OperationInvalidForCurrentState",
        "AutoScalingFormulaSyntaxError", "InvalidAutoScalingSettings",
        "TaskDependenciesNotSpecifiedOnJob", "ConditionNotMet", "InvalidRange"]} == {
        "PoolExists": 409, "PoolNotFound": 404, "PoolBeingDeleted": 409, "PoolBeingResized": 409,
        "JobExists": 409, "JobNotFound": 404, "JobCompleted": 409, "JobNotActive": 409,
        "JobBeingTerminated": 409, "TaskExists": 409, "TaskNotFound": 404, "TaskCompleted": 409,
        "NodeNotFound": 404, "FileNotFound": 404, "InvalidPropertyValue": 400,
        "MissingRequiredProperty": 400, "RequestBodyTooLarge": 413,
        "OperationInvalidForCurrentState": 409, "AutoScalingFormulaSyntaxError": 400,
        "InvalidAutoScalingSettings": 400, "TaskDependenciesNotSpecifiedOnJob": 400,
        "ConditionNotMet": 412, "InvalidRange": 416}


def test_a_refused_formula_or_interval_has_the_formula_languages_code_and_message():
    from poolscale.formula import ERROR_MESSAGES

    refusals = ["AutoScaleFormulaTooLong", "AutoScaleFormulaTooManyStatements",
                "AutoScalingFormulaSyntaxError", "AutoScalingFormulaValidationError",
                "InvalidAutoScaleEvaluationInterval"]
    assert {c: (ERROR_CODES[c].status, ERROR_CODES[c].message) for c in refusals} == {
        c: (400, ERROR_MESSAGES[c]) for c in refusals}
    # the rest of the formula's codes fail a run: they are recorded on it, never raised
    assert (set(ERROR_MESSAGES) - set(refusals)) & set(ERROR_CODES) == set()


@pytest.mark.parametrize("text, code, detail", [
    ("$TargetDedicatedNodes = ;", "AutoScalingFormulaSyntaxError", "Line 1, Col 25: "),
    ("$TargetDedicatedNodes = nosuch(1);", "AutoScalingFormulaValidationError", "Line 1, Col 25: "),
    ("x" * 8193, "AutoScaleFormulaTooLong", "Line 1, Col 8193: "),
])
def test_formula_refused_carries_the_checkers_code_message_and_detail(text, code, detail):
    from poolscale.formula import FormulaError, compile_formula

    with pytest.raises(FormulaError) as info:
        compile_formula(text)
    e = formula_refused(info.value)
    assert (type(e), e.code, e.status, e.message) == (BadRequest, code, 400, info.value.message)
    assert e.values == (("Message", info.value.detail),) and info.value.detail.startswith(detail)


def test_codes_that_are_not_http_errors_are_not_in_the_table():
    for code in ["AccountCoreQuotaReached", "AllocationTimedout", "FailureExitCode", "TaskEnded"]:
        assert code not in ERROR_CODES
    with pytest.raises(ValueError) as info:
        BatchError("AccountCoreQuotaReached")
    assert str(info.value) == "'AccountCoreQuotaReached' is not a Batch error code"


def test_the_table_cannot_be_changed_by_a_caller():
    with pytest.raises(TypeError):
        ERROR_CODES["PoolExists"] = ERROR_CODES["JobExists"]  # type: ignore[index]


# -- the error object ------------------------------------------------------------------------

@pytest.mark.parametrize("code, cls, status", [
    ("InvalidPropertyValue", BadRequest, 400), ("PoolNotFound", NotFound, 404),
    ("TaskExists", Conflict, 409), ("RequestBodyTooLarge", BatchError, 413),
    ("ServerBusy", BatchError, 503),
])
def test_an_error_takes_the_class_and_status_of_its_code(code, cls, status):
    e = BatchError(code)
    assert type(e) is cls and (e.code, e.status) == (code, status)
    assert e.message == ERROR_CODES[code].message and e.values == ()
    assert str(e) == f"{code}: {ERROR_CODES[code].message}"


def test_a_class_of_status_takes_only_codes_of_its_status():
    assert type(NotFound("TaskNotFound")) is NotFound
    with pytest.raises(ValueError) as info:
        NotFound("PoolExists")
    assert str(info.value) == "PoolExists is a 409 error, not a NotFound (404)"


def test_a_mistyped_code_is_refused_with_the_closest_one():
    with pytest.raises(ValueError) as info:
        BatchError("PoolNotFund")
    assert str(info.value) == "'PoolNotFund' is not a Batch error code; did you mean 'PoolNotFound'?"
    with pytest.raises(ValueError) as info:
        BatchError(None)  # type: ignore[arg-type]
    assert str(info.value) == "None is not a Batch error code"


def test_values_keep_their_order_and_become_text_as_json_writes_them():
    e = BatchError("InvalidPropertyValue", "bad", [("Reason", "r"), ("PropertyName", "a"),
                                                   ("On", True), ("Off", None), ("N", 5), ("X", 1.5)])
    assert e.values == (("Reason", "r"), ("PropertyName", "a"), ("On", "true"), ("Off", "null"),
                        ("N", "5"), ("X", "1.5"))
    assert BatchError("JobNotFound", values={"b": "2", "a": "1"}).values == (("b", "2"), ("a", "1"))


def test_an_error_survives_pickling_with_its_class_and_attributes():
    for e in [BatchError("JobCompleted", "job 'j' has completed", {"Reason": "done"}),
              check_id_error("a/b", "taskId")]:
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is type(e)
        assert (back.code, back.status, back.message, back.values, str(back)) == (
            e.code, e.status, e.message, e.values, str(e))
    assert back.property == "taskId" and back.value == "a/b"


def check_id_error(value: Any, prop: str) -> InvalidId:
    with pytest.raises(InvalidId) as info:
        check_id(value, prop)
    return info.value


# -- the helpers -----------------------------------------------------------------------------

def test_not_found_names_the_resource():
    e = not_found("pool", "render")
    assert type(e) is NotFound
    assert (e.code, e.status, e.message, e.values) == ("PoolNotFound", 404, "The pool 'render' does not exist.", ())
    assert [not_found(k, "x").code for k in ["node", "job", "task", "file", "job schedule"]] == [
        "NodeNotFound", "JobNotFound", "TaskNotFound", "FileNotFound", "JobScheduleNotFound"]


def test_exists_names_the_id_given():
    e = exists("task", "Task-1")
    assert type(e) is Conflict
    assert (e.code, e.status, e.message) == ("TaskExists", 409, "A task with the id 'Task-1' already exists.")
    assert [exists(k, "x").code for k in ["pool", "job"]] == ["PoolExists", "JobExists"]


def test_an_unknown_kind_is_a_programming_error_naming_the_kinds():
    with pytest.raises(ValueError) as info:
        exists("node", "tvm-1")
    assert str(info.value) == ("exists knows no resource kind 'node'; the kinds are 'pool', 'job', "
                               "'job schedule', 'task', 'node user', 'certificate'")


def test_invalid_property_lists_name_value_and_reason():
    e = invalid_property("constraints.maxTaskRetryCount", -2, "must be -1 or more")
    assert type(e) is BadRequest
    assert e.message == "constraints.maxTaskRetryCount -2 is invalid: must be -1 or more"
    assert e.values == (("PropertyName", "constraints.maxTaskRetryCount"), ("PropertyValue", "-2"),
                        ("Reason", "must be -1 or more"))
    long = invalid_property("commandLine", "x" * 100, "too long")
    assert long.message == f"commandLine '{'x' * 56}... is invalid: too long"
    assert long.values[1] == ("PropertyValue", "x" * 100)


def test_missing_property_names_it():
    e = missing_property("poolInfo")
    assert (type(e), e.code, e.status, e.message, e.values) == (
        BadRequest, "MissingRequiredProperty", 400, "poolInfo is required but missing.",
        (("PropertyName", "poolInfo"),))


# -- the body --------------------------------------------------------------------------------

def test_the_library_body_has_no_request_tail_and_no_empty_values():
    assert not_found("job", "nightly").body() == {
        "code": "JobNotFound", "message": {"lang": "en-US", "value": "The job 'nightly' does not exist."}}


def test_the_rest_body_is_shaped_as_the_service_shapes_it():
    body = exists("pool", "render").body(request_id="918868f8-9869-4847-9ae6-3c0cee46f148", time=T,
                                         account_url=URL + "/")
    assert json.dumps(body) == json.dumps({
        "odata.metadata": METADATA,
        "code": "PoolExists",
        "message": {"lang": "en-US",
                    "value": "A pool with the id 'render' already exists.\n"
                             "RequestId:918868f8-9869-4847-9ae6-3c0cee46f148\n"
                             "Time:2026-12-07T20:55:09.1384520Z"}})


def test_the_request_time_is_shown_in_utc_and_must_have_a_zone():
    later = T.astimezone(timezone(timedelta(hours=2)))
    value = BatchError("ServerBusy").body(request_id="r", time=later)["message"]["value"]
    assert value.endswith("\nRequestId:r\nTime:2026-12-07T20:55:09.1384520Z")
    with pytest.raises(ValueError) as info:
        BatchError("ServerBusy").body(request_id="r", time=datetime(2026, 1, 1))
    assert str(info.value) == ("the time of an error must be aware (have a time zone), got "
                               "datetime.datetime(2026, 1, 1, 0, 0)")
    now = BatchError("ServerBusy").body(request_id="r")["message"]["value"]
    assert re.fullmatch(r".*\nRequestId:r\nTime:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", now, re.S)


def test_an_invalid_id_is_an_invalid_property_value_400_naming_the_property():
    e = check_id_error("a/b", "taskId")
    assert isinstance(e, BadRequest) and isinstance(e, ValueError)
    assert e.status == 400
    assert e.body(request_id="r1", time=T) == {
        "code": "InvalidPropertyValue",
        "message": {"lang": "en-US",
                    "value": f"taskId 'a/b' is invalid: {ID_RULE}; this one contains '/'\n"
                             "RequestId:r1\nTime:2026-12-07T20:55:09.1384520Z"},
        "values": [{"key": "PropertyName", "value": "taskId"},
                   {"key": "PropertyValue", "value": "a/b"},
                   {"key": "Reason", "value": f"{ID_RULE}; this one contains '/'"}]}


def test_a_body_reads_back_into_the_same_error_without_the_request_tail():
    for e in [invalid_property("priority", 5000, "must be -1000 to 1000"), not_found("task", "t"),
              BatchError("RequestBodyTooLarge")]:
        back = BatchError.from_body(json.loads(json.dumps(e.body(request_id="r", time=T, account_url=URL))))
        assert (type(back), back.code, back.status, back.message, back.values) == (
            type(e), e.code, e.status, e.message, e.values)
    with pytest.raises(ValueError):
        BatchError.from_body({"code": "Nope", "message": {"lang": "en-US", "value": "x"}})


def _check_rest_schema(body: dict) -> None:
    """The REST API's ``BatchError`` definition: ``code`` (string), ``message``
    (``BatchErrorMessage``: ``lang``, ``value``, strings) and ``values`` (a list of
    ``BatchErrorDetail``: ``key``, ``value``, strings); the service adds ``odata.metadata``."""
    assert set(body) <= {"odata.metadata", "code", "message", "values"}
    assert isinstance(body["code"], str)
    assert set(body["message"]) == {"lang", "value"}
    assert all(isinstance(v, str) for v in body["message"].values())
    for item in body.get("values", []):
        assert set(item) == {"key", "value"} and all(isinstance(v, str) for v in item.values())


@pytest.mark.parametrize("code", list(ERROR_CODES))
def test_every_code_makes_a_body_of_the_rest_apis_shape(code):
    e = BatchError(code, values=[("Reason", 1)])
    _check_rest_schema(json.loads(json.dumps(e.body(request_id="r", time=T, account_url=URL))))
    _check_rest_schema(BatchError(code).body())


# -- the Azure SDK reads it ----------------------------------------------------------------------

class _Answer(BaseHTTPRequestHandler):
    """Answers every request with the server's ``status`` and ``body``, as the service would."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        data = json.dumps(self.server.body).encode()  # type: ignore[attr-defined]
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Type", "application/json;odata=minimalmetadata")
        self.send_header("request-id", "r1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def service(monkeypatch) -> Iterator[ThreadingHTTPServer]:
    for name in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"]:
        monkeypatch.delenv(name, raising=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.parametrize("error, call, sdk_error", [
    (check_id_error("a/b", "id"), "create_pool", "HttpResponseError"),
    (not_found("pool", "render"), "get_pool", "ResourceNotFoundError"),
    (exists("job", "nightly"), "create_job", "ResourceExistsError"),
])
def test_the_azure_batch_sdk_reads_the_body(service, error, call, sdk_error):
    """The client a Batch program already uses (azure-batch 15) turns our body into its own
    error model: the HTTP class, the code, the whole message with the request tail, every value."""
    pytest.importorskip("azure.batch", reason="azure-batch is in the test extras ([test])")
    from azure.batch import BatchClient, models
    from azure.core.credentials import AzureNamedKeyCredential

    service.status, service.body = error.status, error.body(request_id="r1", time=T, account_url=URL)
    client = BatchClient(f"http://127.0.0.1:{service.server_address[1]}",
                         AzureNamedKeyCredential("acct", base64.b64encode(b"k" * 32).decode()))
    request = {"create_pool": lambda: client.create_pool(models.BatchPoolCreateOptions(id="a/b", vm_size="d2")),
               "get_pool": lambda: client.get_pool("render"),
               "create_job": lambda: client.create_job(models.BatchJobCreateOptions(
                   id="nightly", pool_info=models.BatchPoolInfo(pool_id="p")))}[call]
    with client, pytest.raises(Exception) as info:
        request()
    got = info.value
    assert type(got).__name__ == sdk_error and got.status_code == error.status
    assert isinstance(got.model, models.BatchError)
    assert got.model.code == error.code
    assert got.model.message.lang == "en-US"
    assert got.model.message.value == error.message + "\nRequestId:r1\nTime:2026-12-07T20:55:09.1384520Z"
    assert [(d.key, d.value) for d in got.model.error_values or []] == list(error.values)
    assert (got.error.code, got.error.message) == (error.code, got.model.message.value)
    assert [(d.code, d.message) for d in got.error.details] == list(error.values)


# -- light to import -------------------------------------------------------------------------

def test_ids_and_errors_import_nothing_heavy():
    """The REST layer imports these on every request and ``ids.py`` builds on ``errors.py``: no
    pydantic, pandas, psutil, numpy, no engine, no formula package (that one only when a code is
    mistyped)."""
    probe = ("import sys, poolscale.runtime.service.ids, poolscale.runtime.service.errors as e; "
             "e.not_found('pool', 'p').body(request_id='r'); "
             "print(sorted({m.split('.')[0] if not m.startswith('poolscale') else '.'.join(m.split('.')[:2]) "
             "for m in sys.modules if m.split('.')[0] in ('pydantic', 'pandas', 'psutil', 'numpy', 'sqlite3') "
             "or m.startswith(('poolscale.scheduler', 'poolscale.formula'))}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout == "[]\n"


# -- the page that documents them -----------------------------------------------------------------

def _errors_section() -> str:
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "running-locally.md").read_text("utf-8")
    return page[page.index("\n## Errors\n"):]


def test_the_documented_codes_have_the_documented_status():
    section = _errors_section()
    table = section[section.index("### What the account raises, and when"):section.index("**Not raised.**")]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    documented = {code: int(status) for line in rows
                  for codes, status in [line.split(" | ")[:2]]
                  for code in re.findall(r"`(\w+)`", codes)}
    assert len(documented) == 23
    assert {code: ERROR_CODES[code].status for code in documented} == documented


def test_the_documented_body_is_the_body():
    section = _errors_section()
    shown_body = json.loads(section[section.index("```json\n") + 8:section.index("\n```\n", section.index("```json"))])
    assert shown_body == exists("pool", "render").body(
        request_id="918868f8-9869-4847-9ae6-3c0cee46f148", time=T, account_url="http://localhost:8080")
