"""``AccountSettings``: what one local account is allowed and how it behaves, checked once.

Every field is validated when the object is made, and a refusal names the field and quotes the
bad value (``SettingsError``), so a typo in a settings file or a flag is reported where it is
written, not as a failure minutes into a run. Durations take every form a pool file takes
(``5``, ``"5s"``, ``"PT5S"``, ``"0:00:05"``; ``scheduler/durations.py``) and are kept as
seconds.

Defaults, and why:

* ``dedicated_core_quota`` and ``low_priority_core_quota``: **4 x the machine's CPUs** each.
  Local nodes share this machine's CPUs, and a node holds the nominal cores of its VM size, so
  the quota is what stops a formula from asking a laptop for 1,000 nodes (the formula's target
  is clamped to it, as on the service). Four times the real CPUs lets a pool oversubscribe the
  machine a little, as tasks that wait on I/O or sleep do no harm, without letting it run away:
  on an 8-CPU laptop it is 32 cores, sixteen 2-core nodes of each kind.
* ``max_local_nodes`` (64): a hard cap on present nodes of the account, whatever the quotas
  say, because every node is a directory tree and a set of processes on one disk and one
  process table.
* ``min_evaluation_interval`` (PT5M): the service's floor for ``autoScaleEvaluationInterval``.
  It can only be lowered (to 1 second at least), and only explicitly: a lower floor is a
  development setting, so ``development_interval`` is true and ``interval_note`` gives the one
  sentence every place that uses it shows (start-up log, responses, ``run`` header, report).
* ``min_recurrence_interval`` (PT1M): the service's floor for a job schedule's
  ``recurrenceInterval`` and ``startWindow``; lowered (to 1 second at least) as a development
  setting so a test sees several recurrences in seconds.
* ``sample_period`` (PT30S): the service samples its series variables every 30 seconds.
* ``allocation_delay``, ``boot_delay`` (0): a local node is allocated and booted at once; a
  delay shows the ``creating`` and ``starting`` states in demos and tests.
* ``durability`` ("normal"): the store's ``PRAGMA synchronous`` choice
  (``runtime/service/store.py``): survives ``kill -9``; "full" also survives power loss;
  "off" keeps no store at all (the account lives in memory: benchmarks, throwaway runs).
* ``kill_grace``: seconds between SIGTERM and SIGKILL when a task is killed (the executor's
  default).
* ``auto_storage`` (none): the connection string of the account's auto-storage account, where
  ``autoStorageContainerName`` resource files come from (``serve --storage-connection-string``
  or ``POOLSCALE_AUTOSTORAGE``). It holds a key, so it is left out of the settings' repr.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field as _field, fields
from pathlib import Path
from typing import Any

from poolscale.runtime.service.local.executor import KILL_GRACE
from poolscale.runtime.service.store import DURABILITY

__all__ = ["AccountSettings", "SettingsError", "SERVICE_MIN_EVALUATION_INTERVAL",
           "default_core_quota", "iso_duration"]

#: The service's floor for ``autoScaleEvaluationInterval``, in seconds (PT5M).
SERVICE_MIN_EVALUATION_INTERVAL = 300.0

#: The service's floor for a job schedule's ``recurrenceInterval`` and ``startWindow``.
SERVICE_MIN_RECURRENCE_INTERVAL = 60.0

#: The lowest floor a development setting may choose: below a second the autoscale loop would
#: be most of what the engine does.
LOWEST_EVALUATION_INTERVAL = 1.0

#: The shortest sample period: each sample walks every node's processes and directory.
SHORTEST_SAMPLE_PERIOD = 0.1

#: Batch account names: 3 to 24 lowercase letters and digits (they become a URL host name).
_ACCOUNT_NAME = re.compile(r"[a-z0-9]{3,24}", re.ASCII)


class SettingsError(ValueError):
    """A setting with a bad value: ``field`` is its name, ``value`` the value as given."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"{field}: {reason}")


