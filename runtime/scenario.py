"""The scenario file of ``poolscale eval --scenario`` (docs/language.md#scenario-file).

A scenario pins everything outside the formula that a run depends on: the evaluation time, the
pool, the metric history, its period and delay, and the ``rand()`` seed. It is validated
strictly, and every problem is reported as one :class:`ScenarioError` naming the offending key,
because a silently ignored key (a misspelt series, a pool field in the wrong case) would make a
formula evaluate against defaults while looking as if it used the file.

YAML is supported through PyYAML, imported only when a YAML file is read. Its loader is
adjusted so that a YAML file means what the same JSON file means: an unquoted
``2026-03-02T10:00:00Z`` stays a string (PyYAML would make it a datetime), ``1e3`` is a number
(YAML 1.1 would make it a string), and a repeated key is an error instead of a silent overwrite.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from poolscale.formula.poolstate import PoolState
from poolscale.formula.suggest import suggestion_suffix
from poolscale.formula.timeparse import parse_duration, parse_iso_time
from poolscale.formula.values import TICKS_PER_SECOND, Timestamp, TimeInterval
from poolscale.metrics.jsonyaml import DuplicateKeyError, json_like_loader, load_json
from poolscale.metrics.inputfile import cannot_read, read_file
from poolscale.metrics.limits import DOCUMENT_BYTES, SCENARIO_SAMPLES, InputLimitError
from poolscale.metrics.notation import NotationError, notation_length, parse_notation
from poolscale.metrics.store import SampleStore
from poolscale.metrics.variables import SERIES_VARIABLES, canonical_series_name

__all__ = ["Scenario", "ScenarioError", "load_scenario", "scenario_from_dict"]

DEFAULT_PERIOD = TimeInterval(30 * TICKS_PER_SECOND)
DEFAULT_DELAY = TimeInterval(0)

# Scenario key -> PoolState field. The keys are the Batch REST API's camelCase names.
_POOL_FIELDS = {
    "currentDedicatedNodes": "current_dedicated",
    "currentLowPriorityNodes": "current_low_priority",
    "targetDedicatedNodes": "target_dedicated",
    "targetLowPriorityNodes": "target_low_priority",
    "taskSlotsPerNode": "task_slots_per_node",
}
_TOP_LEVEL_KEYS = ("time", "pool", "samples", "period", "delay", "seed")


class ScenarioError(Exception):
    """An invalid or unreadable scenario: a usage error (exit status 2) for the CLI.

    ``key`` is the path of the offending key (``"samples"``, ``"pool.taskSlotsPerNode"``), or
    None when the problem is the file as a whole.
    """

    def __init__(self, message: str, *, key: str | None = None):
        super().__init__(message)
        self.key = key


def _fail(path: tuple[str, ...], text: str) -> ScenarioError:
    """``path`` holds the keys from the top; a series key is quoted, for it is user text."""
    where = ": ".join(path)
    message = f"scenario: {where}: {text}" if where else f"scenario: {text}"
    key = ".".join(p[1:-1] if p[:1] in ("'", '"') else p for p in path if not p.startswith("item "))
    return ScenarioError(message, key=key or None)


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


@dataclass(frozen=True, slots=True)
class Scenario:
    """A validated scenario; the defaults are those of running without one.

    ``samples`` maps canonical ``$Name`` to values oldest first, ``None`` marking a missing
    sample. The last value is stamped at the effective time, which is not ``time`` when
    ``--time`` overrides it; that is why the store is built by :meth:`store` and not here.
    """

    time: Timestamp | None = None
    pool: PoolState = field(default_factory=PoolState)
    samples: dict[str, list[float | None]] = field(default_factory=dict)
    period: TimeInterval = DEFAULT_PERIOD
    delay: TimeInterval = DEFAULT_DELAY
    seed: int | None = None

    def store(self, now: Timestamp) -> SampleStore:
        """The sample store of a run at ``now``, the last sample of each series stamped there."""
        return SampleStore.from_mapping(
            self.samples, end=now.ticks, period=self.period.ticks, delay=self.delay.ticks
        )


# --------------------------------------------------------------------------------------------
# validation of the decoded document
# --------------------------------------------------------------------------------------------


def _is_number(value: object) -> bool:
    # bool is an int subclass, but `true` is not a node count.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_float(value: object, path: tuple[str, ...], what: str) -> float:
    if not _is_number(value):
        raise _fail(path, f"expected {what}, got {_type_name(value)} {value!r}")
    try:
        return float(value)
    except OverflowError:
        raise _fail(path, f"{value!r} is too large for a double") from None


def _check_keys(d: Mapping, allowed, path: tuple[str, ...]) -> None:
    for key in d:
        if key not in allowed:
            raise _fail(path, f"unknown key {key!r}{suggestion_suffix(key, allowed)}")


def _parse_pool(raw: object) -> PoolState:
    path = ("pool",)
    if raw is None:
        return PoolState()
    if not isinstance(raw, Mapping):
        raise _fail(path, f"expected a mapping, got {_type_name(raw)}")
    _check_keys(raw, _POOL_FIELDS, path)
    kwargs = {}
    for key, attr in _POOL_FIELDS.items():
        value = raw.get(key)
        if value is None:
            continue  # absent or null: PoolState's default (targets follow the counts)
        number = _as_float(value, (*path, key), "a number")
        if not math.isfinite(number) or number < 0:
            raise _fail((*path, key), f"must be a finite number >= 0, got {value!r}")
        kwargs[attr] = number
    return PoolState(**kwargs)


def _sample_values(key: str, raw: object, budget: int) -> list[float | None]:
    """The series' values; ``budget`` is how many samples the scenario may still hold."""
    path = ("samples", repr(key))
    if isinstance(raw, str):
        try:
            _within_budget(path, notation_length(raw), budget)
            return parse_notation(raw)
        except NotationError as exc:
            raise _fail(path, str(exc)) from None
    if not isinstance(raw, (list, tuple)):
        raise _fail(path, "expected a list of numbers and nulls or a series-notation "
                          f"string, got {_type_name(raw)}")
    _within_budget(path, len(raw), budget)
    values: list[float | None] = []
    for index, item in enumerate(raw, start=1):
        if item is None:
            values.append(None)
        else:
            values.append(_as_float(item, (*path, f"item {index}"), "a number or null"))
    return values


