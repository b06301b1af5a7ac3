"""The installed poolscale's version, read from the package metadata.

One source for the version: ``pyproject.toml`` sets it, installing records it in the package
metadata, and ``poolscale --version`` and the SARIF log's ``tool.driver.version`` read it from
there, so no copy in the code can fall behind. ``importlib.metadata`` is imported only when a
version is asked for, which keeps it off the start-up path of every other command.
"""

from __future__ import annotations

#: the distribution name in pyproject.toml
DISTRIBUTION = "poolscale"


def package_version() -> str | None:
    """The installed version, or None when poolscale runs from files that were never installed."""
    from importlib import metadata

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
