"""Pydantic models of the pool, job and task files the simulator reads
(docs/simulation-model.md#the-pool-file, docs/simulation-model.md#job-fields,
docs/simulation-model.md#task-fields).

Field names are the Batch REST camelCase names (aliases); Python code uses the snake_case
attribute names, and both spellings load (``populate_by_name``). Durations are stored as float
**seconds**: an input may give an ISO-8601 duration (``PT5M``), a number of seconds, or the
``0:15:00`` / ``7 days, 0:00:00`` that ``az`` prints. ``None`` stands for "unlimited" (the REST
form of unlimited, ``P10675199DT2H48M5.4775807S``, loads as None). In REST sections a ``null``
property is dropped, as if left out: that is how the REST API and ``az`` write unset properties.

Unknown fields (decided per section, see docs/simulation-model.md):

* **REST sections** (pool, job, task and their sub-objects) reject unknown names, so a typo such
  as ``taskSlotPerNode`` is a file error naming the field; but every property the Batch REST
  API defines and the simulator does not model (read-only state, image, network, mounts,
  certificates, metadata, statistics, ``odata.metadata`` …) is listed in the class's ``IGNORED``
  set and dropped before validation. So ``az batch pool show`` output loads as is
  (docs/simulation-model.md#ignored-rest-properties).
* **poolscale sections** (``simulation``, distributions, profiles, the workload envelope) forbid
  unknown names outright.

pydantic is imported only in this package (scheduler/), never by formula/ or metrics/.
"""

from __future__ import annotations

import math
import random
import re
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)
from pydantic.alias_generators import to_camel

from poolscale.formula.timeparse import parse_iso_time
from poolscale.formula.values import TICKS_PER_SECOND

from .documents import shown
from .durations import bounded_seconds, duration_seconds, positive_seconds
from .limits import MAX_DEPENDENCIES, MAX_NODES_PER_KIND, MAX_SECONDS, MIN_MEAN_TIME_BETWEEN

__all__ = [
    "UNLIMITED_SECONDS", "AbsoluteTime", "Distribution", "Constant", "Uniform", "Exponential",
    "Normal", "LogNormal",
    "Triangular", "EnvironmentSetting", "ExitOptions", "ExitCodeMapping", "ExitCodeRange",
    "ExitConditions", "TaskIdRange", "DependsOn", "TaskConstraints", "JobConstraints",
    "AffinityInfo", "MultiInstanceSettings", "Profile", "StartTask", "TaskSchedulingPolicy",
    "JobManagerTask", "JobPreparationTask", "JobReleaseTask", "PoolInfo", "TaskSpec", "JobSpec",
    "Workload", "StartTaskSimulation", "PreemptionSettings", "CertificateReference",
    "NodeFailureSettings", "SampleSettings", "Prices", "SimulationSettings", "PoolSpec",
    "ResourceFile", "HttpHeader", "OutputFileBlobContainerDestination", "OutputFileDestination",
    "OutputFileUploadConfig", "OutputFile",
    "AutoPoolBody", "AutoPoolSpecification", "JobSpecification", "ScheduleConfiguration",
    "JobScheduleSpec",
    "FieldError", "cores_from_vm_size", "resolve_time", "load_pool", "load_workload", "absolute_instants",
    "validate_workload", "one_job",
]

# --------------------------------------------------------------------------------------------
# scalar helpers
# --------------------------------------------------------------------------------------------

#: Durations at or above this many seconds are "unlimited" (.NET TimeSpan.MaxValue is ~2.9e7 days).
UNLIMITED_SECONDS = 10_000_000 * 86_400.0

#: A duration field: at most MAX_SECONDS, read as everywhere else (durations.py).
_seconds = bounded_seconds


def _unlimited(value: Any) -> bool:
    """None, or a word for no limit, where a duration may be left unlimited."""
    return value is None or (isinstance(value, str)
                             and value.strip().lower() in ("unlimited", "infinite", "none"))


def _optional_seconds(value: Any) -> float | None:
    """As :func:`_seconds`, with None / "unlimited" / TimeSpan.MaxValue meaning no limit (and
    any longer duration too: it is no limit either)."""
    if _unlimited(value):
        return None
    v = duration_seconds(value)
    return None if v >= UNLIMITED_SECONDS else v


def _horizon(value: Any) -> float | None:
    """``simulation.horizon``: more than 0, as ``--horizon`` (durations.positive_seconds); none,
    "unlimited" or longer than any run means "until the workload drains"."""
    if _unlimited(value):
        return None
    v = positive_seconds(value)
    return None if v >= UNLIMITED_SECONDS else v


def _figure(seconds: float) -> str:
    """Seconds as written, to the tick: 604800.001, not 604800 (which would read as in range)."""
    return f"{seconds:.15g}"


class FieldError(ValueError):
    """A check across a model's fields that one field fails: ``field`` is its REST name, so the
    file error can point at its line (pydantic places model-level errors at the model)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def _lower(value: Any) -> Any:
    """REST enum values are matched without regard to case (``noAction`` = ``noaction``)."""
    return value.lower() if isinstance(value, str) else value


Seconds = Annotated[float, BeforeValidator(_seconds)]
OptionalSeconds = Annotated[Union[float, None], BeforeValidator(_optional_seconds)]


class AbsoluteTime:
    """A submit or creation time given as an ISO instant; resolved against the run's start."""

    __slots__ = ("ticks",)

    def __init__(self, ticks: int) -> None:
        self.ticks = ticks

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AbsoluteTime) and other.ticks == self.ticks

    def __hash__(self) -> int:
        return hash(self.ticks)

    def __repr__(self) -> str:
        return f"AbsoluteTime({self.ticks})"


