"""poolscale.formula: parse, check and evaluate Azure Batch autoscale formulas.

    from poolscale.formula import compile_formula
    f = compile_formula(text)                  # raises FormulaError
    run = f.evaluate(store, now=t, pool=pool)  # AutoScaleRun
"""

from .diagnostics import Diagnostic
from .errors import (
    ERROR_MESSAGES, FormulaError, FormulaLimitError, FormulaSyntaxError, FormulaValidationError,
)
from .formula import Formula, compile_formula, lint
from .outcome import AutoScaleRun, AutoScaleRunError
from .poolstate import PoolState
from .values import Option, TimeInterval, Timestamp

__all__ = [
    "compile_formula", "lint", "Formula", "AutoScaleRun", "AutoScaleRunError", "PoolState",
    "Diagnostic", "FormulaError", "FormulaLimitError", "FormulaSyntaxError",
    "FormulaValidationError", "ERROR_MESSAGES", "Option", "TimeInterval", "Timestamp",
]