def _parse_samples(raw: object, budget: int) -> dict[str, list[float | None]]:
    path = ("samples",)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _fail(path, f"expected a mapping of series to values, got {_type_name(raw)}")
    written: dict[str, str] = {}  # canonical name -> key as written
    samples: dict[str, list[float | None]] = {}
    total = 0
    for key, value in raw.items():
        canon = canonical_series_name(key) if isinstance(key, str) else None
        if canon is None:
            raise _fail(path, f"unknown series variable {key!r}"
                              f"{suggestion_suffix(key, SERIES_VARIABLES)}")
        if canon in written:
            raise _fail(path, f"{written[canon]!r} and {key!r} name the same series {canon}")
        written[canon] = key
        samples[canon] = _sample_values(key, value, budget - total)
        total += len(samples[canon])
    return samples


def _within_budget(path: tuple[str, ...], count: int, budget: int) -> None:
    if count > budget:
        raise _fail(path, f"{count:,} samples would make {SCENARIO_SAMPLES - budget + count:,} "
                          f"in all; a scenario or a test file may hold at most "
                          f"{SCENARIO_SAMPLES:,} (docs/limits.md)")


def interval_problem(raw: object, *, positive: bool) -> str | None:
    """What is wrong with ``raw`` as a scenario's ``period`` (``positive``) or ``delay``, or None.
    Shared by scenario files and the REPL's ``:period`` / ``:delay`` so that both say it alike;
    a negative duration (``-PT1M``) is named as one, not as something unreadable."""
    parsed = parse_duration(raw) if isinstance(raw, str) else None
    if parsed is None:
        if isinstance(raw, str) and raw.startswith("-") and parse_duration(raw[1:]) is not None:
            return f"must not be negative, got {raw!r}"
        return f"expected an ISO-8601 duration such as 'PT30S', got {raw!r}"
    if positive and parsed.ticks <= 0:
        return f"must be greater than 0, got {raw!r}"
    return None


