"""Batch errors: the service's error codes, their HTTP statuses, and the REST error body.

The library's account raises :class:`BatchError` and the REST service returns it, so both speak
the same codes a program written against Azure Batch already handles (``PoolExists``,
``JobNotFound``, ``TaskExists``, ...). One object carries everything either side needs:

* ``code``: the service's code, exactly as the service spells it; every code is a row of
  :data:`ERROR_CODES`, so a typo (``PoolNotFund``) fails where it is written, not in a client;
* ``status``: the HTTP status the service answers with that code (from the same row);
* ``message``: the row's message, or a more specific one given when the error is raised;
* ``values``: ordered ``(key, value)`` pairs, the service's ``values`` list
  (``PropertyName`` / ``PropertyValue`` / ``Reason`` for a bad property, and so on);
* :meth:`BatchError.body`: the REST error body.

Raising ``BatchError(code)`` gives an instance of the class of its HTTP status
(:class:`BadRequest` 400, :class:`NotFound` 404, :class:`Conflict` 409; other statuses stay
plain :class:`BatchError`), so a caller may catch a whole class as the Azure SDK's
``ResourceNotFoundError`` / ``ResourceExistsError`` do, or one code through ``e.code``.

**The table** (:data:`ERROR_CODES`) holds every code of the service's published list of status
and error codes: the common REST codes and the Batch service codes, with the status the list
gives each; the messages are written for poolscale (one sentence, no line break, because the
service appends its request id and time after a line break, see below). After them come the
codes of poolscale's formula language (docs/language.md) that refuse a formula or an evaluation
interval before any run (too long, too many statements, syntax, validation, interval), all 400,
with the formula package's messages: :func:`formula_refused` turns a ``FormulaError`` into one.
Two codes of the list need a word:

* ``ConditionNotMet`` is listed twice: 304 for a read, 412 for a write. A 304 answer has no
  body under HTTP's rules, so the table keeps 412 and the REST layer answers a read's failed
  condition with a bare 304.
* The list spells the long-formula code ``AutoScalingFormulaTooLong``; the .NET client's
  constant and poolscale's formula language spell it ``AutoScaleFormulaTooLong``. The table
  keeps both; poolscale raises the second, as its formula checker reports it.

Two certificate codes are not in the published list but in the Batch SDKs' lists of the codes
the service sends: ``CertificateStateActive`` (a cancelled deletion of an active certificate)
and ``InvalidCertificateReferences`` (a pool naming a certificate the account lacks), both 409
here, the status the service gives ``InvalidApplicationPackageReferences``.

Codes that are not HTTP errors are not in the table: a pool's ``resizeErrors`` codes
(``AccountCoreQuotaReached``, ``AccountLowPriorityCoreQuotaReached``, ``AllocationTimedout``)
are recorded on the pool, an AutoScaleRun's error (a formula that fails while it runs:
``InsufficientSampleData``, ``InvalidTargetValue``, ...) is recorded on the run, and a task's
``failureInfo`` codes (``FailureExitCode``, ``TaskEnded``) on the task. None of them is raised.

**The body**, as the service shapes it::

    {"odata.metadata": "<account URL>/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
     "code": "PoolNotFound",
     "message": {"lang": "en-US", "value": "<message>\\nRequestId:<uuid>\\nTime:<UTC, 7 decimals>Z"},
     "values": [{"key": "...", "value": "..."}]}

``odata.metadata`` is there when the caller gives the account URL, and ``values`` only when there
are some (the service leaves the list out then). The service ends ``message.value`` with the
request's id and time; :meth:`BatchError.body` does so when given a request id, which the REST
layer passes (the same id it returns in the ``request-id`` header), and the library, which has
no request, does not. Clients do not parse that tail: the Azure SDK for Python (azure-batch 15)
reads ``code``, ``message.value`` whole and each ``values`` item's ``key`` and ``value``, and
:meth:`BatchError.from_body` strips the tail again.

This module imports nothing beyond the standard library's light modules: ``ids.py`` builds on it
and the REST layer imports it on every request.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any, Iterable, Mapping, NamedTuple

__all__ = [
    "ErrorCode", "ERROR_CODES", "ODATA_ERROR_METADATA", "MESSAGE_LANG",
    "BatchError", "BadRequest", "NotFound", "Conflict",
    "not_found", "exists", "invalid_property", "missing_property", "formula_refused", "shown",
]


class ErrorCode(NamedTuple):
    """One row of the service's list: the code, the HTTP status it comes with, and what it means."""

    code: str
    status: int
    message: str


