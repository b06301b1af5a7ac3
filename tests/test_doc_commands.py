"""Every command shown with its output in README.md and docs/*.md prints what the page shows.

The transcripts are found by ``tests/doc_commands.py`` (its docstring, and docs/testing.md,
give the convention: ``$`` lines, ``...`` for lines left out, ``$ cd``, ``$ echo $?``,
``<!-- doctest: skip REASON -->``). Each block runs in a fresh copy of the repository's files,
so a command that writes a file (``--plot``, ``-o``) leaves the checkout clean, with the
``poolscale`` and ``python`` of this interpreter first on PATH.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from doc_commands import EXIT_STATUS, Transcript, bare, output_drift, pages, transcripts

ROOT = Path(__file__).resolve().parent.parent
#: what a copy of the repository leaves out: version control, environments, caches
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "venv", "__pycache__", "*.egg-info",
                                    ".pytest_cache", ".hypothesis", ".benchmarks", ".mypy_cache",
                                    "build", "dist")
#: seconds a single shown command may take (a hang is a failure, not a stuck CI job)
COMMAND_TIMEOUT = 60

TRANSCRIPTS = [t for page in pages(ROOT)
               for t in transcripts(str(page.relative_to(ROOT)), page.read_text("utf-8"))]


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """The repository's files, as a user's clone has them."""
    target = tmp_path_factory.mktemp("clone") / "poolscale"
    shutil.copytree(ROOT, target, ignore=NOT_COPIED, symlinks=True)
    return target


@pytest.fixture(scope="module")
def environment(tmp_path_factory) -> dict[str, str]:
    """The environment of a user's shell with this poolscale installed, minus a terminal."""
    bins = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable)]
    if not any(shutil.which("poolscale", path=b) for b in bins):
        pytest.fail("the doc test needs the poolscale command: pip install -e .")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("POOLSCALE_", "PYTHON", "FORCE_COLOR", "CLICOLOR"))}
    state = tmp_path_factory.mktemp("state")
    env.update(PATH=os.pathsep.join([*bins, env.get("PATH", "")]), PYTHONUNBUFFERED="1",
               PYTHONDONTWRITEBYTECODE="1", NO_COLOR="1", TERM="dumb", COLUMNS="100",
               PYTHONUTF8="1", XDG_STATE_HOME=str(state), HOME=str(state))
    return env


def test_the_pages_show_commands():
    """The finder finds the transcripts this test is for (a broken finder would pass them all)."""
    ids = [t.id for t in TRANSCRIPTS]
    assert any(i.startswith("README.md:") for i in ids)
    assert sum(len(t.commands) for t in TRANSCRIPTS if not t.skip) >= 15


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=lambda t: t.id)
def test_shown_command_prints_what_the_page_shows(transcript: Transcript, clone, environment):
    if transcript.skip:
        pytest.skip(f"{transcript.id}: {transcript.skip}")
    cwd, status = clone, None
    for command in transcript.commands:
        where = f"{transcript.page}:{command.line}: $ {command.text.splitlines()[0]}"
        if bare(command.text).startswith("cd "):
            cwd = clone / bare(command.text)[3:]
            if not cwd.is_dir():
                pytest.fail(f"{where}: no such directory in the repository", pytrace=False)
            continue
        if bare(command.text) == EXIT_STATUS:
            if command.expected[:1] != [str(status)]:
                pytest.fail(f"{where}: the page shows exit status {command.expected[:1]}, "
                            f"the command before it exited {status}", pytrace=False)
            continue
        done = subprocess.run(["/bin/sh", "-c", command.text], cwd=cwd, env=environment,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=COMMAND_TIMEOUT)
        status = done.returncode
        printed = done.stdout.decode("utf-8", "replace").splitlines()
        drift = output_drift(command.expected, printed)
        if drift is not None:
            pytest.fail(f"{where}\n{drift}\n--- printed (exit {status}):\n" + "\n".join(printed),
                        pytrace=False)


# ------------------------------------------------------------------ the convention itself

PAGE = """Some text.

```
$ cd docs/examples   # a comment
$ poolscale eval x.formula
a
b
$ echo $?
1
```

```yaml
$ not: a command
```

<!-- doctest: skip needs a terminal -->
```
$ poolscale repl
```

```
$ poolscale repl <<'EOF'
x = 1;
EOF
x=1
```
"""


def test_transcripts_are_found_with_their_commands_and_output():
    found = transcripts("page.md", PAGE)
    assert [(t.line, t.skip) for t in found] == [(3, None), (17, "needs a terminal"), (21, None)]
    first = found[0].commands
    assert [(c.text, c.line, c.expected) for c in first] == [
        ("cd docs/examples   # a comment", 4, []), ("poolscale eval x.formula", 5, ["a", "b"]),
        ("echo $?", 8, ["1"])]
    assert [bare(c.text) for c in first] == ["cd docs/examples", "poolscale eval x.formula", EXIT_STATUS]
    heredoc = found[2].commands
    assert [(c.text, c.expected) for c in heredoc] == [("poolscale repl <<'EOF'\nx = 1;\nEOF", ["x=1"])]


def test_a_block_in_a_list_item_and_a_continued_command_are_read_as_shown():
    page = ("* an item:\n\n  ```\n  $ poolscale compare --pool p.json \\\n"
            "        --formula f\n  head\n    indented\n  ```\n")
    [found] = transcripts("page.md", page)
    [command] = found.commands
    assert (found.line, command.text, command.expected) == \
        (3, "poolscale compare --pool p.json \\\n      --formula f", ["head", "  indented"])


def test_output_must_match_exactly_but_for_line_end_spaces_and_final_blank_lines():
    assert output_drift(["a", "b", ""], ["a  ", "b"]) is None
    assert output_drift(["a", "b"], ["a", "c"]) == "line 2 differs:\n  shown:   'b'\n  printed: 'c'"
    assert output_drift(["a"], ["a", "b"]) == "the output goes on after line 1: 'b'"
    assert output_drift(["a", "b"], ["a"]) == "the output ends after line 1; the page shows more: 'b'"


def test_an_excerpt_shows_whole_lines_in_order():
    actual = ["head", "x", "y", "z", "tail"]
    assert output_drift(["head", "...", "y", "...", "tail"], actual) is None
    assert output_drift(["...", "z", "tail"], actual) is None
    assert output_drift(["head", "x", "..."], actual) is None
    # pieces must be in order, whole, and anchored where no ``...`` stands
    assert output_drift(["head", "...", "z", "...", "x", "..."], actual) is not None
    assert output_drift(["head", "...", "y"], actual) is not None          # not the last line
    assert output_drift(["x", "..."], actual) is not None                  # not the first line
    assert output_drift(["head", "...", "Y", "..."], actual) == \
        "the shown lines\n  'Y'\nare not in the output (after line 1)"


# ------------------------------------------------------------------ promises the clone keeps

def test_no_page_pins_a_repository_or_release_that_does_not_exist():
    """Before: `OWNER/poolscale@v0.1.0` (an owner to fill in, a tag nobody made) in the
    GitHub Actions and pre-commit examples; users are told to pin their own clone instead."""
    placeholder = re.compile(r"\bOWNER/|@v\d+\.\d+\.\d+|\brev: v\d")
    files = [*pages(ROOT), ROOT / ".pre-commit-hooks.yaml", ROOT / "action.yml"]
    found = [f"{f.relative_to(ROOT)}:{n}: {line.strip()}" for f in files
             for n, line in enumerate(f.read_text("utf-8").splitlines(), 1) if placeholder.search(line)]
    assert found == []
