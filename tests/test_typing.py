"""The simulation engine type-checks: every field its layers share is declared in
``scheduler/state.py`` and every call between layers matches a declared signature.

The layers (pool manager, jobs, scheduling pass, attempts, sampler) write each other's counters
on ``self``; a misspelt field would otherwise be a silent new attribute of the simulation.
mypy reads the package by its installed name, so the test lays the source folders out under
``poolscale/`` in a temporary directory (symbolic links) and checks the engine modules there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ("kernel", "nodes", "tasks", "state", "pool", "jobs", "scheduling", "attempts",
          "sampler", "simulate")


def test_engine_modules_type_check(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is in the test extras ([test])")
    tree = tmp_path / "src" / "poolscale"
    tree.mkdir(parents=True)
    for folder in ("formula", "metrics", "runtime", "scheduler", "grammar"):
        os.symlink(ROOT / folder, tree / folder)
    files = [f"poolscale/scheduler/{name}.py" for name in ENGINE]
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--namespace-packages", "--explicit-package-bases",
         "--ignore-missing-imports", "--follow-imports=silent", "--no-error-summary",
         "--cache-dir", str(tmp_path / "cache"), *files],
        cwd=tmp_path / "src", capture_output=True, text=True, timeout=300,
    )
    assert proc.stdout == "" and proc.returncode == 0, proc.stdout + proc.stderr