_ROWS = (
    # -- Common REST API error codes ---------------------------------------------------------
    ErrorCode("ConditionNotMet", 412, "The condition of the request's conditional header was not met."),
    ErrorCode("MissingRequiredHeader", 400, "A header the request needs is missing."),
    ErrorCode("MissingRequiredProperty", 400, "The request body lacks a property the operation needs."),
    ErrorCode("UnsupportedHeader", 400, "The request has a header the service does not support."),
    ErrorCode("UnsupportedProperty", 400, "The request body has a property the service does not support."),
    ErrorCode("InvalidHeaderValue", 400, "A header of the request has a value in the wrong format."),
    ErrorCode("InvalidPropertyValue", 400, "A property of the request body has a value that is not valid."),
    ErrorCode("MissingRequiredQueryParameter", 400,
              "The request URI lacks a query parameter the operation needs."),
    ErrorCode("UnsupportedQueryParameter", 400,
              "The request URI has a query parameter the service does not support."),
    ErrorCode("InvalidQueryParameterValue", 400,
              "A query parameter of the request URI has a value that is not valid."),
    ErrorCode("OutOfRangeQueryParameterValue", 400,
              "A query parameter of the request URI is outside its allowed range."),
    ErrorCode("RequestUrlFailedToParse", 400, "The request URL cannot be parsed."),
    ErrorCode("InvalidUri", 400, "The request URI names no resource of the service."),
    ErrorCode("InvalidHttpVerb", 400, "The service does not know the request's HTTP verb."),
    ErrorCode("EmptyMetadataKey", 400, "A metadata item has an empty key."),
    ErrorCode("InvalidRequestBody", 400, "The request body is not well formed."),
    ErrorCode("OutOfRangeInput", 400, "An input of the request is outside its allowed range."),
    ErrorCode("InvalidAuthenticationInfo", 400,
              "The authentication information is not in the expected format; check the Authorization header."),
    ErrorCode("InvalidInput", 400, "An input of the request is not valid."),
    ErrorCode("InvalidMetadata", 400, "The metadata holds characters that are not allowed."),
    ErrorCode("MetadataTooLarge", 400, "The metadata is larger than allowed."),
    ErrorCode("MultipleConditionHeadersNotSupported", 400,
              "The request has more than one conditional header; one is supported."),
    ErrorCode("AuthenticationFailed", 403,
              "The request could not be authenticated; check that the Authorization header is well formed and signed."),
    ErrorCode("InsufficientAccountPermissions", 403,
              "The account lacks the permissions this operation needs."),
    ErrorCode("AccountIsDisabled", 403, "The account is disabled."),
    ErrorCode("ResourceNotFound", 404, "The resource does not exist."),
    ErrorCode("UnsupportedHttpVerb", 405, "The resource does not support the request's HTTP verb."),
    ErrorCode("MissingContentLengthHeader", 411, "The request has no Content-Length header."),
    ErrorCode("RequestBodyTooLarge", 413, "The request body is larger than allowed."),
    ErrorCode("InvalidRange", 416, "The range is not valid for the resource's current size."),
    ErrorCode("InternalError", 500, "The service hit an internal error; retry the request."),
    ErrorCode("OperationTimedOut", 500, "The operation did not finish in the time allowed."),
    ErrorCode("ServerBusy", 503, "The service cannot take requests now; retry the request."),
    # -- Batch service error codes -------------------------------------------------------------
    ErrorCode("UnsupportedRequestVersion", 400, "The service does not support this API version."),
    ErrorCode("InvalidAutoScalingSettings", 400, "The autoscale settings are not valid."),
    ErrorCode("AutoScalingFormulaSyntaxError", 400, "The specified auto-scaling formula has a syntax error."),
    ErrorCode("AutoScalingFormulaTooLong", 400, "The autoscale formula is longer than allowed."),
    ErrorCode("OSVersionNotFound", 400, "The OS version does not exist."),
    ErrorCode("OSVersionDisabled", 400, "The OS version is disabled."),
    ErrorCode("OSVersionExpired", 400, "The OS version has expired."),
    ErrorCode("PoolVersionEqualsUpgradeVersion", 400, "The pool already has this version."),
    ErrorCode("PoolNotEligibleForOSVersionUpgrade", 400, "The pool cannot be upgraded to another OS version."),
    ErrorCode("PoolNotFound", 404, "The pool does not exist."),
    ErrorCode("NodeNotFound", 404, "The node does not exist."),
    ErrorCode("JobScheduleNotFound", 404, "The job schedule does not exist."),
    ErrorCode("JobNotFound", 404, "The job does not exist."),
    ErrorCode("TaskNotFound", 404, "The task does not exist."),
    ErrorCode("FileNotFound", 404, "The file does not exist."),
    ErrorCode("NodeUserNotFound", 404, "The node user does not exist."),
    ErrorCode("CertificateNotFound", 404, "The certificate does not exist."),
    ErrorCode("JobPreparationTaskNotRunOnNode", 404, "The job preparation task has not run on the node."),
    ErrorCode("JobReleaseTaskNotRunOnNode", 404, "The job release task has not run on the node."),
    ErrorCode("NodeAgentSKUNotFound", 404, "The node agent SKU does not exist."),
    ErrorCode("OperationInvalidForCurrentState", 409,
              "The operation is not allowed in the resource's current state."),
    ErrorCode("PoolBeingDeleted", 409, "The pool is being deleted."),
    ErrorCode("PoolBeingResized", 409, "The pool is being resized."),
    ErrorCode("PoolBeingCreated", 409, "The pool is being created."),
    ErrorCode("NodeBeingCreated", 409, "The node is being created."),
    ErrorCode("NodeBeingStarted", 409, "The node is being started."),
    ErrorCode("NodeBeingReimaged", 409, "The node is being reimaged."),
    ErrorCode("NodeBeingRebooted", 409, "The node is being rebooted."),
    ErrorCode("NodeStateUnusable", 409, "The node is unusable."),
    ErrorCode("JobScheduleBeingTerminated", 409, "The job schedule is being terminated."),
    ErrorCode("JobScheduleBeingDeleted", 409, "The job schedule is being deleted."),
    ErrorCode("CertificateBeingDeleted", 409, "The certificate is being deleted."),
    ErrorCode("PoolExists", 409, "A pool with this id already exists."),
    ErrorCode("JobScheduleExists", 409, "A job schedule with this id already exists."),
    ErrorCode("NodeUserExists", 409, "A node user with this name already exists."),
    ErrorCode("JobExists", 409, "A job with this id already exists."),
    ErrorCode("CertificateExists", 409, "The certificate already exists."),
    ErrorCode("CertificateStateActive", 409,
              "The certificate is active; the operation needs a certificate whose deletion failed."),
    ErrorCode("InvalidCertificateReferences", 409,
              "A certificate reference names a certificate that is not in the account or is being deleted."),
    ErrorCode("JobScheduleDisabled", 409, "The job schedule is disabled."),
    ErrorCode("JobScheduleCompleted", 409, "The job schedule has already completed."),
    ErrorCode("JobBeingTerminated", 409, "The job is being terminated."),
    ErrorCode("JobBeingDeleted", 409, "The job is being deleted."),
    ErrorCode("JobDisabled", 409, "The job is disabled."),
    ErrorCode("JobCompleted", 409, "The job has already completed."),
    ErrorCode("JobNotActive", 409, "The job is not active."),
    ErrorCode("TaskExists", 409, "A task with this id already exists in the job."),
    ErrorCode("TaskCompleted", 409, "The task has already completed."),
    ErrorCode("TaskNotCompleted", 409, "The task has not completed; the operation needs a completed task."),
    ErrorCode("TaskSucceeded", 409, "The task has already succeeded; the operation is not allowed on a succeeded task."),
    ErrorCode("TaskFilesUnavailable", 409, "The task's files are not available."),
    ErrorCode("TaskFilesCleanedup", 409, "The task's files have been cleaned up."),
    ErrorCode("ActiveJobAndScheduleQuotaReached", 409,
              "The account has as many active jobs and job schedules as its quota allows."),
    ErrorCode("PoolQuotaReached", 409, "The account has as many pools as its quota allows."),
    ErrorCode("UpgradePoolVersionConflict", 409, "The pool is already being upgraded to another version."),
    ErrorCode("JobPreparationTaskNotSpecified", 409, "The job has no job preparation task."),
    ErrorCode("JobReleaseTaskNotSpecified", 409, "The job has no job release task."),
    ErrorCode("TaskIdSameAsJobPreparationTask", 409, "The task id is the job preparation task's id."),
    ErrorCode("TaskIdSameAsJobReleaseTask", 409, "The task id is the job release task's id."),
    ErrorCode("JobWithSameIdExists", 409,
              "A job has the id given to this job schedule; jobs and job schedules cannot share an id."),
    ErrorCode("JobScheduleWithSameIdExists", 409,
              "A job schedule has the id given to this job; jobs and job schedules cannot share an id."),
    ErrorCode("NodeAlreadyInTargetSchedulingState", 409, "The node is already in the scheduling state asked for."),
    ErrorCode("OperationNotValidOnNode", 409, "The operation is not allowed on the node."),
    ErrorCode("OperationNotValidOnPool", 409, "The operation is not allowed on the pool."),
    ErrorCode("IOError", 403, "An I/O error occurred while reading or writing the resource."),
    ErrorCode("TooManyEnableAutoScaleRequests", 503, "Autoscale was enabled on the pool too often; retry later."),
    ErrorCode("ApplicationNotFound", 404, "The application does not exist."),
    ErrorCode("InvalidApplicationPackageReferences", 409,
              "An application package reference names an application or version that does not exist, is not "
              "active, or has no default version."),
    ErrorCode("TaskDependenciesNotSpecifiedOnJob", 400,
              "The task depends on other tasks, but its job does not use task dependencies."),
    ErrorCode("TaskDependencyListTooLong", 400,
              "The task's list of task ids it depends on is too long to store; use id ranges instead."),
    ErrorCode("TaskDependencyRangesTooLong", 400,
              "The task's list of id ranges it depends on has too many ranges to store."),
    # -- Formula errors: the codes of poolscale's formula language (docs/language.md) for a formula
    # or an interval refused before any run, with its messages (poolscale.formula.errors) ----------
    ErrorCode("AutoScaleFormulaTooLong", 400, "The specified auto-scaling formula is too long."),
    ErrorCode("AutoScaleFormulaTooManyStatements", 400,
              "The specified auto-scaling formula has too many statements."),
    ErrorCode("AutoScalingFormulaValidationError", 400, "The specified auto-scaling formula is not valid."),
    ErrorCode("InvalidAutoScaleEvaluationInterval", 400,
              "The autoscale evaluation interval must be between 5 minutes and 168 hours."),
)