def _parse_interval(raw: object, key: str, default: TimeInterval, *, positive: bool) -> TimeInterval:
    if raw is None:
        return default
    problem = interval_problem(raw, positive=positive)
    if problem is not None:
        raise _fail((key,), problem)
    return parse_duration(raw)


def _parse_time(raw: object) -> Timestamp | None:
    if raw is None:
        return None
    parsed = parse_iso_time(raw) if isinstance(raw, str) else None
    if parsed is None:
        raise _fail(("time",), "expected an ISO-8601 time such as '2026-03-02T10:00:00Z', "
                               f"got {raw!r}")
    return parsed


def _parse_seed(raw: object) -> int | None:
    if raw is None:
        return None
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise _fail(("seed",), f"expected an integer, got {_type_name(raw)} {raw!r}")
    return raw


def scenario_from_dict(d: Mapping, *, sample_budget: int | None = None) -> Scenario:
    """Validate a decoded scenario document; a key given as null counts as absent.

    ``sample_budget`` is how many samples its series may hold together (a test file passes
    what its earlier tests left of the limit; default: the whole limit)."""
    if not isinstance(d, Mapping):
        raise _fail((), f"expected a mapping at the top level, got {_type_name(d)}")
    _check_keys(d, _TOP_LEVEL_KEYS, ())
    period = _parse_interval(d.get("period"), "period", DEFAULT_PERIOD, positive=True)
    # parse_duration has no sign, so a delay is never negative.
    delay = _parse_interval(d.get("delay"), "delay", DEFAULT_DELAY, positive=False)
    return Scenario(
        time=_parse_time(d.get("time")),
        pool=_parse_pool(d.get("pool")),
        samples=_parse_samples(d.get("samples"),
                               SCENARIO_SAMPLES if sample_budget is None else sample_budget),
        period=period,
        delay=delay,
        seed=_parse_seed(d.get("seed")),
    )


# --------------------------------------------------------------------------------------------
# reading files
# --------------------------------------------------------------------------------------------


def _json_pairs(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _fail((), f"key {key!r} appears twice in one object")
        out[key] = value
    return out


def _load_json(text: str, name: str):
    try:
        return load_json(text, object_pairs_hook=_json_pairs)
    except json.JSONDecodeError as exc:
        raise _fail((), f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                        f"{exc.msg}") from None
    except InputLimitError as exc:
        raise _limit(name, exc) from None


def _load_yaml(text: str, name: str):
    import yaml

    try:
        return yaml.load(text, Loader=json_like_loader())  # noqa: S506 - a SafeLoader subclass
    except DuplicateKeyError as exc:
        raise _fail((), str(exc)) from None
    except InputLimitError as exc:
        raise _limit(name, exc) from None
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise _fail((), f"{name}: invalid YAML: {detail}") from None


def _limit(name: str, exc: InputLimitError) -> ScenarioError:
    where = name if exc.line is None else f"{name}:{exc.line}"
    return _fail((), f"{where}: {exc.detail}")


def load_scenario(path: str | os.PathLike) -> Scenario:
    """Read and validate a scenario file.

    ``.json`` is JSON and ``.yaml``/``.yml`` is YAML. Any other name is tried as JSON and then
    as YAML, and a file that is neither reports the YAML error. An empty YAML document is an
    empty scenario.
    """
    name = os.fspath(path)
    try:
        text = read_file(name, limit=DOCUMENT_BYTES, kind="a scenario file").decode("utf-8-sig")
    except InputLimitError as exc:
        raise _limit(name, exc) from None
    except OSError as exc:
        raise _fail((), cannot_read(name, exc)) from None
    except UnicodeDecodeError as exc:
        raise _fail((), f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    suffix = os.path.splitext(name)[1].lower()
    if suffix == ".json":
        doc = _load_json(text, name)
    elif suffix in (".yaml", ".yml"):
        doc = _load_yaml(text, name)
        doc = {} if doc is None else doc
    else:
        try:
            doc = _load_json(text, name)
        except ScenarioError:
            doc = _load_yaml(text, name)
            doc = {} if doc is None else doc
    return scenario_from_dict(doc)
