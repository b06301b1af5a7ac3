"""The AutoScaleRun: what one run of a formula produced (docs/language.md#the-results-string).

The results string and the JSON ``values`` are rendered on first access, not
during the run: an autoscale loop that only applies targets, or a benchmark,
never pays for formatting, and every reader sees the same text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import ERROR_MESSAGES
from .values import Option, Timestamp, format_timestamp, format_value, json_value


@dataclass(frozen=True, slots=True)
class AutoScaleRunError:
    code: str
    detail: str

    @property
    def message(self) -> str:
        return ERROR_MESSAGES[self.code]

    @property
    def values(self) -> list[dict[str, str]]:
        return [{"name": "Message", "value": self.detail}]

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "values": self.values}


class AutoScaleRun:
    """One run: its instant, its results (name, value) in results-string order, and its error.

    ``dedicated``, ``low_priority`` and ``option`` are the final targets as the pool manager applies
    them (unrounded; docs/language.md#from-value-to-target truncates and clamps).
    """

    __slots__ = ("time", "entries", "error", "dedicated", "low_priority", "option", "_results")

    def __init__(self, time: Timestamp, entries: tuple, error: AutoScaleRunError | None, *,
                 dedicated: float = math.nan, low_priority: float = math.nan,
                 option: Option = Option.REQUEUE) -> None:
        self.time = time
        self.entries = entries
        self.error = error
        self.dedicated = dedicated
        self.low_priority = low_priority
        self.option = option
        self._results: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def timestamp(self) -> str:
        return format_timestamp(self.time)

    @property
    def results(self) -> str:
        if self._results is None:
            self._results = ";".join(f"{name}={format_value(value)}" for name, value in self.entries)
        return self._results

    @property
    def values(self) -> dict[str, object]:
        """name -> runtime value (float, numpy array, str, Timestamp, TimeInterval, Option)."""
        return dict(self.entries)

    def to_dict(self) -> dict:
        """The JSON object of ``poolscale eval --json`` (docs/language.md#the-eval-command)."""
        return {
            "timestamp": self.timestamp,
            "results": self.results,
            "values": {name: json_value(value) for name, value in self.entries},
            "error": None if self.error is None else self.error.to_dict(),
        }

    def __repr__(self) -> str:
        err = f", error={self.error.code}" if self.error else ""
        return f"AutoScaleRun({self.timestamp}, {self.results!r}{err})"
