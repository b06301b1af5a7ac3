"""Series notation (docs/language.md#scenario-file): ``1+2x3 _x2 9`` is ``1 3 5 7 _ _ 9``.

The notation is borrowed from promtool's test files because it keeps a
scenario readable: a ramp of 2,880 samples is one item, not a 2,880-number
list. Two details are pinned here because the results must be byte-exact:

* the k-th value of ``a+bxn`` is computed as ``a + k*b`` (one rounding for the
  product, one for the sum), never by repeated addition, whose error would
  accumulate along the ramp; ``a-bxn`` is ``a + k*(-b)``, which is the same
  double as ``a - k*b`` because negation is exact;
* numbers are parsed with ``float()``, which rounds correctly, as .NET's
  ``double.Parse`` does.

Expansion is capped (:data:`MAX_SAMPLES`) so a typo such as ``0x1000000000``
is reported instead of exhausting memory.
"""

from __future__ import annotations

import math
import re
from typing import Iterable, Sequence

import numpy as np

__all__ = [
    "MAX_SAMPLES",
    "NotationError",
    "format_notation",
    "notation_length",
    "parse_notation",
    "parse_notation_array",
]

#: Upper bound on the number of samples one notation string may expand to.
MAX_SAMPLES = 10_000_000

_DEC = r"(?:\d+(?:\.\d*)?|\.\d+)"
_ITEM = re.compile(
    rf"""
    (?:
        (?P<missing>_)(?:x(?P<mcount>\d+))?                # _  or  _xn
      | (?P<a>-?{_DEC})                                   # a
        (?: (?P<sign>[+-])(?P<b>{_DEC}) )?                # optional +b / -b
        (?: x(?P<n>\d+) )?                                # optional xn
    )
    """,
    re.VERBOSE | re.ASCII,  # \d must not accept other scripts' digits
)

_FORMS = "expected a number, '_', 'a+bxn', 'a-bxn', 'axn' or '_xn'"


class NotationError(ValueError):
    """A series-notation string that does not parse.

    ``item`` is the offending item's text and ``index`` its 1-based position
    among the whitespace-separated items, so a scenario loader can point at it.
    """

    def __init__(self, message: str, *, item: str | None = None, index: int | None = None):
        super().__init__(message)
        self.item = item
        self.index = index


def _error(item: str, index: int, reason: str) -> NotationError:
    return NotationError(
        f"series notation item {index} {item!r}: {reason}", item=item, index=index
    )


def _count(digits: str, item: str, index: int, total: int) -> int:
    # Checking the digit count first keeps int() away from absurdly long
    # strings (and from Python's int-string conversion limit).
    if len(digits.lstrip("0")) > 9 or total + int(digits) > MAX_SAMPLES:
        raise _error(item, index, f"expands past the limit of {MAX_SAMPLES:,} samples")
    return int(digits)


def _items(text: str) -> Iterable[tuple[re.Match, int]]:
    """Each item's match and how many samples it stands for, checked against MAX_SAMPLES
    as the items add up; nothing is expanded."""
    total = 0
    for index, item in enumerate(text.split(), start=1):
        m = _ITEM.fullmatch(item)
        if m is None:
            raise _error(item, index, _FORMS)
        if m["missing"]:
            n = 1 if m["mcount"] is None else _count(m["mcount"], item, index, total)
        elif m["n"] is None:
            if m["sign"] is not None:
                raise _error(item, index, "a step 'a+b' needs a count: write 'a+bxn'")
            n = _count("1", item, index, total)
        else:
            n = _count(m["n"], item, index, total + 1) + 1
        total += n
        yield m, n


def notation_length(text: str) -> int:
    """How many samples ``text`` expands to, without expanding it (so that a reader can hold
    several series to one budget before allocating any); NotationError as parsing raises."""
    return sum(n for _, n in _items(text))


def _chunks(text: str) -> Iterable[np.ndarray]:
    """Yield one float64 array per item, NaN for missing samples."""
    for m, n in _items(text):
        if m["missing"]:
            yield np.full(n, np.nan)
        elif m["n"] is None:
            yield np.array([float(m["a"])])  # as written: -0 stays -0.0
        else:
            b = 0.0 if m["b"] is None else float(m["b"])
            yield float(m["a"]) + np.arange(n, dtype=np.float64) * (-b if m["sign"] == "-" else b)


def parse_notation_array(text: str) -> np.ndarray:
    """Expand *text* into a float64 array, NaN marking a missing sample.

    This is the form loaders want: it skips building millions of Python floats.
    """
    if not isinstance(text, str):
        raise TypeError(f"series notation must be a string, not {type(text).__name__}")
    chunks = list(_chunks(text))
    if not chunks:
        return np.empty(0, dtype=np.float64)
    return np.concatenate(chunks)


def parse_notation(text: str) -> list[float | None]:
    """Expand *text* per docs/language.md#scenario-file into values, with ``None`` for a missing
    sample."""
    arr = parse_notation_array(text)
    out: list[float | None] = arr.tolist()
    missing = np.flatnonzero(np.isnan(arr))
    for i in missing.tolist():
        out[i] = None
    return out


# -- formatting ---------------------------------------------------------------


def _same(x: float, y: float) -> bool:
    """Bitwise-equal doubles (so -0.0 and 0.0 stay distinct in a round trip)."""
    return x == y and math.copysign(1.0, x) == math.copysign(1.0, y)


def _number(v: float) -> str:
    if not math.isfinite(v):
        raise ValueError(f"{v!r} cannot be written in series notation")
    return np.format_float_positional(v, unique=True, trim="-")


def _ramp_length(vals: Sequence[float | None], i: int) -> tuple[int, float]:
    """Length of the longest run from *i* that ``a+bxn`` reproduces exactly."""
    a, nxt = vals[i], vals[i + 1] if i + 1 < len(vals) else None
    if nxt is None or not math.isfinite(nxt - a):
        return 1, 0.0
    # The step must survive being printed and parsed back.
    b = float(_number(abs(nxt - a)))
    b = -b if nxt < a else b
    if not _same(a + 0.0 * b, a):  # -0.0 + 0.0 is +0.0: such a run cannot start at a
        return 1, 0.0
    k = 1
    while i + k < len(vals):
        v = vals[i + k]
        if v is None or not _same(a + k * b, v):
            break
        k += 1
    return k, b


def format_notation(values: Iterable[float | None]) -> str:
    """The inverse of :func:`parse_notation`, compressing runs.

    ``parse_notation(format_notation(v))`` reproduces *v* bit for bit; a NaN
    is written as missing, infinities are refused.
    """
    vals = [None if v is None or v != v else float(v) for v in values]
    items: list[str] = []
    i = 0
    while i < len(vals):
        if vals[i] is None:
            j = i
            while j < len(vals) and vals[j] is None:
                j += 1
            items.append("_" if j - i == 1 else f"_x{j - i}")
            i = j
            continue
        a = vals[i]
        length, b = _ramp_length(vals, i)
        if length >= 3 or (length == 2 and b == 0.0):
            step = "" if b == 0.0 else ("+" if b > 0 else "-") + _number(abs(b))
            items.append(f"{_number(a)}{step}x{length - 1}")
            i += length
        else:
            items.append(_number(a))
            i += 1
    return " ".join(items)