#: Every error code the service documents, and the formula language's refusals, by code.
ERROR_CODES: Mapping[str, ErrorCode] = MappingProxyType({row.code: row for row in _ROWS})

#: ``odata.metadata`` of an error body, after the account URL.
ODATA_ERROR_METADATA = "/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element"

#: The language of every message, as the service tags it.
MESSAGE_LANG = "en-US"

#: The tail the service appends to ``message.value``; :meth:`BatchError.from_body` strips it.
_REQUEST_TAIL = re.compile(r"\nRequestId:[^\n]*\nTime:[^\n]*\Z")


class BatchError(Exception):
    """An error with a Batch error code. ``BatchError(code, message=None, values=())``.

    ``message`` defaults to the code's row in :data:`ERROR_CODES`; ``values`` is a mapping or
    an iterable of ``(key, value)`` pairs, kept in order, every value turned into text as the
    REST body needs it. ``str(e)`` is ``"<code>: <message>"``. An unknown code is a
    ``ValueError``: codes come from the table, so that no client meets a code the service would
    never send.
    """

    code: str
    status: int
    message: str
    values: tuple[tuple[str, str], ...]

    #: The one HTTP status a subclass stands for (None: any).
    http_status: int | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> BatchError:
        if cls is BatchError:
            code = args[0] if args else kwargs.get("code")
            cls = _CLASS_BY_STATUS.get(_row(code).status, BatchError)
        return super().__new__(cls)

    def __init__(self, code: str, message: str | None = None,
                 values: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> None:
        row = _row(code)
        if self.http_status is not None and row.status != self.http_status:
            raise ValueError(f"{row.code} is a {row.status} error, not a {type(self).__name__} "
                             f"({self.http_status})")
        self.code = row.code
        self.status = row.status
        self.message = row.message if message is None else message
        pairs = values.items() if isinstance(values, Mapping) else values
        self.values = tuple((str(key), _text(value)) for key, value in pairs)
        super().__init__(f"{self.code}: {self.message}")

    def __reduce__(self) -> tuple[Any, ...]:
        # The constructor's arguments differ between subclasses (InvalidId takes a property, a
        # value and a reason), so a pickled error is rebuilt from its attributes instead.
        return (_rebuild, (type(self), self.__dict__.copy()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, {list(self.values)!r})"

    def body(self, *, request_id: str | None = None, time: Any = None,
             account_url: str | None = None) -> dict[str, Any]:
        """The REST error body, keys in the service's order.

        ``request_id`` appends ``\\nRequestId:<id>\\nTime:<time>`` to ``message.value`` as the
        service does; ``time`` is an aware ``datetime`` (default: now), shown in UTC with seven
        decimals. ``account_url`` adds ``odata.metadata``.
        """
        text = self.message
        if request_id is not None:
            text += f"\nRequestId:{request_id}\nTime:{_service_time(time)}"
        out: dict[str, Any] = {}
        if account_url is not None:
            out["odata.metadata"] = account_url.rstrip("/") + ODATA_ERROR_METADATA
        out["code"] = self.code
        out["message"] = {"lang": MESSAGE_LANG, "value": text}
        if self.values:
            out["values"] = [{"key": key, "value": value} for key, value in self.values]
        return out

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> BatchError:
        """The error a REST error body describes (the inverse of :meth:`body`, without the
        request id and time); a body whose code is not in the table is a ``ValueError``."""
        message = body.get("message") or {}
        text = message.get("value") if isinstance(message, Mapping) else None
        if isinstance(text, str):
            text = _REQUEST_TAIL.sub("", text)
        pairs = [(item.get("key", ""), item.get("value", "")) for item in body.get("values") or ()]
        return BatchError(body.get("code", ""), text, pairs)


class BadRequest(BatchError):
    """A ``BatchError`` with HTTP status 400: the request itself is wrong."""

    http_status = 400


class NotFound(BatchError):
    """A ``BatchError`` with HTTP status 404: what the request names does not exist."""

    http_status = 404


class Conflict(BatchError):
    """A ``BatchError`` with HTTP status 409: the request conflicts with the current state."""

    http_status = 409


_CLASS_BY_STATUS: dict[int, type[BatchError]] = {400: BadRequest, 404: NotFound, 409: Conflict}


def _rebuild(cls: type[BatchError], state: dict[str, Any]) -> BatchError:
    error = Exception.__new__(cls)
    error.__dict__.update(state)
    error.args = (f"{error.code}: {error.message}",)
    return error


def _row(code: Any) -> ErrorCode:
    row = ERROR_CODES.get(code) if isinstance(code, str) else None
    if row is None:
        from poolscale.formula.suggest import suggestion_suffix  # only for a wrong code

        raise ValueError(f"{code!r} is not a Batch error code{suggestion_suffix(code, ERROR_CODES)}")
    return row


def _text(value: Any) -> str:
    """A ``values`` entry as text: strings as they are, everything else as JSON writes it
    (``true``, ``null``, ``5``), which is how a REST caller wrote it."""
    if isinstance(value, str):
        return value
    import json

    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _service_time(time: Any) -> str:
    """``2014-04-09T20:21:24.8452594Z``: UTC, seven decimals (the service's clock ticks are
    100 ns; Python's are microseconds, so the seventh digit is 0)."""
    from datetime import datetime, timezone

    if time is None:
        time = datetime.now(timezone.utc)
    if time.tzinfo is None:
        raise ValueError(f"the time of an error must be aware (have a time zone), got {time!r}")
    return time.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def shown(value: Any) -> str:
    """The value as a message quotes it, cut at 60 characters (a value may be a whole file's
    worth of text)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


#: The code for each kind of resource an operation may not find.
_NOT_FOUND = {"pool": "PoolNotFound", "node": "NodeNotFound", "job": "JobNotFound",
              "job schedule": "JobScheduleNotFound", "task": "TaskNotFound", "file": "FileNotFound",
              "node user": "NodeUserNotFound", "certificate": "CertificateNotFound",
              "application": "ApplicationNotFound"}

#: The code for each kind of resource an add may find already there.
_EXISTS = {"pool": "PoolExists", "job": "JobExists", "job schedule": "JobScheduleExists",
           "task": "TaskExists", "node user": "NodeUserExists", "certificate": "CertificateExists"}


def _kind_code(table: Mapping[str, str], kind: str, what: str) -> str:
    code = table.get(kind)
    if code is None:
        kinds = ", ".join(repr(k) for k in table)
        raise ValueError(f"{what} knows no resource kind {kind!r}; the kinds are {kinds}")
    return code


def not_found(kind: str, id: str) -> NotFound:
    """``PoolNotFound`` and its kin: ``not_found("pool", "render")`` says ``The pool 'render'
    does not exist.``. ``kind`` is ``pool``, ``node``, ``job``, ``job schedule``, ``task``,
    ``file``, ``node user``, ``certificate`` or ``application``. The service's body carries no
    ``values`` for these (the request's URL names the resource), and neither does this one."""
    code = _kind_code(_NOT_FOUND, kind, "not_found")
    return NotFound(code, f"The {kind} {shown(id)} does not exist.")


def exists(kind: str, id: str) -> Conflict:
    """``PoolExists`` and its kin: ``exists("job", "nightly")`` says ``A job with the id
    'nightly' already exists.``. ``kind`` is ``pool``, ``job``, ``job schedule``, ``task``,
    ``node user`` or ``certificate``. Ids compare without case, so the id in the message is the
    one the caller gave, which may differ in case from the one that exists."""
    code = _kind_code(_EXISTS, kind, "exists")
    return Conflict(code, f"A {kind} with the id {shown(id)} already exists.")


def invalid_property(name: str, value: Any, reason: str) -> BadRequest:
    """``InvalidPropertyValue`` for the property ``name`` (its REST path, e.g. ``id``,
    ``poolInfo.poolId``, ``constraints.maxTaskRetryCount``) holding ``value``, refused for
    ``reason``; ``values`` are ``PropertyName``, ``PropertyValue``, ``Reason``, as the service
    lists them."""
    return BadRequest("InvalidPropertyValue", f"{name} {shown(value)} is invalid: {reason}",
                      (("PropertyName", name), ("PropertyValue", value), ("Reason", reason)))


def missing_property(name: str) -> BadRequest:
    """``MissingRequiredProperty`` for the property ``name`` (its REST path); ``values`` name
    it as ``PropertyName``."""
    return BadRequest("MissingRequiredProperty", f"{name} is required but missing.",
                      (("PropertyName", name),))


def formula_refused(error: Any) -> BadRequest:
    """The Batch error for a formula the formula checker refused before any run (a
    ``poolscale.formula.FormulaError`` of the limits, syntax or validation phase): its code and
    message, and its detail (``Line L, Col C: ...``) as the value ``Message``, the name the
    formula's run errors give it. Taken by its attributes, so this module needs no import of the
    formula package."""
    return BadRequest(error.code, error.message, (("Message", error.detail),))
