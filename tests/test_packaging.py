"""pyproject.toml lists packages explicitly, so a new package folder must be added there.

An editable install finds a missing package anyway (it maps the folders), which hides the
omission until a wheel or a clean install lacks the module. This test reads the list and
compares it with every folder that has an ``__init__.py``. A listed package may also be a
data folder without one (the store's SQL migrations), but it must exist.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_listed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for package, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *rel.parts]))
    assert found - listed == set()
    missing = set()
    for name in listed:
        top = max((p for p in config["package-dir"] if name == p or name.startswith(p + ".")), key=len)
        folder = ROOT / config["package-dir"][top] / Path(*name[len(top):].split(".")[1:])
        if not folder.is_dir():
            missing.add(name)
    assert missing == set()
