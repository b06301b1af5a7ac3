"""The error codes of the language (docs/language.md#error-codes) and one exception per phase.

Every failure of a formula, whatever the phase, ends in a ``FormulaError`` that
carries a stable code, the service's fixed message and a ``Line L, Col C: ...``
detail. Callers never see a Lark exception or a Python traceback.
"""

from __future__ import annotations

from .diagnostics import Diagnostic, LineIndex

#: code -> the fixed ``error.message`` of an AutoScaleRun (docs/language.md#error-codes).
ERROR_MESSAGES: dict[str, str] = {
    "AutoScaleFormulaTooLong": "The specified auto-scaling formula is too long.",
    "AutoScaleFormulaTooManyStatements": "The specified auto-scaling formula has too many statements.",
    "AutoScalingFormulaSyntaxError": "The specified auto-scaling formula has a syntax error.",
    "AutoScalingFormulaValidationError": "The specified auto-scaling formula is not valid.",
    "UndefinedVariable": "Autoscale evaluation failed due to an undefined variable",
    "InvalidVectorConversion": "Autoscale evaluation failed due to a vector used as a single value",
    "VectorLengthMismatch": "Autoscale evaluation failed due to vectors of different lengths",
    "EmptyVector": "Autoscale evaluation failed due to an empty vector",
    "InvalidArgument": "Autoscale evaluation failed due to an invalid argument",
    "IndexOutOfRange": "Autoscale evaluation failed due to an index out of range",
    "InvalidTimestamp": "Autoscale evaluation failed due to an invalid timestamp",
    "InsufficientSampleData": "Autoscale evaluation failed due to insufficient sample data",
    "EmptyHistory": "Autoscale evaluation failed due to an empty sample history",
    "InvalidTargetValue": "Autoscale evaluation produced an invalid target value",
    "InvalidAutoScaleEvaluationInterval":
        "The autoscale evaluation interval must be between 5 minutes and 168 hours.",
}


class FormulaError(Exception):
    """A formula failed in some phase. ``diagnostics`` holds every finding (the
    language reports exactly one per failed run; the tuple keeps the door open
    for tools that collect more)."""

    phase = "formula"

    def __init__(self, diagnostics: tuple[Diagnostic, ...] | list[Diagnostic], source: str = "") -> None:
        self.diagnostics = tuple(diagnostics)
        self.source = source
        first = self.diagnostics[0]
        super().__init__(f"{first.code}: {first.detail}")

    @property
    def diagnostic(self) -> Diagnostic:
        return self.diagnostics[0]

    @property
    def code(self) -> str:
        return self.diagnostic.code

    @property
    def message(self) -> str:
        return ERROR_MESSAGES[self.code]

    @property
    def detail(self) -> str:
        return self.diagnostic.detail

    @property
    def hint(self) -> str | None:
        """poolscale's advice (``did you mean 'X'?``), never part of the service's detail."""
        return self.diagnostic.hint

    @property
    def line(self) -> int:
        return self.diagnostic.line

    @property
    def column(self) -> int:
        return self.diagnostic.column

    def render(self, path: str = "<formula>") -> str:
        """``path:line:col: CODE detail`` followed by the source line and a caret."""
        from .diagnostics import render_caret

        d = self.diagnostic
        head = f"{path}:{d.line}:{d.column}: {d.code}: {d.advice}"
        return f"{head}\n{render_caret(LineIndex(self.source), d)}" if self.source else head


class FormulaLimitError(FormulaError):
    phase = "limits"


class FormulaSyntaxError(FormulaError):
    phase = "syntax"


class FormulaValidationError(FormulaError):
    phase = "validation"


class EvaluationError(Exception):
    """Raised inside a run; carries an offset that the run resolves to a line and column.

    Kept light (no LineIndex) because the evaluator raises it from compiled closures.
    """

    phase = "evaluation"

    def __init__(self, code: str, offset: int, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.offset = offset
        self.text = text


class StopRun(Exception):
    """``stop()`` was called: the run ends successfully here
    (docs/language.md#logic-laziness-and-stop)."""
