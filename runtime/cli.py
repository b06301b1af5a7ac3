"""The ``poolscale`` command line: ``main(argv) -> exit status``.

This is the only module that prints or reads the clock. Exit statuses are 0
(success), 1 (the formula, or what it was checked against, has a problem) and 2
(usage: a bad option, an unreadable file, an invalid scenario). Heavy imports
(pandas, pydantic) stay off the ``eval`` path: the parser and numpy are all a
single evaluation needs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

#: the subcommands, each a module of poolscale.runtime.commands with add_parser(subparsers);
#: a module imports what its command needs inside its handler, so start-up stays light.
COMMANDS = ["evaluate", "explain", "test", "check", "repl", "simulate", "compare", "format", "run",
            "serve"]

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help text as written, except that a long unindented line is wrapped to the terminal: a
    description is written as one line per paragraph, and its examples, indented, keep their
    layout (argparse's own formatters either wrap everything or nothing)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        out = []
        for line in text.splitlines():
            if line[:1].isspace() or len(indent + line) <= width:
                out.append(indent + line)
            else:
                out.append(textwrap.fill(line, width, initial_indent=indent,
                                         subsequent_indent=indent, break_on_hyphens=False))
        return "\n".join(out)


class UsageError(Exception):
    """A problem with how poolscale was called; reported on one line, exit 2."""


class Terminated(BaseException):
    """SIGTERM, raised where a command that writes files asked for it (runtime/outputs.py), so
    that its clean-ups run instead of the process dying mid-write; exit 143. Not a
    KeyboardInterrupt, so nothing that shrugs off Ctrl-C shrugs this off."""


def read_formula(path: str, *, keep_bom: bool = False) -> str:
    """Formula text from a file or ``-`` (stdin), UTF-8, one leading BOM dropped
    (docs/language.md#text-lines-and-columns) unless ``keep_bom`` (``fmt`` keeps it to notice that
    the file changes)."""
    from poolscale.metrics.inputfile import cannot_read, not_utf8, read_file, read_stream
    from poolscale.metrics.limits import FORMULA_FILE_BYTES, InputLimitError

    try:
        if path == "-":
            data = read_stream(sys.stdin.buffer, limit=FORMULA_FILE_BYTES, source="<stdin>",
                               kind="a formula")
        else:
            data = read_file(path, limit=FORMULA_FILE_BYTES, kind="a formula file")
        text = data.decode("utf-8")
    except InputLimitError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(cannot_read(path, e)) from None
    except UnicodeDecodeError as e:
        raise UsageError(not_utf8(path, e)) from None
    return text[1:] if text.startswith("\ufeff") and not keep_bom else text


class ShowVersion(argparse.Action):
    """``--version``: print the installed version and exit. Unlike argparse's ``version``
    action it reads the package metadata only when asked (runtime/version.py), so building the
    parser for ``poolscale eval`` costs nothing more."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="print poolscale's version and exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from .version import package_version

        version = package_version()
        if version is None:
            parser.exit(EXIT_USAGE, "poolscale: version unknown: the package is not installed "
                                    "(pip install -e . in the clone)\n")
        sys.stdout.write(f"poolscale {version}\n")
        parser.exit(EXIT_OK)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poolscale",
        description="Parse, check, evaluate and explain Azure Batch autoscale formulas offline, "
                    "byte for byte like the service, and simulate the pools they resize. "
                    "'poolscale COMMAND --help' explains a command and its arguments.",
        epilog="Exit status: 0 success; 1 findings (a formula or run error, a failed test, a "
               "lint warning with check --strict, a file fmt --check would change); 2 usage "
               "error (a bad option, an unreadable or invalid file).")
    parser.add_argument("--version", action=ShowVersion)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    for name in COMMANDS:
        importlib.import_module(f"poolscale.runtime.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = glue_dashed_values(sys.argv[1:] if argv is None else list(argv))
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            # name the command's own usage, not the top-level one argparse would print
            commands = next(a for a in parser._actions
                            if isinstance(a, argparse._SubParsersAction))
            commands.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as e:  # argparse has printed the usage message
        return EXIT_USAGE if e.code not in (0, None) else EXIT_OK
    try:
        code = args.handler(args)
        sys.stdout.flush()          # a closed pipe shows here, not at the interpreter's exit
        return code
    except UsageError as e:
        sys.stderr.write(f"poolscale: {e}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Terminated:
        return 143
    except BrokenPipeError:
        # the reader went away (``| head``): what is still buffered has nowhere to go, so
        # point stdout at /dev/null or the interpreter's final flush fails again at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_OK


#: Options whose value may start with ``-``: a negative duration (``--horizon -5h``). argparse
#: takes such a token for an option and stops with "expected one argument"; glued to its option
#: (``--horizon=-5h``) the value reaches the option's own check, which says what is wrong.
VALUES_MAY_START_WITH_DASH = ("--horizon",)


def glue_dashed_values(argv: list[str]) -> list[str]:
    """``argv`` with each option of VALUES_MAY_START_WITH_DASH glued to a following value that
    starts with one ``-`` (never to ``--json`` or to a lone ``-``, and not after ``--``)."""
    out: list[str] = []
    args = iter(argv)
    for arg in args:
        out.append(arg)
        if arg == "--":
            out.extend(args)
            break
        if arg in VALUES_MAY_START_WITH_DASH:
            value = next(args, None)
            if value is None:
                break
            if value.startswith("-") and not value.startswith("--") and value != "-":
                out[-1] = f"{arg}={value}"
            else:
                out.append(value)
    return out


if __name__ == "__main__":  # pragma: no cover
    # Run through the package's module so that command modules share its UsageError.
    from poolscale.runtime.cli import main as _main

    sys.exit(_main())