def _sim_time(value: Any) -> float | AbsoluteTime:
    """Seconds after the simulation start (a number, at most MAX_SECONDS), or an ISO-8601
    instant with a zone."""
    if isinstance(value, AbsoluteTime):
        return value
    if isinstance(value, str):
        ts = parse_iso_time(value.strip())
        if ts is not None:
            return AbsoluteTime(ts.ticks)
        try:
            value = float(value)
        except ValueError:
            raise ValueError(
                f"{shown(value)} is neither seconds after the start nor an ISO-8601 time with a zone"
            ) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("a time is seconds after the simulation start or an ISO-8601 instant")
    if not 0 <= value <= MAX_SECONDS:     # NaN included
        raise ValueError(f"a time in seconds after the start must lie in [0, {MAX_SECONDS:.15g}]"
                         f", got {shown(value)}")
    return float(value)


SimTime = Annotated[Union[float, Any], BeforeValidator(_sim_time)]


def resolve_time(value: float | AbsoluteTime | None, start_ticks: int) -> float | None:
    """Seconds after the start; an instant before the start resolves to 0 (it already happened)."""
    if value is None:
        return None
    if isinstance(value, AbsoluteTime):
        return max(0.0, (value.ticks - start_ticks) / TICKS_PER_SECOND)
    return float(value)


# --------------------------------------------------------------------------------------------
# base classes
# --------------------------------------------------------------------------------------------


def _without_nulls(data: Any) -> Any:
    """A REST object without its null properties: the REST API and ``az`` write an unset
    property as null, which means what leaving it out means. (The base model drops them too,
    but the models' own "before" checks run first and must see the same object.)"""
    if isinstance(data, dict) and None in data.values():
        return {k: v for k, v in data.items() if v is not None}
    return data


class _Sim(BaseModel):
    """A poolscale-only section: unknown fields are errors, and so is a number that is not
    finite (an infinite price or memory would turn every integral into NaN)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True,
        allow_inf_nan=False,
    )


class _Rest(BaseModel):
    """A Batch REST section: REST properties the simulator ignores are dropped, others are errors.

    Subclasses list the ignored names in ``IGNORED`` (camelCase, as in the REST API).
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True,
        allow_inf_nan=False,
    )
    IGNORED: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _drop_ignored(cls, data: Any) -> Any:
        """Drop the ignored properties, and every property that is ``null``: the REST API and
        ``az`` write an unset property as null, which means what leaving it out means."""
        data = _without_nulls(data)
        ignored = cls.IGNORED
        if isinstance(data, dict) and not ignored.isdisjoint(data):
            data = {k: v for k, v in data.items() if k not in ignored}
        return data


_READ_ONLY_COMMON = (
    "odata.metadata", "url", "eTag", "lastModified", "creationTime", "state",
    "stateTransitionTime", "previousState", "previousStateTransitionTime", "stats",
    "displayName", "metadata",
)
_NOT_SIMULATED_TASK = (
    "containerSettings", "userIdentity",
    "applicationPackageReferences", "authenticationTokenSettings", "executionInfo", "nodeInfo",
)


# --------------------------------------------------------------------------------------------
# distributions (simulation section)
# --------------------------------------------------------------------------------------------

# A draw is a duration, so it never exceeds MAX_SECONDS: the unbounded ones (exponential, normal,
# log-normal) are cut there. A longer draw would mean "after the last instant a run can reach"
# anyway, and this keeps every drawn time convertible to ticks.


class Constant(_Sim):
    kind: Literal["constant"] = "constant"
    value: Seconds

    def sample(self, rng: random.Random) -> float:
        return self.value

    @property
    def mean(self) -> float:
        return self.value


class Uniform(_Sim):
    kind: Literal["uniform"]
    low: Seconds
    high: Seconds

    @model_validator(mode="after")
    def _order(self) -> "Uniform":
        if self.high < self.low:
            raise ValueError("uniform: high must be >= low")
        return self

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2


class Exponential(_Sim):
    kind: Literal["exponential"]
    mean: Seconds
    minimum: Seconds = 0.0

    def sample(self, rng: random.Random) -> float:
        v = self.minimum + (rng.expovariate(1.0 / self.mean) if self.mean > 0 else 0.0)
        return v if v <= MAX_SECONDS else MAX_SECONDS


class Normal(_Sim):
    """Normal, truncated below at ``minimum`` (default 0) by clamping."""

    kind: Literal["normal"]
    mean: Seconds
    stddev: Seconds
    minimum: Seconds = 0.0

    def sample(self, rng: random.Random) -> float:
        v = max(self.minimum, rng.gauss(self.mean, self.stddev))
        return v if v <= MAX_SECONDS else MAX_SECONDS


class LogNormal(_Sim):
    """Log-normal with the given mean and standard deviation of the duration itself."""

    kind: Literal["lognormal"]
    mean: Seconds
    stddev: Seconds

    def sample(self, rng: random.Random) -> float:
        mean, stddev = self.mean, self.stddev
        if mean <= 0:
            return 0.0
        if stddev < mean * 1e150:
            s2 = math.log1p((stddev / mean) ** 2)
        else:   # the same, where (stddev / mean)² would overflow: log(r²) + log1p(1 / r²) ≈ 2 log r
            s2 = 2 * (math.log(stddev) - math.log(mean))
        mu = math.log(mean) - s2 / 2
        try:
            v = rng.lognormvariate(mu, math.sqrt(s2))
        except OverflowError:
            return MAX_SECONDS
        return v if v <= MAX_SECONDS else MAX_SECONDS


class Triangular(_Sim):
    kind: Literal["triangular"]
    low: Seconds
    mode: Seconds
    high: Seconds

    @model_validator(mode="after")
    def _order(self) -> "Triangular":
        if not self.low <= self.mode <= self.high:
            raise ValueError("triangular: need low <= mode <= high")
        return self

    def sample(self, rng: random.Random) -> float:
        return rng.triangular(self.low, self.high, self.mode)

    @property
    def mean(self) -> float:
        return (self.low + self.mode + self.high) / 3


def _distribution(value: Any) -> Any:
    """A bare number or ISO duration is a constant."""
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return {"kind": "constant", "value": value}
    if isinstance(value, dict) and "kind" not in value and set(value) == {"value"}:
        return {"kind": "constant", **value}
    return value


Distribution = Annotated[
    Union[Constant, Uniform, Exponential, Normal, LogNormal, Triangular],
    Field(discriminator="kind"),
    BeforeValidator(_distribution),
]


def _const(seconds: float) -> Constant:
    return Constant(value=seconds)


# --------------------------------------------------------------------------------------------
# shared REST pieces
# --------------------------------------------------------------------------------------------


class EnvironmentSetting(_Rest):
    name: str
    value: str = ""


class ExitOptions(_Rest):
    job_action: Annotated[
        Union[Literal["none", "disable", "terminate"], None], BeforeValidator(_lower)
    ] = None
    dependency_action: Annotated[
        Union[Literal["satisfy", "block"], None], BeforeValidator(_lower)
    ] = None


class ExitCodeMapping(_Rest):
    code: int
    exit_options: ExitOptions


class ExitCodeRange(_Rest):
    start: int
    end: int
    exit_options: ExitOptions


class ExitConditions(_Rest):
    exit_codes: list[ExitCodeMapping] = []
    exit_code_ranges: list[ExitCodeRange] = []
    pre_processing_error: ExitOptions | None = None
    file_upload_error: ExitOptions | None = None
    default: ExitOptions | None = None

    def sets_job_action(self) -> bool:
        opts = [m.exit_options for m in self.exit_codes]
        opts += [r.exit_options for r in self.exit_code_ranges]
        opts += [o for o in (self.pre_processing_error, self.file_upload_error, self.default) if o]
        return any(o.job_action is not None for o in opts)


class TaskIdRange(_Rest):
    start: int
    end: int

    @model_validator(mode="after")
    def _ordered(self) -> "TaskIdRange":
        if self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")
        return self


class DependsOn(_Rest):
    task_ids: list[str] = []
    task_id_ranges: list[TaskIdRange] = []


class TaskConstraints(_Rest):
    max_wall_clock_time: OptionalSeconds = None
    retention_time: Seconds = 7 * 86_400.0
    #: None means "the job's" (docs/simulation-model.md#task-fields); -1 is unlimited.
    max_task_retry_count: Annotated[int, Field(ge=-1)] | None = None


class JobConstraints(_Rest):
    max_wall_clock_time: OptionalSeconds = None
    max_task_retry_count: Annotated[int, Field(ge=-1)] = 0


class AffinityInfo(_Rest):
    affinity_id: str


# -- resource files and output files (docs/simulation-model.md#ignored-rest-properties): the
# simulator checks them and ignores them; the live engine downloads and uploads them ---------

#: ``fileMode``: a Linux permission mode in octal, as ``chmod`` takes it (``0755``, ``644``)
_FILE_MODE = re.compile(r"[0-7]{3,4}\Z")
_HTTP_URL = re.compile(r"https?://\S+\Z", re.IGNORECASE)


def _relative_path(value: str, field: str) -> None:
    """A path under the task's directory: not absolute, no ``..`` part (a resource file may not
    be placed outside the directory it is downloaded into)."""
    parts = value.replace("\\", "/").split("/")
    if value.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", value) or ".." in parts:
        raise FieldError(field, f"{shown(value)} must be a relative path that stays inside the "
                                "task's working directory")


class ResourceFile(_Rest):
    """A file (or, for a container, the blobs under ``blobPrefix``) downloaded into the task's
    working directory before its command line runs: exactly one of the three sources.
    ``identityReference`` is kept, not refused, so that service output loads; the live account
    refuses it (managed identities do not exist on this machine)."""

    auto_storage_container_name: str | None = None
    storage_container_url: str | None = None
    http_url: str | None = None
    blob_prefix: str | None = None
    file_path: str | None = None
    file_mode: str | None = None
    identity_reference: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _check(self) -> "ResourceFile":
        sources = [name for name, value in (
            ("autoStorageContainerName", self.auto_storage_container_name),
            ("storageContainerUrl", self.storage_container_url),
            ("httpUrl", self.http_url)) if value is not None]
        if len(sources) != 1:
            raise FieldError(sources[1] if sources else "httpUrl",
                             "exactly one of autoStorageContainerName, storageContainerUrl and "
                             f"httpUrl must be given, got {len(sources)}")
        for field, url in (("storageContainerUrl", self.storage_container_url),
                           ("httpUrl", self.http_url)):
            if url is not None and not _HTTP_URL.match(url):
                raise FieldError(field, "must be an http:// or https:// URL")
        if self.http_url is not None:
            if not self.file_path:
                raise FieldError("filePath", "is required with httpUrl")
            if self.blob_prefix is not None:
                raise FieldError("blobPrefix", "applies to a container only, not to httpUrl")
        if self.file_path:
            _relative_path(self.file_path, "filePath")
        if self.file_mode is not None and not _FILE_MODE.match(self.file_mode):
            raise FieldError("fileMode", f"{shown(self.file_mode)} is not an octal file mode "
                                         "such as 0755")
        return self


class HttpHeader(_Rest):
    name: str
    value: str = ""


class OutputFileBlobContainerDestination(_Rest):
    """``containerUrl``: the container, with a SAS that allows writing; ``path``: the blob's
    name (a pattern without wildcards) or the virtual directory under which the matched files
    go (a pattern with wildcards)."""

    container_url: str
    path: str | None = None
    identity_reference: dict[str, Any] | None = None
    upload_headers: list[HttpHeader] = []

    @model_validator(mode="after")
    def _check(self) -> "OutputFileBlobContainerDestination":
        if not _HTTP_URL.match(self.container_url):
            raise FieldError("containerUrl", "must be an http:// or https:// URL")
        return self


class OutputFileDestination(_Rest):
    container: OutputFileBlobContainerDestination


class OutputFileUploadConfig(_Rest):
    upload_condition: Annotated[
        Literal["tasksuccess", "taskfailure", "taskcompletion"], BeforeValidator(_lower)
    ]


class OutputFile(_Rest):
    """Files of the task (``filePattern``, relative to its working directory; ``**`` matches
    any number of directories) uploaded after its process exits, on ``uploadCondition``."""

    file_pattern: str
    destination: OutputFileDestination
    upload_options: OutputFileUploadConfig


class MultiInstanceSettings(_Rest):
    number_of_instances: Annotated[int, Field(ge=1)] = 1
    coordination_command_line: str = ""
    common_resource_files: list[ResourceFile] = []


class Profile(_Sim):
    """Resource use of a running task; a missing field is 0
    (docs/simulation-model.md#series-values)."""

    cpu_percent: Annotated[float, Field(ge=0)] | None = None
    memory_mb: Annotated[float, Field(ge=0, alias="memoryMB")] = 0.0
    disk_gb: Annotated[float, Field(ge=0, alias="diskGB")] = 0.0
    disk_read_bytes_per_second: Annotated[float, Field(ge=0)] = 0.0
    disk_write_bytes_per_second: Annotated[float, Field(ge=0)] = 0.0
    disk_read_ops_per_second: Annotated[float, Field(ge=0)] = 0.0
    disk_write_ops_per_second: Annotated[float, Field(ge=0)] = 0.0
    network_in_bytes_per_second: Annotated[float, Field(ge=0)] = 0.0
    network_out_bytes_per_second: Annotated[float, Field(ge=0)] = 0.0


ExitCodes = Annotated[list[int], Field(min_length=1)]


# --------------------------------------------------------------------------------------------
# pool
# --------------------------------------------------------------------------------------------


class StartTask(_Rest):
    IGNORED = frozenset(("containerSettings", "userIdentity"))
    command_line: str = ""
    environment_settings: list[EnvironmentSetting] = []
    resource_files: list[ResourceFile] = []
    max_task_retry_count: Annotated[int, Field(ge=-1)] = 0
    wait_for_success: bool = True


class TaskSchedulingPolicy(_Rest):
    node_fill_type: Annotated[Literal["spread", "pack"], BeforeValidator(_lower)] = "spread"
    #: accepted as the REST API has it; equal priorities always go by job creation,
    #: which is ``creationtime`` (docs/simulation-model.md#queue-order-and-priorities)
    job_default_order: Annotated[Literal["none", "creationtime"], BeforeValidator(_lower)] = "none"


class StartTaskSimulation(_Sim):
    duration: Distribution = Field(default_factory=lambda: _const(0.0))
    failure_probability: Annotated[float, Field(ge=0, le=1)] = 0.0


#: a mean time between events of a node, None = never: at least MIN_MEAN_TIME_BETWEEN (a zero
#: mean would repeat the event at one instant for ever, a nanosecond one nearly so)
def _mean_time(v: float | None) -> float | None:
    if v is not None and v < MIN_MEAN_TIME_BETWEEN:
        raise ValueError(f"must be at least {MIN_MEAN_TIME_BETWEEN:g} s, the shortest mean time "
                         f"between node events a run allows; got {v:.15g} s (leave it out for never)")
    return v


MeanTime = Annotated[OptionalSeconds, AfterValidator(_mean_time)]


class PreemptionSettings(_Sim):
    #: mean of each low-priority node's exponential time to preemption; None = never
    mean_time_between: MeanTime = None
    recovery_time: Distribution = Field(default_factory=lambda: _const(300.0))


class NodeFailureSettings(_Sim):
    mean_time_between: MeanTime = None
    #: None: a failed node stays unusable until a scale-down removes it
    repair_time: Distribution | None = None


class SampleSettings(_Sim):
    period: Seconds = 30.0
    delay: Seconds = 0.0
    loss_rate: Annotated[float, Field(ge=0, le=1)] = 0.0

    @model_validator(mode="after")
    def _positive(self) -> "SampleSettings":
        if self.period <= 0:
            raise ValueError("samples.period must be greater than 0")
        return self


class Prices(_Sim):
    """Price per node-hour of each kind; None = no cost reported."""

    dedicated: Annotated[float, Field(ge=0)] | None = None
    low_priority: Annotated[float, Field(ge=0)] | None = None


class SimulationSettings(_Sim):
    """The ``simulation`` section (docs/simulation-model.md#the-simulation-section): everything only
    the simulator needs."""

    seed: int | None = None
    start: Annotated[Union[str, None], Field(description="ISO-8601 start instant")] = None
    horizon: Annotated[Union[float, None], BeforeValidator(_horizon)] = None
    dedicated_core_quota: Annotated[int, Field(ge=0)] | None = None
    low_priority_core_quota: Annotated[int, Field(ge=0)] | None = None
    cores_per_node: Annotated[int, Field(ge=1)] | None = None
    #: the "configured maximum" of docs/language.md#from-value-to-target: the most nodes of one
    #: kind the pool may hold besides any core quota. An account without a quota has no upper
    #: clamp in the language, but a formula can compute 10**12 nodes, which no simulation can
    #: create; see docs/simulation-model.md. At most MAX_NODES_PER_KIND (limits.py).
    max_nodes_per_kind: Annotated[int, Field(ge=0, le=MAX_NODES_PER_KIND)] = 100_000
    allocation_time: Distribution = Field(default_factory=lambda: _const(120.0))
    boot_time: Distribution = Field(default_factory=lambda: _const(60.0))
    start_task: StartTaskSimulation = Field(default_factory=StartTaskSimulation)
    preemption: PreemptionSettings = Field(default_factory=PreemptionSettings)
    node_failure: NodeFailureSettings = Field(default_factory=NodeFailureSettings)
    samples: SampleSettings = Field(default_factory=SampleSettings)
    prices: Prices = Field(default_factory=Prices)

    @model_validator(mode="after")
    def _start(self) -> "SimulationSettings":
        if self.start is not None and parse_iso_time(self.start) is None:
            raise ValueError(f"simulation.start {self.start!r} is not an ISO-8601 time with a zone")
        return self


_VM_PREFIX = re.compile(r"^(standard_|basic_)", re.IGNORECASE)


def cores_from_vm_size(vm_size: str) -> int | None:
    """docs/simulation-model.md#cores-per-node: strip ``standard_``/``basic_``; a constrained size
    ``E4-2s_v3`` gives 2; else the
    first run of digits (``d4s_v3`` → 4, ``NC6`` → 6). None when the name has no digits."""
    name = _VM_PREFIX.sub("", vm_size.strip())
    m = re.match(r"^[A-Za-z]*\d+-(\d+)", name)
    if m:
        return int(m.group(1))
    m = re.search(r"\d+", name)
    return int(m.group(0)) if m else None


_POOL_IGNORED = _READ_ONLY_COMMON + (
    "allocationState", "allocationStateTransitionTime", "resizeErrors", "currentDedicatedNodes",
    "currentLowPriorityNodes", "autoScaleRun", "cloudServiceConfiguration",
    "virtualMachineConfiguration", "networkConfiguration",
    "applicationPackageReferences", "applicationLicenses", "userAccounts", "mountConfiguration",
    "identity", "targetNodeCommunicationMode", "currentNodeCommunicationMode", "upgradePolicy",
    "resourceTags", "maxTasksPerNode", "MaxTasksPerVM", "maxTasksPerVM",
)


class CertificateReference(_Rest):
    """A certificate of the account a pool's nodes get (the 2024-02-01.19.0 API): installed on
    every node of a live pool (docs/serve.md#certificates), no effect on a modelled run.
    ``storeLocation``, ``storeName`` (Windows stores) and ``visibility`` are kept as given."""

    thumbprint: Annotated[str, Field(min_length=1, max_length=64)]
    thumbprint_algorithm: Annotated[str, Field(min_length=1, max_length=16)]
    store_location: Annotated[Literal["currentuser", "localmachine"], BeforeValidator(_lower)] | None = None
    store_name: str | None = None
    visibility: list[Annotated[Literal["starttask", "task", "remoteuser"],
                               BeforeValidator(_lower)]] | None = None


class PoolSpec(_Rest):
    """A pool (docs/simulation-model.md#the-pool-file) plus its ``simulation`` section.

    Read-only REST properties are ignored: a simulated pool starts with no nodes.
    ``maxTasksPerNode`` / ``MaxTasksPerVM`` are taken as ``taskSlotsPerNode`` when that is absent.
    """

    IGNORED = frozenset(_POOL_IGNORED)

    id: str
    vm_size: str
    task_slots_per_node: Annotated[int, Field(ge=1, le=256)] = 1
    task_scheduling_policy: TaskSchedulingPolicy = Field(default_factory=TaskSchedulingPolicy)
    enable_auto_scale: bool = False
    auto_scale_formula: str | None = None
    auto_scale_evaluation_interval: Seconds = 300.0
    target_dedicated_nodes: Annotated[int, Field(ge=0)] | None = None
    target_low_priority_nodes: Annotated[int, Field(ge=0)] | None = None
    resize_timeout: Seconds = 900.0
    start_task: StartTask | None = None
    enable_inter_node_communication: bool = False
    certificate_references: list[CertificateReference] = []
    simulation: SimulationSettings = Field(default_factory=SimulationSettings)

    @model_validator(mode="before")
    @classmethod
    def _package_references(cls, data: Any) -> Any:
        refs = data.get("applicationPackageReferences") if isinstance(data, dict) else None
        if isinstance(refs, list) and len(refs) > 10:
            raise FieldError("applicationPackageReferences", f"at most 10, got {len(refs)}")
        return data

    @model_validator(mode="before")
    @classmethod
    def _old_slot_names(cls, data: Any) -> Any:
        data = _without_nulls(data)
        if (isinstance(data, dict) and "taskSlotsPerNode" not in data
                and "task_slots_per_node" not in data):
            for old in ("maxTasksPerNode", "MaxTasksPerVM", "maxTasksPerVM"):
                if data.get(old) is not None:
                    data = {**data, "taskSlotsPerNode": data[old]}
                    break
        return data

    @model_validator(mode="after")
    def _check(self) -> "PoolSpec":
        cores = self.cores_per_node
        if cores is None:
            raise FieldError("vmSize", f"{self.vm_size!r} has no core count; set "
                                       "simulation.coresPerNode")
        limit = min(4 * cores, 256)
        if self.task_slots_per_node > limit:
            raise FieldError("taskSlotsPerNode", f"{self.task_slots_per_node} exceeds "
                                                 f"min(4 x {cores} cores, 256) = {limit}")
        if self.enable_auto_scale:
            if not self.auto_scale_formula:
                raise FieldError("enableAutoScale", "true, but autoScaleFormula is missing")
        iv = self.auto_scale_evaluation_interval
        if not 300.0 <= iv <= 168 * 3600.0:
            raise FieldError("autoScaleEvaluationInterval",
                             f"InvalidAutoScaleEvaluationInterval: must lie in [PT5M, PT168H], "
                             f"got {_figure(iv)} s")
        if self.resize_timeout < 300.0:
            raise FieldError("resizeTimeout",
                             f"must be at least PT5M, got {_figure(self.resize_timeout)} s")
        most = self.simulation.max_nodes_per_kind
        for field, value in (("targetDedicatedNodes", self.target_dedicated_nodes),
                             ("targetLowPriorityNodes", self.target_low_priority_nodes)):
            if value is not None and value > most:
                raise FieldError(field, f"{shown(value)} exceeds simulation.maxNodesPerKind "
                                        f"({most}), the most nodes of one kind a simulated pool "
                                        "may hold")
        return self

    @property
    def cores_per_node(self) -> int | None:
        if self.simulation.cores_per_node is not None:
            return self.simulation.cores_per_node
        return cores_from_vm_size(self.vm_size)

    @property
    def node_fill_type(self) -> str:
        return self.task_scheduling_policy.node_fill_type


