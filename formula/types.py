"""Static types of the language (docs/language.md#types).

``NONE`` is the type of ``stop()``; ``SERIES`` is the type of a metric variable,
which is not a value and may only receive a method call. ``UNKNOWN`` exists only
when the evaluator is driven without the checker (a read of an unassigned user
variable, which fails when evaluated).
"""

from __future__ import annotations

import enum


class Type(enum.Enum):
    DOUBLE = "double"
    VEC = "doubleVec"
    STRING = "string"
    TIMESTAMP = "timestamp"
    INTERVAL = "timeinterval"
    OPTION = "option"
    NONE = "none"
    SERIES = "series"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


DOUBLE, VEC, STRING, TIMESTAMP, INTERVAL, OPTION, NONE, SERIES, UNKNOWN = Type
#: a doubleVecList parameter: zero or more arguments, each a double or a doubleVec
LIST = "list"
