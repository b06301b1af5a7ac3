"""docs/serve.md keeps its promises: it lists every operation served and every one answered
"not served", and the quickstart program prints what the page shows."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

from poolscale.runtime.service.rest.app import MODULES

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "serve.md").read_text()


def _request(method: str, template: str) -> str:
    return f"`{method} {template.replace(':path}', '}')}"


def test_every_operation_served_is_listed_with_its_sdk_method():
    missing = []
    for name in MODULES:
        module = importlib.import_module(f"poolscale.runtime.service.rest.{name}")
        for op in module.OPERATIONS:
            if f"`{op.name}`" not in PAGE or _request(op.method, op.template) not in PAGE:
                missing.append((name, op.name, op.method, op.template))
    assert missing == []
    assert len(MODULES) >= 2


def test_every_operation_not_served_is_listed():
    missing = []
    for name in MODULES:
        module = importlib.import_module(f"poolscale.runtime.service.rest.{name}")
        for method, template, _reason in module.NOT_SERVED:
            if f"| {_request(method, template)}` |" not in PAGE:
                missing.append((name, method, template))
    assert missing == []


def test_the_quickstart_prints_what_the_page_shows(server):
    shown = re.search(r"It prints \(in about a second\):\n\n   ```text\n(.*?)   ```", PAGE, re.S)
    expected = [line.strip() for line in shown.group(1).splitlines()]
    result = subprocess.run([sys.executable, str(ROOT / "docs" / "examples" / "serve" /
                                                 "quickstart.py"), server.endpoint],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected
