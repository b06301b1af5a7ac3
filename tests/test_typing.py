"""The simulator (``scheduler/``) type-checks: every field the engine's layers share is declared
in ``scheduler/state.py`` and every call between layers matches a declared signature.

The layers (pool manager, jobs, scheduling pass, attempts, sampler) write each other's counters
on ``self``; a misspelt field would otherwise be a silent new attribute of the simulation.
mypy reads the package by its installed name, so the test lays the source folders out under
``poolscale/`` in a temporary directory (symbolic links) and checks every scheduler module there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_scheduler_type_checks(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is in the test extras ([test])")
    tree = tmp_path / "src" / "poolscale"
    tree.mkdir(parents=True)
    for folder in ("formula", "metrics", "runtime", "scheduler", "grammar"):
        os.symlink(ROOT / folder, tree / folder)
    files = sorted(f"poolscale/scheduler/{p.name}" for p in (ROOT / "scheduler").glob("*.py"))
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--namespace-packages", "--explicit-package-bases",
         "--ignore-missing-imports", "--follow-imports=silent", "--no-error-summary",
         "--disable-error-code=annotation-unchecked",
         "--cache-dir", str(tmp_path / "cache"), *files],
        cwd=tmp_path / "src", capture_output=True, text=True, timeout=300,
    )
    assert proc.stdout == "" and proc.returncode == 0, proc.stdout + proc.stderr
