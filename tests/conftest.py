"""Fixtures shared by every test directory: the Azurite storage emulator (tests/azurite.py)."""

from azurite import azurite  # noqa: F401  (a session fixture, made available to every test)
