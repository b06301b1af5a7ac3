"""poolscale.runtime: evaluate-and-package, formula unit tests, the CLI.

    from poolscale.runtime import evaluate, run_tests
    run = evaluate(text, scenario, time=t)      # an AutoScaleRun, compile errors included
    results = run_tests(["pool.test.yaml"])    # FileResult per file

Names are imported on first use, so that ``poolscale`` starts without loading the
formula core until a command needs it.
"""

from __future__ import annotations

_LAZY = {
    "evaluate": ("poolscale.runtime.run", "evaluate_text"),
    "evaluate_text": ("poolscale.runtime.run", "evaluate_text"),
    "run_tests": ("poolscale.runtime.testing", "run_tests"),
    "load_scenario": ("poolscale.runtime.scenario", "load_scenario"),
    "scenario_from_dict": ("poolscale.runtime.scenario", "scenario_from_dict"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'poolscale.runtime' has no attribute {name!r}")
    import importlib

    module, attr = _LAZY[name]
    return getattr(importlib.import_module(module), attr)
