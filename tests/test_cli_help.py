"""What ``poolscale --help``, each command's ``--help`` and ``poolscale --version`` say is true
and names what the user types."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from poolscale.runtime.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
#: upper-case words a help text may use that are not arguments: formats and the parts of an
#: output line (``error: CODE: MESSAGE``), an environment variable, durations
NOT_PLACEHOLDERS = {"JSON", "YAML", "CSV", "SWF", "ARM", "SARIF", "CODE", "MESSAGE",
                    "XDG_STATE_HOME", "PT0S", "PT30S", "API", "REST", "SDK", "SIGTERM"}


def commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def metavar(action: argparse.Action) -> str:
    return action.metavar if isinstance(action.metavar, str) else action.dest.upper()


@pytest.mark.parametrize("name", sorted(commands()))
def test_a_command_help_names_the_arguments_it_talks_about(name):
    """Before: `simulate --help` began "Run WORKLOAD on the pool of --pool", and WORKLOAD is
    no argument (the usage line has --workload W)."""
    parser = commands()[name]
    arguments = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    metavars = {metavar(a) for a in arguments}
    text = f"{parser.description or ''}\n{parser.epilog or ''}"
    strangers = set(re.findall(r"\b[A-Z][A-Z0-9_]*[A-Z0-9]\b", text)) - metavars - NOT_PLACEHOLDERS
    assert not strangers, f"{name} --help speaks of {sorted(strangers)}, which its usage does not name"
    for action in arguments:
        if action.required or not action.option_strings:
            assert re.search(rf"\b{re.escape(metavar(action))}\b", parser.description or ""), \
                f"{name} --help does not say what {metavar(action)} is"
        assert action.help, f"{name}: {action.option_strings or action.dest} has no help"


@pytest.mark.parametrize("name", sorted(commands()))
def test_a_command_help_fits_the_terminal(name, monkeypatch):
    """Descriptions are written a paragraph a line; before, `simulate --help` printed each as
    one line of 400 characters. Indented example lines keep their layout."""
    monkeypatch.setenv("COLUMNS", "80")
    text = commands()[name].format_help()
    wide = [line for line in text.splitlines() if len(line) > 80 and not line[:1].isspace()]
    assert wide == []


def test_simulate_help_says_what_w_p_and_f_are(capsys):
    assert main(["simulate", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Replay the tasks of the workload file W (--workload W) on the pool that the pool " \
           "file P (--pool P) describes" in text
    assert "the pool's autoScaleFormula (or the formula file F of --formula F)" in text


def test_top_level_help_states_the_exit_statuses_as_the_commands_use_them(capsys):
    """Before: "1 the formula has an error", though `test`, `check --strict` and `fmt --check`
    exit 1 for other findings and a warning alone exits 0."""
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert ("Exit status: 0 success; 1 findings (a formula or run error, a failed test, a lint "
            "warning with check --strict, a file fmt --check would change); 2 usage error (a bad "
            "option, an unreadable or invalid file).") in text


def test_check_exits_0_on_warnings_alone_and_1_with_strict(tmp_path, capsys):
    """The README's sentence, as the code does it."""
    quick = ROOT / "docs" / "examples" / "quick.formula"
    assert main(["check", str(quick)]) == 0
    assert "1 file, 0 errors, 1 warning" in capsys.readouterr().err
    assert main(["check", "--strict", str(quick)]) == 1
    capsys.readouterr()
    assert main(["check", "--help"]) == 0
    assert ("Exit status: 0 no errors (warnings alone do not fail the check), 1 an error, or a "
            "warning with --strict, 2 usage error") in " ".join(capsys.readouterr().out.split())


def installed_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["version"]


def test_version_prints_the_installed_version(capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr() == (f"poolscale {installed_version()}\n", "")
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"poolscale {installed_version()}\n"


def test_version_without_installed_metadata_says_so(monkeypatch, capsys):
    from importlib import metadata

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    assert main(["--version"]) == 2
    assert capsys.readouterr() == ("", "poolscale: version unknown: the package is not installed "
                                       "(pip install -e . in the clone)\n")


def test_version_as_a_process_imports_nothing_heavy():
    probe = ("import sys; from poolscale.runtime.cli import main; code = main(['--version']); "
             "heavy = sorted(m for m in ('numpy', 'pandas', 'pydantic', 'yaml', 'matplotlib', "
             "'lark', 'rich', 'prompt_toolkit') if m in sys.modules); print(heavy); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"poolscale {installed_version()}\n[]\n", "")