# --------------------------------------------------------------------------------------------
# jobs and tasks
# --------------------------------------------------------------------------------------------

_TASK_IGNORED = _READ_ONLY_COMMON + _NOT_SIMULATED_TASK


class TaskSpec(_Rest):
    """A task (docs/simulation-model.md#task-fields) with its simulation fields."""

    IGNORED = frozenset(_TASK_IGNORED)

    id: str
    #: required by the live engine; the simulator does not run it (empty allowed)
    command_line: str = ""
    required_slots: Annotated[int, Field(ge=1)] = 1
    constraints: TaskConstraints = Field(default_factory=TaskConstraints)
    exit_conditions: ExitConditions | None = None
    depends_on: DependsOn | None = None
    environment_settings: list[EnvironmentSetting] = []
    multi_instance_settings: MultiInstanceSettings | None = None
    affinity_info: AffinityInfo | None = None
    resource_files: list[ResourceFile] = []
    output_files: list[OutputFile] = []
    # -- simulation fields --
    submit_time: SimTime = 0.0
    duration: Seconds = 0.0
    exit_codes: ExitCodes = Field(default_factory=lambda: [0])
    profile: Profile | None = None

    @model_validator(mode="before")
    @classmethod
    def _single_exit_code(cls, data: Any) -> Any:
        return _fold_exit_code(data)

    @model_validator(mode="after")
    def _check(self) -> "TaskSpec":
        if self.multi_instance_settings is not None and self.required_slots != 1:
            raise ValueError("requiredSlots must be 1 on a multi-instance task")
        return self

    @property
    def instances(self) -> int:
        m = self.multi_instance_settings
        return 1 if m is None else m.number_of_instances


def _fold_exit_code(data: Any) -> Any:
    """``exitCode: c`` is shorthand for ``exitCodes: [c]`` (handy for CSV-derived workloads)."""
    data = _without_nulls(data)
    if (isinstance(data, dict) and "exitCode" in data and "exitCodes" not in data
            and "exit_codes" not in data):
        data = dict(data)
        data["exitCodes"] = [data.pop("exitCode")]
    return data


class JobManagerTask(_Rest):
    """docs/simulation-model.md#job-manager-task; ``killJobOnCompletion`` and ``runExclusive``
    default to true."""

    IGNORED = frozenset(_TASK_IGNORED)

    id: str
    command_line: str = ""
    kill_job_on_completion: bool = True
    run_exclusive: bool = True
    required_slots: Annotated[int, Field(ge=1)] = 1
    allow_low_priority_node: bool = True
    constraints: TaskConstraints = Field(default_factory=TaskConstraints)
    environment_settings: list[EnvironmentSetting] = []
    resource_files: list[ResourceFile] = []
    output_files: list[OutputFile] = []
    # -- simulation fields --
    duration: Seconds = 0.0
    exit_codes: ExitCodes = Field(default_factory=lambda: [0])
    profile: Profile | None = None

    @model_validator(mode="before")
    @classmethod
    def _single_exit_code(cls, data: Any) -> Any:
        return _fold_exit_code(data)


class JobPreparationTask(_Rest):
    IGNORED = frozenset(_TASK_IGNORED)

    id: str = "jobpreparation"
    command_line: str = ""
    constraints: TaskConstraints = Field(
        default_factory=lambda: TaskConstraints(max_task_retry_count=0)
    )
    wait_for_success: bool = True
    rerun_on_node_reboot_after_success: bool = True
    environment_settings: list[EnvironmentSetting] = []
    resource_files: list[ResourceFile] = []
    # -- simulation fields (docs/simulation-model.md#job-preparation-and-release-tasks: both 0) --
    duration: Seconds = 0.0
    failure_probability: Annotated[float, Field(ge=0, le=1)] = 0.0


class JobReleaseTask(_Rest):
    IGNORED = frozenset(_TASK_IGNORED)

    id: str = "jobrelease"
    command_line: str = ""
    #: PT15M, and never more (docs/simulation-model.md#job-preparation-and-release-tasks)
    max_wall_clock_time: OptionalSeconds = 900.0
    retention_time: Seconds = 7 * 86_400.0
    environment_settings: list[EnvironmentSetting] = []
    resource_files: list[ResourceFile] = []
    duration: Seconds = 0.0
    failure_probability: Annotated[float, Field(ge=0, le=1)] = 0.0

    @property
    def wall_clock_limit(self) -> float:
        w = self.max_wall_clock_time
        return 900.0 if w is None else min(900.0, w)


#: Letters, digits, hyphens and underscores: the Batch id alphabet (an auto pool's prefix too).
_ID_CHARS = re.compile(r"[A-Za-z0-9_-]+")


def _positive_seconds_or_none(value: Any) -> float | None:
    """A duration that must be more than zero when given (a schedule's window and interval)."""
    return None if value is None else positive_seconds(value)


class AutoPoolBody(PoolSpec):
    """The pool an auto pool specification describes: a pool without an id (the service makes
    the id when it creates the pool, autopools.auto_pool_id). The placeholder lets the whole
    body be checked when it is read, so a bad pool surfaces then, not when the pool is due."""

    id: str = "autopool"


class AutoPoolSpecification(_Rest):
    """``poolInfo.autoPoolSpecification``: a pool made for a job or a schedule and (unless
    ``keepAlive``) deleted when its owner ends; autopools.py holds the lifetime rules."""

    auto_pool_id_prefix: Annotated[str, Field(min_length=1, max_length=20)] | None = None
    pool_lifetime_option: Annotated[Literal["job", "jobschedule"], BeforeValidator(_lower)]
    keep_alive: bool = False
    pool: AutoPoolBody

    @model_validator(mode="after")
    def _check_prefix(self) -> "AutoPoolSpecification":
        prefix = self.auto_pool_id_prefix
        if prefix is not None and not _ID_CHARS.fullmatch(prefix):
            raise FieldError("autoPoolIdPrefix", f"{shown(prefix)} may hold only letters, digits, "
                                                 "hyphens and underscores")
        return self


