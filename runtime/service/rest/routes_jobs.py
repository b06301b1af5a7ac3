"""Jobs, tasks, subtasks and task files over REST (docs/serve.md, "Jobs and tasks").

Each handler is thin: read the request, call the account in a worker thread
(:meth:`Call.run`), shape the answer as the service does. The rules (what may be disabled,
reactivated, ...) and their refusals are the account's (runtime/service/account_jobs.py).

Answers that need a word:

* An add (``POST /jobs``, ``POST /jobs/{id}/tasks``) is 201 with no body, the new resource's
  ``ETag``/``Last-Modified`` and its URL as ``DataServiceId``. Updates are 200 with no body,
  disable/enable/terminate/delete of a job 202, task terminate/reactivate 204, as the service.
* ``addtaskcollection`` takes at most 100 tasks (more: 400 ``InvalidPropertyValue`` naming
  ``value``; over 1 MiB the app answers 413 ``RequestBodyTooLarge``, on which the SDK's
  ``create_tasks`` halves its chunks) and answers one result per task, in order:
  ``{"status": "success", "taskId", "eTag", "lastModified", "location"}`` or, for a refused
  task, ``{"status": "clienterror", "taskId", "error"}`` with the service's error body (the
  REST enum is lower case; the SDK compares it exactly). A task id
  already taken is ``TaskExists`` (the SDK counts it as added: a retried chunk).
* Conditional headers (``If-Match``, ...) are checked against the resource's current view
  before a write, and on a get.
* A job delete removes the job at once: the SDK's poller, which waits while the job is
  ``deleting``, sees it gone at its first poll.
* Lists go through ``odata.select_page`` (``$filter``, ``$select``, ``maxresults``, paging)
  when that module is present.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from .. import errors as E
from . import files, responses
from .bodies import rest_body
from .call import parse_json_object, read_limited
from .conditions import check
from .answers import page, read
from .operations import Operation

__all__ = ["OPERATIONS", "NOT_SERVED", "MAX_TASKS_PER_COLLECTION", "job_url", "flag",
           "optional_body"]

#: the most tasks one ``addtaskcollection`` takes (the service's limit)
MAX_TASKS_PER_COLLECTION = 100


# -- helpers ------------------------------------------------------------------------------------

def job_url(call: Any, job_id: str) -> str:
    return f"{call.base_url}/jobs/{quote(job_id, safe='')}"


def _task_url(call: Any, job_id: str, task_id: str) -> str:
    return f"{job_url(call, job_id)}/tasks/{quote(task_id, safe='')}"


def _with_url(view: dict[str, Any], url: str) -> dict[str, Any]:
    return {**view, "url": url}


def _node_url(call: Any, pool_id: str, node_id: str) -> str:
    return f"{call.base_url}/pools/{quote(pool_id, safe='')}/nodes/{quote(node_id, safe='')}"


def _task_rest(call: Any, job_id: str, view: dict[str, Any]) -> dict[str, Any]:
    """A task view with its URLs: its own, its node's and its directory's on the node."""
    out = _with_url(view, _task_url(call, job_id, view["id"]))
    info = view.get("nodeInfo")
    if info and info.get("poolId") and info.get("nodeId"):
        node_url = _node_url(call, info["poolId"], info["nodeId"])
        info = {**info, "nodeUrl": node_url}
        if "taskRootDirectory" in info:
            info["taskRootDirectoryUrl"] = (f"{node_url}/files/"
                                            f"{quote(info['taskRootDirectory'], safe='')}")
        out["nodeInfo"] = info
    return out


async def optional_body(call: Any) -> dict[str, Any]:
    """The JSON object body, or ``{}`` when the request has none (terminate, enable)."""
    raw = await read_limited(call.request)
    return parse_json_object(raw) if raw.strip() else {}


def flag(call: Any, name: str) -> bool:
    value = call.query.get(name)
    if value is None:
        return False
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise E.BatchError("InvalidQueryParameterValue",
                       "Value for one of the query parameters specified in the request URI is "
                       "invalid.", (("QueryParameterName", name), ("QueryParameterValue",
                                                                   value[:64]),
                                    ("Reason", "must be true or false")))


def _now_iso() -> str:
    now = _dt.datetime.now(_dt.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


async def _job_view(call: Any) -> dict[str, Any]:
    job_id = call.path["jobId"]
    view = await call.run(call.account.job_full_view, job_id)
    return responses.with_stamps(_with_url(view, job_url(call, view["id"])))


async def _task_view(call: Any) -> dict[str, Any]:
    job_id, task_id = call.path["jobId"], call.path["taskId"]
    view = await call.run(call.account.task_full_view, job_id, task_id)
    return responses.with_stamps(_task_rest(call, job_id, view))


# -- jobs ---------------------------------------------------------------------------------------

async def add_job(call: Any) -> Response:
    body = rest_body(await call.body(), "job")
    view = await call.run(call.account.create_job, body)
    url = job_url(call, view["id"])
    return responses.empty(call, 201, view=responses.with_stamps(_with_url(view, url)), url=url)


async def list_jobs(call: Any) -> Response:
    views = await call.run(call.account.job_views)
    stamped = [responses.with_stamps(_with_url(v, job_url(call, v["id"]))) for v in views]
    return page(call, stamped, "jobs", "jobs")


async def get_job(call: Any) -> Response:
    view = await _job_view(call)
    return read(call, view, "jobs/@Element")


async def _update_job(call: Any, replace: bool) -> Response:
    body = rest_body(await call.body(), "job-replace" if replace else "job-update")
    check(call, await _job_view(call), write=True)
    account = call.account
    fn = account.replace_job if replace else account.patch_job
    view = await call.run(fn, call.path["jobId"], body)
    url = job_url(call, view["id"])
    return responses.empty(call, 200, view=responses.with_stamps(_with_url(view, url)), url=url)


async def patch_job(call: Any) -> Response:
    return await _update_job(call, replace=False)


async def replace_job(call: Any) -> Response:
    return await _update_job(call, replace=True)


async def disable_job(call: Any) -> Response:
    body = rest_body(await call.body(), "job-disable")
    if "disableTasks" not in body:
        raise E.missing_property("disableTasks")
    option = body["disableTasks"]
    if not isinstance(option, str):
        raise E.invalid_property("disableTasks", option, "must be requeue, terminate or wait")
    check(call, await _job_view(call), write=True)
    view = await call.run(call.account.disable_job, call.path["jobId"], option.lower())
    url = job_url(call, view["id"])
    return responses.empty(call, 202, view=responses.with_stamps(_with_url(view, url)), url=url)


async def enable_job(call: Any) -> Response:
    check(call, await _job_view(call), write=True)
    view = await call.run(call.account.enable_job, call.path["jobId"])
    url = job_url(call, view["id"])
    return responses.empty(call, 202, view=responses.with_stamps(_with_url(view, url)), url=url)


async def terminate_job(call: Any) -> Response:
    body = rest_body(await optional_body(call), "job-terminate")
    reason = body.get("terminateReason")
    if reason is not None and not isinstance(reason, str):
        raise E.invalid_property("terminateReason", reason, "must be text")
    flag(call, "force")
    view = await _job_view(call)
    check(call, view, write=True)
    if view["state"] == "completed":
        raise E.BatchError("JobCompleted", f"the job {view['id']!r} has already completed")
    if view["state"] == "terminating":
        raise E.BatchError("JobBeingTerminated", f"the job {view['id']!r} is being terminated")
    await call.run(call.account.terminate_job, call.path["jobId"], reason or None)
    after = await _job_view(call)
    return responses.empty(call, 202, view=after, url=after["url"])


async def delete_job(call: Any) -> Response:
    flag(call, "force")
    check(call, await _job_view(call), write=True)
    await call.run(call.account.delete_job, call.path["jobId"])
    return responses.empty(call, 202)


async def task_counts(call: Any) -> Response:
    counts = await call.run(call.account.task_counts, call.path["jobId"])
    body = {"odata.metadata": responses.metadata_url(call, "taskcountsresult/@Element"),
            **counts}
    return responses.json_response(body)


async def prep_release_status(call: Any) -> Response:
    items = await call.run(call.account.preparation_release_status, call.path["jobId"])
    for item in items:
        node_url = _node_url(call, item["poolId"], item["nodeId"])
        item["nodeUrl"] = node_url
        for name in ("jobPreparationTaskExecutionInfo", "jobReleaseTaskExecutionInfo"):
            info = item.get(name)
            if info is not None and "taskRootDirectory" in info:
                info["taskRootDirectoryUrl"] = (f"{node_url}/files/"
                                                f"{quote(info['taskRootDirectory'], safe='')}")
    return page(call, items, "prepreleasestatus", "jobpreparationandreleasetaskstatuslist")


# -- tasks --------------------------------------------------------------------------------------

async def add_task(call: Any) -> Response:
    body = rest_body(await call.body(), "task")
    job_id = call.path["jobId"]
    (result,) = await call.run(call.account.create_tasks, job_id, [body])
    if result.get("status") != "success":
        raise result["error"]
    view = await call.run(call.account.task_full_view, job_id, result["taskId"])
    stamped = responses.with_stamps(_task_rest(call, job_id, view))
    return responses.empty(call, 201, view=stamped, url=stamped["url"])


async def add_task_collection(call: Any) -> Response:
    body = rest_body(await call.body(), "task-collection")
    if "value" not in body:
        raise E.missing_property("value")
    tasks = body["value"]
    if not isinstance(tasks, list):
        raise E.invalid_property("value", type(tasks).__name__, "must be a list of tasks")
    if len(tasks) > MAX_TASKS_PER_COLLECTION:
        raise E.invalid_property("value", f"{len(tasks)} tasks",
                                 f"a collection holds at most {MAX_TASKS_PER_COLLECTION} tasks")
    job_id = call.path["jobId"]
    results = await call.run(call.account.create_tasks, job_id, tasks)
    stamp = _now_iso()
    out = []
    for r in results:
        task_id = r.get("taskId")
        if r.get("status") == "success":
            view = r.get("task") or {"id": task_id}
            out.append({"status": "success", "taskId": task_id,
                        "eTag": responses.etag(view),
                        "lastModified": view.get("lastModified") or stamp,
                        "location": _task_url(call, job_id, task_id)})
        else:
            error = r.get("error")
            # the REST enum is lower case (clienterror, servererror): the SDK compares
            # exactly, and a status it does not know counts as added
            item: dict[str, Any] = {"status": (r.get("status") or "clientError").lower(),
                                    "taskId": task_id}
            if isinstance(error, E.BatchError):
                item["error"] = error.body()
            out.append(item)
    return responses.json_response({"value": out})


async def list_tasks(call: Any) -> Response:
    job_id = call.path["jobId"]
    views = await call.run(call.account.task_views, job_id)
    stamped = [responses.with_stamps(_task_rest(call, job_id, v)) for v in views]
    return page(call, stamped, "tasks", "tasks")


async def get_task(call: Any) -> Response:
    view = await _task_view(call)
    return read(call, view, "tasks/@Element")


#: a ``BatchTask``'s properties: a task update may send the task as a get returned it (the
#: SDK's ``replace_task`` takes a ``BatchTask``); only ``constraints`` changes, the others are
#: ignored as the service ignores them
_TASK_PROPERTIES = frozenset((
    "odata.metadata", "id", "displayName", "url", "eTag", "lastModified", "creationTime",
    "exitConditions", "state", "stateTransitionTime", "previousState",
    "previousStateTransitionTime", "commandLine", "containerSettings", "resourceFiles",
    "outputFiles", "environmentSettings", "affinityInfo", "constraints", "requiredSlots",
    "userIdentity", "executionInfo", "nodeInfo", "multiInstanceSettings", "stats", "dependsOn",
    "applicationPackageReferences", "authenticationTokenSettings"))


async def replace_task(call: Any) -> Response:
    body = rest_body(await call.body(), "task-replace")
    unknown = [k for k in body if k not in _TASK_PROPERTIES]
    if unknown:
        raise E.BatchError("UnsupportedProperty", f"{unknown[0]} cannot be changed by a task "
                           "update", (("PropertyName", unknown[0]),))
    check(call, await _task_view(call), write=True)
    job_id = call.path["jobId"]
    view = await call.run(call.account.update_task_constraints, job_id, call.path["taskId"],
                          body.get("constraints"))
    stamped = responses.with_stamps(_task_rest(call, job_id, view))
    return responses.empty(call, 200, view=stamped, url=stamped["url"])


async def delete_task(call: Any) -> Response:
    check(call, await _task_view(call), write=True)
    await call.run(call.account.delete_task, call.path["jobId"], call.path["taskId"])
    return responses.empty(call, 200)


async def terminate_task(call: Any) -> Response:
    check(call, await _task_view(call), write=True)
    job_id = call.path["jobId"]
    view = await call.run(call.account.terminate_task, job_id, call.path["taskId"])
    stamped = responses.with_stamps(_task_rest(call, job_id, view))
    return responses.empty(call, 204, view=stamped, url=stamped["url"])


async def reactivate_task(call: Any) -> Response:
    check(call, await _task_view(call), write=True)
    job_id = call.path["jobId"]
    view = await call.run(call.account.reactivate_task, job_id, call.path["taskId"])
    stamped = responses.with_stamps(_task_rest(call, job_id, view))
    return responses.empty(call, 204, view=stamped, url=stamped["url"])


async def list_subtasks(call: Any) -> Response:
    job_id, task_id = call.path["jobId"], call.path["taskId"]
    subtasks = await call.run(call.account.list_subtasks, job_id, task_id)
    for sub in subtasks:
        info = sub.get("nodeInfo")
        if info is not None:
            node_url = _node_url(call, info["poolId"], info["nodeId"])
            info["nodeUrl"] = node_url
            info["taskRootDirectoryUrl"] = (f"{node_url}/files/"
                                            f"{quote(info['taskRootDirectory'], safe='')}")
    return page(call, subtasks, "subtasks", "subtaskinformations")


# -- task files ---------------------------------------------------------------------------------

def _owner(call: Any) -> str:
    return (f"/jobs/{quote(call.path['jobId'], safe='')}/tasks/"
            f"{quote(call.path['taskId'], safe='')}")


async def list_task_files(call: Any) -> Response:
    recursive = flag(call, "recursive")
    entries = await call.run(call.account.list_task_files, call.path["jobId"],
                             call.path["taskId"], recursive)
    owner = _owner(call)
    views = [files.file_entry(call, owner, name, st) for name, st in entries]
    return page(call, views, "taskfiles", "files")


async def _file(call: Any, head: bool) -> Response:
    name = call.path["filePath"]
    path, st = await call.run(call.account.task_file, call.path["jobId"], call.path["taskId"],
                              name)
    return files.file_response(call, path, st, files.file_url(call, _owner(call), name),
                               head=head)


async def get_task_file(call: Any) -> Response:
    return await _file(call, head=False)


async def task_file_properties(call: Any) -> Response:
    return await _file(call, head=True)


async def delete_task_file(call: Any) -> Response:
    await call.run(call.account.delete_task_file, call.path["jobId"], call.path["taskId"],
                   call.path["filePath"], flag(call, "recursive"))
    return responses.empty(call, 200)


_JOB = "/jobs/{jobId}"
_TASK = "/jobs/{jobId}/tasks/{taskId}"

OPERATIONS: tuple[Operation, ...] = (
    Operation("POST", "/jobs", add_job, "create_job"),
    Operation("GET", "/jobs", list_jobs, "list_jobs"),
    Operation("GET", _JOB, get_job, "get_job"),
    Operation("PATCH", _JOB, patch_job, "update_job"),
    Operation("PUT", _JOB, replace_job, "replace_job"),
    Operation("DELETE", _JOB, delete_job, "begin_delete_job"),
    Operation("POST", _JOB + "/disable", disable_job, "begin_disable_job"),
    Operation("POST", _JOB + "/enable", enable_job, "begin_enable_job"),
    Operation("POST", _JOB + "/terminate", terminate_job, "begin_terminate_job"),
    Operation("GET", _JOB + "/taskcounts", task_counts, "get_job_task_counts"),
    Operation("GET", _JOB + "/jobpreparationandreleasetaskstatus", prep_release_status,
              "list_job_preparation_and_release_task_status"),
    Operation("POST", _JOB + "/tasks", add_task, "create_task"),
    Operation("GET", _JOB + "/tasks", list_tasks, "list_tasks"),
    Operation("POST", _JOB + "/addtaskcollection", add_task_collection,
              "create_task_collection"),
    Operation("GET", _TASK, get_task, "get_task"),
    Operation("PUT", _TASK, replace_task, "replace_task"),
    Operation("DELETE", _TASK, delete_task, "delete_task"),
    Operation("POST", _TASK + "/terminate", terminate_task, "terminate_task"),
    Operation("POST", _TASK + "/reactivate", reactivate_task, "reactivate_task"),
    Operation("GET", _TASK + "/subtasksinfo", list_subtasks, "list_subtasks"),
    Operation("GET", _TASK + "/files", list_task_files, "list_task_files"),
    Operation("GET", _TASK + "/files/{filePath:path}", get_task_file, "download_task_file"),
    Operation("HEAD", _TASK + "/files/{filePath:path}", task_file_properties,
              "get_task_file_properties"),
    Operation("DELETE", _TASK + "/files/{filePath:path}", delete_task_file, "delete_task_file"),
)

#: job schedules are served by routes_schedules.py
NOT_SERVED: tuple[tuple[str, str, str], ...] = ()
