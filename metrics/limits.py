"""How much an input file may ask of poolscale: the bounds checked before the work.

poolscale reads text from people it does not know: formulas in CI and pre-commit hooks,
scenarios, test files, pool and workload files. Each reader checks these bounds before it
allocates, so that a hostile or mistaken file (``/dev/zero``, a gzip bomb, a billion-laughs
YAML, JSON nested 100,000 deep, a 10-million-sample series) costs a clear message instead of
minutes and gigabytes. The figures are documented in ``docs/limits.md``; the formula's own
limits (8,192 characters, 100 statements) are the service's and live in
``poolscale.formula.parser``, the simulator's in ``poolscale.scheduler.limits``.
"""

from __future__ import annotations

__all__ = [
    "FORMULA_FILE_BYTES", "DOCUMENT_BYTES", "WORKLOAD_BYTES", "NESTING_DEPTH",
    "YAML_ALIAS_NODES", "NUMBER_DIGITS", "SCENARIO_SAMPLES", "InputLimitError", "size_text",
]

#: A formula file (or standard input, or a formula a test file or template names). The service
#: refuses formulas over 8,192 characters, at most 32 KiB of UTF-8; beyond this size the file
#: is not a formula, and it is not read further.
FORMULA_FILE_BYTES = 1 << 20

#: A scenario, test file, pool file, or a JSON/YAML document ``check`` searches for formulas.
DOCUMENT_BYTES = 16 << 20

#: A workload file (CSV, SWF, JSON, YAML), counted after gzip decompression as well: about
#: two million CSV rows; a gzip bomb is refused after inflating this much (~0.4 s).
WORKLOAD_BYTES = 64 << 20

#: Arrays and objects (JSON) or sequences and mappings (YAML) inside one another. Real pool
#: files and ARM templates stay under 20; the bound keeps every recursive reader far from
#: Python's recursion limit.
NESTING_DEPTH = 64

#: Nodes a YAML document may gain by expanding its aliases (``*name``). An alias costs one
#: line, so nine lines of nine aliases each describe 387 million nodes ("billion laughs").
YAML_ALIAS_NODES = 1_000_000

#: Digits of an integer in JSON or YAML. Python refuses to convert longer ones; no field of
#: any poolscale input needs more than 20.
NUMBER_DIGITS = 4300

#: Samples in one scenario or one test case, over all its series together (a year of 30 s
#: samples is 1,051,200).
SCENARIO_SAMPLES = 2_000_000


class InputLimitError(ValueError):
    """An input past one of the bounds above. ``source`` names the file (or ``<stdin>``),
    ``detail`` says which bound and by how much; readers put both into their own error form,
    and ``str()`` is ``source: detail``."""

    def __init__(self, source: str, detail: str, *, line: int | None = None) -> None:
        self.source, self.detail, self.line = source, detail, line
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {detail}")


def size_text(n: int) -> str:
    """``16 MiB``, ``1 MiB``, ``512 KiB``: how the limits are written in messages and docs."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n:,} bytes"