class PoolInfo(_Rest):
    """Which pool a job runs on: a named pool, or an auto pool made for it. Naming neither is
    legal here (a workload's jobs run on the simulated pool); Account.add_job refuses it."""

    pool_id: str | None = None
    auto_pool_specification: AutoPoolSpecification | None = None

    @model_validator(mode="after")
    def _one_pool(self) -> "PoolInfo":
        if self.pool_id is not None and self.auto_pool_specification is not None:
            raise FieldError("poolInfo", "give either poolId or autoPoolSpecification, not both")
        return self


_JOB_IGNORED = _READ_ONLY_COMMON + (
    "executionInfo", "networkConfiguration", "jobSchedule",
)


class JobSpec(_Rest):
    """A job (docs/simulation-model.md#job-fields) and, in a workload, its tasks.

    ``creationTime`` is when the simulated job is created (seconds after the start, or an ISO
    instant; one before the start means "at the start"). Without it, the job is created when its
    first task is submitted (docs/simulation-model.md#job-fields). ISO instants replay at their
    offsets from the start;
    without a start of its own a run begins at the workload's earliest one (so jobs taken from
    ``az batch job show`` are created in the order and at the gaps they were), and with an
    earlier-than-all start they come later.
    """

    IGNORED = frozenset(tuple(n for n in _JOB_IGNORED if n != "creationTime"))
    #: A job added by itself (not made by a schedule): its auto pool cannot outlive it.
    _PLAIN: ClassVar[bool] = True

    id: str
    priority: Annotated[int, Field(ge=-1000, le=1000)] = 0
    constraints: JobConstraints = Field(default_factory=JobConstraints)
    on_all_tasks_complete: Annotated[
        Literal["noaction", "terminatejob"], BeforeValidator(_lower)
    ] = "noaction"
    on_task_failure: Annotated[
        Literal["noaction", "performexitoptionsjobaction"], BeforeValidator(_lower)
    ] = "noaction"
    uses_task_dependencies: bool = False
    max_parallel_tasks: Annotated[int, Field(ge=-1)] = -1
    allow_task_preemption: bool = False
    common_environment_settings: list[EnvironmentSetting] = []
    pool_info: PoolInfo = Field(default_factory=PoolInfo)
    job_manager_task: JobManagerTask | None = None
    job_preparation_task: JobPreparationTask | None = None
    job_release_task: JobReleaseTask | None = None
    creation_time: SimTime | None = None
    tasks: list[TaskSpec] = []

    @model_validator(mode="after")
    def _check(self) -> "JobSpec":
        if self.max_parallel_tasks == 0:
            raise ValueError("maxParallelTasks must be -1 or at least 1")
        if self.job_release_task is not None and self.job_preparation_task is None:
            raise ValueError("jobReleaseTask needs a jobPreparationTask")
        auto = self.pool_info.auto_pool_specification
        if self._PLAIN and auto is not None and auto.pool_lifetime_option == "jobschedule":
            raise FieldError("poolInfo.autoPoolSpecification.poolLifetimeOption",
                             "jobschedule applies only to job schedules; a job's auto pool has "
                             "the lifetime job")
        seen: set[str] = set()
        if self.job_manager_task is not None:
            seen.add(self.job_manager_task.id)
        for i, t in enumerate(self.tasks):
            if t.id in seen:
                raise ValueError(f"tasks[{i}]: task id {t.id!r} is not unique in job {self.id!r}")
            seen.add(t.id)
            if t.depends_on is not None and not self.uses_task_dependencies:
                raise ValueError(
                    f"tasks[{i}] ({t.id}): dependsOn needs usesTaskDependencies true on the job"
                )
            if (
                t.exit_conditions is not None
                and self.on_task_failure == "noaction"
                and t.exit_conditions.sets_job_action()
            ):
                raise ValueError(
                    f"tasks[{i}] ({t.id}): exit options set jobAction but the job's onTaskFailure "
                    "is noaction"
                )
        return self


class JobSpecification(JobSpec):
    """A schedule's ``jobSpecification``: a job without an id or a creation time (each job the
    schedule makes takes its id and creation instant from the schedule, JobScheduleSpec.job).
    ``tasks`` is workload-only: what the job manager would add, submitTime counted from the
    job's creation."""

    IGNORED = frozenset(_JOB_IGNORED)
    _PLAIN: ClassVar[bool] = False

    id: str = ""

    @model_validator(mode="before")
    @classmethod
    def _no_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and "id" in data:
            raise ValueError("a jobSpecification has no id: each job of the schedule is named "
                             "<scheduleId>:job-<n>")
        return data


class ScheduleConfiguration(_Rest):
    """``schedule`` of a job schedule: when it makes jobs (rules in schedules.py). Times are
    seconds after the start or ISO instants; durations ISO 8601 or seconds. The one-minute
    floor is not here but in schedules.check_floor, so a development account can lower it."""

    do_not_run_until: SimTime | None = None
    do_not_run_after: SimTime | None = None
    start_window: Annotated[float | None, BeforeValidator(_positive_seconds_or_none)] = None
    recurrence_interval: Annotated[float | None, BeforeValidator(_positive_seconds_or_none)] = None

    @model_validator(mode="after")
    def _after_until(self) -> "ScheduleConfiguration":
        until, after = self.do_not_run_until, self.do_not_run_after
        if isinstance(until, AbsoluteTime) and isinstance(after, AbsoluteTime):
            not_later = after.ticks <= until.ticks
        elif isinstance(until, float) and isinstance(after, float):
            not_later = after <= until
        else:                     # one relative, one absolute: only the run's start relates them
            not_later = False
        if not_later:
            raise FieldError("doNotRunAfter", "must be later than doNotRunUntil")
        return self


