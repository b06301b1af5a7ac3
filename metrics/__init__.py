"""poolscale.metrics: the metric history a formula reads (docs/language.md#series-variables,
docs/language.md#sample-series-and-windows, docs/language.md#scenario-file).

Importing this package pulls in numpy only; pandas is imported by
``SampleStore.from_dataframe`` when it is called, so the CLI stays quick to start.
"""

from .notation import NotationError, format_notation, parse_notation
from .series import Series
from .store import SampleStore, Window
from .variables import SERIES_VARIABLES, canonical_series_name

__all__ = [
    "SERIES_VARIABLES",
    "NotationError",
    "SampleStore",
    "Series",
    "Window",
    "canonical_series_name",
    "format_notation",
    "parse_notation",
]