def default_core_quota() -> int:
    """Cores each kind of node may hold when no quota is set: 4 x this machine's CPUs."""
    return 4 * (os.cpu_count() or 1)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class AccountSettings:
    """The settings of one local account (see the module docstring for each default).

    ``None`` for a core quota means the default (:func:`default_core_quota`). A duration may be
    given as text (``"5s"``, ``"PT5M"``) and ``data_dir`` as a string; after construction every
    field holds its checked value (quotas ints, durations float seconds, ``data_dir`` an
    absolute path, made so against the current directory at construction).
    """

    name: str = "poolscale"
    data_dir: Path = Path(".poolscale")
    account_url: str | None = None
    dedicated_core_quota: int | None = None
    low_priority_core_quota: int | None = None
    max_local_nodes: int = 64
    allocation_delay: float = 0.0
    boot_delay: float = 0.0
    min_evaluation_interval: float = SERVICE_MIN_EVALUATION_INTERVAL
    min_recurrence_interval: float = SERVICE_MIN_RECURRENCE_INTERVAL
    sample_period: float = 30.0
    durability: str = "normal"
    kill_grace: float = KILL_GRACE
    auto_storage: str | None = _field(default=None, repr=False)

    def __post_init__(self) -> None:
        checked = {f.name: getattr(self, f.name) for f in fields(self)}
        name = checked["name"]
        if not isinstance(name, str) or not _ACCOUNT_NAME.fullmatch(name):
            raise SettingsError("name", name, "an account name has 3 to 24 characters, lowercase "
                                              f"letters and digits only, got {_shown(name)}")
        checked["data_dir"] = _directory("data_dir", checked["data_dir"])
        url = checked["account_url"]
        if url is not None and not (isinstance(url, str) and re.match(r"https?://\S+\Z", url)):
            raise SettingsError("account_url", url, f"must be an http:// or https:// URL, got {_shown(url)}")
        for field in ("dedicated_core_quota", "low_priority_core_quota"):
            value = checked[field]
            checked[field] = default_core_quota() if value is None else _count(field, value, 0)
        checked["max_local_nodes"] = _count("max_local_nodes", checked["max_local_nodes"], 1)
        for field in ("allocation_delay", "boot_delay", "kill_grace"):
            checked[field] = _seconds(field, checked[field])
        interval = _seconds("min_evaluation_interval", checked["min_evaluation_interval"])
        if not LOWEST_EVALUATION_INTERVAL <= interval <= SERVICE_MIN_EVALUATION_INTERVAL:
            raise SettingsError(
                "min_evaluation_interval", checked["min_evaluation_interval"],
                f"must lie in [PT1S, PT5M] (PT5M is the service's floor; a lower one is a "
                f"development setting), got {_shown(checked['min_evaluation_interval'])}")
        checked["min_evaluation_interval"] = interval
        recurrence = _seconds("min_recurrence_interval", checked["min_recurrence_interval"])
        if not LOWEST_EVALUATION_INTERVAL <= recurrence <= SERVICE_MIN_RECURRENCE_INTERVAL:
            raise SettingsError(
                "min_recurrence_interval", checked["min_recurrence_interval"],
                f"must lie in [PT1S, PT1M] (PT1M is the service's floor for a job schedule's "
                f"recurrenceInterval and startWindow; a lower one is a development setting), "
                f"got {_shown(checked['min_recurrence_interval'])}")
        checked["min_recurrence_interval"] = recurrence
        period = _seconds("sample_period", checked["sample_period"])
        if period < SHORTEST_SAMPLE_PERIOD:
            raise SettingsError("sample_period", checked["sample_period"],
                                f"must be at least 0.1 s, got {_shown(checked['sample_period'])}")
        checked["sample_period"] = period
        if checked["durability"] not in DURABILITY:
            raise SettingsError("durability", checked["durability"], f"must be one of "
                                f"{', '.join(DURABILITY)}, got {_shown(checked['durability'])}")
        storage = checked["auto_storage"]
        if storage is not None:
            from poolscale.runtime.service.local.storage import check_auto_storage

            if not isinstance(storage, str):
                raise SettingsError("auto_storage", None, "must be a storage connection string")
            try:
                check_auto_storage(storage)
            except ValueError as e:      # its message names no secret
                raise SettingsError("auto_storage", None, str(e)) from None
        for field, value in checked.items():
            object.__setattr__(self, field, value)

    @property
    def core_quotas(self) -> tuple[int, int]:
        """``(dedicated, low_priority)`` core quotas, indexed by node kind as the engine indexes
        them (``poolscale.scheduler.nodes.DEDICATED`` = 0, ``LOW_PRIORITY`` = 1)."""
        return (self.dedicated_core_quota, self.low_priority_core_quota)

    @property
    def work_root(self) -> Path:
        """Where the local nodes' directory trees live: ``<data_dir>/nodes``."""
        return self.data_dir / "nodes"

    @property
    def store_path(self) -> Path:
        """The SQLite file of the account's state: ``<data_dir>/poolscale.db``."""
        return self.data_dir / "poolscale.db"

    @property
    def development_interval(self) -> bool:
        """Whether the autoscale interval floor is below the service's PT5M."""
        return self.min_evaluation_interval < SERVICE_MIN_EVALUATION_INTERVAL

    @property
    def interval_note(self) -> str | None:
        """The sentence shown wherever a lowered floor is used; None at the service's floor."""
        if not self.development_interval:
            return None
        return (f"autoscale evaluation interval floor lowered to "
                f"{iso_duration(self.min_evaluation_interval)} (development setting)")


def iso_duration(seconds: float) -> str:
    """Seconds as an ISO 8601 duration the way the REST API writes one: ``PT5S``, ``PT1M30S``,
    ``PT2H``, ``PT0.5S`` (hours are not folded into days)."""
    hours, rest = divmod(seconds, 3600.0)
    minutes, secs = divmod(rest, 60.0)
    text = "PT"
    if hours:
        text += f"{int(hours)}H"
    if minutes:
        text += f"{int(minutes)}M"
    if secs or text == "PT":
        text += f"{secs:.7f}".rstrip("0").rstrip(".") + "S"
    return text


def _directory(field: str, value: Any) -> Path:
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise SettingsError(field, value, f"must be a directory path, got {_shown(value)}")
    return Path(os.path.abspath(value))


def _count(field: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(field, value, f"must be a whole number, got {_shown(value)}")
    if value < least:
        raise SettingsError(field, value, f"must be at least {least}, got {value}")
    return value


def _seconds(field: str, value: Any) -> float:
    # Imported here: the durations module loads the scheduler package (its models need
    # pydantic), which an importer of the settings alone should not pay for.
    from poolscale.scheduler.durations import bounded_seconds

    try:
        seconds = bounded_seconds(value)
    except ValueError as e:
        raise SettingsError(field, value, str(e)) from None
    assert not math.isnan(seconds)
    return seconds