class JobScheduleSpec(_Rest):
    """A job schedule (REST ``BatchJobSchedule`` writable fields): it makes the jobs of
    ``jobSpecification`` as ``schedule`` says, one active at a time."""

    IGNORED = frozenset(_READ_ONLY_COMMON + ("executionInfo",))

    id: Annotated[str, Field(min_length=1, max_length=64)]
    schedule: ScheduleConfiguration
    job_specification: JobSpecification

    def job(self, n: int) -> JobSpec:
        """The schedule's n-th job (n from 1): its specification under the id
        ``<scheduleId>:job-<n>``."""
        return self.job_specification.model_copy(update={"id": f"{self.id}:job-{n}"})

    @model_validator(mode="after")
    def _check_id(self) -> "JobScheduleSpec":
        if not _ID_CHARS.fullmatch(self.id):     # a ":" would blur where the job number starts
            raise FieldError("id", f"{shown(self.id)} may hold only letters, digits, hyphens "
                                   "and underscores")
        return self


class Workload(_Sim):
    """Jobs, each with its tasks and their submit times (seconds after the simulation start),
    and job schedules that make jobs as time goes on."""

    jobs: list[JobSpec] = []
    job_schedules: list[JobScheduleSpec] = []

    @model_validator(mode="after")
    def _unique(self) -> "Workload":
        seen: set[str] = set()
        for i, j in enumerate(self.jobs):
            if j.id in seen:
                raise ValueError(f"jobs[{i}]: job id {j.id!r} is not unique")
            seen.add(j.id)
        # Jobs and schedules share one id space, compared without regard to case as the
        # service does (JobWithSameIdExists / JobScheduleWithSameIdExists).
        taken = {j.lower() for j in seen}
        for i, sch in enumerate(self.job_schedules):
            if sch.id.lower() in taken:
                raise ValueError(f"jobSchedules[{i}]: id {sch.id!r} is already a job's or a "
                                 "schedule's id")
            taken.add(sch.id.lower())
        return self

    @model_validator(mode="after")
    def _dependencies(self) -> "Workload":
        """At most MAX_DEPENDENCIES parents named in all, counted before any is spelt out: a
        range of 10^5 ids on each of 300 tasks (27 KB) took 2.4 GB."""
        from .tasks import int_ids, parents_named     # tasks.py builds on these models

        total = 0
        for i, job in enumerate(self.jobs):
            if not job.uses_task_dependencies:
                continue                  # dependsOn needs it (JobSpec._check)
            ids: list[list[int]] = []

            def job_ids(job=job, ids=ids) -> list[int]:
                if not ids:
                    names = [t.id for t in job.tasks]
                    if job.job_manager_task is not None:
                        names.append(job.job_manager_task.id)
                    ids.append(int_ids(names))
                return ids[0]

            for k, task in enumerate(job.tasks):
                total += parents_named(task, job_ids)
                if total > MAX_DEPENDENCIES:
                    raise FieldError("jobs", f"jobs[{i}].tasks[{k}] ({task.id}): dependsOn names "
                                             f"more than {MAX_DEPENDENCIES:,} parents in all, the "
                                             "most a workload may")
        return self

    @property
    def task_count(self) -> int:
        return sum(len(j.tasks) + (j.job_manager_task is not None) for j in self.jobs)


# --------------------------------------------------------------------------------------------
# file envelopes
# --------------------------------------------------------------------------------------------


def load_pool(data: Any) -> PoolSpec:
    """A pool file: a REST pool (with an optional ``simulation`` key), or the envelope
    ``{"pool": {...}, "simulation": {...}}``. Raises pydantic.ValidationError."""
    if isinstance(data, dict) and isinstance(data.get("pool"), dict) and "id" not in data:
        extra = set(data) - {"pool", "simulation"}
        if extra:
            raise ValueError(f"unknown top-level key(s) in pool file: {', '.join(sorted(extra))}")
        merged = _without_nulls(dict(data["pool"]))
        if data.get("simulation") is not None:
            if "simulation" in merged:
                raise ValueError("simulation is given both inside and next to the pool")
            merged["simulation"] = data["simulation"]
        data = merged
    return PoolSpec.model_validate(data)


def absolute_instants(workload: Workload) -> list[int]:
    """The ISO instants (ticks) the workload names: job creation and task submit times.

    A run without a start of its own begins at the earliest of them (see Simulation), so a
    trace with absolute times replays from its first event, not from a fixed date."""
    out = []
    for job in workload.jobs:
        if isinstance(job.creation_time, AbsoluteTime):
            out.append(job.creation_time.ticks)
        out.extend(t.submit_time.ticks for t in job.tasks if isinstance(t.submit_time, AbsoluteTime))
    for sch in workload.job_schedules:
        if isinstance(sch.schedule.do_not_run_until, AbsoluteTime):
            out.append(sch.schedule.do_not_run_until.ticks)
    return out


def load_workload(data: Any, progress: Any = None) -> Workload:
    """A workload file: ``{"jobs": [...]}``, a bare list of jobs, or ``{"tasks": [...]}``
    (one job ``job-1``); ``jobSchedules`` beside or instead of ``jobs``. Raises
    pydantic.ValidationError.

    Plain tasks are built without pydantic's per-field work (plaintasks.py), the rest through
    the models; ``progress(done, total)`` hears of the tasks built as they are."""
    from .plaintasks import build_workload     # plaintasks builds on these models

    return build_workload(data, progress)


def one_job(data: Any) -> bool:
    """Whether a workload document is one job's mapping (``{"tasks": [...]}``, job ``job-1``):
    a document with ``jobs`` or ``jobSchedules`` is a workload's."""
    return isinstance(data, dict) and "tasks" in data and "jobs" not in data \
        and "jobSchedules" not in data


def validate_workload(data: Any) -> Workload:
    """:func:`load_workload` by the models alone: every task validated by pydantic. Its
    errors are the ones a file error reports."""
    if isinstance(data, list):
        data = {"jobs": data}
    elif one_job(data):
        job = {k: v for k, v in data.items()}
        job.setdefault("id", "job-1")
        data = {"jobs": [job]}
    return Workload.model_validate(data)
