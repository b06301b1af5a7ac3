"""Job schedules over REST (docs/serve.md, "Job schedules and auto pools").

A schedule makes a job ``<scheduleId>:job-<n>`` at each due instant of its recurrence; when and
whether is the account's (runtime/service/account.py, with scheduler/schedules.py's rules).
These handlers only read the request, call the account in a worker thread and shape the
answer as the service does:

* add 201; get, list, patch, put 200; disable and enable 204; terminate and delete 202, each
  change with no body and the schedule's ``ETag``/``Last-Modified`` (delete: none, the schedule
  may be gone already).
* Conditional headers (``If-Match``, ...) are checked against the schedule's current view before
  every change, and on get and exists.
* The SDK's ``begin_terminate_job_schedule`` / ``begin_delete_job_schedule`` are pollers that
  GET the schedule while it is ``terminating`` / ``deleting``: the account finishes both at once
  when no job runs, so the first poll already sees ``completed`` / 404.
* ``GET /jobschedules/{id}/jobs`` is the job list of that schedule, with the job list's own
  ``$filter`` properties.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from . import responses
from .answers import page, read
from .bodies import rest_body
from .conditions import check
from .operations import Operation
from .routes_jobs import flag, job_url, optional_body

__all__ = ["OPERATIONS", "NOT_SERVED"]


def _schedule_url(call: Any, schedule_id: str) -> str:
    return f"{call.base_url}/jobschedules/{quote(schedule_id, safe='')}"


def _stamped(call: Any, view: dict[str, Any]) -> dict[str, Any]:
    """A schedule view with its URL, its recent job's URL and its stamps. The ETag hashes all
    but ``executionInfo``: like ``lastModified`` it changes with the schedule's own data and
    state, not each time the schedule makes a job, so an ``If-Match`` with the ETag of the
    add's answer or of a get still holds after the next recurrence."""
    out = {**view, "url": _schedule_url(call, view["id"])}
    info = out.get("executionInfo")
    recent = info.get("recentJob") if isinstance(info, dict) else None
    if isinstance(recent, dict) and recent.get("id"):
        out["executionInfo"] = {**info, "recentJob": {**recent,
                                                      "url": job_url(call, recent["id"])}}
    out["eTag"] = responses.etag({k: v for k, v in out.items() if k != "executionInfo"})
    return responses.with_stamps(out)


async def _current(call: Any) -> dict[str, Any]:
    view = await call.run(call.account.get_job_schedule, call.path["jobScheduleId"])
    return _stamped(call, view)


async def _changed(call: Any, status: int, method: str, *args: Any) -> Response:
    """Check the request's conditions against the schedule, apply ``method`` of the account to
    it, answer ``status`` with the schedule's new stamps."""
    check(call, await _current(call), write=True)
    schedule_id = call.path["jobScheduleId"]
    view = await call.run(getattr(call.account, method), schedule_id, *args)
    stamped = _stamped(call, view)
    return responses.empty(call, status, view=stamped, url=stamped["url"])


async def add_job_schedule(call: Any) -> Response:
    body = rest_body(await call.body(), "job-schedule")
    view = _stamped(call, await call.run(call.account.add_job_schedule, body))
    return responses.empty(call, 201, view=view, url=view["url"])


async def list_job_schedules(call: Any) -> Response:
    views = await call.run(call.account.list_job_schedules)
    return page(call, [_stamped(call, v) for v in views], "jobschedules", "jobschedules")


async def get_job_schedule(call: Any) -> Response:
    return read(call, await _current(call), "jobschedules/@Element")


async def job_schedule_exists(call: Any) -> Response:
    view = await _current(call)
    not_modified = check(call, view, write=False)
    if not_modified is not None:
        return not_modified
    return responses.empty(call, 200, view=view)


async def update_job_schedule(call: Any) -> Response:
    body = rest_body(await call.body(), "job-schedule-update")
    return await _changed(call, 200, "update_job_schedule", body)


async def replace_job_schedule(call: Any) -> Response:
    body = rest_body(await call.body(), "job-schedule-replace")
    return await _changed(call, 200, "replace_job_schedule", body)


async def disable_job_schedule(call: Any) -> Response:
    return await _changed(call, 204, "disable_job_schedule")


async def enable_job_schedule(call: Any) -> Response:
    return await _changed(call, 204, "enable_job_schedule")


async def terminate_job_schedule(call: Any) -> Response:
    await optional_body(call)
    flag(call, "force")
    return await _changed(call, 202, "terminate_job_schedule")


async def delete_job_schedule(call: Any) -> Response:
    flag(call, "force")
    check(call, await _current(call), write=True)
    await call.run(call.account.delete_job_schedule, call.path["jobScheduleId"])
    return responses.empty(call, 202)


async def list_jobs_from_schedule(call: Any) -> Response:
    views = await call.run(call.account.list_jobs_of_schedule, call.path["jobScheduleId"])
    stamped = [responses.with_stamps({**v, "url": job_url(call, v["id"])}) for v in views]
    return page(call, stamped, "jobs", "jobs")


_SCHEDULE = "/jobschedules/{jobScheduleId}"

OPERATIONS: tuple[Operation, ...] = (
    Operation("POST", "/jobschedules", add_job_schedule, "create_job_schedule"),
    Operation("GET", "/jobschedules", list_job_schedules, "list_job_schedules"),
    Operation("GET", _SCHEDULE, get_job_schedule, "get_job_schedule"),
    Operation("HEAD", _SCHEDULE, job_schedule_exists, "job_schedule_exists"),
    Operation("PATCH", _SCHEDULE, update_job_schedule, "update_job_schedule"),
    Operation("PUT", _SCHEDULE, replace_job_schedule, "replace_job_schedule"),
    Operation("DELETE", _SCHEDULE, delete_job_schedule, "begin_delete_job_schedule"),
    Operation("POST", _SCHEDULE + "/disable", disable_job_schedule, "disable_job_schedule"),
    Operation("POST", _SCHEDULE + "/enable", enable_job_schedule, "enable_job_schedule"),
    Operation("POST", _SCHEDULE + "/terminate", terminate_job_schedule,
              "begin_terminate_job_schedule"),
    Operation("GET", _SCHEDULE + "/jobs", list_jobs_from_schedule, "list_jobs_from_schedule"),
)

NOT_SERVED: tuple[tuple[str, str, str], ...] = ()
