"""The compliance corpus: the language reference (docs/language.md) as data.

Every ``tests/compliance/*.yaml`` file holds a ``cases:`` list (format in
``tests/compliance/README.md``). Each case runs through
``poolscale.runtime.run.evaluate_text`` and must reproduce the results string,
the error code, the error message and the error detail exactly. When a case
lists ``warnings``, ``poolscale.formula.lint`` must return exactly those, in order.

The expected messages below are copied from the table of docs/language.md#error-codes, not from
the implementation, so that a wrong message in the code cannot hide.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

CORPUS_DIR = Path(__file__).parent / "compliance"
DEFAULT_TIME = "2026-03-02T10:00:00Z"

# docs/language.md#error-codes, column Message (copied verbatim from the reference).
ERROR_MESSAGES = {
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
    "InvalidAutoScaleEvaluationInterval": (
        "The autoscale evaluation interval must be between 5 minutes and 168 hours."
    ),
}

CASE_KEYS = {"name", "doc", "formula", "formula_repeat", "time", "scenario", "results", "error", "warnings"}


def _load_cases() -> list[tuple[str, dict]]:
    cases: list[tuple[str, dict]] = []
    for path in sorted(CORPUS_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for case in data.get("cases") or []:
            cases.append((path.name, case))
    return cases


ALL_CASES = _load_cases()


def formula_text(case: dict) -> str:
    """The formula of a case: ``formula``, or ``formula_repeat`` expanded."""
    if "formula_repeat" in case:
        rep = case["formula_repeat"]
        return rep.get("prefix", "") + rep["text"] * int(rep["times"]) + rep.get("suffix", "")
    return case["formula"]


def test_corpus_is_well_formed():
    assert ALL_CASES, "no compliance cases found"
    seen: dict[str, str] = {}
    problems = []
    for fname, case in ALL_CASES:
        name = case.get("name")
        if not name:
            problems.append(f"{fname}: a case without a name")
            continue
        if name in seen:
            problems.append(f"duplicate case name {name!r} in {seen[name]} and {fname}")
        seen[name] = fname
        unknown = set(case) - CASE_KEYS
        if unknown:
            problems.append(f"{name}: unknown keys {sorted(unknown)}")
        if ("formula" in case) == ("formula_repeat" in case):
            problems.append(f"{name}: exactly one of formula / formula_repeat is required")
        for key in ("doc", "results", "error"):
            if key not in case:
                problems.append(f"{name}: missing {key!r}")
        err = case.get("error")
        if err is not None and (set(err) != {"code", "detail"} or err["code"] not in ERROR_MESSAGES):
            problems.append(f"{name}: malformed error {err!r}")
    assert not problems, "\n".join(problems)


LANGUAGE_DOC = Path(__file__).parent.parent / "docs" / "language.md"


def test_every_worked_example_is_in_the_corpus():
    """Each worked example of docs/language.md (a heading "### E<n>. ...") is pinned by a case
    whose ``doc`` names its anchor."""
    examples = re.findall(r"^### (E\d+)\. ", LANGUAGE_DOC.read_text(encoding="utf-8"), re.M)
    assert examples, "docs/language.md has no worked examples"
    covered = set()
    for _, case in ALL_CASES:
        covered.update(e.upper() for e in re.findall(r"#(e\d+)-", str(case.get("doc", ""))))
    missing = [e for e in examples if e not in covered]
    assert not missing, f"worked examples of docs/language.md without a case: {missing}"


def _ids():
    return [str(case.get("name")) for _, case in ALL_CASES]


@pytest.mark.parametrize("source,case", ALL_CASES, ids=_ids())
def test_case(source: str, case: dict):
    from poolscale.formula.timeparse import parse_time_string
    from poolscale.runtime.run import evaluate_text
    from poolscale.runtime.scenario import scenario_from_dict

    text = formula_text(case)
    scenario = scenario_from_dict(case.get("scenario") or {})
    time = parse_time_string(case.get("time", DEFAULT_TIME))
    run = evaluate_text(text, scenario, time=time)

    expected_error = case["error"]
    got_error = None
    if run.error is not None:
        got_error = {"code": run.error.code, "message": run.error.message, "detail": run.error.detail}
    if expected_error is None:
        want_error = None
    else:
        want_error = {
            "code": expected_error["code"],
            "message": ERROR_MESSAGES[expected_error["code"]],
            "detail": expected_error["detail"],
        }
    assert (run.results, got_error) == (case["results"], want_error)

    if "warnings" in case:
        from poolscale.formula import lint

        got = [f"{w.line}:{w.column} {w.code}" for w in lint(text)]
        assert got == list(case["warnings"])
