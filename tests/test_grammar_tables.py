"""The parser's tables ship with the package as JSON; nothing poolscale loads is a pickle.

Lark's cache option unpickles a file from the user's cache folder or the shared temporary
directory before checking it, so a file planted there ran code in every ``poolscale eval``.
These tests pin the replacement: the shipped tables are the grammar's, they are what the
parser uses, and no command unpickles anything, wherever a pickle is planted.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from poolscale.formula import grammar_tables, parser
from poolscale.runtime.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_tables_are_the_grammars():
    """After editing grammar/autoscale.lark or upgrading Lark, run
    ``python -m poolscale.formula.grammar_tables`` and commit the file it writes."""
    shipped = Path(grammar_tables.shipped_path()).read_text(encoding="utf-8")
    assert shipped == grammar_tables.generated_text()


def test_the_parser_is_loaded_from_the_shipped_tables(monkeypatch):
    def no_build(*args, **kwargs):
        raise AssertionError("the parser was built from the grammar, not from the tables")

    parser._lark.cache_clear()
    monkeypatch.setattr(parser, "build_from_grammar", no_build)
    try:
        program = parser.parse("$TargetDedicatedNodes = a ? -1 : max(2, 3) * $x.GetSample(1);")
        assert len(program.statements) == 1
    finally:
        parser._lark.cache_clear()


def test_tables_of_another_grammar_are_not_used():
    assert grammar_tables.load_tables(grammar_tables.grammar_text() + "\n", parser._Feed) is None
    assert grammar_tables.load_tables(grammar_tables.grammar_text(), parser._Feed) is not None


class _Planted:
    """A pickle that creates ``marker`` when it is loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _plant(folder: Path, marker: Path) -> list[Path]:
    """The planted pickle under every name a Lark cache of this grammar could have had: the
    name poolscale used (any digest) and Lark's own default (``.lark_cache_*``)."""
    payload = b"0" * 64 + b"\n" + pickle.dumps(_Planted(marker)) + pickle.dumps(_Planted(marker))
    digest = hashlib.sha256(grammar_tables.grammar_text().encode()).hexdigest()
    version = f"py{sys.version_info[0]}{sys.version_info[1]}"
    names = [f"grammar-{digest[:16]}-{version}.lark", f".lark_cache_root_{digest}_3_11.tmp"]
    planted = []
    for name in names:
        (folder / name).write_bytes(payload)
        planted.append(folder / name)
    return planted


def test_a_planted_pickle_runs_nothing(tmp_path):
    """Pickles planted in the user's cache folder and in the temporary directory, then a fresh
    ``poolscale eval`` process: the marker the pickles would create does not appear."""
    marker = tmp_path / "pwned"
    home, cache, tmp = tmp_path / "home", tmp_path / "cache", tmp_path / "tmp"
    for folder in (home / ".cache" / "poolscale", cache / "poolscale", tmp):
        folder.mkdir(parents=True)
        _plant(folder, marker)
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(cache), "TMPDIR": str(tmp)}
    done = subprocess.run([sys.executable, "-m", "poolscale.runtime.cli", "eval", "-"],
                          input="x = 1 + 2;", capture_output=True, text=True, env=env, cwd=tmp)
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("x=3\n")
    assert not marker.exists()


@pytest.mark.parametrize("argv", [
    ["eval", "{formula}"],
    ["check", "{formula}"],
    ["explain", "{formula}"],
    ["fmt", "--check", "{formula}"],
])
def test_no_command_unpickles_anything(argv, tmp_path, monkeypatch, capsys):
    formula = tmp_path / "f.formula"
    formula.write_text("$TargetDedicatedNodes = 1 + 2;\n", encoding="utf-8")
    calls = []

    def record(*args, **kwargs):
        calls.append(args)
        raise pickle.UnpicklingError("poolscale must not unpickle")

    monkeypatch.setattr(pickle, "load", record)
    monkeypatch.setattr(pickle, "loads", record)
    parser._lark.cache_clear()
    try:
        main([a.format(formula=formula) for a in argv])
    finally:
        parser._lark.cache_clear()
    capsys.readouterr()
    assert calls == []
